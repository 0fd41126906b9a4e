/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tdx/: TDREPORT and quote parsing and DCAP verification against the real
 * quotes, TDREPORTs and collateral in the testdata (MANIFEST.md).
 */
#include "config.h"

#include "tests/unit/test-helpers.h"

#include <errno.h>

#include "common/codec.h"
#include "common/crypto.h"
#include "tdx/tdx.h"

/* Inside every PCK certificate window of the real quotes (the v5 sample's
 * PCK starts 2026-01-27). */
#define PINNED_AT INT64_C(1780272000) /* 2026-06-01T00:00:00Z */

typedef struct RealQuote {
    const char *file;
    unsigned version;
    const char *mrtd_prefix;        /* MANIFEST */
    const char *report_data_prefix; /* MANIFEST, or NULL */
    const char *fmspc;
    bool debug;
} RealQuote;

static const RealQuote real_quotes[] = {
    {"google__go-tdx-guest/testing_testdata_tdx_prod_quote_SPR_E4.dat", 4, "6363b804", "6c62dec1",
     "50806f000000", false},
    {"google__go-tdx-guest/testing_testdata_quote_v5_sample.dat", 5, NULL, NULL, "90c06f000000",
     false},
    {"google__go-tdx-guest/testing_testdata_ccel_cos-113-tdx-quote.dat", 4, NULL,
     "00000000000000000000000000000000", "00806f050000", false},
    {"confidential-containers__trustee/deps_verifier_test_data_tdx_quote_4.dat", 4,
     "705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b689cac1599ccea1b7d420483a9ce5f"
     "0"
     "31",
     "7c71fe2c", "50806f000000", true},
    {"confidential-containers__trustee/deps_verifier_test_data_tdx_quote_5.dat", 5, "dfba221b",
     NULL, "90c06f000000", false},
    {"confidential-containers__trustee/deps_verifier_test_data_tdx_quote_6.dat", 4, "21e8dead",
     "26cae1c7", "00a06d080000", false},
    {"confidential-containers__trustee/deps_verifier_test_data_az-tdx-vtpm_td-quote.bin", 4,
     "024a32b070383331181619fa387cb4d55d1e38879f989933055ccad5bc2db795d1737b66205949d15469dc8c1ba7a"
     "b"
     "7b",
     "9734504f161d104c74e3165c15f779b06a9bb40dfa71937817d7eee68e593839", "00806f050000", false},
    {"azure-services/Azure__cvm-attestation-tools/cvm-attestation_tests_reports_td_quote_v4.dat", 4,
     NULL, "e771caa1", "90c06f000000", false},
    {"azure-services/Azure__cvm-attestation-tools/cvm-attestation_tests_reports_td_quote_v5.dat", 5,
     NULL, "9cb7f308", "90c06f000000", false},
};

static void assert_hex_prefix(const uint8_t *data, size_t len, const char *prefix) {
    if (!prefix)
        return;
    char *h = hex_encode(data, len);
    assert_non_null(h);
    if (strncmp(h, prefix, strlen(prefix)) != 0)
        fail_msg("expected prefix %s, got %s", prefix, h);
    free(h);
}

static int verify_buf(const uint8_t *data, size_t len, const TdxVerifyParams *p) {
    TdxQuote q;
    TdxVerifyResult res;
    char *err = NULL;
    int r = tdx_quote_parse(data, len, &q, &err);
    free(err);
    if (r < 0)
        return r;
    r = tdx_quote_verify(&q, p, &res);
    tdx_verify_result_done(&res);
    return r;
}

