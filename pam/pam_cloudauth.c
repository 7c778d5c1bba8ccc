/* SPDX-License-Identifier: MIT */
/*
 * pam_cloudauth: the PAM side of cloudauth. It runs inside su, sshd, sudo,
 * login and display managers, whose environment, umask, limits, descriptors
 * and signals belong partly to the calling user, so it keeps only the PAM
 * conversation and the mapping to PAM codes. Everything else (configuration,
 * network, tokens, the identity store, every decision) happens in the root
 * helper cloudauth-auth, executed afresh for each call with nothing of the
 * caller's, and spoken to over a socketpair (proto.h). This file links only
 * libc and libpam.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "cloudauth-build.h"
#include "macro.h"
#include "proto.h"
#include "sandbox.h"

#define DATA_LOGIN "cloudauth-login"
/* As pam_unix: every failure waits about as long, whatever failed and why. */
#define FAIL_DELAY_USEC 2000000
/* A device login answers at most one prompt a second for at most half an hour. */
#define MESSAGES_MAX 10000
/* How long the helper may take to exit once it answered. */
#define HELPER_EXIT_TIMEOUT_MS 3000

struct module_args {
        bool debug;
        bool use_first_pass;
        bool try_first_pass;
        bool no_offline;
        bool nodelay;
        bool silent;
        const char *config_path;
        const char *helper_path;
        unsigned flow; /* enum login_flow bit (proto.h PROTO_TAG_FLOW), 0 = from the configuration */
};

/* What authenticate learned, kept for acct_mgmt in the same PAM transaction: only a success. */
struct login_verdict {
        char *user;       /* PAM_USER at authentication time */
        char *local_user; /* the local account */
};

static void verdict_free(pam_handle_t *pamh, void *data, int error_status) {
        struct login_verdict *v = data;

        if (!v)
                return;
        free(v->user);
        free(v->local_user);
        free(v);
}

static int args_parse(pam_handle_t *pamh, int flags, int argc, const char **argv, struct module_args *ret) {
        struct module_args a = {
                .config_path = CLOUDAUTH_CONFIG_PATH,
                .helper_path = CLOUDAUTH_HELPER_PATH,
                .silent = flags & PAM_SILENT,
        };

        for (int i = 0; i < argc; i++) {
                const char *arg = argv[i];

                if (streq(arg, "debug"))
                        a.debug = true;
                else if (streq(arg, "use_first_pass"))
                        a.use_first_pass = true;
                else if (streq(arg, "try_first_pass"))
                        a.try_first_pass = true;
                else if (streq(arg, "no_offline"))
                        a.no_offline = true;
                else if (streq(arg, "nodelay"))
                        a.nodelay = true;
                else if (strncmp(arg, "config=", 7) == 0 && arg[7] == '/')
                        a.config_path = arg + 7;
                else if (strncmp(arg, "helper=", 7) == 0 && arg[7] == '/')
                        a.helper_path = arg + 7;
                else if (streq(arg, "flow=password"))
                        a.flow = 1;
                else if (streq(arg, "flow=device"))
                        a.flow = 2;
                else if (streq(arg, "flow=auto"))
                        a.flow = 4;
                else if (streq(arg, "flow=pin"))
                        a.flow = 8;
                else {
                        pam_syslog(pamh, LOG_ERR, "unknown or invalid module argument '%s'", arg);
                        return PAM_SERVICE_ERR;
                }
        }

        *ret = a;
        return PAM_SUCCESS;
}

/*
 * The helper, opened once and checked on the descriptor that is executed:
 * a regular file owned by root that nobody else may change.
 */
static int helper_open(pam_handle_t *pamh, const char *path) {
        struct stat st;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                pam_syslog(pamh, LOG_ERR, "cannot open the login helper %s: %s", path, strerror(errno));
                return -1;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) ||
            !(st.st_mode & S_IXUSR)) {
                pam_syslog(pamh, LOG_ERR, "refusing the login helper %s: not a root-owned executable file that only root may change",
                           path);
                close(fd);
                return -1;
        }
        return fd;
}

/*
 * Between fork and exec: only async-signal-safe calls, and raw system calls
 * for the IDs, since the process may have had threads. Leaves the child
 * with nothing of the caller's: IDs, session, signals, umask, limits,
 * descriptors, working directory, personality, environment.
 */
