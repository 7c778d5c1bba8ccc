/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "log.h"
#include "login.h"
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

/* What a record sink was given, and what the journal would have been sent. */
static char rec_id[64], rec_line[2048], rec_fields[4096];
static int rec_priority, rec_answer;
static unsigned records;

static int record_sink(void *userdata, int priority, const char *message_id, const struct log_field *fields,
                       size_t n_fields, const char *message) {
        size_t n = 0;

        records++;
        rec_priority = priority;
        snprintf(rec_id, sizeof(rec_id), "%s", message_id);
        snprintf(rec_line, sizeof(rec_line), "%s", message);
        rec_fields[0] = 0;
        for (size_t i = 0; i < n_fields && n < sizeof(rec_fields); i++)
                if (fields[i].value)
                        n += (size_t) snprintf(rec_fields + n, sizeof(rec_fields) - n, "%s=%s|", fields[i].name,
                                               fields[i].value);
        return rec_answer;
}

static char sent[8192];
static int sent_n;

/* Stands in for sd_journal_sendv: one "|"-separated string of the entries. */
static int capture_sender(const struct iovec *iov, int n) {
        size_t k = 0;

        sent_n = n;
        sent[0] = 0;
        for (int i = 0; i < n; i++) {
                CHECK(memchr(iov[i].iov_base, '\n', iov[i].iov_len) == NULL);
                if (k >= sizeof(sent))
                        continue;
                k += (size_t) snprintf(sent + k, sizeof(sent) - k, "%.*s|", (int) iov[i].iov_len,
                                       (const char *) iov[i].iov_base);
        }
        return 0;
}

static void test_record(void) {
        struct logger plain = { .sink = sink }, rich = { .sink = sink, .record = record_sink };
        const struct log_field f[] = { { "CLOUDAUTH_USER", "alice" }, { "CLOUDAUTH_RHOST", NULL } };

        /* Without a record sink a record is its line. */
        lines = records = 0;
        log_record(&plain, LOG_NOTICE, LOG_ID_LOGIN_SUCCESS, f, ELEMENTSOF(f), "user=%s result=%s", "alice", "ok");
        CHECK_INT(lines, 1);
        CHECK_STR(last, "user=alice result=ok");

        /* With one, the record carries the same line and nothing else is logged. */
        rec_answer = 0;
        log_record(&rich, LOG_WARNING, LOG_ID_LOGIN_REFUSED, f, ELEMENTSOF(f), "user=%s", "a\nb");
        CHECK_INT(lines, 1);
        CHECK_INT(records, 1);
        CHECK_STR(rec_line, "user=a?b");
        CHECK_STR(rec_id, LOG_ID_LOGIN_REFUSED);
        CHECK_STR(rec_fields, "CLOUDAUTH_USER=alice|");
        CHECK_INT(rec_priority, LOG_WARNING);

        /* A record the journal did not take is still the syslog line. */
        rec_answer = -ECONNREFUSED;
        log_record(&rich, LOG_ERR, LOG_ID_LOGIN_UNAVAILABLE, f, ELEMENTSOF(f), "user=%s", "bob");
        CHECK_INT(records, 2);
        CHECK_INT(lines, 2);
        CHECK_STR(last, "user=bob");
        rec_answer = 0;

        /* Debug records stay dropped unless debug is set. */
        log_record(&rich, LOG_DEBUG, LOG_ID_LOGIN_SUCCESS, f, 0, "quiet");
        CHECK_INT(records, 2);
}

