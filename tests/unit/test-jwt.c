/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <openssl/bn.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "base64.h"
#include "jwt.h"
#include "macro.h"
#include "tests.h"

#define ISSUER "https://idp.example.test/realm"
#define CLIENT "cloudauth-test-client"
#define ENTRA_TEMPLATE "https://login.microsoftonline.com/{tenantid}/v2.0"
#define TENANT_A "4f2a1d7e-9b3c-4e8a-a1b2-c3d4e5f60718"
#define TENANT_B "0d9c8b7a-6e5f-4a3b-9c2d-1e0f2a3b4c5d"
#define NOW ((time_t) 1700000000)

/* Keys generated for this run; the matching public set is parsed with jwks_parse like a fetched one. */
static EVP_PKEY *rsa_key, *rsa_other, *rsa_small, *ec256_key, *ec384_key, *ed25519_key, *ed448_key;
static struct jwks *keyset;

static void pkey_freep(EVP_PKEY **p) {
        EVP_PKEY_free(*p);
}

static void bn_freep(BIGNUM **b) {
        BN_free(*b);
}

static char *b64(const void *data, size_t len) {
        char *s = NULL;
        if (base64url_encode(data, len, &s) < 0)
                abort();
        return s;
}

/* A JSON string that takes over a heap string. */
static json_t *json_string_take(char *s) {
        json_t *j = json_string(s);
        free(s);
        return j;
}

static char *b64_bn(EVP_PKEY *k, const char *param, int pad) {
        _cleanup_(bn_freep) BIGNUM *bn = NULL;
        unsigned char buf[1024];
        int n;

        if (!EVP_PKEY_get_bn_param(k, param, &bn))
                abort();
        n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
        if (n <= 0)
                abort();
        return b64(buf, (size_t) n);
}

/* The public JWK of a key, as an IdP would publish it. */
static json_t *jwk_of(EVP_PKEY *k, const char *kid, const char *alg) {
        json_t *j = json_object();

        if (kid)
                json_object_set_new(j, "kid", json_string(kid));
        if (alg)
                json_object_set_new(j, "alg", json_string(alg));
        json_object_set_new(j, "use", json_string("sig"));

        if (EVP_PKEY_is_a(k, "RSA")) {
                json_object_set_new(j, "kty", json_string("RSA"));
                json_object_set_new(j, "n", json_string_take(b64_bn(k, OSSL_PKEY_PARAM_RSA_N, 0)));
                json_object_set_new(j, "e", json_string_take(b64_bn(k, OSSL_PKEY_PARAM_RSA_E, 0)));
        } else if (EVP_PKEY_is_a(k, "EC")) {
                int bits = EVP_PKEY_get_bits(k), len = (bits + 7) / 8;
                json_object_set_new(j, "kty", json_string("EC"));
                json_object_set_new(j, "crv", json_string(bits == 256 ? "P-256" : bits == 384 ? "P-384" : "P-521"));
                json_object_set_new(j, "x", json_string_take(b64_bn(k, OSSL_PKEY_PARAM_EC_PUB_X, len)));
                json_object_set_new(j, "y", json_string_take(b64_bn(k, OSSL_PKEY_PARAM_EC_PUB_Y, len)));
        } else {
                unsigned char raw[64];
                size_t n = sizeof(raw);
                if (!EVP_PKEY_get_raw_public_key(k, raw, &n))
                        abort();
                json_object_set_new(j, "kty", json_string("OKP"));
                json_object_set_new(j, "crv", json_string(EVP_PKEY_is_a(k, "ED25519") ? "Ed25519" : "Ed448"));
                json_object_set_new(j, "x", json_string_take(b64(raw, n)));
        }
        return j;
}

static struct jwks *jwks_of(json_t *keys_array) {
        json_t *doc = json_pack("{s:o}", "keys", keys_array);
        char *s = json_dumps(doc, JSON_COMPACT);
        struct jwks *k = NULL;

        if (jwks_parse(s, strlen(s), &k) < 0)
                abort();
        free(s);
        json_decref(doc);
        return k;
}

static const char *md_of(const char *alg) {
        if (strstr(alg, "256"))
                return "SHA256";
        if (strstr(alg, "384"))
                return "SHA384";
        if (strstr(alg, "512"))
                return "SHA512";
        return NULL;
}

/* Sign input as the JWS alg says, producing JWS-format signature bytes. */
static unsigned char *sign_jws(EVP_PKEY *k, const char *alg, const char *input, size_t *ret_len) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        const char *md = streq(alg, "EdDSA") ? NULL : md_of(alg);
        unsigned char *sig;
        size_t len = 0;

        if (!ctx || EVP_DigestSignInit_ex(ctx, &pctx, md, NULL, NULL, k, NULL) != 1)
                abort();
        if (alg[0] == 'P' && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                              EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
                abort();
        if (EVP_DigestSign(ctx, NULL, &len, (const unsigned char *) input, strlen(input)) != 1)
                abort();
        sig = malloc(len);
        if (!sig || EVP_DigestSign(ctx, sig, &len, (const unsigned char *) input, strlen(input)) != 1)
                abort();
        EVP_MD_CTX_free(ctx);

        if (alg[0] == 'E' && alg[1] == 'S') {
                const unsigned char *p = sig;
                ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long) len);
                int coord = (EVP_PKEY_get_bits(k) + 7) / 8;
                unsigned char *raw = malloc((size_t) coord * 2);
                if (!es || !raw || BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, coord) != coord ||
                    BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + coord, coord) != coord)
                        abort();
                ECDSA_SIG_free(es);
                free(sig);
                sig = raw;
                len = (size_t) coord * 2;
        }
        *ret_len = len;
        return sig;
}

/* A compact JWS from literal header and payload JSON; the caller frees. */
static char *mint_raw(EVP_PKEY *k, const char *sign_alg, const char *header, const char *payload) {
        _cleanup_free_ char *h = b64(header, strlen(header)), *p = b64(payload, strlen(payload));
        _cleanup_free_ unsigned char *sig = NULL;
        _cleanup_free_ char *s = NULL;
        char *input, *token;
        size_t sig_len;

        if (asprintf(&input, "%s.%s", h, p) < 0)
                abort();
        sig = sign_jws(k, sign_alg, input, &sig_len);
        s = b64(sig, sig_len);
        if (asprintf(&token, "%s.%s", input, s) < 0)
                abort();
        free(input);
        return token;
}

