/* SPDX-License-Identifier: MIT */
/*
 * glibc NSS adapter over the nss.db reader. Every entry point saves errno,
 * validates its input, takes the one mutex that guards the current mappings,
 * refreshes a mapping if its file was replaced (one stat() each for nss.db
 * and its delta), copies the answer into the caller's buffer and restores
 * errno. How the two files merge is nssdb_pair_*'s business, shared with the
 * writers. No network, no file locks, no calls back into NSS, nothing on
 * stdout or stderr.
 *
 * A user the file does not hold exists only for the OpenSSH server's
 * pre-authentication lookup (see synth_wanted()), so a name nobody logged in
 * with is free for useradd and is never handed to chown. Entries whose text
 * a terminal would take as a control are not served at all.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "cloudauth-build.h"
#include "nssdb.h"
#include "uidmap.h"

#define NSS_PUBLIC __attribute__((visibility("default")))
#define DB_PATH_DEFAULT CLOUDAUTH_STATE_DIR "/nss.db"

static pthread_mutex_t db_lock = PTHREAD_MUTEX_INITIALIZER;

struct db_slot {
        struct nssdb *db;
        struct stat st;
        /* The last file that failed to open, so it is neither re-validated nor re-logged on every call. */
        struct stat bad_st;
        bool bad_valid;
        int bad_error;
};

static struct db_slot slot_base, slot_delta;
static size_t pw_cursor, gr_cursor;

/*
 * A fork while another thread holds db_lock would leave the child with a
 * lock nobody can release, and its first lookup would hang. So fork waits
 * for the lookup in progress, and both sides release the lock after it.
 */
static void fork_prepare(void) {
        pthread_mutex_lock(&db_lock);
}

static void fork_release(void) {
        pthread_mutex_unlock(&db_lock);
}

/* glibc ties handlers registered from a shared object to it and drops them on dlclose(). */
__attribute__((constructor)) static void db_load(void) {
        (void) pthread_atfork(fork_prepare, fork_release, fork_release);
}

