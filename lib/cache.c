/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "fileio.h"
#include "json-util.h"
#include "macro.h"
#include "nssdb.h"
#include "offline.h"
#include "secret.h"
#include "sha256.h"
#include "uidmap.h"

#define RECORD_VERSION 1
#define RECORD_MAX_SIZE (4u * 1024 * 1024)
#define RECORD_LIST_MAX 65536u
#define SUBJECT_FILE_MAX 64u
#define NAME_MAX_LEN 255u /* nss.db's limit for user and group names */
#define LOCAL_LINE_MAX (1024u * 1024)
#define NSSDB_TMP_PREFIX "nss.db.tmp"
#define DELTA_TMP_PREFIX "nss.delta.db.tmp"
/* The delta is rewritten whole on every first login it takes; past this many users a
 * compaction (one full write) is cheaper than keeping on rewriting a big delta. */
#define DELTA_USERS_MIN_BOUND 1000u
#define DELTA_USERS_BASE_SHARE 16u
#define RECORD_TMP_PREFIX ".record.tmp."
/* How long a writer waits for the store lock before it gives up (see lock_wait). */
#define STORE_LOCK_TIMEOUT_SEC 10u

static const char *local_passwd_path = "/etc/passwd";
static const char *local_group_path = "/etc/group";

static size_t delta_bound_override;

void cache_set_delta_bound(size_t max_users) {
        delta_bound_override = max_users;
}

void cache_set_local_files(const char *passwd_path, const char *group_path) {
        local_passwd_path = passwd_path ? passwd_path : "/etc/passwd";
        local_group_path = group_path ? group_path : "/etc/group";
}

/* ---- records ---- */

static void cache_group_array_free(struct cache_group *g, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(g[i].name);
        free(g);
}

void cache_user_free(struct cache_user *u) {
        if (!u)
                return;
        free(u->username);
        free(u->idp_username);
        free(u->subject_key);
        free(u->display_name);
        free(u->email);
        free(u->refusal);
        if (u->verifier)
                secret_wipe(u->verifier, sizeof(*u->verifier));
        free(u->verifier);
        if (u->pin_verifier)
                secret_wipe(u->pin_verifier, sizeof(*u->pin_verifier));
        free(u->pin_verifier);
        erase_and_free(u->refresh_sealed);
        strv_free(u->idp_groups);
        strv_free(u->app_roles);
        strv_free(u->roles);
        cache_group_array_free(u->groups, u->n_groups);
        cache_group_array_free(u->unix_groups, u->n_unix_groups);
        free(u);
}

void cache_user_list_free(struct cache_user **v, size_t n) {
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                cache_user_free(v[i]);
        free(v);
}

/*
 * Microsoft's token issuers: https://HOST/<tenant>/... A tenant id and an
 * object id mean something only there; any other provider may put claims
 * named tid and oid in a token, with whatever values it (or a user who can
 * edit his own attributes there) chooses.
 */
static const char *const entra_issuer_prefixes[] = {
        "https://login.microsoftonline.com/",
        "https://login.microsoftonline.us/",
        "https://login.chinacloudapi.cn/",
        "https://sts.windows.net/",
};

/* Whether tid is the tenant the (verified) issuer URL names: its first path segment. */
static bool entra_issuer_tenant_is(const char *issuer, const char *tid) {
        size_t n = strlen(tid);

        if (!issuer || n == 0)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(entra_issuer_prefixes); i++) {
                const char *prefix = entra_issuer_prefixes[i], *tenant;

                if (strncasecmp(issuer, prefix, strlen(prefix)) != 0)
                        continue;
                tenant = issuer + strlen(prefix);
                return strncasecmp(tenant, tid, n) == 0 && (tenant[n] == '/' || tenant[n] == 0);
        }
        return false;
}

int cache_subject_key(const struct identity *id, char **ret) {
        char *k;
        int r;

        if (id->tenant && id->object_id && *id->tenant && *id->object_id &&
            entra_issuer_tenant_is(id->issuer, id->tenant))
                r = asprintf(&k, "entra:%s:%s", id->tenant, id->object_id);
        else if (id->issuer && id->subject && *id->issuer && *id->subject)
                r = asprintf(&k, "oidc:%s:%s", id->issuer, id->subject);
        else
                return -EINVAL;
        if (r < 0)
                return -ENOMEM;
        *ret = k;
        return 0;
}

