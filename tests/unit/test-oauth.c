/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "oauth.h"
#include "tests.h"

#define SENTINEL ((char *) 0x1)

struct token_case {
        const char *name;
        long status;
        const char *body;
        enum oauth_result result;
        const char *error; /* expected *ret_error, NULL when none */
};

static const struct token_case cases[] = {
        /* Successes */
        { "minimal", 200, "{\"token_type\":\"Bearer\",\"id_token\":\"a.b.c\"}", OAUTH_OK, NULL },
        { "bearer lowercase", 200, "{\"token_type\":\"bearer\",\"id_token\":\"a.b.c\",\"expires_in\":3600}", OAUTH_OK,
          NULL },
        { "full", 200,
          "{\"token_type\":\"BEARER\",\"id_token\":\"a.b.c\",\"access_token\":\"at\",\"refresh_token\":\"rt\","
          "\"scope\":\"openid profile\",\"expires_in\":3599,\"ext_expires_in\":3599}",
          OAUTH_OK, NULL },
        /* Unusable 200 answers */
        { "no id_token", 200, "{\"token_type\":\"Bearer\",\"access_token\":\"at\"}", OAUTH_PROTOCOL_ERROR, NULL },
        { "empty id_token", 200, "{\"token_type\":\"Bearer\",\"id_token\":\"\"}", OAUTH_PROTOCOL_ERROR, NULL },
        { "id_token number", 200, "{\"token_type\":\"Bearer\",\"id_token\":17}", OAUTH_PROTOCOL_ERROR, NULL },
        { "id_token object", 200, "{\"token_type\":\"Bearer\",\"id_token\":{\"a\":1}}", OAUTH_PROTOCOL_ERROR, NULL },
        { "no token_type", 200, "{\"id_token\":\"a.b.c\"}", OAUTH_PROTOCOL_ERROR, NULL },
        { "mac token_type", 200, "{\"token_type\":\"mac\",\"id_token\":\"a.b.c\"}", OAUTH_PROTOCOL_ERROR, NULL },
        { "bearer prefix", 200, "{\"token_type\":\"Bearerx\",\"id_token\":\"a.b.c\"}", OAUTH_PROTOCOL_ERROR, NULL },
        { "token_type array", 200, "{\"token_type\":[\"Bearer\"],\"id_token\":\"a.b.c\"}", OAUTH_PROTOCOL_ERROR,
          NULL },
        { "access_token number", 200, "{\"token_type\":\"Bearer\",\"id_token\":\"a.b.c\",\"access_token\":1}",
          OAUTH_PROTOCOL_ERROR, NULL },
        { "refresh_token bool", 200, "{\"token_type\":\"Bearer\",\"id_token\":\"a.b.c\",\"refresh_token\":true}",
          OAUTH_PROTOCOL_ERROR, NULL },
        { "expires_in string", 200, "{\"token_type\":\"Bearer\",\"id_token\":\"a.b.c\",\"expires_in\":\"x\"}",
          OAUTH_PROTOCOL_ERROR, NULL },
        { "expires_in negative", 200, "{\"token_type\":\"Bearer\",\"id_token\":\"a.b.c\",\"expires_in\":-5}",
          OAUTH_PROTOCOL_ERROR, NULL },
        { "duplicate key", 200, "{\"token_type\":\"Bearer\",\"id_token\":\"a.b.c\",\"id_token\":\"d.e.f\"}",
          OAUTH_PROTOCOL_ERROR, NULL },
        { "array body", 200, "[{\"token_type\":\"Bearer\",\"id_token\":\"a.b.c\"}]", OAUTH_PROTOCOL_ERROR, NULL },
        { "string body", 200, "\"Bearer\"", OAUTH_PROTOCOL_ERROR, NULL },
        { "null body", 200, "null", OAUTH_PROTOCOL_ERROR, NULL },
        { "empty body", 200, "", OAUTH_PROTOCOL_ERROR, NULL },
        { "html", 200, "<html><body>Sign in</body></html>", OAUTH_PROTOCOL_ERROR, NULL },
        { "truncated", 200, "{\"token_type\":\"Bearer\",\"id_token\":\"a.b", OAUTH_PROTOCOL_ERROR, NULL },
        { "trailing garbage", 200, "{\"token_type\":\"Bearer\",\"id_token\":\"a.b.c\"} x", OAUTH_PROTOCOL_ERROR,
          NULL },
        { "error in 200", 200, "{\"error\":\"invalid_grant\"}", OAUTH_WRONG_PASSWORD, "invalid_grant" },
        { "error number in 200", 200, "{\"error\":5,\"token_type\":\"Bearer\",\"id_token\":\"a.b.c\"}",
          OAUTH_PROTOCOL_ERROR, NULL },
        /* Generic OAuth error bodies */
        { "invalid_grant", 400, "{\"error\":\"invalid_grant\",\"error_description\":\"Wrong password\"}",
          OAUTH_WRONG_PASSWORD, "invalid_grant" },
        { "invalid_client", 401, "{\"error\":\"invalid_client\"}", OAUTH_CLIENT_ERROR, "invalid_client" },
        { "unauthorized_client", 400, "{\"error\":\"unauthorized_client\"}", OAUTH_CLIENT_ERROR,
          "unauthorized_client" },
        { "invalid_scope", 400, "{\"error\":\"invalid_scope\"}", OAUTH_INVALID_SCOPE, "invalid_scope" },
        { "unsupported_grant_type", 400, "{\"error\":\"unsupported_grant_type\"}", OAUTH_UNSUPPORTED_GRANT,
          "unsupported_grant_type" },
        { "auth0 mfa", 403, "{\"error\":\"mfa_required\",\"mfa_token\":\"x\"}", OAUTH_MFA_REQUIRED, "mfa_required" },
        { "pending", 400, "{\"error\":\"authorization_pending\"}", OAUTH_AUTHORIZATION_PENDING,
          "authorization_pending" },
        { "slow_down", 400, "{\"error\":\"slow_down\"}", OAUTH_SLOW_DOWN, "slow_down" },
        { "access_denied", 400, "{\"error\":\"access_denied\"}", OAUTH_ACCESS_DENIED, "access_denied" },
        { "entra declined", 400, "{\"error\":\"authorization_declined\",\"error_codes\":[70000]}",
          OAUTH_ACCESS_DENIED, "authorization_declined" },
        { "expired_token", 400, "{\"error\":\"expired_token\"}", OAUTH_EXPIRED_TOKEN, "expired_token" },
        { "unknown error", 400, "{\"error\":\"server_error\"}", OAUTH_REJECTED, "server_error" },
        { "invalid_request", 400, "{\"error\":\"invalid_request\"}", OAUTH_REJECTED, "invalid_request" },
        { "case matters", 400, "{\"error\":\"INVALID_GRANT\"}", OAUTH_REJECTED, "INVALID_GRANT" },
        { "description ignored", 400,
          "{\"error\":\"invalid_request\",\"error_description\":\"AADSTS50126: invalid username or password\"}",
          OAUTH_REJECTED, "invalid_request" },
        /* Entra error_codes win over error */
        { "entra 50126", 400, "{\"error\":\"invalid_grant\",\"error_codes\":[50126]}", OAUTH_WRONG_PASSWORD,
          "invalid_grant" },
        { "entra 50034", 400, "{\"error\":\"invalid_grant\",\"error_codes\":[50034]}", OAUTH_NO_SUCH_USER,
          "invalid_grant" },
        { "entra 50076", 400, "{\"error\":\"invalid_grant\",\"error_codes\":[50076],\"suberror\":\"basic_action\"}",
          OAUTH_MFA_REQUIRED, "invalid_grant" },
        { "entra 50079", 400, "{\"error\":\"invalid_grant\",\"error_codes\":[50079]}", OAUTH_MFA_REQUIRED,
          "invalid_grant" },
        { "entra 50053", 400, "{\"error\":\"invalid_grant\",\"error_codes\":[50053]}", OAUTH_LOCKED, "invalid_grant" },
        { "entra 50055", 401, "{\"error\":\"user_password_expired\",\"error_codes\":[50055]}",
          OAUTH_PASSWORD_EXPIRED, "user_password_expired" },
        { "entra 50057", 400, "{\"error\":\"invalid_grant\",\"error_codes\":[50057]}", OAUTH_DISABLED,
          "invalid_grant" },
        { "entra 53003", 400, "{\"error\":\"invalid_grant\",\"error_codes\":[53003]}", OAUTH_CONDITIONAL_ACCESS,
          "invalid_grant" },
        { "entra 700016", 400, "{\"error\":\"unauthorized_client\",\"error_codes\":[700016]}", OAUTH_CLIENT_ERROR,
          "unauthorized_client" },
        { "entra 7000218", 401, "{\"error\":\"invalid_client\",\"error_codes\":[7000218]}", OAUTH_CLIENT_ERROR,
          "invalid_client" },
        { "entra unknown code falls back", 400, "{\"error\":\"authorization_pending\",\"error_codes\":[70016]}",
          OAUTH_AUTHORIZATION_PENDING, "authorization_pending" },
        { "entra first known code", 400, "{\"error\":\"invalid_grant\",\"error_codes\":[1,\"50126\",50076,50126]}",
          OAUTH_MFA_REQUIRED, "invalid_grant" },
        { "entra code as string ignored", 400, "{\"error\":\"invalid_grant\",\"error_codes\":[\"50076\"]}",
          OAUTH_WRONG_PASSWORD, "invalid_grant" },
        { "entra codes not an array", 400, "{\"error\":\"invalid_grant\",\"error_codes\":50076}",
          OAUTH_WRONG_PASSWORD, "invalid_grant" },
        { "entra codes only", 400, "{\"error_codes\":[50053]}", OAUTH_LOCKED, NULL },
        { "entra float code", 400, "{\"error\":\"invalid_grant\",\"error_codes\":[50076.0]}", OAUTH_WRONG_PASSWORD,
          "invalid_grant" },
        { "entra full body", 400,
          "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS50076: Due to a configuration change made by "
          "your administrator, you must use multi-factor authentication.\",\"error_codes\":[50076],"
          "\"timestamp\":\"2024-01-01 00:00:00Z\",\"trace_id\":\"1\",\"correlation_id\":\"2\",\"error_uri\":"
          "\"https://login.microsoftonline.com/error?code=50076\",\"suberror\":\"basic_action\"}",
          OAUTH_MFA_REQUIRED, "invalid_grant" },
        /* Hostile or broken error answers */
        /* A 4xx is the provider's refusal even when its body says nothing usable */
        { "error number", 400, "{\"error\":42}", OAUTH_REJECTED, NULL },
        { "error null", 400, "{\"error\":null}", OAUTH_REJECTED, NULL },
        { "no error", 400, "{\"message\":\"nope\"}", OAUTH_REJECTED, NULL },
        { "4xx html", 403, "<html>Forbidden</html>", OAUTH_REJECTED, NULL },
        { "401 empty", 401, "", OAUTH_REJECTED, NULL },
        { "403 empty", 403, "", OAUTH_REJECTED, NULL },
        { "400 empty", 400, "", OAUTH_REJECTED, NULL },
        { "404 text", 404, "Not Found", OAUTH_REJECTED, NULL },
        { "4xx truncated json", 400, "{\"error\":\"invalid_gr", OAUTH_REJECTED, NULL },
        { "4xx array", 403, "[\"error\"]", OAUTH_REJECTED, NULL },
        { "499", 499, "", OAUTH_REJECTED, NULL },
        { "error nul byte", 400, "{\"error\":\"invalid_grant\\u0000x\"}", OAUTH_REJECTED, NULL },
        /* Outside 2xx and 4xx a body without an error says nothing */
        { "3xx", 302, "{\"error\":\"invalid_grant\"}", OAUTH_WRONG_PASSWORD, "invalid_grant" },
        { "3xx empty", 302, "", OAUTH_PROTOCOL_ERROR, NULL },
        { "3xx html", 301, "<html>Moved</html>", OAUTH_PROTOCOL_ERROR, NULL },
        { "1xx", 100, "", OAUTH_PROTOCOL_ERROR, NULL },
        { "204 empty", 204, "", OAUTH_PROTOCOL_ERROR, NULL },
        /* Server failures and rate limits mean "could not answer", whatever the body says */
        { "500", 500, "{\"error\":\"invalid_grant\"}", OAUTH_UNREACHABLE, NULL },
        { "502 html", 502, "<html>Bad gateway</html>", OAUTH_UNREACHABLE, NULL },
        { "503 empty", 503, "", OAUTH_UNREACHABLE, NULL },
        { "599", 599, "", OAUTH_UNREACHABLE, NULL },
        { "429 empty", 429, "", OAUTH_UNREACHABLE, NULL },
        { "429 text", 429, "Too Many Requests", OAUTH_UNREACHABLE, NULL },
        { "429 with an error body", 429, "{\"error\":\"invalid_grant\"}", OAUTH_UNREACHABLE, NULL },
        { "429 slow_down", 429, "{\"error\":\"slow_down\"}", OAUTH_UNREACHABLE, NULL },
};

