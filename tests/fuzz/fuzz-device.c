/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"

#define NOW ((time_t) 1700000000)

/* The first byte picks the HTTP status; most inputs go to the 200 path that parses a device answer. */
static const long statuses[] = { 200, 200, 200, 200, 400, 401, 500, 503, 404, 0 };

static void check_shown(const char *s, size_t max, int uri) {
        size_t n;

        if (!s)
                abort();
        n = strlen(s);
        if (n == 0 || n > max)
                abort();
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x21 || (unsigned char) s[i] > 0x7e)
                        abort();
        if (uri && strncmp(s, "https://", 8) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const struct device_authorization untouched = {0};
        struct device_authorization a = {0};
        enum oauth_result res = _OAUTH_RESULT_MAX;
        long status;

        if (size < 1)
                return 0;
        status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
        if (device_parse_authorization(status, (const char *) data + 1, size - 1, NOW, &a, &res) < 0)
                return 0;
        if (res >= _OAUTH_RESULT_MAX)
                abort();
        if (res != OAUTH_OK) {
                if (memcmp(&a, &untouched, sizeof(a)) != 0)
                        abort();
                return 0;
        }
        if (!a.device_code || !a.device_code[0])
                abort();
        check_shown(a.user_code, 64, 0);
        check_shown(a.verification_uri, 2048, 1);
        if (a.verification_uri_complete)
                check_shown(a.verification_uri_complete, 2048, 1);
        if (a.interval < DEVICE_INTERVAL_MIN || a.interval > DEVICE_INTERVAL_MAX)
                abort();
        if (a.expires_in < DEVICE_EXPIRES_MIN || a.expires_in > DEVICE_EXPIRES_MAX)
                abort();
        if (a.expires_at != NOW + (time_t) a.expires_in)
                abort();
        device_authorization_done(&a);
        return 0;
}
