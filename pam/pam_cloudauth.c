/* SPDX-License-Identifier: MIT */
/*
 * pam_cloudauth: the PAM adapter. It turns PAM calls into lib calls and lib
 * results into PAM codes; all policy lives in lib/.
 */
#include <errno.h>
#include <pwd.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "cloudauth-build.h"
#include "config.h"
#include "identity.h"
#include "login.h"
#include "macro.h"
#include "pam_device.h"
#include "provider.h"
#include "secret.h"

#define DATA_LOGIN "cloudauth-login"

struct module_args {
        bool debug;
        bool use_first_pass;
        bool try_first_pass;
        bool no_offline;
        const char *config_path;
        unsigned flow; /* enum login_flow bit, 0 = from the config */
};

/* What authenticate learned, kept for acct_mgmt in the same PAM transaction. */
struct login_verdict {
        char *user;       /* PAM_USER at authentication time */
        char *local_user; /* the mapped local account */
        bool allowed;
        const char *access_reason;
};

static void verdict_free(pam_handle_t *pamh, void *data, int error_status) {
        struct login_verdict *v = data;

        if (!v)
                return;
        free(v->user);
        free(v->local_user);
        free(v);
}

static void pam_log_sink(void *userdata, int priority, const char *message) {
        pam_syslog(userdata, priority, "%s", message);
}

static int args_parse(pam_handle_t *pamh, int argc, const char **argv, struct module_args *ret) {
        struct module_args a = {
                .config_path = CLOUDAUTH_CONFIG_PATH,
        };

        for (int i = 0; i < argc; i++) {
                const char *arg = argv[i];

                if (streq(arg, "debug"))
                        a.debug = true;
                else if (streq(arg, "use_first_pass"))
                        a.use_first_pass = true;
                else if (streq(arg, "try_first_pass"))
                        a.try_first_pass = true;
                else if (streq(arg, "no_offline"))
                        a.no_offline = true;
                else if (strncmp(arg, "config=", 7) == 0 && arg[7] == '/')
                        a.config_path = arg + 7;
                else if (streq(arg, "flow=password"))
                        a.flow = LOGIN_FLOW_PASSWORD;
                else if (streq(arg, "flow=device"))
                        a.flow = LOGIN_FLOW_DEVICE;
                else if (streq(arg, "flow=auto"))
                        a.flow = LOGIN_FLOW_AUTO;
                else {
                        pam_syslog(pamh, LOG_ERR, "unknown or invalid module argument '%s'", arg);
                        return PAM_SERVICE_ERR;
                }
        }

        *ret = a;
        return PAM_SUCCESS;
}

static int config_open(pam_handle_t *pamh, const struct module_args *args, const struct logger *log,
                       struct cloudauth_config **ret) {
        int r = config_load(args->config_path, log, ret);

        if (r < 0) {
                /*
                 * config_load named file, line and key already. AUTHINFO_UNAVAIL, not SERVICE_ERR:
                 * stacks fall through to pam_unix on it, so a broken file never locks out local
                 * accounts, while nobody gets in through us.
                 */
                pam_syslog(pamh, LOG_ERR, "configuration %s is unusable, refusing every cloudauth login: %s",
                           args->config_path, strerror(-r));
                return PAM_AUTHINFO_UNAVAIL;
        }
        return PAM_SUCCESS;
}

/*
 * The password: from an earlier module when asked to (*ret_from_stack says
 * so), else from the conversation. With force, always ask.
 */