static void test_table(void) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const struct token_case *c = &cases[i];
                struct oauth_tokens t = { .id_token = SENTINEL, .expires_in = -77 };
                enum oauth_result res = _OAUTH_RESULT_MAX;
                char *error = SENTINEL;
                int r;

                r = oauth_parse_token_response(c->status, c->body, strlen(c->body), &t, &res, &error);
                CHECK_INT(r, 0);
                if (res != c->result)
                        fprintf(stderr, "case '%s': got %s\n", c->name, oauth_result_to_string(res));
                CHECK_INT(res, c->result);
                if (c->result == OAUTH_OK) {
                        CHECK_STR(t.id_token, "a.b.c");
                        CHECK(t.token_type != NULL);
                        oauth_tokens_done(&t);
                } else {
                        /* ret untouched on anything but success */
                        CHECK(t.id_token == SENTINEL);
                        CHECK_INT(t.expires_in, -77);
                        CHECK(t.access_token == NULL);
                }
                if (c->error) {
                        CHECK(error != SENTINEL);
                        if (error != SENTINEL) {
                                CHECK_STR(error, c->error);
                                free(error);
                        }
                } else {
                        if (error != SENTINEL)
                                fprintf(stderr, "case '%s': unexpected error text\n", c->name);
                        CHECK(error == SENTINEL);
                }
        }
}

