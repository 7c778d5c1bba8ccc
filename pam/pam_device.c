/* SPDX-License-Identifier: MIT */
/*
 * The device flow over a PAM conversation. sshd's keyboard-interactive
 * shows info text only together with a prompt, so the code, the link and
 * the QR code go out with a "press Enter once you have signed in" prompt,
 * while a thread polls the token endpoint. Enter before approval keeps
 * waiting and shows the time left.
 */
#include <errno.h>
#include <pthread.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "device.h"
#include "macro.h"
#include "pam_device.h"
#include "qr.h"
#include "secret.h"

#define DEVICE_TEXT_MAX 16384

struct poller {
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool cancelled;
        bool done;

        struct provider *provider;
        const struct device_authorization *authorization;
        const struct pkce *pkce;

        int r;
        enum oauth_result result;
        struct oauth_tokens tokens;
        unsigned polls;
};

/* Sleeps that end early when the conversation is over (client gone, PAM aborted). */
static int poller_sleep(void *userdata, unsigned ms) {
        struct poller *w = userdata;
        struct timespec until;
        int r = 0;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += ms / 1000;
        until.tv_nsec += (long) (ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }

        pthread_mutex_lock(&w->lock);
        while (!w->cancelled)
                if (pthread_cond_timedwait(&w->wake, &w->lock, &until) == ETIMEDOUT)
                        break;
        if (w->cancelled)
                r = -ECANCELED;
        pthread_mutex_unlock(&w->lock);
        return r;
}