static int password_get(pam_handle_t *pamh, const struct module_args *args, bool force, bool offer_device,
                        char **ret, bool *ret_from_stack) {
        const void *item = NULL;
        char *answer = NULL;
        int r;

        if (!force && (args->use_first_pass || args->try_first_pass)) {
                r = pam_get_item(pamh, PAM_AUTHTOK, &item);
                if (r == PAM_SUCCESS && item) {
                        *ret = strdup(item);
                        *ret_from_stack = true;
                        return *ret ? PAM_SUCCESS : PAM_BUF_ERR;
                }
                if (args->use_first_pass) {
                        pam_syslog(pamh, LOG_ERR, "use_first_pass given, but no earlier module set a password");
                        return PAM_AUTH_ERR;
                }
        }

        r = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &answer, "%s",
                       offer_device ? "Password (or press Enter to sign in with a code): " : "Password: ");
        if (r != PAM_SUCCESS) {
                pam_syslog(pamh, LOG_ERR, "conversation failed: %s", pam_strerror(pamh, r));
                return PAM_CONV_ERR;
        }
        if (!answer)
                return PAM_CONV_ERR;

        /* Later modules in the stack (try_first_pass) may use it; an empty answer is no password. */
        r = *answer ? pam_set_item(pamh, PAM_AUTHTOK, answer) : PAM_SUCCESS;
        if (r != PAM_SUCCESS) {
                erase_and_free(answer);
                return r;
        }

        *ret = answer;
        *ret_from_stack = false;
        return PAM_SUCCESS;
}

