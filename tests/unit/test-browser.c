/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "browser.h"
#include "macro.h"
#include "tests.h"

#define ISSUER "https://idp.example.com"
#define STATE "s7ate-Value_0123456789abcdefghijklmnopqrstu"

static const char discovery[] =
        "{\"issuer\": \"" ISSUER "\", \"token_endpoint\": \"" ISSUER "/token\", \"jwks_uri\": \"" ISSUER "/jwks\","
        " \"authorization_endpoint\": \"%s\"}";

static struct cloudauth_config test_config = {
        .issuer = (char *) ISSUER,
        .client_id = (char *) "my client&co",
        .scopes = (char *) "openid profile offline_access",
};

/* A provider whose discovery came from the given authorization endpoint (NULL: none), without I/O. */
static void provider_fake(struct provider *p, const char *authorization_endpoint) {
        char doc[1024];

        CHECK_INT(provider_init(p, &test_config, NULL), 0);
        if (authorization_endpoint)
                snprintf(doc, sizeof(doc), discovery, authorization_endpoint);
        else
                snprintf(doc, sizeof(doc),
                         "{\"issuer\": \"" ISSUER "\", \"token_endpoint\": \"" ISSUER "/token\", \"jwks_uri\": \"" ISSUER
                         "/jwks\"}");
        CHECK_INT(oidc_metadata_parse(doc, strlen(doc), ISSUER, &p->metadata), 0);
}

/* The test's own form decoder, so the library's encoder is checked against something independent. */
static char *decode(const char *s, size_t n) {
        char *out = malloc(n + 1);
        size_t j = 0;

        for (size_t i = 0; i < n; i++) {
                if (s[i] == '%' && i + 2 < n + 1) {
                        char hex[3] = { s[i + 1], s[i + 2], 0 };
                        out[j++] = (char) strtol(hex, NULL, 16);
                        i += 2;
                } else
                        out[j++] = s[i] == '+' ? ' ' : s[i];
        }
        out[j] = 0;
        return out;
}

/* The decoded value of name in the query of url; NULL when absent. Fails the test when it appears twice. */
static char *query_param(const char *url, const char *name) {
        const char *q = strchr(url, '?');
        char *found = NULL;

        if (!q)
                return NULL;
        for (q++; *q;) {
                size_t n = strcspn(q, "&");
                const char *eq = memchr(q, '=', n);

                for (const char *c = q; c < q + n; c++)
                        /* Everything outside the unreserved set must have been escaped. */
                        CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%+=", *c));
                if (eq && (size_t) (eq - q) == strlen(name) && memcmp(q, name, strlen(name)) == 0) {
                        CHECK(!found);
                        free(found);
                        found = decode(eq + 1, n - (size_t) (eq - q) - 1);
                }
                q += n;
                if (*q == '&')
                        q++;
        }
        return found;
}

static void check_param(const char *url, const char *name, const char *want) {
        char *v = query_param(url, name);

        if (!v)
                fprintf(stderr, "parameter %s missing from %s\n", name, url);
        CHECK_STR(v, want);
        free(v);
}