static void test_journal_send(void) {
        const struct log_field f[] = {
                { "CLOUDAUTH_USER", "mallory\nMESSAGE_ID=00000000000000000000000000000000" },
                { "CLOUDAUTH_RHOST", NULL },
                { "CLOUDAUTH_FLOW", "password" },
        };
        struct log_field many[LOG_FIELDS_MAX + 1];
        char big[4096], name[65];

        CHECK_INT(log_journal_send(capture_sender, "cloudauth-auth", LOG_AUTHPRIV, LOG_WARNING, LOG_ID_LOGIN_REFUSED,
                                   f, ELEMENTSOF(f), "user=mallory?MESSAGE_ID=0 result=denied"),
                  0);
        /* A value's newline cannot start a field of its own; an unset value is no entry. */
        CHECK_INT(sent_n, 7);
        CHECK_STR(sent, "MESSAGE=user=mallory?MESSAGE_ID=0 result=denied|MESSAGE_ID=" LOG_ID_LOGIN_REFUSED
                        "|PRIORITY=4|SYSLOG_FACILITY=10|SYSLOG_IDENTIFIER=cloudauth-auth|"
                        "CLOUDAUTH_USER=mallory?MESSAGE_ID=00000000000000000000000000000000|CLOUDAUTH_FLOW=password|");

        /* Names journald would refuse or treat as its own, and too many fields, are errors. */
        CHECK_INT(log_journal_send(capture_sender, "x", LOG_AUTHPRIV, LOG_ERR, LOG_ID_LOGIN_REFUSED,
                                   &(struct log_field) { "_PID", "1" }, 1, "m"),
                  -EINVAL);
        CHECK_INT(log_journal_send(capture_sender, "x", LOG_AUTHPRIV, LOG_ERR, LOG_ID_LOGIN_REFUSED,
                                   &(struct log_field) { "user", "1" }, 1, "m"),
                  -EINVAL);
        for (size_t i = 0; i < ELEMENTSOF(many); i++)
                many[i] = (struct log_field) { "CLOUDAUTH_X", "1" };
        CHECK_INT(log_journal_send(capture_sender, "x", LOG_AUTHPRIV, LOG_ERR, LOG_ID_LOGIN_REFUSED, many,
                                   ELEMENTSOF(many), "m"),
                  -E2BIG);

        /* Every field at its longest still fits, each cut at its bound. */
        memset(big, 'v', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        memset(name, 'N', sizeof(name) - 1);
        name[sizeof(name) - 1] = 0;
        for (size_t i = 0; i < LOG_FIELDS_MAX; i++)
                many[i] = (struct log_field) { name, big };
        CHECK_INT(log_journal_send(capture_sender, big, LOG_AUTHPRIV, LOG_ERR, LOG_ID_LOGIN_REFUSED, many,
                                   LOG_FIELDS_MAX, big),
                  0);
        CHECK_INT(sent_n, 5 + LOG_FIELDS_MAX);
}

/* The decision record of each kind of login result. */
static void test_login_decision(void) {
        struct logger l = { .sink = sink, .record = record_sink };
        char *roles[] = { "admin", "ops", NULL };
        struct identity id = { .username = "alice", .issuer = "https://idp.example", .subject = "sub-1" };
        struct login_result ok = { .status = LOGIN_OK, .identity = &id, .roles = roles, .allowed = true,
                                   .access_reason = "group admins", .uid = 60001, .n_requests = 2 };
        struct login_result refused = { .status = LOGIN_BAD_CREDENTIALS, .reason = "wrong password", .n_requests = 1 };
        struct login_result down = { .status = LOGIN_UNAVAILABLE, .reason = "provider unreachable" };

        lines = 0;
        login_result_log(&l, "Alice", "password", &ok);
        CHECK_STR(rec_id, LOG_ID_LOGIN_SUCCESS);
        CHECK_INT(rec_priority, LOG_NOTICE);
        CHECK_STR(rec_line, "user=Alice flow=password result=success local_user=alice uid=60001 allowed=yes "
                            "access=\"group admins\" roles=admin,ops requests=2");
        CHECK_STR(rec_fields, "CLOUDAUTH_USER=Alice|CLOUDAUTH_FLOW=password|CLOUDAUTH_RESULT=success|"
                              "CLOUDAUTH_REASON=group admins|CLOUDAUTH_LOCAL_USER=alice|CLOUDAUTH_UID=60001|"
                              "CLOUDAUTH_SUBJECT=sub-1|CLOUDAUTH_ISSUER=https://idp.example|"
                              "CLOUDAUTH_ROLES=admin,ops|CLOUDAUTH_REQUESTS=2|");

        ok.allowed = false;
        ok.access_reason = "no allow rule matched";
        ok.uid = 0;
        login_result_log(&l, "alice", "device", &ok);
        CHECK_STR(rec_id, LOG_ID_LOGIN_NOT_ALLOWED);
        CHECK(strstr(rec_fields, "CLOUDAUTH_RESULT=not-allowed|CLOUDAUTH_REASON=no allow rule matched|"));
        CHECK(!strstr(rec_fields, "CLOUDAUTH_UID="));

        login_result_log(&l, "bob", "password", &refused);
        CHECK_STR(rec_id, LOG_ID_LOGIN_REFUSED);
        CHECK_INT(rec_priority, LOG_WARNING);
        CHECK_STR(rec_line, "user=bob flow=password result=denied reason=\"wrong password\" requests=1");
        CHECK_STR(rec_fields, "CLOUDAUTH_USER=bob|CLOUDAUTH_FLOW=password|CLOUDAUTH_RESULT=denied|"
                              "CLOUDAUTH_REASON=wrong password|CLOUDAUTH_REQUESTS=1|");

        login_result_log(&l, "bob", "password", &down);
        CHECK_STR(rec_id, LOG_ID_LOGIN_UNAVAILABLE);
        CHECK_INT(rec_priority, LOG_ERR);
        CHECK(strstr(rec_fields, "CLOUDAUTH_RESULT=unavailable|"));
        CHECK_INT(lines, 0);
}

int main(void) {
        RUN(test_one_line);
        RUN(test_debug);
        RUN(test_long);
        RUN(test_record);
        RUN(test_journal_send);
        RUN(test_login_decision);
        return tests_exit();
}
