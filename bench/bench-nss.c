/* SPDX-License-Identifier: MIT */
/*
 * NSS lookup latency with 100,000 users: the built module's
 * _nss_cloudauth_getpwnam_r/getpwuid_r against glibc's nss_files reading a
 * generated 100,000-line /etc/passwd (bind-mounted in a private mount
 * namespace, so the host's file is untouched), plus the cost and size of
 * nssdb_write for the same users.
 * usage: bench-nss [PATH-TO-libnss_cloudauth.so.2] [USERS]
 * Needs root for the nss_files baseline.
 */
#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <nss.h>
#include <pwd.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nssdb.h"

typedef enum nss_status (*getpwnam_fn)(const char *, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*getpwuid_fn)(uid_t, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*getgrnam_fn)(const char *, struct group *, char *, size_t, int *);

#define UID_BASE 1000000u

static size_t n_users = 100000;
static char (*names)[40];
static uint64_t rng = 0x853c49e6748fea9bull;

static uint32_t rand_index(void) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return (uint32_t) (rng % n_users);
}

static double now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static double median(double *v, size_t n) {
        qsort(v, n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void *load(void *h, const char *name) {
        void *p = dlsym(h, name);

        if (!p) {
                fprintf(stderr, "%s: %s\n", name, dlerror());
                exit(EXIT_FAILURE);
        }
        return p;
}

/*
 * Median per-call latency: calls are timed in batches (so the clock's own
 * cost is spread) of batch lookups of random existing users, rounds times.
 */
static double bench_getpwnam(getpwnam_fn f, size_t rounds, size_t batch) {
        double *t = calloc(rounds, sizeof(double));
        static char buf[4096];
        double m;

        for (size_t r = 0; r < rounds; r++) {
                double t0 = now_us();

                for (size_t i = 0; i < batch; i++) {
                        struct passwd pw;
                        int e;
                        uint32_t k = rand_index();

                        if (f(names[k], &pw, buf, sizeof(buf), &e) != NSS_STATUS_SUCCESS ||
                            pw.pw_uid != UID_BASE + k) {
                                fprintf(stderr, "lookup of %s failed\n", names[k]);
                                exit(EXIT_FAILURE);
                        }
                }
                t[r] = (now_us() - t0) / (double) batch;
        }
        m = median(t, rounds);
        free(t);
        return m;
}

static double bench_getpwuid(getpwuid_fn f, size_t rounds, size_t batch) {
        double *t = calloc(rounds, sizeof(double));
        static char buf[4096];
        double m;

        for (size_t r = 0; r < rounds; r++) {
                double t0 = now_us();

                for (size_t i = 0; i < batch; i++) {
                        struct passwd pw;
                        int e;
                        uint32_t k = rand_index();

                        if (f(UID_BASE + k, &pw, buf, sizeof(buf), &e) != NSS_STATUS_SUCCESS ||
                            strcmp(pw.pw_name, names[k]) != 0) {
                                fprintf(stderr, "lookup of uid %u failed\n", UID_BASE + k);
                                exit(EXIT_FAILURE);
                        }
                }
                t[r] = (now_us() - t0) / (double) batch;
        }
        m = median(t, rounds);
        free(t);
        return m;
}

/* getgrnam_r of team0, whose members are spread over nss.db and the delta. */
static double bench_getgrnam(getgrnam_fn f, size_t rounds, size_t expected) {
        double *t = calloc(rounds, sizeof(double));
        size_t size = 64 * n_users + 4096;
        char *buf = malloc(size);
        double m;

        if (!t || !buf)
                exit(EXIT_FAILURE);
        for (size_t r = 0; r < rounds; r++) {
                struct group gr;
                int e;
                double t0 = now_us();
                size_t n = 0;

                if (f("team0", &gr, buf, size, &e) != NSS_STATUS_SUCCESS) {
                        fprintf(stderr, "lookup of team0 failed\n");
                        exit(EXIT_FAILURE);
                }
                t[r] = now_us() - t0;
                while (gr.gr_mem[n])
                        n++;
                if (n != expected) {
                        fprintf(stderr, "team0 has %zu members, not %zu\n", n, expected);
                        exit(EXIT_FAILURE);
                }
        }
        m = median(t, rounds);
        free(t);
        free(buf);
        return m;
}

static int write_db(const char *path, uint64_t delta_of, struct nssdb_user_in *users, size_t n, struct nssdb_group_in *groups,
                    size_t n_groups) {
        const struct nssdb_settings s = {
                .scope = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0",
                .default_domain = "example.com",
                .uid_min = 200000,
                .uid_max = 2000199999,
                .home = "/home/%u",
                .shell = "/bin/bash",
        };

        return delta_of ? nssdb_write_delta(path, delta_of, &s, users, n, groups, n_groups)
                        : nssdb_write(path, &s, users, n, groups, n_groups);
}

/* A private mount namespace with a generated passwd file over /etc/passwd. */
static int passwd_file_setup(const char *dir) {
        char path[PATH_MAX];
        FILE *f;

        snprintf(path, sizeof(path), "%s/passwd", dir);
        f = fopen(path, "we");
        if (!f)
                return -errno;
        fprintf(f, "root:x:0:0:root:/root:/bin/bash\n");
        for (size_t i = 0; i < n_users; i++)
                fprintf(f, "%s:x:%zu:%zu:Generated User %zu:/home/%s:/bin/bash\n", names[i], UID_BASE + i,
                        UID_BASE + i, i, names[i]);
        if (fclose(f) != 0)
                return -errno;
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount(path, "/etc/passwd", NULL, MS_BIND, NULL) < 0)
                return -errno;
        return 0;
}

int main(int argc, char **argv) {
        char module[PATH_MAX], dir[] = "/tmp/bench-nss.XXXXXX", db_path[PATH_MAX];
        struct nssdb_user_in *users;
        struct nssdb_group_in groups[50];
        char group_names[50][16];
        uint32_t *gids;
        double write_t[5], cloud_nam, cloud_uid;
        struct stat st;
        getpwnam_fn c_getpwnam;
        getpwuid_fn c_getpwuid;
        void *h;
        int r;

        if (argc > 1)
                snprintf(module, sizeof(module), "%s", argv[1]);
        else {
                char self[PATH_MAX];
                ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

                if (n < 0)
                        return EXIT_FAILURE;
                self[n] = 0;
                snprintf(module, sizeof(module), "%s/../nss/libnss_cloudauth.so.2", dirname(self));
        }
        if (argc > 2)
                n_users = strtoul(argv[2], NULL, 10);
        if (n_users == 0 || n_users > NSSDB_MAX_USERS || !mkdtemp(dir))
                return EXIT_FAILURE;
        snprintf(db_path, sizeof(db_path), "%s/nss.db", dir);

        /* Users look like an Entra tenant's: mail-style names, a display name, 3 groups each. */
        names = calloc(n_users, sizeof(*names));
        users = calloc(n_users, sizeof(*users));
        gids = calloc(n_users * 3, sizeof(uint32_t));
        if (!names || !users || !gids)
                return EXIT_FAILURE;
        for (size_t j = 0; j < 50; j++) {
                snprintf(group_names[j], sizeof(group_names[j]), "team%zu", j);
                groups[j] = (struct nssdb_group_in){ group_names[j], 500000 + (uint32_t) j };
        }
        for (size_t i = 0; i < n_users; i++) {
                snprintf(names[i], sizeof(names[i]), "user%zu.surname", i);
                gids[3 * i] = 500000 + (uint32_t) (i % 50);
                gids[3 * i + 1] = 500000 + (uint32_t) ((i / 50) % 50);
                gids[3 * i + 2] = 27;
                users[i] = (struct nssdb_user_in){ names[i], UID_BASE + (uint32_t) i, "Generated User", gids + 3 * i, 3 };
        }

        for (size_t k = 0; k < 5; k++) {
                double t0 = now_us();

                if ((r = write_db(db_path, 0, users, n_users, groups, 50)) < 0) {
                        fprintf(stderr, "nssdb_write: %s\n", strerror(-r));
                        return EXIT_FAILURE;
                }
                write_t[k] = now_us() - t0;
        }
        if (stat(db_path, &st) < 0)
                return EXIT_FAILURE;
        printf("nssdb_write %zu users: %.1f ms median of 5 (with fsync), %lld bytes, %.1f bytes/user\n", n_users,
               median(write_t, 5) / 1000, (long long) st.st_size, (double) st.st_size / (double) n_users);

        setenv("CLOUDAUTH_NSS_DB", db_path, 1);
        h = dlopen(module, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
                fprintf(stderr, "dlopen %s: %s\n", module, dlerror());
                return EXIT_FAILURE;
        }
        {
                void *p = load(h, "_nss_cloudauth_getpwnam_r");
                memcpy(&c_getpwnam, &p, sizeof(p));
                p = load(h, "_nss_cloudauth_getpwuid_r");
                memcpy(&c_getpwuid, &p, sizeof(p));
        }
        /* The first call maps and validates the file; that is not what is measured. */
        {
                double t0 = now_us();
                (void) bench_getpwnam(c_getpwnam, 1, 1);
                printf("nss_cloudauth first call (map + validate %lld bytes): %.0f us\n", (long long) st.st_size,
                       now_us() - t0);
        }
        cloud_nam = bench_getpwnam(c_getpwnam, 2001, 100);
        cloud_uid = bench_getpwuid(c_getpwuid, 2001, 100);

        /*
         * The same users with the last 1/16 in nss.delta.db (the most a delta holds before it is
         * compacted): lookups of delta users miss nss.db first, and groups merge members of both.
         */
        {
                size_t n_delta = n_users / 16 > 0 ? n_users / 16 : 1, n_base = n_users - n_delta;
                char delta_path[PATH_MAX];
                struct nssdb *base;
                double t0, delta_write, d_nam, d_uid, d_grp;
                size_t team0 = 0;
                getgrnam_fn c_getgrnam;
                void *p = load(h, "_nss_cloudauth_getgrnam_r");

                memcpy(&c_getgrnam, &p, sizeof(p));
                if (nssdb_delta_path(db_path, delta_path, sizeof(delta_path)) < 0 ||
                    (r = write_db(db_path, 0, users, n_base, groups, 50)) < 0 ||
                    (r = nssdb_open(db_path, &base, NULL)) < 0) {
                        fprintf(stderr, "cannot write the base: %s\n", strerror(-r));
                        return EXIT_FAILURE;
                }
                t0 = now_us();
                r = write_db(delta_path, nssdb_generation(base), users + n_base, n_delta, groups, 50);
                delta_write = now_us() - t0;
                nssdb_close(base);
                if (r < 0) {
                        fprintf(stderr, "cannot write the delta: %s\n", strerror(-r));
                        return EXIT_FAILURE;
                }
                (void) bench_getpwnam(c_getpwnam, 1, 1);
                d_nam = bench_getpwnam(c_getpwnam, 2001, 100);
                d_uid = bench_getpwuid(c_getpwuid, 2001, 100);
                for (size_t i = 0; i < n_users; i++)
                        team0 += users[i].gids[0] == 500000 || users[i].gids[1] == 500000;
                d_grp = bench_getgrnam(c_getgrnam, 201, team0);
                printf("with %zu of them in nss.delta.db (written in %.1f ms): getpwnam_r %.3f us, getpwuid_r %.3f us (nss.db alone: %.3f, %.3f); getgrnam_r of a %zu-member group of both files %.1f us\n",
                       n_delta, delta_write / 1000, d_nam, d_uid, cloud_nam, cloud_uid, team0, d_grp);
                if (write_db(db_path, 0, users, n_users, groups, 50) < 0 || unlink(delta_path) < 0)
                        return EXIT_FAILURE;
        }

        if (geteuid() != 0 || (r = passwd_file_setup(dir)) < 0) {
                printf("nss_cloudauth getpwnam_r %.3f us, getpwuid_r %.3f us\n", cloud_nam, cloud_uid);
                printf("nss_files baseline skipped: needs root for a private mount namespace\n");
        } else {
                void *fh = dlopen("libnss_files.so.2", RTLD_NOW | RTLD_LOCAL);
                getpwnam_fn f_getpwnam;
                getpwuid_fn f_getpwuid;
                double files_nam, files_uid;

                if (!fh) {
                        fprintf(stderr, "dlopen libnss_files.so.2: %s\n", dlerror());
                        return EXIT_FAILURE;
                }
                {
                        void *p = load(fh, "_nss_files_getpwnam_r");
                        memcpy(&f_getpwnam, &p, sizeof(p));
                        p = load(fh, "_nss_files_getpwuid_r");
                        memcpy(&f_getpwuid, &p, sizeof(p));
                }
                files_nam = bench_getpwnam(f_getpwnam, 101, 1);
                files_uid = bench_getpwuid(f_getpwuid, 101, 1);
                printf("nss_cloudauth getpwnam_r %.3f us, nss_files %.0f us, %.0fx\n", cloud_nam, files_nam,
                       files_nam / cloud_nam);
                printf("nss_cloudauth getpwuid_r %.3f us, nss_files %.0f us, %.0fx\n", cloud_uid, files_uid,
                       files_uid / cloud_uid);
                umount("/etc/passwd");
        }

        {
                char cmd[PATH_MAX + 16];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "could not remove %s\n", dir);
        }
        return 0;
}
