/* SPDX-License-Identifier: MIT */
/* pam_sm_authenticate's work, in the helper: the flows, the store, the one decision. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "device-flow.h"
#include "helper.h"
#include "identity.h"
#include "lockout.h"
#include "login.h"
#include "macro.h"
#include "provider.h"
#include "secret.h"

bool helper_user_in_etc_passwd(const char *user) {
        _cleanup_fclose_ FILE *f = fopen("/etc/passwd", "re");
        struct passwd pw, *result;
        char buf[4096];
        int r;

        if (!f)
                return false;
        while ((r = fgetpwent_r(f, &pw, buf, sizeof(buf), &result)) == 0)
                if (streq(result->pw_name, user))
                        return true;
        /* A line too long to read could be this account: never guess "not local". */
        return r != ENOENT;
}

/* What the system's user database says of name: 1 nothing or our own record, 0 someone else's, negative errno. */
static int system_answer_is_ours(struct helper *h, const struct cloudauth_config *c, const char *typed,
                                 const char *name) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        struct passwd pw, *sys = NULL;
        char buf[4096];
        int r;

        r = getpwnam_r(name, &pw, buf, sizeof(buf), &sys);
        if (r != 0 && r != ENOENT && r != ESRCH) {
                /* The system cannot say who this is: not a reason to send a password anywhere. */
                log_warn(&h->log, "user=%s result=ignored reason=\"the system's user database failed: %s\"", typed,
                         strerror(r));
                return 0;
        }
        if (!sys)
                return 1; /* nobody on this host has the name: a first login may make it ours */

        if (sys->pw_uid < c->uid_min || sys->pw_uid > c->uid_max) {
                log_debug(&h->log, "user=%s result=ignored reason=\"uid %u is outside uid_range\"", typed,
                          (unsigned) sys->pw_uid);
                return 0;
        }

        /* The system knows the name: it is ours only if the answer is our own record's. */
        r = cache_user_load_by_name(c, &h->log, sys->pw_name, &u);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || u->uid != sys->pw_uid || !streq(u->username, sys->pw_name)) {
                log_notice(&h->log,
                           "user=%s result=ignored reason=\"the system resolves it to uid %u, which is not cloudauth's account\"",
                           typed, (unsigned) sys->pw_uid);
                return 0;
        }
        return 1;
}

int helper_user_may_be_ours(struct helper *h, const struct cloudauth_config *c, const char *typed,
                            const char *local_name) {
        int r;

        if (helper_user_in_etc_passwd(typed) || helper_user_in_etc_passwd(local_name)) {
                log_debug(&h->log, "user=%s result=ignored reason=\"a local account\"", typed);
                return 0;
        }
        r = system_answer_is_ours(h, c, typed, typed);
        if (r <= 0 || streq(typed, local_name))
                return r;
        return system_answer_is_ours(h, c, typed, local_name);
}

static int config_open(struct helper *h, struct cloudauth_config **ret) {
        int r = config_load(h->config_path, &h->log, ret);

        if (r < 0)
                /*
                 * config_load named file, line and key already. AUTHINFO_UNAVAIL: stacks fall
                 * through to pam_unix on it, so a broken file never locks out local accounts, while
                 * nobody gets in through us.
                 */
                log_err(&h->log, "configuration %s is unusable, refusing every cloudauth login: %s", h->config_path,
                        strerror(-r));
        return r;
}

/* The name failures count under: the IdP name the typed one maps to, known to the provider or not. */
static int lockout_name(struct helper *h, const struct cloudauth_config *c, char **ret) {
        int r = identity_login_to_idp_name(c, h->user, ret);

        if (r < 0 && r != -ENOMEM)
                log_debug(&h->log, "user=%s lockout: not a login name: %s", h->user, strerror(-r));
        return r;
}

/*
 * Before any prompt or request: a locked account is refused here, so that
 * guessing costs the provider nothing and cannot trip its own lockout of
 * the person, who is told when to try again. A lockout store that cannot
 * be read is logged and does not stop the login: only root can write it.
 */
