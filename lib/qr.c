/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <qrencode.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "qr.h"

#define QR_QUIET_ZONE 2
/* Far more than any URL we show; QR version 40 holds at most 2953 bytes anyway. */
#define QR_TEXT_MAX 4096

static void qrcode_freep(QRcode **q) {
        if (*q)
                QRcode_free(*q);
}

/*
 * Terminals are mostly light text on a dark background, and readers want
 * dark modules on a light field: so the light modules (and the quiet zone)
 * are drawn as blocks in the foreground colour and the dark modules are
 * left as background.
 */
static bool is_light(const QRcode *q, int x, int y) {
        int w = q->width;

        x -= QR_QUIET_ZONE;
        y -= QR_QUIET_ZONE;
        if (x < 0 || y < 0 || x >= w || y >= w)
                return true;
        return !(q->data[(size_t) y * (size_t) w + (size_t) x] & 1);
}

int qr_render_utf8(const char *text, char **ret) {
        _cleanup_(qrcode_freep) QRcode *q = NULL;
        static const char *const cells[4] = { " ", "\xe2\x96\x84", "\xe2\x96\x80", "\xe2\x96\x88" };
        size_t n, lines, cap, len = 0;
        char *out;
        int side;

        if (!text || !ret)
                return -EINVAL;
        n = strnlen(text, QR_TEXT_MAX + 1);
        if (n == 0 || n > QR_TEXT_MAX)
                return -EINVAL;

        errno = 0;
        q = QRcode_encodeString(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
        if (!q)
                return errno == ENOMEM ? -ENOMEM : -EINVAL;

        side = q->width + 2 * QR_QUIET_ZONE;
        lines = ((size_t) side + 1) / 2;
        /* each column is one character of at most 3 bytes, plus "\n" per line and the NUL */
        cap = lines * ((size_t) side * 3 + 1) + 1;
        out = malloc(cap);
        if (!out)
                return -ENOMEM;

        for (int y = 0; y < side; y += 2) {
                for (int x = 0; x < side; x++) {
                        /* below the last row is the terminal background: dark */
                        unsigned top = is_light(q, x, y), bottom = y + 1 < side && is_light(q, x, y + 1);
                        const char *c = cells[top << 1 | bottom];
                        size_t cl = strlen(c);

                        memcpy(out + len, c, cl);
                        len += cl;
                }
                out[len++] = '\n';
        }
        out[len] = 0;
        *ret = out;
        return 0;
}
