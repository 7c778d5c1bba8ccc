/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>

#include "browser.h"

/*
 * The loopback callback parser sees whatever any local process sends to the
 * port. A code comes out only with a verdict of OK, and never otherwise.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        enum oauth_result res = _OAUTH_RESULT_MAX;
        const char *reason = NULL;
        char *code = NULL;
        int r;

        r = browser_parse_callback((const char *) data, size, "fuzz-state-0123456789", "https://127.0.0.1:1", &code,
                                   &res, &reason);
        if (r >= 0 && res == OAUTH_OK) {
                if (!code || !*code)
                        abort();
        } else if (code)
                abort();
        free(code);
        return 0;
}
