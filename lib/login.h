/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "access.h"
#include "device.h"
#include "config.h"
#include "identity.h"
#include "jwt.h"
#include "log.h"
#include "oauth.h"

/* The outcome of a login, in the terms the PAM edge needs. */
enum login_status {
        LOGIN_OK = 0,
        LOGIN_BAD_CREDENTIALS,   /* wrong password, MFA required, token rejected, name mismatch */
        LOGIN_USER_UNKNOWN,      /* the name can never be ours, or the IdP knows no such user */
        LOGIN_ACCOUNT_PROBLEM,   /* locked, disabled, password expired, conditional access */
        LOGIN_UNAVAILABLE,       /* IdP unreachable, TLS failure, broken answer */
        LOGIN_CONFIG_ERROR,      /* our own configuration is broken */
        _LOGIN_STATUS_MAX,
};

const char *login_status_to_string(enum login_status s);

/* What an IdP's answer means for the login. */
enum login_status login_status_from_oauth(enum oauth_result o);

struct login_result {
        enum login_status status;
        enum oauth_result oauth;  /* what the IdP said, when it was asked */
        enum jwt_error jwt;       /* why the token was refused, when it was */
        const char *reason;       /* static, one short phrase for the log */
        struct identity *identity; /* set on LOGIN_OK */
        json_t *claims;            /* set on LOGIN_OK */
        char **roles;              /* set on LOGIN_OK */
        bool allowed;              /* access policy verdict for identity */
        const char *access_reason;
        unsigned n_requests;       /* HTTP requests this login made */
        uint32_t uid;              /* set by login_store */
        char *idp_name;            /* the name sent to the provider, when one was typed */
        bool unreachable;          /* the provider could not answer at all (see login_offline) */
        bool offline;              /* decided by the offline verifier, not by the provider */
        int64_t offline_since;     /* with offline: when the password was last accepted online */
        char *refresh_token;       /* with LOGIN_OK online: the provider's refresh token, if it sent one */
        bool pin;                  /* a PIN login (login_pin) */
};

void login_result_done(struct login_result *r);

/*
 * Password login: typed name -> IdP name, password grant, ID token
 * verification (discovery and JWKS from cache when fresh), identity, check
 * that the token's user is the one who typed the name, roles, access policy
 * (evaluated, but denial is reported in ->allowed, not ->status, so that
 * acct_mgmt can decide). Returns 0 with *ret filled in every case a status
 * applies; negative errno only for allocation failure.
 * p must be initialised by provider_init; clock from p.
 */
int login_password(struct provider *p, const char *typed_user, const char *password, struct login_result *ret);

/*
 * What every flow does once the provider issued tokens: verify the ID token
 * (nonce when one was sent), build the identity, check it is the account
 * typed_user names (NULL: any account, e.g. cloudauthctl login --browser),
 * resolve roles and evaluate the access policy. Same contract as
 * login_password; ret must have been zeroed by the caller.
 */
int login_verify_tokens(struct provider *p, const char *typed_user, const char *id_token, const char *nonce,
                        struct login_result *ret);

/* How a device login reaches the person: the PAM conversation, or cloudauthctl's terminal. */
struct login_device_ui {
        /* The code is issued: show it (the URI and code are printable ASCII). < 0 ends the login. */
        int (*show)(void *userdata, const struct device_authorization *a);
        /* Wait ms between token requests; < 0 ends the login. NULL: nanosleep. */
        int (*sleep_ms)(void *userdata, unsigned ms);
        void *userdata;
};

/*
 * The device login (RFC 8628), the one code path for PAM and cloudauthctl:
 * discovery and keys, PKCE when wanted, the device authorization, ui->show,
 * polling at the provider's interval until approval, refusal or expiry, then
 * login_verify_tokens for typed_user (NULL: any account). Same contract as
 * login_password, and -ECANCELED when the ui ended the login.
 */
int login_device(struct provider *p, const char *typed_user, const struct login_device_ui *ui,
                 struct login_result *ret);

/*
 * Call after every online login, whatever its result.
 * After an allowed LOGIN_OK: write the user to the identity store (record
 * and nss.db) so NSS knows them. A UID or name collision, or a store that
 * cannot be written, turns the verdict into "not allowed" with the reason
 * (the login itself was genuine; the account can't be used). Sets ret->uid.
 * After an online refusal that is about the account, not the credentials
 * (LOGIN_OK but not allowed by the policy; the provider says the account is
 * disabled or does not exist), the person's cached record, if any, is marked
 * refused and loses its groups at once (cache_user_refuse), so NSS and the
 * account phase reflect it. A wrong password changes nothing: anyone can
 * type one. Every other result is left alone. Negative errno only for
 * allocation failure.
 */
int login_store(const struct cloudauth_config *c, const struct logger *log, struct login_result *r, time_t now);

/*
 * The offline password login, for a password login whose online attempt
 * ended with ->unreachable set (connection refused, DNS failure,
 * timeout, TLS failure, HTTP 5xx or 429): never after the provider answered.
 * Checks password against the verifier of typed_user's record, keyed with
 * the host key, when the record is not refused and its last allowed online
 * login is within [offline] max_age of now; at most OFFLINE_SLOTS checks run
 * on the host at once, a login waits OFFLINE_SLOT_WAIT_MS for its turn.
 * Fills *ret (zeroed here) with ->offline set: LOGIN_OK with the cached
 * identity and the access policy's verdict on its cached groups,
 * LOGIN_BAD_CREDENTIALS when the password does not match, LOGIN_UNAVAILABLE
 * when no offline login is possible (->reason says why). Negative errno only
 * for allocation failure.
 */
