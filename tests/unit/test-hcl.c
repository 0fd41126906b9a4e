/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * attest/hcl.c: the Azure HCL report parser and the runtime-data binding on
 * the real HCL reports (SNP and TDX), and malformed variants.
 */
#include "config.h"

#include "tests/unit/test-helpers.h"

#include <errno.h>

#include "attest/attest.h"
#include "common/codec.h"
#include "common/json.h"

static const struct {
    const char *file;
    uint32_t type;
    const char *hash;
} reports[] = {
    {"confidential-containers__trustee/deps_verifier_test_data_az-snp-vtpm_hcl-report.bin",
     HCL_REPORT_SNP, "b3fbad6514c83caeb0380882145e49f794229ef37c421b91fc47ff93556bafac"},
    {"kinvolk__azure-cvm-tooling/az-cvm-vtpm_test_hcl-report-snp.bin", HCL_REPORT_SNP,
     "1d0a466a9eed975e88f889f7aed4abc1c97e87c4f43e5e3478c9a4a5853cbd7d"},
    {"kinvolk__azure-cvm-tooling/az-cvm-vtpm_test_hcl-report-tdx.bin", HCL_REPORT_TDX,
     "e8f0796193ba21d6d43d2ea4bb6e4081ce4920729b348f39099cd2f65ecb6170"},
    {"confidential-containers__trustee/deps_verifier_test_data_az-tdx-vtpm_hcl-report.bin",
     HCL_REPORT_TDX, "9734504f161d104c74e3165c15f779b06a9bb40dfa71937817d7eee68e593839"},
    {"derived/trustee_az-snp-vtpm_evidence-genoa_hcl-report.bin", HCL_REPORT_SNP,
     "b581f12e29a2d7d64e5e0b738d563879a78b51c644d0fa0cce02b48699f6bf5f"},
    {"derived/trustee_az-snp-vtpm_evidence-v2_hcl-report.bin", HCL_REPORT_SNP, NULL},
};

static void test_real(void **state) {
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(reports); i++) {
        _cleanup_free_ uint8_t *d = NULL;
        _cleanup_free_ char *expected = NULL;
        _cleanup_json_ cJSON *claims = NULL;
        size_t n = 0;
        HclReport h;
        const char *err = NULL;
        testdata_read_or_skip(reports[i].file, &d, &n);
        if (hcl_report_parse(d, n, &h, &err) < 0)
            fail_msg("%s: %s", reports[i].file, err);
        assert_int_equal(h.report_type, reports[i].type);
        assert_int_equal(h.hash_type, HCL_HASH_SHA256);
        assert_int_equal(h.report_size, 1236 + h.var_data_len);
        assert_true(hcl_runtime_data_bound(&h, &expected));
        if (reports[i].hash)
            assert_string_equal(expected, reports[i].hash);
        assert_int_equal(hcl_runtime_claims(&h, &claims), 0);
        const cJSON *ak = hcl_find_jwk(claims, "HCLAkPub");
        assert_non_null(ak);
        assert_string_equal(json_get_string(ak, "kty"), "RSA");
        assert_null(hcl_find_jwk(claims, "NoSuchKey"));

        /* one byte of the runtime JSON changed: the binding fails */
        uint8_t *copy = malloc(n);
        assert_non_null(copy);
        memcpy(copy, d, n);
        copy[HCL_VAR_DATA_OFFSET + h.var_data_len / 2] ^= 0x01;
        HclReport h2;
        assert_int_equal(hcl_report_parse(copy, n, &h2, &err), 0);
        assert_false(hcl_runtime_data_bound(&h2, NULL));
        /* so does a change to report_data's zero half */
        memcpy(copy, d, n);
        size_t rd = HCL_HW_REPORT_OFFSET + (h.report_type == HCL_REPORT_SNP ? 0x50 : 0x80);
        copy[rd + 40] ^= 0x01;
        assert_int_equal(hcl_report_parse(copy, n, &h2, &err), 0);
        assert_false(hcl_runtime_data_bound(&h2, NULL));
        free(copy);
    }
}

static void test_user_data(void **state) {
    (void)state;
    _cleanup_free_ uint8_t *d = NULL;
    _cleanup_json_ cJSON *claims = NULL;
    size_t n = 0;
    HclReport h;
    uint8_t ud[64], zero[64] = {0};
    testdata_read_or_skip(reports[2].file, &d, &n);
    assert_int_equal(hcl_report_parse(d, n, &h, NULL), 0);
    assert_int_equal(hcl_runtime_claims(&h, &claims), 0);
    assert_int_equal(hcl_user_data(claims, ud), 0);
    assert_memory_equal(ud, zero, 64);
    assert_non_null(hcl_find_jwk(claims, "HCLEkPub"));
}

static void test_malformed(void **state) {
    (void)state;
    _cleanup_free_ uint8_t *d = NULL;
    size_t n = 0;
    HclReport h;
    const char *err = NULL;
    testdata_read_or_skip(reports[0].file, &d, &n);
    assert_int_equal(hcl_report_parse(d, 0x4C0, &h, &err), -EBADMSG);
    assert_non_null(strstr(err, "truncated"));
    assert_int_equal(hcl_report_parse(d, 10, &h, &err), -EBADMSG);
    uint8_t *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, d, n);
    copy[0] = 'X';
    assert_int_equal(hcl_report_parse(copy, n, &h, &err), -EBADMSG);
    assert_non_null(strstr(err, "HCLA"));
    memcpy(copy, d, n);
    copy[0x4D0] = 0xff; /* variable data size */
    copy[0x4D1] = 0xff;
    assert_int_equal(hcl_report_parse(copy, n, &h, &err), -EBADMSG);
    memcpy(copy, d, n);
    copy[0x4C8] = 3; /* report type TVM */
    assert_int_equal(hcl_report_parse(copy, n, &h, &err), -EBADMSG);
    memcpy(copy, d, n);
    copy[0x4CC] = 9; /* hash type */
    assert_int_equal(hcl_report_parse(copy, n, &h, &err), -EBADMSG);
    memcpy(copy, d, n);
    copy[0x4CC] = 2; /* SHA-384 claimed: parses, binding fails */
    assert_int_equal(hcl_report_parse(copy, n, &h, &err), 0);
    assert_false(hcl_runtime_data_bound(&h, NULL));
    free(copy);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real),
        cmocka_unit_test(test_user_data),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
