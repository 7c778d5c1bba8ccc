/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provider.h"
#include "tests.h"

#define ENTRA_TENANT "0b7e3a5c-6f41-4c2e-9d8a-2f1e7c9b4a10"
#define ENTRA_ISSUER "https://login.microsoftonline.com/" ENTRA_TENANT "/v2.0"
#define ENTRA_TEMPLATE "https://login.microsoftonline.com/{tenantid}/v2.0"
#define T0 ((time_t) 1700000000)

static void test_metadata_accept(void) {
        struct oidc_metadata *m = NULL;
        size_t len;
        char *doc;

        doc = tests_read_data("discovery-entra.json", &len);
        CHECK_INT(oidc_metadata_parse(doc, len, ENTRA_ISSUER, &m), 0);
        CHECK(m != NULL);
        if (m) {
                CHECK_STR(m->issuer, ENTRA_ISSUER);
                CHECK_STR(m->token_endpoint, "https://login.microsoftonline.com/" ENTRA_TENANT "/oauth2/v2.0/token");
                CHECK_STR(m->jwks_uri, "https://login.microsoftonline.com/" ENTRA_TENANT "/discovery/v2.0/keys");
                CHECK_STR(m->device_authorization_endpoint,
                          "https://login.microsoftonline.com/" ENTRA_TENANT "/oauth2/v2.0/devicecode");
                CHECK(m->authorization_endpoint != NULL);
                CHECK(!m->pkce_s256);
        }
        oidc_metadata_free(m);
        free(doc);

        /* the multi-tenant template is compared as text */
        m = NULL;
        doc = tests_read_data("discovery-entra-template.json", &len);
        CHECK_INT(oidc_metadata_parse(doc, len, ENTRA_TEMPLATE, &m), 0);
        CHECK(m && streq(m->issuer, ENTRA_TEMPLATE));
        oidc_metadata_free(m);
        m = (struct oidc_metadata *) 0x1;
        CHECK_INT(oidc_metadata_parse(doc, len, ENTRA_ISSUER, &m), -EACCES);
        CHECK(m == (struct oidc_metadata *) 0x1);
        free(doc);

        m = NULL;
        doc = tests_read_data("discovery-keycloak.json", &len);
        CHECK_INT(oidc_metadata_parse(doc, len, "https://sso.example.com/realms/corp", &m), 0);
        CHECK(m && m->pkce_s256);
        CHECK(m && m->device_authorization_endpoint &&
              streq(m->device_authorization_endpoint,
                    "https://sso.example.com/realms/corp/protocol/openid-connect/auth/device"));
        oidc_metadata_free(m);
        free(doc);

        m = NULL;
        doc = tests_read_data("discovery-google.json", &len);
        CHECK_INT(oidc_metadata_parse(doc, len, "https://accounts.google.com", &m), 0);
        CHECK(m && !m->pkce_s256);
        oidc_metadata_free(m);
        free(doc);

        /* the device endpoint and authorization endpoint are optional */
        {
                const char *d = "{\"issuer\":\"https://idp\",\"token_endpoint\":\"https://idp/t\","
                                "\"jwks_uri\":\"https://idp/k\",\"code_challenge_methods_supported\":\"S256\"}";
                m = NULL;
                CHECK_INT(oidc_metadata_parse(d, strlen(d), "https://idp", &m), 0);
                CHECK(m && !m->device_authorization_endpoint && !m->authorization_endpoint && !m->pkce_s256);
                CHECK(m && !m->revocation_endpoint);
                oidc_metadata_free(m);
        }
        {
                const char *d = "{\"issuer\":\"https://idp\",\"token_endpoint\":\"https://idp/t\","
                                "\"jwks_uri\":\"https://idp/k\",\"revocation_endpoint\":\"https://idp/t/revocation\"}";
                m = NULL;
                CHECK_INT(oidc_metadata_parse(d, strlen(d), "https://idp", &m), 0);
                CHECK(m && m->revocation_endpoint && streq(m->revocation_endpoint, "https://idp/t/revocation"));
                oidc_metadata_free(m);
        }
        oidc_metadata_free(NULL);
}

