/* SPDX-License-Identifier: MIT */
/*
 * The module/helper protocol parser: both sides run it on every packet the
 * other sends. Whatever parses must survive a round trip through the
 * builder unchanged, and nothing may read past the packet.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static struct proto_msg a, b;
static struct proto_builder out;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (proto_parse(data, size, &a) < 0)
                return 0;

        proto_begin(&out, a.type);
        for (unsigned t = 1; t < _PROTO_TAG_MAX; t++) {
                uint32_t v;

                if (!a.field[t].present)
                        continue;
                if (proto_u32(&a, t, &v))
                        proto_put_u32(&out, t, v);
                else
                        proto_put_str(&out, t, proto_str(&a, t));
        }
        if (out.overflow || proto_parse(out.buf, out.len, &b) < 0 || b.type != a.type)
                abort();
        for (unsigned t = 1; t < _PROTO_TAG_MAX; t++) {
                if (a.field[t].present != b.field[t].present || a.field[t].u32 != b.field[t].u32)
                        abort();
                if (a.field[t].str && strcmp(a.field[t].str, b.field[t].str) != 0)
                        abort();
        }
        return 0;
}
