/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <openssl/evp.h>

#include "jwt.h"
#include "macro.h"
#include "tests.h"

#define P384_X "OMaUno4dxeh08XfI8iGrQKV02yK4mLeScxe30P66LiD2ooU8Zi-x-pki85z1baWY"
#define P384_Y "DZGj0Rd2U7zk93UQBugeD37L7TpBJFknpltAuCQduG_S9ylxmicTv-dOCt7KTEP6"
#define P256_X "zjNwpE_eeSKmn31u-QSK-2hWDucjvW2FgEsC6eQ6OUA"
#define P256_Y "AcyoiTs-ngDZJrQkyhvwEAKsJOnDGRrF7XGxCD4--Ow"
/* y of the point above with its last bit flipped: not on the curve. */
#define P256_Y_OFF "AcyoiTs-ngDZJrQkyhvwEAKsJOnDGRrF7XGxCD4--O0"
#define ED448_X "XmwE3vfnmw_7ucwk-SU-ZYwOz6RSGdIJUJ0NRxJzEIl4mIyyP9MHbSQHR8aDo2F_mQ80nSKkgDIA"
#define ED25519_X "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define RSA_N                                                                                      \
        "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0" \
        "Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXnd" \
        "S5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5Ihl" \
        "JH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"

static int parse(const char *json, struct jwks **ret) {
        return jwks_parse(json, strlen(json), ret);
}

/* Parse a set that must yield exactly one key and hand it back for inspection. */
static struct jwks *parse_one(const char *json) {
        struct jwks *k = NULL;
        CHECK_INT(parse(json, &k), 0);
        CHECK(k && k->n_keys == 1);
        return k;
}

static void test_rsa(void) {
        _cleanup_(jwks_freep) struct jwks *k = parse_one(
                "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"use\":\"sig\",\"alg\":\"RS256\",\"n\":\"" RSA_N
                "\",\"e\":\"AQAB\"}]}");
        if (!k)
                return;
        CHECK_STR(k->keys[0].kid, "r1");
        CHECK_STR(k->keys[0].kty, "RSA");
        CHECK_STR(k->keys[0].alg, "RS256");
        CHECK(k->keys[0].crv == NULL);
        CHECK(k->keys[0].issuer == NULL);
        CHECK(EVP_PKEY_is_a(k->keys[0].pkey, "RSA"));
        CHECK_INT(EVP_PKEY_get_bits(k->keys[0].pkey), 2048);
}

static void test_rsa_test_files(void) {
        static const char *const files[] = {
                "jwks-rfc7515-a2.json",
                "jwks-rfc7520-rsa.json",
        };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                size_t n;
                _cleanup_free_ char *json = tests_read_data(files[i], &n);
                _cleanup_(jwks_freep) struct jwks *k = NULL;

                /* The RFC JWKs carry private members too; only the public part is imported. */
                CHECK_INT(jwks_parse(json, n, &k), 0);
                CHECK(k && k->n_keys == 1 && EVP_PKEY_get_bits(k->keys[0].pkey) == 2048);
        }
}

static void test_ec_curves(void) {
        static const struct {
                const char *json, *crv;
                int bits;
        } v[] = {
                { "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}]}",
                  "P-256", 256 },
                { "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"" P384_X "\",\"y\":\"" P384_Y "\"}]}",
                  "P-384", 384 },
        };
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                _cleanup_(jwks_freep) struct jwks *k = parse_one(v[i].json);
                if (!k)
                        continue;
                CHECK_STR(k->keys[0].kty, "EC");
                CHECK_STR(k->keys[0].crv, v[i].crv);
                CHECK(k->keys[0].kid == NULL);
                CHECK(EVP_PKEY_is_a(k->keys[0].pkey, "EC"));
                CHECK_INT(EVP_PKEY_get_bits(k->keys[0].pkey), v[i].bits);
        }

        size_t n;
        _cleanup_free_ char *json = tests_read_data("jwks-rfc7520-ec.json", &n);
        _cleanup_(jwks_freep) struct jwks *k = NULL;
        CHECK_INT(jwks_parse(json, n, &k), 0);
        CHECK(k && k->n_keys == 1);
        if (k) {
                CHECK_STR(k->keys[0].crv, "P-521");
                CHECK_STR(k->keys[0].kid, "bilbo.baggins@hobbiton.example");
                CHECK_INT(EVP_PKEY_get_bits(k->keys[0].pkey), 521);
        }
}

