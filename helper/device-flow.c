/* SPDX-License-Identifier: MIT */
/*
 * The device flow in the helper. One thread: between token requests the
 * helper waits on the socket, so an answer to the open prompt is read as it
 * comes, and the next prompt goes out at most once a second whatever the
 * conversation does.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "device-flow.h"
#include "device.h"
#include "macro.h"
#include "qr.h"
#include "secret.h"

/* An answer that comes back sooner than this is no person pressing Enter: never prompt faster. */
#define REPROMPT_MIN_MS 1000
#define ENTER_PROMPT "Press Enter once you have signed in: "

struct waiter {
        struct helper *h;
        struct provider *p;
        const struct device_authorization *a;
        long long last_prompt_ms;
        const char *ended; /* why the person's side ended, when it did */
};

static long long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int reprompt(struct waiter *w) {
        char still[512];
        long left = (long) w->a->expires_at - (long) w->p->clock();

        if (left < 0)
                left = 0;
        snprintf(still, sizeof(still), "Not signed in yet: %ld:%02ld left to approve code %s at %s", left / 60,
                 left % 60, w->a->user_code, w->a->verification_uri);
        w->last_prompt_ms = now_ms();
        return conv_send_prompt(&w->h->conv, still, ENTER_PROMPT, true, false);
}

/* device_wait's sleep: read the person's answers meanwhile; < 0 ends the wait. */
static int waiter_sleep(void *userdata, unsigned ms) {
        struct waiter *w = userdata;
        struct conv *cv = &w->h->conv;
        long long deadline = now_ms() + ms;

        for (;;) {
                long long now = now_ms(), left = deadline - now;
                char *answer = NULL;
                int r;

                if (left <= 0)
                        return 0;
                if (cv->pending == 0) {
                        long long next = w->last_prompt_ms + REPROMPT_MIN_MS;
                        if (now < next) {
                                long long nap = next - now < left ? next - now : left;
                                struct timespec ts = { nap / 1000, (nap % 1000) * 1000000L };
                                (void) nanosleep(&ts, NULL);
                                continue;
                        }
                        if (reprompt(w) < 0) {
                                w->ended = "the conversation is gone";
                                return -ECANCELED;
                        }
                        continue;
                }

                struct pollfd pfd = { .fd = cv->fd, .events = POLLIN };
                r = poll(&pfd, 1, (int) left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r == 0)
                        return 0;
                r = conv_read_answer(cv, 0, &answer);
                if (r < 0) {
                        w->ended = r == -EPIPE ? "the conversation failed" : "the conversation is gone";
                        return -ECANCELED;
                }
                if (!answer) {
                        w->ended = "the terminal reached end of input";
                        return -ECANCELED;
                }
                erase_and_free(answer);
        }
}

/* Our host name for the person to check against; never anything unprintable. */
static void host_name(char *buf, size_t n) {
        if (gethostname(buf, n) < 0 || !buf[0])
                snprintf(buf, n, "this host");
        buf[n - 1] = 0;
        for (char *p = buf; *p; p++)
                if ((unsigned char) *p < 0x21 || (unsigned char) *p > 0x7e)
                        *p = '?';
}

static int device_text(const struct cloudauth_config *c, const char *user, const struct device_authorization *a,
                       char **ret) {
        _cleanup_free_ char *qr = NULL;
        char host[256];
        char *text;
        unsigned minutes = (a->expires_in + 59) / 60;

        host_name(host, sizeof(host));
        if (c->qr && a->verification_uri_complete && qr_render_utf8(a->verification_uri_complete, &qr) < 0)
                qr = NULL; /* the link and the code still work without it */

        if (asprintf(&text,
                     "Sign in to %s on %s as %s:\n"
                     "  open     %s\n"
                     "  and enter the code  %s\n"
                     "%s%s"
                     "The code expires in %u minute%s. Only enter it if you started this login yourself.",
                     c->app_name, host, user, a->verification_uri, a->user_code,
                     qr ? "or scan this code with your phone:\n" : "", qr ? qr : "", minutes,
                     minutes == 1 ? "" : "s") < 0)
                return -ENOMEM;
        *ret = text;
        return 0;
}

enum proto_code device_flow_login(struct helper *h, const struct cloudauth_config *c, struct login_result *ret) {
        _cleanup_free_ char *text = NULL;
        struct device_authorization a = {0};
        struct oauth_tokens tokens = {0};
        struct pkce pkce = {0};
        struct provider p;
        struct waiter w = { .h = h, .p = &p, .a = &a };
        struct device_wait wait = { .sleep_ms = waiter_sleep, .userdata = &w };
        enum proto_code code = PROTO_CODE_SUCCESS;
        unsigned polls = 0;
        bool use_pkce;
        int r;

        *ret = (struct login_result) {0};
        if (provider_init(&p, c, &h->log) < 0)
                return PROTO_CODE_BUF_ERR;

        if ((r = provider_load_metadata(&p, false)) < 0 || (r = provider_load_jwks(&p, false)) < 0) {
                ret->status = LOGIN_UNAVAILABLE;
                ret->reason = r == -EKEYREJECTED ? "TLS certificate of the provider could not be verified"
                                                 : "provider unreachable";
                goto out;
        }

        use_pkce = device_wants_pkce(&p);
        if (use_pkce && pkce_generate(&pkce) < 0) {
                code = PROTO_CODE_BUF_ERR;
                goto out;
        }

        r = device_start(&p, use_pkce ? &pkce : NULL, &a, &ret->oauth);
        if (r == -ENOMEM) {
                code = PROTO_CODE_BUF_ERR;
                goto out;
        }
        if (r < 0 || ret->oauth != OAUTH_OK) {
                if (ret->oauth == OAUTH_OK)
                        ret->oauth = OAUTH_PROTOCOL_ERROR;
                ret->status = login_status_from_oauth(ret->oauth);
                ret->reason = oauth_result_to_string(ret->oauth);
                goto out;
        }

        if (device_text(c, h->user, &a, &text) < 0) {
                code = PROTO_CODE_BUF_ERR;
                goto out;
        }
        log_info(&h->log, "user=%s flow=device code issued, expires in %u s, polling every %u s", h->user,
                 a.expires_in, a.interval);
        w.last_prompt_ms = now_ms();
        if (conv_send_prompt(&h->conv, text, ENTER_PROMPT, true, false) < 0) {
                code = PROTO_CODE_CONV_ERR;
                goto out;
        }

        r = device_wait_for_tokens(&p, &a, use_pkce ? &pkce : NULL, &wait, &tokens, &ret->oauth, &polls);
        if (r == -ECANCELED) {
                log_warn(&h->log, "user=%s flow=device result=abandoned reason=\"%s\"", h->user,
                         strempty(w.ended));
                if (w.ended && strstr(w.ended, "end of input"))
                        (void) conv_error(&h->conv, "No answer from the terminal: the device login was abandoned.");
                code = PROTO_CODE_CONV_ERR;
                goto out;
        }
        if (r == -ENOMEM) {
                code = PROTO_CODE_BUF_ERR;
                goto out;
        }
        if (ret->oauth != OAUTH_OK) {
                ret->status = login_status_from_oauth(ret->oauth);
                ret->reason = oauth_result_to_string(ret->oauth);
                goto out;
        }

        if (login_verify_tokens(&p, h->user, tokens.id_token, NULL, ret) < 0)
                code = PROTO_CODE_BUF_ERR;

out:
        ret->n_requests = p.n_requests;
        oauth_tokens_done(&tokens);
        device_authorization_done(&a);
        pkce_done(&pkce);
        provider_done(&p);
        return code;
}
