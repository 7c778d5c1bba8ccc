/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "secret.h"
#include "tests.h"

struct capture {
        char text[32768];
        size_t len;
        unsigned lines;
};

static void capture_sink(void *userdata, int priority, const char *message) {
        struct capture *cap = userdata;
        int n;

        (void) priority;
        n = snprintf(cap->text + cap->len, sizeof(cap->text) - cap->len, "%s\n", message);
        if (n > 0 && (size_t) n < sizeof(cap->text) - cap->len)
                cap->len += (size_t) n;
        cap->lines++;
}

static struct capture cap;
static const struct logger test_log = { .sink = capture_sink, .userdata = &cap, .debug = true };

static void capture_reset(void) {
        cap.len = 0;
        cap.text[0] = 0;
        cap.lines = 0;
}

static bool logged(const char *needle) {
        bool found = strstr(cap.text, needle) != NULL;

        if (!found)
                fprintf(stderr, "expected a log line containing \"%s\", got:\n%s", needle, cap.text);
        return found;
}

static const char minimal[] = "[provider]\n"
                              "issuer = https://idp.example.com/realms/corp\n"
                              "client_id = cloudauth\n";

/* Parse minimal + extra as "test.conf" and validate; r of the first failing step. */
static int parse_with(const char *extra, struct cloudauth_config **ret) {
        struct cloudauth_config *c = NULL;
        char text[16384];
        int r;

        capture_reset();
        snprintf(text, sizeof(text), "%s%s", minimal, extra);
        if ((r = config_new_defaults(&c)) < 0)
                return r;
        c->path = strdup("test.conf");
        r = config_parse_text(c, "test.conf", text, strlen(text), &test_log);
        if (r >= 0)
                r = config_validate(c, &test_log);
        if (r < 0 || !ret)
                config_free(c);
        else
                *ret = c;
        return r;
}

static void expect_error(const char *extra, const char *needle) {
        int r = parse_with(extra, NULL);

        CHECK(r < 0);
        CHECK(logged(needle));
}

/* For keys minimal already sets: text alone, parse only. */
static void expect_error_alone(const char *text, const char *needle) {
        _cleanup_config_ struct cloudauth_config *c = NULL;

        capture_reset();
        CHECK_INT(config_new_defaults(&c), 0);
        CHECK(config_parse_text(c, "t.conf", text, strlen(text), &test_log) < 0);
        CHECK(logged(needle));
}

static void test_defaults(void) {
        _cleanup_config_ struct cloudauth_config *c = NULL;

        CHECK_INT(config_new_defaults(&c), 0);
        CHECK(c->issuer == NULL);
        CHECK(c->client_id == NULL);
        CHECK(c->client_secret_file == NULL);
        CHECK_STR(c->scopes, "openid profile email");
        CHECK(c->ca_file == NULL);
        CHECK(c->proxy == NULL);
        CHECK_INT(c->flows, LOGIN_FLOW_PASSWORD);
        CHECK_INT(c->default_flow, LOGIN_FLOW_PASSWORD);
        CHECK(c->tenants == NULL);
        CHECK_INT(c->timeout, 10);
        CHECK_INT(c->leeway, 300);
        CHECK(c->qr);
        CHECK_STR(c->username_claim, "preferred_username");
        CHECK_STR(c->groups_claim, "groups");
        CHECK(c->default_domain == NULL);
        CHECK_INT(c->uid_min, 2001000000);
        CHECK_INT(c->uid_max, 2147000000);
        CHECK_STR(c->home, "/home/%u");
        CHECK_STR(c->shell, "/bin/bash");
        CHECK(c->allow_users == NULL && c->allow_groups == NULL && c->allow_roles == NULL);
        CHECK_INT(c->n_roles, 0);
        CHECK(c->offline_enabled);
        CHECK_INT(c->offline_max_age, 7 * 24 * 3600);
        CHECK_STR(c->state_dir, "/var/lib/cloudauth");
        CHECK_STR(c->cache_dir, "/var/cache/cloudauth");
        CHECK(config_find_role(c, "admin") == NULL);

        /* Defaults alone lack the provider. */
        capture_reset();
        CHECK(config_validate(c, &test_log) < 0);
        CHECK(logged("(config): required key 'issuer' in [provider] is missing"));
        CHECK(logged("(config): required key 'client_id' in [provider] is missing"));

        config_free(NULL);
        CHECK(config_find_role(NULL, "x") == NULL);
}

