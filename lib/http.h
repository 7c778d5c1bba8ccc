/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "log.h"

/* Responses are capped: a bigger body is an error, never truncated silently. */
#define HTTP_RESPONSE_MAX (1024 * 1024)

struct http_options {
        const char *ca_file;  /* extra trust anchor; system store used as well when NULL */
        unsigned timeout;     /* seconds for the whole request, connect included */
        const char *proxy;    /* NULL: direct, whatever the environment says */
        const struct logger *log;
};

struct http_response {
        long status;
        char *body;          /* NUL-terminated, body_len bytes */
        size_t body_len;
        time_t date;         /* the Date header, 0 when absent */
        char *content_type;
};

/*
 * Errors (negative errno), so callers can tell "IdP unreachable" from "IdP said no":
 *   -ECONNREFUSED, -EHOSTUNREACH, -ENETUNREACH: could not connect (DNS failure included)
 *   -ECONNRESET: the connection was reset or closed before a response came
 *   -ETIMEDOUT: connect or total timeout
 *   -EKEYREJECTED: TLS handshake or certificate verification failed
 *   -EFBIG: response larger than HTTP_RESPONSE_MAX
 *   -EPROTO: any other transport error
 * A non-2xx status is not an error: it is returned in ret->status.
 * TLS verification is always on, TLS >= 1.2, redirects are never followed,
 * only https:// URLs are accepted (-EPROTONOSUPPORT otherwise).
 * 429 and 503 are retried (at most twice, honouring Retry-After within the timeout).
 */
int http_get(const struct http_options *o, const char *url, struct http_response *ret);

/*
 * POST an application/x-www-form-urlencoded body. With basic_user set, HTTP Basic
 * client authentication per RFC 6749 2.3.1 (both parts form-urlencoded first).
 */
int http_post_form(const struct http_options *o, const char *url, const char *form,
                   const char *basic_user, const char *basic_password, struct http_response *ret);

void http_response_done(struct http_response *r);

/* true for errors meaning "the IdP could not be reached" (offline login may apply). */
bool http_error_is_unreachable(int r);

/* Append "name=value" (both form-urlencoded) to *form, with '&' when not empty. */
int http_form_append(char **form, const char *name, const char *value);

/* The errno class for a CURLcode (os_errno from CURLINFO_OS_ERRNO refines connect errors). */
int http_errno_from_curl(int curl_code, long os_errno);

/* One line for an error from http_get/http_post_form. */
const char *http_strerror(int r);
