/* SPDX-License-Identifier: MIT */
/*
 * Fills an identity store with many users for bench-login-scale.sh, and
 * times the parts of a login's store step.
 *
 *   populate-cache fill CONFIG TEMPLATE_UID N
 *       N users bench000001..: each record is the template record (written by
 *       a real login) with its identity fields replaced, plus its subject
 *       file; then nss.db comes from cache_rebuild(), which re-reads and
 *       validates every record, so the store is one the code itself accepts.
 *   populate-cache profile CONFIG TEMPLATE_UID ROUNDS
 *       Medians of: nssdb_open + walking every entry (what a writer does to
 *       load nss.db), nssdb_write of those entries (on the store's file
 *       system and on /dev/shm), and cache_store_login (the whole store step
 *       of a login) for a repeat login of the template user and for a first
 *       login of a new user, who is forgotten again afterwards.
 *
 * Records are written without fsync: this is set-up, not the thing measured.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "identity.h"
#include "log.h"
#include "macro.h"
#include "nssdb.h"
#include "sha256.h"
#include "uidmap.h"

#define NAME_SIZE 64

/* Warnings and errors only: a store logs one info line per login, which would drown the timings. */
static void sink_warnings(void *userdata, int priority, const char *message) {
        if (priority <= LOG_WARNING)
                log_sink_stderr(userdata, priority, message);
}

static const struct logger log_stderr = { .sink = sink_warnings };

__attribute__((noreturn)) static void die(const char *what, int r) {
        fprintf(stderr, "populate-cache: %s: %s\n", what, strerror(r < 0 ? -r : r));
        exit(EXIT_FAILURE);
}

static double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

