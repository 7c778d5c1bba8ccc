/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "identity.h"
#include "login.h"
#include "nssdb.h"
#include "uidmap.h"
#include "tests.h"

#define ISSUER "https://idp.example.com/realms/corp"
#define NOW ((time_t) 1700000000)

struct capture {
        char text[65536];
        size_t len;
};

static void capture_sink(void *userdata, int priority, const char *message) {
        struct capture *cap = userdata;
        int n;

        (void) priority;
        n = snprintf(cap->text + cap->len, sizeof(cap->text) - cap->len, "%s\n", message);
        if (n > 0 && (size_t) n < sizeof(cap->text) - cap->len)
                cap->len += (size_t) n;
}

static struct capture cap;
static const struct logger test_log = { .sink = capture_sink, .userdata = &cap, .debug = true };
static const struct logger quiet_log = { 0 };
static char tmp_root[] = "/tmp/test-cache-XXXXXX";
static unsigned n_states;

static void capture_reset(void) {
        cap.len = 0;
        cap.text[0] = 0;
}

static bool logged(const char *needle) {
        bool found = strstr(cap.text, needle) != NULL;

        if (!found)
                fprintf(stderr, "expected a log line containing \"%s\", got:\n%s", needle, cap.text);
        return found;
}

static void file_copy(const char *data_name, const char *dest, mode_t mode) {
        size_t len;
        char *text = tests_read_data(data_name, &len);
        int fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        if (fd < 0 || write(fd, text, len) != (ssize_t) len || fchmod(fd, mode) < 0) {
                fprintf(stderr, "cannot write %s: %s\n", dest, strerror(errno));
                exit(EXIT_FAILURE);
        }
        close(fd);
        free(text);
}

/* A configuration with its own fresh state directory. */
static struct cloudauth_config *config_make(const char *state_dir) {
        struct cloudauth_config *c = NULL;
        char path[512], text[4096];

        if (!state_dir) {
                snprintf(path, sizeof(path), "%s/state%u", tmp_root, n_states++);
                state_dir = path;
        }
        snprintf(text, sizeof(text),
                 "[provider]\n"
                 "issuer = " ISSUER "\n"
                 "client_id = cloudauth\n"
                 "[identity]\n"
                 "default_domain = example.com\n"
                 "[access]\n"
                 "allow_users = alice@example.com, zed@partner.example\n"
                 "[role admin]\n"
                 "groups = admins\n"
                 "unix_groups = sudo, adm, nosuchgroup\n"
                 "[paths]\n"
                 "state_dir = %s\n",
                 state_dir);
        if (config_new_defaults(&c) < 0 || config_parse_text(c, "test.conf", text, strlen(text), &test_log) < 0) {
                fprintf(stderr, "test configuration does not parse:\n%s", cap.text);
                exit(EXIT_FAILURE);
        }
        return c;
}

static char **strv_make(const char *const *v) {
        size_t n = 0;
        char **r;

        while (v && v[n])
                n++;
        r = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; r && i < n; i++)
                r[i] = strdup(v[i]);
        return r;
}

static struct identity *ident(const struct cloudauth_config *c, const char *idp_name, const char *sub,
                              const char *const *groups) {
        struct identity *id = calloc(1, sizeof(*id));

        id->idp_username = strdup(idp_name);
        if (identity_idp_to_local_name(c, idp_name, &id->username) < 0)
                exit(EXIT_FAILURE);
        id->issuer = strdup(ISSUER);
        id->subject = strdup(sub);
        id->display_name = strdup("Test Person");
        id->email = strdup(idp_name);
        id->groups = strv_make(groups);
        id->app_roles = strv_make(NULL);
        return id;
}

static int store(const struct cloudauth_config *c, const struct identity *id, const char *const *roles,
                 uint32_t *ret_uid, const char **ret_reason) {
        _cleanup_strv_free_ char **r = strv_make(roles);
        uint32_t uid = 0;
        const char *reason = NULL;
        int ret;

        ret = cache_store_login(c, &test_log, id, r, NOW, &uid, &reason);
        if (ret_uid)
                *ret_uid = uid;
        if (ret_reason)
                *ret_reason = reason;
        return ret;
}

static void delta_path_of(const struct cloudauth_config *c, char *buf, size_t size) {
        _cleanup_free_ char *path = NULL;

        if (cache_nssdb_path(c, &path) < 0 || nssdb_delta_path(path, buf, size) < 0)
                exit(EXIT_FAILURE);
}

/* nss.db with its delta, as the NSS module reads them. */
static bool pair_open(const struct cloudauth_config *c, struct nssdb_pair *ret) {
        _cleanup_free_ char *path = NULL;
        char delta[1024];

        delta_path_of(c, delta, sizeof(delta));
        return cache_nssdb_path(c, &path) >= 0 && nssdb_pair_open(path, delta, ret, NULL) >= 0;
}

static struct nssdb *db_open(const struct cloudauth_config *c) {
        _cleanup_free_ char *path = NULL;
        struct nssdb *db = NULL;

        if (cache_nssdb_path(c, &path) < 0 || nssdb_open(path, &db, NULL) < 0)
                return NULL;
        return db;
}

static bool db_has_user(const struct cloudauth_config *c, const char *name, uint32_t uid) {
        struct nssdb_pair p;
        struct nssdb_user_view v;
        bool ok;

        if (!pair_open(c, &p))
                return false;
        ok = nssdb_pair_user_by_name(&p, name, &v) >= 0 && v.uid == uid && nssdb_pair_user_by_uid(&p, uid, &v) >= 0 &&
             streq(v.name, name);
        nssdb_pair_close(&p);
        return ok;
}

static bool db_has_group(const struct cloudauth_config *c, const char *name) {
        struct nssdb_pair p;
        struct nssdb_pair_group_view v;
        bool ok;

        if (!pair_open(c, &p))
                return false;
        ok = nssdb_pair_group_by_name(&p, name, &v) >= 0;
        nssdb_pair_close(&p);
        return ok;
}

/* Users NSS enumerates; (size_t) -1 when nothing is readable. Each name must be listed once. */
static size_t db_n_users(const struct cloudauth_config *c) {
        struct nssdb_pair p;
        struct nssdb_user_view v;
        size_t n = 0, pos = 0;

        if (!pair_open(c, &p))
                return (size_t) -1;
        while (nssdb_pair_user_next(&p, pos, &v, &pos) >= 0)
                n++;
        nssdb_pair_close(&p);
        return n;
}

/* Users in the delta that NSS uses (0 when there is none or it is of another nss.db). */
static size_t delta_n_users(const struct cloudauth_config *c) {
        struct nssdb_pair p;
        size_t n;

        if (!pair_open(c, &p))
                return (size_t) -1;
        n = p.delta ? nssdb_n_users(p.delta) : 0;
        nssdb_pair_close(&p);
        return n;
}

static mode_t mode_of(const char *dir, const char *name) {
        char path[1024];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (lstat(path, &st) < 0)
                return (mode_t) -1;
        return st.st_mode & 07777;
}

static void test_store_load(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *id =
                ident(c, "alice@example.com", "alice-sub", (const char *const[]) { "Admins", "Devs", NULL });
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        struct cache_user *v = NULL;
        const char *reason = NULL;
        struct nssdb_user_view uv;
        struct nssdb *db;
        char rec[64];
        uint32_t uid = 0;

        capture_reset();
        CHECK_INT(store(c, id, (const char *const[]) { "admin", NULL }, &uid, &reason), 0);
        CHECK_INT(uid, uidmap_user_uid(ISSUER, "alice@example.com", c->uid_min, c->uid_max));

        CHECK_INT(cache_user_load_by_name(c, &test_log, "alice", &u), 0);
        if (!u)
                return;
        CHECK_INT(u->uid, uid);
        CHECK_STR(u->username, "alice");
        CHECK_STR(u->idp_username, "alice@example.com");
        CHECK_STR(u->subject_key, "oidc:" ISSUER ":alice-sub");
        CHECK_STR(u->display_name, "Test Person");
        CHECK_STR(u->email, "alice@example.com");
        CHECK_INT(strv_length(u->idp_groups), 2);
        CHECK_STR(u->idp_groups[0], "Admins");
        CHECK_INT(strv_length(u->roles), 1);
        CHECK_STR(u->roles[0], "admin");
        CHECK_INT(u->n_groups, 2);
        CHECK_STR(u->groups[0].name, "admins@example.com");
        CHECK_INT(u->groups[0].gid, uidmap_group_gid(ISSUER, "admins", c->uid_min, c->uid_max));
        CHECK_STR(u->groups[1].name, "devs@example.com");
        CHECK_INT(u->first_login, NOW);
        CHECK_INT(u->last_online_login, NOW);

        /* The IdP name, in any case, finds the same record; so does the uid. */
        CHECK_INT(cache_user_load_by_name(c, &test_log, "Alice@Example.COM", &v), 0);
        CHECK(v && v->uid == uid);
        cache_user_free(v);
        v = NULL;
        CHECK_INT(cache_user_load_by_uid(c, &test_log, uid, &v), 0);
        CHECK(v && streq(v->username, "alice"));
        cache_user_free(v);
        v = NULL;
        CHECK_INT(cache_user_load_by_name(c, &test_log, "nobody", &v), -ESRCH);
        CHECK_INT(cache_user_load_by_uid(c, &test_log, uid + 1, &v), -ESRCH);
        CHECK(!v);

        /* Modes per the layout. */
        CHECK_INT(mode_of(c->state_dir, "."), 0755);
        CHECK_INT(mode_of(c->state_dir, "users"), 0700);
        CHECK_INT(mode_of(c->state_dir, "lock"), 0600);
        CHECK_INT(mode_of(c->state_dir, "nss.db"), 0644);
        snprintf(rec, sizeof(rec), "users/%u.json", (unsigned) uid);
        CHECK_INT(mode_of(c->state_dir, rec), 0600);

        /* What NSS sees: the user, its IdP groups and its role's local groups (nosuchgroup skipped). */
        db = db_open(c);
        CHECK(db);
        if (!db)
                return;
        CHECK_INT(nssdb_user_by_name(db, "alice", &uv), 0);
        CHECK_INT(uv.uid, uid);
        CHECK_STR(uv.gecos, "Test Person");
        CHECK_INT(uv.n_gids, 4);
        nssdb_close(db);
        CHECK(db_has_group(c, "admins@example.com"));
        CHECK(db_has_group(c, "devs@example.com"));
}

