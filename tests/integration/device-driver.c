/* SPDX-License-Identifier: MIT */
/*
 * Runs the device flow through libcloudauth as the PAM module will: load the
 * config, start, show the code, poll, verify the ID token. Prints one
 * "key value" line per fact, flushed at once, so a test script can read the
 * user code while polling goes on. Exit: 0 signed in, 2 the flow ended with
 * another result (printed), 1 anything else.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "device.h"
#include "jwt.h"
#include "log.h"
#include "oauth.h"
#include "pkce.h"
#include "provider.h"
#include "qr.h"

static void say(const char *key, const char *value) {
        printf("%s %s\n", key, value);
        fflush(stdout);
}

int main(int argc, char **argv) {
        struct logger log = { .sink = log_sink_stderr };
        struct cloudauth_config *c = NULL;
        struct device_authorization a = {0};
        struct oauth_tokens t = {0};
        enum oauth_result res = OAUTH_OK;
        enum jwt_error jerr = JWT_OK;
        struct pkce pkce = {0};
        json_t *claims = NULL, *name;
        struct provider p;
        bool use_pkce, have_provider = false;
        unsigned polls = 0;
        char *qr = NULL, num[32];
        int r, ret = 1;

        if (argc != 2) {
                fprintf(stderr, "usage: %s CONFIG\n", argv[0]);
                return 1;
        }
        if ((r = config_load(argv[1], &log, &c)) < 0 || (r = provider_init(&p, c, &log)) < 0) {
                fprintf(stderr, "cannot set up: %s\n", strerror(-r));
                goto out;
        }
        have_provider = true;

        /* PKCE depends on what discovery advertises, so discovery comes first. */
        if ((r = oauth_ensure_metadata(&p, "device flow", &res)) != 0) {
                if (r > 0)
                        say("result", oauth_result_to_string(res));
                ret = r > 0 ? 2 : 1;
                goto out;
        }
        use_pkce = device_wants_pkce(&p);
        if (use_pkce && (r = pkce_generate(&pkce)) < 0)
                goto out;
        say("pkce", use_pkce ? "S256" : "none");

        if ((r = device_start(&p, use_pkce ? &pkce : NULL, &a, &res)) < 0)
                goto out;
        if (res != OAUTH_OK) {
                say("result", oauth_result_to_string(res));
                ret = 2;
                goto out;
        }
        say("verification_uri", a.verification_uri);
        snprintf(num, sizeof(num), "%u", a.interval);
        say("interval", num);
        snprintf(num, sizeof(num), "%u", a.expires_in);
        say("expires_in", num);
        if (a.verification_uri_complete) {
                if ((r = qr_render_utf8(a.verification_uri_complete, &qr)) < 0)
                        goto out;
                say("qr", "rendered");
        }
        say("user_code", a.user_code);

        r = device_wait_for_tokens(&p, &a, use_pkce ? &pkce : NULL, NULL, &t, &res, &polls);
        if (r < 0)
                goto out;
        snprintf(num, sizeof(num), "%u", polls);
        say("polls", num);
        say("result", oauth_result_to_string(res));
        if (res != OAUTH_OK) {
                ret = 2;
                goto out;
        }

        r = provider_verify_id_token(&p, t.id_token, NULL, &claims, &jerr);
        if (r < 0) {
                say("id_token", jwt_error_to_string(jerr));
                goto out;
        }
        say("id_token", "verified");
        name = json_object_get(claims, "preferred_username");
        say("preferred_username", json_is_string(name) ? json_string_value(name) : "(none)");
        ret = 0;
out:
        json_decref(claims);
        free(qr);
        oauth_tokens_done(&t);
        device_authorization_done(&a);
        pkce_done(&pkce);
        if (have_provider)
                provider_done(&p);
        config_free(c);
        return ret;
}
