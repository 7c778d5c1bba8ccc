/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "identity.h"
#include "log.h"
#include "offline.h"

/*
 * The identity store under STATE_DIR:
 *   users/<uid>.json      root 0600: one user's record (a refresh token only sealed, see tokenbox.h)
 *   users/subject-<hex>   root 0600: uid of a stable subject, hex = SHA-256 of the subject key
 *   nss.db                0644: compiled index for the NSS module (see nssdb.h)
 *   nss.delta.db          0644: the users added since nss.db was last written whole
 *   lock                  0600: flock()ed exclusively by every writer
 * Every file is checked (owner root or the effective user, no group/other
 * write, regular, O_NOFOLLOW) before it is trusted; a corrupt record is an
 * error naming the file, never a crash.
 */

struct cache_group {
        char *name;
        uint32_t gid;
};

struct cache_user {
        uint32_t uid;            /* gid of the private group is the same */
        char *username;          /* local name */
        char *idp_username;      /* lowercased IdP name */
        char *subject_key;       /* see cache_subject_key() */
        char *display_name;      /* may be NULL */
        char *email;             /* may be NULL */
        char **idp_groups;       /* as the token listed them */
        char **app_roles;
        char **roles;
        struct cache_group *groups;      /* cloudauth groups made from idp_groups */
        size_t n_groups;
        struct cache_group *unix_groups; /* local groups granted by roles, gids resolved at login */
        size_t n_unix_groups;
        int64_t first_login;
        int64_t last_online_login; /* of the last online login that was allowed */
        int64_t refused_at;        /* 0, or when an online login was last refused (see cache_user_refuse) */
        char *refusal;             /* why, when refused_at is set */
        struct offline_verifier *verifier; /* NULL, or of the password of the last allowed online login */
        struct offline_verifier *pin_verifier; /* NULL, or of the PIN chosen after a device login */
        char *refresh_sealed;      /* NULL, or the refresh token of the last online answer, sealed (see tokenbox.h) */
        int64_t last_answer;       /* 0, or when the provider last vouched for the account (login or refresh) */
};

void cache_user_free(struct cache_user *u);
static inline void cache_user_freep(struct cache_user **u) {
        cache_user_free(*u);
}

/* Parse one record's JSON text (users/<uid>.json): -EBADMSG when malformed; *ret set only on success. */
int cache_user_parse(const char *text, size_t len, struct cache_user **ret);

/*
 * The stable subject key of an identity: "entra:<tid>:<oid>" only when the
 * token's issuer is Microsoft's (login.microsoftonline.com and its national
 * clouds, sts.windows.net) and tid is the tenant the issuer URL names;
 * otherwise "oidc:<iss>:<sub>", whatever tid and oid claims the token has.
 * -EINVAL when neither applies.
 */
int cache_subject_key(const struct identity *id, char **ret);

/*
 * After a successful, allowed online login: choose the UID (pinned in
 * [uids], else the one this subject already has, else uidmap_user_uid),
 * refuse collisions (another cached subject, a local passwd or group entry
 * with that id or name: -EEXIST with *ret_reason), resolve role unix_groups
 * to gids, turn IdP groups into cloudauth groups (a name equal to a local
 * group is skipped with a log line, never merged), write the record and
 * update nss.db, all under the lock. *ret_uid set on success.
 */
int cache_store_login(const struct cloudauth_config *c, const struct logger *log, const struct identity *id,
                      char *const *roles, time_t now, uint32_t *ret_uid, const char **ret_reason);

/*
 * After an online refusal that speaks about the account itself (the access
 * policy refused a genuine login, or the provider said the account is
 * disabled or does not exist): the cached record of that person (by id's
 * subject when id is given, else by name) is marked refused with reason,
 * its roles and groups are cleared (and, with id, its provider groups
 * replaced by id's), and nss.db keeps the passwd entry but none of its
 * groups. The record's refused_at stays set until the next allowed login
 * rewrites it. -ESRCH when nobody is cached under that
 * subject or name; a record already refused is not rewritten.
 */