/* Claims a well-behaved IdP would issue at NOW for our client. */
static json_t *claims_good(void) {
        return json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s}", "iss", ISSUER, "sub", "user-42", "aud", CLIENT, "iat",
                         (json_int_t) NOW - 10, "nbf", (json_int_t) NOW - 10, "exp", (json_int_t) NOW + 3600,
                         "preferred_username", "alice@example.com");
}

static char *claims_good_text(void) {
        json_t *c = claims_good();
        char *s = json_dumps(c, JSON_COMPACT);
        json_decref(c);
        return s;
}

/* Mint with a header of alg and kid (NULL for none), taking ownership of claims. */
static char *mint(EVP_PKEY *k, const char *alg, const char *kid, json_t *claims) {
        json_t *hdr = json_pack("{s:s,s:s}", "alg", alg, "typ", "JWT");
        char *h, *p, *t;

        if (kid)
                json_object_set_new(hdr, "kid", json_string(kid));
        h = json_dumps(hdr, JSON_COMPACT);
        p = json_dumps(claims, JSON_COMPACT);
        t = mint_raw(k, alg, h, p);
        free(h);
        free(p);
        json_decref(hdr);
        json_decref(claims);
        return t;
}

static struct jwt_policy policy_good(void) {
        return (struct jwt_policy) {
                .issuer = ISSUER,
                .client_id = CLIENT,
                .leeway = 0,
                .now = NOW,
        };
}

/* Run jwt_verify and check the result; on failure the claims pointer must stay as it was. */
static void expect(const char *token, const struct jwt_policy *policy, int errno_expected, enum jwt_error e_expected,
                   const char *what) {
        json_t *sentinel = (json_t *) 0x1, *claims = sentinel;
        enum jwt_error e = (enum jwt_error) 999;
        int r;

        r = jwt_verify(token, strlen(token), keyset, policy, &claims, &e);
        if (r != errno_expected || e != e_expected)
                fprintf(stderr, "%s: got %d (%s), expected %d (%s)\n", what, r, jwt_error_to_string(e),
                        errno_expected, jwt_error_to_string(e_expected));
        CHECK_INT(r, errno_expected);
        CHECK_INT(e, e_expected);
        if (r < 0)
                CHECK(claims == sentinel);
        else {
                CHECK(claims != sentinel && json_is_object(claims));
                if (claims != sentinel)
                        json_decref(claims);
        }
}

static void expect_claims(json_t *claims, const struct jwt_policy *p, int errno_expected, enum jwt_error e_expected,
                          const char *what) {
        _cleanup_free_ char *t = mint(rsa_key, "RS256", "rsa-1", claims);
        expect(t, p, errno_expected, e_expected, what);
}

static char *read_token(const char *name) {
        char *t = tests_read_data(name, NULL);
        t[strcspn(t, "\r\n")] = 0;
        return t;
}

static struct jwks *read_jwks(const char *name) {
        size_t n;
        _cleanup_free_ char *json = tests_read_data(name, &n);
        struct jwks *k = NULL;
        CHECK_INT(jwks_parse(json, n, &k), 0);
        return k;
}

/* --- RFC vectors: signatures only, since their payloads are no ID tokens. --- */

static void test_rfc7515_a2_rs256(void) {
        _cleanup_free_ char *t = read_token("jwt-rfc7515-a2.txt");
        _cleanup_(jwks_freep) struct jwks *k = read_jwks("jwks-rfc7515-a2.json");
        _cleanup_(json_decrefp) json_t *header = NULL, *claims = NULL;
        enum jwt_error e;
        struct jwt_policy p = { .issuer = "joe", .client_id = CLIENT, .now = 1300819379 };

        CHECK_INT(jwt_verify_signature(t, strlen(t), k, &header, &claims, &e), 0);
        CHECK_INT(e, JWT_OK);
        CHECK_STR(json_string_value(json_object_get(header, "alg")), "RS256");
        CHECK_STR(json_string_value(json_object_get(claims, "iss")), "joe");
        CHECK_INT(json_integer_value(json_object_get(claims, "exp")), 1300819380);
        CHECK(json_is_true(json_object_get(claims, "http://example.com/is_root")));

        /* The RFC's claims have no aud, iat or sub: an ID token policy refuses them. */
        CHECK_INT(jwt_check_claims(claims, &p, &e), -EACCES);
        CHECK_INT(e, JWT_MISSING_CLAIM);

        /* The same token after one bit of the signature is changed. */
        t[strlen(t) - 2] ^= 0x01;
        json_t *h2 = (json_t *) 0x1, *c2 = (json_t *) 0x1;
        CHECK_INT(jwt_verify_signature(t, strlen(t), k, &h2, &c2, &e), -EKEYREJECTED);
        CHECK_INT(e, JWT_BAD_SIGNATURE);
        CHECK(h2 == (json_t *) 0x1 && c2 == (json_t *) 0x1);
}

static void test_rfc7515_a3_es256(void) {
        _cleanup_free_ char *t = read_token("jwt-rfc7515-a3.txt");
        _cleanup_(jwks_freep) struct jwks *k = read_jwks("jwks-rfc7515-a3.json");
        _cleanup_(json_decrefp) json_t *claims = NULL;
        enum jwt_error e;

        CHECK_INT(jwt_verify_signature(t, strlen(t), k, NULL, &claims, &e), 0);
        CHECK_INT(e, JWT_OK);
        CHECK_STR(json_string_value(json_object_get(claims, "iss")), "joe");

        /* One changed character of R. */
        char *sig = strrchr(t, '.') + 1;
        char saved = sig[5];
        sig[5] = saved == 'A' ? 'B' : 'A';
        CHECK_INT(jwt_verify_signature(t, strlen(t), k, NULL, NULL, &e), -EKEYREJECTED);
        CHECK_INT(e, JWT_BAD_SIGNATURE);
        sig[5] = saved;
        CHECK_INT(jwt_verify_signature(t, strlen(t), k, NULL, NULL, &e), 0);
}