static void test_metadata_reject(void) {
        static const struct {
                const char *doc;
                int r;
        } cases[] = {
                { "{\"issuer\":\"https://evil\",\"token_endpoint\":\"https://idp/t\",\"jwks_uri\":\"https://idp/k\"}",
                  -EACCES },
                { "{\"issuer\":\"https://idp/\",\"token_endpoint\":\"https://idp/t\",\"jwks_uri\":\"https://idp/k\"}",
                  -EACCES },
                { "{\"issuer\":\"https://IDP\",\"token_endpoint\":\"https://idp/t\",\"jwks_uri\":\"https://idp/k\"}",
                  -EACCES },
                { "{\"issuer\":\"https://idp\\u0000x\",\"token_endpoint\":\"https://idp/t\",\"jwks_uri\":\"https://"
                  "idp/k\"}",
                  -EBADMSG },
                { "{\"issuer\":\"https://idp\",\"token_endpoint\":\"http://idp/t\",\"jwks_uri\":\"https://idp/k\"}",
                  -EBADMSG },
                { "{\"issuer\":\"https://idp\",\"token_endpoint\":\"https://idp/t\",\"jwks_uri\":\"http://idp/k\"}",
                  -EBADMSG },
                { "{\"issuer\":\"https://idp\",\"jwks_uri\":\"https://idp/k\"}", -EBADMSG },
                { "{\"issuer\":\"https://idp\",\"token_endpoint\":\"https://idp/t\"}", -EBADMSG },
                { "{\"issuer\":\"https://idp\",\"token_endpoint\":\"https://idp/t\",\"jwks_uri\":\"https://idp/k\","
                  "\"device_authorization_endpoint\":\"http://idp/d\"}",
                  -EBADMSG },
                { "{\"issuer\":\"https://idp\",\"token_endpoint\":\"https://idp/t\",\"jwks_uri\":\"https://idp/k\","
                  "\"authorization_endpoint\":5}",
                  -EBADMSG },
                { "{\"issuer\":\"https://idp\",\"token_endpoint\":\"https://idp/t\",\"jwks_uri\":\"https://idp/k\","
                  "\"revocation_endpoint\":\"http://idp/r\"}",
                  -EBADMSG },
                { "{\"issuer\":\"https://idp\",\"token_endpoint\":\"https://idp/a b\",\"jwks_uri\":\"https://idp/k\"}",
                  -EBADMSG },
                { "{\"issuer\":\"https://idp\",\"token_endpoint\":\"https://\",\"jwks_uri\":\"https://idp/k\"}",
                  -EBADMSG },
                { "{\"issuer\":\"https://idp\",\"token_endpoint\":[\"https://idp/t\"],\"jwks_uri\":\"https://idp/k\"}",
                  -EBADMSG },
                { "{\"issuer\":5,\"token_endpoint\":\"https://idp/t\",\"jwks_uri\":\"https://idp/k\"}", -EBADMSG },
                { "{\"token_endpoint\":\"https://idp/t\",\"jwks_uri\":\"https://idp/k\"}", -EBADMSG },
                { "{\"issuer\":\"https://idp\",\"issuer\":\"https://idp\",\"token_endpoint\":\"https://idp/t\","
                  "\"jwks_uri\":\"https://idp/k\"}",
                  -EBADMSG },
                { "[]", -EBADMSG },
                { "", -EBADMSG },
                { "<html>", -EBADMSG },
                { "{\"issuer\":\"https://idp\"", -EBADMSG },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct oidc_metadata *m = (struct oidc_metadata *) 0x1;
                int r = oidc_metadata_parse(cases[i].doc, strlen(cases[i].doc), "https://idp", &m);

                if (r != cases[i].r)
                        fprintf(stderr, "case %zu: %s\n", i, cases[i].doc);
                CHECK_INT(r, cases[i].r);
                CHECK(m == (struct oidc_metadata *) 0x1);
        }
}

/* --- the on-disk cache --- */

static time_t fake_now;
static time_t fake_clock(void) {
        return fake_now;
}

static unsigned n_warnings;
static void count_sink(void *userdata, int priority, const char *message) {
        if (priority <= LOG_WARNING)
                n_warnings++;
}
static const struct logger test_log = { .sink = count_sink };

static char dir[] = "/tmp/test-provider-XXXXXX";
static char cache_dir[512], issuer[128];

/* An issuer on a port where nothing listens: any fetch fails fast with -ECONNREFUSED. */
static void dead_issuer(char *buf, size_t size) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *) &a, &l) < 0)
                abort();
        snprintf(buf, size, "https://127.0.0.1:%d", ntohs(a.sin_port));
        close(fd);
}

