/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "device.h"
#include "http.h"
#include "json-util.h"
#include "macro.h"
#include "secret.h"

#define DEVICE_EXPIRES_DEFAULT 600
#define DEVICE_CODE_MAX 4096
#define DEVICE_USER_CODE_MAX 64
#define DEVICE_URI_MAX 2048
/* More digits than any sane number of seconds; also keeps strtoull in range. */
#define DEVICE_NUMBER_DIGITS_MAX 9

static unsigned clamp_u(unsigned long long v, unsigned min, unsigned max) {
        return v < min ? min : v > max ? max : (unsigned) v;
}

/*
 * A number of seconds, clamped. Some providers send numbers as digit strings
 * (Azure AD v1 did); those count too. Any other type counts as absent, so an
 * odd value costs the default, never the login.
 */
static unsigned seconds_member(json_t *o, const char *key, unsigned dflt, unsigned min, unsigned max) {
        json_t *v = json_object_get(o, key);

        if (json_is_integer(v)) {
                json_int_t i = json_integer_value(v);
                return i < 0 ? min : clamp_u((unsigned long long) i, min, max);
        }
        if (json_is_real(v)) {
                double d = json_real_value(v);
                if (!isfinite(d) || d < (double) min)
                        return min;
                return d > (double) max ? max : (unsigned) d;
        }
        if (json_is_string(v)) {
                const char *s = json_string_value(v);
                size_t n = json_string_length(v);

                if (n == 0 || n > DEVICE_NUMBER_DIGITS_MAX || strspn(s, "0123456789") != n)
                        return clamp_u(dflt, min, max);
                return clamp_u(strtoull(s, NULL, 10), min, max);
        }
        return clamp_u(dflt, min, max);
}

/* Text that reaches a terminal: printable ASCII, no spaces, nothing a terminal interprets. */
static bool text_is_safe(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x21 || (unsigned char) s[i] > 0x7e)
                        return false;
        return true;
}

/*
 * A string member shown to the user: absent/null leaves *ret NULL; a
 * present member must be a non-empty string of at most max safe bytes
 * (https:// with a host when uri), else -EBADMSG.
 */
