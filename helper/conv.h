/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

/*
 * The helper's side of the PAM conversation: requests to the module over
 * the socketpair. Text sent here is shown to the person at the terminal, so
 * callers put only sanitised text in it.
 */
struct conv {
        int fd;
        unsigned pending; /* prompts sent and not answered yet */
};

/*
 * Show info (may be NULL) and ask prompt; wait at most timeout_ms for the
 * answer. 0 and *ret_answer set (NULL when the conversation reached end of
 * input; else a heap string the caller wipes), -EPIPE when the conversation
 * function failed, -ECONNRESET when the module is gone, -ETIMEDOUT, or a
 * protocol error. With authtok, the module keeps a non-empty answer as
 * PAM_AUTHTOK for the modules after it.
 */
int conv_ask(struct conv *cv, const char *info, const char *prompt, bool echo, bool authtok, int timeout_ms,
             char **ret_answer);

/* The two halves of conv_ask, for a prompt that stays open while the helper works (the device flow). */
int conv_send_prompt(struct conv *cv, const char *info, const char *prompt, bool echo, bool authtok);
int conv_read_answer(struct conv *cv, int timeout_ms, char **ret_answer);

/* Text without a prompt; the module shows it and does not answer. */
int conv_info(struct conv *cv, const char *text);
int conv_error(struct conv *cv, const char *text);

/* PAM_AUTHTOK as an earlier module set it: 0 and *ret (NULL when none). */
int conv_get_authtok(struct conv *cv, int timeout_ms, char **ret);
