/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "json-util.h"
#include "login.h"
#include "macro.h"
#include "secret.h"
#include "tokenbox.h"

static const char *const login_status_table[_LOGIN_STATUS_MAX] = {
        [LOGIN_OK] = "success",
        [LOGIN_BAD_CREDENTIALS] = "denied",
        [LOGIN_USER_UNKNOWN] = "unknown-user",
        [LOGIN_ACCOUNT_PROBLEM] = "account-problem",
        [LOGIN_UNAVAILABLE] = "unavailable",
        [LOGIN_CONFIG_ERROR] = "config-error",
};

const char *login_status_to_string(enum login_status s) {
        if ((unsigned) s >= _LOGIN_STATUS_MAX)
                return "unknown";
        return login_status_table[s];
}

void login_result_done(struct login_result *r) {
        if (!r)
                return;
        identity_free(r->identity);
        if (r->claims)
                json_decref(r->claims);
        strv_free(r->roles);
        free(r->idp_name);
        erase_and_free(r->refresh_token);
        *r = (struct login_result) {0};
}

static enum login_status status_from_transport(int r, const char **ret_reason) {
        if (r == -EKEYREJECTED) {
                *ret_reason = "TLS certificate of the provider could not be verified";
                return LOGIN_UNAVAILABLE;
        }
        if (http_error_is_unreachable(r)) {
                *ret_reason = r == -ETIMEDOUT ? "provider timed out" : "provider unreachable";
                return LOGIN_UNAVAILABLE;
        }
        if (r == -EACCES) {
                *ret_reason = "discovery document is for another issuer";
                return LOGIN_CONFIG_ERROR;
        }
        *ret_reason = "provider metadata unusable";
        return LOGIN_UNAVAILABLE;
}

enum login_status login_status_from_oauth(enum oauth_result o) {
        switch (o) {
        case OAUTH_OK:
                return LOGIN_OK;
        case OAUTH_WRONG_PASSWORD:
        case OAUTH_MFA_REQUIRED:
        case OAUTH_REJECTED:
        case OAUTH_ACCESS_DENIED:
        case OAUTH_EXPIRED_TOKEN:
                return LOGIN_BAD_CREDENTIALS;
        case OAUTH_NO_SUCH_USER:
                return LOGIN_USER_UNKNOWN;
        case OAUTH_LOCKED:
        case OAUTH_PASSWORD_EXPIRED:
        case OAUTH_DISABLED:
        case OAUTH_CONDITIONAL_ACCESS:
                return LOGIN_ACCOUNT_PROBLEM;
        case OAUTH_CLIENT_ERROR:
        case OAUTH_INVALID_SCOPE:
        case OAUTH_UNSUPPORTED_GRANT:
                return LOGIN_CONFIG_ERROR;
        default:
                return LOGIN_UNAVAILABLE;
        }
}

/* Discovery and keys, from the cache when fresh. */
static int login_prepare_provider(struct provider *p, struct login_result *ret) {
        int r;

        if ((r = provider_load_metadata(p, false)) < 0 || (r = provider_load_jwks(p, false)) < 0) {
                ret->status = status_from_transport(r, &ret->reason);
                ret->unreachable = http_error_is_unreachable(r) || r == -EKEYREJECTED;
                return r;
        }
        return 0;
}

/* Everything after the IdP issued tokens: verify, map, decide. */
static int login_finish(struct provider *p, const char *expected_idp_name, const char *id_token,
                        const char *nonce, struct login_result *ret) {
        _cleanup_json_ json_t *claims = NULL;
        struct identity *id = NULL;
        char **roles = NULL;
        int r;

        r = provider_verify_id_token(p, id_token, nonce, &claims, &ret->jwt);
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                if (ret->jwt == JWT_UNKNOWN_KID && (http_error_is_unreachable(r) || r == -EKEYREJECTED)) {
                        /* Refetching keys for an unknown kid failed: the provider, not the token, is the problem. */
                        ret->status = status_from_transport(r, &ret->reason);
                        ret->unreachable = true;
                        return 0;
                }
                ret->status = LOGIN_BAD_CREDENTIALS;
                ret->reason = jwt_error_to_string(ret->jwt);
                return 0;
        }

        r = identity_from_claims(p->config, claims, &id, &ret->reason);
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                ret->status = LOGIN_BAD_CREDENTIALS;
                return 0;
        }

        /* The IdP may accept aliases; the account logged in to must be the one named. */
        if (expected_idp_name && !streq(id->idp_username, expected_idp_name)) {
                identity_free(id);
                ret->status = LOGIN_BAD_CREDENTIALS;
                ret->reason = "the token is for a different user than the one logging in";
                return 0;
        }

        r = roles_resolve(p->config, id, &roles);
        if (r < 0) {
                identity_free(id);
                return r;
        }

        (void) access_check(p->config, id, roles, &ret->allowed, &ret->access_reason);

        ret->status = LOGIN_OK;
        ret->reason = ret->allowed ? "authenticated" : "authenticated, but not allowed";
        ret->identity = id;
        ret->roles = roles;
        ret->claims = TAKE_PTR(claims);
        return 0;
}

