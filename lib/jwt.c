/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <math.h> /* isfinite */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "jwt.h"
#include "macro.h"
#include "secret.h"

enum alg_kind {
        ALG_RSA_PKCS1,
        ALG_RSA_PSS,
        ALG_ECDSA,
        ALG_EDDSA,
};

struct alg {
        const char *name;
        enum alg_kind kind;
        const char *md;    /* NULL for EdDSA, which hashes internally */
        const char *crv;   /* ECDSA only */
        size_t coord_len;  /* ECDSA only: bytes of R and of S in the JWS signature */
};

/* RFC 7518 section 3.1 and RFC 8037, minus every MAC and "none". */
static const struct alg algs[] = {
        { "RS256", ALG_RSA_PKCS1, "SHA256", NULL, 0 },
        { "RS384", ALG_RSA_PKCS1, "SHA384", NULL, 0 },
        { "RS512", ALG_RSA_PKCS1, "SHA512", NULL, 0 },
        { "PS256", ALG_RSA_PSS, "SHA256", NULL, 0 },
        { "PS384", ALG_RSA_PSS, "SHA384", NULL, 0 },
        { "PS512", ALG_RSA_PSS, "SHA512", NULL, 0 },
        { "ES256", ALG_ECDSA, "SHA256", "P-256", 32 },
        { "ES384", ALG_ECDSA, "SHA384", "P-384", 48 },
        { "ES512", ALG_ECDSA, "SHA512", "P-521", 66 },
        { "EdDSA", ALG_EDDSA, NULL, NULL, 0 },
};

#define RSA_MIN_BITS 2048

static const char *const error_strings[_JWT_ERROR_MAX] = {
        [JWT_OK] = "token is valid",
        [JWT_MALFORMED] = "token is malformed",
        [JWT_TOO_LARGE] = "token is too large",
        [JWT_ALG_REFUSED] = "signature algorithm refused",
        [JWT_CRIT] = "token has critical header extensions",
        [JWT_UNKNOWN_KID] = "signing key is unknown",
        [JWT_KEY_MISMATCH] = "signing key does not fit the algorithm",
        [JWT_BAD_SIGNATURE] = "signature does not verify",
        [JWT_MISSING_CLAIM] = "required claim missing or of the wrong type",
        [JWT_EXPIRED] = "token expired",
        [JWT_NOT_YET_VALID] = "token not yet valid",
        [JWT_ISSUED_IN_FUTURE] = "token issued in the future",
        [JWT_BAD_ISSUER] = "token issuer not trusted",
        [JWT_BAD_TENANT] = "tenant not allowed",
        [JWT_BAD_AUDIENCE] = "token not issued for this client",
        [JWT_UNTRUSTED_AUDIENCE] = "token has an untrusted audience",
        [JWT_BAD_AZP] = "token authorized party is another client",
        [JWT_BAD_NONCE] = "nonce does not match",
};

const char *jwt_error_to_string(enum jwt_error e) {
        if ((unsigned) e >= _JWT_ERROR_MAX)
                return "unknown token error";
        return error_strings[e];
}

static int jwt_error_to_errno(enum jwt_error e) {
        switch (e) {
        case JWT_OK:
                return 0;
        case JWT_MALFORMED:
        case JWT_TOO_LARGE:
                return -EBADMSG;
        case JWT_UNKNOWN_KID:
                return -ENOKEY;
        case JWT_ALG_REFUSED:
        case JWT_CRIT:
        case JWT_KEY_MISMATCH:
        case JWT_BAD_SIGNATURE:
                return -EKEYREJECTED;
        default:
                return -EACCES;
        }
}

/* Record why, and return the matching errno, in one statement. */
static int fail(enum jwt_error *ret_error, enum jwt_error e) {
        *ret_error = e;
        return jwt_error_to_errno(e);
}

bool jwt_is_guid(const char *s) {
        if (!s)
                return false;
        for (size_t i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return false;
                } else if (!isxdigit((unsigned char) s[i]))
                        return false;
        }
        return s[36] == 0;
}

static const struct alg *alg_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(algs); i++)
                if (streq(algs[i].name, name))
                        return &algs[i];
        return NULL;
}

/*
 * "typ" is advisory (RFC 7519 5.1), but a token that calls itself something
 * other than a JWT is not what the caller thinks it is.
 */
static bool typ_acceptable(const char *typ) {
        size_t n;

        if (strncasecmp(typ, "application/", 12) == 0)
                typ += 12;
        if (strcasecmp(typ, "JWT") == 0)
                return true;
        n = strlen(typ);
        return n > 4 && strcasecmp(typ + n - 4, "+jwt") == 0;
}

