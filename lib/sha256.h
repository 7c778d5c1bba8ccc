/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* FIPS 180-4 SHA-256, self-contained so the NSS module needs no crypto library. */
struct sha256_ctx {
        uint32_t state[8];
        uint64_t length;
        uint8_t buffer[64];
        size_t used;
};

#define SHA256_DIGEST_SIZE 32

void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_DIGEST_SIZE]);
void sha256(const void *data, size_t len, uint8_t out[SHA256_DIGEST_SIZE]);
