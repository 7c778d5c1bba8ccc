/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 1024
/* A journal field's value; the longest we send is an issuer URL or a subject. */
#define LOG_VALUE_MAX 512
/* journald's own limit on field names. */
#define LOG_FIELD_NAME_MAX 64
/* MESSAGE, MESSAGE_ID, PRIORITY, SYSLOG_FACILITY, SYSLOG_IDENTIFIER. */
#define LOG_JOURNAL_FIXED 5

static bool log_wanted(const struct logger *log, int priority) {
        return log && log->sink && (priority < LOG_DEBUG || log->debug);
}

/* One decision, one line: never let a value break the line apart. */
static void log_line_format(char line[static LOG_LINE_MAX], const char *fmt, va_list ap) _printf_(2, 0);
static void log_line_format(char line[static LOG_LINE_MAX], const char *fmt, va_list ap) {
        vsnprintf(line, LOG_LINE_MAX, fmt, ap);
        for (char *p = line; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        *p = '?';
}

void log_emitv(const struct logger *log, int priority, const char *fmt, va_list ap) {
        char line[LOG_LINE_MAX];

        if (!log_wanted(log, priority))
                return;
        log_line_format(line, fmt, ap);
        log->sink(log->userdata, priority, line);
}

void log_record(const struct logger *log, int priority, const char *message_id, const struct log_field *fields,
                size_t n_fields, const char *fmt, ...) {
        char line[LOG_LINE_MAX];
        va_list ap;

        if (!log_wanted(log, priority))
                return;
        va_start(ap, fmt);
        log_line_format(line, fmt, ap);
        va_end(ap);
        /* The record is the line with its fields: when it cannot be delivered, the line still is. */
        if (log->record && log->record(log->userdata, priority, message_id, fields, n_fields, line) >= 0)
                return;
        log->sink(log->userdata, priority, line);
}

void log_emit(const struct logger *log, int priority, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_emitv(log, priority, fmt, ap);
        va_end(ap);
}

int log_error_errno(const struct logger *log, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_emitv(log, LOG_ERR, fmt, ap);
        va_end(ap);
        return r;
}

void log_sink_stderr(void *userdata, int priority, const char *message) {
        const char *prefix = "";

        if (priority <= LOG_ERR)
                prefix = "error: ";
        else if (priority == LOG_WARNING)
                prefix = "warning: ";
        fprintf(stderr, "cloudauth: %s%s\n", prefix, message);
}

bool log_journal_runs(void) {
        return access(LOG_JOURNAL_SOCKET, F_OK) == 0;
}

static bool log_field_name_valid(const char *name) {
        size_t n = strlen(name);

        /* A leading '_' is journald's own (trusted) field; a digit is no name. */
        if (n == 0 || n > LOG_FIELD_NAME_MAX || name[0] == '_' || (name[0] >= '0' && name[0] <= '9'))
                return false;
        return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

/* "NAME=value" into buf, the value one bounded line; the entry's length. */
static size_t log_journal_entry(char *buf, size_t size, const char *name, const char *value, size_t value_max) {
        size_t n = strlen(name), k = 0;

        if (n + 2 > size)
                return 0;
        memcpy(buf, name, n);
        buf[n++] = '=';
        for (; value[k] && k < value_max && n + 1 < size; k++)
                buf[n++] = (unsigned char) value[k] < 0x20 || value[k] == 0x7f ? '?' : value[k];
        buf[n] = 0;
        return n;
}

int log_journal_send(log_journal_sender_t send, const char *identifier, int facility, int priority,
                     const char *message_id, const struct log_field *fields, size_t n_fields, const char *message) {
        /* Every entry at its longest fits, so nothing is cut but by its own bound. */
        char buf[(LOG_JOURNAL_FIXED + LOG_FIELDS_MAX) * (LOG_FIELD_NAME_MAX + 2) + 2 * LOG_LINE_MAX +
                 LOG_FIELDS_MAX * LOG_VALUE_MAX];
        struct iovec iov[LOG_JOURNAL_FIXED + LOG_FIELDS_MAX];
        char number[16];
        size_t used = 0;
        int n = 0;

        if (n_fields > LOG_FIELDS_MAX)
                return -E2BIG;
        for (size_t i = 0; i < n_fields; i++)
                if (!fields[i].name || !log_field_name_valid(fields[i].name))
                        return -EINVAL;

#define ADD(name, value, max)                                                                          \
        do {                                                                                           \
                size_t _l = log_journal_entry(buf + used, sizeof(buf) - used, (name), (value), (max)); \
                if (_l == 0)                                                                           \
                        return -ENOBUFS;                                                               \
                iov[n++] = (struct iovec) { .iov_base = buf + used, .iov_len = _l };                   \
                used += _l + 1;                                                                        \
        } while (0)

        ADD("MESSAGE", message, 2 * LOG_LINE_MAX - 16);
        ADD("MESSAGE_ID", message_id, 32);
        snprintf(number, sizeof(number), "%d", priority & LOG_PRIMASK);
        ADD("PRIORITY", number, sizeof(number));
        snprintf(number, sizeof(number), "%d", (facility & LOG_FACMASK) >> 3);
        ADD("SYSLOG_FACILITY", number, sizeof(number));
        ADD("SYSLOG_IDENTIFIER", identifier, LOG_FIELD_NAME_MAX);
        for (size_t i = 0; i < n_fields; i++)
                if (fields[i].value)
                        ADD(fields[i].name, fields[i].value, LOG_VALUE_MAX);
#undef ADD
        return send(iov, n);
}
