/* SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cloudauth-build.h"
#include "http.h"
#include "tests.h"

static char dir[] = "/tmp/test-http-XXXXXX";

static void test_form(void) {
        char *f = NULL;

        CHECK_INT(http_form_append(&f, "grant_type", "password"), 0);
        CHECK_STR(f, "grant_type=password");
        CHECK_INT(http_form_append(&f, "username", "alice@example.com"), 0);
        CHECK_INT(http_form_append(&f, "password", "p a&s=s+w%rd/ü~._-"), 0);
        CHECK_STR(f, "grant_type=password&username=alice%40example.com&password=p%20a%26s%3Ds%2Bw%25rd%2F%C3%BC~._-");
        CHECK_INT(http_form_append(&f, "scope", "openid profile"), 0);
        CHECK(strstr(f, "&scope=openid%20profile") != NULL);
        CHECK_INT(http_form_append(&f, "empty", ""), 0);
        CHECK(strlen(f) > 6 && streq(f + strlen(f) - 6, "empty="));
        free(f);

        f = NULL;
        CHECK_INT(http_form_append(&f, "a b", "\n\r\t"), 0);
        CHECK_STR(f, "a%20b=%0A%0D%09");
        CHECK_INT(http_form_append(&f, NULL, "x"), -EINVAL);
        CHECK_INT(http_form_append(&f, "x", NULL), -EINVAL);
        CHECK_STR(f, "a%20b=%0A%0D%09");
        free(f);
        CHECK_INT(http_form_append(NULL, "a", "b"), -EINVAL);
}

static void test_error_mapping(void) {
        CHECK_INT(http_errno_from_curl(CURLE_OK, 0), 0);
        CHECK_INT(http_errno_from_curl(CURLE_COULDNT_CONNECT, ECONNREFUSED), -ECONNREFUSED);
        CHECK_INT(http_errno_from_curl(CURLE_COULDNT_CONNECT, 0), -ECONNREFUSED);
        CHECK_INT(http_errno_from_curl(CURLE_COULDNT_CONNECT, EHOSTUNREACH), -EHOSTUNREACH);
        CHECK_INT(http_errno_from_curl(CURLE_COULDNT_CONNECT, ENETUNREACH), -ENETUNREACH);
        CHECK_INT(http_errno_from_curl(CURLE_COULDNT_RESOLVE_HOST, 0), -EHOSTUNREACH);
        CHECK_INT(http_errno_from_curl(CURLE_OPERATION_TIMEDOUT, 0), -ETIMEDOUT);
        CHECK_INT(http_errno_from_curl(CURLE_PEER_FAILED_VERIFICATION, 0), -EKEYREJECTED);
        CHECK_INT(http_errno_from_curl(CURLE_SSL_CONNECT_ERROR, 0), -EKEYREJECTED);
        CHECK_INT(http_errno_from_curl(CURLE_SSL_CACERT_BADFILE, 0), -EKEYREJECTED);
        CHECK_INT(http_errno_from_curl(CURLE_SSL_CERTPROBLEM, 0), -EKEYREJECTED);
        CHECK_INT(http_errno_from_curl(CURLE_FILESIZE_EXCEEDED, 0), -EFBIG);
        CHECK_INT(http_errno_from_curl(CURLE_UNSUPPORTED_PROTOCOL, 0), -EPROTONOSUPPORT);
        CHECK_INT(http_errno_from_curl(CURLE_OUT_OF_MEMORY, 0), -ENOMEM);
        CHECK_INT(http_errno_from_curl(CURLE_GOT_NOTHING, 0), -ECONNRESET);
        CHECK_INT(http_errno_from_curl(CURLE_RECV_ERROR, ECONNRESET), -ECONNRESET);
        CHECK_INT(http_errno_from_curl(CURLE_SEND_ERROR, EPIPE), -ECONNRESET);
        CHECK_INT(http_errno_from_curl(CURLE_WEIRD_SERVER_REPLY, 0), -EPROTO);

        CHECK(http_error_is_unreachable(-ECONNREFUSED));
        CHECK(http_error_is_unreachable(-EHOSTUNREACH));
        CHECK(http_error_is_unreachable(-ENETUNREACH));
        CHECK(http_error_is_unreachable(-ETIMEDOUT));
        CHECK(http_error_is_unreachable(-ECONNRESET));
        CHECK(!http_error_is_unreachable(-EKEYREJECTED));
        CHECK(!http_error_is_unreachable(-EFBIG));
        CHECK(!http_error_is_unreachable(-EPROTO));
        CHECK(!http_error_is_unreachable(0));
        CHECK_STR(http_strerror(-ETIMEDOUT), "timed out");
        CHECK(http_strerror(-EPROTO) != NULL);
        CHECK(http_strerror(-12345) != NULL);
}

/* --- a real TLS peer: openssl s_server relaying a scripted answer --- */

