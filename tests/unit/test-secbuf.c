/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "tests/unit/test-helpers.h"

#include "common/secbuf.h"

static void test_new_dup_free(void **state) {
    (void)state;
    SecretBuf *s = secret_new(32);
    assert_non_null(s);
    assert_int_equal(s->len, 32);
    for (size_t i = 0; i < 33; i++) /* zeroed, with the spare NUL */
        assert_int_equal(s->data[i], 0);
    s = secret_free(s);
    assert_null(s);
    assert_null(secret_free(NULL));

    _cleanup_secret_ SecretBuf *d = secret_dup("key material", 12);
    assert_non_null(d);
    assert_int_equal(d->len, 12);
    assert_memory_equal(d->data, "key material", 12);
    assert_int_equal(d->data[12], 0);

    _cleanup_secret_ SecretBuf *z = secret_new(0);
    assert_non_null(z);
    assert_int_equal(z->len, 0);
}

static void test_truncate_wipes_tail(void **state) {
    (void)state;
    _cleanup_secret_ SecretBuf *s = secret_dup("abcdefgh", 8);
    secret_truncate(s, 3);
    assert_int_equal(s->len, 3);
    assert_memory_equal(s->data, "abc", 3);
    for (size_t i = 3; i < 8; i++)
        assert_int_equal(s->data[i], 0);
    secret_truncate(s, 10); /* never grows */
    assert_int_equal(s->len, 3);
}

static void test_wipe(void **state) {
    (void)state;
    uint8_t buf[16];
    memset(buf, 0xa5, sizeof(buf));
    secure_wipe(buf, sizeof(buf));
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0);
    secure_wipe(NULL, 10); /* accepted */
    char *str = strdup("password");
    secure_free_string(str);
    secure_free_string(NULL);
}

static void test_process_harden(void **state) {
    (void)state;
    struct rlimit rl;
    assert_int_equal(process_harden(), 0);
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
    assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
    assert_int_equal(rl.rlim_cur, 0);
    mode_t old = umask(0);
    umask(old);
    assert_int_equal(old, 0077);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_dup_free),
        cmocka_unit_test(test_truncate_wipes_tail),
        cmocka_unit_test(test_wipe),
        cmocka_unit_test(test_process_harden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
