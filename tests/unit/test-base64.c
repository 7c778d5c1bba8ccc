/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "base64.h"
#include "macro.h"
#include "tests.h"

/* RFC 4648 section 10 vectors, in the URL-safe alphabet and without padding. */
static void test_rfc4648_vectors(void) {
        static const struct {
                const char *plain, *encoded;
        } v[] = {
                { "", "" },         { "f", "Zg" },         { "fo", "Zm8" },          { "foo", "Zm9v" },
                { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
        };

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                _cleanup_free_ char *enc = NULL;
                _cleanup_free_ unsigned char *dec = NULL;
                size_t n = 99;

                CHECK_INT(base64url_encode((const unsigned char *) v[i].plain, strlen(v[i].plain), &enc), 0);
                CHECK_STR(enc, v[i].encoded);
                CHECK_INT(base64url_decode(v[i].encoded, strlen(v[i].encoded), &dec, &n), 0);
                CHECK_INT(n, strlen(v[i].plain));
                CHECK(dec && memcmp(dec, v[i].plain, n) == 0);
                CHECK(dec && dec[n] == 0);
        }
}

static void test_url_alphabet(void) {
        static const unsigned char bytes[] = { 0xfb, 0xff, 0xbf, 0xfe };
        _cleanup_free_ char *enc = NULL;
        _cleanup_free_ unsigned char *dec = NULL;
        size_t n;

        CHECK_INT(base64url_encode(bytes, sizeof(bytes), &enc), 0);
        CHECK_STR(enc, "-_-__g");
        CHECK_INT(base64url_decode(enc, strlen(enc), &dec, &n), 0);
        CHECK_INT(n, sizeof(bytes));
        CHECK(dec && memcmp(dec, bytes, sizeof(bytes)) == 0);
}

static void test_all_bytes_roundtrip(void) {
        unsigned char bytes[256];
        for (size_t i = 0; i < sizeof(bytes); i++)
                bytes[i] = (unsigned char) i;

        for (size_t len = 0; len <= sizeof(bytes); len++) {
                _cleanup_free_ char *enc = NULL;
                _cleanup_free_ unsigned char *dec = NULL;
                size_t n = 0;

                CHECK_INT(base64url_encode(bytes, len, &enc), 0);
                CHECK(enc && strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
                                     strlen(enc));
                CHECK_INT(base64url_decode(enc, strlen(enc), &dec, &n), 0);
                CHECK_INT(n, len);
                CHECK(dec && memcmp(dec, bytes, len) == 0);
        }
}

static void test_refused(void) {
        static const char *const bad[] = {
                "Zg==",  /* padding */
                "Zm8=",  /* padding */
                "Zm9v+", /* standard alphabet */
                "Zm9/",  /* standard alphabet */
                "Zm 9v", /* whitespace */
                "Zm9v\n",
                "Z",     /* one leftover character cannot encode a byte */
                "Zm9vY",
                "Zh",    /* non-zero unused bits: a second spelling of "f" */
                "Zm9",   /* non-zero unused bits: a second spelling of "fo" */
                "Zm.v",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                unsigned char *dec = (unsigned char *) 0x1;
                size_t n = 4242;

                CHECK_INT(base64url_decode(bad[i], strlen(bad[i]), &dec, &n), -EINVAL);
                /* STYLE rule 8: outputs untouched on failure. */
                CHECK(dec == (unsigned char *) 0x1);
                CHECK_INT(n, 4242);
        }

        /* An embedded NUL is just another foreign byte. */
        unsigned char *dec = NULL;
        CHECK_INT(base64url_decode("Zm\0v", 4, &dec, NULL), -EINVAL);
        CHECK(dec == NULL);
}

static void test_length_only(void) {
        _cleanup_free_ unsigned char *dec = NULL;
        /* Decoding honours in_len, not a terminator. */
        CHECK_INT(base64url_decode("Zm9vYmFyXXXX", 8, &dec, NULL), 0);
        CHECK(dec && memcmp(dec, "foobar", 7) == 0);
}

static void test_bounds(void) {
        unsigned char *dec = NULL;
        char *enc = NULL;

        CHECK_INT(base64url_decode(NULL, 4, &dec, NULL), -EINVAL);
        CHECK_INT(base64url_encode(NULL, 4, &enc), -EINVAL);
        /* The size is refused before the (here unreadable) input is touched. */
        CHECK_INT(base64url_decode("", (size_t) 1 << 40, &dec, NULL), -E2BIG);
        CHECK_INT(base64url_encode((const unsigned char *) "", (size_t) 1 << 40, &enc), -E2BIG);
        CHECK(dec == NULL && enc == NULL);
}

int main(void) {
        RUN(test_rfc4648_vectors);
        RUN(test_url_alphabet);
        RUN(test_all_bytes_roundtrip);
        RUN(test_refused);
        RUN(test_length_only);
        RUN(test_bounds);
        return tests_exit();
}
