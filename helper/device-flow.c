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
        const struct device_authorization *a; /* set once the code is shown */
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

/* The code is issued: the text and the Enter prompt go out together, and stay open while the helper polls. */
static int waiter_show(void *userdata, const struct device_authorization *a) {
        struct waiter *w = userdata;
        _cleanup_free_ char *text = NULL;
        int r;

        w->a = a;
        if ((r = device_text(w->p->config, w->h->user, a, &text)) < 0)
                return r;
        log_info(&w->h->log, "user=%s flow=device code issued, expires in %u s, polling every %u s", w->h->user,
                 a->expires_in, a->interval);
        w->last_prompt_ms = now_ms();
        if (conv_send_prompt(&w->h->conv, text, ENTER_PROMPT, true, false) < 0) {
                w->ended = "the conversation is gone";
                return -ECANCELED;
        }
        return 0;
}

enum proto_code device_flow_login(struct helper *h, const struct cloudauth_config *c, struct login_result *ret) {
        struct provider p;
        struct waiter w = { .h = h, .p = &p };
        struct login_device_ui ui = { .show = waiter_show, .sleep_ms = waiter_sleep, .userdata = &w };
        int r;

        *ret = (struct login_result) {0};
        if (provider_init(&p, c, &h->log) < 0)
                return PROTO_CODE_BUF_ERR;
        r = login_device(&p, h->user, &ui, ret);
        provider_done(&p);
        if (r == -ENOMEM)
                return PROTO_CODE_BUF_ERR;
        if (r == -ECANCELED) {
                log_warn(&h->log, "user=%s flow=device result=abandoned reason=\"%s\"", h->user, strempty(w.ended));
                if (w.ended && strstr(w.ended, "end of input"))
                        (void) conv_error(&h->conv, "No answer from the terminal: the device login was abandoned.");
                return PROTO_CODE_CONV_ERR;
        }
        return PROTO_CODE_SUCCESS;
}
