/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct oidc_metadata *m = NULL;

        if (oidc_metadata_parse((const char *) data, size, "https://idp.example.com", &m) == 0) {
                if (!m || strcmp(m->issuer, "https://idp.example.com") != 0 || strncmp(m->token_endpoint, "https://", 8) != 0 ||
                    strncmp(m->jwks_uri, "https://", 8) != 0)
                        abort();
                oidc_metadata_free(m);
        } else if (m)
                abort();
        return 0;
}