static void test_two_hosts(void) {
        _cleanup_config_ struct cloudauth_config *a = config_make(NULL), *b = config_make(NULL);
        _cleanup_(identity_freep) struct identity *id = ident(a, "bob@example.com", "bob-sub", NULL);
        _cleanup_(identity_freep) struct identity *other = ident(a, "zed@partner.example", "zed-sub", NULL);
        uint32_t ua = 0, ub = 0;

        capture_reset();
        /* Host b saw someone else first; the uid of bob must still match. */
        CHECK_INT(store(b, other, NULL, NULL, NULL), 0);
        CHECK_INT(store(a, id, NULL, &ua, NULL), 0);
        CHECK_INT(store(b, id, NULL, &ub, NULL), 0);
        CHECK_INT(ua, ub);
        CHECK(ua >= a->uid_min && ua <= a->uid_max);
        CHECK(db_has_user(a, "bob", ua));
        CHECK(db_has_user(b, "bob", ub));
        CHECK(db_has_user(b, "zed@partner.example", uidmap_user_uid(ISSUER, "zed@partner.example", b->uid_min, b->uid_max)));
}

static void test_rename(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *before = ident(c, "carol@example.com", "carol-sub", NULL);
        _cleanup_(identity_freep) struct identity *after = ident(c, "carol.new@example.com", "carol-sub", NULL);
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        uint32_t u1 = 0, u2 = 0;

        capture_reset();
        CHECK_INT(store(c, before, NULL, &u1, NULL), 0);
        CHECK_INT(cache_user_forget(c, &test_log, "carol.new"), -ESRCH);
        CHECK_INT(cache_user_load_by_name(c, &test_log, "carol", &u), 0);
        cache_user_free(TAKE_PTR(u));

        CHECK_INT(cache_store_login(c, &test_log, after, NULL, NOW + 100, &u2, &(const char *) { NULL }), 0);
        CHECK_INT(u2, u1);
        CHECK(logged("is now carol.new"));
        CHECK_INT(cache_user_load_by_name(c, &test_log, "carol", &u), -ESRCH);
        CHECK_INT(cache_user_load_by_name(c, &test_log, "carol.new", &u), 0);
        CHECK(u && u->uid == u1 && u->first_login == NOW && u->last_online_login == NOW + 100);
        CHECK(db_has_user(c, "carol.new", u1));
        CHECK(!db_has_user(c, "carol", u1));
        CHECK_INT(db_n_users(c), 1);
}

static void test_pin(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *id = ident(c, "dave@example.com", "dave-sub", NULL);
        struct config_uid_pin pins[] = { { .name = (char *) "dave@example.com", .uid = 300123 } };
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        uint32_t hashed = 0, pinned = 0;
        char rec[64];

        capture_reset();
        /* Without a pin first: the subject's uid is remembered... */
        CHECK_INT(store(c, id, NULL, &hashed, NULL), 0);
        CHECK(hashed != 300123);

        /* ...and a pin added later moves it. */
        c->uid_pins = pins;
        c->n_uid_pins = 1;
        CHECK_INT(store(c, id, NULL, &pinned, NULL), 0);
        CHECK_INT(pinned, 300123);
        CHECK(db_has_user(c, "dave", 300123));
        CHECK_INT(db_n_users(c), 1);
        CHECK_INT(cache_user_load_by_uid(c, &test_log, hashed, &u), -ESRCH);
        snprintf(rec, sizeof(rec), "users/%u.json", (unsigned) hashed);
        CHECK_INT(mode_of(c->state_dir, rec), (mode_t) -1);
        CHECK_INT(cache_user_load_by_name(c, &test_log, "dave", &u), 0);
        CHECK(u && u->uid == 300123 && u->first_login == NOW);

        /* A pin also wins on a first login. */
        cache_user_free(TAKE_PTR(u));
        CHECK_INT(cache_user_forget(c, &test_log, "dave"), 0);
        CHECK_INT(store(c, id, NULL, &pinned, NULL), 0);
        CHECK_INT(pinned, 300123);
        c->uid_pins = NULL;
        c->n_uid_pins = 0;
}

static void test_collision_cached(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *alice = ident(c, "alice@example.com", "alice-sub", NULL);
        _cleanup_(identity_freep) struct identity *bob = ident(c, "bob@example.com", "bob-sub", NULL);
        _cleanup_(identity_freep) struct identity *impostor = ident(c, "alice@example.com", "other-sub", NULL);
        struct config_uid_pin pins[1];
        const char *reason = NULL;
        char line[256];
        uint32_t ua = 0, ub = 0;

        capture_reset();
        CHECK_INT(store(c, alice, NULL, &ua, NULL), 0);

        /* bob pinned onto alice's uid. */
        pins[0] = (struct config_uid_pin) { .name = (char *) "bob@example.com", .uid = ua };
        c->uid_pins = pins;
        c->n_uid_pins = 1;
        capture_reset();
        CHECK_INT(store(c, bob, NULL, &ub, &reason), -EEXIST);
        CHECK(reason && strstr(reason, "[uids]"));
        snprintf(line, sizeof(line),
                 "UID %u for bob@example.com is already used by alice@example.com (another cached user); pin a UID in [uids] to resolve",
                 (unsigned) ua);
        CHECK(logged(line));
        c->uid_pins = NULL;
        c->n_uid_pins = 0;

        /* Another subject with alice's name: refused, alice untouched. */
        capture_reset();
        reason = NULL;
        CHECK_INT(store(c, impostor, NULL, &ub, &reason), -EEXIST);
        CHECK(reason != NULL);
        CHECK(logged("is already used by alice@example.com (another cached user"));
        CHECK(db_has_user(c, "alice", ua));
        CHECK_INT(db_n_users(c), 1);
}

static void test_collision_local(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *byname = ident(c, "localuser@example.com", "l-sub", NULL);
        _cleanup_(identity_freep) struct identity *byuid = ident(c, "erin@example.com", "e-sub", NULL);
        _cleanup_(identity_freep) struct identity *bygroup = ident(c, "developers@example.com", "d-sub", NULL);
        struct config_uid_pin pins[1];
        const char *reason = NULL;

        capture_reset();
        CHECK_INT(store(c, byname, NULL, NULL, &reason), -EEXIST);
        CHECK(reason && strstr(reason, "local account"));
        CHECK(logged("local user localuser (uid 1000)"));

        pins[0] = (struct config_uid_pin) { .name = (char *) "erin@example.com", .uid = 1 };
        c->uid_pins = pins;
        c->n_uid_pins = 1;
        capture_reset();
        CHECK_INT(store(c, byuid, NULL, NULL, &reason), -EEXIST);
        CHECK(logged("UID 1 or name erin for erin@example.com is already used by local user daemon"));

        /* A local group's gid is as taken as a local user's uid. */
        pins[0].uid = 1500;
        capture_reset();
        CHECK_INT(store(c, byuid, NULL, NULL, &reason), -EEXIST);
        CHECK(logged("local group developers (gid 1500)"));
        c->uid_pins = NULL;
        c->n_uid_pins = 0;

        capture_reset();
        CHECK_INT(store(c, bygroup, NULL, NULL, &reason), -EEXIST);
        CHECK(reason && strstr(reason, "local group"));
        CHECK(logged("already used by local group developers"));
        CHECK_INT(db_n_users(c), (size_t) -1);
}

