/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "fileio.h"
#include "json-util.h"
#include "provider.h"

#define DISCOVERY_CACHE "discovery.json"
#define JWKS_CACHE "jwks.json"
#define REFETCH_STAMP "jwks.refetch"
#define WELL_KNOWN "/.well-known/openid-configuration"
/* The wrapper escapes the document as a JSON string, which can grow it. */
#define CACHE_FILE_MAX (4 * HTTP_RESPONSE_MAX)

static time_t clock_system(void) {
        return time(NULL);
}

int provider_init(struct provider *p, const struct cloudauth_config *c, const struct logger *log) {
        if (!p || !c || !c->issuer || !c->client_id)
                return -EINVAL;
        *p = (struct provider){
                .config = c,
                .log = log,
                .http = { .ca_file = c->ca_file, .timeout = c->timeout, .proxy = c->proxy, .log = log },
                .clock = clock_system,
        };
        return 0;
}

void provider_done(struct provider *p) {
        if (!p)
                return;
        oidc_metadata_free(p->metadata);
        jwks_free(p->jwks);
        p->metadata = NULL;
        p->jwks = NULL;
}

void oidc_metadata_free(struct oidc_metadata *m) {
        if (!m)
                return;
        free(m->issuer);
        free(m->token_endpoint);
        free(m->jwks_uri);
        free(m->authorization_endpoint);
        free(m->device_authorization_endpoint);
        free(m->revocation_endpoint);
        free(m);
}

static void oidc_metadata_freep(struct oidc_metadata **m) {
        oidc_metadata_free(*m);
}

static bool url_is_https_plain(const char *s) {
        if (strncmp(s, "https://", 8) != 0 || s[8] == 0 || s[8] == '/')
                return false;
        /* A URL with spaces or control characters would be split or rewritten somewhere downstream. */
        for (const unsigned char *c = (const unsigned char *) s; *c; c++)
                if (*c <= 0x20 || *c >= 0x7f)
                        return false;
        return true;
}

/* required: absent is -EBADMSG; present: must be an https string. */
static int endpoint_get(json_t *o, const char *key, bool required, char **ret) {
        json_t *v = json_object_get(o, key);

        if (!v || json_is_null(v)) {
                if (required)
                        return -EBADMSG;
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
            !url_is_https_plain(json_string_value(v)))
                return -EBADMSG;
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

int oidc_metadata_parse(const char *json, size_t len, const char *expected_issuer, struct oidc_metadata **ret) {
        _cleanup_(oidc_metadata_freep) struct oidc_metadata *m = NULL;
        _cleanup_json_ json_t *o = NULL;
        json_t *iss, *methods, *v;
        json_error_t je;
        size_t i;
        int r;

        if (!json || !expected_issuer || !ret)
                return -EINVAL;
        if (len > HTTP_RESPONSE_MAX)
                return -EBADMSG;
        o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(o))
                return -EBADMSG;

        iss = json_object_get(o, "issuer");
        if (!json_is_string(iss))
                return -EBADMSG;
        if (strlen(json_string_value(iss)) != json_string_length(iss) ||
            !streq(json_string_value(iss), expected_issuer))
                return -EACCES;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->issuer = strdup(expected_issuer);
        if (!m->issuer)
                return -ENOMEM;
        if ((r = endpoint_get(o, "token_endpoint", true, &m->token_endpoint)) < 0 ||
            (r = endpoint_get(o, "jwks_uri", true, &m->jwks_uri)) < 0 ||
            (r = endpoint_get(o, "authorization_endpoint", false, &m->authorization_endpoint)) < 0 ||
            (r = endpoint_get(o, "device_authorization_endpoint", false, &m->device_authorization_endpoint)) < 0 ||
            (r = endpoint_get(o, "revocation_endpoint", false, &m->revocation_endpoint)) < 0)
                return r;

        methods = json_object_get(o, "code_challenge_methods_supported");
        if (json_is_array(methods))
                json_array_foreach(methods, i, v)
                        if (json_is_string(v) && streq(json_string_value(v), "S256"))
                                m->pkce_s256 = true;

        *ret = TAKE_PTR(m);
        return 0;
}

