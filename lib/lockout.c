/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "cache.h"
#include "lockout.h"
#include "macro.h"
#include "sha256.h"

/* The file is one line: "1 LOCKED_UNTIL T1 T2 ...", the version, then times in seconds. */
#define LOCKOUT_FILE_VERSION 1
#define LOCKOUT_FILE_MAX 4096
#define LOCKOUT_TMP_PREFIX ".tmp-"
#define LOCKOUT_NAME_LEN (2 * SHA256_DIGEST_SIZE)
/* Writers hold the lock for the time of one small write; longer means one is stuck. */
#define LOCKOUT_LOCK_TIMEOUT_MS 5000u

struct lockout_record {
        time_t locked_until;
        time_t failures[LOCKOUT_ATTEMPTS_MAX]; /* oldest first */
        size_t n_failures;
};

static int lockout_dir(const struct cloudauth_config *c, char **ret) {
        if (!c->state_dir)
                return -EINVAL;
        return asprintf(ret, "%s/lockout", c->state_dir) < 0 ? -ENOMEM : 0;
}

/* The file name: the IdP name's hash, so any name, however long or strange, is one safe file name. */
static int lockout_path(const struct cloudauth_config *c, const char *idp_name, char **ret) {
        static const char hexdigits[] = "0123456789abcdef";
        _cleanup_free_ char *lower = NULL;
        uint8_t d[SHA256_DIGEST_SIZE];
        char hex[LOCKOUT_NAME_LEN + 1];

        if (!c->state_dir || !idp_name || !*idp_name)
                return -EINVAL;
        lower = strdup(idp_name);
        if (!lower)
                return -ENOMEM;
        for (char *p = lower; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char) (*p - 'A' + 'a');
        sha256(lower, strlen(lower), d);
        for (size_t i = 0; i < sizeof(d); i++) {
                hex[2 * i] = hexdigits[d[i] >> 4];
                hex[2 * i + 1] = hexdigits[d[i] & 15];
        }
        hex[LOCKOUT_NAME_LEN] = 0;
        return asprintf(ret, "%s/lockout/%s", c->state_dir, hex) < 0 ? -ENOMEM : 0;
}

static int dirs_ensure(const struct cloudauth_config *c, const struct logger *log) {
        _cleanup_free_ char *dir = NULL;
        int r;

        if ((r = lockout_dir(c, &dir)) < 0 || (r = cache_dir_ensure(c->state_dir, 0755, log)) < 0)
                return r;
        return cache_dir_ensure(dir, 0700, log);
}

static int time_parse(const char *s, char **ret_end, time_t *ret) {
        long long v;
        char *end;

        if (*s < '0' || *s > '9')
                return -EBADMSG;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || v < 0)
                return -EBADMSG;
        *ret_end = end;
        *ret = (time_t) v;
        return 0;
}

/* A parser that fails leaves *ret untouched. */
static int record_parse(const char *text, size_t len, struct lockout_record *ret) {
        struct lockout_record rec = {0};
        char buf[LOCKOUT_FILE_MAX + 1];
        char *p = buf;
        time_t version;

        if (len == 0 || len > LOCKOUT_FILE_MAX || memchr(text, 0, len) || text[len - 1] != '\n')
                return -EBADMSG;
        memcpy(buf, text, len);
        buf[len - 1] = 0;
        if (time_parse(p, &p, &version) < 0 || version != LOCKOUT_FILE_VERSION || *p != ' ' ||
            time_parse(p + 1, &p, &rec.locked_until) < 0)
                return -EBADMSG;
        while (*p) {
                if (*p != ' ' || rec.n_failures >= LOCKOUT_ATTEMPTS_MAX ||
                    time_parse(p + 1, &p, &rec.failures[rec.n_failures]) < 0)
                        return -EBADMSG;
                rec.n_failures++;
        }
        *ret = rec;
        return 0;
}

static int record_format(const struct lockout_record *rec, char *buf, size_t size, size_t *ret_len) {
        size_t n;
        int k;

        k = snprintf(buf, size, "%d %lld", LOCKOUT_FILE_VERSION, (long long) rec->locked_until);
        if (k < 0 || (size_t) k >= size)
                return -ENOBUFS;
        n = (size_t) k;
        for (size_t i = 0; i < rec->n_failures; i++) {
                k = snprintf(buf + n, size - n, " %lld", (long long) rec->failures[i]);
                if (k < 0 || (size_t) k >= size - n)
                        return -ENOBUFS;
                n += (size_t) k;
        }
        if (n + 1 >= size)
                return -ENOBUFS;
        buf[n++] = '\n';
        *ret_len = n;
        return 0;
}

static int fd_read_all(int fd, char *buf, size_t size, size_t *ret_len) {
        size_t n = 0;

        for (;;) {
                ssize_t k = pread(fd, buf + n, size - n, (off_t) n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n == size)
                        return -EFBIG;
        }
        *ret_len = n;
        return 0;
}

