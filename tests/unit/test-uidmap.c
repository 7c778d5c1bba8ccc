/* SPDX-License-Identifier: MIT */
#include "tests.h"
#include "uidmap.h"

#define UID_MIN_DEFAULT 2001000000u
#define UID_MAX_DEFAULT 2147000000u

/*
 * Expected values come from coreutils and Python, not from this code:
 *   printf 'cloudauth-uid-v1\n%s\n%s' SCOPE NAME | sha256sum | cut -c1-16
 *   python3 -c 'print(2001000000 + 0xHEX % (2147000000 - 2001000000 + 1))'
 */
static void test_vectors(void) {
        /* uid digest prefix b9e4dbd07d0a6576 */
        CHECK_INT(uidmap_user_uid("https://login.microsoftonline.com/t/v2.0", "alice@example.com", UID_MIN_DEFAULT,
                                  UID_MAX_DEFAULT),
                  2080137681);
        /* uid digest prefix 592c44f141c34b7d */
        CHECK_INT(uidmap_user_uid("https://idp.example.com", "bob@example.org", UID_MIN_DEFAULT, UID_MAX_DEFAULT),
                  2072113532);
        /* uid digest prefix 0ee66112e6709e40 */
        CHECK_INT(uidmap_user_uid("https://idp.example.com", "x", UID_MIN_DEFAULT, UID_MAX_DEFAULT), 2139105017);
        /* with range 1000-1009: 1000 + 0xb9e4dbd07d0a6576 % 10 */
        CHECK_INT(uidmap_user_uid("https://login.microsoftonline.com/t/v2.0", "alice@example.com", 1000, 1009), 1004);
        CHECK_INT(uidmap_user_uid("https://idp.example.com", "bob@example.org", 1000, 1009), 1007);
}

static void test_group_vectors(void) {
        /* printf 'cloudauth-gid-v1\n%s\n%s' ... : cb94cf03c87616a5, c64aae88e64b023e, 886c8aa552068acd */
        CHECK_INT(uidmap_group_gid("https://login.microsoftonline.com/t/v2.0", "alice@example.com", UID_MIN_DEFAULT,
                                   UID_MAX_DEFAULT),
                  2092024321);
        CHECK_INT(uidmap_group_gid("https://idp.example.com", "bob@example.org", UID_MIN_DEFAULT, UID_MAX_DEFAULT),
                  2051858874);
        CHECK_INT(uidmap_group_gid("https://idp.example.com", "x", UID_MIN_DEFAULT, UID_MAX_DEFAULT), 2058947109);
        /* Same name, different label: a user and a group never share an id by construction. */
        CHECK(uidmap_group_gid("s", "n", UID_MIN_DEFAULT, UID_MAX_DEFAULT) !=
              uidmap_user_uid("s", "n", UID_MIN_DEFAULT, UID_MAX_DEFAULT));
}

static void test_range_and_stability(void) {
        char name[64];
        unsigned out_of_range = 0, unstable = 0, hit_min = 0, hit_max = 0;

        for (unsigned i = 0; i < 5000; i++) {
                uint32_t a, b;

                snprintf(name, sizeof(name), "user%u@example.com", i);
                a = uidmap_user_uid("https://idp", name, 5000, 5015);
                b = uidmap_user_uid("https://idp", name, 5000, 5015);
                if (a < 5000 || a > 5015)
                        out_of_range++;
                if (a != b)
                        unstable++;
                hit_min += a == 5000;
                hit_max += a == 5015;

                a = uidmap_user_uid("https://idp", name, UID_MIN_DEFAULT, UID_MAX_DEFAULT);
                if (a < UID_MIN_DEFAULT || a > UID_MAX_DEFAULT)
                        out_of_range++;
        }
        CHECK_INT(out_of_range, 0);
        CHECK_INT(unstable, 0);
        CHECK(hit_min > 0);
        CHECK(hit_max > 0);

        /* A one-id range and the full 32-bit range. */
        CHECK_INT(uidmap_user_uid("s", "n", 7, 7), 7);
        CHECK_INT(uidmap_group_gid("s", "n", 0, UINT32_MAX), uidmap_group_gid("s", "n", 0, UINT32_MAX));
        /* The scope is part of the input. */
        CHECK(uidmap_user_uid("https://a", "alice", UID_MIN_DEFAULT, UID_MAX_DEFAULT) !=
              uidmap_user_uid("https://b", "alice", UID_MIN_DEFAULT, UID_MAX_DEFAULT));
}

int main(void) {
        RUN(test_vectors);
        RUN(test_group_vectors);
        RUN(test_range_and_stability);
        return tests_exit();
}
