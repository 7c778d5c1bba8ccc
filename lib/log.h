/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

/*
 * lib never decides where messages go: callers hand in a logger. The PAM
 * module sends them to syslog (LOG_AUTHPRIV), cloudauthctl to stderr.
 * Priorities are syslog's. LOG_DEBUG lines are dropped unless debug is set.
 * No message may ever contain a password, a secret or a whole token.
 */
typedef void (*log_sink_t)(void *userdata, int priority, const char *message);

struct logger {
        log_sink_t sink;
        void *userdata;
        bool debug;
};

void log_emit(const struct logger *log, int priority, const char *fmt, ...) _printf_(3, 4);
void log_emitv(const struct logger *log, int priority, const char *fmt, va_list ap) _printf_(3, 0);

/* Log at priority and return the (negative errno) value r, for one-statement error paths. */
int log_error_errno(const struct logger *log, int r, const char *fmt, ...) _printf_(3, 4);

#define log_err(l, ...) log_emit((l), LOG_ERR, __VA_ARGS__)
#define log_warn(l, ...) log_emit((l), LOG_WARNING, __VA_ARGS__)
#define log_notice(l, ...) log_emit((l), LOG_NOTICE, __VA_ARGS__)
#define log_info(l, ...) log_emit((l), LOG_INFO, __VA_ARGS__)
#define log_debug(l, ...) log_emit((l), LOG_DEBUG, __VA_ARGS__)

/* A logger that prints "cloudauth: message" lines to stderr. */
void log_sink_stderr(void *userdata, int priority, const char *message);
