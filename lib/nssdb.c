/* SPDX-License-Identifier: MIT */
/*
 * nss.db file format, version 3.
 *
 * Integers are 32 or 64 bit in the writing host's byte order (the file is
 * per host; a reader on another byte order sees a wrong byte_order mark and
 * rejects the file). Every section starts at a multiple of 8 so records and
 * id arrays can be used in place from the mapping.
 *
 *   header      struct nssdb_header below: magic "CLOUDAUTHNSS\0" (padded to
 *               16 bytes), version, header_size, file_size, header_crc
 *               (CRC32C of the header with this field zero), body_crc (CRC32C
 *               of bytes header_size..file_size), byte_order 0x01020304,
 *               hash_seed, settings (uid range, pool offsets of scope,
 *               default_domain, home and shell templates), flags, counts,
 *               the slot counts of the four hash tables, the offset and size
 *               of every section, then generation and base_generation. A base
 *               file (nss.db) has a random nonzero generation and
 *               base_generation 0; a delta (nss.delta.db) has generation 0
 *               and the generation of the base it extends. Random rather
 *               than counted: a writer that rebuilds a lost or corrupt base
 *               cannot know the old number, and must still never match a
 *               delta that base left behind.
 *   pool        NUL-terminated strings; offset 0 is always "". The last byte
 *               of the pool is NUL, so any offset inside it starts a string
 *               that ends inside it. NSSDB_NONE marks an absent string.
 *   domains     n_domains u32 pool offsets: extra domains whose names NSS
 *               maps (and may synthesise, see below).
 *   synth       n_synth u32 pool offsets, sorted by strcmp, no duplicates:
 *               the names allow_users lists, as configured (a local name or
 *               an IdP name). NSS synthesises an entry for a user it does
 *               not hold only for these, or, when flags has
 *               NSSDB_FLAG_SYNTH_ANY (the policy admits by group, role or
 *               "*"), for any name of the default domain or of domains.
 *   users       n_users records {name, uid, gecos, gids, n_gids}: name and
 *               gecos are pool offsets, gids an index into the gids array.
 *   gids        u32 supplementary gids of all users, each user's list sorted
 *               and without duplicates or the user's own gid.
 *   groups      n_groups records {name, gid, members, n_members, flags}.
 *               Groups 0..n_users-1 are the private groups of users 0..n-1
 *               (flags bit 0 set; members is the user index, n_members 1).
 *               The rest are cloudauth groups; members indexes the members
 *               array.
 *   members     u32 user indices, each cloudauth group's run in user order:
 *               the users whose gid list contains the group's gid.
 *   tables      four open-addressing hash tables with linear probing: user
 *               by name, user by uid, group by name, group by gid. A slot
 *               holds record index + 1, 0 is empty. Slot counts are powers of
 *               two >= 2 * entries (so probing always meets an empty slot).
 *               Names hash with FNV-1a 64 whose offset basis is XORed with
 *               hash_seed (random per file, so a colliding set of names
 *               chosen in advance stops colliding at the next write); ids
 *               hash as the high 32 bits of id * 0x9e3779b97f4a7c15. The
 *               start slot is hash & (slots - 1).
 *
 * Duplicates are refused by the writer with -EINVAL: two users with one
 * name or uid, two groups with one name or gid, a group named like a user
 * (they share the group-name table through private groups) or a group gid
 * equal to a uid.
 *
 * nssdb_open() checks everything once (checksums, every offset, index and
 * count against its section), so lookups afterwards only follow
 * validated indices: O(1), no allocation, no system call.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "macro.h"
#include "fileio.h"
#include "nssdb.h"

#define NSSDB_MAGIC "CLOUDAUTHNSS"
#define NSSDB_VERSION 3u
#define NSSDB_BYTE_ORDER 0x01020304u
#define NSSDB_NONE UINT32_MAX
#define NSSDB_GROUP_PRIVATE 1u
#define NSSDB_TEXT_MAX 4096
#define NSSDB_FLAG_SYNTH_ANY 1u
#define NSSDB_SYNTH_MAX 4096u

enum {
        SECTION_POOL,
        SECTION_DOMAINS,
        SECTION_USERS,
        SECTION_GIDS,
        SECTION_GROUPS,
        SECTION_MEMBERS,
        SECTION_USER_BY_NAME,
        SECTION_USER_BY_UID,
        SECTION_GROUP_BY_NAME,
        SECTION_GROUP_BY_GID,
        SECTION_SYNTH,
        _SECTION_MAX,
};

struct nssdb_section {
        uint32_t offset;
        uint32_t size;
};

struct nssdb_header {
        char magic[16];
        uint32_t version;
        uint32_t header_size;
        uint64_t file_size;
        uint32_t header_crc;
        uint32_t body_crc;
        uint32_t byte_order;
        uint32_t flags;
        uint64_t hash_seed;
        uint32_t uid_min, uid_max;
        uint32_t scope, default_domain, home, shell;
        uint32_t n_users, n_groups, n_gids, n_members, n_domains;
        uint32_t slots_user_name, slots_user_uid, slots_group_name, slots_group_gid;
        uint32_t n_synth;
        struct nssdb_section section[_SECTION_MAX];
        uint64_t generation;
        uint64_t base_generation;
};
_Static_assert(sizeof(struct nssdb_header) == 224, "header layout is part of the format");

struct nssdb_user_rec {
        uint32_t name, uid, gecos, gids, n_gids;
};

struct nssdb_group_rec {
        uint32_t name, gid, members, n_members, flags;
};

struct nssdb {
        const uint8_t *map;
        size_t size;
        uint64_t seed;
        const char *pool;
        uint32_t pool_size;
        const struct nssdb_header *h;
        const uint32_t *domains;
        const uint32_t *synth;
        const struct nssdb_user_rec *users;
        const uint32_t *gids;
        const struct nssdb_group_rec *groups;
        const uint32_t *members;
        const uint32_t *t_user_name, *t_user_uid, *t_group_name, *t_group_gid;
        uint32_t m_user_name, m_user_uid, m_group_name, m_group_gid; /* slots - 1 */
};

/* ---- CRC32C (Castagnoli, reflected polynomial 0x82f63b78) ---- */

static uint32_t crc32c_table[256];
static int crc32c_hw = -1;

static void crc32c_init(void) {
        for (uint32_t i = 0; i < 256; i++) {
                uint32_t c = i;
                for (unsigned k = 0; k < 8; k++)
                        c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
                crc32c_table[i] = c;
        }
#if defined(__x86_64__)
        {
                unsigned a, b, c, d;
                crc32c_hw = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2);
        }
#else
        crc32c_hw = 0;
#endif
}

/*
 * GF(2) arithmetic modulo the CRC polynomial, in the reflected bit order the
 * CRC uses (bit 31 is x^0). With it, the CRC of A||B follows from the CRCs
 * of A and B: crc(A||B) = crc(A) * x^(8|B|) + crc(B).
 */
static uint32_t gf2_mul(uint32_t a, uint32_t b) {
        uint32_t p = 0;

        for (uint32_t m = 1u << 31; m; m >>= 1) {
                if (a & m)
                        p ^= b;
                b = (b >> 1) ^ (0x82f63b78u & (0u - (b & 1)));
        }
        return p;
}

/* x^(8n) mod P by square and multiply. */
static uint32_t gf2_x8n(uint64_t n) {
        uint32_t r = 1u << 31, base = 1u << 23; /* x^0, x^8 */

        for (; n; n >>= 1) {
                if (n & 1)
                        r = gf2_mul(r, base);
                base = gf2_mul(base, base);
        }
        return r;
}

static uint32_t crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
        return gf2_mul(crc_a, gf2_x8n(len_b)) ^ crc_b;
}

