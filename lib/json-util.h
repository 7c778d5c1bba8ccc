/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>

#include "macro.h"
#include "secret.h"

/* jansson provides json_decrefp() (NULL-safe) for this. */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* Flags for everything cloudauth parses from the network or disk: a duplicate member is an error. */
#define JSON_PARSE_FLAGS (JSON_REJECT_DUPLICATES)

/*
 * Overwrite every string in j, recursively, before it is freed: a parsed
 * token response holds jansson's own copies of tokens and device codes.
 */
static inline void json_wipe_strings(json_t *j) {
        const char *key;
        json_t *v;
        size_t i;

        if (json_is_string(j))
                secret_wipe((char *) json_string_value(j), json_string_length(j));
        else if (json_is_object(j))
                json_object_foreach (j, key, v)
                        json_wipe_strings(v);
        else if (json_is_array(j))
                json_array_foreach (j, i, v)
                        json_wipe_strings(v);
}

/* The string value of key in object, or NULL when absent or not a string. */
static inline const char *json_object_get_string(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}
