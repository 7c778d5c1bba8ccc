/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>

#include "device.h"
#include "tests.h"

#define NOW ((time_t) 1700000000)
static char sentinel[] = "sentinel";
#define SENTINEL sentinel

#define VALID_PREFIX "{\"device_code\":\"dc\",\"verification_uri\":\"https://idp.example.com/device\","
#define WITH_USER_CODE(uc) VALID_PREFIX "\"user_code\":" uc "}"
#define WITH_URI(uri) "{\"device_code\":\"dc\",\"user_code\":\"ABCD-EFGH\",\"verification_uri\":" uri "}"
#define WITH_NUMBERS(members) VALID_PREFIX "\"user_code\":\"ABCD-EFGH\"," members "}"

struct auth_case {
        const char *name;
        long status;
        const char *body;     /* inline, or NULL for file */
        const char *file;
        enum oauth_result result;
        const char *user_code;
        const char *uri;
        const char *uri_complete;
        unsigned interval;
        unsigned expires_in;
};

static const struct auth_case cases[] = {
        /* provider shapes */
        { "entra", 200, NULL, "device-entra.json", OAUTH_OK, "FN8WDYXQ2", "https://microsoft.com/devicelogin", NULL, 5, 900 },
        { "okta", 200, NULL, "device-okta.json", OAUTH_OK, "MHQBZGKS", "https://example.okta.com/activate",
          "https://example.okta.com/activate?user_code=MHQBZGKS", 5, 600 },
        { "google verification_url", 200, NULL, "device-google.json", OAUTH_OK, "GQVQ-JKEC", "https://www.google.com/device", NULL, 5, 1800 },
        { "keycloak", 200, NULL, "device-keycloak.json", OAUTH_OK, "WDJB-MJHT", "https://sso.example.com/realms/corp/device",
          "https://sso.example.com/realms/corp/device?user_code=WDJB-MJHT", 5, 600 },
        { "verification_uri wins over verification_url", 200,
          "{\"device_code\":\"dc\",\"user_code\":\"U\",\"verification_uri\":\"https://a.example/d\",\"verification_url\":\"https://b.example/d\"}",
          NULL, OAUTH_OK, "U", "https://a.example/d", NULL, 5, 600 },
        { "complete uri null", 200,
          "{\"device_code\":\"dc\",\"user_code\":\"U\",\"verification_uri\":\"https://a.example/d\",\"verification_uri_complete\":null}",
          NULL, OAUTH_OK, "U", "https://a.example/d", NULL, 5, 600 },

        /* missing or mistyped required members */
        { "no device_code", 200, "{\"user_code\":\"U\",\"verification_uri\":\"https://a.example/d\"}", NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "empty device_code", 200, "{\"device_code\":\"\",\"user_code\":\"U\",\"verification_uri\":\"https://a.example/d\"}", NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "numeric device_code", 200, "{\"device_code\":7,\"user_code\":\"U\",\"verification_uri\":\"https://a.example/d\"}", NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "no user_code", 200, "{\"device_code\":\"dc\",\"verification_uri\":\"https://a.example/d\"}", NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "null user_code", 200, WITH_USER_CODE("null"), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "no verification uri", 200, "{\"device_code\":\"dc\",\"user_code\":\"U\"}", NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "not an object", 200, "[\"device_code\"]", NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "not json", 200, "device_code=dc&user_code=U", NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "empty body", 200, "", NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "duplicate user_code", 200, VALID_PREFIX "\"user_code\":\"A\",\"user_code\":\"B\"}", NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "a token answer", 200, "{\"token_type\":\"Bearer\",\"id_token\":\"x.y.z\"}", NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },

        /* text that must never reach a terminal */
        { "escape sequence", 200, WITH_USER_CODE("\"\\u001b[2J\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "carriage return", 200, WITH_USER_CODE("\"ABCD\\rEFGH\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "newline", 200, WITH_USER_CODE("\"ABCD\\nEFGH\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "nul", 200, WITH_USER_CODE("\"AB\\u0000CD\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "unicode escape", 200, WITH_USER_CODE("\"ABC\\u00e9\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "raw utf-8", 200, WITH_USER_CODE("\"ABC\xc3\xa9\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "right-to-left override", 200, WITH_USER_CODE("\"AB\\u202eCD\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "DEL", 200, WITH_USER_CODE("\"AB\\u007fCD\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "space", 200, WITH_USER_CODE("\"ABCD EFGH\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "tab", 200, WITH_USER_CODE("\"ABCD\\tEFGH\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "empty user_code", 200, WITH_USER_CODE("\"\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "numeric user_code", 200, WITH_USER_CODE("12345678"), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "user_code of 64", 200, WITH_USER_CODE("\"0123456789012345678901234567890123456789012345678901234567890123\""),
          NULL, OAUTH_OK, "0123456789012345678901234567890123456789012345678901234567890123",
          "https://idp.example.com/device", NULL, 5, 600 },
        { "user_code of 65", 200, WITH_USER_CODE("\"01234567890123456789012345678901234567890123456789012345678901234\""),
          NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "printable punctuation", 200, WITH_USER_CODE("\"!~#-_\""), NULL, OAUTH_OK, "!~#-_", "https://idp.example.com/device", NULL, 5, 600 },
        { "http uri", 200, WITH_URI("\"http://idp.example.com/device\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "javascript uri", 200, WITH_URI("\"javascript:alert(1)\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "bare scheme", 200, WITH_URI("\"https://\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "no host", 200, WITH_URI("\"https:///device\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "upper-case scheme", 200, WITH_URI("\"HTTPS://idp.example.com/\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "uri with space", 200, WITH_URI("\"https://idp.example.com/ device\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "uri with escape", 200, WITH_URI("\"https://idp.example.com/\\u001b]8;;\""), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "uri not a string", 200, WITH_URI("{}"), NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "http verification_url", 200, "{\"device_code\":\"dc\",\"user_code\":\"U\",\"verification_url\":\"http://a.example/d\"}", NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "http complete uri", 200, VALID_PREFIX "\"user_code\":\"U\",\"verification_uri_complete\":\"http://a.example/d?c=U\"}", NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },
        { "complete uri with newline", 200, VALID_PREFIX "\"user_code\":\"U\",\"verification_uri_complete\":\"https://a.example/d\\n\"}", NULL, OAUTH_PROTOCOL_ERROR, NULL, NULL, NULL, 0, 0 },

        /* absurd numbers are clamped */
        { "interval 0", 200, WITH_NUMBERS("\"interval\":0"), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 1, 600 },
        { "interval 100000", 200, WITH_NUMBERS("\"interval\":100000"), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 60, 600 },
        { "interval -5", 200, WITH_NUMBERS("\"interval\":-5"), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 1, 600 },
        { "interval 1e30", 200, WITH_NUMBERS("\"interval\":1e30"), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 60, 600 },
        { "interval -1e30", 200, WITH_NUMBERS("\"interval\":-1e30"), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 1, 600 },
        { "interval 2.7", 200, WITH_NUMBERS("\"interval\":2.7"), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 2, 600 },
        { "interval huge integer", 200, WITH_NUMBERS("\"interval\":9223372036854775807"), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 60, 600 },
        { "interval \"5\"", 200, WITH_NUMBERS("\"interval\":\"5\""), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 5, 600 },
        { "interval \"10\"", 200, WITH_NUMBERS("\"interval\":\"10\""), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 10, 600 },
        { "interval \"-3\"", 200, WITH_NUMBERS("\"interval\":\"-3\""), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 5, 600 },
        { "interval \"fast\"", 200, WITH_NUMBERS("\"interval\":\"fast\""), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 5, 600 },
        { "interval \"99999999999\"", 200, WITH_NUMBERS("\"interval\":\"99999999999\""), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 5, 600 },
        { "interval true", 200, WITH_NUMBERS("\"interval\":true"), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 5, 600 },
        { "interval null", 200, WITH_NUMBERS("\"interval\":null"), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 5, 600 },
        { "interval 60", 200, WITH_NUMBERS("\"interval\":60"), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 60, 600 },
        { "expires_in 0", 200, WITH_NUMBERS("\"expires_in\":0"), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 5, 30 },
        { "expires_in -1", 200, WITH_NUMBERS("\"expires_in\":-1"), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 5, 30 },
        { "expires_in 100000", 200, WITH_NUMBERS("\"expires_in\":100000"), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 5, 1800 },
        { "expires_in 1e30", 200, WITH_NUMBERS("\"expires_in\":1e30"), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 5, 1800 },
        { "expires_in \"900\"", 200, WITH_NUMBERS("\"expires_in\":\"900\""), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 5, 900 },
        { "expires_in []", 200, WITH_NUMBERS("\"expires_in\":[]"), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 5, 600 },
        { "both absurd", 200, WITH_NUMBERS("\"interval\":100000,\"expires_in\":5"), NULL, OAUTH_OK, "ABCD-EFGH", "https://idp.example.com/device", NULL, 60, 30 },

        /* error answers map like token errors */
        { "invalid_client", 401, "{\"error\":\"invalid_client\"}", NULL, OAUTH_CLIENT_ERROR, NULL, NULL, NULL, 0, 0 },
        { "unauthorized_client", 400, "{\"error\":\"unauthorized_client\",\"error_description\":\"access_denied\"}", NULL, OAUTH_CLIENT_ERROR, NULL, NULL, NULL, 0, 0 },
        { "invalid_scope", 400, "{\"error\":\"invalid_scope\"}", NULL, OAUTH_INVALID_SCOPE, NULL, NULL, NULL, 0, 0 },
        { "entra public client flows off", 400, "{\"error\":\"invalid_client\",\"error_codes\":[7000218]}", NULL, OAUTH_CLIENT_ERROR, NULL, NULL, NULL, 0, 0 },
        { "entra app not in tenant", 400, "{\"error\":\"unauthorized_client\",\"error_codes\":[700016]}", NULL, OAUTH_CLIENT_ERROR, NULL, NULL, NULL, 0, 0 },
        { "error with status 200", 200, "{\"error\":\"invalid_scope\"}", NULL, OAUTH_INVALID_SCOPE, NULL, NULL, NULL, 0, 0 },
        { "error and device members", 200, "{\"error\":\"access_denied\",\"device_code\":\"dc\",\"user_code\":\"U\",\"verification_uri\":\"https://a.example/d\"}",
          NULL, OAUTH_ACCESS_DENIED, NULL, NULL, NULL, 0, 0 },
        { "unknown error", 400, "{\"error\":\"something_new\"}", NULL, OAUTH_REJECTED, NULL, NULL, NULL, 0, 0 },
        { "400 without error", 400, "{}", NULL, OAUTH_REJECTED, NULL, NULL, NULL, 0, 0 },
        { "400 html", 400, "<html>bad</html>", NULL, OAUTH_REJECTED, NULL, NULL, NULL, 0, 0 },
        { "404 with a device answer", 404, WITH_NUMBERS("\"interval\":5"), NULL, OAUTH_REJECTED, NULL, NULL, NULL, 0, 0 },
        { "503", 503, "", NULL, OAUTH_UNREACHABLE, NULL, NULL, NULL, 0, 0 },
        { "500 html", 500, "<html>oops</html>", NULL, OAUTH_UNREACHABLE, NULL, NULL, NULL, 0, 0 },
};

