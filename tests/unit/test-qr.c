/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <qrencode.h>
#include <stdbool.h>
#include <unistd.h>

#include "qr.h"
#include "tests.h"

#define UPPER "\xe2\x96\x80"
#define LOWER "\xe2\x96\x84"
#define FULL "\xe2\x96\x88"
#define QUIET 2
#define ZBARIMG "/usr/bin/zbarimg"

/* The rendered text read back as a grid of light modules, side x side; NULL when malformed. */
static bool *grid_from_text(const char *s, int side, int *ret_lines) {
        bool *g = calloc((size_t) side * (size_t) (side + 1), sizeof(bool));
        int line = 0, col = 0;

        if (!g)
                return NULL;
        while (*s) {
                bool top, bottom;

                if (*s == '\n') {
                        if (col != side)
                                goto bad;
                        line++;
                        col = 0;
                        s++;
                        continue;
                }
                if (*s == ' ') {
                        top = bottom = false;
                        s++;
                } else if (!strncmp(s, UPPER, 3)) {
                        top = true, bottom = false;
                        s += 3;
                } else if (!strncmp(s, LOWER, 3)) {
                        top = false, bottom = true;
                        s += 3;
                } else if (!strncmp(s, FULL, 3)) {
                        top = bottom = true;
                        s += 3;
                } else
                        goto bad;
                if (col >= side || 2 * line + 1 > side)
                        goto bad;
                g[(size_t) (2 * line) * (size_t) side + (size_t) col] = top;
                g[(size_t) (2 * line + 1) * (size_t) side + (size_t) col] = bottom;
                col++;
        }
        if (col != 0)
                goto bad;
        *ret_lines = line;
        return g;
bad:
        free(g);
        return NULL;
}

/* A PBM of the grid (1 = black = dark module), 4 pixels a module, for zbarimg. */
static bool write_pbm(const char *path, const bool *g, int side) {
        FILE *f = fopen(path, "we");
        const int scale = 4;

        if (!f)
                return false;
        fprintf(f, "P1\n%d %d\n", side * scale, side * scale);
        for (int y = 0; y < side * scale; y++) {
                for (int x = 0; x < side * scale; x++)
                        fputs(g[(size_t) (y / scale) * (size_t) side + (size_t) (x / scale)] ? "0 " : "1 ", f);
                fputc('\n', f);
        }
        return fclose(f) == 0;
}

static void check_text(const char *text) {
        QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
        char *a = NULL, *b = NULL;
        int side, lines = -1;
        bool *g;

        CHECK(q != NULL);
        if (!q)
                return;
        side = q->width + 2 * QUIET;

        CHECK_INT(qr_render_utf8(text, &a), 0);
        CHECK_INT(qr_render_utf8(text, &b), 0);
        CHECK(a && b && strcmp(a, b) == 0);
        if (!a)
                goto out;

        g = grid_from_text(a, side, &lines);
        CHECK(g != NULL);
        if (!g)
                goto out;
        CHECK_INT(lines, (side + 1) / 2);

        /* every module as libqrencode placed it, light ones drawn, quiet zone light */
        for (int y = 0; y < side; y++)
                for (int x = 0; x < side; x++) {
                        int mx = x - QUIET, my = y - QUIET;
                        bool light = mx < 0 || my < 0 || mx >= q->width || my >= q->width ||
                                     !(q->data[my * q->width + mx] & 1);
                        if (g[(size_t) y * (size_t) side + (size_t) x] != light) {
                                CHECK(!"module differs");
                                y = x = side;
                        }
                }
        /* the half row below an odd-height code is terminal background */
        if (side % 2)
                for (int x = 0; x < side; x++)
                        CHECK(!g[(size_t) side * (size_t) side + (size_t) x]);

        if (access(ZBARIMG, X_OK) == 0) {
                char pbm[] = "/tmp/test-qr-XXXXXX";
                char cmd[256], got[4096] = "";
                int fd = mkstemp(pbm);
                FILE *p;

                CHECK(fd >= 0);
                close(fd);
                CHECK(write_pbm(pbm, g, side));
                snprintf(cmd, sizeof(cmd), ZBARIMG " --nodbus --raw -q -Sdisable -Sqrcode.enable %s", pbm);
                p = popen(cmd, "re");
                CHECK(p != NULL);
                if (p) {
                        size_t n = fread(got, 1, sizeof(got) - 1, p);
                        got[n] = 0;
                        CHECK_INT(pclose(p), 0);
                }
                if (got[0] && got[strlen(got) - 1] == '\n')
                        got[strlen(got) - 1] = 0;
                CHECK_STR(got, text);
                unlink(pbm);
        } else
                fprintf(stderr, "%s not installed: decoding the rendered code is not checked\n", ZBARIMG);
        free(g);
out:
        free(a);
        free(b);
        QRcode_free(q);
}

static void test_render(void) {
        char longer[600];

        check_text("https://microsoft.com/devicelogin");
        check_text("https://example.okta.com/activate?user_code=WDJB-MJHT");
        check_text("https://127.0.0.1:8443/device?user_code=ABCD-EFGH&x=%2Fcase-Sensitive");
        memset(longer, 0, sizeof(longer));
        strcpy(longer, "https://idp.example.com/device?user_code=");
        for (size_t i = strlen(longer); i < sizeof(longer) - 1; i++)
                longer[i] = (char) ('A' + i % 26);
        check_text(longer);
}

static void test_small_code(void) {
        char *s = NULL;
        const char *nl;

        /* version 1 (21 modules) + 2 * 2 quiet: 25 columns, 13 lines; first line all light */
        CHECK_INT(qr_render_utf8("hi", &s), 0);
        if (!s)
                return;
        nl = strchr(s, '\n');
        CHECK(nl != NULL);
        CHECK_INT(nl - s, 25 * 3);
        for (int i = 0; i < 25; i++)
                CHECK(!strncmp(s + 3 * i, FULL, 3));
        free(s);
}

static void test_invalid(void) {
        char *s = (char *) "untouched";
        char *huge = malloc(4000);

        CHECK(huge != NULL);
        if (!huge)
                return;
        memset(huge, 'a', 3999);
        huge[3999] = 0;
        CHECK_INT(qr_render_utf8(huge, &s), -EINVAL);
        /* 3000 bytes: beyond version 40-L's 2953 bytes */
        huge[3000] = 0;
        CHECK_INT(qr_render_utf8(huge, &s), -EINVAL);
        CHECK_INT(qr_render_utf8("", &s), -EINVAL);
        CHECK_INT(qr_render_utf8(NULL, &s), -EINVAL);
        CHECK_INT(qr_render_utf8("x", NULL), -EINVAL);
        CHECK_STR(s, "untouched");
        /* the largest 8-bit payload still fits */
        huge[2953] = 0;
        CHECK_INT(qr_render_utf8(huge, &s), 0);
        CHECK(strcmp(s, "untouched") != 0);
        free(s);
        free(huge);
}

int main(void) {
        RUN(test_render);
        RUN(test_small_code);
        RUN(test_invalid);
        return tests_exit();
}
