/* SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cloudauth-build.h"
#include "http.h"
#include "macro.h"
#include "secret.h"

#define HTTP_USER_AGENT "cloudauth/" CLOUDAUTH_VERSION
#define HTTP_DEFAULT_TIMEOUT 10
#define HTTP_MAX_RETRIES 2
/* The system trust store stays in use next to an admin's ca_file. */
#define HTTP_SYSTEM_CAPATH "/etc/ssl/certs"
/* Credentials longer than this are not something a client secret file holds. */
#define HTTP_BASIC_PART_MAX 4096

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init_once(void) {
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int http_global_init(void) {
        pthread_once(&curl_once, curl_init_once);
        return curl_init_result == CURLE_OK ? 0 : -ENOMEM;
}

struct body_buffer {
        char *data;
        size_t len, allocated;
        bool too_large;
};

static void body_buffer_wipe(struct body_buffer *b) {
        /* Token responses carry secrets: never leave them in freed memory. */
        if (b->data) {
                secret_wipe(b->data, b->allocated);
                free(b->data);
        }
        *b = (struct body_buffer){0};
}

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
        struct body_buffer *b = userdata;
        size_t n = size * nmemb;

        if (n == 0)
                return 0;
        if (n > HTTP_RESPONSE_MAX || b->len > HTTP_RESPONSE_MAX - n) {
                b->too_large = true;
                return 0;
        }
        if (b->len + n + 1 > b->allocated) {
                size_t a = b->allocated ? b->allocated : 4096;
                char *d;

                while (a < b->len + n + 1)
                        a *= 2;
                if (a > HTTP_RESPONSE_MAX + 1)
                        a = HTTP_RESPONSE_MAX + 1;
                /* No realloc: the old block must be wiped before it goes back to malloc. */
                d = malloc(a);
                if (!d)
                        return 0;
                if (b->data) {
                        memcpy(d, b->data, b->len);
                        secret_wipe(b->data, b->allocated);
                        free(b->data);
                }
                b->data = d;
                b->allocated = a;
        }
        memcpy(b->data + b->len, ptr, n);
        b->len += n;
        b->data[b->len] = 0;
        return n;
}

int http_errno_from_curl(int code, long os_errno) {
        switch ((CURLcode) code) {
        case CURLE_OK:
                return 0;
        case CURLE_COULDNT_CONNECT:
                if (os_errno == EHOSTUNREACH || os_errno == ENETUNREACH)
                        return (int) -os_errno;
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
                /* The connection broke or closed before any answer: no verdict was given. */
                return -ECONNRESET;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_USE_SSL_FAILED:
                return -EKEYREJECTED;
        case CURLE_FILESIZE_EXCEEDED:
                return -EFBIG;
        case CURLE_UNSUPPORTED_PROTOCOL:
                return -EPROTONOSUPPORT;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        default:
                return -EPROTO;
        }
}

bool http_error_is_unreachable(int r) {
        return r == -ECONNREFUSED || r == -ECONNRESET || r == -EHOSTUNREACH || r == -ENETUNREACH ||
               r == -ETIMEDOUT;
}

const char *http_strerror(int r) {
        switch (r) {
        case 0:
                return "success";
        case -ECONNREFUSED:
                return "connection refused";
        case -ECONNRESET:
                return "connection reset or closed before an answer";
        case -EHOSTUNREACH:
                return "host unreachable or unknown";
        case -ENETUNREACH:
                return "network unreachable";
        case -ETIMEDOUT:
                return "timed out";
        case -EKEYREJECTED:
                return "TLS handshake or certificate verification failed";
        case -EFBIG:
                return "response too large";
        case -EPROTONOSUPPORT:
                return "only https:// URLs are allowed";
        case -ENOMEM:
                return "out of memory";
        case -EINVAL:
                return "invalid argument";
        default:
                return "transport error";
        }
}

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void sleep_ms(uint64_t ms) {
        struct timespec ts = { .tv_sec = (time_t) (ms / 1000), .tv_nsec = (long) (ms % 1000) * 1000000 };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static bool url_is_https(const char *url) {
        return strncasecmp(url, "https://", 8) == 0 && url[8] != 0;
}

static void slist_wipe_and_free(struct curl_slist *l) {
        for (struct curl_slist *i = l; i; i = i->next)
                if (i->data)
                        explicit_bzero(i->data, strlen(i->data));
        curl_slist_free_all(l);
}

static void form_escape_into(char *out, size_t *pos, const char *s) {
        static const char hex[] = "0123456789ABCDEF";

        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                    *p == '-' || *p == '.' || *p == '_' || *p == '~')
                        out[(*pos)++] = (char) *p;
                else {
                        out[(*pos)++] = '%';
                        out[(*pos)++] = hex[*p >> 4];
                        out[(*pos)++] = hex[*p & 15];
                }
        }
}

