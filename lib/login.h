/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "access.h"
#include "config.h"
#include "identity.h"
#include "jwt.h"
#include "log.h"
#include "oauth.h"

/* The outcome of a login, in the terms the PAM edge needs. */
enum login_status {
        LOGIN_OK = 0,
        LOGIN_BAD_CREDENTIALS,   /* wrong password, MFA required, token rejected, name mismatch */
        LOGIN_USER_UNKNOWN,      /* the name can never be ours, or the IdP knows no such user */
        LOGIN_ACCOUNT_PROBLEM,   /* locked, disabled, password expired, conditional access */
        LOGIN_UNAVAILABLE,       /* IdP unreachable, TLS failure, broken answer */
        LOGIN_CONFIG_ERROR,      /* our own configuration is broken */
        _LOGIN_STATUS_MAX,
};

const char *login_status_to_string(enum login_status s);

struct login_result {
        enum login_status status;
        enum oauth_result oauth;  /* what the IdP said, when it was asked */
        enum jwt_error jwt;       /* why the token was refused, when it was */
        const char *reason;       /* static, one short phrase for the log */
        struct identity *identity; /* set on LOGIN_OK */
        json_t *claims;            /* set on LOGIN_OK */
        char **roles;              /* set on LOGIN_OK */
        bool allowed;              /* access policy verdict for identity */
        const char *access_reason;
        unsigned n_requests;       /* HTTP requests this login made */
};

void login_result_done(struct login_result *r);

/*
 * Password login: typed name -> IdP name, password grant, ID token
 * verification (discovery and JWKS from cache when fresh), identity, check
 * that the token's user is the one who typed the name, roles, access policy
 * (evaluated, but denial is reported in ->allowed, not ->status, so that
 * acct_mgmt can decide). Returns 0 with *ret filled in every case a status
 * applies; negative errno only for allocation failure.
 * p must be initialised by provider_init; clock from p.
 */
int login_password(struct provider *p, const char *typed_user, const char *password, struct login_result *ret);

/*
 * What every flow does once the provider issued tokens: verify the ID token
 * (nonce when one was sent), build the identity, check it is the account
 * typed_user names (NULL: any account, e.g. cloudauthctl login --browser),
 * resolve roles and evaluate the access policy. Same contract as
 * login_password; ret must have been zeroed by the caller.
 */
int login_verify_tokens(struct provider *p, const char *typed_user, const char *id_token, const char *nonce,
                        struct login_result *ret);

/*
 * The one syslog line per decision:
 * "user=NAME flow=FLOW result=RESULT reason=\"...\" [roles=a,b] [allowed=yes|no]".
 * NAME is the typed name, sanitised; never a secret.
 */
void login_result_log(const struct logger *log, const char *typed_user, const char *flow,
                      const struct login_result *r);