/* The name sent to the IdP: 1 and *ret set, or 0 with ret->status saying why not, or -ENOMEM. */
static int login_idp_name(struct provider *p, const char *typed_user, char **ret, struct login_result *res) {
        int r = identity_login_to_idp_name(p->config, typed_user, ret);

        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                res->status = LOGIN_USER_UNKNOWN;
                res->reason = "not a valid login name";
                return 0;
        }
        return 1;
}

int login_verify_tokens(struct provider *p, const char *typed_user, const char *id_token, const char *nonce,
                        struct login_result *ret) {
        _cleanup_free_ char *idp_name = NULL;
        unsigned requests_before = p->n_requests;
        int r;

        if (typed_user && (r = login_idp_name(p, typed_user, &idp_name, ret)) <= 0)
                return r;
        if (!id_token) {
                ret->status = LOGIN_UNAVAILABLE;
                ret->reason = "the provider sent no ID token";
                return 0;
        }

        r = login_finish(p, idp_name, id_token, nonce, ret);
        ret->n_requests += p->n_requests - requests_before;
        if (r >= 0 && idp_name && !ret->idp_name)
                ret->idp_name = TAKE_PTR(idp_name);
        return r;
}

static void login_refused(struct login_result *ret, enum oauth_result o) {
        if (o == OAUTH_OK)
                o = OAUTH_PROTOCOL_ERROR;
        ret->oauth = o;
        ret->status = login_status_from_oauth(o);
        ret->reason = oauth_result_to_string(o);
}

int login_device(struct provider *p, const char *typed_user, const struct login_device_ui *ui,
                 struct login_result *ret) {
        struct device_authorization a = {0};
        struct oauth_tokens tokens = {0};
        struct pkce pkce = {0};
        struct device_wait wait = { .sleep_ms = ui->sleep_ms, .userdata = ui->userdata };
        unsigned requests_before = p->n_requests, polls = 0;
        bool use_pkce;
        int r;

        *ret = (struct login_result) {0};
        if (login_prepare_provider(p, ret) < 0) {
                r = 0;
                goto out;
        }
        use_pkce = device_wants_pkce(p);
        if (use_pkce && (r = pkce_generate(&pkce)) < 0)
                goto out;

        r = device_start(p, use_pkce ? &pkce : NULL, &a, &ret->oauth);
        if (r == -ENOMEM)
                goto out;
        if (r < 0 || ret->oauth != OAUTH_OK) {
                login_refused(ret, ret->oauth);
                r = 0;
                goto out;
        }
        log_debug(p->log, "device flow: code issued, expires in %u s, polling every %u s", a.expires_in, a.interval);
        if (ui->show && (r = ui->show(ui->userdata, &a)) < 0) {
                r = -ECANCELED;
                goto out;
        }

        r = device_wait_for_tokens(p, &a, use_pkce ? &pkce : NULL, &wait, &tokens, &ret->oauth, &polls);
        if (r == -ENOMEM || r == -ECANCELED)
                goto out;
        if (r < 0 || ret->oauth != OAUTH_OK) {
                login_refused(ret, ret->oauth);
                r = 0;
                goto out;
        }
        log_debug(p->log, "device flow: tokens after %u token requests", polls);
        r = login_verify_tokens(p, typed_user, tokens.id_token, NULL, ret);
        if (r >= 0 && ret->status == LOGIN_OK)
                ret->refresh_token = TAKE_PTR(tokens.refresh_token);

out:
        oauth_tokens_done(&tokens);
        device_authorization_done(&a);
        pkce_done(&pkce);
        ret->n_requests = p->n_requests - requests_before;
        return r == -ENOMEM || r == -ECANCELED ? r : 0;
}

int login_password(struct provider *p, const char *typed_user, const char *password, struct login_result *ret) {
        _cleanup_free_ char *idp_name = NULL;
        struct oauth_tokens tokens = {0};
        unsigned requests_before = p->n_requests;
        int r;

        *ret = (struct login_result) {0};

        if ((r = login_idp_name(p, typed_user, &idp_name, ret)) <= 0)
                return r;

        if (!password || !*password) {
                ret->status = LOGIN_BAD_CREDENTIALS;
                ret->reason = "empty password";
                return 0;
        }

        if (login_prepare_provider(p, ret) < 0)
                goto out;

        r = oauth_password_grant(p, idp_name, password, &tokens, &ret->oauth);
        if (r == -ENOMEM)
                goto out;
        if (r < 0 && ret->oauth == OAUTH_OK)
                ret->oauth = OAUTH_PROTOCOL_ERROR;
        if (ret->oauth != OAUTH_OK) {
                ret->status = login_status_from_oauth(ret->oauth);
                ret->reason = oauth_result_to_string(ret->oauth);
                ret->unreachable = ret->oauth == OAUTH_UNREACHABLE || ret->oauth == OAUTH_TLS_ERROR;
                r = 0;
                goto out;
        }

        r = login_finish(p, idp_name, tokens.id_token, NULL, ret);
        if (r >= 0 && ret->status == LOGIN_OK)
                ret->refresh_token = TAKE_PTR(tokens.refresh_token);

out:
        oauth_tokens_done(&tokens);
        ret->n_requests = p->n_requests - requests_before;
        ret->idp_name = TAKE_PTR(idp_name);
        return r == -ENOMEM ? r : 0;
}