static void test_groups(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *a1 = ident(
                c, "alice@example.com", "alice-sub",
                (const char *const[]) { "Admins", "Devs", "Sudo", "has space", "a:b", "Devs", "0", "27", "caf\xc3\xa9",
                                        "-x", "sudo@example.com", NULL });
        _cleanup_(identity_freep) struct identity *a2 =
                ident(c, "alice@example.com", "alice-sub", (const char *const[]) { "Admins", NULL });
        _cleanup_(identity_freep) struct identity *bob =
                ident(c, "bob@example.com", "bob-sub", (const char *const[]) { "Admins", NULL });
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        struct nssdb_group_view gv;
        struct nssdb *db;

        capture_reset();
        CHECK_INT(store(c, a1, (const char *const[]) { "admin", NULL }, NULL, NULL), 0);
        CHECK(logged("role admin grants group nosuchgroup"));
        CHECK(logged("IdP group 'has space' of alice has no exportable group name"));
        CHECK(logged("IdP group 'a:b' of alice has no exportable group name"));
        CHECK(logged("IdP group 'sudo@example.com' of alice has no exportable group name"));
        CHECK_INT(store(c, bob, NULL, NULL, NULL), 0);

        CHECK_INT(cache_user_load_by_name(c, &test_log, "alice", &u), 0);
        if (!u)
                return;
        /* admins, devs, sudo, 0 and 27, each under its qualified name only. */
        CHECK_INT(u->n_groups, 5);
        CHECK_STR(u->groups[2].name, "sudo@example.com");
        CHECK_STR(u->groups[3].name, "0@example.com");
        CHECK_STR(u->groups[4].name, "27@example.com");
        for (size_t i = 0; i < u->n_groups; i++) {
                CHECK(u->groups[i].gid >= c->uid_min && u->groups[i].gid <= c->uid_max);
                CHECK_INT(u->groups[i].gid, uidmap_group_gid(ISSUER, i == 2 ? "sudo" : i == 3 ? "0" : i == 4 ? "27" : i ? "devs" : "admins",
                                                             c->uid_min, c->uid_max));
        }
        CHECK_INT(u->n_unix_groups, 2);
        CHECK_STR(u->unix_groups[0].name, "sudo");
        CHECK_INT(u->unix_groups[0].gid, 27);
        CHECK_STR(u->unix_groups[1].name, "adm");
        CHECK_INT(u->unix_groups[1].gid, 4);
        cache_user_free(TAKE_PTR(u));

        /* Local groups are never defined in nss.db, only referenced; provider groups never under a bare name or a number. */
        CHECK(!db_has_group(c, "sudo"));
        CHECK(!db_has_group(c, "admins"));
        CHECK(!db_has_group(c, "0"));
        CHECK(!db_has_group(c, "27"));
        CHECK(db_has_group(c, "sudo@example.com"));
        CHECK(db_has_group(c, "0@example.com"));
        CHECK(db_has_group(c, "devs@example.com"));

        /* Devs removed at the IdP and the admin role gone: both disappear. */
        CHECK_INT(store(c, a2, NULL, NULL, NULL), 0);
        CHECK_INT(cache_user_load_by_name(c, &test_log, "alice", &u), 0);
        CHECK(u && u->n_groups == 1 && streq(u->groups[0].name, "admins@example.com") && u->n_unix_groups == 0);
        CHECK(!db_has_group(c, "devs@example.com"));
        db = db_open(c);
        CHECK(db);
        if (!db)
                return;
        CHECK_INT(nssdb_group_by_name(db, "admins@example.com", &gv), 0);
        CHECK_INT(gv.n_members, 2);
        nssdb_close(db);

        /* Forgetting everyone in a group drops the group. */
        CHECK_INT(cache_user_forget(c, &test_log, "alice"), 0);
        CHECK(db_has_group(c, "admins@example.com"));
        CHECK_INT(cache_user_forget(c, &test_log, "bob@example.com"), 0);
        CHECK(!db_has_group(c, "admins@example.com"));
        CHECK_INT(db_n_users(c), 0);
}

/* Without default_domain, provider groups are qualified by the issuer's host. */
static void test_group_qualifier(void) {
        struct cloudauth_config *c = NULL;
        char path[512], text[1024];
        _cleanup_(identity_freep) struct identity *id = NULL;
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;

        snprintf(path, sizeof(path), "%s/state%u", tmp_root, n_states++);
        snprintf(text, sizeof(text),
                 "[provider]\nissuer = https://IdP.Example.com:8443/realms/corp\nclient_id = cloudauth\n"
                 "[access]\nallow_users = *\n[paths]\nstate_dir = %s\n",
                 path);
        if (config_new_defaults(&c) < 0 || config_parse_text(c, "test.conf", text, strlen(text), &test_log) < 0) {
                CHECK(false);
                config_free(c);
                return;
        }
        id = ident(c, "dave@example.com", "dave-sub", (const char *const[]) { "Admin", NULL });
        capture_reset();
        CHECK_INT(cache_store_login(c, &test_log, id, NULL, NOW, &(uint32_t) { 0 }, &(const char *) { NULL }), 0);
        CHECK(db_has_group(c, "admin@idp.example.com"));
        CHECK(!db_has_group(c, "admin"));
        CHECK_INT(cache_user_load_by_name(c, &test_log, "dave@example.com", &u), 0);
        CHECK(u && u->n_groups == 1 && streq(u->groups[0].name, "admin@idp.example.com"));
        config_free(c);
}

static ino_t db_inode(const struct cloudauth_config *c) {
        _cleanup_free_ char *path = NULL;
        struct stat st;

        if (cache_nssdb_path(c, &path) < 0 || stat(path, &st) < 0)
                return 0;
        return st.st_ino;
}

/* Logging in again unchanged leaves nss.db alone; any change that NSS would show rewrites it. */
static void test_unchanged_login(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *a1 =
                ident(c, "alice@example.com", "alice-sub", (const char *const[]) { "Admins", "Devs", NULL });
        _cleanup_(identity_freep) struct identity *a2 =
                ident(c, "alice@example.com", "alice-sub", (const char *const[]) { "Admins", NULL });
        const char *const admin[] = { "admin", NULL };
        ino_t before;

        CHECK_INT(store(c, a1, admin, NULL, NULL), 0);
        before = db_inode(c);
        CHECK(before != 0);
        CHECK_INT(store(c, a1, admin, NULL, NULL), 0);
        CHECK(db_inode(c) == before);

        /* Another role: other local groups. */
        CHECK_INT(store(c, a1, NULL, NULL, NULL), 0);
        CHECK(db_inode(c) != before);
        before = db_inode(c);

        /* Another IdP group set. */
        CHECK_INT(store(c, a2, NULL, NULL, NULL), 0);
        CHECK(db_inode(c) != before);
        CHECK(!db_has_group(c, "devs@example.com"));
        before = db_inode(c);

        /* Another display name. */
        free(a2->display_name);
        a2->display_name = strdup("Alice Renamed");
        CHECK_INT(store(c, a2, NULL, NULL, NULL), 0);
        CHECK(db_inode(c) != before);
        before = db_inode(c);

        /* A configuration change NSS must see (the shell). */
        free(c->shell);
        c->shell = strdup("/bin/zsh");
        CHECK_INT(store(c, a2, NULL, NULL, NULL), 0);
        CHECK(db_inode(c) != before);
        before = db_inode(c);
        CHECK_INT(store(c, a2, NULL, NULL, NULL), 0);
        CHECK(db_inode(c) == before);
}

static ino_t delta_inode(const struct cloudauth_config *c) {
        char path[1024];
        struct stat st;

        delta_path_of(c, path, sizeof(path));
        return stat(path, &st) < 0 ? 0 : st.st_ino;
}

/* The members NSS lists for a group, comma-separated, or "-" when there is no such group. */
static const char *db_members(const struct cloudauth_config *c, const char *group) {
        static char text[1024];
        struct nssdb_pair p;
        struct nssdb_pair_group_view g;
        uint32_t cursor = 0, n = 0;
        const char *m;
        size_t len = 0;

        strcpy(text, "-");
        if (!pair_open(c, &p))
                return text;
        if (nssdb_pair_group_by_name(&p, group, &g) >= 0) {
                text[0] = 0;
                while ((m = nssdb_pair_group_member_next(&p, &g, &cursor)) && len + strlen(m) + 2 < sizeof(text)) {
                        len += (size_t) snprintf(text + len, sizeof(text) - len, "%s%s", n ? "," : "", m);
                        n++;
                }
                if (n != g.n_members)
                        strcpy(text, "member count differs");
        }
        nssdb_pair_close(&p);
        return text;
}

