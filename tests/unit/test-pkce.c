/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>

#include "pkce.h"
#include "tests.h"

static bool all_unreserved(const char *s) {
        for (; *s; s++)
                if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~", *s))
                        return false;
        return true;
}

/* RFC 7636 Appendix B */
static void test_rfc7636_vector(void) {
        char c[PKCE_CHALLENGE_LEN + 1];

        CHECK_INT(pkce_challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", c), 0);
        CHECK_STR(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

static void test_invalid_verifiers(void) {
        char c[PKCE_CHALLENGE_LEN + 1] = "untouched";
        char longest[129], too_long[130];

        memset(longest, 'a', 128);
        longest[128] = 0;
        memset(too_long, 'a', 129);
        too_long[129] = 0;

        CHECK_INT(pkce_challenge_s256(NULL, c), -EINVAL);
        CHECK_INT(pkce_challenge_s256("", c), -EINVAL);
        /* 42 characters: one short of the minimum */
        CHECK_INT(pkce_challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX", c), -EINVAL);
        CHECK_INT(pkce_challenge_s256(too_long, c), -EINVAL);
        /* '+', '/', '=' (plain base64), space, '%' and non-ASCII are not unreserved */
        CHECK_INT(pkce_challenge_s256("dBjftJeZ4CVP+mB92K27uhbUJU1p1r_wW1gFWFOEjXk", c), -EINVAL);
        CHECK_INT(pkce_challenge_s256("dBjftJeZ4CVP/mB92K27uhbUJU1p1r_wW1gFWFOEjXk", c), -EINVAL);
        CHECK_INT(pkce_challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX=", c), -EINVAL);
        CHECK_INT(pkce_challenge_s256("dBjftJeZ4CVP mB92K27uhbUJU1p1r_wW1gFWFOEjXk", c), -EINVAL);
        CHECK_INT(pkce_challenge_s256("dBjftJeZ4CVP%mB92K27uhbUJU1p1r_wW1gFWFOEjXk", c), -EINVAL);
        CHECK_INT(pkce_challenge_s256("dBjftJeZ4CVP\xc3\xa9mB92K27uhbUJU1p1r_wW1gFWFOEjXk", c), -EINVAL);
        CHECK_STR(c, "untouched");

        /* the bounds themselves and the rest of the unreserved set are fine */
        CHECK_INT(pkce_challenge_s256(longest, c), 0);
        CHECK_INT(strlen(c), PKCE_CHALLENGE_LEN);
        CHECK_INT(pkce_challenge_s256("abcdefghijklmnopqrstuvwxyz.~-_0123456789ABCD", c), 0);
}

static void test_generate(void) {
        struct pkce a, b;
        char c[PKCE_CHALLENGE_LEN + 1];

        CHECK_INT(pkce_generate(&a), 0);
        CHECK_INT(pkce_generate(&b), 0);
        CHECK_INT(strlen(a.verifier), PKCE_VERIFIER_LEN);
        CHECK_INT(strlen(a.challenge), PKCE_CHALLENGE_LEN);
        CHECK(all_unreserved(a.verifier));
        CHECK(all_unreserved(a.challenge));
        CHECK(strcmp(a.verifier, b.verifier) != 0);
        CHECK(strcmp(a.challenge, b.challenge) != 0);
        CHECK(strcmp(a.verifier, a.challenge) != 0);
        CHECK_INT(pkce_challenge_s256(a.verifier, c), 0);
        CHECK_STR(c, a.challenge);

        pkce_done(&a);
        CHECK_INT(a.verifier[0], 0);
        CHECK_INT(a.verifier[PKCE_VERIFIER_LEN - 1], 0);
        pkce_done(&b);
        pkce_done(NULL);
        CHECK_INT(pkce_generate(NULL), -EINVAL);
}

static void test_random_token(void) {
        char t1[PKCE_VERIFIER_LEN + 1], t2[PKCE_VERIFIER_LEN + 1];

        CHECK_INT(pkce_random_token(t1), 0);
        CHECK_INT(pkce_random_token(t2), 0);
        CHECK_INT(strlen(t1), PKCE_VERIFIER_LEN);
        CHECK(all_unreserved(t1));
        CHECK(strcmp(t1, t2) != 0);
        CHECK_INT(pkce_random_token(NULL), -EINVAL);
}

int main(void) {
        RUN(test_rfc7636_vector);
        RUN(test_invalid_verifiers);
        RUN(test_generate);
        RUN(test_random_token);
        return tests_exit();
}