static int run(const char *cmd) {
        char buf[4096];

        snprintf(buf, sizeof(buf), "cd %s && ( %s ) >/dev/null 2>&1", dir, cmd);
        return system(buf);
}

static int make_pki(void) {
        const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
        char cmd[1024];

        snprintf(cmd, sizeof(cmd),
                 "openssl req -x509 %s -keyout ca.key -out ca.pem -days 2 -subj /CN=cloudauth-test-ca && "
                 "openssl req -x509 %s -keyout other.key -out other.pem -days 2 -subj /CN=someone-else && "
                 "openssl req %s -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 && "
                 "printf 'subjectAltName=IP:127.0.0.1\\n' > ip.ext && "
                 "printf 'subjectAltName=DNS:idp.example.invalid\\n' > dns.ext && "
                 "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
                 "-extfile ip.ext -out srv.pem && "
                 "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
                 "-extfile dns.ext -out wrongname.pem",
                 ec, ec, ec);
        return run(cmd);
}

static int free_port(void) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

        if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *) &a, &l) < 0)
                abort();
        port = ntohs(a.sin_port);
        close(fd);
        return port;
}

struct server {
        pid_t pid;
        int port;
        int in_fd, out_fd;
        const char *const *responses; /* response i is sent once request i+1 has arrived */
        size_t n_responses;
        bool close_after;
        char *capture;
        size_t capture_len;
        pthread_t thread;
        pthread_mutex_t lock; /* capture, while the script thread runs */
};

static size_t count_requests(const struct server *s) {
        size_t n = 0;

        for (const char *p = s->capture; p && (p = strstr(p, " HTTP/1.1\r\n")); p++)
                n++;
        return n;
}

static void capture_append(struct server *s, const char *buf, size_t n) {
        pthread_mutex_lock(&s->lock);
        s->capture = realloc(s->capture, s->capture_len + n + 1);
        if (!s->capture)
                abort();
        memcpy(s->capture + s->capture_len, buf, n);
        s->capture_len += n;
        s->capture[s->capture_len] = 0;
        pthread_mutex_unlock(&s->lock);
}

static bool server_has(struct server *s, const char *needle) {
        bool found;

        pthread_mutex_lock(&s->lock);
        found = s->capture && strstr(s->capture, needle);
        pthread_mutex_unlock(&s->lock);
        return found;
}

static void write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w <= 0)
                        return;
                p += w;
                n -= (size_t) w;
        }
}

static void *server_script(void *userdata) {
        struct server *s = userdata;
        size_t sent = 0;
        char buf[4096];

        for (;;) {
                ssize_t n;

                for (;;) {
                        size_t seen;

                        pthread_mutex_lock(&s->lock);
                        seen = count_requests(s);
                        pthread_mutex_unlock(&s->lock);
                        if (sent >= s->n_responses || seen <= sent)
                                break;
                        write_all(s->in_fd, s->responses[sent], strlen(s->responses[sent]));
                        sent++;
                        if (sent == s->n_responses && s->close_after) {
                                close(s->in_fd);
                                s->in_fd = -1;
                        }
                }
                n = read(s->out_fd, buf, sizeof(buf));
                if (n <= 0)
                        break;
                capture_append(s, buf, (size_t) n);
        }
        return NULL;
}

