/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "base64.h"
#include "macro.h"
#include "pkce.h"
#include "secret.h"

#define PKCE_RANDOM_BYTES 32
#define PKCE_VERIFIER_MAX 128

/* RFC 7636 4.1: unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~" */
static bool is_unreserved(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '.' || c == '_' || c == '~';
}

/* 32 random bytes as 43 base64url characters. */
static int random_base64url(char ret[PKCE_VERIFIER_LEN + 1]) {
        unsigned char raw[PKCE_RANDOM_BYTES];
        char *s = NULL;
        int r;

        if (RAND_bytes(raw, sizeof(raw)) != 1) {
                secret_wipe(raw, sizeof(raw));
                return -EIO;
        }
        r = base64url_encode(raw, sizeof(raw), &s);
        secret_wipe(raw, sizeof(raw));
        if (r < 0)
                return r;
        if (strlen(s) != PKCE_VERIFIER_LEN) {
                erase_and_free(s);
                return -EIO;
        }
        memcpy(ret, s, PKCE_VERIFIER_LEN + 1);
        erase_and_free(s);
        return 0;
}

int pkce_challenge_s256(const char *verifier, char ret[PKCE_CHALLENGE_LEN + 1]) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned digest_len = 0;
        _cleanup_free_ char *s = NULL;
        size_t n;
        int r;

        if (!verifier || !ret)
                return -EINVAL;
        n = strnlen(verifier, PKCE_VERIFIER_MAX + 1);
        if (n < PKCE_VERIFIER_LEN || n > PKCE_VERIFIER_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!is_unreserved(verifier[i]))
                        return -EINVAL;

        if (EVP_Digest(verifier, n, digest, &digest_len, EVP_sha256(), NULL) != 1 || digest_len != 32)
                return -EIO;
        if ((r = base64url_encode(digest, digest_len, &s)) < 0)
                return r;
        if (strlen(s) != PKCE_CHALLENGE_LEN)
                return -EIO;
        memcpy(ret, s, PKCE_CHALLENGE_LEN + 1);
        return 0;
}

int pkce_generate(struct pkce *ret) {
        struct pkce p;
        int r;

        if (!ret)
                return -EINVAL;
        if ((r = random_base64url(p.verifier)) < 0 || (r = pkce_challenge_s256(p.verifier, p.challenge)) < 0) {
                secret_wipe(&p, sizeof(p));
                return r;
        }
        *ret = p;
        secret_wipe(&p, sizeof(p));
        return 0;
}

void pkce_done(struct pkce *p) {
        if (p)
                secret_wipe(p, sizeof(*p));
}

int pkce_random_token(char ret[PKCE_VERIFIER_LEN + 1]) {
        if (!ret)
                return -EINVAL;
        return random_base64url(ret);
}
