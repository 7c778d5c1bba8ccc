/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Tokens larger than this are refused before any parsing. */
#define JWT_MAX_SIZE (64 * 1024)
#define JWKS_MAX_KEYS 64

enum jwt_error {
        JWT_OK = 0,
        JWT_MALFORMED,          /* not three base64url parts, bad JSON, bad base64 */
        JWT_TOO_LARGE,
        JWT_ALG_REFUSED,        /* none, HS*, or anything off the allow-list */
        JWT_CRIT,               /* "crit" header present */
        JWT_UNKNOWN_KID,        /* no key with that kid (caller may refetch JWKS once) */
        JWT_KEY_MISMATCH,       /* key kty/crv/alg does not fit the token's alg */
        JWT_BAD_SIGNATURE,
        JWT_MISSING_CLAIM,      /* iss, aud, exp, iat or sub missing or of the wrong type */
        JWT_EXPIRED,
        JWT_NOT_YET_VALID,      /* nbf in the future */
        JWT_ISSUED_IN_FUTURE,   /* iat in the future */
        JWT_BAD_ISSUER,
        JWT_BAD_TENANT,         /* tid not a GUID, or not in the allowed tenants */
        JWT_BAD_AUDIENCE,       /* client_id not in aud */
        JWT_UNTRUSTED_AUDIENCE, /* aud holds another, untrusted audience */
        JWT_BAD_AZP,
        JWT_BAD_NONCE,
        _JWT_ERROR_MAX,
};

const char *jwt_error_to_string(enum jwt_error e);

struct jwk {
        char *kid;     /* may be NULL */
        char *kty;     /* RSA, EC, OKP */
        char *crv;     /* P-256, P-384, P-521, Ed25519, Ed448, or NULL */
        char *alg;     /* may be NULL */
        char *issuer;  /* Entra keys carry one, may be NULL */
        EVP_PKEY *pkey;
};

struct jwks {
        struct jwk *keys;
        size_t n_keys;
};

/*
 * Parse a JWK Set. Keys with "use" other than "sig", unknown kty, or that
 * fail to import are skipped (not an error); no usable key at all is -ENOKEY.
 * Malformed JSON is -EBADMSG. *ret set only on success.
 */
int jwks_parse(const char *json, size_t len, struct jwks **ret);
void jwks_free(struct jwks *k);
static inline void jwks_freep(struct jwks **k) {
        jwks_free(*k);
}

struct jwt_policy {
        const char *issuer;       /* exact; may contain "{tenantid}" (Entra multi-tenant) */
        const char *client_id;    /* must be in aud */
        char *const *tenants;     /* NULL-terminated lowercased GUIDs, or NULL for any */
        char *const *extra_audiences; /* further trusted audiences, or NULL */
        const char *nonce;        /* required and compared when set */
        unsigned leeway;          /* seconds */
        time_t now;               /* the clock, injected */
};

/*
 * Verify a JWS compact token: size, structure, header (alg allow-list, no crit,
 * jku/x5u/jwk ignored), key selection by kid (or every key fitting alg when the
 * token has no kid), signature, then claims per policy.
 * Returns 0 and *ret_claims (a new reference) on success; on failure a negative
 * errno (-EBADMSG malformed, -ENOKEY unknown kid, -EKEYREJECTED signature or key,
 * -EACCES claims) and *ret_error says precisely why. ret_error is always set.
 */
int jwt_verify(const char *token, size_t len, const struct jwks *keys, const struct jwt_policy *policy,
               json_t **ret_claims, enum jwt_error *ret_error);

/* Only the signature part: decode, check header, pick key, verify. Used by jwt_verify and bench. */
int jwt_verify_signature(const char *token, size_t len, const struct jwks *keys, json_t **ret_header,
                         json_t **ret_claims, enum jwt_error *ret_error);

/* Only the claims part, on already verified claims. */
int jwt_check_claims(json_t *claims, const struct jwt_policy *policy, enum jwt_error *ret_error);

/* true if s is a GUID in 8-4-4-4-12 hex form. */
bool jwt_is_guid(const char *s);