static bool lockout_refuses(struct helper *h, const struct cloudauth_config *c, const char *idp_name) {
        struct lockout_state s;
        time_t now = time(NULL);
        char msg[128], reason[96];
        long long minutes;
        int r;

        r = lockout_get(c, &h->log, idp_name, now, &s);
        if (r < 0) {
                log_err(&h->log, "user=%s cannot read the lockout state, not enforcing it: %s", h->user, strerror(-r));
                return false;
        }
        if (s.locked_until <= now)
                return false;
        snprintf(reason, sizeof(reason), "%u failed logins, locked for %lld more seconds", s.failures,
                 (long long) (s.locked_until - now));
        const struct log_field fields[] = {
                { "CLOUDAUTH_USER", h->user },
                { "CLOUDAUTH_RESULT", "locked" },
                { "CLOUDAUTH_REASON", reason },
        };
        log_record(&h->log, LOG_NOTICE, LOG_ID_LOGIN_LOCKED, fields, ELEMENTSOF(fields), "user=%s result=locked reason=\"%s\"",
                   h->user, reason);
        minutes = (long long) ((s.locked_until - now + 59) / 60);
        snprintf(msg, sizeof(msg), "Too many failed logins: try again in %lld minute%s.", minutes,
                 minutes == 1 ? "" : "s");
        (void) conv_error(&h->conv, msg);
        return true;
}

/*
 * After each concluded login: a refused password (online or offline), a
 * token refused, a user the provider does not know count; a login with the
 * right credentials starts the count again. "MFA required" came after a
 * right password, and the provider being away or the account's own state
 * say nothing about guessing: those are not counted.
 */
static void lockout_count(struct helper *h, const struct cloudauth_config *c, const struct login_result *res) {
        _cleanup_free_ char *name = NULL;
        struct lockout_state s;
        time_t now = time(NULL);
        int r;

        if (lockout_name(h, c, &name) < 0)
                return;
        if (res->status == LOGIN_OK)
                r = lockout_record_success(c, &h->log, name);
        else if ((res->status == LOGIN_BAD_CREDENTIALS && res->oauth != OAUTH_MFA_REQUIRED) ||
                 res->status == LOGIN_USER_UNKNOWN) {
                r = lockout_record_failure(c, &h->log, name, now, &s);
                if (r >= 0 && s.locked_until == now + (time_t) c->lockout_duration) {
                        log_notice(&h->log, "user=%s result=locked reason=\"%u failed logins within %llu seconds\"",
                                   h->user, s.failures, (unsigned long long) c->lockout_window);
                        /* A PIN guessed at until the lock is gone for good: a new device login sets another. */
                        if (res->pin && login_pin_forget(c, &h->log, name) >= 0)
                                log_notice(&h->log, "user=%s PIN removed: the account locked after failed PINs", h->user);
                }
        } else
                return;
        if (r < 0)
                log_err(&h->log, "user=%s cannot update the lockout state: %s", h->user, strerror(-r));
}

/* The password: the stacked one when asked to (*ret_from_stack), else the person's answer. */
static enum proto_code password_get(struct helper *h, bool force, bool offer_device, char **ret,
                                    bool *ret_from_stack) {
        char *answer = NULL;
        int r;

        if (!force && (h->flags & (PROTO_FLAG_USE_FIRST_PASS | PROTO_FLAG_TRY_FIRST_PASS))) {
                r = conv_get_authtok(&h->conv, HELPER_ITEM_TIMEOUT_MS, &answer);
                if (r < 0) {
                        log_err(&h->log, "cannot read the stacked password: %s", strerror(-r));
                        return PROTO_CODE_SERVICE_ERR;
                }
                if (answer) {
                        *ret = answer;
                        *ret_from_stack = true;
                        return PROTO_CODE_SUCCESS;
                }
                if (h->flags & PROTO_FLAG_USE_FIRST_PASS) {
                        log_err(&h->log, "use_first_pass given, but no earlier module set a password");
                        return PROTO_CODE_AUTH_ERR;
                }
        }

        r = conv_ask(&h->conv, NULL, offer_device ? "Password (or press Enter to sign in with a code): " : "Password: ",
                     false, true, HELPER_PROMPT_TIMEOUT_MS, &answer);
        if (r == -ENOMEM)
                return PROTO_CODE_BUF_ERR;
        if (r < 0 || !answer) {
                log_err(&h->log, "user=%s conversation failed: %s", h->user,
                        r == -ETIMEDOUT ? "no answer in time" : r < 0 ? strerror(-r) : "end of input");
                return PROTO_CODE_CONV_ERR;
        }
        *ret = answer;
        *ret_from_stack = false;
        return PROTO_CODE_SUCCESS;
}