int cache_user_refuse(const struct cloudauth_config *c, const struct logger *log, const struct identity *id,
                      const char *name, const char *reason, time_t now);

/* The UID a login of id would get (pin, the subject's UID, or the hash); writes nothing, checks no collision. */
int cache_uid_for(const struct cloudauth_config *c, const struct logger *log, const struct identity *id,
                  uint32_t *ret_uid);

/* -ESRCH when not cached; the name may be the local or the IdP name. */
int cache_user_load_by_name(const struct cloudauth_config *c, const struct logger *log, const char *name,
                            struct cache_user **ret);
int cache_user_load_by_uid(const struct cloudauth_config *c, const struct logger *log, uint32_t uid,
                           struct cache_user **ret);

/* Every record, sorted by name. Corrupt records are logged and skipped. */
int cache_user_list(const struct cloudauth_config *c, const struct logger *log, struct cache_user ***ret,
                    size_t *ret_n);
void cache_user_list_free(struct cache_user **v, size_t n);

/* Remove a record (and its subject file) and rebuild nss.db. -ESRCH when not cached. */
int cache_user_forget(const struct cloudauth_config *c, const struct logger *log, const char *name);

/*
 * Replace the offline verifier of the record of uid with v (NULL: remove
 * it), under the lock. -ESTALE when that record is no longer subject_key's,
 * -ESRCH when there is none.
 */
int cache_user_set_verifier(const struct cloudauth_config *c, const struct logger *log, uint32_t uid,
                            const char *subject_key, const struct offline_verifier *v);

/*
 * Replace the sealed refresh token of the record of uid with sealed (NULL:
 * remove it) and, with answered_at nonzero, record that the provider vouched
 * for the account then; under the lock. Errors as cache_user_set_verifier.
 */
int cache_user_set_refresh(const struct cloudauth_config *c, const struct logger *log, uint32_t uid,
                           const char *subject_key, const char *sealed, int64_t answered_at);

/* Replace the PIN verifier of the record of uid with v (NULL: remove it). Errors as cache_user_set_verifier. */
int cache_user_set_pin(const struct cloudauth_config *c, const struct logger *log, uint32_t uid,
                       const char *subject_key, const struct offline_verifier *v);

/* When the provider last vouched for u: its last allowed online login or its last refresh. */
static inline int64_t cache_user_last_answer(const struct cache_user *u) {
        return u->last_answer > u->last_online_login ? u->last_answer : u->last_online_login;
}

/* Rebuild nss.db from every record (the records are the truth; nss.db is derived). */
int cache_rebuild(const struct cloudauth_config *c, const struct logger *log);

/*
 * Whether nss.db can serve NSS for this configuration: 0 when it opens and
 * holds this configuration's settings (issuer, domains, uid range, home,
 * shell), -ENOENT when it does not exist yet, -ESTALE when it was written
 * with other settings, or nssdb_open()'s error. Writes nothing.
 */
int cache_nssdb_check(const struct cloudauth_config *c, const struct logger *log);

/*
 * Create path (mode) when missing, and check it is a directory owned by root
 * (or the effective user) that group and others cannot write. Logged errors.
 */
int cache_dir_ensure(const char *path, mode_t mode, const struct logger *log);

/* The nss.db path for this configuration. */
int cache_nssdb_path(const struct cloudauth_config *c, char **ret);

/*
 * Where local accounts are read from (default /etc/passwd and /etc/group;
 * NULL restores a default). They are parsed directly, never through NSS,
 * which would answer with cloudauth's own entries. For tests.
 */
void cache_set_local_files(const char *passwd_path, const char *group_path);

/*
 * nss.delta.db holds the users added since nss.db was last written whole
 * (see nssdb.h); past max(1000, nss.db's users / 16) users the next change
 * writes everything into a new nss.db. A nonzero max_users replaces that
 * bound, 0 restores it. For tests.
 */
void cache_set_delta_bound(size_t max_users);