static void test_full_example(void) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        const struct config_role *admin, *user;
        size_t len;
        char *text = tests_read_data("config-full.conf", &len);

        capture_reset();
        CHECK_INT(config_new_defaults(&c), 0);
        CHECK_INT(config_parse_text(c, "config-full.conf", text, len, &test_log), 0);
        CHECK_INT(config_validate(c, &test_log), 0);
        CHECK_INT(cap.lines, 0);
        free(text);

        CHECK_STR(c->issuer, "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0");
        CHECK_STR(c->client_id, "3f2a1c4e-0d5b-4e8a-9b7c-1a2b3c4d5e6f");
        CHECK_STR(c->client_secret_file, "/etc/cloudauth/client_secret");
        CHECK_STR(c->scopes, "openid profile email");
        CHECK_STR(c->ca_file, "/etc/cloudauth/ca.pem");
        CHECK_INT(c->flows, LOGIN_FLOW_DEVICE | LOGIN_FLOW_PASSWORD);
        CHECK_INT(c->default_flow, LOGIN_FLOW_DEVICE);
        CHECK_INT(strv_length(c->tenants), 2);
        CHECK_STR(c->tenants[0], "72f988bf-86f1-41af-91ab-2d7cd011db47");
        CHECK_STR(c->tenants[1], "0a1b2c3d-4e5f-6789-abcd-ef0123456789");
        CHECK_INT(c->timeout, 10);
        CHECK_STR(c->username_claim, "preferred_username");
        CHECK_STR(c->groups_claim, "groups");
        CHECK_STR(c->default_domain, "example.com");
        CHECK_INT(c->uid_min, 200000);
        CHECK_INT(c->uid_max, 2000199999);
        CHECK_STR(c->home, "/home/%u");
        CHECK_STR(c->shell, "/bin/bash");
        CHECK_INT(strv_length(c->allow_users), 1);
        CHECK_STR(c->allow_users[0], "alice@example.com");
        CHECK_INT(strv_length(c->allow_groups), 1);
        CHECK_STR(c->allow_groups[0], "5b2e8a47-1c3d-4e5f-8a9b-0c1d2e3f4a5b");
        CHECK_INT(strv_length(c->allow_roles), 1);
        CHECK_STR(c->allow_roles[0], "admin");
        CHECK_INT(c->n_roles, 2);

        admin = config_find_role(c, "admin");
        CHECK(admin != NULL);
        if (admin) {
                CHECK_STR(admin->name, "admin");
                CHECK_INT(strv_length(admin->groups), 2);
                CHECK_STR(admin->groups[0], "9d8c7b6a-5f4e-3d2c-1b0a-f9e8d7c6b5a4");
                CHECK_STR(admin->groups[1], "linux-admins");
                CHECK_INT(strv_length(admin->app_roles), 1);
                CHECK_STR(admin->app_roles[0], "Linux.Admin");
                CHECK_INT(strv_length(admin->unix_groups), 2);
                CHECK_STR(admin->unix_groups[0], "sudo");
                CHECK_STR(admin->unix_groups[1], "adm");
                CHECK_INT(strv_length(admin->includes), 1);
                CHECK_STR(admin->includes[0], "user");
        }
        user = config_find_role(c, "user");
        CHECK(user != NULL);
        if (user) {
                CHECK_STR(user->groups[0], "linux-users");
                CHECK(user->includes == NULL);
        }
        CHECK(config_find_role(c, "nobody") == NULL);
        CHECK(c->offline_enabled);
        CHECK_INT(c->offline_max_age, 7 * 86400);
        CHECK_STR(c->state_dir, "/var/lib/cloudauth");
        CHECK_STR(c->cache_dir, "/var/cache/cloudauth");
}

static void test_values(void) {
        struct cloudauth_config *c = NULL;

        CHECK_INT(parse_with("flows = auto, password\n"
                             "timeout = 300\n"
                             "leeway = 0\n"
                             "qr = no\n"
                             "scopes = openid,email\n"
                             "\t ; an indented comment\n"
                             "# another\n"
                             "client_secret_file = \n"
                             "[identity]\r\n"
                             "uid_range = 70000 - 80000\r\n"
                             "home = /srv/home/%d/%u%%x\n"
                             "[access]\n"
                             "allow_users = *\n"
                             "allow_groups = a,b  c ,, d\n"
                             "[offline]\n"
                             "enabled = 0\n"
                             "max_age = 90d\n"
                             "[paths]\n"
                             "state_dir = /tmp/state#1\n",
                             &c),
                  0);
        if (!c)
                return;
        CHECK_INT(c->flows, LOGIN_FLOW_AUTO | LOGIN_FLOW_PASSWORD);
        CHECK_INT(c->default_flow, LOGIN_FLOW_AUTO);
        CHECK_INT(c->timeout, 300);
        CHECK_INT(c->leeway, 0);
        CHECK(!c->qr);
        CHECK_STR(c->scopes, "openid email");
        CHECK(c->client_secret_file == NULL);
        CHECK_INT(c->uid_min, 70000);
        CHECK_INT(c->uid_max, 80000);
        CHECK_STR(c->home, "/srv/home/%d/%u%%x");
        CHECK_STR(c->allow_users[0], "*");
        CHECK_INT(strv_length(c->allow_groups), 4);
        CHECK_STR(c->allow_groups[2], "c");
        CHECK_STR(c->allow_groups[3], "d");
        CHECK(!c->offline_enabled);
        CHECK_INT(c->offline_max_age, 90 * 86400);
        /* '#' not after a blank belongs to the value. */
        CHECK_STR(c->state_dir, "/tmp/state#1");
        config_free(c);
        c = NULL;

        CHECK_INT(parse_with("[offline]\nmax_age = 3600\n", &c), 0);
        if (c)
                CHECK_INT(c->offline_max_age, 3600);
        config_free(c);
        c = NULL;
        CHECK_INT(parse_with("[offline]\nmax_age = 90m\n", &c), 0);
        if (c)
                CHECK_INT(c->offline_max_age, 5400);
        config_free(c);
        c = NULL;
        CHECK_INT(parse_with("[identity]\nuid_range = 1000-65533\n", &c), 0);
        if (c)
                CHECK_INT(c->uid_max, 65533);
        config_free(c);
}

