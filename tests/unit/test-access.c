/* SPDX-License-Identifier: MIT */
#include "access.h"
#include "config.h"
#include "tests.h"

static struct cloudauth_config *config_with(const char *extra) {
        struct cloudauth_config *c = NULL;
        char text[4096];

        snprintf(text, sizeof(text), "[provider]\nissuer = https://idp.example.com\nclient_id = x\n%s", extra);
        if (config_new_defaults(&c) < 0 || config_parse_text(c, "t.conf", text, strlen(text), NULL) < 0 ||
            config_validate(c, NULL) < 0) {
                fprintf(stderr, "test config does not load:\n%s\n", text);
                exit(EXIT_FAILURE);
        }
        return c;
}

static char *groups_a[] = { "Linux-Admins", "ops", NULL };
static char *groups_none[] = { NULL };
static char *roles_admin[] = { "Linux.Admin", NULL };

static struct identity person(char *name, char *idp, char **groups, char **app_roles) {
        return (struct identity) { .username = name, .idp_username = idp, .groups = groups, .app_roles = app_roles };
}

static void test_roles(void) {
        _cleanup_config_ struct cloudauth_config *c = config_with(
                "[role admin]\ngroups = linux-admins\nincludes = user\nunix_groups = sudo\n"
                "[role user]\nunix_groups = users\n"
                "[role dba]\napp_roles = DB.Admin\nincludes = auditor\n"
                "[role auditor]\n"
                "[role approle]\napp_roles = Linux.Admin\n");
        struct identity a = person("alice", "alice@example.com", groups_a, groups_none);
        struct identity b = person("bob", "bob@example.com", groups_none, roles_admin);
        struct identity n = person("nobody", "nobody@example.com", groups_none, groups_none);
        char **r = NULL;

        /* Group ids compare without case; includes are followed; the result is sorted. */
        CHECK_INT(roles_resolve(c, &a, &r), 0);
        CHECK_INT(strv_length(r), 2);
        CHECK_STR(r[0], "admin");
        CHECK_STR(r[1], "user");
        strv_free(r);

        CHECK_INT(roles_resolve(c, &b, &r), 0);
        CHECK_INT(strv_length(r), 1);
        CHECK_STR(r[0], "approle");
        strv_free(r);

        CHECK_INT(roles_resolve(c, &n, &r), 0);
        CHECK_INT(strv_length(r), 0);
        strv_free(r);
}

static void check_access(const char *cfg, struct identity *id, char **roles, bool expect, const char *reason) {
        _cleanup_config_ struct cloudauth_config *c = config_with(cfg);
        const char *got = NULL;
        bool allowed = !expect;

        CHECK_INT(access_check(c, id, roles, &allowed, &got), 0);
        CHECK_INT(allowed, expect);
        CHECK_STR(got, reason);
}

static void test_access(void) {
        struct identity a = person("alice", "alice@example.com", groups_a, groups_none);
        char *admin[] = { "admin", NULL };

        /* Nobody until a rule is set. */
        check_access("", &a, admin, false, "no access rule is configured");
        check_access("[access]\nallow_users = *\n", &a, NULL, true, "every user of the provider is allowed");
        check_access("[access]\nallow_users = Alice@Example.com\n", &a, NULL, true, "listed in allow_users");
        check_access("[access]\nallow_users = alice\n", &a, NULL, true, "listed in allow_users");
        check_access("[access]\nallow_users = bob@example.com\n", &a, NULL, false,
                     "not in allow_users, allow_groups or allow_roles");
        check_access("[access]\nallow_groups = LINUX-ADMINS\n", &a, NULL, true, "member of an allowed group");
        check_access("[access]\nallow_groups = other\n", &a, NULL, false,
                     "not in allow_users, allow_groups or allow_roles");
        check_access("[role admin]\ngroups = x\n[access]\nallow_roles = admin\n", &a, admin, true,
                     "has an allowed role");
        check_access("[role admin]\ngroups = x\n[role dev]\n[access]\nallow_roles = dev\n", &a, admin, false,
                     "not in allow_users, allow_groups or allow_roles");
}

int main(void) {
        RUN(test_roles);
        RUN(test_access);
        return tests_exit();
}
