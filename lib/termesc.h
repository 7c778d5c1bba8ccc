/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Text from the provider (display names, groups, app roles, claims, URLs) is
 * data, never terminal control. Before it reaches a terminal, every character
 * a terminal acts on or that reorders what is shown is escaped:
 *   C0 controls and DEL        \x1b, \x7f
 *   C1 controls U+0080-U+009F  \u009b (as UTF-8 C2 80..C2 9F)
 *   bidirectional controls     \u202e (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069)
 *   bytes that are not UTF-8   \x9b (overlong forms, surrogates and truncated sequences included)
 *   the backslash itself       \\ (so an escape in the output always means one in the input)
 * Everything else, printable ASCII and valid UTF-8 text such as "Zoë", is kept.
 */

/* Input longer than this is refused (-E2BIG): nothing shown on a terminal is that long. */
#define TERMESC_INPUT_MAX (16u * 1024 * 1024)

/* Whether the code point is one a terminal must never receive raw (see above, the backslash excluded). */
bool termesc_codepoint_is_control(uint32_t c);

/*
 * The escaped copy of [s, s+n) (a NUL byte in it is \x00). 0 with a NUL-terminated
 * *ret; -ENOMEM, -E2BIG. *ret set only on success.
 */
int termesc_textn(const char *s, size_t n, char **ret);
int termesc_text(const char *s, char **ret);

/* Whether termesc_text would return s unchanged. */
bool termesc_text_is_plain(const char *s);

/*
 * A JSON text as jansson writes it, with every control character above inside
 * a string rewritten as \u00XX or \uXXXX (a byte that is not UTF-8 becomes
 * \ufffd), so the result is valid JSON with the same values and safe on a
 * terminal. Outside strings only JSON's own whitespace and printable ASCII
 * may appear: anything else is -EBADMSG. *ret set only on success.
 */
int termesc_json(const char *json, char **ret);
