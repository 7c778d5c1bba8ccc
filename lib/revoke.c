/* SPDX-License-Identifier: MIT */
/* Token revocation (RFC 7009): a forgotten user's refresh token ends at the provider too. */
#include <errno.h>

#include "http.h"
#include "macro.h"
#include "oauth.h"
#include "secret.h"

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