static void test_table(void) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const struct auth_case *c = &cases[i];
                struct device_authorization a = { .device_code = SENTINEL, .user_code = SENTINEL };
                enum oauth_result res = _OAUTH_RESULT_MAX;
                char *file = NULL;
                const char *body = c->body;
                size_t len;

                if (c->file)
                        body = file = tests_read_data(c->file, &len);
                else
                        len = strlen(body);

                fprintf(stderr, "  case %s\n", c->name);
                CHECK_INT(device_parse_authorization(c->status, body, len, NOW, &a, &res), 0);
                CHECK_INT(res, c->result);
                if (c->result == OAUTH_OK) {
                        CHECK(a.device_code && a.device_code != SENTINEL && a.device_code[0]);
                        CHECK_STR(a.user_code, c->user_code);
                        CHECK_STR(a.verification_uri, c->uri);
                        if (c->uri_complete)
                                CHECK_STR(a.verification_uri_complete, c->uri_complete);
                        else
                                CHECK(a.verification_uri_complete == NULL);
                        CHECK_INT(a.interval, c->interval);
                        CHECK_INT(a.expires_in, c->expires_in);
                        CHECK_INT(a.expires_at, NOW + (time_t) c->expires_in);
                        device_authorization_done(&a);
                        CHECK(a.device_code == NULL && a.user_code == NULL);
                } else {
                        /* untouched on failure */
                        CHECK(a.device_code == SENTINEL && a.user_code == SENTINEL);
                        CHECK(a.verification_uri == NULL && a.interval == 0 && a.expires_at == 0);
                }
                free(file);
        }
}