struct jws_parts {
        const char *header;
        size_t header_len;
        const char *payload;
        size_t payload_len;
        const char *signature;
        size_t signature_len;
        size_t signing_input_len; /* header "." payload, signed as it appears in the token */
};

static int jws_split(const char *token, size_t len, struct jws_parts *ret) {
        const char *end = token + len, *dot1, *dot2;

        dot1 = memchr(token, '.', len);
        if (!dot1)
                return -EBADMSG;
        dot2 = memchr(dot1 + 1, '.', (size_t) (end - dot1 - 1));
        if (!dot2)
                return -EBADMSG;
        /* Five parts would be a JWE; anything else is no JWS either. */
        if (memchr(dot2 + 1, '.', (size_t) (end - dot2 - 1)))
                return -EBADMSG;
        if (dot1 == token)
                return -EBADMSG;

        *ret = (struct jws_parts) {
                .header = token,
                .header_len = (size_t) (dot1 - token),
                .payload = dot1 + 1,
                .payload_len = (size_t) (dot2 - dot1 - 1),
                .signature = dot2 + 1,
                .signature_len = (size_t) (end - dot2 - 1),
                .signing_input_len = (size_t) (dot2 - token),
        };
        return 0;
}

/*
 * Token parts are small, plain JSON objects: ASCII strings without escapes,
 * integers, a few arrays. Jansson spends most of a token's verification time
 * lexing them byte by byte through its stream layer, so this parses exactly
 * that subset straight from the buffer. Anything else (an escape, a non-ASCII
 * byte, a real number, deep nesting, a duplicate name, any syntax error) makes
 * it give up, and jansson parses the part from scratch and decides. The fast
 * path therefore never accepts what jansson would refuse, nor reads a value
 * differently.
 */
#define FAST_JSON_MAX_DEPTH 16
#define FAST_JSON_MAX_KEY 128

struct fast_json {
        const char *p, *end;
        unsigned depth;
};

static json_t *fast_json_value(struct fast_json *f);

static void fast_json_space(struct fast_json *f) {
        while (f->p < f->end && (*f->p == ' ' || *f->p == '\t' || *f->p == '\n' || *f->p == '\r'))
                f->p++;
}

static bool fast_json_string(struct fast_json *f, const char **ret, size_t *ret_len) {
        const char *s;

        if (f->p >= f->end || *f->p != '"')
                return false;
        s = ++f->p;
        for (; f->p < f->end; f->p++) {
                unsigned char c = (unsigned char) *f->p;
                if (c == '"') {
                        *ret = s;
                        *ret_len = (size_t) (f->p - s);
                        f->p++;
                        return true;
                }
                if (c < 0x20 || c >= 0x80 || c == '\\')
                        return false;
        }
        return false;
}

static json_t *fast_json_number(struct fast_json *f) {
        bool negative = false;
        json_int_t v = 0;
        unsigned digits = 0;

        if (*f->p == '-') {
                negative = true;
                f->p++;
        }
        if (f->p >= f->end || *f->p < '0' || *f->p > '9')
                return NULL;
        if (*f->p == '0' && f->p + 1 < f->end && f->p[1] >= '0' && f->p[1] <= '9')
                return NULL;
        /* 18 digits cannot overflow a json_int_t; longer numbers are left to jansson. */
        for (; f->p < f->end && *f->p >= '0' && *f->p <= '9'; f->p++) {
                if (++digits > 18)
                        return NULL;
                v = v * 10 + (*f->p - '0');
        }
        if (f->p < f->end && (*f->p == '.' || *f->p == 'e' || *f->p == 'E'))
                return NULL;
        return json_integer(negative ? -v : v);
}

static json_t *fast_json_literal(struct fast_json *f, const char *word, json_t *value) {
        size_t n = strlen(word);

        if ((size_t) (f->end - f->p) < n || memcmp(f->p, word, n) != 0)
                return NULL;
        f->p += n;
        return value;
}

static json_t *fast_json_array(struct fast_json *f) {
        _cleanup_(json_decrefp) json_t *a = json_array();

        if (!a)
                return NULL;
        f->p++;
        fast_json_space(f);
        if (f->p < f->end && *f->p == ']') {
                f->p++;
                return TAKE_PTR(a);
        }
        for (;;) {
                json_t *v = fast_json_value(f);
                if (!v || json_array_append_new(a, v) < 0)
                        return NULL;
                fast_json_space(f);
                if (f->p >= f->end)
                        return NULL;
                if (*f->p == ']') {
                        f->p++;
                        return TAKE_PTR(a);
                }
                if (*f->p++ != ',')
                        return NULL;
        }
}

