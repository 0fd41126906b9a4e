/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include "tests/unit/test-helpers.h"

#include "common/bytes.h"

static const uint8_t sample[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a};

static void test_integers(void **state) {
    (void)state;
    ByteReader r;
    br_init(&r, sample, sizeof(sample));
    assert_int_equal(br_u8(&r), 0x01);
    assert_int_equal(br_u16le(&r), 0x0302);
    assert_int_equal(br_u32le(&r), 0x07060504);
    assert_int_equal(br_offset(&r), 7);
    br_seek(&r, 0);
    assert_int_equal(br_u16be(&r), 0x0102);
    assert_int_equal(br_u32be(&r), 0x03040506);
    br_seek(&r, 0);
    assert_true(br_u64le(&r) == 0x0807060504030201ull);
    br_seek(&r, 0);
    assert_true(br_u64be(&r) == 0x0102030405060708ull);
    assert_int_equal(br_remaining(&r), 2);
    assert_true(br_ok(&r));
}

static void test_overrun_is_sticky(void **state) {
    (void)state;
    ByteReader r;
    br_init(&r, sample, sizeof(sample));
    br_skip(&r, 8);
    assert_int_equal(br_u32le(&r), 0); /* only 2 bytes left */
    assert_false(br_ok(&r));
    assert_int_equal(r.err_offset, 8);
    /* every later read yields zero, even one that would fit */
    assert_int_equal(br_u8(&r), 0);
    assert_null(br_take(&r, 0));
    assert_int_equal(br_remaining(&r), 0);
    assert_int_equal(r.err_offset, 8);
}

static void test_exact_end(void **state) {
    (void)state;
    ByteReader r;
    br_init(&r, sample, sizeof(sample));
    assert_non_null(br_take(&r, sizeof(sample)));
    assert_true(br_at_end(&r));
    assert_non_null(br_take(&r, 0));
    assert_null(br_take(&r, 1));
    assert_false(br_ok(&r));
}

static void test_huge_lengths_do_not_wrap(void **state) {
    (void)state;
    ByteReader r;
    br_init(&r, sample, sizeof(sample));
    br_skip(&r, 4);
    assert_null(br_take(&r, SIZE_MAX));
    assert_false(br_ok(&r));
    br_init(&r, sample, sizeof(sample));
    br_skip(&r, 4);
    assert_null(br_take(&r, SIZE_MAX - 2));
    assert_false(br_ok(&r));
}

static void test_copy_zero_fills(void **state) {
    (void)state;
    ByteReader r;
    uint8_t out[4] = {0xff, 0xff, 0xff, 0xff};
    br_init(&r, sample, 2);
    br_copy(&r, out, sizeof(out));
    assert_false(br_ok(&r));
    for (size_t i = 0; i < sizeof(out); i++)
        assert_int_equal(out[i], 0);
}

static void test_sub_reader(void **state) {
    (void)state;
    ByteReader r, sub;
    br_init(&r, sample, sizeof(sample));
    br_skip(&r, 2);
    sub = br_sub(&r, 4);
    assert_int_equal(br_offset(&r), 6);
    assert_int_equal(br_offset(&sub), 2); /* absolute offsets for messages */
    assert_int_equal(br_u32le(&sub), 0x06050403);
    assert_true(br_at_end(&sub));
    assert_int_equal(br_u8(&sub), 0);
    assert_false(br_ok(&sub));
    assert_int_equal(sub.err_offset, 6);
    assert_true(br_ok(&r)); /* the parent is unaffected by its child's overrun */

    sub = br_sub(&r, 5); /* only 4 left */
    assert_false(br_ok(&sub));
    assert_false(br_ok(&r));
    assert_int_equal(br_remaining(&sub), 0);
}

static void test_zeros_and_seek(void **state) {
    (void)state;
    static const uint8_t z[] = {0, 0, 0, 1};
    ByteReader r;
    br_init(&r, z, sizeof(z));
    assert_true(br_zeros(&r, 3));
    assert_false(br_zeros(&r, 1));
    br_seek(&r, 0);
    assert_false(br_zeros(&r, 4));
    br_seek(&r, 5);
    assert_false(br_ok(&r));
    assert_true(mem_is_zero(z, 3));
    assert_false(mem_is_zero(z, 4));
    assert_true(mem_is_zero(z, 0));
}

static void test_empty_and_null(void **state) {
    (void)state;
    ByteReader r;
    br_init(&r, NULL, 100);
    assert_int_equal(br_remaining(&r), 0);
    assert_int_equal(br_u8(&r), 0);
    assert_false(br_ok(&r));
    br_init(&r, sample, 4);
    assert_int_equal(br_fail(&r), -EBADMSG);
    assert_false(br_ok(&r));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers),        cmocka_unit_test(test_overrun_is_sticky),
        cmocka_unit_test(test_exact_end),       cmocka_unit_test(test_huge_lengths_do_not_wrap),
        cmocka_unit_test(test_copy_zero_fills), cmocka_unit_test(test_sub_reader),
        cmocka_unit_test(test_zeros_and_seek),  cmocka_unit_test(test_empty_and_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