static int cache_path(const struct provider *p, const char *name, char *buf, size_t size) {
        int n;

        if (!p->config->cache_dir)
                return -ENOENT;
        n = snprintf(buf, size, "%s/%s", p->config->cache_dir, name);
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

static int read_fd_all(int fd, size_t max, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, allocated = 0;

        for (;;) {
                ssize_t n;

                if (len + 1 >= allocated) {
                        size_t a = allocated ? allocated * 2 : 8192;
                        char *b;

                        if (a > max + 1)
                                a = max + 1;
                        if (a <= len + 1)
                                return -EFBIG;
                        b = realloc(buf, a);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                        allocated = a;
                }
                n = read(fd, buf + len, allocated - len - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

int provider_cache_read(const struct provider *p, const char *name, time_t ttl, char **ret_document,
                        size_t *ret_len) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_t *o = NULL;
        char path[PATH_MAX];
        json_t *iss, *fetched, *doc;
        json_error_t je;
        size_t len = 0;
        time_t now;
        char *d;
        int r;

        if (!p || !p->config || !name || !ret_document)
                return -EINVAL;
        if ((r = cache_path(p, name, path, sizeof(path))) < 0)
                return r;
        fd = open_trusted_file(path, 022, CACHE_FILE_MAX, p->log);
        if (fd < 0)
                return fd;
        if ((r = read_fd_all(fd, CACHE_FILE_MAX, &text, &len)) < 0)
                return r;

        o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(o))
                return -EBADMSG;
        iss = json_object_get(o, "issuer");
        fetched = json_object_get(o, "fetched");
        doc = json_object_get(o, "document");
        if (!json_is_string(iss) || !json_is_integer(fetched) || !json_is_string(doc))
                return -EBADMSG;
        if (!streq(json_string_value(iss), p->config->issuer))
                return -ESTALE;
        now = p->clock();
        /* A stamp from the future means the clock went back: do not trust the age. */
        if (json_integer_value(fetched) > (json_int_t) now || (json_int_t) now - json_integer_value(fetched) >= ttl)
                return -ESTALE;

        d = malloc(json_string_length(doc) + 1);
        if (!d)
                return -ENOMEM;
        memcpy(d, json_string_value(doc), json_string_length(doc) + 1);
        *ret_document = d;
        if (ret_len)
                *ret_len = json_string_length(doc);
        return 0;
}

int provider_cache_write(const struct provider *p, const char *name, const char *document, size_t len) {
        _cleanup_json_ json_t *o = NULL;
        _cleanup_free_ char *text = NULL;
        char path[PATH_MAX], tmp[PATH_MAX];
        const char *dir;
        int r;

        if (!p || !p->config || !name || !document)
                return -EINVAL;
        dir = p->config->cache_dir;
        if ((r = cache_path(p, name, path, sizeof(path))) < 0)
                return r;
        r = snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name);
        if (r < 0 || (size_t) r >= sizeof(tmp))
                return -ENAMETOOLONG;

        o = json_pack("{s:s, s:I, s:s%}", "issuer", p->config->issuer, "fetched", (json_int_t) p->clock(),
                      "document", document, len);
        if (!o)
                return -EBADMSG;
        text = json_dumps(o, JSON_COMPACT);
        if (!text)
                return -ENOMEM;

        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        /* Readers must see the old file or the whole new one, even after a crash. */
        return write_file_atomic(tmp, path, text, strlen(text), 0644, false);
}

static int fetch(struct provider *p, const char *what, const char *url, struct http_response *ret) {
        struct http_response resp = {0};
        int r;

        r = http_get(&p->http, url, &resp);
        p->n_requests++;
        if (r < 0)
                return log_error_errno(p->log, r, "%s %s: %s", what, url, http_strerror(r));
        if (resp.date)
                p->server_date = resp.date;
        if (resp.status != 200) {
                log_err(p->log, "%s %s: HTTP status %ld", what, url, resp.status);
                r = resp.status >= 500 && resp.status <= 599 ? -EHOSTUNREACH : -EPROTO;
                http_response_done(&resp);
                return r;
        }
        *ret = resp;
        return 0;
}

static void cache_store(struct provider *p, const char *name, const char *doc, size_t len) {
        int r = provider_cache_write(p, name, doc, len);

        if (r < 0)
                log_warn(p->log, "cannot write cache %s/%s: %s", strna(p->config->cache_dir), name, strerror(-r));
}

static void cache_note_unusable(struct provider *p, const char *name, int r) {
        if (r == -ENOENT || r == -ESTALE)
                log_debug(p->log, "cache %s: %s, fetching", name, r == -ENOENT ? "missing" : "stale");
        else
                log_warn(p->log, "ignoring cache %s/%s: %s", strna(p->config->cache_dir), name,
                         r == -EBADMSG ? "corrupt" : strerror(-r));
}

int provider_load_metadata(struct provider *p, bool force) {
        struct oidc_metadata *m = NULL;
        struct http_response resp = {0};
        _cleanup_free_ char *url = NULL;
        size_t ilen;
        int r;

        if (!p || !p->config)
                return -EINVAL;

        if (!force) {
                _cleanup_free_ char *doc = NULL;
                size_t len = 0;

                r = provider_cache_read(p, DISCOVERY_CACHE, PROVIDER_DISCOVERY_TTL, &doc, &len);
                if (r >= 0) {
                        r = oidc_metadata_parse(doc, len, p->config->issuer, &m);
                        if (r >= 0) {
                                oidc_metadata_free(p->metadata);
                                p->metadata = m;
                                return 0;
                        }
                        if (r == -ENOMEM)
                                return r;
                        r = -EBADMSG;
                }
                if (r == -ENOMEM)
                        return r;
                cache_note_unusable(p, DISCOVERY_CACHE, r);
        }

        ilen = strlen(p->config->issuer);
        while (ilen > 0 && p->config->issuer[ilen - 1] == '/')
                ilen--;
        if (asprintf(&url, "%.*s" WELL_KNOWN, (int) ilen, p->config->issuer) < 0) {
                url = NULL;
                return -ENOMEM;
        }
        if ((r = fetch(p, "discovery", url, &resp)) < 0)
                return r;
        r = oidc_metadata_parse(resp.body, resp.body_len, p->config->issuer, &m);
        if (r < 0) {
                http_response_done(&resp);
                return log_error_errno(p->log, r, "discovery %s: %s", url,
                                       r == -EACCES ? "issuer does not match the configured issuer"
                                                    : "malformed document");
        }
        cache_store(p, DISCOVERY_CACHE, resp.body, resp.body_len);
        http_response_done(&resp);
        oidc_metadata_free(p->metadata);
        p->metadata = m;
        return 0;
}

int provider_load_jwks(struct provider *p, bool force) {
        struct http_response resp = {0};
        struct jwks *k = NULL;
        int r;

        if (!p || !p->config)
                return -EINVAL;
        if (!p->metadata)
                return -ENOENT;

        if (!force) {
                _cleanup_free_ char *doc = NULL;
                size_t len = 0;

                r = provider_cache_read(p, JWKS_CACHE, PROVIDER_JWKS_TTL, &doc, &len);
                if (r >= 0) {
                        r = jwks_parse(doc, len, &k);
                        if (r >= 0) {
                                jwks_free(p->jwks);
                                p->jwks = k;
                                return 0;
                        }
                        if (r == -ENOMEM)
                                return r;
                        r = -EBADMSG;
                }
                if (r == -ENOMEM)
                        return r;
                cache_note_unusable(p, JWKS_CACHE, r);
        }

        if ((r = fetch(p, "JWKS", p->metadata->jwks_uri, &resp)) < 0)
                return r;
        r = jwks_parse(resp.body, resp.body_len, &k);
        if (r < 0) {
                http_response_done(&resp);
                return log_error_errno(p->log, r, "JWKS %s: %s", p->metadata->jwks_uri,
                                       r == -ENOKEY ? "no usable key" : "malformed document");
        }
        cache_store(p, JWKS_CACHE, resp.body, resp.body_len);
        http_response_done(&resp);
        jwks_free(p->jwks);
        p->jwks = k;
        return 0;
}

int provider_refetch_jwks_for_unknown_kid(struct provider *p) {
        char path[PATH_MAX];
        struct stat st;
        time_t now;
        int r;

        if (!p || !p->config)
                return -EINVAL;
        now = p->clock();

        r = cache_path(p, REFETCH_STAMP, path, sizeof(path));
        if (r >= 0) {
                _cleanup_close_ int fd = -1;

                if (lstat(path, &st) >= 0 && S_ISREG(st.st_mode) &&
                    st.st_mtime <= now && now - st.st_mtime < PROVIDER_JWKS_REFETCH_INTERVAL) {
                        log_debug(p->log, "unknown kid: JWKS refetched %llds ago, not again",
                                  (long long) (now - st.st_mtime));
                        return 0;
                }

                /* Stamp before fetching, so concurrent logins do not all hit the IdP. */
                (void) mkdir(p->config->cache_dir, 0755);
                fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
                if (fd < 0 || futimens(fd, (const struct timespec[2]){ { .tv_sec = now }, { .tv_sec = now } }) < 0)
                        log_warn(p->log, "cannot write %s: %s; the refetch limit does not hold across processes",
                                 path, strerror(errno));
        }

        log_info(p->log, "unknown kid: refetching the JWKS");
        r = provider_load_jwks(p, true);
        return r < 0 ? r : 1;
}

void provider_jwt_policy(const struct provider *p, struct jwt_policy *ret) {
        *ret = (struct jwt_policy){
                .issuer = p->config->issuer,
                .client_id = p->config->client_id,
                .tenants = p->config->tenants,
                .leeway = p->config->leeway,
                .now = p->clock(),
        };
}

int provider_verify_id_token(struct provider *p, const char *token, const char *nonce, json_t **ret_claims,
                             enum jwt_error *ret_error) {
        struct jwt_policy policy;
        enum jwt_error e = JWT_MALFORMED;
        int r;

        if (!ret_error)
                return -EINVAL;
        *ret_error = JWT_MALFORMED;
        if (!p || !token || !ret_claims)
                return -EINVAL;

        if ((!p->metadata && (r = provider_load_metadata(p, false)) < 0) ||
            (!p->jwks && (r = provider_load_jwks(p, false)) < 0)) {
                *ret_error = JWT_UNKNOWN_KID;
                return r;
        }

        provider_jwt_policy(p, &policy);
        policy.nonce = nonce;
        r = jwt_verify(token, strlen(token), p->jwks, &policy, ret_claims, &e);
        if (r < 0 && e == JWT_UNKNOWN_KID) {
                int k = provider_refetch_jwks_for_unknown_kid(p);

                /* A refetch that could not reach the provider says so, rather than "unknown key". */
                if (k < 0) {
                        *ret_error = JWT_UNKNOWN_KID;
                        return k;
                }
                if (k > 0) {
                        provider_jwt_policy(p, &policy);
                        policy.nonce = nonce;
                        r = jwt_verify(token, strlen(token), p->jwks, &policy, ret_claims, &e);
                }
        }
        *ret_error = e;
        return r;
}
