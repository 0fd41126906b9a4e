/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include "tests/unit/test-helpers.h"

#include "common/json.h"

static int setup(void **state) {
    (void)state;
    json_init();
    return 0;
}

static void test_parse_bounds(void **state) {
    (void)state;
    cJSON *j = NULL;
    const char good[] = "{\"a\": 1} \n";
    assert_int_equal(json_parse(good, strlen(good), &j), 0);
    cJSON_Delete(j);
    /* exactly len bytes are parsed, whatever follows in memory */
    const char prefix[] = "{\"a\": 1}{\"b\": 2}";
    assert_int_equal(json_parse(prefix, 8, &j), 0);
    cJSON_Delete(j);
    j = NULL;
    assert_int_equal(json_parse(prefix, strlen(prefix), &j), -EBADMSG);
    assert_null(j);
    assert_int_equal(json_parse("{\"a\": 1} x", 10, &j), -EBADMSG);
    assert_int_equal(json_parse("{\"a\": 1}\0", 9, &j), -EBADMSG); /* embedded NUL */
    assert_int_equal(json_parse("{\"a\": ", 6, &j), -EBADMSG);
    assert_int_equal(json_parse("", 0, &j), -EBADMSG);
}

static void test_getters(void **state) {
    (void)state;
    _cleanup_json_ cJSON *j = NULL;
    const char doc[] = "{\"s\":\"str\",\"n\":42,\"f\":1.5,\"big\":9007199254740993,\"neg\":-7,"
                       "\"b\":true,\"o\":{\"x\":1},\"a\":[1,2]}";
    int64_t v;
    bool b;
    assert_int_equal(json_parse(doc, strlen(doc), &j), 0);
    assert_string_equal(json_get_string(j, "s"), "str");
    assert_null(json_get_string(j, "n"));
    assert_null(json_get_string(j, "missing"));
    assert_int_equal(json_get_int(j, "n", &v), 0);
    assert_true(v == 42);
    assert_int_equal(json_get_int(j, "neg", &v), 0);
    assert_true(v == -7);
    assert_int_equal(json_get_int(j, "f", &v), -EBADMSG);
    assert_int_equal(json_get_int(j, "big", &v), -EBADMSG);
    assert_int_equal(json_get_int(j, "s", &v), -EBADMSG);
    assert_int_equal(json_get_int(j, "missing", &v), -ENOENT);
    assert_int_equal(json_get_bool(j, "b", &b), 0);
    assert_true(b);
    assert_int_equal(json_get_bool(j, "n", &b), -EBADMSG);
    assert_non_null(json_get_object(j, "o"));
    assert_null(json_get_object(j, "a"));
    assert_non_null(json_get_array(j, "a"));
    assert_null(json_get_array(j, "o"));
}

static void test_builders(void **state) {
    (void)state;
    _cleanup_json_ cJSON *j = cJSON_CreateObject();
    static const uint8_t bytes[] = {0xde, 0xad, 0xbe, 0xef};
    assert_int_equal(json_add_hex(j, "h", bytes, sizeof(bytes)), 0);
    assert_int_equal(json_add_int(j, "i", 5), 0);
    assert_int_equal(json_add_bool(j, "t", true), 0);
    assert_int_equal(json_add_string(j, "s", "v"), 0);
    char *out = cJSON_PrintUnformatted(j);
    assert_string_equal(out, "{\"h\":\"deadbeef\",\"i\":5,\"t\":true,\"s\":\"v\"}");
    cJSON_free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_bounds),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_builders),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