/* In /etc/passwd itself, whatever its UID: read directly, since NSS would answer for our users too. */
static bool user_in_etc_passwd(const char *user) {
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

/*
 * A local account (in /etc/passwd, or any account outside uid_range) is
 * never ours: its password must not travel to the provider, and the stack
 * should move on to pam_unix.
 */
static bool user_is_local_account(const struct cloudauth_config *c, const char *user) {
        char buf[4096];
        struct passwd pw, *result = NULL;

        if (user_in_etc_passwd(user))
                return true;
        if (getpwnam_r(user, &pw, buf, sizeof(buf), &result) != 0 || !result)
                return false;
        return result->pw_uid < c->uid_min || result->pw_uid > c->uid_max;
}

static int pam_code_from_login(const struct login_result *res) {
        switch (res->status) {
        case LOGIN_OK:
                return PAM_SUCCESS;
        case LOGIN_BAD_CREDENTIALS:
                return PAM_AUTH_ERR;
        case LOGIN_USER_UNKNOWN:
                return PAM_USER_UNKNOWN;
        case LOGIN_ACCOUNT_PROBLEM:
                return res->oauth == OAUTH_LOCKED ? PAM_MAXTRIES : PAM_AUTH_ERR;
        case LOGIN_UNAVAILABLE:
                return PAM_AUTHINFO_UNAVAIL;
        case LOGIN_CONFIG_ERROR:
        default:
                return PAM_SERVICE_ERR;
        }
}

/* A short, safe explanation for the person at the prompt. */
static void tell_user(pam_handle_t *pamh, const struct login_result *res) {
        const char *msg = NULL;

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
                (void) pam_error(pamh, "%s", msg);
}

static int verdict_store(pam_handle_t *pamh, const char *user, const struct login_result *res) {
        struct login_verdict *v = calloc(1, sizeof(*v));
        int r;

        if (!v)
                return PAM_BUF_ERR;
        v->user = strdup(user);
        v->local_user = strdup(res->identity->username);
        v->allowed = res->allowed;
        v->access_reason = res->access_reason;
        if (!v->user || !v->local_user) {
                verdict_free(pamh, v, 0);
                return PAM_BUF_ERR;
        }
        r = pam_set_data(pamh, DATA_LOGIN, v, verdict_free);
        if (r != PAM_SUCCESS)
                verdict_free(pamh, v, 0); /* PAM calls the cleanup only for data it stored */
        return r;
}

/* One password login; *ret_res is filled whenever PAM_SUCCESS is returned. */
static int login_attempt(const struct cloudauth_config *c, const struct logger *log, const char *user,
                         const char *password, struct login_result *ret_res) {
        struct provider p;
        int r;

        if (provider_init(&p, c, log) < 0)
                return PAM_BUF_ERR;
        r = login_password(&p, user, password, ret_res);
        provider_done(&p);
        if (r < 0) {
                login_result_done(ret_res);
                return PAM_BUF_ERR;
        }
        return PAM_SUCCESS;
}

/* Every flow ends here: store, log the decision, tell the person, keep the verdict for acct_mgmt. */
static int login_conclude(pam_handle_t *pamh, const struct cloudauth_config *c, const struct logger *log,
                          const char *user, const char *flow, struct login_result *res) {
        int r;

        if (login_store(c, log, res, time(NULL)) < 0) {
                login_result_done(res);
                return PAM_BUF_ERR;
        }
        login_result_log(log, user, flow, res);
        if (res->status != LOGIN_OK)
                tell_user(pamh, res);

        r = pam_code_from_login(res);
        if (r == PAM_SUCCESS)
                r = verdict_store(pamh, user, res);
        login_result_done(res);
        return r;
}

static int authenticate_device(pam_handle_t *pamh, const struct logger *log, const struct cloudauth_config *c,
                               const char *user) {
        struct login_result res = {0};
        int r;

        r = pam_device_login(pamh, c, log, user, &res);
        if (r != PAM_SUCCESS) {
                login_result_done(&res);
                return r;
        }
        return login_conclude(pamh, c, log, user, "device", &res);
}

/* With password set, that password; else ask (flow=auto: an empty answer means the device flow). */
static int authenticate_password(pam_handle_t *pamh, const struct module_args *args, const struct logger *log,
                                 const struct cloudauth_config *c, const char *user, bool offer_device) {
        _cleanup_erase_ char *password = NULL;
        struct login_result res = {0};
        bool from_stack = false;
        int r;

        r = password_get(pamh, args, false, offer_device, &password, &from_stack);
        if (r != PAM_SUCCESS)
                return r;
        if (offer_device && !from_stack && !*password)
                return authenticate_device(pamh, log, c, user);

        r = login_attempt(c, log, user, password, &res);
        if (r != PAM_SUCCESS)
                return r;

        /* try_first_pass: the earlier module's password was not this account's; ask once, as pam_unix does. */
        if (from_stack && args->try_first_pass && res.status == LOGIN_BAD_CREDENTIALS &&
            res.oauth == OAUTH_WRONG_PASSWORD) {
                login_result_done(&res);
                erase_and_free(TAKE_PTR(password));
                r = password_get(pamh, args, true, offer_device, &password, &from_stack);
                if (r != PAM_SUCCESS)
                        return r;
                if (offer_device && !*password)
                        return authenticate_device(pamh, log, c, user);
                r = login_attempt(c, log, user, password, &res);
                if (r != PAM_SUCCESS)
                        return r;
        }

        return login_conclude(pamh, c, log, user, "password", &res);
}

/* Which flow runs: the module argument, else the config's default; it must be allowed by "flows". */
static int flow_choose(const struct logger *log, const struct module_args *args, const struct cloudauth_config *c,
                       const char *user, unsigned *ret) {
        unsigned flow = args->flow ? args->flow : (unsigned) c->default_flow;
        bool allowed;

        if (flow == LOGIN_FLOW_AUTO)
                allowed = (c->flows & LOGIN_FLOW_AUTO) ||
                          ((c->flows & LOGIN_FLOW_PASSWORD) && (c->flows & LOGIN_FLOW_DEVICE));
        else
                allowed = c->flows & flow;
        if (!allowed) {
                log_emit(log, LOG_ERR,
                           "user=%s result=config-error reason=\"flow=%s is not allowed by 'flows' in the configuration\"",
                           user, flow == LOGIN_FLOW_DEVICE ? "device" : flow == LOGIN_FLOW_AUTO ? "auto" : "password");
                return PAM_AUTHINFO_UNAVAIL;
        }
        *ret = flow;
        return PAM_SUCCESS;
}

_public_ int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        _cleanup_free_ char *idp_name = NULL, *local_name = NULL;
        struct module_args args;
        struct logger log = { .sink = pam_log_sink, .userdata = pamh };
        const char *user = NULL;
        unsigned flow;
        int r;

        r = args_parse(pamh, argc, argv, &args);
        if (r != PAM_SUCCESS)
                return r;
        log.debug = args.debug;

        r = pam_get_user(pamh, &user, NULL);
        if (r != PAM_SUCCESS || !user || !*user) {
                pam_syslog(pamh, LOG_ERR, "cannot determine the user name: %s", pam_strerror(pamh, r));
                return PAM_USER_UNKNOWN;
        }

        r = config_open(pamh, &args, &log, &c);
        if (r != PAM_SUCCESS)
                return r;

        /*
         * Before any prompt or request: a name that can never be ours, and a local account
         * under any spelling the login would map to it (Alice, alice@default.domain).
         */
        if (identity_login_to_idp_name(c, user, &idp_name) < 0 ||
            identity_idp_to_local_name(c, idp_name, &local_name) < 0) {
                log_emit(&log, LOG_NOTICE, "user=%s result=unknown-user reason=\"not a valid login name\"", user);
                return PAM_USER_UNKNOWN;
        }
        if (user_is_local_account(c, user) || user_is_local_account(c, local_name)) {
                if (args.debug)
                        log_emit(&log, LOG_DEBUG, "user=%s result=ignored reason=\"a local account\"", user);
                return PAM_USER_UNKNOWN;
        }

        r = flow_choose(&log, &args, c, user, &flow);
        if (r != PAM_SUCCESS)
                return r;

        if (flow == LOGIN_FLOW_DEVICE)
                return authenticate_device(pamh, &log, c, user);
        return authenticate_password(pamh, &args, &log, c, user, flow == LOGIN_FLOW_AUTO);
}

