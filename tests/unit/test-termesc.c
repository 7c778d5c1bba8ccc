/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <jansson.h>
#include <locale.h>
#include <stdbool.h>
#include <string.h>
#include <wchar.h>

#include "termesc.h"
#include "tests.h"

static void check_text(const char *in, size_t n, const char *want) {
        char *out = (char *) "untouched";

        CHECK_INT(termesc_textn(in, n, &out), 0);
        CHECK_STR(out, want);
        if (strcmp(out, "untouched") != 0)
                free(out);
}

/*
 * No character a terminal acts on survives: the output is well-formed UTF-8
 * (decoded by libc, independently of the code under test) without C0, DEL,
 * C1 or a bidirectional control.
 */
static bool output_is_inert(const char *s) {
        mbstate_t st = {0};
        size_t n = strlen(s);

        while (n > 0) {
                wchar_t w;
                size_t k = mbrtowc(&w, s, n, &st);

                if (k == 0 || k == (size_t) -1 || k == (size_t) -2)
                        return false;
                if (w < 0x20 || (w >= 0x7f && w <= 0x9f) || w == 0x061c || w == 0x200e || w == 0x200f ||
                    (w >= 0x202a && w <= 0x202e) || (w >= 0x2066 && w <= 0x2069))
                        return false;
                s += k;
                n -= k;
        }
        return true;
}

static void test_text_plain(void) {
        check_text("alice@example.com", 17, "alice@example.com");
        check_text("", 0, "");
        /* Text in other scripts stays readable. */
        check_text("Zo\xc3\xab \xe6\x9d\x8e \xf0\x9f\x94\x91", 13, "Zo\xc3\xab \xe6\x9d\x8e \xf0\x9f\x94\x91");
        CHECK(termesc_text_is_plain("Zo\xc3\xab Example"));
        CHECK(termesc_text_is_plain(NULL));
        /* The backslash doubles, so "\x1b" in the output always was an ESC. */
        check_text("a\\x1b", 5, "a\\\\x1b");
        CHECK(!termesc_text_is_plain("a\\b"));
}

static void test_text_controls(void) {
        check_text("\x1b[2J", 4, "\\x1b[2J");
        check_text("a\nb\tc\r", 6, "a\\x0ab\\x09c\\x0d");
        check_text("x\x7fy", 3, "x\\x7fy");
        check_text("a\0b", 3, "a\\x00b");
        /* C1 as UTF-8: U+0080, U+009B (CSI), U+009F; U+00A0 is a character, kept. */
        check_text("\xc2\x80\xc2\x9b\xc2\x9f\xc2\xa0", 8, "\\u0080\\u009b\\u009f\xc2\xa0");
        /* Bidirectional controls. */
        check_text("evil\xe2\x80\xaetxt.exe", 14, "evil\\u202etxt.exe");
        check_text("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", 12, "\\u202a\\u202b\\u202c\\u202d");
        check_text("\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9", 12, "\\u2066\\u2067\\u2068\\u2069");
        check_text("\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c", 8, "\\u200e\\u200f\\u061c");
        /* Neighbours that are ordinary characters. */
        check_text("\xe2\x80\x90\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa", 12,
                   "\xe2\x80\x90\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa");
        CHECK(!termesc_text_is_plain("\x1b"));
        CHECK(!termesc_text_is_plain("\xc2\x9b"));
        CHECK(!termesc_text_is_plain("\xe2\x80\xae"));
}

static void test_text_not_utf8(void) {
        /* Raw C1 bytes, as an 8-bit terminal takes them: CSI 2 J. */
        check_text("\x9b" "2J", 3, "\\x9b2J");
        check_text("\x80\x9f", 2, "\\x80\\x9f");
        /* Overlong ESC, overlong slash, a surrogate, beyond U+10FFFF, truncated, 0xff. */
        check_text("\xc0\x9b", 2, "\\xc0\\x9b");
        check_text("\xc1\xaf", 2, "\\xc1\\xaf");
        check_text("\xe0\x80\x9b", 3, "\\xe0\\x80\\x9b");
        check_text("\xed\xa0\x80", 3, "\\xed\\xa0\\x80");
        check_text("\xf4\x90\x80\x80", 4, "\\xf4\\x90\\x80\\x80");
        check_text("ab\xe2\x80", 4, "ab\\xe2\\x80");
        check_text("\xff\xfe", 2, "\\xff\\xfe");
        /* A broken sequence does not swallow the ESC after it. */
        check_text("\xe2\x1b[2J", 5, "\\xe2\\x1b[2J");
        CHECK(!termesc_text_is_plain("\x9b"));
}