static _Noreturn void helper_child(int sock, int exe) {
        char *const argv[] = { (char *) "cloudauth-auth", NULL };
        char *const envp[] = { (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
        struct sigaction dfl = { .sa_handler = SIG_DFL };
        sigset_t none;
        int s, e, null;

        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) sigaction(sig, &dfl, NULL);
        if (setsid() < 0)
                _exit(126);
        if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, 0, 0, 0) < 0 ||
            syscall(SYS_setresuid, 0, 0, 0) < 0)
                _exit(126);
        (void) personality(PER_LINUX);
        umask(077);
        if (sandbox_limits_apply() < 0)
                _exit(126);

        /* Out of the way of 0-3 first: the caller may have closed any of them. */
        s = fcntl(sock, F_DUPFD_CLOEXEC, 10);
        e = fcntl(exe, F_DUPFD_CLOEXEC, 10);
        null = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (s < 0 || e < 0 || null < 0)
                _exit(126);
        if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 || dup2(s, PROTO_HELPER_FD) < 0)
                _exit(126);
        if (close_range(PROTO_HELPER_FD + 1, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
                _exit(126);
        if (chdir("/") < 0)
                _exit(126);
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) syscall(SYS_execveat, e, "", argv, envp, AT_EMPTY_PATH);
        _exit(127);
}

struct helper_run {
        pid_t pid;
        int fd;
        struct sigaction old_chld;
};

static int helper_start(pam_handle_t *pamh, const struct module_args *args, struct helper_run *ret) {
        struct sigaction dfl = { .sa_handler = SIG_DFL };
        sigset_t all, old;
        int sv[2], exe, saved;
        pid_t pid;

        if (geteuid() != 0) {
                pam_syslog(pamh, LOG_ERR, "cloudauth needs root to run its login helper; this process runs as uid %u",
                           (unsigned) geteuid());
                return PAM_AUTHINFO_UNAVAIL;
        }
        exe = helper_open(pamh, args->helper_path);
        if (exe < 0)
                return PAM_AUTHINFO_UNAVAIL;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
                pam_syslog(pamh, LOG_ERR, "socketpair: %s", strerror(errno));
                close(exe);
                return PAM_SYSTEM_ERR;
        }

        /* waitpid() must find the helper: as pam_unix does for unix_chkpwd. */
        (void) sigaction(SIGCHLD, &dfl, &ret->old_chld);
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pid = fork();
        if (pid == 0) {
                close(sv[0]);
                helper_child(sv[1], exe);
        }
        saved = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        close(sv[1]);
        close(exe);
        if (pid < 0) {
                pam_syslog(pamh, LOG_ERR, "cannot start the login helper: %s", strerror(saved));
                close(sv[0]);
                (void) sigaction(SIGCHLD, &ret->old_chld, NULL);
                return PAM_SYSTEM_ERR;
        }
        ret->pid = pid;
        ret->fd = sv[0];
        return PAM_SUCCESS;
}

/* Reap the helper; one that does not exit once it answered is killed. */
static void helper_finish(pam_handle_t *pamh, struct helper_run *h) {
        int status, pidfd;

        if (h->fd >= 0)
                close(h->fd);
        h->fd = -1;
        pidfd = (int) syscall(SYS_pidfd_open, h->pid, 0);
        if (pidfd >= 0) {
                struct pollfd p = { .fd = pidfd, .events = POLLIN };
                while (poll(&p, 1, HELPER_EXIT_TIMEOUT_MS) < 0 && errno == EINTR)
                        ;
                if (!(p.revents & POLLIN)) {
                        pam_syslog(pamh, LOG_ERR, "the login helper did not exit; killing it");
                        (void) kill(h->pid, SIGKILL);
                }
                close(pidfd);
        }
        while (waitpid(h->pid, &status, 0) < 0 && errno == EINTR)
                ;
        (void) sigaction(SIGCHLD, &h->old_chld, NULL);
}

static void wipe_responses(struct pam_response *resp, int n) {
        if (!resp)
                return;
        for (int i = 0; i < n; i++)
                if (resp[i].resp) {
                        explicit_bzero(resp[i].resp, strlen(resp[i].resp));
                        free(resp[i].resp);
                }
        free(resp);
}