static void setup_provider(struct provider *p, struct cloudauth_config *c) {
        *c = (struct cloudauth_config){
                .issuer = issuer,
                .client_id = (char *) "client-1",
                .cache_dir = cache_dir,
                .timeout = 3,
                .leeway = 120,
        };
        CHECK_INT(provider_init(p, c, &test_log), 0);
        p->clock = fake_clock;
}

static void write_file(const char *name, const char *text, mode_t mode) {
        char path[1024];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", cache_dir, name);
        unlink(path);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        CHECK(fd >= 0);
        CHECK(write(fd, text, strlen(text)) == (ssize_t) strlen(text));
        CHECK(fchmod(fd, mode) == 0);
        close(fd);
}

static char *metadata_doc(const char *iss) {
        char *d;
        CHECK(asprintf(&d, "{\"issuer\":\"%s\",\"token_endpoint\":\"%s/token\",\"jwks_uri\":\"%s/jwks\"}", iss, iss,
                       iss) > 0);
        return d;
}

static void write_wrapper(const char *name, const char *iss, long long fetched, const char *doc, mode_t mode) {
        json_t *o = json_pack("{s:s, s:I, s:s}", "issuer", iss, "fetched", (json_int_t) fetched, "document", doc);
        char *text = json_dumps(o, 0);

        write_file(name, text, mode);
        free(text);
        json_decref(o);
}

static void test_init(void) {
        struct cloudauth_config c = { .issuer = issuer, .client_id = (char *) "x", .ca_file = (char *) "/ca.pem",
                                      .timeout = 7 };
        struct provider p;

        CHECK_INT(provider_init(&p, &c, &test_log), 0);
        CHECK(p.config == &c);
        CHECK_STR(p.http.ca_file, "/ca.pem");
        CHECK_INT(p.http.timeout, 7);
        CHECK(p.clock != NULL && p.clock() >= T0);
        CHECK(p.metadata == NULL && p.jwks == NULL && p.n_requests == 0);
        provider_done(&p);
        c.issuer = NULL;
        CHECK_INT(provider_init(&p, &c, &test_log), -EINVAL);
}

static void test_cache_roundtrip(void) {
        struct cloudauth_config c;
        struct provider p;
        char *doc = metadata_doc(issuer), *back = NULL, path[1024];
        size_t len = 0;
        struct stat st;

        fake_now = T0;
        setup_provider(&p, &c);
        /* cache_dir does not exist yet */
        CHECK_INT(provider_cache_read(&p, "discovery.json", PROVIDER_DISCOVERY_TTL, &back, &len), -ENOENT);
        CHECK_INT(provider_cache_write(&p, "discovery.json", doc, strlen(doc)), 0);
        CHECK(stat(cache_dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0755);
        snprintf(path, sizeof(path), "%s/discovery.json", cache_dir);
        CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0644);

        CHECK_INT(provider_cache_read(&p, "discovery.json", PROVIDER_DISCOVERY_TTL, &back, &len), 0);
        CHECK_STR(back, doc);
        CHECK_INT(len, strlen(doc));
        free(back);

        /* the file is the documented wrapper */
        {
                json_t *o = json_load_file(path, 0, NULL);
                CHECK(json_is_object(o));
                CHECK_STR(json_string_value(json_object_get(o, "issuer")), issuer);
                CHECK_INT(json_integer_value(json_object_get(o, "fetched")), T0);
                CHECK_STR(json_string_value(json_object_get(o, "document")), doc);
                json_decref(o);
        }

        /* fresh: loaded without a single request */
        CHECK_INT(provider_load_metadata(&p, false), 0);
        CHECK_INT(p.n_requests, 0);
        CHECK(p.metadata && p.metadata->token_endpoint);
        if (p.metadata) {
                char want[256];
                snprintf(want, sizeof(want), "%s/token", issuer);
                CHECK_STR(p.metadata->token_endpoint, want);
        }
        /* force skips the cache and goes to the (dead) network */
        CHECK_INT(provider_load_metadata(&p, true), -ECONNREFUSED);
        CHECK_INT(p.n_requests, 1);
        CHECK(p.metadata != NULL);
        provider_done(&p);
        free(doc);
}

static void expect_refetch(const char *what, int read_r, bool warn) {
        struct cloudauth_config c;
        struct provider p;
        char *back = (char *) 0x1;
        unsigned w;

        setup_provider(&p, &c);
        CHECK_INT(provider_cache_read(&p, "discovery.json", PROVIDER_DISCOVERY_TTL, &back, NULL), read_r);
        CHECK(back == (char *) 0x1);
        w = n_warnings;
        /* not a failure of its own: the cache is passed over and the network asked */
        CHECK_INT(provider_load_metadata(&p, false), -ECONNREFUSED);
        CHECK_INT(p.n_requests, 1);
        CHECK(p.metadata == NULL);
        if (warn)
                CHECK(n_warnings > w);
        if (p.n_requests != 1 || (warn && n_warnings == w))
                fprintf(stderr, "case: %s\n", what);
        provider_done(&p);
}

