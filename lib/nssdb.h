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
 * home and shell templates, which names the access policy could admit), so
 * NSS never parses the configuration.
 *
 * Nothing in the file reaches a terminal as a control: names (users,
 * groups, domains) must be nssdb_name_valid(), which refuses C0 and C1
 * controls, DEL, bidirectional controls and malformed UTF-8, and the writer
 * drops those characters from a gecos. Readers check the text of each entry
 * again (nssdb_text_safe) before showing it, for a file nobody should trust
 * blindly.
 *
 * Groups are the user private groups (gid = uid, name = user name) and the
 * cloudauth groups made from IdP groups. Group members are derived from the
 * users' supplementary gid lists when the file is written. Local groups
 * (sudo, adm) are never defined here; their gids appear in users' lists so
 * initgroups_dyn adds them.
 *
 * A second, small file (nss.delta.db beside nss.db, same format) holds the
 * users added since nss.db was last written whole, so a first login costs in
 * proportion to the recent users, not to every cached one. Each nss.db has
 * a random generation; a delta names the generation of the nss.db it extends
 * and is ignored with any other. Writing a new nss.db that holds everything
 * (compaction) therefore retires the delta in the same rename. The rules
 * that merge the two live in the nssdb_pair_* calls below, which the NSS
 * module and the writers both use.
 */

#define NSSDB_MAX_USERS 10000000u
#define NSSDB_MAX_GIDS_PER_USER 65536u
#define NSSDB_MAX_FILE_SIZE (2u * 1024 * 1024 * 1024)
#define NSSDB_NAME_MAX 255u

/* A user, group or domain name the db accepts: 1..NSSDB_NAME_MAX bytes of
 * well-formed UTF-8, no '/', ':', ',', whitespace, C0 or C1 control, DEL or
 * bidirectional control (U+061C, U+200E, U+200F, U+202A..U+202E,
 * U+2066..U+2069), not starting with '-'. */
bool nssdb_name_valid(const char *name);
/* Whether nssdb_write accepts s as a gecos field: at most 4096 bytes, no ':'.
 * The characters nssdb_text_safe() refuses are dropped when it is written. */
bool nssdb_gecos_valid(const char *s);
/* Whether s is well-formed UTF-8 without C0 or C1 controls, DEL or
 * bidirectional controls: text a terminal shows as it is. */
bool nssdb_text_safe(const char *s);

/* CRC32C (Castagnoli), the checksum of the file; crc is 0 to start. */
uint32_t nssdb_crc32c(uint32_t crc, const void *data, size_t len);

