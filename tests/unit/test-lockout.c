/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "lockout.h"
#include "sha256.h"
#include "tests.h"

#define NOW ((time_t) 1700000000)
#define MIN 60

static const struct logger quiet_log = { 0 };
static char tmp_root[] = "/tmp/test-lockout-XXXXXX";
static unsigned n_states;

/* The defaults (5 in 15 min lock for 15 min) with a fresh state directory. */
static struct cloudauth_config *config_make(void) {
        struct cloudauth_config *c = NULL;
        char path[512];

        snprintf(path, sizeof(path), "%s/state%u", tmp_root, n_states++);
        if (config_new_defaults(&c) < 0) {
                fprintf(stderr, "out of memory\n");
                exit(EXIT_FAILURE);
        }
        free(c->state_dir);
        c->state_dir = strdup(path);
        return c;
}

static unsigned files_in(const struct cloudauth_config *c) {
        char dir[600];
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

        snprintf(dir, sizeof(dir), "%s/lockout", c->state_dir);
        d = opendir(dir);
        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

static void fail_n(const struct cloudauth_config *c, const char *name, unsigned n, time_t at,
                   struct lockout_state *ret) {
        for (unsigned i = 0; i < n; i++)
                CHECK_INT(lockout_record_failure(c, &quiet_log, name, at, ret), 0);
}

static void test_lock_after_attempts(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make();
        struct lockout_state s;

        CHECK_INT(lockout_get(c, &quiet_log, "alice@example.com", NOW, &s), 0);
        CHECK_INT(s.failures, 0);
        CHECK_INT(s.locked_until, 0);

        fail_n(c, "alice@example.com", 4, NOW, &s);
        CHECK_INT(s.failures, 4);
        CHECK_INT(s.locked_until, 0);
        CHECK_INT(lockout_get(c, &quiet_log, "alice@example.com", NOW + 1, &s), 0);
        CHECK_INT(s.failures, 4);
        CHECK_INT(s.locked_until, 0);

        CHECK_INT(lockout_record_failure(c, &quiet_log, "alice@example.com", NOW + 10, &s), 0);
        CHECK_INT(s.failures, 5);
        CHECK_INT(s.locked_until, NOW + 10 + 15 * MIN);

        /* Locked until the end, then free again with a fresh count. */
        CHECK_INT(lockout_get(c, &quiet_log, "alice@example.com", NOW + 10 + 15 * MIN - 1, &s), 0);
        CHECK_INT(s.locked_until, NOW + 10 + 15 * MIN);
        CHECK_INT(lockout_get(c, &quiet_log, "alice@example.com", NOW + 10 + 15 * MIN, &s), 0);
        CHECK_INT(s.locked_until, 0);
        CHECK_INT(s.failures, 0);

        /* One failure after a lock is one failure, not a sixth. */
        CHECK_INT(lockout_record_failure(c, &quiet_log, "alice@example.com", NOW + 20 * MIN, &s), 0);
        CHECK_INT(s.failures, 1);
        CHECK_INT(s.locked_until, 0);

        /* Another account is not touched. */
        CHECK_INT(lockout_get(c, &quiet_log, "bob@example.com", NOW + 10, &s), 0);
        CHECK_INT(s.failures, 0);
        CHECK_INT(s.locked_until, 0);
}

static void test_window_slides(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make();
        struct lockout_state s;

        /* Four failures, then one per 5 minutes: never five within 15 minutes of each other. */
        fail_n(c, "alice@example.com", 2, NOW, &s);
        fail_n(c, "alice@example.com", 2, NOW + 10 * MIN, &s);
        CHECK_INT(s.failures, 4);
        CHECK_INT(lockout_get(c, &quiet_log, "alice@example.com", NOW + 15 * MIN, &s), 0);
        CHECK_INT(s.failures, 2);
        CHECK_INT(lockout_record_failure(c, &quiet_log, "alice@example.com", NOW + 15 * MIN, &s), 0);
        CHECK_INT(s.failures, 3);
        CHECK_INT(s.locked_until, 0);
        fail_n(c, "alice@example.com", 2, NOW + 16 * MIN, &s);
        CHECK_INT(s.failures, 5);
        CHECK_INT(s.locked_until, NOW + 31 * MIN);
}

static void test_success_and_unlock(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make();
        struct lockout_state s;

        fail_n(c, "alice@example.com", 4, NOW, &s);
        CHECK_INT(lockout_record_success(c, &quiet_log, "alice@example.com"), 0);
        CHECK_INT(lockout_get(c, &quiet_log, "alice@example.com", NOW, &s), 0);
        CHECK_INT(s.failures, 0);
        CHECK_INT(files_in(c), 0);
        /* A success with nothing counted writes nothing. */
        CHECK_INT(lockout_record_success(c, &quiet_log, "carol@example.com"), 0);
        CHECK_INT(files_in(c), 0);

        fail_n(c, "alice@example.com", 5, NOW, &s);
        CHECK(s.locked_until > NOW);
        CHECK_INT(lockout_unlock(c, &quiet_log, "alice@example.com"), 1);
        CHECK_INT(lockout_get(c, &quiet_log, "alice@example.com", NOW, &s), 0);
        CHECK_INT(s.failures, 0);
        CHECK_INT(s.locked_until, 0);
        CHECK_INT(lockout_unlock(c, &quiet_log, "alice@example.com"), 0);
}

static void test_name_is_case_blind(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make();
        struct lockout_state s;
        char path[700], hex[2 * SHA256_DIGEST_SIZE + 1];
        uint8_t d[SHA256_DIGEST_SIZE];
        struct stat st;

        fail_n(c, "Alice@Example.COM", 3, NOW, &s);
        fail_n(c, "alice@example.com", 2, NOW, &s);
        CHECK_INT(s.locked_until, NOW + 15 * MIN);
        CHECK_INT(files_in(c), 1);

        /* The file is the hex SHA-256 of the lowercased name, root's and 0600, in a 0700 directory. */
        sha256("alice@example.com", strlen("alice@example.com"), d);
        for (size_t i = 0; i < sizeof(d); i++)
                snprintf(hex + 2 * i, 3, "%02x", d[i]);
        snprintf(path, sizeof(path), "%s/lockout/%s", c->state_dir, hex);
        CHECK_INT(stat(path, &st), 0);
        CHECK_INT(st.st_mode & 07777, 0600);
        CHECK_INT(st.st_uid, geteuid());
        snprintf(path, sizeof(path), "%s/lockout", c->state_dir);
        CHECK_INT(stat(path, &st), 0);
        CHECK_INT(st.st_mode & 07777, 0700);
}

static void test_old_files_pruned(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make();
        struct lockout_state s;
        char name[64];

        /* A spray of names leaves one small file each... */
        for (unsigned i = 0; i < 50; i++) {
                snprintf(name, sizeof(name), "nobody%u@example.com", i);
                CHECK_INT(lockout_record_failure(c, &quiet_log, name, NOW + i, &s), 0);
        }
        CHECK_INT(files_in(c), 50);
        /* ...which the next writer removes once window + duration have passed. */
        CHECK_INT(lockout_record_failure(c, &quiet_log, "alice@example.com", NOW + 30 * MIN + 25, &s), 0);
        CHECK_INT(files_in(c), 1 + 50 - 25);
        CHECK_INT(lockout_record_failure(c, &quiet_log, "alice@example.com", NOW + 31 * MIN, &s), 0);
        CHECK_INT(files_in(c), 1);
        CHECK_INT(s.failures, 2);
}

static void test_config(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make();
        static const char good[] = "[lockout]\nattempts = 3\nwindow = 10m\nduration = 1h\n";
        static const char *const bad[] = {
                "[lockout]\nattempts = 101\n", "[lockout]\nattempts = -1\n", "[lockout]\nattempts = many\n",
                "[lockout]\nwindow = 0\n",     "[lockout]\nwindow = 2d\n",   "[lockout]\nduration = 5x\n",
                "[lockout]\nmax = 3\n",
        };

        CHECK_INT(c->lockout_attempts, 5);
        CHECK_INT(c->lockout_window, 15 * MIN);
        CHECK_INT(c->lockout_duration, 15 * MIN);
        CHECK_INT(config_parse_text(c, "t.conf", good, strlen(good), &quiet_log), 0);
        CHECK_INT(c->lockout_attempts, 3);
        CHECK_INT(c->lockout_window, 10 * MIN);
        CHECK_INT(c->lockout_duration, 3600);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_config_ struct cloudauth_config *b = config_make();

                CHECK(config_parse_text(b, "t.conf", bad[i], strlen(bad[i]), &quiet_log) < 0);
        }
}

