/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "browser.h"
#include "http.h"
#include "macro.h"
#include "secret.h"

/* Values the callback carries are short tokens; a longer one is not ours. */
#define CALLBACK_VALUE_MAX 4096
/* After refusing an oversized request, read what is left for this long so the answer is not lost to a reset. */
#define DRAIN_MS 200
#define DRAIN_MAX (64 * 1024)

static void browser_login_init(struct browser_login *b) {
        *b = (struct browser_login) { .fd = -1 };
}

void browser_login_done(struct browser_login *b) {
        if (!b)
                return;
        if (b->fd >= 0)
                close(b->fd);
        free(b->redirect_uri);
        /* The URL carries the state and the nonce. */
        erase_and_free(b->authorization_url);
        free(b->issuer);
        secret_wipe(b->state, sizeof(b->state));
        secret_wipe(b->nonce, sizeof(b->nonce));
        pkce_done(&b->pkce);
        browser_login_init(b);
}

/* RFC 8252 7.3: the loopback IP literal, never "localhost", and a port the system picks. */
static int listener_open(unsigned *ret_port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        _cleanup_close_ int fd = -1;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 64) < 0 ||
            getsockname(fd, (struct sockaddr *) &sa, &len) < 0)
                return -errno;
        *ret_port = ntohs(sa.sin_port);
        return TAKE_FD(fd);
}

int browser_login_start(struct provider *p, struct browser_login *ret) {
        _cleanup_(browser_login_done) struct browser_login b;
        _cleanup_erase_ char *query = NULL;
        const char *endpoint;
        int r;

        browser_login_init(&b);
        if (!p || !p->config || !ret)
                return -EINVAL;

        if (!p->metadata && (r = provider_load_metadata(p, false)) < 0)
                return r;
        endpoint = p->metadata->authorization_endpoint;
        if (!endpoint)
                return -EOPNOTSUPP;

        b.log = p->log;
        b.read_timeout_ms = BROWSER_READ_TIMEOUT_MS;
        b.issuer = strdup(p->config->issuer);
        if (!b.issuer)
                return -ENOMEM;
        if ((r = pkce_random_token(b.state)) < 0 || (r = pkce_random_token(b.nonce)) < 0 ||
            (r = pkce_generate(&b.pkce)) < 0)
                return r;

        r = listener_open(&b.port);
        if (r < 0)
                return r;
        b.fd = r;
        if (asprintf(&b.redirect_uri, "http://127.0.0.1:%u/callback", b.port) < 0) {
                b.redirect_uri = NULL;
                return -ENOMEM;
        }

        if ((r = http_form_append(&query, "response_type", "code")) < 0 ||
            (r = http_form_append(&query, "client_id", strempty(p->config->client_id))) < 0 ||
            (r = http_form_append(&query, "redirect_uri", b.redirect_uri)) < 0 ||
            (r = http_form_append(&query, "scope", p->config->scopes ? p->config->scopes : "openid")) < 0 ||
            (r = http_form_append(&query, "state", b.state)) < 0 ||
            (r = http_form_append(&query, "nonce", b.nonce)) < 0 ||
            (r = http_form_append(&query, "code_challenge", b.pkce.challenge)) < 0 ||
            (r = http_form_append(&query, "code_challenge_method", "S256")) < 0)
                return r;
        /* An endpoint may carry a query of its own (a policy name, say): keep it. */
        if (asprintf(&b.authorization_url, "%s%c%s", endpoint, strchr(endpoint, '?') ? '&' : '?', query) < 0) {
                b.authorization_url = NULL;
                return -ENOMEM;
        }

        *ret = b;
        browser_login_init(&b);
        return 0;
}

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Decode [s, s+n) as application/x-www-form-urlencoded; -EBADMSG for a bad escape or a NUL. */
static int form_decode(const char *s, size_t n, char **ret) {
        char *out;
        size_t j = 0;

        if (n > CALLBACK_VALUE_MAX * 3)
                return -EBADMSG;
        out = malloc(n + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '%') {
                        int h = i + 2 < n ? hex_value(s[i + 1]) : -1, l = i + 2 < n ? hex_value(s[i + 2]) : -1;

                        /* "%00" would cut the value short wherever it is used as a C string. */
                        if (h < 0 || l < 0 || h * 16 + l == 0) {
                                /* Not NUL-terminated yet: wipe the whole buffer, not up to a NUL. */
                                secret_wipe(out, n + 1);
                                free(out);
                                return -EBADMSG;
                        }
                        out[j++] = (char) (h * 16 + l);
                        i += 2;
                } else if (s[i] == '+')
                        out[j++] = ' ';
                else
                        out[j++] = s[i];
        }
        out[j] = 0;
        if (j > CALLBACK_VALUE_MAX) {
                erase_and_free(out);
                return -EBADMSG;
        }
        *ret = out;
        return 0;
}

