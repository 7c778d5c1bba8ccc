/* SPDX-License-Identifier: MIT */
/* pam_sm_chauthtok's work, in the helper: a new PIN for a cloud user who signed in with the device login. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "helper.h"
#include "login.h"
#include "macro.h"
#include "secret.h"

static int refuse(struct helper *h, const char *msg, const char *reason) {
        log_notice(&h->log, "user=%s chauthtok=refused reason=\"%s\"", h->user, reason);
        (void) conv_error(&h->conv, msg);
        return helper_result(h, PROTO_CODE_AUTHTOK_ERR, NULL);
}

/* A prompt without echo: 0 and *ret, or the code to answer with. */
static enum proto_code ask(struct helper *h, const char *prompt, char **ret) {
        int r = conv_ask(&h->conv, NULL, prompt, false, false, HELPER_PROMPT_TIMEOUT_MS, ret);

        if (r == -ENOMEM)
                return PROTO_CODE_BUF_ERR;
        if (r < 0 || !*ret)
                return PROTO_CODE_CONV_ERR;
        return PROTO_CODE_SUCCESS;
}

int helper_chauthtok(struct helper *h) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        _cleanup_erase_ char *current = NULL, *pin = NULL, *again = NULL;
        enum login_revalidation rv;
        enum proto_code code;
        const char *why;
        char msg[160];
        int r;

        if (config_load(h->config_path, &h->log, &c) < 0)
                return helper_result(h, PROTO_CODE_SERVICE_ERR, NULL);
        r = helper_user_may_be_ours(h, c, h->user, h->user);
        if (r < 0)
                return helper_result(h, PROTO_CODE_BUF_ERR, NULL);
        r = r == 0 ? -ESRCH : cache_user_load_by_name(c, &h->log, h->user, &u);
        if (r == -ENOMEM)
                return helper_result(h, PROTO_CODE_BUF_ERR, NULL);
        if (r < 0)
                return helper_result(h, PROTO_CODE_USER_UNKNOWN, NULL);

        if (!c->pin_enabled)
                return refuse(h, "The password of this account is changed with your organisation; PINs are off on this host.",
                              "[pin] is not enabled");
        if (u->refused_at || !u->refresh_sealed)
                return refuse(h, "Sign in with the device login first; then a PIN can be set.",
                              u->refused_at ? "the account is refused" : "no refresh token is kept");

        if (u->pin_verifier) {
                if ((code = ask(h, "Current PIN: ", &current)) != PROTO_CODE_SUCCESS)
                        return helper_result(h, code, NULL);
                r = login_pin_check(c, &h->log, u->username, current);
                if (r == -ENOMEM)
                        return helper_result(h, PROTO_CODE_BUF_ERR, NULL);
                if (r <= 0)
                        return refuse(h, "Wrong PIN.", r == 0 ? "wrong current PIN" : "the current PIN cannot be checked");
        }
        /* The grant behind the PIN must still stand. */
        if (login_revalidate_now(c, &h->log, u->username, time(NULL), &rv, &why) < 0)
                return helper_result(h, PROTO_CODE_BUF_ERR, NULL);
        if (rv == REVALIDATION_REFUSED)
                return refuse(h, "The identity provider no longer lets this account sign in.", why);

        if ((code = ask(h, "New PIN: ", &pin)) != PROTO_CODE_SUCCESS)
                return helper_result(h, code, NULL);
        if (strlen(pin) < c->pin_min_length) {
                snprintf(msg, sizeof(msg), "A PIN needs at least %u characters.", c->pin_min_length);
                return refuse(h, msg, "too short");
        }
        if ((code = ask(h, "Repeat the new PIN: ", &again)) != PROTO_CODE_SUCCESS)
                return helper_result(h, code, NULL);
        if (!streq(pin, again))
                return refuse(h, "The PINs differ.", "the two PINs differ");

        r = login_pin_set(c, &h->log, u->username, pin, time(NULL));
        if (r == -ENOMEM)
                return helper_result(h, PROTO_CODE_BUF_ERR, NULL);
        if (r < 0) {
                log_err(&h->log, "user=%s the PIN could not be stored: %s", h->user, strerror(-r));
                return refuse(h, "The PIN could not be stored.", "store error");
        }
        log_notice(&h->log, "user=%s chauthtok=changed reason=\"a new PIN\"", h->user);
        (void) conv_info(&h->conv, "PIN changed.");
        return helper_result(h, PROTO_CODE_SUCCESS, NULL);
}