/* A first login on a host with users writes the delta only; a change to an nss.db user compacts. */
static void test_delta(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *alice =
                ident(c, "alice@example.com", "alice-sub", (const char *const[]) { "Devs", NULL });
        _cleanup_(identity_freep) struct identity *bob =
                ident(c, "bob@example.com", "bob-sub", (const char *const[]) { "Devs", "Ops", NULL });
        _cleanup_(identity_freep) struct identity *bob2 =
                ident(c, "bob@example.com", "bob-sub", (const char *const[]) { "Devs", "Qa", NULL });
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        uint32_t ua = 0, ub = 0;
        ino_t base, delta;

        capture_reset();
        CHECK_INT(store(c, alice, NULL, &ua, NULL), 0);
        base = db_inode(c);
        CHECK(base != 0);
        CHECK(delta_inode(c) == 0);

        CHECK_INT(store(c, bob, NULL, &ub, NULL), 0);
        CHECK(db_inode(c) == base);
        delta = delta_inode(c);
        CHECK(delta != 0);
        CHECK_INT(delta_n_users(c), 1);
        CHECK_INT(db_n_users(c), 2);
        CHECK(db_has_user(c, "bob", ub));
        CHECK(db_has_user(c, "alice", ua));
        CHECK_STR(db_members(c, "devs@example.com"), "alice,bob");
        CHECK_STR(db_members(c, "ops@example.com"), "bob");
        CHECK_STR(db_members(c, "bob"), "bob");
        CHECK_INT(cache_user_load_by_name(c, &test_log, "bob", &u), 0);
        CHECK(u && u->uid == ub);
        cache_user_free(TAKE_PTR(u));

        /* Unchanged again: neither file is rewritten. */
        CHECK_INT(store(c, bob, NULL, NULL, NULL), 0);
        CHECK(db_inode(c) == base);
        CHECK(delta_inode(c) == delta);

        /* A change to a delta user rewrites the delta alone; a group only bob had goes with it. */
        CHECK_INT(store(c, bob2, NULL, NULL, NULL), 0);
        CHECK(db_inode(c) == base);
        CHECK(delta_inode(c) != delta);
        CHECK_STR(db_members(c, "ops@example.com"), "-");
        CHECK_STR(db_members(c, "qa@example.com"), "bob");
        CHECK_STR(db_members(c, "devs@example.com"), "alice,bob");
        CHECK_INT(db_n_users(c), 2);

        /* A change to an nss.db user compacts: one new nss.db with both, no delta. */
        CHECK_INT(store(c, alice, (const char *const[]) { "admin", NULL }, NULL, NULL), 0);
        CHECK(db_inode(c) != base);
        CHECK(delta_inode(c) == 0);
        CHECK_INT(db_n_users(c), 2);
        CHECK(db_has_user(c, "bob", ub));
        /* Members in user order; a changed user is written after the others. */
        CHECK_STR(db_members(c, "devs@example.com"), "bob,alice");
        CHECK_STR(db_members(c, "qa@example.com"), "bob");

        /* Forget compacts too, delta users included. */
        {
                _cleanup_(identity_freep) struct identity *carol = ident(c, "carol@example.com", "carol-sub",
                                                                         (const char *const[]) { "Devs", NULL });

                CHECK_INT(store(c, carol, NULL, NULL, NULL), 0);
                CHECK_INT(delta_n_users(c), 1);
                CHECK_INT(cache_user_forget(c, &test_log, "bob"), 0);
                CHECK(delta_inode(c) == 0);
                CHECK_INT(db_n_users(c), 2);
                CHECK_STR(db_members(c, "devs@example.com"), "alice,carol");
                CHECK_STR(db_members(c, "qa@example.com"), "-");
        }
}

/* Past the bound, the next first login moves everything into nss.db. */
static void test_delta_bound(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        ino_t base;

        cache_set_delta_bound(3);
        for (unsigned i = 0; i < 6; i++) {
                char name[64], sub[64];
                struct identity *id;

                snprintf(name, sizeof(name), "bound%u@example.com", i);
                snprintf(sub, sizeof(sub), "bound-sub-%u", i);
                id = ident(c, name, sub, (const char *const[]) { "Bounded", NULL });
                CHECK_INT(store(c, id, NULL, NULL, NULL), 0);
                identity_free(id);
                if (i == 0)
                        base = db_inode(c);
                /* 1..3 go to the delta; the 4th would make it 4: compaction. */
                if (i >= 1 && i <= 3) {
                        CHECK(db_inode(c) == base);
                        CHECK_INT(delta_n_users(c), i);
                }
                if (i == 4) {
                        CHECK(db_inode(c) != base);
                        CHECK(delta_inode(c) == 0);
                        base = db_inode(c);
                }
                if (i == 5) {
                        CHECK(db_inode(c) == base);
                        CHECK_INT(delta_n_users(c), 1);
                }
                CHECK_INT(db_n_users(c), i + 1);
        }
        CHECK_STR(db_members(c, "bounded@example.com"), "bound0,bound1,bound2,bound3,bound4,bound5");
        cache_set_delta_bound(0);
}

static void file_save(const char *path, const char *copy) {
        char cmd[2200];

        snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s'", path, copy);
        CHECK_INT(system(cmd), 0);
}

/*
 * A writer killed between its new nss.db and removing the old delta leaves a
 * delta of an older generation: it is ignored (its users are in nss.db), and
 * the next delta replaces it. A corrupt delta leaves nss.db answering, and
 * the next writer rebuilds from the records, which still have its users.
 */
static void test_delta_stale_and_corrupt(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *alice =
                ident(c, "alice@example.com", "alice-sub", (const char *const[]) { "Devs", NULL });
        _cleanup_(identity_freep) struct identity *bob =
                ident(c, "bob@example.com", "bob-sub", (const char *const[]) { "Devs", NULL });
        _cleanup_(identity_freep) struct identity *carol = ident(c, "carol@example.com", "carol-sub", NULL);
        _cleanup_(identity_freep) struct identity *dave = ident(c, "dave@example.com", "dave-sub", NULL);
        char delta[1024], saved[1100];
        uint32_t ub = 0, uc = 0;
        struct nssdb_pair p;
        int rd = 0, fd;

        delta_path_of(c, delta, sizeof(delta));
        snprintf(saved, sizeof(saved), "%s.saved", delta);
        capture_reset();
        CHECK_INT(store(c, alice, NULL, NULL, NULL), 0);
        CHECK_INT(store(c, bob, NULL, &ub, NULL), 0);
        CHECK_INT(delta_n_users(c), 1);
        file_save(delta, saved);

        CHECK_INT(store(c, alice, (const char *const[]) { "admin", NULL }, NULL, NULL), 0);
        CHECK(delta_inode(c) == 0);
        CHECK_INT(db_n_users(c), 2);
        CHECK_INT(rename(saved, delta), 0);
        {
                _cleanup_free_ char *path = NULL;

                CHECK_INT(cache_nssdb_path(c, &path), 0);
                CHECK_INT(nssdb_pair_open(path, delta, &p, &rd), 0);
                CHECK_INT(rd, -ESTALE);
                CHECK(p.delta == NULL);
                nssdb_pair_close(&p);
        }
        CHECK_INT(db_n_users(c), 2);
        CHECK(db_has_user(c, "bob", ub));
        CHECK_STR(db_members(c, "devs@example.com"), "bob,alice");

        CHECK_INT(store(c, carol, NULL, &uc, NULL), 0);
        CHECK_INT(delta_n_users(c), 1);
        CHECK_INT(db_n_users(c), 3);
        CHECK(db_has_user(c, "carol", uc));
        CHECK(db_has_user(c, "bob", ub));

        /* Corrupt: carol is hidden until the next writer rebuilds; alice and bob still answer. */
        fd = open(delta, O_WRONLY | O_TRUNC | O_CLOEXEC);
        CHECK(fd >= 0 && write(fd, "CLOUDAUTHNSS garbage", 20) == 20);
        close(fd);
        CHECK(db_has_user(c, "alice", uidmap_user_uid(ISSUER, "alice@example.com", c->uid_min, c->uid_max)));
        CHECK(db_has_user(c, "bob", ub));
        CHECK(!db_has_user(c, "carol", uc));
        /* The records are the truth when the pair is not whole. */
        {
                struct cache_user *u = NULL;

                CHECK_INT(cache_user_load_by_name(c, &test_log, "carol", &u), 0);
                CHECK(u && u->uid == uc);
                cache_user_free(u);
        }
        capture_reset();
        CHECK_INT(store(c, dave, NULL, NULL, NULL), 0);
        CHECK(logged("nss.delta.db: not usable"));
        CHECK(logged("rebuilding it from the user records"));
        CHECK(delta_inode(c) == 0);
        CHECK_INT(db_n_users(c), 4);
        CHECK(db_has_user(c, "carol", uc));
}

