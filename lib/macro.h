/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _public_ __attribute__((visibility("default")))
#define _warn_unused_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Hand ownership out of a cleanup-managed variable. */
#define TAKE_PTR(p)                       \
        __extension__({                   \
                __typeof__(p) _take_ = (p); \
                (p) = NULL;               \
                _take_;                   \
        })

#define TAKE_FD(fd)                       \
        __extension__({                   \
                int _take_fd_ = (fd);     \
                (fd) = -1;                \
                _take_fd_;                \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* A NULL-terminated vector of heap strings. */
static inline void strv_free(char **v) {
        if (!v)
                return;
        for (char **i = v; *i; i++)
                free(*i);
        free(v);
}
static inline void strv_freep(char ***v) {
        strv_free(*v);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)

static inline size_t strv_length(char *const *v) {
        size_t n = 0;
        if (v)
                while (v[n])
                        n++;
        return n;
}

/* A deep copy; NULL copies as an empty list. */
static inline int strv_dup(char *const *v, char ***ret) {
        size_t n = strv_length(v);
        char **r = calloc(n + 1, sizeof(char *));

        if (!r)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(r[i] = strdup(v[i]))) {
                        strv_free(r);
                        return -ENOMEM;
                }
        *ret = r;
        return 0;
}

static inline const char *strempty(const char *s) {
        return s ? s : "";
}

static inline const char *strna(const char *s) {
        return s ? s : "n/a";
}

static inline int streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

#define streq(a, b) (strcmp((a), (b)) == 0)