#if defined(__x86_64__)
/* SSE4.2 has CRC32C as an instruction: ~10x the table speed, which matters
 * because every process that opens the db checksums all of it once. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t n) {
        uint64_t c = crc;

        for (; n > 0 && ((uintptr_t) p & 7); n--, p++)
                c = __builtin_ia32_crc32qi((uint32_t) c, *p);
        for (; n >= 8; n -= 8, p += 8) {
                uint64_t v;
                memcpy(&v, p, 8);
                c = __builtin_ia32_crc32di(c, v);
        }
        for (; n > 0; n--, p++)
                c = __builtin_ia32_crc32qi((uint32_t) c, *p);
        return (uint32_t) c;
}

/*
 * The instruction has a latency of 3 cycles but issues one per cycle, so
 * three independent streams over three thirds of a large buffer run ~3x
 * faster than one; their CRCs are then combined. Large files are exactly
 * the case (nss.db is checksummed whole by every writer and every process
 * that maps it).
 */
#define CRC_STRIPE_MIN (64u * 1024)
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42_3way(uint32_t crc, const uint8_t *p, size_t n) {
        size_t third = (n / 3) & ~(size_t) 7;
        const uint8_t *q = p + third, *r = p + 2 * third;
        uint64_t c0 = crc, c1 = 0xffffffffu, c2 = 0xffffffffu;

        for (size_t i = 0; i < third; i += 8) {
                uint64_t v0, v1, v2;

                memcpy(&v0, p + i, 8);
                memcpy(&v1, q + i, 8);
                memcpy(&v2, r + i, 8);
                c0 = __builtin_ia32_crc32di(c0, v0);
                c1 = __builtin_ia32_crc32di(c1, v1);
                c2 = __builtin_ia32_crc32di(c2, v2);
        }
        c2 = crc32c_sse42((uint32_t) c2, r + third, n - 3 * third);
        /* Streams 1 and 2 started from the conditioned initial value as if alone; combining
         * works on finished CRCs, so finish, combine, and unfinish for the caller. */
        {
                uint32_t a = ~(uint32_t) c0, b = ~(uint32_t) c1, d = ~(uint32_t) c2;

                a = crc32c_combine(a, b, third);
                a = crc32c_combine(a, d, n - 2 * third);
                return ~a;
        }
}
#endif

uint32_t nssdb_crc32c(uint32_t crc, const void *data, size_t len) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        const uint8_t *p = data;
        uint32_t c = ~crc;

        pthread_once(&once, crc32c_init);
#if defined(__x86_64__)
        if (crc32c_hw)
                return ~(len >= CRC_STRIPE_MIN ? crc32c_sse42_3way(c, p, len) : crc32c_sse42(c, p, len));
#endif
        for (size_t i = 0; i < len; i++)
                c = crc32c_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
        return ~c;
}

/* ---- hashing ---- */

static inline uint64_t hash_name(uint64_t seed, const char *s) {
        uint64_t h = 0xcbf29ce484222325ull ^ seed;

        for (; *s; s++) {
                h ^= (uint8_t) *s;
                h *= 0x100000001b3ull;
        }
        return h;
}

static inline uint64_t hash_id(uint32_t id) {
        return ((uint64_t) id * 0x9e3779b97f4a7c15ull) >> 32;
}

static uint32_t table_slots(size_t n) {
        uint32_t s = 8;

        while (s < 2 * n)
                s <<= 1;
        return s;
}

/* ---- names ---- */

/*
 * One table lookup per byte instead of a chain of compares: the writer checks
 * every name and gecos of every user, which showed up in its profile.
 * Bit 0: allowed in a name; bit 1: allowed in text; bit 2: allowed in text
 * that may hold ':'. NUL is in no class, so it ends every scan.
 */
#define CLASS_NAME 1u
#define CLASS_TEXT 2u
#define CLASS_TEXT_COLON 4u
#define CLASS_ROW(c)                                                                                             \
        (uint8_t) (((c) > ' ' && (c) != 0x7f && (c) != '/' && (c) != ':' && (c) != ',' ? CLASS_NAME : 0) |      \
                   ((c) >= ' ' && (c) != 0x7f && (c) != ':' ? CLASS_TEXT : 0) |                                  \
                   ((c) >= ' ' && (c) != 0x7f ? CLASS_TEXT_COLON : 0))
#define CLASS_ROW4(c) CLASS_ROW(c), CLASS_ROW((c) + 1), CLASS_ROW((c) + 2), CLASS_ROW((c) + 3)
#define CLASS_ROW16(c) CLASS_ROW4(c), CLASS_ROW4((c) + 4), CLASS_ROW4((c) + 8), CLASS_ROW4((c) + 12)
#define CLASS_ROW64(c) CLASS_ROW16(c), CLASS_ROW16((c) + 16), CLASS_ROW16((c) + 32), CLASS_ROW16((c) + 48)
static const uint8_t char_class[256] = { CLASS_ROW64(0u), CLASS_ROW64(64u), CLASS_ROW64(128u), CLASS_ROW64(192u) };

/* The length of s when every byte is in class and there are at most max of them, else SIZE_MAX. */
static size_t class_span(const char *s, uint8_t class, size_t max) {
        const unsigned char *p = (const unsigned char *) s;
        size_t n = 0;

        while (char_class[p[n]] & class)
                if (++n > max)
                        return SIZE_MAX;
        return p[n] == 0 ? n : SIZE_MAX;
}

/* ---- text a terminal prints as it is ---- */

static bool codepoint_safe(uint32_t cp) {
        /* C1 controls (U+009B is CSI to many terminals) and the bidirectional
         * controls that make a name or a line read differently from what it is. */
        return !(cp >= 0x80 && cp <= 0x9f) && cp != 0x061c && cp != 0x200e && cp != 0x200f &&
               !(cp >= 0x202a && cp <= 0x202e) && !(cp >= 0x2066 && cp <= 0x2069);
}

/*
 * The length of the UTF-8 character at p when it is safe to print, else 0:
 * a C0 control, DEL, C1 control, bidirectional control, or a byte that does
 * not start a well-formed sequence (overlong, surrogate, past U+10FFFF,
 * truncated; a lone 0x9b byte is CSI to an 8-bit terminal).
 */
static size_t utf8_safe_len(const unsigned char *p) {
        uint32_t cp;
        size_t n;

        if (p[0] < 0x80)
                return p[0] >= 0x20 && p[0] != 0x7f ? 1 : 0;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                n = 2, cp = p[0] & 0x1fu;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
                n = 3, cp = p[0] & 0x0fu;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
                n = 4, cp = p[0] & 0x07u;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                /* A NUL fails this too, so a truncated sequence never reads past the string. */
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (p[i] & 0x3fu);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return codepoint_safe(cp) ? n : 0;
}

bool nssdb_text_safe(const char *s) {
        const unsigned char *p = (const unsigned char *) s;

        if (!s)
                return false;
        while (*p) {
                size_t n;

                /* Printable ASCII, the common case, without decoding. */
                if (*p >= 0x20 && *p < 0x7f) {
                        p++;
                        continue;
                }
                if ((n = utf8_safe_len(p)) == 0)
                        return false;
                p += n;
        }
        return true;
}

/* The length of a valid name, else SIZE_MAX. */
static size_t name_len(const char *name) {
        size_t n;

        if (!name || name[0] == '-')
                return SIZE_MAX;
        n = class_span(name, CLASS_NAME, NSSDB_NAME_MAX);
        return n == 0 || (n != SIZE_MAX && !nssdb_text_safe(name)) ? SIZE_MAX : n;
}

bool nssdb_name_valid(const char *name) {
        return name_len(name) != SIZE_MAX;
}

/* Free text that ends up in a passwd line: no field separator, no control characters. */
static size_t text_len(const char *s, bool allow_colon) {
        return class_span(s, allow_colon ? CLASS_TEXT_COLON : CLASS_TEXT, NSSDB_TEXT_MAX);
}

static bool text_valid(const char *s, bool allow_colon) {
        return text_len(s, allow_colon) != SIZE_MAX;
}

/* A gecos the writer takes: bounded and without the field separator; what a
 * terminal must not see is dropped when it is written. */
