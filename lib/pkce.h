/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* RFC 7636: a 43-character verifier (32 random bytes, base64url) and its S256 challenge. */
#define PKCE_VERIFIER_LEN 43
#define PKCE_CHALLENGE_LEN 43

struct pkce {
        char verifier[PKCE_VERIFIER_LEN + 1];
        char challenge[PKCE_CHALLENGE_LEN + 1];
};

/* Fresh verifier from the OpenSSL RNG, and its challenge. */
int pkce_generate(struct pkce *ret);

/* BASE64URL(SHA256(ASCII(verifier))); verifier must be 43-128 unreserved characters (-EINVAL). */
int pkce_challenge_s256(const char *verifier, char ret[PKCE_CHALLENGE_LEN + 1]);

/* Wipes the verifier. */
void pkce_done(struct pkce *p);

/* A random URL-safe token of 32 bytes of entropy for state and nonce. */
int pkce_random_token(char ret[PKCE_VERIFIER_LEN + 1]);