static void test_rfc7520(void) {
        _cleanup_(jwks_freep) struct jwks *rsa = read_jwks("jwks-rfc7520-rsa.json");
        _cleanup_(jwks_freep) struct jwks *ec = read_jwks("jwks-rfc7520-ec.json");
        static const struct {
                const char *file;
                bool rsa;
        } v[] = {
                { "jwt-rfc7520-4.1.txt", true },  /* RS256 */
                { "jwt-rfc7520-4.2.txt", true },  /* PS384 */
                { "jwt-rfc7520-4.3.txt", false }, /* ES512 */
        };

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                _cleanup_free_ char *t = read_token(v[i].file);
                _cleanup_(json_decrefp) json_t *header = NULL;
                enum jwt_error e;

                /* The payload is prose, not JSON: ask for the signature check only. */
                CHECK_INT(jwt_verify_signature(t, strlen(t), v[i].rsa ? rsa : ec, &header, NULL, &e), 0);
                CHECK_INT(e, JWT_OK);
                CHECK_STR(json_string_value(json_object_get(header, "kid")), "bilbo.baggins@hobbiton.example");

                /* Same kid in the other set, wrong key type: RS/PS vs EC key, ES512 vs RSA key. */
                CHECK_INT(jwt_verify_signature(t, strlen(t), v[i].rsa ? ec : rsa, NULL, NULL, &e), -EKEYREJECTED);
                CHECK_INT(e, JWT_KEY_MISMATCH);

                /* Asking for claims of a prose payload is a malformed token, after the signature held. */
                json_t *c = (json_t *) 0x1;
                CHECK_INT(jwt_verify_signature(t, strlen(t), v[i].rsa ? rsa : ec, NULL, &c, &e), -EBADMSG);
                CHECK_INT(e, JWT_MALFORMED);
                CHECK(c == (json_t *) 0x1);
        }
}

static void test_rfc8037_ed25519(void) {
        _cleanup_free_ char *t = read_token("jwt-rfc8037-a4.txt");
        _cleanup_(jwks_freep) struct jwks *k = read_jwks("jwks-rfc8037-ed25519.json");
        enum jwt_error e;

        CHECK_INT(jwt_verify_signature(t, strlen(t), k, NULL, NULL, &e), 0);
        CHECK_INT(e, JWT_OK);

        /* One changed payload character breaks the signature. */
        char *payload = strchr(t, '.') + 1;
        payload[0] = 'S';
        CHECK_INT(jwt_verify_signature(t, strlen(t), k, NULL, NULL, &e), -EKEYREJECTED);
        CHECK_INT(e, JWT_BAD_SIGNATURE);
}

/* --- Minted tokens through jwt_verify. --- */

static void test_good_tokens(void) {
        struct jwt_policy p = policy_good();
        static const struct {
                const char *alg, *kid;
                EVP_PKEY **key;
        } v[] = {
                { "RS256", "rsa-1", &rsa_key },   { "RS384", "rsa-1", &rsa_key },   { "RS512", "rsa-1", &rsa_key },
                { "PS256", "rsa-1", &rsa_key },   { "PS384", "rsa-1", &rsa_key },   { "PS512", "rsa-1", &rsa_key },
                { "ES256", "ec-256", &ec256_key }, { "ES384", "ec-384", &ec384_key }, { "EdDSA", "ed-25519", &ed25519_key },
                { "EdDSA", "ed-448", &ed448_key },
        };

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                _cleanup_free_ char *t = mint(*v[i].key, v[i].alg, v[i].kid, claims_good());
                json_t *claims = NULL;
                enum jwt_error e;

                CHECK_INT(jwt_verify(t, strlen(t), keyset, &p, &claims, &e), 0);
                if (e != JWT_OK)
                        fprintf(stderr, "%s/%s: %s\n", v[i].alg, v[i].kid, jwt_error_to_string(e));
                CHECK_INT(e, JWT_OK);
                CHECK_STR(json_string_value(json_object_get(claims, "sub")), "user-42");
                CHECK_STR(json_string_value(json_object_get(claims, "preferred_username")), "alice@example.com");
                json_decref(claims);
        }
}

static void test_no_kid_tries_fitting_keys(void) {
        struct jwt_policy p = policy_good();
        /* rsa_other is the second RSA key in the set; the first fitting key fails, the second holds. */
        _cleanup_free_ char *t = mint(rsa_other, "RS256", NULL, claims_good());
        expect(t, &p, 0, JWT_OK, "no kid");

        _cleanup_free_ char *ed = mint(ed448_key, "EdDSA", NULL, claims_good());
        expect(ed, &p, 0, JWT_OK, "no kid, EdDSA");
}

static void test_alg_none(void) {
        struct jwt_policy p = policy_good();
        _cleanup_free_ char *c = claims_good_text();
        static const char *const headers[] = { "{\"alg\":\"none\"}", "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}",
                                               "{\"alg\":\"\"}" };

        for (size_t i = 0; i < ELEMENTSOF(headers); i++) {
                _cleanup_free_ char *h = b64(headers[i], strlen(headers[i])), *pl = b64(c, strlen(c));
                _cleanup_free_ char *t = NULL;
                if (asprintf(&t, "%s.%s.", h, pl) < 0)
                        abort();
                expect(t, &p, -EKEYREJECTED, JWT_ALG_REFUSED, headers[i]);
        }
}

static void test_hs256_with_public_key(void) {
        struct jwt_policy p = policy_good();
        _cleanup_free_ char *c = claims_good_text();
        const char *hdr = "{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}";
        _cleanup_free_ char *h = b64(hdr, strlen(hdr)), *pl = b64(c, strlen(c));
        _cleanup_free_ char *input = NULL, *t = NULL, *s = NULL;
        unsigned char mac[32];
        size_t mac_len = 0;
        BIO *bio = BIO_new(BIO_s_mem());
        char *pem;
        long pem_len;

        /* The classic confusion: the published RSA key, as PEM, used as an HMAC secret. */
        if (!bio || PEM_write_bio_PUBKEY(bio, rsa_key) != 1)
                abort();
        pem_len = BIO_get_mem_data(bio, &pem);
        if (asprintf(&input, "%s.%s", h, pl) < 0)
                abort();
        if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, pem, (size_t) pem_len, (unsigned char *) input,
                       strlen(input), mac, sizeof(mac), &mac_len))
                abort();
        BIO_free(bio);
        s = b64(mac, mac_len);
        if (asprintf(&t, "%s.%s", input, s) < 0)
                abort();
        expect(t, &p, -EKEYREJECTED, JWT_ALG_REFUSED, "HS256");

        static const char *const others[] = { "HS384", "HS512", "RSA-OAEP", "ES256K", "rs256", "Ed25519" };
        for (size_t i = 0; i < ELEMENTSOF(others); i++) {
                char hj[64];
                snprintf(hj, sizeof(hj), "{\"alg\":\"%s\"}", others[i]);
                _cleanup_free_ char *h2 = b64(hj, strlen(hj)), *t2 = NULL;
                if (asprintf(&t2, "%s.%s.%s", h2, pl, s) < 0)
                        abort();
                expect(t2, &p, -EKEYREJECTED, JWT_ALG_REFUSED, others[i]);
        }
}

