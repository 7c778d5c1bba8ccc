/* SPDX-License-Identifier: MIT */
#pragma once

#include "config.h"
#include "log.h"

/* What asking the provider to end a cached user's refresh token came to. */
enum revoke_outcome {
        REVOKE_DONE,        /* the provider answered that the token is revoked */
        REVOKE_NO_TOKEN,    /* the record keeps no refresh token (or none that opens on this host) */
        REVOKE_NO_ENDPOINT, /* discovery names no revocation endpoint */
        REVOKE_UNAVAILABLE, /* the provider could not answer (unreachable, TLS, a broken answer) */
        REVOKE_REFUSED,     /* the provider answered with a refusal */
        _REVOKE_OUTCOME_MAX,
};

/* "revoked", "no-token", "no-endpoint", "unavailable", "refused". */
const char *revoke_outcome_to_string(enum revoke_outcome o);

/*
 * For the user cached under name (local or IdP name): open the kept
 * refresh token and revoke it at the provider (oauth_revoke_refresh_token).
 * The record is left as it is; the token is wiped from memory. 0 with
 * *ret and *ret_reason (static, one phrase) set; -ESRCH when nobody is
 * cached under name; other negative errno when the record cannot be read
 * or memory runs out.
 */
int revoke_user_token(const struct cloudauth_config *c, const struct logger *log, const char *name,
                      enum revoke_outcome *ret, const char **ret_reason);