static void test_long_uris(void) {
        char body[3000], uri[2100];
        struct device_authorization a = {0};
        enum oauth_result res;

        /* exactly 2048 bytes is allowed, 2049 is not */
        strcpy(uri, "https://idp.example.com/");
        memset(uri + strlen(uri), 'a', 2048 - strlen(uri));
        uri[2048] = 0;
        snprintf(body, sizeof(body), "{\"device_code\":\"dc\",\"user_code\":\"U\",\"verification_uri\":\"%s\"}", uri);
        CHECK_INT(device_parse_authorization(200, body, strlen(body), NOW, &a, &res), 0);
        CHECK_INT(res, OAUTH_OK);
        CHECK_STR(a.verification_uri, uri);
        device_authorization_done(&a);

        strcat(uri, "a");
        snprintf(body, sizeof(body), "{\"device_code\":\"dc\",\"user_code\":\"U\",\"verification_uri\":\"%s\"}", uri);
        CHECK_INT(device_parse_authorization(200, body, strlen(body), NOW, &a, &res), 0);
        CHECK_INT(res, OAUTH_PROTOCOL_ERROR);
        snprintf(body, sizeof(body),
                 "{\"device_code\":\"dc\",\"user_code\":\"U\",\"verification_uri\":\"https://a.example/\","
                 "\"verification_uri_complete\":\"%s\"}", uri);
        CHECK_INT(device_parse_authorization(200, body, strlen(body), NOW, &a, &res), 0);
        CHECK_INT(res, OAUTH_PROTOCOL_ERROR);
        CHECK(a.verification_uri == NULL);

        CHECK_INT(device_parse_authorization(200, "{}", 2, NOW, NULL, &res), -EINVAL);
        CHECK_INT(device_parse_authorization(200, "{}", 2, NOW, &a, NULL), -EINVAL);
        res = OAUTH_OK;
        CHECK_INT(device_parse_authorization(200, NULL, 0, NOW, &a, &res), 0);
        CHECK_INT(res, OAUTH_PROTOCOL_ERROR);
}

