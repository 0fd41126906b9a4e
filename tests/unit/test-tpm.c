/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include "tests/unit/test-helpers.h"
#include "tpm/tpm.h"

static void test_placeholder(void **state) {
    (void)state;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placeholder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