static void test_unknown_kid(void) {
        struct jwt_policy p = policy_good();
        _cleanup_free_ char *t = mint(rsa_key, "RS256", "rotated-away", claims_good());
        expect(t, &p, -ENOKEY, JWT_UNKNOWN_KID, "unknown kid");
}

static void test_other_key(void) {
        struct jwt_policy p = policy_good();
        /* Signed by rsa_other but claiming rsa_key's kid. */
        _cleanup_free_ char *t = mint(rsa_other, "RS256", "rsa-1", claims_good());
        expect(t, &p, -EKEYREJECTED, JWT_BAD_SIGNATURE, "other key");

        /* A key we never published, with no kid: no key in the set verifies it. */
        _cleanup_(pkey_freep) EVP_PKEY *stranger = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        _cleanup_free_ char *t2 = mint(stranger, "ES256", NULL, claims_good());
        expect(t2, &p, -EKEYREJECTED, JWT_BAD_SIGNATURE, "stranger key");
}

static void test_tampered_payload(void) {
        struct jwt_policy p = policy_good();
        _cleanup_free_ char *good = mint(rsa_key, "RS256", "rsa-1", claims_good());
        json_t *evil = claims_good();
        json_object_set_new(evil, "sub", json_string("root"));
        _cleanup_free_ char *c = json_dumps(evil, JSON_COMPACT), *pl = b64(c, strlen(c));
        json_decref(evil);

        /* Keep the header and signature, swap in other claims. */
        char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
        _cleanup_free_ char *t = NULL;
        if (asprintf(&t, "%.*s.%s%s", (int) (dot1 - good), good, pl, dot2) < 0)
                abort();
        expect(t, &p, -EKEYREJECTED, JWT_BAD_SIGNATURE, "tampered");
}

static void test_kty_alg_mismatch(void) {
        struct jwt_policy p = policy_good();

        /* ES256 token naming an RSA key, RS256 naming an EC key, EdDSA naming RSA, ES384 naming P-256. */
        _cleanup_free_ char *a = mint(ec256_key, "ES256", "rsa-1", claims_good());
        expect(a, &p, -EKEYREJECTED, JWT_KEY_MISMATCH, "ES256 vs RSA");
        _cleanup_free_ char *b = mint(rsa_key, "RS256", "ec-256", claims_good());
        expect(b, &p, -EKEYREJECTED, JWT_KEY_MISMATCH, "RS256 vs EC");
        _cleanup_free_ char *c = mint(ed25519_key, "EdDSA", "rsa-1", claims_good());
        expect(c, &p, -EKEYREJECTED, JWT_KEY_MISMATCH, "EdDSA vs RSA");
        _cleanup_free_ char *d = mint(ec384_key, "ES384", "ec-256", claims_good());
        expect(d, &p, -EKEYREJECTED, JWT_KEY_MISMATCH, "ES384 vs P-256");

        /* The JWK pins RS512; an RS256 token under it does not fit. */
        _cleanup_free_ char *e = mint(rsa_other, "RS256", "rsa-pinned", claims_good());
        expect(e, &p, -EKEYREJECTED, JWT_KEY_MISMATCH, "JWK alg pin");
        _cleanup_free_ char *f = mint(rsa_other, "RS512", "rsa-pinned", claims_good());
        expect(f, &p, 0, JWT_OK, "JWK alg pin honoured");

        /* A 1024-bit RSA key is below the floor even though it signed correctly. */
        _cleanup_free_ char *g = mint(rsa_small, "RS256", "rsa-small", claims_good());
        expect(g, &p, -EKEYREJECTED, JWT_KEY_MISMATCH, "small RSA");
}

static void test_ecdsa_signature_format(void) {
        struct jwt_policy p = policy_good();
        _cleanup_free_ char *c = claims_good_text();
        const char *hdr = "{\"alg\":\"ES256\",\"kid\":\"ec-256\"}";
        _cleanup_free_ char *h = b64(hdr, strlen(hdr)), *pl = b64(c, strlen(c));
        _cleanup_free_ char *input = NULL, *t = NULL, *s = NULL;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned char der[128];
        size_t der_len = sizeof(der);

        /* A DER signature, as some libraries wrongly emit: wrong length, so a bad signature. */
        if (asprintf(&input, "%s.%s", h, pl) < 0 || !ctx ||
            EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, ec256_key, NULL) != 1 ||
            EVP_DigestSign(ctx, der, &der_len, (unsigned char *) input, strlen(input)) != 1)
                abort();
        EVP_MD_CTX_free(ctx);
        s = b64(der, der_len);
        if (asprintf(&t, "%s.%s", input, s) < 0)
                abort();
        expect(t, &p, -EKEYREJECTED, JWT_BAD_SIGNATURE, "DER ECDSA");

        /* A raw signature one byte short. */
        _cleanup_free_ char *good = mint(ec256_key, "ES256", "ec-256", claims_good());
        _cleanup_free_ unsigned char *raw = NULL;
        size_t raw_len;
        char *sig = strrchr(good, '.') + 1;
        CHECK_INT(base64url_decode(sig, strlen(sig), &raw, &raw_len), 0);
        CHECK_INT(raw_len, 64);
        _cleanup_free_ char *short_sig = b64(raw, 63), *t2 = NULL;
        if (asprintf(&t2, "%s.%s", input, short_sig) < 0)
                abort();
        expect(t2, &p, -EKEYREJECTED, JWT_BAD_SIGNATURE, "short ECDSA");

        /* An all-zero R||S of the right length. */
        unsigned char zero[64] = { 0 };
        _cleanup_free_ char *zs = b64(zero, sizeof(zero)), *t3 = NULL;
        if (asprintf(&t3, "%s.%s", input, zs) < 0)
                abort();
        expect(t3, &p, -EKEYREJECTED, JWT_BAD_SIGNATURE, "zero ECDSA");
}