/* One CONV request: show its text, ask its prompt, answer the helper when it asked. */
static int converse(pam_handle_t *pamh, const struct module_args *args, int fd, const struct proto_msg *m) {
        const char *info = proto_str(m, PROTO_TAG_INFO), *error = proto_str(m, PROTO_TAG_ERROR),
                   *prompt = proto_str(m, PROTO_TAG_PROMPT);
        struct pam_message msgs[3];
        const struct pam_message *pmsgs[3];
        struct pam_response *resp = NULL;
        const struct pam_conv *conv = NULL;
        struct proto_builder b;
        uint32_t echo = 0, flags = 0;
        int n = 0, r;

        (void) proto_u32(m, PROTO_TAG_ECHO, &echo);
        (void) proto_u32(m, PROTO_TAG_CONV_FLAGS, &flags);

        /* Text with a prompt goes out in the same call: sshd's keyboard-interactive shows it only so. */
        if (info && (prompt || !args->silent))
                msgs[n++] = (struct pam_message) { .msg_style = PAM_TEXT_INFO, .msg = info };
        if (error)
                msgs[n++] = (struct pam_message) { .msg_style = PAM_ERROR_MSG, .msg = error };
        if (prompt)
                msgs[n++] = (struct pam_message) { .msg_style = echo ? PAM_PROMPT_ECHO_ON : PAM_PROMPT_ECHO_OFF,
                                                   .msg = prompt };
        for (int i = 0; i < n; i++)
                pmsgs[i] = &msgs[i];

        r = pam_get_item(pamh, PAM_CONV, (const void **) &conv);
        if (r != PAM_SUCCESS || !conv || !conv->conv)
                r = PAM_CONV_ERR;
        else if (n > 0)
                r = conv->conv(n, pmsgs, &resp, conv->appdata_ptr);
        if (!prompt) {
                wipe_responses(resp, n);
                return PAM_SUCCESS;
        }

        proto_begin(&b, PROTO_REPLY);
        if (r != PAM_SUCCESS) {
                pam_syslog(pamh, LOG_ERR, "conversation failed: %s", pam_strerror(pamh, r));
                proto_put_u32(&b, PROTO_TAG_STATUS, PROTO_CONV_FAILED);
        } else {
                /* NULL is the conversation's end of input: sent as no answer, never as an empty one. */
                const char *answer = resp ? resp[n - 1].resp : NULL;

                proto_put_u32(&b, PROTO_TAG_STATUS, PROTO_CONV_OK);
                proto_put_str(&b, PROTO_TAG_ANSWER, answer);
                if (b.overflow) {
                        proto_begin(&b, PROTO_REPLY);
                        proto_put_u32(&b, PROTO_TAG_STATUS, PROTO_CONV_FAILED);
                }
                /* Later modules in the stack (try_first_pass) may use it; an empty answer is no password. */
                if ((flags & PROTO_CONV_AUTHTOK) && answer && *answer)
                        (void) pam_set_item(pamh, PAM_AUTHTOK, answer);
        }
        wipe_responses(resp, n);
        /* A helper that has already answered is gone: its result is still to be read. */
        (void) proto_send(fd, &b);
        return PAM_SUCCESS;
}

static int send_authtok(pam_handle_t *pamh, int fd) {
        const void *item = NULL;
        struct proto_builder b;

        proto_begin(&b, PROTO_AUTHTOK);
        if (pam_get_item(pamh, PAM_AUTHTOK, &item) == PAM_SUCCESS && item)
                proto_put_str(&b, PROTO_TAG_AUTHTOK, item);
        if (b.overflow)
                proto_begin(&b, PROTO_AUTHTOK);
        (void) proto_send(fd, &b);
        return PAM_SUCCESS;
}

static int pam_code(uint32_t code) {
        switch (code) {
        case PROTO_CODE_SUCCESS:
                return PAM_SUCCESS;
        case PROTO_CODE_AUTH_ERR:
                return PAM_AUTH_ERR;
        case PROTO_CODE_USER_UNKNOWN:
                return PAM_USER_UNKNOWN;
        case PROTO_CODE_PERM_DENIED:
                return PAM_PERM_DENIED;
        case PROTO_CODE_AUTHINFO_UNAVAIL:
                return PAM_AUTHINFO_UNAVAIL;
        case PROTO_CODE_MAXTRIES:
                return PAM_MAXTRIES;
        case PROTO_CODE_CONV_ERR:
                return PAM_CONV_ERR;
        case PROTO_CODE_BUF_ERR:
                return PAM_BUF_ERR;
        case PROTO_CODE_AUTHTOK_ERR:
                return PAM_AUTHTOK_ERR;
        case PROTO_CODE_SERVICE_ERR:
        default:
                return PAM_SERVICE_ERR;
        }
}

