/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "conv.h"
#include "log.h"
#include "proto.h"

/* How long the person has to answer a password prompt. */
#define HELPER_PROMPT_TIMEOUT_MS (5 * 60 * 1000)
/* The work a helper's child does after the answer (see login_conclude): one argon2 slot wait and run. */
#define HELPER_AFTER_ANSWER_DEADLINE_S 60
/* The module answers GET_AUTHTOK from its own memory, at once. */
#define HELPER_ITEM_TIMEOUT_MS (10 * 1000)

/* One call of the module: what START said, and where the answers go. */
struct helper {
        struct conv conv;
        struct logger log;
        enum proto_op op;
        const char *user;        /* PAM_USER, as typed */
        const char *service;     /* PAM_SERVICE, for the log */
        const char *rhost;       /* may be NULL */
        const char *config_path;
        unsigned flow;           /* enum login_flow bit, 0 = the configuration's */
        uint32_t flags;          /* PROTO_FLAG_* */
};

/* The answer to the module, once: the helper exits after it. local_user only with success. */
int helper_result(struct helper *h, enum proto_code code, const char *local_user);

/* pam_sm_authenticate's work: every flow, the store, the decision. Sends the result. */
int helper_authenticate(struct helper *h);

/* pam_sm_chauthtok's update phase for a cloud user: a new PIN. Sends the result. */
int helper_chauthtok(struct helper *h);

/* pam_sm_acct_mgmt's work for a user not authenticated in this transaction. Sends the result. */
int helper_account(struct helper *h);

/*
 * Whether user may be ours at all, before any prompt or request: not a
 * local account (in /etc/passwd under any spelling, or outside uid_range),
 * and, when the system resolves the name, resolved to the account
 * cloudauth's own store holds (a directory user of SSSD, LDAP or
 * extrausers is never ours). 1 ours, 0 not ours (the reason is logged at
 * debug), negative errno.
 */
int helper_user_may_be_ours(struct helper *h, const struct cloudauth_config *c, const char *typed,
                            const char *local_name);

/* In /etc/passwd itself: read directly, since NSS would answer for our users too. */
bool helper_user_in_etc_passwd(const char *user);
