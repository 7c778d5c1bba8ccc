/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <strings.h>

#include "config.h"
#include "http.h"
#include "macro.h"
#include "json-util.h"
#include "oauth.h"
#include "secret.h"

/* An error code is a short token; anything longer is not worth keeping. */
#define OAUTH_ERROR_TEXT_MAX 128

static const char *const result_strings[_OAUTH_RESULT_MAX] = {
        [OAUTH_OK] = "success",
        [OAUTH_WRONG_PASSWORD] = "wrong password",
        [OAUTH_NO_SUCH_USER] = "no such user",
        [OAUTH_MFA_REQUIRED] = "multi-factor authentication required",
        [OAUTH_LOCKED] = "account locked",
        [OAUTH_PASSWORD_EXPIRED] = "password expired",
        [OAUTH_DISABLED] = "account disabled",
        [OAUTH_CONDITIONAL_ACCESS] = "blocked by conditional access",
        [OAUTH_CLIENT_ERROR] = "client not accepted by the provider",
        [OAUTH_INVALID_SCOPE] = "invalid scope",
        [OAUTH_UNSUPPORTED_GRANT] = "grant not supported by the provider",
        [OAUTH_REJECTED] = "rejected by the provider",
        [OAUTH_UNREACHABLE] = "provider unreachable",
        [OAUTH_TLS_ERROR] = "TLS error",
        [OAUTH_PROTOCOL_ERROR] = "protocol error",
        [OAUTH_AUTHORIZATION_PENDING] = "authorization pending",
        [OAUTH_SLOW_DOWN] = "slow down",
        [OAUTH_ACCESS_DENIED] = "access denied",
        [OAUTH_EXPIRED_TOKEN] = "code expired",
};

const char *oauth_result_to_string(enum oauth_result r) {
        if ((unsigned) r >= _OAUTH_RESULT_MAX || !result_strings[r])
                return "unknown result";
        return result_strings[r];
}

void oauth_tokens_done(struct oauth_tokens *t) {
        if (!t)
                return;
        erase_and_free(t->id_token);
        erase_and_free(t->access_token);
        erase_and_free(t->refresh_token);
        erase_and_free(t->token_type);
        erase_and_free(t->scope);
        *t = (struct oauth_tokens){0};
}

static const struct {
        const char *error;
        enum oauth_result result;
} error_map[] = {
        { "invalid_grant", OAUTH_WRONG_PASSWORD },
        { "invalid_client", OAUTH_CLIENT_ERROR },
        { "unauthorized_client", OAUTH_CLIENT_ERROR },
        { "invalid_scope", OAUTH_INVALID_SCOPE },
        { "unsupported_grant_type", OAUTH_UNSUPPORTED_GRANT },
        { "mfa_required", OAUTH_MFA_REQUIRED },
        { "authorization_pending", OAUTH_AUTHORIZATION_PENDING },
        { "slow_down", OAUTH_SLOW_DOWN },
        { "access_denied", OAUTH_ACCESS_DENIED },
        { "authorization_declined", OAUTH_ACCESS_DENIED },
        { "expired_token", OAUTH_EXPIRED_TOKEN },
};

static const struct {
        json_int_t code;
        enum oauth_result result;
} entra_map[] = {
        { 50126, OAUTH_WRONG_PASSWORD },
        { 50034, OAUTH_NO_SUCH_USER },
        { 50076, OAUTH_MFA_REQUIRED },
        { 50079, OAUTH_MFA_REQUIRED },
        { 50053, OAUTH_LOCKED },
        { 50055, OAUTH_PASSWORD_EXPIRED },
        { 50057, OAUTH_DISABLED },
        { 53003, OAUTH_CONDITIONAL_ACCESS },
        { 700016, OAUTH_CLIENT_ERROR },
        { 7000218, OAUTH_CLIENT_ERROR },
};

/* Entra's numbers say more than the generic "error": the first one we know wins. */
static bool entra_codes_result(json_t *codes, enum oauth_result *ret) {
        size_t i;
        json_t *v;

        if (!json_is_array(codes))
                return false;
        json_array_foreach(codes, i, v) {
                if (!json_is_integer(v))
                        continue;
                for (size_t k = 0; k < ELEMENTSOF(entra_map); k++)
                        if (json_integer_value(v) == entra_map[k].code) {
                                *ret = entra_map[k].result;
                                return true;
                        }
        }
        return false;
}

static enum oauth_result error_string_result(const char *e) {
        for (size_t k = 0; k < ELEMENTSOF(error_map); k++)
                if (streq(e, error_map[k].error))
                        return error_map[k].result;
        return OAUTH_REJECTED;
}

