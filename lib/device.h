/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <time.h>

#include "oauth.h"
#include "pkce.h"
#include "provider.h"

/* RFC 8628 device authorization grant. */

#define DEVICE_INTERVAL_DEFAULT 5
#define DEVICE_INTERVAL_MIN 1
#define DEVICE_INTERVAL_MAX 60
#define DEVICE_EXPIRES_MIN 30
#define DEVICE_EXPIRES_MAX 1800
#define DEVICE_SLOW_DOWN_STEP 5
#define DEVICE_TRANSPORT_RETRIES 2

struct device_authorization {
        char *device_code;               /* never logged or shown */
        char *user_code;                 /* printable ASCII only */
        char *verification_uri;          /* https, printable ASCII only; Google's verification_url accepted */
        char *verification_uri_complete; /* may be NULL */
        unsigned interval;               /* seconds, clamped to [MIN, MAX]; default 5 when absent */
        unsigned expires_in;             /* seconds, clamped to [MIN, MAX] */
        time_t expires_at;               /* now + expires_in at parse time */
};

/*
 * Parse the device authorization response. Missing device_code, user_code or
 * verification URI, a user_code or URI with control characters, spaces or
 * non-ASCII bytes, or a non-https URI -> OAUTH_PROTOCOL_ERROR. Error bodies
 * map like oauth_parse_token_response. Absurd interval/expires_in values are
 * clamped, not refused. *ret set only when *ret_result is OAUTH_OK.
 */
int device_parse_authorization(long status, const char *body, size_t len, time_t now,
                               struct device_authorization *ret, enum oauth_result *ret_result);
void device_authorization_done(struct device_authorization *a);

/*
 * Send the device authorization request to the endpoint from discovery
 * (OAUTH_UNSUPPORTED_GRANT when the provider has none): client_id, scope,
 * client authentication as for the password grant, and PKCE parameters when
 * pkce is not NULL.
 */
int device_start(struct provider *p, const struct pkce *pkce, struct device_authorization *ret,
                 enum oauth_result *ret_result);

/* Whether this provider/config wants PKCE on the device request. */
bool device_wants_pkce(const struct provider *p);

/*
 * A token endpoint answer to a device code poll: oauth_parse_token_response,
 * except that invalid_grant means a bad or used device code here, never a
 * wrong password (OAUTH_REJECTED).
 */
int device_parse_poll_response(long status, const char *body, size_t len, struct oauth_tokens *ret,
                               enum oauth_result *ret_result);

/*
 * One token request with the device code. *ret_result: OAUTH_OK (tokens in
 * *ret), OAUTH_AUTHORIZATION_PENDING, OAUTH_SLOW_DOWN, or a final error.
 */
int device_poll(struct provider *p, const struct device_authorization *a, const struct pkce *pkce,
                struct oauth_tokens *ret, enum oauth_result *ret_result);

struct device_wait {
        /* Sleep ms milliseconds; return < 0 to stop waiting (cancelled). NULL: nanosleep. */
        int (*sleep_ms)(void *userdata, unsigned ms);
        void *userdata;
        /* One token request; NULL: device_poll. Tests script the provider's answers through it. */
        int (*poll)(void *userdata, struct provider *p, const struct device_authorization *a,
                    const struct pkce *pkce, struct oauth_tokens *ret, enum oauth_result *ret_result);
};

/*
 * Poll until tokens, a final error, or expiry (OAUTH_EXPIRED_TOKEN): first
 * poll after one interval, then every interval; slow_down adds 5 s to this
 * and every later interval. Never polls faster than the interval, never past
 * expires_at. *ret_polls counts token requests made.
 * Returns -ECANCELED when w->sleep_ms asked to stop.
 * OAUTH_UNREACHABLE (connection refused, timeout, 5xx) is retried at most
 * DEVICE_TRANSPORT_RETRIES times, after 2 and then 4 intervals (RFC 8628 3.5
 * allows backing off on connection timeouts), and only when the retry still
 * falls before expires_at; then OAUTH_UNREACHABLE is final.
 */
int device_wait_for_tokens(struct provider *p, const struct device_authorization *a, const struct pkce *pkce,
                           const struct device_wait *w, struct oauth_tokens *ret, enum oauth_result *ret_result,
                           unsigned *ret_polls);
