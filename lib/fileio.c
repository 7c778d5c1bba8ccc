/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"

int write_all(int fd, const void *data, size_t len) {
        const uint8_t *p = data;

        while (len > 0) {
                ssize_t k = write(fd, p, len > (1u << 30) ? (1u << 30) : len);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EIO;
                p += k;
                len -= (size_t) k;
        }
        return 0;
}

int fsync_dir(const char *path, bool parent) {
        _cleanup_free_ char *copy = NULL;
        _cleanup_close_ int fd = -1;
        const char *dir = path;

        if (parent) {
                char *slash;

                copy = strdup(path);
                if (!copy)
                        return -ENOMEM;
                slash = strrchr(copy, '/');
                if (!slash)
                        dir = ".";
                else {
                        slash[slash == copy ? 1 : 0] = 0;
                        dir = copy;
                }
        }
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return -errno;
        return 0;
}

int write_file_atomic(const char *tmp_template, const char *dest, const void *data, size_t len, mode_t mode,
                      bool sync_dir) {
        _cleanup_free_ char *tmp = strdup(tmp_template);
        _cleanup_close_ int fd = -1;
        int r;

        if (!tmp)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode) < 0) {
                r = -errno;
                goto fail;
        }
        if ((r = write_all(fd, data, len)) < 0)
                goto fail;
        if (fsync(fd) < 0 || close(TAKE_FD(fd)) < 0 || rename(tmp, dest) < 0) {
                r = -errno;
                goto fail;
        }
        /* The rename is durable only once the directory entry is. */
        return sync_dir ? fsync_dir(dest, true) : 0;
fail:
        (void) unlink(tmp);
        return r;
}
