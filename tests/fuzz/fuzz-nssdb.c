/* SPDX-License-Identifier: MIT */
/*
 * nss.db reader: whatever the file holds, nssdb_open() either refuses it or
 * every lookup and the enumeration stay inside the mapping. Each input is
 * tried as is (the checksums gate it) and with both checksums recomputed, so
 * the structure checks behind them are reached too.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nssdb.h"

#define HEADER_SIZE 216
#define OFF_HEADER_CRC 32
#define OFF_BODY_CRC 36

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[] = "/tmp/fuzz-nssdb.XXXXXX";
static int fd = -1;

static void remove_path(void) {
        unlink(path);
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
                if (fd < 0)
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
        return 0;
}
