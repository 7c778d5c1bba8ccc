/* SPDX-License-Identifier: MIT */
/* cloudauthctl: check a configuration and try logins without going through PAM. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "browser.h"
#include "cache.h"
#include "cloudauth-build.h"
#include "config.h"
#include "device.h"
#include "identity.h"
#include "json-util.h"
#include "lockout.h"
#include "login.h"
#include "macro.h"
#include "nssdb.h"
#include "provider.h"
#include "qr.h"
#include "revoke.h"
#include "secret.h"
#include "termesc.h"

#define PASSWORD_MAX 1024
/* How long login --browser waits for the browser to come back, unless --timeout says otherwise. */
#define BROWSER_TIMEOUT_DEFAULT 300
#define BROWSER_TIMEOUT_MAX 3600

struct ctl_options {
        const char *config_path;
        bool json;
        bool debug;
        unsigned timeout; /* login --browser, seconds */
};

/*
 * Everything the provider sent (names, groups, roles, claims, URLs, codes) is
 * data: it reaches the terminal only through these, which escape every control
 * character (termesc.h). Out of memory, a value is left out, never shown raw.
 */
static void put_text(FILE *f, const char *s) {
        _cleanup_free_ char *e = NULL;

        if (s && termesc_text(s, &e) >= 0)
                fputs(e, f);
        else if (s)
                fputs("?", f);
}

static char *text_escape(const char *s) {
        char *e = NULL;

        if (termesc_text(strempty(s), &e) < 0)
                return NULL;
        return e;
}

static void print_field(const char *label, const char *value) {
        printf("%-14s ", label);
        put_text(stdout, value);
        putchar('\n');
}

/* One JSON document and a newline; its strings escaped as \u00XX where a terminal would act on them. */
static int print_json(FILE *f, const json_t *doc, size_t flags) {
        _cleanup_free_ char *text = NULL, *safe = NULL;
        int r;

        if (!doc)
                return -ENOMEM;
        text = json_dumps(doc, flags);
        if (!text)
                return -ENOMEM;
        if ((r = termesc_json(text, &safe)) < 0)
                return r;
        fputs(safe, f);
        fputc('\n', f);
        return 0;
}

/* As log_sink_stderr, for messages that may quote the provider. */
static void ctl_log_sink(void *userdata, int priority, const char *message) {
        const char *prefix = "";

        (void) userdata;
        if (priority <= LOG_ERR)
                prefix = "error: ";
        else if (priority == LOG_WARNING)
                prefix = "warning: ";
        fprintf(stderr, "cloudauth: %s", prefix);
        put_text(stderr, message);
        fputc('\n', stderr);
}

/* Collects check results so they can be printed as text or as one JSON document. */
struct check_report {
        bool json;
        json_t *items;
        unsigned n_errors, n_warnings;
};

static void report_add(struct check_report *rep, const char *name, const char *level, const char *fmt, ...)
        _printf_(4, 5);

static void report_add(struct check_report *rep, const char *name, const char *level, const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        if (streq(level, "error"))
                rep->n_errors++;
        else if (streq(level, "warning"))
                rep->n_warnings++;

        if (rep->json)
                json_array_append_new(rep->items, json_pack("{s:s, s:s, s:s}", "check", name, "level", level,
                                                            "message", msg));
        else {
                printf("%-8s %-10s ", streq(level, "ok") ? "ok" : level, name);
                put_text(stdout, msg);
                putchar('\n');
        }
}

/* Lines logged by lib while checking are collected as errors of the "config" check. */
struct collect_sink {
        struct check_report *rep;
        const char *name;
};

static void collect_sink_func(void *userdata, int priority, const char *message) {
        struct collect_sink *s = userdata;

        if (priority <= LOG_ERR)
                report_add(s->rep, s->name, "error", "%s", message);
        else if (priority == LOG_WARNING)
                report_add(s->rep, s->name, "warning", "%s", message);
}

static void check_dir(struct check_report *rep, const char *what, const char *path) {
        struct stat st;

        if (stat(path, &st) < 0) {
                if (errno == ENOENT)
                        report_add(rep, "files", "ok", "%s %s does not exist yet; it is created on first use", what,
                                   path);
                else
                        report_add(rep, "files", "error", "%s %s: %s", what, path, strerror(errno));
                return;
        }
        if (!S_ISDIR(st.st_mode))
                report_add(rep, "files", "error", "%s %s is not a directory", what, path);
        else if (st.st_uid != 0 && st.st_uid != geteuid())
                report_add(rep, "files", "error", "%s %s is owned by uid %u, not root", what, path, (unsigned) st.st_uid);
        else if (st.st_mode & 022)
                report_add(rep, "files", "error", "%s %s is writable by group or others", what, path);
        else
                report_add(rep, "files", "ok", "%s %s is owned by uid %u, mode %04o", what, path, (unsigned) st.st_uid,
                           (unsigned) (st.st_mode & 07777));
}