/* A file of the previous format is refused and rebuilt from the records by the next login or a rebuild. */
static void test_old_format(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *alice = ident(c, "alice@example.com", "alice-sub", NULL);
        _cleanup_(identity_freep) struct identity *bob = ident(c, "bob@example.com", "bob-sub", NULL);
        _cleanup_free_ char *path = NULL;
        uint32_t one = 1;
        int fd;

        CHECK_INT(store(c, alice, NULL, NULL, NULL), 0);
        CHECK_INT(store(c, bob, NULL, NULL, NULL), 0);
        CHECK_INT(cache_nssdb_path(c, &path), 0);
        for (unsigned round = 0; round < 2; round++) {
                /* The version field follows the 16-byte magic. */
                fd = open(path, O_WRONLY | O_CLOEXEC);
                CHECK(fd >= 0 && pwrite(fd, &one, 4, 16) == 4);
                close(fd);
                CHECK_INT(db_n_users(c), (size_t) -1);
                capture_reset();
                if (round == 0) {
                        CHECK_INT(store(c, bob, NULL, NULL, NULL), 0);
                        CHECK(logged("rebuilding it from the user records"));
                } else
                        CHECK_INT(cache_rebuild(c, &test_log), 0);
                CHECK_INT(db_n_users(c), 2);
                CHECK(delta_inode(c) == 0);
        }
}

static ino_t record_inode(const struct cloudauth_config *c, uint32_t uid) {
        char path[1024];
        struct stat st;

        snprintf(path, sizeof(path), "%s/users/%u.json", c->state_dir, uid);
        return stat(path, &st) < 0 ? 0 : st.st_ino;
}

/* A login that changes nothing but the time rewrites the record only once the stored time is 10 minutes old. */
static void test_unchanged_record(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *a =
                ident(c, "alice@example.com", "alice-sub", (const char *const[]) { "Admins", NULL });
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        const char *reason = NULL;
        uint32_t uid = 0;
        ino_t first;

        CHECK_INT(cache_store_login(c, &test_log, a, NULL, NOW, &uid, &reason), 0);
        first = record_inode(c, uid);
        CHECK(first != 0);
        CHECK_INT(cache_store_login(c, &test_log, a, NULL, NOW + 100, &uid, &reason), 0);
        CHECK(record_inode(c, uid) == first);
        CHECK_INT(cache_user_load_by_uid(c, &test_log, uid, &u), 0);
        CHECK(u && u->last_online_login == NOW);
        cache_user_free(TAKE_PTR(u));

        CHECK_INT(cache_store_login(c, &test_log, a, NULL, NOW + 700, &uid, &reason), 0);
        CHECK(record_inode(c, uid) != first);
        CHECK_INT(cache_user_load_by_uid(c, &test_log, uid, &u), 0);
        CHECK(u && u->last_online_login == NOW + 700);
        cache_user_free(TAKE_PTR(u));

        /* Anything else that changes is written at once. */
        first = record_inode(c, uid);
        free(a->email);
        a->email = strdup("alice@new.example");
        CHECK_INT(cache_store_login(c, &test_log, a, NULL, NOW + 710, &uid, &reason), 0);
        CHECK(record_inode(c, uid) != first);
        CHECK_INT(cache_user_load_by_uid(c, &test_log, uid, &u), 0);
        CHECK(u && streq(u->email, "alice@new.example") && u->last_online_login == NOW + 710);
}

/* A display name nss.db cannot hold is left out of gecos; the login and every later write still work. */
static void test_long_display_name(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *a = ident(c, "alice@example.com", "alice-sub", NULL);
        _cleanup_(identity_freep) struct identity *b = ident(c, "bob@example.com", "bob-sub", NULL);
        struct nssdb_user_view v;
        struct nssdb *db;
        uint32_t uid = 0;

        free(a->display_name);
        a->display_name = malloc(5001);
        memset(a->display_name, 'A', 5000);
        a->display_name[5000] = 0;
        CHECK_INT(store(c, a, NULL, &uid, NULL), 0);
        CHECK_INT(store(c, b, NULL, NULL, NULL), 0);
        CHECK_INT(cache_rebuild(c, &test_log), 0);
        db = db_open(c);
        CHECK(db);
        if (!db)
                return;
        CHECK_INT(nssdb_user_by_uid(db, uid, &v), 0);
        CHECK_STR(v.gecos, "");
        nssdb_close(db);
}

static void put_record(const struct cloudauth_config *c, const char *data_name, unsigned uid) {
        char path[1024];

        snprintf(path, sizeof(path), "%s/users/%u.json", c->state_dir, uid);
        file_copy(data_name, path, 0600);
}

static void test_corrupt(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *alice = ident(c, "alice@example.com", "alice-sub", NULL);
        struct cache_user *u = NULL, **list = NULL;
        char path[1024];
        size_t n = 0;

        capture_reset();
        CHECK_INT(store(c, alice, NULL, NULL, NULL), 0);

        /* A record written by an earlier run of this version loads field by field. */
        put_record(c, "cache-record-v1.json", 345678);
        CHECK_INT(cache_user_load_by_uid(c, &test_log, 345678, &u), 0);
        CHECK(u && streq(u->username, "erin") && u->n_groups == 1 && u->groups[0].gid == 1234567 &&
              u->n_unix_groups == 1 && u->unix_groups[0].gid == 27 && u->last_online_login == 1700003600 &&
              streq(u->app_roles[0], "Linux.Admin"));
        cache_user_free(TAKE_PTR(u));

        put_record(c, "cache-record-truncated.json", 345679);
        capture_reset();
        CHECK_INT(cache_user_load_by_uid(c, &test_log, 345679, &u), -EBADMSG);
        snprintf(path, sizeof(path), "%s/users/345679.json: not a valid cloudauth user record", c->state_dir);
        CHECK(logged(path));

        put_record(c, "cache-record-bad-types.json", 345680);
        capture_reset();
        CHECK_INT(cache_user_load_by_uid(c, &test_log, 345680, &u), -EBADMSG);
        CHECK(logged("345680.json: not a valid"));

        /* A record under the wrong file name is not trusted either. */
        put_record(c, "cache-record-v1.json", 345681);
        CHECK_INT(cache_user_load_by_uid(c, &test_log, 345681, &u), -EBADMSG);

        /* Group or other readable records are refused. */
        put_record(c, "cache-record-v1.json", 345678);
        snprintf(path, sizeof(path), "%s/users/345678.json", c->state_dir);
        chmod(path, 0644);
        CHECK_INT(cache_user_load_by_uid(c, &test_log, 345678, &u), -EPERM);
        chmod(path, 0600);
        CHECK(!u);

        capture_reset();
        CHECK_INT(cache_user_list(c, &test_log, &list, &n), 0);
        CHECK_INT(n, 2);
        if (n == 2) {
                CHECK_STR(list[0]->username, "alice");
                CHECK_STR(list[1]->username, "erin");
        }
        cache_user_list_free(list, n);

        capture_reset();
        CHECK_INT(cache_rebuild(c, &test_log), 0);
        CHECK(logged("nss.db rebuilt with 2 users and 0 groups; 3 corrupt records skipped"));
        CHECK(db_has_user(c, "erin", 345678));
        /* Written before provider groups were qualified: the bare name is never exported again. */
        CHECK(logged("group engineering of erin is left out of nss.db: not a qualified provider group name"));
        CHECK(!db_has_group(c, "engineering"));
}

static void state_seed(const struct cloudauth_config *c, size_t n);

