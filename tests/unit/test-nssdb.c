/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "nssdb.h"
#include "tests.h"

/* Offsets of the header fields the corruption tests rewrite (see the format comment in nssdb.c). */
#define OFF_VERSION 16
#define OFF_HEADER_CRC 32
#define OFF_BODY_CRC 36
#define OFF_N_USERS 80
#define HEADER_SIZE 224

static char dir[] = "/tmp/test-nssdb.XXXXXX";
static char db_path[256];

static char *const extra_domains[] = { (char *) "partner.org", NULL };
static const struct nssdb_settings settings = {
        .scope = "https://login.example.com/tenant/v2.0",
        .default_domain = "example.com",
        .domains = extra_domains,
        .uid_min = 200000,
        .uid_max = 2000199999,
        .home = "/home/%u",
        .shell = "/bin/bash",
};

static const uint32_t alice_gids[] = { 27, 300001, 300002, 27, 200001 };
static const uint32_t bob_gids[] = { 300002 };
static const struct nssdb_user_in users3[] = {
        { "alice", 200001, "Alice Liddell", alice_gids, ELEMENTSOF(alice_gids) },
        { "bob", 200002, NULL, bob_gids, ELEMENTSOF(bob_gids) },
        { "carol@partner.org", 200003, "", NULL, 0 },
};
static const struct nssdb_group_in groups2[] = {
        { "engineering", 300001 },
        { "everyone", 300002 },
};

static int write3(void) {
        return nssdb_write(db_path, &settings, users3, ELEMENTSOF(users3), groups2, ELEMENTSOF(groups2));
}

static uint8_t *read_file(const char *path, size_t *ret_len) {
        FILE *f = fopen(path, "rbe");
        uint8_t *buf;
        long n;

        if (!f)
                return NULL;
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = malloc((size_t) n);
        if (!buf || fread(buf, 1, (size_t) n, f) != (size_t) n)
                abort();
        fclose(f);
        *ret_len = (size_t) n;
        return buf;
}

static void write_raw(const char *path, const void *buf, size_t len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || write(fd, buf, len) != (ssize_t) len)
                abort();
        close(fd);
}

/* Recompute both checksums so a test reaches the checks behind them. */
static void fix_crcs(uint8_t *buf, size_t len) {
        uint32_t zero = 0, c;

        c = nssdb_crc32c(0, buf + HEADER_SIZE, len - HEADER_SIZE);
        memcpy(buf + OFF_BODY_CRC, &c, 4);
        memcpy(buf + OFF_HEADER_CRC, &zero, 4);
        c = nssdb_crc32c(0, buf, HEADER_SIZE);
        memcpy(buf + OFF_HEADER_CRC, &c, 4);
}

static int open_raw(const void *buf, size_t len) {
        char p[300];
        struct nssdb *db = NULL;
        int r;

        snprintf(p, sizeof(p), "%s/raw.db", dir);
        write_raw(p, buf, len);
        r = nssdb_open(p, &db, NULL);
        if (r == 0)
                nssdb_close(db);
        else if (db)
                r = -EUCLEAN; /* ret must stay untouched on failure */
        return r;
}

static void test_crc32c(void) {
        /* The CRC-32C check value (RFC 3720 B.4 / the Castagnoli catalogue): "123456789" -> e3069283. */
        CHECK_INT(nssdb_crc32c(0, "123456789", 9), 0xe3069283u);
        CHECK_INT(nssdb_crc32c(0, "", 0), 0);
        /* RFC 3720 B.4: 32 bytes of zeros -> 8a9136aa, of 0xff -> 62a8ab43. */
        {
                uint8_t z[32] = { 0 }, f[32];

                memset(f, 0xff, sizeof(f));
                CHECK_INT(nssdb_crc32c(0, z, sizeof(z)), 0x8a9136aau);
                CHECK_INT(nssdb_crc32c(0, f, sizeof(f)), 0x62a8ab43u);
        }
        /* Incremental over unaligned splits equals one pass. */
        {
                uint8_t b[1000];
                unsigned bad = 0;

                for (size_t i = 0; i < sizeof(b); i++)
                        b[i] = (uint8_t) (i * 131 + 7);
                for (size_t split = 0; split < 40; split++)
                        if (nssdb_crc32c(nssdb_crc32c(0, b + 1, split), b + 1 + split, 999 - split) !=
                            nssdb_crc32c(0, b + 1, 999))
                                bad++;
                CHECK_INT(bad, 0);
        }
        /* Buffers large enough for the striped path agree with 4 KiB pieces (which take the plain one),
         * at every length remainder and with a running CRC coming in. */
        {
                size_t n = 3u * 1024 * 1024 + 11;
                uint8_t *b = malloc(n);
                unsigned bad = 0;

                for (size_t i = 0; i < n; i++)
                        b[i] = (uint8_t) ((i * 2654435761u) >> 13);
                for (size_t len = n - 24; len <= n; len++) {
                        uint32_t piecewise = 0x12345678u;

                        for (size_t off = 0; off < len; off += 4096)
                                piecewise = nssdb_crc32c(piecewise, b + off, len - off < 4096 ? len - off : 4096);
                        if (nssdb_crc32c(0x12345678u, b, len) != piecewise)
                                bad++;
                }
                CHECK_INT(bad, 0);
                free(b);
        }
}