static bool same_file(const struct stat *a, const struct stat *b) {
        /* Mode and owner too: a chmod or chown decides whether the file is trusted. */
        return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
               a->st_mode == b->st_mode && a->st_uid == b->st_uid &&
               a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static const char *db_path(void) {
        const char *p = secure_getenv("CLOUDAUTH_NSS_DB");

        return p && *p ? p : DB_PATH_DEFAULT;
}

static void slot_drop(struct db_slot *slot) {
        nssdb_close(slot->db);
        slot->db = NULL;
}

/*
 * With db_lock held: make slot->db the mapping of the file path names now.
 * -ENOENT when there is no file, another negative errno (logged once per
 * file) when it cannot be used. want_delta says which kind the file must be.
 */
static int slot_refresh(struct db_slot *slot, const char *path, bool want_delta) {
        struct nssdb *db = NULL;
        struct stat st, mapped;
        int r;

        if (stat(path, &st) < 0) {
                r = -errno;
                slot_drop(slot);
                return r;
        }
        if (slot->db && same_file(&st, &slot->st))
                return 0;
        slot_drop(slot);
        if (slot->bad_valid && same_file(&st, &slot->bad_st))
                return slot->bad_error;

        r = nssdb_open(path, &db, &mapped);
        if (r >= 0 && (nssdb_base_generation(db) != 0) != want_delta) {
                nssdb_close(db);
                r = -EBADMSG;
        }
        if (r < 0) {
                if (r == -ENOENT)
                        return r;
                if (!slot->bad_valid || st.st_dev != slot->bad_st.st_dev || st.st_ino != slot->bad_st.st_ino) {
                        const char *why = strerrordesc_np(-r);

                        syslog(LOG_AUTHPRIV | LOG_ERR, "cloudauth: cannot use %s: %s%s", path, why ? why : "error",
                               want_delta ? "; answering from the main file alone" : "");
                }
                slot->bad_st = st;
                slot->bad_valid = true;
                slot->bad_error = r;
                return r;
        }
        slot->db = db;
        slot->st = mapped;
        return 0;
}

/*
 * With db_lock held: the current pair. The delta is looked at first, so the
 * base seen after it is the one it extends or a newer one, and a newer base
 * holds every user of the delta it retired: a user never vanishes between
 * the two checks. -ENOENT when there is no nss.db (a host nobody logged in
 * to yet); a delta that is missing, unusable or of another base leaves the
 * base alone.
 */
static int db_acquire(struct nssdb_pair *ret) {
        const char *path = db_path();
        char delta_path[PATH_MAX];
        int r;

        if (nssdb_delta_path(path, delta_path, sizeof(delta_path)) < 0 ||
            slot_refresh(&slot_delta, delta_path, true) < 0)
                slot_drop(&slot_delta);
        if ((r = slot_refresh(&slot_base, path, false)) < 0)
                return r;
        *ret = (struct nssdb_pair){
                .base = slot_base.db,
                .delta = nssdb_delta_belongs(slot_base.db, slot_delta.db) ? slot_delta.db : NULL,
        };
        return 0;
}

/* On dlclose() and at exit: give back the mappings and their small descriptors. */
__attribute__((destructor)) static void db_unload(void) {
        pthread_mutex_lock(&db_lock);
        slot_drop(&slot_base);
        slot_drop(&slot_delta);
        pthread_mutex_unlock(&db_lock);
}

static enum nss_status status_from(int r, int *errnop) {
        if (r >= 0)
                return NSS_STATUS_SUCCESS;
        /* -EILSEQ: an entry whose text is not shown (see pack_passwd). */
        if (r == -ESRCH || r == -ENOENT || r == -EILSEQ)
                return NSS_STATUS_NOTFOUND;
        if (r == -ERANGE) {
                *errnop = ERANGE;
                return NSS_STATUS_TRYAGAIN;
        }
        *errnop = -r;
        return NSS_STATUS_UNAVAIL;
}

/* ---- buffer packing: sizes first, then copies ---- */

struct packer {
        char *p;
        size_t left;
};

static char *pack_mem(struct packer *k, const char *s, size_t n) {
        char *d = k->p;

        memcpy(d, s, n);
        d[n] = 0;
        k->p += n + 1;
        k->left -= n + 1;
        return d;
}

static char *pack_str(struct packer *k, const char *s) {
        return pack_mem(k, s, strlen(s));
}

static void name_split(const char *local, const char *default_domain, const char **ret_domain) {
        const char *at = strchr(local, '@');

        *ret_domain = at ? at + 1 : default_domain ? default_domain : "";
}

/* Length of the home template expanded for (local, domain); %u, %d and %% are the escapes. */
static size_t home_len(const char *tpl, const char *local, const char *domain) {
        size_t n = 0;

        for (const char *t = tpl; *t; t++) {
                if (t[0] == '%' && t[1] == 'u')
                        n += strlen(local), t++;
                else if (t[0] == '%' && t[1] == 'd')
                        n += strlen(domain), t++;
                else if (t[0] == '%' && t[1] == '%')
                        n++, t++;
                else
                        n++;
        }
        return n;
}

static char *pack_home(struct packer *k, const char *tpl, const char *local, const char *domain) {
        char *start = k->p, *d = k->p;

        for (const char *t = tpl; *t; t++) {
                if (t[0] == '%' && t[1] == 'u') {
                        size_t n = strlen(local);
                        memcpy(d, local, n), d += n, t++;
                } else if (t[0] == '%' && t[1] == 'd') {
                        size_t n = strlen(domain);
                        memcpy(d, domain, n), d += n, t++;
                } else if (t[0] == '%' && t[1] == '%')
                        *d++ = '%', t++;
                else
                        *d++ = *t;
        }
        *d++ = 0;
        k->left -= (size_t) (d - start);
        k->p = d;
        return start;
}

static int pack_passwd(const struct nssdb *db, const char *name, uint32_t uid, const char *gecos, struct passwd *pw,
                       char *buf, size_t buflen) {
        struct nssdb_settings s;
        struct packer k = { buf, buflen };
        const char *domain;
        size_t need;

        /* The writer keeps controls out; a file written otherwise does not get them onto a terminal. */
        if (!nssdb_text_safe(name) || !nssdb_text_safe(gecos))
                return -EILSEQ;
        nssdb_settings_get(db, &s);
        name_split(name, s.default_domain, &domain);
        need = strlen(name) + 1 + 2 + strlen(gecos) + 1 + home_len(s.home, name, domain) + 1 + strlen(s.shell) + 1;
        if (!buf || buflen < need)
                return -ERANGE;

        pw->pw_name = pack_str(&k, name);
        pw->pw_passwd = pack_str(&k, "*");
        pw->pw_uid = uid;
        pw->pw_gid = uid;
        pw->pw_gecos = pack_str(&k, gecos);
        pw->pw_dir = pack_home(&k, s.home, name, domain);
        pw->pw_shell = pack_str(&k, s.shell);
        return 0;
}

static int pack_group(const struct nssdb_pair *p, const struct nssdb_pair_group_view *g, struct group *gr,
                      char *buf, size_t buflen) {
        size_t pad = (alignof(char *) - ((uintptr_t) buf & (alignof(char *) - 1))) & (alignof(char *) - 1);
        size_t need = pad + ((size_t) g->n_members + 1) * sizeof(char *) + strlen(g->name) + 1 + 2;
        struct packer k;
        const char *m;
        uint32_t cursor = 0, n = 0;
        char **mem;

        if (!nssdb_text_safe(g->name))
                return -EILSEQ;
        while (n < g->n_members && (m = nssdb_pair_group_member_next(p, g, &cursor))) {
                if (!nssdb_text_safe(m))
                        return -EILSEQ;
                need += strlen(m) + 1;
                n++;
        }
        if (!buf || buflen < need)
                return -ERANGE;

        mem = (char **) (void *) (buf + pad);
        k.p = (char *) (mem + n + 1);
        k.left = buflen - pad - ((size_t) n + 1) * sizeof(char *);
        cursor = 0;
        for (uint32_t i = 0; i < n; i++)
                mem[i] = pack_str(&k, nssdb_pair_group_member_next(p, g, &cursor));
        mem[n] = NULL;
        gr->gr_name = pack_str(&k, g->name);
        gr->gr_passwd = pack_str(&k, "*");
        gr->gr_gid = g->gid;
        gr->gr_mem = mem;
        return 0;
}

/* ---- names ---- */

static void ascii_lower(char *d, const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                d[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char) (s[i] + ('a' - 'A')) : s[i];
        d[n] = 0;
}

struct name_parts {
        char local[NSSDB_NAME_MAX + 1];          /* the local account name */
        char idp[2 * NSSDB_NAME_MAX + 2];        /* lowercased IdP user name, input of uidmap */
};

/*
 * How NAME maps to a cloudauth account: a bare name or a name of the
 * default domain is the bare local name; a name of another allowed domain
 * keeps its domain. -ESRCH when the name cannot be ours.
 */
static int name_resolve(const struct nssdb *db, const char *name, struct name_parts *ret) {
        struct nssdb_settings s;
        const char *at = strchr(name, '@');
        size_t n = strlen(name);
        char lower[NSSDB_NAME_MAX + 1];

        nssdb_settings_get(db, &s);
        ascii_lower(lower, name, n);
        if (!at) {
                if (!s.default_domain || n + 1 + strlen(s.default_domain) >= sizeof(ret->idp))
                        return -ESRCH;
                memcpy(ret->local, lower, n + 1);
                memcpy(ret->idp, lower, n);
                ret->idp[n] = '@';
                strcpy(ret->idp + n + 1, s.default_domain);
                return 0;
        }
        {
                size_t local_len = (size_t) (at - name);
                const char *domain = lower + local_len + 1;

                if (local_len == 0 || !*domain || strchr(domain, '@'))
                        return -ESRCH;
                memcpy(ret->idp, lower, n + 1);
                if (s.default_domain && strcmp(domain, s.default_domain) == 0) {
                        memcpy(ret->local, lower, local_len);
                        ret->local[local_len] = 0;
                } else if (nssdb_domain_allowed(db, domain))
                        memcpy(ret->local, lower, n + 1);
                else
                        return -ESRCH;
                return 0;
        }
}

/* A cached user by the name as given, else by the local name it maps to. */
static int user_find(const struct nssdb_pair *p, const char *name, struct name_parts *parts, bool *ret_mapped,
                     struct nssdb_user_view *ret) {
        *ret_mapped = false;
        if (nssdb_pair_user_by_name(p, name, ret) == 0)
                return 0;
        if (name_resolve(p->base, name, parts) < 0)
                return -ESRCH;
        *ret_mapped = true;
        return nssdb_pair_user_by_name(p, parts->local, ret);
}

/*
 * Whether this lookup may synthesise a user the file does not hold: only in
 * the OpenSSH server (sshd; sshd-session from OpenSSH 9.8, where the
 * monitor looks the user up) running with real UID 0. sshd gives a name it
 * cannot resolve a fixed wrong password instead of the typed one, so a
 * first login needs the entry there; nowhere else does. argv[0] is the
 * caller's to choose, the real UID is not: a process with real UID 0 is
 * root's, and a local user who runs a set-user-ID program still has his
 * own. Asked only after the file had no such user, so hits cost nothing,
 * and getuid() is reached only inside sshd.
 */
static bool synth_wanted(void) {
        const char *prog = program_invocation_short_name;

        return prog && (strcmp(prog, "sshd") == 0 || strcmp(prog, "sshd-session") == 0) && getuid() == 0;
}

/* ---- passwd ---- */

NSS_PUBLIC enum nss_status _nss_cloudauth_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t buflen,
                                                     int *errnop);
