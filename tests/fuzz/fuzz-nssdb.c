/* SPDX-License-Identifier: MIT */
/*
 * nss.db reader: whatever the file holds, nssdb_open() either refuses it or
 * every lookup and the enumeration stay inside the mapping. Each input is
 * tried as is (the checksums gate it) and with both checksums recomputed, so
 * the structure checks behind them are reached too. Then the input is split
 * at a point its first byte chooses into a base and a delta whose generation
 * fields are made to match, so the pair's merge (hidden, merged and own
 * entries, member iteration, enumeration) runs on hostile pairs.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nssdb.h"

#define HEADER_SIZE 224
#define OFF_HEADER_CRC 32
#define OFF_BODY_CRC 36
#define OFF_GENERATION 208
#define OFF_BASE_GENERATION 216

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[] = "/tmp/fuzz-nssdb.XXXXXX";
static char delta_path[] = "/tmp/fuzz-nssdb-delta.XXXXXX";
static int fd = -1, delta_fd = -1;

static void remove_path(void) {
        unlink(path);
        unlink(delta_path);
}

static void fix_crcs(uint8_t *b, size_t n) {
        uint32_t c, zero = 0;

        c = nssdb_crc32c(0, b + HEADER_SIZE, n - HEADER_SIZE);
        memcpy(b + OFF_BODY_CRC, &c, 4);
        memcpy(b + OFF_HEADER_CRC, &zero, 4);
        c = nssdb_crc32c(0, b, HEADER_SIZE);
        memcpy(b + OFF_HEADER_CRC, &c, 4);
}

static void exercise_pair(const uint8_t *base, size_t base_size, const uint8_t *delta, size_t delta_size) {
        struct nssdb_pair p;
        struct nssdb_user_view u;
        struct nssdb_pair_group_view g;
        size_t pos;
        int rd;

        if (ftruncate(fd, 0) < 0 || pwrite(fd, base, base_size, 0) != (ssize_t) base_size ||
            ftruncate(delta_fd, 0) < 0 || pwrite(delta_fd, delta, delta_size, 0) != (ssize_t) delta_size)
                abort();
        if (nssdb_pair_open(path, delta_path, &p, &rd) < 0)
                return;
        for (pos = 0; nssdb_pair_user_next(&p, pos, &u, &pos) == 0;) {
                struct nssdb_user_view v;

                /* A shown user is found again by name and by uid (the base's table may hide a base record). */
                if (nssdb_pair_user_by_name(&p, u.name, &v) == 0)
                        (void) nssdb_pair_user_by_uid(&p, v.uid, &v);
                for (uint32_t k = 0; k < u.n_gids; k++)
                        (void) nssdb_pair_id_used(&p, u.gids[k]);
        }
        for (pos = 0; nssdb_pair_group_next(&p, pos, &g, &pos) == 0;) {
                struct nssdb_pair_group_view h;
                uint32_t cursor = 0, n = 0;
                const char *m;

                while ((m = nssdb_pair_group_member_next(&p, &g, &cursor)))
                        n += strlen(m) > 0;
                if (n > g.n_members)
                        abort();
                (void) nssdb_pair_group_by_name(&p, g.name, &h);
                (void) nssdb_pair_group_by_gid(&p, g.gid, &h);
        }
        (void) nssdb_pair_user_by_name(&p, "alice", &u);
        (void) nssdb_pair_group_by_gid(&p, 300001, &g);
        nssdb_pair_close(&p);
}

static void exercise(const uint8_t *data, size_t size) {
        struct nssdb *db = NULL;
        struct nssdb_user_view u;
        struct nssdb_group_view g;
        struct nssdb_settings s;
        size_t n;

        if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t) size)
                abort();
        if (nssdb_open(path, &db, NULL) < 0) {
                if (db)
                        abort();
                return;
        }
        nssdb_settings_get(db, &s);
        (void) strlen(s.scope), (void) strlen(s.home), (void) strlen(s.shell);
        (void) nssdb_domain_allowed(db, "example.com");
        for (n = 0; nssdb_user_at(db, n, &u) == 0; n++) {
                struct nssdb_user_view v;
                uint32_t sum = 0;

                if (nssdb_user_by_name(db, u.name, &v) < 0 || nssdb_user_by_uid(db, u.uid, &v) < 0)
                        continue; /* a crafted table may hide a record; it must not crash */
                for (uint32_t k = 0; k < u.n_gids; k++)
                        sum += u.gids[k];
                (void) sum, (void) strlen(u.gecos);
        }
        if (n != nssdb_n_users(db))
                abort();
        for (n = 0; nssdb_group_at(db, n, &g) == 0; n++) {
                struct nssdb_group_view v;

                (void) nssdb_group_by_name(db, g.name, &v);
                (void) nssdb_group_by_gid(db, g.gid, &v);
                for (uint32_t k = 0; k < g.n_members; k++)
                        if (!nssdb_group_member(db, &g, k))
                                abort();
        }
        (void) nssdb_user_by_name(db, "alice", &u);
        (void) nssdb_user_by_uid(db, 200001, &u);
        (void) nssdb_group_by_name(db, "engineering", &g);
        (void) nssdb_group_by_gid(db, 300001, &g);
        nssdb_close(db);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t *copy;
        uint32_t c, zero = 0;

        if (size > (1u << 20))
                return 0;
        if (fd < 0) {
                /* nssdb_open() takes a path; mode 0600 passes its ownership and mode checks. */
                fd = mkostemp(path, O_CLOEXEC);
                delta_fd = mkostemp(delta_path, O_CLOEXEC);
                if (fd < 0 || delta_fd < 0)
                        abort();
                atexit(remove_path);
        }
        exercise(data, size);

        if (size < HEADER_SIZE)
                return 0;
        copy = malloc(size);
        if (!copy)
                return 0;
        memcpy(copy, data, size);
        c = nssdb_crc32c(0, copy + HEADER_SIZE, size - HEADER_SIZE);
        memcpy(copy + OFF_BODY_CRC, &c, 4);
        memcpy(copy + OFF_HEADER_CRC, &zero, 4);
        c = nssdb_crc32c(0, copy, HEADER_SIZE);
        memcpy(copy + OFF_HEADER_CRC, &c, 4);
        exercise(copy, size);
        free(copy);

        /* Two files from one input: base, then delta, split where the first byte says. */
        {
                size_t split = HEADER_SIZE + (size_t) data[0] * (size > 2 * HEADER_SIZE ? (size - 2 * HEADER_SIZE) : 0) / 255;
                uint64_t gen = 0x0123456789abcdefull, zero64 = 0;
                uint8_t *b, *d;

                if (size < 2 * HEADER_SIZE || split > size - HEADER_SIZE)
                        return 0;
                b = malloc(split);
                d = malloc(size - split);
                if (!b || !d) {
                        free(b);
                        free(d);
                        return 0;
                }
                memcpy(b, data, split);
                memcpy(d, data + split, size - split);
                memcpy(b + OFF_GENERATION, &gen, 8);
                memcpy(b + OFF_BASE_GENERATION, &zero64, 8);
                memcpy(d + OFF_GENERATION, &zero64, 8);
                memcpy(d + OFF_BASE_GENERATION, &gen, 8);
                fix_crcs(b, split);
                fix_crcs(d, size - split);
                exercise_pair(b, split, d, size - split);
                free(b);
                free(d);
        }
        return 0;
}