static int verb_check(const struct ctl_options *o) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        struct check_report rep = { .json = o->json, .items = json_array() };
        struct collect_sink sink = { .rep = &rep, .name = "config" };
        struct logger log = { .sink = collect_sink_func, .userdata = &sink, .debug = false };
        struct provider p;
        bool provider_ok = false;
        int r;

        if (!rep.items)
                return EXIT_FAILURE;

        r = config_load(o->config_path, &log, &c);
        if (r < 0) {
                report_add(&rep, "config", "error", "%s is not usable: %s", o->config_path, strerror(-r));
                goto print;
        }
        report_add(&rep, "config", "ok", "%s is valid (issuer %s, client %s)", o->config_path, c->issuer,
                   c->client_id);

        if (strv_length(c->allow_users) + strv_length(c->allow_groups) + strv_length(c->allow_roles) == 0)
                report_add(&rep, "access", "warning",
                           "no allow_users, allow_groups or allow_roles: nobody can log in");
        else
                report_add(&rep, "access", "ok", "%zu users, %zu groups, %zu roles allowed",
                           strv_length(c->allow_users), strv_length(c->allow_groups), strv_length(c->allow_roles));

        if (c->client_secret_file) {
                _cleanup_erase_ char *secret = NULL;

                sink.name = "files";
                if (config_read_secret_file(c->client_secret_file, &log, &secret) >= 0)
                        report_add(&rep, "files", "ok", "client secret %s is readable by root only",
                                   c->client_secret_file);
        }
        check_dir(&rep, "state directory", c->state_dir);
        check_dir(&rep, "cache directory", c->cache_dir);

        r = cache_nssdb_check(c, &log);
        if (r == -ENOENT)
                report_add(&rep, "nss", "error",
                           "%s/nss.db does not exist: run 'cloudauthctl cache rebuild' so sshd finds first-time users",
                           c->state_dir);
        else if (r == -ESTALE)
                report_add(&rep, "nss", "warning",
                           "%s/nss.db was written with other settings (domain, uid_range, home or shell): "
                           "run 'cloudauthctl cache rebuild'",
                           c->state_dir);
        else if (r < 0)
                report_add(&rep, "nss", "error", "%s/nss.db is not usable (%s): run 'cloudauthctl cache rebuild'",
                           c->state_dir, strerror(-r));
        else
                report_add(&rep, "nss", "ok", "%s/nss.db matches this configuration", c->state_dir);

        sink.name = "provider";
        if (provider_init(&p, c, &log) < 0) {
                report_add(&rep, "provider", "error", "out of memory");
                goto print;
        }

        r = provider_load_metadata(&p, true);
        if (r < 0)
                report_add(&rep, "discovery", "error", "%s/.well-known/openid-configuration: %s", c->issuer,
                           http_strerror(r));
        else {
                report_add(&rep, "discovery", "ok", "token endpoint %s", p.metadata->token_endpoint);
                if (p.metadata->device_authorization_endpoint)
                        report_add(&rep, "discovery", "ok", "device endpoint %s",
                                   p.metadata->device_authorization_endpoint);
                r = provider_load_jwks(&p, true);
                if (r < 0)
                        report_add(&rep, "jwks", "error", "%s: %s", p.metadata->jwks_uri, http_strerror(r));
                else {
                        report_add(&rep, "jwks", "ok", "%zu signing keys from %s", p.jwks->n_keys, p.metadata->jwks_uri);
                        provider_ok = true;
                }
        }

        if (provider_ok && p.server_date > 0) {
                long long skew = (long long) time(NULL) - (long long) p.server_date;
                long long abs_skew = skew < 0 ? -skew : skew;

                if (abs_skew > (long long) c->leeway)
                        report_add(&rep, "clock", "error",
                                   "this host's clock is %+lld s off the provider's, more than the leeway of %u s",
                                   skew, c->leeway);
                else if (abs_skew > 60)
                        report_add(&rep, "clock", "warning", "this host's clock is %+lld s off the provider's", skew);
                else
                        report_add(&rep, "clock", "ok", "within %lld s of the provider's clock", abs_skew);
        } else if (provider_ok)
                report_add(&rep, "clock", "warning", "the provider sent no Date header; clock skew not checked");

        provider_done(&p);

print:
        if (o->json) {
                json_t *doc = json_pack("{s:b, s:i, s:i, s:O}", "ok", rep.n_errors == 0, "errors", rep.n_errors,
                                        "warnings", rep.n_warnings, "checks", rep.items);
                (void) print_json(stdout, doc, JSON_INDENT(2));
                json_decref(doc);
        } else if (rep.n_errors)
                printf("%u problem%s found.\n", rep.n_errors, rep.n_errors == 1 ? "" : "s");
        json_decref(rep.items);
        return rep.n_errors ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Read a password without echo from the terminal, or one line from stdin when there is none. */
static int password_read(const char *prompt, char **ret) {
        _cleanup_close_ int tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
        char buf[PASSWORD_MAX + 2];
        struct termios old, quiet;
        bool restore = false;
        FILE *in = stdin;
        size_t n;

        if (tty >= 0 && isatty(STDIN_FILENO) && tcgetattr(tty, &old) == 0) {
                quiet = old;
                quiet.c_lflag &= ~(tcflag_t) (ECHO | ECHONL);
                quiet.c_lflag |= ICANON;
                if (tcsetattr(tty, TCSAFLUSH, &quiet) == 0)
                        restore = true;
                (void) !write(tty, prompt, strlen(prompt));
        } else
                fputs(prompt, stderr);

        /* Unbuffered, so no copy of the password stays behind in stdio's buffer. */
        setvbuf(in, NULL, _IONBF, 0);
        if (!fgets(buf, sizeof(buf), in)) {
                if (restore)
                        (void) tcsetattr(tty, TCSAFLUSH, &old);
                secret_wipe(buf, sizeof(buf));
                return -EIO;
        }
        if (restore) {
                (void) tcsetattr(tty, TCSAFLUSH, &old);
                (void) !write(tty, "\n", 1);
        } else if (isatty(STDERR_FILENO))
                fputc('\n', stderr);

        n = strcspn(buf, "\n");
        if (n > PASSWORD_MAX) {
                secret_wipe(buf, sizeof(buf));
                return -E2BIG;
        }
        buf[n] = 0;
        *ret = strdup(buf);
        secret_wipe(buf, sizeof(buf));
        return *ret ? 0 : -ENOMEM;
}

static json_t *strv_to_json(char *const *v) {
        json_t *a = json_array();

        for (; v && *v && a; v++)
                json_array_append_new(a, json_string(*v));
        return a;
}

static void print_strv(const char *label, char *const *v) {
        printf("%-14s ", label);
        if (!v || !*v)
                printf("-");
        for (char *const *i = v; i && *i; i++) {
                fputs(i == v ? "" : ", ", stdout);
                put_text(stdout, *i);
        }
        printf("\n");
}