static json_t *fast_json_object(struct fast_json *f) {
        _cleanup_(json_decrefp) json_t *o = json_object();
        char key[FAST_JSON_MAX_KEY + 1];

        if (!o)
                return NULL;
        f->p++;
        fast_json_space(f);
        if (f->p < f->end && *f->p == '}') {
                f->p++;
                return TAKE_PTR(o);
        }
        for (;;) {
                const char *k;
                size_t k_len;
                json_t *v;

                if (!fast_json_string(f, &k, &k_len) || k_len > FAST_JSON_MAX_KEY)
                        return NULL;
                memcpy(key, k, k_len);
                key[k_len] = 0;
                if (json_object_get(o, key))
                        return NULL;
                fast_json_space(f);
                if (f->p >= f->end || *f->p++ != ':')
                        return NULL;
                v = fast_json_value(f);
                if (!v || json_object_set_new_nocheck(o, key, v) < 0)
                        return NULL;
                fast_json_space(f);
                if (f->p >= f->end)
                        return NULL;
                if (*f->p == '}') {
                        f->p++;
                        return TAKE_PTR(o);
                }
                if (*f->p++ != ',')
                        return NULL;
                fast_json_space(f);
        }
}

static json_t *fast_json_value(struct fast_json *f) {
        const char *s;
        size_t n;
        json_t *v;

        fast_json_space(f);
        if (f->p >= f->end)
                return NULL;
        switch (*f->p) {
        case '{':
        case '[':
                if (f->depth >= FAST_JSON_MAX_DEPTH)
                        return NULL;
                f->depth++;
                v = *f->p == '{' ? fast_json_object(f) : fast_json_array(f);
                f->depth--;
                return v;
        case '"':
                /* Only printable ASCII got through, so no UTF-8 check is needed. */
                return fast_json_string(f, &s, &n) ? json_stringn_nocheck(s, n) : NULL;
        case 't':
                return fast_json_literal(f, "true", json_true());
        case 'f':
                return fast_json_literal(f, "false", json_false());
        case 'n':
                return fast_json_literal(f, "null", json_null());
        default:
                return fast_json_number(f);
        }
}

/* A JSON object from a token part: the fast path when it applies, jansson otherwise. */
static json_t *jws_json_load(const char *buf, size_t len) {
        struct fast_json f = { .p = buf, .end = buf + len };
        json_t *j = NULL;

        fast_json_space(&f);
        if (f.p < f.end && *f.p == '{') {
                j = fast_json_value(&f);
                fast_json_space(&f);
                if (j && f.p != f.end) {
                        json_decref(j);
                        j = NULL;
                }
        }
        if (!j)
                j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
        return j;
}

/* Decode a base64url part and parse it as a JSON object. */
static int jws_part_json(const char *in, size_t in_len, json_t **ret) {
        _cleanup_free_ unsigned char *buf = NULL;
        json_t *j;
        size_t n;
        int r;

        r = base64url_decode(in, in_len, &buf, &n);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return -EBADMSG;
        j = jws_json_load((const char *) buf, n);
        /* Token contents are not left behind in freed memory. */
        secret_wipe(buf, n);
        if (!j)
                return -EBADMSG;
        if (!json_is_object(j)) {
                json_decref(j);
                return -EBADMSG;
        }
        *ret = j;
        return 0;
}

static bool key_fits(const struct jwk *k, const struct alg *a) {
        if (!k->pkey || !k->kty)
                return false;
        if (k->alg && !streq(k->alg, a->name))
                return false;

        switch (a->kind) {
        case ALG_RSA_PKCS1:
        case ALG_RSA_PSS:
                return streq(k->kty, "RSA") && EVP_PKEY_get_bits(k->pkey) >= RSA_MIN_BITS;
        case ALG_ECDSA:
                return streq(k->kty, "EC") && streq_ptr(k->crv, a->crv);
        case ALG_EDDSA:
                return streq(k->kty, "OKP") && (streq_ptr(k->crv, "Ed25519") || streq_ptr(k->crv, "Ed448"));
        }
        return false;
}