/* What an online refusal says about the account itself, or NULL when it says nothing lasting. */
static const char *refusal_of(const struct login_result *r) {
        if (r->status == LOGIN_OK && !r->allowed)
                return r->access_reason ? r->access_reason : "not allowed by the access policy";
        /* Only what the provider states outright; a wrong password is no statement about the account. */
        if (r->status == LOGIN_ACCOUNT_PROBLEM && r->oauth == OAUTH_DISABLED)
                return "the provider says the account is disabled";
        if (r->status == LOGIN_USER_UNKNOWN && r->oauth == OAUTH_NO_SUCH_USER)
                return "the provider says the account does not exist";
        return NULL;
}

static int login_store_refusal(const struct cloudauth_config *c, const struct logger *log, struct login_result *r,
                               const char *refusal, time_t now) {
        const struct identity *id = r->status == LOGIN_OK ? r->identity : NULL;
        int k;

        if (!id && !r->idp_name)
                return 0;
        k = cache_user_refuse(c, log, id, id ? NULL : r->idp_name, refusal, now);
        if (k == -ENOMEM)
                return k;
        if (k < 0 && k != -ESRCH)
                log_err(log, "the refusal of %s could not be recorded in the identity store: %s",
                        id ? id->idp_username : r->idp_name, strerror(-k));
        return 0;
}

int login_store(const struct cloudauth_config *c, const struct logger *log, struct login_result *r, time_t now) {
        const char *reason = NULL, *refusal;
        uint32_t uid;
        int k;

        /* An offline or PIN login changes nothing: only the provider's word goes into the store. */
        if (r->offline || r->pin)
                return 0;
        refusal = refusal_of(r);
        if (refusal)
                return login_store_refusal(c, log, r, refusal, now);
        if (r->status != LOGIN_OK || !r->allowed)
                return 0;

        k = cache_store_login(c, log, r->identity, r->roles, now, &uid, &reason);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                r->allowed = false;
                r->access_reason = reason ? reason
                                   : k == -EEXIST ? "UID or name collision"
                                                  : "the identity store could not be written";
                return 0;
        }
        r->uid = uid;
        return 0;
}

static void offline_params_from_config(const struct cloudauth_config *c, struct offline_params *ret) {
        *ret = (struct offline_params) {
                .time_cost = c->offline_time_cost,
                .memory_kib = c->offline_memory_mib * 1024,
                .parallelism = 1,
        };
}

/* One of the host's verification slots (see OFFLINE_SLOTS): a descriptor, or -ETIMEDOUT when none came free. */
static int offline_slot(const struct cloudauth_config *c, const struct logger *log, const char *name) {
        unsigned slot;
        int fd;

        fd = offline_slot_take(c->state_dir, log, OFFLINE_SLOT_WAIT_MS, &slot);
        if (fd < 0) {
                if (fd == -ETIMEDOUT)
                        log_err(log, "user=%s offline verification refused: all %d slots stayed busy for %d ms", name,
                                OFFLINE_SLOTS, OFFLINE_SLOT_WAIT_MS);
                return fd == -ENOMEM ? fd : -ETIMEDOUT;
        }
        log_info(log, "user=%s offline verification slot %u", name, slot);
        return fd;
}

/* The argon2 work under one of the host's slots: 1 match, 0 not, -ETIMEDOUT when no slot came free. */
static int verifier_check_slotted(const struct cloudauth_config *c, const struct logger *log, const char *name,
                                  const struct cache_user *u, const struct offline_verifier *v, const char *secret) {
        _cleanup_close_ int slot_fd = -1;
        uint8_t key[OFFLINE_KEY_SIZE];
        int r;

        r = offline_host_key_load(c->state_dir, log, false, key);
        if (r < 0)
                return r == -ENOMEM ? r : -ENOKEY;
        slot_fd = offline_slot(c, log, name);
        if (slot_fd < 0) {
                secret_wipe(key, sizeof(key));
                return slot_fd;
        }
        r = offline_verifier_check(key, u->subject_key, secret, v);
        secret_wipe(key, sizeof(key));
        return r;
}

static int offline_check_slotted(const struct cloudauth_config *c, const struct logger *log, const char *name,
                                 const struct cache_user *u, const char *password) {
        return verifier_check_slotted(c, log, name, u, u->verifier, password);
}