static void test_poll_response(void) {
        static const struct {
                long status;
                const char *body;
                enum oauth_result result;
        } polls[] = {
                { 400, "{\"error\":\"authorization_pending\"}", OAUTH_AUTHORIZATION_PENDING },
                { 400, "{\"error\":\"slow_down\"}", OAUTH_SLOW_DOWN },
                { 400, "{\"error\":\"access_denied\"}", OAUTH_ACCESS_DENIED },
                { 400, "{\"error\":\"authorization_declined\",\"error_codes\":[70000]}", OAUTH_ACCESS_DENIED },
                { 400, "{\"error\":\"expired_token\",\"error_codes\":[70020]}", OAUTH_EXPIRED_TOKEN },
                { 400, "{\"error\":\"bad_verification_code\"}", OAUTH_REJECTED },
                /* a used or unknown device code: no password is involved */
                { 400, "{\"error\":\"invalid_grant\"}", OAUTH_REJECTED },
                { 400, "{\"error\":\"invalid_grant\",\"error_codes\":[50126]}", OAUTH_REJECTED },
                { 400, "{\"error\":\"invalid_grant\",\"error_codes\":[53003]}", OAUTH_CONDITIONAL_ACCESS },
                { 400, "{\"error\":\"invalid_client\"}", OAUTH_CLIENT_ERROR },
                { 503, "", OAUTH_UNREACHABLE },
                { 200, "{\"token_type\":\"Bearer\"}", OAUTH_PROTOCOL_ERROR },
                { 200, "{\"token_type\":\"Bearer\",\"id_token\":\"h.p.s\",\"access_token\":\"at\"}", OAUTH_OK },
        };

        for (size_t i = 0; i < ELEMENTSOF(polls); i++) {
                struct oauth_tokens t = {0};
                enum oauth_result res = _OAUTH_RESULT_MAX;

                CHECK_INT(device_parse_poll_response(polls[i].status, polls[i].body, strlen(polls[i].body), &t, &res), 0);
                CHECK_INT(res, polls[i].result);
                if (res == OAUTH_OK)
                        CHECK_STR(t.id_token, "h.p.s");
                else
                        CHECK(t.id_token == NULL);
                oauth_tokens_done(&t);
        }
}