static size_t gecos_len(const char *s) {
        size_t n = strnlen(s, NSSDB_TEXT_MAX + 1);

        return n > NSSDB_TEXT_MAX || memchr(s, ':', n) ? SIZE_MAX : n;
}

bool nssdb_gecos_valid(const char *s) {
        return s && gecos_len(s) != SIZE_MAX;
}

static bool ascii_caseeq(const char *a, const char *b) {
        for (;; a++, b++) {
                unsigned char x = (unsigned char) *a, y = (unsigned char) *b;

                if (x >= 'A' && x <= 'Z')
                        x += 'a' - 'A';
                if (y >= 'A' && y <= 'Z')
                        y += 'a' - 'A';
                if (x != y)
                        return false;
                if (!x)
                        return true;
        }
}

/* ---- writer ---- */

struct pool_builder {
        char *base;
        uint32_t used;
};

static uint32_t pool_add(struct pool_builder *p, const char *s) {
        size_t n;
        uint32_t off;

        if (!s)
                return NSSDB_NONE;
        if (!*s)
                return 0;
        n = strlen(s) + 1;
        off = p->used;
        memcpy(p->base + off, s, n);
        p->used += (uint32_t) n;
        return off;
}

/* s without the characters nssdb_text_safe() refuses (0 for "" or nothing left). */
static uint32_t pool_add_clean(struct pool_builder *p, const char *s) {
        const unsigned char *q = (const unsigned char *) s;
        uint32_t off = p->used;
        char *d = p->base + off;

        while (*q) {
                size_t n = utf8_safe_len(q);

                if (n == 0)
                        q++;
                else {
                        memcpy(d, q, n);
                        d += n;
                        q += n;
                }
        }
        if (d == p->base + off)
                return 0;
        *d++ = 0;
        p->used += (uint32_t) (d - (p->base + off));
        return off;
}

static void gids_sort(uint32_t *v, size_t n) {
        for (size_t i = 1; i < n; i++) {
                uint32_t x = v[i];
                size_t j = i;

                for (; j > 0 && v[j - 1] > x; j--)
                        v[j] = v[j - 1];
                v[j] = x;
        }
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
        return x < y ? -1 : x > y;
}

/* Sort, drop duplicates and the user's own gid; returns the new count. */
static uint32_t gids_normalize(uint32_t *v, size_t n, uint32_t own) {
        size_t k = 0;

        if (n <= 32)
                gids_sort(v, n);
        else
                qsort(v, n, sizeof(*v), cmp_u32);
        for (size_t i = 0; i < n; i++) {
                if (v[i] == own || (k > 0 && v[k - 1] == v[i]))
                        continue;
                v[k++] = v[i];
        }
        return (uint32_t) k;
}

static int table_insert_name(uint32_t *t, uint32_t mask, uint64_t h, const char *pool, const uint32_t *name_of,
                             size_t stride, const char *name, uint32_t index) {
        for (uint32_t i = (uint32_t) (h & mask);; i = (i + 1) & mask) {
                uint32_t v = t[i];

                if (v == 0) {
                        t[i] = index + 1;
                        return 0;
                }
                if (strcmp(pool + *(const uint32_t *) ((const char *) name_of + (size_t) (v - 1) * stride), name) == 0)
                        return -EINVAL;
        }
}

static int table_insert_id(uint32_t *t, uint32_t mask, const uint32_t *id_of, size_t stride, uint32_t id,
                           uint32_t index) {
        for (uint32_t i = (uint32_t) (hash_id(id) & mask);; i = (i + 1) & mask) {
                uint32_t v = t[i];

                if (v == 0) {
                        t[i] = index + 1;
                        return 0;
                }
                if (*(const uint32_t *) ((const char *) id_of + (size_t) (v - 1) * stride) == id)
                        return -EINVAL;
        }
}

static int table_find_id(const uint32_t *t, uint32_t mask, const uint32_t *id_of, size_t stride, uint32_t id,
                         uint32_t *ret_index) {
        for (uint32_t n = 0, i = (uint32_t) (hash_id(id) & mask); n <= mask; n++, i = (i + 1) & mask) {
                uint32_t v = t[i];

                if (v == 0)
                        return -ESRCH;
                if (*(const uint32_t *) ((const char *) id_of + (size_t) (v - 1) * stride) == id) {
                        *ret_index = v - 1;
                        return 0;
                }
        }
        return -ESRCH;
}

