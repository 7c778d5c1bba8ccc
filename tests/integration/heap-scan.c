/* SPDX-License-Identifier: MIT */
/*
 * heap-scan: one login through a PAM service, as a host process (su, sshd)
 * runs it, then a search of this process's own writable memory for secrets
 * the login handled. PAM's own items are wiped by pam_end, so whatever is
 * found afterwards is a copy someone else left behind.
 *
 *   heap-scan CONFDIR SERVICE USER PASSWORD_FILE NEEDLES_FILE
 *
 * The password is read from a file (never argv or the environment) with
 * read(2), so no stdio buffer keeps it. NEEDLES_FILE holds "label=value"
 * lines: the strings to look for; the password is always one of them. Every
 * needle is kept XOR-masked, so the search never finds its own copy. The
 * main thread's stack, holding this program's own short-lived copies, is not
 * searched; everything else mapped writable is: the heap, anonymous
 * mappings (thread stacks, arenas) and the libraries' data.
 *
 * Prints "authenticate: TEXT", "acct_mgmt: TEXT", then one line
 * "found LABEL: N copies (REGION ...)" per needle found. Exit status: 0
 * nothing found, 1 something found, 2 the test could not run.
 */
#include <errno.h>
#include <fcntl.h>
#include <security/pam_appl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MASK 0x5a
#define FILE_MAX 8192
#define NEEDLES_MAX 16
#define LABEL_MAX 64
#define VALUE_MAX 1024

struct needle {
        char label[LABEL_MAX];
        unsigned char masked[VALUE_MAX];
        size_t len;
        unsigned long found;
        char where[256];
};

static struct needle needles[NEEDLES_MAX];
static size_t n_needles;

/* The password, plain only while the conversation may need it. */
static char password[VALUE_MAX];