/* One PAM code for every outcome. An unknown provider user looks like a wrong password from outside. */
static enum proto_code code_from_login(const struct login_result *res) {
        switch (res->status) {
        case LOGIN_OK:
                return res->allowed ? PROTO_CODE_SUCCESS : PROTO_CODE_PERM_DENIED;
        case LOGIN_BAD_CREDENTIALS:
                return PROTO_CODE_AUTH_ERR;
        case LOGIN_USER_UNKNOWN:
                return PROTO_CODE_AUTH_ERR;
        case LOGIN_ACCOUNT_PROBLEM:
                return res->oauth == OAUTH_LOCKED ? PROTO_CODE_MAXTRIES : PROTO_CODE_AUTH_ERR;
        case LOGIN_UNAVAILABLE:
                return PROTO_CODE_AUTHINFO_UNAVAIL;
        case LOGIN_CONFIG_ERROR:
        default:
                return PROTO_CODE_SERVICE_ERR;
        }
}

/* What an offline decision means for the person, who cannot see the log. */
static void tell_user_offline(struct helper *h, const struct login_result *res) {
        char msg[512], date[64] = "";
        struct tm tm;
        time_t t = (time_t) res->offline_since;

        if (res->status == LOGIN_OK && res->allowed) {
                if (!localtime_r(&t, &tm) || strftime(date, sizeof(date), "%Y-%m-%d %H:%M %Z", &tm) == 0)
                        snprintf(date, sizeof(date), "an earlier online login");
                snprintf(msg, sizeof(msg),
                         "The identity provider cannot be reached; signed in with the password last used on %s.", date);
                (void) conv_info(&h->conv, msg);
        } else if (res->status == LOGIN_BAD_CREDENTIALS)
                (void) conv_error(&h->conv,
                                  "The identity provider cannot be reached, and this is not the password last used here.");
        else if (res->status == LOGIN_UNAVAILABLE) {
                snprintf(msg, sizeof(msg), "The identity provider cannot be reached, and no offline login is possible for %s.",
                         h->user);
                (void) conv_error(&h->conv, msg);
        }
}

/* A short, safe explanation for the person at the prompt. */
/* What a PIN login's outcome means for the person. */
static void tell_user_pin(struct helper *h, const struct login_result *res) {
        const char *msg = NULL;

        if (res->status == LOGIN_OK && res->allowed)
                msg = res->offline ? "The identity provider cannot be reached; signed in with your PIN." : NULL;
        else if (res->status == LOGIN_OK)
                msg = "Access denied: this account is not allowed to log in to this host.";
        else if (res->status == LOGIN_ACCOUNT_PROBLEM)
                msg = "The identity provider no longer lets this account sign in: the PIN is not valid.";
        else if (res->status == LOGIN_UNAVAILABLE)
                msg = "The identity provider cannot be reached, and the PIN cannot be used offline now.";
        else if (res->reason && streq(res->reason, "pin: wrong PIN"))
                msg = "Wrong PIN.";
        else if (res->status == LOGIN_BAD_CREDENTIALS || res->status == LOGIN_USER_UNKNOWN)
                msg = "No PIN can be used for this account: sign in with the device login to set one.";
        if (msg)
                (void) (res->status == LOGIN_OK && res->allowed ? conv_info(&h->conv, msg) : conv_error(&h->conv, msg));
}