static void test_real_quotes_verify(void **state) {
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(real_quotes); i++) {
        const RealQuote *rq = &real_quotes[i];
        uint8_t *data = NULL;
        size_t len = 0;
        TdxQuote q;
        TdxVerifyResult res;
        char *err = NULL;
        TdxVerifyParams p = {.at = PINNED_AT};

        testdata_read_or_skip(rq->file, &data, &len);
        int r = tdx_quote_parse(data, len, &q, &err);
        if (r < 0)
            fail_msg("%s: parse: %s", rq->file, err ? err : "?");
        assert_int_equal(q.version, rq->version);
        assert_hex_prefix(q.body.mrtd, 48, rq->mrtd_prefix);
        assert_hex_prefix(q.body.report_data, 64, rq->report_data_prefix);
        assert_int_equal((q.body.td_attributes & TDX_ATTR_DEBUG) != 0, rq->debug);
        assert_int_equal(q.body.tdx15, q.version == 5 && q.body_type == 3);
        r = tdx_quote_verify(&q, &p, &res);
        if (r < 0)
            fail_msg("%s: verify: %s", rq->file, res.error ? res.error : "?");
        assert_true(res.quote_signature_ok && res.qe_report_signature_ok && res.qe_report_data_ok &&
                    res.pck_chain_ok && res.root_pinned);
        char *fmspc = hex_encode(res.pck.fmspc, 6);
        assert_string_equal(fmspc, rq->fmspc);
        free(fmspc);
        tdx_verify_result_done(&res);
        free(data);
    }
}

/* SPR_E4 carries 39 trailing bytes, Azure quotes 70 zero bytes, cos-113 pads to 8000 */
static void test_trailing_bytes(void **state) {
    (void)state;
    uint8_t *data = NULL;
    size_t len = 0;
    TdxQuote q;
    testdata_read_or_skip(real_quotes[0].file, &data, &len);
    assert_int_equal(tdx_quote_parse(data, len, &q, NULL), 0);
    assert_int_equal(q.trailing_len, 39);
    assert_int_equal(q.sig_data_len, 4299);
    /* the PEM chain is NUL-terminated in the v5 sample */
    free(data);
    testdata_read_or_skip(real_quotes[1].file, &data, &len);
    assert_int_equal(tdx_quote_parse(data, len, &q, NULL), 0);
    assert_int_equal(q.pck_chain[q.pck_chain_len - 1], 0);
    assert_int_equal(q.signed_len, 0x2BE);
    free(data);
}

/* Without the pinned root nothing verifies; a wrong time fails the chain. */
static void test_root_pin_and_time(void **state) {
    (void)state;
    uint8_t *data = NULL;
    size_t len = 0;
    TdxQuote q;
    TdxVerifyResult res;
    testdata_read_or_skip(real_quotes[1].file, &data, &len);
    assert_int_equal(tdx_quote_parse(data, len, &q, NULL), 0);
    TdxVerifyParams p = {.at = INT64_C(1700000000)}; /* 2023: before the v5 sample's PCK */
    assert_int_equal(tdx_quote_verify(&q, &p, &res), -EKEYREJECTED);
    assert_non_null(strstr(res.error, "PCK chain"));
    tdx_verify_result_done(&res);
    free(data);
}

/* Every single-byte change of header+body, attestation key, QE report and QE
 * report signature makes verification fail (cos-113 quote, exhaustively). */
static void test_flip_every_byte(void **state) {
    (void)state;
    uint8_t *data = NULL;
    size_t len = 0;
    TdxQuote q;
    TdxVerifyParams p = {.at = PINNED_AT};
    testdata_read_or_skip(real_quotes[2].file, &data, &len);
    assert_int_equal(tdx_quote_parse(data, len, &q, NULL), 0);
    assert_int_equal(verify_buf(data, len, &p), 0);
    size_t sig = q.signed_len + 4; /* signature data */
    struct {
        size_t off, n;
    } ranges[] = {
        {0, q.signed_len},             /* header + body */
        {sig + 64, 64},                /* attestation key */
        {sig + 64 + 64 + 6, 384},      /* QE report */
        {sig + 64 + 64 + 6 + 384, 64}, /* QE report signature */
        {sig, 64},                     /* quote signature */
    };
    size_t tried = 0;
    for (size_t k = 0; k < ELEMENTSOF(ranges); k++)
        for (size_t i = ranges[k].off; i < ranges[k].off + ranges[k].n; i += test_stride()) {
            data[i] ^= 0x01;
            if (verify_buf(data, len, &p) == 0)
                fail_msg("flipping byte 0x%zx still verifies", i);
            data[i] ^= 0x01;
            tried++;
        }
    if (test_stride() == 1)
        assert_int_equal(tried, q.signed_len + 64 + 384 + 64 + 64);
    assert_int_equal(verify_buf(data, len, &p), 0);
    free(data);
}

