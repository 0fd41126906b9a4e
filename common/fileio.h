/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reading bounded files and replacing files atomically.
 */
#ifndef CVM_COMMON_FILEIO_H
#define CVM_COMMON_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "secbuf.h"

/* Caps on what the agent reads, in one place. */
#define FILE_MAX_EVIDENCE (4u * 1024 * 1024) /* reports, quotes, logs, certificates */
#define FILE_MAX_CONFIG   (256u * 1024)
#define FILE_MAX_SECRET   (64u * 1024)

/*
 * Reads a whole file ("-" is standard input) of at most max bytes. The buffer
 * is malloc'ed with a NUL after the data; the caller frees it.
 * -EFBIG when the file is larger than max; -errno of open/read otherwise.
 */
int read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_len);
/* The same into a SecretBuf, never through an unwiped intermediate. */
int read_file_secret(const char *path, size_t max, SecretBuf **ret);
/* What went wrong reading a file capped at max, for a message: "larger than
 * N bytes" for -EFBIG, else strerror (static buffer). */
const char *file_error_string(int r, size_t max);

/*
 * Replaces path with data so that a reader sees the old or the new content,
 * never a mix or a truncated file, even across a crash: writes a temporary
 * file in the same directory with the given mode, fsyncs it, renames it over
 * path and fsyncs the directory. On error the temporary file is removed and
 * path is untouched.
 */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Creates a directory and its parents with the given mode (existing ones are
 * left as they are). */
int mkdir_p(const char *path, mode_t mode);

#endif
