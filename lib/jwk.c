/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "jwt.h"
#include "macro.h"

/* RSA moduli beyond 16384 bits are not in use and only cost time to verify. */
#define RSA_MAX_MODULUS_BYTES (16384 / 8)
#define RSA_MAX_EXPONENT_BYTES 8
/* Nobody publishes a JWKS this large; a bigger one is hostile or broken. */
#define JWKS_MAX_JSON (1024 * 1024)

static void bn_freep(BIGNUM **b) {
        BN_free(*b);
}

static void pkey_ctx_freep(EVP_PKEY_CTX **c) {
        EVP_PKEY_CTX_free(*c);
}

static void param_bld_freep(OSSL_PARAM_BLD **b) {
        OSSL_PARAM_BLD_free(*b);
}

static void params_freep(OSSL_PARAM **p) {
        OSSL_PARAM_free(*p);
}

static void pkey_freep(EVP_PKEY **p) {
        EVP_PKEY_free(*p);
}

static void jwk_clear(struct jwk *k) {
        free(k->kid);
        free(k->kty);
        free(k->crv);
        free(k->alg);
        free(k->issuer);
        EVP_PKEY_free(k->pkey);
        memset(k, 0, sizeof(*k));
}

void jwks_free(struct jwks *k) {
        if (!k)
                return;
        for (size_t i = 0; i < k->n_keys; i++)
                jwk_clear(&k->keys[i]);
        free(k->keys);
        free(k);
}

/* Decode a base64url member of a JWK; absent, not a string, or out of bounds is -EINVAL. */
static int jwk_member_bytes(json_t *o, const char *name, size_t min_len, size_t max_len, unsigned char **ret,
                            size_t *ret_len) {
        json_t *v = json_object_get(o, name);
        unsigned char *buf;
        size_t n;
        int r;

        if (!json_is_string(v))
                return -EINVAL;
        /* Refuse before decoding so a huge member costs nothing. */
        if (json_string_length(v) > (max_len * 4 + 2) / 3)
                return -EINVAL;
        r = base64url_decode(json_string_value(v), json_string_length(v), &buf, &n);
        if (r < 0)
                return r;
        if (n < min_len || n > max_len) {
                free(buf);
                return -EINVAL;
        }
        *ret = buf;
        *ret_len = n;
        return 0;
}

/* The key is public, but a hostile set must not leave OpenSSL's error queue growing in a long-lived process. */
static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld, bool check_point) {
        _cleanup_(params_freep) OSSL_PARAM *params = NULL;
        _cleanup_(pkey_ctx_freep) EVP_PKEY_CTX *ctx = NULL;
        _cleanup_(pkey_ctx_freep) EVP_PKEY_CTX *check = NULL;
        _cleanup_(pkey_freep) EVP_PKEY *pkey = NULL;

        params = OSSL_PARAM_BLD_to_param(bld);
        if (!params)
                goto fail;
        ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
        if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
                goto fail;

        /*
         * Off-curve points are refused here, once, not per token. RSA is left
         * out: OpenSSL's RSA public check runs a primality test on n, which a
         * hostile set could make expensive.
         */
        if (check_point) {
                check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
                if (!check || EVP_PKEY_public_check(check) != 1)
                        goto fail;
        }

        return TAKE_PTR(pkey);
fail:
        ERR_clear_error();
        return NULL;
}

static int jwk_import_rsa(json_t *o, EVP_PKEY **ret) {
        _cleanup_free_ unsigned char *n = NULL, *e = NULL;
        _cleanup_(bn_freep) BIGNUM *bn_n = NULL, *bn_e = NULL;
        _cleanup_(param_bld_freep) OSSL_PARAM_BLD *bld = NULL;
        size_t n_len, e_len;
        EVP_PKEY *pkey;
        int r;

        if ((r = jwk_member_bytes(o, "n", 1, RSA_MAX_MODULUS_BYTES, &n, &n_len)) < 0 ||
            (r = jwk_member_bytes(o, "e", 1, RSA_MAX_EXPONENT_BYTES, &e, &e_len)) < 0)
                return r;

        /* An even modulus or exponent, or e = 1, is no RSA key. */
        if (!(n[n_len - 1] & 1) || !(e[e_len - 1] & 1) || (e_len == 1 && e[0] == 1))
                return -EINVAL;

        bn_n = BN_bin2bn(n, (int) n_len, NULL);
        bn_e = BN_bin2bn(e, (int) e_len, NULL);
        bld = OSSL_PARAM_BLD_new();
        if (!bn_n || !bn_e || !bld)
                return -ENOMEM;
        if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
                return -ENOMEM;

        pkey = pkey_from_params("RSA", bld, false);
        if (!pkey)
                return -EINVAL;
        *ret = pkey;
        return 0;
}

struct curve {
        const char *jwk_name;
        const char *ossl_name;
        size_t coord_len;
};

static const struct curve ec_curves[] = {
        { "P-256", "prime256v1", 32 },
        { "P-384", "secp384r1", 48 },
        { "P-521", "secp521r1", 66 },
};

static const struct curve okp_curves[] = {
        { "Ed25519", "ED25519", 32 },
        { "Ed448", "ED448", 57 },
};

static const struct curve *curve_find(const struct curve *table, size_t n, const char *crv) {
        for (size_t i = 0; i < n; i++)
                if (streq(table[i].jwk_name, crv))
                        return &table[i];
        return NULL;
}