NSS_PUBLIC enum nss_status _nss_cloudauth_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen,
                                                     int *errnop);
NSS_PUBLIC enum nss_status _nss_cloudauth_setpwent(int stayopen);
NSS_PUBLIC enum nss_status _nss_cloudauth_getpwent_r(struct passwd *pw, char *buf, size_t buflen, int *errnop);
NSS_PUBLIC enum nss_status _nss_cloudauth_endpwent(void);
NSS_PUBLIC enum nss_status _nss_cloudauth_getgrnam_r(const char *name, struct group *gr, char *buf, size_t buflen,
                                                     int *errnop);
NSS_PUBLIC enum nss_status _nss_cloudauth_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t buflen,
                                                     int *errnop);
NSS_PUBLIC enum nss_status _nss_cloudauth_setgrent(int stayopen);
NSS_PUBLIC enum nss_status _nss_cloudauth_getgrent_r(struct group *gr, char *buf, size_t buflen, int *errnop);
NSS_PUBLIC enum nss_status _nss_cloudauth_endgrent(void);
NSS_PUBLIC enum nss_status _nss_cloudauth_initgroups_dyn(const char *user, gid_t group, long int *start,
                                                         long int *size, gid_t **groupsp, long int limit,
                                                         int *errnop);

static int getpwnam_locked(const char *name, struct passwd *pw, char *buf, size_t buflen) {
        struct nssdb_pair p;
        struct nssdb_user_view u;
        struct nssdb_settings s;
        struct name_parts parts;
        bool mapped;
        uint32_t uid;
        int r;

        if ((r = db_acquire(&p)) < 0)
                return r;
        if (user_find(&p, name, &parts, &mapped, &u) == 0)
                return pack_passwd(p.base, u.name, u.uid, u.gecos, pw, buf, buflen);
        if (!mapped || !synth_wanted())
                return -ESRCH;

        /*
         * Not cached yet, of an allowed domain, asked by sshd before authentication: synthesise
         * when the policy could let the name in, so sshd hands the password to PAM.
         * Never for an all-digit name: chown, setpriv and friends try a number as a name first.
         */
        if (!nssdb_synth_admits(p.base, parts.local, parts.idp) ||
            strspn(parts.local, "0123456789") == strlen(parts.local))
                return -ESRCH;
        nssdb_settings_get(p.base, &s);
        uid = uidmap_user_uid(s.scope, parts.idp, s.uid_min, s.uid_max);
        if (nssdb_pair_id_used(&p, uid))
                return -ESRCH;
        return pack_passwd(p.base, parts.local, uid, "", pw, buf, buflen);
}