static int print_login(const struct ctl_options *o, const char *flow, const char *user,
                       const struct login_result *res) {
        int r;

        if (o->json) {
                json_t *doc = json_pack("{s:s?, s:s, s:s, s:s}", "user", user, "flow", flow, "result",
                                        login_status_to_string(res->status), "reason", strempty(res->reason));
                if (!doc)
                        return -ENOMEM;
                json_object_set_new(doc, "requests", json_integer(res->n_requests));
                if (res->status == LOGIN_OK) {
                        json_object_set_new(doc, "local_user", json_string(res->identity->username));
                        json_object_set_new(doc, "uid", json_integer(res->uid));
                        json_object_set_new(doc, "idp_user", json_string(res->identity->idp_username));
                        json_object_set_new(doc, "groups", strv_to_json(res->identity->groups));
                        json_object_set_new(doc, "app_roles", strv_to_json(res->identity->app_roles));
                        json_object_set_new(doc, "roles", strv_to_json(res->roles));
                        json_object_set_new(doc, "allowed", json_boolean(res->allowed));
                        json_object_set_new(doc, "access_reason", json_string(strempty(res->access_reason)));
                        json_object_set(doc, "claims", res->claims);
                }
                r = print_json(stdout, doc, JSON_INDENT(2) | JSON_SORT_KEYS);
                json_decref(doc);
                return r;
        }

        if (res->status != LOGIN_OK) {
                fputs("Login failed for ", stdout);
                put_text(stdout, user ? user : "the sign-in");
                fputs(": ", stdout);
                put_text(stdout, strempty(res->reason));
                printf(" (%s)\n", login_status_to_string(res->status));
                return 0;
        }

        printf("Verified ID token claims:\n");
        if ((r = print_json(stdout, res->claims, JSON_INDENT(2) | JSON_SORT_KEYS)) < 0)
                return r;
        printf("\n");
        print_field("local user", res->identity->username);
        printf("%-14s %u (primary group %u, a private group)\n", "uid", res->uid, res->uid);
        print_field("IdP user", res->identity->idp_username);
        print_strv("groups", res->identity->groups);
        print_strv("app roles", res->identity->app_roles);
        print_strv("roles", res->roles);
        printf("%-14s %s (", "allowed", res->allowed ? "yes" : "no");
        put_text(stdout, strempty(res->access_reason));
        printf(")\n");
        return 0;
}

enum ctl_flow {
        CTL_FLOW_NONE,
        CTL_FLOW_PASSWORD,
        CTL_FLOW_DEVICE,
        CTL_FLOW_BROWSER,
};

static const char *ctl_flow_name(enum ctl_flow f) {
        return f == CTL_FLOW_DEVICE ? "device" : f == CTL_FLOW_BROWSER ? "browser" : "password";
}

/* A flow ended without tokens: reason is static, NULL for the result's own text. */
static void login_fail(struct login_result *res, enum oauth_result r, const char *reason) {
        if (r == OAUTH_OK)
                r = OAUTH_PROTOCOL_ERROR;
        res->oauth = r;
        res->status = login_status_from_oauth(r);
        res->reason = reason ? reason : oauth_result_to_string(r);
}

/* Discovery and keys before the person does anything, so a broken provider is said at once. */
static int provider_ready(struct provider *p, struct login_result *res) {
        int r;

        if ((r = provider_load_metadata(p, false)) < 0 || (r = provider_load_jwks(p, false)) < 0) {
                res->status = r == -EACCES ? LOGIN_CONFIG_ERROR : LOGIN_UNAVAILABLE;
                res->reason = r == -EKEYREJECTED        ? "TLS certificate of the provider could not be verified"
                              : http_error_is_unreachable(r) ? "provider unreachable"
                              : r == -EACCES                 ? "discovery document is for another issuer"
                                                             : "provider metadata unusable";
                return r;
        }
        return 0;
}

static int login_password_run(struct provider *p, const char *user, struct login_result *res) {
        _cleanup_erase_ char *password = NULL;
        char prompt[320];
        int r;

        snprintf(prompt, sizeof(prompt), "Password for %s: ", user);
        r = password_read(prompt, &password);
        if (r < 0) {
                log_err(p->log, "cannot read the password: %s", strerror(-r));
                return r;
        }
        return login_password(p, user, password, res);
}

/* Where progress goes: with --json, stdout carries only the result document. */
static FILE *progress_stream(const struct ctl_options *o) {
        return o->json ? stderr : stdout;
}

struct device_show {
        const struct cloudauth_config *config;
        struct provider *provider;
        const char *user;
        FILE *out;
};

static int device_show(void *userdata, const struct device_authorization *a) {
        struct device_show *d = userdata;
        const struct cloudauth_config *c = d->config;
        _cleanup_free_ char *qr = NULL;
        char until[32] = "";
        struct tm tm;
        long left;

        if (c->qr && a->verification_uri_complete && qr_render_utf8(a->verification_uri_complete, &qr) < 0)
                qr = NULL; /* the link and the code work without it */
        left = (long) a->expires_at - (long) d->provider->clock();
        if (left < 0)
                left = 0;
        if (localtime_r(&a->expires_at, &tm))
                strftime(until, sizeof(until), " (at %H:%M:%S)", &tm);
        fputs("Sign in to ", d->out);
        put_text(d->out, c->app_name);
        if (d->user) {
                fputs(" as ", d->out);
                put_text(d->out, d->user);
        }
        fputs(":\n  open     ", d->out);
        put_text(d->out, a->verification_uri);
        fputs("\n  and enter the code  ", d->out);
        put_text(d->out, a->user_code);
        fputc('\n', d->out);
        if (qr)
                fprintf(d->out, "or scan this code with your phone:\n%s", qr);
        fprintf(d->out, "The code expires in %ld:%02ld%s. Waiting for the sign-in...\n", left / 60, left % 60, until);
        fflush(d->out);
        return 0;
}

/* The same device login the PAM module's helper runs; only the way it shows the code differs. */
static int login_device_run(const struct ctl_options *o, struct provider *p, const char *user,
                            struct login_result *res) {
        struct device_show d = { .config = p->config, .provider = p, .user = user, .out = progress_stream(o) };
        struct login_device_ui ui = { .show = device_show, .userdata = &d };
        int r = login_device(p, user, &ui, res);

        return r == -ENOMEM ? r : 0;
}

