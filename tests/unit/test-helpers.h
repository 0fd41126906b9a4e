/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared by the cmocka unit tests: where the real test vectors are, and a
 * visible skip when they are absent.
 */
#ifndef CVM_TESTS_TEST_HELPERS_H
#define CVM_TESTS_TEST_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/fileio.h"

/* ../shared/testdata beside the source tree, or $CVM_TESTDATA. */
static inline const char *testdata_dir(void) {
    const char *env = getenv("CVM_TESTDATA");
    return env && *env ? env : TESTDATA_DEFAULT;
}

/*
 * The step of the exhaustive mutation loops (every truncation, every byte
 * flipped): 1, or $CVM_TEST_STRIDE. The valgrind pass of scripts/test.sh sets
 * a prime stride: under valgrind every offset costs ~50x and the full sweep
 * already ran in the plain and ASan builds.
 */
static inline size_t test_stride(void) {
    const char *env = getenv("CVM_TEST_STRIDE");
    long v = env ? strtol(env, NULL, 10) : 1;
    return v > 1 ? (size_t)v : 1;
}

/*
 * Reads testdata_dir()/rel into *ret; when the testdata is absent, prints why
 * and skips the calling test (cmocka reports it as SKIPPED).
 */
static inline void testdata_read_or_skip(const char *rel, uint8_t **ret, size_t *ret_len) {
    char path[4096];
    struct stat st;
    if (stat(testdata_dir(), &st) < 0) {
        print_message("SKIP: testdata '%s' absent (set CVM_TESTDATA)\n", testdata_dir());
        skip();
    }
    snprintf(path, sizeof(path), "%s/%s", testdata_dir(), rel);
    int r = read_file(path, FILE_MAX_EVIDENCE, ret, ret_len);
    if (r < 0)
        fail_msg("cannot read test vector '%s': %s", path, strerror(-r));
}

#endif