static void test_proxy(void) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        const char *text = "[provider]\nproxy = http://127.0.0.1:3128\n";
        const char *unset = "[provider]\nproxy =\n";

        CHECK_INT(config_new_defaults(&c), 0);
        CHECK_INT(config_parse_text(c, "t.conf", text, strlen(text), &test_log), 0);
        CHECK_STR(c->proxy, "http://127.0.0.1:3128");
        /* A drop-in can take it back. */
        CHECK_INT(config_parse_text(c, "u.conf", unset, strlen(unset), &test_log), 0);
        CHECK(c->proxy == NULL);
}

static void test_errors(void) {
        expect_error("isuser = x\n", "test.conf:4: unknown key 'isuser' in [provider]");
        expect_error("[providr]\nissuer = x\n", "test.conf:4: unknown section [providr]");
        CHECK_INT(cap.lines, 1); /* keys of an unknown section are not reported again */
        expect_error("[role Admin]\n", "test.conf:4: invalid role name 'Admin'");
        expect_error("[role]\n", "test.conf:4: section [role] needs a name");
        expect_error("[access\n", "test.conf:4: section header must end with ']'");
        expect_error("just words\n", "test.conf:4: expected 'key = value' or '[section]'");
        expect_error("Bad-Key = 1\n", "test.conf:4: invalid key name");
        expect_error("timeout = 5\ntimeout = 6\n",
                     "test.conf:5: key 'timeout' in [provider]: set twice in this file (first on line 4)");
        expect_error("[role a]\ngroups = x\n[role a]\ngroups = y\n", "test.conf:7: key 'groups' in [role a]: set twice");

        capture_reset();
        {
                _cleanup_config_ struct cloudauth_config *c = NULL;
                const char *t = "issuer = https://x\n[provider]\nclient_id = y\n";
                CHECK_INT(config_new_defaults(&c), 0);
                CHECK(config_parse_text(c, "f.conf", t, strlen(t), &test_log) < 0);
                CHECK(logged("f.conf:1: key 'issuer' is outside of any [section]"));
        }

        /* Bad values, one per typed key. */
        expect_error("[provider]\nissuer = https://other.example.com\n",
                     "test.conf:5: key 'issuer' in [provider]: set twice in this file (first on line 2)");
        {
                _cleanup_config_ struct cloudauth_config *c = NULL;
                const char *t = "[provider]\nissuer = http://idp.example.com\nclient_id = a b\n";
                capture_reset();
                CHECK_INT(config_new_defaults(&c), 0);
                CHECK(config_parse_text(c, "x.conf", t, strlen(t), &test_log) < 0);
                CHECK(logged("x.conf:2: key 'issuer' in [provider]: must be an https:// URL"));
                CHECK(logged("x.conf:3: key 'client_id' in [provider]: must not contain whitespace"));
                CHECK(c->issuer == NULL);
        }
        expect_error_alone("[provider]\nissuer = https://\n", "t.conf:2: key 'issuer' in [provider]: has no host name");
        expect_error_alone("[provider]\nissuer = https://idp/x?y=1\n", "t.conf:2: key 'issuer' in [provider]: must not contain");
        expect_error_alone("[provider]\nissuer = https://idp/#x\n", "t.conf:2: key 'issuer' in [provider]: must not contain");
        expect_error("client_secret_file = secret\n",
                     "test.conf:4: key 'client_secret_file' in [provider]: must be an absolute path");
        expect_error("ca_file = ca.pem\n", "test.conf:4: key 'ca_file' in [provider]: must be an absolute path");
        expect_error("proxy = socks5://127.0.0.1:1080\n", "test.conf:4: key 'proxy' in [provider]: must be an http:// or https:// URL");
        expect_error("proxy = http://\n", "test.conf:4: key 'proxy' in [provider]: has no host name");
        expect_error("proxy = http://proxy:3128/path\n", "test.conf:4: key 'proxy' in [provider]: must not have a path");
        expect_error("proxy = http://user:pw@proxy:3128\n", "test.conf:4: key 'proxy' in [provider]: must be scheme://host[:port] only");
        expect_error("scopes = profile email\n", "test.conf:4: key 'scopes' in [provider]: must include 'openid'");
        expect_error("flows = password sms\n", "test.conf:4: key 'flows' in [provider]: unknown flow 'sms'");
        expect_error("flows =\n", "test.conf:4: key 'flows' in [provider]: must name at least one");
        expect_error("tenants = contoso.onmicrosoft.com\n",
                     "test.conf:4: key 'tenants' in [provider]: 'contoso.onmicrosoft.com' is not a tenant GUID");
        expect_error("timeout = 0\n", "test.conf:4: key 'timeout' in [provider]: must be between 1 and 300");
        expect_error("timeout = 301\n", "test.conf:4: key 'timeout' in [provider]: must be between 1 and 300");
        expect_error("timeout = 10s\n", "test.conf:4: key 'timeout' in [provider]: must be a whole number");
        expect_error("timeout = 99999999999999999999999\n", "key 'timeout' in [provider]: must be between");
        expect_error("leeway = 3601\n", "test.conf:4: key 'leeway' in [provider]: must be between 0 and 3600");
        expect_error("leeway = -1\n", "test.conf:4: key 'leeway' in [provider]");
        expect_error("qr = maybe\n", "test.conf:4: key 'qr' in [provider]: must be yes or no");
        expect_error("[identity]\nusername_claim =\n", "test.conf:5: key 'username_claim' in [identity]: must not be empty");
        expect_error("[identity]\ngroups_claim = a b\n", "test.conf:5: key 'groups_claim' in [identity]: must not contain");
        expect_error("[identity]\ndefault_domain = exa_mple.com\n",
                     "test.conf:5: key 'default_domain' in [identity]: is not a domain name");
        expect_error("[identity]\ndefault_domain = .example.com\n", "key 'default_domain' in [identity]");
        expect_error("[identity]\nuid_range = 999-5000\n", "test.conf:5: key 'uid_range' in [identity]: must start at 1000");
        expect_error("[identity]\nuid_range = 5000-5000\n", "key 'uid_range' in [identity]: first UID must be below");
        expect_error("[identity]\nuid_range = 60000-70000\n", "key 'uid_range' in [identity]: must not include 65534");
        expect_error("[identity]\nuid_range = 100000-4294967295\n", "key 'uid_range' in [identity]: must be FIRST-LAST");
        expect_error("[identity]\nuid_range = 100000\n", "key 'uid_range' in [identity]: must be FIRST-LAST");
        expect_error("[identity]\nhome = home/%u\n", "test.conf:5: key 'home' in [identity]: must be an absolute path");
        expect_error("[identity]\nhome = /home/%s\n", "key 'home' in [identity]: has an unknown escape");
        expect_error("[identity]\nhome = /home/%\n", "key 'home' in [identity]: ends with a lone '%'");
        expect_error("[identity]\nshell = bash\n", "test.conf:5: key 'shell' in [identity]: must be an absolute path");
        expect_error("[access]\nallow_roles = Admin\n", "test.conf:5: key 'allow_roles' in [access]: 'Admin' is not a role name");
        expect_error("[role a]\nunix_groups = 9lives\n", "test.conf:5: key 'unix_groups' in [role a]: '9lives' is not a valid Unix group name");
        expect_error("[role a]\nincludes = b!\n", "test.conf:5: key 'includes' in [role a]: 'b!' is not a role name");
        expect_error("[role a]\nmembers = x\n", "test.conf:5: unknown key 'members' in [role a]");
        expect_error("[offline]\nenabled = sometimes\n", "test.conf:5: key 'enabled' in [offline]: must be yes or no");
        expect_error("[offline]\nmax_age = 91d\n", "test.conf:5: key 'max_age' in [offline]: must be a duration");
        expect_error("[offline]\nmax_age = 7w\n", "key 'max_age' in [offline]: must be a duration");
        expect_error("[offline]\nmax_age = 0\n", "key 'max_age' in [offline]: must be at least 1 seconds");
        expect_error("[paths]\nstate_dir = var/lib\n", "test.conf:5: key 'state_dir' in [paths]: must be an absolute path");
        expect_error("[paths]\ncache_dir =\n", "test.conf:5: key 'cache_dir' in [paths]: must be an absolute path");

        /* Bytes that do not belong in a config file. */
        expect_error("[identity]\nshell = /bin/\xc3\x28\n", "test.conf:5: key 'shell' in [identity]: value is not valid UTF-8");
        expect_error("[identity]\nshell = /bin/\xe0\x80\xaf\n", "key 'shell' in [identity]: value is not valid UTF-8");
        expect_error("[identity]\nshell = /bin/\x1b[31m\n", "test.conf:5: key 'shell' in [identity]: value contains a control character");
        {
                char text[256];
                size_t n;
                _cleanup_config_ struct cloudauth_config *c = NULL;

                n = (size_t) snprintf(text, sizeof(text), "%s[identity]\nshell = /bin/sh", minimal);
                text[n++] = 0;
                memcpy(text + n, "x\n", 2);
                n += 2;
                capture_reset();
                CHECK_INT(config_new_defaults(&c), 0);
                CHECK(config_parse_text(c, "nul.conf", text, n, &test_log) < 0);
                CHECK(logged("nul.conf:5: key 'shell' in [identity]: value contains a control character"));
                CHECK_STR(c->shell, "/bin/bash");
        }
        {
                static char text[6000];
                _cleanup_config_ struct cloudauth_config *c = NULL;
                size_t n = (size_t) snprintf(text, sizeof(text), "[paths]\nstate_dir = /");

                memset(text + n, 'a', 4200);
                n += 4200;
                text[n++] = '\n';
                capture_reset();
                CHECK_INT(config_new_defaults(&c), 0);
                CHECK(config_parse_text(c, "long.conf", text, n, &test_log) < 0);
                CHECK(logged("long.conf:2: line is longer than 4096 bytes"));
        }
        /* Still UTF-8 is fine in values. */
        CHECK_INT(parse_with("[role a]\ngroups = Développeurs, 開発\n", NULL), 0);
}