static int login_browser_run(const struct ctl_options *o, struct provider *p, const char *user,
                             struct login_result *res) {
        _cleanup_(browser_login_done) struct browser_login b = { .fd = -1 };
        _cleanup_erase_ char *code = NULL;
        FILE *out = progress_stream(o);
        struct oauth_tokens tokens = {0};
        enum oauth_result result = OAUTH_PROTOCOL_ERROR;
        int r;

        if (provider_ready(p, res) < 0)
                return 0;
        r = browser_login_start(p, &b);
        if (r == -ENOMEM)
                return r;
        if (r == -EOPNOTSUPP) {
                res->status = LOGIN_CONFIG_ERROR;
                res->reason = "the provider has no authorization endpoint";
                return 0;
        }
        if (r < 0) {
                log_err(p->log, "cannot listen on 127.0.0.1: %s", strerror(-r));
                res->status = LOGIN_UNAVAILABLE;
                res->reason = "cannot start the browser login";
                return 0;
        }

        /* The URL starts with the provider's authorization endpoint. */
        fputs("Open this URL in a browser on this machine:\n\n  ", out);
        put_text(out, b.authorization_url);
        fputs("\n\n", out);
        fprintf(out, "Waiting up to %u s for the browser to come back to %s ...\n", o->timeout, b.redirect_uri);
        fflush(out);

        r = browser_login_wait(&b, o->timeout, &code, &result);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_err(p->log, "the loopback listener failed: %s", strerror(-r));
                res->status = LOGIN_UNAVAILABLE;
                res->reason = "the loopback listener failed";
                return 0;
        }
        if (result != OAUTH_OK) {
                login_fail(res, result, b.reason);
                return 0;
        }

        r = oauth_authorization_code(p, code, b.redirect_uri, b.pkce.verifier, &tokens, &res->oauth);
        if (r == -ENOMEM)
                goto out;
        if (r < 0 || res->oauth != OAUTH_OK) {
                login_fail(res, res->oauth, NULL);
                r = 0;
                goto out;
        }
        r = login_verify_tokens(p, user, tokens.id_token, b.nonce, res);

out:
        oauth_tokens_done(&tokens);
        return r == -ENOMEM ? r : 0;
}

static int verb_login(const struct ctl_options *o, enum ctl_flow flow, const char *user) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        struct logger log = { .sink = ctl_log_sink, .debug = o->debug };
        struct login_result res = {0};
        struct provider p;
        int r;

        r = config_load(o->config_path, &log, &c);
        if (r < 0)
                return EXIT_FAILURE;

        if (provider_init(&p, c, &log) < 0)
                return EXIT_FAILURE;
        r = flow == CTL_FLOW_DEVICE    ? login_device_run(o, &p, user, &res)
            : flow == CTL_FLOW_BROWSER ? login_browser_run(o, &p, user, &res)
                                       : login_password_run(&p, user, &res);
        if (flow != CTL_FLOW_PASSWORD)
                res.n_requests = p.n_requests;
        provider_done(&p);
        /* What a login would give; cloudauthctl login writes nothing to the identity store. */
        if (r >= 0 && res.status == LOGIN_OK && cache_uid_for(c, &log, res.identity, &res.uid) < 0)
                res.uid = 0;
        if (r < 0) {
                if (r != -EIO && r != -E2BIG)
                        log_err(&log, "login failed: %s", strerror(-r));
                login_result_done(&res);
                return EXIT_FAILURE;
        }

        (void) print_login(o, ctl_flow_name(flow), user, &res);
        r = res.status == LOGIN_OK && res.allowed ? EXIT_SUCCESS : EXIT_FAILURE;
        login_result_done(&res);
        return r;
}

static void format_time(int64_t t, char *buf, size_t size) {
        time_t tt = (time_t) t;
        struct tm tm;

        if (t <= 0 || !localtime_r(&tt, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M", &tm) == 0)
                snprintf(buf, size, "-");
}

static json_t *cache_groups_to_json(const struct cache_group *g, size_t n) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < n; i++)
                json_array_append_new(a, json_pack("{s:s, s:I}", "name", g[i].name, "gid", (json_int_t) g[i].gid));
        return a;
}

/* Only the identity fields: a record may one day carry secrets, which are never printed. */
static json_t *cache_user_to_json(const struct cache_user *u) {
        return json_pack("{s:s, s:s, s:I, s:s?, s:s?, s:s, s:o, s:o, s:o, s:o, s:o, s:I, s:I}",
                         "name", u->username, "idp_name", u->idp_username, "uid", (json_int_t) u->uid,
                         "display_name", u->display_name, "email", u->email, "subject", u->subject_key,
                         "idp_groups", strv_to_json(u->idp_groups), "app_roles", strv_to_json(u->app_roles),
                         "roles", strv_to_json(u->roles), "groups", cache_groups_to_json(u->groups, u->n_groups),
                         "unix_groups", cache_groups_to_json(u->unix_groups, u->n_unix_groups),
                         "first_login", (json_int_t) u->first_login,
                         "last_online_login", (json_int_t) u->last_online_login);
}

static void print_json_and_free(json_t *doc) {
        (void) print_json(stdout, doc, JSON_INDENT(2));
        json_decref(doc);
}

