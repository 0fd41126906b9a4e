/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "util.h"

static int read_fd(int fd, size_t max, uint8_t *buf, size_t *ret_len) {
    size_t len = 0;
    for (;;) {
        /* read one byte beyond max to tell "exactly max" from "more" */
        size_t want = max + 1 - len;
        if (want == 0)
            return -EFBIG;
        ssize_t n = read(fd, buf + len, want);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max)
            return -EFBIG;
    }
    *ret_len = len;
    return 0;
}

static int open_input(const char *path) {
    int fd = streq(path, "-") ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3)
                              : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    return fd < 0 ? -errno : fd;
}

static int read_file_into(const char *path, size_t max, uint8_t *buf, size_t *ret_len) {
    _cleanup_close_ int fd = open_input(path);
    if (fd < 0)
        return fd;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    return read_fd(fd, max, buf, ret_len);
}

int read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_len) {
    size_t alloc;
    if (!size_add(max, 2, &alloc))
        return -EINVAL;
    /* files here are small (capped); one allocation of the cap keeps it simple */
    _cleanup_free_ uint8_t *buf = malloc(alloc);
    size_t len = 0;
    if (!buf)
        return -ENOMEM;
    int r = read_file_into(path, max, buf, &len);
    if (r < 0)
        return r;
    buf[len] = 0;
    uint8_t *shrunk = realloc(buf, len + 1);
    if (shrunk)
        buf = shrunk;
    *ret = TAKE_PTR(buf);
    *ret_len = len;
    return 0;
}

int read_file_secret(const char *path, size_t max, SecretBuf **ret) {
    _cleanup_secret_ SecretBuf *s = secret_new(max + 1);
    size_t len = 0;
    if (!s)
        return -ENOMEM;
    int r = read_file_into(path, max, s->data, &len);
    if (r < 0)
        return r;
    secret_truncate(s, len);
    *ret = TAKE_PTR(s);
    return 0;
}

static int fsync_dir_of(const char *path) {
    _cleanup_free_ char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    _cleanup_close_ int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    if (fsync(dfd) < 0)
        return -errno;
    return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode) {
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int fd = -1;
    int r;

    if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
        tmp = NULL;
        return -ENOMEM;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fchmod(fd, mode) < 0) {
        r = -errno;
        goto fail;
    }
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, (const uint8_t *)data + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            goto fail;
        }
        done += (size_t)n;
    }
    if (fsync(fd) < 0) {
        r = -errno;
        goto fail;
    }
    if (close(TAKE_FD(fd)) < 0) {
        r = -errno;
        goto fail;
    }
    if (rename(tmp, path) < 0) {
        r = -errno;
        goto fail;
    }
    return fsync_dir_of(path);
fail:
    unlink(tmp);
    return r;
}

int mkdir_p(const char *path, mode_t mode) {
    _cleanup_free_ char *p = strdup(path);
    if (!p)
        return -ENOMEM;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

const char *file_error_string(int r, size_t max) {
    static __thread char buf[96];
    if (r == -EFBIG)
        snprintf(buf, sizeof(buf), "larger than %zu bytes", max);
    else
        snprintf(buf, sizeof(buf), "%s", strerror(r < 0 ? -r : r));
    return buf;
}
