/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

/* A user record as read from STATE_DIR/users: whatever it holds, a record comes out whole or not at all. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct cache_user *u = NULL;
        char *text = malloc(size + 1);

        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        if (cache_user_parse(text, size, &u) >= 0) {
                if (!u || !u->username || !u->idp_username || !u->subject_key)
                        abort();
                for (size_t i = 0; i < u->n_groups; i++)
                        if (!u->groups[i].name)
                                abort();
                cache_user_free(u);
        } else if (u)
                abort();
        free(text);
        return 0;
}
