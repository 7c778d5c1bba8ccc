/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "offline.h"
#include "tests.h"

static const struct logger quiet_log = { 0 };

/* The smallest parameters the bounds allow: the tests check the logic, not the cost. */
static const struct offline_params small = { .time_cost = 1, .memory_kib = OFFLINE_MEMORY_KIB_MIN, .parallelism = 1 };
static const char *const subject = "oidc:https://idp.example:1b4e28ba-2fa1-11d2-883f-0016d3cca427";

static char state_dir[] = "/tmp/test-offline-XXXXXX";

static void key_of(uint8_t key[OFFLINE_KEY_SIZE], uint8_t fill) {
        memset(key, fill, OFFLINE_KEY_SIZE);
}

static void test_round_trip(void) {
        struct offline_verifier v, w;
        uint8_t key[OFFLINE_KEY_SIZE];

        key_of(key, 0x42);
        CHECK_INT(offline_verifier_make(key, subject, "correct horse", &small, 1700000000, &v), 0);
        CHECK_INT(v.created, 1700000000);
        CHECK_INT(offline_verifier_check(key, subject, "correct horse", &v), 1);
        CHECK_INT(offline_verifier_check(key, subject, "correct horsf", &v), 0);
        CHECK_INT(offline_verifier_check(key, subject, "", &v), 0);

        /* Two verifiers of one password differ: each has its own salt. */
        CHECK_INT(offline_verifier_make(key, subject, "correct horse", &small, 1700000000, &w), 0);
        CHECK(memcmp(v.salt, w.salt, sizeof(v.salt)) != 0);
        CHECK(memcmp(v.hash, w.hash, sizeof(v.hash)) != 0);
        CHECK_INT(offline_verifier_check(key, subject, "correct horse", &w), 1);
}

static void test_bound_to_key_and_subject(void) {
        struct offline_verifier v;
        uint8_t key[OFFLINE_KEY_SIZE], other[OFFLINE_KEY_SIZE];

        key_of(key, 0x42);
        key_of(other, 0x43);
        CHECK_INT(offline_verifier_make(key, subject, "pw", &small, 1, &v), 0);
        /* A record copied to another host, or to another person's record, verifies nothing. */
        CHECK_INT(offline_verifier_check(other, subject, "pw", &v), 0);
        CHECK_INT(offline_verifier_check(key, "oidc:https://idp.example:someone-else", "pw", &v), 0);
}

static void test_tampered(void) {
        struct offline_verifier v, t;
        uint8_t key[OFFLINE_KEY_SIZE];

        key_of(key, 1);
        CHECK_INT(offline_verifier_make(key, subject, "pw", &small, 1, &v), 0);

        t = v;
        t.hash[0] ^= 1;
        CHECK_INT(offline_verifier_check(key, subject, "pw", &t), 0);
        t = v;
        t.salt[5] ^= 0x80;
        CHECK_INT(offline_verifier_check(key, subject, "pw", &t), 0);
        t = v;
        t.params.time_cost = 2;
        CHECK_INT(offline_verifier_check(key, subject, "pw", &t), 0);

        /* Parameters out of bounds are refused before any memory is asked for. */
        t = v;
        t.params.memory_kib = OFFLINE_MEMORY_KIB_MAX + 1;
        CHECK_INT(offline_verifier_check(key, subject, "pw", &t), -EINVAL);
        t = v;
        t.params.time_cost = 0;
        CHECK_INT(offline_verifier_check(key, subject, "pw", &t), -EINVAL);
}

static void test_parameter_change(void) {
        const struct offline_params bigger = { .time_cost = 2, .memory_kib = 2 * OFFLINE_MEMORY_KIB_MIN, .parallelism = 1 };
        struct offline_verifier old, new;
        uint8_t key[OFFLINE_KEY_SIZE];

        key_of(key, 7);
        CHECK_INT(offline_verifier_make(key, subject, "pw", &small, 1, &old), 0);
        CHECK_INT(offline_verifier_make(key, subject, "pw", &bigger, 2, &new), 0);
        /* Each is checked with the parameters it carries, whatever is configured now. */
        CHECK_INT(offline_verifier_check(key, subject, "pw", &old), 1);
        CHECK_INT(offline_verifier_check(key, subject, "pw", &new), 1);
        CHECK_INT(new.params.time_cost, 2);
        CHECK_INT(new.params.memory_kib, 2 * OFFLINE_MEMORY_KIB_MIN);
}

