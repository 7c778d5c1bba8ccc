/* SPDX-License-Identifier: MIT */
/* Token revocation (RFC 7009): a forgotten user's refresh token ends at the provider too. */
#include <errno.h>
#include <string.h>

#include "cache.h"
#include "http.h"
#include "macro.h"
#include "oauth.h"
#include "offline.h"
#include "revoke.h"
#include "secret.h"
#include "tokenbox.h"

/*
 * RFC 7009 2.2: 200 whether or not the provider still knew the token, so
 * 200 is all that counts as done. An error body reads like the token
 * endpoint's (2.2.1); what it says only matters as far as the caller can act
 * on it: our client, or the provider not answering now.
 */
static enum oauth_result revocation_result(const struct http_response *resp) {
        struct oauth_tokens unused = {0};
        enum oauth_result result;

        if (resp->status == 200)
                return OAUTH_OK;
        if (oauth_parse_token_response(resp->status, resp->body, resp->body_len, &unused, &result, NULL) < 0)
                return OAUTH_PROTOCOL_ERROR;
        oauth_tokens_done(&unused);
        if (result == OAUTH_UNREACHABLE || result == OAUTH_CLIENT_ERROR || result == OAUTH_PROTOCOL_ERROR)
                return result;
        return OAUTH_REJECTED;
}

int oauth_revoke_refresh_token(struct provider *p, const char *refresh_token, enum oauth_result *ret_result) {
        struct http_response resp = {0};
        _cleanup_erase_ char *form = NULL;
        int r;

        if (!p || !p->config || !refresh_token || !ret_result)
                return -EINVAL;

        if ((r = oauth_ensure_metadata(p, "revocation", ret_result)) != 0)
                return r < 0 ? r : 0;
        if (!p->metadata->revocation_endpoint)
                return -EOPNOTSUPP;

        if ((r = http_form_append(&form, "token", refresh_token)) < 0 ||
            (r = http_form_append(&form, "token_type_hint", "refresh_token")) < 0)
                return r;

        if ((r = oauth_post_client_form(p, "revocation", p->metadata->revocation_endpoint, &form, &resp,
                                        ret_result)) != 0)
                return r < 0 ? r : 0;

        *ret_result = revocation_result(&resp);
        http_response_done(&resp);
        return 0;
}

static const char *const outcome_strings[_REVOKE_OUTCOME_MAX] = {
        [REVOKE_DONE] = "revoked",
        [REVOKE_NO_TOKEN] = "no-token",
        [REVOKE_NO_ENDPOINT] = "no-endpoint",
        [REVOKE_UNAVAILABLE] = "unavailable",
        [REVOKE_REFUSED] = "refused",
};

const char *revoke_outcome_to_string(enum revoke_outcome o) {
        if ((unsigned) o >= _REVOKE_OUTCOME_MAX)
                return "unknown";
        return outcome_strings[o];
}

/* The record's refresh token in clear: 1 and *ret set, 0 when it does not open on this host (logged). */
static int record_token_open(const struct cloudauth_config *c, const struct logger *log, const struct cache_user *u,
                             char **ret) {
        uint8_t key[OFFLINE_KEY_SIZE];
        int r;

        r = offline_host_key_load(c->state_dir, log, false, key);
        if (r >= 0) {
                r = tokenbox_open(key, u->subject_key, u->uid, u->refresh_sealed, ret);
                secret_wipe(key, sizeof(key));
        }
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_warn(log, "user=%s the kept refresh token cannot be opened: %s", u->username, strerror(-r));
                return 0;
        }
        return 1;
}

int revoke_user_token(const struct cloudauth_config *c, const struct logger *log, const char *name,
                      enum revoke_outcome *ret, const char **ret_reason) {
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        _cleanup_erase_ char *token = NULL;
        enum oauth_result result = OAUTH_PROTOCOL_ERROR;
        struct provider p;
        int r;

        if ((r = cache_user_load_by_name(c, log, name, &u)) < 0)
                return r;
        if (!u->refresh_sealed) {
                *ret = REVOKE_NO_TOKEN;
                *ret_reason = "no refresh token is kept";
                return 0;
        }
        if ((r = record_token_open(c, log, u, &token)) <= 0) {
                *ret = REVOKE_NO_TOKEN;
                *ret_reason = "the kept refresh token does not open on this host";
                return r;
        }

        if ((r = provider_init(&p, c, log)) < 0)
                return r;
        r = oauth_revoke_refresh_token(&p, token, &result);
        provider_done(&p);
        if (r == -ENOMEM)
                return r;
        if (r == -EOPNOTSUPP) {
                *ret = REVOKE_NO_ENDPOINT;
                *ret_reason = "the provider names no revocation endpoint";
                return 0;
        }
        if (r < 0)
                result = OAUTH_PROTOCOL_ERROR;
        *ret = result == OAUTH_OK                                      ? REVOKE_DONE
               : result == OAUTH_REJECTED || result == OAUTH_CLIENT_ERROR ? REVOKE_REFUSED
                                                                        : REVOKE_UNAVAILABLE;
        *ret_reason = result == OAUTH_OK ? "revoked at the provider" : oauth_result_to_string(result);
        return 0;
}
