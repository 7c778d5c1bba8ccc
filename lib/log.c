/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "log.h"

#define LOG_LINE_MAX 1024

void log_emitv(const struct logger *log, int priority, const char *fmt, va_list ap) {
        char line[LOG_LINE_MAX];

        if (!log || !log->sink)
                return;
        if (priority >= LOG_DEBUG && !log->debug)
                return;

        vsnprintf(line, sizeof(line), fmt, ap);
        /* One decision, one line: never let a value break the line apart. */
        for (char *p = line; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        *p = '?';
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