static void test_text_every_byte(void) {
        /* Every single byte and every two-byte pair: the output is inert. */
        char in[2], *out;

        for (unsigned a = 0; a < 256; a++)
                for (unsigned b = 0; b < 256; b++) {
                        in[0] = (char) a;
                        in[1] = (char) b;
                        CHECK_INT(termesc_textn(in, 2, &out), 0);
                        if (!output_is_inert(out))
                                fprintf(stderr, "  %02x %02x -> %s\n", a, b, out);
                        CHECK(output_is_inert(out));
                        free(out);
                }
}

static void test_text_bad_args(void) {
        char *out = (char *) "untouched";

        CHECK_INT(termesc_text(NULL, &out), -EINVAL);
        CHECK_INT(termesc_textn(NULL, 1, &out), -EINVAL);
        CHECK_INT(termesc_textn("x", TERMESC_INPUT_MAX + 1, &out), -E2BIG);
        CHECK_STR(out, "untouched");
}

static void check_json(const char *in, const char *want) {
        char *out = (char *) "untouched";

        CHECK_INT(termesc_json(in, &out), 0);
        CHECK_STR(out, want);
        if (strcmp(out, "untouched") != 0)
                free(out);
}

static void test_json(void) {
        static const char name[] = "Mallory \x1b[2J \xc2\x9b" "31m \xe2\x80\xae" "gnp.exe \x7f Zo\xc3\xab \\ \"q\"";
        json_t *doc = json_pack("{s:s, s:[s]}", "name", name, "groups", "g\xe2\x81\xa6");
        json_error_t err;
        char *dumped, *out, *lines;
        json_t *back;

        CHECK(doc != NULL);
        dumped = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
        CHECK(dumped != NULL);
        CHECK_INT(termesc_json(dumped, &out), 0);
        /* Line by line: the newlines of the indentation are JSON's own. */
        lines = strdup(out);
        for (char *line = strtok(lines, "\n"); line; line = strtok(NULL, "\n"))
                CHECK(output_is_inert(line));
        free(lines);
        /* Valid JSON with the very same values, and no control on the terminal. */
        back = json_loads(out, 0, &err);
        CHECK(back != NULL);
        CHECK_STR(json_string_value(json_object_get(back, "name")), name);
        CHECK_STR(json_string_value(json_array_get(json_object_get(back, "groups"), 0)), "g\xe2\x81\xa6");
        CHECK(!strchr(out, 0x1b) && !strchr(out, 0x7f));
        CHECK(!strstr(out, "\xc2\x9b") && !strstr(out, "\xe2\x80\xae") && !strstr(out, "\xe2\x81\xa6"));
        CHECK(strstr(out, "\\u001b[2J") || strstr(out, "\\u001B[2J"));
        CHECK(strstr(out, "\\u009b31m"));
        CHECK(strstr(out, "\\u202egnp.exe"));
        CHECK(strstr(out, "\\u007f"));
        CHECK(strstr(out, "Zo\xc3\xab"));
        /* The indentation is JSON's own whitespace and stays. */
        CHECK(strstr(out, "{\n  \"groups\": [\n"));
        json_decref(back);
        json_decref(doc);
        free(dumped);
        free(out);

        check_json("[\"a\\\"\\\\\", 1, true]", "[\"a\\\"\\\\\", 1, true]");
        /* Never produced by jansson, but never passed on raw either. */
        check_json("[\"\x1b\"]", "[\"\\u001b\"]");
        check_json("[\"\x9b\"]", "[\"\\ufffd\"]");
}

static void test_json_refused(void) {
        char *out = (char *) "untouched";

        CHECK_INT(termesc_json("[1]\x1b[2J", &out), -EBADMSG);
        CHECK_INT(termesc_json("[\"open", &out), -EBADMSG);
        CHECK_INT(termesc_json("\xc2\x9b", &out), -EBADMSG);
        CHECK_INT(termesc_json(NULL, &out), -EINVAL);
        CHECK_STR(out, "untouched");
}

int main(void) {
        if (!setlocale(LC_CTYPE, "C.UTF-8")) {
                fprintf(stderr, "no C.UTF-8 locale\n");
                return 77;
        }
        RUN(test_text_plain);
        RUN(test_text_controls);
        RUN(test_text_not_utf8);
        RUN(test_text_every_byte);
        RUN(test_text_bad_args);
        RUN(test_json);
        RUN(test_json_refused);
        return tests_exit();
}