static void test_full_fields(void) {
        const char *body = "{\"token_type\":\"Bearer\",\"id_token\":\"h.p.s\",\"access_token\":\"AT\","
                           "\"refresh_token\":\"RT\",\"scope\":\"openid email\",\"expires_in\":3599}";
        struct oauth_tokens t = {0};
        enum oauth_result res;

        CHECK_INT(oauth_parse_token_response(200, body, strlen(body), &t, &res, NULL), 0);
        CHECK_INT(res, OAUTH_OK);
        CHECK_STR(t.id_token, "h.p.s");
        CHECK_STR(t.access_token, "AT");
        CHECK_STR(t.refresh_token, "RT");
        CHECK_STR(t.scope, "openid email");
        CHECK_STR(t.token_type, "Bearer");
        CHECK_INT(t.expires_in, 3599);
        oauth_tokens_done(&t);
        CHECK(t.id_token == NULL && t.access_token == NULL && t.refresh_token == NULL);
        CHECK_INT(t.expires_in, 0);
        oauth_tokens_done(&t);
        oauth_tokens_done(NULL);
}

static void test_hostile(void) {
        struct oauth_tokens t = { .id_token = SENTINEL };
        enum oauth_result res;
        size_t n = 200000, len;
        char *big;

        /* deep nesting */
        big = malloc(2 * n + 1);
        CHECK(big != NULL);
        memset(big, '[', n);
        memset(big + n, ']', n);
        big[2 * n] = 0;
        res = OAUTH_OK;
        CHECK_INT(oauth_parse_token_response(400, big, 2 * n, &t, &res, NULL), 0);
        CHECK_INT(res, OAUTH_REJECTED);
        CHECK_INT(oauth_parse_token_response(200, big, 2 * n, &t, &res, NULL), 0);
        CHECK_INT(res, OAUTH_PROTOCOL_ERROR);
        free(big);

        /* over the size cap, otherwise valid */
        len = HTTP_RESPONSE_MAX + 100;
        big = malloc(len + 1);
        CHECK(big != NULL);
        memset(big, ' ', len);
        memcpy(big, "{\"token_type\":\"Bearer\",\"id_token\":\"a.b.c\"}", 42);
        big[len] = 0;
        res = OAUTH_OK;
        CHECK_INT(oauth_parse_token_response(200, big, len, &t, &res, NULL), 0);
        CHECK_INT(res, OAUTH_PROTOCOL_ERROR);
        free(big);

        /* a huge error text is truncated, not copied whole */
        len = 100000;
        big = malloc(len + 20);
        CHECK(big != NULL);
        strcpy(big, "{\"error\":\"");
        memset(big + 10, 'x', len);
        strcpy(big + 10 + len, "\"}");
        {
                char *e = NULL;
                CHECK_INT(oauth_parse_token_response(400, big, strlen(big), &t, &res, &e), 0);
                CHECK_INT(res, OAUTH_REJECTED);
                CHECK(e && strlen(e) <= 128);
                free(e);
        }
        free(big);

        /* invalid UTF-8, NULL body */
        CHECK_INT(oauth_parse_token_response(400, "{\"error\":\"\xff\xfe\"}", 14, &t, &res, NULL), 0);
        CHECK_INT(res, OAUTH_REJECTED);
        CHECK_INT(oauth_parse_token_response(400, NULL, 0, &t, &res, NULL), 0);
        CHECK_INT(res, OAUTH_REJECTED);
        CHECK_INT(oauth_parse_token_response(200, NULL, 0, &t, &res, NULL), 0);
        CHECK_INT(res, OAUTH_PROTOCOL_ERROR);
        /* a body with an embedded NUL is not the object before it */
        {
                static const char nul[] = "{\"token_type\":\"Bearer\",\"id_token\":\"a\"}\0{";
                CHECK_INT(oauth_parse_token_response(200, nul, sizeof(nul) - 1, &t, &res, NULL), 0);
        }
        CHECK_INT(res, OAUTH_PROTOCOL_ERROR);
        CHECK(t.id_token == SENTINEL);
        CHECK_INT(oauth_parse_token_response(200, "{}", 2, NULL, &res, NULL), -EINVAL);
}

