/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The resource limits the login helper runs with, whatever the caller set:
 * applied by pam_cloudauth.so between fork and exec, and again by the
 * helper itself. libc only, and async-signal-safe.
 */
#include <sys/resource.h>

/*
 * The fixed limit, or as near as this root may go: without CAP_SYS_RESOURCE
 * a hard limit the caller lowered stays, and the soft one rises to it.
 * Lowering (no core files) always works. 0 or -1 with errno.
 */
static inline int sandbox_limits_apply(void) {
        static const struct { int resource; rlim_t value; } limits[] = {
                { RLIMIT_CORE, 0 },              /* no core file holds a password */
                { RLIMIT_FSIZE, RLIM_INFINITY }, /* a small limit would cut the store's files short */
                { RLIMIT_CPU, RLIM_INFINITY },
                { RLIMIT_DATA, RLIM_INFINITY },
                { RLIMIT_AS, RLIM_INFINITY },
                { RLIMIT_STACK, 8 * 1024 * 1024 },
                { RLIMIT_NOFILE, 1024 },
                { RLIMIT_NPROC, RLIM_INFINITY },
        };

        for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
                struct rlimit rl = { limits[i].value, limits[i].value }, cur;

                if (setrlimit(limits[i].resource, &rl) == 0)
                        continue;
                if (getrlimit(limits[i].resource, &cur) < 0)
                        return -1;
                rl.rlim_max = cur.rlim_max;
                rl.rlim_cur = limits[i].value > cur.rlim_max ? cur.rlim_max : limits[i].value;
                if (setrlimit(limits[i].resource, &rl) < 0)
                        return -1;
        }
        return 0;
}