static void tell_user(struct helper *h, const struct login_result *res) {
        const char *msg = NULL;
        char denied[512];

        if (res->pin) {
                tell_user_pin(h, res);
                return;
        }
        if (res->offline && !(res->status == LOGIN_OK && !res->allowed)) {
                tell_user_offline(h, res);
                return;
        }
        if (res->status == LOGIN_OK && !res->allowed) {
                snprintf(denied, sizeof(denied), "Access denied: %s is not allowed to log in to this host.",
                         res->identity->username);
                msg = denied;
        } else
                switch (res->oauth) {
                case OAUTH_MFA_REQUIRED:
                        msg = "Your organisation requires multi-factor authentication: use the device login.";
                        break;
                case OAUTH_PASSWORD_EXPIRED:
                        msg = "Your password has expired: change it with your organisation first.";
                        break;
                case OAUTH_LOCKED:
                        msg = "Your account is locked.";
                        break;
                case OAUTH_DISABLED:
                        msg = "Your account is disabled.";
                        break;
                case OAUTH_CONDITIONAL_ACCESS:
                        msg = "Your organisation's access policy blocked this sign-in.";
                        break;
                default:
                        if (res->status == LOGIN_UNAVAILABLE)
                                msg = "The identity provider cannot be reached.";
                        break;
                }
        if (msg)
                (void) conv_error(&h->conv, msg);
}

/*
 * What the answer need not wait for: the refresh token into the record, and
 * the offline verifier's argon2 work (a new verifier, or the check that
 * deletes a refused one). The person waits for the provider, never for
 * these. A child of the helper does it, still root
 * and in the helper's own session, while the module reaps the helper at once;
 * without a child, the helper does it before it exits. true in the process
 * that is to do it.
 */
static bool after_answer(struct helper *h) {
        pid_t pid = fork();

        if (pid < 0) {
                log_warn(&h->log, "cannot fork for the work after the answer (%s): doing it before the helper exits",
                         strerror(errno));
                return true;
        }
        if (pid > 0)
                return false;
        /* The module's end of the conversation is no business of this child's. */
        close(h->conv.fd);
        h->conv.fd = -1;
        alarm(HELPER_AFTER_ANSWER_DEADLINE_S);
        return true;
}

/*
 * After an allowed device login, with [pin] enabled and no PIN set yet: one
 * offer to choose one, twice the same, at least min_length characters.
 * NULL when skipped, mistyped or refused (the person is told).
 */
static char *pin_offer(struct helper *h, const struct cloudauth_config *c, const struct login_result *res) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        _cleanup_erase_ char *again = NULL;
        char *pin = NULL, msg[128];

        if (!c->pin_enabled || !c->session_revalidate || !res->refresh_token ||
            cache_user_load_by_name(c, &h->log, res->identity->username, &u) < 0 || u->pin_verifier)
                return NULL;
        if (conv_ask(&h->conv, NULL, "Choose a PIN for sudo and for signing in when offline (Enter to skip): ", false,
                     false, HELPER_PROMPT_TIMEOUT_MS, &pin) < 0 || !pin || !*pin) {
                erase_and_free(pin);
                return NULL;
        }
        if (strlen(pin) < c->pin_min_length) {
                snprintf(msg, sizeof(msg), "A PIN needs at least %u characters; no PIN was set.", c->pin_min_length);
                (void) conv_error(&h->conv, msg);
        } else if (conv_ask(&h->conv, NULL, "Repeat the PIN: ", false, false, HELPER_PROMPT_TIMEOUT_MS, &again) < 0 ||
                   !again || !streq(again, pin))
                (void) conv_error(&h->conv, "The PINs differ; no PIN was set.");
        else {
                (void) conv_info(&h->conv, "PIN set.");
                return pin;
        }
        erase_and_free(pin);
        return NULL;
}

