/* SPDX-License-Identifier: MIT */
#include "secret.h"
#include "tests.h"

static void test_equal(void) {
        CHECK(secret_equal("abc", 3, "abc", 3));
        CHECK(!secret_equal("abc", 3, "abd", 3));
        CHECK(!secret_equal("abc", 3, "abcd", 4));
        CHECK(secret_equal("", 0, "", 0));
        CHECK(!secret_equal("a\0b", 3, "a\0c", 3));
}

static void test_wipe(void) {
        char buf[8] = "secret!";
        char *s = strdup("password");

        secret_wipe(buf, sizeof(buf));
        for (size_t i = 0; i < sizeof(buf); i++)
                CHECK_INT(buf[i], 0);
        secret_wipe(NULL, 4);
        erase_and_free(s);
        erase_and_free(NULL);
        CHECK(secret_strdup(NULL) == NULL);
        s = secret_strdup("x");
        CHECK_STR(s, "x");
        erase_and_free(s);
}

int main(void) {
        RUN(test_equal);
        RUN(test_wipe);
        return tests_exit();
}