static int offline_identity(struct cache_user *u, struct identity **ret) {
        _cleanup_(identity_freep) struct identity *id = calloc(1, sizeof(*id));

        if (!id)
                return -ENOMEM;
        id->username = TAKE_PTR(u->username);
        id->idp_username = TAKE_PTR(u->idp_username);
        id->display_name = TAKE_PTR(u->display_name);
        id->email = TAKE_PTR(u->email);
        id->groups = u->idp_groups ? TAKE_PTR(u->idp_groups) : calloc(1, sizeof(char *));
        id->app_roles = u->app_roles ? TAKE_PTR(u->app_roles) : calloc(1, sizeof(char *));
        if (!id->groups || !id->app_roles)
                return -ENOMEM;
        *ret = TAKE_PTR(id);
        return 0;
}

/* The record a typed name logs in to: -ESRCH for a name that can never be ours or is not cached. */
static int record_of_login(const struct cloudauth_config *c, const struct logger *log, const char *typed_user,
                           char **ret_idp_name, struct cache_user **ret) {
        int r = identity_login_to_idp_name(c, typed_user, ret_idp_name);

        if (r == -ENOMEM)
                return r;
        return r < 0 ? -ESRCH : cache_user_load_by_name(c, log, *ret_idp_name, ret);
}

/* A login decided here, from the record: its groups as of the provider's last word, the policy as configured now. */
static int result_from_record(const struct cloudauth_config *c, struct cache_user *u, struct login_result *ret) {
        struct identity *id = NULL;
        char **roles = NULL;
        int r;

        ret->uid = u->uid;
        if ((r = offline_identity(u, &id)) < 0)
                return r;
        if ((r = roles_resolve(c, id, &roles)) < 0 ||
            (r = access_check(c, id, roles, &ret->allowed, &ret->access_reason)) < 0) {
                identity_free(id);
                strv_free(roles);
                return r;
        }
        ret->status = LOGIN_OK;
        ret->identity = id;
        ret->roles = roles;
        return 0;
}

int login_offline(const struct cloudauth_config *c, const struct logger *log, const char *typed_user,
                  const char *password, time_t now, struct login_result *ret) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        _cleanup_free_ char *idp_name = NULL;
        int r;

        *ret = (struct login_result) { .status = LOGIN_UNAVAILABLE, .offline = true, .unreachable = true };
        if (!password || !*password) {
                ret->status = LOGIN_BAD_CREDENTIALS;
                ret->reason = "empty password";
                return 0;
        }
        r = record_of_login(c, log, typed_user, &idp_name, &u);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                ret->reason = r == -ESRCH ? "offline: never logged in online on this host"
                                          : "offline: the user record cannot be read";
                return 0;
        }
        if (u->refused_at) {
                ret->reason = "offline: the last online login was refused";
                return 0;
        }
        if (!u->verifier) {
                ret->reason = "offline: the record holds no verifier";
                return 0;
        }
        if ((int64_t) now < u->last_online_login ||
            (uint64_t) ((int64_t) now - u->last_online_login) > c->offline_max_age) {
                ret->reason = "offline: the last online login is older than [offline] max_age";
                return 0;
        }

        r = offline_check_slotted(c, log, u->username, u, password);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                ret->reason = r == -ETIMEDOUT ? "offline: no verification slot came free in time"
                              : r == -ENOKEY  ? "offline: the host key cannot be read"
                                              : "offline: the verifier cannot be checked";
                return 0;
        }
        if (r == 0) {
                ret->status = LOGIN_BAD_CREDENTIALS;
                ret->reason = "offline: the password is not the one last used online";
                return 0;
        }

        ret->offline_since = u->verifier->created;
        r = result_from_record(c, u, ret);
        ret->reason = "offline: the password last used online";
        return r;
}

/* A new verifier of secret (a password, or a PIN) into the record of uid, under a slot. */
static int verifier_store(const struct cloudauth_config *c, const struct logger *log, uint32_t uid,
                          const char *subject, const char *name, const char *secret, bool pin, time_t now) {
        _cleanup_close_ int slot_fd = -1;
        struct offline_verifier v;
        struct offline_params params;
        uint8_t key[OFFLINE_KEY_SIZE];
        int k;

        if ((k = offline_host_key_load(c->state_dir, log, true, key)) < 0)
                return k;
        offline_params_from_config(c, &params);
        /* Making a verifier costs what checking one does: the same slots bound it. */
        slot_fd = offline_slot(c, log, name);
        if (slot_fd < 0) {
                secret_wipe(key, sizeof(key));
                return slot_fd;
        }
        k = offline_verifier_make(key, subject, secret, &params, (int64_t) now, &v);
        secret_wipe(key, sizeof(key));
        close(TAKE_FD(slot_fd));
        if (k >= 0)
                k = pin ? cache_user_set_pin(c, log, uid, subject, &v) : cache_user_set_verifier(c, log, uid, subject, &v);
        secret_wipe(&v, sizeof(v));
        if (k >= 0)
                log_info(log, "user=%s %s stored", name, pin ? "PIN verifier" : "offline verifier");
        return k;
}