static int verb_user_list(const struct ctl_options *o) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        struct logger log = { .sink = ctl_log_sink, .debug = o->debug };
        struct cache_user **users = NULL;
        size_t n = 0;
        int r;

        if (config_load(o->config_path, &log, &c) < 0)
                return EXIT_FAILURE;
        r = cache_user_list(c, &log, &users, &n);
        if (r < 0) {
                log_err(&log, "cannot list the cached users in %s: %s", c->state_dir, strerror(-r));
                return EXIT_FAILURE;
        }

        if (o->json) {
                json_t *a = json_array();

                for (size_t i = 0; a && i < n; i++)
                        json_array_append_new(a, cache_user_to_json(users[i]));
                if (a)
                        print_json_and_free(a);
        } else {
                printf("%-32s %10s  %-16s  %s\n", "NAME", "UID", "LAST LOGIN", "ROLES");
                for (size_t i = 0; i < n; i++) {
                        _cleanup_free_ char *name = text_escape(users[i]->username);
                        char when[32];

                        format_time(users[i]->last_online_login, when, sizeof(when));
                        printf("%-32s %10u  %-16s  ", strempty(name), (unsigned) users[i]->uid, when);
                        if (!users[i]->roles || !users[i]->roles[0])
                                printf("-");
                        for (char **role = users[i]->roles; role && *role; role++) {
                                fputs(role == users[i]->roles ? "" : ",", stdout);
                                put_text(stdout, *role);
                        }
                        printf("\n");
                }
                printf("\n%zu user%s cached.\n", n, n == 1 ? "" : "s");
        }
        cache_user_list_free(users, n);
        return EXIT_SUCCESS;
}

static void print_groups(const char *label, const struct cache_group *g, size_t n) {
        printf("%-14s ", label);
        if (n == 0)
                printf("-");
        for (size_t i = 0; i < n; i++) {
                fputs(i == 0 ? "" : ", ", stdout);
                put_text(stdout, g[i].name);
                printf("(%u)", (unsigned) g[i].gid);
        }
        printf("\n");
}

static int verb_user_show(const struct ctl_options *o, const char *name) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        struct logger log = { .sink = ctl_log_sink, .debug = o->debug };
        struct lockout_state lock = {0};
        char first[32], last[32], until[32];
        int r;

        if (config_load(o->config_path, &log, &c) < 0)
                return EXIT_FAILURE;
        r = cache_user_load_by_name(c, &log, name, &u);
        if (r == -ESRCH) {
                fprintf(stderr, "cloudauthctl: %s is not in the cache\n", name);
                return EXIT_FAILURE;
        }
        if (r < 0) {
                log_err(&log, "cannot read the record of %s: %s", name, strerror(-r));
                return EXIT_FAILURE;
        }

        r = lockout_get(c, &log, u->idp_username, time(NULL), &lock);
        if (r < 0)
                log_err(&log, "cannot read the lockout state of %s: %s", name, strerror(-r));

        if (o->json) {
                json_t *doc = cache_user_to_json(u);

                if (doc) {
                        /* When the verifier was made, and until when it lets the user in offline. */
                        json_object_set_new(doc, "offline_since",
                                            u->verifier ? json_integer((json_int_t) u->verifier->created) : json_null());
                        json_object_set_new(doc, "offline_until",
                                            u->verifier && c->offline_enabled
                                                    ? json_integer((json_int_t) (u->verifier->created + (int64_t) c->offline_max_age))
                                                    : json_null());
                }
                if (doc) {
                        /* Whether a refresh token is kept (never the token), and when the provider last vouched. */
                        json_object_set_new(doc, "refresh_token_kept", json_boolean(u->refresh_sealed != NULL));
                        json_object_set_new(doc, "pin_set", json_boolean(u->pin_verifier != NULL));
                        json_object_set_new(doc, "last_answer", json_integer((json_int_t) cache_user_last_answer(u)));
                        json_object_set_new(doc, "revalidate_after",
                                            u->refresh_sealed && c->session_revalidate
                                                    ? json_integer((json_int_t) (cache_user_last_answer(u) + (int64_t) c->session_revalidate))
                                                    : json_null());
                }
                if (doc && r >= 0) {
                        json_object_set_new(doc, "failures", json_integer(lock.failures));
                        json_object_set_new(doc, "locked_until",
                                            lock.locked_until ? json_integer((json_int_t) lock.locked_until) : json_null());
                }
                print_json_and_free(doc);
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        format_time(u->first_login, first, sizeof(first));
        format_time(u->last_online_login, last, sizeof(last));
        print_field("name", u->username);
        print_field("IdP name", u->idp_username);
        printf("%-14s %u\n", "uid", (unsigned) u->uid);
        print_field("display name", strna(u->display_name));
        print_field("email", strna(u->email));
        print_field("subject", u->subject_key);
        print_strv("IdP groups", u->idp_groups);
        print_strv("app roles", u->app_roles);
        print_strv("roles", u->roles);
        print_groups("groups", u->groups, u->n_groups);
        print_groups("local groups", u->unix_groups, u->n_unix_groups);
        printf("%-14s %s\n", "first login", first);
        printf("%-14s %s\n", "last login", last);
        if (u->verifier && c->offline_enabled) {
                char made[64], until_offline[64];

                format_time(u->verifier->created, made, sizeof(made));
                format_time(u->verifier->created + (int64_t) c->offline_max_age, until_offline, sizeof(until_offline));
                printf("%-14s password of %s, until %s\n", "offline login", made, until_offline);
        } else
                printf("%-14s %s\n", "offline login", u->verifier ? "turned off ([offline] enabled = no)" : "none");
        {
                char vouched[32], next[32];

                format_time(cache_user_last_answer(u), vouched, sizeof(vouched));
                printf("%-14s %s\n", "provider said", vouched);
                if (u->refresh_sealed && c->session_revalidate) {
                        format_time(cache_user_last_answer(u) + (int64_t) c->session_revalidate, next, sizeof(next));
                        printf("%-14s refresh token kept; asked again after %s\n", "session", next);
                } else
                        printf("%-14s %s\n", "session", u->refresh_sealed ? "refresh token kept; re-validation off"
                                                                          : "no refresh token kept");
                printf("%-14s %s\n", "PIN", u->pin_verifier ? "set" : "none");
        }
        if (r < 0)
                return EXIT_FAILURE;
        format_time(lock.locked_until, until, sizeof(until));
        printf("%-14s %u\n", "failures", lock.failures);
        printf("%-14s %s\n", "locked until", until);
        return EXIT_SUCCESS;
}

