/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "proto.h"

#define BIT(t) (1u << (t))

enum field_kind {
        KIND_U32,
        KIND_NAME,   /* printable: no control byte at all */
        KIND_TEXT,   /* shown to a person: newline and tab are the only controls */
        KIND_SECRET, /* anything but NUL */
};

static const enum field_kind tag_kind[_PROTO_TAG_MAX] = {
        [PROTO_TAG_OP] = KIND_U32,
        [PROTO_TAG_USER] = KIND_NAME,
        [PROTO_TAG_SERVICE] = KIND_NAME,
        [PROTO_TAG_CONFIG] = KIND_NAME,
        [PROTO_TAG_FLOW] = KIND_U32,
        [PROTO_TAG_FLAGS] = KIND_U32,
        [PROTO_TAG_RHOST] = KIND_NAME,
        [PROTO_TAG_STATUS] = KIND_U32,
        [PROTO_TAG_ANSWER] = KIND_SECRET,
        [PROTO_TAG_AUTHTOK] = KIND_SECRET,
        [PROTO_TAG_INFO] = KIND_TEXT,
        [PROTO_TAG_ERROR] = KIND_TEXT,
        [PROTO_TAG_PROMPT] = KIND_TEXT,
        [PROTO_TAG_ECHO] = KIND_U32,
        [PROTO_TAG_CONV_FLAGS] = KIND_U32,
        [PROTO_TAG_CODE] = KIND_U32,
        [PROTO_TAG_LOCAL_USER] = KIND_NAME,
};

struct type_rule {
        uint32_t allowed, required;
};

static const struct type_rule *type_rule(unsigned type) {
        static const struct type_rule start = {
                BIT(PROTO_TAG_OP) | BIT(PROTO_TAG_USER) | BIT(PROTO_TAG_SERVICE) | BIT(PROTO_TAG_CONFIG) |
                        BIT(PROTO_TAG_FLOW) | BIT(PROTO_TAG_FLAGS) | BIT(PROTO_TAG_RHOST),
                BIT(PROTO_TAG_OP) | BIT(PROTO_TAG_USER) | BIT(PROTO_TAG_CONFIG) | BIT(PROTO_TAG_FLAGS),
        };
        static const struct type_rule reply = { BIT(PROTO_TAG_STATUS) | BIT(PROTO_TAG_ANSWER), BIT(PROTO_TAG_STATUS) };
        static const struct type_rule authtok = { BIT(PROTO_TAG_AUTHTOK), 0 };
        static const struct type_rule conv = {
                BIT(PROTO_TAG_INFO) | BIT(PROTO_TAG_ERROR) | BIT(PROTO_TAG_PROMPT) | BIT(PROTO_TAG_ECHO) |
                        BIT(PROTO_TAG_CONV_FLAGS),
                0,
        };
        static const struct type_rule get_authtok = { 0, 0 };
        static const struct type_rule result = { BIT(PROTO_TAG_CODE) | BIT(PROTO_TAG_LOCAL_USER), BIT(PROTO_TAG_CODE) };

        switch (type) {
        case PROTO_START:
                return &start;
        case PROTO_REPLY:
                return &reply;
        case PROTO_AUTHTOK:
                return &authtok;
        case PROTO_CONV:
                return &conv;
        case PROTO_GET_AUTHTOK:
                return &get_authtok;
        case PROTO_RESULT:
                return &result;
        default:
                return NULL;
        }
}

static bool string_valid(enum field_kind kind, const uint8_t *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                uint8_t c = s[i];

                if (c == 0)
                        return false;
                if (kind == KIND_SECRET)
                        continue;
                if (c == 0x7f || (c < 0x20 && !(kind == KIND_TEXT && (c == '\n' || c == '\t'))))
                        return false;
        }
        return true;
}

