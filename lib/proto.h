/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The protocol between pam_cloudauth.so and its root helper cloudauth-auth,
 * over a SOCK_SEQPACKET socketpair: one message per packet, so framing is
 * the kernel's. Shared by both sides, and libc only, since the PAM module
 * links nothing else. Both sides parse every packet as untrusted input.
 *
 * A packet: byte 0 the version (PROTO_VERSION), byte 1 the type, then
 * fields, each a tag byte, a 16-bit big-endian length and that many bytes.
 * A field is a string (no NUL byte inside) or a u32 (exactly 4 bytes,
 * big-endian), as its tag says. Each type allows a fixed set of tags and
 * requires some; an unknown tag, a repeated tag, a missing required tag, a
 * short or overlong packet is an error, never skipped.
 *
 * The conversation:
 *   module -> helper   START          once, first
 *   helper -> module   CONV           text to show, with at most one prompt; a
 *                                     CONV with a prompt is answered by REPLY
 *   helper -> module   GET_AUTHTOK    answered by AUTHTOK (the stacked password)
 *   helper -> module   RESULT         last; the helper exits after it
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION 1
/* Largest packet either side sends or accepts: the device text with its QR code fits well. */
#define PROTO_PACKET_MAX 32768
/* Largest string field. */
#define PROTO_STRING_MAX 16384
/* The descriptor the helper finds its end of the socketpair on. */
#define PROTO_HELPER_FD 3

enum proto_type {
        PROTO_START = 1,
        PROTO_REPLY = 2,
        PROTO_AUTHTOK = 3,
        PROTO_CONV = 16,
        PROTO_GET_AUTHTOK = 17,
        PROTO_RESULT = 18,
};

enum proto_tag {
        PROTO_TAG_OP = 1,         /* u32 enum proto_op */
        PROTO_TAG_USER,           /* PAM_USER */
        PROTO_TAG_SERVICE,        /* PAM_SERVICE, for the log */
        PROTO_TAG_CONFIG,         /* the configuration file's path */
        PROTO_TAG_FLOW,           /* u32 enum login_flow bit, 0 = from the configuration */
        PROTO_TAG_FLAGS,          /* u32 PROTO_FLAG_* */
        PROTO_TAG_RHOST,          /* PAM_RHOST, for the log */
        PROTO_TAG_STATUS,         /* u32 enum proto_conv_status */
        PROTO_TAG_ANSWER,         /* what the person typed; absent at end of input */
        PROTO_TAG_AUTHTOK,        /* PAM_AUTHTOK; absent when no earlier module set one */
        PROTO_TAG_INFO,           /* text to show */
        PROTO_TAG_ERROR,          /* an error to show */
        PROTO_TAG_PROMPT,         /* a prompt to answer */
        PROTO_TAG_ECHO,           /* u32 1: the answer may be shown as typed */
        PROTO_TAG_CONV_FLAGS,     /* u32 PROTO_CONV_* */
        PROTO_TAG_CODE,           /* u32 enum proto_code */
        PROTO_TAG_LOCAL_USER,     /* the local account a successful login is for */
        _PROTO_TAG_MAX,
};

enum proto_op {
        PROTO_OP_AUTHENTICATE = 1,
        PROTO_OP_ACCOUNT = 2,
        PROTO_OP_CHAUTHTOK = 3, /* pam_sm_chauthtok's update phase: a new PIN */
};

/* START flags: the module arguments that change what the helper does. */
#define PROTO_FLAG_DEBUG (1u << 0)
#define PROTO_FLAG_USE_FIRST_PASS (1u << 1)
#define PROTO_FLAG_TRY_FIRST_PASS (1u << 2)
#define PROTO_FLAG_NO_OFFLINE (1u << 3)
#define PROTO_FLAG_SILENT (1u << 4)
#define PROTO_FLAGS_ALL ((1u << 5) - 1)

/* CONV flags: the answer is the password; the module keeps it as PAM_AUTHTOK for later modules. */
#define PROTO_CONV_AUTHTOK (1u << 0)
#define PROTO_CONV_ALL ((1u << 1) - 1)

enum proto_conv_status {
        PROTO_CONV_OK = 0,     /* the conversation answered (ANSWER absent: end of input) */
        PROTO_CONV_FAILED = 1, /* the conversation function failed */
        _PROTO_CONV_STATUS_MAX,
};

/* What a call comes to; the module maps each to one PAM code. */
enum proto_code {
        PROTO_CODE_SUCCESS = 0,
        PROTO_CODE_AUTH_ERR,          /* wrong password, refused token, unknown provider user */
        PROTO_CODE_USER_UNKNOWN,      /* not ours: let the stack move on */
        PROTO_CODE_PERM_DENIED,       /* ours, and not allowed */
        PROTO_CODE_AUTHINFO_UNAVAIL,  /* provider unreachable, configuration unusable */
        PROTO_CODE_MAXTRIES,          /* locked */
        PROTO_CODE_CONV_ERR,          /* the conversation failed or ended */
        PROTO_CODE_SERVICE_ERR,
        PROTO_CODE_BUF_ERR,
        PROTO_CODE_AUTHTOK_ERR,       /* the new PIN was not set */
        _PROTO_CODE_MAX,
};

struct proto_field {
        uint16_t len;
        bool present;
        uint32_t u32;
        const char *str; /* NUL-terminated copy inside the message; NULL for u32 fields */
};

/* A parsed packet. Large: keep one per side, and wipe it, since fields may hold a password. */
struct proto_msg {
        enum proto_type type;
        struct proto_field field[_PROTO_TAG_MAX];
        char text[PROTO_PACKET_MAX + _PROTO_TAG_MAX]; /* every tag at most once: one NUL each */
};

/*
 * Parse one packet. 0 and *ret filled, or -EBADMSG (malformed, or a tag
 * that type does not allow or a required one missing), -EPROTO (another
 * version). On error *ret holds nothing usable but is wiped.
 */
int proto_parse(const void *packet, size_t len, struct proto_msg *ret);

/* A field of a parsed message: NULL / false when absent. */
const char *proto_str(const struct proto_msg *m, enum proto_tag tag);
bool proto_u32(const struct proto_msg *m, enum proto_tag tag, uint32_t *ret);

struct proto_builder {
        uint8_t buf[PROTO_PACKET_MAX];
        size_t len;
        bool overflow; /* a field did not fit, or was not valid: proto_send refuses */
};

void proto_begin(struct proto_builder *b, enum proto_type type);
/* A string field; NULL adds nothing. A string with a control or NUL byte is the caller's to refuse first. */
void proto_put_str(struct proto_builder *b, enum proto_tag tag, const char *s);
void proto_put_u32(struct proto_builder *b, enum proto_tag tag, uint32_t v);

/* Send the packet and wipe the builder: 0, -EMSGSIZE when it overflowed, or send()'s -errno. */
int proto_send(int fd, struct proto_builder *b);

/*
 * Receive and parse one packet, waiting at most timeout_ms (negative:
 * forever). -ETIMEDOUT, -ECONNRESET when the peer is gone (end of file),
 * -EMSGSIZE for a packet over PROTO_PACKET_MAX, or proto_parse's errors.
 */
int proto_recv(int fd, struct proto_msg *ret, int timeout_ms);

void proto_msg_wipe(struct proto_msg *m);

const char *proto_code_to_string(enum proto_code c);
