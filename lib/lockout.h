/* SPDX-License-Identifier: MIT */
#pragma once

#include <time.h>

#include "config.h"
#include "log.h"

/*
 * Local lockout against password guessing: [lockout] attempts failures of one
 * account within window lock it on this host for duration, so that guessing
 * through sshd is stopped here, before the provider locks the real person out.
 *
 * State: one file per account, STATE_DIR/lockout/<hex SHA-256 of the
 * lowercased IdP name> (root, 0600), replaced atomically under a flock of
 * that file. Names the provider does not know count too, so spraying names
 * is bounded as well; files untouched for window + duration say nothing any
 * more and are removed by the next writer, so the directory stays small.
 *
 * Every function takes the IdP name (identity_login_to_idp_name) and the
 * time, so tests inject the clock. With attempts = 0 nothing is counted.
 */

/* The largest [lockout] attempts: at most this many failures are kept per account. */
#define LOCKOUT_ATTEMPTS_MAX 100

struct lockout_state {
        unsigned failures;   /* failures that count now (while locked: the ones that locked it) */
        time_t locked_until; /* 0 when not locked */
};

/* The account's state at now. A missing file is no failures; 0 or negative errno. */
int lockout_get(const struct cloudauth_config *c, const struct logger *log, const char *idp_name, time_t now,
                struct lockout_state *ret);

/*
 * A failed login (a password the provider refused, an unknown user, a
 * failed offline check): counts it and, at the attempts-th failure within
 * the window, locks the account until now + duration. *ret (may be NULL)
 * gets the new state. 0 or negative errno.
 */
int lockout_record_failure(const struct cloudauth_config *c, const struct logger *log, const char *idp_name,
                           time_t now, struct lockout_state *ret);

/* A successful login: the count starts again. 0 or negative errno. */
int lockout_record_success(const struct cloudauth_config *c, const struct logger *log, const char *idp_name);

/* cloudauthctl user unlock: ends a lock and forgets the failures. 1 when there was state, 0 none, negative errno. */
int lockout_unlock(const struct cloudauth_config *c, const struct logger *log, const char *idp_name);