static int offline_store(const struct cloudauth_config *c, const struct logger *log, const struct login_result *r,
                         const char *password, time_t now) {
        _cleanup_free_ char *subject = NULL;
        int k;

        if ((k = cache_subject_key(r->identity, &subject)) < 0)
                return k;
        return verifier_store(c, log, r->uid, subject, r->identity->username, password, false, now);
}

int login_pin_set(const struct cloudauth_config *c, const struct logger *log, const char *name, const char *pin,
                  time_t now) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        int k;

        if (!pin || !*pin)
                return -EINVAL;
        if ((k = cache_user_load_by_name(c, log, name, &u)) < 0)
                return k;
        return verifier_store(c, log, u->uid, u->subject_key, u->username, pin, true, now);
}

int login_pin_check(const struct cloudauth_config *c, const struct logger *log, const char *name, const char *pin) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        int k;

        if ((k = cache_user_load_by_name(c, log, name, &u)) < 0)
                return k;
        if (!u->pin_verifier)
                return -ENOENT;
        return verifier_check_slotted(c, log, u->username, u, u->pin_verifier, pin);
}

int login_pin_forget(const struct cloudauth_config *c, const struct logger *log, const char *name) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        int k;

        if ((k = cache_user_load_by_name(c, log, name, &u)) < 0)
                return k;
        return cache_user_set_pin(c, log, u->uid, u->subject_key, NULL);
}

int login_pin(const struct cloudauth_config *c, const struct logger *log, const char *typed_user, const char *pin,
              bool offline_allowed, time_t now, struct login_result *ret) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        _cleanup_free_ char *idp_name = NULL;
        enum login_revalidation rv;
        const char *why;
        int r;

        *ret = (struct login_result) { .status = LOGIN_BAD_CREDENTIALS, .pin = true };
        r = record_of_login(c, log, typed_user, &idp_name, &u);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                ret->status = LOGIN_USER_UNKNOWN;
                ret->reason = r == -ESRCH ? "pin: never signed in on this host" : "pin: the user record cannot be read";
                return 0;
        }
        ret->idp_name = TAKE_PTR(idp_name);
        if (u->refused_at) {
                ret->reason = "pin: the last online login was refused";
                return 0;
        }
        if (!u->pin_verifier) {
                ret->reason = "pin: no PIN is set";
                return 0;
        }
        if (!u->refresh_sealed) {
                ret->reason = "pin: no refresh token is kept, so no PIN is valid";
                return 0;
        }
        r = verifier_check_slotted(c, log, u->username, u, u->pin_verifier, pin);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                ret->status = LOGIN_UNAVAILABLE;
                ret->reason = r == -ETIMEDOUT ? "pin: no verification slot came free in time" : "pin: the PIN cannot be checked";
                return 0;
        }
        if (r == 0) {
                ret->reason = "pin: wrong PIN";
                return 0;
        }

        /* A PIN is only as good as the grant behind it: the provider is asked every time. */
        r = login_revalidate_now(c, log, u->username, now, &rv, &why);
        if (r < 0)
                return r;
        if (rv == REVALIDATION_REFUSED) {
                ret->status = LOGIN_ACCOUNT_PROBLEM;
                ret->reason = why;
                return 0;
        }
        if (rv == REVALIDATION_UNAVAILABLE || rv == REVALIDATION_NOT_DUE) {
                ret->unreachable = rv == REVALIDATION_UNAVAILABLE;
                if (!offline_allowed || (int64_t) now < cache_user_last_answer(u) ||
                    (uint64_t) ((int64_t) now - cache_user_last_answer(u)) > c->offline_max_age) {
                        ret->status = LOGIN_UNAVAILABLE;
                        ret->reason = offline_allowed ? "pin: the provider cannot answer, and its last word is older than [offline] max_age"
                                                      : "pin: the provider cannot answer, and offline logins are off";
                        return 0;
                }
                ret->offline = true;
                ret->offline_since = cache_user_last_answer(u);
        }
        /* The record as the re-validation left it. */
        cache_user_free(TAKE_PTR(u));
        r = cache_user_load_by_name(c, log, ret->idp_name, &u);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                ret->status = LOGIN_UNAVAILABLE;
                ret->reason = "pin: the user record cannot be read";
                return 0;
        }
        r = result_from_record(c, u, ret);
        ret->reason = ret->offline ? "pin: checked here, the provider cannot answer" : "pin: checked here, the provider vouched";
        return r;
}

/* The provider refused this password: if it is the one the verifier knows, it no longer works offline. */
static int offline_forget(const struct cloudauth_config *c, const struct logger *log, const struct login_result *r,
                          const char *password) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        int k;

        if (!r->idp_name)
                return 0;
        k = cache_user_load_by_name(c, log, r->idp_name, &u);
        if (k == -ESRCH || (k >= 0 && !u->verifier))
                return 0;
        if (k < 0)
                return k;
        k = offline_check_slotted(c, log, u->username, u, password);
        if (k <= 0)
                return k;
        k = cache_user_set_verifier(c, log, u->uid, u->subject_key, NULL);
        if (k >= 0)
                log_notice(log, "user=%s offline verifier removed: the provider refused the password it was made of",
                           u->username);
        return k;
}