enum nss_status _nss_cloudauth_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t buflen,
                                          int *errnop) {
        int saved = errno, r;
        enum nss_status st;

        if (!nssdb_name_valid(name))
                return NSS_STATUS_NOTFOUND;
        pthread_mutex_lock(&db_lock);
        r = getpwnam_locked(name, pw, buf, buflen);
        pthread_mutex_unlock(&db_lock);
        st = status_from(r, errnop);
        errno = saved;
        return st;
}

static int getpwuid_locked(uid_t uid, struct passwd *pw, char *buf, size_t buflen) {
        struct nssdb_pair p;
        struct nssdb_user_view u;
        int r;

        if ((r = db_acquire(&p)) < 0)
                return r;
        if ((r = nssdb_pair_user_by_uid(&p, (uint32_t) uid, &u)) < 0)
                return r;
        return pack_passwd(p.base, u.name, u.uid, u.gecos, pw, buf, buflen);
}

enum nss_status _nss_cloudauth_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen, int *errnop) {
        int saved = errno, r;
        enum nss_status st;

        if (uid == (uid_t) -1)
                return NSS_STATUS_NOTFOUND;
        pthread_mutex_lock(&db_lock);
        r = getpwuid_locked(uid, pw, buf, buflen);
        pthread_mutex_unlock(&db_lock);
        st = status_from(r, errnop);
        errno = saved;
        return st;
}

