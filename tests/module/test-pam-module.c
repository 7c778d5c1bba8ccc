/* SPDX-License-Identifier: MIT */
/*
 * The PAM module through the real Linux-PAM stack (pam_start_confdir with a
 * service directory of our own), for the paths that need no provider: bad
 * arguments, unusable configuration, acct_mgmt for users that are not ours.
 * usage: test-pam-module MODULE HELPER
 */
#include <errno.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests.h"

static const char *module, *helper;
static char dir[] = "/tmp/cloudauth-test-pam-XXXXXX";

static int conv_password(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
        struct pam_response *r = calloc((size_t) n, sizeof(*r));

        if (!r)
                return PAM_BUF_ERR;
        for (int i = 0; i < n; i++)
                if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
                        r[i].resp = strdup(data ? data : "");
        *resp = r;
        return PAM_SUCCESS;
}

static void write_file(const char *name, mode_t mode, const char *text) {
        char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "we");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
                perror(path);
                exit(EXIT_FAILURE);
        }
        chmod(path, mode);
}

static void service_with_helper(const char *name, const char *helper_path, const char *args) {
        char text[4096];

        snprintf(text, sizeof(text), "auth required %s helper=%s %s\naccount required %s helper=%s %s\n", module,
                 helper_path, args, module, helper_path, args);
        write_file(name, 0644, text);
}

static void service(const char *name, const char *args) {
        service_with_helper(name, helper, args);
}

static int run(const char *svc, const char *user, int (*op)(pam_handle_t *, int)) {
        struct pam_conv conv = { conv_password, (void *) "secret" };
        pam_handle_t *pamh = NULL;
        int r;

        r = pam_start_confdir(svc, user, &conv, dir, &pamh);
        if (r != PAM_SUCCESS)
                return -1000 - r;
        r = op(pamh, PAM_SILENT);
        pam_end(pamh, r);
        return r;
}

static void test_unknown_argument(void) {
        service("badarg", "config=/nonexistent/cloudauth.conf frobnicate");
        CHECK_INT(run("badarg", "alice", pam_authenticate), PAM_SERVICE_ERR);
}

static void test_missing_config(void) {
        char args[600];

        snprintf(args, sizeof(args), "config=%s/missing.conf", dir);
        service("missing", args);
        CHECK_INT(run("missing", "alice", pam_authenticate), PAM_AUTHINFO_UNAVAIL);
}

static void test_broken_config(void) {
        char args[600];

        write_file("broken.conf", 0644, "[provider]\nissuer = https://127.0.0.1:1\nclient_id = x\nfrobnicate = 1\n");
        snprintf(args, sizeof(args), "config=%s/broken.conf", dir);
        service("broken", args);
        CHECK_INT(run("broken", "alice", pam_authenticate), PAM_AUTHINFO_UNAVAIL);
}

static void test_unsafe_config(void) {
        char args[600];

        write_file("unsafe.conf", 0666, "[provider]\nissuer = https://127.0.0.1:1\nclient_id = x\n");
        snprintf(args, sizeof(args), "config=%s/unsafe.conf", dir);
        service("unsafe", args);
        CHECK_INT(run("unsafe", "alice", pam_authenticate), PAM_AUTHINFO_UNAVAIL);
}

static void test_acct_mgmt_not_ours(void) {
        char args[600];

        write_file("ok.conf", 0644,
                   "[provider]\nissuer = https://127.0.0.1:1\nclient_id = x\n[access]\nallow_users = *\n");
        snprintf(args, sizeof(args), "config=%s/ok.conf", dir);
        service("acct", args);
        /* Not authenticated by cloudauth in this transaction: fall through to other modules. */
        CHECK_INT(run("acct", "root", pam_acct_mgmt), PAM_USER_UNKNOWN);
}

static void test_invalid_user_name(void) {
        char args[600];

        write_file("ok2.conf", 0644,
                   "[provider]\nissuer = https://127.0.0.1:1\nclient_id = x\n[access]\nallow_users = *\n");
        snprintf(args, sizeof(args), "config=%s/ok2.conf", dir);
        service("badname", args);
        /* Never sent to the provider: such a name can't be a passwd entry. */
        CHECK_INT(run("badname", "bad:name", pam_authenticate), PAM_USER_UNKNOWN);
}

