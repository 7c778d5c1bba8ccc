/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "macro.h"
#include "tokenbox.h"
#include "tests.h"

static const char *const subject = "oidc:https://idp.example:1b4e28ba-2fa1-11d2-883f-0016d3cca427";
static const char *const token = "v1.MRq-8TmQw_refresh-token-of-alice.4b7c";

static void test_round_trip(void) {
        _cleanup_free_ char *a = NULL, *b = NULL, *open = NULL;
        uint8_t key[OFFLINE_KEY_SIZE];

        memset(key, 0x42, sizeof(key));
        CHECK_INT(tokenbox_seal(key, subject, 2000000001, token, &a), 0);
        CHECK(strstr(a, "refresh") == NULL);
        CHECK_INT(tokenbox_open(key, subject, 2000000001, a, &open), 0);
        CHECK_STR(open, token);
        /* A fresh nonce each time: the same token never seals the same. */
        CHECK_INT(tokenbox_seal(key, subject, 2000000001, token, &b), 0);
        CHECK(strcmp(a, b) != 0);
}

static void test_bound(void) {
        _cleanup_free_ char *sealed = NULL;
        char *open = NULL;
        uint8_t key[OFFLINE_KEY_SIZE], other[OFFLINE_KEY_SIZE];

        memset(key, 0x42, sizeof(key));
        memset(other, 0x43, sizeof(other));
        CHECK_INT(tokenbox_seal(key, subject, 2000000001, token, &sealed), 0);
        /* Another user's record, another UID, another host: nothing opens. */
        CHECK_INT(tokenbox_open(key, "oidc:https://idp.example:someone-else", 2000000001, sealed, &open), -EBADMSG);
        CHECK_INT(tokenbox_open(key, subject, 2000000002, sealed, &open), -EBADMSG);
        CHECK_INT(tokenbox_open(other, subject, 2000000001, sealed, &open), -EBADMSG);
        CHECK(open == NULL);
}

static void test_tampered(void) {
        _cleanup_free_ char *sealed = NULL, *again = NULL;
        _cleanup_free_ unsigned char *raw = NULL;
        char *open = NULL;
        uint8_t key[OFFLINE_KEY_SIZE];
        size_t len;

        memset(key, 0x42, sizeof(key));
        CHECK_INT(tokenbox_seal(key, subject, 2000000001, token, &sealed), 0);
        CHECK_INT(base64url_decode(sealed, strlen(sealed), &raw, &len), 0);
        for (size_t i = 0; i < len; i++) {
                free(TAKE_PTR(again));
                raw[i] ^= 0x01;
                CHECK_INT(base64url_encode(raw, len, &again), 0);
                CHECK_INT(tokenbox_open(key, subject, 2000000001, again, &open), -EBADMSG);
                raw[i] ^= 0x01;
        }
        /* Cut short, empty, not base64, absurdly long. */
        sealed[strlen(sealed) - 4] = 0;
        CHECK_INT(tokenbox_open(key, subject, 2000000001, sealed, &open), -EBADMSG);
        CHECK_INT(tokenbox_open(key, subject, 2000000001, "", &open), -EBADMSG);
        CHECK_INT(tokenbox_open(key, subject, 2000000001, "!!!!", &open), -EBADMSG);
        {
                char *big = malloc(40000);
                CHECK(big != NULL);
                memset(big, 'A', 39999);
                big[39999] = 0;
                CHECK_INT(tokenbox_open(key, subject, 2000000001, big, &open), -EBADMSG);
                free(big);
        }
        CHECK(open == NULL);
        CHECK_INT(tokenbox_seal(key, subject, 2000000001, "", &again), -EINVAL);
        CHECK_INT(tokenbox_seal(key, "bad\nsubject", 2000000001, token, &again), -EINVAL);
}

int main(void) {
        RUN(test_round_trip);
        RUN(test_bound);
        RUN(test_tampered);
        return tests_exit();
}
