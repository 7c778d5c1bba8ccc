/* SPDX-License-Identifier: MIT */
#include <openssl/sha.h>
#include <openssl/rand.h>

#include "sha256.h"
#include "tests.h"

static void hex(const uint8_t *d, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", d[i]);
}

static void check_digest(const char *msg, size_t len, const char *expected) {
        uint8_t d[SHA256_DIGEST_SIZE];
        char h[2 * SHA256_DIGEST_SIZE + 1];

        sha256(msg, len, d);
        hex(d, sizeof(d), h);
        CHECK_STR(h, expected);
}

/* FIPS 180-4 examples (NIST CSRC "SHA256.pdf") and the NIST short/long message vectors. */
static void test_fips_vectors(void) {
        check_digest("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        check_digest("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        check_digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
                     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        check_digest("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
                     112, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a(void) {
        struct sha256_ctx c;
        uint8_t d[SHA256_DIGEST_SIZE];
        char h[2 * SHA256_DIGEST_SIZE + 1], chunk[1000];

        memset(chunk, 'a', sizeof(chunk));
        sha256_init(&c);
        /* Chunks of 1000 cross block boundaries at every offset mod 64 over the run. */
        for (unsigned i = 0; i < 1000; i++)
                sha256_update(&c, chunk, sizeof(chunk));
        sha256_final(&c, d);
        hex(d, sizeof(d), h);
        CHECK_STR(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Lengths around the padding boundaries (55, 56, 63, 64, 65) and odd split points, against OpenSSL. */
static void test_against_openssl(void) {
        static uint8_t buf[4096];
        unsigned mismatches = 0;

        CHECK_INT(RAND_bytes(buf, sizeof(buf)), 1);
        for (size_t len = 0; len <= 300; len++) {
                uint8_t mine[SHA256_DIGEST_SIZE], ref[SHA256_DIGEST_SIZE];
                struct sha256_ctx c;
                size_t split = len ? (len * 7919) % len : 0;

                sha256_init(&c);
                sha256_update(&c, buf, split);
                sha256_update(&c, buf + split, len - split);
                sha256_final(&c, mine);
                SHA256(buf, len, ref);
                if (memcmp(mine, ref, sizeof(ref)) != 0)
                        mismatches++;
        }
        for (unsigned round = 0; round < 200; round++) {
                uint8_t mine[SHA256_DIGEST_SIZE], ref[SHA256_DIGEST_SIZE], r[4];
                size_t len;

                CHECK_INT(RAND_bytes(r, sizeof(r)), 1);
                len = ((size_t) r[0] << 8 | r[1]) % sizeof(buf);
                CHECK_INT(RAND_bytes(buf, (int) len + 1), 1);
                sha256(buf, len, mine);
                SHA256(buf, len, ref);
                if (memcmp(mine, ref, sizeof(ref)) != 0)
                        mismatches++;
        }
        CHECK_INT(mismatches, 0);
}

int main(void) {
        RUN(test_fips_vectors);
        RUN(test_million_a);
        RUN(test_against_openssl);
        return tests_exit();
}