static void test_cache_rejected(void) {
        char *doc = metadata_doc(issuer);
        char path[1024];

        fake_now = T0 + PROVIDER_DISCOVERY_TTL;
        write_wrapper("discovery.json", issuer, T0, doc, 0644);
        expect_refetch("stale", -ESTALE, false);

        fake_now = T0 + 10;
        write_wrapper("discovery.json", issuer, T0, doc, 0644);
        {
                struct cloudauth_config c;
                struct provider p;
                setup_provider(&p, &c);
                CHECK_INT(provider_load_metadata(&p, false), 0);
                CHECK_INT(p.n_requests, 0);
                provider_done(&p);
        }

        write_wrapper("discovery.json", issuer, T0 + 3600, doc, 0644);
        expect_refetch("fetched in the future", -ESTALE, false);

        write_wrapper("discovery.json", "https://other.example.com", T0, doc, 0644);
        expect_refetch("another issuer", -ESTALE, false);

        write_file("discovery.json", "{\"issuer\":", 0644);
        expect_refetch("truncated", -EBADMSG, true);
        write_file("discovery.json", "", 0644);
        expect_refetch("empty", -EBADMSG, true);
        write_file("discovery.json", "[1,2,3]", 0644);
        expect_refetch("array", -EBADMSG, true);
        write_file("discovery.json", "{\"issuer\":\"x\",\"fetched\":\"yesterday\",\"document\":\"{}\"}", 0644);
        expect_refetch("fetched string", -EBADMSG, true);
        {
                char *t = NULL;
                CHECK(asprintf(&t, "{\"issuer\":\"%s\",\"fetched\":%lld,\"document\":{\"issuer\":\"%s\"}}", issuer,
                               (long long) T0, issuer) > 0);
                write_file("discovery.json", t, 0644);
                free(t);
                expect_refetch("document not a string", -EBADMSG, true);
        }

        /* a valid wrapper around a document that does not parse is corrupt too */
        {
                char *bad = metadata_doc("https://evil.example.com");
                struct cloudauth_config c;
                struct provider p;
                unsigned w = n_warnings;

                write_wrapper("discovery.json", issuer, T0, bad, 0644);
                setup_provider(&p, &c);
                CHECK_INT(provider_load_metadata(&p, false), -ECONNREFUSED);
                CHECK_INT(p.n_requests, 1);
                CHECK(n_warnings > w);
                provider_done(&p);
                free(bad);
        }

        /* untrusted files: writable by others, or a symlink */
        write_wrapper("discovery.json", issuer, T0, doc, 0666);
        expect_refetch("world-writable", -EPERM, true);
        write_wrapper("discovery.json", issuer, T0, doc, 0664);
        expect_refetch("group-writable", -EPERM, true);
        write_wrapper("elsewhere.json", issuer, T0, doc, 0644);
        snprintf(path, sizeof(path), "%s/discovery.json", cache_dir);
        unlink(path);
        CHECK(symlink("elsewhere.json", path) == 0);
        expect_refetch("symlink", -ELOOP, true);
        unlink(path);

        free(doc);
}

static void test_jwks_cache(void) {
        struct cloudauth_config c;
        struct provider p;
        char *doc = metadata_doc(issuer), *jwks;
        size_t len;

        fake_now = T0 + 20;
        jwks = tests_read_data("jwks-rfc7515-a3.json", &len);
        write_wrapper("discovery.json", issuer, T0, doc, 0644);
        write_wrapper("jwks.json", issuer, T0, jwks, 0644);
        setup_provider(&p, &c);
        CHECK_INT(provider_load_jwks(&p, false), -ENOENT); /* needs metadata first */
        CHECK_INT(provider_load_metadata(&p, false), 0);
        CHECK_INT(provider_load_jwks(&p, false), 0);
        CHECK_INT(p.n_requests, 0);
        CHECK(p.jwks && p.jwks->n_keys == 1);

        /* stale JWKS: refetched from jwks_uri */
        fake_now = T0 + PROVIDER_JWKS_TTL + 1;
        CHECK_INT(provider_load_jwks(&p, false), -ECONNREFUSED);
        CHECK_INT(p.n_requests, 1);
        CHECK(p.jwks != NULL); /* a failed refresh keeps what was loaded */
        provider_done(&p);
        free(jwks);
        free(doc);
}