/* Optional string member: absent is fine, present must be a string. */
static int optional_string(json_t *o, const char *key, char **ret) {
        json_t *v = json_object_get(o, key);

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return -EBADMSG;
        *ret = secret_strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

static int parse_tokens(json_t *o, struct oauth_tokens *ret, enum oauth_result *ret_result) {
        struct oauth_tokens t = {0};
        json_t *tt, *id, *exp;
        int r;

        tt = json_object_get(o, "token_type");
        if (!json_is_string(tt) || strcasecmp(json_string_value(tt), "Bearer") != 0)
                goto protocol;
        id = json_object_get(o, "id_token");
        if (!json_is_string(id) || json_string_length(id) == 0)
                goto protocol;

        exp = json_object_get(o, "expires_in");
        if (json_is_integer(exp) && json_integer_value(exp) >= 0 && json_integer_value(exp) <= LONG_MAX)
                t.expires_in = (long) json_integer_value(exp);
        else if (exp && !json_is_null(exp))
                goto protocol;

        if ((r = optional_string(o, "access_token", &t.access_token)) < 0 ||
            (r = optional_string(o, "refresh_token", &t.refresh_token)) < 0 ||
            (r = optional_string(o, "scope", &t.scope)) < 0) {
                oauth_tokens_done(&t);
                if (r == -ENOMEM)
                        return r;
                goto protocol;
        }
        t.id_token = secret_strdup(json_string_value(id));
        t.token_type = strdup(json_string_value(tt));
        if (!t.id_token || !t.token_type) {
                oauth_tokens_done(&t);
                return -ENOMEM;
        }
        *ret = t;
        *ret_result = OAUTH_OK;
        return 0;

protocol:
        *ret_result = OAUTH_PROTOCOL_ERROR;
        return 0;
}

int oauth_parse_token_response(long status, const char *body, size_t len, struct oauth_tokens *ret,
                               enum oauth_result *ret_result, char **ret_error) {
        json_t *o = NULL, *err, *codes;
        enum oauth_result result, fallback;
        json_error_t je;
        int r = 0;

        if (!ret || !ret_result)
                return -EINVAL;

        /* The provider could not answer now: whatever the body says, it is no verdict on the user. */
        if ((status >= 500 && status <= 599) || status == 429) {
                *ret_result = OAUTH_UNREACHABLE;
                return 0;
        }
        /*
         * Any other 4xx is the provider's answer even without a usable error
         * body (some answer a wrong password with 403 and nothing else): a
         * refusal, never "unreachable", which would let an offline login
         * follow a refusal. A readable error body only refines it.
         */
        fallback = status >= 400 && status <= 499 ? OAUTH_REJECTED : OAUTH_PROTOCOL_ERROR;
        if (!body || len == 0 || len > HTTP_RESPONSE_MAX) {
                *ret_result = fallback;
                return 0;
        }
        o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(o)) {
                *ret_result = fallback;
                goto out;
        }

        err = json_object_get(o, "error");
        codes = json_object_get(o, "error_codes");
        if (status == 200 && !err && !codes) {
                r = parse_tokens(o, ret, ret_result);
                goto out;
        }
        if (status == 200 && !json_is_string(err)) {
                *ret_result = OAUTH_PROTOCOL_ERROR;
                goto out;
        }

        if (entra_codes_result(codes, &result))
                ;
        else if (json_is_string(err))
                result = error_string_result(json_string_value(err));
        else
                result = fallback;

        if (ret_error && json_is_string(err)) {
                const char *e = json_string_value(err);
                char *copy = strndup(e, OAUTH_ERROR_TEXT_MAX);

                if (!copy) {
                        r = -ENOMEM;
                        goto out;
                }
                *ret_error = copy;
        }
        *ret_result = result;
out:
        json_wipe_strings(o);
        json_decref(o);
        return r;
}

static int transport_result(int r) {
        if (http_error_is_unreachable(r))
                return OAUTH_UNREACHABLE;
        if (r == -EKEYREJECTED)
                return OAUTH_TLS_ERROR;
        return OAUTH_PROTOCOL_ERROR;
}

int oauth_ensure_metadata(struct provider *p, const char *what, enum oauth_result *ret_result) {
        int r;

        if (p->metadata)
                return 0;
        r = provider_load_metadata(p, false);
        if (r >= 0)
                return 0;
        if (r == -ENOMEM)
                return r;
        log_err(p->log, "%s: discovery failed: %s", what, http_strerror(r));
        *ret_result = transport_result(r);
        return 1;
}