static int cmp_str_ptr(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The synth names sorted, without duplicates, into *ret (NULL when there are none). */
static int synth_sorted(const struct nssdb_settings *s, const char ***ret, size_t *ret_n) {
        _cleanup_free_ const char **v = NULL;
        size_t n = 0, k = 0;

        for (char *const *u = s->synth_names; u && *u; u++, n++)
                if (!nssdb_name_valid(*u) || n >= NSSDB_SYNTH_MAX)
                        return -EINVAL;
        if (n > 0) {
                v = malloc(n * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                memcpy(v, s->synth_names, n * sizeof(*v));
                qsort(v, n, sizeof(*v), cmp_str_ptr);
                for (size_t i = 0; i < n; i++)
                        if (k == 0 || strcmp(v[k - 1], v[i]) != 0)
                                v[k++] = v[i];
        }
        *ret = TAKE_PTR(v);
        *ret_n = k;
        return 0;
}

static int settings_check(const struct nssdb_settings *s, uint64_t *pool_size, size_t *n_domains) {
        size_t n = 0;

        if (!s || !s->scope || !s->home || !s->shell || s->uid_min > s->uid_max || s->uid_min == 0 ||
            s->uid_max == UINT32_MAX)
                return -EINVAL;
        if (!text_valid(s->scope, true) || !text_valid(s->home, false) || !text_valid(s->shell, false) ||
            !nssdb_text_safe(s->home) || !nssdb_text_safe(s->shell) ||
            (s->default_domain && !nssdb_name_valid(s->default_domain)))
                return -EINVAL;
        *pool_size += strlen(s->scope) + strlen(s->home) + strlen(s->shell) + 3;
        if (s->default_domain)
                *pool_size += strlen(s->default_domain) + 1;
        for (char *const *d = s->domains; d && *d; d++, n++) {
                if (!nssdb_name_valid(*d) || n >= 4096)
                        return -EINVAL;
                *pool_size += strlen(*d) + 1;
        }
        for (char *const *u = s->synth_names; u && *u; u++)
                *pool_size += strlen(*u) + 1;
        *n_domains = n;
        return 0;
}

/* Readers map whatever file the name points to, so the new contents go to a
 * temp file that replaces the old one in a single rename. */
static int file_replace(const char *path, const void *buf, size_t len) {
        _cleanup_free_ char *tmp = NULL;

        if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
                return -ENOMEM;
        return write_file_atomic(tmp, path, buf, len, 0644, true);
}

static size_t align8(size_t n) {
        return (n + 7) & ~(size_t) 7;
}

static uint64_t random_u64(void) {
        uint64_t v = 0;

        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t) sizeof(v)) {
                struct timespec ts;

                clock_gettime(CLOCK_REALTIME, &ts);
                v = ((uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec) * 0x9e3779b97f4a7c15ull ^
                    (uint64_t) getpid();
        }
        return v;
}

static int write_file(const char *path, uint64_t generation, uint64_t base_generation,
                      const struct nssdb_settings *s, const struct nssdb_user_in *users, size_t n_users,
                      const struct nssdb_group_in *groups, size_t n_groups) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ uint32_t *member_fill = NULL;
        _cleanup_free_ const char **synth_names = NULL;
        struct nssdb_header *h;
        struct pool_builder pool;
        struct nssdb_user_rec *urec;
        struct nssdb_group_rec *grec;
        uint32_t *gids, *members, *domains, *synth, *t_un, *t_uu, *t_gn, *t_gg;
        uint32_t s_un, s_uu, s_gn, s_gg;
        uint64_t pool_size = 1, n_gids_total = 0, size, n_members = 0;
        size_t n_domains = 0, n_synth = 0, total_groups, off, pool_reserved, tables_size;
        uint64_t seed;
        int r;

        if (!path || (n_users > 0 && !users) || (n_groups > 0 && !groups))
                return -EINVAL;
        if (n_users > NSSDB_MAX_USERS || n_groups > NSSDB_MAX_USERS || n_users + n_groups > NSSDB_MAX_USERS)
                return -EFBIG;
        if ((r = settings_check(s, &pool_size, &n_domains)) < 0 || (r = synth_sorted(s, &synth_names, &n_synth)) < 0)
                return r;

        for (size_t i = 0; i < n_users; i++) {
                const struct nssdb_user_in *u = &users[i];
                size_t nl = name_len(u->name), gl = u->gecos ? gecos_len(u->gecos) : 0;

                if (nl == SIZE_MAX || gl == SIZE_MAX || u->uid == 0 || u->uid == UINT32_MAX ||
                    (u->n_gids > 0 && !u->gids))
                        return -EINVAL;
                if (u->n_gids > NSSDB_MAX_GIDS_PER_USER)
                        return -EFBIG;
                pool_size += nl + 1 + (u->gecos ? gl + 1 : 0);
                n_gids_total += u->n_gids;
        }
        for (size_t i = 0; i < n_groups; i++) {
                size_t nl = name_len(groups[i].name);

                if (nl == SIZE_MAX || groups[i].gid == 0 || groups[i].gid == UINT32_MAX)
                        return -EINVAL;
                pool_size += nl + 1;
        }
        /* Every gid of every user can make that user a member of one group. */
        if (n_gids_total > UINT32_MAX / 8)
                return -EFBIG;

        total_groups = n_users + n_groups;
        s_un = table_slots(n_users);
        s_uu = table_slots(n_users);
        s_gn = table_slots(total_groups);
        s_gg = table_slots(total_groups);

        /* Worst case sizes first; the gids and members sections shrink to what is used. */
        size = align8(sizeof(struct nssdb_header)) + align8(pool_size) + align8(n_domains * 4) + align8(n_synth * 4) +
               align8(n_users * sizeof(struct nssdb_user_rec)) + align8(n_gids_total * 4) +
               align8(total_groups * sizeof(struct nssdb_group_rec)) + align8(n_gids_total * 4) +
               4ull * ((uint64_t) s_un + s_uu + s_gn + s_gg);
        if (size > NSSDB_MAX_FILE_SIZE)
                return -EFBIG;

        /* Not calloc: every byte that reaches the file is written below, and zeroing megabytes
         * that are then overwritten was a visible part of the cost. What must start as zero
         * (header, hash tables, padding) is cleared explicitly. */
        buf = malloc(size);
        if (!buf)
                return -ENOMEM;
        h = (struct nssdb_header *) buf;
        memset(h, 0, align8(sizeof(*h)));
        seed = random_u64();

        memcpy(h->magic, NSSDB_MAGIC, sizeof(NSSDB_MAGIC));
        h->generation = generation;
        h->base_generation = base_generation;
        h->version = NSSDB_VERSION;
        h->header_size = sizeof(struct nssdb_header);
        h->byte_order = NSSDB_BYTE_ORDER;
        h->hash_seed = seed;
        h->uid_min = s->uid_min;
        h->uid_max = s->uid_max;
        h->n_users = (uint32_t) n_users;
        h->n_groups = (uint32_t) total_groups;
        h->n_domains = (uint32_t) n_domains;
        h->n_synth = (uint32_t) n_synth;
        h->flags = s->synth_any ? NSSDB_FLAG_SYNTH_ANY : 0;
        h->slots_user_name = s_un;
        h->slots_user_uid = s_uu;
        h->slots_group_name = s_gn;
        h->slots_group_gid = s_gg;

        /* Lay out the fixed-size sections; gids and members are placed after filling. */
        off = align8(sizeof(struct nssdb_header));
        pool.base = (char *) buf + off;
        pool.base[0] = 0;
        pool.used = 1;
        h->section[SECTION_POOL].offset = (uint32_t) off;
        pool_reserved = align8(pool_size);
        off += pool_reserved;
        domains = (uint32_t *) (buf + off);
        h->section[SECTION_DOMAINS] = (struct nssdb_section){ (uint32_t) off, (uint32_t) (n_domains * 4) };
        off += align8(n_domains * 4);
        synth = (uint32_t *) (buf + off);
        h->section[SECTION_SYNTH] = (struct nssdb_section){ (uint32_t) off, (uint32_t) (n_synth * 4) };
        off += align8(n_synth * 4);
        urec = (struct nssdb_user_rec *) (buf + off);
        h->section[SECTION_USERS] =
                (struct nssdb_section){ (uint32_t) off, (uint32_t) (n_users * sizeof(struct nssdb_user_rec)) };
        off += align8(n_users * sizeof(struct nssdb_user_rec));
        grec = (struct nssdb_group_rec *) (buf + off);
        h->section[SECTION_GROUPS] =
                (struct nssdb_section){ (uint32_t) off, (uint32_t) (total_groups * sizeof(struct nssdb_group_rec)) };
        off += align8(total_groups * sizeof(struct nssdb_group_rec));
        /* Records are whole u32 fields (no padding); only the 8-byte alignment tails need clearing. */
        memset(buf + h->section[SECTION_DOMAINS].offset + n_domains * 4, 0,
               align8(n_domains * 4) - n_domains * 4);
        memset(buf + h->section[SECTION_SYNTH].offset + n_synth * 4, 0, align8(n_synth * 4) - n_synth * 4);
        memset(buf + h->section[SECTION_USERS].offset + h->section[SECTION_USERS].size, 0,
               align8(h->section[SECTION_USERS].size) - h->section[SECTION_USERS].size);
        memset(buf + h->section[SECTION_GROUPS].offset + h->section[SECTION_GROUPS].size, 0,
               align8(h->section[SECTION_GROUPS].size) - h->section[SECTION_GROUPS].size);
        tables_size = 4 * ((size_t) s_un + s_uu + s_gn + s_gg);
        memset(buf + off, 0, tables_size);
        t_un = (uint32_t *) (buf + off);
        h->section[SECTION_USER_BY_NAME] = (struct nssdb_section){ (uint32_t) off, s_un * 4 };
        off += (size_t) s_un * 4;
        t_uu = (uint32_t *) (buf + off);
        h->section[SECTION_USER_BY_UID] = (struct nssdb_section){ (uint32_t) off, s_uu * 4 };
        off += (size_t) s_uu * 4;
        t_gn = (uint32_t *) (buf + off);
        h->section[SECTION_GROUP_BY_NAME] = (struct nssdb_section){ (uint32_t) off, s_gn * 4 };
        off += (size_t) s_gn * 4;
        t_gg = (uint32_t *) (buf + off);
        h->section[SECTION_GROUP_BY_GID] = (struct nssdb_section){ (uint32_t) off, s_gg * 4 };
        off += (size_t) s_gg * 4;
        gids = (uint32_t *) (buf + off);
        h->section[SECTION_GIDS].offset = (uint32_t) off;

        h->scope = pool_add(&pool, s->scope);
        h->default_domain = pool_add(&pool, s->default_domain);
        h->home = pool_add(&pool, s->home);
        h->shell = pool_add(&pool, s->shell);
        for (size_t i = 0; i < n_domains; i++)
                domains[i] = pool_add(&pool, s->domains[i]);
        for (size_t i = 0; i < n_synth; i++)
                synth[i] = pool_add(&pool, synth_names[i]);

        /* Users and their private groups; the tables refuse duplicates as they fill. */
        for (size_t i = 0; i < n_users; i++) {
                const struct nssdb_user_in *u = &users[i];
                uint64_t hn;

                urec[i].name = pool_add(&pool, u->name);
                urec[i].uid = u->uid;
                urec[i].gecos = u->gecos ? pool_add_clean(&pool, u->gecos) : 0;
                urec[i].gids = h->n_gids;
                if (u->n_gids > 0)
                        memcpy(gids + h->n_gids, u->gids, u->n_gids * sizeof(uint32_t));
                urec[i].n_gids = gids_normalize(gids + h->n_gids, u->n_gids, u->uid);
                h->n_gids += urec[i].n_gids;

                grec[i] = (struct nssdb_group_rec){ urec[i].name, u->uid, (uint32_t) i, 1, NSSDB_GROUP_PRIVATE };

                hn = hash_name(seed, u->name);
                if (table_insert_name(t_un, s_un - 1, hn, pool.base, &urec[0].name, sizeof(*urec), u->name,
                                      (uint32_t) i) < 0 ||
                    table_insert_id(t_uu, s_uu - 1, &urec[0].uid, sizeof(*urec), u->uid, (uint32_t) i) < 0 ||
                    table_insert_name(t_gn, s_gn - 1, hn, pool.base, &grec[0].name, sizeof(*grec), u->name,
                                      (uint32_t) i) < 0 ||
                    table_insert_id(t_gg, s_gg - 1, &grec[0].gid, sizeof(*grec), u->uid, (uint32_t) i) < 0)
                        return -EINVAL;
        }
        for (size_t j = 0; j < n_groups; j++) {
                uint32_t k = (uint32_t) (n_users + j);

                grec[k] = (struct nssdb_group_rec){ pool_add(&pool, groups[j].name), groups[j].gid, 0, 0, 0 };
                if (table_insert_name(t_gn, s_gn - 1, hash_name(seed, groups[j].name), pool.base, &grec[0].name,
                                      sizeof(*grec), groups[j].name, k) < 0 ||
                    table_insert_id(t_gg, s_gg - 1, &grec[0].gid, sizeof(*grec), groups[j].gid, k) < 0)
                        return -EINVAL;
        }
        h->section[SECTION_GIDS].size = h->n_gids * 4;
        h->section[SECTION_POOL].size = pool.used;
        memset(pool.base + pool.used, 0, pool_reserved - pool.used);
        memset((uint8_t *) (gids + h->n_gids), 0, align8(h->n_gids * 4) - h->n_gids * 4);

        /* Members: count per cloudauth group, prefix sums, then fill in user order. */
        members = (uint32_t *) (buf + h->section[SECTION_GIDS].offset + align8(h->n_gids * 4));
        h->section[SECTION_MEMBERS].offset = (uint32_t) ((uint8_t *) members - buf);
        for (size_t i = 0; i < n_users; i++)
                for (uint32_t k = 0; k < urec[i].n_gids; k++) {
                        uint32_t gi;

                        if (table_find_id(t_gg, s_gg - 1, &grec[0].gid, sizeof(*grec), gids[urec[i].gids + k],
                                          &gi) == 0 &&
                            !(grec[gi].flags & NSSDB_GROUP_PRIVATE))
                                grec[gi].n_members++;
                }
        for (size_t j = n_users; j < total_groups; j++) {
                grec[j].members = (uint32_t) n_members;
                n_members += grec[j].n_members;
        }
        if (n_groups > 0) {
                member_fill = calloc(n_groups, sizeof(uint32_t));
                if (!member_fill)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n_users; i++)
                for (uint32_t k = 0; k < urec[i].n_gids; k++) {
                        uint32_t gi;

                        if (table_find_id(t_gg, s_gg - 1, &grec[0].gid, sizeof(*grec), gids[urec[i].gids + k],
                                          &gi) == 0 &&
                            !(grec[gi].flags & NSSDB_GROUP_PRIVATE))
                                members[grec[gi].members + member_fill[gi - n_users]++] = (uint32_t) i;
                }
        h->n_members = (uint32_t) n_members;
        h->section[SECTION_MEMBERS].size = (uint32_t) (n_members * 4);
        memset((uint8_t *) (members + n_members), 0, align8(n_members * 4) - n_members * 4);

        h->file_size = h->section[SECTION_MEMBERS].offset + align8(n_members * 4);
        h->body_crc = nssdb_crc32c(0, buf + h->header_size, h->file_size - h->header_size);
        h->header_crc = nssdb_crc32c(0, buf, h->header_size);

        return file_replace(path, buf, h->file_size);
}