static void test_json(void) {
        struct offline_verifier v, back = {0}, untouched;
        uint8_t key[OFFLINE_KEY_SIZE];
        json_t *o;

        key_of(key, 9);
        CHECK_INT(offline_verifier_make(key, subject, "pw", &small, 1234, &v), 0);
        o = offline_verifier_to_json(&v);
        CHECK(o != NULL);
        CHECK_INT(offline_verifier_from_json(o, &back), 0);
        CHECK(memcmp(&v, &back, sizeof(v)) == 0);
        CHECK_INT(offline_verifier_check(key, subject, "pw", &back), 1);

        memset(&untouched, 0x5a, sizeof(untouched));
        back = untouched;
        json_object_set_new(o, "memory_kib", json_integer((json_int_t) OFFLINE_MEMORY_KIB_MAX + 1));
        CHECK_INT(offline_verifier_from_json(o, &back), -EBADMSG);
        json_object_set_new(o, "memory_kib", json_integer(OFFLINE_MEMORY_KIB_MIN));
        json_object_set_new(o, "salt", json_string("c2hvcnQ"));
        CHECK_INT(offline_verifier_from_json(o, &back), -EBADMSG);
        json_object_del(o, "salt");
        CHECK_INT(offline_verifier_from_json(o, &back), -EBADMSG);
        json_decref(o);
        o = offline_verifier_to_json(&v);
        json_object_set_new(o, "algorithm", json_string("argon2i"));
        CHECK_INT(offline_verifier_from_json(o, &back), -EBADMSG);
        json_object_set_new(o, "algorithm", json_string("argon2id-keyed"));
        json_object_set_new(o, "created", json_string("yesterday"));
        CHECK_INT(offline_verifier_from_json(o, &back), -EBADMSG);
        json_decref(o);
        /* A parser that fails leaves its output alone. */
        CHECK(memcmp(&back, &untouched, sizeof(back)) == 0);
}

static void test_host_key(void) {
        uint8_t a[OFFLINE_KEY_SIZE], b[OFFLINE_KEY_SIZE];
        char path[256];
        struct stat st;
        int fd;

        snprintf(path, sizeof(path), "%s/host.key", state_dir);
        CHECK_INT(offline_host_key_load(state_dir, &quiet_log, false, a), -ENOENT);
        CHECK_INT(offline_host_key_load(state_dir, &quiet_log, true, a), 0);
        CHECK_INT(stat(path, &st), 0);
        CHECK_INT(st.st_mode & 07777, 0600);
        CHECK_INT(st.st_size, OFFLINE_KEY_SIZE);
        /* Made once: later loads, creating or not, read the same key. */
        CHECK_INT(offline_host_key_load(state_dir, &quiet_log, true, b), 0);
        CHECK(memcmp(a, b, sizeof(a)) == 0);
        CHECK_INT(offline_host_key_load(state_dir, &quiet_log, false, b), 0);
        CHECK(memcmp(a, b, sizeof(a)) == 0);

        /* A key others can read is no secret any more. */
        CHECK_INT(chmod(path, 0640), 0);
        CHECK(offline_host_key_load(state_dir, &quiet_log, true, b) < 0);
        CHECK_INT(chmod(path, 0600), 0);

        /* A key of the wrong length is refused, not padded or cut. */
        fd = open(path, O_WRONLY | O_APPEND);
        CHECK(fd >= 0);
        CHECK_INT(write(fd, "x", 1), 1);
        close(fd);
        CHECK(offline_host_key_load(state_dir, &quiet_log, false, b) < 0);
        CHECK_INT(truncate(path, OFFLINE_KEY_SIZE - 1), 0);
        CHECK_INT(offline_host_key_load(state_dir, &quiet_log, false, b), -EBADMSG);
        CHECK_INT(unlink(path), 0);

        CHECK_INT(symlink("/etc/hostname", path), 0);
        CHECK(offline_host_key_load(state_dir, &quiet_log, true, b) < 0);
        CHECK_INT(unlink(path), 0);
}

static void test_slots(void) {
        unsigned s1 = 99, s2 = 99, s3 = 99;
        int a, b, c;

        a = offline_slot_take(state_dir, &quiet_log, 0, &s1);
        b = offline_slot_take(state_dir, &quiet_log, 0, &s2);
        CHECK(a >= 0);
        CHECK(b >= 0);
        CHECK(s1 != s2);
        CHECK(s1 < OFFLINE_SLOTS && s2 < OFFLINE_SLOTS);
        /* Every slot is taken: the next one waits, then gives up. */
        CHECK_INT(offline_slot_take(state_dir, &quiet_log, 100, &s3), -ETIMEDOUT);
        CHECK_INT(s3, 99);
        close(a);
        c = offline_slot_take(state_dir, &quiet_log, 100, &s3);
        CHECK(c >= 0);
        CHECK_INT(s3, s1);
        close(b);
        close(c);
}

int main(void) {
        char cmd[128];

        if (!mkdtemp(state_dir)) {
                perror("mkdtemp");
                return EXIT_FAILURE;
        }
        RUN(test_round_trip);
        RUN(test_bound_to_key_and_subject);
        RUN(test_tampered);
        RUN(test_parameter_change);
        RUN(test_json);
        RUN(test_host_key);
        RUN(test_slots);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state_dir);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", state_dir);
        return tests_exit();
}
