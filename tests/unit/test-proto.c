/* SPDX-License-Identifier: MIT */
/* The module/helper protocol: what parses, what is refused, and the socket edge. */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"
#include "tests.h"

static struct proto_msg m;
static struct proto_builder b;

/* A packet by hand: version, type, then (tag, bytes) pairs. */
static size_t packet(uint8_t *buf, uint8_t version, uint8_t type) {
        buf[0] = version;
        buf[1] = type;
        return 2;
}

static size_t field(uint8_t *buf, size_t off, uint8_t tag, const void *data, size_t n) {
        buf[off] = tag;
        buf[off + 1] = (uint8_t) (n >> 8);
        buf[off + 2] = (uint8_t) n;
        memcpy(buf + off + 3, data, n);
        return off + 3 + n;
}

static size_t field_u32(uint8_t *buf, size_t off, uint8_t tag, uint32_t v) {
        uint8_t be[4] = { (uint8_t) (v >> 24), (uint8_t) (v >> 16), (uint8_t) (v >> 8), (uint8_t) v };
        return field(buf, off, tag, be, 4);
}

static void test_round_trip(void) {
        uint32_t v = 0;

        proto_begin(&b, PROTO_START);
        proto_put_u32(&b, PROTO_TAG_OP, PROTO_OP_AUTHENTICATE);
        proto_put_str(&b, PROTO_TAG_USER, "alice@example.com");
        proto_put_str(&b, PROTO_TAG_SERVICE, "sshd");
        proto_put_str(&b, PROTO_TAG_CONFIG, "/etc/cloudauth/cloudauth.conf");
        proto_put_u32(&b, PROTO_TAG_FLAGS, PROTO_FLAG_DEBUG | PROTO_FLAG_TRY_FIRST_PASS);
        CHECK(!b.overflow);
        CHECK_INT(proto_parse(b.buf, b.len, &m), 0);
        CHECK_INT(m.type, PROTO_START);
        CHECK_STR(proto_str(&m, PROTO_TAG_USER), "alice@example.com");
        CHECK_STR(proto_str(&m, PROTO_TAG_CONFIG), "/etc/cloudauth/cloudauth.conf");
        CHECK(proto_u32(&m, PROTO_TAG_FLAGS, &v));
        CHECK_INT(v, PROTO_FLAG_DEBUG | PROTO_FLAG_TRY_FIRST_PASS);
        CHECK(proto_str(&m, PROTO_TAG_RHOST) == NULL);
        CHECK(!proto_u32(&m, PROTO_TAG_FLOW, &v));
        /* A string field is no number, and a number no string. */
        CHECK(!proto_u32(&m, PROTO_TAG_USER, &v));
        CHECK(proto_str(&m, PROTO_TAG_OP) == NULL);

        /* A password may hold any byte but NUL; text to show keeps its newlines. */
        proto_begin(&b, PROTO_REPLY);
        proto_put_u32(&b, PROTO_TAG_STATUS, PROTO_CONV_OK);
        proto_put_str(&b, PROTO_TAG_ANSWER, "p\x01\x1b[2J\x7f\xc2\x9b");
        CHECK_INT(proto_parse(b.buf, b.len, &m), 0);
        CHECK_STR(proto_str(&m, PROTO_TAG_ANSWER), "p\x01\x1b[2J\x7f\xc2\x9b");

        proto_begin(&b, PROTO_CONV);
        proto_put_str(&b, PROTO_TAG_INFO, "line one\n\tline two");
        CHECK_INT(proto_parse(b.buf, b.len, &m), 0);
        CHECK_STR(proto_str(&m, PROTO_TAG_INFO), "line one\n\tline two");
}

static void expect_bad(const uint8_t *buf, size_t n, int error) {
        m.type = PROTO_RESULT;
        m.field[PROTO_TAG_CODE].present = true;
        CHECK_INT(proto_parse(buf, n, &m), error);
        /* Nothing of a refused packet is left to use. */
        CHECK_INT(m.type, 0);
        CHECK(!m.field[PROTO_TAG_CODE].present);
}