int cache_nssdb_path(const struct cloudauth_config *c, char **ret) {
        char *p;

        if (!c->state_dir)
                return -EINVAL;
        if (asprintf(&p, "%s/nss.db", c->state_dir) < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

/* nss.delta.db beside nss.db (the name nssdb_delta_path() derives, which the NSS module uses too). */
static int cache_delta_path(const struct cloudauth_config *c, char **ret) {
        _cleanup_free_ char *base = NULL;
        char buf[4096];
        char *p;
        int r;

        if ((r = cache_nssdb_path(c, &base)) < 0 || (r = nssdb_delta_path(base, buf, sizeof(buf))) < 0)
                return r;
        p = strdup(buf);
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

static int path_record(const struct cloudauth_config *c, uint32_t uid, char **ret) {
        return asprintf(ret, "%s/users/%" PRIu32 ".json", c->state_dir, uid) < 0 ? -ENOMEM : 0;
}

static int path_subject(const struct cloudauth_config *c, const char *subject_key, char **ret) {
        static const char hexdigits[] = "0123456789abcdef";
        uint8_t d[SHA256_DIGEST_SIZE];
        char hex[2 * SHA256_DIGEST_SIZE + 1];

        sha256(subject_key, strlen(subject_key), d);
        for (size_t i = 0; i < sizeof(d); i++) {
                hex[2 * i] = hexdigits[d[i] >> 4];
                hex[2 * i + 1] = hexdigits[d[i] & 15];
        }
        hex[sizeof(hex) - 1] = 0;
        return asprintf(ret, "%s/users/subject-%s", c->state_dir, hex) < 0 ? -ENOMEM : 0;
}

/* Reads a whole trusted file; -ENOENT is returned silently, everything else is logged. */
static int read_trusted(const char *path, unsigned forbidden, size_t max, const struct logger *log, char **ret,
                        size_t *ret_len) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, size;
        struct stat st;

        fd = open_trusted_file(path, forbidden, max, log);
        if (fd < 0)
                return fd;
        /* Sized by fstat (already capped at max); one byte more notices a file that grows meanwhile. */
        if (fstat(fd, &st) < 0)
                return -errno;
        size = (size_t) st.st_size;
        buf = malloc(size + 2);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf + n, size + 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(log, -errno, "%s: cannot read: %s", path, strerror(errno));
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > size)
                        return log_error_errno(log, -EBUSY, "%s: changed while being read", path);
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = n;
        return 0;
}

static int json_get_strv(json_t *o, const char *key, char ***ret) {
        json_t *a = json_object_get(o, key), *v;
        _cleanup_strv_free_ char **l = NULL;
        size_t i, n;

        if (!json_is_array(a))
                return -EBADMSG;
        n = json_array_size(a);
        if (n > RECORD_LIST_MAX)
                return -EBADMSG;
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        json_array_foreach(a, i, v) {
                if (!json_is_string(v))
                        return -EBADMSG;
                l[i] = strdup(json_string_value(v));
                if (!l[i])
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static bool json_get_u32(json_t *o, const char *key, uint32_t *ret) {
        json_t *v = json_object_get(o, key);
        json_int_t i;

        if (!json_is_integer(v))
                return false;
        i = json_integer_value(v);
        if (i < 0 || i > (json_int_t) UINT32_MAX)
                return false;
        *ret = (uint32_t) i;
        return true;
}

static int json_get_groups(json_t *o, const char *key, struct cache_group **ret, size_t *ret_n) {
        json_t *a = json_object_get(o, key), *v;
        struct cache_group *g;
        size_t i, n;

        if (!json_is_array(a))
                return -EBADMSG;
        n = json_array_size(a);
        if (n > RECORD_LIST_MAX)
                return -EBADMSG;
        g = calloc(n ? n : 1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        json_array_foreach(a, i, v) {
                const char *name = json_object_get_string(v, "name");

                if (!name || !json_get_u32(v, "gid", &g[i].gid)) {
                        cache_group_array_free(g, i);
                        return -EBADMSG;
                }
                g[i].name = strdup(name);
                if (!g[i].name) {
                        cache_group_array_free(g, i);
                        return -ENOMEM;
                }
        }
        *ret = g;
        *ret_n = n;
        return 0;
}

static int json_get_opt_string(json_t *o, const char *key, char **ret) {
        json_t *v = json_object_get(o, key);

        if (!v || json_is_null(v)) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v))
                return -EBADMSG;
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

static int json_get_string_dup(json_t *o, const char *key, char **ret) {
        const char *s = json_object_get_string(o, key);

        if (!s || !*s)
                return -EBADMSG;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int cache_user_parse(const char *text, size_t len, struct cache_user **ret) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        _cleanup_json_ json_t *o = NULL;
        json_error_t err;
        json_t *v;
        int r;

        o = json_loadb(text, len, JSON_PARSE_FLAGS, &err);
        if (!json_is_object(o))
                return -EBADMSG;
        v = json_object_get(o, "version");
        if (!json_is_integer(v) || json_integer_value(v) != RECORD_VERSION)
                return -EBADMSG;

        u = calloc(1, sizeof(*u));
        if (!u)
                return -ENOMEM;
        if (!json_get_u32(o, "uid", &u->uid) || u->uid == 0 || u->uid == UINT32_MAX)
                return -EBADMSG;
        if ((r = json_get_string_dup(o, "username", &u->username)) < 0 ||
            (r = json_get_string_dup(o, "idp_username", &u->idp_username)) < 0 ||
            (r = json_get_string_dup(o, "subject_key", &u->subject_key)) < 0 ||
            (r = json_get_opt_string(o, "display_name", &u->display_name)) < 0 ||
            (r = json_get_opt_string(o, "email", &u->email)) < 0 ||
            (r = json_get_strv(o, "idp_groups", &u->idp_groups)) < 0 ||
            (r = json_get_strv(o, "app_roles", &u->app_roles)) < 0 ||
            (r = json_get_strv(o, "roles", &u->roles)) < 0 ||
            (r = json_get_groups(o, "groups", &u->groups, &u->n_groups)) < 0 ||
            (r = json_get_groups(o, "unix_groups", &u->unix_groups, &u->n_unix_groups)) < 0)
                return r;
        v = json_object_get(o, "first_login");
        if (!json_is_integer(v))
                return -EBADMSG;
        u->first_login = json_integer_value(v);
        v = json_object_get(o, "last_online_login");
        if (!json_is_integer(v))
                return -EBADMSG;
        u->last_online_login = json_integer_value(v);
        v = json_object_get(o, "refused_at");
        if (v && !json_is_integer(v))
                return -EBADMSG;
        u->refused_at = v ? json_integer_value(v) : 0;
        if ((r = json_get_opt_string(o, "refusal", &u->refusal)) < 0)
                return r;
        v = json_object_get(o, "offline_verifier");
        if (v) {
                u->verifier = malloc(sizeof(*u->verifier));
                if (!u->verifier)
                        return -ENOMEM;
                if ((r = offline_verifier_from_json(v, u->verifier)) < 0)
                        return r;
        }
        v = json_object_get(o, "pin_verifier");
        if (v) {
                u->pin_verifier = malloc(sizeof(*u->pin_verifier));
                if (!u->pin_verifier)
                        return -ENOMEM;
                if ((r = offline_verifier_from_json(v, u->pin_verifier)) < 0)
                        return r;
        }
        if ((r = json_get_opt_string(o, "refresh_token_sealed", &u->refresh_sealed)) < 0)
                return r;
        v = json_object_get(o, "last_answer");
        if (v && !json_is_integer(v))
                return -EBADMSG;
        u->last_answer = v ? json_integer_value(v) : 0;

        *ret = TAKE_PTR(u);
        return 0;
}

/* -ESRCH when there is no record for uid, -EBADMSG (logged, file named) when it is corrupt. */
static int record_read(const struct cloudauth_config *c, const struct logger *log, uint32_t uid,
                       struct cache_user **ret) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        struct cache_user *u;
        size_t len;
        int r;

        if ((r = path_record(c, uid, &path)) < 0)
                return r;
        r = read_trusted(path, 077, RECORD_MAX_SIZE, log, &text, &len);
        if (r == -ENOENT)
                return -ESRCH;
        if (r < 0)
                return r;
        r = cache_user_parse(text, len, &u);
        if (r == -EBADMSG)
                return log_error_errno(log, r, "%s: not a valid cloudauth user record; run 'cloudauthctl cache rebuild' after removing or fixing it",
                                       path);
        if (r < 0)
                return r;
        if (u->uid != uid) {
                log_err(log, "%s: record holds uid %" PRIu32 ", not the uid its name says", path, u->uid);
                cache_user_free(u);
                return -EBADMSG;
        }
        *ret = u;
        return 0;
}

static json_t *strv_json(char *const *v) {
        json_t *a = json_array();

        for (; a && v && *v; v++)
                if (json_array_append_new(a, json_string(*v)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

static json_t *groups_json(const struct cache_group *g, size_t n) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < n; i++)
                if (json_array_append_new(a, json_pack("{s:s, s:I}", "name", g[i].name, "gid", (json_int_t) g[i].gid)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

static json_t *record_to_json(const struct cache_user *u) {
        json_t *o = json_pack("{s:i, s:I, s:s, s:s, s:s, s:s?, s:s?, s:o, s:o, s:o, s:o, s:o, s:I, s:I}",
                         "version", RECORD_VERSION,
                         "uid", (json_int_t) u->uid,
                         "username", u->username,
                         "idp_username", u->idp_username,
                         "subject_key", u->subject_key,
                         "display_name", u->display_name,
                         "email", u->email,
                         "idp_groups", strv_json(u->idp_groups),
                         "app_roles", strv_json(u->app_roles),
                         "roles", strv_json(u->roles),
                         "groups", groups_json(u->groups, u->n_groups),
                         "unix_groups", groups_json(u->unix_groups, u->n_unix_groups),
                         "first_login", (json_int_t) u->first_login,
                         "last_online_login", (json_int_t) u->last_online_login);

        /* Only refused records carry these, so records of allowed users read the same in earlier versions. */
        if (o && u->refused_at &&
            (json_object_set_new(o, "refused_at", json_integer((json_int_t) u->refused_at)) < 0 ||
             json_object_set_new(o, "refusal", json_string(u->refusal ? u->refusal : "refused")) < 0)) {
                json_decref(o);
                return NULL;
        }
        if (o && u->verifier && json_object_set_new(o, "offline_verifier", offline_verifier_to_json(u->verifier)) < 0) {
                json_decref(o);
                return NULL;
        }
        if (o && u->pin_verifier && json_object_set_new(o, "pin_verifier", offline_verifier_to_json(u->pin_verifier)) < 0) {
                json_decref(o);
                return NULL;
        }
        if (o && u->refresh_sealed && json_object_set_new(o, "refresh_token_sealed", json_string(u->refresh_sealed)) < 0) {
                json_decref(o);
                return NULL;
        }
        if (o && u->last_answer && json_object_set_new(o, "last_answer", json_integer((json_int_t) u->last_answer)) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

/*
 * Replace dest atomically: temp file in STATE_DIR (same file system), mode
 * 0600, and the directory synced unless the caller's next replacement in the
 * same directory does it for both.
 */
static int file_replace(const struct cloudauth_config *c, const struct logger *log, const char *dest,
                        const char *data, size_t len, bool sync_dir) {
        _cleanup_free_ char *tmp = NULL;
        int r;

        if (asprintf(&tmp, "%s/" RECORD_TMP_PREFIX "XXXXXX", c->state_dir) < 0)
                return -ENOMEM;
        r = write_file_atomic(tmp, dest, data, len, 0600, sync_dir);
        if (r < 0)
                return log_error_errno(log, r, "%s: cannot write: %s", dest, strerror(-r));
        return 0;
}

static int record_write(const struct cloudauth_config *c, const struct logger *log, const struct cache_user *u) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_json_ json_t *o = NULL;
        int r;

        if ((r = path_record(c, u->uid, &path)) < 0)
                return r;
        o = record_to_json(u);
        if (!o)
                return -ENOMEM;
        text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!text)
                return -ENOMEM;
        return file_replace(c, log, path, text, strlen(text), true);
}

/* -ESRCH when the subject was never seen here. */
static int subject_read(const struct cloudauth_config *c, const struct logger *log, const char *key, uint32_t *ret) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        unsigned long long v;
        char *end;
        int r;

        if ((r = path_subject(c, key, &path)) < 0)
                return r;
        r = read_trusted(path, 077, SUBJECT_FILE_MAX, log, &text, NULL);
        if (r == -ENOENT)
                return -ESRCH;
        if (r < 0)
                return r;
        errno = 0;
        v = strtoull(text, &end, 10);
        if (errno || end == text || !isdigit((unsigned char) text[0]) || (*end && !streq(end, "\n")) || v == 0 ||
            v >= UINT32_MAX)
                return log_error_errno(log, -EBADMSG, "%s: not a uid; run 'cloudauthctl cache rebuild' to restore it",
                                       path);
        *ret = (uint32_t) v;
        return 0;
}

static int subject_write(const struct cloudauth_config *c, const struct logger *log, const char *key, uint32_t uid,
                         bool sync_dir) {
        _cleanup_free_ char *path = NULL;
        char text[16];
        int r;

        if ((r = path_subject(c, key, &path)) < 0)
                return r;
        snprintf(text, sizeof(text), "%" PRIu32 "\n", uid);
        return file_replace(c, log, path, text, strlen(text), sync_dir);
}

/* ---- directories and the lock ---- */

int cache_dir_ensure(const char *path, mode_t mode, const struct logger *log) {
        struct stat st;

        if (mkdir(path, mode) < 0 && errno != EEXIST)
                return log_error_errno(log, -errno, "%s: cannot create: %s", path, strerror(errno));
        if (lstat(path, &st) < 0)
                return log_error_errno(log, -errno, "%s: cannot stat: %s", path, strerror(errno));
        if (!S_ISDIR(st.st_mode))
                return log_error_errno(log, -ENOTDIR, "%s: is not a directory", path);
        if (st.st_uid != 0 && st.st_uid != geteuid())
                return log_error_errno(log, -EPERM, "%s: is owned by uid %u, not root", path, (unsigned) st.st_uid);
        if (st.st_mode & 022)
                return log_error_errno(log, -EPERM, "%s: is writable by group or others (mode %04o)", path,
                                       (unsigned) st.st_mode & 07777);
        return 0;
}

static int dirs_ensure(const struct cloudauth_config *c, const struct logger *log) {
        _cleanup_free_ char *users = NULL;
        int r;

        if (!c->state_dir)
                return -EINVAL;
        if ((r = cache_dir_ensure(c->state_dir, 0755, log)) < 0)
                return r;
        if (asprintf(&users, "%s/users", c->state_dir) < 0)
                return -ENOMEM;
        return cache_dir_ensure(users, 0700, log);
}

/* Temp files of writers that died (the lock is held, so no live writer owns one). */
static void stale_temp_remove(const struct cloudauth_config *c, const struct logger *log) {
        DIR *d = opendir(c->state_dir);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, NSSDB_TMP_PREFIX, strlen(NSSDB_TMP_PREFIX)) == 0 ||
                    strncmp(de->d_name, DELTA_TMP_PREFIX, strlen(DELTA_TMP_PREFIX)) == 0 ||
                    strncmp(de->d_name, RECORD_TMP_PREFIX, strlen(RECORD_TMP_PREFIX)) == 0) {
                        if (unlinkat(dirfd(d), de->d_name, 0) == 0)
                                log_debug(log, "%s/%s: removed a temporary file left by an interrupted writer",
                                          c->state_dir, de->d_name);
                }
        closedir(d);
}

static uint64_t monotonic_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/*
 * Every writer holds the lock for milliseconds. A holder that keeps it for
 * seconds is stuck (stopped, or hung on a dead disk), and waiting for it
 * without end would hang every login behind it: give up after a deadline,
 * polling (no signal, no timer: the caller's are not ours to touch).
 */
static int lock_wait(int fd, const char *path, const struct logger *log) {
        uint64_t deadline = monotonic_ms() + STORE_LOCK_TIMEOUT_SEC * 1000u;
        long pause_ns = 1000000;

        for (;;) {
                if (flock(fd, LOCK_EX | LOCK_NB) == 0)
                        return 0;
                if (errno != EWOULDBLOCK && errno != EINTR)
                        return log_error_errno(log, -errno, "%s: cannot lock: %s", path, strerror(errno));
                if (monotonic_ms() >= deadline)
                        return log_error_errno(log, -ETIMEDOUT,
                                               "%s: the identity store is locked by another process for more than %u s",
                                               path, STORE_LOCK_TIMEOUT_SEC);
                (void) nanosleep(&(struct timespec) { .tv_nsec = pause_ns }, NULL);
                if (pause_ns < 50000000)
                        pause_ns *= 2;
        }
}

/* Returns the lock fd; closing it releases the lock. */
static int lock_take(const struct cloudauth_config *c, const struct logger *log) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        if ((r = dirs_ensure(c, log)) < 0)
                return r;
        if (asprintf(&path, "%s/lock", c->state_dir) < 0)
                return -ENOMEM;
        fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return log_error_errno(log, -errno, "%s: cannot open: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()))
                return log_error_errno(log, -EPERM, "%s: is not a regular file owned by root", path);
        if ((r = lock_wait(fd, path, log)) < 0)
                return r;
        stale_temp_remove(c, log);
        return TAKE_FD(fd);
}

/* ---- local accounts, read from the files, never through NSS (NSS would answer with our own entries) ---- */

struct local_entry {
        char *name;
        uint32_t id;
};

struct local_accounts {
        struct local_entry *users, *groups;
        size_t n_users, n_groups;
};

static void local_entries_free(struct local_entry *e, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(e[i].name);
        free(e);
}

static void local_accounts_done(struct local_accounts *l) {
        local_entries_free(l->users, l->n_users);
        local_entries_free(l->groups, l->n_groups);
        *l = (struct local_accounts) {0};
}

static int local_entry_add(struct local_entry **v, size_t *n, const char *name, uint32_t id) {
        struct local_entry *nv;

        if ((*n & (*n - 1)) == 0 || *n == 0) {
                nv = realloc(*v, (*n ? 2 * *n : 16) * sizeof(**v));
                if (!nv)
                        return -ENOMEM;
                *v = nv;
        }
        (*v)[*n].name = strdup(name);
        if (!(*v)[*n].name)
                return -ENOMEM;
        (*v)[*n].id = id;
        (*n)++;
        return 0;
}

static int local_read(const char *path, bool groups, const struct logger *log, struct local_entry **ret,
                      size_t *ret_n) {
        struct local_entry *v = NULL;
        size_t n = 0, bufsize = 4096;
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -1;
        FILE *f;
        int r = 0;

        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                if (errno == ENOENT) {
                        *ret = NULL;
                        *ret_n = 0;
                        return 0;
                }
                return log_error_errno(log, -errno, "%s: cannot open: %s", path, strerror(errno));
        }
        f = fdopen(fd, "r");
        if (!f)
                return -errno;
        TAKE_FD(fd);
        buf = malloc(bufsize);
        if (!buf) {
                fclose(f);
                return -ENOMEM;
        }
        for (;;) {
                struct passwd pw, *pwp = NULL;
                struct group gr, *grp = NULL;
                int e;

                e = groups ? fgetgrent_r(f, &gr, buf, bufsize, &grp) : fgetpwent_r(f, &pw, buf, bufsize, &pwp);
                if (e == ERANGE && bufsize < LOCAL_LINE_MAX) {
                        char *nb = realloc(buf, bufsize * 2);
                        if (!nb) {
                                r = -ENOMEM;
                                break;
                        }
                        buf = nb;
                        bufsize *= 2;
                        continue;
                }
                if (e == ENOENT || (!grp && !pwp))
                        break;
                if (e != 0) {
                        r = log_error_errno(log, -e, "%s: cannot read: %s", path, strerror(e));
                        break;
                }
                r = groups ? local_entry_add(&v, &n, grp->gr_name, (uint32_t) grp->gr_gid)
                           : local_entry_add(&v, &n, pwp->pw_name, (uint32_t) pwp->pw_uid);
                if (r < 0)
                        break;
        }
        fclose(f);
        if (r < 0) {
                local_entries_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static int local_accounts_load(const struct logger *log, struct local_accounts *ret) {
        struct local_accounts l = {0};
        int r;

        if ((r = local_read(local_passwd_path, false, log, &l.users, &l.n_users)) < 0)
                return r;
        if ((r = local_read(local_group_path, true, log, &l.groups, &l.n_groups)) < 0) {
                local_accounts_done(&l);
                return r;
        }
        *ret = l;
        return 0;
}

static const struct local_entry *local_find_name(const struct local_entry *v, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(v[i].name, name))
                        return &v[i];
        return NULL;
}

static const struct local_entry *local_find_id(const struct local_entry *v, size_t n, uint32_t id) {
        for (size_t i = 0; i < n; i++)
                if (v[i].id == id)
                        return &v[i];
        return NULL;
}

/* ---- the names provider groups are exported under ---- */

/*
 * Where a provider group's name is qualified: default_domain, else the
 * issuer's host (no port, no user info). NULL when neither gives a name the
 * rule below can use.
 */
static int group_qualifier(const struct cloudauth_config *c, char **ret) {
        const char *host = c->default_domain, *end;
        char *q;

        if (!host) {
                if (!c->issuer || strncasecmp(c->issuer, "https://", 8) != 0)
                        return -EINVAL;
                host = c->issuer + 8;
                end = host + strcspn(host, "/?#");
                for (const char *at = host; at < end; at++)
                        if (*at == '@')
                                host = at + 1;
                end = host + strcspn(host, ":/?#");
        } else
                end = host + strlen(host);
        if (end == host || end - host > 128)
                return -EINVAL;
        q = strndup(host, (size_t) (end - host));
        if (!q)
                return -ENOMEM;
        for (char *p = q; *p; p++) {
                *p = (char) tolower((unsigned char) *p);
                if (!isalnum((unsigned char) *p) && *p != '.' && *p != '-') {
                        free(q);
                        return -EINVAL;
                }
        }
        *ret = q;
        return 0;
}

/* The part before '@': lowercase ASCII letters, digits, '.', '_', '-', not starting with '.' or '-'. */
static bool group_local_part_valid(const char *s, size_t n) {
        if (n == 0 || s[0] == '-' || s[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= '0' && s[i] <= '9') && s[i] != '.' && s[i] != '_' &&
                    s[i] != '-')
                        return false;
        return true;
}

/*
 * A provider group is exported as "name@qualifier" (lowercased), never
 * under its bare name: a bare name, or an all-digit one, could be read as a
 * local group, a sudoers %group, a polkit rule or a GID. Only names of safe
 * characters are exported; the others still count for roles and
 * allow_groups, they just have no Unix group. -EINVAL when not exportable.
 */
static int group_export_name(const struct cloudauth_config *c, const char *idp_group, char **ret) {
        _cleanup_free_ char *q = NULL;
        char *name;
        size_t n = strlen(idp_group);
        int r;

        if ((r = group_qualifier(c, &q)) < 0)
                return r;
        if (n > NAME_MAX_LEN || n + 1 + strlen(q) > NAME_MAX_LEN)
                return -EINVAL;
        if (asprintf(&name, "%s@%s", idp_group, q) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                name[i] = (char) tolower((unsigned char) name[i]);
        if (!group_local_part_valid(name, n)) {
                free(name);
                return -EINVAL;
        }
        *ret = name;
        return 0;
}

/* Whether name is one group_export_name() gives under this configuration (for entries written before). */
static bool group_name_exported(const struct cloudauth_config *c, const char *name) {
        _cleanup_free_ char *q = NULL;
        const char *at = strrchr(name, '@');

        if (!at || group_qualifier(c, &q) < 0 || !streq(at + 1, q))
                return false;
        return group_local_part_valid(name, (size_t) (at - name));
}

/* ---- the nss.db model: what the next nss.db will hold ---- */

/* Open-addressing index over the model's arrays, used when the model was built from records. */
struct index {
        size_t *slots; /* element index + 1, 0 = empty */
        size_t mask;
};

static uint64_t hash_str(const char *s) {
        uint64_t h = 1469598103934665603ull;

        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 1099511628211ull;
        return h;
}

static uint64_t hash_u32(uint32_t v) {
        uint64_t h = v * 0x9e3779b97f4a7c15ull;
        return h ^ (h >> 29);
}

static int index_init(struct index *x, size_t n) {
        size_t size = 16;

        while (size < 2 * n)
                size *= 2;
        x->slots = calloc(size, sizeof(size_t));
        if (!x->slots)
                return -ENOMEM;
        x->mask = size - 1;
        return 0;
}

struct model {
        /* Source of the incremental path (users/groups point into it): pair.base is NULL for a model
         * built from records. users[0..n_base_users) are nss.db's, the rest the delta's and new ones. */
        struct nssdb_pair pair;
        size_t n_base_users;
        bool base_changed;           /* a user or group of nss.db was removed: only a full write says so */
        struct cache_user **records; /* source of the full path */
        size_t n_records;
        uint32_t *gid_pool;          /* gids of users built from records */
        size_t *user_rec;            /* users[i] was made from records[user_rec[i]] */

        struct nssdb_user_in *users;
        size_t n_users, cap_users;
        struct nssdb_group_in *groups;
        size_t n_groups, cap_groups;

        /* Only for a model built from records: */
        struct index by_uid, by_name, by_gid, by_group_name;
};

static void model_done(struct model *m) {
        nssdb_pair_close(&m->pair);
        cache_user_list_free(m->records, m->n_records);
        free(m->gid_pool);
        free(m->user_rec);
        free(m->users);
        free(m->groups);
        free(m->by_uid.slots);
        free(m->by_name.slots);
        free(m->by_gid.slots);
        free(m->by_group_name.slots);
        *m = (struct model) {0};
}

static int model_user_add(struct model *m, const struct nssdb_user_in *u) {
        if (m->n_users == m->cap_users) {
                size_t cap = m->cap_users ? 2 * m->cap_users : 64;
                struct nssdb_user_in *nv = realloc(m->users, cap * sizeof(*nv));
                if (!nv)
                        return -ENOMEM;
                m->users = nv;
                m->cap_users = cap;
        }
        m->users[m->n_users++] = *u;
        return 0;
}

static int model_group_add(struct model *m, const char *name, uint32_t gid) {
        if (m->n_groups == m->cap_groups) {
                size_t cap = m->cap_groups ? 2 * m->cap_groups : 64;
                struct nssdb_group_in *nv = realloc(m->groups, cap * sizeof(*nv));
                if (!nv)
                        return -ENOMEM;
                m->groups = nv;
                m->cap_groups = cap;
        }
        m->groups[m->n_groups++] = (struct nssdb_group_in) { .name = name, .gid = gid };
        return 0;
}

/* Lookups: an index into m->users / m->groups, or -1. */
static ssize_t model_find_uid(const struct model *m, uint32_t uid) {
        if (m->pair.base) {
                struct nssdb_user_view v;
                if (nssdb_pair_user_by_uid(&m->pair, uid, &v) < 0)
                        return -1;
        } else if (m->by_uid.slots) {
                for (size_t i = hash_u32(uid) & m->by_uid.mask; m->by_uid.slots[i]; i = (i + 1) & m->by_uid.mask)
                        if (m->users[m->by_uid.slots[i] - 1].uid == uid)
                                return (ssize_t) m->by_uid.slots[i] - 1;
                return -1;
        }
        for (size_t i = 0; i < m->n_users; i++)
                if (m->users[i].uid == uid)
                        return (ssize_t) i;
        return -1;
}

static ssize_t model_find_name(const struct model *m, const char *name) {
        uint32_t uid;

        if (m->pair.base) {
                struct nssdb_user_view v;
                if (nssdb_pair_user_by_name(&m->pair, name, &v) < 0)
                        return -1;
                uid = v.uid;
        } else if (m->by_name.slots) {
                for (size_t i = hash_str(name) & m->by_name.mask; m->by_name.slots[i]; i = (i + 1) & m->by_name.mask)
                        if (streq(m->users[m->by_name.slots[i] - 1].name, name))
                                return (ssize_t) m->by_name.slots[i] - 1;
                return -1;
        } else {
                for (size_t i = 0; i < m->n_users; i++)
                        if (streq(m->users[i].name, name))
                                return (ssize_t) i;
                return -1;
        }
        return model_find_uid(m, uid);
}

static ssize_t model_find_gid(const struct model *m, uint32_t gid) {
        if (m->by_gid.slots) {
                for (size_t i = hash_u32(gid) & m->by_gid.mask; m->by_gid.slots[i]; i = (i + 1) & m->by_gid.mask)
                        if (m->groups[m->by_gid.slots[i] - 1].gid == gid)
                                return (ssize_t) m->by_gid.slots[i] - 1;
                return -1;
        }
        for (size_t i = 0; i < m->n_groups; i++)
                if (m->groups[i].gid == gid)
                        return (ssize_t) i;
        return -1;
}

static ssize_t model_find_group_name(const struct model *m, const char *name) {
        if (m->by_group_name.slots) {
                for (size_t i = hash_str(name) & m->by_group_name.mask; m->by_group_name.slots[i];
                     i = (i + 1) & m->by_group_name.mask)
                        if (streq(m->groups[m->by_group_name.slots[i] - 1].name, name))
                                return (ssize_t) m->by_group_name.slots[i] - 1;
                return -1;
        }
        for (size_t i = 0; i < m->n_groups; i++)
                if (streq(m->groups[i].name, name))
                        return (ssize_t) i;
        return -1;
}

static void index_put(struct index *x, uint64_t h, size_t element) {
        size_t i = h & x->mask;

        while (x->slots[i])
                i = (i + 1) & x->mask;
        x->slots[i] = element + 1;
}

/*
 * The incremental source: every user and every cloudauth (non-private)
 * group that NSS shows now, nss.db's first. A delta that is missing or
 * belongs to an older nss.db (a compaction retired it) is no loss: nss.db
 * holds its users. A corrupt delta is: its users are only in the records,
 * so the caller rebuilds from them.
 */
static int model_from_nssdb(struct model *m, const struct cloudauth_config *c, const char *path, const char *delta,
                            const struct logger *log) {
        size_t n_users, n_delta, pos;
        struct nssdb_user_view v;
        struct nssdb_pair_group_view g;
        int r, rd;

        r = nssdb_pair_open(path, delta, &m->pair, &rd);
        if (r < 0)
                return r;
        if (rd < 0 && rd != -ENOENT && rd != -ESTALE) {
                log_warn(log, "%s: not usable (%s)", delta, strerror(-rd));
                return -EBADMSG;
        }
        n_users = nssdb_n_users(m->pair.base);
        n_delta = m->pair.delta ? nssdb_n_users(m->pair.delta) : 0;
        m->users = malloc((n_users + n_delta + 1) * sizeof(*m->users));
        if (!m->users)
                return -ENOMEM;
        m->cap_users = n_users + n_delta + 1;
        for (pos = 0; nssdb_pair_user_next(&m->pair, pos, &v, &pos) >= 0;)
                m->users[m->n_users++] = (struct nssdb_user_in) {
                        .name = v.name, .uid = v.uid, .gecos = v.gecos && *v.gecos ? v.gecos : NULL,
                        .gids = v.gids, .n_gids = v.n_gids,
                };
        m->n_base_users = n_users;
        /* nss.db's groups as they are (merged delta members do not matter here), then the delta's own. */
        for (size_t i = 0; i < nssdb_n_groups(m->pair.base); i++) {
                struct nssdb_group_view bg;

                if (nssdb_group_at(m->pair.base, i, &bg) < 0 || bg.private_group)
                        continue;
                if (!group_name_exported(c, bg.name))
                        goto unqualified;
                if ((r = model_group_add(m, bg.name, bg.gid)) < 0)
                        return r;
        }
        for (pos = nssdb_n_groups(m->pair.base); nssdb_pair_group_next(&m->pair, pos, &g, &pos) >= 0;) {
                if (g.private_group)
                        continue;
                if (!group_name_exported(c, g.name))
                        goto unqualified;
                if ((r = model_group_add(m, g.name, g.gid)) < 0)
                        return r;
        }
        return 0;

unqualified:
        /* Written before provider groups were qualified, or under another default_domain. */
        log_notice(log, "%s: holds provider groups under names this configuration does not give; rebuilding it from the user records",
                   path);
        return -ESTALE;
}

/* The IdP's display name as gecos, when nssdb_write can hold it; otherwise none (a long name must not fail the write). */
static bool gecos_usable(const char *s) {
        return s && *s && nssdb_gecos_valid(s);
}

static int strcmp_user_ptr(const void *a, const void *b) {
        const struct cache_user *x = *(struct cache_user *const *) a, *y = *(struct cache_user *const *) b;
        int r = strcmp(x->username, y->username);

        return r ? r : (x->uid > y->uid) - (x->uid < y->uid);
}

static int records_load_all(const struct cloudauth_config *c, const struct logger *log, struct cache_user ***ret,
                            size_t *ret_n, size_t *ret_n_bad) {
        _cleanup_free_ char *dir = NULL;
        struct cache_user **v = NULL;
        size_t n = 0, cap = 0, bad = 0;
        struct dirent *de;
        DIR *d;
        int r = 0;

        if (asprintf(&dir, "%s/users", c->state_dir) < 0)
                return -ENOMEM;
        d = opendir(dir);
        if (!d) {
                if (errno != ENOENT)
                        return log_error_errno(log, -errno, "%s: cannot open: %s", dir, strerror(errno));
                *ret = NULL;
                *ret_n = 0;
                if (ret_n_bad)
                        *ret_n_bad = 0;
                return 0;
        }
        while ((de = readdir(d))) {
                struct cache_user *u;
                unsigned long long uid;
                char *end;

                if (!isdigit((unsigned char) de->d_name[0]))
                        continue;
                errno = 0;
                uid = strtoull(de->d_name, &end, 10);
                if (errno || !streq(end, ".json") || uid == 0 || uid >= UINT32_MAX)
                        continue;
                r = record_read(c, log, (uint32_t) uid, &u);
                if (r == -ESRCH)
                        continue;
                if (r == -ENOMEM)
                        break;
                if (r < 0) {
                        bad++;
                        r = 0;
                        continue;
                }
                if (n == cap) {
                        struct cache_user **nv = realloc(v, (cap ? 2 * cap : 64) * sizeof(*v));
                        if (!nv) {
                                cache_user_free(u);
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                        cap = cap ? 2 * cap : 64;
                }
                v[n++] = u;
        }
        closedir(d);
        if (r < 0) {
                cache_user_list_free(v, n);
                return r;
        }
        if (n > 1)
                qsort(v, n, sizeof(*v), strcmp_user_ptr);
        *ret = v;
        *ret_n = n;
        if (ret_n_bad)
                *ret_n_bad = bad;
        return 0;
}

/*
 * The full source: every record. Records that contradict one another (two
 * with one uid or one name) or local accounts are logged and left out, so the
 * result is always writable.
 */
static int model_from_records(struct model *m, const struct cloudauth_config *c, const struct logger *log,
                              const struct local_accounts *local, size_t *ret_n_bad) {
        size_t total_gids = 0, used = 0;
        int r;

        if ((r = records_load_all(c, log, &m->records, &m->n_records, ret_n_bad)) < 0)
                return r;
        for (size_t i = 0; i < m->n_records; i++)
                total_gids += m->records[i]->n_groups + m->records[i]->n_unix_groups;
        m->gid_pool = malloc((total_gids + 1) * sizeof(uint32_t));
        m->users = malloc((m->n_records + 1) * sizeof(*m->users));
        m->user_rec = malloc((m->n_records + 1) * sizeof(size_t));
        if (!m->gid_pool || !m->users || !m->user_rec)
                return -ENOMEM;
        m->cap_users = m->n_records + 1;
        if ((r = index_init(&m->by_uid, m->n_records + 1)) < 0 || (r = index_init(&m->by_name, m->n_records + 1)) < 0 ||
            (r = index_init(&m->by_gid, total_gids + 1)) < 0 || (r = index_init(&m->by_group_name, total_gids + 1)) < 0)
                return r;

        for (size_t i = 0; i < m->n_records; i++) {
                const struct cache_user *u = m->records[i];
                ssize_t k;

                if ((k = model_find_uid(m, u->uid)) >= 0 || (k = model_find_name(m, u->username)) >= 0) {
                        log_warn(log, "%s (uid %" PRIu32 ") is left out of nss.db: %s (uid %" PRIu32 ") has that name or uid",
                                 u->username, u->uid, m->users[k].name, m->users[k].uid);
                        continue;
                }
                m->users[m->n_users] = (struct nssdb_user_in) {
                        .name = u->username, .uid = u->uid,
                        .gecos = gecos_usable(u->display_name) ? u->display_name : NULL,
                };
                m->user_rec[m->n_users] = i;
                index_put(&m->by_uid, hash_u32(u->uid), m->n_users);
                index_put(&m->by_name, hash_str(u->username), m->n_users);
                m->n_users++;
        }

        /* Groups only once every user is known: a group may not take a user's name or uid. */
        for (size_t i = 0; i < m->n_users; i++) {
                struct nssdb_user_in *nu = &m->users[i];
                const struct cache_user *u = m->records[m->user_rec[i]];
                uint32_t *gids = m->gid_pool + used;

                nu->gids = gids;
                for (size_t j = 0; j < u->n_groups; j++) {
                        const struct cache_group *g = &u->groups[j];
                        ssize_t k = model_find_gid(m, g->gid);

                        if (!group_name_exported(c, g->name)) {
                                log_info(log, "group %s of %s is left out of nss.db: not a qualified provider group name; the next login of %s exports it as it should be",
                                         g->name, u->username, u->username);
                                continue;
                        }
                        if (k < 0) {
                                if (model_find_uid(m, g->gid) >= 0 || model_find_name(m, g->name) >= 0 ||
                                    model_find_group_name(m, g->name) >= 0 ||
                                    local_find_name(local->groups, local->n_groups, g->name) ||
                                    local_find_id(local->groups, local->n_groups, g->gid)) {
                                        log_warn(log, "group %s (gid %" PRIu32 ") of %s is left out of nss.db: its name or gid is taken",
                                                 g->name, g->gid, u->username);
                                        continue;
                                }
                                if ((r = model_group_add(m, g->name, g->gid)) < 0)
                                        return r;
                                index_put(&m->by_gid, hash_u32(g->gid), m->n_groups - 1);
                                index_put(&m->by_group_name, hash_str(g->name), m->n_groups - 1);
                        } else if (!streq(m->groups[k].name, g->name))
                                continue;
                        gids[nu->n_gids++] = g->gid;
                }
                for (size_t j = 0; j < u->n_unix_groups; j++)
                        gids[nu->n_gids++] = u->unix_groups[j].gid;
                used += nu->n_gids;
        }
        return 0;
}

static void domains_free(char **v) {
        free(v); /* the strings point into the configuration */
}

/* The domains of allow_users entries and which never-seen users the policy could admit, for synthesised NSS entries. */
static int settings_init(const struct cloudauth_config *c, struct nssdb_settings *s, char ***ret_domains) {
        size_t n = 0, n_names = 0, len = strv_length(c->allow_users);
        /* One allocation: the domains, then the names NSS may synthesise (both point into c). */
        char **d = calloc(2 * (len + 1), sizeof(char *)), **names = d ? d + len + 1 : NULL;
        bool any = strv_length(c->allow_groups) > 0 || strv_length(c->allow_roles) > 0;

        if (!d)
                return -ENOMEM;
        for (char **u = c->allow_users; u && *u; u++) {
                char *at = strrchr(*u, '@');
                bool dup = false;

                if (streq(*u, "*"))
                        any = true;
                else if (nssdb_name_valid(*u))
                        names[n_names++] = *u;

                /* Only domains the index can hold: one bad allow_users entry must not fail every write. */
                if (!at || !at[1] || !nssdb_name_valid(at + 1))
                        continue;
                for (size_t i = 0; i < n; i++)
                        dup = dup || streq(d[i], at + 1);
                if (!dup)
                        d[n++] = at + 1;
        }
        *s = (struct nssdb_settings) {
                .scope = c->issuer,
                .default_domain = c->default_domain,
                .domains = d,
                .uid_min = c->uid_min,
                .uid_max = c->uid_max,
                .home = c->home,
                .shell = c->shell,
                .synth_any = any,
                .synth_names = names,
        };
        *ret_domains = d;
        return 0;
}

/*
 * Everything into a new nss.db (a compaction when there was a delta). Its
 * new generation retires the delta in the same rename, so readers never see
 * a user twice or not at all; the delta file is then only removed.
 */
static int model_write(const struct model *m, const struct cloudauth_config *c, const struct logger *log) {
        _cleanup_free_ char *path = NULL, *delta = NULL;
        struct nssdb_settings s;
        char **domains;
        int r;

        if ((r = cache_nssdb_path(c, &path)) < 0 || (r = cache_delta_path(c, &delta)) < 0 ||
            (r = settings_init(c, &s, &domains)) < 0)
                return r;
        r = nssdb_write(path, &s, m->users, m->n_users, m->groups, m->n_groups);
        domains_free(domains);
        if (r < 0)
                return log_error_errno(log, r, "%s: cannot write: %s", path, strerror(-r));
        if (unlink(delta) < 0 && errno != ENOENT)
                log_warn(log, "%s: cannot remove (%s); it is ignored, being of an older nss.db", delta,
                         strerror(errno));
        return 0;
}

/* How many users the delta may hold before the next change compacts it into nss.db. */
static size_t delta_bound(size_t n_base_users) {
        size_t share = n_base_users / DELTA_USERS_BASE_SHARE;

        if (delta_bound_override)
                return delta_bound_override;
        return share > DELTA_USERS_MIN_BOUND ? share : DELTA_USERS_MIN_BOUND;
}

/*
 * Only the users that are not in nss.db, into the delta: when nss.db itself
 * need not change (none of its users or groups went, same settings) and the
 * delta stays small. 0 when written, -EAGAIN when a full write is needed.
 */
static int model_write_delta(struct model *m, const struct cloudauth_config *c, const struct logger *log) {
        _cleanup_free_ char *path = NULL, **domains = NULL;
        _cleanup_free_ struct nssdb_group_in *groups = NULL;
        const struct nssdb_user_in *users = m->users + m->n_base_users;
        size_t n_users = m->n_users - m->n_base_users, n_groups = 0, n_gids = 0;
        struct nssdb_settings s;
        struct index seen = {0};
        int r;

        if (!m->pair.base || m->base_changed || m->n_base_users != nssdb_n_users(m->pair.base) ||
            n_users > delta_bound(m->n_base_users))
                return -EAGAIN;
        if ((r = settings_init(c, &s, &domains)) < 0)
                return r;
        if (!nssdb_settings_equal(m->pair.base, &s))
                return -EAGAIN;

        /* The cloudauth groups the delta users are in, each once: new ones and nss.db's alike. */
        for (size_t i = 0; i < n_users; i++)
                n_gids += users[i].n_gids;
        groups = malloc((n_gids + 1) * sizeof(*groups));
        free(m->by_gid.slots);
        m->by_gid.slots = NULL;
        if (!groups || (r = index_init(&m->by_gid, m->n_groups + 1)) < 0 || (r = index_init(&seen, n_gids + 1)) < 0) {
                free(seen.slots);
                return -ENOMEM;
        }
        for (size_t k = 0; k < m->n_groups; k++)
                index_put(&m->by_gid, hash_u32(m->groups[k].gid), k);
        for (size_t i = 0; i < n_users; i++)
                for (size_t j = 0; j < users[i].n_gids; j++) {
                        uint32_t gid = users[i].gids[j];
                        ssize_t k = model_find_gid(m, gid);
                        bool dup = false;

                        if (k < 0)
                                continue; /* a local group granted by a role */
                        for (size_t x = hash_u32(gid) & seen.mask; seen.slots[x] && !dup; x = (x + 1) & seen.mask)
                                dup = groups[seen.slots[x] - 1].gid == gid;
                        if (dup)
                                continue;
                        groups[n_groups] = m->groups[k];
                        index_put(&seen, hash_u32(gid), n_groups++);
                }
        free(seen.slots);

        if ((r = cache_delta_path(c, &path)) < 0)
                return r;
        r = nssdb_write_delta(path, nssdb_generation(m->pair.base), &s, users, n_users, groups, n_groups);
        if (r < 0)
                return log_error_errno(log, r, "%s: cannot write: %s", path, strerror(-r));
        return 0;
}

/*
 * The current state for a writer: nss.db when it is usable (cheap even with
 * many users), else every record.
 */
static int model_load(struct model *m, const struct cloudauth_config *c, const struct logger *log,
                      const struct local_accounts *local) {
        _cleanup_free_ char *path = NULL;
        int r;

        _cleanup_free_ char *delta = NULL;

        if ((r = cache_nssdb_path(c, &path)) < 0 || (r = cache_delta_path(c, &delta)) < 0)
                return r;
        r = model_from_nssdb(m, c, path, delta, log);
        if (r >= 0)
                return 0;
        if (r == -ENOMEM)
                return r;
        if (r != -ENOENT && r != -ESTALE)
                log_warn(log, "%s: not usable (%s); rebuilding it from the user records", path, strerror(-r));
        model_done(m);
        return model_from_records(m, c, log, local, NULL);
}

/*
 * Remove the users in removed[] (by uid) and then every group that only
 * they referenced. Only the groups the removed entries held can have lost
 * their last member, so the check stays small with many users.
 */
static int model_remove_users(struct model *m, const uint32_t *removed, size_t n_removed, const uint32_t *kept_gids,
                              size_t n_kept) {
        _cleanup_free_ uint32_t *candidates = NULL;
        _cleanup_free_ char **removed_names = NULL;
        size_t n_candidates = 0, n_names = 0, total = 0, j = 0;

        for (size_t i = 0; i < m->n_users; i++)
                for (size_t k = 0; k < n_removed; k++)
                        if (m->users[i].uid == removed[k])
                                total += m->users[i].n_gids + 1;
        candidates = malloc((total + 1) * sizeof(uint32_t));
        removed_names = malloc((total + 1) * sizeof(char *));
        if (!candidates || !removed_names)
                return -ENOMEM;

        for (size_t i = 0; i < m->n_users; i++) {
                bool gone = false;

                for (size_t k = 0; k < n_removed; k++)
                        gone = gone || m->users[i].uid == removed[k];
                if (!gone) {
                        m->users[j++] = m->users[i];
                        continue;
                }
                if (i < m->n_base_users)
                        m->base_changed = true;
                removed_names[n_names++] = (char *) m->users[i].name;
                for (size_t g = 0; g < m->users[i].n_gids; g++)
                        candidates[n_candidates++] = m->users[i].gids[g];
        }
        /* Kept users keep their order, so users[n_base_users..] are still the delta's while no user
         * of nss.db went; once one did, only a full write follows and the split no longer matters. */
        m->n_users = j;
        /* Indexes over users are stale after compaction; lookups fall back to scanning. */
        free(m->by_uid.slots);
        free(m->by_name.slots);
        free(m->user_rec);
        m->by_uid.slots = m->by_name.slots = NULL;
        m->user_rec = NULL;

        for (size_t i = 0; i < n_candidates; i++) {
                uint32_t gid = candidates[i];
                ssize_t k = model_find_gid(m, gid);
                bool referenced = false;

                if (k < 0)
                        continue; /* a local group granted by a role */
                for (size_t g = 0; g < n_kept && !referenced; g++)
                        referenced = kept_gids[g] == gid;
                if (!referenced && m->pair.base) {
                        struct nssdb_pair_group_view v;

                        /* Members in the old files that stay: anyone not being removed. */
                        if (nssdb_pair_group_by_gid(&m->pair, gid, &v) >= 0) {
                                uint32_t cursor = 0;
                                const char *member;

                                while (!referenced && (member = nssdb_pair_group_member_next(&m->pair, &v, &cursor))) {
                                        bool was_removed = false;

                                        for (size_t r = 0; r < n_names && !was_removed; r++)
                                                was_removed = streq(member, removed_names[r]);
                                        referenced = !was_removed;
                                }
                        }
                } else if (!referenced)
                        for (size_t u = 0; u < m->n_users && !referenced; u++)
                                for (size_t g = 0; g < m->users[u].n_gids && !referenced; g++)
                                        referenced = m->users[u].gids[g] == gid;
                if (!referenced) {
                        struct nssdb_group_view v;

                        if (m->pair.base && nssdb_group_by_gid(m->pair.base, gid, &v) >= 0)
                                m->base_changed = true;
                        m->groups[k] = m->groups[--m->n_groups];
                        /* The indexes over groups are stale now; lookups fall back to scanning. */
                        free(m->by_gid.slots);
                        free(m->by_group_name.slots);
                        m->by_gid.slots = m->by_group_name.slots = NULL;
                }
        }
        return 0;
}

/* ---- login ---- */

static char *strdup_lower(const char *s) {
        char *r = strdup(s);

        for (char *p = r; p && *p; p++)
                *p = (char) tolower((unsigned char) *p);
        return r;
}

static int group_array_add(struct cache_group **v, size_t *n, const char *name, uint32_t gid) {
        struct cache_group *nv;

        for (size_t i = 0; i < *n; i++)
                if ((*v)[i].gid == gid)
                        return 0;
        nv = realloc(*v, (*n + 1) * sizeof(**v));
        if (!nv)
                return -ENOMEM;
        *v = nv;
        nv[*n].name = strdup(name);
        if (!nv[*n].name)
                return -ENOMEM;
        nv[*n].gid = gid;
        (*n)++;
        return 0;
}

static int unix_groups_resolve(const struct cloudauth_config *c, const struct logger *log, char *const *roles,
                               const struct local_accounts *local, struct cache_user *u) {
        int r;

        for (char *const *role = roles; role && *role; role++) {
                const struct config_role *cr = config_find_role(c, *role);

                for (char **g = cr ? cr->unix_groups : NULL; g && *g; g++) {
                        const struct local_entry *e = local_find_name(local->groups, local->n_groups, *g);

                        if (!e) {
                                log_warn(log, "role %s grants group %s, which is not in %s; %s does not get it", *role, *g,
                                         local_group_path, u->username);
                                continue;
                        }
                        if ((r = group_array_add(&u->unix_groups, &u->n_unix_groups, e->name, e->id)) < 0)
                                return r;
                }
        }
        return 0;
}

/* IdP groups -> cloudauth groups; anything that would merge with or shadow another entry is skipped. */
static int idp_groups_map(const struct cloudauth_config *c, const struct logger *log, const struct identity *id,
                          const struct local_accounts *local, const struct model *m, struct cache_user *u) {
        int r;

        for (char **g = id->groups; g && *g; g++) {
                _cleanup_free_ char *name = NULL;
                uint32_t gid;
                ssize_t k;

                _cleanup_free_ char *lower = NULL;

                r = group_export_name(c, *g, &name);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        log_debug(log, "IdP group '%.64s' of %s has no exportable group name; it counts for roles only",
                                  *g, u->username);
                        continue;
                }
                lower = strdup_lower(*g);
                if (!lower)
                        return -ENOMEM;
                gid = uidmap_group_gid(c->issuer, lower, c->uid_min, c->uid_max);

                if (local_find_name(local->groups, local->n_groups, name)) {
                        log_warn(log, "IdP group %s of %s has the name of a local group in %s; skipped, never merged",
                                 name, u->username, local_group_path);
                        continue;
                }
                if (local_find_id(local->groups, local->n_groups, gid)) {
                        log_warn(log, "IdP group %s of %s maps to gid %" PRIu32 ", which local group %s has; skipped",
                                 name, u->username, gid, local_find_id(local->groups, local->n_groups, gid)->name);
                        continue;
                }
                if (gid == u->uid || ((k = model_find_uid(m, gid)) >= 0 && m->users[k].uid != u->uid)) {
                        log_warn(log, "IdP group %s of %s maps to gid %" PRIu32 ", the uid of a cached user; skipped",
                                 name, u->username, gid);
                        continue;
                }
                if (streq(name, u->username) || ((k = model_find_name(m, name)) >= 0 && m->users[k].uid != u->uid)) {
                        log_warn(log, "IdP group %s of %s has the name of a cached user; skipped", name, u->username);
                        continue;
                }
                if ((k = model_find_gid(m, gid)) >= 0 && !streq(m->groups[k].name, name)) {
                        log_warn(log, "IdP group %s of %s maps to gid %" PRIu32 ", which group %s already has; skipped",
                                 name, u->username, gid, m->groups[k].name);
                        continue;
                }
                if ((k = model_find_group_name(m, name)) >= 0 && m->groups[k].gid != gid) {
                        log_warn(log, "IdP group %s of %s has the name of group gid %" PRIu32 "; skipped", name,
                                 u->username, m->groups[k].gid);
                        continue;
                }
                if ((r = group_array_add(&u->groups, &u->n_groups, name, gid)) < 0)
                        return r;
        }
        return 0;
}

/* Another cached subject holding uid or name; -ESRCH when none. Sets *ret_other to its name. */
static int other_subject_check(const struct cloudauth_config *c, const struct logger *log, uint32_t uid,
                               const char *subject_key, char **ret_other) {
        _cleanup_(cache_user_freep) struct cache_user *o = NULL;
        int r;

        r = record_read(c, log, uid, &o);
        if (r < 0)
                return r;
        if (streq(o->subject_key, subject_key))
                return -ESRCH;
        *ret_other = TAKE_PTR(o->idp_username);
        return 0;
}

static int dup_opt(const char *s, char **ret) {
        *ret = s ? strdup(s) : NULL;
        return s && !*ret ? -ENOMEM : 0;
}

#define COLLISION_REASON "the UID or name is already used by another account; pin a UID in [uids]"

/* Collisions of (uid, name) with local accounts, other cached subjects and cloudauth groups. */
static int collisions_check(const struct cloudauth_config *c, const struct logger *log, const struct identity *id,
                            const char *subject_key, uint32_t uid, const struct local_accounts *local,
                            const struct model *m, const char **ret_reason) {
        const struct local_entry *e;
        _cleanup_free_ char *other = NULL;
        ssize_t k;
        int r;

        if ((e = local_find_id(local->users, local->n_users, uid)) || (e = local_find_name(local->users, local->n_users, id->username))) {
                log_err(log, "UID %" PRIu32 " or name %s for %s is already used by local user %s (uid %" PRIu32 ") in %s; pin a UID in [uids] to resolve",
                        uid, id->username, id->idp_username, e->name, e->id, local_passwd_path);
                *ret_reason = "the UID or name is already used by a local account; pin a UID in [uids]";
                return -EEXIST;
        }
        if ((e = local_find_id(local->groups, local->n_groups, uid)) ||
            (e = local_find_name(local->groups, local->n_groups, id->username))) {
                log_err(log, "UID %" PRIu32 " or name %s for %s is already used by local group %s (gid %" PRIu32 ") in %s; pin a UID in [uids] to resolve",
                        uid, id->username, id->idp_username, e->name, e->id, local_group_path);
                *ret_reason = "the UID or name is already used by a local group; pin a UID in [uids]";
                return -EEXIST;
        }

        r = other_subject_check(c, log, uid, subject_key, &other);
        if (r >= 0) {
                log_err(log, "UID %" PRIu32 " for %s is already used by %s (another cached user); pin a UID in [uids] to resolve",
                        uid, id->idp_username, other);
                *ret_reason = COLLISION_REASON;
                return -EEXIST;
        }
        if (r != -ESRCH)
                goto corrupt;

        k = model_find_name(m, id->username);
        if (k >= 0 && m->users[k].uid != uid) {
                r = other_subject_check(c, log, m->users[k].uid, subject_key, &other);
                if (r >= 0) {
                        log_err(log, "name %s for %s is already used by %s (another cached user, uid %" PRIu32 "); pin a UID in [uids] or rename one of them at the IdP",
                                id->username, id->idp_username, other, m->users[k].uid);
                        *ret_reason = COLLISION_REASON;
                        return -EEXIST;
                }
                if (r != -ESRCH)
                        goto corrupt;
        }

        if ((k = model_find_gid(m, uid)) >= 0 || (k = model_find_group_name(m, id->username)) >= 0) {
                log_err(log, "UID %" PRIu32 " or name %s for %s is already used by group %s (gid %" PRIu32 ", made from an IdP group); pin a UID in [uids] to resolve",
                        uid, id->username, id->idp_username, m->groups[k].name, m->groups[k].gid);
                *ret_reason = COLLISION_REASON;
                return -EEXIST;
        }
        return 0;

corrupt:
        *ret_reason = "the identity store is corrupt";
        return r;
}

static int uid_choose(const struct cloudauth_config *c, const struct logger *log, const struct identity *id,
                      const char *subject_key, uint32_t *ret_uid, uint32_t *ret_previous) {
        uint32_t previous = 0, uid = 0;
        int r;

        r = subject_read(c, log, subject_key, &previous);
        if (r == -ESRCH)
                previous = 0;
        else if (r < 0)
                return r;

        for (size_t i = 0; i < c->n_uid_pins; i++)
                if (streq(c->uid_pins[i].name, id->idp_username))
                        uid = c->uid_pins[i].uid;
        if (uid == 0)
                uid = previous;
        if (uid == 0)
                uid = uidmap_user_uid(c->issuer, id->idp_username, c->uid_min, c->uid_max);
        *ret_uid = uid;
        *ret_previous = previous;
        return 0;
}

int cache_uid_for(const struct cloudauth_config *c, const struct logger *log, const struct identity *id,
                  uint32_t *ret_uid) {
        _cleanup_free_ char *key = NULL;
        uint32_t uid, previous;
        int r;

        if ((r = cache_subject_key(id, &key)) < 0 || (r = uid_choose(c, log, id, key, &uid, &previous)) < 0)
                return r;
        *ret_uid = uid;
        return 0;
}

/*
 * A login within RECORD_TIME_GRANULARITY of the stored one that changes
 * nothing else leaves the record alone: rewriting it costs two fsyncs on
 * every login, for a time nobody needs to the second.
 */
#define RECORD_TIME_GRANULARITY 600

static bool record_unchanged_recently(const struct cache_user *old, const struct cache_user *u) {
        _cleanup_json_ json_t *x = NULL, *y = NULL;

        if (u->last_online_login < old->last_online_login ||
            u->last_online_login - old->last_online_login >= RECORD_TIME_GRANULARITY)
                return false;
        x = record_to_json(old);
        y = record_to_json(u);
        if (!x || !y)
                return false;
        json_object_del(x, "last_online_login");
        json_object_del(y, "last_online_login");
        return json_equal(x, y);
}

static int user_build(const struct identity *id, const char *subject_key, char *const *roles, uint32_t uid,
                      time_t now, struct cache_user **ret) {
        _cleanup_(cache_user_freep) struct cache_user *u = calloc(1, sizeof(*u));
        int r;

        if (!u)
                return -ENOMEM;
        u->uid = uid;
        u->first_login = u->last_online_login = (int64_t) now;
        if ((r = dup_opt(id->username, &u->username)) < 0 || (r = dup_opt(id->idp_username, &u->idp_username)) < 0 ||
            (r = dup_opt(subject_key, &u->subject_key)) < 0 || (r = dup_opt(id->display_name, &u->display_name)) < 0 ||
            (r = dup_opt(id->email, &u->email)) < 0 || (r = strv_dup(id->groups, &u->idp_groups)) < 0 ||
            (r = strv_dup(id->app_roles, &u->app_roles)) < 0 || (r = strv_dup(roles, &u->roles)) < 0)
                return r;
        *ret = TAKE_PTR(u);
        return 0;
}

/* A record of this subject under another uid is superseded by the one just written. */
static void record_remove_superseded(const struct cloudauth_config *c, const struct logger *log, uint32_t uid,
                                     const struct cache_user *u) {
        _cleanup_(cache_user_freep) struct cache_user *o = NULL;
        _cleanup_free_ char *path = NULL;

        if (uid == u->uid || record_read(c, log, uid, &o) < 0 || !streq(o->subject_key, u->subject_key) ||
            path_record(c, uid, &path) < 0)
                return;
        if (unlink(path) == 0)
                log_notice(log, "%s moved from uid %" PRIu32 " to %" PRIu32, u->username, uid, u->uid);
}

/*
 * nss.db already holds exactly this user: same uid and name, same gecos,
 * the same supplementary gids, and every cloudauth group under the same
 * name. Then a login (the common case: someone logging in again) needs no
 * rewrite of nss.db, which costs time in proportion to every cached user.
 */
static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
        return x < y ? -1 : x > y;
}

static bool nssdb_entry_unchanged(const struct cloudauth_config *c, const struct model *m, const struct cache_user *u,
                                  const char *gecos, uint32_t *gids, size_t n_gids) {
        _cleanup_free_ char **domains = NULL;
        struct nssdb_settings settings;
        struct nssdb_user_view v;
        size_t n = 0;

        if (!m->pair.base || nssdb_pair_user_by_uid(&m->pair, u->uid, &v) < 0 || !streq(v.name, u->username) ||
            !streq(v.gecos, gecos ? gecos : ""))
                return false;
        /* A changed uid_range, home, shell or domain must reach the file too. */
        if (settings_init(c, &settings, &domains) < 0 || !nssdb_settings_equal(m->pair.base, &settings))
                return false;

        /* nss.db keeps gids sorted and unique, without the user's own. */
        qsort(gids, n_gids, sizeof(uint32_t), cmp_u32);
        for (size_t i = 0; i < n_gids; i++)
                if (gids[i] != u->uid && (n == 0 || gids[n - 1] != gids[i]))
                        gids[n++] = gids[i];
        if (n != v.n_gids)
                return false;
        for (size_t i = 0; i < n; i++)
                if (gids[i] != v.gids[i])
                        return false;

        for (size_t i = 0; i < u->n_groups; i++) {
                struct nssdb_pair_group_view g;

                if (nssdb_pair_group_by_gid(&m->pair, u->groups[i].gid, &g) < 0 || g.private_group ||
                    !streq(g.name, u->groups[i].name))
                        return false;
        }
        return true;
}

static int store_login_locked(const struct cloudauth_config *c, const struct logger *log, const struct identity *id,
                              char *const *roles, time_t now, const char *subject_key,
                              const struct local_accounts *local, struct model *m, uint32_t *ret_uid,
                              const char **ret_reason) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL, *old = NULL;
        _cleanup_free_ uint32_t *gids = NULL;
        uint32_t uid, previous, removed[3];
        size_t n_removed = 0;
        ssize_t k;
        int r;

        *ret_reason = "the identity store is corrupt";
        if ((r = uid_choose(c, log, id, subject_key, &uid, &previous)) < 0)
                return r;
        *ret_reason = "the identity store is not usable";
        if ((r = model_load(m, c, log, local)) < 0)
                return r;
        if ((r = collisions_check(c, log, id, subject_key, uid, local, m, ret_reason)) < 0)
                return r;

        /* The existing record of this subject: under the chosen uid, or under the one a pin moved it from. */
        *ret_reason = "the identity store is corrupt";
        r = record_read(c, log, uid, &old);
        if (r == -ESRCH && previous && previous != uid) {
                r = record_read(c, log, previous, &old);
                if (r >= 0 && !streq(old->subject_key, subject_key)) {
                        cache_user_free(TAKE_PTR(old));
                        r = -ESRCH;
                }
        }
        if (r < 0 && r != -ESRCH)
                return r;

        *ret_reason = "out of memory";
        if ((r = user_build(id, subject_key, roles, uid, now, &u)) < 0)
                return r;
        if (old) {
                u->first_login = old->first_login;
                /* The verifier and the refresh token belong to the subject, whose record this stays. */
                u->verifier = TAKE_PTR(old->verifier);
                u->pin_verifier = TAKE_PTR(old->pin_verifier);
                u->refresh_sealed = TAKE_PTR(old->refresh_sealed);
                u->last_answer = old->last_answer;
                if (!streq(old->username, u->username))
                        log_notice(log, "%s (uid %" PRIu32 ") is now %s: same subject, renamed at the IdP",
                                   old->username, uid, u->username);
        }
        if ((r = unix_groups_resolve(c, log, roles, local, u)) < 0 || (r = idp_groups_map(c, log, id, local, m, u)) < 0)
                return r;

        /* The subject file changes only on a first login or a move; the record's directory sync covers it. */
        *ret_reason = "the user record cannot be written";
        if (previous != uid && (r = subject_write(c, log, subject_key, uid, false)) < 0)
                return r;
        if (old && previous == uid && record_unchanged_recently(old, u)) {
                /* The stored time stays; it is at most RECORD_TIME_GRANULARITY old. */
                u->last_online_login = old->last_online_login;
        } else if ((r = record_write(c, log, u)) < 0)
                return r;

        /* nss.db: this subject's entries out (its uid, the uid it had, its name), the new one and its groups in. */
        removed[n_removed++] = uid;
        if (previous && previous != uid)
                removed[n_removed++] = previous;
        if ((k = model_find_name(m, u->username)) >= 0 && m->users[k].uid != uid && m->users[k].uid != previous)
                removed[n_removed++] = m->users[k].uid;
        for (size_t i = 1; i < n_removed; i++)
                record_remove_superseded(c, log, removed[i], u);

        *ret_reason = "out of memory";
        gids = malloc((u->n_groups + u->n_unix_groups + 1) * sizeof(uint32_t));
        if (!gids)
                return -ENOMEM;
        for (size_t i = 0; i < u->n_groups; i++)
                gids[i] = u->groups[i].gid;
        for (size_t i = 0; i < u->n_unix_groups; i++)
                gids[u->n_groups + i] = u->unix_groups[i].gid;

        if (n_removed == 1) {
                _cleanup_free_ uint32_t *sorted = malloc((u->n_groups + u->n_unix_groups + 1) * sizeof(uint32_t));
                const char *gecos = gecos_usable(u->display_name) ? u->display_name : NULL;

                if (!sorted)
                        return -ENOMEM;
                memcpy(sorted, gids, (u->n_groups + u->n_unix_groups) * sizeof(uint32_t));
                if (nssdb_entry_unchanged(c, m, u, gecos, sorted, u->n_groups + u->n_unix_groups)) {
                        log_debug(log, "%s (uid %" PRIu32 ") is unchanged in nss.db", u->username, uid);
                        *ret_uid = uid;
                        return 0;
                }
        }

        if ((r = model_remove_users(m, removed, n_removed, gids, u->n_groups)) < 0)
                return r;
        for (size_t i = 0; i < u->n_groups; i++)
                if (model_find_gid(m, u->groups[i].gid) < 0 &&
                    (r = model_group_add(m, u->groups[i].name, u->groups[i].gid)) < 0)
                        return r;
        r = model_user_add(m, &(struct nssdb_user_in) {
                .name = u->username, .uid = uid, .gecos = gecos_usable(u->display_name) ? u->display_name : NULL,
                .gids = gids, .n_gids = u->n_groups + u->n_unix_groups,
        });
        if (r < 0)
                return r;
        *ret_reason = "nss.db cannot be written";
        r = model_write_delta(m, c, log);
        if (r == -EAGAIN)
                r = model_write(m, c, log);
        else if (r >= 0)
                log_debug(log, "%s (uid %" PRIu32 ") written to the delta of nss.db (%zu users there)", u->username,
                          uid, m->n_users - m->n_base_users);
        if (r < 0)
                return r;

        log_info(log, "stored %s (uid %" PRIu32 ", %zu IdP groups, %zu local groups)", u->username, uid, u->n_groups,
                 u->n_unix_groups);
        *ret_uid = uid;
        return 0;
}

int cache_store_login(const struct cloudauth_config *c, const struct logger *log, const struct identity *id,
                      char *const *roles, time_t now, uint32_t *ret_uid, const char **ret_reason) {
        _cleanup_free_ char *subject_key = NULL;
        _cleanup_close_ int lock = -1;
        struct local_accounts local = {0};
        struct model m = {0};
        const char *reason = NULL;
        uint32_t uid = 0;
        int r;

        if (!id->username || !id->idp_username || !c->issuer)
                return -EINVAL;
        if (strlen(id->username) > NAME_MAX_LEN) {
                if (ret_reason)
                        *ret_reason = "the user name is too long for a local account";
                return -EINVAL;
        }
        r = cache_subject_key(id, &subject_key);
        if (r < 0)
                reason = "the token names no stable subject";
        if (r >= 0 && (lock = lock_take(c, log)) < 0) {
                r = lock;
                reason = r == -ETIMEDOUT ? "the identity store is locked by another process"
                                         : "the identity store is not usable";
        }
        if (r >= 0 && (r = local_accounts_load(log, &local)) < 0)
                reason = "the local account files cannot be read";
        if (r >= 0)
                r = store_login_locked(c, log, id, roles, now, subject_key, &local, &m, &uid, &reason);
        model_done(&m);
        local_accounts_done(&local);
        if (r < 0) {
                if (ret_reason)
                        *ret_reason = reason;
                return r;
        }
        *ret_uid = uid;
        return 0;
}

/* ---- readers ---- */

int cache_user_load_by_uid(const struct cloudauth_config *c, const struct logger *log, uint32_t uid,
                           struct cache_user **ret) {
        if (!c->state_dir)
                return -EINVAL;
        if (uid == 0 || uid == UINT32_MAX)
                return -ESRCH;
        return record_read(c, log, uid, ret);
}

static int name_to_local(const struct cloudauth_config *c, const char *name, char **ret) {
        _cleanup_free_ char *lower = strdup_lower(name);

        if (!lower)
                return -ENOMEM;
        if (identity_idp_to_local_name(c, lower, ret) < 0)
                return -ESRCH; /* never a valid name, so never cached */
        return 0;
}

/*
 * The record whose local name or IdP name is name. nss.db answers which uid
 * to read; the records are scanned only when it is unusable, or, for writers
 * that must also find records nss.db lost (scan_on_miss), when it has no entry.
 */
static int user_find(const struct cloudauth_config *c, const struct logger *log, const char *name, bool scan_on_miss,
                     struct cache_user **ret) {
        _cleanup_free_ char *local = NULL, *db_path = NULL, *delta_path = NULL, *lower = NULL;
        struct cache_user **all = NULL, *u;
        struct nssdb_user_view v;
        struct nssdb_pair pair;
        size_t n;
        int r, rd;

        if (!c->state_dir)
                return -EINVAL;
        if ((r = name_to_local(c, name, &local)) < 0 || (r = cache_nssdb_path(c, &db_path)) < 0 ||
            (r = cache_delta_path(c, &delta_path)) < 0)
                return r;
        lower = strdup_lower(name);
        if (!lower)
                return -ENOMEM;

        r = nssdb_pair_open(db_path, delta_path, &pair, &rd);
        /* A corrupt delta hides its users: only the records can tell. */
        if (r >= 0 && rd < 0 && rd != -ENOENT && rd != -ESTALE) {
                nssdb_pair_close(&pair);
                r = -EBADMSG;
        }
        if (r >= 0) {
                r = nssdb_pair_user_by_name(&pair, local, &v);
                nssdb_pair_close(&pair);
                if (r >= 0) {
                        r = record_read(c, log, v.uid, &u);
                        if (r >= 0 && !streq(u->username, local) && !streq(u->idp_username, lower)) {
                                cache_user_free(u);
                                r = -ESRCH;
                        }
                        if (r >= 0) {
                                *ret = u;
                                return 0;
                        }
                }
                if (r != -ESRCH || !scan_on_miss)
                        return r == -ESRCH || r == -EINVAL ? -ESRCH : r;
        } else if (r == -ENOMEM)
                return r;

        /* No usable nss.db: the records are the truth. */
        if ((r = records_load_all(c, log, &all, &n, NULL)) < 0)
                return r;
        r = -ESRCH;
        for (size_t i = 0; i < n; i++)
                if (streq(all[i]->username, local) || streq(all[i]->idp_username, lower)) {
                        *ret = TAKE_PTR(all[i]);
                        r = 0;
                        break;
                }
        cache_user_list_free(all, n);
        return r;
}

int cache_user_load_by_name(const struct cloudauth_config *c, const struct logger *log, const char *name,
                            struct cache_user **ret) {
        if (!name || !*name)
                return -ESRCH;
        return user_find(c, log, name, false, ret);
}

int cache_user_list(const struct cloudauth_config *c, const struct logger *log, struct cache_user ***ret,
                    size_t *ret_n) {
        if (!c->state_dir)
                return -EINVAL;
        return records_load_all(c, log, ret, ret_n, NULL);
}

/* ---- refusals ---- */

/* The record of a refused login: by the identity's subject when there is one, else by the name typed. */
static int refused_record_find(const struct cloudauth_config *c, const struct logger *log, const struct identity *id,
                               const char *name, struct cache_user **ret) {
        _cleanup_free_ char *key = NULL;
        struct cache_user *u;
        uint32_t uid;
        int r;

        if (!id)
                return user_find(c, log, name, true, ret);
        if ((r = cache_subject_key(id, &key)) < 0)
                return r == -EINVAL ? -ESRCH : r;
        if ((r = subject_read(c, log, key, &uid)) < 0 || (r = record_read(c, log, uid, &u)) < 0)
                return r;
        if (!streq(u->subject_key, key)) {
                cache_user_free(u);
                return -ESRCH;
        }
        *ret = u;
        return 0;
}

static int refuse_locked(const struct cloudauth_config *c, const struct logger *log, const struct identity *id,
                         const char *name, const char *reason, time_t now, const struct local_accounts *local,
                         struct model *m) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        static const uint32_t no_gids[1];
        char **idp_groups = NULL, **app_roles = NULL, **roles = NULL, *refusal = NULL;
        bool had_privileges;
        int r;

        if ((r = refused_record_find(c, log, id, name, &u)) < 0)
                return r;
        had_privileges = u->n_groups > 0 || u->n_unix_groups > 0 || strv_length(u->roles) > 0;
        if (u->refused_at && !had_privileges && (!id || strv_length(id->groups) == strv_length(u->idp_groups)))
                return 0; /* Already refused: refusals others can cause must not cost a write each. */

        if ((id && ((r = strv_dup(id->groups, &idp_groups)) < 0 || (r = strv_dup(id->app_roles, &app_roles)) < 0)) ||
            (r = strv_dup(NULL, &roles)) < 0 || !(refusal = strdup(reason))) {
                strv_free(idp_groups);
                strv_free(app_roles);
                strv_free(roles);
                return r < 0 ? r : -ENOMEM;
        }
        if (id) {
                strv_free(u->idp_groups);
                strv_free(u->app_roles);
                u->idp_groups = idp_groups;
                u->app_roles = app_roles;
        }
        strv_free(u->roles);
        u->roles = roles;
        free(u->refusal);
        u->refusal = refusal;
        u->refused_at = (int64_t) now;
        /* A refused account gets no offline login either, also after the refusal is lifted offline. */
        if (u->verifier)
                secret_wipe(u->verifier, sizeof(*u->verifier));
        free(TAKE_PTR(u->verifier));
        /* Nor a re-validation or a PIN: the next allowed online login brings a new grant. */
        erase_and_free(TAKE_PTR(u->refresh_sealed));
        if (u->pin_verifier)
                secret_wipe(u->pin_verifier, sizeof(*u->pin_verifier));
        free(TAKE_PTR(u->pin_verifier));
        cache_group_array_free(u->groups, u->n_groups);
        cache_group_array_free(u->unix_groups, u->n_unix_groups);
        u->groups = u->unix_groups = NULL;
        u->n_groups = u->n_unix_groups = 0;
        if ((r = record_write(c, log, u)) < 0)
                return r;

        /* The passwd entry stays (files keep an owner by name); every group it had through us goes. */
        if ((r = model_load(m, c, log, local)) < 0 || (r = model_remove_users(m, &u->uid, 1, NULL, 0)) < 0)
                return r;
        r = model_user_add(m, &(struct nssdb_user_in) {
                .name = u->username, .uid = u->uid, .gecos = gecos_usable(u->display_name) ? u->display_name : NULL,
                .gids = no_gids, .n_gids = 0,
        });
        if (r < 0)
                return r;
        r = model_write_delta(m, c, log);
        if (r == -EAGAIN)
                r = model_write(m, c, log);
        if (r < 0)
                return r;
        log_notice(log, "%s (uid %" PRIu32 ") refused online (%s): its groups are withdrawn and the account phase denies it until an allowed online login",
                   u->username, u->uid, reason);
        return 0;
}

int cache_user_refuse(const struct cloudauth_config *c, const struct logger *log, const struct identity *id,
                      const char *name, const char *reason, time_t now) {
        _cleanup_close_ int lock = -1;
        struct local_accounts local = {0};
        struct model m = {0};
        int r;

        if (!c->state_dir || !reason || (!id && (!name || !*name)))
                return -EINVAL;
        lock = lock_take(c, log);
        if (lock < 0)
                return lock;
        if ((r = local_accounts_load(log, &local)) >= 0)
                r = refuse_locked(c, log, id, name, reason, now, &local, &m);
        model_done(&m);
        local_accounts_done(&local);
        return r;
}

/* ---- writers besides login ---- */

static int set_verifier(const struct cloudauth_config *c, const struct logger *log, uint32_t uid,
                        const char *subject_key, bool pin, const struct offline_verifier *v) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        _cleanup_close_ int lock = -1;
        struct offline_verifier **slot;
        int r;

        if (!c->state_dir || !subject_key)
                return -EINVAL;
        lock = lock_take(c, log);
        if (lock < 0)
                return lock;
        if ((r = cache_user_load_by_uid(c, log, uid, &u)) < 0)
                return r;
        /* The uid may have gone to someone else since the caller read it. */
        if (!streq(u->subject_key, subject_key))
                return -ESTALE;
        slot = pin ? &u->pin_verifier : &u->verifier;
        if (!v && !*slot)
                return 0;
        if (*slot)
                secret_wipe(*slot, sizeof(**slot));
        free(TAKE_PTR(*slot));
        if (v) {
                *slot = malloc(sizeof(**slot));
                if (!*slot)
                        return -ENOMEM;
                **slot = *v;
        }
        return record_write(c, log, u);
}