static void test_crit(void) {
        struct jwt_policy p = policy_good();
        _cleanup_free_ char *c = claims_good_text();
        _cleanup_free_ char *t = mint_raw(rsa_key, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"crit\":[\"exp\"],\"exp\":1}", c);
        expect(t, &p, -EKEYREJECTED, JWT_CRIT, "crit");
}

static void test_key_headers_ignored(void) {
        struct jwt_policy p = policy_good();
        _cleanup_(pkey_freep) EVP_PKEY *attacker = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
        _cleanup_(json_decrefp) json_t *ajwk = jwk_of(attacker, NULL, NULL);
        _cleanup_(json_decrefp) json_t *hdr = json_pack("{s:s,s:O,s:s,s:s}", "alg", "RS256", "jwk", ajwk, "jku",
                                                        "https://attacker.example/jwks", "x5u",
                                                        "https://attacker.example/cert");
        _cleanup_free_ char *h = json_dumps(hdr, JSON_COMPACT);
        _cleanup_free_ char *c = claims_good_text();

        /* Signed by a key the token itself carries: that key is never used. */
        _cleanup_free_ char *t = mint_raw(attacker, "RS256", h, c);
        expect(t, &p, -EKEYREJECTED, JWT_BAD_SIGNATURE, "embedded jwk");

        /* The same headers on a token our IdP really signed change nothing. */
        json_object_set_new(hdr, "kid", json_string("rsa-1"));
        _cleanup_free_ char *h2 = json_dumps(hdr, JSON_COMPACT);
        _cleanup_free_ char *t2 = mint_raw(rsa_key, "RS256", h2, c);
        expect(t2, &p, 0, JWT_OK, "ignored jku/x5u/jwk");
}

static void test_typ(void) {
        struct jwt_policy p = policy_good();
        _cleanup_free_ char *c = claims_good_text();
        static const struct {
                const char *typ;
                bool ok;
        } v[] = {
                { "\"JWT\"", true },           { "\"jwt\"", true },    { "\"application/jwt\"", true },
                { "\"at+jwt\"", true },        { "\"JOSE\"", false },  { "\"JWE\"", false },
                { "\"application/json\"", false }, { "42", false },   { "\"\"", false },
                { "\"+jwt\"", false },
        };

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                char h[128];
                snprintf(h, sizeof(h), "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"typ\":%s}", v[i].typ);
                _cleanup_free_ char *t = mint_raw(rsa_key, "RS256", h, c);
                expect(t, &p, v[i].ok ? 0 : -EBADMSG, v[i].ok ? JWT_OK : JWT_MALFORMED, v[i].typ);
        }
}