static void test_delta_path(void) {
        char p[64];

        CHECK_INT(nssdb_delta_path("/var/lib/cloudauth/nss.db", p, sizeof(p)), 0);
        CHECK_STR(p, "/var/lib/cloudauth/nss.delta.db");
        CHECK_INT(nssdb_delta_path("/tmp/x", p, sizeof(p)), 0);
        CHECK_STR(p, "/tmp/x.delta");
        CHECK_INT(nssdb_delta_path("/var/lib/cloudauth/nss.db", p, 16), -ENAMETOOLONG);
}

static void test_names(void) {
        CHECK(nssdb_name_valid("alice"));
        CHECK(nssdb_name_valid("alice@example.com"));
        CHECK(nssdb_name_valid("o'brien.x_y-z"));
        CHECK(!nssdb_name_valid(""));
        CHECK(!nssdb_name_valid(NULL));
        CHECK(!nssdb_name_valid("a b"));
        CHECK(!nssdb_name_valid("a\tb"));
        CHECK(!nssdb_name_valid("a:b"));
        CHECK(!nssdb_name_valid("a/b"));
        CHECK(!nssdb_name_valid("a,b"));
        CHECK(!nssdb_name_valid("a\nb"));
        CHECK(!nssdb_name_valid("a\x7f"));
        CHECK(!nssdb_name_valid("-rf"));
        /* Letters of any script, but nothing a terminal takes as a control or that reorders the line. */
        CHECK(nssdb_name_valid("j\xc3\xb6rg"));
        CHECK(nssdb_name_valid("\xe6\x9d\x8e@example.com"));
        CHECK(nssdb_name_valid("\xf0\x9f\x90\xa7"));
        CHECK(!nssdb_name_valid("a\xc2\x9b" "31m"));     /* U+009B CSI */
        CHECK(!nssdb_name_valid("a\xc2\x80"));           /* U+0080 */
        CHECK(!nssdb_name_valid("a\xc2\x9f"));           /* U+009F */
        CHECK(nssdb_name_valid("a\xc2\xa1"));            /* U+00A1, the first character past C1 */
        CHECK(!nssdb_name_valid("a\xe2\x80\xae" "cba")); /* U+202E RIGHT-TO-LEFT OVERRIDE */
        CHECK(!nssdb_name_valid("a\xe2\x80\xaa"));       /* U+202A */
        CHECK(!nssdb_name_valid("a\xe2\x81\xa6"));       /* U+2066 */
        CHECK(!nssdb_name_valid("a\xe2\x81\xa9"));       /* U+2069 */
        CHECK(!nssdb_name_valid("a\xe2\x80\x8e"));       /* U+200E */
        CHECK(!nssdb_name_valid("a\xe2\x80\x8f"));       /* U+200F */
        CHECK(!nssdb_name_valid("a\xd8\x9c"));           /* U+061C */
        CHECK(!nssdb_name_valid("a\x9b"));                /* a lone byte: CSI to an 8-bit terminal */
        CHECK(!nssdb_name_valid("a\xc0\x9b"));           /* overlong */
        CHECK(!nssdb_name_valid("a\xed\xa0\x80"));       /* surrogate */
        CHECK(!nssdb_name_valid("a\xf4\x90\x80\x80"));   /* past U+10FFFF */
        CHECK(!nssdb_name_valid("a\xe2\x80"));           /* truncated */
        CHECK(!nssdb_name_valid("a\x1b[31m"));
        CHECK(nssdb_text_safe("Alice Liddell, \xc3\x89" "cole"));
        CHECK(!nssdb_text_safe("x\xc2\x9b"));
        CHECK(!nssdb_text_safe("x\x1b"));
        CHECK(!nssdb_text_safe(NULL));
        CHECK(nssdb_gecos_valid("Eve \xc2\x9b\xe2\x80\xae\x1b[0m"));
        CHECK(!nssdb_gecos_valid("a:b"));
        {
                char longname[NSSDB_NAME_MAX + 2];

                memset(longname, 'a', sizeof(longname));
                longname[NSSDB_NAME_MAX] = 0;
                CHECK(nssdb_name_valid(longname));
                longname[NSSDB_NAME_MAX] = 'a';
                longname[NSSDB_NAME_MAX + 1] = 0;
                CHECK(!nssdb_name_valid(longname));
        }
}