static void test_strings(void) {
        CHECK_STR(oauth_result_to_string(OAUTH_WRONG_PASSWORD), "wrong password");
        CHECK_STR(oauth_result_to_string(OAUTH_MFA_REQUIRED), "multi-factor authentication required");
        CHECK_STR(oauth_result_to_string(OAUTH_UNREACHABLE), "provider unreachable");
        CHECK_STR(oauth_result_to_string(_OAUTH_RESULT_MAX), "unknown result");
        CHECK_STR(oauth_result_to_string((enum oauth_result) -1), "unknown result");
        for (int i = 0; i < _OAUTH_RESULT_MAX; i++)
                CHECK(strcmp(oauth_result_to_string((enum oauth_result) i), "unknown result") != 0);
}

static struct oidc_metadata *metadata_with_token_endpoint(const char *url) {
        struct oidc_metadata *m = calloc(1, sizeof(*m));

        CHECK(m != NULL);
        m->issuer = strdup("https://idp.example.com");
        m->token_endpoint = strdup(url);
        m->jwks_uri = strdup("https://idp.example.com/keys");
        return m;
}

static void test_password_grant_transport(void) {
        struct cloudauth_config c = { .issuer = (char *) "https://idp.example.com", .client_id = (char *) "cid",
                                      .scopes = (char *) "openid", .timeout = 2 };
        struct oauth_tokens t = { .id_token = SENTINEL };
        enum oauth_result res = OAUTH_OK;
        struct provider p;

        /* port 1 on loopback: nothing listens, the IdP is unreachable (offline login may apply) */
        CHECK_INT(provider_init(&p, &c, NULL), 0);
        p.metadata = metadata_with_token_endpoint("https://127.0.0.1:1/token");
        CHECK_INT(oauth_password_grant(&p, "alice", "secret", &t, &res), 0);
        CHECK_INT(res, OAUTH_UNREACHABLE);
        CHECK_INT(p.n_requests, 1);
        CHECK(t.id_token == SENTINEL);
        provider_done(&p);

        /* a plain-http token endpoint is never contacted */
        CHECK_INT(provider_init(&p, &c, NULL), 0);
        p.metadata = metadata_with_token_endpoint("http://127.0.0.1:1/token");
        res = OAUTH_OK;
        CHECK_INT(oauth_password_grant(&p, "alice", "secret", &t, &res), 0);
        CHECK_INT(res, OAUTH_PROTOCOL_ERROR);
        CHECK(t.id_token == SENTINEL);
        provider_done(&p);

        CHECK_INT(oauth_password_grant(NULL, "alice", "secret", &t, &res), -EINVAL);
}

