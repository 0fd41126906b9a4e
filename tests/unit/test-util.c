/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include "tests/unit/test-helpers.h"

#include "common/util.h"

static void test_parse_numbers(void **state) {
    (void)state;
    uint64_t v;
    uint32_t u;
    assert_int_equal(parse_u64("0", UINT64_MAX, &v), 0);
    assert_true(v == 0);
    assert_int_equal(parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(parse_u64("18446744073709551616", UINT64_MAX, &v), -ERANGE);
    assert_int_equal(parse_u64("11", 10, &v), -ERANGE);
    assert_int_equal(parse_u64("", 10, &v), -EINVAL);
    assert_int_equal(parse_u64("-1", 10, &v), -EINVAL);
    assert_int_equal(parse_u64("+1", 10, &v), -EINVAL);
    assert_int_equal(parse_u64("1 ", 10, &v), -EINVAL);
    assert_int_equal(parse_u64(" 1", 10, &v), -EINVAL);
    assert_int_equal(parse_u64("0x10", UINT64_MAX, &v), -EINVAL);
    assert_int_equal(parse_u32("4294967295", &u), 0);
    assert_int_equal(parse_u32("4294967296", &u), -ERANGE);
}

static void test_parse_bool_duration(void **state) {
    (void)state;
    bool b;
    uint64_t ms;
    assert_int_equal(parse_bool("yes", &b), 0);
    assert_true(b);
    assert_int_equal(parse_bool("OFF", &b), 0);
    assert_false(b);
    assert_int_equal(parse_bool("maybe", &b), -EINVAL);
    assert_int_equal(parse_duration_ms("30", &ms), 0);
    assert_true(ms == 30000);
    assert_int_equal(parse_duration_ms("250ms", &ms), 0);
    assert_true(ms == 250);
    assert_int_equal(parse_duration_ms("2m", &ms), 0);
    assert_true(ms == 120000);
    assert_int_equal(parse_duration_ms("1h", &ms), 0);
    assert_true(ms == 3600000);
    assert_int_equal(parse_duration_ms("30d", &ms), 0);
    assert_true(ms == UINT64_C(2592000000));
    assert_int_equal(parse_duration_ms("1w", &ms), -EINVAL);
    assert_int_equal(parse_duration_ms("s", &ms), -EINVAL);
    assert_int_equal(parse_duration_ms("", &ms), -EINVAL);
    assert_int_equal(parse_duration_ms("99999999999999999999", &ms), -EINVAL);
}

static void test_rfc3339(void **state) {
    (void)state;
    int64_t t;
    assert_int_equal(parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
    assert_true(t == 0);
    assert_int_equal(parse_rfc3339("2024-02-29T12:34:56Z", &t), 0);
    assert_true(t == 1709210096);
    assert_int_equal(parse_rfc3339("2024-02-29T14:34:56+02:00", &t), 0);
    assert_true(t == 1709210096);
    assert_int_equal(parse_rfc3339("2024-02-29T12:34:56.789Z", &t), 0);
    assert_true(t == 1709210096);
    assert_int_equal(parse_rfc3339("2038-01-19T03:14:08Z", &t), 0);
    assert_true(t == 2147483648LL);
    assert_int_equal(parse_rfc3339("2024-02-29", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("2024-13-01T00:00:00Z", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("2024-01-01T00:00:00", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("2024-01-01T00:00:00Zjunk", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("yesterday", &t), -EINVAL);
}

/* The calendar and the range are real: what used to be accepted and turned
 * into a negative time ("now") or a date that does not exist is refused. */
static void test_rfc3339_strict(void **state) {
    (void)state;
    int64_t t = 42;
    assert_int_equal(parse_rfc3339("1960-01-01T00:00:00Z", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("1969-12-31T23:59:59Z", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("1970-01-01T00:30:00+01:00", &t), -EINVAL);
    assert_true(t == 42); /* untouched on error */
    assert_int_equal(parse_rfc3339("1970-01-01T01:00:00+01:00", &t), 0);
    assert_true(t == 0);
    assert_int_equal(parse_rfc3339("2025-02-31T00:00:00Z", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("2025-04-31T00:00:00Z", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("2025-02-00T00:00:00Z", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("2024-02-29T00:00:00Z", &t), 0);
    assert_true(t == 1709164800);
    assert_int_equal(parse_rfc3339("2023-02-29T00:00:00Z", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("2000-02-29T00:00:00Z", &t), 0); /* divisible by 400 */
    assert_int_equal(parse_rfc3339("2100-02-29T00:00:00Z", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("2023-12-31T23:59:59-05:30", &t), 0);
    assert_true(t == 1704067199 + 5 * 3600 + 30 * 60);
    assert_int_equal(parse_rfc3339("2024-01-01T00:00:00+24:00", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("2024-01-01T00:00:00+05:60", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("2024-01-01T00:00:00+0500", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("2024-01-01T24:00:00Z", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("2024-01-01T23:60:00Z", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("2024-01-01T23:59:60Z", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("2024-01-01 00:00:00Z", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("2024-01-01T00:00:00.Z", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("+2024-01-01T00:00:00Z", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("2024-1-01T00:00:00Z", &t), -EINVAL);
    assert_int_equal(parse_rfc3339("", &t), -EINVAL);
    assert_int_equal(parse_rfc3339(NULL, &t), -EINVAL);
    assert_int_equal(parse_rfc3339("9999-12-31T23:59:59Z", &t), 0);
    assert_true(t == INT64_C(253402300799));
    assert_int_equal(parse_rfc3339("10000-01-01T00:00:00Z", &t), -EINVAL);
    assert_true(now_realtime_s() > 1700000000);
}

static void test_exit_codes(void **state) {
    (void)state;
    assert_int_equal(cvm_exit_from_errno(0), CVM_EXIT_OK);
    assert_int_equal(cvm_exit_from_errno(-EKEYREJECTED), CVM_EXIT_REJECTED);
    assert_int_equal(cvm_exit_from_errno(-EBADMSG), CVM_EXIT_REJECTED);
    assert_int_equal(cvm_exit_from_errno(-EINVAL), CVM_EXIT_USAGE);
    assert_int_equal(cvm_exit_from_errno(-EAGAIN), CVM_EXIT_TRANSIENT);
    assert_int_equal(cvm_exit_from_errno(-ETIMEDOUT), CVM_EXIT_TRANSIENT);
    assert_int_equal(cvm_exit_from_errno(-EIO), CVM_EXIT_PLATFORM);
}

static void test_size_arith(void **state) {
    (void)state;
    size_t r;
    assert_true(size_add(1, 2, &r) && r == 3);
    assert_false(size_add(SIZE_MAX, 1, &r));
    assert_true(size_mul(3, 4, &r) && r == 12);
    assert_false(size_mul(SIZE_MAX / 2 + 1, 2, &r));
}

static void test_blanks(void **state) {
    (void)state;
    static const char s[] = " \t\r\nab c\n \0"; /* 11 bytes, a NUL last */
    size_t start = 0, end = 11;
    assert_int_equal(rstrip_blanks(s, 10), 8);
    assert_int_equal(rstrip_blanks(s, 11), 11); /* a NUL is not blank */
    assert_int_equal(rstrip_blanks(s, 4), 0);
    strip_blanks(s, &start, &end);
    assert_int_equal(start, 4);
    assert_int_equal(end, 11);
    start = 0;
    end = 10;
    strip_blanks(s, &start, &end);
    assert_int_equal(start, 4);
    assert_int_equal(end, 8);
    start = end = 2;
    strip_blanks(s, &start, &end);
    assert_int_equal(start, 2);
    assert_int_equal(end, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_numbers), cmocka_unit_test(test_parse_bool_duration),
        cmocka_unit_test(test_rfc3339),       cmocka_unit_test(test_rfc3339_strict),
        cmocka_unit_test(test_exit_codes),    cmocka_unit_test(test_size_arith),
        cmocka_unit_test(test_blanks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