/* ---- the polling loop, against a scripted provider and a fake clock ---- */

static time_t fake_now;

static time_t fake_clock(void) {
        return fake_now;
}

/* A step: a token endpoint answer, or a transport failure. */
struct step {
        long status;
        const char *body;
        enum oauth_result transport; /* non-OK: no answer, this result instead */
};

#define PENDING { 400, "{\"error\":\"authorization_pending\"}", OAUTH_OK }
#define SLOW_DOWN { 400, "{\"error\":\"slow_down\"}", OAUTH_OK }
#define TOKENS { 200, "{\"token_type\":\"Bearer\",\"id_token\":\"h.p.s\"}", OAUTH_OK }
#define UNREACHABLE { 0, NULL, OAUTH_UNREACHABLE }
#define ERROR_BODY(e) { 400, "{\"error\":\"" e "\"}", OAUTH_OK }

struct script {
        const struct step *steps;
        size_t n_steps;
        size_t next;
        unsigned slept[64]; /* seconds */
        size_t n_slept;
        time_t poll_times[64];
        int cancel_at_sleep; /* 1-based; 0: never */
        int fail_errno;      /* the poll itself fails with this */
};

static int fake_sleep(void *userdata, unsigned ms) {
        struct script *s = userdata;

        CHECK_INT(ms % 1000, 0);
        if (s->cancel_at_sleep && (int) s->n_slept + 1 == s->cancel_at_sleep)
                return -1;
        if (s->n_slept < ELEMENTSOF(s->slept))
                s->slept[s->n_slept++] = ms / 1000;
        fake_now += ms / 1000;
        return 0;
}

static int fake_poll(void *userdata, struct provider *p, const struct device_authorization *a,
                     const struct pkce *pkce, struct oauth_tokens *ret, enum oauth_result *ret_result) {
        struct script *s = userdata;
        const struct step *st;

        CHECK(fake_now < a->expires_at);
        if (s->fail_errno)
                return -s->fail_errno;
        /* more polls than scripted: the provider keeps answering pending */
        static const struct step pending = PENDING;
        st = s->next < s->n_steps ? &s->steps[s->next] : &pending;
        if (s->next < ELEMENTSOF(s->poll_times))
                s->poll_times[s->next] = fake_now;
        s->next++;
        if (st->transport != OAUTH_OK) {
                *ret_result = st->transport;
                return 0;
        }
        return device_parse_poll_response(st->status, st->body, strlen(st->body), ret, ret_result);
}

struct run {
        int r;
        enum oauth_result result;
        unsigned polls;
        struct oauth_tokens tokens;
        time_t ended;
};

static struct run run_script(struct script *s, unsigned interval, unsigned expires_in) {
        struct cloudauth_config c = { .issuer = (char *) "https://idp.example.com", .client_id = (char *) "cid" };
        struct device_authorization a = { .device_code = (char *) "dc", .user_code = (char *) "U",
                                          .verification_uri = (char *) "https://idp.example.com/device",
                                          .interval = interval, .expires_in = expires_in };
        struct device_wait w = { .sleep_ms = fake_sleep, .userdata = s, .poll = fake_poll };
        struct run out = { .result = _OAUTH_RESULT_MAX, .polls = 999 };
        struct provider p;

        fake_now = NOW;
        a.expires_at = NOW + (time_t) expires_in;
        CHECK_INT(provider_init(&p, &c, NULL), 0);
        p.clock = fake_clock;
        out.r = device_wait_for_tokens(&p, &a, NULL, &w, &out.tokens, &out.result, &out.polls);
        out.ended = fake_now;
        provider_done(&p);
        return out;
}

#define SCRIPT(...)                                                              \
        static const struct step _steps[] = { __VA_ARGS__ };                     \
        struct script s = { .steps = _steps, .n_steps = ELEMENTSOF(_steps) }

static void check_slept(const struct script *s, const unsigned *want, size_t n) {
        CHECK_INT(s->n_slept, n);
        for (size_t i = 0; i < n && i < s->n_slept; i++)
                CHECK_INT(s->slept[i], want[i]);
}

