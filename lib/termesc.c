/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "termesc.h"

bool termesc_codepoint_is_control(uint32_t c) {
        return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x061c || c == 0x200e || c == 0x200f ||
               (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/*
 * The length of the well-formed UTF-8 sequence at s (n bytes left) and its
 * code point; 0 when the bytes there are not one (overlong, surrogate, beyond
 * U+10FFFF, truncated, a stray continuation byte).
 */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *ret) {
        uint32_t c, min;
        size_t len;

        if (s[0] < 0x80) {
                *ret = s[0];
                return 1;
        }
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                len = 2;
                c = s[0] & 0x1f;
                min = 0x80;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                len = 3;
                c = s[0] & 0x0f;
                min = 0x800;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                len = 4;
                c = s[0] & 0x07;
                min = 0x10000;
        } else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = c << 6 | (s[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return 0;
        *ret = c;
        return len;
}

static const char hexdigits[] = "0123456789abcdef";

static char *put_x(char *o, unsigned char b) {
        *o++ = '\\';
        *o++ = 'x';
        *o++ = hexdigits[b >> 4];
        *o++ = hexdigits[b & 15];
        return o;
}

/* Code points that need an escape are all below U+10000, so four hex digits always do. */
static char *put_u(char *o, uint32_t c) {
        *o++ = '\\';
        *o++ = 'u';
        *o++ = hexdigits[(c >> 12) & 15];
        *o++ = hexdigits[(c >> 8) & 15];
        *o++ = hexdigits[(c >> 4) & 15];
        *o++ = hexdigits[c & 15];
        return o;
}

int termesc_textn(const char *s, size_t n, char **ret) {
        const unsigned char *in = (const unsigned char *) s;
        char *out, *o;

        if ((!s && n > 0) || !ret)
                return -EINVAL;
        if (n > TERMESC_INPUT_MAX)
                return -E2BIG;
        /* The worst case is one byte as "\xNN"; a two-byte C1 as "\u0080" and a three-byte bidi control are less. */
        out = malloc(4 * n + 1);
        if (!out)
                return -ENOMEM;

        o = out;
        for (size_t i = 0; i < n;) {
                uint32_t c;
                size_t len = utf8_decode(in + i, n - i, &c);

                if (len == 0) {
                        o = put_x(o, in[i]);
                        i++;
                        continue;
                }
                if (c == '\\') {
                        *o++ = '\\';
                        *o++ = '\\';
                } else if (c < 0x80 && termesc_codepoint_is_control(c))
                        o = put_x(o, (unsigned char) c);
                else if (termesc_codepoint_is_control(c))
                        o = put_u(o, c);
                else {
                        memcpy(o, in + i, len);
                        o += len;
                }
                i += len;
        }
        *o = 0;
        *ret = out;
        return 0;
}

int termesc_text(const char *s, char **ret) {
        if (!s)
                return -EINVAL;
        return termesc_textn(s, strlen(s), ret);
}

bool termesc_text_is_plain(const char *s) {
        const unsigned char *in = (const unsigned char *) s;
        size_t n;

        if (!s)
                return true;
        n = strlen(s);
        for (size_t i = 0; i < n;) {
                uint32_t c;
                size_t len = utf8_decode(in + i, n - i, &c);

                if (len == 0 || c == '\\' || termesc_codepoint_is_control(c))
                        return false;
                i += len;
        }
        return true;
}

int termesc_json(const char *json, char **ret) {
        const unsigned char *in = (const unsigned char *) json;
        bool in_string = false;
        char *out, *o;
        size_t n;

        if (!json || !ret)
                return -EINVAL;
        n = strlen(json);
        if (n > TERMESC_INPUT_MAX)
                return -E2BIG;
        /* The worst case is one byte as "\u00NN" or "\ufffd". */
        out = malloc(6 * n + 1);
        if (!out)
                return -ENOMEM;

        o = out;
        for (size_t i = 0; i < n;) {
                uint32_t c;
                size_t len;

                if (!in_string) {
                        if (in[i] == '"')
                                in_string = true;
                        else if (in[i] != ' ' && in[i] != '\t' && in[i] != '\n' && in[i] != '\r' &&
                                 (in[i] < 0x21 || in[i] > 0x7e)) {
                                free(out);
                                return -EBADMSG;
                        }
                        *o++ = (char) in[i++];
                        continue;
                }

                if (in[i] == '"') {
                        in_string = false;
                        *o++ = (char) in[i++];
                        continue;
                }
                if (in[i] == '\\' && i + 1 < n && in[i + 1] >= 0x21 && in[i + 1] <= 0x7e) {
                        /* An escape jansson wrote: its characters are printable ASCII, "\u001b" included. */
                        *o++ = (char) in[i++];
                        *o++ = (char) in[i++];
                        continue;
                }
                len = utf8_decode(in + i, n - i, &c);
                if (len == 0) {
                        o = put_u(o, 0xfffd);
                        i++;
                } else if (c == '\\' || termesc_codepoint_is_control(c)) {
                        /* A lone backslash cannot end a valid string; escaped, the value stays what it was. */
                        o = put_u(o, c);
                        i += len;
                } else {
                        memcpy(o, in + i, len);
                        o += len;
                        i += len;
                }
        }
        if (in_string) {
                free(out);
                return -EBADMSG;
        }
        *o = 0;
        *ret = out;
        return 0;
}