static void test_refetch_limit(void) {
        struct cloudauth_config c1, c2;
        struct provider p1, p2;
        char *doc = metadata_doc(issuer), stamp[1024];
        struct stat st;

        fake_now = T0 + 100;
        write_wrapper("discovery.json", issuer, T0, doc, 0644);
        snprintf(stamp, sizeof(stamp), "%s/jwks.refetch", cache_dir);
        unlink(stamp);

        setup_provider(&p1, &c1);
        CHECK_INT(provider_load_metadata(&p1, false), 0);
        /* first unknown kid: a refetch is attempted (and fails: nothing listens) */
        CHECK_INT(provider_refetch_jwks_for_unknown_kid(&p1), -ECONNREFUSED);
        CHECK_INT(p1.n_requests, 1);
        CHECK(stat(stamp, &st) == 0 && st.st_mtime == fake_now);

        /* within the interval: nothing, in this process or another one */
        fake_now += PROVIDER_JWKS_REFETCH_INTERVAL - 1;
        CHECK_INT(provider_refetch_jwks_for_unknown_kid(&p1), 0);
        CHECK_INT(p1.n_requests, 1);
        setup_provider(&p2, &c2);
        CHECK_INT(provider_load_metadata(&p2, false), 0);
        CHECK_INT(provider_refetch_jwks_for_unknown_kid(&p2), 0);
        CHECK_INT(p2.n_requests, 0);

        /* after the interval: again */
        fake_now += 1;
        CHECK_INT(provider_refetch_jwks_for_unknown_kid(&p2), -ECONNREFUSED);
        CHECK_INT(p2.n_requests, 1);
        CHECK(stat(stamp, &st) == 0 && st.st_mtime == fake_now);

        /* a stamp from the future (clock set back) does not block forever */
        fake_now -= 10000;
        CHECK_INT(provider_refetch_jwks_for_unknown_kid(&p2), -ECONNREFUSED);
        CHECK_INT(p2.n_requests, 2);

        provider_done(&p1);
        provider_done(&p2);
        free(doc);
}

static void test_policy(void) {
        char *tenants[] = { (char *) ENTRA_TENANT, NULL };
        struct cloudauth_config c = { .issuer = (char *) ENTRA_TEMPLATE, .client_id = (char *) "app-id",
                                      .tenants = tenants, .leeway = 300 };
        struct jwt_policy pol;
        struct provider p;

        CHECK_INT(provider_init(&p, &c, &test_log), 0);
        p.clock = fake_clock;
        fake_now = T0 + 42;
        provider_jwt_policy(&p, &pol);
        CHECK_STR(pol.issuer, ENTRA_TEMPLATE);
        CHECK_STR(pol.client_id, "app-id");
        CHECK(pol.tenants == tenants);
        CHECK_INT(pol.leeway, 300);
        CHECK_INT(pol.now, T0 + 42);
        CHECK(pol.nonce == NULL && pol.extra_audiences == NULL);
        provider_done(&p);
}

static void test_verify_without_keys(void) {
        struct cloudauth_config c;
        struct provider p;
        enum jwt_error e = JWT_OK;
        json_t *claims = (json_t *) 0x1;

        fake_now = T0 + PROVIDER_DISCOVERY_TTL * 10;
        setup_provider(&p, &c);
        CHECK_INT(provider_verify_id_token(&p, "a.b.c", NULL, &claims, &e), -ECONNREFUSED);
        CHECK_INT(e, JWT_UNKNOWN_KID);
        CHECK(claims == (json_t *) 0x1);
        provider_done(&p);
}

int main(void) {
        RUN(test_metadata_accept);
        RUN(test_metadata_reject);

        if (!mkdtemp(dir))
                return EXIT_FAILURE;
        snprintf(cache_dir, sizeof(cache_dir), "%s/cache", dir);
        dead_issuer(issuer, sizeof(issuer));
        RUN(test_init);
        RUN(test_cache_roundtrip);
        RUN(test_cache_rejected);
        RUN(test_jwks_cache);
        RUN(test_refetch_limit);
        RUN(test_policy);
        RUN(test_verify_without_keys);

        {
                char cmd[600];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "cannot remove %s\n", dir);
        }
        return tests_exit();
}