static void test_wait_slow_down(void) {
        SCRIPT(PENDING, PENDING, SLOW_DOWN, PENDING, TOKENS);
        static const unsigned want[] = { 5, 5, 5, 10, 10 };
        struct run r = run_script(&s, 5, 900);

        CHECK_INT(r.r, 0);
        CHECK_INT(r.result, OAUTH_OK);
        CHECK_INT(r.polls, 5);
        CHECK_STR(r.tokens.id_token, "h.p.s");
        check_slept(&s, want, ELEMENTSOF(want));
        CHECK_INT(s.poll_times[0], NOW + 5);
        CHECK_INT(s.poll_times[4], NOW + 35);
        oauth_tokens_done(&r.tokens);
}

static void test_wait_slow_down_twice(void) {
        SCRIPT(SLOW_DOWN, SLOW_DOWN, PENDING, TOKENS);
        static const unsigned want[] = { 2, 7, 12, 12 };
        struct run r = run_script(&s, 2, 900);

        CHECK_INT(r.result, OAUTH_OK);
        CHECK_INT(r.polls, 4);
        check_slept(&s, want, ELEMENTSOF(want));
        oauth_tokens_done(&r.tokens);
}

static void test_wait_expiry(void) {
        /* interval 5, 30 s: polls at 5..25; the next would be at 30, when the code is gone */
        {
                struct script s = {0};
                static const unsigned want[] = { 5, 5, 5, 5, 5, 5 };
                struct run r = run_script(&s, 5, 30);

                CHECK_INT(r.r, 0);
                CHECK_INT(r.result, OAUTH_EXPIRED_TOKEN);
                CHECK_INT(r.polls, 5);
                CHECK_INT(r.ended, NOW + 30);
                CHECK_INT(s.poll_times[4], NOW + 25);
                check_slept(&s, want, ELEMENTSOF(want));
                CHECK(r.tokens.id_token == NULL);
        }
        /* interval 7: polls at 7, 14, 21, 28, then 2 s more to the expiry */
        {
                struct script s = {0};
                static const unsigned want[] = { 7, 7, 7, 7, 2 };
                struct run r = run_script(&s, 7, 30);

                CHECK_INT(r.result, OAUTH_EXPIRED_TOKEN);
                CHECK_INT(r.polls, 4);
                CHECK_INT(r.ended, NOW + 30);
                check_slept(&s, want, ELEMENTSOF(want));
        }
        /* an interval as long as the lifetime: no poll at all */
        {
                struct script s = {0};
                struct run r = run_script(&s, 60, 60);

                CHECK_INT(r.result, OAUTH_EXPIRED_TOKEN);
                CHECK_INT(r.polls, 0);
                CHECK_INT(r.ended, NOW + 60);
        }
        /* slow_down pushes the next poll past the expiry */
        {
                SCRIPT(PENDING, PENDING, PENDING, SLOW_DOWN);
                static const unsigned want[] = { 6, 6, 6, 6, 6 };
                struct run r = run_script(&s, 6, 30);

                CHECK_INT(r.result, OAUTH_EXPIRED_TOKEN);
                CHECK_INT(r.polls, 4);
                CHECK_INT(r.ended, NOW + 30);
                check_slept(&s, want, ELEMENTSOF(want));
        }
        /* the provider says so first */
        {
                SCRIPT(PENDING, ERROR_BODY("expired_token"));
                struct run r = run_script(&s, 5, 900);

                CHECK_INT(r.result, OAUTH_EXPIRED_TOKEN);
                CHECK_INT(r.polls, 2);
                CHECK_INT(r.ended, NOW + 10);
        }
}

