/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Any JWKS document either yields at most JWKS_MAX_KEYS complete keys or an error, and frees cleanly. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct jwks *k = NULL;
        int r;

        r = jwks_parse((const char *) data, size, &k);
        if (r == 0) {
                if (!k || k->n_keys == 0 || k->n_keys > JWKS_MAX_KEYS)
                        abort();
                for (size_t i = 0; i < k->n_keys; i++)
                        if (!k->keys[i].pkey || !k->keys[i].kty)
                                abort();
                jwks_free(k);
        } else if (k || (r != -EBADMSG && r != -ENOKEY && r != -ENOMEM))
                abort();
        return 0;
}