enum nss_status _nss_cloudauth_setpwent(int stayopen) {
        pthread_mutex_lock(&db_lock);
        pw_cursor = 0;
        pthread_mutex_unlock(&db_lock);
        return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_cloudauth_endpwent(void) {
        return _nss_cloudauth_setpwent(0);
}

static int getpwent_locked(struct passwd *pw, char *buf, size_t buflen) {
        struct nssdb_pair p;
        struct nssdb_user_view u;
        size_t next;
        int r;

        if ((r = db_acquire(&p)) < 0)
                return r;
        for (;;) {
                if ((r = nssdb_pair_user_next(&p, pw_cursor, &u, &next)) < 0)
                        return r;
                r = pack_passwd(p.base, u.name, u.uid, u.gecos, pw, buf, buflen);
                /* Only a delivered or a refused entry advances: after ERANGE the caller retries the same one. */
                if (r != -ERANGE)
                        pw_cursor = next;
                if (r != -EILSEQ)
                        return r;
        }
}

enum nss_status _nss_cloudauth_getpwent_r(struct passwd *pw, char *buf, size_t buflen, int *errnop) {
        int saved = errno, r;
        enum nss_status st;

        pthread_mutex_lock(&db_lock);
        r = getpwent_locked(pw, buf, buflen);
        pthread_mutex_unlock(&db_lock);
        st = status_from(r, errnop);
        errno = saved;
        return st;
}

/* ---- group ---- */

static int getgrnam_locked(const char *name, struct group *gr, char *buf, size_t buflen) {
        struct nssdb_pair p;
        struct nssdb_pair_group_view g;
        int r;

        if ((r = db_acquire(&p)) < 0 || (r = nssdb_pair_group_by_name(&p, name, &g)) < 0)
                return r;
        return pack_group(&p, &g, gr, buf, buflen);
}

enum nss_status _nss_cloudauth_getgrnam_r(const char *name, struct group *gr, char *buf, size_t buflen,
                                          int *errnop) {
        int saved = errno, r;
        enum nss_status st;

        if (!nssdb_name_valid(name))
                return NSS_STATUS_NOTFOUND;
        pthread_mutex_lock(&db_lock);
        r = getgrnam_locked(name, gr, buf, buflen);
        pthread_mutex_unlock(&db_lock);
        st = status_from(r, errnop);
        errno = saved;
        return st;
}

static int getgrgid_locked(gid_t gid, struct group *gr, char *buf, size_t buflen) {
        struct nssdb_pair p;
        struct nssdb_pair_group_view g;
        int r;

        if ((r = db_acquire(&p)) < 0 || (r = nssdb_pair_group_by_gid(&p, (uint32_t) gid, &g)) < 0)
                return r;
        return pack_group(&p, &g, gr, buf, buflen);
}

enum nss_status _nss_cloudauth_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t buflen, int *errnop) {
        int saved = errno, r;
        enum nss_status st;