struct nssdb_settings {
        const char *scope;          /* the configured issuer: input of uidmap */
        const char *default_domain; /* may be NULL */
        char *const *domains;       /* NULL-terminated extra domains whose users may be synthesised, or NULL */
        uint32_t uid_min, uid_max;
        const char *home;           /* template: %u local name, %d domain, %% */
        const char *shell;
        /*
         * Which never-seen users NSS may synthesise (and only where one is
         * needed, see the NSS module): synth_any when the access policy admits
         * by group, role or "*" (any name of default_domain or domains), else
         * only synth_names, the names allow_users lists as configured (local
         * or IdP form; each nssdb_name_valid, at most 4096), or NULL.
         */
        bool synth_any;
        char *const *synth_names;
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
 * groups are implied by users. -EINVAL for a name that is not
 * nssdb_name_valid() (user, group, domain or synth name), a gecos that is not
 * nssdb_gecos_valid(), and duplicate names or ids (a user name equal to a
 * group name, two users with one uid, a group gid equal to a uid), -EFBIG
 * past the limits. Callers filter what the provider sent before.
 */
int nssdb_write(const char *path, const struct nssdb_settings *s, const struct nssdb_user_in *users, size_t n_users,
                const struct nssdb_group_in *groups, size_t n_groups);

/*
 * Write a delta of the nss.db whose generation is base_generation: users
 * that nss.db does not hold, their cloudauth groups (a group nss.db has too
 * is listed under its name and gid, and gets the delta users as members).
 * The same checks as nssdb_write() within the file; the caller keeps the
 * two files apart (no user or group of one shadowing the other).
 */
int nssdb_write_delta(const char *path, uint64_t base_generation, const struct nssdb_settings *s,
                      const struct nssdb_user_in *users, size_t n_users, const struct nssdb_group_in *groups,
                      size_t n_groups);

/* The delta's path for a base path: "x.db" -> "x.delta.db", else path + ".delta". -ENAMETOOLONG when short. */
int nssdb_delta_path(const char *base_path, char *ret, size_t size);

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

void nssdb_settings_get(const struct nssdb *db, struct nssdb_settings *ret); /* domains, synth_names: NULL */
bool nssdb_domain_allowed(const struct nssdb *db, const char *domain);
/* Whether the file was written with exactly these settings (domains in the same order, synth_names as a set). */
bool nssdb_settings_equal(const struct nssdb *db, const struct nssdb_settings *s);
/*
 * Whether the access policy stored in the file could admit a user not in
 * it whose local name is local and IdP name idp (either may be NULL): the
 * policy admits by group, role or "*", or allow_users lists one of them.
 * The caller has already mapped the name to an allowed domain. No
 * allocation; O(log n) in the listed names.
 */
bool nssdb_synth_admits(const struct nssdb *db, const char *local, const char *idp);

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

/* A base file's own generation (0 for a delta), and the base generation a delta extends (0 for a base). */
uint64_t nssdb_generation(const struct nssdb *db);
uint64_t nssdb_base_generation(const struct nssdb *db);
/* Whether delta is a delta of exactly this base. */
bool nssdb_delta_belongs(const struct nssdb *base, const struct nssdb *delta);

/*
 * nss.db and its delta read as one. A user lives in one file; should a
 * delta user collide with anything in the base (name or uid of a user or
 * group), the base wins and the delta entry is not shown. Groups that exist
 * in both (same name and gid) are one group whose members are the base's
 * then the delta's. Lookups are O(1) plus, for groups, the delta's members;
 * none allocates.
 */
struct nssdb_pair {
        struct nssdb *base;
        struct nssdb *delta; /* NULL when absent, unusable or of another base */
};

/*
 * Open base_path and, when it extends that base, delta_path (the delta is
 * opened first, so a base replaced meanwhile is the newer one, and a newer
 * base holds every user of the delta it retired). Errors are the base's;
 * *ret_delta_error (may be NULL) gets 0 when the delta is used, -ENOENT when
 * there is none, -ESTALE when it extends another base, else why nssdb_open
 * refused it. *ret set only on success.
 */
int nssdb_pair_open(const char *base_path, const char *delta_path, struct nssdb_pair *ret, int *ret_delta_error);
void nssdb_pair_close(struct nssdb_pair *p);

struct nssdb_pair_group_view {
        const char *name;
        uint32_t gid;
        uint32_t n_members;  /* both files, without duplicates */
        bool private_group;
        /* Where the members come from: */
        struct nssdb_group_view in_base, in_delta;
        bool has_base, has_delta;
};

int nssdb_pair_user_by_name(const struct nssdb_pair *p, const char *name, struct nssdb_user_view *ret);
int nssdb_pair_user_by_uid(const struct nssdb_pair *p, uint32_t uid, struct nssdb_user_view *ret);
int nssdb_pair_group_by_name(const struct nssdb_pair *p, const char *name, struct nssdb_pair_group_view *ret);
int nssdb_pair_group_by_gid(const struct nssdb_pair *p, uint32_t gid, struct nssdb_pair_group_view *ret);
/* Whether id is the uid or gid of anything in either file (shown or not): never synthesise it. */
bool nssdb_pair_id_used(const struct nssdb_pair *p, uint32_t id);

/*
 * Enumeration: base entries in file order, then the delta's that are shown.
 * The entry at the first position >= pos; *ret_next is the position after
 * it. -ESRCH past the end.
 */
int nssdb_pair_user_next(const struct nssdb_pair *p, size_t pos, struct nssdb_user_view *ret, size_t *ret_next);
int nssdb_pair_group_next(const struct nssdb_pair *p, size_t pos, struct nssdb_pair_group_view *ret,
                          size_t *ret_next);

/* Members of a pair group one by one: *cursor starts at 0; NULL after the last. */
const char *nssdb_pair_group_member_next(const struct nssdb_pair *p, const struct nssdb_pair_group_view *g,
                                         uint32_t *cursor);
