/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>

#include "oauth.h"

/* The first byte picks the HTTP status, so 200, 4xx and 5xx paths all get input. */
static const long statuses[] = { 200, 400, 401, 403, 429, 500, 503, 302, 201, 0 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct oauth_tokens t = { 0 };
        enum oauth_result res = _OAUTH_RESULT_MAX;
        char *error = NULL;
        long status;

        if (size < 1)
                return 0;
        status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
        if (oauth_parse_token_response(status, (const char *) data + 1, size - 1, &t, &res, &error) == 0) {
                if (res >= _OAUTH_RESULT_MAX)
                        abort();
                if (res == OAUTH_OK && (!t.id_token || !t.token_type))
                        abort();
                if (res != OAUTH_OK && t.id_token)
                        abort();
                (void) oauth_result_to_string(res);
        }
        oauth_tokens_done(&t);
        free(error);
        return 0;
}
