/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A QR code of text (libqrencode, error correction level L or M) drawn with
 * UTF-8 half blocks, two modules rows per text line, with a quiet zone, so
 * a phone camera reads it off a terminal. Lines end in "\n". -EINVAL for
 * text a QR code cannot hold.
 */
int qr_render_utf8(const char *text, char **ret);