int nssdb_write(const char *path, const struct nssdb_settings *s, const struct nssdb_user_in *users, size_t n_users,
                const struct nssdb_group_in *groups, size_t n_groups) {
        uint64_t generation;

        do
                generation = random_u64();
        while (generation == 0);
        return write_file(path, generation, 0, s, users, n_users, groups, n_groups);
}

int nssdb_write_delta(const char *path, uint64_t base_generation, const struct nssdb_settings *s,
                      const struct nssdb_user_in *users, size_t n_users, const struct nssdb_group_in *groups,
                      size_t n_groups) {
        if (base_generation == 0)
                return -EINVAL;
        return write_file(path, 0, base_generation, s, users, n_users, groups, n_groups);
}

int nssdb_delta_path(const char *base_path, char *ret, size_t size) {
        size_t n;
        int k;

        if (!base_path || !ret)
                return -EINVAL;
        n = strlen(base_path);
        if (n >= 3 && strcmp(base_path + n - 3, ".db") == 0)
                k = snprintf(ret, size, "%.*s.delta.db", (int) (n - 3), base_path);
        else
                k = snprintf(ret, size, "%s.delta", base_path);
        return k < 0 || (size_t) k >= size ? -ENAMETOOLONG : 0;
}

/* ---- reader ---- */

static bool section_ok(const struct nssdb_header *h, unsigned i, uint64_t elem, uint64_t count) {
        const struct nssdb_section *sec = &h->section[i];

        return sec->offset % 8 == 0 && sec->offset >= h->header_size && sec->offset <= h->file_size &&
               sec->size <= h->file_size - sec->offset && (uint64_t) sec->size == elem * count;
}

static bool pool_str_ok(const struct nssdb *db, uint32_t off) {
        return off < db->pool_size;
}

static bool table_ok(const uint32_t *t, uint32_t slots, uint32_t n) {
        if (slots < 8 || (slots & (slots - 1)) || slots / 2 < n)
                return false;
        for (uint32_t i = 0; i < slots; i++)
                if (t[i] > n)
                        return false;
        return true;
}

