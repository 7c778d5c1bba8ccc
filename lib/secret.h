/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <stdlib.h>

/* Passwords, tokens and keys: wiped on every path, compared in constant time. */

static inline void secret_wipe(void *p, size_t n) {
        if (p && n > 0)
                explicit_bzero(p, n);
}

/* Wipe a NUL-terminated string, then free it. Accepts NULL. */
static inline void erase_and_free(char *s) {
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

static inline void erase_and_freep(char **s) {
        erase_and_free(*s);
}
#define _cleanup_erase_ _cleanup_(erase_and_freep)

/* Constant time in the length of both inputs; false when lengths differ. */
bool secret_equal(const void *a, size_t a_len, const void *b, size_t b_len);

/* strdup() whose failure path needs no special care by the caller. */
char *secret_strdup(const char *s);