/* Every flow ends here: store (or revoke), log the decision, tell the person, answer the module. */
static int login_conclude(struct helper *h, const struct cloudauth_config *c, const char *flow,
                          struct login_result *res, const char *password) {
        _cleanup_erase_ char *pin = NULL;
        enum proto_code code;
        int r;

        if (login_store(c, &h->log, res, time(NULL)) < 0) {
                login_result_done(res);
                return helper_result(h, PROTO_CODE_BUF_ERR, NULL);
        }
        login_result_log(&h->log, h->user, flow, res);
        lockout_count(h, c, res);
        if (res->status == LOGIN_OK && !res->allowed)
                log_notice(&h->log, "user=%s account=%s result=denied reason=\"%s\"", h->user, res->identity->username,
                           strempty(res->access_reason));
        code = code_from_login(res);
        if (code != PROTO_CODE_SUCCESS || res->offline || res->pin)
                tell_user(h, res);
        if (code == PROTO_CODE_SUCCESS && streq(flow, "device"))
                pin = pin_offer(h, c, res);
        r = helper_result(h, code, code == PROTO_CODE_SUCCESS ? res->identity->username : NULL);
        if ((login_offline_update_wanted(res, password) || login_session_store_wanted(c, &h->log, res) || pin) &&
            after_answer(h) &&
            (login_session_store(c, &h->log, res, time(NULL)) < 0 ||
             login_offline_update(c, &h->log, res, password, time(NULL)) < 0 ||
             (pin && login_pin_set(c, &h->log, res->identity->username, pin, time(NULL)) == -ENOMEM)))
                r = -ENOMEM;
        login_result_done(res);
        return r;
}

static int login_attempt(struct helper *h, const struct cloudauth_config *c, struct provider *p,
                         const char *password, struct login_result *ret) {
        int r = login_password(p, h->user, password, ret);

        (void) c;
        if (r < 0)
                login_result_done(ret);
        return r;
}

static int authenticate_device(struct helper *h, const struct cloudauth_config *c) {
        struct login_result res = {0};
        enum proto_code code;

        code = device_flow_login(h, c, &res);
        if (code != PROTO_CODE_SUCCESS) {
                login_result_done(&res);
                return helper_result(h, code, NULL);
        }
        return login_conclude(h, c, "device", &res, NULL);
}

/* The provider could not answer: the verifier of the last online login decides, where allowed. */
static int offline_attempt(struct helper *h, const struct cloudauth_config *c, const char *password,
                           struct login_result *res) {
        struct login_result off;
        int r;

        if (!res->unreachable || !c->offline_enabled || (h->flags & PROTO_FLAG_NO_OFFLINE))
                return 0;
        r = login_offline(c, &h->log, h->user, password, time(NULL), &off);
        if (r < 0)
                return r;
        login_result_done(res);
        *res = off;
        return 0;
}

/* The password flow (flow=auto: an empty answer starts the device flow). */
static int authenticate_password(struct helper *h, const struct cloudauth_config *c, bool offer_device) {
        _cleanup_erase_ char *password = NULL;
        struct login_result res = {0};
        struct provider p;
        bool from_stack = false;
        enum proto_code code;
        int r;

        code = password_get(h, false, offer_device, &password, &from_stack);
        if (code != PROTO_CODE_SUCCESS)
                return helper_result(h, code, NULL);
        if (offer_device && !from_stack && !*password)
                return authenticate_device(h, c);

        if (provider_init(&p, c, &h->log) < 0)
                return helper_result(h, PROTO_CODE_BUF_ERR, NULL);
        r = login_attempt(h, c, &p, password, &res);
        if (r < 0)
                goto oom;

        /* try_first_pass: the earlier module's password was not this account's; ask once, as pam_unix does. */
        if (from_stack && (h->flags & PROTO_FLAG_TRY_FIRST_PASS) && res.status == LOGIN_BAD_CREDENTIALS &&
            res.oauth == OAUTH_WRONG_PASSWORD) {
                login_result_done(&res);
                erase_and_free(TAKE_PTR(password));
                code = password_get(h, true, offer_device, &password, &from_stack);
                if (code != PROTO_CODE_SUCCESS) {
                        provider_done(&p);
                        return helper_result(h, code, NULL);
                }
                if (offer_device && !*password) {
                        provider_done(&p);
                        return authenticate_device(h, c);
                }
                r = login_attempt(h, c, &p, password, &res);
                if (r < 0)
                        goto oom;
        }
        provider_done(&p);
        if (offline_attempt(h, c, password, &res) < 0) {
                login_result_done(&res);
                return helper_result(h, PROTO_CODE_BUF_ERR, NULL);
        }
        return login_conclude(h, c, "password", &res, password);

oom:
        provider_done(&p);
        return helper_result(h, PROTO_CODE_BUF_ERR, NULL);
}

