/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "provider.h"

/* What the IdP answered, precisely enough for the PAM edge and the log. */
enum oauth_result {
        OAUTH_OK = 0,
        OAUTH_WRONG_PASSWORD,      /* invalid_grant, Entra 50126 */
        OAUTH_NO_SUCH_USER,        /* Entra 50034 */
        OAUTH_MFA_REQUIRED,        /* Entra 50076/50079, Auth0 mfa_required: a failure */
        OAUTH_LOCKED,              /* Entra 50053 */
        OAUTH_PASSWORD_EXPIRED,    /* Entra 50055 */
        OAUTH_DISABLED,            /* Entra 50057 */
        OAUTH_CONDITIONAL_ACCESS,  /* Entra 53003 */
        OAUTH_CLIENT_ERROR,        /* invalid_client, unauthorized_client, Entra 700016/7000218 */
        OAUTH_INVALID_SCOPE,
        OAUTH_UNSUPPORTED_GRANT,   /* the provider does not offer this grant */
        OAUTH_REJECTED,            /* any other error the IdP sent, or a 4xx without a usable error body */
        OAUTH_UNREACHABLE,         /* connect error, timeout, 5xx, 429: offline login may apply */
        OAUTH_TLS_ERROR,           /* certificate or handshake failure: never offline */
        OAUTH_PROTOCOL_ERROR,      /* unparsable or incomplete answer */
        /* device flow */
        OAUTH_AUTHORIZATION_PENDING,
        OAUTH_SLOW_DOWN,
        OAUTH_ACCESS_DENIED,       /* access_denied, Entra authorization_declined */
        OAUTH_EXPIRED_TOKEN,
        _OAUTH_RESULT_MAX,
};

const char *oauth_result_to_string(enum oauth_result r);

struct oauth_tokens {
        char *id_token;
        char *access_token;
        char *refresh_token;
        char *token_type;
        char *scope;
        long expires_in;
};

/* Wipes and frees every token. */
void oauth_tokens_done(struct oauth_tokens *t);

/*
 * Parse a token endpoint answer (status and body). On 200 with a usable body,
 * fills *ret and sets *ret_result = OAUTH_OK. On an error body, maps "error"
 * and Entra's "error_codes" (never "error_description") to *ret_result and
 * copies the error code text to *ret_error (may be NULL). 5xx and 429 give
 * OAUTH_UNREACHABLE whatever the body; any other 4xx is a refusal, so a
 * body without a known error (empty, HTML, no "error") gives OAUTH_REJECTED,
 * never OAUTH_PROTOCOL_ERROR. Returns 0 whenever *ret_result is meaningful, negative
 * errno only on allocation failure. ret untouched unless OAUTH_OK.
 */
int oauth_parse_token_response(long status, const char *body, size_t len, struct oauth_tokens *ret,
                               enum oauth_result *ret_result, char **ret_error);

/*
 * Resource owner password grant against the token endpoint: scopes from
 * config, client authentication with the client_secret_file secret (HTTP
 * Basic) when configured, else client_id in the body (public client).
 * An http transport error becomes OAUTH_UNREACHABLE or OAUTH_TLS_ERROR.
 */
int oauth_password_grant(struct provider *p, const char *username, const char *password,
                         struct oauth_tokens *ret, enum oauth_result *ret_result);

/*
 * The refresh token grant (RFC 6749 6), with the client authentication of
 * the password grant. invalid_grant (the grant is gone: the account was
 * disabled or deleted, its password reset, its sessions revoked) is
 * OAUTH_WRONG_PASSWORD, as for the password grant; a transport error is
 * OAUTH_UNREACHABLE or OAUTH_TLS_ERROR.
 */
int oauth_refresh_grant(struct provider *p, const char *refresh_token, struct oauth_tokens *ret,
                        enum oauth_result *ret_result);

/*
 * Revoke a refresh token at the revocation endpoint discovery names (RFC
 * 7009): token and token_type_hint=refresh_token, with the client
 * authentication of the password grant. OAUTH_OK for a 200, which the
 * provider also answers for a token it no longer knows; OAUTH_UNREACHABLE
 * or OAUTH_TLS_ERROR when it could not answer (a transport error, 5xx,
 * 429, or discovery failing); OAUTH_CLIENT_ERROR when it does not accept
 * our client; OAUTH_REJECTED for any other refusal. -EOPNOTSUPP when
 * discovery names no revocation endpoint.
 */
int oauth_revoke_refresh_token(struct provider *p, const char *refresh_token, enum oauth_result *ret_result);

/*
 * For the grants built on this one (device flow): load discovery unless
 * loaded. Returns 0 when p->metadata is usable, 1 with *ret_result set
 * (OAUTH_UNREACHABLE, OAUTH_TLS_ERROR, OAUTH_PROTOCOL_ERROR) when discovery
 * failed, negative errno on allocation failure.
 */
int oauth_ensure_metadata(struct provider *p, const char *what, enum oauth_result *ret_result);

/*
 * POST *form to url with the same client authentication as the password
 * grant (appends client_id to *form for a public client). Returns 0 with
 * *ret filled (any status), 1 with *ret_result set from a transport error
 * (or OAUTH_CLIENT_ERROR when client_secret_file cannot be used),
 * negative errno on allocation failure.
 */
int oauth_post_client_form(struct provider *p, const char *what, const char *url, char **form,
                           struct http_response *ret, enum oauth_result *ret_result);

/*
 * Authorization code grant (RFC 6749 4.1.3) with the PKCE verifier (RFC
 * 7636 4.5): redirect_uri exactly as sent in the authorization request,
 * client authentication as for the password grant. invalid_grant means a
 * bad, used or expired code here (OAUTH_REJECTED), never a wrong password.
 */
int oauth_authorization_code(struct provider *p, const char *code, const char *redirect_uri,
                             const char *code_verifier, struct oauth_tokens *ret, enum oauth_result *ret_result);
