/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "secret.h"
#include "proto.h"

/* One parsed packet at a time: it is large, and may hold a password until wiped. */
static struct proto_msg msg;

int conv_send_prompt(struct conv *cv, const char *info, const char *prompt, bool echo, bool authtok) {
        struct proto_builder b;
        int r;

        proto_begin(&b, PROTO_CONV);
        proto_put_str(&b, PROTO_TAG_INFO, info);
        proto_put_str(&b, PROTO_TAG_PROMPT, prompt);
        proto_put_u32(&b, PROTO_TAG_ECHO, echo ? 1 : 0);
        proto_put_u32(&b, PROTO_TAG_CONV_FLAGS, authtok ? PROTO_CONV_AUTHTOK : 0);
        r = proto_send(cv->fd, &b);
        if (r < 0)
                return r;
        cv->pending++;
        return 0;
}

/*
 * The module's answer of type want: its string field tag copied to *ret
 * (NULL when absent); for a REPLY, -EPIPE when the conversation failed.
 */
static int recv_string(struct conv *cv, enum proto_type want, enum proto_tag tag, int timeout_ms, char **ret) {
        const char *value;
        uint32_t status = PROTO_CONV_OK;
        char *copy = NULL;
        int r;

        r = proto_recv(cv->fd, &msg, timeout_ms);
        if (r < 0)
                return r;
        if (msg.type != want || (want == PROTO_REPLY && !proto_u32(&msg, PROTO_TAG_STATUS, &status))) {
                r = -EBADMSG;
                goto out;
        }
        if (status != PROTO_CONV_OK) {
                r = -EPIPE;
                goto out;
        }
        value = proto_str(&msg, tag);
        if (value && !(copy = strdup(value))) {
                r = -ENOMEM;
                goto out;
        }
        *ret = copy;
        r = 0;
out:
        proto_msg_wipe(&msg);
        return r;
}

int conv_read_answer(struct conv *cv, int timeout_ms, char **ret_answer) {
        int r;

        if (cv->pending == 0)
                return -EINVAL;
        r = recv_string(cv, PROTO_REPLY, PROTO_TAG_ANSWER, timeout_ms, ret_answer);
        if (r == 0 || r == -EPIPE)
                cv->pending--;
        return r;
}

int conv_ask(struct conv *cv, const char *info, const char *prompt, bool echo, bool authtok, int timeout_ms,
             char **ret_answer) {
        int r;

        /*
         * A prompt still open (the device flow's "press Enter", when the
         * approval came first) holds the module's conversation: its answer
         * comes before this prompt can be shown, and is not this one's.
         */
        while (cv->pending > 0) {
                char *stale = NULL;

                r = conv_read_answer(cv, timeout_ms, &stale);
                if (r < 0)
                        return r;
                if (!stale) {
                        *ret_answer = NULL;
                        return 0;
                }
                erase_and_free(stale);
        }
        r = conv_send_prompt(cv, info, prompt, echo, authtok);
        return r < 0 ? r : conv_read_answer(cv, timeout_ms, ret_answer);
}

static int conv_text(struct conv *cv, enum proto_tag tag, const char *text) {
        struct proto_builder b;

        proto_begin(&b, PROTO_CONV);
        proto_put_str(&b, tag, text);
        return proto_send(cv->fd, &b);
}

int conv_info(struct conv *cv, const char *text) {
        return conv_text(cv, PROTO_TAG_INFO, text);
}

int conv_error(struct conv *cv, const char *text) {
        return conv_text(cv, PROTO_TAG_ERROR, text);
}

int conv_get_authtok(struct conv *cv, int timeout_ms, char **ret) {
        struct proto_builder b;
        int r;

        proto_begin(&b, PROTO_GET_AUTHTOK);
        if ((r = proto_send(cv->fd, &b)) < 0)
                return r;
        return recv_string(cv, PROTO_AUTHTOK, PROTO_TAG_AUTHTOK, timeout_ms, ret);
}