int http_form_append(char **form, const char *name, const char *value) {
        size_t old_len, name_len, value_len, n, pos = 0;
        char *f;

        if (!form || !name || !value)
                return -EINVAL;
        old_len = *form ? strlen(*form) : 0;
        name_len = strlen(name);
        value_len = strlen(value);
        if (name_len > HTTP_RESPONSE_MAX || value_len > HTTP_RESPONSE_MAX || old_len > HTTP_RESPONSE_MAX)
                return -E2BIG;
        n = old_len + 1 + 3 * name_len + 1 + 3 * value_len + 1;

        /* The form may already hold a password: copy, then wipe the old block. */
        f = malloc(n);
        if (!f)
                return -ENOMEM;
        if (old_len > 0) {
                memcpy(f, *form, old_len);
                pos = old_len;
                f[pos++] = '&';
        }
        form_escape_into(f, &pos, name);
        f[pos++] = '=';
        form_escape_into(f, &pos, value);
        f[pos] = 0;

        erase_and_free(*form);
        *form = f;
        return 0;
}

/* RFC 6749 2.3.1: both parts form-urlencoded, joined by ':', base64. */
static int basic_auth_header(const char *user, const char *password, char **ret) {
        _cleanup_erase_ char *joined = NULL;
        _cleanup_erase_ char *encoded = NULL;
        char *header;
        size_t ul, pl, jl, el, hl;

        ul = strlen(user);
        pl = strlen(password);
        if (ul > HTTP_BASIC_PART_MAX || pl > HTTP_BASIC_PART_MAX)
                return -E2BIG;
        jl = 3 * ul + 1 + 3 * pl + 1;
        joined = malloc(jl);
        if (!joined)
                return -ENOMEM;
        jl = 0;
        form_escape_into(joined, &jl, user);
        joined[jl++] = ':';
        form_escape_into(joined, &jl, password);
        joined[jl] = 0;

        el = 4 * ((jl + 2) / 3) + 1;
        encoded = malloc(el);
        if (!encoded)
                return -ENOMEM;
        EVP_EncodeBlock((unsigned char *) encoded, (const unsigned char *) joined, (int) jl);

        hl = strlen("Authorization: Basic ") + strlen(encoded) + 1;
        header = malloc(hl);
        if (!header)
                return -ENOMEM;
        snprintf(header, hl, "Authorization: Basic %s", encoded);
        *ret = header;
        return 0;
}

static void response_fill_headers(CURL *h, struct http_response *r) {
        struct curl_header *hh = NULL;
        char *ct = NULL;

        if (curl_easy_header(h, "Date", 0, CURLH_HEADER, -1, &hh) == CURLHE_OK && hh && hh->value) {
                time_t t = curl_getdate(hh->value, NULL);
                r->date = t > 0 ? t : 0;
        }
        if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
                r->content_type = strdup(ct);
}

static int http_setup(CURL *h, const struct http_options *o, const char *url, struct curl_slist *headers,
                      struct body_buffer *body) {
        if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https") != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            /* An empty proxy turns off libcurl's *_proxy environment variables. */
            curl_easy_setopt(h, CURLOPT_PROXY, o->proxy ? o->proxy : "") != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_NOPROXY, o->proxy ? "" : "*") != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_USERAGENT, HTTP_USER_AGENT) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) HTTP_RESPONSE_MAX) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_WRITEDATA, body) != CURLE_OK)
                return -ENOMEM;
        if (o->ca_file &&
            (curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file) != CURLE_OK ||
             curl_easy_setopt(h, CURLOPT_CAPATH, HTTP_SYSTEM_CAPATH) != CURLE_OK))
                return -ENOMEM;
        return 0;
}