static void test_wait_final_errors(void) {
        static const struct {
                const char *error;
                enum oauth_result result;
        } finals[] = {
                { "access_denied", OAUTH_ACCESS_DENIED },
                { "authorization_declined", OAUTH_ACCESS_DENIED },
                { "expired_token", OAUTH_EXPIRED_TOKEN },
                { "bad_verification_code", OAUTH_REJECTED },
                { "invalid_grant", OAUTH_REJECTED },
                { "invalid_client", OAUTH_CLIENT_ERROR },
                { "unsupported_grant_type", OAUTH_UNSUPPORTED_GRANT },
        };

        for (size_t i = 0; i < ELEMENTSOF(finals); i++) {
                char body[128];
                struct step steps[3] = { PENDING, { 400, body, OAUTH_OK }, TOKENS };
                struct script s = { .steps = steps, .n_steps = ELEMENTSOF(steps) };
                struct run r;

                snprintf(body, sizeof(body), "{\"error\":\"%s\"}", finals[i].error);
                r = run_script(&s, 5, 900);
                CHECK_INT(r.r, 0);
                CHECK_INT(r.result, finals[i].result);
                CHECK_INT(r.polls, 2);
                CHECK_INT(s.next, 2);
                CHECK(r.tokens.id_token == NULL);
        }
        /* a broken answer stops too, as does a TLS failure */
        {
                SCRIPT(PENDING, { 200, "{}", OAUTH_OK }, TOKENS);
                struct run r = run_script(&s, 5, 900);
                CHECK_INT(r.result, OAUTH_PROTOCOL_ERROR);
                CHECK_INT(r.polls, 2);
        }
        {
                SCRIPT({ 0, NULL, OAUTH_TLS_ERROR }, TOKENS);
                struct run r = run_script(&s, 5, 900);
                CHECK_INT(r.result, OAUTH_TLS_ERROR);
                CHECK_INT(r.polls, 1);
        }
}

static void test_wait_transport(void) {
        /* two retries, after 2 and 4 intervals, then it is final */
        {
                SCRIPT(PENDING, UNREACHABLE, UNREACHABLE, UNREACHABLE, TOKENS);
                static const unsigned want[] = { 5, 5, 10, 20 };
                struct run r = run_script(&s, 5, 900);

                CHECK_INT(r.r, 0);
                CHECK_INT(r.result, OAUTH_UNREACHABLE);
                CHECK_INT(r.polls, 4);
                CHECK_INT(r.ended, NOW + 40);
                check_slept(&s, want, ELEMENTSOF(want));
        }
        /* a 5xx counts the same */
        {
                SCRIPT({ 503, "", OAUTH_OK }, { 502, "<html/>", OAUTH_OK }, { 500, "", OAUTH_OK }, TOKENS);
                struct run r = run_script(&s, 5, 900);
                CHECK_INT(r.result, OAUTH_UNREACHABLE);
                CHECK_INT(r.polls, 3);
        }
        /* recovered: an answer resets the count */
        {
                SCRIPT(UNREACHABLE, PENDING, UNREACHABLE, UNREACHABLE, TOKENS);
                static const unsigned want[] = { 5, 10, 5, 10, 20 };
                struct run r = run_script(&s, 5, 900);

                CHECK_INT(r.result, OAUTH_OK);
                CHECK_INT(r.polls, 5);
                check_slept(&s, want, ELEMENTSOF(want));
                oauth_tokens_done(&r.tokens);
        }
        /* the backoff would end past the expiry: give up at once */
        {
                SCRIPT(PENDING, PENDING, PENDING, PENDING, UNREACHABLE, TOKENS);
                struct run r = run_script(&s, 5, 30);

                CHECK_INT(r.result, OAUTH_UNREACHABLE);
                CHECK_INT(r.polls, 5);
                CHECK_INT(r.ended, NOW + 25);
        }
}

static void test_wait_cancel(void) {
        struct script s = { .cancel_at_sleep = 3 };
        struct run r = run_script(&s, 5, 900);

        CHECK_INT(r.r, -ECANCELED);
        CHECK_INT(r.polls, 999);
        CHECK_INT(r.result, _OAUTH_RESULT_MAX);
        CHECK_INT(s.next, 2);

        struct script f = { .fail_errno = ENOMEM };
        r = run_script(&f, 5, 900);
        CHECK_INT(r.r, -ENOMEM);
        CHECK_INT(r.result, _OAUTH_RESULT_MAX);
}

/* ---- the real requests, without a provider ---- */

static struct oidc_metadata *metadata_for(const char *token, const char *device, bool pkce_s256) {
        struct oidc_metadata *m = calloc(1, sizeof(*m));

        CHECK(m != NULL);
        m->issuer = strdup("https://idp.example.com");
        m->token_endpoint = strdup(token);
        m->jwks_uri = strdup("https://idp.example.com/keys");
        m->device_authorization_endpoint = device ? strdup(device) : NULL;
        m->pkce_s256 = pkce_s256;
        return m;
}