int oauth_post_client_form(struct provider *p, const char *what, const char *url, char **form,
                           struct http_response *ret, enum oauth_result *ret_result) {
        const struct cloudauth_config *c = p->config;
        _cleanup_erase_ char *secret = NULL;
        int r;

        /* Our own configuration is at fault, not the provider: config_read_secret_file said why. */
        if (c->client_secret_file &&
            (r = config_read_secret_file(c->client_secret_file, p->log, &secret)) < 0) {
                if (r == -ENOMEM)
                        return r;
                *ret_result = OAUTH_CLIENT_ERROR;
                return 1;
        }

        /* A confidential client authenticates with Basic; sending client_id too would be a second method. */
        if (!secret && (r = http_form_append(form, "client_id", strempty(c->client_id))) < 0)
                return r;

        r = http_post_form(&p->http, url, *form, secret ? c->client_id : NULL, secret, ret);
        p->n_requests++;
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                log_err(p->log, "%s: %s: %s", what, url, http_strerror(r));
                *ret_result = transport_result(r);
                return 1;
        }
        if (ret->date)
                p->server_date = ret->date;
        return 0;
}

int oauth_password_grant(struct provider *p, const char *username, const char *password,
                         struct oauth_tokens *ret, enum oauth_result *ret_result) {
        const struct cloudauth_config *c;
        struct http_response resp = {0};
        _cleanup_erase_ char *form = NULL;
        enum oauth_result result;
        int r;

        if (!p || !p->config || !username || !password || !ret || !ret_result)
                return -EINVAL;
        c = p->config;

        if ((r = oauth_ensure_metadata(p, "password grant", ret_result)) != 0)
                return r < 0 ? r : 0;

        if ((r = http_form_append(&form, "grant_type", "password")) < 0 ||
            (r = http_form_append(&form, "username", username)) < 0 ||
            (r = http_form_append(&form, "password", password)) < 0 ||
            (r = http_form_append(&form, "scope", c->scopes ? c->scopes : "openid")) < 0)
                return r;

        if ((r = oauth_post_client_form(p, "password grant", p->metadata->token_endpoint, &form, &resp,
                                        ret_result)) != 0)
                return r < 0 ? r : 0;

        r = oauth_parse_token_response(resp.status, resp.body, resp.body_len, ret, &result, NULL);
        http_response_done(&resp);
        if (r < 0)
                return r;
        *ret_result = result;
        return 0;
}

int oauth_refresh_grant(struct provider *p, const char *refresh_token, struct oauth_tokens *ret,
                        enum oauth_result *ret_result) {
        struct http_response resp = {0};
        _cleanup_erase_ char *form = NULL;
        enum oauth_result result;
        int r;

        if (!p || !p->config || !refresh_token || !ret || !ret_result)
                return -EINVAL;

        if ((r = oauth_ensure_metadata(p, "refresh", ret_result)) != 0)
                return r < 0 ? r : 0;

        /* No scope: the grant keeps the one it was issued with (RFC 6749 6). */
        if ((r = http_form_append(&form, "grant_type", "refresh_token")) < 0 ||
            (r = http_form_append(&form, "refresh_token", refresh_token)) < 0)
                return r;

        if ((r = oauth_post_client_form(p, "refresh", p->metadata->token_endpoint, &form, &resp, ret_result)) != 0)
                return r < 0 ? r : 0;

        r = oauth_parse_token_response(resp.status, resp.body, resp.body_len, ret, &result, NULL);
        http_response_done(&resp);
        if (r < 0)
                return r;
        *ret_result = result;
        return 0;
}

int oauth_authorization_code(struct provider *p, const char *code, const char *redirect_uri,
                             const char *code_verifier, struct oauth_tokens *ret, enum oauth_result *ret_result) {
        struct http_response resp = {0};
        _cleanup_erase_ char *form = NULL;
        enum oauth_result result;
        int r;

        if (!p || !p->config || !code || !redirect_uri || !code_verifier || !ret || !ret_result)
                return -EINVAL;

        if ((r = oauth_ensure_metadata(p, "authorization code", ret_result)) != 0)
                return r < 0 ? r : 0;

        if ((r = http_form_append(&form, "grant_type", "authorization_code")) < 0 ||
            (r = http_form_append(&form, "code", code)) < 0 ||
            (r = http_form_append(&form, "redirect_uri", redirect_uri)) < 0 ||
            (r = http_form_append(&form, "code_verifier", code_verifier)) < 0)
                return r;

        if ((r = oauth_post_client_form(p, "authorization code", p->metadata->token_endpoint, &form, &resp,
                                        ret_result)) != 0)
                return r < 0 ? r : 0;

        r = oauth_parse_token_response(resp.status, resp.body, resp.body_len, ret, &result, NULL);
        http_response_done(&resp);
        if (r < 0)
                return r;
        *ret_result = result == OAUTH_WRONG_PASSWORD ? OAUTH_REJECTED : result;
        return 0;
}