static void test_required_and_roles(void) {
        const char *t;
        _cleanup_config_ struct cloudauth_config *c = NULL;

        capture_reset();
        CHECK_INT(config_new_defaults(&c), 0);
        c->path = strdup("/etc/cloudauth/cloudauth.conf");
        t = "[provider]\nclient_id = x\n";
        CHECK_INT(config_parse_text(c, c->path, t, strlen(t), &test_log), 0);
        CHECK(config_validate(c, &test_log) < 0);
        CHECK(logged("/etc/cloudauth/cloudauth.conf: required key 'issuer' in [provider] is missing"));
        CHECK(!strstr(cap.text, "client_id"));

        capture_reset();
        t = "[provider]\nissuer = https://idp.example.com\n";
        {
                _cleanup_config_ struct cloudauth_config *d = NULL;
                CHECK_INT(config_new_defaults(&d), 0);
                CHECK_INT(config_parse_text(d, "main.conf", t, strlen(t), &test_log), 0);
                CHECK(config_validate(d, &test_log) < 0);
                CHECK(logged("required key 'client_id' in [provider] is missing"));
        }

        expect_error("[role a]\nincludes = b\n[role b]\nincludes = c\n[role c]\nincludes = a\n",
                     "key 'includes' in [role c]: include cycle a -> b -> c -> a");
        expect_error("[role a]\nincludes = a\n", "key 'includes' in [role a]: include cycle a -> a");
        expect_error("[role a]\nincludes = ghost\n", "key 'includes' in [role a]: unknown role 'ghost'");
        expect_error("[access]\nallow_roles = ghost\n", "key 'allow_roles' in [access]: unknown role 'ghost'");
        /* A diamond is not a cycle. */
        CHECK_INT(parse_with("[role a]\nincludes = b c\n[role b]\nincludes = d\n[role c]\nincludes = d\n[role d]\n", NULL), 0);

        {
                char text[16384];
                size_t n = 0;
                for (int i = 0; i < 257; i++)
                        n += (size_t) snprintf(text + n, sizeof(text) - n, "[role r%d]\n", i);
                expect_error(text, "too many roles (at most 256)");
        }
        {
                static char text[8192];
                size_t n = (size_t) snprintf(text, sizeof(text), "[access]\nallow_groups =");
                for (int i = 0; i < 1025; i++)
                        n += (size_t) snprintf(text + n, sizeof(text) - n, " g");
                snprintf(text + n, sizeof(text) - n, "\n");
                expect_error(text, "key 'allow_groups' in [access]: has more than 1024 entries");
        }
}