static double median(double *v, size_t n) {
        qsort(v, n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Ids handed out so far: open addressing, 0 is empty (never an id here). */
struct id_set {
        uint32_t *slot;
        size_t mask;
};

static void id_set_init(struct id_set *s, size_t n) {
        size_t size = 64;

        while (size < 2 * n)
                size *= 2;
        s->slot = calloc(size, sizeof(uint32_t));
        if (!s->slot)
                die("memory", -ENOMEM);
        s->mask = size - 1;
}

/* false when x was already in the set */
static bool id_set_add(struct id_set *s, uint32_t x) {
        size_t i = (x * 2654435761u) & s->mask;

        for (; s->slot[i]; i = (i + 1) & s->mask)
                if (s->slot[i] == x)
                        return false;
        s->slot[i] = x;
        return true;
}

static int file_write(const char *path, const char *data, size_t len) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        size_t done = 0;

        if (fd < 0)
                return -errno;
        while (done < len) {
                ssize_t k = write(fd, data + done, len - done);

                if (k < 0)
                        return -errno;
                done += (size_t) k;
        }
        return 0;
}

static void subject_path(const char *state_dir, const char *key, char *buf, size_t size) {
        static const char hexdigits[] = "0123456789abcdef";
        uint8_t d[SHA256_DIGEST_SIZE];
        char hex[2 * SHA256_DIGEST_SIZE + 1];

        sha256(key, strlen(key), d);
        for (size_t i = 0; i < sizeof(d); i++) {
                hex[2 * i] = hexdigits[d[i] >> 4];
                hex[2 * i + 1] = hexdigits[d[i] & 15];
        }
        hex[sizeof(hex) - 1] = 0;
        snprintf(buf, size, "%s/users/subject-%s", state_dir, hex);
}

static json_t *template_load(const struct cloudauth_config *c, uint32_t uid) {
        char path[4096];
        json_error_t err;
        json_t *o;

        snprintf(path, sizeof(path), "%s/users/%" PRIu32 ".json", c->state_dir, uid);
        o = json_load_file(path, 0, &err);
        if (!json_is_object(o)) {
                fprintf(stderr, "populate-cache: %s: %s\n", path, err.text);
                exit(EXIT_FAILURE);
        }
        return o;
}

/* Ids already taken: the template's uid, its groups' gids, and every uid handed out. */
static void fill(const struct cloudauth_config *c, uint32_t template_uid, size_t n) {
        json_t *tpl = template_load(c, template_uid);
        const char *issuer = c->issuer, *domain = c->default_domain ? c->default_domain : "example.com";
        struct id_set taken;
        size_t written = 0, skipped = 0;
        json_t *g;
        size_t i;
        double t0, t1, t2;
        int r;

        id_set_init(&taken, n + 64);
        id_set_add(&taken, template_uid);
        json_array_foreach(json_object_get(tpl, "groups"), i, g)
                id_set_add(&taken, (uint32_t) json_integer_value(json_object_get(g, "gid")));

        t0 = now_ms();
        for (size_t k = 1; k <= n; k++) {
                char name[NAME_SIZE], idp[2 * NAME_SIZE], display[NAME_SIZE], subject[4096], path[4096];
                char sub[40], uidtext[16];
                json_t *rec;
                char *text;
                uint32_t uid;

                snprintf(name, sizeof(name), "bench%06zu", k);
                snprintf(idp, sizeof(idp), "%s@%s", name, domain);
                snprintf(display, sizeof(display), "Bench User %zu", k);
                snprintf(sub, sizeof(sub), "00000000-0000-4000-8000-%012zx", k);
                snprintf(subject, sizeof(subject), "oidc:%s:%s", issuer, sub);
                uid = uidmap_user_uid(issuer, idp, c->uid_min, c->uid_max);
                /* A hash collision among 100,000 names in a 2e9 range happens; a real store refuses it too. */
                if (!id_set_add(&taken, uid)) {
                        skipped++;
                        continue;
                }

                rec = json_deep_copy(tpl);
                if (!rec || json_object_set_new(rec, "uid", json_integer(uid)) < 0 ||
                    json_object_set_new(rec, "username", json_string(name)) < 0 ||
                    json_object_set_new(rec, "idp_username", json_string(idp)) < 0 ||
                    json_object_set_new(rec, "email", json_string(idp)) < 0 ||
                    json_object_set_new(rec, "display_name", json_string(display)) < 0 ||
                    json_object_set_new(rec, "subject_key", json_string(subject)) < 0)
                        die("building a record", -ENOMEM);
                text = json_dumps(rec, JSON_INDENT(2) | JSON_SORT_KEYS);
                json_decref(rec);
                if (!text)
                        die("serialising a record", -ENOMEM);
                snprintf(path, sizeof(path), "%s/users/%" PRIu32 ".json", c->state_dir, uid);
                r = file_write(path, text, strlen(text));
                free(text);
                if (r < 0)
                        die(path, r);
                subject_path(c->state_dir, subject, path, sizeof(path));
                snprintf(uidtext, sizeof(uidtext), "%" PRIu32 "\n", uid);
                if ((r = file_write(path, uidtext, strlen(uidtext))) < 0)
                        die(path, r);
                written++;
        }
        t1 = now_ms();
        if ((r = cache_rebuild(c, &log_stderr)) < 0)
                die("cache_rebuild", r);
        t2 = now_ms();
        printf("records %zu written in %.0f ms (%zu skipped for a uid collision); cache_rebuild %.0f ms\n", written,
               t1 - t0, skipped, t2 - t1);
        json_decref(tpl);
        free(taken.slot);
}

/* The identity a repeat login of the template user presents. */
static void identity_of(const struct cache_user *u, const char *issuer, struct identity *id) {
        const char *sub = strrchr(u->subject_key, ':');

        *id = (struct identity) {
                .username = u->username, .idp_username = u->idp_username, .issuer = (char *) issuer,
                .subject = sub ? (char *) sub + 1 : NULL, .display_name = u->display_name, .email = u->email,
                .groups = u->idp_groups, .app_roles = u->app_roles,
        };
}

static void profile(const struct cloudauth_config *c, uint32_t template_uid, size_t rounds) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        _cleanup_free_ char *path = NULL, *scratch = NULL;
        double *t_load = calloc(rounds, sizeof(double)), *t_write = calloc(rounds, sizeof(double)),
               *t_store = calloc(rounds, sizeof(double)), *t_first = calloc(rounds, sizeof(double)),
               *t_shm = calloc(rounds, sizeof(double));
        char shm[64];
        char *empty[] = { NULL };
        struct identity id;
        struct stat st;
        size_t n_users = 0, n_groups = 0;
        int r;

        if (!t_load || !t_write || !t_store || !t_first || !t_shm)
                die("memory", -ENOMEM);
        /* The same write on tmpfs: what nssdb_write costs without the disk's fsync. */
        snprintf(shm, sizeof(shm), "/dev/shm/populate-cache-%ld.db", (long) getpid());
        if ((r = cache_nssdb_path(c, &path)) < 0 || asprintf(&scratch, "%s.profile", path) < 0)
                die("nss.db path", r < 0 ? r : -ENOMEM);
        if ((r = cache_user_load_by_uid(c, &log_stderr, template_uid, &u)) < 0)
                die("the template record", r);
        identity_of(u, c->issuer, &id);
        if (!id.groups)
                id.groups = empty;
        if (!id.app_roles)
                id.app_roles = empty;

        for (size_t k = 0; k < rounds; k++) {
                struct nssdb_user_in *users;
                struct nssdb_group_in *groups;
                struct nssdb_settings s;
                struct nssdb *db;
                uint32_t uid;
                const char *reason = NULL;
                double t0, t1, t2, t3;

                t0 = now_ms();
                if ((r = nssdb_open(path, &db, &st)) < 0)
                        die(path, r);
                n_users = nssdb_n_users(db);
                n_groups = nssdb_n_groups(db);
                users = calloc(n_users + 1, sizeof(*users));
                groups = calloc(n_groups + 1, sizeof(*groups));
                if (!users || !groups)
                        die("memory", -ENOMEM);
                for (size_t i = 0; i < n_users; i++) {
                        struct nssdb_user_view v;

                        if ((r = nssdb_user_at(db, i, &v)) < 0)
                                die("nssdb_user_at", r);
                        users[i] = (struct nssdb_user_in) { .name = v.name, .uid = v.uid,
                                                            .gecos = *v.gecos ? v.gecos : NULL,
                                                            .gids = v.gids, .n_gids = v.n_gids };
                }
                size_t n_idp_groups = 0;
                for (size_t i = 0; i < n_groups; i++) {
                        struct nssdb_group_view g;

                        if ((r = nssdb_group_at(db, i, &g)) < 0)
                                die("nssdb_group_at", r);
                        if (!g.private_group)
                                groups[n_idp_groups++] = (struct nssdb_group_in) { .name = g.name, .gid = g.gid };
                }
                t1 = now_ms();
                nssdb_settings_get(db, &s);
                if ((r = nssdb_write(scratch, &s, users, n_users, groups, n_idp_groups)) < 0)
                        die("nssdb_write", r);
                t2 = now_ms();
                if ((r = nssdb_write(shm, &s, users, n_users, groups, n_idp_groups)) < 0)
                        die("nssdb_write on /dev/shm", r);
                t_shm[k] = now_ms() - t2;
                unlink(shm);
                nssdb_close(db);
                free(users);
                free(groups);
                unlink(scratch);

                t3 = now_ms();
                if ((r = cache_store_login(c, &log_stderr, &id, u->roles ? u->roles : empty, time(NULL), &uid,
                                           &reason)) < 0) {
                        fprintf(stderr, "populate-cache: cache_store_login: %s (%s)\n", strerror(-r), reason ? reason : "-");
                        exit(EXIT_FAILURE);
                }
                t_store[k] = now_ms() - t3;
                t_load[k] = t1 - t0;
                t_write[k] = t2 - t1;

                /* A first login: a new name and subject, so nss.db gains an entry and is rewritten. */
                {
                        char name[NAME_SIZE], idp[2 * NAME_SIZE], sub[64];
                        struct identity fresh = id;

                        snprintf(name, sizeof(name), "profile%ld-%zu", (long) getpid(), k);
                        snprintf(idp, sizeof(idp), "%s@%s", name, c->default_domain ? c->default_domain : "example.com");
                        snprintf(sub, sizeof(sub), "profile-%ld-%zu", (long) getpid(), k);
                        fresh.username = name;
                        fresh.idp_username = idp;
                        fresh.email = idp;
                        fresh.subject = sub;
                        t3 = now_ms();
                        if ((r = cache_store_login(c, &log_stderr, &fresh, u->roles ? u->roles : empty, time(NULL),
                                                   &uid, &reason)) < 0) {
                                fprintf(stderr, "populate-cache: first cache_store_login: %s (%s)\n", strerror(-r),
                                        reason ? reason : "-");
                                exit(EXIT_FAILURE);
                        }
                        t_first[k] = now_ms() - t3;
                        (void) cache_user_forget(c, &log_stderr, name);
                }
        }
        printf("nss.db %" PRIu64 " bytes, %zu users, %zu groups: %.1f bytes per user\n", (uint64_t) st.st_size,
               n_users, n_groups, n_users ? (double) st.st_size / (double) n_users : 0.0);
        printf("median of %zu: nssdb_open + walk %.2f ms; nssdb_write %.2f ms (%.2f ms on tmpfs); "
               "cache_store_login: repeat %.2f ms, first login %.2f ms\n",
               rounds, median(t_load, rounds), median(t_write, rounds), median(t_shm, rounds), median(t_store, rounds),
               median(t_first, rounds));
        free(t_first);
        free(t_shm);
        free(t_load);
        free(t_write);
        free(t_store);
}

int main(int argc, char **argv) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        unsigned long uid, count;
        char *end;

        if (argc != 5 || (strcmp(argv[1], "fill") != 0 && strcmp(argv[1], "profile") != 0)) {
                fprintf(stderr, "usage: populate-cache fill|profile CONFIG TEMPLATE_UID N|ROUNDS\n");
                return 2;
        }
        errno = 0;
        uid = strtoul(argv[3], &end, 10);
        if (errno || *end || uid == 0 || uid >= UINT32_MAX)
                die("TEMPLATE_UID", -EINVAL);
        count = strtoul(argv[4], &end, 10);
        if (errno || *end || count == 0 || count > NSSDB_MAX_USERS)
                die("N", -EINVAL);
        if (config_load(argv[2], &log_stderr, &c) < 0)
                return EXIT_FAILURE;
        if (strcmp(argv[1], "fill") == 0)
                fill(c, (uint32_t) uid, count);
        else
                profile(c, (uint32_t) uid, count);
        return EXIT_SUCCESS;
}