int cache_user_set_verifier(const struct cloudauth_config *c, const struct logger *log, uint32_t uid,
                            const char *subject_key, const struct offline_verifier *v) {
        return set_verifier(c, log, uid, subject_key, false, v);
}

int cache_user_set_pin(const struct cloudauth_config *c, const struct logger *log, uint32_t uid,
                       const char *subject_key, const struct offline_verifier *v) {
        return set_verifier(c, log, uid, subject_key, true, v);
}

int cache_user_set_refresh(const struct cloudauth_config *c, const struct logger *log, uint32_t uid,
                           const char *subject_key, const char *sealed, int64_t answered_at) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        _cleanup_close_ int lock = -1;
        char *copy = NULL;
        int r;

        if (!c->state_dir || !subject_key)
                return -EINVAL;
        if (sealed && !(copy = strdup(sealed)))
                return -ENOMEM;
        lock = lock_take(c, log);
        if (lock < 0) {
                free(copy);
                return lock;
        }
        if ((r = cache_user_load_by_uid(c, log, uid, &u)) < 0) {
                free(copy);
                return r;
        }
        if (!streq(u->subject_key, subject_key)) {
                free(copy);
                return -ESTALE;
        }
        erase_and_free(u->refresh_sealed);
        u->refresh_sealed = copy;
        if (answered_at > u->last_answer)
                u->last_answer = answered_at;
        return record_write(c, log, u);
}

