/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "macro.h"

static bool strv_contains(char *const *v, const char *s) {
        if (!v || !s)
                return false;
        for (char *const *i = v; *i; i++)
                if (streq(*i, s))
                        return true;
        return false;
}

/* Group ids compare case-insensitively: Entra GUIDs may come in either case. */
static bool strv_contains_case(char *const *v, const char *s) {
        if (!v || !s)
                return false;
        for (char *const *i = v; *i; i++)
                if (strcasecmp(*i, s) == 0)
                        return true;
        return false;
}

static bool strv_intersects_case(char *const *a, char *const *b) {
        if (!a)
                return false;
        for (char *const *i = a; *i; i++)
                if (strv_contains_case(b, *i))
                        return true;
        return false;
}

static bool role_applies(const struct config_role *role, const struct identity *id) {
        return strv_intersects_case(role->groups, id->groups) || strv_intersects_case(role->app_roles, id->app_roles);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int roles_resolve(const struct cloudauth_config *c, const struct identity *id, char ***ret) {
        _cleanup_free_ bool *on = NULL;
        _cleanup_strv_free_ char **v = NULL;
        bool changed;
        size_t n = 0;

        on = calloc(c->n_roles + 1, sizeof(bool));
        v = calloc(c->n_roles + 1, sizeof(char *));
        if (!on || !v)
                return -ENOMEM;

        for (size_t i = 0; i < c->n_roles; i++)
                on[i] = role_applies(&c->roles[i], id);

        /* Close over "includes"; config_validate refused cycles, and this loop ends regardless. */
        do {
                changed = false;
                for (size_t i = 0; i < c->n_roles; i++) {
                        if (!on[i] || !c->roles[i].includes)
                                continue;
                        for (char **inc = c->roles[i].includes; *inc; inc++)
                                for (size_t j = 0; j < c->n_roles; j++)
                                        if (!on[j] && streq(c->roles[j].name, *inc)) {
                                                on[j] = true;
                                                changed = true;
                                        }
                }
        } while (changed);

        for (size_t i = 0; i < c->n_roles; i++) {
                if (!on[i] || strv_contains(v, c->roles[i].name))
                        continue;
                v[n] = strdup(c->roles[i].name);
                if (!v[n])
                        return -ENOMEM;
                n++;
        }
        qsort(v, n, sizeof(char *), cmp_str);

        *ret = TAKE_PTR(v);
        return 0;
}

int access_check(const struct cloudauth_config *c, const struct identity *id, char *const *roles,
                 bool *ret_allowed, const char **ret_reason) {
        if (strv_length(c->allow_users) == 0 && strv_length(c->allow_groups) == 0 &&
            strv_length(c->allow_roles) == 0) {
                *ret_allowed = false;
                *ret_reason = "no access rule is configured";
                return 0;
        }

        if (strv_contains(c->allow_users, "*")) {
                *ret_allowed = true;
                *ret_reason = "every user of the provider is allowed";
                return 0;
        }

        if (strv_contains(c->allow_users, id->username) || strv_contains(c->allow_users, id->idp_username)) {
                *ret_allowed = true;
                *ret_reason = "listed in allow_users";
                return 0;
        }

        if (strv_intersects_case(c->allow_groups, id->groups)) {
                *ret_allowed = true;
                *ret_reason = "member of an allowed group";
                return 0;
        }

        if (roles)
                for (char *const *r = roles; *r; r++)
                        if (strv_contains(c->allow_roles, *r)) {
                                *ret_allowed = true;
                                *ret_reason = "has an allowed role";
                                return 0;
                        }

        *ret_allowed = false;
        *ret_reason = "not in allow_users, allow_groups or allow_roles";
        return 0;
}