/* What reaches a terminal, a log line or a token request: printable ASCII, no spaces. */
static bool value_is_token(const char *v) {
        if (!*v)
                return false;
        for (; *v; v++)
                if ((unsigned char) *v < 0x21 || (unsigned char) *v > 0x7e)
                        return false;
        return true;
}

struct callback_params {
        char *code, *state, *error, *iss;
};

static void callback_params_done(struct callback_params *c) {
        erase_and_free(c->code);
        erase_and_free(c->state);
        free(c->error);
        free(c->iss);
}

static int query_parse(const char *q, size_t len, struct callback_params *ret) {
        const char *end = q + len;

        while (q < end) {
                const char *amp = memchr(q, '&', (size_t) (end - q));
                const char *seg_end = amp ? amp : end;
                const char *eq = memchr(q, '=', (size_t) (seg_end - q));
                _cleanup_free_ char *name = NULL;
                char *value = NULL, **slot = NULL;
                int r;

                if (seg_end == q) { /* "a=1&&b=2" or a trailing '&' */
                        q = seg_end + 1;
                        continue;
                }
                if ((r = form_decode(q, (size_t) ((eq ? eq : seg_end) - q), &name)) < 0)
                        return r;
                if ((r = form_decode(eq ? eq + 1 : seg_end, eq ? (size_t) (seg_end - eq - 1) : 0, &value)) < 0)
                        return r;

                if (streq(name, "code"))
                        slot = &ret->code;
                else if (streq(name, "state"))
                        slot = &ret->state;
                else if (streq(name, "error"))
                        slot = &ret->error;
                else if (streq(name, "iss"))
                        slot = &ret->iss;

                if (slot && (*slot || !value_is_token(value))) {
                        /* RFC 6749 3.1: a parameter must not appear twice. */
                        erase_and_free(value);
                        return -EBADMSG;
                }
                if (slot)
                        *slot = value;
                else
                        erase_and_free(value);
                q = seg_end + 1;
        }
        return 0;
}

static const struct {
        const char *error;
        enum oauth_result result;
        const char *reason;
} authorization_errors[] = {
        { "access_denied", OAUTH_ACCESS_DENIED, "sign-in denied at the provider" },
        { "unauthorized_client", OAUTH_CLIENT_ERROR,
          "the provider does not allow this client the authorization code grant" },
        { "invalid_scope", OAUTH_INVALID_SCOPE, "the provider refused the requested scopes" },
        { "unsupported_response_type", OAUTH_UNSUPPORTED_GRANT,
          "the provider does not offer the authorization code grant" },
        { "temporarily_unavailable", OAUTH_UNREACHABLE, "the provider is temporarily unavailable" },
        { "server_error", OAUTH_UNREACHABLE, "the provider failed with a server error" },
};

/*
 * Whether a query the strict parser refused still carries this login's state
 * verbatim: then it is the provider's answer, only malformed, and the login
 * ends saying so. The state is a secret nobody else has, so matching it
 * without decoding is as strong as matching it decoded.
 */
static bool query_has_state(const char *q, size_t len, const char *expected_state) {
        const char *end = q + len;
        size_t want = strlen(expected_state);

        while (q < end) {
                const char *amp = memchr(q, '&', (size_t) (end - q));
                const char *seg_end = amp ? amp : end;

                if ((size_t) (seg_end - q) == strlen("state=") + want && memcmp(q, "state=", 6) == 0 &&
                    secret_equal(q + 6, want, expected_state, want))
                        return true;
                q = seg_end + 1;
        }
        return false;
}