int cache_user_forget(const struct cloudauth_config *c, const struct logger *log, const char *name) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        _cleanup_free_ char *record = NULL, *subject = NULL, *users_dir = NULL;
        _cleanup_close_ int lock = -1;
        struct local_accounts local = {0};
        struct model m = {0};
        uint32_t subject_uid;
        int r;

        if (!name || !*name)
                return -ESRCH;
        lock = lock_take(c, log);
        if (lock < 0)
                return lock;
        if ((r = user_find(c, log, name, true, &u)) < 0)
                return r;
        if ((r = path_record(c, u->uid, &record)) < 0 || (r = path_subject(c, u->subject_key, &subject)) < 0 ||
            asprintf(&users_dir, "%s/users", c->state_dir) < 0)
                return r < 0 ? r : -ENOMEM;

        /* The subject file goes only when it still points at this record. */
        if (subject_read(c, log, u->subject_key, &subject_uid) >= 0 && subject_uid == u->uid && unlink(subject) < 0 &&
            errno != ENOENT)
                return log_error_errno(log, -errno, "%s: cannot remove: %s", subject, strerror(errno));
        if (unlink(record) < 0 && errno != ENOENT)
                return log_error_errno(log, -errno, "%s: cannot remove: %s", record, strerror(errno));
        (void) fsync_dir(users_dir, false);

        if ((r = local_accounts_load(log, &local)) < 0)
                return r;
        r = model_load(&m, c, log, &local);
        if (r >= 0)
                r = model_remove_users(&m, &u->uid, 1, NULL, 0);
        if (r >= 0)
                r = model_write(&m, c, log);
        if (r >= 0)
                log_notice(log, "forgot %s (uid %" PRIu32 ")", u->username, u->uid);
        model_done(&m);
        local_accounts_done(&local);
        return r;
}