static void *poller_run(void *userdata) {
        struct poller *w = userdata;
        struct device_wait wait = { .sleep_ms = poller_sleep, .userdata = w };
        struct oauth_tokens tokens = {0};
        enum oauth_result result = OAUTH_PROTOCOL_ERROR;
        unsigned polls = 0;
        int r;

        r = device_wait_for_tokens(w->provider, w->authorization, w->pkce, &wait, &tokens, &result, &polls);

        pthread_mutex_lock(&w->lock);
        w->r = r;
        w->result = result;
        w->tokens = tokens;
        w->polls = polls;
        w->done = true;
        pthread_cond_broadcast(&w->wake);
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

static void poller_cancel(struct poller *w) {
        pthread_mutex_lock(&w->lock);
        w->cancelled = true;
        pthread_cond_broadcast(&w->wake);
        pthread_mutex_unlock(&w->lock);
}

static bool poller_done(struct poller *w) {
        bool done;

        pthread_mutex_lock(&w->lock);
        done = w->done;
        pthread_mutex_unlock(&w->lock);
        return done;
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

/* Info text and an Enter prompt in one conversation call, as keyboard-interactive needs. */
static int converse_enter(pam_handle_t *pamh, const char *info) {
        const struct pam_conv *conv = NULL;
        struct pam_message msg_info = { .msg_style = PAM_TEXT_INFO, .msg = info };
        struct pam_message msg_prompt = { .msg_style = PAM_PROMPT_ECHO_ON,
                                          .msg = "Press Enter once you have signed in: " };
        const struct pam_message *msgs[2] = { &msg_info, &msg_prompt };
        struct pam_response *resp = NULL;
        int r;

        r = pam_get_item(pamh, PAM_CONV, (const void **) &conv);
        if (r != PAM_SUCCESS || !conv || !conv->conv)
                return PAM_CONV_ERR;

        r = conv->conv(2, msgs, &resp, conv->appdata_ptr);
        if (resp) {
                for (int i = 0; i < 2; i++)
                        erase_and_free(resp[i].resp);
                free(resp);
        }
        return r;
}

static void tokens_take(struct poller *w, struct oauth_tokens *ret) {
        *ret = w->tokens;
        w->tokens = (struct oauth_tokens) {0};
}

int pam_device_login(pam_handle_t *pamh, const struct cloudauth_config *c, const struct logger *log, const char *user,
                     struct login_result *ret) {
        _cleanup_free_ char *text = NULL;
        struct device_authorization a = {0};
        struct oauth_tokens tokens = {0};
        struct pkce pkce = {0};
        struct poller w = {0};
        struct provider p;
        bool use_pkce, started = false;
        pthread_t thread;
        int r, pr = PAM_SUCCESS;

        *ret = (struct login_result) {0};
        if (provider_init(&p, c, log) < 0)
                return PAM_BUF_ERR;

        if ((r = provider_load_metadata(&p, false)) < 0 || (r = provider_load_jwks(&p, false)) < 0) {
                ret->status = LOGIN_UNAVAILABLE;
                ret->reason = r == -EKEYREJECTED ? "TLS certificate of the provider could not be verified"
                                                 : "provider unreachable";
                goto out;
        }

        use_pkce = device_wants_pkce(&p);
        if (use_pkce && pkce_generate(&pkce) < 0) {
                pr = PAM_BUF_ERR;
                goto out;
        }

        r = device_start(&p, use_pkce ? &pkce : NULL, &a, &ret->oauth);
        if (r == -ENOMEM) {
                pr = PAM_BUF_ERR;
                goto out;
        }
        if (r < 0 || ret->oauth != OAUTH_OK) {
                if (ret->oauth == OAUTH_OK)
                        ret->oauth = OAUTH_PROTOCOL_ERROR;
                ret->status = login_status_from_oauth(ret->oauth);
                ret->reason = oauth_result_to_string(ret->oauth);
                goto out;
        }

        if (device_text(c, user, &a, &text) < 0) {
                pr = PAM_BUF_ERR;
                goto out;
        }

        pthread_mutex_init(&w.lock, NULL);
        pthread_cond_init(&w.wake, NULL);
        w.provider = &p;
        w.authorization = &a;
        w.pkce = use_pkce ? &pkce : NULL;
        if (pthread_create(&thread, NULL, poller_run, &w) != 0) {
                pr = PAM_SYSTEM_ERR;
                goto out;
        }
        started = true;

        log_info(log, "user=%s flow=device code issued, expires in %u s, polling every %u s", user, a.expires_in,
                 a.interval);

        char still[2400];
        for (const char *info = text;;) {
                long left;

                r = converse_enter(pamh, info);
                if (r != PAM_SUCCESS) {
                        log_warn(log, "user=%s flow=device conversation ended: %s", user, pam_strerror(pamh, r));
                        pr = PAM_CONV_ERR;
                        break;
                }
                if (poller_done(&w))
                        break;

                left = (long) a.expires_at - (long) p.clock();
                if (left <= 0) {
                        /* The poller stops at expires_at; wait for its verdict. */
                        break;
                }
                snprintf(still, sizeof(still), "Not signed in yet: %ld:%02ld left to approve code %s at %s",
                         left / 60, left % 60, a.user_code, a.verification_uri);
                info = still;
        }

        if (pr != PAM_SUCCESS)
                poller_cancel(&w);
        pthread_join(thread, NULL);
        started = false;
        if (pr != PAM_SUCCESS)
                goto out;

        tokens_take(&w, &tokens);
        ret->oauth = w.result;
        if (w.r == -ENOMEM) {
                pr = PAM_BUF_ERR;
                goto out;
        }
        if (w.result != OAUTH_OK) {
                ret->status = login_status_from_oauth(w.result);
                ret->reason = oauth_result_to_string(w.result);
                goto out;
        }

        r = login_verify_tokens(&p, user, tokens.id_token, NULL, ret);
        if (r < 0)
                pr = PAM_BUF_ERR;

out:
        if (started) {
                poller_cancel(&w);
                pthread_join(thread, NULL);
        }
        if (w.provider) {
                oauth_tokens_done(&w.tokens);
                pthread_mutex_destroy(&w.lock);
                pthread_cond_destroy(&w.wake);
        }
        ret->n_requests = p.n_requests;
        oauth_tokens_done(&tokens);
        device_authorization_done(&a);
        pkce_done(&pkce);
        provider_done(&p);
        return pr;
}
