/* SPDX-License-Identifier: MIT */
/*
 * The built libnss_cloudauth.so.2 as glibc drives it: every _nss_cloudauth_*
 * entry point called directly on a db this test writes, with tiny buffers,
 * enumeration, initgroups, synthesised users, replaced, corrupt and missing
 * files, and lookups racing a writer.
 * usage: test-nss PATH-TO-libnss_cloudauth.so.2
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "nssdb.h"
#include "tests.h"
#include "uidmap.h"

#define SCOPE "https://idp.example.com/realms/test"
#define UID_MIN 200000u
#define UID_MAX 2000199999u

typedef enum nss_status (*getpwnam_fn)(const char *, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*getpwuid_fn)(uid_t, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*getgrnam_fn)(const char *, struct group *, char *, size_t, int *);
typedef enum nss_status (*getgrgid_fn)(gid_t, struct group *, char *, size_t, int *);
typedef enum nss_status (*setent_fn)(int);
typedef enum nss_status (*endent_fn)(void);
typedef enum nss_status (*getpwent_fn)(struct passwd *, char *, size_t, int *);
typedef enum nss_status (*getgrent_fn)(struct group *, char *, size_t, int *);
typedef enum nss_status (*initgroups_fn)(const char *, gid_t, long int *, long int *, gid_t **, long int, int *);

static getpwnam_fn p_getpwnam;
static getpwuid_fn p_getpwuid;
static getgrnam_fn p_getgrnam;
static getgrgid_fn p_getgrgid;
static setent_fn p_setpwent, p_setgrent;
static endent_fn p_endpwent, p_endgrent;
static getpwent_fn p_getpwent;
static getgrent_fn p_getgrent;
static initgroups_fn p_initgroups;

static char dir[] = "/tmp/test-nss.XXXXXX";
static char db_path[300];
static uint32_t frank_uid; /* the uid "zed" would be synthesised with */

static char *const partner_domains[] = { (char *) "partner.org", NULL };
/* allow_users as the writer stores it: local and IdP forms. */
static char *const allowed_names[] = { (char *) "dave", (char *) "erin@partner.org", (char *) "zed@example.com",
                                       (char *) "1208363690", (char *) "1000@example.com", NULL };
static bool policy_open; /* admitted by group, role or "*" */
static char *own_name;

/* The module synthesises only inside sshd running with real UID 0: pose as it (or stop). */
static bool pose_as_sshd(const char *name) {
        program_invocation_short_name = name ? (char *) name : own_name;
        return getuid() == 0;
}

static struct nssdb_settings make_settings(const char *home) {
        return (struct nssdb_settings){
                .scope = SCOPE,
                .default_domain = "example.com",
                .domains = partner_domains,
                .uid_min = UID_MIN,
                .uid_max = UID_MAX,
                .home = home,
                .shell = "/bin/zsh",
                .synth_any = policy_open,
                .synth_names = allowed_names,
        };
}

static const uint32_t alice_gids[] = { 27, 300001 };
static const uint32_t bob_gids[] = { 300001, 300002, 44 };

static int write_db(const char *alice_gecos, const char *home) {
        struct nssdb_settings s = make_settings(home);
        struct nssdb_user_in users[] = {
                { "alice", 200001, alice_gecos, alice_gids, ELEMENTSOF(alice_gids) },
                { "bob", 200002, NULL, bob_gids, ELEMENTSOF(bob_gids) },
                { "carol@partner.org", 200003, "Carol", NULL, 0 },
                { "frank", frank_uid, "Frank", NULL, 0 },
        };
        struct nssdb_group_in groups[] = { { "engineering", 300001 }, { "everyone", 300002 } };

        return nssdb_write(db_path, &s, users, ELEMENTSOF(users), groups, ELEMENTSOF(groups));
}

static void *sym(void *h, const char *name) {
        void *p = dlsym(h, name);

        if (!p) {
                fprintf(stderr, "missing %s\n", name);
                exit(EXIT_FAILURE);
        }
        return p;
}

#define BIG 16384
static char big[BIG];

