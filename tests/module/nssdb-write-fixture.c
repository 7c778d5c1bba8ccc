/* SPDX-License-Identifier: MIT */
/*
 * Write an nss.db from a text description on stdin, for shell tests:
 *   scope=URL  default_domain=D  domain=D (repeatable)  uid_range=MIN-MAX
 *   home=TEMPLATE  shell=PATH  synth=NAME (repeatable)  synth_any=yes|no
 *   user:NAME:UID:GECOS:GID,GID,...
 *   group:NAME:GID
 * Blank lines and lines starting with '#' are ignored.
 * usage: nssdb-write-fixture OUTPUT < description
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nssdb.h"

#define MAX_ITEMS 1024

static int parse_u32(const char *s, uint32_t *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v > UINT32_MAX)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

static char *field(char **p) {
        char *s = *p, *c;

        if (!s)
                return NULL;
        c = strchr(s, ':');
        if (c) {
                *c = 0;
                *p = c + 1;
        } else
                *p = NULL;
        return s;
}

/* A setting given twice keeps the last value. */
static char *set_owned(char **slot, const char *v) {
        free(*slot);
        *slot = strdup(v);
        return *slot;
}

int main(int argc, char **argv) {
        static struct nssdb_user_in users[MAX_ITEMS];
        static struct nssdb_group_in groups[MAX_ITEMS];
        static char *domains[MAX_ITEMS + 1], *synth[MAX_ITEMS + 1];
        char *owned[4] = { NULL, NULL, NULL, NULL }; /* scope, default_domain, home, shell */
        struct nssdb_settings s = { .uid_min = 200000, .uid_max = 2000199999, .home = "/home/%u", .shell = "/bin/bash" };

        size_t n_users = 0, n_groups = 0, n_domains = 0, n_synth = 0;
        char line[4096];
        unsigned lineno = 0;
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: %s OUTPUT < description\n", argv[0]);
                return 2;
        }
        while (fgets(line, sizeof(line), stdin)) {
                char *p = line, *eq;

                lineno++;
                line[strcspn(line, "\n")] = 0;
                if (!*line || *line == '#')
                        continue;
                if (strncmp(line, "user:", 5) == 0 && n_users < MAX_ITEMS) {
                        struct nssdb_user_in *u = &users[n_users];
                        char *uid, *gids, *tok, *save = NULL;
                        uint32_t *v = calloc(NSSDB_MAX_GIDS_PER_USER, sizeof(uint32_t));

                        p += 5;
                        u->name = strdup(field(&p));
                        uid = field(&p);
                        u->gecos = p ? strdup(field(&p)) : NULL;
                        gids = field(&p);
                        if (!v || !uid || parse_u32(uid, &u->uid) < 0)
                                goto bad;
                        for (tok = gids ? strtok_r(gids, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save))
                                if (u->n_gids >= NSSDB_MAX_GIDS_PER_USER || parse_u32(tok, &v[u->n_gids++]) < 0)
                                        goto bad;
                        u->gids = v;
                        n_users++;
                        continue;
                }
                if (strncmp(line, "group:", 6) == 0 && n_groups < MAX_ITEMS) {
                        char *name, *gid;

                        p += 6;
                        name = field(&p);
                        gid = field(&p);
                        if (!gid || parse_u32(gid, &groups[n_groups].gid) < 0)
                                goto bad;
                        groups[n_groups++].name = strdup(name);
                        continue;
                }
                eq = strchr(line, '=');
                if (!eq)
                        goto bad;
                *eq++ = 0;
                if (strcmp(line, "scope") == 0)
                        s.scope = set_owned(&owned[0], eq);
                else if (strcmp(line, "default_domain") == 0)
                        s.default_domain = set_owned(&owned[1], eq);
                else if (strcmp(line, "domain") == 0 && n_domains < MAX_ITEMS)
                        domains[n_domains++] = strdup(eq);
                else if (strcmp(line, "synth") == 0 && n_synth < MAX_ITEMS)
                        synth[n_synth++] = strdup(eq);
                else if (strcmp(line, "synth_any") == 0)
                        s.synth_any = strcmp(eq, "yes") == 0;
                else if (strcmp(line, "home") == 0)
                        s.home = set_owned(&owned[2], eq);
                else if (strcmp(line, "shell") == 0)
                        s.shell = set_owned(&owned[3], eq);
                else if (strcmp(line, "uid_range") == 0) {
                        char *dash = strchr(eq, '-');

                        if (!dash)
                                goto bad;
                        *dash++ = 0;
                        if (parse_u32(eq, &s.uid_min) < 0 || parse_u32(dash, &s.uid_max) < 0)
                                goto bad;
                } else
                        goto bad;
                continue;
        bad:
                fprintf(stderr, "stdin:%u: cannot parse line\n", lineno);
                return 1;
        }
        s.domains = n_domains ? domains : NULL;
        s.synth_names = n_synth ? synth : NULL;
        r = nssdb_write(argv[1], &s, users, n_users, groups, n_groups);
        for (size_t i = 0; i < n_users; i++) {
                free((char *) users[i].name);
                free((char *) users[i].gecos);
                free((uint32_t *) users[i].gids);
        }
        for (size_t i = 0; i < n_groups; i++)
                free((char *) groups[i].name);
        for (size_t i = 0; i < n_domains; i++)
                free(domains[i]);
        for (size_t i = 0; i < 4; i++)
                free(owned[i]);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", argv[1], strerror(-r));
                return 1;
        }
        return 0;
}