static int shown_member(json_t *o, const char *key, size_t max, bool uri, char **ret) {
        json_t *v = json_object_get(o, key);
        const char *s;
        size_t n;

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return -EBADMSG;
        s = json_string_value(v);
        n = json_string_length(v);
        if (n == 0 || n > max || !text_is_safe(s, n))
                return -EBADMSG;
        if (uri && (n <= strlen("https://") || strncmp(s, "https://", strlen("https://")) != 0 ||
                    s[strlen("https://")] == '/'))
                return -EBADMSG;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

void device_authorization_done(struct device_authorization *a) {
        if (!a)
                return;
        erase_and_free(a->device_code);
        free(a->user_code);
        free(a->verification_uri);
        free(a->verification_uri_complete);
        *a = (struct device_authorization){0};
}

static int parse_error_body(long status, const char *body, size_t len, enum oauth_result *ret_result) {
        struct oauth_tokens t = {0};
        enum oauth_result result;
        int r;

        r = oauth_parse_token_response(status, body, len, &t, &result, NULL);
        if (r < 0)
                return r;
        if (result == OAUTH_OK) {
                /* A token answer is no device authorization. */
                oauth_tokens_done(&t);
                result = OAUTH_PROTOCOL_ERROR;
        }
        *ret_result = result;
        return 0;
}

static int parse_fields(json_t *o, time_t now, struct device_authorization *ret) {
        _cleanup_(device_authorization_done) struct device_authorization a = {0};
        json_t *dc;
        int r;

        dc = json_object_get(o, "device_code");
        if (!json_is_string(dc) || json_string_length(dc) == 0 || json_string_length(dc) > DEVICE_CODE_MAX ||
            !text_is_safe(json_string_value(dc), json_string_length(dc)))
                return -EBADMSG;
        if (!(a.device_code = secret_strdup(json_string_value(dc))))
                return -ENOMEM;

        if ((r = shown_member(o, "user_code", DEVICE_USER_CODE_MAX, false, &a.user_code)) < 0 ||
            (r = shown_member(o, "verification_uri", DEVICE_URI_MAX, true, &a.verification_uri)) < 0 ||
            (r = shown_member(o, "verification_uri_complete", DEVICE_URI_MAX, true,
                              &a.verification_uri_complete)) < 0)
                return r;
        if (!a.verification_uri &&
            (r = shown_member(o, "verification_url", DEVICE_URI_MAX, true, &a.verification_uri)) < 0)
                return r;
        if (!a.user_code || !a.verification_uri)
                return -EBADMSG;

        a.interval = seconds_member(o, "interval", DEVICE_INTERVAL_DEFAULT, DEVICE_INTERVAL_MIN,
                                    DEVICE_INTERVAL_MAX);
        a.expires_in = seconds_member(o, "expires_in", DEVICE_EXPIRES_DEFAULT, DEVICE_EXPIRES_MIN,
                                      DEVICE_EXPIRES_MAX);
        a.expires_at = now + (time_t) a.expires_in;
        *ret = a;
        a = (struct device_authorization){0};
        return 0;
}

int device_parse_authorization(long status, const char *body, size_t len, time_t now,
                               struct device_authorization *ret, enum oauth_result *ret_result) {
        json_t *o = NULL;
        json_error_t je;
        int r = 0;

        if (!ret || !ret_result)
                return -EINVAL;
        if (status != 200)
                return parse_error_body(status, body, len, ret_result);
        if (!body || len == 0 || len > HTTP_RESPONSE_MAX) {
                *ret_result = OAUTH_PROTOCOL_ERROR;
                return 0;
        }
        o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(o)) {
                *ret_result = OAUTH_PROTOCOL_ERROR;
                goto out;
        }
        if (json_object_get(o, "error") || json_object_get(o, "error_codes")) {
                r = parse_error_body(status, body, len, ret_result);
                goto out;
        }
        r = parse_fields(o, now, ret);
        if (r == -EBADMSG) {
                *ret_result = OAUTH_PROTOCOL_ERROR;
                r = 0;
        } else if (r == 0)
                *ret_result = OAUTH_OK;
out:
        /* The device code was copied out; jansson's copy is wiped too. */
        json_wipe_strings(o);
        json_decref(o);
        return r;
}

bool device_wants_pkce(const struct provider *p) {
        if (!p || !p->config)
                return false;
        if (p->config->pkce == 1)
                return true;
        return p->config->pkce == -1 && p->metadata && p->metadata->pkce_s256;
}

int device_start(struct provider *p, const struct pkce *pkce, struct device_authorization *ret,
                 enum oauth_result *ret_result) {
        const struct cloudauth_config *c;
        struct http_response resp = {0};
        _cleanup_free_ char *form = NULL;
        int r;

        if (!p || !p->config || !ret || !ret_result)
                return -EINVAL;
        c = p->config;

        if ((r = oauth_ensure_metadata(p, "device authorization", ret_result)) != 0)
                return r < 0 ? r : 0;
        if (!p->metadata->device_authorization_endpoint) {
                log_err(p->log, "device authorization: the provider offers no device_authorization_endpoint");
                *ret_result = OAUTH_UNSUPPORTED_GRANT;
                return 0;
        }

        if ((r = http_form_append(&form, "scope", c->scopes ? c->scopes : "openid")) < 0)
                return r;
        if (pkce && ((r = http_form_append(&form, "code_challenge", pkce->challenge)) < 0 ||
                     (r = http_form_append(&form, "code_challenge_method", "S256")) < 0))
                return r;

        if ((r = oauth_post_client_form(p, "device authorization", p->metadata->device_authorization_endpoint,
                                        &form, &resp, ret_result)) != 0)
                return r < 0 ? r : 0;

        r = device_parse_authorization(resp.status, resp.body, resp.body_len, p->clock(), ret, ret_result);
        http_response_done(&resp);
        if (r >= 0 && *ret_result != OAUTH_OK)
                log_err(p->log, "device authorization: %s", oauth_result_to_string(*ret_result));
        return r;
}

int device_parse_poll_response(long status, const char *body, size_t len, struct oauth_tokens *ret,
                               enum oauth_result *ret_result) {
        enum oauth_result result;
        int r;

        if (!ret || !ret_result)
                return -EINVAL;
        if ((r = oauth_parse_token_response(status, body, len, ret, &result, NULL)) < 0)
                return r;
        /* No password was entered in this flow: the code itself was refused. */
        *ret_result = result == OAUTH_WRONG_PASSWORD ? OAUTH_REJECTED : result;
        return 0;
}

