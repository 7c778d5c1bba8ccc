/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "offline.h"

/*
 * A refresh token as the user's record keeps it: AES-256-GCM under a key
 * derived (HKDF-SHA256, its own label) from the host key STATE_DIR/host.key,
 * with a fresh 96-bit nonce, and the record's subject and UID as associated
 * data, so a sealed token copied into another record does not open. The
 * sealed form is text: base64url(nonce | ciphertext | tag).
 */

/* Largest token accepted for sealing; providers' refresh tokens are far smaller. */
#define TOKENBOX_PLAINTEXT_MAX 8192

int tokenbox_seal(const uint8_t host_key[OFFLINE_KEY_SIZE], const char *subject, uint32_t uid, const char *token,
                  char **ret);

/* -EBADMSG when sealed is malformed, or was sealed for another subject, UID or host key. */
int tokenbox_open(const uint8_t host_key[OFFLINE_KEY_SIZE], const char *subject, uint32_t uid, const char *sealed,
                  char **ret);