static int server_start(struct server *s, const char *cert) {
        int in[2], out[2];
        char port[16], certp[512], keyp[512], buf[512];
        struct pollfd pfd;

        pthread_mutex_init(&s->lock, NULL);
        s->port = free_port();
        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
                return -errno;
        snprintf(port, sizeof(port), "127.0.0.1:%d", s->port);
        snprintf(certp, sizeof(certp), "%s/%s", dir, cert);
        snprintf(keyp, sizeof(keyp), "%s/srv.key", dir);
        s->pid = fork();
        if (s->pid == 0) {
                int null = open("/dev/null", O_WRONLY);
                dup2(in[0], 0);
                dup2(out[1], 1);
                dup2(null, 2);
                execlp("openssl", "openssl", "s_server", "-accept", port, "-cert", certp, "-key", keyp, "-naccept",
                       "1", (char *) NULL);
                _exit(127);
        }
        close(in[0]);
        close(out[1]);
        s->in_fd = in[1];
        s->out_fd = out[0];

        /* Ready when it says so: no sleeping and hoping. */
        pfd = (struct pollfd){ .fd = s->out_fd, .events = POLLIN };
        while (!server_has(s, "ACCEPT\n")) {
                ssize_t n;

                if (poll(&pfd, 1, 5000) <= 0)
                        return -ETIMEDOUT;
                n = read(s->out_fd, buf, sizeof(buf));
                if (n <= 0)
                        return -EIO;
                capture_append(s, buf, (size_t) n);
        }
        return pthread_create(&s->thread, NULL, server_script, s) == 0 ? 0 : -EAGAIN;
}

static void server_stop(struct server *s) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        pthread_join(s->thread, NULL);
        if (s->in_fd >= 0)
                close(s->in_fd);
        close(s->out_fd);
        pthread_mutex_destroy(&s->lock);
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/*
 * Upper time bounds stretch under valgrind, where a TLS handshake alone
 * takes about a second; the lower bounds (waited long enough) never do.
 */
static double slack(void) {
        const char *p = getenv("LD_PRELOAD");

        return p && strstr(p, "vgpreload") ? 4.0 : 1.0;
}

static char ca_path[512], other_path[512];

static const char *const ok_response[] = {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        "Content-Length: 16\r\n\r\n{\"hello\":\"you\"}\n",
};

static void test_trusted_get(void) {
        struct server s = { .responses = ok_response, .n_responses = 1 };
        struct http_options o = { .ca_file = ca_path, .timeout = 5 };
        struct http_response resp = {0};
        char url[128];

        CHECK_INT(server_start(&s, "srv.pem"), 0);
        snprintf(url, sizeof(url), "https://127.0.0.1:%d/.well-known/openid-configuration", s.port);
        CHECK_INT(http_get(&o, url, &resp), 0);
        server_stop(&s);
        CHECK_INT(resp.status, 200);
        CHECK_STR(resp.body, "{\"hello\":\"you\"}\n");
        CHECK_INT(resp.body_len, 16);
        CHECK_STR(resp.content_type, "application/json");
        CHECK_INT(resp.date, 784111777);
        CHECK(s.capture && strstr(s.capture, "GET /.well-known/openid-configuration HTTP/1.1\r\n"));
        CHECK(s.capture && strstr(s.capture, "\r\nUser-Agent: cloudauth/" CLOUDAUTH_VERSION "\r\n"));
        CHECK(s.capture && !strstr(s.capture, "Authorization:"));
        http_response_done(&resp);
        CHECK(resp.body == NULL);
        free(s.capture);
}

