/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cloudauth-build.h"
#include "config.h"
#include "macro.h"
#include "offline.h"
#include "secret.h"

#define CONFIG_LINE_MAX 4096
#define CONFIG_ROLES_MAX 256
#define CONFIG_LIST_MAX 1024
#define CONFIG_DROPINS_MAX 1024
#define CONFIG_ROLE_NAME_MAX 64
#define CONFIG_SECRET_MAX 4096
#define CONFIG_ERR_MAX 256

#define DEFAULT_SCOPES "openid profile email"
/*
 * Above SSSD's default AD ID-mapping range (200000-2000199999), inside the
 * range systemd leaves unassigned (above its container range, which ends at
 * 1879048191, and below its foreign range at 2147352576), and below 2^31,
 * which some tools still mishandle. See cloudauth.conf(5), USER AND GROUP IDS.
 */
#define DEFAULT_UID_MIN 2001000000U
#define DEFAULT_UID_MAX 2147000000U
#define UID_NOBODY 65534U
#define UID_LAST_VALID 4294967294U
#define DAY (24ULL * 3600ULL)

enum section {
        SECTION_NONE,
        SECTION_SKIP, /* after a bad header: its keys are not reported again */
        SECTION_PROVIDER,
        SECTION_IDENTITY,
        SECTION_ACCESS,
        SECTION_ROLE,
        SECTION_OFFLINE,
        SECTION_LOCKOUT,
        SECTION_SESSION,
        SECTION_PIN,
        SECTION_PATHS,
        SECTION_UIDS, /* keys are user names, not fixed key names */
        _SECTION_MAX,
};

/* Where allow_roles and includes were set, so validation can point at a line. */
struct config_origin {
        char *file;
        unsigned line;
};

struct config_origins {
        struct config_origin allow_roles;
        struct config_origin includes[CONFIG_ROLES_MAX];
};

struct key_def {
        const char *name;
        int (*parse)(void *base, const struct key_def *k, const char *value, char *err, size_t errlen);
        size_t offset;
        unsigned long long min, max;
};

#define KEYS_PER_SECTION_MAX 16

struct parse_ctx {
        struct cloudauth_config *c;
        const char *filename;
        const struct logger *log;
        struct config_origins *origins;
        enum section section;
        size_t role;
        char section_name[CONFIG_ROLE_NAME_MAX + 8];
        unsigned line;
        unsigned seen[_SECTION_MAX][KEYS_PER_SECTION_MAX];
        unsigned role_seen[CONFIG_ROLES_MAX][KEYS_PER_SECTION_MAX];
};

static const char *errno_text(int r) {
        const char *s = strerrordesc_np(r < 0 ? -r : r);
        return s ? s : "unknown error";
}

static int _printf_(3, 4) errf(char *err, size_t errlen, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static bool is_blank(char ch) {
        return ch == ' ' || ch == '\t';
}

static bool is_lower_alnum(char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static bool is_hex(char ch) {
        return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static char ascii_lower(char ch) {
        return ch >= 'A' && ch <= 'Z' ? (char) (ch - 'A' + 'a') : ch;
}

static void ascii_lower_str(char *s) {
        for (; *s; s++)
                *s = ascii_lower(*s);
}

/* Returns NULL when the bytes are acceptable, else what is wrong with them. */
static const char *text_check(const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s, *end = p + n;

        while (p < end) {
                unsigned c = *p, len, cp;

                if (c < 0x80) {
                        if ((c < 0x20 && c != '\t') || c == 0x7f)
                                return "contains a control character";
                        p++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf) {
                        len = 2;
                        cp = c & 0x1f;
                } else if (c >= 0xe0 && c <= 0xef) {
                        len = 3;
                        cp = c & 0x0f;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        len = 4;
                        cp = c & 0x07;
                } else
                        return "is not valid UTF-8";
                if ((size_t) (end - p) < len)
                        return "is not valid UTF-8";
                for (unsigned i = 1; i < len; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return "is not valid UTF-8";
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
                    (cp >= 0xd800 && cp <= 0xdfff))
                        return "is not valid UTF-8";
                /* C1 controls are as unwelcome in a log line as C0 ones. */
                if (cp >= 0x80 && cp <= 0x9f)
                        return "contains a control character";
                p += len;
        }
        return NULL;
}

static char *strip(char *s) {
        size_t n;

        while (is_blank(*s))
                s++;
        n = strlen(s);
        while (n > 0 && is_blank(s[n - 1]))
                s[--n] = 0;
        return s;
}

/* A ';' or '#' after whitespace starts a comment, so "timeout = 10 ; seconds" works. */
static void strip_comment(char *s) {
        if (!s[0])
                return;
        for (size_t i = 1; s[i]; i++)
                if ((s[i] == ';' || s[i] == '#') && is_blank(s[i - 1])) {
                        s[i] = 0;
                        return;
                }
}

static bool role_name_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > CONFIG_ROLE_NAME_MAX)
                return false;
        for (; *s; s++)
                if (!is_lower_alnum(*s) && *s != '_' && *s != '-')
                        return false;
        return true;
}

static bool unix_group_name_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 32)
                return false;
        if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++) {
                char ch = s[i];
                if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    ch == '_' || ch == '-' || ch == '.')
                        continue;
                /* Samba machine accounts end in '$'. */
                if (ch == '$' && i == n - 1)
                        continue;
                return false;
        }
        return true;
}

static bool guid_valid(const char *s) {
        static const size_t dashes[] = { 8, 13, 18, 23 };
        size_t d = 0;

        if (strlen(s) != 36)
                return false;
        for (size_t i = 0; i < 36; i++) {
                if (d < ELEMENTSOF(dashes) && i == dashes[d]) {
                        if (s[i] != '-')
                                return false;
                        d++;
                } else if (!is_hex(s[i]))
                        return false;
        }
        return true;
}