/* One DER INTEGER from a big-endian unsigned value; returns bytes written. */
static size_t der_put_integer(unsigned char *out, const unsigned char *v, size_t len) {
        size_t o = 0;

        while (len > 1 && v[0] == 0)
                v++, len--;
        out[o++] = 0x02;
        out[o++] = (unsigned char) (len + (v[0] & 0x80 ? 1 : 0));
        if (v[0] & 0x80)
                out[o++] = 0;
        memcpy(out + o, v, len);
        return o + len;
}

/*
 * JWS carries ECDSA signatures as R || S of fixed width (RFC 7518 3.4);
 * OpenSSL wants DER. The largest (P-521) is 2 * (2 + 1 + 66) content bytes,
 * so one length byte after 0x81 always suffices.
 */
static size_t ecdsa_sig_to_der(const unsigned char *sig, size_t coord_len, unsigned char out[static 160]) {
        unsigned char body[2 * (2 + 1 + 66)];
        size_t n = 0, o = 0;

        n += der_put_integer(body + n, sig, coord_len);
        n += der_put_integer(body + n, sig + coord_len, coord_len);

        out[o++] = 0x30;
        if (n >= 0x80)
                out[o++] = 0x81;
        out[o++] = (unsigned char) n;
        memcpy(out + o, body, n);
        return o + n;
}

static void md_ctx_freep(EVP_MD_CTX **c) {
        EVP_MD_CTX_free(*c);
}

/* 1 verified, 0 not, negative errno on failure to even try. */
static int signature_check(const struct alg *a, EVP_PKEY *pkey, const unsigned char *input, size_t input_len,
                           const unsigned char *sig, size_t sig_len) {
        _cleanup_(md_ctx_freep) EVP_MD_CTX *ctx = NULL;
        unsigned char der[160];
        OSSL_PARAM pss[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE,
                                                 (char *) OSSL_PKEY_RSA_PAD_MODE_PSS, 0),
                /* RFC 7518 3.5: salt as long as the digest, MGF1 with the same hash. */
                OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN,
                                                 (char *) OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST, 0),
                OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, (char *) strempty(a->md), 0),
                OSSL_PARAM_construct_end(),
        };
        int r;

        if (a->kind == ALG_ECDSA) {
                /* A signature of the wrong width is simply a bad signature, not a parse error. */
                if (sig_len != 2 * a->coord_len)
                        return 0;
                sig_len = ecdsa_sig_to_der(sig, a->coord_len, der);
                sig = der;
        }

        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestVerifyInit_ex(ctx, NULL, a->md, NULL, NULL, pkey, a->kind == ALG_RSA_PSS ? pss : NULL) != 1) {
                ERR_clear_error();
                return 0;
        }
        r = EVP_DigestVerify(ctx, sig, sig_len, input, input_len);
        if (r != 1) {
                ERR_clear_error();
                return 0;
        }
        return 1;
}

static int header_check(json_t *header, const struct alg **ret_alg, const char **ret_kid, enum jwt_error *ret_error) {
        const struct alg *a;
        json_t *v;

        v = json_object_get(header, "alg");
        if (!json_is_string(v))
                return fail(ret_error, JWT_MALFORMED);
        a = alg_find(json_string_value(v));
        if (!a)
                return fail(ret_error, JWT_ALG_REFUSED);

        /* Every extension we would be asked to understand is one we do not implement. */
        if (json_object_get(header, "crit"))
                return fail(ret_error, JWT_CRIT);

        v = json_object_get(header, "typ");
        if (v && (!json_is_string(v) || !typ_acceptable(json_string_value(v))))
                return fail(ret_error, JWT_MALFORMED);

        /* jku, x5u, jwk and x5c are never read: keys come only from the configured set. */
        v = json_object_get(header, "kid");
        if (v && !json_is_string(v))
                return fail(ret_error, JWT_MALFORMED);

        *ret_alg = a;
        *ret_kid = v ? json_string_value(v) : NULL;
        return 0;
}