static int nssdb_validate(struct nssdb *db) {
        const struct nssdb_header *h = db->h;
        struct nssdb_header copy;

        if (db->size < sizeof(*h) || memcmp(h->magic, NSSDB_MAGIC, sizeof(NSSDB_MAGIC)) != 0 ||
            h->version != NSSDB_VERSION || h->byte_order != NSSDB_BYTE_ORDER || h->header_size != sizeof(*h) ||
            h->file_size != db->size)
                return -EBADMSG;
        copy = *h;
        copy.header_crc = 0;
        if (nssdb_crc32c(0, &copy, sizeof(copy)) != h->header_crc ||
            nssdb_crc32c(0, db->map + h->header_size, db->size - h->header_size) != h->body_crc)
                return -EBADMSG;

        if (h->n_users > NSSDB_MAX_USERS || h->n_groups < h->n_users || h->n_groups > 2 * (uint64_t) NSSDB_MAX_USERS ||
            h->uid_min > h->uid_max || (h->flags & ~NSSDB_FLAG_SYNTH_ANY) || h->n_synth > NSSDB_SYNTH_MAX)
                return -EBADMSG;
        /* Exactly one of the two: a base has its own generation, a delta names its base's. */
        if ((h->generation == 0) == (h->base_generation == 0))
                return -EBADMSG;
        if (!section_ok(h, SECTION_POOL, 1, h->section[SECTION_POOL].size) || h->section[SECTION_POOL].size == 0 ||
            !section_ok(h, SECTION_DOMAINS, 4, h->n_domains) || !section_ok(h, SECTION_SYNTH, 4, h->n_synth) ||
            !section_ok(h, SECTION_USERS, sizeof(struct nssdb_user_rec), h->n_users) ||
            !section_ok(h, SECTION_GIDS, 4, h->n_gids) ||
            !section_ok(h, SECTION_GROUPS, sizeof(struct nssdb_group_rec), h->n_groups) ||
            !section_ok(h, SECTION_MEMBERS, 4, h->n_members) ||
            !section_ok(h, SECTION_USER_BY_NAME, 4, h->slots_user_name) ||
            !section_ok(h, SECTION_USER_BY_UID, 4, h->slots_user_uid) ||
            !section_ok(h, SECTION_GROUP_BY_NAME, 4, h->slots_group_name) ||
            !section_ok(h, SECTION_GROUP_BY_GID, 4, h->slots_group_gid))
                return -EBADMSG;

        db->seed = h->hash_seed;
        db->pool = (const char *) db->map + h->section[SECTION_POOL].offset;
        db->pool_size = h->section[SECTION_POOL].size;
        db->domains = (const uint32_t *) (db->map + h->section[SECTION_DOMAINS].offset);
        db->synth = (const uint32_t *) (db->map + h->section[SECTION_SYNTH].offset);
        db->users = (const struct nssdb_user_rec *) (db->map + h->section[SECTION_USERS].offset);
        db->gids = (const uint32_t *) (db->map + h->section[SECTION_GIDS].offset);
        db->groups = (const struct nssdb_group_rec *) (db->map + h->section[SECTION_GROUPS].offset);
        db->members = (const uint32_t *) (db->map + h->section[SECTION_MEMBERS].offset);
        db->t_user_name = (const uint32_t *) (db->map + h->section[SECTION_USER_BY_NAME].offset);
        db->t_user_uid = (const uint32_t *) (db->map + h->section[SECTION_USER_BY_UID].offset);
        db->t_group_name = (const uint32_t *) (db->map + h->section[SECTION_GROUP_BY_NAME].offset);
        db->t_group_gid = (const uint32_t *) (db->map + h->section[SECTION_GROUP_BY_GID].offset);
        db->m_user_name = h->slots_user_name - 1;
        db->m_user_uid = h->slots_user_uid - 1;
        db->m_group_name = h->slots_group_name - 1;
        db->m_group_gid = h->slots_group_gid - 1;

        if (db->pool[db->pool_size - 1] != 0 || db->pool[0] != 0 || !pool_str_ok(db, h->scope) ||
            !pool_str_ok(db, h->home) || !pool_str_ok(db, h->shell) ||
            (h->default_domain != NSSDB_NONE && !pool_str_ok(db, h->default_domain)))
                return -EBADMSG;
        /* What every synthesised entry shows: checked once here, the entries' own text when served. */
        if (!nssdb_text_safe(db->pool + h->home) || !nssdb_text_safe(db->pool + h->shell) ||
            (h->default_domain != NSSDB_NONE && !nssdb_name_valid(db->pool + h->default_domain)))
                return -EBADMSG;
        for (uint32_t i = 0; i < h->n_domains; i++)
                if (!pool_str_ok(db, db->domains[i]) || !nssdb_name_valid(db->pool + db->domains[i]))
                        return -EBADMSG;
        /* Sorted and valid, so lookups can bisect; a name that is not valid could never be asked for. */
        for (uint32_t i = 0; i < h->n_synth; i++)
                if (!pool_str_ok(db, db->synth[i]) || !nssdb_name_valid(db->pool + db->synth[i]) ||
                    (i > 0 && strcmp(db->pool + db->synth[i - 1], db->pool + db->synth[i]) >= 0))
                        return -EBADMSG;
        for (uint32_t i = 0; i < h->n_users; i++) {
                const struct nssdb_user_rec *u = &db->users[i];

                if (!pool_str_ok(db, u->name) || !pool_str_ok(db, u->gecos) || u->gids > h->n_gids ||
                    u->n_gids > h->n_gids - u->gids)
                        return -EBADMSG;
        }
        for (uint32_t i = 0; i < h->n_groups; i++) {
                const struct nssdb_group_rec *g = &db->groups[i];

                if (!pool_str_ok(db, g->name))
                        return -EBADMSG;
                if (g->flags & NSSDB_GROUP_PRIVATE) {
                        if (g->flags != NSSDB_GROUP_PRIVATE || g->members >= h->n_users || g->n_members != 1)
                                return -EBADMSG;
                } else if (g->flags != 0 || g->members > h->n_members || g->n_members > h->n_members - g->members)
                        return -EBADMSG;
        }
        for (uint32_t i = 0; i < h->n_members; i++)
                if (db->members[i] >= h->n_users)
                        return -EBADMSG;
        if (!table_ok(db->t_user_name, h->slots_user_name, h->n_users) ||
            !table_ok(db->t_user_uid, h->slots_user_uid, h->n_users) ||
            !table_ok(db->t_group_name, h->slots_group_name, h->n_groups) ||
            !table_ok(db->t_group_gid, h->slots_group_gid, h->n_groups))
                return -EBADMSG;
        return 0;
}

int nssdb_open(const char *path, struct nssdb **ret, struct stat *ret_st) {
        _cleanup_close_ int fd = -1;
        struct nssdb *db;
        struct stat st;
        void *map;
        int r;

        if (!path || !ret)
                return -EINVAL;
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH)))
                return -EPERM;
        if (st.st_size < (off_t) sizeof(struct nssdb_header) || (uint64_t) st.st_size > NSSDB_MAX_FILE_SIZE)
                return -EBADMSG;

        /* MAP_SHARED is safe: writers only ever rename a complete new file over this one. */
        map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
        if (map == MAP_FAILED)
                return -errno;
        db = calloc(1, sizeof(*db));
        if (!db) {
                munmap(map, (size_t) st.st_size);
                return -ENOMEM;
        }
        db->map = map;
        db->size = (size_t) st.st_size;
        db->h = map;
        r = nssdb_validate(db);
        if (r < 0) {
                nssdb_close(db);
                return r;
        }
        if (ret_st)
                *ret_st = st;
        *ret = db;
        return 0;
}

void nssdb_close(struct nssdb *db) {
        if (!db)
                return;
        if (db->map)
                munmap((void *) db->map, db->size);
        free(db);
}

void nssdb_settings_get(const struct nssdb *db, struct nssdb_settings *ret) {
        const struct nssdb_header *h = db->h;

        *ret = (struct nssdb_settings){
                .scope = db->pool + h->scope,
                .default_domain = h->default_domain == NSSDB_NONE ? NULL : db->pool + h->default_domain,
                .domains = NULL,
                .uid_min = h->uid_min,
                .uid_max = h->uid_max,
                .home = db->pool + h->home,
                .shell = db->pool + h->shell,
                .synth_any = h->flags & NSSDB_FLAG_SYNTH_ANY,
                .synth_names = NULL,
        };
}

static bool synth_listed(const struct nssdb *db, const char *name) {
        uint32_t lo = 0, hi = db->h->n_synth;

        while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                int c = strcmp(name, db->pool + db->synth[mid]);

                if (c == 0)
                        return true;
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return false;
}

bool nssdb_synth_admits(const struct nssdb *db, const char *local, const char *idp) {
        if (!db)
                return false;
        if (db->h->flags & NSSDB_FLAG_SYNTH_ANY)
                return true;
        return (local && synth_listed(db, local)) || (idp && synth_listed(db, idp));
}

bool nssdb_settings_equal(const struct nssdb *db, const struct nssdb_settings *s) {
        struct nssdb_settings mine;
        size_t n = 0;

        nssdb_settings_get(db, &mine);
        if (!streq_ptr(mine.scope, s->scope) || !streq_ptr(mine.default_domain, s->default_domain) ||
            mine.uid_min != s->uid_min || mine.uid_max != s->uid_max || !streq_ptr(mine.home, s->home) ||
            !streq_ptr(mine.shell, s->shell))
                return false;
        for (char *const *d = s->domains; d && *d; d++, n++)
                if (n >= db->h->n_domains || !streq(db->pool + db->domains[n], *d))
                        return false;
        if (n != db->h->n_domains || mine.synth_any != s->synth_any)
                return false;
        /* The same set of synth names: every given one is stored, and as many distinct ones
         * (duplicates, rare in a configuration, are only then looked for). */
        n = 0;
        for (char *const *u = s->synth_names; u && *u; u++, n++)
                if (!synth_listed(db, *u))
                        return false;
        if (n == db->h->n_synth)
                return true;
        n = 0;
        for (char *const *u = s->synth_names; u && *u; u++) {
                bool seen = false;

                for (char *const *v = s->synth_names; v < u && !seen; v++)
                        seen = streq(*v, *u);
                n += !seen;
        }
        return n == db->h->n_synth;
}