static const char *revalidation_name(enum login_revalidation v) {
        switch (v) {
        case REVALIDATION_CONFIRMED:
                return "confirmed";
        case REVALIDATION_REFUSED:
                return "refused";
        case REVALIDATION_UNAVAILABLE:
                return "unavailable";
        case REVALIDATION_NOT_DUE:
        default:
                return "skipped";
        }
}

#define REFRESH_REASON_MAX 256

/* What one user's re-validation came to, and the library's phrase for why. */
struct refresh_outcome {
        enum login_revalidation verdict;
        char reason[REFRESH_REASON_MAX];
};

/* One user's re-validation in a child: its verdict travels back as one byte, then its reason (logged there too). */
static pid_t refresh_spawn(const struct cloudauth_config *c, const struct logger *log, const char *name, int *ret_fd) {
        int p[2];
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -1;
        pid = fork();
        if (pid == 0) {
                enum login_revalidation v = REVALIDATION_UNAVAILABLE;
                const char *why = NULL;
                unsigned char b;

                close(p[0]);
                if (login_revalidate_now(c, log, name, time(NULL), &v, &why) < 0)
                        v = REVALIDATION_UNAVAILABLE;
                if (v != REVALIDATION_CONFIRMED)
                        log_notice(log, "%s: %s (%s)", name, revalidation_name(v), strempty(why));
                b = (unsigned char) v;
                why = strempty(why);
                if (write(p[1], &b, 1) != 1 || write(p[1], why, strnlen(why, REFRESH_REASON_MAX - 1)) < 0)
                        _exit(1);
                _exit(0);
        }
        close(p[1]);
        if (pid < 0) {
                close(p[0]);
                return -1;
        }
        *ret_fd = p[0];
        return pid;
}

#define REFRESH_CONCURRENCY 4

static void refresh_outcome_set(struct refresh_outcome *out, enum login_revalidation v, const char *reason) {
        out->verdict = v;
        snprintf(out->reason, sizeof(out->reason), "%s", reason);
}

/* A child that died or wrote nothing usable could not re-validate. */
static void refresh_outcome_read(int fd, struct refresh_outcome *out) {
        char buf[1 + REFRESH_REASON_MAX];
        size_t len = 0;
        ssize_t k;

        while (len < sizeof(buf) - 1) {
                k = read(fd, buf + len, sizeof(buf) - 1 - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                len += (size_t) k;
        }
        buf[len] = 0;
        if (len == 0 || (unsigned char) buf[0] > REVALIDATION_UNAVAILABLE)
                refresh_outcome_set(out, REVALIDATION_UNAVAILABLE, "the re-validation ended without an answer");
        else
                refresh_outcome_set(out, (enum login_revalidation) buf[0], buf + 1);
}

/* cloudauthctl refresh [NAME]: ask the provider now, for one user or for every cached one, a few at a time. */
static int verb_refresh(const struct ctl_options *o, const char *only) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        struct logger log = { .sink = ctl_log_sink, .debug = o->debug };
        struct cache_user **users = NULL;
        size_t n = 0, first = 0, last, next, done = 0, counts[4] = {0};
        struct { pid_t pid; int fd; size_t i; } run[REFRESH_CONCURRENCY];
        struct refresh_outcome *out = NULL;
        unsigned running = 0;
        bool tty = isatty(STDOUT_FILENO);
        json_t *a = NULL;
        int r;

        if (config_load(o->config_path, &log, &c) < 0)
                return EXIT_FAILURE;
        if ((r = cache_user_list(c, &log, &users, &n)) < 0) {
                log_err(&log, "cannot list the cached users: %s", strerror(-r));
                return EXIT_FAILURE;
        }
        last = n;
        if (only) {
                size_t k = 0;

                for (size_t i = 0; i < n; i++)
                        if (streq(users[i]->username, only) || streq(users[i]->idp_username, only))
                                k = i + 1;
                if (!k) {
                        fprintf(stderr, "cloudauthctl: %s is not in the cache\n", only);
                        cache_user_list_free(users, n);
                        return EXIT_FAILURE;
                }
                first = k - 1;
                last = k;
        }
        next = first;
        out = calloc(n ? n : 1, sizeof(*out));
        if (!out) {
                cache_user_list_free(users, n);
                return EXIT_FAILURE;
        }
        while (next < last || running > 0) {
                while (next < last && running < REFRESH_CONCURRENCY) {
                        if (!users[next]->refresh_sealed || users[next]->refused_at) {
                                refresh_outcome_set(&out[next], REVALIDATION_NOT_DUE,
                                                    users[next]->refused_at ? "the last online login was refused"
                                                                            : "no refresh token is kept");
                                next++;
                                done++;
                                continue;
                        }
                        run[running].i = next;
                        run[running].pid = refresh_spawn(c, &log, users[next]->username, &run[running].fd);
                        if (run[running].pid < 0) {
                                log_err(&log, "cannot start a re-validation: %s", strerror(errno));
                                refresh_outcome_set(&out[next++], REVALIDATION_UNAVAILABLE,
                                                    "the re-validation could not be started");
                                done++;
                                continue;
                        }
                        next++;
                        running++;
                }
                if (running == 0)
                        break;
                /* The oldest first: each takes about one token request. */
                {
                        int status;

                        refresh_outcome_read(run[0].fd, &out[run[0].i]);
                        close(run[0].fd);
                        while (waitpid(run[0].pid, &status, 0) < 0 && errno == EINTR)
                                ;
                        memmove(&run[0], &run[1], (running - 1) * sizeof(run[0]));
                        running--;
                        done++;
                }
                if (tty && !o->json) {
                        printf("\rre-validated %zu of %zu", done, last - first);
                        fflush(stdout);
                }
        }
        if (tty && !o->json)
                printf("\n");

        if (o->json)
                a = json_array();
        for (size_t i = first; i < last; i++) {
                counts[out[i].verdict]++;
                if (a)
                        json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "user", users[i]->username, "result",
                                                           revalidation_name(out[i].verdict), "reason",
                                                           out[i].reason));
                else if (!tty)
                        printf("%s: %s\n", users[i]->username, revalidation_name(out[i].verdict));
        }
        if (a)
                print_json_and_free(a);
        else
                printf("%zu confirmed, %zu refused, %zu unavailable, %zu without a refresh token\n",
                       counts[REVALIDATION_CONFIRMED], counts[REVALIDATION_REFUSED], counts[REVALIDATION_UNAVAILABLE],
                       counts[REVALIDATION_NOT_DUE]);
        /* A refusal is news an administrator (or the timer's unit state) should see, as is a provider not answering. */
        r = counts[REVALIDATION_UNAVAILABLE] || counts[REVALIDATION_REFUSED] ? EXIT_FAILURE : EXIT_SUCCESS;
        free(out);
        cache_user_list_free(users, n);
        return r;
}

