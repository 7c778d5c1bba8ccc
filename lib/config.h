/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

/* Flows a provider section may allow; "flows =" lists them, the first is the default. */
enum login_flow {
        LOGIN_FLOW_PASSWORD = 1 << 0,
        LOGIN_FLOW_DEVICE = 1 << 1,
        LOGIN_FLOW_AUTO = 1 << 2,
        LOGIN_FLOW_PIN = 1 << 3, /* module argument flow=pin only, with [pin] enabled */
};

struct config_role {
        char *name;
        char **groups;      /* IdP group ids or names */
        char **app_roles;   /* values of the "roles" claim */
        char **unix_groups; /* local groups the role grants */
        char **includes;    /* other role names */
};

/* [uids]: "name = uid" pins a user's UID (name as the IdP spells it, lowercased). */
struct config_uid_pin {
        char *name;
        uint32_t uid;
};

struct cloudauth_config {
        char *path; /* the main file */

        /* [provider] */
        char *issuer;
        char *client_id;
        char *client_secret_file;
        char *scopes;        /* space separated; default "openid profile email"; offline_access is added with [session] revalidate */
        char *ca_file;
        char *proxy;         /* http(s)://host[:port] for every request, NULL = direct; never from the environment */
        unsigned flows;      /* enum login_flow bits; default password */
        enum login_flow default_flow;
        char **tenants;      /* Entra tenant GUIDs allowed, lowercased; NULL = any */
        unsigned timeout;    /* seconds for one whole HTTP request; default 10 */
        unsigned leeway;     /* seconds of clock skew accepted on exp/nbf/iat; default 300 */
        bool qr;             /* show a QR code in the device flow; default yes */
        int pkce;            /* PKCE on the device request: 1 yes, 0 no, -1 auto (when advertised); default auto */
        char *app_name;      /* shown with the device code, against phishing; default "cloudauth" */

        /* [identity] */
        char *username_claim; /* default preferred_username */
        char *groups_claim;   /* default groups */
        char *default_domain; /* lowercased, may be NULL */
        uint32_t uid_min, uid_max; /* default 2001000000-2147000000 */
        char *home;           /* default /home/%u */
        char *shell;          /* default /bin/bash */

        /* [access] */
        char **allow_users;   /* lowercased; "*" allows every user of the provider */
        char **allow_groups;
        char **allow_roles;

        /* [role NAME] */
        struct config_role *roles;
        size_t n_roles;

        /* [uids] */
        struct config_uid_pin *uid_pins;
        size_t n_uid_pins;

        /* [offline] */
        bool offline_enabled;     /* default yes */
        uint64_t offline_max_age; /* seconds, default 7d */
        unsigned offline_time_cost;  /* argon2 passes of a new verifier */
        unsigned offline_memory_mib; /* argon2 memory of a new verifier */

        /* [lockout] */
        unsigned lockout_attempts; /* failures within the window that lock the account; default 5, 0 = off */
        uint64_t lockout_window;   /* seconds, default 15m */
        uint64_t lockout_duration; /* seconds, default 15m */

        /* [pin] */
        bool pin_enabled;        /* default no */
        unsigned pin_min_length; /* default 6 */

        /* [session] */
        uint64_t session_revalidate; /* seconds, default 15m, 0 = off (no refresh token is requested or kept) */

        /* [paths] */
        char *state_dir; /* default /var/lib/cloudauth */
        char *cache_dir; /* default /var/cache/cloudauth */
};

/* Largest config file accepted, per file. */
#define CONFIG_FILE_MAX (256 * 1024)

/*
 * Load PATH and then PATH.d/ *.conf in lexical order; later files override
 * single-valued keys. Files are opened O_NOFOLLOW, must be regular, owned by
 * root (or by the effective user), and not writable by group or others.
 * Every error is logged once as "FILE:LINE: key 'KEY': what is wrong" and
 * returned as a negative errno; *ret is set only on success.
 */
int config_load(const char *path, const struct logger *log, struct cloudauth_config **ret);

/*
 * Parse one file's text into c (which holds defaults or earlier files).
 * Used by config_load and the fuzzer. On error, c may be partially updated,
 * so callers parse into a scratch config.
 */
int config_parse_text(struct cloudauth_config *c, const char *filename, const char *text, size_t len,
                      const struct logger *log);

/* Allocate a config holding every default. */
int config_new_defaults(struct cloudauth_config **ret);

/* Checks that span keys: required keys present, roles resolvable and acyclic. */
int config_validate(const struct cloudauth_config *c, const struct logger *log);

void config_free(struct cloudauth_config *c);
static inline void config_freep(struct cloudauth_config **c) {
        config_free(*c);
}
#define _cleanup_config_ _cleanup_(config_freep)

const struct config_role *config_find_role(const struct cloudauth_config *c, const char *name);

/*
 * Read a secret file (client_secret_file): must be a regular file owned by
 * root (or the effective user), mode without any group/other bits, at most
 * 4 KiB; trailing newline stripped. Caller wipes the result.
 */
int config_read_secret_file(const char *path, const struct logger *log, char **ret);

/*
 * Shared by every file cloudauth trusts: open path O_RDONLY|O_NOFOLLOW|O_CLOEXEC,
 * check it is a regular file owned by root or the effective user, and that
 * (st_mode & forbidden_mode) == 0. Returns the fd or a negative errno:
 * -ELOOP symlink, -EPERM bad owner or mode, -EFBIG over max_size.
 * Every failure but -ENOENT is logged; a missing file is the caller's to word.
 */
int open_trusted_file(const char *path, unsigned forbidden_mode, size_t max_size, const struct logger *log);