bool login_offline_update_wanted(const struct login_result *r, const char *password) {
        if (r->offline || !password || !*password)
                return false;
        return (r->status == LOGIN_OK && r->allowed && r->uid) ||
               (r->status == LOGIN_BAD_CREDENTIALS && r->oauth == OAUTH_WRONG_PASSWORD);
}

int login_offline_update(const struct cloudauth_config *c, const struct logger *log, const struct login_result *r,
                         const char *password, time_t now) {
        int k = 0;

        if (!login_offline_update_wanted(r, password))
                return 0;
        if (r->status == LOGIN_OK)
                k = offline_store(c, log, r, password, now);
        else
                k = offline_forget(c, log, r, password);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                log_err(log, "the offline verifier could not be updated: %s", strerror(-k));
        return 0;
}

bool login_session_store_wanted(const struct cloudauth_config *c, const struct logger *log,
                                const struct login_result *r) {
        (void) log;
        return c->session_revalidate && !r->offline && r->status == LOGIN_OK && r->allowed && r->uid &&
               r->refresh_token && *r->refresh_token;
}

int login_session_store(const struct cloudauth_config *c, const struct logger *log, const struct login_result *r,
                        time_t now) {
        _cleanup_free_ char *subject = NULL;
        _cleanup_erase_ char *sealed = NULL;
        uint8_t key[OFFLINE_KEY_SIZE];
        int k;

        if (!login_session_store_wanted(c, log, r))
                return 0;
        if ((k = cache_subject_key(r->identity, &subject)) < 0)
                return k == -ENOMEM ? k : 0;
        if ((k = offline_host_key_load(c->state_dir, log, true, key)) < 0)
                goto fail;
        k = tokenbox_seal(key, subject, r->uid, r->refresh_token, &sealed);
        secret_wipe(key, sizeof(key));
        if (k >= 0)
                k = cache_user_set_refresh(c, log, r->uid, subject, sealed, (int64_t) now);
        if (k >= 0)
                return 0;
fail:
        if (k == -ENOMEM)
                return k;
        log_err(log, "user=%s the refresh token could not be kept: %s", r->identity->username, strerror(-k));
        return 0;
}

/* The record's refresh token, opened: 1 and *ret set, 0 when there is none that opens (logged). */
static int session_token_open(const struct cloudauth_config *c, const struct logger *log, const struct cache_user *u,
                              char **ret) {
        uint8_t key[OFFLINE_KEY_SIZE];
        int k;

        if (!u->refresh_sealed)
                return 0;
        k = offline_host_key_load(c->state_dir, log, false, key);
        if (k == -ENOMEM)
                return k;
        if (k >= 0) {
                k = tokenbox_open(key, u->subject_key, u->uid, u->refresh_sealed, ret);
                secret_wipe(key, sizeof(key));
        }
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                log_err(log, "user=%s the stored refresh token cannot be opened (%s): it is deleted", u->username,
                        strerror(-k));
                (void) cache_user_set_refresh(c, log, u->uid, u->subject_key, NULL, 0);
                return 0;
        }
        return 1;
}

/* The groups of the refresh's ID token, or, when it carries no groups claim, the ones the record holds. */
static int revalidation_groups(const struct cloudauth_config *c, const struct cache_user *u, struct login_result *r) {
        char **groups;

        if (json_object_get(r->claims, c->groups_claim))
                return 0;
        if (strv_dup(u->idp_groups, &groups) < 0)
                return -ENOMEM;
        strv_free(r->identity->groups);
        r->identity->groups = groups;
        strv_free(r->roles);
        r->roles = NULL;
        if (roles_resolve(c, r->identity, &r->roles) < 0)
                return -ENOMEM;
        return access_check(c, r->identity, r->roles, &r->allowed, &r->access_reason);
}