/* Comma and/or blank separated; empty items are skipped. */
static int list_split(const char *value, char ***ret, char *err, size_t errlen) {
        _cleanup_strv_free_ char **v = NULL;
        size_t n = 0, cap = 0;
        const char *p = value;

        for (;;) {
                const char *start;
                size_t len;

                while (*p == ',' || is_blank(*p))
                        p++;
                if (!*p)
                        break;
                start = p;
                while (*p && *p != ',' && !is_blank(*p))
                        p++;
                len = (size_t) (p - start);
                if (n >= CONFIG_LIST_MAX)
                        return errf(err, errlen, "has more than %d entries", CONFIG_LIST_MAX);
                if (n + 2 > cap) {
                        size_t ncap = cap ? cap * 2 : 8;
                        char **nv = realloc(v, ncap * sizeof(char *));
                        if (!nv)
                                return -ENOMEM;
                        v = nv;
                        cap = ncap;
                }
                v[n] = strndup(start, len);
                if (!v[n])
                        return -ENOMEM;
                v[++n] = NULL;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

#define FIELD(base, k, type) ((type *) (void *) ((char *) (base) + (k)->offset))

static void replace_str(char **field, char *v) {
        free(*field);
        *field = v;
}

static void replace_strv(char ***field, char **v) {
        strv_free(*field);
        *field = v;
}

static int set_strdup(char **field, const char *v) {
        char *s = strdup(v);

        if (!s)
                return -ENOMEM;
        replace_str(field, s);
        return 0;
}

static int parse_issuer(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        const char *host = v + strlen("https://");

        if (strncmp(v, "https://", strlen("https://")) != 0)
                return errf(err, errlen, "must be an https:// URL");
        if (*host == 0 || *host == '/')
                return errf(err, errlen, "has no host name");
        if (strpbrk(v, " \t?#"))
                return errf(err, errlen, "must not contain whitespace, a query or a fragment");
        return set_strdup(FIELD(base, k, char *), v);
}

/*
 * An HTTP(S) proxy for every request to the provider: http:// or https://,
 * a host and an optional port, nothing else (credentials would sit in a file
 * NSS must read). An empty value means none. The environment never names one.
 */
static int parse_proxy(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        const char *host;
        size_t n;

        if (!*v) {
                replace_str(FIELD(base, k, char *), NULL);
                return 0;
        }
        if (strncmp(v, "http://", 7) == 0)
                host = v + 7;
        else if (strncmp(v, "https://", 8) == 0)
                host = v + 8;
        else
                return errf(err, errlen, "must be an http:// or https:// URL");
        n = strcspn(host, "/");
        if (n == 0)
                return errf(err, errlen, "has no host name");
        if (host[n] && !streq(host + n, "/"))
                return errf(err, errlen, "must not have a path");
        for (const char *p = v; *p; p++)
                if ((unsigned char) *p <= 0x20 || *p == 0x7f || *p == '@' || *p == '?' || *p == '#')
                        return errf(err, errlen, "must be scheme://host[:port] only");
        return set_strdup(FIELD(base, k, char *), v);
}

static int parse_token(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        if (!*v)
                return errf(err, errlen, "must not be empty");
        if (strpbrk(v, " \t"))
                return errf(err, errlen, "must not contain whitespace");
        return set_strdup(FIELD(base, k, char *), v);
}

static int parse_path(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        if (v[0] != '/')
                return errf(err, errlen, "must be an absolute path");
        return set_strdup(FIELD(base, k, char *), v);
}

/* An empty value unsets an optional path, so a drop-in can undo one. */
static int parse_path_optional(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        if (!*v) {
                replace_str(FIELD(base, k, char *), NULL);
                return 0;
        }
        return parse_path(base, k, v, err, errlen);
}

static int parse_home(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        if (v[0] != '/')
                return errf(err, errlen, "must be an absolute path");
        for (const char *p = v; *p; p++) {
                if (*p != '%')
                        continue;
                p++;
                if (*p == 'u' || *p == 'd' || *p == '%')
                        continue;
                if (!*p)
                        return errf(err, errlen, "ends with a lone '%%'");
                return errf(err, errlen, "has an unknown escape (use %%u, %%d or %%%%)");
        }
        return set_strdup(FIELD(base, k, char *), v);
}

static bool scope_token_valid(const char *s) {
        /* RFC 6749 section 3.3 scope-token */
        for (; *s; s++) {
                unsigned char ch = (unsigned char) *s;
                if (ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\')
                        return false;
        }
        return true;
}

/* Refresh tokens are kept only for re-validation: offline_access is requested exactly then. */
static int scopes_for_refresh(struct cloudauth_config *c) {
        const char *at;
        char *joined;

        if (!c->session_revalidate)
                return 0;
        for (at = strstr(c->scopes, "offline_access"); at; at = strstr(at + 1, "offline_access"))
                if ((at == c->scopes || at[-1] == ' ') && (at[14] == ' ' || at[14] == 0))
                        return 0;
        if (asprintf(&joined, "%s offline_access", c->scopes) < 0)
                return -ENOMEM;
        free(c->scopes);
        c->scopes = joined;
        return 0;
}

static int parse_scopes(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *joined = NULL;
        bool openid = false;
        size_t total = 0, at = 0;
        int r;

        if ((r = list_split(v, &l, err, errlen)) < 0)
                return r;
        for (char **s = l; s && *s; s++) {
                if (!scope_token_valid(*s))
                        return errf(err, errlen, "'%s' is not a valid scope", *s);
                if (streq(*s, "openid"))
                        openid = true;
                total += strlen(*s) + 1;
        }
        if (!openid)
                return errf(err, errlen, "must include 'openid'");
        joined = malloc(total);
        if (!joined)
                return -ENOMEM;
        for (char **s = l; *s; s++) {
                size_t n = strlen(*s);
                if (at > 0)
                        joined[at++] = ' ';
                memcpy(joined + at, *s, n);
                at += n;
        }
        joined[at] = 0;
        replace_str(FIELD(base, k, char *), TAKE_PTR(joined));
        return 0;
}

static int parse_flows(void *base, _unused_ const struct key_def *k, const char *v, char *err, size_t errlen) {
        struct cloudauth_config *c = base;
        _cleanup_strv_free_ char **l = NULL;
        unsigned flows = 0;
        enum login_flow first = 0;
        int r;

        if ((r = list_split(v, &l, err, errlen)) < 0)
                return r;
        if (!l)
                return errf(err, errlen, "must name at least one of password, device, auto");
        for (char **s = l; *s; s++) {
                enum login_flow f;
                if (streq(*s, "password"))
                        f = LOGIN_FLOW_PASSWORD;
                else if (streq(*s, "device"))
                        f = LOGIN_FLOW_DEVICE;
                else if (streq(*s, "auto"))
                        f = LOGIN_FLOW_AUTO;
                else
                        return errf(err, errlen, "unknown flow '%s' (use password, device or auto)", *s);
                if (!first)
                        first = f;
                flows |= f;
        }
        c->flows = flows;
        c->default_flow = first;
        return 0;
}

static int parse_tenants(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        _cleanup_strv_free_ char **l = NULL;
        int r;

        if ((r = list_split(v, &l, err, errlen)) < 0)
                return r;
        for (char **s = l; s && *s; s++) {
                if (!guid_valid(*s))
                        return errf(err, errlen, "'%s' is not a tenant GUID", *s);
                ascii_lower_str(*s);
        }
        replace_strv(FIELD(base, k, char **), TAKE_PTR(l));
        return 0;
}

static int parse_number(const char *v, unsigned long long max, unsigned long long *ret) {
        unsigned long long n = 0;

        if (!*v)
                return -EINVAL;
        for (; *v; v++) {
                if (*v < '0' || *v > '9')
                        return -EINVAL;
                n = n * 10 + (unsigned) (*v - '0');
                if (n > max)
                        return -ERANGE;
        }
        *ret = n;
        return 0;
}

static int parse_uint(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        unsigned long long n;
        int r = parse_number(v, k->max, &n);

        if (r == -EINVAL)
                return errf(err, errlen, "must be a whole number of seconds");
        if (r < 0 || n < k->min)
                return errf(err, errlen, "must be between %llu and %llu", k->min, k->max);
        *FIELD(base, k, unsigned) = (unsigned) n;
        return 0;
}

static int parse_count(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        unsigned long long n;
        int r = parse_number(v, k->max, &n);

        if (r < 0 || n < k->min)
                return errf(err, errlen, "must be a whole number from %llu to %llu", k->min, k->max);
        *FIELD(base, k, unsigned) = (unsigned) n;
        return 0;
}

static int parse_bool_value(const char *v, bool *ret) {
        static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no", "false", "off", "0" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(v, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(v, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

static int parse_bool(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        bool b;

        if (parse_bool_value(v, &b) < 0)
                return errf(err, errlen, "must be yes or no");
        *FIELD(base, k, bool) = b;
        return 0;
}

static int parse_tristate(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        bool b;

        if (strcasecmp(v, "auto") == 0) {
                *FIELD(base, k, int) = -1;
                return 0;
        }
        if (parse_bool_value(v, &b) < 0)
                return errf(err, errlen, "must be yes, no or auto");
        *FIELD(base, k, int) = b ? 1 : 0;
        return 0;
}

/* Free text shown to people: printable, at most 64 bytes. */
static int parse_display_text(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        if (!*v)
                return errf(err, errlen, "must not be empty");
        if (strlen(v) > 64)
                return errf(err, errlen, "must be at most 64 bytes");
        return set_strdup(FIELD(base, k, char *), v);
}

static int parse_domain(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        _cleanup_free_ char *d = NULL;
        size_t n = strlen(v);

        if (n == 0) {
                replace_str(FIELD(base, k, char *), NULL);
                return 0;
        }
        if (n > 253)
                return errf(err, errlen, "is longer than 253 characters");
        d = strdup(v);
        if (!d)
                return -ENOMEM;
        ascii_lower_str(d);
        for (size_t i = 0; i < n; i++) {
                char ch = d[i];
                if (ch == '.') {
                        if (i == 0 || i == n - 1 || d[i - 1] == '.')
                                return errf(err, errlen, "is not a domain name");
                } else if (!is_lower_alnum(ch) && ch != '-')
                        return errf(err, errlen, "is not a domain name");
        }
        replace_str(FIELD(base, k, char *), TAKE_PTR(d));
        return 0;
}

static int parse_uid_range(void *base, _unused_ const struct key_def *k, const char *v, char *err, size_t errlen) {
        struct cloudauth_config *c = base;
        char buf[64], *dash, *a, *b;
        unsigned long long lo, hi;

        if (strlen(v) >= sizeof(buf))
                return errf(err, errlen, "must be FIRST-LAST");
        strcpy(buf, v);
        dash = strchr(buf, '-');
        if (!dash)
                return errf(err, errlen, "must be FIRST-LAST");
        *dash = 0;
        a = strip(buf);
        b = strip(dash + 1);
        if (parse_number(a, UID_LAST_VALID, &lo) < 0 || parse_number(b, UID_LAST_VALID, &hi) < 0)
                return errf(err, errlen, "must be FIRST-LAST with numbers up to %u", UID_LAST_VALID);
        if (lo < 1000)
                return errf(err, errlen, "must start at 1000 or above, clear of system users");
        if (lo >= hi)
                return errf(err, errlen, "first UID must be below the last");
        if (lo <= UID_NOBODY && hi >= UID_NOBODY)
                return errf(err, errlen, "must not include %u (nobody)", UID_NOBODY);
        c->uid_min = (uint32_t) lo;
        c->uid_max = (uint32_t) hi;
        return 0;
}

static int parse_duration(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        char buf[32];
        size_t n = strlen(v);
        unsigned long long mult = 1, x;

        if (n == 0 || n >= sizeof(buf))
                return errf(err, errlen, "must be a duration such as 3600, 90m, 12h or 7d");
        strcpy(buf, v);
        switch (buf[n - 1]) {
        case 's':
                mult = 1;
                break;
        case 'm':
                mult = 60;
                break;
        case 'h':
                mult = 3600;
                break;
        case 'd':
                mult = DAY;
                break;
        default:
                n++;
        }
        buf[n - 1] = 0;
        if (parse_number(buf, k->max, &x) < 0 || x * mult > k->max)
                return errf(err, errlen, "must be a duration such as 3600, 90m, 12h or 7d, at most %llud",
                            k->max / DAY);
        if (x * mult < k->min)
                return errf(err, errlen, "must be at least %llu seconds", k->min);
        *FIELD(base, k, uint64_t) = x * mult;
        return 0;
}

static int parse_list(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        char **l = NULL;
        int r;

        if ((r = list_split(v, &l, err, errlen)) < 0)
                return r;
        replace_strv(FIELD(base, k, char **), l);
        return 0;
}

static int parse_list_lower(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        char **l = NULL;
        int r;

        if ((r = list_split(v, &l, err, errlen)) < 0)
                return r;
        for (char **s = l; s && *s; s++)
                ascii_lower_str(*s);
        replace_strv(FIELD(base, k, char **), l);
        return 0;
}

static int parse_role_list(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        _cleanup_strv_free_ char **l = NULL;
        int r;

        if ((r = list_split(v, &l, err, errlen)) < 0)
                return r;
        for (char **s = l; s && *s; s++)
                if (!role_name_valid(*s))
                        return errf(err, errlen, "'%s' is not a role name (a-z, 0-9, '_', '-')", *s);
        replace_strv(FIELD(base, k, char **), TAKE_PTR(l));
        return 0;
}

static int parse_unix_groups(void *base, const struct key_def *k, const char *v, char *err, size_t errlen) {
        _cleanup_strv_free_ char **l = NULL;
        int r;

        if ((r = list_split(v, &l, err, errlen)) < 0)
                return r;
        for (char **s = l; s && *s; s++)
                if (!unix_group_name_valid(*s))
                        return errf(err, errlen, "'%s' is not a valid Unix group name", *s);
        replace_strv(FIELD(base, k, char **), TAKE_PTR(l));
        return 0;
}

#define CFG(f) offsetof(struct cloudauth_config, f)
#define ROLE(f) offsetof(struct config_role, f)

static const struct key_def provider_keys[] = {
        { "issuer", parse_issuer, CFG(issuer), 0, 0 },
        { "client_id", parse_token, CFG(client_id), 0, 0 },
        { "client_secret_file", parse_path_optional, CFG(client_secret_file), 0, 0 },
        { "scopes", parse_scopes, CFG(scopes), 0, 0 },
        { "ca_file", parse_path_optional, CFG(ca_file), 0, 0 },
        { "proxy", parse_proxy, CFG(proxy), 0, 0 },
        { "flows", parse_flows, 0, 0, 0 },
        { "tenants", parse_tenants, CFG(tenants), 0, 0 },
        { "timeout", parse_uint, CFG(timeout), 1, 300 },
        { "leeway", parse_uint, CFG(leeway), 0, 3600 },
        { "qr", parse_bool, CFG(qr), 0, 0 },
        { "pkce", parse_tristate, CFG(pkce), 0, 0 },
        { "app_name", parse_display_text, CFG(app_name), 0, 0 },
        { NULL, NULL, 0, 0, 0 },
};

static const struct key_def identity_keys[] = {
        { "username_claim", parse_token, CFG(username_claim), 0, 0 },
        { "groups_claim", parse_token, CFG(groups_claim), 0, 0 },
        { "default_domain", parse_domain, CFG(default_domain), 0, 0 },
        { "uid_range", parse_uid_range, 0, 0, 0 },
        { "home", parse_home, CFG(home), 0, 0 },
        { "shell", parse_path, CFG(shell), 0, 0 },
        { NULL, NULL, 0, 0, 0 },
};

static const struct key_def access_keys[] = {
        { "allow_users", parse_list_lower, CFG(allow_users), 0, 0 },
        { "allow_groups", parse_list, CFG(allow_groups), 0, 0 },
        { "allow_roles", parse_role_list, CFG(allow_roles), 0, 0 },
        { NULL, NULL, 0, 0, 0 },
};

static const struct key_def role_keys[] = {
        { "groups", parse_list, ROLE(groups), 0, 0 },
        { "app_roles", parse_list, ROLE(app_roles), 0, 0 },
        { "unix_groups", parse_unix_groups, ROLE(unix_groups), 0, 0 },
        { "includes", parse_role_list, ROLE(includes), 0, 0 },
        { NULL, NULL, 0, 0, 0 },
};

static const struct key_def offline_keys[] = {
        { "enabled", parse_bool, CFG(offline_enabled), 0, 0 },
        { "max_age", parse_duration, CFG(offline_max_age), 1, 90 * DAY },
        { "argon2_time_cost", parse_count, CFG(offline_time_cost), 1, OFFLINE_TIME_COST_MAX },
        { "argon2_memory", parse_count, CFG(offline_memory_mib), OFFLINE_MEMORY_KIB_MIN / 1024, OFFLINE_MEMORY_KIB_MAX / 1024 },
        { NULL, NULL, 0, 0, 0 },
};

static const struct key_def lockout_keys[] = {
        { "attempts", parse_count, CFG(lockout_attempts), 0, 100 },
        { "window", parse_duration, CFG(lockout_window), 1, DAY },
        { "duration", parse_duration, CFG(lockout_duration), 1, DAY },
        { NULL, NULL, 0, 0, 0 },
};

static const struct key_def session_keys[] = {
        { "revalidate", parse_duration, CFG(session_revalidate), 0, 30 * DAY },
        { NULL, NULL, 0, 0, 0 },
};

static const struct key_def pin_keys[] = {
        { "enabled", parse_bool, CFG(pin_enabled), 0, 0 },
        { "min_length", parse_count, CFG(pin_min_length), 4, 64 },
        { NULL, NULL, 0, 0, 0 },
};

static const struct key_def paths_keys[] = {
        { "state_dir", parse_path, CFG(state_dir), 0, 0 },
        { "cache_dir", parse_path, CFG(cache_dir), 0, 0 },
        { NULL, NULL, 0, 0, 0 },
};

static const struct key_def uids_keys[] = {
        { NULL, NULL, 0, 0, 0 },
};

#define CONFIG_UID_PINS_MAX 65536

/* "name = uid" in [uids]: a drop-in may re-pin a name; two names on one uid is an error (validate). */
static int parse_uid_pin(struct parse_ctx *ctx, const char *name, size_t name_len, const char *value_raw,
                         size_t value_len) {
        const char *f = ctx->filename, *what;
        char name_buf[CONFIG_LINE_MAX + 1], value[CONFIG_LINE_MAX + 1];
        struct cloudauth_config *c = ctx->c;
        unsigned long long uid;
        char *v;

        memcpy(name_buf, name, name_len);
        name_buf[name_len] = 0;
        for (char *p = name_buf; *p; p++) {
                if ((unsigned char) *p < 0x21 || *p == 0x7f || *p == ':' || *p == '/' || *p == ',' || *p == '\\')
                        return log_error_errno(ctx->log, -EINVAL, "%s:%u: key '%s' in [uids]: not a valid user name",
                                               f, ctx->line, name_buf);
                *p = ascii_lower(*p);
        }
        if (name_len == 0 || name_len > 256)
                return log_error_errno(ctx->log, -EINVAL, "%s:%u: [uids] needs 'user@domain = UID' lines", f,
                                       ctx->line);
        if ((what = text_check(value_raw, value_len)))
                return log_error_errno(ctx->log, -EINVAL, "%s:%u: key '%s' in [uids]: value %s", f, ctx->line,
                                       name_buf, what);
        memcpy(value, value_raw, value_len);
        value[value_len] = 0;
        strip_comment(value);
        v = strip(value);
        if (parse_number(v, 4294967294ULL, &uid) < 0 || uid < 1000 || uid == 65534)
                return log_error_errno(ctx->log, -EINVAL,
                                       "%s:%u: key '%s' in [uids]: '%s' is not a UID from 1000 to 4294967294 (not 65534)",
                                       f, ctx->line, name_buf, v);

        for (size_t i = 0; i < c->n_uid_pins; i++)
                if (streq(c->uid_pins[i].name, name_buf)) {
                        c->uid_pins[i].uid = (uint32_t) uid;
                        return 0;
                }
        if (c->n_uid_pins >= CONFIG_UID_PINS_MAX)
                return log_error_errno(ctx->log, -E2BIG, "%s:%u: too many [uids] pins (at most %d)", f, ctx->line,
                                       CONFIG_UID_PINS_MAX);

        struct config_uid_pin *n = realloc(c->uid_pins, (c->n_uid_pins + 1) * sizeof(*n));
        if (!n)
                return log_error_errno(ctx->log, -ENOMEM, "%s:%u: out of memory", f, ctx->line);
        c->uid_pins = n;
        n[c->n_uid_pins].name = strdup(name_buf);
        if (!n[c->n_uid_pins].name)
                return log_error_errno(ctx->log, -ENOMEM, "%s:%u: out of memory", f, ctx->line);
        n[c->n_uid_pins].uid = (uint32_t) uid;
        c->n_uid_pins++;
        return 0;
}

static const struct {
        const char *name;
        const struct key_def *keys;
} sections[_SECTION_MAX] = {
        [SECTION_PROVIDER] = { "provider", provider_keys },
        [SECTION_IDENTITY] = { "identity", identity_keys },
        [SECTION_ACCESS] = { "access", access_keys },
        [SECTION_ROLE] = { "role", role_keys },
        [SECTION_OFFLINE] = { "offline", offline_keys },
        [SECTION_LOCKOUT] = { "lockout", lockout_keys },
        [SECTION_SESSION] = { "session", session_keys },
        [SECTION_PIN] = { "pin", pin_keys },
        [SECTION_PATHS] = { "paths", paths_keys },
        [SECTION_UIDS] = { "uids", uids_keys },
};

static void role_done(struct config_role *r) {
        free(r->name);
        strv_free(r->groups);
        strv_free(r->app_roles);
        strv_free(r->unix_groups);
        strv_free(r->includes);
}

static ssize_t role_index(const struct cloudauth_config *c, const char *name) {
        for (size_t i = 0; i < c->n_roles; i++)
                if (streq_ptr(c->roles[i].name, name))
                        return (ssize_t) i;
        return -1;
}

static int parse_section(struct parse_ctx *ctx, char *line) {
        const char *f = ctx->filename;
        size_t n;
        char *inner;

        ctx->section = SECTION_SKIP;
        strip_comment(line);
        line = strip(line);
        n = strlen(line);
        if (n < 2 || line[n - 1] != ']')
                return log_error_errno(ctx->log, -EINVAL, "%s:%u: section header must end with ']'", f,
                                       ctx->line);
        line[n - 1] = 0;
        inner = strip(line + 1);

        if (strncmp(inner, "role", 4) == 0 && (inner[4] == 0 || is_blank(inner[4]))) {
                struct cloudauth_config *c = ctx->c;
                const char *name = strip(inner + 4);
                ssize_t i;

                if (!*name)
                        return log_error_errno(ctx->log, -EINVAL, "%s:%u: section [role] needs a name: [role NAME]",
                                               f, ctx->line);
                if (!role_name_valid(name))
                        return log_error_errno(ctx->log, -EINVAL,
                                               "%s:%u: invalid role name '%s' in [%s]: use a-z, 0-9, '_' and '-'", f,
                                               ctx->line, name, inner);
                i = role_index(c, name);
                if (i < 0) {
                        struct config_role *nr;

                        if (c->n_roles >= CONFIG_ROLES_MAX)
                                return log_error_errno(ctx->log, -E2BIG, "%s:%u: too many roles (at most %d)", f,
                                                       ctx->line, CONFIG_ROLES_MAX);
                        nr = realloc(c->roles, (c->n_roles + 1) * sizeof(*nr));
                        if (!nr)
                                return log_error_errno(ctx->log, -ENOMEM, "%s:%u: out of memory", f, ctx->line);
                        c->roles = nr;
                        memset(&nr[c->n_roles], 0, sizeof(*nr));
                        nr[c->n_roles].name = strdup(name);
                        if (!nr[c->n_roles].name)
                                return log_error_errno(ctx->log, -ENOMEM, "%s:%u: out of memory", f, ctx->line);
                        i = (ssize_t) c->n_roles++;
                }
                ctx->role = (size_t) i;
                ctx->section = SECTION_ROLE;
                snprintf(ctx->section_name, sizeof(ctx->section_name), "role %s", name);
                return 0;
        }

        for (enum section s = SECTION_PROVIDER; s < _SECTION_MAX; s++)
                if (s != SECTION_ROLE && streq(inner, sections[s].name)) {
                        ctx->section = s;
                        snprintf(ctx->section_name, sizeof(ctx->section_name), "%s", sections[s].name);
                        return 0;
                }
        return log_error_errno(ctx->log, -EINVAL, "%s:%u: unknown section [%s]", f, ctx->line, inner);
}

static bool key_name_valid(const char *s, size_t n) {
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_lower_alnum(s[i]) && s[i] != '_')
                        return false;
        return true;
}

static int origin_set(struct config_origin *o, const char *file, unsigned line) {
        char *f = strdup(file);

        if (!f)
                return -ENOMEM;
        free(o->file);
        o->file = f;
        o->line = line;
        return 0;
}

static int parse_assignment(struct parse_ctx *ctx, const char *s, size_t n, const char *eq) {
        const char *f = ctx->filename, *k = s, *ke = eq, *what;
        char key[CONFIG_LINE_MAX + 1], value[CONFIG_LINE_MAX + 1], err[CONFIG_ERR_MAX];
        const struct key_def *def = NULL;
        const char *vs = eq + 1;
        size_t vn = (size_t) (s + n - vs), idx = 0;
        unsigned *seen;
        void *base;
        char *v;
        int r;

        while (ke > k && is_blank(ke[-1]))
                ke--;
        if (ctx->section == SECTION_UIDS)
                return parse_uid_pin(ctx, k, (size_t) (ke - k), vs, vn);
        if (!key_name_valid(k, (size_t) (ke - k)))
                return log_error_errno(ctx->log, -EINVAL, "%s:%u: invalid key name (use a-z, 0-9 and '_')", f,
                                       ctx->line);
        memcpy(key, k, (size_t) (ke - k));
        key[ke - k] = 0;

        if (ctx->section == SECTION_SKIP)
                return 0;
        if (ctx->section == SECTION_NONE)
                return log_error_errno(ctx->log, -EINVAL, "%s:%u: key '%s' is outside of any [section]", f,
                                       ctx->line, key);

        for (const struct key_def *d = sections[ctx->section].keys; d->name; d++, idx++)
                if (streq(d->name, key)) {
                        def = d;
                        break;
                }
        if (!def)
                return log_error_errno(ctx->log, -EINVAL, "%s:%u: unknown key '%s' in [%s]", f, ctx->line, key,
                                       ctx->section_name);

        if ((what = text_check(vs, vn)))
                return log_error_errno(ctx->log, -EINVAL, "%s:%u: key '%s' in [%s]: value %s", f, ctx->line, key,
                                       ctx->section_name, what);

        seen = ctx->section == SECTION_ROLE ? &ctx->role_seen[ctx->role][idx] : &ctx->seen[ctx->section][idx];
        if (*seen)
                return log_error_errno(ctx->log, -EINVAL, "%s:%u: key '%s' in [%s]: set twice in this file (first on line %u)",
                                       f, ctx->line, key, ctx->section_name, *seen);
        *seen = ctx->line;

        memcpy(value, vs, vn);
        value[vn] = 0;
        strip_comment(value);
        v = strip(value);

        base = ctx->section == SECTION_ROLE ? (void *) &ctx->c->roles[ctx->role] : (void *) ctx->c;
        err[0] = 0;
        r = def->parse(base, def, v, err, sizeof(err));
        if (r == -ENOMEM)
                return log_error_errno(ctx->log, r, "%s:%u: key '%s' in [%s]: out of memory", f, ctx->line, key,
                                       ctx->section_name);
        if (r < 0)
                return log_error_errno(ctx->log, r, "%s:%u: key '%s' in [%s]: %s", f, ctx->line, key,
                                       ctx->section_name, err[0] ? err : "invalid value");

        if (ctx->origins) {
                struct config_origin *o = NULL;

                if (ctx->section == SECTION_ACCESS && streq(key, "allow_roles"))
                        o = &ctx->origins->allow_roles;
                else if (ctx->section == SECTION_ROLE && streq(key, "includes"))
                        o = &ctx->origins->includes[ctx->role];
                if (o && origin_set(o, f, ctx->line) < 0)
                        return log_error_errno(ctx->log, -ENOMEM, "%s:%u: out of memory", f, ctx->line);
        }
        return 0;
}

static int parse_line(struct parse_ctx *ctx, const char *s, size_t n) {
        const char *eq, *what;

        if (n > CONFIG_LINE_MAX)
                return log_error_errno(ctx->log, -EINVAL, "%s:%u: line is longer than %d bytes", ctx->filename,
                                       ctx->line, CONFIG_LINE_MAX);
        while (n > 0 && is_blank(*s)) {
                s++;
                n--;
        }
        if (n == 0 || *s == '#' || *s == ';')
                return 0;

        if (*s == '[') {
                char buf[CONFIG_LINE_MAX + 1];

                if ((what = text_check(s, n)))
                        return log_error_errno(ctx->log, -EINVAL, "%s:%u: section header %s", ctx->filename,
                                               ctx->line, what);
                memcpy(buf, s, n);
                buf[n] = 0;
                return parse_section(ctx, buf);
        }

        eq = memchr(s, '=', n);
        if (!eq)
                return log_error_errno(ctx->log, -EINVAL, "%s:%u: expected 'key = value' or '[section]'",
                                       ctx->filename, ctx->line);
        return parse_assignment(ctx, s, n, eq);
}

static int parse_text_full(struct cloudauth_config *c, const char *filename, const char *text, size_t len,
                           const struct logger *log, struct config_origins *origins) {
        _cleanup_free_ struct parse_ctx *ctx = NULL;
        const char *p = text, *end;
        int r = 0;

        if (!c || (!text && len > 0))
                return -EINVAL;
        ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
                return -ENOMEM;
        ctx->c = c;
        ctx->filename = filename ? filename : "(config)";
        ctx->log = log;
        ctx->origins = origins;
        ctx->section = SECTION_NONE;

        if (len == 0)
                return 0;
        end = text + len;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t n = (size_t) ((nl ? nl : end) - p);
                int q;

                if (n > 0 && p[n - 1] == '\r')
                        n--;
                if (ctx->line == UINT32_MAX)
                        return log_error_errno(log, -E2BIG, "%s: too many lines", ctx->filename);
                ctx->line++;
                /* Keep going after an error so one run reports every broken line. */
                q = parse_line(ctx, p, n);
                if (q < 0 && r == 0)
                        r = q;
                if (q == -ENOMEM)
                        break;
                p = nl ? nl + 1 : end;
        }
        return r;
}

int config_parse_text(struct cloudauth_config *c, const char *filename, const char *text, size_t len,
                      const struct logger *log) {
        return parse_text_full(c, filename, text, len, log, NULL);
}

int config_new_defaults(struct cloudauth_config **ret) {
        _cleanup_config_ struct cloudauth_config *c = NULL;

        if (!ret)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->scopes = strdup(DEFAULT_SCOPES);
        c->username_claim = strdup("preferred_username");
        c->groups_claim = strdup("groups");
        c->home = strdup("/home/%u");
        c->shell = strdup("/bin/bash");
        c->state_dir = strdup(CLOUDAUTH_STATE_DIR);
        c->cache_dir = strdup(CLOUDAUTH_CACHE_DIR);
        c->app_name = strdup("cloudauth");
        if (!c->app_name || !c->scopes || !c->username_claim || !c->groups_claim || !c->home || !c->shell || !c->state_dir ||
            !c->cache_dir)
                return -ENOMEM;
        c->flows = LOGIN_FLOW_PASSWORD;
        c->default_flow = LOGIN_FLOW_PASSWORD;
        c->timeout = 10;
        c->leeway = 300;
        c->qr = true;
        c->pkce = -1;
        c->uid_min = DEFAULT_UID_MIN;
        c->uid_max = DEFAULT_UID_MAX;
        c->offline_enabled = true;
        c->offline_max_age = 7 * DAY;
        c->session_revalidate = 15 * 60;
        c->pin_min_length = 6;
        c->offline_time_cost = OFFLINE_DEFAULT_TIME_COST;
        c->offline_memory_mib = OFFLINE_DEFAULT_MEMORY_MIB;
        c->lockout_attempts = 5;
        c->lockout_window = 15 * 60;
        c->lockout_duration = 15 * 60;
        *ret = TAKE_PTR(c);
        return 0;
}

void config_free(struct cloudauth_config *c) {
        if (!c)
                return;
        free(c->path);
        free(c->issuer);
        free(c->client_id);
        free(c->client_secret_file);
        free(c->app_name);
        free(c->scopes);
        free(c->ca_file);
        free(c->proxy);
        strv_free(c->tenants);
        free(c->username_claim);
        free(c->groups_claim);
        free(c->default_domain);
        free(c->home);
        free(c->shell);
        strv_free(c->allow_users);
        strv_free(c->allow_groups);
        strv_free(c->allow_roles);
        for (size_t i = 0; i < c->n_roles; i++)
                role_done(&c->roles[i]);
        free(c->roles);
        free(c->state_dir);
        free(c->cache_dir);
        for (size_t i = 0; i < c->n_uid_pins; i++)
                free(c->uid_pins[i].name);
        free(c->uid_pins);
        free(c);
}

const struct config_role *config_find_role(const struct cloudauth_config *c, const char *name) {
        ssize_t i;

        if (!c || !name)
                return NULL;
        i = role_index(c, name);
        return i < 0 ? NULL : &c->roles[i];
}

static void origins_free(struct config_origins *o) {
        if (!o)
                return;
        free(o->allow_roles.file);
        for (size_t i = 0; i < CONFIG_ROLES_MAX; i++)
                free(o->includes[i].file);
        free(o);
}

static void origins_freep(struct config_origins **o) {
        origins_free(*o);
}

/* "FILE:LINE" when the key's line is known, else the main file's name. */
static const char *where(char *buf, size_t n, const struct cloudauth_config *c, const struct config_origin *o) {
        if (o && o->file)
                snprintf(buf, n, "%s:%u", o->file, o->line);
        else
                snprintf(buf, n, "%s", c->path ? c->path : "(config)");
        return buf;
}

enum { WHITE, GREY, BLACK };

struct cycle_walk {
        const struct cloudauth_config *c;
        const struct logger *log;
        const struct config_origins *origins;
        unsigned char color[CONFIG_ROLES_MAX];
        size_t stack[CONFIG_ROLES_MAX];
        size_t depth;
};

static int cycle_report(struct cycle_walk *w, size_t from, size_t to) {
        char path[512], at[PATH_MAX + 16];
        size_t used = 0, start = 0;

        path[0] = 0;
        for (size_t i = 0; i < w->depth; i++)
                if (w->stack[i] == to) {
                        start = i;
                        break;
                }
        for (size_t i = start; i <= w->depth; i++) {
                const char *name = i < w->depth ? w->c->roles[w->stack[i]].name : w->c->roles[to].name;
                int k = snprintf(path + used, sizeof(path) - used, "%s%s", i > start ? " -> " : "", name);
                if (k < 0 || (size_t) k >= sizeof(path) - used)
                        break;
                used += (size_t) k;
        }
        return log_error_errno(w->log, -ELOOP, "%s: key 'includes' in [role %s]: include cycle %s",
                               where(at, sizeof(at), w->c, w->origins ? &w->origins->includes[from] : NULL),
                               w->c->roles[from].name, path);
}

static int cycle_visit(struct cycle_walk *w, size_t i) {
        int r = 0;

        w->color[i] = GREY;
        w->stack[w->depth++] = i;
        for (char **inc = w->c->roles[i].includes; inc && *inc; inc++) {
                ssize_t j = role_index(w->c, *inc);
                int q = 0;

                if (j < 0)
                        continue;
                if (w->color[j] == GREY)
                        q = cycle_report(w, i, (size_t) j);
                else if (w->color[j] == WHITE)
                        q = cycle_visit(w, (size_t) j);
                if (q < 0) {
                        r = q;
                        break;
                }
        }
        w->depth--;
        w->color[i] = BLACK;
        return r;
}

static int validate_full(const struct cloudauth_config *c, const struct logger *log,
                         const struct config_origins *origins) {
        const char *file;
        char at[PATH_MAX + 16];
        _cleanup_free_ struct cycle_walk *w = NULL;
        int r = 0;

        if (!c)
                return -EINVAL;
        file = c->path ? c->path : "(config)";

        if (!c->issuer)
                r = log_error_errno(log, -EINVAL, "%s: required key 'issuer' in [provider] is missing", file);
        if (!c->client_id)
                r = log_error_errno(log, -EINVAL, "%s: required key 'client_id' in [provider] is missing", file);
        if (!(c->flows & c->default_flow))
                r = log_error_errno(log, -EINVAL, "%s: key 'flows' in [provider]: the default flow is not allowed",
                                    file);
        if (c->n_roles > CONFIG_ROLES_MAX)
                return log_error_errno(log, -E2BIG, "%s: too many roles (at most %d)", file, CONFIG_ROLES_MAX);

        for (size_t i = 0; i < c->n_uid_pins; i++) {
                if (c->uid_pins[i].uid < c->uid_min || c->uid_pins[i].uid > c->uid_max)
                        r = log_error_errno(log, -EINVAL, "%s: key '%s' in [uids]: UID %u is outside uid_range %u-%u",
                                            file, c->uid_pins[i].name, c->uid_pins[i].uid, c->uid_min, c->uid_max);
                for (size_t j = 0; j < i; j++)
                        if (c->uid_pins[j].uid == c->uid_pins[i].uid)
                                r = log_error_errno(log, -EINVAL, "%s: [uids]: UID %u is pinned for both %s and %s",
                                                    file, c->uid_pins[i].uid, c->uid_pins[j].name,
                                                    c->uid_pins[i].name);
        }

        for (char **s = c->allow_roles; s && *s; s++)
                if (!config_find_role(c, *s))
                        r = log_error_errno(log, -EINVAL, "%s: key 'allow_roles' in [access]: unknown role '%s'",
                                            where(at, sizeof(at), c, origins ? &origins->allow_roles : NULL), *s);

        for (size_t i = 0; i < c->n_roles; i++)
                for (char **s = c->roles[i].includes; s && *s; s++)
                        if (!config_find_role(c, *s))
                                r = log_error_errno(log, -EINVAL, "%s: key 'includes' in [role %s]: unknown role '%s'",
                                                    where(at, sizeof(at), c, origins ? &origins->includes[i] : NULL),
                                                    c->roles[i].name, *s);

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->c = c;
        w->log = log;
        w->origins = origins;
        for (size_t i = 0; i < c->n_roles; i++)
                if (w->color[i] == WHITE) {
                        int q = cycle_visit(w, i);
                        if (q < 0) {
                                r = q;
                                break;
                        }
                }
        return r;
}

int config_validate(const struct cloudauth_config *c, const struct logger *log) {
        return validate_full(c, log, NULL);
}

int open_trusted_file(const char *path, unsigned forbidden_mode, size_t max_size, const struct logger *log) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        unsigned bad;

        if (!path)
                return -EINVAL;
        /* O_NONBLOCK: a FIFO planted in place of the file must not hang a login. */
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                int r = -errno;
                if (r == -ENOENT)
                        return r;
                if (r == -ELOOP)
                        return log_error_errno(log, r, "%s: is a symbolic link, refusing to follow it", path);
                return log_error_errno(log, r, "%s: cannot open: %s", path, errno_text(r));
        }
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                return log_error_errno(log, r, "%s: cannot stat: %s", path, errno_text(r));
        }
        if (S_ISDIR(st.st_mode))
                return log_error_errno(log, -EISDIR, "%s: is a directory, not a file", path);
        if (!S_ISREG(st.st_mode))
                return log_error_errno(log, -EPERM, "%s: is not a regular file", path);
        if (st.st_uid != 0 && st.st_uid != geteuid())
                return log_error_errno(log, -EPERM, "%s: is owned by uid %u, not root", path, (unsigned) st.st_uid);
        bad = (unsigned) st.st_mode & forbidden_mode & 07777;
        if (bad & 022)
                return log_error_errno(log, -EPERM, "%s: is writable by group or others (mode %04o)", path,
                                       (unsigned) st.st_mode & 07777);
        if (bad & 044)
                return log_error_errno(log, -EPERM, "%s: is readable by group or others (mode %04o)", path,
                                       (unsigned) st.st_mode & 07777);
        if (bad)
                return log_error_errno(log, -EPERM, "%s: has mode %04o, bits %04o must not be set", path,
                                       (unsigned) st.st_mode & 07777, bad);
        if ((unsigned long long) st.st_size > max_size)
                return log_error_errno(log, -EFBIG, "%s: is %lld bytes, more than the %zu allowed", path,
                                       (long long) st.st_size, max_size);
        return TAKE_FD(fd);
}