/* Values a u32 field may take. */
static bool u32_valid(enum proto_tag tag, uint32_t v) {
        switch (tag) {
        case PROTO_TAG_OP:
                return v == PROTO_OP_AUTHENTICATE || v == PROTO_OP_ACCOUNT || v == PROTO_OP_CHAUTHTOK;
        case PROTO_TAG_FLOW:
                return v == 0 || v == 1 || v == 2 || v == 4 || v == 8;
        case PROTO_TAG_FLAGS:
                return (v & ~PROTO_FLAGS_ALL) == 0;
        case PROTO_TAG_STATUS:
                return v < _PROTO_CONV_STATUS_MAX;
        case PROTO_TAG_ECHO:
                return v <= 1;
        case PROTO_TAG_CONV_FLAGS:
                return (v & ~PROTO_CONV_ALL) == 0;
        case PROTO_TAG_CODE:
                return v < _PROTO_CODE_MAX;
        default:
                return false;
        }
}

void proto_msg_wipe(struct proto_msg *m) {
        explicit_bzero(m, sizeof(*m));
}

int proto_parse(const void *packet, size_t len, struct proto_msg *ret) {
        const uint8_t *p = packet;
        const struct type_rule *rule;
        uint32_t seen = 0;
        size_t off = 2, text = 0;

        proto_msg_wipe(ret);
        if (len < 2 || len > PROTO_PACKET_MAX)
                return -EBADMSG;
        if (p[0] != PROTO_VERSION)
                return -EPROTO;
        rule = type_rule(p[1]);
        if (!rule)
                return -EBADMSG;
        ret->type = p[1];

        while (off < len) {
                unsigned tag;
                size_t n;

                if (len - off < 3)
                        goto bad;
                tag = p[off];
                n = (size_t) p[off + 1] << 8 | p[off + 2];
                off += 3;
                if (tag == 0 || tag >= _PROTO_TAG_MAX || !(rule->allowed & BIT(tag)) || (seen & BIT(tag)) ||
                    n > len - off)
                        goto bad;
                seen |= BIT(tag);

                struct proto_field *f = &ret->field[tag];
                f->present = true;
                f->len = (uint16_t) n;
                if (tag_kind[tag] == KIND_U32) {
                        if (n != 4)
                                goto bad;
                        f->u32 = (uint32_t) p[off] << 24 | (uint32_t) p[off + 1] << 16 | (uint32_t) p[off + 2] << 8 |
                                 p[off + 3];
                        if (!u32_valid(tag, f->u32))
                                goto bad;
                } else {
                        if (n > PROTO_STRING_MAX || !string_valid(tag_kind[tag], p + off, n))
                                goto bad;
                        memcpy(ret->text + text, p + off, n);
                        ret->text[text + n] = 0;
                        f->str = ret->text + text;
                        text += n + 1;
                }
                off += n;
        }

        if ((seen & rule->required) != rule->required)
                goto bad;
        if (ret->type == PROTO_START && (!ret->field[PROTO_TAG_USER].len || ret->field[PROTO_TAG_CONFIG].str[0] != '/'))
                goto bad;
        if (ret->type == PROTO_CONV &&
            !(seen & (BIT(PROTO_TAG_INFO) | BIT(PROTO_TAG_ERROR) | BIT(PROTO_TAG_PROMPT))))
                goto bad;
        /* Echo and flags only mean something for a prompt. */
        if (ret->type == PROTO_CONV && !(seen & BIT(PROTO_TAG_PROMPT)) &&
            (seen & (BIT(PROTO_TAG_ECHO) | BIT(PROTO_TAG_CONV_FLAGS))))
                goto bad;
        return 0;

bad:
        proto_msg_wipe(ret);
        return -EBADMSG;
}

const char *proto_str(const struct proto_msg *m, enum proto_tag tag) {
        if ((unsigned) tag >= _PROTO_TAG_MAX || !m->field[tag].present)
                return NULL;
        return m->field[tag].str;
}

