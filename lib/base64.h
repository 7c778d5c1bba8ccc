/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* RFC 4648 section 5, without padding; padding and any other character are refused (-EINVAL). */
int base64url_decode(const char *in, size_t in_len, unsigned char **ret, size_t *ret_len);
int base64url_encode(const unsigned char *in, size_t in_len, char **ret);