static void test_local_account(void) {
        char args[600];

        write_file("local.conf", 0644,
                   "[provider]\nissuer = https://127.0.0.1:1\nclient_id = x\ntimeout = 2\n"
                   "[access]\nallow_users = *\n");
        snprintf(args, sizeof(args), "config=%s/local.conf", dir);
        service("local", args);
        /* root is a local account: its password must never reach the provider (which would be unreachable here). */
        CHECK_INT(run("local", "root", pam_authenticate), PAM_USER_UNKNOWN);
}

static void test_local_account_other_spelling(void) {
        char args[600];

        write_file("local2.conf", 0644,
                   "[provider]\nissuer = https://127.0.0.1:1\nclient_id = x\ntimeout = 2\n"
                   "[identity]\ndefault_domain = example.com\n[access]\nallow_users = *\n");
        snprintf(args, sizeof(args), "config=%s/local2.conf", dir);
        service("local2", args);
        /* Both map to the local name root: still never sent to the provider. */
        CHECK_INT(run("local2", "Root", pam_authenticate), PAM_USER_UNKNOWN);
        CHECK_INT(run("local2", "root@Example.com", pam_authenticate), PAM_USER_UNKNOWN);
        /* An ordinary cloud name does reach the (unreachable) provider. */
        CHECK_INT(run("local2", "somebody", pam_authenticate), PAM_AUTHINFO_UNAVAIL);
}

static void test_unreachable(void) {
        char args[600];

        write_file("down.conf", 0644,
                   "[provider]\nissuer = https://127.0.0.1:1\nclient_id = x\ntimeout = 2\n"
                   "[access]\nallow_users = *\n");
        snprintf(args, sizeof(args), "config=%s/down.conf", dir);
        service("down", args);
        /* Nothing listens on port 1. */
        CHECK_INT(run("down", "alice@example.com", pam_authenticate), PAM_AUTHINFO_UNAVAIL);
}

/* The module runs only a helper that root alone may change, and says so when it cannot. */
static void test_helper_refused(void) {
        char args[600], path[600], cmd[1400];

        write_file("h.conf", 0644, "[provider]\nissuer = https://127.0.0.1:1\nclient_id = x\n[access]\nallow_users = *\n");
        snprintf(args, sizeof(args), "config=%s/h.conf", dir);

        snprintf(path, sizeof(path), "%s/no-such-helper", dir);
        service_with_helper("nohelper", path, args);
        CHECK_INT(run("nohelper", "alice", pam_authenticate), PAM_AUTHINFO_UNAVAIL);
        CHECK_INT(run("nohelper", "alice", pam_acct_mgmt), PAM_AUTHINFO_UNAVAIL);

        /* A copy anyone may overwrite is never executed. */
        snprintf(path, sizeof(path), "%s/writable-helper", dir);
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 0777 '%s'", helper, path, path);
        CHECK_INT(system(cmd), 0);
        service_with_helper("writable", path, args);
        CHECK_INT(run("writable", "alice", pam_authenticate), PAM_AUTHINFO_UNAVAIL);
}

int main(int argc, char **argv) {
        if (argc != 3) {
                fprintf(stderr, "usage: %s MODULE HELPER\n", argv[0]);
                return 2;
        }
        module = argv[1];
        helper = argv[2];
        if (geteuid() != 0) {
                /* Config files must be root-owned or owned by the caller; both hold here, but keep CI honest. */
                fprintf(stderr, "running as uid %u\n", (unsigned) geteuid());
        }
        if (!mkdtemp(dir))
                return EXIT_FAILURE;

        RUN(test_unknown_argument);
        RUN(test_missing_config);
        RUN(test_broken_config);
        RUN(test_unsafe_config);
        RUN(test_acct_mgmt_not_ours);
        RUN(test_invalid_user_name);
        RUN(test_local_account);
        RUN(test_local_account_other_spelling);
        RUN(test_unreachable);
        RUN(test_helper_refused);

        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        (void) !system(cmd);
        return tests_exit();
}
