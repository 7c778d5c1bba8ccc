/* SPDX-License-Identifier: MIT */
#include "log.h"
#include "tests.h"

static char last[2048];
static int last_priority;
static unsigned lines;

static void sink(void *userdata, int priority, const char *message) {
        snprintf(last, sizeof(last), "%s", message);
        last_priority = priority;
        lines++;
}

static void test_one_line(void) {
        struct logger l = { .sink = sink };

        /* A value from outside must never split the line or move the terminal. */
        log_err(&l, "user=%s result=%s", "evil\nuser=root result=success", "denied\x1b[2J");
        CHECK_INT(lines, 1);
        CHECK_STR(last, "user=evil?user=root result=success result=denied?[2J");
        CHECK_INT(last_priority, LOG_ERR);
}

static void test_debug(void) {
        struct logger quiet = { .sink = sink }, loud = { .sink = sink, .debug = true };

        lines = 0;
        log_debug(&quiet, "not shown");
        CHECK_INT(lines, 0);
        log_debug(&loud, "shown %d", 1);
        CHECK_INT(lines, 1);
        CHECK_STR(last, "shown 1");
        CHECK_INT(log_error_errno(&quiet, -EIO, "failed: %s", "io"), -EIO);
        CHECK_STR(last, "failed: io");
        /* No logger or no sink: nothing, no crash. */
        log_err(NULL, "x");
        log_err(&(struct logger) { 0 }, "x");
}

static void test_long(void) {
        struct logger l = { .sink = sink };
        char big[4096];

        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        log_info(&l, "%s", big);
        CHECK(strlen(last) < 1024);
}

int main(void) {
        RUN(test_one_line);
        RUN(test_debug);
        RUN(test_long);
        return tests_exit();
}