static int file_read(const char *path, char *buf, size_t size, size_t *ret_len) {
        size_t len = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        while (len < size - 1) {
                ssize_t n = read(fd, buf + len, size - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int r = -errno;
                        close(fd);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        close(fd);
        buf[len] = 0;
        *ret_len = len;
        return 0;
}

static int needle_add(const char *label, const char *value, size_t len) {
        struct needle *n;

        if (n_needles == NEEDLES_MAX || len == 0 || len >= VALUE_MAX || strlen(label) >= LABEL_MAX)
                return -EINVAL;
        n = &needles[n_needles++];
        snprintf(n->label, sizeof(n->label), "%s", label);
        for (size_t i = 0; i < len; i++)
                n->masked[i] = (unsigned char) value[i] ^ MASK;
        n->len = len;
        return 0;
}

/* "label=value" lines; each line is wiped as soon as it is masked. */
static int needles_load(const char *path) {
        char buf[FILE_MAX];
        size_t len;
        char *line, *next;
        int r;

        if ((r = file_read(path, buf, sizeof(buf), &len)) < 0)
                return r;
        for (line = buf; line && *line; line = next) {
                char *eq, *end = strchr(line, '\n');

                next = end ? end + 1 : NULL;
                if (end)
                        *end = 0;
                eq = strchr(line, '=');
                if (!eq || eq == line) {
                        r = -EINVAL;
                        break;
                }
                *eq = 0;
                if ((r = needle_add(line, eq + 1, strlen(eq + 1))) < 0)
                        break;
        }
        explicit_bzero(buf, sizeof(buf));
        return r < 0 ? r : 0;
}

static int conversation(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
        struct pam_response *out;

        (void) data;
        if (n <= 0 || n > PAM_MAX_NUM_MSG)
                return PAM_CONV_ERR;
        out = calloc((size_t) n, sizeof(*out));
        if (!out)
                return PAM_BUF_ERR;
        for (int i = 0; i < n; i++) {
                switch (msg[i]->msg_style) {
                case PAM_PROMPT_ECHO_OFF:
                case PAM_PROMPT_ECHO_ON:
                        /* PAM owns the copy now, and whoever takes it must wipe it. */
                        out[i].resp = strdup(password);
                        if (!out[i].resp) {
                                for (int j = 0; j < i; j++)
                                        free(out[j].resp);
                                free(out);
                                return PAM_BUF_ERR;
                        }
                        break;
                case PAM_ERROR_MSG:
                case PAM_TEXT_INFO:
                        fprintf(stderr, "conversation: %s\n", msg[i]->msg);
                        break;
                default:
                        break;
                }
        }
        *resp = out;
        return PAM_SUCCESS;
}

static void region_search(const unsigned char *start, const unsigned char *end, const char *name) {
        for (size_t k = 0; k < n_needles; k++) {
                struct needle *nd = &needles[k];
                unsigned char first = nd->masked[0] ^ MASK;

                if ((size_t) (end - start) < nd->len)
                        continue;
                for (const unsigned char *p = start; p <= end - nd->len; p++) {
                        size_t i;

                        if (*p != first)
                                continue;
                        for (i = 1; i < nd->len; i++)
                                if ((p[i] ^ MASK) != nd->masked[i])
                                        break;
                        if (i < nd->len)
                                continue;
                        nd->found++;
                        if (!strstr(nd->where, name) && strlen(nd->where) + strlen(name) + 2 < sizeof(nd->where)) {
                                if (nd->where[0])
                                        strcat(nd->where, " ");
                                strcat(nd->where, name);
                        }
                }
        }
}

/* Every private writable mapping but the main stack. The maps text stays on the stack. */
static int memory_search(void) {
        char maps[1 << 16];
        size_t len;
        int r;

        if ((r = file_read("/proc/self/maps", maps, sizeof(maps), &len)) < 0)
                return r;
        if (len >= sizeof(maps) - 1)
                return -E2BIG;
        for (char *line = maps, *next; line && *line; line = next) {
                unsigned long lo, hi;
                char perms[8], path[512] = "";
                char *end = strchr(line, '\n');

                next = end ? end + 1 : NULL;
                if (end)
                        *end = 0;
                if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %511[^\n]", &lo, &hi, perms, path) < 3)
                        continue;
                if (perms[0] != 'r' || perms[1] != 'w')
                        continue;
                if (strstr(path, "[stack]") || strstr(path, "[vvar]") || strstr(path, "[vsyscall]"))
                        continue;
                region_search((const unsigned char *) lo, (const unsigned char *) hi,
                              path[0] ? (strrchr(path, '/') ? strrchr(path, '/') + 1 : path) : "anonymous");
        }
        return 0;
}

int main(int argc, char **argv) {
        struct pam_conv conv = { .conv = conversation };
        pam_handle_t *pamh = NULL;
        size_t len;
        int r, auth, acct, found = 0;

        if (argc != 6) {
                fprintf(stderr, "usage: heap-scan CONFDIR SERVICE USER PASSWORD_FILE NEEDLES_FILE\n");
                return 2;
        }
        if ((r = file_read(argv[4], password, sizeof(password), &len)) < 0) {
                fprintf(stderr, "heap-scan: cannot read %s: %s\n", argv[4], strerror(-r));
                return 2;
        }
        while (len > 0 && password[len - 1] == '\n')
                password[--len] = 0;
        if ((r = needle_add("password", password, len)) < 0 || (r = needles_load(argv[5])) < 0) {
                fprintf(stderr, "heap-scan: bad needles: %s\n", strerror(-r));
                return 2;
        }

        r = pam_start_confdir(argv[2], argv[3], &conv, argv[1], &pamh);
        if (r != PAM_SUCCESS) {
                fprintf(stderr, "heap-scan: pam_start_confdir: %s\n", pam_strerror(NULL, r));
                return 2;
        }
        auth = pam_authenticate(pamh, 0);
        printf("authenticate: %s\n", pam_strerror(pamh, auth));
        acct = auth == PAM_SUCCESS ? pam_acct_mgmt(pamh, 0) : auth;
        printf("acct_mgmt: %s\n", pam_strerror(pamh, acct));
        pam_end(pamh, acct);
        explicit_bzero(password, sizeof(password));

        if ((r = memory_search()) < 0) {
                fprintf(stderr, "heap-scan: cannot search memory: %s\n", strerror(-r));
                return 2;
        }
        for (size_t k = 0; k < n_needles; k++)
                if (needles[k].found) {
                        printf("found %s: %lu copies (%s)\n", needles[k].label, needles[k].found, needles[k].where);
                        found = 1;
                }
        fflush(stdout);
        return found;
}
