/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>

#include "config.h"

/* A verified person, as far as this machine cares. */
struct identity {
        char *username;     /* local login name: lowercased claim, "@default_domain" removed */
        char *idp_username; /* lowercased claim as the IdP spells it */
        char *issuer;       /* iss of the token */
        char *subject;      /* sub */
        char *tenant;       /* tid, Entra only */
        char *object_id;    /* oid, Entra only */
        char *display_name; /* name, may be NULL */
        char *email;        /* may be NULL */
        char **groups;      /* groups_claim values, NULL-terminated, never NULL */
        char **app_roles;   /* "roles" claim values, NULL-terminated, never NULL */
};

/*
 * Build an identity from verified claims. The username claim must be a
 * non-empty string of printable characters without '/', ':' or whitespace
 * (it becomes a passwd name). -EBADMSG with *ret_reason set otherwise.
 */
int identity_from_claims(const struct cloudauth_config *c, json_t *claims, struct identity **ret,
                         const char **ret_reason);
void identity_free(struct identity *id);
static inline void identity_freep(struct identity **id) {
        identity_free(*id);
}

/*
 * What a person typed at the login prompt -> the name sent to the IdP:
 * lowercased; "alice" becomes "alice@default_domain" when a default domain
 * is set. -EINVAL for names that can never be ours (empty, control chars,
 * whitespace, ':' or '/', longer than 256).
 */
int identity_login_to_idp_name(const struct cloudauth_config *c, const char *typed, char **ret);

/* The local name for an IdP name: lowercased, "@default_domain" stripped. */
int identity_idp_to_local_name(const struct cloudauth_config *c, const char *idp_name, char **ret);