static void test_forget_rebuild(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *alice =
                ident(c, "alice@example.com", "alice-sub", (const char *const[]) { "Ops", NULL });
        _cleanup_(identity_freep) struct identity *bob = ident(c, "bob@example.com", "bob-sub", NULL);
        _cleanup_free_ char *dbpath = NULL;
        struct cache_user *u = NULL;
        uint32_t ua = 0, ub = 0;
        char path[1024];
        int fd;

        capture_reset();
        CHECK_INT(store(c, alice, NULL, &ua, NULL), 0);
        CHECK_INT(store(c, bob, NULL, &ub, NULL), 0);
        CHECK_INT(db_n_users(c), 2);

        CHECK_INT(cache_user_forget(c, &test_log, "alice@example.com"), 0);
        CHECK_INT(cache_user_load_by_name(c, &test_log, "alice", &u), -ESRCH);
        CHECK_INT(cache_user_load_by_uid(c, &test_log, ua, &u), -ESRCH);
        CHECK(!db_has_user(c, "alice", ua));
        CHECK(!db_has_group(c, "ops@example.com"));
        CHECK(db_has_user(c, "bob", ub));
        CHECK_INT(cache_user_forget(c, &test_log, "alice"), -ESRCH);

        /* A forgotten subject starts over: the hashed uid again, a new first login. */
        CHECK_INT(cache_store_login(c, &test_log, alice, NULL, NOW + 50, &ua, &(const char *) { NULL }), 0);
        CHECK_INT(cache_user_load_by_uid(c, &test_log, ua, &u), 0);
        CHECK(u && u->first_login == NOW + 50);
        cache_user_free(TAKE_PTR(u));

        /* nss.db is derived: gone or corrupt, it comes back from the records. */
        CHECK_INT(cache_nssdb_path(c, &dbpath), 0);
        unlink(dbpath);
        capture_reset();
        CHECK_INT(cache_rebuild(c, &test_log), 0);
        CHECK(logged("nss.db rebuilt with 2 users and 1 groups"));
        CHECK(db_has_user(c, "alice", ua));
        CHECK(db_has_group(c, "ops@example.com"));

        fd = open(dbpath, O_WRONLY | O_TRUNC | O_CLOEXEC);
        CHECK(fd >= 0 && write(fd, "garbage", 7) == 7);
        close(fd);
        capture_reset();
        CHECK_INT(cache_user_load_by_name(c, &test_log, "bob", &u), 0);
        cache_user_free(TAKE_PTR(u));
        CHECK_INT(store(c, bob, NULL, NULL, NULL), 0);
        CHECK(logged("rebuilding it from the user records"));
        CHECK(db_has_user(c, "alice", ua));
        CHECK(db_has_user(c, "bob", ub));

        /* A subject file lost is restored by rebuild, so the uid survives a rename. */
        snprintf(path, sizeof(path), "%s/users", c->state_dir);
        {
                DIR *d = opendir(path);
                struct dirent *de;

                while (d && (de = readdir(d)))
                        if (strncmp(de->d_name, "subject-", 8) == 0)
                                unlinkat(dirfd(d), de->d_name, 0);
                if (d)
                        closedir(d);
        }
        CHECK_INT(cache_rebuild(c, &test_log), 0);
        {
                _cleanup_(identity_freep) struct identity *renamed = ident(c, "bobby@example.com", "bob-sub", NULL);
                uint32_t uid = 0;

                CHECK_INT(store(c, renamed, NULL, &uid, NULL), 0);
                CHECK_INT(uid, ub);
        }

        /*
         * An nss.db that lost users: lookups trust it (no scan of every record
         * for names that are not ours), forget still finds the record.
         */
        state_seed(c, 3);
        CHECK_INT(cache_user_load_by_name(c, &test_log, "alice", &u), -ESRCH);
        CHECK_INT(cache_user_forget(c, &test_log, "alice"), 0);
        CHECK_INT(cache_user_load_by_uid(c, &test_log, ua, &u), -ESRCH);
        CHECK_INT(cache_rebuild(c, &test_log), 0);
        CHECK_INT(db_n_users(c), 1);
        CHECK(db_has_user(c, "bobby", ub));
}

/* A forked child frees what it inherited, so leak checkers see a clean exit. */
static _Noreturn void child_exit(struct cloudauth_config *c, struct identity *id, int status) {
        identity_free(id);
        config_free(c);
        _exit(status);
}