static void test_missing_db(void) {
        struct passwd pw;
        struct group gr;
        int e = -77;

        errno = 4242;
        CHECK_INT(p_getpwnam("alice", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwuid(200001, &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getgrnam("alice", &gr, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_setpwent(0), NSS_STATUS_SUCCESS);
        CHECK_INT(p_getpwent(&pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(e, -77);
        CHECK_INT(errno, 4242);
}

static void test_found(void) {
        struct passwd pw;
        struct group gr;
        int e = -77;

        CHECK_INT(write_db("Alice Liddell", "/home/%d/%u"), 0);
        errno = 4242;
        CHECK_INT(p_getpwnam("alice", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_STR(pw.pw_name, "alice");
        CHECK_STR(pw.pw_passwd, "*");
        CHECK_INT(pw.pw_uid, 200001);
        CHECK_INT(pw.pw_gid, 200001);
        CHECK_STR(pw.pw_gecos, "Alice Liddell");
        CHECK_STR(pw.pw_dir, "/home/example.com/alice");
        CHECK_STR(pw.pw_shell, "/bin/zsh");
        CHECK(pw.pw_name >= big && pw.pw_name < big + BIG);

        /* The default domain's full name and other cases reach the cached account. */
        CHECK_INT(p_getpwnam("alice@example.com", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_STR(pw.pw_name, "alice");
        CHECK_INT(pw.pw_uid, 200001);
        CHECK_INT(p_getpwnam("ALICE", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(pw.pw_uid, 200001);

        CHECK_INT(p_getpwuid(200003, &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_STR(pw.pw_name, "carol@partner.org");
        CHECK_STR(pw.pw_dir, "/home/partner.org/carol@partner.org");
        CHECK_STR(pw.pw_gecos, "Carol");

        CHECK_INT(p_getgrnam("engineering", &gr, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(gr.gr_gid, 300001);
        CHECK_STR(gr.gr_mem[0], "alice");
        CHECK_STR(gr.gr_mem[1], "bob");
        CHECK(gr.gr_mem[2] == NULL);

        CHECK_INT(p_getgrgid(200002, &gr, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_STR(gr.gr_name, "bob");
        CHECK_STR(gr.gr_mem[0], "bob");
        CHECK(gr.gr_mem[1] == NULL);

        CHECK_INT(p_getgrgid(300002, &gr, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_STR(gr.gr_name, "everyone");
        CHECK_STR(gr.gr_mem[0], "bob");
        CHECK(gr.gr_mem[1] == NULL);

        CHECK_INT(e, -77);
        CHECK_INT(errno, 4242);
}

static void test_not_found(void) {
        struct passwd pw;
        struct group gr;
        int e = -77;

        errno = 4242;
        CHECK_INT(p_getpwnam("x@evil.org", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwnam("a b", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwnam("a:b", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwnam("../../etc", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwnam("", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwnam("@example.com", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwnam("a@b@example.com", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwuid(4242, &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwuid(0, &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwuid((uid_t) -1, &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getgrnam("sudo", &gr, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getgrnam("dave", &gr, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getgrgid(27, &gr, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(e, -77);
        CHECK_INT(errno, 4242);
}

/* Every buffer size below the needed one must give TRYAGAIN/ERANGE; each is malloc'ed exactly so ASan sees overruns. */
#define CHECK_SMALL_BUFFERS(call_expr, ok_check)                                                    \
        do {                                                                                        \
                size_t _n;                                                                          \
                unsigned _bad = 0;                                                                  \
                for (_n = 0; _n < 4096; _n++) {                                                     \
                        char *buf = _n ? malloc(_n) : NULL;                                         \
                        size_t buflen = _n;                                                         \
                        int e = -77;                                                                \
                        enum nss_status _st;                                                        \
                        errno = 4242;                                                               \
                        _st = (call_expr);                                                          \
                        if (errno != 4242)                                                          \
                                _bad++;                                                             \
                        if (_st == NSS_STATUS_SUCCESS) {                                            \
                                ok_check;                                                           \
                                free(buf);                                                          \
                                break;                                                              \
                        }                                                                           \
                        if (_st != NSS_STATUS_TRYAGAIN || e != ERANGE)                              \
                                _bad++;                                                             \
                        free(buf);                                                                  \
                }                                                                                   \
                CHECK(_n > 0 && _n < 4096);                                                         \
                CHECK_INT(_bad, 0);                                                                 \
        } while (0)

static void test_small_buffers(void) {
        struct passwd pw;
        struct group gr;

        CHECK_SMALL_BUFFERS(p_getpwnam("alice", &pw, buf, buflen, &e),
                            { CHECK_STR(pw.pw_dir, "/home/example.com/alice"); CHECK_STR(pw.pw_shell, "/bin/zsh"); });
        if (pose_as_sshd("sshd"))
                CHECK_SMALL_BUFFERS(p_getpwnam("dave", &pw, buf, buflen, &e), { CHECK_STR(pw.pw_name, "dave"); });
        pose_as_sshd(NULL);
        CHECK_SMALL_BUFFERS(p_getpwuid(200003, &pw, buf, buflen, &e),
                            { CHECK_STR(pw.pw_name, "carol@partner.org"); CHECK_STR(pw.pw_gecos, "Carol"); });
        CHECK_SMALL_BUFFERS(p_getgrnam("engineering", &gr, buf, buflen, &e), {
                CHECK_STR(gr.gr_name, "engineering");
                CHECK_STR(gr.gr_mem[1], "bob");
                CHECK(gr.gr_mem[2] == NULL);
        });
        CHECK_SMALL_BUFFERS(p_getgrgid(200001, &gr, buf, buflen, &e), {
                CHECK_STR(gr.gr_name, "alice");
                CHECK_STR(gr.gr_mem[0], "alice");
        });

        /* Enumeration: a short buffer must not skip the entry. */
        CHECK_INT(p_setpwent(0), NSS_STATUS_SUCCESS);
        CHECK_SMALL_BUFFERS(p_getpwent(&pw, buf, buflen, &e), { CHECK_STR(pw.pw_name, "alice"); });
        CHECK_SMALL_BUFFERS(p_getpwent(&pw, buf, buflen, &e), { CHECK_STR(pw.pw_name, "bob"); });
        CHECK_INT(p_endpwent(), NSS_STATUS_SUCCESS);
        CHECK_INT(p_setgrent(0), NSS_STATUS_SUCCESS);
        CHECK_SMALL_BUFFERS(p_getgrent(&gr, buf, buflen, &e), { CHECK_STR(gr.gr_name, "alice"); });
        CHECK_SMALL_BUFFERS(p_getgrent(&gr, buf, buflen, &e), { CHECK_STR(gr.gr_name, "bob"); });
        CHECK_INT(p_endgrent(), NSS_STATUS_SUCCESS);
}

static void test_enumeration(void) {
        static const char *const users[] = { "alice", "bob", "carol@partner.org", "frank" };
        static const char *const groups[] = { "alice", "bob", "carol@partner.org", "frank", "engineering", "everyone" };
        struct passwd pw;
        struct group gr;
        int e = -77;
        size_t n;

        /* Synthesised names looked up before must not show up. */
        if (pose_as_sshd("sshd"))
                CHECK_INT(p_getpwnam("dave", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        pose_as_sshd(NULL);

        for (unsigned round = 0; round < 2; round++) {
                CHECK_INT(p_setpwent(1), NSS_STATUS_SUCCESS);
                for (n = 0; p_getpwent(&pw, big, BIG, &e) == NSS_STATUS_SUCCESS; n++)
                        if (n < (size_t) ELEMENTSOF(users))
                                CHECK_STR(pw.pw_name, users[n]);
                CHECK_INT(n, ELEMENTSOF(users));
                /* Past the end it stays at the end until restarted. */
                CHECK_INT(p_getpwent(&pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        }
        /* Restart in the middle. */
        CHECK_INT(p_setpwent(0), NSS_STATUS_SUCCESS);
        CHECK_INT(p_getpwent(&pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(p_getpwent(&pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(p_setpwent(0), NSS_STATUS_SUCCESS);
        CHECK_INT(p_getpwent(&pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_STR(pw.pw_name, "alice");
        CHECK_INT(p_endpwent(), NSS_STATUS_SUCCESS);

        CHECK_INT(p_setgrent(0), NSS_STATUS_SUCCESS);
        for (n = 0; p_getgrent(&gr, big, BIG, &e) == NSS_STATUS_SUCCESS; n++)
                if (n < (size_t) ELEMENTSOF(groups)) {
                        CHECK_STR(gr.gr_name, groups[n]);
                        if (n == 5) {
                                CHECK_STR(gr.gr_mem[0], "bob");
                                CHECK(gr.gr_mem[1] == NULL);
                        }
                }
        CHECK_INT(n, ELEMENTSOF(groups));
        CHECK_INT(p_endgrent(), NSS_STATUS_SUCCESS);
        CHECK_INT(e, -77);
}

static void test_initgroups(void) {
        long int start, size;
        gid_t *groups;
        int e = -77;

        /* Growth from a full one-entry array, no limit. */
        start = 1, size = 1;
        groups = malloc(sizeof(gid_t));
        groups[0] = 200002;
        CHECK_INT(p_initgroups("bob", 200002, &start, &size, &groups, -1, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(start, 4);
        CHECK(size >= 4);
        CHECK_INT(groups[0], 200002);
        CHECK_INT(groups[1], 44);
        CHECK_INT(groups[2], 300001);
        CHECK_INT(groups[3], 300002);
        free(groups);

        /* The group argument and gids already listed are skipped. */
        start = 2, size = 8;
        groups = malloc(8 * sizeof(gid_t));
        groups[0] = 200002, groups[1] = 300002;
        CHECK_INT(p_initgroups("bob", 44, &start, &size, &groups, 0, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(start, 3);
        CHECK_INT(size, 8);
        CHECK_INT(groups[2], 300001);
        free(groups);

        /* The limit caps the array and what is added. */
        start = 1, size = 1;
        groups = malloc(sizeof(gid_t));
        groups[0] = 200002;
        CHECK_INT(p_initgroups("bob", 200002, &start, &size, &groups, 2, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(start, 2);
        CHECK_INT(size, 2);
        CHECK_INT(groups[1], 44);
        free(groups);

        /* By the default domain's full name, too. */
        start = 0, size = 0;
        groups = NULL;
        CHECK_INT(p_initgroups("alice@example.com", 200001, &start, &size, &groups, -1, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(start, 2);
        CHECK(groups && groups[0] == 27 && groups[1] == 300001);
        free(groups);

        /* Unknown and synthesised users have nothing here. */
        start = 0, size = 0;
        groups = NULL;
        errno = 4242;
        CHECK_INT(p_initgroups("nobody@evil.org", 1, &start, &size, &groups, -1, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_initgroups("dave", 1, &start, &size, &groups, -1, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(start, 0);
        CHECK_INT(e, -77);
        CHECK_INT(errno, 4242);
        free(groups);
}

static void test_synthesised(void) {
        uint32_t dave = uidmap_user_uid(SCOPE, "dave@example.com", UID_MIN, UID_MAX);
        uint32_t erin = uidmap_user_uid(SCOPE, "erin@partner.org", UID_MIN, UID_MAX);
        struct passwd pw;
        int e = -77;
        pid_t pid;
        int status;

        /* Anywhere but sshd a name nobody logged in with is free: useradd may take it, chown refuses it. */
        errno = 4242;
        CHECK_INT(p_getpwnam("dave", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwnam("dave@example.com", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwnam("erin@partner.org", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(pose_as_sshd("sshd-sessionx") ? p_getpwnam("dave", &pw, big, BIG, &e) : NSS_STATUS_NOTFOUND,
                  NSS_STATUS_NOTFOUND);
        CHECK_INT(e, -77);
        CHECK_INT(errno, 4242);
        /* sshd's name with a user's real UID: a set-user-ID program run under another name. */
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                pose_as_sshd("sshd");
                if (setresuid(65534, 0, 0) < 0)
                        _exit(77);
                _exit(p_getpwnam("dave", &pw, big, BIG, &e) == NSS_STATUS_NOTFOUND ? 0 : 1);
        }
        CHECK_INT(waitpid(pid, &status, 0), pid);
        CHECK(WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 77));
        if (!pose_as_sshd("sshd")) {
                fprintf(stderr, "not root: sshd's own lookups not checked\n");
                pose_as_sshd(NULL);
                return;
        }

        CHECK_INT(p_getpwnam("dave", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_STR(pw.pw_name, "dave");
        CHECK_INT(pw.pw_uid, dave);
        CHECK_INT(pw.pw_gid, dave);
        CHECK_STR(pw.pw_gecos, "");
        CHECK_STR(pw.pw_dir, "/home/example.com/dave");
        CHECK_STR(pw.pw_shell, "/bin/zsh");

        CHECK_INT(p_getpwnam("dave@example.com", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_STR(pw.pw_name, "dave");
        CHECK_INT(pw.pw_uid, dave);
        CHECK_INT(p_getpwnam("Dave@Example.COM", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_STR(pw.pw_name, "dave");
        CHECK_INT(pw.pw_uid, dave);

        CHECK_INT(p_getpwnam("erin@partner.org", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_STR(pw.pw_name, "erin@partner.org");
        CHECK_INT(pw.pw_uid, erin);
        CHECK_STR(pw.pw_dir, "/home/partner.org/erin@partner.org");

        errno = 4242;
        CHECK_INT(p_getpwnam("dave@other.org", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        /* getpwuid never synthesises. */
        CHECK_INT(p_getpwuid(dave, &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwuid(erin, &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        /* zed would get frank's uid: refused rather than two names for one uid. */
        CHECK_INT(p_getpwnam("zed", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        /* A number is a UID to chown and setpriv, never a name to invent. */
        CHECK_INT(p_getpwnam("1208363690", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwnam("1000@example.com", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        /* Only names the policy could admit: walter and frida are listed nowhere. */
        CHECK_INT(p_getpwnam("walter", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwnam("frida@partner.org", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        /* OpenSSH 9.8 and later look the user up in sshd-session. */
        pose_as_sshd("sshd-session");
        CHECK_INT(p_getpwnam("dave", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(pw.pw_uid, dave);

        /* A policy that admits by group or role: every name of the mapped domains, no other. */
        policy_open = true;
        CHECK_INT(write_db("Alice Liddell", "/home/%d/%u"), 0);
        CHECK_INT(p_getpwnam("walter", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(pw.pw_uid, uidmap_user_uid(SCOPE, "walter@example.com", UID_MIN, UID_MAX));
        CHECK_INT(p_getpwnam("frida@partner.org", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(p_getpwnam("walter@other.org", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        pose_as_sshd(NULL);
        CHECK_INT(p_getpwnam("walter", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        policy_open = false;
        CHECK_INT(write_db("Alice Liddell", "/home/%d/%u"), 0);
        CHECK_INT(e, -77);
        CHECK_INT(errno, 4242);
}

static void test_replaced(void) {
        struct passwd pw;
        int e = -77;

        CHECK_INT(p_getpwnam("alice", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_STR(pw.pw_gecos, "Alice Liddell");
        CHECK_INT(write_db("Alice Pleasance", "/srv/%u"), 0);
        CHECK_INT(p_getpwnam("alice", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_STR(pw.pw_gecos, "Alice Pleasance");
        CHECK_STR(pw.pw_dir, "/srv/alice");
        CHECK_INT(write_db("Alice Liddell", "/home/%d/%u"), 0);
}

static void test_corrupt_and_missing(void) {
        struct passwd pw;
        struct group gr;
        int e = -77, fd;
        char tmp[400];

        snprintf(tmp, sizeof(tmp), "%s/garbage", dir);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        for (unsigned i = 0; i < 100; i++)
                CHECK_INT(write(fd, "CLOUDAUTHNSS garbage\n", 21), 21);
        close(fd);
        CHECK_INT(rename(tmp, db_path), 0);

        errno = 4242;
        CHECK_INT(p_getpwnam("alice", &pw, big, BIG, &e), NSS_STATUS_UNAVAIL);
        CHECK_INT(e, EBADMSG);
        e = -77;
        CHECK_INT(p_getpwuid(200001, &pw, big, BIG, &e), NSS_STATUS_UNAVAIL);
        CHECK_INT(e, EBADMSG);
        e = -77;
        CHECK_INT(p_getgrgid(300001, &gr, big, BIG, &e), NSS_STATUS_UNAVAIL);
        CHECK_INT(e, EBADMSG);
        CHECK_INT(errno, 4242);

        /* Writable by others: not trusted. */
        CHECK_INT(write_db("Alice Liddell", "/home/%d/%u"), 0);
        CHECK_INT(chmod(db_path, 0666), 0);
        e = -77;
        CHECK_INT(p_getpwnam("alice", &pw, big, BIG, &e), NSS_STATUS_UNAVAIL);
        CHECK_INT(e, EPERM);
        CHECK_INT(chmod(db_path, 0644), 0);
        CHECK_INT(p_getpwnam("alice", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);

        /* Gone: nobody has logged in here, which is not an error. */
        CHECK_INT(unlink(db_path), 0);
        e = -77;
        CHECK_INT(p_getpwnam("alice", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwnam("dave", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(e, -77);
        CHECK_INT(errno, 4242);

        CHECK_INT(write_db("Alice Liddell", "/home/%d/%u"), 0);
        CHECK_INT(p_getpwnam("alice", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
}

static char delta_path[320];

/* A delta of the current nss.db: gina (new), a shadow of bob (a crash left him in both), a new group. */
static int write_delta(uint32_t gina_uid) {
        static const uint32_t gina_gids[] = { 300001, 300003, 27 };
        static const uint32_t bob_shadow_gids[] = { 300001, 300003 };
        struct nssdb_settings s = make_settings("/home/%d/%u");
        struct nssdb_user_in users[] = {
                { "gina", gina_uid, "Gina", gina_gids, ELEMENTSOF(gina_gids) },
                { "bob", 200002, "Shadow", bob_shadow_gids, ELEMENTSOF(bob_shadow_gids) },
        };
        struct nssdb_group_in groups[] = { { "engineering", 300001 }, { "newteam", 300003 } };
        struct nssdb *db = NULL;
        uint64_t gen;
        int r;

        if ((r = nssdb_open(db_path, &db, NULL)) < 0)
                return r;
        gen = nssdb_generation(db);
        nssdb_close(db);
        return nssdb_write_delta(delta_path, gen, &s, users, ELEMENTSOF(users), groups, ELEMENTSOF(groups));
}

static void delta_small_buffers(void) {
        struct group gr;

        CHECK_SMALL_BUFFERS(p_getgrnam("engineering", &gr, buf, buflen, &e), {
                CHECK_STR(gr.gr_mem[2], "gina");
                CHECK(gr.gr_mem[3] == NULL);
        });
}

/* A short buffer on the last delta entry neither skips nor repeats it. */
static void delta_enumeration_small_buffer(void) {
        struct passwd pw;
        int e2 = -77;

        CHECK_INT(p_setpwent(0), NSS_STATUS_SUCCESS);
        for (unsigned n = 0; n < 4; n++)
                CHECK_INT(p_getpwent(&pw, big, BIG, &e2), NSS_STATUS_SUCCESS);
        CHECK_SMALL_BUFFERS(p_getpwent(&pw, buf, buflen, &e), { CHECK_STR(pw.pw_name, "gina"); });
        CHECK_INT(p_getpwent(&pw, big, BIG, &e2), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_endpwent(), NSS_STATUS_SUCCESS);
}

static void test_delta(void) {
        static const char *const users[] = { "alice", "bob", "carol@partner.org", "frank", "gina" };
        static const char *const groups[] = { "alice", "bob", "carol@partner.org", "frank", "engineering", "everyone",
                                              "gina", "newteam" };
        /* gina holds the uid "yan" would be synthesised with. */
        uint32_t gina = uidmap_user_uid(SCOPE, "yan@example.com", UID_MIN, UID_MAX);
        struct passwd pw;
        struct group gr;
        long int start, size;
        gid_t *gl;
        int e = -77, fd;
        size_t n;

        CHECK_INT(write_db("Alice Liddell", "/home/%d/%u"), 0);
        CHECK_INT(write_delta(gina), 0);
        errno = 4242;
        CHECK_INT(p_getpwnam("gina", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(pw.pw_uid, gina);
        CHECK_STR(pw.pw_gecos, "Gina");
        CHECK_STR(pw.pw_dir, "/home/example.com/gina");
        CHECK_INT(p_getpwnam("Gina@example.com", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(pw.pw_uid, gina);
        CHECK_INT(p_getpwuid(gina, &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_STR(pw.pw_name, "gina");
        /* The base wins over a user left in both. */
        CHECK_INT(p_getpwnam("bob", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_STR(pw.pw_gecos, "");
        CHECK_INT(p_getpwuid(200002, &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_STR(pw.pw_gecos, "");
        CHECK_INT(p_getpwnam("yan", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);

        /* A group in both files: the base's record, members of both, each once. */
        CHECK_INT(p_getgrnam("engineering", &gr, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(gr.gr_gid, 300001);
        CHECK_STR(gr.gr_mem[0], "alice");
        CHECK_STR(gr.gr_mem[1], "bob");
        CHECK(gr.gr_mem[2] && strcmp(gr.gr_mem[2], "gina") == 0);
        CHECK(gr.gr_mem[2] && !gr.gr_mem[3]);
        CHECK_INT(p_getgrgid(300001, &gr, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK(gr.gr_mem[2] && strcmp(gr.gr_mem[2], "gina") == 0 && !gr.gr_mem[3]);
        delta_small_buffers();
        /* Only in the delta: bob's shadow is not a member. */
        CHECK_INT(p_getgrgid(300003, &gr, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_STR(gr.gr_name, "newteam");
        CHECK_STR(gr.gr_mem[0], "gina");
        CHECK(gr.gr_mem[1] == NULL);
        CHECK_INT(p_getgrnam("gina", &gr, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(gr.gr_gid, gina);
        CHECK_STR(gr.gr_mem[0], "gina");
        CHECK_INT(p_getgrgid(gina, &gr, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_STR(gr.gr_name, "gina");

        start = 1, size = 1;
        gl = malloc(sizeof(gid_t));
        gl[0] = gina;
        CHECK_INT(p_initgroups("gina", gina, &start, &size, &gl, -1, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(start, 4);
        CHECK(start == 4 && gl[1] == 27 && gl[2] == 300001 && gl[3] == 300003);
        free(gl);
        /* bob's groups are the base's: no 300003. */
        start = 0, size = 0, gl = NULL;
        CHECK_INT(p_initgroups("bob", 200002, &start, &size, &gl, -1, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(start, 3);
        free(gl);

        CHECK_INT(p_setpwent(0), NSS_STATUS_SUCCESS);
        for (n = 0; p_getpwent(&pw, big, BIG, &e) == NSS_STATUS_SUCCESS; n++)
                if (n < ELEMENTSOF(users))
                        CHECK_STR(pw.pw_name, users[n]);
        CHECK_INT(n, ELEMENTSOF(users));
        CHECK_INT(p_endpwent(), NSS_STATUS_SUCCESS);
        CHECK_INT(p_setgrent(0), NSS_STATUS_SUCCESS);
        for (n = 0; p_getgrent(&gr, big, BIG, &e) == NSS_STATUS_SUCCESS; n++)
                if (n < ELEMENTSOF(groups))
                        CHECK_STR(gr.gr_name, groups[n]);
        CHECK_INT(n, ELEMENTSOF(groups));
        CHECK_INT(p_endgrent(), NSS_STATUS_SUCCESS);
        delta_enumeration_small_buffer();

        /* A new nss.db (another generation) retires the delta at once. */
        CHECK_INT(write_db("Alice Liddell", "/home/%d/%u"), 0);
        CHECK_INT(p_getpwuid(gina, &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getgrgid(300003, &gr, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getgrnam("engineering", &gr, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK(gr.gr_mem[2] == NULL);
        CHECK_INT(write_delta(gina), 0);
        CHECK_INT(p_getpwuid(gina, &pw, big, BIG, &e), NSS_STATUS_SUCCESS);

        /* A corrupt delta: the base still answers (and syslog says why, once). */
        fd = open(delta_path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        CHECK(fd >= 0);
        for (unsigned i = 0; i < 20; i++)
                CHECK_INT(write(fd, "CLOUDAUTHNSS garbage\n", 21), 21);
        close(fd);
        CHECK_INT(p_getpwnam("alice", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(p_getgrnam("engineering", &gr, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK(gr.gr_mem[2] == NULL);
        CHECK_INT(p_getpwuid(gina, &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        /* A base file where the delta should be is not a delta. */
        CHECK_INT(unlink(delta_path), 0);
        CHECK_INT(link(db_path, delta_path), 0);
        CHECK_INT(p_getpwuid(gina, &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwnam("bob", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(e, -77);
        CHECK_INT(errno, 4242);
        CHECK_INT(unlink(delta_path), 0);
        CHECK_INT(p_getpwnam("alice", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
}

/* Replace every "QQ" in the file by U+009B (CSI) and every "RRR" by U+202E, as a hostile writer would, with valid checksums. */
static void poison_db(void) {
        uint32_t zero = 0, c;
        struct stat st;
        uint8_t *buf;
        int fd = open(db_path, O_RDONLY | O_CLOEXEC);

        CHECK(fd >= 0 && fstat(fd, &st) == 0);
        buf = malloc((size_t) st.st_size);
        CHECK(buf && read(fd, buf, (size_t) st.st_size) == st.st_size);
        close(fd);
        for (size_t i = 0; i + 3 <= (size_t) st.st_size; i++) {
                if (memcmp(buf + i, "QQ", 2) == 0)
                        memcpy(buf + i, "\xc2\x9b", 2);
                if (memcmp(buf + i, "RRR", 3) == 0)
                        memcpy(buf + i, "\xe2\x80\xae", 3);
        }
        c = nssdb_crc32c(0, buf + 224, (size_t) st.st_size - 224);
        memcpy(buf + 36, &c, 4);
        memcpy(buf + 32, &zero, 4);
        c = nssdb_crc32c(0, buf, 224);
        memcpy(buf + 32, &c, 4);
        fd = open(db_path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        CHECK(fd >= 0 && write(fd, buf, (size_t) st.st_size) == st.st_size);
        close(fd);
        free(buf);
}

/* A file the writer would never produce: its entries with controls are not served, the others are. */
static void test_hostile_text(void) {
        struct nssdb_settings s = make_settings("/home/%u");
        static const uint32_t gids[] = { 300001 };
        struct nssdb_user_in users[] = {
                { "alice", 200001, "Alice", gids, 1 },
                { "evQQil", 200005, "Evil", NULL, 0 },
                { "mallory", 200006, "Mal RRR", gids, 1 },
        };
        struct nssdb_group_in groups[] = { { "engineering", 300001 }, { "opsRRR", 300009 } };
        struct passwd pw;
        struct group gr;
        int e = -77;
        size_t n;

        CHECK_INT(nssdb_write(db_path, &s, users, ELEMENTSOF(users), groups, ELEMENTSOF(groups)), 0);
        poison_db();
        errno = 4242;
        CHECK_INT(p_getpwnam("alice", &pw, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(p_getpwuid(200005, &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwnam("ev\xc2\x9bil", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getgrgid(200005, &gr, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwnam("mallory", &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getpwuid(200006, &pw, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getgrgid(300009, &gr, big, BIG, &e), NSS_STATUS_NOTFOUND);
        CHECK_INT(p_getgrgid(300001, &gr, big, BIG, &e), NSS_STATUS_SUCCESS);
        CHECK_INT(e, -77);
        CHECK_INT(errno, 4242);
        /* Enumeration steps over them. */
        CHECK_INT(p_setpwent(0), NSS_STATUS_SUCCESS);
        for (n = 0; p_getpwent(&pw, big, BIG, &e) == NSS_STATUS_SUCCESS; n++)
                CHECK_STR(pw.pw_name, "alice");
        CHECK_INT(n, 1);
        CHECK_INT(p_setgrent(0), NSS_STATUS_SUCCESS);
        for (n = 0; p_getgrent(&gr, big, BIG, &e) == NSS_STATUS_SUCCESS; n++)
                CHECK(strcmp(gr.gr_name, "alice") == 0 || strcmp(gr.gr_name, "mallory") == 0 ||
                      strcmp(gr.gr_name, "engineering") == 0);
        CHECK_INT(n, 3);
        CHECK_INT(p_endgrent(), NSS_STATUS_SUCCESS);
        CHECK_INT(write_db("Alice Liddell", "/home/%d/%u"), 0);
}

static atomic_bool stop;
static atomic_uint race_bad, race_lookups;

static void *race_reader(void *arg) {
        char buf[1024];

        (void) arg;
        while (!atomic_load(&stop)) {
                struct passwd pw;
                struct group gr;
                int e = 0;

                if (p_getpwnam("alice", &pw, buf, sizeof(buf), &e) != NSS_STATUS_SUCCESS ||
                    !((strcmp(pw.pw_gecos, "Old") == 0 && strcmp(pw.pw_dir, "/home/alice") == 0) ||
                      (strcmp(pw.pw_gecos, "New") == 0 && strcmp(pw.pw_dir, "/srv/alice") == 0)))
                        atomic_fetch_add(&race_bad, 1);
                if (p_getpwuid(200002, &pw, buf, sizeof(buf), &e) != NSS_STATUS_SUCCESS ||
                    strcmp(pw.pw_name, "bob") != 0)
                        atomic_fetch_add(&race_bad, 1);
                if (p_getgrnam("engineering", &gr, buf, sizeof(buf), &e) != NSS_STATUS_SUCCESS ||
                    gr.gr_gid != 300001 || !gr.gr_mem[1] || strcmp(gr.gr_mem[1], "bob") != 0)
                        atomic_fetch_add(&race_bad, 1);
                atomic_fetch_add(&race_lookups, 1);
        }
        return NULL;
}

static void test_threads_vs_writer(void) {
        pthread_t t[8];

        CHECK_INT(write_db("Old", "/home/%u"), 0);
        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                CHECK_INT(pthread_create(&t[i], NULL, race_reader, NULL), 0);
        for (unsigned i = 0; i < 100; i++) {
                CHECK_INT(write_db(i % 2 ? "Old" : "New", i % 2 ? "/home/%u" : "/srv/%u"), 0);
                usleep(1000);
        }
        atomic_store(&stop, true);
        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                pthread_join(t[i], NULL);
        CHECK_INT(atomic_load(&race_bad), 0);
        CHECK(atomic_load(&race_lookups) > 100);
        fprintf(stderr, "%u lookup rounds during 100 replacements\n", atomic_load(&race_lookups));
}

/* dlsym returns an object pointer; copying it is the ISO-clean way to get the function pointer. */
#define LOAD(var, name)                                   \
        do {                                              \
                void *_p = sym(h, name);                  \
                memcpy(&(var), &_p, sizeof(var));         \
        } while (0)

int main(int argc, char **argv) {
        void *h;

        if (argc != 2) {
                fprintf(stderr, "usage: %s libnss_cloudauth.so.2\n", argv[0]);
                return 2;
        }
        if (!mkdtemp(dir))
                return EXIT_FAILURE;
        snprintf(db_path, sizeof(db_path), "%s/nss.db", dir);
        snprintf(delta_path, sizeof(delta_path), "%s/nss.delta.db", dir);
        setenv("CLOUDAUTH_NSS_DB", db_path, 1);
        own_name = program_invocation_short_name;
        frank_uid = uidmap_user_uid(SCOPE, "zed@example.com", UID_MIN, UID_MAX);

        h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
                fprintf(stderr, "dlopen: %s\n", dlerror());
                return EXIT_FAILURE;
        }
        LOAD(p_getpwnam, "_nss_cloudauth_getpwnam_r");
        LOAD(p_getpwuid, "_nss_cloudauth_getpwuid_r");
        LOAD(p_getgrnam, "_nss_cloudauth_getgrnam_r");
        LOAD(p_getgrgid, "_nss_cloudauth_getgrgid_r");
        LOAD(p_setpwent, "_nss_cloudauth_setpwent");
        LOAD(p_endpwent, "_nss_cloudauth_endpwent");
        LOAD(p_getpwent, "_nss_cloudauth_getpwent_r");
        LOAD(p_setgrent, "_nss_cloudauth_setgrent");
        LOAD(p_endgrent, "_nss_cloudauth_endgrent");
        LOAD(p_getgrent, "_nss_cloudauth_getgrent_r");
        LOAD(p_initgroups, "_nss_cloudauth_initgroups_dyn");

        RUN(test_missing_db);
        RUN(test_found);
        RUN(test_not_found);
        RUN(test_small_buffers);
        RUN(test_enumeration);
        RUN(test_initgroups);
        RUN(test_synthesised);
        RUN(test_replaced);
        RUN(test_corrupt_and_missing);
        RUN(test_delta);
        RUN(test_hostile_text);
        RUN(test_threads_vs_writer);

        {
                char cmd[400];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "could not remove %s\n", dir);
        }
        dlclose(h);
        return tests_exit();
}