int browser_parse_callback(const char *request, size_t len, const char *expected_state, const char *expected_issuer,
                           char **ret_code, enum oauth_result *ret_result, const char **ret_reason) {
        _cleanup_(callback_params_done) struct callback_params cp = {0};
        const char *line_end, *target, *target_end, *path_end, *query;
        size_t query_len;
        int r;

        if (!request || !expected_state || !ret_code || !ret_result || !ret_reason)
                return -EINVAL;

        line_end = memchr(request, '\n', len);
        if (!line_end)
                return -EBADMSG;
        if (line_end > request && line_end[-1] == '\r')
                line_end--;
        for (const char *c = request; c < line_end; c++)
                if ((unsigned char) *c < 0x20 || (unsigned char) *c > 0x7e)
                        return -EBADMSG;

        target = memchr(request, ' ', (size_t) (line_end - request));
        if (!target || target == request)
                return -EBADMSG;
        target++;
        target_end = memchr(target, ' ', (size_t) (line_end - target));
        if (!target_end || target_end == target || (size_t) (line_end - target_end) != strlen(" HTTP/1.1") ||
            (memcmp(target_end, " HTTP/1.1", 9) != 0 && memcmp(target_end, " HTTP/1.0", 9) != 0))
                return -EBADMSG;
        if (*target != '/')
                return -EBADMSG;

        if ((size_t) (target - request) != strlen("GET ") || memcmp(request, "GET ", 4) != 0)
                return -ENOENT;
        path_end = memchr(target, '?', (size_t) (target_end - target));
        if (!path_end)
                path_end = target_end;
        if ((size_t) (path_end - target) != strlen("/callback") || memcmp(target, "/callback", 9) != 0)
                return -ENOENT;

        query = path_end + 1;
        query_len = path_end < target_end ? (size_t) (target_end - path_end) - 1 : 0;
        r = query_len > 0 && memchr(query, '#', query_len) ? -EBADMSG : query_parse(query, query_len, &cp);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (!query_has_state(query, query_len, expected_state))
                        return -EACCES;
                *ret_result = OAUTH_PROTOCOL_ERROR;
                *ret_reason = "the callback is malformed";
                return 0;
        }

        /* Before anything else: an answer to some other request is not this login's, whatever it says. */
        if (!cp.state || !secret_equal(cp.state, strlen(cp.state), expected_state, strlen(expected_state)))
                return -EACCES;
        if (cp.iss && (!expected_issuer || !streq(cp.iss, expected_issuer))) {
                *ret_result = OAUTH_REJECTED;
                *ret_reason = "the callback names another issuer: refused as a possible mix-up";
                return 0;
        }

        if (cp.error) {
                *ret_result = OAUTH_REJECTED;
                *ret_reason = "the provider refused the sign-in";
                for (size_t i = 0; i < ELEMENTSOF(authorization_errors); i++)
                        if (streq(cp.error, authorization_errors[i].error)) {
                                *ret_result = authorization_errors[i].result;
                                *ret_reason = authorization_errors[i].reason;
                        }
                return 0;
        }
        if (!cp.code) {
                *ret_result = OAUTH_PROTOCOL_ERROR;
                *ret_reason = "the callback has no code";
                return 0;
        }

        *ret_code = TAKE_PTR(cp.code);
        *ret_result = OAUTH_OK;
        *ret_reason = "code received";
        return 0;
}

static long long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * One attempt, never a wait: the answer is under 2 KiB and a fresh socket's
 * send buffer holds it whole, so only a client that stopped reading could
 * make it block, and such a client must not hold up anyone else.
 */
static void send_now(int fd, const char *buf, size_t len) {
        while (len > 0) {
                ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return;
                buf += n;
                len -= (size_t) n;
        }
}

/* The page text is fixed per outcome: nothing the request carried is echoed back. */
static void answer(int fd, int status, const char *title, const char *text) {
        const char *status_text = status == 200   ? "OK"
                                  : status == 404 ? "Not Found"
                                  : status == 431 ? "Request Header Fields Too Large"
                                                  : "Bad Request";
        char body[1024], head[512];
        int bn, hn;

        bn = snprintf(body, sizeof(body),
                      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>"
                      "<body><h1>%s</h1><p>%s</p></body></html>\n",
                      title, title, text);
        if (bn < 0 || (size_t) bn >= sizeof(body))
                return;
        hn = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n"
                      "Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
                      status, status_text, bn);
        if (hn < 0 || (size_t) hn >= sizeof(head))
                return;
        send_now(fd, head, (size_t) hn);
        send_now(fd, body, (size_t) bn);
        (void) shutdown(fd, SHUT_WR);
}