int jwt_verify_signature(const char *token, size_t len, const struct jwks *keys, json_t **ret_header,
                         json_t **ret_claims, enum jwt_error *ret_error) {
        _cleanup_(json_decrefp) json_t *header = NULL;
        _cleanup_free_ unsigned char *sig = NULL;
        enum jwt_error dummy;
        struct jws_parts p;
        const struct alg *a;
        const char *kid;
        bool kid_seen = false, fitting = false, verified = false;
        size_t sig_len;
        int r;

        if (!ret_error)
                ret_error = &dummy;
        if (!token || !keys) {
                *ret_error = JWT_MALFORMED;
                return -EINVAL;
        }
        if (len > JWT_MAX_SIZE)
                return fail(ret_error, JWT_TOO_LARGE);
        if (jws_split(token, len, &p) < 0)
                return fail(ret_error, JWT_MALFORMED);

        r = jws_part_json(p.header, p.header_len, &header);
        if (r == -ENOMEM) {
                *ret_error = JWT_MALFORMED;
                return r;
        }
        if (r < 0)
                return fail(ret_error, JWT_MALFORMED);
        if ((r = header_check(header, &a, &kid, ret_error)) < 0)
                return r;

        r = base64url_decode(p.signature, p.signature_len, &sig, &sig_len);
        if (r == -ENOMEM) {
                *ret_error = JWT_MALFORMED;
                return r;
        }
        if (r < 0)
                return fail(ret_error, JWT_MALFORMED);
        if (sig_len == 0)
                return fail(ret_error, JWT_BAD_SIGNATURE);

        for (size_t i = 0; i < keys->n_keys && !verified; i++) {
                const struct jwk *k = &keys->keys[i];

                if (kid && !streq_ptr(k->kid, kid))
                        continue;
                kid_seen = true;
                if (!key_fits(k, a))
                        continue;
                fitting = true;

                r = signature_check(a, k->pkey, (const unsigned char *) token, p.signing_input_len, sig, sig_len);
                if (r < 0) {
                        *ret_error = JWT_BAD_SIGNATURE;
                        return r;
                }
                verified = r > 0;
        }
        if (kid && !kid_seen)
                return fail(ret_error, JWT_UNKNOWN_KID);
        if (!fitting)
                return fail(ret_error, JWT_KEY_MISMATCH);
        if (!verified)
                return fail(ret_error, JWT_BAD_SIGNATURE);

        /* Only authenticated bytes are parsed as claims; callers that need just the signature may pass NULL. */
        if (ret_claims) {
                json_t *claims;

                r = jws_part_json(p.payload, p.payload_len, &claims);
                if (r == -ENOMEM) {
                        *ret_error = JWT_MALFORMED;
                        return r;
                }
                if (r < 0)
                        return fail(ret_error, JWT_MALFORMED);
                *ret_claims = claims;
        }
        if (ret_header)
                *ret_header = TAKE_PTR(header);
        *ret_error = JWT_OK;
        return 0;
}

/* A NumericDate as whole seconds; reals are allowed (RFC 7519 2) but must be sane. */
static bool claim_time(json_t *claims, const char *name, int64_t *ret) {
        json_t *v = json_object_get(claims, name);
        /* Far beyond any real date, yet small enough that adding a clock and a leeway cannot overflow. */
        const int64_t limit = INT64_C(1) << 40;

        if (json_is_integer(v)) {
                json_int_t i = json_integer_value(v);
                if (i < -limit || i > limit)
                        return false;
                *ret = (int64_t) i;
                return true;
        }
        if (json_is_real(v)) {
                double d = json_real_value(v);
                if (!isfinite(d) || d < (double) -limit || d > (double) limit)
                        return false;
                int64_t i = (int64_t) d;
                /* Round towards the past, as floor() would, without needing libm. */
                *ret = (double) i > d ? i - 1 : i;
                return true;
        }
        return false;
}

static bool strv_contains(char *const *v, const char *s) {
        if (!v)
                return false;
        for (; *v; v++)
                if (streq(*v, s))
                        return true;
        return false;
}

static bool strv_contains_case(char *const *v, const char *s) {
        if (!v)
                return false;
        for (; *v; v++)
                if (strcasecmp(*v, s) == 0)
                        return true;
        return false;
}

#define TENANT_TEMPLATE "{tenantid}"

static enum jwt_error issuer_check(json_t *claims, const char *iss, const struct jwt_policy *policy) {
        const char *tmpl = strstr(policy->issuer, TENANT_TEMPLATE);
        json_t *tid_json = json_object_get(claims, "tid");
        const char *tid = json_string_value(tid_json);

        if (tid_json && !tid)
                return JWT_BAD_TENANT;

        if (!tmpl) {
                /* A single-tenant issuer still refuses guests from tenants outside the list. */
                if (policy->tenants && tid && !strv_contains_case(policy->tenants, tid))
                        return JWT_BAD_TENANT;
                return streq(iss, policy->issuer) ? JWT_OK : JWT_BAD_ISSUER;
        }

        if (!jwt_is_guid(tid))
                return JWT_BAD_TENANT;
        if (policy->tenants && !strv_contains_case(policy->tenants, tid))
                return JWT_BAD_TENANT;