static char tmpdir[64];

static void write_file(const char *name, const char *text, mode_t mode) {
        char path[256];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        unlink(path);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        CHECK(fd >= 0);
        if (fd < 0)
                return;
        CHECK(write(fd, text, strlen(text)) == (ssize_t) strlen(text));
        close(fd);
        CHECK_INT(chmod(path, mode), 0);
}

static const char *tmp_path(const char *name) {
        static char path[256];
        snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        return path;
}

static void test_load_dropins(void) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        const struct config_role *r;
        char main_path[256];

        CHECK_INT(mkdir(tmp_path("a.conf.d"), 0755), 0);
        write_file("a.conf",
                   "[provider]\nissuer = https://idp.example.com\nclient_id = one\nflows = password device\n"
                   "[access]\nallow_users = a, b, c\nallow_roles = admin\n"
                   "[role admin]\ngroups = g1\nunix_groups = sudo\n",
                   0644);
        write_file("a.conf.d/20-second.conf", "[provider]\nclient_id = three\n[access]\nallow_users = z\n", 0644);
        write_file("a.conf.d/10-first.conf",
                   "[provider]\nclient_id = two\ntimeout = 20\n[role admin]\nunix_groups = wheel, adm\n", 0600);
        write_file("a.conf.d/README", "not a config file\n", 0644);
        write_file("a.conf.d/30-x.conf.dpkg-old", "garbage\n", 0644);
        write_file("a.conf.d/.hidden.conf", "garbage\n", 0644);
        snprintf(main_path, sizeof(main_path), "%s", tmp_path("a.conf"));

        capture_reset();
        CHECK_INT(config_load(main_path, &test_log, &c), 0);
        CHECK_INT(cap.lines, 0);
        if (!c)
                return;
        CHECK_STR(c->path, main_path);
        CHECK_STR(c->client_id, "three");
        CHECK_INT(c->timeout, 20);
        CHECK_INT(c->default_flow, LOGIN_FLOW_PASSWORD);
        CHECK_INT(strv_length(c->allow_users), 1);
        CHECK_STR(c->allow_users[0], "z");
        r = config_find_role(c, "admin");
        CHECK(r != NULL);
        if (r) {
                CHECK_STR(r->groups[0], "g1");
                CHECK_INT(strv_length(r->unix_groups), 2);
                CHECK_STR(r->unix_groups[0], "wheel");
        }
        CHECK_INT(c->n_roles, 1);
        config_free(TAKE_PTR(c));

        /* A drop-in's error names the drop-in; a duplicate across files is an override. */
        write_file("a.conf.d/40-bad.conf", "[role admin]\nincludes = ghost\n[access]\nallow_roles = nope\n", 0644);
        capture_reset();
        c = (struct cloudauth_config *) &cap;
        CHECK(config_load(main_path, &test_log, &c) < 0);
        CHECK(c == (struct cloudauth_config *) &cap);
        c = NULL;
        {
                char want[512];
                snprintf(want, sizeof(want), "%s/a.conf.d/40-bad.conf:2: key 'includes' in [role admin]: unknown role 'ghost'", tmpdir);
                CHECK(logged(want));
                snprintf(want, sizeof(want), "%s/a.conf.d/40-bad.conf:4: key 'allow_roles' in [access]: unknown role 'nope'", tmpdir);
                CHECK(logged(want));
        }
        write_file("a.conf.d/40-bad.conf", "[role admin]\nincludes = admin\n", 0644);
        capture_reset();
        CHECK(config_load(main_path, &test_log, &c) < 0);
        {
                char want[512];
                snprintf(want, sizeof(want), "%s/a.conf.d/40-bad.conf:2: key 'includes' in [role admin]: include cycle admin -> admin", tmpdir);
                CHECK(logged(want));
        }
        unlink(tmp_path("a.conf.d/40-bad.conf"));

        /* Drop-in directory rules. */
        CHECK_INT(chmod(tmp_path("a.conf.d"), 0777), 0);
        capture_reset();
        CHECK(config_load(main_path, &test_log, &c) < 0);
        CHECK(logged("a.conf.d: is writable by group or others"));
        CHECK_INT(chmod(tmp_path("a.conf.d"), 0755), 0);

        CHECK_INT(chmod(tmp_path("a.conf.d/10-first.conf"), 0666), 0);
        capture_reset();
        CHECK(config_load(main_path, &test_log, &c) < 0);
        CHECK(logged("10-first.conf: is writable by group or others"));
        CHECK(c == NULL);
        CHECK_INT(chmod(tmp_path("a.conf.d/10-first.conf"), 0644), 0);

        /* Missing main file; a main file without a .d directory. */
        capture_reset();
        CHECK_INT(config_load(tmp_path("missing.conf"), &test_log, &c), -ENOENT);
        CHECK(logged("missing.conf: cannot open: No such file or directory"));
        write_file("b.conf", minimal, 0600);
        CHECK_INT(config_load(tmp_path("b.conf"), &test_log, &c), 0);
        config_free(TAKE_PTR(c));

        /* A .d that is a file is an error, not silently skipped. */
        write_file("b.conf.d", "x\n", 0644);
        capture_reset();
        CHECK_INT(config_load(tmp_path("b.conf"), &test_log, &c), -ENOTDIR);
        CHECK(logged("b.conf.d: cannot open directory"));
        unlink(tmp_path("b.conf.d"));
}