/*
 * The provider is asked to end the kept refresh token first, so the grant
 * does not outlive the record; whatever it answers, the record goes.
 */
static int verb_user_forget(const struct ctl_options *o, const char *name) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        struct logger log = { .sink = ctl_log_sink, .debug = o->debug };
        enum revoke_outcome revoked = REVOKE_NO_TOKEN;
        const char *why = NULL;
        int r;

        if (config_load(o->config_path, &log, &c) < 0)
                return EXIT_FAILURE;
        r = revoke_user_token(c, &log, name, &revoked, &why);
        if (r == -ENOMEM) {
                log_err(&log, "out of memory");
                return EXIT_FAILURE;
        }
        if (r >= 0 && revoked != REVOKE_DONE && revoked != REVOKE_NO_TOKEN)
                log_warn(&log, "the refresh token of %s was not revoked at the provider (%s); it is forgotten here",
                         name, why);
        if (r < 0 && r != -ESRCH) {
                log_warn(&log, "the record of %s cannot be read to revoke its refresh token: %s", name, strerror(-r));
                why = "the record cannot be read";
                revoked = REVOKE_UNAVAILABLE;
        }
        r = cache_user_forget(c, &log, name);
        if (r == -ESRCH) {
                fprintf(stderr, "cloudauthctl: %s is not in the cache; nothing to forget\n", name);
                return EXIT_FAILURE;
        }
        if (r < 0) {
                log_err(&log, "cannot forget %s: %s", name, strerror(-r));
                return EXIT_FAILURE;
        }
        if (o->json) {
                print_json_and_free(json_pack("{s:s, s:b, s:b, s:s, s:s?}", "user", name, "forgotten", true,
                                              "revoked", revoked == REVOKE_DONE, "revocation",
                                              revoke_outcome_to_string(revoked), "reason",
                                              revoked == REVOKE_DONE ? NULL : why));
                return EXIT_SUCCESS;
        }
        if (revoked == REVOKE_DONE)
                printf("Revoked the refresh token of %s at the provider.\n", name);
        printf("Forgot %s. The next login creates the account again.\n", name);
        return EXIT_SUCCESS;
}

/* Any name a login could use: the failures count under the IdP name, the cached record's when there is one. */
static int verb_user_unlock(const struct ctl_options *o, const char *name) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        _cleanup_free_ char *idp_name = NULL;
        struct logger log = { .sink = ctl_log_sink, .debug = o->debug };
        int r;

        if (config_load(o->config_path, &log, &c) < 0)
                return EXIT_FAILURE;
        r = cache_user_load_by_name(c, &log, name, &u);
        if (r >= 0)
                idp_name = strdup(u->idp_username);
        else if (r == -ESRCH && identity_login_to_idp_name(c, name, &idp_name) < 0) {
                fprintf(stderr, "cloudauthctl: %s is not a login name\n", name);
                return EXIT_FAILURE;
        } else if (r != -ESRCH) {
                log_err(&log, "cannot read the record of %s: %s", name, strerror(-r));
                return EXIT_FAILURE;
        }
        if (!idp_name) {
                log_err(&log, "out of memory");
                return EXIT_FAILURE;
        }
        r = lockout_unlock(c, &log, idp_name);
        if (r < 0) {
                log_err(&log, "cannot unlock %s: %s", name, strerror(-r));
                return EXIT_FAILURE;
        }
        if (r == 0)
                printf("%s had no failed logins; nothing to unlock.\n", name);
        else
                printf("Unlocked %s: its failed logins are forgotten.\n", name);
        return EXIT_SUCCESS;
}

static int verb_cache_rebuild(const struct ctl_options *o) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        _cleanup_free_ char *path = NULL;
        struct logger log = { .sink = ctl_log_sink, .debug = o->debug };
        size_t n_users, n_groups = 0;
        struct nssdb *db;
        int r;

        if (config_load(o->config_path, &log, &c) < 0)
                return EXIT_FAILURE;
        r = cache_rebuild(c, &log);
        if (r < 0) {
                log_err(&log, "cannot rebuild the cache in %s: %s", c->state_dir, strerror(-r));
                return EXIT_FAILURE;
        }
        /* Count what readers see now, not what was meant to be written. */
        if ((r = cache_nssdb_path(c, &path)) < 0 || (r = nssdb_open(path, &db, NULL)) < 0) {
                log_err(&log, "%s: cannot open the rebuilt file: %s", strna(path), strerror(-r));
                return EXIT_FAILURE;
        }
        n_users = nssdb_n_users(db);
        for (size_t i = 0; i < nssdb_n_groups(db); i++) {
                struct nssdb_group_view g;

                if (nssdb_group_at(db, i, &g) >= 0 && !g.private_group)
                        n_groups++;
        }
        nssdb_close(db);

        if (o->json)
                print_json_and_free(json_pack("{s:s, s:I, s:I}", "path", path, "users", (json_int_t) n_users,
                                              "groups", (json_int_t) n_groups));
        else
                printf("%s: %zu user%s and %zu group%s written.\n", path, n_users, n_users == 1 ? "" : "s", n_groups,
                       n_groups == 1 ? "" : "s");
        return EXIT_SUCCESS;
}

