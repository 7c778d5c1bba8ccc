/* SPDX-License-Identifier: MIT */
/*
 * The argon2id computation an offline login cannot avoid: one check of a
 * verifier made with the default cost parameters, timed inside this process
 * (no process start, no file access). bench-offline.sh runs it between
 * offline logins and compares the medians.
 *
 *   bench-argon2 [ROUNDS]   prints one line per round: microseconds
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "offline.h"

static long long now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv) {
        const struct offline_params params = {
                .time_cost = OFFLINE_DEFAULT_TIME_COST,
                .memory_kib = OFFLINE_DEFAULT_MEMORY_MIB * 1024,
                .parallelism = 1,
        };
        const uint8_t key[OFFLINE_KEY_SIZE] = { 0x5a };
        const char *subject = "https://idp.example/|4f2a1d7e-9b3c-4e8a";
        struct offline_verifier v;
        int rounds = argc > 1 ? atoi(argv[1]) : 1;

        if (rounds < 1 || offline_verifier_make(key, subject, "alice-Pa55word", &params, 0, &v) < 0) {
                fprintf(stderr, "bench-argon2: cannot make a verifier\n");
                return EXIT_FAILURE;
        }
        for (int i = 0; i < rounds; i++) {
                long long t0 = now_us();
                int r = offline_verifier_check(key, subject, "alice-Pa55word", &v);
                long long t1 = now_us();

                if (r != 1) {
                        fprintf(stderr, "bench-argon2: the verifier did not match\n");
                        return EXIT_FAILURE;
                }
                printf("%lld\n", t1 - t0);
        }
        return EXIT_SUCCESS;
}