static void test_round_trip(void) {
        struct nssdb *db = NULL;
        struct nssdb_user_view u;
        struct nssdb_group_view g;
        struct nssdb_settings s;
        struct stat st, st2;

        CHECK_INT(write3(), 0);
        CHECK_INT(nssdb_open(db_path, &db, &st), 0);
        if (!db)
                return;
        CHECK_INT(stat(db_path, &st2), 0);
        CHECK_INT(st.st_ino, st2.st_ino);
        CHECK_INT(st.st_mode & 07777, 0644);

        nssdb_settings_get(db, &s);
        CHECK_STR(s.scope, settings.scope);
        CHECK_STR(s.default_domain, "example.com");
        CHECK_STR(s.home, "/home/%u");
        CHECK_STR(s.shell, "/bin/bash");
        CHECK_INT(s.uid_min, 200000);
        CHECK_INT(s.uid_max, 2000199999);
        CHECK(s.domains == NULL);
        CHECK(nssdb_domain_allowed(db, "partner.org"));
        CHECK(nssdb_domain_allowed(db, "PARTNER.org"));
        CHECK(nssdb_domain_allowed(db, "example.com"));
        CHECK(!nssdb_domain_allowed(db, "evil.org"));
        CHECK(!nssdb_domain_allowed(db, ""));

        CHECK_INT(nssdb_n_users(db), 3);
        CHECK_INT(nssdb_n_groups(db), 5);

        CHECK_INT(nssdb_user_by_name(db, "alice", &u), 0);
        CHECK_STR(u.name, "alice");
        CHECK_INT(u.uid, 200001);
        CHECK_STR(u.gecos, "Alice Liddell");
        /* Sorted, the duplicate 27 and the own gid 200001 dropped. */
        CHECK_INT(u.n_gids, 3);
        CHECK_INT(u.gids[0], 27);
        CHECK_INT(u.gids[1], 300001);
        CHECK_INT(u.gids[2], 300002);

        CHECK_INT(nssdb_user_by_uid(db, 200002, &u), 0);
        CHECK_STR(u.name, "bob");
        CHECK_STR(u.gecos, "");
        CHECK_INT(u.n_gids, 1);
        CHECK_INT(nssdb_user_by_name(db, "carol@partner.org", &u), 0);
        CHECK_INT(u.uid, 200003);
        CHECK_INT(u.n_gids, 0);

        CHECK_INT(nssdb_user_by_name(db, "Alice", &u), -ESRCH);
        CHECK_INT(nssdb_user_by_name(db, "engineering", &u), -ESRCH);
        CHECK_INT(nssdb_user_by_uid(db, 300001, &u), -ESRCH);
        CHECK_INT(nssdb_user_by_uid(db, 0, &u), -ESRCH);

        CHECK_INT(nssdb_group_by_name(db, "alice", &g), 0);
        CHECK(g.private_group);
        CHECK_INT(g.gid, 200001);
        CHECK_INT(g.n_members, 1);
        CHECK_STR(nssdb_group_member(db, &g, 0), "alice");
        CHECK(nssdb_group_member(db, &g, 1) == NULL);

        CHECK_INT(nssdb_group_by_gid(db, 300002, &g), 0);
        CHECK_STR(g.name, "everyone");
        CHECK(!g.private_group);
        CHECK_INT(g.n_members, 2);
        CHECK_STR(nssdb_group_member(db, &g, 0), "alice");
        CHECK_STR(nssdb_group_member(db, &g, 1), "bob");

        CHECK_INT(nssdb_group_by_name(db, "engineering", &g), 0);
        CHECK_INT(g.gid, 300001);
        CHECK_INT(g.n_members, 1);
        CHECK_STR(nssdb_group_member(db, &g, 0), "alice");

        /* A local gid listed by users is not a group of ours. */
        CHECK_INT(nssdb_group_by_gid(db, 27, &g), -ESRCH);
        CHECK_INT(nssdb_group_by_name(db, "sudo", &g), -ESRCH);

        /* Enumeration in file order: users, then private groups in user order, then cloudauth groups. */
        CHECK_INT(nssdb_user_at(db, 0, &u), 0);
        CHECK_STR(u.name, "alice");
        CHECK_INT(nssdb_user_at(db, 2, &u), 0);
        CHECK_STR(u.name, "carol@partner.org");
        CHECK_INT(nssdb_user_at(db, 3, &u), -ESRCH);
        CHECK_INT(nssdb_group_at(db, 1, &g), 0);
        CHECK_STR(g.name, "bob");
        CHECK(g.private_group);
        CHECK_INT(nssdb_group_at(db, 4, &g), 0);
        CHECK_STR(g.name, "everyone");
        CHECK_INT(nssdb_group_at(db, 5, &g), -ESRCH);
        nssdb_close(db);
}

/* What the provider sends never reaches a terminal as a control through the db. */
static void test_controls_kept_out(void) {
        struct nssdb_user_in u[] = {
                { "alice", 200001, "Alice \xc2\x9b" "31m\xe2\x80\xae" "Liddell\x1b\x7f\x9b\xe2\x81\xa6!", NULL, 0 },
                { "bob", 200002, "\xc2\x9b\xe2\x80\xae", NULL, 0 },
                { "j\xc3\xb6rg", 200003, "J\xc3\xb6rg", NULL, 0 },
        };
        struct nssdb_user_in bad_user = { "ev\xc2\x9bil", 200004, NULL, NULL, 0 };
        struct nssdb_group_in bad_groups[] = { { "admins\xe2\x80\xae", 300001 } };
        struct nssdb *db = NULL;
        struct nssdb_user_view v;

        CHECK_INT(nssdb_write(db_path, &settings, &bad_user, 1, NULL, 0), -EINVAL);
        CHECK_INT(nssdb_write(db_path, &settings, u, 1, bad_groups, 1), -EINVAL);
        CHECK_INT(nssdb_write(db_path, &settings, u, ELEMENTSOF(u), NULL, 0), 0);
        CHECK_INT(nssdb_open(db_path, &db, NULL), 0);
        if (!db)
                return;
        CHECK_INT(nssdb_user_by_name(db, "alice", &v), 0);
        CHECK_STR(v.gecos, "Alice 31mLiddell!");
        CHECK_INT(nssdb_user_by_name(db, "bob", &v), 0);
        CHECK_STR(v.gecos, "");
        CHECK_INT(nssdb_user_by_name(db, "j\xc3\xb6rg", &v), 0);
        CHECK_STR(v.gecos, "J\xc3\xb6rg");
        nssdb_close(db);
}