int login_offline(const struct cloudauth_config *c, const struct logger *log, const char *typed_user,
                  const char *password, time_t now, struct login_result *ret);

/*
 * After login_store of an allowed online password login (r->uid set): a new
 * verifier of password, with the configured parameters, replaces the one in
 * the record. After a refused password (the provider said it is wrong): a
 * verifier the password matches is deleted, since the password was changed
 * at the provider. Anything else is left alone. Failures are logged; the
 * login's verdict stays. Negative errno only for allocation failure.
 * Either takes one of the host's verification slots, as login_offline does.
 */
int login_offline_update(const struct cloudauth_config *c, const struct logger *log, const struct login_result *r,
                         const char *password, time_t now);

/* Whether login_offline_update has anything to do for this result (no file is read). */
bool login_offline_update_wanted(const struct login_result *r, const char *password);

/*
 * After login_store of an allowed online login that brought a refresh
 * token, with [session] revalidate on: the token, sealed (tokenbox.h), into
 * the record, which also notes that the provider vouched for the account
 * now. Failures are logged; negative errno only for allocation failure.
 */
int login_session_store(const struct cloudauth_config *c, const struct logger *log, const struct login_result *r,
                        time_t now);
bool login_session_store_wanted(const struct cloudauth_config *c, const struct logger *log,
                                const struct login_result *r);

/*
 * A PIN login for typed_user: the record's PIN verifier checked under a
 * verification slot, then, since a PIN is valid only while the grant is, a
 * re-validation now (login_revalidate_now). The provider refusing ends it
 * (LOGIN_ACCOUNT_PROBLEM); the provider unable to answer leaves the PIN
 * valid, with ->offline set, only when offline_allowed and the provider
 * vouched within [offline] max_age. No PIN, no kept refresh token, a refused
 * record or a wrong PIN: LOGIN_BAD_CREDENTIALS. Same contract as
 * login_offline, with ->pin set.
 */
int login_pin(const struct cloudauth_config *c, const struct logger *log, const char *typed_user, const char *pin,
              bool offline_allowed, time_t now, struct login_result *ret);

/*
 * The PIN of the user cached under name: a new verifier of pin (under a
 * verification slot), a check of pin (1 match, 0 not, -ENOENT when no PIN is
 * set), or its removal. -ESRCH when nobody is cached under name.
 */
int login_pin_set(const struct cloudauth_config *c, const struct logger *log, const char *name, const char *pin,
                  time_t now);
int login_pin_check(const struct cloudauth_config *c, const struct logger *log, const char *name, const char *pin);
int login_pin_forget(const struct cloudauth_config *c, const struct logger *log, const char *name);

/* What a re-validation found. */
enum login_revalidation {
        REVALIDATION_NOT_DUE,     /* vouched for within [session] revalidate, or nothing to ask with */
        REVALIDATION_CONFIRMED,   /* the provider still vouches; the record holds what it said */
        REVALIDATION_REFUSED,     /* the grant is gone, or the account no longer passes [access] */
        REVALIDATION_UNAVAILABLE, /* no answer that counts: the cached verdict stands */
};

/*
 * The account phase's question to the provider for a user cached under
 * name: when [session] revalidate is on, the record holds a refresh token,
 * and the provider last vouched for the account longer ago than revalidate,
 * the refresh token grant. A new refresh token replaces the stored one; an
 * ID token that comes with the answer is verified and must be for the
 * record's subject; with a groups claim in it, the groups, roles and access
 * verdict are recomputed and stored as an online login stores them. A grant
 * the provider ended (invalid_grant), a disabled or deleted account, or a
 * verdict the policy no longer allows marks the record refused
 * (cache_user_refuse: groups withdrawn, verifier and token deleted).
 * *ret_reason: static, for the log. Negative errno only for allocation failure.
 */
int login_revalidate(const struct cloudauth_config *c, const struct logger *log, const char *name, time_t now,
                     enum login_revalidation *ret, const char **ret_reason);

/* The same, now, however recently the provider vouched (cloudauthctl refresh, a PIN login). */
int login_revalidate_now(const struct cloudauth_config *c, const struct logger *log, const char *name, time_t now,
                         enum login_revalidation *ret, const char **ret_reason);

/*
 * acct_mgmt for a user this transaction did not authenticate (sshd with a
 * key, su from root): the cached record. Denied (0, *ret_allowed false) when
 * the last online login was refused (see login_store), when the last allowed
 * online login is older than [offline] max_age, or when the cached groups
 * do not pass the current access policy. -ESRCH when the user is not cached
 * (not ours). *ret_reason is static; *ret_local_user set on 0.
 */
int login_account_check_cached(const struct cloudauth_config *c, const struct logger *log, const char *user,
                               bool *ret_allowed, const char **ret_reason, char **ret_local_user);

/* The same, at time now (for tests; login_account_check_cached uses the clock). */
int login_account_check_cached_at(const struct cloudauth_config *c, const struct logger *log, const char *user,
                                  time_t now, bool *ret_allowed, const char **ret_reason, char **ret_local_user);

/*
 * The one syslog line per decision:
 * "user=NAME flow=FLOW result=RESULT reason=\"...\" [roles=a,b] [allowed=yes|no]".
 * NAME is the typed name, sanitised; never a secret.
 */
void login_result_log(const struct logger *log, const char *typed_user, const char *flow,
                      const struct login_result *r);
