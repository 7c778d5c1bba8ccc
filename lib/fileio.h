/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Write all of data, retrying short writes and EINTR. */
int write_all(int fd, const void *data, size_t len);

/* fsync the directory path names, or that holds path when parent is set. */
int fsync_dir(const char *path, bool parent);

/*
 * Replace dest so that readers see the old file or the whole new one, also
 * after a crash: a temp file from tmp_template (ending in XXXXXX, on dest's
 * file system; writers clean up stale ones by its prefix) with mode, fsync,
 * rename over dest, and with sync_dir an fsync of dest's directory. On
 * failure the temp file is removed and dest is untouched. Negative errno.
 */
int write_file_atomic(const char *tmp_template, const char *dest, const void *data, size_t len, mode_t mode,
                      bool sync_dir);