static int jwk_import_ec(json_t *o, const char *crv, EVP_PKEY **ret) {
        _cleanup_free_ unsigned char *x = NULL, *y = NULL;
        _cleanup_(param_bld_freep) OSSL_PARAM_BLD *bld = NULL;
        unsigned char point[1 + 2 * 66];
        const struct curve *c;
        size_t x_len, y_len;
        EVP_PKEY *pkey;
        int r;

        c = curve_find(ec_curves, ELEMENTSOF(ec_curves), crv);
        if (!c)
                return -EINVAL;
        /* RFC 7518 6.2.1.2: coordinates are the full field size, no shorter. */
        if ((r = jwk_member_bytes(o, "x", c->coord_len, c->coord_len, &x, &x_len)) < 0 ||
            (r = jwk_member_bytes(o, "y", c->coord_len, c->coord_len, &y, &y_len)) < 0)
                return r;

        point[0] = 0x04; /* uncompressed SEC1 point */
        memcpy(point + 1, x, x_len);
        memcpy(point + 1 + x_len, y, y_len);

        bld = OSSL_PARAM_BLD_new();
        if (!bld)
                return -ENOMEM;
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, c->ossl_name, 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + x_len + y_len))
                return -ENOMEM;

        pkey = pkey_from_params("EC", bld, true);
        if (!pkey)
                return -EINVAL;
        *ret = pkey;
        return 0;
}

static int jwk_import_okp(json_t *o, const char *crv, EVP_PKEY **ret) {
        _cleanup_free_ unsigned char *x = NULL;
        _cleanup_(param_bld_freep) OSSL_PARAM_BLD *bld = NULL;
        const struct curve *c;
        size_t x_len;
        EVP_PKEY *pkey;
        int r;

        c = curve_find(okp_curves, ELEMENTSOF(okp_curves), crv);
        if (!c)
                return -EINVAL;
        if ((r = jwk_member_bytes(o, "x", c->coord_len, c->coord_len, &x, &x_len)) < 0)
                return r;

        bld = OSSL_PARAM_BLD_new();
        if (!bld)
                return -ENOMEM;
        if (!OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, x, x_len))
                return -ENOMEM;

        pkey = pkey_from_params(c->ossl_name, bld, false);
        if (!pkey)
                return -EINVAL;
        *ret = pkey;
        return 0;
}

/* An optional string member: absent is NULL, present but not a string is -EINVAL. */
static int jwk_optional_string(json_t *o, const char *name, char **ret) {
        json_t *v = json_object_get(o, name);
        char *s;

        if (!v) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                return -EINVAL;
        s = strdup(json_string_value(v));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* Import one key: 0 imported, -EINVAL skipped, -ENOMEM fatal. */
static int jwk_import(json_t *o, struct jwk *ret) {
        struct jwk k = { .kid = NULL };
        const char *kty;
        json_t *use;
        int r;

        if (!json_is_object(o))
                return -EINVAL;

        use = json_object_get(o, "use");
        if (use && (!json_is_string(use) || !streq(json_string_value(use), "sig")))
                return -EINVAL;

        kty = json_string_value(json_object_get(o, "kty"));
        if (!kty || (!streq(kty, "RSA") && !streq(kty, "EC") && !streq(kty, "OKP")))
                return -EINVAL;

        if ((r = jwk_optional_string(o, "kid", &k.kid)) < 0 || (r = jwk_optional_string(o, "alg", &k.alg)) < 0 ||
            (r = jwk_optional_string(o, "issuer", &k.issuer)) < 0)
                goto fail;

        k.kty = strdup(kty);
        if (!k.kty) {
                r = -ENOMEM;
                goto fail;
        }

        if (streq(kty, "RSA"))
                r = jwk_import_rsa(o, &k.pkey);
        else {
                const char *crv = json_string_value(json_object_get(o, "crv"));
                if (!crv) {
                        r = -EINVAL;
                        goto fail;
                }
                k.crv = strdup(crv);
                if (!k.crv) {
                        r = -ENOMEM;
                        goto fail;
                }
                r = streq(kty, "EC") ? jwk_import_ec(o, crv, &k.pkey) : jwk_import_okp(o, crv, &k.pkey);
        }
        if (r < 0)
                goto fail;

        *ret = k;
        return 0;
fail:
        jwk_clear(&k);
        return r;
}

int jwks_parse(const char *json, size_t len, struct jwks **ret) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        _cleanup_(jwks_freep) struct jwks *set = NULL;
        json_t *keys;
        size_t n;

        if (!json || !ret)
                return -EINVAL;
        if (len > JWKS_MAX_JSON)
                return -EBADMSG;

        root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
        if (!root)
                return -EBADMSG;
        keys = json_object_get(root, "keys");
        if (!json_is_array(keys))
                return -EBADMSG;

        set = calloc(1, sizeof(*set));
        if (!set)
                return -ENOMEM;
        n = json_array_size(keys);
        set->keys = calloc(n < JWKS_MAX_KEYS ? (n ? n : 1) : JWKS_MAX_KEYS, sizeof(struct jwk));
        if (!set->keys)
                return -ENOMEM;

        for (size_t i = 0; i < n && set->n_keys < JWKS_MAX_KEYS; i++) {
                int r = jwk_import(json_array_get(keys, i), &set->keys[set->n_keys]);
                if (r == -ENOMEM)
                        return r;
                if (r == 0)
                        set->n_keys++;
        }

        if (set->n_keys == 0)
                return -ENOKEY;

        *ret = TAKE_PTR(set);
        return 0;
}