static void test_refused(void) {
        uint8_t buf[256] = {0}, big[PROTO_PACKET_MAX + 8];
        size_t n;

        expect_bad(buf, 0, -EBADMSG);
        n = packet(buf, 2, PROTO_GET_AUTHTOK);
        expect_bad(buf, n, -EPROTO);
        n = packet(buf, PROTO_VERSION, 99);
        expect_bad(buf, n, -EBADMSG);

        /* A missing required field, a tag the type does not allow, a repeated tag, an unknown tag. */
        n = packet(buf, PROTO_VERSION, PROTO_RESULT);
        expect_bad(buf, n, -EBADMSG);
        n = field_u32(buf, packet(buf, PROTO_VERSION, PROTO_RESULT), PROTO_TAG_CODE, 0);
        n = field(buf, n, PROTO_TAG_ANSWER, "x", 1);
        expect_bad(buf, n, -EBADMSG);
        n = field_u32(buf, packet(buf, PROTO_VERSION, PROTO_RESULT), PROTO_TAG_CODE, 0);
        n = field_u32(buf, n, PROTO_TAG_CODE, 1);
        expect_bad(buf, n, -EBADMSG);
        n = field_u32(buf, packet(buf, PROTO_VERSION, PROTO_RESULT), PROTO_TAG_CODE, 0);
        n = field(buf, n, 0, "", 0);
        expect_bad(buf, n, -EBADMSG);
        n = field_u32(buf, packet(buf, PROTO_VERSION, PROTO_RESULT), PROTO_TAG_CODE, 0);
        n = field(buf, n, _PROTO_TAG_MAX, "", 0);
        expect_bad(buf, n, -EBADMSG);

        /* Values out of range, a number of the wrong size. */
        n = field_u32(buf, packet(buf, PROTO_VERSION, PROTO_RESULT), PROTO_TAG_CODE, _PROTO_CODE_MAX);
        expect_bad(buf, n, -EBADMSG);
        n = field(buf, packet(buf, PROTO_VERSION, PROTO_RESULT), PROTO_TAG_CODE, "\0\0\0", 3);
        expect_bad(buf, n, -EBADMSG);
        n = field_u32(buf, packet(buf, PROTO_VERSION, PROTO_REPLY), PROTO_TAG_STATUS, 7);
        expect_bad(buf, n, -EBADMSG);

        /* A field longer than what is left, a truncated header. */
        n = field_u32(buf, packet(buf, PROTO_VERSION, PROTO_RESULT), PROTO_TAG_CODE, 0);
        expect_bad(buf, n - 1, -EBADMSG);
        expect_bad(buf, 4, -EBADMSG);

        /* NUL in any string; control bytes in a name; a terminal escape in text to show. */
        n = field_u32(buf, packet(buf, PROTO_VERSION, PROTO_RESULT), PROTO_TAG_CODE, 0);
        n = field(buf, n, PROTO_TAG_LOCAL_USER, "ali\0ce", 6);
        expect_bad(buf, n, -EBADMSG);
        n = field_u32(buf, packet(buf, PROTO_VERSION, PROTO_RESULT), PROTO_TAG_CODE, 0);
        n = field(buf, n, PROTO_TAG_LOCAL_USER, "alice\n", 6);
        expect_bad(buf, n, -EBADMSG);
        n = field(buf, packet(buf, PROTO_VERSION, PROTO_CONV), PROTO_TAG_INFO, "\x1b[2J", 4);
        expect_bad(buf, n, -EBADMSG);

        /* A CONV with nothing to show, or echo without a prompt; a START whose config is relative. */
        n = packet(buf, PROTO_VERSION, PROTO_CONV);
        expect_bad(buf, n, -EBADMSG);
        n = field(buf, packet(buf, PROTO_VERSION, PROTO_CONV), PROTO_TAG_INFO, "hi", 2);
        n = field_u32(buf, n, PROTO_TAG_ECHO, 1);
        expect_bad(buf, n, -EBADMSG);
        n = field_u32(buf, packet(buf, PROTO_VERSION, PROTO_START), PROTO_TAG_OP, 1);
        n = field(buf, n, PROTO_TAG_USER, "alice", 5);
        n = field(buf, n, PROTO_TAG_CONFIG, "cloudauth.conf", 14);
        n = field_u32(buf, n, PROTO_TAG_FLAGS, 0);
        expect_bad(buf, n, -EBADMSG);

        /* Over the packet limit. */
        memset(big, 'a', sizeof(big));
        big[0] = PROTO_VERSION;
        big[1] = PROTO_CONV;
        expect_bad(big, sizeof(big), -EBADMSG);
}

static void test_builder_limits(void) {
        static char huge[PROTO_STRING_MAX + 2];

        memset(huge, 'x', sizeof(huge) - 1);
        proto_begin(&b, PROTO_CONV);
        proto_put_str(&b, PROTO_TAG_INFO, huge);
        CHECK(b.overflow);
        CHECK_INT(proto_send(-1, &b), -EMSGSIZE);
        CHECK_INT(b.len, 0);
}

static void test_socket(void) {
        uint8_t big[PROTO_PACKET_MAX + 100];
        int sv[2];

        CHECK_INT(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        proto_begin(&b, PROTO_GET_AUTHTOK);
        CHECK_INT(proto_send(sv[0], &b), 0);
        CHECK_INT(proto_recv(sv[1], &m, 1000), 0);
        CHECK_INT(m.type, PROTO_GET_AUTHTOK);

        /* Nothing sent: a deadline, never a hang. */
        CHECK_INT(proto_recv(sv[1], &m, 50), -ETIMEDOUT);

        /* A packet over the limit is refused whole. */
        memset(big, 0, sizeof(big));
        big[0] = PROTO_VERSION;
        big[1] = PROTO_GET_AUTHTOK;
        CHECK_INT(send(sv[0], big, sizeof(big), 0), (long) sizeof(big));
        CHECK_INT(proto_recv(sv[1], &m, 1000), -EMSGSIZE);

        /* The peer gone is end of file; sending to it is an error, not SIGPIPE. */
        close(sv[0]);
        CHECK_INT(proto_recv(sv[1], &m, 1000), -ECONNRESET);
        proto_begin(&b, PROTO_GET_AUTHTOK);
        CHECK_INT(proto_send(sv[1], &b), -EPIPE);
        close(sv[1]);
}

int main(void) {
        RUN(test_round_trip);
        RUN(test_refused);
        RUN(test_builder_limits);
        RUN(test_socket);
        return tests_exit();
}