int device_poll(struct provider *p, const struct device_authorization *a, const struct pkce *pkce,
                struct oauth_tokens *ret, enum oauth_result *ret_result) {
        struct http_response resp = {0};
        _cleanup_erase_ char *form = NULL;
        enum oauth_result result;
        int r;

        if (!p || !p->config || !a || !a->device_code || !ret || !ret_result)
                return -EINVAL;

        if ((r = oauth_ensure_metadata(p, "device token request", ret_result)) != 0)
                return r < 0 ? r : 0;

        if ((r = http_form_append(&form, "grant_type", "urn:ietf:params:oauth:grant-type:device_code")) < 0 ||
            (r = http_form_append(&form, "device_code", a->device_code)) < 0)
                return r;
        if (pkce && (r = http_form_append(&form, "code_verifier", pkce->verifier)) < 0)
                return r;

        if ((r = oauth_post_client_form(p, "device token request", p->metadata->token_endpoint, &form, &resp,
                                        ret_result)) != 0)
                return r < 0 ? r : 0;

        r = device_parse_poll_response(resp.status, resp.body, resp.body_len, ret, &result);
        http_response_done(&resp);
        if (r < 0)
                return r;
        log_debug(p->log, "device token request: %s", oauth_result_to_string(result));
        *ret_result = result;
        return 0;
}

static int sleep_real(void *userdata, unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

static int poll_real(void *userdata, struct provider *p, const struct device_authorization *a,
                     const struct pkce *pkce, struct oauth_tokens *ret, enum oauth_result *ret_result) {
        return device_poll(p, a, pkce, ret, ret_result);
}

int device_wait_for_tokens(struct provider *p, const struct device_authorization *a, const struct pkce *pkce,
                           const struct device_wait *w, struct oauth_tokens *ret, enum oauth_result *ret_result,
                           unsigned *ret_polls) {
        int (*do_sleep)(void *, unsigned) = w && w->sleep_ms ? w->sleep_ms : sleep_real;
        int (*do_poll)(void *, struct provider *, const struct device_authorization *, const struct pkce *,
                       struct oauth_tokens *, enum oauth_result *) = w && w->poll ? w->poll : poll_real;
        void *userdata = w ? w->userdata : NULL;
        unsigned interval, polls = 0, failures = 0;
        enum oauth_result result;
        int r;

        if (!p || !p->clock || !a || !ret || !ret_result)
                return -EINVAL;
        interval = clamp_u(a->interval, DEVICE_INTERVAL_MIN, DEVICE_INTERVAL_MAX);

        for (;;) {
                /* After a transport error: 2, then 4 intervals before trying again. */
                unsigned wait = interval << failures;
                time_t now = p->clock();

                if (now >= a->expires_at || (time_t) wait >= a->expires_at - now) {
                        if (failures > 0) {
                                result = OAUTH_UNREACHABLE;
                                break;
                        }
                        /* No poll fits before the code expires; report it when it does. */
                        if (now < a->expires_at && do_sleep(userdata, (unsigned) (a->expires_at - now) * 1000) < 0)
                                return -ECANCELED;
                        result = OAUTH_EXPIRED_TOKEN;
                        break;
                }
                if (do_sleep(userdata, wait * 1000) < 0)
                        return -ECANCELED;

                r = do_poll(userdata, p, a, pkce, ret, &result);
                if (r < 0)
                        return r;
                polls++;

                if (result == OAUTH_AUTHORIZATION_PENDING) {
                        failures = 0;
                        continue;
                }
                if (result == OAUTH_SLOW_DOWN) {
                        failures = 0;
                        interval += DEVICE_SLOW_DOWN_STEP;
                        continue;
                }
                if (result == OAUTH_UNREACHABLE && failures < DEVICE_TRANSPORT_RETRIES) {
                        failures++;
                        log_warn(p->log, "device flow: provider unreachable, retrying in %u s", interval << failures);
                        continue;
                }
                break;
        }

        *ret_result = result;
        if (ret_polls)
                *ret_polls = polls;
        return 0;
}