/* flow=pin: the PIN set after a device login, valid while the provider's grant is. */
static int authenticate_pin(struct helper *h, const struct cloudauth_config *c) {
        _cleanup_erase_ char *pin = NULL;
        struct login_result res;
        int r;

        r = conv_ask(&h->conv, NULL, "PIN: ", false, false, HELPER_PROMPT_TIMEOUT_MS, &pin);
        if (r == -ENOMEM)
                return helper_result(h, PROTO_CODE_BUF_ERR, NULL);
        if (r < 0 || !pin) {
                log_err(&h->log, "user=%s conversation failed: %s", h->user,
                        r == -ETIMEDOUT ? "no answer in time" : r < 0 ? strerror(-r) : "end of input");
                return helper_result(h, PROTO_CODE_CONV_ERR, NULL);
        }
        r = login_pin(c, &h->log, h->user, pin, c->offline_enabled && !(h->flags & PROTO_FLAG_NO_OFFLINE), time(NULL),
                      &res);
        if (r < 0)
                return helper_result(h, PROTO_CODE_BUF_ERR, NULL);
        return login_conclude(h, c, "pin", &res, NULL);
}

/* Which flow runs: the module argument, else the configuration's default; "flows" must allow it. */
static int flow_choose(struct helper *h, const struct cloudauth_config *c, unsigned *ret) {
        unsigned flow = h->flow ? h->flow : (unsigned) c->default_flow;
        bool allowed;

        if (flow == LOGIN_FLOW_PIN) {
                if (!c->pin_enabled) {
                        log_err(&h->log, "user=%s result=config-error reason=\"flow=pin needs [pin] enabled = yes in the configuration\"",
                                h->user);
                        return -EPERM;
                }
                *ret = flow;
                return 0;
        }
        if (flow == LOGIN_FLOW_AUTO)
                allowed = (c->flows & LOGIN_FLOW_AUTO) ||
                          ((c->flows & LOGIN_FLOW_PASSWORD) && (c->flows & LOGIN_FLOW_DEVICE));
        else
                allowed = c->flows & flow;
        if (!allowed) {
                log_err(&h->log, "user=%s result=config-error reason=\"flow=%s is not allowed by 'flows' in the configuration\"",
                        h->user, flow == LOGIN_FLOW_DEVICE ? "device" : flow == LOGIN_FLOW_AUTO ? "auto" : "password");
                return -EPERM;
        }
        *ret = flow;
        return 0;
}

int helper_authenticate(struct helper *h) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        _cleanup_free_ char *idp_name = NULL, *local_name = NULL;
        unsigned flow;
        int r;

        if (config_open(h, &c) < 0)
                return helper_result(h, PROTO_CODE_AUTHINFO_UNAVAIL, NULL);

        /*
         * Before any prompt or request: a name that can never be ours, a local account under any
         * spelling the login would map to it (Alice, alice@default.domain), a directory's user.
         */
        if (identity_login_to_idp_name(c, h->user, &idp_name) < 0 ||
            identity_idp_to_local_name(c, idp_name, &local_name) < 0) {
                log_notice(&h->log, "user=%s result=unknown-user reason=\"not a valid login name\"", h->user);
                return helper_result(h, PROTO_CODE_USER_UNKNOWN, NULL);
        }
        r = helper_user_may_be_ours(h, c, h->user, local_name);
        if (r < 0)
                return helper_result(h, PROTO_CODE_BUF_ERR, NULL);
        if (r == 0)
                return helper_result(h, PROTO_CODE_USER_UNKNOWN, NULL);
        if (lockout_refuses(h, c, idp_name))
                return helper_result(h, PROTO_CODE_MAXTRIES, NULL);

        if (flow_choose(h, c, &flow) < 0)
                return helper_result(h, PROTO_CODE_AUTHINFO_UNAVAIL, NULL);
        if (flow == LOGIN_FLOW_DEVICE)
                return authenticate_device(h, c);
        if (flow == LOGIN_FLOW_PIN)
                return authenticate_pin(h, c);
        return authenticate_password(h, c, flow == LOGIN_FLOW_AUTO);
}
