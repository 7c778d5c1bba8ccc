/* SPDX-License-Identifier: MIT */
/*
 * What does jwt_verify cost on top of the RSA signature check it cannot avoid?
 * Both are timed in the same run, interleaved so frequency scaling and cache
 * effects hit them alike, and compared by median.
 */
#include <errno.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base64.h"
#include "jwt.h"
#include "macro.h"

#define TENANT "4f2a1d7e-9b3c-4e8a-a1b2-c3d4e5f60718"
#define CLIENT "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define NOW ((time_t) 1700000000)

_Noreturn static void die(const char *what) {
        fprintf(stderr, "bench-jwt: %s failed\n", what);
        exit(EXIT_FAILURE);
}

static char *b64(const void *p, size_t n) {
        char *s;
        if (base64url_encode(p, n, &s) < 0)
                die("base64url_encode");
        return s;
}

static char *b64_bn(EVP_PKEY *k, const char *name) {
        BIGNUM *bn = NULL;
        unsigned char buf[512];
        int n;

        if (!EVP_PKEY_get_bn_param(k, name, &bn) || (n = BN_bn2bin(bn, buf)) <= 0)
                die("EVP_PKEY_get_bn_param");
        BN_free(bn);
        return b64(buf, (size_t) n);
}

/* An Entra-like ID token of about 1 KB: the usual claims plus eight group object IDs. */
static char *claims_text(void) {
        json_t *groups = json_array();
        for (int i = 0; i < 8; i++) {
                char g[40];
                snprintf(g, sizeof(g), "%08x-1c2d-4e3f-8a9b-%012x", 0x5a000000u + (unsigned) i, 0xc0ffee00u + (unsigned) i);
                json_array_append_new(groups, json_string(g));
        }
        json_t *c = json_pack("{s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "aud", CLIENT, "iss",
                              "https://login.microsoftonline.com/" TENANT "/v2.0", "iat", (json_int_t) NOW - 60, "nbf",
                              (json_int_t) NOW - 60, "exp", (json_int_t) NOW + 3540, "name", "Alice Example", "oid",
                              "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "preferred_username", "alice@example.com",
                              "sub", "hT3kq9Xw2vYpL0mNcR7sB1aZ4eF6gU8jI5oK", "tid", TENANT, "uti",
                              "AbCdEfGhIjKlMnOpQrStUv", "ver", "2.0", "nonce", "6c1d0c2e9f3a4b5d", "groups", groups);
        char *s = json_dumps(c, JSON_COMPACT);
        json_decref(c);
        return s;
}

static double now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
        qsort(v, n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The baseline: what any verifier must do per token with an already imported key. */
static void bare_verify(EVP_PKEY *pub, const unsigned char *sig, size_t sig_len, const char *input, size_t input_len) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", NULL, NULL, pub, NULL) != 1 ||
            EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *) input, input_len) != 1)
                die("EVP_DigestVerify");
        EVP_MD_CTX_free(ctx);
}

int main(int argc, char **argv) {
        size_t iterations = argc > 1 ? strtoul(argv[1], NULL, 10) : 3000;
        const char *header = "{\"alg\":\"RS256\",\"kid\":\"bench-key\",\"typ\":\"JWT\"}";
        char *claims, *h, *p, *input, *s, *token, *jwks_json;
        unsigned char sig[512];
        size_t sig_len = sizeof(sig);
        struct jwks *keys = NULL;
        EVP_PKEY *key, *pub = NULL;
        EVP_MD_CTX *ctx;
        double *t_jwt, *t_evp;

        if (iterations < 10)
                iterations = 10;

        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
        if (!key)
                die("RSA key generation");

        claims = claims_text();
        h = b64(header, strlen(header));
        p = b64(claims, strlen(claims));
        if (asprintf(&input, "%s.%s", h, p) < 0)
                die("asprintf");
        ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, key, NULL) != 1 ||
            EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *) input, strlen(input)) != 1)
                die("EVP_DigestSign");
        EVP_MD_CTX_free(ctx);
        s = b64(sig, sig_len);
        if (asprintf(&token, "%s.%s", input, s) < 0)
                die("asprintf");

        /* The key as a JWKS would publish it, imported the way cloudauth imports it. */
        char *n = b64_bn(key, OSSL_PKEY_PARAM_RSA_N), *e = b64_bn(key, OSSL_PKEY_PARAM_RSA_E);
        if (asprintf(&jwks_json, "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"other\",\"n\":\"%s\",\"e\":\"%s\"},"
                                 "{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"bench-key\",\"n\":\"%s\",\"e\":\"%s\"}]}",
                     n, e, n, e) < 0)
                die("asprintf");
        if (jwks_parse(jwks_json, strlen(jwks_json), &keys) < 0)
                die("jwks_parse");
        pub = keys->keys[1].pkey;

        struct jwt_policy policy = {
                .issuer = "https://login.microsoftonline.com/{tenantid}/v2.0",
                .client_id = CLIENT,
                .nonce = "6c1d0c2e9f3a4b5d",
                .leeway = 60,
                .now = NOW,
        };

        t_jwt = calloc(iterations, sizeof(double));
        t_evp = calloc(iterations, sizeof(double));
        if (!t_jwt || !t_evp)
                die("calloc");

        size_t token_len = strlen(token), input_len = strlen(input);
        for (size_t i = 0; i < iterations + iterations / 10; i++) {
                json_t *out = NULL;
                enum jwt_error err;
                double t0, t1, t2;

                t0 = now_us();
                if (jwt_verify(token, token_len, keys, &policy, &out, &err) < 0) {
                        fprintf(stderr, "bench-jwt: jwt_verify: %s\n", jwt_error_to_string(err));
                        return EXIT_FAILURE;
                }
                json_decref(out);
                t1 = now_us();
                bare_verify(pub, sig, sig_len, input, input_len);
                t2 = now_us();

                /* The first tenth warms caches and OpenSSL's fetch cache; it is not counted. */
                if (i >= iterations / 10) {
                        t_jwt[i - iterations / 10] = t1 - t0;
                        t_evp[i - iterations / 10] = t2 - t1;
                }
        }

        double m_jwt = median(t_jwt, iterations), m_evp = median(t_evp, iterations);
        printf("token %zu bytes, %zu iterations\n", token_len, iterations);
        printf("jwt_verify %.1f us, EVP_DigestVerify %.1f us, ratio %.2f\n", m_jwt, m_evp, m_jwt / m_evp);

        free(t_jwt);
        free(t_evp);
        jwks_free(keys);
        EVP_PKEY_free(key);
        free(n);
        free(e);
        free(jwks_json);
        free(token);
        free(s);
        free(input);
        free(h);
        free(p);
        free(claims);
        return EXIT_SUCCESS;
}
