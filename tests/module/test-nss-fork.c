/* SPDX-License-Identifier: MIT */
/*
 * fork() while another thread is inside a lookup of the built module: one
 * thread looks users up without pause while the main thread forks again and
 * again, and every child looks a user up and exits. A child that inherited
 * the module's lock held by the other thread (which does not exist in the
 * child) would wait for it forever; each child gets a few seconds.
 * usage: test-nss-fork PATH-TO-libnss_cloudauth.so.2
 */
#include <dlfcn.h>
#include <errno.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "nssdb.h"
#include "tests.h"

#define FORKS 300
#define CHILD_SECONDS 5

typedef enum nss_status (*getpwnam_fn)(const char *, struct passwd *, char *, size_t, int *);

static getpwnam_fn p_getpwnam;
static atomic_bool stop;
static atomic_ulong lookups;

static void *lookup_loop(void *arg) {
        char buf[1024];

        (void) arg;
        while (!atomic_load(&stop)) {
                struct passwd pw;
                int e;

                if (p_getpwnam("alice", &pw, buf, sizeof(buf), &e) == NSS_STATUS_SUCCESS)
                        atomic_fetch_add(&lookups, 1);
        }
        return NULL;
}

/* 0 when the child exited 0 in time, 1 when it failed, 2 when it hung (and was killed). */
static int child_wait(pid_t pid) {
        struct timespec t0, now;
        int status;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                pid_t r = waitpid(pid, &status, WNOHANG);

                if (r == pid)
                        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
                if (r < 0 && errno != EINTR)
                        return 1;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec - t0.tv_sec >= CHILD_SECONDS) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        return 2;
                }
                usleep(200);
        }
}

int main(int argc, char **argv) {
        static char dir[] = "/tmp/test-nss-fork.XXXXXX";
        char path[300], cmd[400];
        const struct nssdb_settings s = {
                .scope = "https://idp.example.com/realms/test",
                .default_domain = "example.com",
                .uid_min = 200000,
                .uid_max = 2000199999,
                .home = "/home/%u",
                .shell = "/bin/bash",
        };
        const struct nssdb_user_in users[] = { { "alice", 200001, "Alice", NULL, 0 } };
        unsigned hung = 0, failed = 0;
        pthread_t t;
        void *h, *sym;

        if (argc != 2) {
                fprintf(stderr, "usage: %s libnss_cloudauth.so.2\n", argv[0]);
                return 2;
        }
        if (!mkdtemp(dir))
                return EXIT_FAILURE;
        snprintf(path, sizeof(path), "%s/nss.db", dir);
        CHECK_INT(nssdb_write(path, &s, users, ELEMENTSOF(users), NULL, 0), 0);
        setenv("CLOUDAUTH_NSS_DB", path, 1);
        h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (!h || !(sym = dlsym(h, "_nss_cloudauth_getpwnam_r"))) {
                fprintf(stderr, "%s\n", dlerror());
                return EXIT_FAILURE;
        }
        memcpy(&p_getpwnam, &sym, sizeof(p_getpwnam));

        CHECK_INT(pthread_create(&t, NULL, lookup_loop, NULL), 0);
        for (unsigned i = 0; atomic_load(&lookups) == 0 && i < 50000; i++)
                usleep(100);
        CHECK(atomic_load(&lookups) > 0);
        for (unsigned i = 0; i < FORKS && hung == 0; i++) {
                pid_t pid = fork();

                if (pid < 0) {
                        failed++;
                        break;
                }
                if (pid == 0) {
                        struct passwd pw;
                        char buf[1024];
                        int e;

                        alarm(CHILD_SECONDS + 5);
                        _exit(p_getpwnam("alice", &pw, buf, sizeof(buf), &e) == NSS_STATUS_SUCCESS &&
                                              pw.pw_uid == 200001
                                      ? 0
                                      : 1);
                }
                switch (child_wait(pid)) {
                case 1:
                        failed++;
                        break;
                case 2:
                        hung++;
                        fprintf(stderr, "child %u hung in its lookup after fork\n", i);
                        break;
                }
        }
        atomic_store(&stop, true);
        pthread_join(t, NULL);
        fprintf(stderr, "%lu lookups in the other thread\n", atomic_load(&lookups));
        CHECK_INT(hung, 0);
        CHECK_INT(failed, 0);

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", dir);
        dlclose(h);
        return tests_exit();
}
