/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A minimal harness: each check prints FILE:LINE and the values when it
 * fails and the program exits non-zero at the end if any did.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned tests_failed;
static unsigned tests_checked;

#define CHECK(expr)                                                                     \
        do {                                                                            \
                tests_checked++;                                                        \
                if (!(expr)) {                                                          \
                        tests_failed++;                                                 \
                        fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__,      \
                                __LINE__, __func__, #expr);                             \
                }                                                                       \
        } while (0)

#define CHECK_INT(a, b)                                                                 \
        do {                                                                            \
                long long _a = (long long) (a), _b = (long long) (b);                   \
                tests_checked++;                                                        \
                if (_a != _b) {                                                         \
                        tests_failed++;                                                 \
                        fprintf(stderr, "%s:%d: %s: %s == %lld, expected %s == %lld\n", \
                                __FILE__, __LINE__, __func__, #a, _a, #b, _b);          \
                }                                                                       \
        } while (0)

#define CHECK_STR(a, b)                                                                 \
        do {                                                                            \
                const char *_a = (a), *_b = (b);                                        \
                tests_checked++;                                                        \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                                \
                        tests_failed++;                                                 \
                        fprintf(stderr, "%s:%d: %s: %s == \"%s\", expected \"%s\"\n",   \
                                __FILE__, __LINE__, __func__, #a, _a ? _a : "(null)",   \
                                _b ? _b : "(null)");                                    \
                }                                                                       \
        } while (0)

#define RUN(fn)                                                                         \
        do {                                                                            \
                unsigned _before = tests_failed;                                        \
                fn();                                                                   \
                fprintf(stderr, "%s %s\n", tests_failed == _before ? "ok  " : "FAIL", #fn); \
        } while (0)

static inline int tests_exit(void) {
        fprintf(stderr, "%u checks, %u failed\n", tests_checked, tests_failed);
        return tests_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Read a whole file from TEST_DATA_DIR; aborts the test program when missing. */
static inline char *tests_read_data(const char *name, size_t *ret_len) {
        char path[4096];
        FILE *f;
        char *buf;
        long n;

        snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, name);
        f = fopen(path, "rbe");
        if (!f) {
                fprintf(stderr, "cannot open %s\n", path);
                exit(EXIT_FAILURE);
        }
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = malloc((size_t) n + 1);
        if (!buf || fread(buf, 1, (size_t) n, f) != (size_t) n)
                exit(EXIT_FAILURE);
        buf[n] = 0;
        fclose(f);
        if (ret_len)
                *ret_len = (size_t) n;
        return buf;
}