static void test_attempts_zero_is_off(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make();
        struct lockout_state s;

        c->lockout_attempts = 0;
        fail_n(c, "alice@example.com", 20, NOW, &s);
        CHECK_INT(s.locked_until, 0);
        CHECK_INT(files_in(c), 0);
}

static void test_corrupt_file(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make();
        static const char *const texts[] = { "", "1 0 x\n", "2 0\n", "1 0 5", "1 -3\n", "garbage\n" };
        struct lockout_state s;
        char path[700], hex[2 * SHA256_DIGEST_SIZE + 1];
        uint8_t d[SHA256_DIGEST_SIZE];

        CHECK_INT(lockout_record_failure(c, &quiet_log, "alice@example.com", NOW, &s), 0);
        sha256("alice@example.com", strlen("alice@example.com"), d);
        for (size_t i = 0; i < sizeof(d); i++)
                snprintf(hex + 2 * i, 3, "%02x", d[i]);
        snprintf(path, sizeof(path), "%s/lockout/%s", c->state_dir, hex);
        for (size_t i = 1; i < ELEMENTSOF(texts); i++) {
                int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

                CHECK(fd >= 0 && write(fd, texts[i], strlen(texts[i])) == (ssize_t) strlen(texts[i]));
                close(fd);
                s = (struct lockout_state) { .failures = 42 };
                CHECK_INT(lockout_get(c, &quiet_log, "alice@example.com", NOW, &s), -EBADMSG);
                CHECK_INT(s.failures, 42);
                /* A writer starts the count again instead of failing every login. */
                CHECK_INT(lockout_record_failure(c, &quiet_log, "alice@example.com", NOW, &s), 0);
                CHECK_INT(s.failures, 1);
        }
        /* Group- or world-readable: not trusted. */
        CHECK_INT(chmod(path, 0644), 0);
        CHECK(lockout_get(c, &quiet_log, "alice@example.com", NOW, &s) < 0);
        CHECK(lockout_record_failure(c, &quiet_log, "alice@example.com", NOW, &s) < 0);
}

