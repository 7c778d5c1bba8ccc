/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "identity.h"
#include "json-util.h"
#include "macro.h"
#include "nssdb.h"

#define LOGIN_NAME_MAX_LEN 256
#define CLAIM_LIST_MAX 4096

/* A name that becomes a passwd entry: printable ASCII or UTF-8, none of ':' '/' ',' or whitespace. */
static bool name_is_valid(const char *s) {
        size_t n = 0;

        if (!s || !*s || *s == '-' || *s == '.')
                return false;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++, n++) {
                if (*p < 0x21 || *p == 0x7f || *p == ':' || *p == '/' || *p == ',' || *p == '\\')
                        return false;
                if (n >= LOGIN_NAME_MAX_LEN)
                        return false;
        }
        /* No C1 control, bidirectional override or broken UTF-8: such a name would reach terminals. */
        return nssdb_text_safe(s);
}

static char *strdup_lower(const char *s) {
        char *r = strdup(s);

        if (!r)
                return NULL;
        for (char *p = r; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        return r;
}

static const char *domain_of(const char *name) {
        const char *at = strrchr(name, '@');

        return at ? at + 1 : NULL;
}

int identity_login_to_idp_name(const struct cloudauth_config *c, const char *typed, char **ret) {
        _cleanup_free_ char *lower = NULL;
        char *r;

        if (!name_is_valid(typed))
                return -EINVAL;

        lower = strdup_lower(typed);
        if (!lower)
                return -ENOMEM;

        if (strchr(lower, '@') || !c->default_domain) {
                *ret = TAKE_PTR(lower);
                return 0;
        }

        if (asprintf(&r, "%s@%s", lower, c->default_domain) < 0)
                return -ENOMEM;
        *ret = r;
        return 0;
}

int identity_idp_to_local_name(const struct cloudauth_config *c, const char *idp_name, char **ret) {
        _cleanup_free_ char *lower = NULL;
        const char *domain;

        if (!name_is_valid(idp_name))
                return -EINVAL;

        lower = strdup_lower(idp_name);
        if (!lower)
                return -ENOMEM;

        domain = domain_of(lower);
        if (domain && c->default_domain && streq(domain, c->default_domain)) {
                /* Strip "@domain": a bare name is unambiguous within the default domain. */
                lower[domain - lower - 1] = 0;
                if (!name_is_valid(lower))
                        return -EINVAL;
        }
        /* An all-digit account name would be read as a UID by chown, ps and friends. */
        if (strspn(lower, "0123456789") == strlen(lower))
                return -EINVAL;

        *ret = TAKE_PTR(lower);
        return 0;
}

/* Copy a claim that is a string or an array of strings; anything else counts as absent. */
static int claim_strv(json_t *claims, const char *name, char ***ret) {
        _cleanup_strv_free_ char **v = NULL;
        json_t *value = name ? json_object_get(claims, name) : NULL;
        size_t n = 0, i;
        json_t *item;

        if (json_is_string(value)) {
                v = calloc(2, sizeof(char *));
                if (!v || !(v[0] = strdup(json_string_value(value))))
                        return -ENOMEM;
                *ret = TAKE_PTR(v);
                return 0;
        }

        if (json_is_array(value))
                n = json_array_size(value);
        if (n > CLAIM_LIST_MAX)
                return -E2BIG;

        v = calloc(n + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;

        size_t k = 0;
        json_array_foreach(value, i, item) {
                if (!json_is_string(item) || json_string_length(item) == 0)
                        continue;
                v[k] = strdup(json_string_value(item));
                if (!v[k])
                        return -ENOMEM;
                k++;
        }

        *ret = TAKE_PTR(v);
        return 0;
}

static int claim_strdup(json_t *claims, const char *name, char **ret) {
        json_t *value = json_object_get(claims, name);

        if (!json_is_string(value)) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(json_string_value(value));
        return *ret ? 0 : -ENOMEM;
}

int identity_from_claims(const struct cloudauth_config *c, json_t *claims, struct identity **ret,
                         const char **ret_reason) {
        struct identity *id;
        json_t *username;
        int r;

        username = json_object_get(claims, c->username_claim);
        if (!json_is_string(username)) {
                *ret_reason = "the token has no username claim";
                return -EBADMSG;
        }
        if (!name_is_valid(json_string_value(username))) {
                *ret_reason = "the username claim is not a valid login name";
                return -EBADMSG;
        }
        if (!json_is_string(json_object_get(claims, "iss")) || !json_is_string(json_object_get(claims, "sub"))) {
                *ret_reason = "the token has no iss or sub claim";
                return -EBADMSG;
        }

        id = calloc(1, sizeof(*id));
        if (!id)
                return -ENOMEM;

        id->idp_username = strdup_lower(json_string_value(username));
        if (!id->idp_username) {
                r = -ENOMEM;
                goto fail;
        }
        r = identity_idp_to_local_name(c, id->idp_username, &id->username);
        if (r < 0) {
                *ret_reason = "the username claim is not a valid login name";
                goto fail;
        }

        if ((r = claim_strdup(claims, "iss", &id->issuer)) < 0 ||
            (r = claim_strdup(claims, "sub", &id->subject)) < 0 ||
            (r = claim_strdup(claims, "tid", &id->tenant)) < 0 ||
            (r = claim_strdup(claims, "oid", &id->object_id)) < 0 ||
            (r = claim_strdup(claims, "name", &id->display_name)) < 0 ||
            (r = claim_strdup(claims, "email", &id->email)) < 0)
                goto fail;

        r = claim_strv(claims, c->groups_claim, &id->groups);
        if (r < 0) {
                *ret_reason = "the groups claim is too large";
                goto fail;
        }
        r = claim_strv(claims, "roles", &id->app_roles);
        if (r < 0) {
                *ret_reason = "the roles claim is too large";
                goto fail;
        }

        *ret = id;
        return 0;

fail:
        identity_free(id);
        return r;
}

void identity_free(struct identity *id) {
        if (!id)
                return;
        free(id->username);
        free(id->idp_username);
        free(id->issuer);
        free(id->subject);
        free(id->tenant);
        free(id->object_id);
        free(id->display_name);
        free(id->email);
        strv_free(id->groups);
        strv_free(id->app_roles);
        free(id);
}