static int revalidate(const struct cloudauth_config *c, const struct logger *log, const char *name, time_t now,
                      bool force, enum login_revalidation *ret, const char **ret_reason) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        _cleanup_erase_ char *token = NULL, *sealed = NULL;
        _cleanup_free_ char *subject = NULL;
        struct oauth_tokens tokens = {0};
        struct login_result res = {0};
        struct provider p;
        const char *refusal = NULL;
        uint8_t key[OFFLINE_KEY_SIZE];
        int r;

        *ret = REVALIDATION_NOT_DUE;
        *ret_reason = "vouched for recently";
        if (!c->session_revalidate && !force)
                return 0;
        r = cache_user_load_by_name(c, log, name, &u);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || u->refused_at) {
                *ret_reason = "nothing to re-validate";
                return 0;
        }
        if (!force && (int64_t) now >= cache_user_last_answer(u) &&
            (uint64_t) ((int64_t) now - cache_user_last_answer(u)) <= c->session_revalidate)
                return 0;
        if ((r = session_token_open(c, log, u, &token)) <= 0) {
                *ret_reason = "no refresh token is kept";
                return r;
        }

        if ((r = provider_init(&p, c, log)) < 0)
                return r;
        r = oauth_refresh_grant(&p, token, &tokens, &res.oauth);
        if (r == -ENOMEM)
                goto out;
        if (r < 0 && res.oauth == OAUTH_OK)
                res.oauth = OAUTH_PROTOCOL_ERROR;
        if (res.oauth != OAUTH_OK) {
                /* invalid_grant: disabled, deleted, password reset, sessions revoked. */
                if (res.oauth == OAUTH_WRONG_PASSWORD || res.oauth == OAUTH_REJECTED)
                        refusal = "the provider ended the grant (account disabled or deleted, password reset, or sessions revoked)";
                else if (res.oauth == OAUTH_DISABLED)
                        refusal = "the provider says the account is disabled";
                else if (res.oauth == OAUTH_NO_SUCH_USER)
                        refusal = "the provider says the account does not exist";
                if (!refusal) {
                        *ret = REVALIDATION_UNAVAILABLE;
                        *ret_reason = oauth_result_to_string(res.oauth);
                        r = 0;
                        goto out;
                }
        } else if (tokens.id_token) {
                r = login_finish(&p, NULL, tokens.id_token, NULL, &res);
                if (r < 0)
                        goto out;
                if (res.status == LOGIN_OK && ((r = cache_subject_key(res.identity, &subject)) < 0 ||
                                               !streq(subject, u->subject_key))) {
                        if (r == -ENOMEM)
                                goto out;
                        res.status = LOGIN_BAD_CREDENTIALS;
                        res.reason = "the refreshed ID token is for another subject";
                }
                if (res.status != LOGIN_OK) {
                        log_err(log, "user=%s re-validation: the provider's ID token is unusable: %s", u->username,
                                strempty(res.reason));
                        *ret = REVALIDATION_UNAVAILABLE;
                        *ret_reason = "the refreshed ID token is unusable";
                        r = 0;
                        goto out;
                }
                if ((r = revalidation_groups(c, u, &res)) < 0)
                        goto out;
                if (!res.allowed)
                        refusal = res.access_reason ? res.access_reason : "not allowed by the access policy";
                else if ((r = login_store(c, log, &res, now)) < 0)
                        goto out;
                else if (!res.allowed)
                        refusal = res.access_reason;
        }

        if (refusal) {
                r = cache_user_refuse(c, log, NULL, u->username, refusal, now);
                if (r == -ENOMEM)
                        goto out;
                if (r < 0 && r != -ESRCH)
                        log_err(log, "user=%s the refusal could not be recorded: %s", u->username, strerror(-r));
                *ret = REVALIDATION_REFUSED;
                *ret_reason = refusal;
                r = 0;
                goto out;
        }

        /* The provider vouched: the rotated token (or the same one) and the time go into the record. */
        r = offline_host_key_load(c->state_dir, log, false, key);
        if (r >= 0) {
                r = tokenbox_seal(key, u->subject_key, u->uid, tokens.refresh_token ? tokens.refresh_token : token,
                                  &sealed);
                secret_wipe(key, sizeof(key));
        }
        if (r >= 0)
                r = cache_user_set_refresh(c, log, u->uid, u->subject_key, sealed, (int64_t) now);
        if (r == -ENOMEM)
                goto out;
        if (r < 0)
                log_err(log, "user=%s re-validation: the record could not be updated: %s", u->username, strerror(-r));
        *ret = REVALIDATION_CONFIRMED;
        *ret_reason = tokens.id_token ? "the provider vouched, groups as its ID token says" : "the provider vouched";
        r = 0;
out:
        oauth_tokens_done(&tokens);
        login_result_done(&res);
        provider_done(&p);
        return r == -ENOMEM ? r : 0;
}

int login_revalidate(const struct cloudauth_config *c, const struct logger *log, const char *name, time_t now,
                     enum login_revalidation *ret, const char **ret_reason) {
        return revalidate(c, log, name, now, false, ret, ret_reason);
}

int login_revalidate_now(const struct cloudauth_config *c, const struct logger *log, const char *name, time_t now,
                         enum login_revalidation *ret, const char **ret_reason) {
        return revalidate(c, log, name, now, true, ret, ret_reason);
}

int login_account_check_cached(const struct cloudauth_config *c, const struct logger *log, const char *user,
                               bool *ret_allowed, const char **ret_reason, char **ret_local_user) {
        return login_account_check_cached_at(c, log, user, time(NULL), ret_allowed, ret_reason, ret_local_user);
}