static void test_wants_pkce(void) {
        static const struct {
                int config;
                int advertised; /* -1: no metadata */
                bool want;
        } t[] = {
                { 1, 0, true }, { 1, 1, true }, { 1, -1, true },
                { 0, 0, false }, { 0, 1, false }, { 0, -1, false },
                { -1, 0, false }, { -1, 1, true }, { -1, -1, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                struct cloudauth_config c = { .issuer = (char *) "https://idp.example.com", .client_id = (char *) "cid",
                                              .pkce = t[i].config };
                struct provider p;

                CHECK_INT(provider_init(&p, &c, NULL), 0);
                if (t[i].advertised >= 0)
                        p.metadata = metadata_for("https://idp.example.com/token", NULL, t[i].advertised);
                CHECK_INT(device_wants_pkce(&p), t[i].want);
                provider_done(&p);
        }
        CHECK(!device_wants_pkce(NULL));
}

static void test_unreachable(void) {
        struct cloudauth_config c = { .issuer = (char *) "https://idp.example.com", .client_id = (char *) "cid",
                                      .scopes = (char *) "openid", .timeout = 2, .pkce = -1 };
        struct device_authorization a = { .device_code = SENTINEL };
        struct oauth_tokens t = {0};
        enum oauth_result res = OAUTH_OK;
        struct pkce pk;
        struct provider p;

        CHECK_INT(pkce_generate(&pk), 0);

        /* no device endpoint in discovery: nothing is sent */
        CHECK_INT(provider_init(&p, &c, NULL), 0);
        p.metadata = metadata_for("https://127.0.0.1:1/token", NULL, true);
        CHECK_INT(device_start(&p, &pk, &a, &res), 0);
        CHECK_INT(res, OAUTH_UNSUPPORTED_GRANT);
        CHECK_INT(p.n_requests, 0);
        CHECK(a.device_code == SENTINEL);
        provider_done(&p);

        /* nothing listens on port 1 */
        CHECK_INT(provider_init(&p, &c, NULL), 0);
        p.metadata = metadata_for("https://127.0.0.1:1/token", "https://127.0.0.1:1/device", true);
        res = OAUTH_OK;
        CHECK_INT(device_start(&p, &pk, &a, &res), 0);
        CHECK_INT(res, OAUTH_UNREACHABLE);
        CHECK_INT(p.n_requests, 1);
        CHECK(a.device_code == SENTINEL);

        /* the real poll through the loop: the first try and two retries */
        {
                struct device_authorization live = { .device_code = (char *) "dc", .interval = 5 };
                struct script s = {0};
                struct device_wait w = { .sleep_ms = fake_sleep, .userdata = &s };
                unsigned polls = 0;
                static const unsigned want[] = { 5, 10, 20 };

                fake_now = NOW;
                p.clock = fake_clock;
                live.expires_at = NOW + 600;
                res = OAUTH_OK;
                CHECK_INT(device_wait_for_tokens(&p, &live, &pk, &w, &t, &res, &polls), 0);
                CHECK_INT(res, OAUTH_UNREACHABLE);
                CHECK_INT(polls, 3);
                CHECK_INT(p.n_requests, 4);
                check_slept(&s, want, ELEMENTSOF(want));
                CHECK(t.id_token == NULL);
        }
        provider_done(&p);

        /* plain http is never contacted */
        CHECK_INT(provider_init(&p, &c, NULL), 0);
        p.metadata = metadata_for("http://127.0.0.1:1/token", "http://127.0.0.1:1/device", false);
        CHECK_INT(device_start(&p, NULL, &a, &res), 0);
        CHECK_INT(res, OAUTH_PROTOCOL_ERROR);
        CHECK(a.device_code == SENTINEL);
        provider_done(&p);

        CHECK_INT(device_start(NULL, NULL, &a, &res), -EINVAL);
        CHECK_INT(device_poll(NULL, &a, NULL, &t, &res), -EINVAL);
        CHECK_INT(device_wait_for_tokens(NULL, &a, NULL, NULL, &t, &res, NULL), -EINVAL);
        pkce_done(&pk);
}

int main(void) {
        RUN(test_table);
        RUN(test_long_uris);
        RUN(test_poll_response);
        RUN(test_wait_slow_down);
        RUN(test_wait_slow_down_twice);
        RUN(test_wait_expiry);
        RUN(test_wait_final_errors);
        RUN(test_wait_transport);
        RUN(test_wait_cancel);
        RUN(test_wants_pkce);
        RUN(test_unreachable);
        return tests_exit();
}
