/* SPDX-License-Identifier: MIT */
#include <stddef.h>
#include <stdint.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whatever the bytes, parsing and validation return cleanly and free everything. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct cloudauth_config *c = NULL;

        if (size > CONFIG_FILE_MAX)
                return 0;
        if (config_new_defaults(&c) < 0)
                return 0;
        (void) config_parse_text(c, "fuzz.conf", (const char *) data, size, NULL);
        (void) config_validate(c, NULL);
        config_free(c);
        return 0;
}
