/* SPDX-License-Identifier: MIT */
#include <openssl/crypto.h>

#include "secret.h"

bool secret_equal(const void *a, size_t a_len, const void *b, size_t b_len) {
        if (a_len != b_len)
                return false;
        if (a_len == 0)
                return true;
        return CRYPTO_memcmp(a, b, a_len) == 0;
}

char *secret_strdup(const char *s) {
        return s ? strdup(s) : NULL;
}