        if (gid == (gid_t) -1)
                return NSS_STATUS_NOTFOUND;
        pthread_mutex_lock(&db_lock);
        r = getgrgid_locked(gid, gr, buf, buflen);
        pthread_mutex_unlock(&db_lock);
        st = status_from(r, errnop);
        errno = saved;
        return st;
}

enum nss_status _nss_cloudauth_setgrent(int stayopen) {
        pthread_mutex_lock(&db_lock);
        gr_cursor = 0;
        pthread_mutex_unlock(&db_lock);
        return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_cloudauth_endgrent(void) {
        return _nss_cloudauth_setgrent(0);
}

static int getgrent_locked(struct group *gr, char *buf, size_t buflen) {
        struct nssdb_pair p;
        struct nssdb_pair_group_view g;
        size_t next;
        int r;

        if ((r = db_acquire(&p)) < 0)
                return r;
        for (;;) {
                if ((r = nssdb_pair_group_next(&p, gr_cursor, &g, &next)) < 0)
                        return r;
                r = pack_group(&p, &g, gr, buf, buflen);
                if (r != -ERANGE)
                        gr_cursor = next;
                if (r != -EILSEQ)
                        return r;
        }
}

enum nss_status _nss_cloudauth_getgrent_r(struct group *gr, char *buf, size_t buflen, int *errnop) {
        int saved = errno, r;
        enum nss_status st;

        pthread_mutex_lock(&db_lock);
        r = getgrent_locked(gr, buf, buflen);
        pthread_mutex_unlock(&db_lock);
        st = status_from(r, errnop);
        errno = saved;
        return st;
}

/* ---- initgroups ---- */

static bool gid_listed(const gid_t *v, long int n, gid_t gid) {
        for (long int i = 0; i < n; i++)
                if (v[i] == gid)
                        return true;
        return false;
}

/*
 * glibc's contract: append to (*groupsp)[*start..], growing the array
 * (realloc, *size updated) but never beyond limit when limit > 0; the
 * primary group is passed as group and is already in the list.
 */
static int initgroups_locked(const char *user, gid_t group, long int *start, long int *size, gid_t **groupsp,
                             long int limit) {
        struct nssdb_pair p;
        struct nssdb_user_view u;
        struct name_parts parts;
        bool mapped;
        int r;

        if ((r = db_acquire(&p)) < 0 || (r = user_find(&p, user, &parts, &mapped, &u)) < 0)
                return r;
        for (uint32_t i = 0; i < u.n_gids; i++) {
                gid_t gid = u.gids[i];

                if (gid == group || gid_listed(*groupsp, *start, gid))
                        continue;
                if (*start == *size) {
                        long int nsize;
                        gid_t *ng;

                        if (limit > 0 && *size >= limit)
                                break;
                        nsize = *size > 0 ? 2 * *size : 16;
                        if (limit > 0 && nsize > limit)
                                nsize = limit;
                        ng = realloc(*groupsp, (size_t) nsize * sizeof(gid_t));
                        if (!ng)
                                return -ENOMEM;
                        *groupsp = ng;
                        *size = nsize;
                }
                (*groupsp)[(*start)++] = gid;
        }
        return 0;
}

enum nss_status _nss_cloudauth_initgroups_dyn(const char *user, gid_t group, long int *start, long int *size,
                                              gid_t **groupsp, long int limit, int *errnop) {
        int saved = errno, r;
        enum nss_status st;

        if (!nssdb_name_valid(user) || !start || !size || !groupsp)
                return NSS_STATUS_NOTFOUND;
        pthread_mutex_lock(&db_lock);
        r = initgroups_locked(user, group, start, size, groupsp, limit);
        pthread_mutex_unlock(&db_lock);
        if (r == -ENOMEM) {
                *errnop = ENOMEM;
                st = NSS_STATUS_TRYAGAIN;
        } else
                st = status_from(r, errnop);
        errno = saved;
        return st;
}