int cache_nssdb_check(const struct cloudauth_config *c, const struct logger *log) {
        _cleanup_free_ char *path = NULL, **domains = NULL;
        struct nssdb_settings settings;
        struct nssdb *db = NULL;
        int r;

        if ((r = cache_nssdb_path(c, &path)) < 0 || (r = settings_init(c, &settings, &domains)) < 0)
                return r;
        r = nssdb_open(path, &db, NULL);
        if (r < 0)
                return r;
        r = nssdb_settings_equal(db, &settings) ? 0 : -ESTALE;
        nssdb_close(db);
        return r;
}

int cache_rebuild(const struct cloudauth_config *c, const struct logger *log) {
        _cleanup_close_ int lock = -1;
        struct local_accounts local = {0};
        struct model m = {0};
        size_t bad = 0;
        int r;

        lock = lock_take(c, log);
        if (lock < 0)
                return lock;
        if ((r = local_accounts_load(log, &local)) < 0)
                return r;
        r = model_from_records(&m, c, log, &local, &bad);
        /* Subject files are derived from records too: restore the missing or wrong ones. */
        for (size_t i = 0; r >= 0 && i < m.n_users; i++) {
                const struct cache_user *u = m.records[m.user_rec[i]];
                uint32_t uid;

                if (subject_read(c, log, u->subject_key, &uid) < 0 || uid != u->uid)
                        r = subject_write(c, log, u->subject_key, u->uid, true);
        }
        if (r >= 0)
                r = model_write(&m, c, log);
        if (r >= 0) {
                if (bad)
                        log_warn(log, "nss.db rebuilt with %zu users and %zu groups; %zu corrupt records skipped",
                                 m.n_users, m.n_groups, bad);
                else
                        log_info(log, "nss.db rebuilt with %zu users and %zu groups", m.n_users, m.n_groups);
        }
        model_done(&m);
        local_accounts_done(&local);
        return r;
}