/* Which never-seen names NSS may synthesise travels in the header. */
static void test_synth_settings(void) {
        char *const names[] = { (char *) "zoe@partner.org", (char *) "dave", (char *) "erin@example.com",
                                (char *) "dave", NULL };
        char *const same[] = { (char *) "dave", (char *) "erin@example.com", (char *) "zoe@partner.org", NULL };
        char *const fewer[] = { (char *) "dave", (char *) "erin@example.com", NULL };
        char *const bad[] = { (char *) "ev\xc2\x9bil", NULL };
        struct nssdb_settings s2 = settings, got;
        struct nssdb *db = NULL;

        /* Nothing listed and no open policy: nobody. */
        CHECK_INT(write3(), 0);
        CHECK_INT(nssdb_open(db_path, &db, NULL), 0);
        if (!db)
                return;
        CHECK(!nssdb_synth_admits(db, "dave", "dave@example.com"));
        nssdb_settings_get(db, &got);
        CHECK(!got.synth_any);
        CHECK(got.synth_names == NULL);
        nssdb_close(db);
        db = NULL;

        s2.synth_names = bad;
        CHECK_INT(nssdb_write(db_path, &s2, users3, ELEMENTSOF(users3), groups2, ELEMENTSOF(groups2)), -EINVAL);
        s2.synth_names = names;
        CHECK_INT(nssdb_write(db_path, &s2, users3, ELEMENTSOF(users3), groups2, ELEMENTSOF(groups2)), 0);
        CHECK_INT(nssdb_open(db_path, &db, NULL), 0);
        if (!db)
                return;
        CHECK(nssdb_synth_admits(db, "dave", "dave@example.com"));
        CHECK(nssdb_synth_admits(db, "erin", "erin@example.com"));
        CHECK(nssdb_synth_admits(db, "zoe@partner.org", "zoe@partner.org"));
        CHECK(nssdb_synth_admits(db, NULL, "zoe@partner.org"));
        CHECK(!nssdb_synth_admits(db, "mallory", "mallory@example.com"));
        CHECK(!nssdb_synth_admits(db, "dav", "dav@example.com"));
        CHECK(!nssdb_synth_admits(db, "zoe", "zoe@example.com"));
        CHECK(!nssdb_synth_admits(NULL, "dave", "dave@example.com"));
        /* A set: order and duplicates do not matter, contents and synth_any do. */
        CHECK(nssdb_settings_equal(db, &s2));
        s2.synth_names = same;
        CHECK(nssdb_settings_equal(db, &s2));
        s2.synth_names = fewer;
        CHECK(!nssdb_settings_equal(db, &s2));
        s2.synth_names = NULL;
        CHECK(!nssdb_settings_equal(db, &s2));
        s2.synth_names = same;
        s2.synth_any = true;
        CHECK(!nssdb_settings_equal(db, &s2));
        nssdb_close(db);
        db = NULL;

        /* Admitted by group, role or "*": every name of the mapped domains. */
        s2.synth_names = NULL;
        CHECK_INT(nssdb_write(db_path, &s2, users3, ELEMENTSOF(users3), groups2, ELEMENTSOF(groups2)), 0);
        CHECK_INT(nssdb_open(db_path, &db, NULL), 0);
        if (!db)
                return;
        nssdb_settings_get(db, &got);
        CHECK(got.synth_any);
        CHECK(nssdb_synth_admits(db, "mallory", "mallory@example.com"));
        CHECK(nssdb_settings_equal(db, &s2));
        nssdb_close(db);
}

static void test_empty_and_no_domain(void) {
        struct nssdb_settings s2 = settings, got;
        struct nssdb *db = NULL;
        struct nssdb_user_view u;

        s2.default_domain = NULL;
        s2.domains = NULL;
        CHECK_INT(nssdb_write(db_path, &s2, NULL, 0, NULL, 0), 0);
        CHECK_INT(nssdb_open(db_path, &db, NULL), 0);
        if (!db)
                return;
        nssdb_settings_get(db, &got);
        CHECK(got.default_domain == NULL);
        CHECK(!nssdb_domain_allowed(db, "example.com"));
        CHECK_INT(nssdb_n_users(db), 0);
        CHECK_INT(nssdb_n_groups(db), 0);
        CHECK_INT(nssdb_user_by_name(db, "alice", &u), -ESRCH);
        CHECK_INT(nssdb_user_at(db, 0, &u), -ESRCH);
        nssdb_close(db);
}