/* Every truncation of the signed quote is an error, never a crash. */
static void test_truncated(void **state) {
    (void)state;
    uint8_t *data = NULL;
    size_t len = 0;
    TdxQuote q;
    testdata_read_or_skip(real_quotes[3].file, &data, &len);
    assert_int_equal(tdx_quote_parse(data, len, &q, NULL), 0);
    size_t end = q.signed_len + 4 + q.sig_data_len;
    for (size_t n = 0; n < end; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact-size copy so ASan sees overreads */
        assert_non_null(copy);
        memcpy(copy, data, n);
        char *err = NULL;
        int r = tdx_quote_parse(copy, n, &q, &err);
        if (r != -EBADMSG)
            fail_msg("truncated to %zu bytes: %d", n, r);
        assert_non_null(err);
        free(err);
        free(copy);
    }
    free(data);
}

static void test_tdreport(void **state) {
    (void)state;
    uint8_t *data = NULL;
    size_t len = 0;
    TdxTdReport t;
    bool a, b;
    testdata_read_or_skip("confidential-containers__guest-components/"
                          "attestation-agent_attester_test_tdx_report_1.bin",
                          &data, &len);
    assert_int_equal(tdx_report_parse(data, len, false, &t), 0);
    assert_int_equal(t.report_version, 1);
    assert_hex_prefix(t.td.mrtd, 48,
                      "98bbc39e3e27b4cb27ed6d21870b187738f64ec44b9f3f93d603b35a84e610dcb45f1b6d79c6"
                      "48c7bf8e68f7a37b8ab5");
    assert_hex_prefix(t.td.rtmr[0], 48,
                      "f4ec1a04670fe7926cd5de4aef9aaa7689ab4ceaa132d7c5242b47f67dfaaea64c372a17ad68"
                      "fef9a6ac99aabbddabdc");
    assert_hex_prefix(t.td.rtmr[1], 48,
                      "4e5f8826653198ab4bc5156fbe4bc99db054c0b8239a16c4b59249fb427f4acc50eed1b46a85"
                      "c7d526c4e1e47621b14c");
    assert_true(t.td.attributes & TDX_ATTR_SEPT_VE_DISABLE);
    assert_int_equal(tdx_report_check_hashes(&t, &a, &b), 0);
    assert_true(a && b);
    /* one byte of TDINFO, then of TEE_TCB_INFO */
    data[0x300] ^= 1;
    assert_int_equal(tdx_report_parse(data, len, false, &t), 0);
    assert_int_equal(tdx_report_check_hashes(&t, &a, &b), -EKEYREJECTED);
    assert_true(a && !b);
    data[0x300] ^= 1;
    data[0x120] ^= 1;
    assert_int_equal(tdx_report_parse(data, len, false, &t), 0);
    assert_int_equal(tdx_report_check_hashes(&t, &a, &b), -EKEYREJECTED);
    assert_true(!a && b);
    /* truncated / wrong type */
    assert_int_equal(tdx_report_parse(data, len - 1, false, &t), -EBADMSG);
    data[0] = 0x02;
    assert_int_equal(tdx_report_parse(data, len, false, &t), -EPROTONOSUPPORT);
    free(data);
}

/* Azure HCL reports carry the TDREPORT at offset 0x20. */
static void test_hcl_tdreports(void **state) {
    (void)state;
    static const char *const files[] = {
        "kinvolk__azure-cvm-tooling/az-cvm-vtpm_test_hcl-report-tdx.bin",
        "confidential-containers__trustee/deps_verifier_test_data_az-tdx-vtpm_hcl-report.bin",
        /* named snp, a TDX HCL report (azure-services/MANIFEST.md fact 10); one
         * literal in parentheses, not a missing comma (-Wstring-concatenation) */
        ("azure-services/Azure__cvm-attestation-tools/"
         "cvm-attestation_tests_reports_snp_hcl_report.bin"),
    };
    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        uint8_t *data = NULL;
        size_t len = 0;
        TdxTdReport t;
        testdata_read_or_skip(files[i], &data, &len);
        assert_true(len >= 0x20 + TDX_TDREPORT_SIZE);
        assert_int_equal(tdx_report_parse(data + 0x20, TDX_TDREPORT_SIZE, false, &t), 0);
        if (tdx_report_check_hashes(&t, NULL, NULL) != 0)
            fail_msg("%s: TDREPORT hash check failed", files[i]);
        free(data);
    }
}