static void test_okp_curves(void) {
        _cleanup_(jwks_freep) struct jwks *ed25519 =
                parse_one("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" ED25519_X "\"}]}");
        _cleanup_(jwks_freep) struct jwks *ed448 =
                parse_one("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"" ED448_X "\"}]}");

        if (ed25519) {
                CHECK_STR(ed25519->keys[0].kty, "OKP");
                CHECK_STR(ed25519->keys[0].crv, "Ed25519");
                CHECK(EVP_PKEY_is_a(ed25519->keys[0].pkey, "ED25519"));
        }
        if (ed448) {
                CHECK_STR(ed448->keys[0].crv, "Ed448");
                CHECK(EVP_PKEY_is_a(ed448->keys[0].pkey, "ED448"));
        }
}

static void test_entra_key(void) {
        /* Entra publishes an issuer per key and certificates we never use. */
        _cleanup_(jwks_freep) struct jwks *k = parse_one(
                "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"entra-1\",\"x5t\":\"entra-1\",\"n\":\"" RSA_N
                "\",\"e\":\"AQAB\",\"x5c\":[\"MIIC\"],\"cloud_instance_name\":\"microsoftonline.com\","
                "\"issuer\":\"https://login.microsoftonline.com/{tenantid}/v2.0\"}]}");
        if (!k)
                return;
        CHECK_STR(k->keys[0].issuer, "https://login.microsoftonline.com/{tenantid}/v2.0");
        CHECK_STR(k->keys[0].kid, "entra-1");
}

/* Each of these keys is unusable; placed beside one good key, only the good one survives. */
static const char *const skipped_keys[] = {
        "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"" RSA_N "\",\"e\":\"AQAB\"}",
        "{\"kty\":\"RSA\",\"use\":7,\"n\":\"" RSA_N "\",\"e\":\"AQAB\"}",
        "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}",
        "{\"n\":\"" RSA_N "\",\"e\":\"AQAB\"}",
        "{\"kty\":[\"RSA\"],\"n\":\"" RSA_N "\",\"e\":\"AQAB\"}",
        "{\"kty\":\"RSA\",\"n\":\"" RSA_N "\"}",
        "{\"kty\":\"RSA\",\"e\":\"AQAB\"}",
        "{\"kty\":\"RSA\",\"n\":\"" RSA_N "=\",\"e\":\"AQAB\"}",
        "{\"kty\":\"RSA\",\"n\":\"ofgW+uLj\",\"e\":\"AQAB\"}",
        "{\"kty\":\"RSA\",\"n\":12345,\"e\":\"AQAB\"}",
        "{\"kty\":\"RSA\",\"n\":\"" RSA_N "\",\"e\":\"AQAB\",\"kid\":42}",
        "{\"kty\":\"RSA\",\"n\":\"" RSA_N "\",\"e\":\"AQAB\",\"alg\":null}",
        "{\"kty\":\"RSA\",\"n\":\"oA\",\"e\":\"AQAB\"}",             /* even modulus */
        "{\"kty\":\"RSA\",\"n\":\"" RSA_N "\",\"e\":\"AQ\"}",         /* e = 1 */
        "{\"kty\":\"RSA\",\"n\":\"" RSA_N "\",\"e\":\"AQABAQABAQAB\"}", /* 9-byte exponent */
        "{\"kty\":\"EC\",\"crv\":\"P-192\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}",
        "{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}",
        "{\"kty\":\"EC\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y "\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" P256_X "\",\"y\":\"" P256_Y_OFF "\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" P256_X "\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}",
        "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"" ED25519_X "\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" ED448_X "\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"" ED25519_X "\"}",
        "{\"kty\":\"OKP\",\"x\":\"" ED25519_X "\"}",
        "\"just a string\"",
        "[1,2,3]",
        "null",
};

static void test_skipped(void) {
        for (size_t i = 0; i < ELEMENTSOF(skipped_keys); i++) {
                char json[4096];
                struct jwks *k = (struct jwks *) 0x1;

                snprintf(json, sizeof(json), "{\"keys\":[%s]}", skipped_keys[i]);
                CHECK_INT(parse(json, &k), -ENOKEY);
                CHECK(k == (struct jwks *) 0x1);

                snprintf(json, sizeof(json),
                         "{\"keys\":[%s,{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"good\",\"x\":\"" ED25519_X
                         "\"}]}",
                         skipped_keys[i]);
                k = NULL;
                CHECK_INT(parse(json, &k), 0);
                if (!k || k->n_keys != 1 || !streq_ptr(k->keys[0].kid, "good"))
                        fprintf(stderr, "key %zu was not skipped: %s\n", i, skipped_keys[i]);
                CHECK(k && k->n_keys == 1 && streq_ptr(k->keys[0].kid, "good"));
                jwks_free(k);
        }
}