static time_t window_start(const struct cloudauth_config *c, time_t now) {
        return now - (time_t) c->lockout_window;
}

/* Failures that count at now: inside the window, and after the end of any lock that is over. */
static unsigned record_failures(const struct cloudauth_config *c, const struct lockout_record *rec, time_t now) {
        bool locked = rec->locked_until > now;
        unsigned n = 0;

        for (size_t i = 0; i < rec->n_failures; i++)
                if (rec->failures[i] > window_start(c, now) && (locked || rec->failures[i] >= rec->locked_until))
                        n++;
        return n;
}

static void record_to_state(const struct cloudauth_config *c, const struct lockout_record *rec, time_t now,
                            struct lockout_state *ret) {
        *ret = (struct lockout_state) {
                .failures = record_failures(c, rec, now),
                .locked_until = rec->locked_until > now ? rec->locked_until : 0,
        };
}

static uint64_t monotonic_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* Polling, not blocking: a stuck holder costs a bounded wait, and no signal or timer of the caller is touched. */
static int lock_wait(int fd, const char *path, const struct logger *log) {
        uint64_t deadline = monotonic_ms() + LOCKOUT_LOCK_TIMEOUT_MS;
        long pause_ns = 1000000;

        for (;;) {
                if (flock(fd, LOCK_EX | LOCK_NB) == 0)
                        return 0;
                if (errno != EWOULDBLOCK && errno != EINTR)
                        return log_error_errno(log, -errno, "%s: cannot lock: %s", path, strerror(errno));
                if (monotonic_ms() >= deadline)
                        return log_error_errno(log, -ETIMEDOUT, "%s: locked by another process for more than %u s",
                                               path, LOCKOUT_LOCK_TIMEOUT_MS / 1000);
                (void) nanosleep(&(struct timespec) { .tv_nsec = pause_ns }, NULL);
                if (pause_ns < 50000000)
                        pause_ns *= 2;
        }
}

/*
 * Open and lock the account's file itself. Writers replace it by rename and
 * removers unlink it, so a lock taken on a file no longer at path protects
 * nothing: check, and start again on the file that is there now. With
 * create, a missing file is created empty; without, *ret_fd is -1 for it.
 */
static int lock_open(const char *path, bool create, const struct logger *log, int *ret_fd) {
        for (unsigned tries = 0; tries < 100; tries++) {
                _cleanup_close_ int fd = -1;
                struct stat st, now_st;
                int r;

                fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | (create ? O_CREAT : 0), 0600);
                if (fd < 0 && errno == ENOENT && !create) {
                        *ret_fd = -1;
                        return 0;
                }
                if (fd < 0)
                        return log_error_errno(log, -errno, "%s: cannot open: %s", path, strerror(errno));
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 077))
                        return log_error_errno(log, -EPERM, "%s: is not a regular file of root's with mode 0600",
                                               path);
                if ((r = lock_wait(fd, path, log)) < 0)
                        return r;
                if (lstat(path, &now_st) < 0) {
                        if (errno != ENOENT)
                                return log_error_errno(log, -errno, "%s: cannot stat: %s", path, strerror(errno));
                        continue;
                }
                if (now_st.st_ino == st.st_ino && now_st.st_dev == st.st_dev) {
                        *ret_fd = TAKE_FD(fd);
                        return 0;
                }
        }
        return log_error_errno(log, -EAGAIN, "%s: replaced again and again while being locked", path);
}

/* The account's record from a locked fd; an empty file (just created) is no failures. */
static int record_read_fd(int fd, const char *path, const struct logger *log, struct lockout_record *ret) {
        char buf[LOCKOUT_FILE_MAX + 1];
        size_t len = 0;
        int r;

        if ((r = fd_read_all(fd, buf, sizeof(buf), &len)) < 0)
                return log_error_errno(log, r, "%s: cannot read: %s", path, strerror(-r));
        if (len == 0) {
                *ret = (struct lockout_record) {0};
                return 0;
        }
        if ((r = record_parse(buf, len, ret)) < 0)
                return log_error_errno(log, r, "%s: is not a lockout record", path);
        return 0;
}

/* Files untouched for window + duration hold no failure that counts and no lock: remove them. */
static void lockout_prune(const struct cloudauth_config *c, const struct logger *log, time_t now) {
        _cleanup_free_ char *dir = NULL;
        time_t stale_before = now - (time_t) (c->lockout_window + c->lockout_duration);
        struct dirent *de;
        DIR *d;

        if (lockout_dir(c, &dir) < 0 || !(d = opendir(dir)))
                return;
        while ((de = readdir(d))) {
                bool tmp = strncmp(de->d_name, LOCKOUT_TMP_PREFIX, strlen(LOCKOUT_TMP_PREFIX)) == 0;
                _cleanup_close_ int fd = -1;
                struct stat st, again;

                if (!tmp && strlen(de->d_name) != LOCKOUT_NAME_LEN)
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
                    st.st_mtime >= stale_before)
                        continue;
                if (!tmp) {
                        /* A writer that holds it is about to make it fresh: leave it. */
                        fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
                        if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0 ||
                            fstatat(dirfd(d), de->d_name, &again, AT_SYMLINK_NOFOLLOW) < 0 ||
                            again.st_ino != st.st_ino || again.st_mtime >= stale_before)
                                continue;
                }
                if (unlinkat(dirfd(d), de->d_name, 0) == 0)
                        log_debug(log, "%s/%s: removed, nothing in it counts any more", dir, de->d_name);
        }
        closedir(d);
}