static unsigned count_dir_entries(void) {
        DIR *d = opendir(dir);
        struct dirent *de;
        unsigned n = 0;

        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

static void check_still_old(void) {
        struct nssdb *db = NULL;
        struct nssdb_user_view u;

        CHECK_INT(nssdb_open(db_path, &db, NULL), 0);
        if (!db)
                return;
        CHECK_INT(nssdb_n_users(db), 3);
        CHECK_INT(nssdb_user_by_name(db, "bob", &u), 0);
        nssdb_close(db);
}

static void test_duplicates_refused(void) {
        struct nssdb_user_in u[2] = {
                { "alice", 200001, NULL, NULL, 0 },
                { "bob", 200002, NULL, NULL, 0 },
        };
        struct nssdb_group_in g[2] = { { "staff", 300001 }, { "ops", 300002 } };
        unsigned before;

        CHECK_INT(write3(), 0);
        before = count_dir_entries();

        u[1].name = "alice";
        CHECK_INT(nssdb_write(db_path, &settings, u, 2, g, 2), -EINVAL);
        u[1].name = "bob";
        u[1].uid = 200001;
        CHECK_INT(nssdb_write(db_path, &settings, u, 2, g, 2), -EINVAL);
        u[1].uid = 200002;
        g[1].name = "bob";
        CHECK_INT(nssdb_write(db_path, &settings, u, 2, g, 2), -EINVAL);
        g[1].name = "staff";
        CHECK_INT(nssdb_write(db_path, &settings, u, 2, g, 2), -EINVAL);
        g[1].name = "ops";
        g[1].gid = 200002;
        CHECK_INT(nssdb_write(db_path, &settings, u, 2, g, 2), -EINVAL);
        g[1].gid = 300001;
        CHECK_INT(nssdb_write(db_path, &settings, u, 2, g, 2), -EINVAL);
        g[1].gid = 300002;

        /* Bad names, ids and settings. */
        u[1].name = "b:ob";
        CHECK_INT(nssdb_write(db_path, &settings, u, 2, g, 2), -EINVAL);
        u[1].name = "bob";
        u[1].gecos = "a:b";
        CHECK_INT(nssdb_write(db_path, &settings, u, 2, g, 2), -EINVAL);
        u[1].gecos = NULL;
        u[1].uid = 0;
        CHECK_INT(nssdb_write(db_path, &settings, u, 2, g, 2), -EINVAL);
        u[1].uid = 200002;
        {
                struct nssdb_settings s2 = settings;

                s2.uid_min = 10, s2.uid_max = 5;
                CHECK_INT(nssdb_write(db_path, &s2, u, 2, g, 2), -EINVAL);
                s2 = settings;
                s2.home = "/home/%u:x";
                CHECK_INT(nssdb_write(db_path, &s2, u, 2, g, 2), -EINVAL);
                s2 = settings;
                s2.scope = NULL;
                CHECK_INT(nssdb_write(db_path, &s2, u, 2, g, 2), -EINVAL);
        }
        u[1].n_gids = NSSDB_MAX_GIDS_PER_USER + 1;
        u[1].gids = calloc(u[1].n_gids, sizeof(uint32_t));
        CHECK_INT(nssdb_write(db_path, &settings, u, 2, g, 2), -EFBIG);
        free((void *) u[1].gids);

        /* Nothing replaced, no temp file left behind. */
        check_still_old();
        CHECK_INT(count_dir_entries(), before);

        /* Control: the corrected input is accepted. */
        u[1].gids = NULL;
        u[1].n_gids = 0;
        CHECK_INT(nssdb_write(db_path, &settings, u, 2, g, 2), 0);
        CHECK_INT(count_dir_entries(), before);
}

static void test_io_failure_keeps_old(void) {
        struct rlimit old, small = { 512, 512 };
        unsigned before;
        pid_t pid;
        int status = 0;

        CHECK_INT(write3(), 0);
        before = count_dir_entries();
        /* In a child, so the file size limit does not leak into the other tests. */
        pid = fork();
        if (pid == 0) {
                signal(SIGXFSZ, SIG_IGN);
                getrlimit(RLIMIT_FSIZE, &old);
                setrlimit(RLIMIT_FSIZE, &small);
                _exit(nssdb_write(db_path, &settings, users3, 3, groups2, 2) == -EFBIG ? 0 : 1);
        }
        CHECK(pid > 0);
        CHECK_INT(waitpid(pid, &status, 0), pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        check_still_old();
        CHECK_INT(count_dir_entries(), before);

        /* A missing directory fails before anything is created. */
        CHECK_INT(nssdb_write("/nonexistent-dir/nss.db", &settings, users3, 3, groups2, 2), -ENOENT);
}

static void test_corruption(void) {
        _cleanup_free_ uint8_t *orig = NULL;
        uint8_t *buf;
        size_t len;
        unsigned ok_opens = 0, wrong = 0;

        CHECK_INT(write3(), 0);
        orig = read_file(db_path, &len);
        CHECK(orig != NULL);
        if (!orig)
                return;
        buf = malloc(len + 64);
        CHECK_INT(open_raw(orig, len), 0);

        /* Every truncation. */
        for (size_t n = 0; n < len; n++) {
                int r = open_raw(orig, n);
                if (r != -EBADMSG)
                        wrong++;
        }
        CHECK_INT(wrong, 0);

        /* One flipped bit at every position, each of a few bit values. */
        for (size_t i = 0; i < len; i++)
                for (unsigned bit = 0; bit < 8; bit += 3) {
                        memcpy(buf, orig, len);
                        buf[i] ^= (uint8_t) (1u << bit);
                        if (open_raw(buf, len) != -EBADMSG)
                                wrong++;
                }
        CHECK_INT(wrong, 0);

        /* Trailing garbage. */
        memcpy(buf, orig, len);
        memset(buf + len, 0, 64);
        CHECK_INT(open_raw(buf, len + 64), -EBADMSG);

        /* Wrong magic and version even with valid checksums. */
        memcpy(buf, orig, len);
        buf[0] = 'X';
        fix_crcs(buf, len);
        CHECK_INT(open_raw(buf, len), -EBADMSG);
        /* Versions 1 (no generations), 2 (no policy for synthesised users) and any later one are
         * refused, so the writer rebuilds. */
        memcpy(buf, orig, len);
        buf[OFF_VERSION] = 1;
        fix_crcs(buf, len);
        CHECK_INT(open_raw(buf, len), -EBADMSG);
        memcpy(buf, orig, len);
        buf[OFF_VERSION] = 2;
        fix_crcs(buf, len);
        CHECK_INT(open_raw(buf, len), -EBADMSG);
        memcpy(buf, orig, len);
        buf[OFF_VERSION] = 4;
        fix_crcs(buf, len);
        CHECK_INT(open_raw(buf, len), -EBADMSG);

        /* A huge count in a small file, with valid checksums: the structure checks must catch it. */
        {
                static const uint32_t counts[] = { 4, 0xffffffffu, 10000000u, 1u << 28 };
                for (size_t k = 0; k < ELEMENTSOF(counts); k++) {
                        memcpy(buf, orig, len);
                        memcpy(buf + OFF_N_USERS, &counts[k], 4);
                        fix_crcs(buf, len);
                        if (open_raw(buf, len) != -EBADMSG)
                                wrong++;
                }
                CHECK_INT(wrong, 0);
        }

        /* With checksums recomputed, every 32-bit word set to hostile values still never crashes;
         * when it opens, every lookup and the enumeration stay inside the map (ASan/valgrind watch). */
        {
                static const uint32_t hostile[] = { 0, 1, 0x7fffffffu, 0xffffffffu, 0x10000u };

                for (size_t off = 0; off + 4 <= len; off += 4)
                        for (size_t k = 0; k < ELEMENTSOF(hostile); k++) {
                                char p[300];
                                struct nssdb *db = NULL;

                                if (off == OFF_HEADER_CRC || off == OFF_BODY_CRC)
                                        continue;
                                memcpy(buf, orig, len);
                                memcpy(buf + off, &hostile[k], 4);
                                fix_crcs(buf, len);
                                snprintf(p, sizeof(p), "%s/raw.db", dir);
                                write_raw(p, buf, len);
                                if (nssdb_open(p, &db, NULL) == 0) {
                                        struct nssdb_user_view u;
                                        struct nssdb_group_view g;
                                        struct nssdb_settings s;

                                        ok_opens++;
                                        nssdb_settings_get(db, &s);
                                        (void) nssdb_domain_allowed(db, "example.com");
                                        (void) nssdb_user_by_name(db, "alice", &u);
                                        (void) nssdb_user_by_uid(db, 200002, &u);
                                        (void) nssdb_group_by_name(db, "everyone", &g);
                                        (void) nssdb_group_by_gid(db, 300001, &g);
                                        for (size_t i = 0; nssdb_user_at(db, i, &u) == 0; i++)
                                                for (uint32_t j = 0; j < u.n_gids; j++)
                                                        (void) u.gids[j];
                                        for (size_t i = 0; nssdb_group_at(db, i, &g) == 0; i++)
                                                for (uint32_t j = 0; j < g.n_members; j++)
                                                        CHECK(nssdb_group_member(db, &g, j) != NULL);
                                        nssdb_close(db);
                                }
                        }
                /* Most words are offsets or counts; some (ids, padding, strings) legitimately change freely. */
                CHECK(ok_opens > 0);
        }
        free(buf);
}

/* The merge rules of the pair, on files written directly (the writer keeps them apart; these cover crash leftovers too). */
static void test_delta_pair(void) {
        static const uint32_t dan_gids[] = { 300001, 300009, 27 };
        static const uint32_t bob_gids2[] = { 300001, 300009 };
        static const struct nssdb_user_in delta_users[] = {
                { "dan", 200010, "Dan", dan_gids, ELEMENTSOF(dan_gids) },
                { "bob", 200002, "Shadow of bob", bob_gids2, ELEMENTSOF(bob_gids2) },
                { "eve", 200001, NULL, NULL, 0 },        /* alice's uid: hidden */
                { "engineering2", 300002, NULL, NULL, 0 }, /* a base group's gid: hidden */
        };
        static const struct nssdb_group_in delta_groups[] = {
                { "engineering", 300001 }, /* the base's: merged */
                { "ops", 300009 },         /* the delta's own */
                { "everyone", 300077 },    /* a base name with another gid: hidden */
        };
        char delta_path[300];
        struct nssdb_pair p;
        struct nssdb_user_view u;
        struct nssdb_pair_group_view g;
        struct nssdb *base = NULL;
        const char *m;
        uint32_t cursor;
        size_t pos, n;
        int rd;

        CHECK_INT(nssdb_delta_path(db_path, delta_path, sizeof(delta_path)), 0);
        CHECK_INT(write3(), 0);
        CHECK_INT(nssdb_open(db_path, &base, NULL), 0);
        if (!base)
                return;
        CHECK(nssdb_generation(base) != 0);
        CHECK_INT(nssdb_base_generation(base), 0);
        CHECK_INT(nssdb_write_delta(delta_path, 0, &settings, delta_users, 1, NULL, 0), -EINVAL);
        CHECK_INT(nssdb_write_delta(delta_path, nssdb_generation(base), &settings, delta_users,
                                    ELEMENTSOF(delta_users), delta_groups, ELEMENTSOF(delta_groups)),
                  0);
        nssdb_close(base);

        CHECK_INT(nssdb_pair_open(db_path, delta_path, &p, &rd), 0);
        CHECK_INT(rd, 0);
        CHECK(p.delta != NULL);
        CHECK_INT(nssdb_pair_user_by_name(&p, "dan", &u), 0);
        CHECK_INT(u.uid, 200010);
        CHECK_INT(u.n_gids, 3);
        CHECK_INT(nssdb_pair_user_by_uid(&p, 200010, &u), 0);
        CHECK_STR(u.name, "dan");
        CHECK_INT(nssdb_pair_user_by_name(&p, "bob", &u), 0);
        CHECK_STR(u.gecos, "");
        CHECK_INT(nssdb_pair_user_by_name(&p, "eve", &u), -ESRCH);
        CHECK_INT(nssdb_pair_user_by_uid(&p, 200001, &u), 0);
        CHECK_STR(u.name, "alice");
        CHECK_INT(nssdb_pair_user_by_name(&p, "engineering2", &u), -ESRCH);
        CHECK(nssdb_pair_id_used(&p, 200010));
        CHECK(nssdb_pair_id_used(&p, 300009));
        CHECK(!nssdb_pair_id_used(&p, 200011));

        CHECK_INT(nssdb_pair_group_by_name(&p, "engineering", &g), 0);
        CHECK_INT(g.n_members, 2);
        cursor = 0;
        CHECK_STR(nssdb_pair_group_member_next(&p, &g, &cursor), "alice");
        CHECK_STR(nssdb_pair_group_member_next(&p, &g, &cursor), "dan");
        CHECK(nssdb_pair_group_member_next(&p, &g, &cursor) == NULL);
        CHECK_INT(nssdb_pair_group_by_gid(&p, 300009, &g), 0);
        CHECK_STR(g.name, "ops");
        CHECK_INT(g.n_members, 1);
        cursor = 0;
        CHECK_STR(nssdb_pair_group_member_next(&p, &g, &cursor), "dan");
        CHECK_INT(nssdb_pair_group_by_gid(&p, 300077, &g), -ESRCH);
        CHECK_INT(nssdb_pair_group_by_name(&p, "everyone", &g), 0);
        CHECK_INT(g.gid, 300002);
        CHECK_INT(nssdb_pair_group_by_name(&p, "eve", &g), -ESRCH);
        CHECK_INT(nssdb_pair_group_by_name(&p, "dan", &g), 0);
        CHECK(g.private_group && g.gid == 200010 && g.n_members == 1);

        /* Enumeration: the base's, then the delta's shown ones, each once. */
        for (n = 0, pos = 0; nssdb_pair_user_next(&p, pos, &u, &pos) == 0; n++)
                if (n == 3)
                        CHECK_STR(u.name, "dan");
        CHECK_INT(n, 4);
        {
                static const char *const want[] = { "alice", "bob", "carol@partner.org", "engineering", "everyone",
                                                    "dan", "ops" };

                for (n = 0, pos = 0; nssdb_pair_group_next(&p, pos, &g, &pos) == 0; n++)
                        if (n < ELEMENTSOF(want))
                                CHECK_STR(g.name, want[n]);
                CHECK_INT(n, ELEMENTSOF(want));
        }
        for (pos = 0; nssdb_pair_group_next(&p, pos, &g, &pos) == 0;)
                for (cursor = 0; (m = nssdb_pair_group_member_next(&p, &g, &cursor));)
                        CHECK(strcmp(m, "eve") != 0 && strcmp(m, "engineering2") != 0);
        nssdb_pair_close(&p);
        nssdb_pair_close(&p);

        /* Another base generation: the delta is stale and left out. */
        CHECK_INT(write3(), 0);
        CHECK_INT(nssdb_pair_open(db_path, delta_path, &p, &rd), 0);
        CHECK_INT(rd, -ESTALE);
        CHECK(p.delta == NULL);
        CHECK_INT(nssdb_pair_user_by_name(&p, "dan", &u), -ESRCH);
        CHECK_INT(nssdb_pair_group_by_name(&p, "ops", &g), -ESRCH);
        nssdb_pair_close(&p);

        /* Kinds are not interchangeable: a base where the delta goes, a delta where the base goes. */
        CHECK_INT(link(db_path, delta_path) == 0 || (unlink(delta_path) == 0 && link(db_path, delta_path) == 0), 1);
        CHECK_INT(nssdb_pair_open(db_path, delta_path, &p, &rd), 0);
        CHECK_INT(rd, -EBADMSG);
        nssdb_pair_close(&p);
        CHECK_INT(nssdb_pair_open(db_path, "/nonexistent/nss.delta.db", &p, &rd), 0);
        CHECK_INT(rd, -ENOENT);
        nssdb_pair_close(&p);
        CHECK_INT(unlink(delta_path), 0);
        CHECK_INT(nssdb_open(db_path, &base, NULL), 0);
        CHECK_INT(nssdb_write_delta(delta_path, nssdb_generation(base), &settings, delta_users, 1, NULL, 0), 0);
        nssdb_close(base);
        p.base = (struct nssdb *) 1;
        CHECK_INT(nssdb_pair_open(delta_path, delta_path, &p, &rd), -EBADMSG);
        CHECK(p.base == (struct nssdb *) 1);
        CHECK_INT(unlink(delta_path), 0);
}

static void test_file_checks(void) {
        struct nssdb *db = NULL;
        char p[300];

        CHECK_INT(write3(), 0);
        CHECK_INT(chmod(db_path, 0664), 0);
        CHECK_INT(nssdb_open(db_path, &db, NULL), -EPERM);
        CHECK_INT(chmod(db_path, 0646), 0);
        CHECK_INT(nssdb_open(db_path, &db, NULL), -EPERM);
        CHECK_INT(chmod(db_path, 0644), 0);

        snprintf(p, sizeof(p), "%s/link.db", dir);
        CHECK_INT(symlink(db_path, p), 0);
        CHECK_INT(nssdb_open(p, &db, NULL), -ELOOP);
        unlink(p);

        snprintf(p, sizeof(p), "%s/missing.db", dir);
        CHECK_INT(nssdb_open(p, &db, NULL), -ENOENT);
        CHECK_INT(nssdb_open(dir, &db, NULL), -EBADMSG);
        CHECK(db == NULL);

        if (geteuid() == 0) {
                CHECK_INT(chown(db_path, 65534, 65534), 0);
                CHECK_INT(nssdb_open(db_path, &db, NULL), -EPERM);
                CHECK_INT(chown(db_path, 0, 0), 0);
        }
        CHECK_INT(nssdb_open(db_path, &db, NULL), 0);
        nssdb_close(db);
}

static void test_many(void) {
        enum { N = 20000, NG = 500 };
        struct nssdb_user_in *u = calloc(N, sizeof(*u));
        struct nssdb_group_in *g = calloc(NG, sizeof(*g));
        uint32_t *gids = calloc(N * 3, sizeof(uint32_t));
        char (*names)[32] = calloc(N + NG, 32);
        struct nssdb *db = NULL;
        unsigned bad = 0;

        for (unsigned i = 0; i < N; i++) {
                snprintf(names[i], 32, "user%u@example.com", i);
                gids[3 * i] = 400000 + i % NG;
                gids[3 * i + 1] = 400000 + (i * 7) % NG;
                gids[3 * i + 2] = 27;
                u[i] = (struct nssdb_user_in){ names[i], 1000000 + i * 3, "User", gids + 3 * i, 3 };
        }
        for (unsigned j = 0; j < NG; j++) {
                snprintf(names[N + j], 32, "group%u", j);
                g[j] = (struct nssdb_group_in){ names[N + j], 400000 + j };
        }
        CHECK_INT(nssdb_write(db_path, &settings, u, N, g, NG), 0);
        CHECK_INT(nssdb_open(db_path, &db, NULL), 0);
        if (db) {
                size_t total_members = 0;

                for (unsigned i = 0; i < N; i++) {
                        struct nssdb_user_view v;

                        if (nssdb_user_by_name(db, names[i], &v) < 0 || v.uid != 1000000 + i * 3)
                                bad++;
                        if (nssdb_user_by_uid(db, 1000000 + i * 3, &v) < 0 || strcmp(v.name, names[i]) != 0)
                                bad++;
                        if (nssdb_user_by_uid(db, 1000000 + i * 3 + 1, &v) != -ESRCH)
                                bad++;
                }
                for (unsigned j = 0; j < NG; j++) {
                        struct nssdb_group_view v;

                        if (nssdb_group_by_name(db, names[N + j], &v) < 0 || v.gid != 400000 + j)
                                bad++;
                        else
                                total_members += v.n_members;
                }
                CHECK_INT(bad, 0);
                /* Each user is in one or two cloudauth groups: i % NG and 7i % NG coincide when 6i % NG == 0. */
                {
                        size_t expected = 0;
                        for (unsigned i = 0; i < N; i++)
                                expected += (i % NG == (i * 7) % NG) ? 1 : 2;
                        CHECK_INT(total_members, expected);
                }
                nssdb_close(db);
        }
        free(u);
        free(g);
        free(gids);
        free(names);
}

int main(void) {
        if (!mkdtemp(dir))
                return EXIT_FAILURE;
        snprintf(db_path, sizeof(db_path), "%s/nss.db", dir);

        RUN(test_crc32c);
        RUN(test_names);
        RUN(test_controls_kept_out);
        RUN(test_synth_settings);
        RUN(test_delta_path);
        RUN(test_round_trip);
        RUN(test_empty_and_no_domain);
        RUN(test_duplicates_refused);
        RUN(test_io_failure_keeps_old);
        RUN(test_corruption);
        RUN(test_file_checks);
        RUN(test_many);
        RUN(test_delta_pair);

        {
                char cmd[300];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "could not remove %s\n", dir);
        }
        return tests_exit();
}