static void test_load_failure_keeps_output(void) {
        struct cloudauth_config *sentinel = (struct cloudauth_config *) &tmpdir, *c = sentinel;
        char path[256];

        write_file("broken.conf", "[provider]\nissuer = https://idp\nclient_id = x\ntimeout = forever\n", 0644);
        snprintf(path, sizeof(path), "%s", tmp_path("broken.conf"));
        capture_reset();
        CHECK(config_load(path, &test_log, &c) < 0);
        CHECK(c == sentinel);
        {
                char want[512];
                snprintf(want, sizeof(want), "%s:4: key 'timeout' in [provider]: must be a whole number", path);
                CHECK(logged(want));
        }
        write_file("noid.conf", "[provider]\nissuer = https://idp\n", 0644);
        capture_reset();
        CHECK(config_load(tmp_path("noid.conf"), &test_log, &c) < 0);
        CHECK(c == sentinel);
        CHECK(logged("noid.conf: required key 'client_id' in [provider] is missing"));
}

static void test_trusted_files(void) {
        struct cloudauth_config *c = NULL;
        char link_path[256];
        int fd;

        write_file("mode.conf", minimal, 0666);
        capture_reset();
        CHECK_INT(config_load(tmp_path("mode.conf"), &test_log, &c), -EPERM);
        CHECK(logged("mode.conf: is writable by group or others (mode 0666)"));
        CHECK(c == NULL);

        write_file("mode.conf", minimal, 0620);
        capture_reset();
        CHECK_INT(config_load(tmp_path("mode.conf"), &test_log, &c), -EPERM);
        CHECK(logged("mode.conf: is writable by group or others"));

        write_file("mode.conf", minimal, 0644);
        CHECK_INT(config_load(tmp_path("mode.conf"), &test_log, &c), 0);
        config_free(TAKE_PTR(c));

        snprintf(link_path, sizeof(link_path), "%s", tmp_path("link.conf"));
        CHECK_INT(symlink(tmp_path("mode.conf"), link_path), 0);
        capture_reset();
        CHECK_INT(config_load(link_path, &test_log, &c), -ELOOP);
        CHECK(logged("link.conf: is a symbolic link, refusing to follow it"));

        if (geteuid() == 0) {
                write_file("owned.conf", minimal, 0644);
                CHECK_INT(chown(tmp_path("owned.conf"), 1000, 1000), 0);
                capture_reset();
                CHECK_INT(config_load(tmp_path("owned.conf"), &test_log, &c), -EPERM);
                CHECK(logged("owned.conf: is owned by uid 1000, not root"));
        } else
                fprintf(stderr, "not root: owner check skipped\n");

        capture_reset();
        CHECK_INT(open_trusted_file(tmpdir, 022, 1024, &test_log), -EISDIR);
        CHECK(logged("is a directory"));

        CHECK_INT(mkfifo(tmp_path("fifo"), 0600), 0);
        capture_reset();
        CHECK_INT(open_trusted_file(tmp_path("fifo"), 022, 1024, &test_log), -EPERM);
        CHECK(logged("fifo: is not a regular file"));

        write_file("big", "0123456789", 0600);
        capture_reset();
        CHECK_INT(open_trusted_file(tmp_path("big"), 077, 9, &test_log), -EFBIG);
        CHECK(logged("big: is 10 bytes, more than the 9 allowed"));
        fd = open_trusted_file(tmp_path("big"), 077, 10, &test_log);
        CHECK(fd >= 0);
        if (fd >= 0)
                close(fd);

        /* ENOENT is for the caller to word. */
        capture_reset();
        CHECK_INT(open_trusted_file(tmp_path("nope"), 022, 10, &test_log), -ENOENT);
        CHECK_INT(cap.lines, 0);
}