_public_ int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        /* No credentials beyond the identity itself: nothing to establish or delete. */
        return PAM_SUCCESS;
}

/* acct_mgmt for a user not authenticated in this transaction: the identity store decides. */
static int account_from_cache(pam_handle_t *pamh, const struct module_args *args, const char *user) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        _cleanup_free_ char *local_user = NULL;
        struct logger log = { .sink = pam_log_sink, .userdata = pamh, .debug = args->debug };
        const char *reason = NULL;
        bool allowed = false;
        int r;

        if (config_load(args->config_path, &log, &c) < 0) {
                if (user_in_etc_passwd(user))
                        return PAM_USER_UNKNOWN;
                /* Fail closed for everyone else: they may be ours, and the policy is unknown. */
                log_emit(&log, LOG_ERR, "user=%s result=denied reason=\"configuration %s is unusable\"", user,
                           args->config_path);
                return PAM_PERM_DENIED;
        }
        if (user_is_local_account(c, user))
                return PAM_USER_UNKNOWN;

        r = login_account_check_cached(c, &log, user, &allowed, &reason, &local_user);
        if (r == -ESRCH || r == -EINVAL) {
                if (args->debug)
                        log_emit(&log, LOG_DEBUG, "user=%s result=ignored reason=\"not a cloudauth user\"", user);
                return PAM_USER_UNKNOWN;
        }
        if (r < 0) {
                log_emit(&log, LOG_ERR, "user=%s result=denied reason=\"the identity store is unreadable: %s\"", user,
                           strerror(-r));
                return PAM_PERM_DENIED;
        }
        if (!allowed) {
                log_emit(&log, LOG_NOTICE, "user=%s account=%s result=denied reason=\"%s\" source=cache", user,
                           local_user, strempty(reason));
                (void) pam_error(pamh, "Access denied: %s is not allowed to log in to this host.", local_user);
                return PAM_PERM_DENIED;
        }
        log_emit(&log, LOG_INFO, "user=%s account=%s result=allowed reason=\"%s\" source=cache", user, local_user,
                   strempty(reason));
        return PAM_SUCCESS;
}

_public_ int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        const struct login_verdict *v = NULL;
        struct logger log = { .sink = pam_log_sink, .userdata = pamh };
        struct module_args args;
        const char *user = NULL;
        int r;

        r = args_parse(pamh, argc, argv, &args);
        if (r != PAM_SUCCESS)
                return r;
        log.debug = args.debug;

        r = pam_get_user(pamh, &user, NULL);
        if (r != PAM_SUCCESS || !user || !*user)
                return PAM_USER_UNKNOWN;

        r = pam_get_data(pamh, DATA_LOGIN, (const void **) &v);
        if (r != PAM_SUCCESS || !v || !streq(v->user, user))
                return account_from_cache(pamh, &args, user);

        if (!v->allowed) {
                log_emit(&log, LOG_NOTICE, "user=%s account=%s result=denied reason=\"%s\"", user, v->local_user,
                           strempty(v->access_reason));
                (void) pam_error(pamh, "Access denied: %s is not allowed to log in to this host.", v->local_user);
                return PAM_PERM_DENIED;
        }

        log_emit(&log, LOG_INFO, "user=%s account=%s result=allowed reason=\"%s\"", user, v->local_user,
                   strempty(v->access_reason));
        return PAM_SUCCESS;
}