bool nssdb_domain_allowed(const struct nssdb *db, const char *domain) {
        if (!domain || !*domain)
                return false;
        if (db->h->default_domain != NSSDB_NONE && ascii_caseeq(db->pool + db->h->default_domain, domain))
                return true;
        for (uint32_t i = 0; i < db->h->n_domains; i++)
                if (ascii_caseeq(db->pool + db->domains[i], domain))
                        return true;
        return false;
}

static void user_view(const struct nssdb *db, uint32_t i, struct nssdb_user_view *ret) {
        const struct nssdb_user_rec *u = &db->users[i];

        *ret = (struct nssdb_user_view){
                .name = db->pool + u->name,
                .uid = u->uid,
                .gecos = db->pool + u->gecos,
                .gids = db->gids + u->gids,
                .n_gids = u->n_gids,
        };
}

static void group_view(const struct nssdb *db, uint32_t i, struct nssdb_group_view *ret) {
        const struct nssdb_group_rec *g = &db->groups[i];

        *ret = (struct nssdb_group_view){
                .name = db->pool + g->name,
                .gid = g->gid,
                .n_members = g->n_members,
                .index = i,
                .private_group = g->flags & NSSDB_GROUP_PRIVATE,
        };
}

/* Probing is bounded by the table size too, so even a table that passed
 * validation but has no empty slot cannot loop forever. */
static int find_name(const struct nssdb *db, const uint32_t *t, uint32_t mask, const void *recs, size_t stride,
                     const char *name, uint32_t *ret) {
        uint64_t h = hash_name(db->seed, name);

        for (uint32_t n = 0, i = (uint32_t) (h & mask); n <= mask; n++, i = (i + 1) & mask) {
                uint32_t v = t[i];

                if (v == 0)
                        return -ESRCH;
                if (strcmp(db->pool + *(const uint32_t *) ((const char *) recs + (size_t) (v - 1) * stride), name) ==
                    0) {
                        *ret = v - 1;
                        return 0;
                }
        }
        return -ESRCH;
}

int nssdb_user_by_name(const struct nssdb *db, const char *name, struct nssdb_user_view *ret) {
        uint32_t i;

        if (!name || find_name(db, db->t_user_name, db->m_user_name, &db->users[0].name, sizeof(*db->users), name,
                               &i) < 0)
                return -ESRCH;
        user_view(db, i, ret);
        return 0;
}

int nssdb_user_by_uid(const struct nssdb *db, uint32_t uid, struct nssdb_user_view *ret) {
        uint32_t i;

        if (table_find_id(db->t_user_uid, db->m_user_uid, &db->users[0].uid, sizeof(*db->users), uid, &i) < 0)
                return -ESRCH;
        user_view(db, i, ret);
        return 0;
}

int nssdb_group_by_name(const struct nssdb *db, const char *name, struct nssdb_group_view *ret) {
        uint32_t i;

        if (!name || find_name(db, db->t_group_name, db->m_group_name, &db->groups[0].name, sizeof(*db->groups),
                               name, &i) < 0)
                return -ESRCH;
        group_view(db, i, ret);
        return 0;
}

int nssdb_group_by_gid(const struct nssdb *db, uint32_t gid, struct nssdb_group_view *ret) {
        uint32_t i;

        if (table_find_id(db->t_group_gid, db->m_group_gid, &db->groups[0].gid, sizeof(*db->groups), gid, &i) < 0)
                return -ESRCH;
        group_view(db, i, ret);
        return 0;
}

size_t nssdb_n_users(const struct nssdb *db) {
        return db->h->n_users;
}

size_t nssdb_n_groups(const struct nssdb *db) {
        return db->h->n_groups;
}

int nssdb_user_at(const struct nssdb *db, size_t i, struct nssdb_user_view *ret) {
        if (i >= db->h->n_users)
                return -ESRCH;
        user_view(db, (uint32_t) i, ret);
        return 0;
}

int nssdb_group_at(const struct nssdb *db, size_t i, struct nssdb_group_view *ret) {
        if (i >= db->h->n_groups)
                return -ESRCH;
        group_view(db, (uint32_t) i, ret);
        return 0;
}

const char *nssdb_group_member(const struct nssdb *db, const struct nssdb_group_view *g, uint32_t k) {
        const struct nssdb_group_rec *r;
        uint32_t u;

        if (!g || g->index >= db->h->n_groups)
                return NULL;
        r = &db->groups[g->index];
        if (k >= r->n_members)
                return NULL;
        u = (r->flags & NSSDB_GROUP_PRIVATE) ? r->members : db->members[r->members + k];
        return db->pool + db->users[u].name;
}

uint64_t nssdb_generation(const struct nssdb *db) {
        return db->h->generation;
}

uint64_t nssdb_base_generation(const struct nssdb *db) {
        return db->h->base_generation;
}

bool nssdb_delta_belongs(const struct nssdb *base, const struct nssdb *delta) {
        return base && delta && base->h->generation != 0 && delta->h->base_generation == base->h->generation;
}

/* ---- the pair: nss.db and its delta read as one ---- */

int nssdb_pair_open(const char *base_path, const char *delta_path, struct nssdb_pair *ret, int *ret_delta_error) {
        struct nssdb *base = NULL, *delta = NULL;
        int r, rd;

        if (!base_path || !delta_path || !ret)
                return -EINVAL;
        rd = nssdb_open(delta_path, &delta, NULL);
        r = nssdb_open(base_path, &base, NULL);
        if (r < 0) {
                nssdb_close(delta);
                return r;
        }
        if (nssdb_generation(base) == 0) {
                nssdb_close(base);
                nssdb_close(delta);
                return -EBADMSG;
        }
        if (rd >= 0 && nssdb_base_generation(delta) == 0)
                rd = -EBADMSG;
        else if (rd >= 0 && !nssdb_delta_belongs(base, delta))
                rd = -ESTALE;
        if (rd < 0) {
                nssdb_close(delta);
                delta = NULL;
        }
        if (ret_delta_error)
                *ret_delta_error = rd;
        *ret = (struct nssdb_pair){ .base = base, .delta = delta };
        return 0;
}

void nssdb_pair_close(struct nssdb_pair *p) {
        if (!p)
                return;
        nssdb_close(p->base);
        nssdb_close(p->delta);
        p->base = p->delta = NULL;
}

/* A delta user is shown only when nothing of the base has its name or uid (the base wins). */
static bool delta_user_shown(const struct nssdb_pair *p, const struct nssdb_user_view *u) {
        struct nssdb_user_view bu;
        struct nssdb_group_view bg;

        return nssdb_user_by_name(p->base, u->name, &bu) < 0 && nssdb_user_by_uid(p->base, u->uid, &bu) < 0 &&
               nssdb_group_by_name(p->base, u->name, &bg) < 0 && nssdb_group_by_gid(p->base, u->uid, &bg) < 0;
}

enum delta_group_kind {
        DELTA_GROUP_OWN,    /* only in the delta: shown as it is */
        DELTA_GROUP_MERGED, /* the same group as one of the base: members added to it */
        DELTA_GROUP_HIDDEN, /* collides with something else of the base */
};