static int verdict_store(pam_handle_t *pamh, const char *user, const char *local_user) {
        struct login_verdict *v = calloc(1, sizeof(*v));
        int r;

        if (!v)
                return PAM_BUF_ERR;
        v->user = strdup(user);
        v->local_user = strdup(local_user);
        if (!v->user || !v->local_user) {
                verdict_free(pamh, v, 0);
                return PAM_BUF_ERR;
        }
        r = pam_set_data(pamh, DATA_LOGIN, v, verdict_free);
        if (r != PAM_SUCCESS)
                verdict_free(pamh, v, 0); /* PAM calls the cleanup only for data it stored */
        return r;
}

/* One call of the helper: START, then its requests until RESULT. Returns a PAM code. */
static int helper_call(pam_handle_t *pamh, const struct module_args *args, uint32_t op, const char *user) {
        static const size_t msg_size = sizeof(struct proto_msg);
        struct proto_msg *m = NULL;
        struct helper_run h = { .fd = -1 };
        struct proto_builder b;
        const void *service = NULL, *rhost = NULL;
        uint32_t flags = 0, code;
        int r, result = PAM_AUTHINFO_UNAVAIL;

        m = malloc(msg_size);
        if (!m)
                return PAM_BUF_ERR;
        r = helper_start(pamh, args, &h);
        if (r != PAM_SUCCESS) {
                free(m);
                return r;
        }

        if (args->debug)
                flags |= PROTO_FLAG_DEBUG;
        if (args->use_first_pass)
                flags |= PROTO_FLAG_USE_FIRST_PASS;
        if (args->try_first_pass)
                flags |= PROTO_FLAG_TRY_FIRST_PASS;
        if (args->no_offline)
                flags |= PROTO_FLAG_NO_OFFLINE;
        if (args->silent)
                flags |= PROTO_FLAG_SILENT;
        (void) pam_get_item(pamh, PAM_SERVICE, &service);
        (void) pam_get_item(pamh, PAM_RHOST, &rhost);

        proto_begin(&b, PROTO_START);
        proto_put_u32(&b, PROTO_TAG_OP, op);
        proto_put_str(&b, PROTO_TAG_USER, user);
        proto_put_str(&b, PROTO_TAG_CONFIG, args->config_path);
        proto_put_u32(&b, PROTO_TAG_FLAGS, flags);
        proto_put_u32(&b, PROTO_TAG_FLOW, args->flow);
        /* For the log only; a value the protocol cannot carry is left out. */
        if (service && strlen(service) < 256 && strcspn(service, "\x01\x02\x03\x04\x05\x06\x07\x08\t\n\v\f\r\x7f") == strlen(service))
                proto_put_str(&b, PROTO_TAG_SERVICE, service);
        if (rhost && strlen(rhost) < 256 && strcspn(rhost, "\x01\x02\x03\x04\x05\x06\x07\x08\t\n\v\f\r\x7f") == strlen(rhost))
                proto_put_str(&b, PROTO_TAG_RHOST, rhost);
        if ((r = proto_send(h.fd, &b)) < 0) {
                pam_syslog(pamh, LOG_ERR, "cannot talk to the login helper: %s", strerror(-r));
                goto out;
        }

        for (unsigned n = 0;; n++) {
                if (n >= MESSAGES_MAX) {
                        pam_syslog(pamh, LOG_ERR, "the login helper sent too many requests; giving up");
                        goto out;
                }
                r = proto_recv(h.fd, m, -1);
                if (r < 0) {
                        pam_syslog(pamh, LOG_ERR, "the login helper ended without an answer: %s", strerror(-r));
                        goto out;
                }
                if (m->type == PROTO_CONV)
                        (void) converse(pamh, args, h.fd, m);
                else if (m->type == PROTO_GET_AUTHTOK)
                        (void) send_authtok(pamh, h.fd);
                else if (m->type == PROTO_RESULT)
                        break;
                else {
                        pam_syslog(pamh, LOG_ERR, "the login helper sent an unexpected message");
                        goto out;
                }
                proto_msg_wipe(m);
        }

        (void) proto_u32(m, PROTO_TAG_CODE, &code);
        result = pam_code(code);
        if (result == PAM_SUCCESS && op == PROTO_OP_AUTHENTICATE) {
                const char *local = proto_str(m, PROTO_TAG_LOCAL_USER);
                result = local ? verdict_store(pamh, user, local) : PAM_AUTHINFO_UNAVAIL;
        }

out:
        proto_msg_wipe(m);
        free(m);
        helper_finish(pamh, &h);
        return result;
}

