/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "sha256.h"
#include "uidmap.h"

/*
 * The label makes user and group ids independent hashes even for equal
 * names, and the "\n" separators keep (scope, name) pairs unambiguous: an
 * issuer URL never contains a newline and neither does a validated name.
 */
static uint32_t uidmap_hash(const char *label, const char *scope, const char *name, uint32_t min, uint32_t max) {
        struct sha256_ctx c;
        uint8_t d[SHA256_DIGEST_SIZE];
        uint64_t v = 0, span;

        if (max < min) {
                uint32_t t = min;
                min = max;
                max = t;
        }

        sha256_init(&c);
        sha256_update(&c, label, strlen(label));
        sha256_update(&c, scope ? scope : "", scope ? strlen(scope) : 0);
        sha256_update(&c, "\n", 1);
        sha256_update(&c, name ? name : "", name ? strlen(name) : 0);
        sha256_final(&c, d);

        for (unsigned i = 0; i < 8; i++)
                v = v << 8 | d[i];
        span = (uint64_t) max - min + 1;
        return (uint32_t) (min + v % span);
}

uint32_t uidmap_user_uid(const char *scope, const char *idp_name, uint32_t min, uint32_t max) {
        return uidmap_hash("cloudauth-uid-v1\n", scope, idp_name, min, max);
}

uint32_t uidmap_group_gid(const char *scope, const char *group_name, uint32_t min, uint32_t max) {
        return uidmap_hash("cloudauth-gid-v1\n", scope, group_name, min, max);
}