static enum delta_group_kind delta_group_classify(const struct nssdb_pair *p, const struct nssdb_group_view *dg,
                                                  struct nssdb_group_view *ret_base) {
        struct nssdb_group_view bg;

        if (nssdb_group_by_name(p->base, dg->name, &bg) >= 0) {
                if (bg.gid != dg->gid || bg.private_group || dg->private_group)
                        return DELTA_GROUP_HIDDEN;
                if (ret_base)
                        *ret_base = bg;
                return DELTA_GROUP_MERGED;
        }
        if (nssdb_group_by_gid(p->base, dg->gid, &bg) >= 0)
                return DELTA_GROUP_HIDDEN;
        return DELTA_GROUP_OWN;
}

int nssdb_pair_user_by_name(const struct nssdb_pair *p, const char *name, struct nssdb_user_view *ret) {
        struct nssdb_user_view u;

        if (!p || !p->base || !name)
                return -ESRCH;
        if (nssdb_user_by_name(p->base, name, ret) >= 0)
                return 0;
        if (!p->delta || nssdb_user_by_name(p->delta, name, &u) < 0 || !delta_user_shown(p, &u))
                return -ESRCH;
        *ret = u;
        return 0;
}

int nssdb_pair_user_by_uid(const struct nssdb_pair *p, uint32_t uid, struct nssdb_user_view *ret) {
        struct nssdb_user_view u;

        if (!p || !p->base)
                return -ESRCH;
        if (nssdb_user_by_uid(p->base, uid, ret) >= 0)
                return 0;
        if (!p->delta || nssdb_user_by_uid(p->delta, uid, &u) < 0 || !delta_user_shown(p, &u))
                return -ESRCH;
        *ret = u;
        return 0;
}

/* Delta members of a group that are shown (a member the base also has is the base's). */
static uint32_t delta_members_shown(const struct nssdb_pair *p, const struct nssdb_group_view *dg) {
        uint32_t n = 0;

        for (uint32_t k = 0; k < dg->n_members; k++) {
                struct nssdb_user_view u;
                const char *name = nssdb_group_member(p->delta, dg, k);

                if (name && nssdb_user_by_name(p->delta, name, &u) >= 0 && delta_user_shown(p, &u))
                        n++;
        }
        return n;
}

static void pair_group_from_base(const struct nssdb_pair *p, const struct nssdb_group_view *bg,
                                 struct nssdb_pair_group_view *ret) {
        struct nssdb_group_view dg;

        *ret = (struct nssdb_pair_group_view){
                .name = bg->name,
                .gid = bg->gid,
                .n_members = bg->n_members,
                .private_group = bg->private_group,
                .in_base = *bg,
                .has_base = true,
        };
        if (bg->private_group || !p->delta || nssdb_group_by_name(p->delta, bg->name, &dg) < 0 || dg.gid != bg->gid ||
            dg.private_group)
                return;
        ret->in_delta = dg;
        ret->has_delta = true;
        ret->n_members += delta_members_shown(p, &dg);
}

static void pair_group_from_delta(const struct nssdb_pair *p, const struct nssdb_group_view *dg,
                                  struct nssdb_pair_group_view *ret) {
        *ret = (struct nssdb_pair_group_view){
                .name = dg->name,
                .gid = dg->gid,
                .n_members = delta_members_shown(p, dg),
                .private_group = dg->private_group,
                .in_delta = *dg,
                .has_delta = true,
        };
}

/* A group of the delta that no base group holds, when it is shown on its own. */
static int delta_group_own(const struct nssdb_pair *p, const struct nssdb_group_view *dg,
                           struct nssdb_pair_group_view *ret) {
        if (delta_group_classify(p, dg, NULL) != DELTA_GROUP_OWN)
                return -ESRCH;
        /* A private group goes with its user: shown exactly when the user is. */
        if (dg->private_group) {
                struct nssdb_user_view u;

                if (nssdb_user_by_uid(p->delta, dg->gid, &u) < 0 || !delta_user_shown(p, &u))
                        return -ESRCH;
        }
        pair_group_from_delta(p, dg, ret);
        return 0;
}

int nssdb_pair_group_by_name(const struct nssdb_pair *p, const char *name, struct nssdb_pair_group_view *ret) {
        struct nssdb_group_view g;

        if (!p || !p->base || !name)
                return -ESRCH;
        if (nssdb_group_by_name(p->base, name, &g) >= 0) {
                pair_group_from_base(p, &g, ret);
                return 0;
        }
        if (!p->delta || nssdb_group_by_name(p->delta, name, &g) < 0)
                return -ESRCH;
        return delta_group_own(p, &g, ret);
}

int nssdb_pair_group_by_gid(const struct nssdb_pair *p, uint32_t gid, struct nssdb_pair_group_view *ret) {
        struct nssdb_group_view g;

        if (!p || !p->base)
                return -ESRCH;
        if (nssdb_group_by_gid(p->base, gid, &g) >= 0) {
                pair_group_from_base(p, &g, ret);
                return 0;
        }
        if (!p->delta || nssdb_group_by_gid(p->delta, gid, &g) < 0)
                return -ESRCH;
        return delta_group_own(p, &g, ret);
}

bool nssdb_pair_id_used(const struct nssdb_pair *p, uint32_t id) {
        struct nssdb_user_view u;
        struct nssdb_group_view g;

        if (!p || !p->base)
                return false;
        return nssdb_user_by_uid(p->base, id, &u) >= 0 || nssdb_group_by_gid(p->base, id, &g) >= 0 ||
               (p->delta && (nssdb_user_by_uid(p->delta, id, &u) >= 0 || nssdb_group_by_gid(p->delta, id, &g) >= 0));
}

int nssdb_pair_user_next(const struct nssdb_pair *p, size_t pos, struct nssdb_user_view *ret, size_t *ret_next) {
        size_t nb, nd;

        if (!p || !p->base)
                return -ESRCH;
        nb = nssdb_n_users(p->base);
        if (pos < nb) {
                (void) nssdb_user_at(p->base, pos, ret);
                *ret_next = pos + 1;
                return 0;
        }
        nd = p->delta ? nssdb_n_users(p->delta) : 0;
        for (size_t i = pos - nb; i < nd; i++) {
                struct nssdb_user_view u;

                if (nssdb_user_at(p->delta, i, &u) >= 0 && delta_user_shown(p, &u)) {
                        *ret = u;
                        *ret_next = nb + i + 1;
                        return 0;
                }
        }
        return -ESRCH;
}

int nssdb_pair_group_next(const struct nssdb_pair *p, size_t pos, struct nssdb_pair_group_view *ret,
                          size_t *ret_next) {
        size_t nb, nd;

        if (!p || !p->base)
                return -ESRCH;
        nb = nssdb_n_groups(p->base);
        if (pos < nb) {
                struct nssdb_group_view g;

                (void) nssdb_group_at(p->base, pos, &g);
                pair_group_from_base(p, &g, ret);
                *ret_next = pos + 1;
                return 0;
        }
        nd = p->delta ? nssdb_n_groups(p->delta) : 0;
        for (size_t i = pos - nb; i < nd; i++) {
                struct nssdb_group_view g;

                if (nssdb_group_at(p->delta, i, &g) >= 0 && delta_group_own(p, &g, ret) >= 0) {
                        *ret_next = nb + i + 1;
                        return 0;
                }
        }
        return -ESRCH;
}

const char *nssdb_pair_group_member_next(const struct nssdb_pair *p, const struct nssdb_pair_group_view *g,
                                         uint32_t *cursor) {
        uint32_t nb;

        if (!p || !g || !cursor)
                return NULL;
        nb = g->has_base ? g->in_base.n_members : 0;
        if (*cursor < nb)
                return nssdb_group_member(p->base, &g->in_base, (*cursor)++);
        if (!g->has_delta || !p->delta)
                return NULL;
        while (*cursor - nb < g->in_delta.n_members) {
                const char *name = nssdb_group_member(p->delta, &g->in_delta, *cursor - nb);
                struct nssdb_user_view u;

                (*cursor)++;
                if (name && nssdb_user_by_name(p->delta, name, &u) >= 0 && delta_user_shown(p, &u))
                        return name;
        }
        return NULL;
}