int lockout_get(const struct cloudauth_config *c, const struct logger *log, const char *idp_name, time_t now,
                struct lockout_state *ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        struct lockout_record rec;
        int r;

        if (!ret)
                return -EINVAL;
        if ((r = lockout_path(c, idp_name, &path)) < 0)
                return r;
        if (c->lockout_attempts == 0) {
                *ret = (struct lockout_state) {0};
                return 0;
        }
        /* Writers replace the file by rename: a reader sees the old record or the new one, never half. */
        fd = open_trusted_file(path, 077, LOCKOUT_FILE_MAX, log);
        if (fd == -ENOENT) {
                *ret = (struct lockout_state) {0};
                return 0;
        }
        if (fd < 0)
                return fd;
        if ((r = record_read_fd(fd, path, log, &rec)) < 0)
                return r;
        record_to_state(c, &rec, now, ret);
        return 0;
}

int lockout_record_failure(const struct cloudauth_config *c, const struct logger *log, const char *idp_name,
                           time_t now, struct lockout_state *ret) {
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -1;
        struct lockout_record rec;
        char text[LOCKOUT_FILE_MAX];
        size_t len, keep = 0;
        time_t ended;
        int r;

        if ((r = lockout_path(c, idp_name, &path)) < 0)
                return r;
        if (c->lockout_attempts == 0) {
                if (ret)
                        *ret = (struct lockout_state) {0};
                return 0;
        }
        if ((r = dirs_ensure(c, log)) < 0 || (r = lock_open(path, true, log, &fd)) < 0)
                return r;
        if (record_read_fd(fd, path, log, &rec) < 0)
                rec = (struct lockout_record) {0}; /* logged; the count starts again from this failure */

        /* A lock that is over: the failures before its end are paid for. */
        ended = rec.locked_until != 0 && rec.locked_until <= now ? rec.locked_until : 0;
        for (size_t i = 0; i < rec.n_failures; i++)
                if (rec.failures[i] > window_start(c, now) && rec.failures[i] >= ended)
                        rec.failures[keep++] = rec.failures[i];
        rec.n_failures = keep;
        if (ended)
                rec.locked_until = 0;

        /* Only the last attempts failures can matter. */
        if (rec.n_failures >= c->lockout_attempts) {
                size_t drop = rec.n_failures - c->lockout_attempts + 1;

                memmove(rec.failures, rec.failures + drop, (rec.n_failures - drop) * sizeof(rec.failures[0]));
                rec.n_failures -= drop;
        }
        rec.failures[rec.n_failures++] = now;
        if (rec.locked_until <= now && rec.n_failures >= c->lockout_attempts)
                rec.locked_until = now + (time_t) c->lockout_duration;

        if ((r = record_format(&rec, text, sizeof(text), &len)) < 0)
                return r;
        if (asprintf(&tmp, "%s/lockout/" LOCKOUT_TMP_PREFIX "XXXXXX", c->state_dir) < 0)
                return -ENOMEM;
        if ((r = write_file_atomic(tmp, path, text, len, 0600, false)) < 0)
                return log_error_errno(log, r, "%s: cannot write: %s", path, strerror(-r));
        /* The file's time is the clock's (an injected one too): pruning goes by it. */
        (void) utimensat(AT_FDCWD, path,
                         (const struct timespec[2]) { { .tv_sec = now }, { .tv_sec = now } }, AT_SYMLINK_NOFOLLOW);
        lockout_prune(c, log, now);
        if (ret)
                record_to_state(c, &rec, now, ret);
        return 0;
}

/* Remove the account's file under its lock; 1 when there was one. */
static int lockout_remove(const struct cloudauth_config *c, const struct logger *log, const char *idp_name) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        if ((r = lockout_path(c, idp_name, &path)) < 0 || (r = lock_open(path, false, log, &fd)) < 0)
                return r;
        if (fd < 0)
                return 0;
        if (unlink(path) < 0 && errno != ENOENT)
                return log_error_errno(log, -errno, "%s: cannot remove: %s", path, strerror(errno));
        return 1;
}

int lockout_record_success(const struct cloudauth_config *c, const struct logger *log, const char *idp_name) {
        int r = lockout_remove(c, log, idp_name);

        return r < 0 ? r : 0;
}

int lockout_unlock(const struct cloudauth_config *c, const struct logger *log, const char *idp_name) {
        return lockout_remove(c, log, idp_name);
}