static bool header_complete(const char *buf, size_t len) {
        for (size_t i = 0; i + 1 < len; i++) {
                if (buf[i] == '\n' && buf[i + 1] == '\n')
                        return true;
                if (i + 3 < len && memcmp(buf + i, "\r\n\r\n", 4) == 0)
                        return true;
        }
        return false;
}

/*
 * The listener serves every connection at once from one poll loop, each with
 * its own deadline: a client that connects and sends nothing, or half a
 * request, or never reads the answer, delays nobody else.
 */
struct conn {
        int fd;              /* -1: a free slot */
        bool draining;       /* answered 431: reading what is left so the answer is not lost to a reset */
        long long deadline;  /* for the whole request, or for the draining */
        long long accepted;  /* the oldest makes room when every slot is taken */
        size_t len;          /* request bytes in buf, or bytes drained */
        char *buf;           /* BROWSER_REQUEST_MAX bytes */
};

struct listener {
        struct browser_login *b;
        struct conn conns[BROWSER_CONN_MAX];
        char *bufs;
        unsigned n_refused;  /* callbacks that were not this login's answer */
};

static void conn_close(struct conn *c) {
        if (c->fd < 0)
                return;
        close(c->fd);
        /* A request may hold the code; a draining one was wiped when it began. */
        if (!c->draining)
                secret_wipe(c->buf, c->len);
        c->fd = -1;
        c->len = 0;
        c->draining = false;
}

static void listener_done(struct listener *l) {
        for (size_t i = 0; i < BROWSER_CONN_MAX; i++)
                conn_close(&l->conns[i]);
        if (l->bufs) {
                secret_wipe(l->bufs, (size_t) BROWSER_CONN_MAX * BROWSER_REQUEST_MAX);
                free(l->bufs);
        }
}

static void conn_drain_start(struct conn *c, long long now) {
        secret_wipe(c->buf, BROWSER_REQUEST_MAX);
        c->draining = true;
        c->len = 0;
        c->deadline = now + DRAIN_MS;
}

/* Accept what is pending: into free slots, else one connection in place of the oldest. */
static int accept_pending(struct listener *l, long long now) {
        for (;;) {
                struct conn *slot = NULL, *oldest = NULL;
                int fd;

                for (size_t i = 0; i < BROWSER_CONN_MAX && !slot; i++)
                        if (l->conns[i].fd < 0)
                                slot = &l->conns[i];
                        else if (!oldest || l->conns[i].accepted < oldest->accepted)
                                oldest = &l->conns[i];

                fd = accept4(l->b->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0) {
                        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                                return 0;
                        return -errno;
                }
                if (!slot) {
                        log_debug(l->b->log, "loopback listener: %d connections open, the oldest dropped",
                                  BROWSER_CONN_MAX);
                        conn_close(oldest);
                        slot = oldest;
                }
                slot->fd = fd;
                slot->draining = false;
                slot->len = 0;
                slot->accepted = now;
                slot->deadline = now + l->b->read_timeout_ms;
                /* Taking the room of the oldest, accept no more this round: the new one is served first. */
                if (slot == oldest)
                        return 0;
        }
}

/*
 * Read what a connection sent and act on it. 1 with *ret_code and *ret_result
 * when the login is over, 0 to go on, negative errno on allocation failure.
 */
