/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/*
 * nss.db: the compiled, memory-mapped index the NSS module reads. No secrets.
 * Written whole by nssdb_write() (temp file, fsync, rename) by a writer that
 * holds the cache lock; read by any number of processes without locks.
 * A header carries magic, version, total size and a checksum of the rest,
 * and what NSS needs from the configuration (scope, domains, uid range,
 * home and shell templates), so NSS never parses the configuration.
 *
 * Groups are the user private groups (gid = uid, name = user name) and the
 * cloudauth groups made from IdP groups. Group members are derived from the
 * users' supplementary gid lists when the file is written. Local groups
 * (sudo, adm) are never defined here; their gids appear in users' lists so
 * initgroups_dyn adds them.
 */

#define NSSDB_MAX_USERS 10000000u
#define NSSDB_MAX_GIDS_PER_USER 65536u
#define NSSDB_MAX_FILE_SIZE (2u * 1024 * 1024 * 1024)
#define NSSDB_NAME_MAX 255u

/* A user, group or domain name the db accepts: 1..NSSDB_NAME_MAX bytes, no
 * '/', ':', ',', whitespace or control characters, not starting with '-'. */
bool nssdb_name_valid(const char *name);

/* CRC32C (Castagnoli), the checksum of the file; crc is 0 to start. */
uint32_t nssdb_crc32c(uint32_t crc, const void *data, size_t len);

struct nssdb_settings {
        const char *scope;          /* the configured issuer: input of uidmap */
        const char *default_domain; /* may be NULL */
        char *const *domains;       /* NULL-terminated extra domains whose users may be synthesised, or NULL */
        uint32_t uid_min, uid_max;
        const char *home;           /* template: %u local name, %d domain, %% */
        const char *shell;
};

/* Writer input. */
struct nssdb_user_in {
        const char *name;
        uint32_t uid;          /* gid is the same: user private group */
        const char *gecos;     /* may be NULL */
        const uint32_t *gids;  /* supplementary gids (cloudauth groups and local role groups) */
        size_t n_gids;
};

struct nssdb_group_in {
        const char *name;
        uint32_t gid;
};

/*
 * Write path atomically. groups are the cloudauth (IdP) groups only; private
 * groups are implied by users. -EINVAL for duplicate names or ids (a user
 * name equal to a group name, two users with one uid, a group gid equal to a
 * uid), -EFBIG past the limits.
 */
int nssdb_write(const char *path, const struct nssdb_settings *s, const struct nssdb_user_in *users, size_t n_users,
                const struct nssdb_group_in *groups, size_t n_groups);

/* Reader. Views point into the mapping and are valid until nssdb_close(). */
struct nssdb;

struct nssdb_user_view {
        const char *name;
        uint32_t uid;
        const char *gecos;      /* "" when none */
        const uint32_t *gids;   /* supplementary gids */
        uint32_t n_gids;
};

struct nssdb_group_view {
        const char *name;
        uint32_t gid;
        uint32_t n_members;
        uint32_t index;         /* for nssdb_group_member() */
        bool private_group;     /* a user's own group: its only member is that user */
};

/*
 * Map and validate: -ENOENT when missing, -EBADMSG for a bad magic, version,
 * size or checksum (a corrupt or truncated file), -EPERM when not owned by
 * root (or the effective user) or writable by group/others. *ret set only on
 * success. ret_st (may be NULL) receives the fstat of the mapped file, for
 * staleness checks.
 */
int nssdb_open(const char *path, struct nssdb **ret, struct stat *ret_st);
void nssdb_close(struct nssdb *db);

void nssdb_settings_get(const struct nssdb *db, struct nssdb_settings *ret); /* domains: NULL */
bool nssdb_domain_allowed(const struct nssdb *db, const char *domain);
/* Whether the file was written with exactly these settings (domains in the same order). */
bool nssdb_settings_equal(const struct nssdb *db, const struct nssdb_settings *s);

/* -ESRCH when absent. */
int nssdb_user_by_name(const struct nssdb *db, const char *name, struct nssdb_user_view *ret);
int nssdb_user_by_uid(const struct nssdb *db, uint32_t uid, struct nssdb_user_view *ret);
int nssdb_group_by_name(const struct nssdb *db, const char *name, struct nssdb_group_view *ret);
int nssdb_group_by_gid(const struct nssdb *db, uint32_t gid, struct nssdb_group_view *ret);

/* Enumeration in file order; -ESRCH past the end. */
size_t nssdb_n_users(const struct nssdb *db);
size_t nssdb_n_groups(const struct nssdb *db); /* private groups included */
int nssdb_user_at(const struct nssdb *db, size_t i, struct nssdb_user_view *ret);
int nssdb_group_at(const struct nssdb *db, size_t i, struct nssdb_group_view *ret);

/* The k-th member name of a group view. */
const char *nssdb_group_member(const struct nssdb *db, const struct nssdb_group_view *g, uint32_t k);