static void test_secret_file(void) {
        char *s = (char *) "untouched";
        static char big[5000];

        write_file("secret", "s3cr3t-value\n", 0644);
        capture_reset();
        CHECK_INT(config_read_secret_file(tmp_path("secret"), &test_log, &s), -EPERM);
        CHECK(logged("secret: is readable by group or others (mode 0644)"));
        CHECK_STR(s, "untouched");

        CHECK_INT(chmod(tmp_path("secret"), 0640), 0);
        CHECK_INT(config_read_secret_file(tmp_path("secret"), &test_log, &s), -EPERM);
        CHECK_INT(chmod(tmp_path("secret"), 0700), 0);
        CHECK_INT(config_read_secret_file(tmp_path("secret"), &test_log, &s), 0);
        CHECK_STR(s, "s3cr3t-value");
        erase_and_free(s);

        write_file("secret", "s3cr3t-value\n", 0600);
        s = NULL;
        CHECK_INT(config_read_secret_file(tmp_path("secret"), &test_log, &s), 0);
        CHECK_STR(s, "s3cr3t-value");
        erase_and_free(s);

        /* Only one newline goes; no newline at all is fine. */
        write_file("secret", "abc\r\n", 0600);
        CHECK_INT(config_read_secret_file(tmp_path("secret"), &test_log, &s), 0);
        CHECK_STR(s, "abc");
        erase_and_free(s);
        write_file("secret", "abc", 0400);
        CHECK_INT(config_read_secret_file(tmp_path("secret"), &test_log, &s), 0);
        CHECK_STR(s, "abc");
        erase_and_free(s);

        s = (char *) "untouched";
        write_file("secret", "abc\n\n", 0600);
        capture_reset();
        CHECK_INT(config_read_secret_file(tmp_path("secret"), &test_log, &s), -EINVAL);
        CHECK(logged("secret: must hold the secret on one line"));
        write_file("secret", "\n", 0600);
        capture_reset();
        CHECK_INT(config_read_secret_file(tmp_path("secret"), &test_log, &s), -EINVAL);
        CHECK(logged("secret: is empty"));
        write_file("secret", "", 0600);
        CHECK_INT(config_read_secret_file(tmp_path("secret"), &test_log, &s), -EINVAL);

        memset(big, 'x', 4097);
        write_file("secret", big, 0600);
        capture_reset();
        CHECK_INT(config_read_secret_file(tmp_path("secret"), &test_log, &s), -EFBIG);
        big[4096] = 0;
        write_file("secret", big, 0600);
        {
                char *t = NULL;
                CHECK_INT(config_read_secret_file(tmp_path("secret"), &test_log, &t), 0);
                CHECK_INT(t ? strlen(t) : 0, 4096);
                erase_and_free(t);
        }
        capture_reset();
        CHECK_INT(config_read_secret_file(tmp_path("no-secret"), &test_log, &s), -ENOENT);
        CHECK(logged("no-secret: cannot open"));
        CHECK_STR(s, "untouched");
}