/* The real Azure pair: the HCL report's TDREPORT and the TD quote made for it
 * match field by field; a change to any field the quote carries (MRCONFIGID,
 * MROWNER, MROWNERCONFIG and XFAM included) breaks the match and is named. */
static void test_quote_matches_report(void **state) {
    (void)state;
    uint8_t *hcl = NULL, *quote = NULL;
    size_t hcl_len = 0, quote_len = 0;
    TdxTdReport t;
    TdxQuote q;
    const char *field = NULL;
    testdata_read_or_skip(
        "confidential-containers__trustee/deps_verifier_test_data_az-tdx-vtpm_hcl-report.bin", &hcl,
        &hcl_len);
    testdata_read_or_skip(
        "confidential-containers__trustee/deps_verifier_test_data_az-tdx-vtpm_td-quote.bin", &quote,
        &quote_len);
    assert_int_equal(tdx_report_parse(hcl + 0x20, TDX_TDREPORT_SIZE, false, &t), 0);
    assert_int_equal(tdx_quote_parse(quote, quote_len, &q, NULL), 0);
    if (!tdx_quote_matches_report(&q.body, &t, &field))
        fail_msg("the Azure TD quote does not match its TDREPORT at %s", field);
    static const struct {
        size_t off; /* in the TDREPORT */
        const char *field;
    } flips[] = {
        {0x108, "TEE_TCB_SVN"}, {0x118, "MRSEAM"},        {0x200, "TD ATTRIBUTES"},
        {0x208, "XFAM"},        {0x210, "MRTD"},          {0x240, "MRCONFIGID"},
        {0x270, "MROWNER"},     {0x2a0, "MROWNERCONFIG"}, {0x360, "RTMR3"},
        {0x080, "REPORTDATA"},
    };
    for (size_t i = 0; i < ELEMENTSOF(flips); i++) {
        uint8_t td[TDX_TDREPORT_SIZE];
        TdxTdReport a;
        memcpy(td, hcl + 0x20, sizeof(td));
        td[flips[i].off] ^= 1;
        assert_int_equal(tdx_report_parse(td, sizeof(td), false, &a), 0);
        field = NULL;
        assert_false(tdx_quote_matches_report(&q.body, &a, &field));
        assert_string_equal(field, flips[i].field);
    }
    free(hcl);
    free(quote);
}

static int read_td(const char *rel, TdxBlob *b, uint8_t **keep) {
    size_t len = 0;
    testdata_read_or_skip(rel, keep, &len);
    b->data = *keep;
    b->len = len;
    return 0;
}

/* tdx_quote_6 with the testdata's TCB info and QE identity: a status, and
 * the collateral's own signature not checked (no signing chain given). */
