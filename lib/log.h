/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>
#include <syslog.h>

#include "macro.h"

/*
 * lib never decides where messages go: callers hand in a logger. The PAM
 * module sends them to syslog (LOG_AUTHPRIV), cloudauthctl to stderr.
 * Priorities are syslog's. LOG_DEBUG lines are dropped unless debug is set.
 * No message may ever contain a password, a secret or a whole token.
 */
typedef void (*log_sink_t)(void *userdata, int priority, const char *message);

/* One structured value of a record. name: a journal field name (A-Z, 0-9, '_'); value NULL: left out. */
struct log_field {
        const char *name;
        const char *value;
};

/* At most this many fields in one record, the sink's own included. */
#define LOG_FIELDS_MAX 24

/*
 * Receives a record (see log_record): its MESSAGE_ID, its fields as given,
 * and the same one line a plain sink would get. Returns < 0 when the record
 * could not be delivered; log_record then hands the line to sink.
 */
typedef int (*log_record_sink_t)(void *userdata, int priority, const char *message_id,
                                 const struct log_field *fields, size_t n_fields, const char *message);

struct logger {
        log_sink_t sink;
        log_record_sink_t record; /* NULL: records are plain lines */
        void *userdata;
        bool debug;
};

void log_emit(const struct logger *log, int priority, const char *fmt, ...) _printf_(3, 4);
void log_emitv(const struct logger *log, int priority, const char *fmt, va_list ap) _printf_(3, 0);

/* Log at priority and return the (negative errno) value r, for one-statement error paths. */
int log_error_errno(const struct logger *log, int r, const char *fmt, ...) _printf_(3, 4);

/*
 * A decision: the one line of fmt, and the same as a structured record with a
 * fixed 128-bit message_id (32 lowercase hex digits) when the logger has a
 * record sink. Values in fields must never be secrets.
 */
void log_record(const struct logger *log, int priority, const char *message_id, const struct log_field *fields,
                size_t n_fields, const char *fmt, ...) _printf_(6, 7);

/*
 * The MESSAGE_ID of each kind of login decision (cloudauth-journal(7)):
 * fixed for good, since administrators alert on them.
 */
#define LOG_ID_LOGIN_SUCCESS "be6eb778e41f449dbd9a5d50f045209c"
#define LOG_ID_LOGIN_SUCCESS_OFFLINE "e84302f4bb6f497b87b4afe880cb80e4"
#define LOG_ID_LOGIN_REFUSED "cc2f5a8fff58437895696cbd68ad33e5"
#define LOG_ID_LOGIN_LOCKED "c37e5b6fd48b40d2ae9188136e0f902c"
#define LOG_ID_LOGIN_UNAVAILABLE "54fe07803fe04cf681b0fe52a6267c53"
#define LOG_ID_LOGIN_NOT_ALLOWED "8b73e0d77a6b4247997b3ca994ad2e5f"

#define log_err(l, ...) log_emit((l), LOG_ERR, __VA_ARGS__)
#define log_warn(l, ...) log_emit((l), LOG_WARNING, __VA_ARGS__)
#define log_notice(l, ...) log_emit((l), LOG_NOTICE, __VA_ARGS__)
#define log_info(l, ...) log_emit((l), LOG_INFO, __VA_ARGS__)
#define log_debug(l, ...) log_emit((l), LOG_DEBUG, __VA_ARGS__)

/* A logger that prints "cloudauth: message" lines to stderr. */
void log_sink_stderr(void *userdata, int priority, const char *message);

/* Where journald listens for native records; it exists exactly when journald runs. */
#define LOG_JOURNAL_SOCKET "/run/systemd/journal/socket"

/* Whether journald runs: one access(2), cheap enough for every call. */
bool log_journal_runs(void);

/* Sends the journal's entries as sd_journal_sendv does: one iovec per FIELD=value. */
typedef int (*log_journal_sender_t)(const struct iovec *iov, int n);

/*
 * A record in the journal's form, handed to send: MESSAGE, MESSAGE_ID,
 * PRIORITY, SYSLOG_FACILITY (facility as in LOG_AUTHPRIV), SYSLOG_IDENTIFIER,
 * then the fields whose value is set. Every value is made one line of
 * printable characters and bounded, as log lines are. Returns send's result,
 * -EINVAL for a bad field name, -E2BIG for too many fields.
 */
int log_journal_send(log_journal_sender_t send, const char *identifier, int facility, int priority,
                     const char *message_id, const struct log_field *fields, size_t n_fields, const char *message);