static void test_device_keys(void) {
        struct cloudauth_config *c = NULL;

        CHECK_INT(parse_with("", &c), 0);
        if (c) {
                CHECK_INT(c->pkce, -1);
                CHECK_STR(c->app_name, "cloudauth");
                config_free(c);
        }
        CHECK_INT(parse_with("pkce = yes\napp_name = Contoso Linux (prod)\n", &c), 0);
        if (c) {
                CHECK_INT(c->pkce, 1);
                CHECK_STR(c->app_name, "Contoso Linux (prod)");
                config_free(c);
        }
        CHECK_INT(parse_with("pkce = no\n", &c), 0);
        if (c) {
                CHECK_INT(c->pkce, 0);
                config_free(c);
        }
        expect_error("pkce = maybe\n", "test.conf:4: key 'pkce' in [provider]: must be yes, no or auto");
        expect_error("app_name = 0123456789012345678901234567890123456789012345678901234567890123456789\n",
                     "key 'app_name' in [provider]: must be at most 64 bytes");
}

static void test_uid_pins(void) {
        struct cloudauth_config *c = NULL;

        CHECK_INT(parse_with("[uids]\n"
                             "Alice@Example.com = 2001250000   ; pinned after a collision\n"
                             "bob@example.com=2001250001\n"
                             "[uids]\n"
                             "alice@example.com = 2001250002\n",
                             &c),
                  0);
        if (c) {
                CHECK_INT(c->n_uid_pins, 2);
                CHECK_STR(c->uid_pins[0].name, "alice@example.com");
                CHECK_INT(c->uid_pins[0].uid, 2001250002);
                CHECK_STR(c->uid_pins[1].name, "bob@example.com");
                CHECK_INT(c->uid_pins[1].uid, 2001250001);
                config_free(c);
        }

        expect_error("[uids]\nalice@example.com = 65534\n", "test.conf:5: key 'alice@example.com' in [uids]: '65534'");
        expect_error("[uids]\nalice@example.com = 12ab\n", "key 'alice@example.com' in [uids]: '12ab' is not a UID");
        expect_error("[uids]\nbad:name = 2001250000\n", "key 'bad:name' in [uids]: not a valid user name");
        expect_error("[uids]\nalice@example.com = 1500\n", "UID 1500 is outside uid_range 2001000000-2147000000");
        expect_error("[uids]\na@example.com = 2001250000\nb@example.com = 2001250000\n",
                     "UID 2001250000 is pinned for both a@example.com and b@example.com");
}

static void test_no_crash_on_junk(void) {
        static const char *const inputs[] = {
                "", "\n", "[", "]", "=", "[]", "[ ]", "[role  ]", "[role a b]", "[provider]\n=", "[provider]\nissuer",
                "[provider]\nissuer=", "[provider]\nissuer = https://a\n\r\r\n", "[role a]\r", "\xff\xfe[provider]",
                "[identity]\nuid_range = -", "[identity]\nuid_range = 2000-", "[offline]\nmax_age = d",
                "[offline]\nmax_age = 18446744073709551615d",
        };

        for (size_t i = 0; i < ELEMENTSOF(inputs); i++) {
                _cleanup_config_ struct cloudauth_config *c = NULL;
                CHECK_INT(config_new_defaults(&c), 0);
                (void) config_parse_text(c, "junk", inputs[i], strlen(inputs[i]), NULL);
                (void) config_validate(c, NULL);
        }
        {
                _cleanup_config_ struct cloudauth_config *c = NULL;
                CHECK_INT(config_new_defaults(&c), 0);
                CHECK_INT(config_parse_text(c, NULL, NULL, 0, NULL), 0);
                CHECK(config_parse_text(NULL, NULL, "x", 1, NULL) < 0);
        }
}

/* The examples administrators copy must load as they are. */
static void test_shipped_examples(void) {
        static const char *const names[] = { "entra", "keycloak", "okta", "google" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_config_ struct cloudauth_config *c = NULL;
                char name[64];
                size_t len;
                char *text;

                snprintf(name, sizeof(name), "../../../conf/cloudauth.conf.%s", names[i]);
                text = tests_read_data(name, &len);
                capture_reset();
                CHECK_INT(config_new_defaults(&c), 0);
                CHECK_INT(config_parse_text(c, name, text, len, &test_log), 0);
                CHECK_INT(config_validate(c, &test_log), 0);
                if (cap.lines)
                        fprintf(stderr, "%s", cap.text);
                CHECK(c->issuer && strncmp(c->issuer, "https://", 8) == 0);
                CHECK(c->allow_users || c->allow_groups || c->allow_roles);
                free(text);
        }
}

static void cleanup_tmpdir(void) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(void) {
        test_proxy();
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-config-XXXXXX");
        if (!mkdtemp(tmpdir))
                return EXIT_FAILURE;
        /* mkdtemp gives 0700; drop-in checks want what /etc has. */
        chmod(tmpdir, 0755);

        RUN(test_defaults);
        RUN(test_full_example);
        RUN(test_values);
        RUN(test_errors);
        RUN(test_required_and_roles);
        RUN(test_load_dropins);
        RUN(test_load_failure_keeps_output);
        RUN(test_trusted_files);
        RUN(test_secret_file);
        RUN(test_uid_pins);
        RUN(test_device_keys);
        RUN(test_no_crash_on_junk);
        RUN(test_shipped_examples);

        cleanup_tmpdir();
        return tests_exit();
}