static int http_request(const struct http_options *o, const char *url, const char *form, const char *basic_user,
                        const char *basic_password, struct http_response *ret) {
        struct curl_slist *headers = NULL, *l;
        struct body_buffer body = {0};
        _cleanup_erase_ char *auth = NULL;
        unsigned timeout = o->timeout ? o->timeout : HTTP_DEFAULT_TIMEOUT;
        uint64_t deadline;
        CURL *h = NULL;
        int r;

        if (!url)
                return -EINVAL;
        if (!url_is_https(url))
                return -EPROTONOSUPPORT;
        if ((r = http_global_init()) < 0)
                return r;

        l = curl_slist_append(headers, "Accept: application/json");
        if (!l)
                return -ENOMEM;
        headers = l;
        if (form) {
                l = curl_slist_append(headers, "Content-Type: application/x-www-form-urlencoded");
                if (!l) {
                        r = -ENOMEM;
                        goto out;
                }
                headers = l;
        }
        if (basic_user) {
                if ((r = basic_auth_header(basic_user, strempty(basic_password), &auth)) < 0)
                        goto out;
                l = curl_slist_append(headers, auth);
                if (!l) {
                        r = -ENOMEM;
                        goto out;
                }
                headers = l;
        }

        h = curl_easy_init();
        if (!h) {
                r = -ENOMEM;
                goto out;
        }
        if ((r = http_setup(h, o, url, headers, &body)) < 0)
                goto out;
        if (form && (curl_easy_setopt(h, CURLOPT_POSTFIELDS, form) != CURLE_OK ||
                     curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(form)) != CURLE_OK)) {
                r = -ENOMEM;
                goto out;
        }

        deadline = now_ms() + (uint64_t) timeout * 1000;
        for (unsigned attempt = 0;; attempt++) {
                uint64_t now = now_ms(), wait_ms;
                long status = 0, os_errno = 0;
                curl_off_t retry_after = -1;
                CURLcode cc;

                if (now >= deadline) {
                        r = -ETIMEDOUT;
                        goto out;
                }
                if (curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) (deadline - now)) != CURLE_OK ||
                    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long) (deadline - now)) != CURLE_OK) {
                        r = -ENOMEM;
                        goto out;
                }

                body_buffer_wipe(&body);
                cc = curl_easy_perform(h);
                if (cc != CURLE_OK) {
                        if (body.too_large)
                                r = -EFBIG;
                        else {
                                (void) curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
                                r = http_errno_from_curl(cc, os_errno);
                        }
                        log_debug(o->log, "HTTP %s %s: %s (%s)", form ? "POST" : "GET", url, http_strerror(r),
                                  curl_easy_strerror(cc));
                        goto out;
                }
                (void) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
                log_debug(o->log, "HTTP %s %s: status %ld, %zu bytes", form ? "POST" : "GET", url, status, body.len);

                if ((status != 429 && status != 503) || attempt >= HTTP_MAX_RETRIES)
                        break;
                /* libcurl reports a missing Retry-After as 0: that must back off too, not hammer the provider. */
                (void) curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after);
                if (retry_after > 0)
                        wait_ms = retry_after > (curl_off_t) timeout ? UINT64_MAX / 2 : (uint64_t) retry_after * 1000;
                else
                        wait_ms = 1000ULL << attempt;
                /* Waiting past the budget would only turn an answer into a timeout. */
                now = now_ms();
                if (now + wait_ms >= deadline)
                        break;
                log_debug(o->log, "HTTP %s: status %ld, retrying in %" PRIu64 " ms", url, status, wait_ms);
                sleep_ms(wait_ms);
        }

        {
                struct http_response resp = {0};

                (void) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
                response_fill_headers(h, &resp);
                if (!body.data) {
                        body.data = calloc(1, 1);
                        if (!body.data) {
                                free(resp.content_type);
                                r = -ENOMEM;
                                goto out;
                        }
                        body.allocated = 1;
                }
                resp.body = TAKE_PTR(body.data);
                resp.body_len = body.len;
                body = (struct body_buffer){0};
                *ret = resp;
                r = 0;
        }
out:
        if (h)
                curl_easy_cleanup(h);
        slist_wipe_and_free(headers);
        body_buffer_wipe(&body);
        return r;
}

int http_get(const struct http_options *o, const char *url, struct http_response *ret) {
        if (!o || !ret)
                return -EINVAL;
        return http_request(o, url, NULL, NULL, NULL, ret);
}

int http_post_form(const struct http_options *o, const char *url, const char *form, const char *basic_user,
                   const char *basic_password, struct http_response *ret) {
        if (!o || !ret || !form)
                return -EINVAL;
        return http_request(o, url, form, basic_user, basic_password, ret);
}

void http_response_done(struct http_response *r) {
        if (!r)
                return;
        if (r->body) {
                secret_wipe(r->body, r->body_len);
                free(r->body);
        }
        free(r->content_type);
        *r = (struct http_response){0};
}