static void test_malformed(void) {
        struct jwt_policy p = policy_good();
        _cleanup_free_ char *good = mint(rsa_key, "RS256", "rsa-1", claims_good());
        char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
        _cleanup_free_ char *two = strndup(good, (size_t) (dot2 - good));
        _cleanup_free_ char *four = NULL, *plus = NULL, *padded = NULL, *space = NULL, *nohdr = NULL;

        expect(two, &p, -EBADMSG, JWT_MALFORMED, "two parts");
        if (asprintf(&four, "%s.AAAA", good) < 0 || asprintf(&nohdr, "%s", dot1) < 0 ||
            asprintf(&padded, "%.*s=%s", (int) (dot1 - good), good, dot1) < 0 ||
            asprintf(&space, "%s ", good) < 0)
                abort();
        expect(four, &p, -EBADMSG, JWT_MALFORMED, "four parts");
        expect(nohdr, &p, -EBADMSG, JWT_MALFORMED, "empty header");
        expect(padded, &p, -EBADMSG, JWT_MALFORMED, "padded header");
        expect(space, &p, -EBADMSG, JWT_MALFORMED, "trailing space");
        expect("", &p, -EBADMSG, JWT_MALFORMED, "empty");
        expect("..", &p, -EBADMSG, JWT_MALFORMED, "dots");

        /* A signature character outside the URL-safe alphabet. */
        plus = strdup(good);
        plus[strlen(plus) - 3] = '+';
        expect(plus, &p, -EBADMSG, JWT_MALFORMED, "bad base64 signature");

        /* Headers that are not a JSON object. */
        static const char *const headers[] = { "[\"RS256\"]", "\"RS256\"", "{\"alg\":\"RS256\"", "{\"alg\":256}",
                                               "{\"alg\":\"RS256\",\"alg\":\"none\"}",
                                               "{\"alg\":\"RS256\",\"kid\":7}" };
        _cleanup_free_ char *c = claims_good_text();
        for (size_t i = 0; i < ELEMENTSOF(headers); i++) {
                _cleanup_free_ char *h = b64(headers[i], strlen(headers[i])), *pl = b64(c, strlen(c)), *t = NULL;
                if (asprintf(&t, "%s.%s.%s", h, pl, dot2 + 1) < 0)
                        abort();
                expect(t, &p, -EBADMSG, JWT_MALFORMED, headers[i]);
        }

        /* Correctly signed, but the claims are not one JSON object. */
        static const char *const payloads[] = { "[1,2]", "not json", "{\"sub\":\"a\",\"sub\":\"b\"}", "" };
        for (size_t i = 0; i < ELEMENTSOF(payloads); i++) {
                _cleanup_free_ char *t = mint_raw(rsa_key, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", payloads[i]);
                expect(t, &p, -EBADMSG, JWT_MALFORMED, payloads[i]);
        }

        /* An empty signature under an allowed alg. */
        _cleanup_free_ char *nosig = strndup(good, (size_t) (dot2 - good) + 1);
        expect(nosig, &p, -EKEYREJECTED, JWT_BAD_SIGNATURE, "empty signature");
}

static void test_oversized(void) {
        struct jwt_policy p = policy_good();
        json_t *claims = claims_good();
        size_t pad = JWT_MAX_SIZE;
        char *filler = malloc(pad + 1);
        json_t *out = (json_t *) 0x1;
        enum jwt_error e;

        memset(filler, 'x', pad);
        filler[pad] = 0;
        json_object_set_new(claims, "filler", json_string(filler));
        free(filler);
        _cleanup_free_ char *t = mint(rsa_key, "RS256", "rsa-1", claims);
        expect(t, &p, -EBADMSG, JWT_TOO_LARGE, "oversized");

        /* The size is refused before a single byte is read. */
        CHECK_INT(jwt_verify("x", (size_t) JWT_MAX_SIZE + 1, keyset, &p, &out, &e), -EBADMSG);
        CHECK_INT(e, JWT_TOO_LARGE);
        CHECK(out == (json_t *) 0x1);
}

/* --- Claims. --- */

static json_t *claims_with(const char *name, json_t *value) {
        json_t *c = claims_good();
        if (value)
                json_object_set_new(c, name, value);
        else
                json_object_del(c, name);
        return c;
}

static void test_missing_claims(void) {
        struct jwt_policy p = policy_good();
        static const char *const required[] = { "iss", "sub", "aud", "exp", "iat" };

        for (size_t i = 0; i < ELEMENTSOF(required); i++)
                expect_claims(claims_with(required[i], NULL), &p, -EACCES, JWT_MISSING_CLAIM, required[i]);

        expect_claims(claims_with("exp", json_string("1700003600")), &p, -EACCES, JWT_MISSING_CLAIM, "exp string");
        expect_claims(claims_with("iat", json_true()), &p, -EACCES, JWT_MISSING_CLAIM, "iat bool");
        expect_claims(claims_with("nbf", json_null()), &p, -EACCES, JWT_MISSING_CLAIM, "nbf null");
        expect_claims(claims_with("sub", json_integer(42)), &p, -EACCES, JWT_MISSING_CLAIM, "sub number");
        expect_claims(claims_with("iss", json_array()), &p, -EACCES, JWT_MISSING_CLAIM, "iss array");
        expect_claims(claims_with("aud", json_integer(1)), &p, -EACCES, JWT_MISSING_CLAIM, "aud number");
        expect_claims(claims_with("aud", json_array()), &p, -EACCES, JWT_MISSING_CLAIM, "aud empty");
        expect_claims(claims_with("aud", json_pack("[s,i]", CLIENT, 3)), &p, -EACCES, JWT_MISSING_CLAIM, "aud mixed");
        expect_claims(claims_with("azp", json_integer(1)), &p, -EACCES, JWT_MISSING_CLAIM, "azp number");
        expect_claims(claims_with("exp", json_real(1e300)), &p, -EACCES, JWT_MISSING_CLAIM, "exp absurd");

        /* A fractional NumericDate is fine. */
        expect_claims(claims_with("exp", json_real((double) NOW + 100.5)), &p, 0, JWT_OK, "exp real");
}

static void test_time_claims(void) {
        struct jwt_policy p = policy_good();

        expect_claims(claims_with("exp", json_integer(NOW - 1)), &p, -EACCES, JWT_EXPIRED, "expired");
        expect_claims(claims_with("nbf", json_integer(NOW + 600)), &p, -EACCES, JWT_NOT_YET_VALID, "nbf");
        expect_claims(claims_with("iat", json_integer(NOW + 600)), &p, -EACCES, JWT_ISSUED_IN_FUTURE, "iat");
        expect_claims(claims_with("nbf", NULL), &p, 0, JWT_OK, "no nbf");
}

static void test_leeway_boundaries(void) {
        struct jwt_policy p = policy_good();

        /* Without leeway: valid strictly before exp, from nbf on, iat up to now. */
        expect_claims(claims_with("exp", json_integer(NOW)), &p, -EACCES, JWT_EXPIRED, "exp == now");
        expect_claims(claims_with("exp", json_integer(NOW + 1)), &p, 0, JWT_OK, "exp == now + 1");
        expect_claims(claims_with("nbf", json_integer(NOW)), &p, 0, JWT_OK, "nbf == now");
        expect_claims(claims_with("nbf", json_integer(NOW + 1)), &p, -EACCES, JWT_NOT_YET_VALID, "nbf == now + 1");
        expect_claims(claims_with("iat", json_integer(NOW)), &p, 0, JWT_OK, "iat == now");
        expect_claims(claims_with("iat", json_integer(NOW + 1)), &p, -EACCES, JWT_ISSUED_IN_FUTURE, "iat == now + 1");

        p.leeway = 60;
        expect_claims(claims_with("exp", json_integer(NOW - 59)), &p, 0, JWT_OK, "exp == now - leeway + 1");
        expect_claims(claims_with("exp", json_integer(NOW - 60)), &p, -EACCES, JWT_EXPIRED, "exp == now - leeway");
        expect_claims(claims_with("nbf", json_integer(NOW + 60)), &p, 0, JWT_OK, "nbf == now + leeway");
        expect_claims(claims_with("nbf", json_integer(NOW + 61)), &p, -EACCES, JWT_NOT_YET_VALID, "nbf > now + leeway");
        expect_claims(claims_with("iat", json_integer(NOW + 60)), &p, 0, JWT_OK, "iat == now + leeway");
        expect_claims(claims_with("iat", json_integer(NOW + 61)), &p, -EACCES, JWT_ISSUED_IN_FUTURE, "iat > now + leeway");
}

static void test_issuer(void) {
        struct jwt_policy p = policy_good();

        expect_claims(claims_with("iss", json_string(ISSUER "/")), &p, -EACCES, JWT_BAD_ISSUER, "iss trailing slash");
        expect_claims(claims_with("iss", json_string("https://evil.example.test/realm")), &p, -EACCES, JWT_BAD_ISSUER,
                      "iss other");
        expect_claims(claims_with("iss", json_string("HTTPS://IDP.EXAMPLE.TEST/realm")), &p, -EACCES, JWT_BAD_ISSUER,
                      "iss case");
}

static void test_audience(void) {
        struct jwt_policy p = policy_good();
        char *const extra[] = { (char *) "api://trusted", NULL };

        expect_claims(claims_with("aud", json_string("someone-else")), &p, -EACCES, JWT_BAD_AUDIENCE, "aud other");
        expect_claims(claims_with("aud", json_pack("[s,s]", "a", "b")), &p, -EACCES, JWT_BAD_AUDIENCE, "aud array other");
        expect_claims(claims_with("aud", json_pack("[s]", CLIENT)), &p, 0, JWT_OK, "aud array");
        expect_claims(claims_with("aud", json_pack("[s,s]", CLIENT, "api://trusted")), &p, -EACCES,
                      JWT_UNTRUSTED_AUDIENCE, "extra aud, none trusted");
        p.extra_audiences = extra;
        expect_claims(claims_with("aud", json_pack("[s,s]", "api://trusted", CLIENT)), &p, 0, JWT_OK, "trusted aud");
        expect_claims(claims_with("aud", json_pack("[s,s,s]", CLIENT, "api://trusted", "api://evil")), &p, -EACCES,
                      JWT_UNTRUSTED_AUDIENCE, "untrusted aud");
        /* Trusted extras do not stand in for our own client_id. */
        expect_claims(claims_with("aud", json_string("api://trusted")), &p, -EACCES, JWT_BAD_AUDIENCE, "only extra");
}

static void test_azp(void) {
        struct jwt_policy p = policy_good();

        expect_claims(claims_with("azp", json_string(CLIENT)), &p, 0, JWT_OK, "azp ours");
        expect_claims(claims_with("azp", json_string("other-client")), &p, -EACCES, JWT_BAD_AZP, "azp other");
}

static json_t *entra_claims(const char *iss_tenant, const char *tid) {
        char iss[128];
        json_t *c = claims_good();

        snprintf(iss, sizeof(iss), "https://login.microsoftonline.com/%s/v2.0", iss_tenant);
        json_object_set_new(c, "iss", json_string(iss));
        if (tid)
                json_object_set_new(c, "tid", json_string(tid));
        return c;
}

static void test_entra_template(void) {
        struct jwt_policy p = policy_good();
        char *const tenants[] = { (char *) TENANT_A, NULL };

        p.issuer = ENTRA_TEMPLATE;
        expect_claims(entra_claims(TENANT_A, TENANT_A), &p, 0, JWT_OK, "any tenant");
        expect_claims(entra_claims(TENANT_B, TENANT_B), &p, 0, JWT_OK, "any tenant B");
        expect_claims(entra_claims(TENANT_A, TENANT_B), &p, -EACCES, JWT_BAD_ISSUER, "iss of another tenant");
        expect_claims(entra_claims("{tenantid}", TENANT_A), &p, -EACCES, JWT_BAD_ISSUER, "literal template");
        expect_claims(entra_claims("not-a-guid", "not-a-guid"), &p, -EACCES, JWT_BAD_TENANT, "bad GUID");
        expect_claims(entra_claims(TENANT_A "x", TENANT_A "x"), &p, -EACCES, JWT_BAD_TENANT, "long GUID");
        expect_claims(entra_claims(TENANT_A, NULL), &p, -EACCES, JWT_BAD_TENANT, "no tid");
        json_t *c = entra_claims(TENANT_A, NULL);
        json_object_set_new(c, "tid", json_integer(7));
        expect_claims(c, &p, -EACCES, JWT_BAD_TENANT, "tid number");

        p.tenants = tenants;
        expect_claims(entra_claims(TENANT_A, TENANT_A), &p, 0, JWT_OK, "allowed tenant");
        expect_claims(entra_claims(TENANT_B, TENANT_B), &p, -EACCES, JWT_BAD_TENANT, "tenant not allowed");
        /* Compared case-insensitively against the lowercased list. */
        expect_claims(entra_claims("4F2A1D7E-9B3C-4E8A-A1B2-C3D4E5F60718", "4F2A1D7E-9B3C-4E8A-A1B2-C3D4E5F60718"),
                      &p, 0, JWT_OK, "uppercase tid");

        /* A fixed single-tenant issuer with a tenant list still refuses foreign tids. */
        p.issuer = "https://login.microsoftonline.com/" TENANT_A "/v2.0";
        expect_claims(entra_claims(TENANT_A, TENANT_A), &p, 0, JWT_OK, "single tenant");
        expect_claims(entra_claims(TENANT_A, TENANT_B), &p, -EACCES, JWT_BAD_TENANT, "single tenant, guest tid");
        expect_claims(entra_claims(TENANT_A, NULL), &p, 0, JWT_OK, "single tenant, no tid");
}

static void test_nonce(void) {
        struct jwt_policy p = policy_good();

        p.nonce = "n-0S6_WzA2Mj";
        expect_claims(claims_with("nonce", json_string("n-0S6_WzA2Mj")), &p, 0, JWT_OK, "nonce");
        expect_claims(claims_with("nonce", json_string("n-0S6_WzA2Mk")), &p, -EACCES, JWT_BAD_NONCE, "nonce other");
        expect_claims(claims_with("nonce", json_string("n-0S6_WzA2M")), &p, -EACCES, JWT_BAD_NONCE, "nonce prefix");
        expect_claims(claims_good(), &p, -EACCES, JWT_MISSING_CLAIM, "nonce missing");
        expect_claims(claims_with("nonce", json_integer(5)), &p, -EACCES, JWT_MISSING_CLAIM, "nonce number");

        /* Without a nonce in the policy, one in the token is irrelevant. */
        p.nonce = NULL;
        expect_claims(claims_with("nonce", json_string("whatever")), &p, 0, JWT_OK, "nonce unasked");
}

static void test_check_claims_direct(void) {
        struct jwt_policy p = policy_good();
        _cleanup_(json_decrefp) json_t *c = claims_good();
        enum jwt_error e;

        CHECK_INT(jwt_check_claims(c, &p, &e), 0);
        CHECK_INT(e, JWT_OK);
        p.now = NOW + 3600;
        CHECK_INT(jwt_check_claims(c, &p, &e), -EACCES);
        CHECK_INT(e, JWT_EXPIRED);
        CHECK_INT(jwt_check_claims(NULL, &p, &e), -EINVAL);
        p.client_id = NULL;
        CHECK_INT(jwt_check_claims(c, &p, &e), -EINVAL);
}

/* Claims come back exactly as jansson reads them, whichever parser handled them. */
static void test_claims_parsing(void) {
        static const char *const payloads[] = {
                "{\"sub\":\"a\",\"n\":-0,\"big\":123456789012345678,\"bigger\":1234567890123456789}",
                "{\"x\":9223372036854775807}",
                "{\"x\":92233720368547758070}",
                "{\"r\":1.5,\"e\":1e3,\"E\":-2E-2}",
                "{\"u\":\"J\\u00fcrgen\",\"raw\":\"J\xc3\xbcrgen\",\"esc\":\"a\\\"b\\\\c\\/d\\n\"}",
                "{\"bad\":\"\xc3\"}",
                "{\"nul\":\"a\\u0000b\"}",
                " {\t\"a\" :\r\n[ 1 , [ ] , { } , true , false , null ] } ",
                "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{}}}}}}}}}}}}}}}}}}",
                "{\"a\":1,\"b\":{\"a\":1,\"a\":2}}",
                "{\"a\":1,\"a\":1}",
                "{\"a\":01}",
                "{\"a\":-}",
                "{\"a\":tru}",
                "{\"a\":truex}",
                "{\"a\":[1,]}",
                "{\"a\":1,}",
                "{\"a\" 1}",
                "{\"a\":\"tab\there\"}",
                "{\"a\":1}x",
                "{\"a\":1}{}",
                "{\"" "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
                "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\":1}",
                "{}",
        };

        for (size_t i = 0; i < ELEMENTSOF(payloads); i++) {
                _cleanup_free_ char *t = mint_raw(ed25519_key, "EdDSA", "{\"alg\":\"EdDSA\",\"kid\":\"ed-25519\"}",
                                                  payloads[i]);
                _cleanup_(json_decrefp) json_t *want = json_loads(payloads[i], JSON_REJECT_DUPLICATES, NULL);
                json_t *got = NULL;
                enum jwt_error e;
                int r;

                r = jwt_verify_signature(t, strlen(t), keyset, NULL, &got, &e);
                if (json_is_object(want)) {
                        CHECK_INT(r, 0);
                        if (!json_equal(got, want))
                                fprintf(stderr, "claims differ for payload %zu\n", i);
                        CHECK(json_equal(got, want));
                } else {
                        CHECK_INT(r, -EBADMSG);
                        CHECK_INT(e, JWT_MALFORMED);
                }
                json_decref(got);
        }
}

static void test_guid(void) {
        CHECK(jwt_is_guid(TENANT_A));
        CHECK(jwt_is_guid("4F2A1D7E-9B3C-4E8A-A1B2-C3D4E5F60718"));
        CHECK(jwt_is_guid("00000000-0000-0000-0000-000000000000"));
        CHECK(!jwt_is_guid(NULL));
        CHECK(!jwt_is_guid(""));
        CHECK(!jwt_is_guid("4f2a1d7e9b3c4e8aa1b2c3d4e5f60718"));
        CHECK(!jwt_is_guid("{4f2a1d7e-9b3c-4e8a-a1b2-c3d4e5f60718}"));
        CHECK(!jwt_is_guid("4f2a1d7e-9b3c-4e8a-a1b2-c3d4e5f6071"));
        CHECK(!jwt_is_guid("4f2a1d7e-9b3c-4e8a-a1b2-c3d4e5f607189"));
        CHECK(!jwt_is_guid("4f2a1d7e-9b3c-4e8a-a1b2-c3d4e5f6071g"));
        CHECK(!jwt_is_guid("4f2a1d7e-9b3c+4e8a-a1b2-c3d4e5f60718"));
}

static void test_error_strings(void) {
        for (int i = 0; i < _JWT_ERROR_MAX; i++) {
                const char *s = jwt_error_to_string((enum jwt_error) i);
                CHECK(s && *s);
                for (int j = 0; j < i; j++)
                        CHECK(!streq(s, jwt_error_to_string((enum jwt_error) j)));
        }
        CHECK_STR(jwt_error_to_string(JWT_BAD_SIGNATURE), "signature does not verify");
        CHECK_STR(jwt_error_to_string(JWT_EXPIRED), "token expired");
        CHECK(jwt_error_to_string(_JWT_ERROR_MAX) != NULL);
        CHECK(jwt_error_to_string((enum jwt_error) -1) != NULL);
}

static void setup(void) {
        rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
        rsa_other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
        rsa_small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
        ec256_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        ec384_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        ed25519_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        ed448_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
        if (!rsa_key || !rsa_other || !rsa_small || !ec256_key || !ec384_key || !ed25519_key || !ed448_key)
                abort();

        keyset = jwks_of(json_pack("[o,o,o,o,o,o,o,o]", jwk_of(rsa_key, "rsa-1", NULL), jwk_of(rsa_other, "rsa-2", NULL),
                                   jwk_of(rsa_other, "rsa-pinned", "RS512"), jwk_of(rsa_small, "rsa-small", NULL),
                                   jwk_of(ec256_key, "ec-256", "ES256"), jwk_of(ec384_key, "ec-384", NULL),
                                   jwk_of(ed25519_key, "ed-25519", NULL), jwk_of(ed448_key, "ed-448", "EdDSA")));
        if (keyset->n_keys != 8)
                abort();
}

static void teardown(void) {
        jwks_free(keyset);
        EVP_PKEY_free(rsa_key);
        EVP_PKEY_free(rsa_other);
        EVP_PKEY_free(rsa_small);
        EVP_PKEY_free(ec256_key);
        EVP_PKEY_free(ec384_key);
        EVP_PKEY_free(ed25519_key);
        EVP_PKEY_free(ed448_key);
}

int main(void) {
        setup();

        RUN(test_rfc7515_a2_rs256);
        RUN(test_rfc7515_a3_es256);
        RUN(test_rfc7520);
        RUN(test_rfc8037_ed25519);

        RUN(test_good_tokens);
        RUN(test_no_kid_tries_fitting_keys);
        RUN(test_alg_none);
        RUN(test_hs256_with_public_key);
        RUN(test_unknown_kid);
        RUN(test_other_key);
        RUN(test_tampered_payload);
        RUN(test_kty_alg_mismatch);
        RUN(test_ecdsa_signature_format);
        RUN(test_crit);
        RUN(test_key_headers_ignored);
        RUN(test_typ);
        RUN(test_malformed);
        RUN(test_oversized);

        RUN(test_missing_claims);
        RUN(test_time_claims);
        RUN(test_leeway_boundaries);
        RUN(test_issuer);
        RUN(test_audience);
        RUN(test_azp);
        RUN(test_entra_template);
        RUN(test_nonce);
        RUN(test_check_claims_direct);
        RUN(test_claims_parsing);
        RUN(test_guid);
        RUN(test_error_strings);

        teardown();
        return tests_exit();
}