        size_t prefix = (size_t) (tmpl - policy->issuer);
        if (strncmp(iss, policy->issuer, prefix) != 0 || strncmp(iss + prefix, tid, 36) != 0 ||
            !streq(iss + prefix + 36, tmpl + strlen(TENANT_TEMPLATE)))
                return JWT_BAD_ISSUER;
        return JWT_OK;
}

static enum jwt_error audience_check(json_t *aud, const struct jwt_policy *policy) {
        bool found = false;
        size_t i;
        json_t *v;

        if (json_is_string(aud))
                return streq(json_string_value(aud), policy->client_id) ? JWT_OK : JWT_BAD_AUDIENCE;
        if (!json_is_array(aud) || json_array_size(aud) == 0)
                return JWT_MISSING_CLAIM;

        json_array_foreach(aud, i, v) {
                if (!json_is_string(v))
                        return JWT_MISSING_CLAIM;
                if (streq(json_string_value(v), policy->client_id))
                        found = true;
        }
        if (!found)
                return JWT_BAD_AUDIENCE;

        /* Every audience named can present this token; each must be one we trust as much as ourselves. */
        json_array_foreach(aud, i, v) {
                const char *s = json_string_value(v);
                if (!streq(s, policy->client_id) && !strv_contains(policy->extra_audiences, s))
                        return JWT_UNTRUSTED_AUDIENCE;
        }
        return JWT_OK;
}

static enum jwt_error claims_check(json_t *claims, const struct jwt_policy *policy) {
        const char *iss = json_string_value(json_object_get(claims, "iss"));
        json_t *aud = json_object_get(claims, "aud");
        json_t *azp = json_object_get(claims, "azp");
        int64_t exp, iat, nbf = 0, now = (int64_t) policy->now, leeway = policy->leeway;
        bool has_nbf = json_object_get(claims, "nbf") != NULL;
        enum jwt_error e;

        if (!iss || !aud || !json_is_string(json_object_get(claims, "sub")) || !claim_time(claims, "exp", &exp) ||
            !claim_time(claims, "iat", &iat) || (has_nbf && !claim_time(claims, "nbf", &nbf)) ||
            (azp && !json_is_string(azp)))
                return JWT_MISSING_CLAIM;

        if ((e = issuer_check(claims, iss, policy)) != JWT_OK)
                return e;
        if ((e = audience_check(aud, policy)) != JWT_OK)
                return e;
        if (azp && !streq(json_string_value(azp), policy->client_id))
                return JWT_BAD_AZP;

        if (!(now < exp + leeway))
                return JWT_EXPIRED;
        if (has_nbf && !(now + leeway >= nbf))
                return JWT_NOT_YET_VALID;
        if (iat > now + leeway)
                return JWT_ISSUED_IN_FUTURE;

        if (policy->nonce) {
                json_t *nonce = json_object_get(claims, "nonce");
                if (!json_is_string(nonce))
                        return JWT_MISSING_CLAIM;
                if (!secret_equal(json_string_value(nonce), json_string_length(nonce), policy->nonce,
                                  strlen(policy->nonce)))
                        return JWT_BAD_NONCE;
        }
        return JWT_OK;
}

int jwt_check_claims(json_t *claims, const struct jwt_policy *policy, enum jwt_error *ret_error) {
        enum jwt_error dummy;

        if (!ret_error)
                ret_error = &dummy;
        if (!claims || !policy || !policy->issuer || !policy->client_id) {
                *ret_error = JWT_MALFORMED;
                return -EINVAL;
        }
        if (!json_is_object(claims))
                return fail(ret_error, JWT_MALFORMED);
        return fail(ret_error, claims_check(claims, policy));
}

int jwt_verify(const char *token, size_t len, const struct jwks *keys, const struct jwt_policy *policy,
               json_t **ret_claims, enum jwt_error *ret_error) {
        _cleanup_(json_decrefp) json_t *claims = NULL;
        enum jwt_error dummy;
        int r;

        if (!ret_error)
                ret_error = &dummy;
        if (!policy || !policy->issuer || !policy->client_id) {
                *ret_error = JWT_MALFORMED;
                return -EINVAL;
        }

        if ((r = jwt_verify_signature(token, len, keys, NULL, &claims, ret_error)) < 0 ||
            (r = jwt_check_claims(claims, policy, ret_error)) < 0)
                return r;

        if (ret_claims)
                *ret_claims = TAKE_PTR(claims);
        return 0;
}