static void test_post_basic(void) {
        static const char *const r[] = { "HTTP/1.1 400 Bad Request\r\nContent-Length: 26\r\n\r\n"
                                         "{\"error\":\"invalid_client\"}" };
        struct server s = { .responses = r, .n_responses = 1 };
        struct http_options o = { .ca_file = ca_path, .timeout = 5 };
        struct http_response resp = {0};
        char url[128];

        CHECK_INT(server_start(&s, "srv.pem"), 0);
        snprintf(url, sizeof(url), "https://127.0.0.1:%d/token", s.port);
        CHECK_INT(http_post_form(&o, url, "grant_type=password&username=a%40b", "my client", "s:e/cret", &resp), 0);
        /* the body arrives after the headers: wait for it before stopping */
        for (int i = 0; i < 100 && !server_has(&s, "username=a%40b"); i++)
                usleep(10000);
        server_stop(&s);
        CHECK_INT(resp.status, 400);
        CHECK_STR(resp.body, "{\"error\":\"invalid_client\"}");
        CHECK_INT(resp.date, 0);
        CHECK(s.capture && strstr(s.capture, "POST /token HTTP/1.1\r\n"));
        /* RFC 6749 2.3.1: base64("my%20client:s%3Ae%2Fcret") */
        CHECK(s.capture && strstr(s.capture, "\r\nAuthorization: Basic bXklMjBjbGllbnQ6cyUzQWUlMkZjcmV0\r\n"));
        CHECK(s.capture && strstr(s.capture, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
        CHECK(s.capture && strstr(s.capture, "\r\n\r\ngrant_type=password&username=a%40b"));
        http_response_done(&resp);
        free(s.capture);
}

static int request_with_cert(const char *cert, const char *ca) {
        struct server s = { .responses = ok_response, .n_responses = 1 };
        struct http_options o = { .ca_file = ca, .timeout = 5 };
        struct http_response resp = { .status = -1 };
        char url[128];
        int r;

        if (server_start(&s, cert) < 0)
                return -EIO;
        snprintf(url, sizeof(url), "https://127.0.0.1:%d/", s.port);
        r = http_get(&o, url, &resp);
        server_stop(&s);
        CHECK_INT(resp.status, r < 0 ? -1 : 200);
        if (r >= 0)
                http_response_done(&resp);
        free(s.capture);
        return r;
}

static void test_untrusted(void) {
        CHECK_INT(request_with_cert("srv.pem", other_path), -EKEYREJECTED);
        /* the system store alone does not know the test CA */
        CHECK_INT(request_with_cert("srv.pem", NULL), -EKEYREJECTED);
        /* right CA, certificate for another name */
        CHECK_INT(request_with_cert("wrongname.pem", ca_path), -EKEYREJECTED);
}

static void test_refused(void) {
        struct http_options o = { .ca_file = ca_path, .timeout = 3 };
        struct http_response resp = { .status = -1 };
        char url[128];

        snprintf(url, sizeof(url), "https://127.0.0.1:%d/", free_port());
        CHECK_INT(http_get(&o, url, &resp), -ECONNREFUSED);
        CHECK_INT(resp.status, -1);
        CHECK_INT(http_post_form(&o, url, "a=b", NULL, NULL, &resp), -ECONNREFUSED);
}

static void test_silent_server(void) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct http_options o = { .timeout = 1 };
        struct http_response resp = { .status = -1 };
        socklen_t l = sizeof(a);
        char url[128];
        double t0, dt;
        int fd;

        /* the kernel completes the handshake from the backlog; nobody ever answers */
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(fd >= 0 && bind(fd, (struct sockaddr *) &a, sizeof(a)) == 0 && listen(fd, 4) == 0 &&
              getsockname(fd, (struct sockaddr *) &a, &l) == 0);
        snprintf(url, sizeof(url), "https://127.0.0.1:%d/", ntohs(a.sin_port));
        t0 = now_s();
        CHECK_INT(http_get(&o, url, &resp), -ETIMEDOUT);
        dt = now_s() - t0;
        CHECK(dt >= 0.9 && dt < 2.0 * slack());
        CHECK_INT(resp.status, -1);
        close(fd);
}

static void test_scheme(void) {
        struct http_options o = { .timeout = 1 };
        struct http_response resp = { .status = -1 };

        CHECK_INT(http_get(&o, "http://127.0.0.1/", &resp), -EPROTONOSUPPORT);
        CHECK_INT(http_get(&o, "ftp://127.0.0.1/", &resp), -EPROTONOSUPPORT);
        CHECK_INT(http_get(&o, "127.0.0.1/", &resp), -EPROTONOSUPPORT);
        CHECK_INT(http_get(&o, "https://", &resp), -EPROTONOSUPPORT);
        CHECK_INT(http_post_form(&o, "http://127.0.0.1/token", "a=b", "id", "secret", &resp), -EPROTONOSUPPORT);
        CHECK_INT(resp.status, -1);
}

static void test_redirect_not_followed(void) {
        static const char *const r[] = { "HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1:1/elsewhere\r\n"
                                         "Content-Length: 0\r\n\r\n" };
        struct server s = { .responses = r, .n_responses = 1 };
        struct http_options o = { .ca_file = ca_path, .timeout = 5 };
        struct http_response resp = {0};
        char url[128];

        CHECK_INT(server_start(&s, "srv.pem"), 0);
        snprintf(url, sizeof(url), "https://127.0.0.1:%d/token", s.port);
        CHECK_INT(http_get(&o, url, &resp), 0);
        server_stop(&s);
        CHECK_INT(resp.status, 302);
        CHECK_INT(resp.body_len, 0);
        CHECK_STR(resp.body, "");
        http_response_done(&resp);
        free(s.capture);
}

static void test_too_large(void) {
        size_t n = HTTP_RESPONSE_MAX + 4096;
        const char *head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
        char *big = malloc(strlen(head) + n + 1);
        const char *r[1] = { big };
        struct server s = { .responses = r, .n_responses = 1, .close_after = true };
        struct http_options o = { .ca_file = ca_path, .timeout = 5 };
        struct http_response resp = { .status = -1 };
        char url[128];

        CHECK(big != NULL);
        strcpy(big, head);
        memset(big + strlen(head), 'x', n);
        big[strlen(head) + n] = 0;

        CHECK_INT(server_start(&s, "srv.pem"), 0);
        snprintf(url, sizeof(url), "https://127.0.0.1:%d/jwks", s.port);
        CHECK_INT(http_get(&o, url, &resp), -EFBIG);
        server_stop(&s);
        CHECK_INT(resp.status, -1);
        free(s.capture);
        free(big);
}

static void test_retry(void) {
        static const char *const busy_then_ok[] = {
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nbusy",
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        };
        static const char *const busy_without_header[] = {
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy",
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        };
        static const char *const too_long[] = {
                "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\nContent-Length: 4\r\n\r\nslow",
        };
        struct http_options o = { .ca_file = ca_path, .timeout = 4 };
        struct http_response resp = {0};
        char url[128];
        double t0, dt;

        {
                struct server s = { .responses = busy_then_ok, .n_responses = 2 };

                CHECK_INT(server_start(&s, "srv.pem"), 0);
                snprintf(url, sizeof(url), "https://127.0.0.1:%d/token", s.port);
                t0 = now_s();
                CHECK_INT(http_get(&o, url, &resp), 0);
                dt = now_s() - t0;
                server_stop(&s);
                CHECK_INT(resp.status, 200);
                CHECK_STR(resp.body, "ok");
                CHECK(dt >= 0.9 && dt < 3.0 * slack());
                CHECK_INT(count_requests(&s), 2);
                http_response_done(&resp);
                free(s.capture);
        }
        {
                /* Without Retry-After the retry still waits (a second), never follows at once */
                struct server s = { .responses = busy_without_header, .n_responses = 2 };

                CHECK_INT(server_start(&s, "srv.pem"), 0);
                snprintf(url, sizeof(url), "https://127.0.0.1:%d/token", s.port);
                t0 = now_s();
                CHECK_INT(http_get(&o, url, &resp), 0);
                dt = now_s() - t0;
                server_stop(&s);
                CHECK_INT(resp.status, 200);
                CHECK(dt >= 0.9 && dt < 3.0 * slack());
                CHECK_INT(count_requests(&s), 2);
                http_response_done(&resp);
                free(s.capture);
        }
        {
                /* Retry-After beyond the budget: the answer is returned, not waited out */
                struct server s = { .responses = too_long, .n_responses = 1 };

                CHECK_INT(server_start(&s, "srv.pem"), 0);
                snprintf(url, sizeof(url), "https://127.0.0.1:%d/token", s.port);
                t0 = now_s();
                CHECK_INT(http_post_form(&o, url, "a=b", NULL, NULL, &resp), 0);
                dt = now_s() - t0;
                server_stop(&s);
                CHECK_INT(resp.status, 429);
                CHECK_STR(resp.body, "slow");
                CHECK(dt < 1.0 * slack());
                CHECK_INT(count_requests(&s), 1);
                http_response_done(&resp);
                free(s.capture);
        }
}

int main(void) {
        signal(SIGPIPE, SIG_IGN);
        RUN(test_form);
        RUN(test_error_mapping);
        RUN(test_scheme);
        RUN(test_refused);
        RUN(test_silent_server);

        if (!mkdtemp(dir) || make_pki() != 0) {
                fprintf(stderr, "cannot create the test PKI in %s\n", dir);
                return EXIT_FAILURE;
        }
        snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", dir);
        snprintf(other_path, sizeof(other_path), "%s/other.pem", dir);
        RUN(test_trusted_get);
        RUN(test_post_basic);
        RUN(test_untrusted);
        RUN(test_redirect_not_followed);
        RUN(test_too_large);
        RUN(test_retry);
        run("rm -f ca.* other.* srv.* wrongname.pem ip.ext dns.ext");
        rmdir(dir);
        return tests_exit();
}