bool proto_u32(const struct proto_msg *m, enum proto_tag tag, uint32_t *ret) {
        if ((unsigned) tag >= _PROTO_TAG_MAX || !m->field[tag].present || m->field[tag].str)
                return false;
        *ret = m->field[tag].u32;
        return true;
}

void proto_begin(struct proto_builder *b, enum proto_type type) {
        b->buf[0] = PROTO_VERSION;
        b->buf[1] = (uint8_t) type;
        b->len = 2;
        b->overflow = false;
}

static void put_field(struct proto_builder *b, enum proto_tag tag, const void *data, size_t n) {
        if (b->overflow || n > PROTO_STRING_MAX || sizeof(b->buf) - b->len < 3 + n) {
                b->overflow = true;
                return;
        }
        b->buf[b->len] = (uint8_t) tag;
        b->buf[b->len + 1] = (uint8_t) (n >> 8);
        b->buf[b->len + 2] = (uint8_t) n;
        memcpy(b->buf + b->len + 3, data, n);
        b->len += 3 + n;
}

void proto_put_str(struct proto_builder *b, enum proto_tag tag, const char *s) {
        if (s)
                put_field(b, tag, s, strlen(s));
}

void proto_put_u32(struct proto_builder *b, enum proto_tag tag, uint32_t v) {
        uint8_t be[4] = { (uint8_t) (v >> 24), (uint8_t) (v >> 16), (uint8_t) (v >> 8), (uint8_t) v };

        put_field(b, tag, be, sizeof(be));
}

int proto_send(int fd, struct proto_builder *b) {
        ssize_t n;
        int r = 0;

        if (b->overflow)
                r = -EMSGSIZE;
        else {
                do
                        n = send(fd, b->buf, b->len, MSG_NOSIGNAL);
                while (n < 0 && errno == EINTR);
                if (n < 0)
                        r = -errno;
                else if ((size_t) n != b->len)
                        r = -EIO;
        }
        explicit_bzero(b->buf, b->len);
        b->len = 0;
        return r;
}

static long long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int proto_recv(int fd, struct proto_msg *ret, int timeout_ms) {
        uint8_t buf[PROTO_PACKET_MAX + 1];
        long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
        ssize_t n;
        int r;

        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int wait = -1;

                if (deadline >= 0) {
                        long long left = deadline - now_ms();
                        wait = left > 0 ? (int) left : 0;
                }
                r = poll(&pfd, 1, wait);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                n = recv(fd, buf, sizeof(buf), MSG_TRUNC);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                break;
        }
        if (n < 0)
                return errno == ECONNRESET || errno == EPIPE ? -ECONNRESET : -errno;
        if (n == 0)
                return -ECONNRESET;
        if ((size_t) n > PROTO_PACKET_MAX) {
                explicit_bzero(buf, sizeof(buf));
                return -EMSGSIZE;
        }
        r = proto_parse(buf, (size_t) n, ret);
        explicit_bzero(buf, (size_t) n);
        return r;
}

const char *proto_code_to_string(enum proto_code c) {
        static const char *const table[_PROTO_CODE_MAX] = {
                [PROTO_CODE_SUCCESS] = "success",
                [PROTO_CODE_AUTH_ERR] = "auth-error",
                [PROTO_CODE_USER_UNKNOWN] = "user-unknown",
                [PROTO_CODE_PERM_DENIED] = "permission-denied",
                [PROTO_CODE_AUTHINFO_UNAVAIL] = "unavailable",
                [PROTO_CODE_MAXTRIES] = "locked",
                [PROTO_CODE_CONV_ERR] = "conversation-error",
                [PROTO_CODE_SERVICE_ERR] = "service-error",
                [PROTO_CODE_BUF_ERR] = "out-of-memory",
                [PROTO_CODE_AUTHTOK_ERR] = "authtok-error",
        };

        return (unsigned) c < _PROTO_CODE_MAX ? table[c] : "unknown";
}