static void test_authorization_url(void) {
        struct browser_login b;
        struct sockaddr_in sa;
        socklen_t len = sizeof(sa);
        struct provider p;
        char want_redirect[64], challenge[PKCE_CHALLENGE_LEN + 1];

        provider_fake(&p, ISSUER "/authorize");
        CHECK_INT(browser_login_start(&p, &b), 0);

        CHECK(strncmp(b.authorization_url, ISSUER "/authorize?", strlen(ISSUER "/authorize?")) == 0);
        snprintf(want_redirect, sizeof(want_redirect), "http://127.0.0.1:%u/callback", b.port);
        CHECK_STR(b.redirect_uri, want_redirect);
        check_param(b.authorization_url, "response_type", "code");
        check_param(b.authorization_url, "client_id", "my client&co");
        check_param(b.authorization_url, "redirect_uri", want_redirect);
        check_param(b.authorization_url, "scope", "openid profile offline_access");
        check_param(b.authorization_url, "state", b.state);
        check_param(b.authorization_url, "nonce", b.nonce);
        check_param(b.authorization_url, "code_challenge", b.pkce.challenge);
        check_param(b.authorization_url, "code_challenge_method", "S256");
        CHECK(!strstr(b.authorization_url, b.pkce.verifier));

        /* The challenge is the S256 of the verifier this login will send. */
        CHECK_INT(pkce_challenge_s256(b.pkce.verifier, challenge), 0);
        CHECK_STR(challenge, b.pkce.challenge);
        CHECK_INT(strlen(b.state), PKCE_VERIFIER_LEN);
        CHECK_INT(strlen(b.nonce), PKCE_VERIFIER_LEN);
        CHECK(strcmp(b.state, b.nonce) != 0);
        CHECK(strcmp(b.state, b.pkce.verifier) != 0);

        /* Bound to the loopback address only, on the port the URL names. */
        CHECK_INT(getsockname(b.fd, (struct sockaddr *) &sa, &len), 0);
        CHECK_INT(ntohl(sa.sin_addr.s_addr), INADDR_LOOPBACK);
        CHECK_INT(ntohs(sa.sin_port), b.port);
        CHECK(b.port > 0);
        browser_login_done(&b);
        CHECK_INT(b.fd, -1);
        provider_done(&p);

        /* Two logins never share state or nonce. */
        struct browser_login b1, b2;
        provider_fake(&p, ISSUER "/authorize");
        CHECK_INT(browser_login_start(&p, &b1), 0);
        CHECK_INT(browser_login_start(&p, &b2), 0);
        CHECK(strcmp(b1.state, b2.state) != 0);
        CHECK(strcmp(b1.nonce, b2.nonce) != 0);
        CHECK(b1.port != b2.port);
        browser_login_done(&b1);
        browser_login_done(&b2);
        provider_done(&p);
}

static void test_authorization_url_with_query(void) {
        struct browser_login b;
        struct provider p;

        provider_fake(&p, ISSUER "/authorize?p=b2c_1_signin");
        CHECK_INT(browser_login_start(&p, &b), 0);
        CHECK(strncmp(b.authorization_url, ISSUER "/authorize?p=b2c_1_signin&response_type=code&",
                      strlen(ISSUER "/authorize?p=b2c_1_signin&response_type=code&")) == 0);
        check_param(b.authorization_url, "p", "b2c_1_signin");
        browser_login_done(&b);
        provider_done(&p);
}

static void test_no_authorization_endpoint(void) {
        struct browser_login b = { .fd = 12345 };
        struct provider p;

        provider_fake(&p, NULL);
        CHECK_INT(browser_login_start(&p, &b), -EOPNOTSUPP);
        CHECK_INT(b.fd, 12345); /* untouched on failure */
        provider_done(&p);
}

struct parse_case {
        const char *request;
        int r;
        enum oauth_result result;
        const char *code;
};