/* Writers in parallel lose no failure: the lock is on the file that is there, not on one replaced. */
static void test_concurrent_writers(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make();
        struct lockout_state s;
        pid_t pids[8];

        c->lockout_attempts = 100;
        /* The directory first, so that no child races to create it. */
        CHECK_INT(lockout_record_failure(c, &quiet_log, "alice@example.com", NOW, &s), 0);
        for (size_t i = 0; i < ELEMENTSOF(pids); i++) {
                pids[i] = fork();
                if (pids[i] == 0) {
                        int status = 0;

                        for (unsigned k = 0; k < 10 && status == 0; k++)
                                if (lockout_record_failure(c, &quiet_log, "alice@example.com", NOW, NULL) < 0)
                                        status = 1;
                        /* Freed before _exit, so that valgrind finds nothing lost in the child either. */
                        config_free(TAKE_PTR(c));
                        _exit(status);
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(pids); i++) {
                int status = -1;

                CHECK(pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i]);
                CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        CHECK_INT(lockout_get(c, &quiet_log, "alice@example.com", NOW, &s), 0);
        CHECK_INT(s.failures, 81);
        CHECK_INT(s.locked_until, 0);
}

int main(void) {
        char cmd[128];

        if (!mkdtemp(tmp_root)) {
                perror("mkdtemp");
                return EXIT_FAILURE;
        }
        RUN(test_lock_after_attempts);
        RUN(test_window_slides);
        RUN(test_success_and_unlock);
        RUN(test_name_is_case_blind);
        RUN(test_old_files_pruned);
        RUN(test_config);
        RUN(test_attempts_zero_is_off);
        RUN(test_corrupt_file);
        RUN(test_concurrent_writers);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", tmp_root);
        return tests_exit();
}
