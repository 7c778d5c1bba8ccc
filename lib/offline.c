/* SPDX-License-Identifier: MIT */
#include <argon2.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "fileio.h"
#include "config.h"
#include "macro.h"
#include "offline.h"
#include "secret.h"

#define VERIFIER_ALGORITHM "argon2id-keyed"
#define SLOT_RETRY_MS 20

static int read_exact(int fd, uint8_t *buf, size_t len) {
        size_t n = 0;

        while (n < len) {
                ssize_t k = read(fd, buf + n, len - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EBADMSG;
                n += (size_t) k;
        }
        return 0;
}

static int host_key_read(const char *path, const struct logger *log, uint8_t ret[OFFLINE_KEY_SIZE]) {
        _cleanup_close_ int fd = -1;
        uint8_t key[OFFLINE_KEY_SIZE + 1];
        ssize_t extra;
        int r;

        /* The key must be root's alone: a readable key makes every record attackable offline again. */
        fd = open_trusted_file(path, 077, OFFLINE_KEY_SIZE, log);
        if (fd < 0)
                return fd;
        r = read_exact(fd, key, OFFLINE_KEY_SIZE);
        if (r >= 0) {
                extra = read(fd, key + OFFLINE_KEY_SIZE, 1);
                r = extra == 0 ? 0 : -EBADMSG;
        }
        if (r < 0) {
                secret_wipe(key, sizeof(key));
                return log_error_errno(log, r == -EBADMSG ? -EBADMSG : r, "%s: not a host key of %d bytes", path,
                                       OFFLINE_KEY_SIZE);
        }
        memcpy(ret, key, OFFLINE_KEY_SIZE);
        secret_wipe(key, sizeof(key));
        return 0;
}

/* Write a new key beside path and link it in place: whoever links first wins, the others read that one. */
static int host_key_create(const char *state_dir, const char *path, const struct logger *log) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        uint8_t key[OFFLINE_KEY_SIZE];
        int r;

        if (asprintf(&tmp, "%s/.host.key.XXXXXX", state_dir) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(log, -errno, "%s: cannot create: %s", tmp, strerror(errno));
        if (RAND_bytes(key, sizeof(key)) != 1)
                r = -EIO;
        else if ((r = fchmod(fd, 0600) < 0 ? -errno : 0) >= 0 && (r = write_all(fd, key, sizeof(key))) >= 0 &&
                 (r = fsync(fd) < 0 ? -errno : 0) >= 0)
                r = link(tmp, path) < 0 && errno != EEXIST ? -errno : 0;
        secret_wipe(key, sizeof(key));
        (void) unlink(tmp);
        if (r < 0)
                return log_error_errno(log, r, "%s: cannot create the host key: %s", path, strerror(-r));
        (void) fsync_dir(path, true);
        return 0;
}

int offline_host_key_load(const char *state_dir, const struct logger *log, bool create,
                          uint8_t ret[OFFLINE_KEY_SIZE]) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (!state_dir)
                return -EINVAL;
        if (asprintf(&path, "%s/host.key", state_dir) < 0)
                return -ENOMEM;
        r = host_key_read(path, log, ret);
        if (r != -ENOENT || !create)
                return r;
        if ((r = host_key_create(state_dir, path, log)) < 0)
                return r;
        log_notice(log, "%s: created the host key of the offline verifiers", path);
        return host_key_read(path, log, ret);
}

static bool params_valid(const struct offline_params *p) {
        return p->time_cost >= 1 && p->time_cost <= OFFLINE_TIME_COST_MAX && p->memory_kib >= OFFLINE_MEMORY_KIB_MIN &&
               p->memory_kib <= OFFLINE_MEMORY_KIB_MAX && p->parallelism >= 1 &&
               p->parallelism <= OFFLINE_PARALLELISM_MAX;
}

static int verifier_hash(const uint8_t key[OFFLINE_KEY_SIZE], const char *subject, const char *password,
                         const struct offline_params *params, const uint8_t salt[OFFLINE_SALT_SIZE],
                         uint8_t ret[OFFLINE_HASH_SIZE]) {
        uint8_t secret[OFFLINE_KEY_SIZE];
        argon2_context ctx;
        size_t pwlen = strlen(password), adlen = strlen(subject);
        int k;

        if (!params_valid(params) || pwlen > ARGON2_MAX_PWD_LENGTH || adlen > ARGON2_MAX_AD_LENGTH)
                return -EINVAL;
        /* argon2 may clear the secret it was given: hand it a copy. */
        memcpy(secret, key, sizeof(secret));
        ctx = (argon2_context) {
                .out = ret,
                .outlen = OFFLINE_HASH_SIZE,
                .pwd = (uint8_t *) password,
                .pwdlen = (uint32_t) pwlen,
                .salt = (uint8_t *) salt,
                .saltlen = OFFLINE_SALT_SIZE,
                .secret = secret,
                .secretlen = sizeof(secret),
                .ad = (uint8_t *) subject,
                .adlen = (uint32_t) adlen,
                .t_cost = params->time_cost,
                .m_cost = params->memory_kib,
                .lanes = params->parallelism,
                .threads = params->parallelism,
                .version = ARGON2_VERSION_13,
                .flags = ARGON2_DEFAULT_FLAGS,
        };
        k = argon2id_ctx(&ctx);
        secret_wipe(secret, sizeof(secret));
        if (k == ARGON2_MEMORY_ALLOCATION_ERROR)
                return -ENOMEM;
        return k == ARGON2_OK ? 0 : -EINVAL;
}

