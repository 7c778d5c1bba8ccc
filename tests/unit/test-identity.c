/* SPDX-License-Identifier: MIT */
#include <jansson.h>

#include "config.h"
#include "identity.h"
#include "tests.h"

static struct cloudauth_config *config_with(const char *extra) {
        struct cloudauth_config *c = NULL;
        char text[2048];

        snprintf(text, sizeof(text), "[provider]\nissuer = https://idp.example.com\nclient_id = x\n%s", extra);
        if (config_new_defaults(&c) < 0 || config_parse_text(c, "t.conf", text, strlen(text), NULL) < 0)
                exit(EXIT_FAILURE);
        return c;
}

static void test_login_names(void) {
        _cleanup_config_ struct cloudauth_config *c = config_with("[identity]\ndefault_domain = Example.COM\n");
        _cleanup_config_ struct cloudauth_config *plain = config_with("");
        char *n = NULL;

        CHECK_INT(identity_login_to_idp_name(c, "Alice", &n), 0);
        CHECK_STR(n, "alice@example.com");
        free(n);
        CHECK_INT(identity_login_to_idp_name(c, "bob@Other.example", &n), 0);
        CHECK_STR(n, "bob@other.example");
        free(n);
        CHECK_INT(identity_login_to_idp_name(plain, "alice", &n), 0);
        CHECK_STR(n, "alice");
        free(n);

        n = (char *) "untouched";
        CHECK_INT(identity_login_to_idp_name(c, "", &n), -EINVAL);
        CHECK_INT(identity_login_to_idp_name(c, "a b", &n), -EINVAL);
        /* CSI as C1, a right-to-left override, and a lone 0x9b byte. */
        CHECK_INT(identity_login_to_idp_name(c, "ali\xc2\x9b" "2Jce", &n), -EINVAL);
        CHECK_INT(identity_login_to_idp_name(c, "ali\xe2\x80\xae" "ecila", &n), -EINVAL);
        CHECK_INT(identity_login_to_idp_name(c, "ali\x9b" "ce", &n), -EINVAL);
        CHECK_INT(identity_login_to_idp_name(c, "a:b", &n), -EINVAL);
        CHECK_INT(identity_login_to_idp_name(c, "a/b", &n), -EINVAL);
        CHECK_INT(identity_login_to_idp_name(c, "a\nb", &n), -EINVAL);
        CHECK_INT(identity_login_to_idp_name(c, "-rf", &n), -EINVAL);
        CHECK_STR(n, "untouched");
        /* Other scripts are names like any other. */
        CHECK_INT(identity_login_to_idp_name(c, "zo\xc3\xab", &n), 0);
        CHECK_STR(n, "zo\xc3\xab@example.com");
        free(n);

        CHECK_INT(identity_idp_to_local_name(c, "Alice@example.com", &n), 0);
        CHECK_STR(n, "alice");
        free(n);
        CHECK_INT(identity_idp_to_local_name(c, "carol@other.example", &n), 0);
        CHECK_STR(n, "carol@other.example");
        free(n);
        /* All-digit local names would be read as UIDs. */
        CHECK_INT(identity_idp_to_local_name(c, "12345@example.com", &n), -EINVAL);
        CHECK_INT(identity_idp_to_local_name(plain, "4242", &n), -EINVAL);
}

static json_t *claims(const char *text) {
        json_error_t e;
        json_t *j = json_loads(text, 0, &e);

        if (!j) {
                fprintf(stderr, "bad test JSON: %s\n", e.text);
                exit(EXIT_FAILURE);
        }
        return j;
}

static void test_from_claims(void) {
        _cleanup_config_ struct cloudauth_config *c = config_with("[identity]\ndefault_domain = example.com\n");
        _cleanup_config_ struct cloudauth_config *upn =
                config_with("[identity]\nusername_claim = upn\ngroups_claim = wids\n");
        json_t *j;
        struct identity *id = NULL;
        const char *reason = NULL;

        j = claims("{\"iss\":\"https://idp.example.com\",\"sub\":\"s1\",\"preferred_username\":\"Alice@Example.com\","
                   "\"name\":\"Alice\",\"email\":\"alice@example.com\",\"groups\":[\"g1\",\"g2\",7,\"\"],"
                   "\"roles\":\"Linux.Admin\",\"tid\":\"t\",\"oid\":\"o\"}");
        CHECK_INT(identity_from_claims(c, j, &id, &reason), 0);
        if (id) {
                CHECK_STR(id->username, "alice");
                CHECK_STR(id->idp_username, "alice@example.com");
                CHECK_STR(id->subject, "s1");
                CHECK_STR(id->tenant, "t");
                CHECK_STR(id->object_id, "o");
                CHECK_STR(id->display_name, "Alice");
                /* Non-strings and empty strings are not group names. */
                CHECK_INT(strv_length(id->groups), 2);
                CHECK_STR(id->groups[1], "g2");
                /* A single string counts as a one-element list. */
                CHECK_INT(strv_length(id->app_roles), 1);
                CHECK_STR(id->app_roles[0], "Linux.Admin");
                identity_free(TAKE_PTR(id));
        }

        /* Another claim configured: preferred_username is ignored. */
        CHECK_INT(identity_from_claims(upn, j, &id, &reason), -EBADMSG);
        CHECK(id == NULL);
        CHECK_STR(reason, "the token has no username claim");
        json_decref(j);

        j = claims("{\"iss\":\"i\",\"sub\":\"s\",\"upn\":\"Bob@Corp.example\",\"wids\":[\"w1\"]}");
        CHECK_INT(identity_from_claims(upn, j, &id, &reason), 0);
        if (id) {
                CHECK_STR(id->username, "bob@corp.example");
                CHECK_INT(strv_length(id->groups), 1);
                CHECK_INT(strv_length(id->app_roles), 0);
                identity_free(TAKE_PTR(id));
        }
        json_decref(j);

        j = claims("{\"iss\":\"i\",\"sub\":\"s\",\"preferred_username\":\"evil:name\"}");
        CHECK_INT(identity_from_claims(c, j, &id, &reason), -EBADMSG);
        CHECK_STR(reason, "the username claim is not a valid login name");
        json_decref(j);

        j = claims("{\"iss\":\"i\",\"preferred_username\":\"alice\"}");
        CHECK_INT(identity_from_claims(c, j, &id, &reason), -EBADMSG);
        CHECK_STR(reason, "the token has no iss or sub claim");
        json_decref(j);

        j = claims("{\"iss\":\"i\",\"sub\":\"s\",\"preferred_username\":42}");
        CHECK_INT(identity_from_claims(c, j, &id, &reason), -EBADMSG);
        json_decref(j);
        CHECK(id == NULL);
}

int main(void) {
        RUN(test_login_names);
        RUN(test_from_claims);
        return tests_exit();
}
