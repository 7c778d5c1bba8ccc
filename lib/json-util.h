/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>

#include "macro.h"

/* jansson >= 2.14 provides json_decrefp(). */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* Depth limit for everything cloudauth parses from the network or disk. */
#define JSON_PARSE_FLAGS (JSON_REJECT_DUPLICATES)

/* The string value of key in object, or NULL when absent or not a string. */
static inline const char *json_object_get_string(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}
