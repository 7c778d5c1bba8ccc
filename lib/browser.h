/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "oauth.h"
#include "pkce.h"
#include "provider.h"

/*
 * Authorization code grant for a command line program (RFC 8252): the
 * browser is sent to the provider, which redirects it back to a listener on
 * 127.0.0.1 with the code. PKCE S256 (RFC 7636) binds the code to this
 * process; state ties the answer to this request; nonce ties the ID token to it.
 */

/* A request to the listener bigger than this is not a callback. */
#define BROWSER_REQUEST_MAX 8192
/* How long one connection may take to send its request, from its connect. */
#define BROWSER_READ_TIMEOUT_MS 5000
/* Connections served at once; when more come, the oldest is dropped. */
#define BROWSER_CONN_MAX 16

struct browser_login {
        int fd;                    /* listening socket on 127.0.0.1, -1 when closed */
        unsigned port;
        char *redirect_uri;        /* http://127.0.0.1:PORT/callback */
        char *authorization_url;   /* what the person opens */
        char *issuer;              /* an "iss" parameter (RFC 9207) on the callback must equal it */
        char state[PKCE_VERIFIER_LEN + 1];
        char nonce[PKCE_VERIFIER_LEN + 1];
        struct pkce pkce;
        unsigned read_timeout_ms;  /* per connection; BROWSER_READ_TIMEOUT_MS after start */
        const char *reason;        /* static: why browser_login_wait ended without a code */
        const struct logger *log;  /* the provider's */
};

/*
 * Load discovery unless loaded, open the listener, make state, nonce and a
 * PKCE verifier, and build the authorization URL. -EOPNOTSUPP when the
 * provider has no authorization_endpoint; discovery errors as
 * provider_load_metadata gives them. *ret set only on success.
 */
int browser_login_start(struct provider *p, struct browser_login *ret);

/*
 * Serve the listener until this login's answer arrives: a GET /callback
 * carrying this login's state. Any local user can reach the port, so nothing
 * else ends the wait: other paths get 404, requests that are not HTTP get
 * 400, a callback without this login's state (a forgery, or a stale tab) gets
 * 400 and is logged as a warning. Up to BROWSER_CONN_MAX connections are
 * served at once, each with read_timeout_ms from its connect, so one that
 * stalls delays no other. Then the browser is answered with a short page and
 * *ret_result is: OAUTH_OK with *ret_code; OAUTH_REJECTED when iss is not
 * this provider's (a mix-up: the code is never exchanged) or the provider
 * sent an unknown error; OAUTH_ACCESS_DENIED for error=access_denied; another
 * result for other errors; OAUTH_PROTOCOL_ERROR for a malformed callback;
 * OAUTH_EXPIRED_TOKEN when nothing came within timeout_s. b->reason says why.
 * Negative errno for socket or allocation failures.
 */
int browser_login_wait(struct browser_login *b, unsigned timeout_s, char **ret_code, enum oauth_result *ret_result);

/* Closes the listener and wipes state, nonce and verifier. Accepts a zeroed struct with fd -1. */
void browser_login_done(struct browser_login *b);

/*
 * One request as read from the listener: -EBADMSG when it is not an HTTP
 * request line, -ENOENT when it is not GET /callback, -EACCES when it does
 * not carry expected_state (a forgery or an answer to another login: never
 * a verdict on this one). Otherwise 0, with *ret_result and *ret_reason
 * (static) as for browser_login_wait and *ret_code only for OAUTH_OK. Query
 * parameters are percent-decoded strictly: a bad escape, a repeated
 * parameter, a fragment or a control character in a value makes the callback
 * malformed (OAUTH_PROTOCOL_ERROR) when its state, as sent, is this login's,
 * and -EACCES otherwise. Outputs are set only when 0 is returned.
 */
int browser_parse_callback(const char *request, size_t len, const char *expected_state, const char *expected_issuer,
                           char **ret_code, enum oauth_result *ret_result, const char **ret_reason);
