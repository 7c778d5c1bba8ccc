/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "base64.h"
#include "secret.h"

/*
 * Inputs are tokens, JWK members, PKCE verifiers: all far below this. The cap
 * keeps the size arithmetic trivially free of overflow.
 */
#define BASE64URL_MAX_INPUT ((size_t) 16 * 1024 * 1024)

static const char alphabet[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Sextet value plus one; zero marks a byte outside the URL-safe alphabet. */
static const uint8_t decode_table[256] = {
        ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7,
        ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14,
        ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21,
        ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28,
        ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35,
        ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
        ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49,
        ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
        ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63,
        ['_'] = 64,
};

int base64url_decode(const char *in, size_t in_len, unsigned char **ret, size_t *ret_len) {
        const unsigned char *s = (const unsigned char *) in;
        unsigned char *out, *o;
        size_t full, rest;

        if ((!in && in_len > 0) || !ret)
                return -EINVAL;
        if (in_len > BASE64URL_MAX_INPUT)
                return -E2BIG;

        full = in_len / 4;
        rest = in_len % 4;
        /* A single trailing character cannot carry a whole byte. */
        if (rest == 1)
                return -EINVAL;

        /* +1 so callers may treat decoded JSON text as a C string. */
        out = malloc(full * 3 + (rest ? rest - 1 : 0) + 1);
        if (!out)
                return -ENOMEM;
        o = out;

        for (size_t i = 0; i < full; i++, s += 4) {
                uint8_t a = decode_table[s[0]], b = decode_table[s[1]], c = decode_table[s[2]],
                        d = decode_table[s[3]];
                if (!a || !b || !c || !d)
                        goto invalid;
                a--, b--, c--, d--;
                uint32_t v = (uint32_t) a << 18 | (uint32_t) b << 12 | (uint32_t) c << 6 | d;
                *o++ = (unsigned char) (v >> 16);
                *o++ = (unsigned char) (v >> 8);
                *o++ = (unsigned char) v;
        }

        if (rest >= 2) {
                uint8_t a = decode_table[s[0]], b = decode_table[s[1]];
                uint8_t c = rest == 3 ? decode_table[s[2]] : 1;
                if (!a || !b || !c)
                        goto invalid;
                a--, b--, c--;
                /* Unused low bits must be zero, so every byte string has exactly one encoding. */
                if (rest == 2 && (b & 0x0f))
                        goto invalid;
                if (rest == 3 && (c & 0x03))
                        goto invalid;
                *o++ = (unsigned char) (a << 2 | b >> 4);
                if (rest == 3)
                        *o++ = (unsigned char) (b << 4 | c >> 2);
        }

        *o = 0;
        if (ret_len)
                *ret_len = (size_t) (o - out);
        *ret = out;
        return 0;

invalid:
        /* What was decoded so far may be part of a token or key. */
        secret_wipe(out, (size_t) (o - out));
        free(out);
        return -EINVAL;
}

int base64url_encode(const unsigned char *in, size_t in_len, char **ret) {
        char *out, *o;
        size_t i;

        if ((!in && in_len > 0) || !ret)
                return -EINVAL;
        if (in_len > BASE64URL_MAX_INPUT)
                return -E2BIG;

        out = malloc(in_len / 3 * 4 + (in_len % 3 ? in_len % 3 + 1 : 0) + 1);
        if (!out)
                return -ENOMEM;
        o = out;

        for (i = 0; i + 3 <= in_len; i += 3) {
                uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
                *o++ = alphabet[v >> 18];
                *o++ = alphabet[(v >> 12) & 0x3f];
                *o++ = alphabet[(v >> 6) & 0x3f];
                *o++ = alphabet[v & 0x3f];
        }
        if (in_len - i == 1) {
                *o++ = alphabet[in[i] >> 2];
                *o++ = alphabet[(in[i] & 0x03) << 4];
        } else if (in_len - i == 2) {
                *o++ = alphabet[in[i] >> 2];
                *o++ = alphabet[((in[i] & 0x03) << 4) | in[i + 1] >> 4];
                *o++ = alphabet[(in[i + 1] & 0x0f) << 2];
        }
        *o = 0;
        *ret = out;
        return 0;
}
