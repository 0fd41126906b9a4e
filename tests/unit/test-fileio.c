/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "tests/unit/test-helpers.h"

#include "common/fileio.h"
#include "common/util.h"

static char dir[] = "/tmp/cvm-test-fileio.XXXXXX";

static int setup(void **state) {
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
}

static void write_raw(const char *path, const char *data, size_t len) {
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Nothing but the named files in dir: no temporary left behind. */
static int count_entries(void) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void test_read_file_cap(void **state) {
    (void)state;
    char p[256];
    uint8_t *data = NULL;
    size_t len = 0;
    path_of(p, sizeof(p), "ten");
    write_raw(p, "0123456789", 10);
    assert_int_equal(read_file(p, 10, &data, &len), 0);
    assert_int_equal(len, 10);
    assert_memory_equal(data, "0123456789", 10);
    assert_int_equal(data[10], 0);
    free(data);
    data = NULL;
    assert_int_equal(read_file(p, 9, &data, &len), -EFBIG);
    /* the message names the cap, not "Argument list too long" */
    assert_string_equal(file_error_string(-EFBIG, 9), "larger than 9 bytes");
    assert_string_equal(file_error_string(-ENOENT, 9), "No such file or directory");
    assert_null(data);
    path_of(p, sizeof(p), "missing");
    assert_int_equal(read_file(p, 10, &data, &len), -ENOENT);
    assert_int_equal(read_file(dir, 10, &data, &len), -EISDIR);
    path_of(p, sizeof(p), "empty");
    write_raw(p, "", 0);
    assert_int_equal(read_file(p, 10, &data, &len), 0);
    assert_int_equal(len, 0);
    free(data);
}

static void test_read_file_secret(void **state) {
    (void)state;
    char p[256];
    SecretBuf *s = NULL;
    path_of(p, sizeof(p), "secret");
    write_raw(p, "s3cr3t", 6);
    assert_int_equal(read_file_secret(p, 64, &s), 0);
    assert_int_equal(s->len, 6);
    assert_memory_equal(s->data, "s3cr3t", 6);
    s = secret_free(s);
    assert_int_equal(read_file_secret(p, 5, &s), -EFBIG);
    assert_null(s);
}

static void test_atomic_write_replaces(void **state) {
    (void)state;
    char p[256];
    uint8_t *data = NULL;
    size_t len = 0;
    struct stat st;
    int before = count_entries();
    path_of(p, sizeof(p), "state.json");
    assert_int_equal(write_file_atomic(p, "old", 3, 0600), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(write_file_atomic(p, "new content", 11, 0640), 0);
    assert_int_equal(read_file(p, 100, &data, &len), 0);
    assert_int_equal(len, 11);
    assert_memory_equal(data, "new content", 11);
    free(data);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(count_entries(), before + 1);
}

static void test_atomic_write_failure_leaves_old(void **state) {
    (void)state;
    char p[256], inner[300];
    int before;
    /* the target is a non-empty directory: rename must fail, nothing may change */
    path_of(p, sizeof(p), "target-dir");
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(inner, sizeof(inner), "%s/keep", p);
    write_raw(inner, "x", 1);
    before = count_entries();
    assert_true(write_file_atomic(p, "data", 4, 0600) < 0);
    assert_int_equal(count_entries(), before); /* the temporary file is gone */
    struct stat st;
    assert_int_equal(stat(inner, &st), 0);
    /* a directory that does not exist */
    path_of(p, sizeof(p), "no/such/dir/file");
    assert_int_equal(write_file_atomic(p, "data", 4, 0600), -ENOENT);
}

static void test_mkdir_p(void **state) {
    (void)state;
    char p[256];
    struct stat st;
    path_of(p, sizeof(p), "a/b/c");
    assert_int_equal(mkdir_p(p, 0700), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(mkdir_p(p, 0700), 0); /* idempotent */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_file_cap),
        cmocka_unit_test(test_read_file_secret),
        cmocka_unit_test(test_atomic_write_replaces),
        cmocka_unit_test(test_atomic_write_failure_leaves_old),
        cmocka_unit_test(test_mkdir_p),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