static void help(void) {
        printf("cloudauthctl [OPTIONS] COMMAND\n\n"
               "Check the cloudauth configuration and try logins against the identity provider.\n\n"
               "Commands:\n"
               "  check                   Check configuration, discovery, keys, clock and file modes\n"
               "  login --password USER   Log in with a password and show the claims and their mapping\n"
               "  login --device [USER]   The same with a code to enter on another device (RFC 8628)\n"
               "  login --browser [USER]  The same in a browser on this machine (authorization code + PKCE)\n"
               "  user list               List the cached users\n"
               "  user show NAME          Show the cached record of one user\n"
               "  refresh [NAME]          Ask the provider now whether it still vouches for NAME, or every cached user\n"
               "  user forget NAME        Revoke its refresh token at the provider, remove the user from the cache\n"
               "  user unlock NAME        End a lockout after failed logins and forget the failures\n"
               "  cache rebuild           Rebuild nss.db from the user records\n\n"
               "Options:\n"
               "  -c --config=PATH        Configuration file (default %s)\n"
               "  -j --json               Print JSON\n"
               "  -d --debug              Show debug messages\n"
               "     --timeout=SECONDS    How long login --browser waits (default %d)\n"
               "  -h --help               Show this help\n"
               "     --version            Show the version\n",
               CLOUDAUTH_CONFIG_PATH, BROWSER_TIMEOUT_DEFAULT);
}

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_PASSWORD, ARG_DEVICE, ARG_BROWSER, ARG_TIMEOUT };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "json", no_argument, NULL, 'j' },
                { "debug", no_argument, NULL, 'd' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "password", no_argument, NULL, ARG_PASSWORD },
                { "device", no_argument, NULL, ARG_DEVICE },
                { "browser", no_argument, NULL, ARG_BROWSER },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { NULL, 0, NULL, 0 },
        };
        struct ctl_options o = { .config_path = CLOUDAUTH_CONFIG_PATH, .timeout = BROWSER_TIMEOUT_DEFAULT };
        enum ctl_flow flow = CTL_FLOW_NONE, f;
        char *end;
        unsigned long t;
        int c;
        const char *verb;

        while ((c = getopt_long(argc, argv, "c:jdh", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        o.config_path = optarg;
                        break;
                case 'j':
                        o.json = true;
                        break;
                case 'd':
                        o.debug = true;
                        break;
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                case ARG_VERSION:
                        printf("cloudauthctl %s\n", CLOUDAUTH_VERSION);
                        return EXIT_SUCCESS;
                case ARG_PASSWORD:
                case ARG_DEVICE:
                case ARG_BROWSER:
                        f = c == ARG_PASSWORD ? CTL_FLOW_PASSWORD
                            : c == ARG_DEVICE ? CTL_FLOW_DEVICE
                                              : CTL_FLOW_BROWSER;
                        if (flow != CTL_FLOW_NONE && flow != f) {
                                fprintf(stderr, "cloudauthctl: only one of --password, --device and --browser\n");
                                return 2;
                        }
                        flow = f;
                        break;
                case ARG_TIMEOUT:
                        errno = 0;
                        t = strtoul(optarg, &end, 10);
                        if (errno || end == optarg || *end || optarg[0] == '-' || t < 1 || t > BROWSER_TIMEOUT_MAX) {
                                fprintf(stderr, "cloudauthctl: --timeout needs a number of seconds from 1 to %d\n",
                                        BROWSER_TIMEOUT_MAX);
                                return 2;
                        }
                        o.timeout = (unsigned) t;
                        break;
                default:
                        return 2;
                }

        if (optind >= argc) {
                fprintf(stderr, "cloudauthctl: a command is required; see --help\n");
                return 2;
        }
        verb = argv[optind++];

        if (streq(verb, "check")) {
                if (optind != argc) {
                        fprintf(stderr, "cloudauthctl: check takes no arguments\n");
                        return 2;
                }
                return verb_check(&o);
        }

        if (streq(verb, "login")) {
                if (flow == CTL_FLOW_NONE) {
                        fprintf(stderr, "cloudauthctl: login needs --password, --device or --browser\n");
                        return 2;
                }
                if (flow == CTL_FLOW_PASSWORD && optind + 1 != argc) {
                        fprintf(stderr, "cloudauthctl: login --password needs exactly one user name\n");
                        return 2;
                }
                if (optind + 1 < argc) {
                        fprintf(stderr, "cloudauthctl: login takes at most one user name\n");
                        return 2;
                }
                return verb_login(&o, flow, optind < argc ? argv[optind] : NULL);
        }

        if (streq(verb, "user")) {
                const char *sub = optind < argc ? argv[optind++] : NULL;

                if (sub && streq(sub, "list")) {
                        if (optind != argc) {
                                fprintf(stderr, "cloudauthctl: user list takes no arguments\n");
                                return 2;
                        }
                        return verb_user_list(&o);
                }
                if (sub && (streq(sub, "show") || streq(sub, "forget") || streq(sub, "unlock"))) {
                        if (optind + 1 != argc) {
                                fprintf(stderr, "cloudauthctl: user %s needs exactly one user name\n", sub);
                                return 2;
                        }
                        if (streq(sub, "unlock"))
                                return verb_user_unlock(&o, argv[optind]);
                        return streq(sub, "show") ? verb_user_show(&o, argv[optind]) : verb_user_forget(&o, argv[optind]);
                }
                fprintf(stderr, "cloudauthctl: user needs list, show NAME, forget NAME or unlock NAME; see --help\n");
                return 2;
        }

        if (streq(verb, "refresh")) {
                if (optind + 1 < argc) {
                        fprintf(stderr, "cloudauthctl: refresh takes at most one user name\n");
                        return 2;
                }
                return verb_refresh(&o, optind < argc ? argv[optind] : NULL);
        }

        if (streq(verb, "cache")) {
                if (optind + 1 != argc || !streq(argv[optind], "rebuild")) {
                        fprintf(stderr, "cloudauthctl: cache needs rebuild; see --help\n");
                        return 2;
                }
                return verb_cache_rebuild(&o);
        }

        fprintf(stderr, "cloudauthctl: unknown command '%s'; see --help\n", verb);
        return 2;
}
