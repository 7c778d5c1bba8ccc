/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The RFC 7515 A.2 RSA key and A.3 EC key, so that real structure reaches the signature code. */
static const char rfc_keys[] =
        "{\"kty\":\"RSA\",\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEz"
        "P1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBY"
        "UsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9"
        "iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\",\"e\":\"AQAB\"},"
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";

static EVP_PKEY *signer;
static struct jwks *keys;

static void setup(void) {
        unsigned char raw[32];
        size_t raw_len = sizeof(raw);
        char *x = NULL, json[4096];

        signer = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        if (!signer || !EVP_PKEY_get_raw_public_key(signer, raw, &raw_len) || base64url_encode(raw, raw_len, &x) < 0)
                abort();
        snprintf(json, sizeof(json), "{\"keys\":[%s,{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"fuzz\",\"x\":\"%s\"}]}",
                 rfc_keys, x);
        free(x);
        if (jwks_parse(json, strlen(json), &keys) < 0 || keys->n_keys != 3)
                abort();
}

/* The whole input as a token, through signature and claims checks. */
static void fuzz_token(const char *token, size_t len) {
        char *const tenants[] = { (char *) "4f2a1d7e-9b3c-4e8a-a1b2-c3d4e5f60718", NULL };
        struct jwt_policy policy = {
                .issuer = "https://login.microsoftonline.com/{tenantid}/v2.0",
                .client_id = "client",
                .tenants = tenants,
                .nonce = "nonce",
                .leeway = 60,
                .now = 1300819300,
        };
        json_t *sentinel = (json_t *) 0x1, *claims = sentinel;
        enum jwt_error e = _JWT_ERROR_MAX;
        int r;

        r = jwt_verify(token, len, keys, &policy, &claims, &e);
        if (r == 0) {
                if (e != JWT_OK || claims == sentinel || !json_is_object(claims))
                        abort();
                json_decref(claims);
        } else if (claims != sentinel || e == JWT_OK || e >= _JWT_ERROR_MAX)
                abort();
        (void) jwt_error_to_string(e);
}

/*
 * The input as the claims of a correctly signed token: whatever jwt.c's own
 * parser makes of them must be exactly what jansson makes of them.
 */
static void fuzz_claims(const char *payload, size_t len) {
        static const char header[] = "eyJhbGciOiJFZERTQSIsImtpZCI6ImZ1enoifQ"; /* {"alg":"EdDSA","kid":"fuzz"} */
        char *p = NULL, *s = NULL, *input = NULL, *token = NULL;
        unsigned char sig[64];
        size_t sig_len = sizeof(sig);
        EVP_MD_CTX *ctx;
        json_t *want, *got = NULL;
        enum jwt_error e;
        int r;

        if (len > 32 * 1024)
                return;
        if (base64url_encode((const unsigned char *) payload, len, &p) < 0 || asprintf(&input, "%s.%s", header, p) < 0)
                abort();
        ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestSignInit_ex(ctx, NULL, NULL, NULL, NULL, signer, NULL) != 1 ||
            EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *) input, strlen(input)) != 1)
                abort();
        EVP_MD_CTX_free(ctx);
        if (base64url_encode(sig, sig_len, &s) < 0 || asprintf(&token, "%s.%s", input, s) < 0)
                abort();

        r = jwt_verify_signature(token, strlen(token), keys, NULL, &got, &e);
        want = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
        if (json_is_object(want)) {
                if (r != 0 || !json_equal(got, want))
                        abort();
        } else if (r != -EBADMSG || e != JWT_MALFORMED || got)
                abort();
        json_decref(want);
        json_decref(got);
        free(token);
        free(s);
        free(input);
        free(p);
}

/* Encoding then decoding gives the bytes back. */
static void fuzz_base64(const uint8_t *data, size_t size) {
        unsigned char *back = NULL;
        char *enc = NULL;
        size_t n;

        if (base64url_encode(data, size, &enc) < 0 || base64url_decode(enc, strlen(enc), &back, &n) < 0 ||
            n != size || (size && memcmp(back, data, size) != 0))
                abort();
        free(enc);
        free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!keys)
                setup();
        if (size < 1)
                return 0;

        /* The first byte picks what the rest is. */
        switch (data[0] % 3) {
        case 0:
                fuzz_token((const char *) data + 1, size - 1);
                break;
        case 1:
                fuzz_claims((const char *) data + 1, size - 1);
                break;
        default:
                fuzz_base64(data + 1, size - 1);
                break;
        }
        return 0;
}