static void test_collateral_quote6(void **state) {
    (void)state;
    uint8_t *data = NULL, *ti = NULL, *qi = NULL;
    size_t len = 0;
    TdxQuote q;
    TdxVerifyResult res;
    TdxVerifyParams p = {.at = INT64_C(1762000000)}; /* 2025-11-01 */
    testdata_read_or_skip(real_quotes[5].file, &data, &len);
    read_td("confidential-containers__trustee/deps_verifier_test_data_tcbInfo.json", &p.tcb_info,
            &ti);
    read_td("confidential-containers__trustee/deps_verifier_test_data_enclaveIdentity.json",
            &p.qe_identity, &qi);
    assert_int_equal(tdx_quote_parse(data, len, &q, NULL), 0);
    int r = tdx_quote_verify(&q, &p, &res);
    if (r < 0)
        fail_msg("verify: %s", res.error);
    assert_true(res.collateral_given);
    assert_false(res.collateral_signature_checked);
    assert_int_equal(res.tdx_module_status, TDX_TCB_UP_TO_DATE);
    assert_int_equal(res.qe_tcb_status, TDX_TCB_UP_TO_DATE);
    assert_int_not_equal(res.platform_tcb_status, TDX_TCB_NOT_SUPPORTED);
    print_message("tdx_quote_6: platform %s, module %s, qe %s -> %s (%s)\n",
                  tdx_tcb_status_to_string(res.platform_tcb_status),
                  tdx_tcb_status_to_string(res.tdx_module_status),
                  tdx_tcb_status_to_string(res.qe_tcb_status),
                  tdx_tcb_status_to_string(res.tcb_status), res.tcb_date);
    tdx_verify_result_done(&res);

    /* collateral for another FMSPC is refused */
    uint8_t *ti2 = NULL;
    read_td("google__go-tdx-guest/testing_testdata_sample_tcbInfo_response", &p.tcb_info, &ti2);
    p.at = INT64_C(1687500000); /* inside that TCB info's window, before quote_6's PCK */
    assert_int_equal(tdx_quote_verify(&q, &p, &res), -EKEYREJECTED);
    tdx_verify_result_done(&res);
    /* expired collateral is refused */
    p.tcb_info = (TdxBlob){ti, strlen((char *)ti)};
    p.at = INT64_C(1780272000);
    assert_int_equal(tdx_quote_verify(&q, &p, &res), -EKEYREJECTED);
    assert_true(res.collateral_expired);
    tdx_verify_result_done(&res);
    free(ti2);
    free(ti);
    free(qi);
    free(data);
}

/* SPR_E4 with its own collateral and CRLs (2023-06-20, inside the PCK CRL window). */
static void test_collateral_spr_crl(void **state) {
    (void)state;
    uint8_t *data = NULL, *ti = NULL, *qi = NULL, *crl1 = NULL, *crl2 = NULL;
    size_t len = 0;
    TdxQuote q;
    TdxVerifyResult res;
    TdxBlob crls[2];
    TdxVerifyParams p = {.at = INT64_C(1687300000), .crls = crls, .n_crls = 2};
    testdata_read_or_skip(real_quotes[0].file, &data, &len);
    read_td("google__go-tdx-guest/testing_testdata_sample_qeIdentity_response", &p.qe_identity,
            &qi);
    read_td("google__go-tdx-guest/testing_testdata_pckcrl", &crls[0], &crl1);
    read_td("google__go-tdx-guest/testing_testdata_rootcrl.der", &crls[1], &crl2);
    assert_int_equal(tdx_quote_parse(data, len, &q, NULL), 0);
    int r = tdx_quote_verify(&q, &p, &res);
    if (r < 0)
        fail_msg("verify: %s", res.error);
    assert_true(res.crls_checked);
    assert_int_equal(res.qe_tcb_status, TDX_TCB_UP_TO_DATE);
    tdx_verify_result_done(&res);
    /* its TCB info (a later evaluation) wants TEE_TCB_SVN[2] >= 5; the quote has 4:
     * no level matches */
    read_td("google__go-tdx-guest/testing_testdata_sample_tcbInfo_response", &p.tcb_info, &ti);
    assert_int_equal(tdx_quote_verify(&q, &p, &res), -EKEYREJECTED);
    assert_int_equal(res.platform_tcb_status, TDX_TCB_NOT_SUPPORTED);
    assert_int_equal(res.tcb_status, TDX_TCB_NOT_SUPPORTED);
    tdx_verify_result_done(&res);
    /* a stale CRL is refused */
    p.at = PINNED_AT;
    p.tcb_info = (TdxBlob){0};
    p.qe_identity = (TdxBlob){0};
    assert_int_equal(tdx_quote_verify(&q, &p, &res), -EKEYREJECTED);
    assert_true(res.crl_stale);
    tdx_verify_result_done(&res);
    free(ti);
    free(qi);
    free(crl1);
    free(crl2);
    free(data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_quotes_verify), cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_root_pin_and_time),  cmocka_unit_test(test_flip_every_byte),
        cmocka_unit_test(test_truncated),          cmocka_unit_test(test_tdreport),
        cmocka_unit_test(test_hcl_tdreports),      cmocka_unit_test(test_quote_matches_report),
        cmocka_unit_test(test_collateral_quote6),  cmocka_unit_test(test_collateral_spr_crl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
