/* SPDX-License-Identifier: MIT */
/*
 * cloudauth-auth: the login helper pam_cloudauth.so executes for every call.
 * It runs as root with a fixed environment, in its own session, and talks to
 * the module only through the socketpair on descriptor 3: everything that
 * touches the network, TLS, JSON, tokens and the identity store happens here,
 * never inside the caller's process. It is not setuid: run by anyone else it
 * has no privilege and refuses to start.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "cloudauth-build.h"
#include "helper.h"
#include "macro.h"
#include "sandbox.h"

#if HAVE_LIBSYSTEMD
#include <systemd/sd-journal.h>
#endif

/* From exec to START; the module sends it at once. */
#define HELPER_START_TIMEOUT_MS 10000
/* The whole run, whatever happens: long enough for a device login's longest code. */
#define HELPER_DEADLINE_S (1800 + 300)

static const char *phase_name = "auth";
static const char *service_name = "unknown";
static const char *rhost_name;

static void helper_log_sink(void *userdata, int priority, const char *message) {
        syslog(LOG_AUTHPRIV | (priority & LOG_PRIMASK), "pam_cloudauth(%s:%s): %s", service_name, phase_name, message);
}

/* A decision, as a journal record with its fields, when journald runs; its MESSAGE is the syslog line. */
static int helper_log_record(void *userdata, int priority, const char *message_id, const struct log_field *fields,
                             size_t n_fields, const char *message) {
#if HAVE_LIBSYSTEMD
        struct log_field all[LOG_FIELDS_MAX];
        char line[2048];

        if (n_fields + 2 > ELEMENTSOF(all))
                return -E2BIG;
        memcpy(all, fields, n_fields * sizeof(*fields));
        all[n_fields++] = (struct log_field) { "CLOUDAUTH_SERVICE", service_name };
        all[n_fields++] = (struct log_field) { "CLOUDAUTH_RHOST", rhost_name };
        snprintf(line, sizeof(line), "pam_cloudauth(%s:%s): %s", service_name, phase_name, message);
        return log_journal_send(sd_journal_sendv, "cloudauth-auth", LOG_AUTHPRIV, priority, message_id, all,
                                n_fields, line);
#else
        return -EOPNOTSUPP;
#endif
}

static bool fd_is_our_socket(int fd) {
        int type = 0, domain = 0;
        socklen_t n = sizeof(type), m = sizeof(domain);

        return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &n) == 0 && type == SOCK_SEQPACKET &&
               getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &m) == 0 && domain == AF_UNIX;
}

static bool ids_all_root(void) {
        uid_t ru, eu, su;
        gid_t rg, eg, sg;

        return getresuid(&ru, &eu, &su) == 0 && getresgid(&rg, &eg, &sg) == 0 && ru == 0 && eu == 0 && su == 0 &&
               rg == 0 && eg == 0 && sg == 0;
}

/*
 * The module set all of this up before exec; set it again, since nothing the
 * caller controlled may survive into the code that talks to the network.
 */
static int sandbox_self(void) {
        struct sigaction dfl = { .sa_handler = SIG_DFL }, ign = { .sa_handler = SIG_IGN };
        sigset_t none;

        umask(077);
        if (sandbox_limits_apply() < 0)
                return -errno;
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) sigaction(sig, &dfl, NULL);
        (void) sigaction(SIGPIPE, &ign, NULL);
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);

        if (clearenv() != 0 || setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1) < 0)
                return -ENOMEM;
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return -errno;
        /* Executed from a descriptor, the kernel may have named it by the descriptor's number: name it for ps. */
        (void) prctl(PR_SET_NAME, "cloudauth-auth", 0, 0, 0);
        if (chdir("/") < 0)
                return -errno;
        for (int fd = 0; fd <= 2; fd++)
                if (fcntl(fd, F_GETFD) < 0) {
                        int n = open("/dev/null", O_RDWR | O_CLOEXEC);
                        if (n < 0)
                                return -errno;
                        if (n != fd) {
                                if (dup2(n, fd) < 0)
                                        return -errno;
                                close(n);
                        }
                }
        if (close_range(PROTO_HELPER_FD + 1, ~0U, 0) < 0)
                return -errno;
        return 0;
}

int helper_result(struct helper *h, enum proto_code code, const char *local_user) {
        struct proto_builder b;

        proto_begin(&b, PROTO_RESULT);
        proto_put_u32(&b, PROTO_TAG_CODE, code);
        if (code == PROTO_CODE_SUCCESS)
                proto_put_str(&b, PROTO_TAG_LOCAL_USER, local_user);
        return proto_send(h->conv.fd, &b);
}

int main(int argc, char **argv) {
        static struct proto_msg start;
        struct helper h = { .conv = { .fd = PROTO_HELPER_FD }, .log = { .sink = helper_log_sink } };
        uint32_t op = 0, flow = 0;
        int r;

        if (argc != 1 || !fd_is_our_socket(PROTO_HELPER_FD) || !ids_all_root()) {
                fprintf(stderr, "%s: this is the login helper of pam_cloudauth.so, which runs it as root; "
                                "it is not for running by hand\n",
                        argc > 0 ? argv[0] : "cloudauth-auth");
                return 2;
        }
        if ((r = sandbox_self()) < 0) {
                syslog(LOG_AUTHPRIV | LOG_ERR, "cloudauth-auth: cannot set up a clean environment: %s", strerror(-r));
                return 1;
        }
        alarm(HELPER_DEADLINE_S);
        openlog("cloudauth-auth", LOG_PID, LOG_AUTHPRIV);

        r = proto_recv(PROTO_HELPER_FD, &start, HELPER_START_TIMEOUT_MS);
        if (r < 0 || start.type != PROTO_START) {
                syslog(LOG_ERR, "no valid request from pam_cloudauth.so: %s", r < 0 ? strerror(-r) : "not a start");
                return 1;
        }
        (void) proto_u32(&start, PROTO_TAG_OP, &op);
        (void) proto_u32(&start, PROTO_TAG_FLOW, &flow);
        (void) proto_u32(&start, PROTO_TAG_FLAGS, &h.flags);
        h.op = op;
        h.flow = flow;
        h.user = proto_str(&start, PROTO_TAG_USER);
        h.config_path = proto_str(&start, PROTO_TAG_CONFIG);
        h.rhost = proto_str(&start, PROTO_TAG_RHOST);
        h.service = proto_str(&start, PROTO_TAG_SERVICE);
        if (h.service)
                service_name = h.service;
        rhost_name = h.rhost;
        if (HAVE_LIBSYSTEMD && log_journal_runs())
                h.log.record = helper_log_record;
        h.log.debug = h.flags & PROTO_FLAG_DEBUG;

        if (h.op == PROTO_OP_ACCOUNT) {
                phase_name = "account";
                r = helper_account(&h);
        } else if (h.op == PROTO_OP_CHAUTHTOK) {
                phase_name = "password";
                r = helper_chauthtok(&h);
        } else
                r = helper_authenticate(&h);
        proto_msg_wipe(&start);
        return r < 0 ? 1 : 0;
}