static void test_concurrent(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *seed = ident(c, "seed@example.com", "seed-sub", NULL);
        pid_t writers[50], reader;
        int pipefd[2], status;
        unsigned failed_writers = 0;

        capture_reset();
        CHECK_INT(store(c, seed, NULL, NULL, NULL), 0);
        CHECK(pipe(pipefd) == 0);

        reader = fork();
        if (reader == 0) {
                _cleanup_free_ char *path = NULL;
                unsigned failures = 0, opens = 0;
                char ch, delta[1024];

                close(pipefd[1]);
                fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
                if (cache_nssdb_path(c, &path) < 0)
                        _exit(2);
                delta_path_of(c, delta, sizeof(delta));
                while (read(pipefd[0], &ch, 1) < 0 && errno == EAGAIN) {
                        struct nssdb_pair p;
                        int rd;

                        /* Both files readable, and the seed user seen exactly once throughout. */
                        if (nssdb_pair_open(path, delta, &p, &rd) < 0)
                                failures++;
                        else {
                                struct nssdb_user_view v;
                                size_t pos = 0, seen = 0;

                                if (rd < 0 && rd != -ENOENT && rd != -ESTALE)
                                        failures++;
                                while (nssdb_pair_user_next(&p, pos, &v, &pos) >= 0)
                                        seen += streq(v.name, "seed");
                                if (seen != 1)
                                        failures++;
                                nssdb_pair_close(&p);
                        }
                        opens++;
                }
                fprintf(stderr, "reader: %u opens, %u failed\n", opens, failures);
                child_exit(c, seed, failures ? 1 : 0);
        }
        close(pipefd[0]);

        for (unsigned i = 0; i < ELEMENTSOF(writers); i++) {
                writers[i] = fork();
                if (writers[i] == 0) {
                        char name[64], sub[64];
                        struct identity *id;
                        uint32_t uid;
                        const char *reason;

                        snprintf(name, sizeof(name), "writer%u@example.com", i);
                        snprintf(sub, sizeof(sub), "writer-sub-%u", i);
                        id = ident(c, name, sub, (const char *const[]) { i % 2 ? "odd" : "even", NULL });
                        child_exit(c, id, cache_store_login(c, &quiet_log, id, NULL, NOW, &uid, &reason) < 0 ? 1 : 0);
                }
        }
        for (unsigned i = 0; i < ELEMENTSOF(writers); i++)
                if (waitpid(writers[i], &status, 0) != writers[i] || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        failed_writers++;
        CHECK_INT(failed_writers, 0);
        CHECK(write(pipefd[1], "x", 1) == 1);
        close(pipefd[1]);
        CHECK(waitpid(reader, &status, 0) == reader && WIFEXITED(status) && WEXITSTATUS(status) == 0);

        CHECK_INT(db_n_users(c), 51);
        CHECK(db_has_user(c, "writer0", uidmap_user_uid(ISSUER, "writer0@example.com", c->uid_min, c->uid_max)));
        CHECK(db_has_user(c, "writer49", uidmap_user_uid(ISSUER, "writer49@example.com", c->uid_min, c->uid_max)));
        CHECK(db_has_group(c, "odd@example.com"));
        CHECK(db_has_group(c, "even@example.com"));
}

static double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

/* A state directory whose nss.db holds n users (and their records are absent: the incremental path needs none). */
static void state_seed(const struct cloudauth_config *c, size_t n) {
        _cleanup_free_ char *path = NULL, *names = NULL;
        struct nssdb_user_in *users = calloc(n + 1, sizeof(*users));
        struct nssdb_group_in groups[] = { { "seed-a@example.com", 2000000001u }, { "seed-b@example.com", 2000000002u } };
        static const uint32_t gids_a[] = { 2000000001u }, gids_b[] = { 2000000002u, 27 };
        struct nssdb_settings s = { .scope = ISSUER, .uid_min = c->uid_min, .uid_max = c->uid_max,
                                    .home = c->home, .shell = c->shell };
        char users_dir[1024];

        names = malloc(n * 32 + 1);
        if (!users || !names)
                exit(EXIT_FAILURE);
        mkdir(c->state_dir, 0755);
        snprintf(users_dir, sizeof(users_dir), "%s/users", c->state_dir);
        mkdir(users_dir, 0700);
        for (size_t i = 0; i < n; i++) {
                snprintf(names + 32 * i, 32, "seed%zu", i);
                users[i] = (struct nssdb_user_in) {
                        .name = names + 32 * i, .uid = 1900000000u + (uint32_t) i,
                        .gids = i % 2 ? gids_b : gids_a, .n_gids = i % 2 ? 2 : 1,
                };
        }
        if (cache_nssdb_path(c, &path) < 0 || nssdb_write(path, &s, users, n, groups, 2) < 0) {
                fprintf(stderr, "cannot seed nss.db with %zu users\n", n);
                exit(EXIT_FAILURE);
        }
        free(users);
}

static void test_killed_writer(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        size_t before;
        double t0, cost;
        unsigned seen_new = 0, seen_old = 0;
        DIR *d;
        struct dirent *de;
        unsigned temps = 0;

        state_seed(c, 20000);
        before = db_n_users(c);
        CHECK_INT(before, 20000);

        {
                _cleanup_(identity_freep) struct identity *id = ident(c, "timing@example.com", "timing-sub", NULL);
                t0 = now_ms();
                CHECK_INT(store(c, id, NULL, NULL, NULL), 0);
                cost = now_ms() - t0;
                before++;
        }

        srand((unsigned) getpid());
        for (unsigned i = 0; i < 30; i++) {
                pid_t pid = fork();
                struct timespec delay;
                double at = cost * 1.5 * (double) rand() / RAND_MAX;
                int status;
                size_t n;

                if (pid == 0) {
                        char name[64], sub[64];
                        struct identity *id;
                        uint32_t uid;
                        const char *reason;

                        snprintf(name, sizeof(name), "victim%u@example.com", i);
                        snprintf(sub, sizeof(sub), "victim-sub-%u", i);
                        id = ident(c, name, sub, (const char *const[]) { "victims", NULL });
                        child_exit(c, id, cache_store_login(c, &quiet_log, id, NULL, NOW, &uid, &reason) < 0 ? 1 : 0);
                }
                delay.tv_sec = (time_t) (at / 1000);
                delay.tv_nsec = (long) ((at - (double) delay.tv_sec * 1000) * 1e6);
                nanosleep(&delay, NULL);
                kill(pid, SIGKILL);
                CHECK(waitpid(pid, &status, 0) == pid);

                n = db_n_users(c);
                CHECK(n == before || n == before + 1);
                if (n == before + 1)
                        seen_new++;
                else
                        seen_old++;
                before = n;
        }
        fprintf(stderr, "killed writers: store took %.1f ms; %u finished, %u left the old nss.db\n", cost, seen_new,
                seen_old);

        /* The next writer removes what the killed ones left behind. */
        {
                _cleanup_(identity_freep) struct identity *id = ident(c, "after@example.com", "after-sub", NULL);
                CHECK_INT(store(c, id, NULL, NULL, NULL), 0);
        }
        d = opendir(c->state_dir);
        while (d && (de = readdir(d)))
                if (strncmp(de->d_name, "nss.db.tmp", 10) == 0 || strncmp(de->d_name, "nss.delta.db.tmp", 16) == 0 ||
                    strncmp(de->d_name, ".record.tmp", 11) == 0)
                        temps++;
        if (d)
                closedir(d);
        CHECK_INT(temps, 0);
        CHECK_INT(db_n_users(c), before + 1);
}

static double store_cost(const struct cloudauth_config *c, unsigned k) {
        char name[64], sub[64];
        struct identity *id;
        double t0, t;

        snprintf(name, sizeof(name), "perf%u@example.com", k);
        snprintf(sub, sizeof(sub), "perf-sub-%u", k);
        id = ident(c, name, sub, (const char *const[]) { "Admins", "Perf", NULL });
        t0 = now_ms();
        CHECK_INT(cache_store_login(c, &quiet_log, id, (char *const[]) { (char *) "admin", NULL }, NOW, &(uint32_t) { 0 },
                                    &(const char *) { NULL }),
                  0);
        t = now_ms() - t0;
        identity_free(id);
        return t;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

static void test_scale(void) {
        /* Under valgrind every instruction costs ~50x: measure a smaller host there. */
        const char *preload = getenv("LD_PRELOAD");
        size_t many = preload && strstr(preload, "vgpreload") ? 5000 : 100000;
        _cleanup_config_ struct cloudauth_config *big = config_make(NULL);
        double empty[5], full[5], t0, seed_ms, open_ms, compact_ms;
        struct nssdb *db;
        ino_t base;

        for (unsigned i = 0; i < ELEMENTSOF(empty); i++) {
                _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
                empty[i] = store_cost(c, i);
        }
        t0 = now_ms();
        state_seed(big, many);
        seed_ms = now_ms() - t0;
        t0 = now_ms();
        db = db_open(big);
        open_ms = now_ms() - t0;
        CHECK(db);
        if (db)
                nssdb_close(db);
        /* The seed has other settings than the configuration: the first login writes nss.db whole. */
        (void) store_cost(big, 100);
        base = db_inode(big);
        for (unsigned i = 0; i < ELEMENTSOF(full); i++)
                full[i] = store_cost(big, i);
        /* First logins went to the delta alone. */
        CHECK(db_inode(big) == base);
        CHECK_INT(delta_n_users(big), ELEMENTSOF(full));
        /* The login after the bound compacts: what every max(1000, users/16)-th first login costs. */
        cache_set_delta_bound(ELEMENTSOF(full));
        compact_ms = store_cost(big, 101);
        cache_set_delta_bound(0);
        CHECK(db_inode(big) != base);
        CHECK_INT(delta_n_users(big), 0);
        qsort(empty, ELEMENTSOF(empty), sizeof(double), cmp_double);
        qsort(full, ELEMENTSOF(full), sizeof(double), cmp_double);
        fprintf(stderr, "cache_store_login median: empty host %.2f ms, %zu cached users %.2f ms (first logins, delta), ratio %.2f; a compaction %.1f ms; nssdb_write of the seed %.1f ms, nssdb_open %.1f ms\n",
                empty[2], many, full[2], full[2] / empty[2], compact_ms, seed_ms, open_ms);

        CHECK_INT(db_n_users(big), many + ELEMENTSOF(full) + 2);
        CHECK(db_has_user(big, "perf4", uidmap_user_uid(ISSUER, "perf4@example.com", big->uid_min, big->uid_max)));
        CHECK(db_has_user(big, "seed99", 1900000099u));
        CHECK(db_has_group(big, "seed-a@example.com"));
        CHECK(db_has_group(big, "perf@example.com"));
}

static bool account_allowed(const struct cloudauth_config *c, const char *name, time_t now, const char **ret_reason) {
        _cleanup_free_ char *local = NULL;
        bool allowed = true;
        const char *reason = NULL;

        if (login_account_check_cached_at(c, &test_log, name, now, &allowed, &reason, &local) < 0) {
                CHECK(false);
                return true;
        }
        if (ret_reason)
                *ret_reason = reason;
        return allowed;
}

static size_t db_n_gids(const struct cloudauth_config *c, const char *name) {
        struct nssdb_pair p;
        struct nssdb_user_view v;
        size_t n = (size_t) -1;

        if (!pair_open(c, &p))
                return n;
        if (nssdb_pair_user_by_name(&p, name, &v) >= 0)
                n = v.n_gids;
        nssdb_pair_close(&p);
        return n;
}

/* An online refusal reaches NSS and the account phase at once; a wrong password does not. */
static void test_refuse(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *alice =
                ident(c, "alice@example.com", "alice-sub", (const char *const[]) { "Admins", NULL });
        _cleanup_(identity_freep) struct identity *removed = ident(c, "alice@example.com", "alice-sub", NULL);
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        struct login_result res = {0};
        const char *reason = NULL;
        uint32_t uid = 0;

        capture_reset();
        CHECK_INT(store(c, alice, (const char *const[]) { "admin", NULL }, &uid, NULL), 0);
        CHECK_INT(db_n_gids(c, "alice"), 3); /* admins@example.com, sudo, adm */
        CHECK(account_allowed(c, "alice", NOW + 10, NULL));

        /* Removed from every group at the provider, and so refused by the policy at her next login. */
        res.status = LOGIN_OK;
        res.identity = removed;
        res.allowed = false;
        res.access_reason = "not in allow_users, allow_groups or allow_roles";
        CHECK_INT(login_store(c, &test_log, &res, NOW + 20), 0);
        CHECK(logged("alice (uid"));
        CHECK(logged("refused online"));
        CHECK(db_has_user(c, "alice", uid));
        CHECK_INT(db_n_gids(c, "alice"), 0);
        CHECK(!db_has_group(c, "admins@example.com"));
        CHECK(!account_allowed(c, "alice", NOW + 30, &reason));
        CHECK(reason && streq(reason, "the last online login was refused"));
        CHECK_INT(cache_user_load_by_name(c, &test_log, "alice", &u), 0);
        CHECK(u && u->refused_at == NOW + 20 && u->n_groups == 0 && u->n_unix_groups == 0 &&
              strv_length(u->roles) == 0 && strv_length(u->idp_groups) == 0 &&
              streq(strempty(u->refusal), "not in allow_users, allow_groups or allow_roles") &&
              u->last_online_login == NOW);
        cache_user_free(TAKE_PTR(u));

        /* Refused again: nothing is rewritten. */
        {
                ino_t rec = record_inode(c, uid), db = db_inode(c);

                CHECK_INT(cache_user_refuse(c, &test_log, NULL, "alice", "the provider says the account is disabled",
                                            NOW + 40),
                          0);
                CHECK(record_inode(c, uid) == rec);
                CHECK(db_inode(c) == db);
        }

        /* An allowed login clears the refusal. */
        CHECK_INT(store(c, alice, (const char *const[]) { "admin", NULL }, NULL, NULL), 0);
        CHECK(account_allowed(c, "alice", NOW + 50, NULL));
        CHECK_INT(db_n_gids(c, "alice"), 3);

        /* A wrong password, typed by anyone, changes nothing. */
        res = (struct login_result) { .status = LOGIN_BAD_CREDENTIALS, .oauth = OAUTH_WRONG_PASSWORD,
                                      .idp_name = strdup("alice@example.com") };
        CHECK_INT(login_store(c, &test_log, &res, NOW + 60), 0);
        login_result_done(&res);
        CHECK(account_allowed(c, "alice", NOW + 60, NULL));

        /* The provider says the account is disabled: refused by name, without a token. */
        res = (struct login_result) { .status = LOGIN_ACCOUNT_PROBLEM, .oauth = OAUTH_DISABLED,
                                      .idp_name = strdup("alice@example.com") };
        CHECK_INT(login_store(c, &test_log, &res, NOW + 70), 0);
        login_result_done(&res);
        CHECK(!account_allowed(c, "alice", NOW + 80, NULL));
        CHECK_INT(db_n_gids(c, "alice"), 0);

        /* And that it does not exist: nobody cached under that name is no error. */
        res = (struct login_result) { .status = LOGIN_USER_UNKNOWN, .oauth = OAUTH_NO_SUCH_USER,
                                      .idp_name = strdup("nobody@example.com") };
        CHECK_INT(login_store(c, &test_log, &res, NOW + 90), 0);
        login_result_done(&res);
        CHECK_INT(cache_user_refuse(c, &test_log, NULL, "nobody@example.com", "x", NOW), -ESRCH);
}

/* A cached verdict lasts [offline] max_age (7 days by default) after the last allowed online login. */
static void test_account_max_age(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *alice = ident(c, "alice@example.com", "alice-sub", NULL);
        const char *reason = NULL;

        capture_reset();
        CHECK_INT(store(c, alice, NULL, NULL, NULL), 0);
        CHECK(account_allowed(c, "alice", NOW + 7 * 86400, NULL));
        CHECK(!account_allowed(c, "alice", NOW + 7 * 86400 + 1, &reason));
        CHECK(reason && streq(reason, "the last online login is older than [offline] max_age"));
        /* A clock that went back is no reason to refuse. */
        CHECK(account_allowed(c, "alice", NOW - 3600, NULL));
}

static char *subject_key_of(const char *issuer, const char *tid, const char *oid) {
        struct identity id = {
                .issuer = (char *) issuer, .subject = (char *) "the-sub", .tenant = (char *) tid, .object_id = (char *) oid,
        };
        char *k = NULL;

        if (cache_subject_key(&id, &k) < 0)
                return strdup("(error)");
        return k;
}

#define TENANT "72f988bf-86f1-41af-91ab-2d7cd011db47"
#define OID "00000000-0000-0000-0000-00000000a11c"

static void check_subject_key(const char *issuer, const char *tid, const char *oid, const char *want) {
        _cleanup_free_ char *k = subject_key_of(issuer, tid, oid);

        if (!streq(k, want))
                fprintf(stderr, "subject key of iss=%s tid=%s: %s, expected %s\n", issuer, tid ? tid : "(none)", k, want);
        CHECK_STR(k, want);
}

/* tid and oid name a person only at Microsoft, and only in the issuer's own tenant. */
static void test_subject_key(void) {
        check_subject_key("https://login.microsoftonline.com/" TENANT "/v2.0", TENANT, OID, "entra:" TENANT ":" OID);
        check_subject_key("https://sts.windows.net/" TENANT "/", TENANT, OID, "entra:" TENANT ":" OID);
        /* Tenant ids compare case-insensitively; the key keeps the claim as sent. */
        check_subject_key("https://login.microsoftonline.com/72F988BF-86F1-41AF-91AB-2D7CD011DB47/v2.0", TENANT, OID,
                          "entra:" TENANT ":" OID);
        /* Another tenant's tid in this tenant's token, or a tid that is only a prefix of the issuer's. */
        check_subject_key("https://login.microsoftonline.com/" TENANT "/v2.0", "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
                          OID, "oidc:https://login.microsoftonline.com/" TENANT "/v2.0:the-sub");
        check_subject_key("https://login.microsoftonline.com/" TENANT "/v2.0", "72f988bf", OID,
                          "oidc:https://login.microsoftonline.com/" TENANT "/v2.0:the-sub");
        /* Any other provider may carry claims named tid and oid with any value. */
        check_subject_key(ISSUER, TENANT, OID, "oidc:" ISSUER ":the-sub");
        check_subject_key("https://login.microsoftonline.com.evil.example/" TENANT "/v2.0", TENANT, OID,
                          "oidc:https://login.microsoftonline.com.evil.example/" TENANT "/v2.0:the-sub");
        check_subject_key("https://evil.example/https://login.microsoftonline.com/" TENANT, TENANT, OID,
                          "oidc:https://evil.example/https://login.microsoftonline.com/" TENANT ":the-sub");
        check_subject_key("https://login.microsoftonline.com/" TENANT "/v2.0", NULL, OID,
                          "oidc:https://login.microsoftonline.com/" TENANT "/v2.0:the-sub");
}

/* Two people of another provider with equal tid and oid claims stay two people. */
static void test_subject_spoof(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *alice = ident(c, "alice@example.com", "alice-sub", NULL);
        _cleanup_(identity_freep) struct identity *bob = ident(c, "bob@example.com", "bob-sub", NULL);
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        uint32_t ua = 0, ub = 0;

        alice->tenant = strdup(TENANT);
        alice->object_id = strdup(OID);
        bob->tenant = strdup(TENANT);
        bob->object_id = strdup(OID);
        capture_reset();
        CHECK_INT(store(c, alice, NULL, &ua, NULL), 0);
        CHECK_INT(store(c, bob, NULL, &ub, NULL), 0);
        CHECK(ua != ub);
        CHECK_INT(ub, uidmap_user_uid(ISSUER, "bob@example.com", c->uid_min, c->uid_max));
        CHECK(db_has_user(c, "alice", ua));
        CHECK(db_has_user(c, "bob", ub));
        CHECK_INT(cache_user_load_by_name(c, &test_log, "alice", &u), 0);
        CHECK(u && u->uid == ua && streq(u->subject_key, "oidc:" ISSUER ":alice-sub"));
}

static double now_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* A stuck lock holder costs a login a bounded wait and a clear message, never a hang. */
static void test_lock_deadline(void) {
        _cleanup_config_ struct cloudauth_config *c = config_make(NULL);
        _cleanup_(identity_freep) struct identity *alice = ident(c, "alice@example.com", "alice-sub", NULL);
        const char *reason = NULL;
        char path[1024];
        double start, took;
        int fds[2], status;
        char byte;
        pid_t pid;

        capture_reset();
        CHECK_INT(store(c, alice, NULL, NULL, NULL), 0);
        snprintf(path, sizeof(path), "%s/lock", c->state_dir);
        CHECK_INT(pipe(fds), 0);
        pid = fork();
        if (pid == 0) {
                int fd = open(path, O_RDWR | O_CLOEXEC);

                if (fd < 0 || flock(fd, LOCK_EX) < 0)
                        _exit(1);
                (void) !write(fds[1], "x", 1);
                pause();
                _exit(0);
        }
        close(fds[1]);
        CHECK(read(fds[0], &byte, 1) == 1);
        close(fds[0]);

        capture_reset();
        start = now_s();
        CHECK_INT(store(c, alice, NULL, NULL, &reason), -ETIMEDOUT);
        took = now_s() - start;
        CHECK(took >= 9.5 && took < 12);
        CHECK(logged("the identity store is locked by another process for more than 10 s"));
        CHECK(reason && strstr(reason, "locked by another process"));

        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        /* The holder gone, the next login proceeds at once. */
        start = now_s();
        CHECK_INT(store(c, alice, NULL, NULL, NULL), 0);
        CHECK(now_s() - start < 2);
}

static int rm_rf(const char *path) {
        char cmd[600];

        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", path);
        return system(cmd);
}

int main(void) {
        char passwd[256], group[256];

        if (!mkdtemp(tmp_root)) {
                perror("mkdtemp");
                return EXIT_FAILURE;
        }
        snprintf(passwd, sizeof(passwd), "%s/passwd", tmp_root);
        snprintf(group, sizeof(group), "%s/group", tmp_root);
        file_copy("cache-passwd", passwd, 0644);
        file_copy("cache-group", group, 0644);
        cache_set_local_files(passwd, group);

        RUN(test_store_load);
        RUN(test_two_hosts);
        RUN(test_rename);
        RUN(test_pin);
        RUN(test_collision_cached);
        RUN(test_collision_local);
        RUN(test_groups);
        RUN(test_group_qualifier);
        RUN(test_unchanged_login);
        RUN(test_unchanged_record);
        RUN(test_long_display_name);
        RUN(test_delta);
        RUN(test_delta_bound);
        RUN(test_delta_stale_and_corrupt);
        RUN(test_old_format);
        RUN(test_corrupt);
        RUN(test_forget_rebuild);
        RUN(test_concurrent);
        RUN(test_killed_writer);
        RUN(test_scale);
        RUN(test_subject_key);
        RUN(test_subject_spoof);
        RUN(test_refuse);
        RUN(test_account_max_age);
        RUN(test_lock_deadline);

        if (!tests_failed)
                (void) rm_rf(tmp_root);
        return tests_exit();
}