static int user_get(pam_handle_t *pamh, const char **ret) {
        const char *user = NULL;
        int r = pam_get_user(pamh, &user, NULL);

        if (r != PAM_SUCCESS || !user || !*user) {
                pam_syslog(pamh, LOG_ERR, "cannot determine the user name: %s", pam_strerror(pamh, r));
                return PAM_USER_UNKNOWN;
        }
        /* The protocol carries no control characters, and no name with one is ever ours. */
        for (const char *p = user; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return PAM_USER_UNKNOWN;
        if (strlen(user) > 1024)
                return PAM_USER_UNKNOWN;
        *ret = user;
        return PAM_SUCCESS;
}

/*
 * A name in /etc/passwd itself is never ours, whatever else the helper
 * would find: answered here, without starting it, since every local su,
 * sudo and login passes through this module too. Read directly, since NSS
 * answers for cloudauth's own users as well.
 */
static bool user_in_etc_passwd(const char *user) {
        struct passwd pw, *result;
        char buf[4096];
        FILE *f;
        int r;

        f = fopen("/etc/passwd", "re");
        if (!f)
                return false;
        while ((r = fgetpwent_r(f, &pw, buf, sizeof(buf), &result)) == 0)
                if (streq(result->pw_name, user))
                        break;
        fclose(f);
        return r == 0;
}

_public_ int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct module_args args;
        const char *user;
        int r;

        r = args_parse(pamh, flags, argc, argv, &args);
        if (r != PAM_SUCCESS)
                return r;
        if (!args.nodelay)
                (void) pam_fail_delay(pamh, FAIL_DELAY_USEC);
        r = user_get(pamh, &user);
        if (r != PAM_SUCCESS)
                return r;
        if (user_in_etc_passwd(user)) {
                if (args.debug)
                        pam_syslog(pamh, LOG_DEBUG, "user=%s result=ignored reason=\"a local account\"", user);
                return PAM_USER_UNKNOWN;
        }
        return helper_call(pamh, &args, PROTO_OP_AUTHENTICATE, user);
}

_public_ int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        /* No credentials beyond the identity itself: nothing to establish or delete. */
        return PAM_SUCCESS;
}

_public_ int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        const struct login_verdict *v = NULL;
        struct module_args args;
        const char *user;
        int r;

        r = args_parse(pamh, flags, argc, argv, &args);
        if (r != PAM_SUCCESS)
                return r;
        r = user_get(pamh, &user);
        if (r != PAM_SUCCESS)
                return r;

        /* Authenticated and allowed by the provider moments ago, in this transaction: nothing to ask again. */
        r = pam_get_data(pamh, DATA_LOGIN, (const void **) &v);
        if (r == PAM_SUCCESS && v && streq(v->user, user)) {
                pam_syslog(pamh, LOG_INFO, "user=%s account=%s result=allowed reason=\"authenticated in this transaction\"",
                           user, v->local_user);
                return PAM_SUCCESS;
        }
        if (user_in_etc_passwd(user))
                return PAM_USER_UNKNOWN;
        return helper_call(pamh, &args, PROTO_OP_ACCOUNT, user);
}

/*
 * passwd(1) for a cloud user: the PIN of [pin], never the provider's
 * password. The preliminary check asks nothing; the helper asks for the
 * current PIN, when one is set, and the new one twice in the update phase.
 */
_public_ int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct module_args args;
        const char *user;
        int r;

        r = args_parse(pamh, flags, argc, argv, &args);
        if (r != PAM_SUCCESS)
                return r;
        r = user_get(pamh, &user);
        if (r != PAM_SUCCESS)
                return PAM_IGNORE;
        if (user_in_etc_passwd(user))
                return PAM_IGNORE;
        if (flags & PAM_PRELIM_CHECK)
                return PAM_SUCCESS;
        if (!(flags & PAM_UPDATE_AUTHTOK))
                return PAM_SERVICE_ERR;
        r = helper_call(pamh, &args, PROTO_OP_CHAUTHTOK, user);
        return r == PAM_USER_UNKNOWN ? PAM_IGNORE : r;
}