/* Reads at most max bytes; a file that grew past max since fstat() is refused too. */
static int read_bounded(int fd, const char *path, char *buf, size_t max, const struct logger *log, size_t *ret_len) {
        size_t n = 0;

        for (;;) {
                ssize_t k = read(fd, buf + n, max + 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        return log_error_errno(log, r, "%s: cannot read: %s", path, errno_text(r));
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max)
                        return log_error_errno(log, -EFBIG, "%s: is larger than %zu bytes", path, max);
        }
        *ret_len = n;
        return 0;
}

static int load_file(struct cloudauth_config *c, const char *path, const struct logger *log,
                     struct config_origins *origins) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r;

        fd = open_trusted_file(path, 022, CONFIG_FILE_MAX, log);
        if (fd == -ENOENT)
                return log_error_errno(log, fd, "%s: cannot open: %s", path, errno_text(fd));
        if (fd < 0)
                return fd;
        buf = malloc(CONFIG_FILE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        if ((r = read_bounded(fd, path, buf, CONFIG_FILE_MAX, log, &len)) < 0)
                return r;
        return parse_text_full(c, path, buf, len, log, origins);
}

static int strcmp_ptr(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static bool dropin_name_valid(const char *name) {
        size_t n = strlen(name);

        /* Hidden files are editors' and package managers' leftovers, not configuration. */
        return name[0] != '.' && n > strlen(".conf") && streq(name + n - strlen(".conf"), ".conf");
}

static int dropins_list(const char *dir, const struct logger *log, char ***ret) {
        _cleanup_strv_free_ char **v = NULL;
        size_t n = 0;
        struct stat st;
        struct dirent *de;
        DIR *d;
        int fd, r = 0;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                if (r == -ENOENT) {
                        *ret = NULL;
                        return 0;
                }
                if (r == -ELOOP)
                        return log_error_errno(log, r, "%s: is a symbolic link, refusing to follow it", dir);
                return log_error_errno(log, r, "%s: cannot open directory: %s", dir, errno_text(r));
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                close(fd);
                return log_error_errno(log, r, "%s: cannot stat: %s", dir, errno_text(r));
        }
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
                close(fd);
                return log_error_errno(log, -EPERM, "%s: is owned by uid %u, not root", dir, (unsigned) st.st_uid);
        }
        if (st.st_mode & 022) {
                close(fd);
                return log_error_errno(log, -EPERM, "%s: is writable by group or others (mode %04o)", dir,
                                       (unsigned) st.st_mode & 07777);
        }
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                close(fd);
                return log_error_errno(log, r, "%s: cannot read directory: %s", dir, errno_text(r));
        }
        for (;;) {
                char **nv;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0) {
                                r = -errno;
                                log_err(log, "%s: cannot read directory: %s", dir, errno_text(r));
                        }
                        break;
                }
                if (!dropin_name_valid(de->d_name))
                        continue;
                if (n >= CONFIG_DROPINS_MAX) {
                        r = log_error_errno(log, -E2BIG, "%s: more than %d drop-in files", dir, CONFIG_DROPINS_MAX);
                        break;
                }
                nv = realloc(v, (n + 2) * sizeof(char *));
                if (!nv) {
                        r = -ENOMEM;
                        break;
                }
                v = nv;
                v[n] = strdup(de->d_name);
                if (!v[n]) {
                        r = -ENOMEM;
                        break;
                }
                v[++n] = NULL;
        }
        closedir(d);
        if (r < 0)
                return r;
        if (n > 1)
                qsort(v, n, sizeof(char *), strcmp_ptr);
        *ret = TAKE_PTR(v);
        return 0;
}