static void test_revoke_transport(void) {
        struct cloudauth_config c = { .issuer = (char *) "https://idp.example.com", .client_id = (char *) "cid",
                                      .timeout = 2 };
        enum oauth_result res = OAUTH_OK;
        struct provider p;

        /* no revocation endpoint in discovery: nothing is sent */
        CHECK_INT(provider_init(&p, &c, NULL), 0);
        p.metadata = metadata_with_token_endpoint("https://127.0.0.1:1/token");
        CHECK_INT(oauth_revoke_refresh_token(&p, "rt", &res), -EOPNOTSUPP);
        CHECK_INT(p.n_requests, 0);

        /* nothing listens: the provider could not answer */
        p.metadata->revocation_endpoint = strdup("https://127.0.0.1:1/token/revocation");
        CHECK_INT(oauth_revoke_refresh_token(&p, "rt", &res), 0);
        CHECK_INT(res, OAUTH_UNREACHABLE);
        CHECK_INT(p.n_requests, 1);
        provider_done(&p);

        /* a plain-http revocation endpoint is never contacted */
        CHECK_INT(provider_init(&p, &c, NULL), 0);
        p.metadata = metadata_with_token_endpoint("https://127.0.0.1:1/token");
        p.metadata->revocation_endpoint = strdup("http://127.0.0.1:1/token/revocation");
        res = OAUTH_OK;
        CHECK_INT(oauth_revoke_refresh_token(&p, "rt", &res), 0);
        CHECK_INT(res, OAUTH_PROTOCOL_ERROR);
        provider_done(&p);

        CHECK_INT(oauth_revoke_refresh_token(NULL, "rt", &res), -EINVAL);
}

int main(void) {
        RUN(test_table);
        RUN(test_full_fields);
        RUN(test_hostile);
        RUN(test_strings);
        RUN(test_password_grant_transport);
        RUN(test_revoke_transport);
        return tests_exit();
}
