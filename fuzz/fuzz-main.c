/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Replay driver for libFuzzer targets: `fuzz-TARGET FILE|DIR...` feeds every
 * file (directories: every regular file in them, not recursively) to
 * LLVMFuzzerTestOneInput once. A crash or sanitizer report fails the run.
 * In a --enable-fuzzing build libFuzzer brings its own main (which replays
 * files given as arguments the same way), so this file compiles to nothing.
 */
#include "config.h"

#ifndef CVM_LIBFUZZER

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/util.h"
#include "fuzz/fuzz.h"

#define FUZZ_MAX_INPUT (4u * 1024 * 1024)

static int run_file(const char *path) {
    _cleanup_free_ uint8_t *buf = NULL;
    size_t len = 0;
    int r = read_file(path, FUZZ_MAX_INPUT, &buf, &len);
    if (r < 0) {
        fprintf(stderr, "fuzz-main: cannot read '%s': %s\n", path, strerror(-r));
        return r;
    }
    /* An exact-size copy, so that ASan catches a read one byte past the input. */
    _cleanup_free_ uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    if (len)
        memcpy(copy, buf, len);
    (void)LLVMFuzzerTestOneInput(copy, len);
    return 0;
}

static int run_dir(const char *path, size_t *count) {
    DIR *d = opendir(path);
    int ret = 0;
    if (!d) {
        fprintf(stderr, "fuzz-main: cannot open '%s': %s\n", path, strerror(errno));
        return -errno;
    }
    for (struct dirent *de; (de = readdir(d));) {
        char p[4096];
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
        if (stat(p, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (run_file(p) < 0)
            ret = -EIO;
        else
            (*count)++;
    }
    closedir(d);
    return ret;
}

int main(int argc, char **argv) {
    size_t count = 0;
    int ret = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "fuzz-main: '%s': %s\n", argv[i], strerror(errno));
            ret = 1;
        } else if (S_ISDIR(st.st_mode)) {
            if (run_dir(argv[i], &count) < 0)
                ret = 1;
        } else if (run_file(argv[i]) < 0)
            ret = 1;
        else
            count++;
    }
    printf("%s: %zu inputs replayed\n", argv[0], count);
    return ret;
}
#else
typedef int fuzz_main_unused; /* ISO C wants a declaration in every file */
#endif