static void test_parse_callback(void) {
        static const struct parse_case cases[] = {
                { "GET /callback?code=abc&state=" STATE " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 0, OAUTH_OK, "abc" },
                { "GET /callback?state=" STATE "&code=abc HTTP/1.0\n\n", 0, OAUTH_OK, "abc" },
                /* parameters we don't know are ignored; empty segments too */
                { "GET /callback?session_state=x%20y&&code=abc&state=" STATE "& HTTP/1.1\r\n\r\n", 0, OAUTH_OK, "abc" },
                /* percent-decoding: upper and lower case hex, the state itself escaped */
                { "GET /callback?code=a%2Fb%3d&state=s7ate%2DValue_0123456789abcdefghijklmnopqrstu HTTP/1.1\r\n\r\n",
                  0, OAUTH_OK, "a/b=" },
                { "GET /callback?code=a&state=" STATE "&iss=https%3A%2F%2Fidp.example.com HTTP/1.1\r\n\r\n", 0,
                  OAUTH_OK, "a" },
                /* not this login's answer: forgeries, stale tabs; never a verdict */
                { "GET /callback?code=abc&state=other HTTP/1.1\r\n\r\n", -EACCES, 0, NULL },
                { "GET /callback?code=abc&state=" STATE "x HTTP/1.1\r\n\r\n", -EACCES, 0, NULL },
                { "GET /callback?code=abc HTTP/1.1\r\n\r\n", -EACCES, 0, NULL },
                { "GET /callback HTTP/1.1\r\n\r\n", -EACCES, 0, NULL },
                { "GET /callback?error=access_denied&state=wrong HTTP/1.1\r\n\r\n", -EACCES, 0, NULL },
                { "GET /callback?code=a%zzb&state=wrong HTTP/1.1\r\n\r\n", -EACCES, 0, NULL },
                { "GET /callback?code=a&code=b&state=wrong HTTP/1.1\r\n\r\n", -EACCES, 0, NULL },
                { "GET /callback?code=a&state=" STATE "#frag HTTP/1.1\r\n\r\n", -EACCES, 0, NULL },
                { "GET /callback?code=a&state=%zz" STATE " HTTP/1.1\r\n\r\n", -EACCES, 0, NULL },
                /* this login's state but another issuer: a mix-up, which ends the login */
                { "GET /callback?code=a&state=" STATE "&iss=https%3A%2F%2Fevil.example HTTP/1.1\r\n\r\n", 0,
                  OAUTH_REJECTED, NULL },
                /* the provider's answers */
                { "GET /callback?error=access_denied&error_description=End-User+aborted&state=" STATE
                  " HTTP/1.1\r\n\r\n", 0, OAUTH_ACCESS_DENIED, NULL },
                { "GET /callback?error=invalid_scope&state=" STATE " HTTP/1.1\r\n\r\n", 0, OAUTH_INVALID_SCOPE, NULL },
                { "GET /callback?error=login_required&state=" STATE " HTTP/1.1\r\n\r\n", 0, OAUTH_REJECTED, NULL },
                { "GET /callback?error=access_denied&code=abc&state=" STATE " HTTP/1.1\r\n\r\n", 0,
                  OAUTH_ACCESS_DENIED, NULL },
                /* malformed */
                { "GET /callback?state=" STATE " HTTP/1.1\r\n\r\n", 0, OAUTH_PROTOCOL_ERROR, NULL },
                { "GET /callback?code=&state=" STATE " HTTP/1.1\r\n\r\n", 0, OAUTH_PROTOCOL_ERROR, NULL },
                { "GET /callback?code=a%zzb&state=" STATE " HTTP/1.1\r\n\r\n", 0, OAUTH_PROTOCOL_ERROR, NULL },
                { "GET /callback?state=" STATE "&code=ab%2 HTTP/1.1\r\n\r\n", 0, OAUTH_PROTOCOL_ERROR, NULL },
                { "GET /callback?state=" STATE "&code=ab% HTTP/1.1\r\n\r\n", 0, OAUTH_PROTOCOL_ERROR, NULL },
                { "GET /callback?code=a%00b&state=" STATE " HTTP/1.1\r\n\r\n", 0, OAUTH_PROTOCOL_ERROR, NULL },
                { "GET /callback?code=a+b&state=" STATE " HTTP/1.1\r\n\r\n", 0, OAUTH_PROTOCOL_ERROR, NULL },
                { "GET /callback?code=a%0Ab&state=" STATE " HTTP/1.1\r\n\r\n", 0, OAUTH_PROTOCOL_ERROR, NULL },
                { "GET /callback?code=%C3%A9&state=" STATE " HTTP/1.1\r\n\r\n", 0, OAUTH_PROTOCOL_ERROR, NULL },
                { "GET /callback?code=a&code=b&state=" STATE " HTTP/1.1\r\n\r\n", 0, OAUTH_PROTOCOL_ERROR, NULL },
                { "GET /callback?code=a&state=" STATE "&state=" STATE " HTTP/1.1\r\n\r\n", 0, OAUTH_PROTOCOL_ERROR,
                  NULL },
                { "GET /callback?code=a#frag&state=" STATE " HTTP/1.1\r\n\r\n", 0, OAUTH_PROTOCOL_ERROR, NULL },
                { "GET /callback?x%zz=1&code=a&state=" STATE " HTTP/1.1\r\n\r\n", 0, OAUTH_PROTOCOL_ERROR, NULL },
                /* not for us */
                { "GET /favicon.ico HTTP/1.1\r\n\r\n", -ENOENT, 0, NULL },
                { "GET /callbackx?code=a&state=" STATE " HTTP/1.1\r\n\r\n", -ENOENT, 0, NULL },
                { "GET /callback/x?code=a&state=" STATE " HTTP/1.1\r\n\r\n", -ENOENT, 0, NULL },
                { "POST /callback?code=a&state=" STATE " HTTP/1.1\r\n\r\n", -ENOENT, 0, NULL },
                { "get /callback?code=a&state=" STATE " HTTP/1.1\r\n\r\n", -ENOENT, 0, NULL },
                /* not HTTP */
                { "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n", -EBADMSG, 0, NULL },
                { "GET /callback?code=a&state=" STATE " HTTP/2.0\r\n\r\n", -EBADMSG, 0, NULL },
                { "GET /callback?code=a&state=" STATE "\r\n\r\n", -EBADMSG, 0, NULL },
                { "GET  /callback?code=a&state=" STATE " HTTP/1.1\r\n\r\n", -EBADMSG, 0, NULL },
                { "GET http://127.0.0.1/callback?code=a&state=" STATE " HTTP/1.1\r\n\r\n", -EBADMSG, 0, NULL },
                { "GET /callback?code=a\x7f&state=" STATE " HTTP/1.1\r\n\r\n", -EBADMSG, 0, NULL },
                { "GET /callback?code=a&state=" STATE " HTTP/1.1", -EBADMSG, 0, NULL },
                { "", -EBADMSG, 0, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const struct parse_case *t = &cases[i];
                enum oauth_result result = _OAUTH_RESULT_MAX;
                const char *reason = NULL;
                char *code = (char *) "untouched";
                unsigned before = tests_failed;
                int r;

                r = browser_parse_callback(t->request, strlen(t->request), STATE, ISSUER, &code, &result, &reason);
                CHECK_INT(r, t->r);
                if (r == 0) {
                        CHECK_INT(result, t->result);
                        CHECK(reason && *reason);
                }
                if (t->code) {
                        CHECK_STR(code, t->code);
                        if (code && strcmp(code, "untouched") != 0)
                                free(code);
                } else
                        CHECK_STR(code, "untouched");
                if (tests_failed != before)
                        fprintf(stderr, "  case %zu: %s\n", i, t->request);
        }
}

static void test_parse_reasons(void) {
        enum oauth_result result = _OAUTH_RESULT_MAX;
        const char *reason = NULL;
        char *code = NULL;
        static const char forged[] = "GET /callback?code=abc&state=other HTTP/1.1\r\n\r\n";
        static const char mixup[] = "GET /callback?code=a&state=" STATE "&iss=https%3A%2F%2Fevil.example HTTP/1.1\r\n\r\n";

        /* Not this login's: nothing is filled in. */
        CHECK_INT(browser_parse_callback(forged, strlen(forged), STATE, ISSUER, &code, &result, &reason), -EACCES);
        CHECK(!reason && !code);
        CHECK_INT(result, _OAUTH_RESULT_MAX);

        CHECK_INT(browser_parse_callback(mixup, strlen(mixup), STATE, ISSUER, &code, &result, &reason), 0);
        CHECK(reason && strstr(reason, "issuer"));
        CHECK(!code);
}

/* ---- over the loopback socket ------------------------------------------ */

static int client_send(unsigned port, const char *data, size_t len) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct timeval tv = { .tv_sec = 5 };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        CHECK(fd >= 0);
        CHECK_INT(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        CHECK_INT(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
        if (len > 0)
                CHECK_INT(write(fd, data, len), (ssize_t) len);
        return fd;
}

/* Everything the listener answered, then the connection is closed. */
static char *client_response(int fd) {
        static char buf[4096];
        size_t n = 0;
        ssize_t k;

        while (n + 1 < sizeof(buf) && (k = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
                n += (size_t) k;
        buf[n] = 0;
        close(fd);
        return buf;
}

static int login_fake(struct provider *p, struct browser_login *b) {
        provider_fake(p, ISSUER "/authorize");
        return browser_login_start(p, b);
}

static char *callback_request(const struct browser_login *b, const char *params) {
        static char req[1024];

        snprintf(req, sizeof(req), "GET /callback?%s&state=%s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", params,
                 b->state, b->port);
        return req;
}

static void test_wait_ignores_noise(void) {
        struct browser_login b;
        struct provider p;
        enum oauth_result result = _OAUTH_RESULT_MAX;
        char *code = NULL, *resp, big[BROWSER_REQUEST_MAX + 800];
        int junk, favicon, oversized, silent, good;
        const char *req;

        CHECK_INT(login_fake(&p, &b), 0);
        b.read_timeout_ms = 300;

        junk = client_send(b.port, "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\n\n", 13);
        favicon = client_send(b.port, "GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n", 38);
        memset(big, 'A', sizeof(big));
        memcpy(big, "GET /callback?code=", 19);
        oversized = client_send(b.port, big, sizeof(big));
        silent = client_send(b.port, "GET /callback?co", 16);
        req = callback_request(&b, "code=the-code");
        good = client_send(b.port, req, strlen(req));

        CHECK_INT(browser_login_wait(&b, 10, &code, &result), 0);
        CHECK_INT(result, OAUTH_OK);
        CHECK_STR(code, "the-code");
        free(code);

        resp = client_response(junk);
        CHECK(strncmp(resp, "HTTP/1.1 400 ", 13) == 0);
        resp = client_response(favicon);
        CHECK(strncmp(resp, "HTTP/1.1 404 ", 13) == 0);
        resp = client_response(oversized);
        CHECK(strncmp(resp, "HTTP/1.1 431 ", 13) == 0);
        resp = client_response(silent);
        CHECK_STR(resp, ""); /* dropped after its read timeout */
        resp = client_response(good);
        CHECK(strncmp(resp, "HTTP/1.1 200 ", 13) == 0);
        CHECK(strstr(resp, "You can close this window"));
        CHECK(strstr(resp, "Content-Type: text/html"));
        CHECK(strstr(resp, "Cache-Control: no-store"));
        CHECK(!strstr(resp, "the-code"));

        browser_login_done(&b);
        provider_done(&p);
}

static long elapsed_ms(const struct timespec *t0) {
        struct timespec t1;

        clock_gettime(CLOCK_MONOTONIC, &t1);
        return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Answers that are not this login's are refused and the wait goes on, until the real one. */
static void test_wait_refuses_forgery(void) {
        struct browser_login b;
        struct provider p;
        enum oauth_result result = _OAUTH_RESULT_MAX;
        char *code = NULL, *resp;
        static const char forged[] = "GET /callback?code=stolen&state=guess HTTP/1.1\r\n\r\n";
        static const char denied[] = "GET /callback?error=access_denied&state=guess HTTP/1.1\r\n\r\n";
        static const char malformed[] = "GET /callback?code=a%zz&state=guess HTTP/1.1\r\n\r\n";
        static const char nostate[] = "GET /callback?code=stolen HTTP/1.1\r\n\r\n";
        int fd[4], good;
        const char *req;

        CHECK_INT(login_fake(&p, &b), 0);
        fd[0] = client_send(b.port, forged, strlen(forged));
        fd[1] = client_send(b.port, denied, strlen(denied));
        fd[2] = client_send(b.port, malformed, strlen(malformed));
        fd[3] = client_send(b.port, nostate, strlen(nostate));
        req = callback_request(&b, "code=the-code");
        good = client_send(b.port, req, strlen(req));

        CHECK_INT(browser_login_wait(&b, 10, &code, &result), 0);
        CHECK_INT(result, OAUTH_OK);
        CHECK_STR(code, "the-code");
        free(code);
        code = NULL;
        for (size_t i = 0; i < ELEMENTSOF(fd); i++) {
                resp = client_response(fd[i]);
                CHECK(strncmp(resp, "HTTP/1.1 400 ", 13) == 0);
                CHECK(strstr(resp, "refused"));
                CHECK(!strstr(resp, "stolen") && !strstr(resp, "guess"));
        }
        CHECK(strncmp(client_response(good), "HTTP/1.1 200 ", 13) == 0);
        browser_login_done(&b);
        provider_done(&p);

        /* Nothing but forgeries: the wait runs to its timeout, and says answers were refused. */
        CHECK_INT(login_fake(&p, &b), 0);
        fd[0] = client_send(b.port, forged, strlen(forged));
        CHECK_INT(browser_login_wait(&b, 1, &code, &result), 0);
        CHECK_INT(result, OAUTH_EXPIRED_TOKEN);
        CHECK(!code);
        CHECK(b.reason && strstr(b.reason, "timeout") && strstr(b.reason, "refused"));
        code = NULL;
        CHECK(strncmp(client_response(fd[0]), "HTTP/1.1 400 ", 13) == 0);
        browser_login_done(&b);
        provider_done(&p);
}

/*
 * Connections that send nothing, or half a request, opened before the
 * browser's: with the default read timeout of seconds, the browser's answer
 * is still served at once.
 */
static void test_wait_stalled_do_not_block(void) {
        struct browser_login b;
        struct provider p;
        enum oauth_result result = _OAUTH_RESULT_MAX;
        char *code = NULL;
        struct timespec t0;
        int stalled[4], good;
        const char *req;
        long ms;

        CHECK_INT(login_fake(&p, &b), 0);
        CHECK_INT(b.read_timeout_ms, BROWSER_READ_TIMEOUT_MS);
        stalled[0] = client_send(b.port, NULL, 0);
        stalled[1] = client_send(b.port, "GET /callback?co", 16);
        stalled[2] = client_send(b.port, NULL, 0);
        stalled[3] = client_send(b.port, "GET / HTTP/1.1\r\nHost: x\r\n", 25);
        req = callback_request(&b, "code=the-code");
        good = client_send(b.port, req, strlen(req));

        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK_INT(browser_login_wait(&b, 30, &code, &result), 0);
        ms = elapsed_ms(&t0);
        CHECK_INT(result, OAUTH_OK);
        CHECK_STR(code, "the-code");
        free(code);
        if (ms >= 1000)
                fprintf(stderr, "  the answer took %ld ms behind stalled connections\n", ms);
        CHECK(ms < 1000);
        CHECK(strncmp(client_response(good), "HTTP/1.1 200 ", 13) == 0);
        for (size_t i = 0; i < ELEMENTSOF(stalled); i++)
                close(stalled[i]);
        browser_login_done(&b);
        provider_done(&p);
}

/*
 * More idle connections than the listener serves at once, opened from
 * another process while it waits: the oldest make room, and the browser's
 * answer, sent last, still completes the login well before any read timeout.
 */
static void test_wait_flood(void) {
        struct browser_login b;
        struct provider p;
        enum oauth_result result = _OAUTH_RESULT_MAX;
        char *code = NULL;
        struct timespec t0;
        int status = -1;
        pid_t pid;
        long ms;

        CHECK_INT(login_fake(&p, &b), 0);
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                unsigned before = tests_failed;
                int idle[3 * BROWSER_CONN_MAX], good;
                const char *req = callback_request(&b, "code=the-code");
                char *resp;

                for (size_t i = 0; i < ELEMENTSOF(idle); i++)
                        idle[i] = client_send(b.port, i % 2 ? "GET /callback?code=" : NULL, i % 2 ? 19 : 0);
                good = client_send(b.port, req, strlen(req));
                resp = client_response(good);
                if (strncmp(resp, "HTTP/1.1 200 ", 13) != 0)
                        fprintf(stderr, "  the browser's connection was answered: '%.40s'\n", resp);
                for (size_t i = 0; i < ELEMENTSOF(idle); i++)
                        close(idle[i]);
                _exit(strncmp(resp, "HTTP/1.1 200 ", 13) == 0 && tests_failed == before ? 0 : 1);
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK_INT(browser_login_wait(&b, 30, &code, &result), 0);
        ms = elapsed_ms(&t0);
        CHECK_INT(result, OAUTH_OK);
        CHECK_STR(code, "the-code");
        free(code);
        CHECK_INT(waitpid(pid, &status, 0), pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (ms >= BROWSER_READ_TIMEOUT_MS / 2)
                fprintf(stderr, "  the answer took %ld ms behind %d idle connections\n", ms, 3 * BROWSER_CONN_MAX);
        CHECK(ms < BROWSER_READ_TIMEOUT_MS / 2);
        browser_login_done(&b);
        provider_done(&p);
}

static void test_wait_denied(void) {
        struct browser_login b;
        struct provider p;
        enum oauth_result result = _OAUTH_RESULT_MAX;
        char *code = NULL;
        const char *req;
        int fd;

        CHECK_INT(login_fake(&p, &b), 0);
        req = callback_request(&b, "error=access_denied&error_description=End-User%20aborted%20interaction");
        fd = client_send(b.port, req, strlen(req));
        CHECK_INT(browser_login_wait(&b, 10, &code, &result), 0);
        CHECK_INT(result, OAUTH_ACCESS_DENIED);
        CHECK(!code);
        CHECK(b.reason && strstr(b.reason, "denied"));
        CHECK(strncmp(client_response(fd), "HTTP/1.1 400 ", 13) == 0);
        browser_login_done(&b);
        provider_done(&p);
}

static void test_wait_timeout(void) {
        struct browser_login b;
        struct provider p;
        enum oauth_result result = _OAUTH_RESULT_MAX;
        char *code = NULL;
        struct timespec t0, t1;
        long ms;
        int silent;

        CHECK_INT(login_fake(&p, &b), 0);
        /* A connection that never sends cannot hold the login past its timeout. */
        silent = client_send(b.port, NULL, 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK_INT(browser_login_wait(&b, 1, &code, &result), 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        CHECK_INT(result, OAUTH_EXPIRED_TOKEN);
        CHECK(!code);
        CHECK(ms >= 900 && ms < 3000);
        CHECK(b.reason && strstr(b.reason, "timeout"));
        close(silent);
        browser_login_done(&b);
        provider_done(&p);
}

int main(void) {
        RUN(test_authorization_url);
        RUN(test_authorization_url_with_query);
        RUN(test_no_authorization_endpoint);
        RUN(test_parse_callback);
        RUN(test_parse_reasons);
        RUN(test_wait_ignores_noise);
        RUN(test_wait_refuses_forgery);
        RUN(test_wait_stalled_do_not_block);
        RUN(test_wait_flood);
        RUN(test_wait_denied);
        RUN(test_wait_timeout);
        return tests_exit();
}