static void test_empty(void) {
        struct jwks *k = (struct jwks *) 0x1;

        CHECK_INT(parse("{\"keys\":[]}", &k), -ENOKEY);
        CHECK(k == (struct jwks *) 0x1);
}

static void test_malformed(void) {
        static const char *const bad[] = {
                "",
                "not json",
                "{\"keys\":",
                "[]",
                "{}",
                "{\"keys\":{}}",
                "{\"keys\":\"RSA\"}",
                "{\"keys\":null}",
                "{\"keys\":[],\"keys\":[]}",
                "{\"keys\":[1e99999999999999]}",
                /* NUL inside a string would let "a\0b" pose as "a". */
                "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"a\\u0000b\",\"x\":\"" ED25519_X "\"}]}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct jwks *k = (struct jwks *) 0x1;
                CHECK_INT(parse(bad[i], &k), -EBADMSG);
                CHECK(k == (struct jwks *) 0x1);
        }
}

static void test_hostile(void) {
        struct jwks *k = NULL;
        size_t depth = 200000;
        char *deep = malloc(2 * depth + 32);

        /* Nesting far past any parser's stack must be refused, not crash. */
        if (deep) {
                size_t o = (size_t) sprintf(deep, "{\"keys\":");
                for (size_t i = 0; i < depth; i++)
                        deep[o++] = '[';
                for (size_t i = 0; i < depth; i++)
                        deep[o++] = ']';
                deep[o++] = '}';
                CHECK_INT(jwks_parse(deep, o, &k), -EBADMSG);
                free(deep);
        }

        /* Integers past 64 bits are a parse error, not a silent wrap. */
        CHECK_INT(parse("{\"keys\":[{\"kty\":\"RSA\",\"n\":1"
                        "00000000000000000000000000000000000000000000000000000000000000000000000000000,"
                        "\"e\":65537}]}",
                        &k),
                  -EBADMSG);
        /* Numbers and other wrong types where strings belong: skipped keys, nothing usable. */
        CHECK_INT(parse("{\"keys\":[{\"kty\":\"RSA\",\"n\":1e300,\"e\":65537}]}", &k), -ENOKEY);
        CHECK_INT(parse("{\"keys\":[{\"kty\":\"EC\",\"crv\":256,\"x\":true,\"y\":{}}]}", &k), -ENOKEY);
        CHECK(k == NULL);

        /* A modulus past 16384 bits is refused before it is decoded. */
        size_t big = 4000;
        char *huge = malloc(big + 128);
        if (huge) {
                size_t o = (size_t) sprintf(huge, "{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"");
                memset(huge + o, 'B', big);
                o += big;
                o += (size_t) sprintf(huge + o, "\"}]}");
                CHECK_INT(jwks_parse(huge, o, &k), -ENOKEY);
                free(huge);
        }

        /* A document larger than any real JWKS is refused outright. */
        CHECK_INT(jwks_parse("{}", (size_t) 2 * 1024 * 1024, &k), -EBADMSG);
        CHECK(k == NULL);
}

static void test_max_keys(void) {
        const char *key = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" ED25519_X "\"},";
        size_t n = JWKS_MAX_KEYS + 10, o;
        _cleanup_free_ char *json = malloc(n * strlen(key) + 32);
        _cleanup_(jwks_freep) struct jwks *k = NULL;

        if (!json)
                return;
        o = (size_t) sprintf(json, "{\"keys\":[");
        for (size_t i = 0; i < n; i++)
                o += (size_t) sprintf(json + o, "%s", key);
        json[o - 1] = ']';
        json[o++] = '}';
        CHECK_INT(jwks_parse(json, o, &k), 0);
        CHECK(k && k->n_keys == JWKS_MAX_KEYS);
}

static void test_free_null(void) {
        struct jwks *k = NULL;
        jwks_free(NULL);
        jwks_freep(&k);
        CHECK_INT(jwks_parse(NULL, 0, &k), -EINVAL);
}

int main(void) {
        RUN(test_rsa);
        RUN(test_rsa_test_files);
        RUN(test_ec_curves);
        RUN(test_okp_curves);
        RUN(test_entra_key);
        RUN(test_skipped);
        RUN(test_empty);
        RUN(test_malformed);
        RUN(test_hostile);
        RUN(test_max_keys);
        RUN(test_free_null);
        return tests_exit();
}
