/* SPDX-License-Identifier: MIT */
/* pam_sm_acct_mgmt's work, in the helper, for a user this transaction did not authenticate. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "cache.h"
#include "cloudauth-build.h"
#include "helper.h"
#include "login.h"
#include "macro.h"

/*
 * With the configuration unusable, only the store can say whether user is
 * ours: the state directory the file names under [paths] (read leniently,
 * since the file is broken), else the default one.
 */
static char *state_dir_of_broken_config(const struct helper *h) {
        _cleanup_free_ char *line = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        char *found = NULL;
        bool in_paths = false;
        size_t n = 0;
        int fd;

        fd = open_trusted_file(h->config_path, 022, CONFIG_FILE_MAX, NULL);
        if (fd >= 0 && !(f = fdopen(fd, "re")))
                close(fd);
        while (f && getline(&line, &n, f) > 0) {
                char *s = line + strspn(line, " \t"), *v, *end;

                if (*s == '[') {
                        in_paths = strncmp(s, "[paths]", 7) == 0;
                        continue;
                }
                if (!in_paths || strncmp(s, "state_dir", 9) != 0)
                        continue;
                v = s + 9 + strspn(s + 9, " \t");
                if (*v != '=')
                        continue;
                v += 1 + strspn(v + 1, " \t");
                end = v + strcspn(v, " \t\r\n;#");
                *end = 0;
                if (*v == '/') {
                        free(found);
                        found = strdup(v);
                }
        }
        return found ? found : strdup(CLOUDAUTH_STATE_DIR);
}

static int account_without_config(struct helper *h) {
        _cleanup_config_ struct cloudauth_config *d = NULL;
        _cleanup_(cache_user_freep) struct cache_user *u = NULL;
        char *dir;
        int r;

        if (helper_user_in_etc_passwd(h->user) || config_new_defaults(&d) < 0)
                return helper_result(h, PROTO_CODE_USER_UNKNOWN, NULL);
        dir = state_dir_of_broken_config(h);
        if (dir) {
                free(d->state_dir);
                d->state_dir = dir;
        }
        r = cache_user_load_by_name(d, &h->log, h->user, &u);
        if (r < 0 && r != -ESRCH && r != -EINVAL && r != -ENOENT) {
                /* The store exists but cannot be read: it may hold this user, so refuse. */
                log_err(&h->log, "user=%s result=denied reason=\"configuration %s is unusable and the identity store unreadable\"",
                        h->user, h->config_path);
                return helper_result(h, PROTO_CODE_PERM_DENIED, NULL);
        }
        if (r < 0) {
                log_debug(&h->log, "user=%s result=ignored reason=\"not a cloudauth user\"", h->user);
                return helper_result(h, PROTO_CODE_USER_UNKNOWN, NULL);
        }
        /* Ours, and the policy is unknown: fail closed for this account only. */
        log_err(&h->log, "user=%s result=denied reason=\"configuration %s is unusable\"", h->user, h->config_path);
        return helper_result(h, PROTO_CODE_PERM_DENIED, NULL);
}

int helper_account(struct helper *h) {
        _cleanup_config_ struct cloudauth_config *c = NULL;
        _cleanup_free_ char *local_user = NULL;
        enum login_revalidation revalidation;
        const char *reason = NULL, *revalidation_reason = NULL;
        bool allowed = false;
        char msg[512];
        int r;

        if (config_load(h->config_path, &h->log, &c) < 0)
                return account_without_config(h);

        r = helper_user_may_be_ours(h, c, h->user, h->user);
        if (r < 0)
                return helper_result(h, PROTO_CODE_BUF_ERR, NULL);
        if (r == 0)
                return helper_result(h, PROTO_CODE_USER_UNKNOWN, NULL);

        /* The provider's word first, when it is due: the cached verdict below then reflects it. */
        r = login_revalidate(c, &h->log, h->user, time(NULL), &revalidation, &revalidation_reason);
        if (r < 0)
                return helper_result(h, PROTO_CODE_BUF_ERR, NULL);

        r = login_account_check_cached(c, &h->log, h->user, &allowed, &reason, &local_user);
        if (r == -ESRCH || r == -EINVAL) {
                log_debug(&h->log, "user=%s result=ignored reason=\"not a cloudauth user\"", h->user);
                return helper_result(h, PROTO_CODE_USER_UNKNOWN, NULL);
        }
        if (r < 0) {
                log_err(&h->log, "user=%s result=denied reason=\"the identity store is unreadable: %s\"", h->user,
                        strerror(-r));
                return helper_result(h, PROTO_CODE_PERM_DENIED, NULL);
        }
        if (revalidation == REVALIDATION_REFUSED) {
                log_notice(&h->log, "user=%s account=%s result=denied reason=\"%s\" source=revalidation", h->user,
                           local_user, strempty(revalidation_reason));
                snprintf(msg, sizeof(msg),
                         "Access denied: the identity provider no longer lets %s sign in (%s).", local_user,
                         strempty(revalidation_reason));
                (void) conv_error(&h->conv, msg);
                return helper_result(h, PROTO_CODE_PERM_DENIED, NULL);
        }
        if (revalidation == REVALIDATION_UNAVAILABLE)
                log_warn(&h->log, "user=%s re-validation: no answer from the provider (%s); the cached verdict stands",
                         h->user, strempty(revalidation_reason));
        if (!allowed) {
                log_notice(&h->log, "user=%s account=%s result=denied reason=\"%s\" source=cache", h->user, local_user,
                           strempty(reason));
                snprintf(msg, sizeof(msg), "Access denied: %s is not allowed to log in to this host.", local_user);
                (void) conv_error(&h->conv, msg);
                return helper_result(h, PROTO_CODE_PERM_DENIED, NULL);
        }
        log_info(&h->log, "user=%s account=%s result=allowed reason=\"%s\" source=%s", h->user, local_user,
                 strempty(reason), revalidation == REVALIDATION_CONFIRMED ? "provider" : "cache");
        return helper_result(h, PROTO_CODE_SUCCESS, local_user);
}