int login_account_check_cached_at(const struct cloudauth_config *c, const struct logger *log, const char *user,
                                  time_t now, bool *ret_allowed, const char **ret_reason, char **ret_local_user) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        _cleanup_strv_free_ char **roles = NULL;
        char *empty[] = { NULL };
        struct identity id = {0};
        char *local;
        int r;

        r = cache_user_load_by_name(c, log, user, &u);
        if (r < 0)
                return r;

        local = strdup(u->username);
        if (!local)
                return -ENOMEM;

        if (u->refused_at) {
                *ret_allowed = false;
                *ret_reason = "the last online login was refused";
        } else if ((int64_t) now > cache_user_last_answer(u) &&
                   (uint64_t) ((int64_t) now - cache_user_last_answer(u)) > c->offline_max_age) {
                /* A verdict is only as good as the provider's last word on it. */
                *ret_allowed = false;
                *ret_reason = "the last online login is older than [offline] max_age";
        } else {
                /* The groups as of the last online login; the policy as configured now. */
                id.username = u->username;
                id.idp_username = u->idp_username;
                id.groups = u->idp_groups ? u->idp_groups : empty;
                id.app_roles = u->app_roles ? u->app_roles : empty;
                if ((r = roles_resolve(c, &id, &roles)) < 0 || (r = access_check(c, &id, roles, ret_allowed, ret_reason)) < 0) {
                        free(local);
                        return r;
                }
        }
        *ret_local_user = local;
        return 0;
}

/* Names typed at a prompt may hold anything: keep the log line parseable. */
static void sanitize_name(const char *in, char *out, size_t size) {
        size_t i = 0;

        for (; in && *in && i + 1 < size; in++)
                out[i++] = ((unsigned char) *in < 0x21 || *in == '"' || *in == 0x7f) ? '?' : *in;
        out[i] = 0;
}

void login_result_log(const struct logger *log, const char *typed_user, const char *flow,
                      const struct login_result *r) {
        char user[128], roles[512] = "", uid[16], requests[16];
        bool ok = r->status == LOGIN_OK;
        const char *id, *result, *source, *reason = ok ? r->access_reason : r->reason;
        size_t n = 0;
        int priority;

        sanitize_name(typed_user, user, sizeof(user));
        /* Only a stored login has a UID on this host. */
        if (r->uid)
                snprintf(uid, sizeof(uid), "%u", r->uid);
        else
                snprintf(uid, sizeof(uid), "-");
        snprintf(requests, sizeof(requests), "%u", r->n_requests);

        if (r->roles)
                for (char **i = r->roles; *i && n + 1 < sizeof(roles); i++) {
                        int k = snprintf(roles + n, sizeof(roles) - n, "%s%s", n ? "," : "", *i);
                        if (k < 0)
                                break;
                        n += (size_t) k;
                }

        if (ok && r->allowed) {
                id = r->offline ? LOG_ID_LOGIN_SUCCESS_OFFLINE : LOG_ID_LOGIN_SUCCESS;
                result = "success";
                priority = LOG_NOTICE;
        } else if (ok) {
                id = LOG_ID_LOGIN_NOT_ALLOWED;
                result = "not-allowed";
                priority = LOG_NOTICE;
        } else if (r->status == LOGIN_UNAVAILABLE || r->status == LOGIN_CONFIG_ERROR) {
                id = LOG_ID_LOGIN_UNAVAILABLE;
                result = login_status_to_string(r->status);
                priority = LOG_ERR;
        } else {
                id = LOG_ID_LOGIN_REFUSED;
                result = login_status_to_string(r->status);
                priority = LOG_WARNING;
        }

        /* The same decision for the journal; the subject and issuer only once a token was verified. */
        const struct log_field fields[] = {
                { "CLOUDAUTH_USER", user },
                { "CLOUDAUTH_FLOW", flow },
                { "CLOUDAUTH_RESULT", result },
                { "CLOUDAUTH_REASON", reason && *reason ? reason : NULL },
                { "CLOUDAUTH_LOCAL_USER", ok ? r->identity->username : NULL },
                { "CLOUDAUTH_UID", r->uid ? uid : NULL },
                { "CLOUDAUTH_SUBJECT", ok ? r->identity->subject : NULL },
                { "CLOUDAUTH_ISSUER", ok ? r->identity->issuer : NULL },
                { "CLOUDAUTH_ROLES", n ? roles : NULL },
                { "CLOUDAUTH_REQUESTS", requests },
        };

        source = r->pin ? (r->offline ? " source=pin-offline" : " source=pin") : r->offline ? " source=offline" : "";
        if (ok)
                log_record(log, priority, id, fields, ELEMENTSOF(fields),
                           "user=%s flow=%s%s result=success local_user=%s uid=%s allowed=%s access=\"%s\" roles=%s requests=%u",
                           user, flow, source, r->identity->username, uid,
                           r->allowed ? "yes" : "no", strempty(r->access_reason), n ? roles : "-", r->n_requests);
        else
                log_record(log, priority, id, fields, ELEMENTSOF(fields),
                           "user=%s flow=%s%s result=%s reason=\"%s\" requests=%u", user, flow,
                           source, login_status_to_string(r->status), strempty(r->reason),
                           r->n_requests);
}
