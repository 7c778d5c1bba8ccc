/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <time.h>

#include "config.h"
#include "http.h"
#include "jwt.h"
#include "log.h"

/* Discovery and JWKS are cached on disk under cache_dir with these lifetimes. */
#define PROVIDER_DISCOVERY_TTL (24 * 3600)
#define PROVIDER_JWKS_TTL (24 * 3600)
/* An unknown kid triggers at most one JWKS refetch per this many seconds. */
#define PROVIDER_JWKS_REFETCH_INTERVAL 300

struct oidc_metadata {
        char *issuer;
        char *token_endpoint;
        char *jwks_uri;
        char *authorization_endpoint;       /* may be NULL */
        char *device_authorization_endpoint; /* may be NULL */
        char *revocation_endpoint;           /* may be NULL (RFC 7009) */
        bool pkce_s256;                      /* code_challenge_methods_supported has S256 */
};

/*
 * Parse a discovery document. The issuer in it must equal expected_issuer
 * exactly (Entra's "{tenantid}" template compares as text, too); every
 * endpoint must be https. -EBADMSG for malformed documents, -EACCES for an
 * issuer mismatch. *ret set only on success.
 */
int oidc_metadata_parse(const char *json, size_t len, const char *expected_issuer, struct oidc_metadata **ret);
void oidc_metadata_free(struct oidc_metadata *m);

/* Everything a flow needs to talk to one provider. */
struct provider {
        const struct cloudauth_config *config;
        const struct logger *log;
        struct http_options http;
        struct oidc_metadata *metadata;
        struct jwks *jwks;
        time_t (*clock)(void);  /* time(NULL) unless a test injects one */
        unsigned n_requests;    /* HTTP requests made through this provider */
        time_t server_date;     /* Date header of the last response, for clock checks */
};

/* Initialise p from config; no I/O. */
int provider_init(struct provider *p, const struct cloudauth_config *c, const struct logger *log);
void provider_done(struct provider *p);

/*
 * Load discovery: from cache_dir when fresh (younger than the TTL and for
 * this issuer), else from the network, then written back to the cache
 * (0644, temp file + rename). A cache that cannot be written is a warning.
 * With force, skip the cache. Errors: http's, a 5xx answer as -EHOSTUNREACH
 * (so http_error_is_unreachable() holds), any other non-200 as -EPROTO,
 * a bad document as -EBADMSG/-EACCES.
 */
int provider_load_metadata(struct provider *p, bool force);

/* Same for the JWKS at metadata->jwks_uri; needs metadata loaded. */
int provider_load_jwks(struct provider *p, bool force);

/*
 * A token named a kid not in the JWKS: refetch the JWKS, unless one was
 * refetched for this reason less than PROVIDER_JWKS_REFETCH_INTERVAL ago
 * (a stamp file in cache_dir remembers, across processes). Returns 1 if
 * refetched, 0 if rate-limited, negative errno on failure.
 */
int provider_refetch_jwks_for_unknown_kid(struct provider *p);

/*
 * The on-disk cache under config->cache_dir (name is "discovery.json" or
 * "jwks.json"): a JSON wrapper {"issuer", "fetched", "document"}.
 * provider_cache_read gives the document only when the file is trusted
 * (open_trusted_file, not group/other-writable), for config->issuer, and
 * younger than ttl by p->clock(): -ENOENT missing, -ESTALE old or for another
 * issuer, -EBADMSG corrupt, or open_trusted_file's error.
 * provider_cache_write creates cache_dir (0755) if missing and replaces the
 * file atomically (temp file, fsync, rename; 0644).
 */
int provider_cache_read(const struct provider *p, const char *name, time_t ttl, char **ret_document,
                        size_t *ret_len);
int provider_cache_write(const struct provider *p, const char *name, const char *document, size_t len);

/* The jwt policy for ID tokens of this provider at time now. */
void provider_jwt_policy(const struct provider *p, struct jwt_policy *ret);

/*
 * Verify an ID token, refetching the JWKS once (rate-limited) on an unknown
 * kid. Same contract as jwt_verify. When discovery or the JWKS cannot be
 * loaded, returns that error with *ret_error = JWT_UNKNOWN_KID (no key).
 */
int provider_verify_id_token(struct provider *p, const char *token, const char *nonce, json_t **ret_claims,
                             enum jwt_error *ret_error);