int config_load(const char *path, const struct logger *log, struct cloudauth_config **ret) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        _cleanup_(origins_freep) struct config_origins *origins = NULL;
        _cleanup_strv_free_ char **dropins = NULL;
        _cleanup_free_ char *dir = NULL;
        int r;

        if (!path || !ret)
                return -EINVAL;
        if ((r = config_new_defaults(&c)) < 0)
                return r;
        c->path = strdup(path);
        origins = calloc(1, sizeof(*origins));
        if (!c->path || !origins || asprintf(&dir, "%s.d", path) < 0)
                return -ENOMEM;

        if ((r = load_file(c, path, log, origins)) < 0 || (r = dropins_list(dir, log, &dropins)) < 0)
                return r;
        for (char **name = dropins; name && *name; name++) {
                _cleanup_free_ char *file = NULL;

                if (asprintf(&file, "%s/%s", dir, *name) < 0)
                        return -ENOMEM;
                if ((r = load_file(c, file, log, origins)) < 0)
                        return r;
        }
        if ((r = validate_full(c, log, origins)) < 0 || (r = scopes_for_refresh(c)) < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int config_read_secret_file(const char *path, const struct logger *log, char **ret) {
        _cleanup_close_ int fd = -1;
        char buf[CONFIG_SECRET_MAX + 1];
        size_t len = 0;
        char *s;
        int r;

        if (!path || !ret)
                return -EINVAL;
        fd = open_trusted_file(path, 077, CONFIG_SECRET_MAX, log);
        if (fd == -ENOENT)
                return log_error_errno(log, fd, "%s: cannot open: %s", path, errno_text(fd));
        if (fd < 0)
                return fd;

        r = read_bounded(fd, path, buf, CONFIG_SECRET_MAX, log, &len);
        if (r < 0)
                goto out;
        if (len > 0 && buf[len - 1] == '\n') {
                len--;
                if (len > 0 && buf[len - 1] == '\r')
                        len--;
        }
        if (len == 0) {
                r = log_error_errno(log, -EINVAL, "%s: is empty", path);
                goto out;
        }
        if (memchr(buf, 0, len) || memchr(buf, '\n', len)) {
                r = log_error_errno(log, -EINVAL, "%s: must hold the secret on one line", path);
                goto out;
        }
        s = malloc(len + 1);
        if (!s) {
                r = -ENOMEM;
                goto out;
        }
        memcpy(s, buf, len);
        s[len] = 0;
        *ret = s;
        r = 0;
out:
        explicit_bzero(buf, sizeof(buf));
        return r;
}