static int conn_serve(struct listener *l, struct conn *c, long long now, char **ret_code,
                      enum oauth_result *ret_result) {
        struct browser_login *b = l->b;
        enum oauth_result result;
        const char *reason;
        char *code = NULL;
        ssize_t n;
        int r;

        if (c->draining) {
                char sink[4096];

                n = recv(c->fd, sink, sizeof(sink), 0);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return 0;
                if (n <= 0 || (c->len += (size_t) n) >= DRAIN_MAX)
                        conn_close(c);
                return 0;
        }

        n = recv(c->fd, c->buf + c->len, BROWSER_REQUEST_MAX - c->len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                log_debug(b->log, "loopback listener: a connection closed before a whole request");
                conn_close(c);
                return 0;
        }
        c->len += (size_t) n;
        if (!header_complete(c->buf, c->len)) {
                if (c->len == BROWSER_REQUEST_MAX) {
                        log_debug(b->log, "loopback listener: a request over %d bytes, refused", BROWSER_REQUEST_MAX);
                        answer(c->fd, 431, "Request too large", "This is not a sign-in answer.");
                        conn_drain_start(c, now);
                }
                return 0;
        }

        r = browser_parse_callback(c->buf, c->len, b->state, b->issuer, &code, &result, &reason);
        if (r == -ENOMEM) {
                conn_close(c);
                return r;
        }
        if (r == -EBADMSG || r == -EINVAL) {
                log_debug(b->log, "loopback listener: not an HTTP request, ignored");
                answer(c->fd, 400, "Bad request", "This is not a sign-in answer.");
                conn_close(c);
                return 0;
        }
        if (r == -ENOENT) {
                answer(c->fd, 404, "Not found", "This is not a sign-in answer.");
                conn_close(c);
                return 0;
        }
        if (r == -EACCES) {
                /* Anyone on this machine can reach the port: refusing must not end the login. */
                log_warn(b->log,
                         "loopback listener: refused a callback that is not this login's answer (wrong or no "
                         "state); still waiting for the browser");
                l->n_refused++;
                answer(c->fd, 400, "Sign-in answer refused",
                       "This answer is not for the sign-in this machine is waiting for, and was refused.");
                conn_close(c);
                return 0;
        }

        if (result == OAUTH_OK)
                answer(c->fd, 200, "Signed in",
                       "The sign-in answer reached this machine. You can close this window and return to the "
                       "terminal.");
        else
                answer(c->fd, 400, "Sign-in not completed",
                       "The answer that reached this machine was refused; the terminal says why. You can close "
                       "this window.");
        conn_close(c);
        b->reason = reason;
        *ret_result = result;
        if (result == OAUTH_OK)
                *ret_code = code;
        return 1;
}

int browser_login_wait(struct browser_login *b, unsigned timeout_s, char **ret_code, enum oauth_result *ret_result) {
        struct listener l = { .b = b };
        long long deadline;
        int r;

        if (!b || b->fd < 0 || !ret_code || !ret_result)
                return -EINVAL;

        l.bufs = malloc((size_t) BROWSER_CONN_MAX * BROWSER_REQUEST_MAX);
        if (!l.bufs)
                return -ENOMEM;
        for (size_t i = 0; i < BROWSER_CONN_MAX; i++)
                l.conns[i] = (struct conn) { .fd = -1, .buf = l.bufs + i * BROWSER_REQUEST_MAX };
        deadline = now_ms() + (long long) timeout_s * 1000;

        for (;;) {
                struct pollfd pfd[1 + BROWSER_CONN_MAX];
                struct conn *polled[1 + BROWSER_CONN_MAX];
                long long now = now_ms(), wake = deadline;
                size_t n_pfd = 1;
                int n;

                if (now >= deadline) {
                        b->reason = l.n_refused > 0 ? "nobody signed in before the timeout; answers that were not "
                                                      "this login's reached the listener and were refused"
                                                    : "nobody signed in before the timeout";
                        *ret_result = OAUTH_EXPIRED_TOKEN;
                        r = 0;
                        break;
                }

                pfd[0] = (struct pollfd) { .fd = b->fd, .events = POLLIN };
                for (size_t i = 0; i < BROWSER_CONN_MAX; i++) {
                        struct conn *c = &l.conns[i];

                        if (c->fd < 0)
                                continue;
                        if (now >= c->deadline) {
                                if (!c->draining)
                                        log_debug(b->log, "loopback listener: a connection sent no whole request "
                                                          "in time, dropped");
                                conn_close(c);
                                continue;
                        }
                        if (c->deadline < wake)
                                wake = c->deadline;
                        polled[n_pfd] = c;
                        pfd[n_pfd++] = (struct pollfd) { .fd = c->fd, .events = POLLIN };
                }

                n = poll(pfd, n_pfd, wake - now > 60000 ? 60000 : (int) (wake - now));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }

                /* Requests that arrived first, so no new connection can take their place unread. */
                r = 0;
                now = now_ms();
                for (size_t i = 1; i < n_pfd && r == 0; i++)
                        if (pfd[i].revents)
                                r = conn_serve(&l, polled[i], now, ret_code, ret_result);
                if (r != 0) {
                        if (r > 0)
                                r = 0;
                        break;
                }
                if (pfd[0].revents & POLLIN) {
                        r = accept_pending(&l, now);
                        if (r < 0)
                                break;
                } else if (pfd[0].revents) {
                        r = -EIO;
                        break;
                }
        }

        listener_done(&l);
        return r;
}