int offline_verifier_make(const uint8_t key[OFFLINE_KEY_SIZE], const char *subject, const char *password,
                          const struct offline_params *params, int64_t now, struct offline_verifier *ret) {
        struct offline_verifier v = { .params = *params, .created = now };
        int r;

        if (!key || !subject || !password || !ret)
                return -EINVAL;
        if (RAND_bytes(v.salt, sizeof(v.salt)) != 1)
                return -EIO;
        r = verifier_hash(key, subject, password, params, v.salt, v.hash);
        if (r < 0)
                return r;
        *ret = v;
        secret_wipe(&v, sizeof(v));
        return 0;
}

int offline_verifier_check(const uint8_t key[OFFLINE_KEY_SIZE], const char *subject, const char *password,
                           const struct offline_verifier *v) {
        uint8_t hash[OFFLINE_HASH_SIZE];
        bool match;
        int r;

        if (!key || !subject || !password || !v)
                return -EINVAL;
        r = verifier_hash(key, subject, password, &v->params, v->salt, hash);
        if (r < 0)
                return r;
        match = secret_equal(hash, sizeof(hash), v->hash, sizeof(v->hash));
        secret_wipe(hash, sizeof(hash));
        return match;
}

json_t *offline_verifier_to_json(const struct offline_verifier *v) {
        _cleanup_free_ char *salt = NULL, *hash = NULL;

        if (base64url_encode(v->salt, sizeof(v->salt), &salt) < 0 || base64url_encode(v->hash, sizeof(v->hash), &hash) < 0)
                return NULL;
        return json_pack("{s:s, s:I, s:I, s:I, s:s, s:s, s:I}", "algorithm", VERIFIER_ALGORITHM, "time_cost",
                         (json_int_t) v->params.time_cost, "memory_kib", (json_int_t) v->params.memory_kib,
                         "parallelism", (json_int_t) v->params.parallelism, "salt", salt, "hash", hash, "created",
                         (json_int_t) v->created);
}

static bool json_u32(json_t *o, const char *key, uint32_t *ret) {
        json_t *v = json_object_get(o, key);

        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX)
                return false;
        *ret = (uint32_t) json_integer_value(v);
        return true;
}

static bool json_bytes(json_t *o, const char *key, uint8_t *ret, size_t size) {
        _cleanup_free_ unsigned char *b = NULL;
        json_t *v = json_object_get(o, key);
        size_t len;

        if (!json_is_string(v) || base64url_decode(json_string_value(v), json_string_length(v), &b, &len) < 0 ||
            len != size)
                return false;
        memcpy(ret, b, size);
        return true;
}

int offline_verifier_from_json(json_t *o, struct offline_verifier *ret) {
        struct offline_verifier v = {0};
        json_t *created;

        if (!json_is_object(o) || !json_is_string(json_object_get(o, "algorithm")) ||
            !streq(json_string_value(json_object_get(o, "algorithm")), VERIFIER_ALGORITHM))
                return -EBADMSG;
        created = json_object_get(o, "created");
        if (!json_u32(o, "time_cost", &v.params.time_cost) || !json_u32(o, "memory_kib", &v.params.memory_kib) ||
            !json_u32(o, "parallelism", &v.params.parallelism) || !params_valid(&v.params) ||
            !json_bytes(o, "salt", v.salt, sizeof(v.salt)) || !json_bytes(o, "hash", v.hash, sizeof(v.hash)) ||
            !json_is_integer(created))
                return -EBADMSG;
        v.created = json_integer_value(created);
        *ret = v;
        return 0;
}

static uint64_t monotonic_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

int offline_slot_take(const char *state_dir, const struct logger *log, unsigned wait_ms, unsigned *ret_slot) {
        char path[4096];
        uint64_t deadline;
        int fds[OFFLINE_SLOTS];
        int r = 0;

        if (!state_dir || !ret_slot)
                return -EINVAL;
        for (unsigned i = 0; i < OFFLINE_SLOTS; i++) {
                if ((size_t) snprintf(path, sizeof(path), "%s/offline-slot-%u", state_dir, i) >= sizeof(path)) {
                        r = -ENAMETOOLONG;
                        fds[i] = -1;
                } else {
                        fds[i] = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
                        if (fds[i] < 0)
                                r = log_error_errno(log, -errno, "%s: cannot open: %s", path, strerror(errno));
                }
        }
        /* Each verification holds tens of MiB: a burst of logins waits here instead of exhausting memory. */
        deadline = monotonic_ms() + wait_ms;
        while (r >= 0) {
                for (unsigned i = 0; i < OFFLINE_SLOTS; i++)
                        if (flock(fds[i], LOCK_EX | LOCK_NB) == 0) {
                                for (unsigned j = 0; j < OFFLINE_SLOTS; j++)
                                        if (j != i)
                                                close(fds[j]);
                                *ret_slot = i;
                                return fds[i];
                        } else if (errno != EWOULDBLOCK && errno != EINTR) {
                                r = -errno;
                                break;
                        }
                if (r < 0 || monotonic_ms() >= deadline) {
                        r = r < 0 ? r : -ETIMEDOUT;
                        break;
                }
                (void) nanosleep(&(struct timespec) { .tv_nsec = SLOT_RETRY_MS * 1000000L }, NULL);
        }
        for (unsigned i = 0; i < OFFLINE_SLOTS; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        return r;
}
