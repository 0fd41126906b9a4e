/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * snp/: the report parser on the real reports of the testdata, TCB layouts,
 * the VCEK/VLEK extensions (raw and OCTET STRING hwID, Turin), the cert
 * table, KDS URLs, policy, and an exhaustive single-byte-change test over
 * the signed region of one real report.
 */
#include "config.h"

#include "tests/unit/test-helpers.h"

#include <errno.h>

#include "common/codec.h"
#include "common/crypto.h"
#include "common/json.h"
#include "snp/snp.h"

#define TRUSTEE "confidential-containers__trustee/"
#define GSG     "google__go-sev-guest/"

static void load_report(const char *rel, SnpReport *r) {
    _cleanup_free_ uint8_t *d = NULL;
    size_t n = 0;
    const char *err = NULL;
    testdata_read_or_skip(rel, &d, &n);
    int k = snp_report_parse(d, n, r, &err);
    if (k < 0)
        fail_msg("%s: %s", rel, err);
}

static X509 *load_cert(const char *rel) {
    _cleanup_free_ uint8_t *d = NULL;
    size_t n = 0;
    X509 *c = NULL;
    testdata_read_or_skip(rel, &d, &n);
    assert_int_equal(crypto_load_cert(d, n, &c), 0);
    return c;
}

static STACK_OF(X509) * load_chain(const char *rel) {
    _cleanup_free_ uint8_t *d = NULL;
    size_t n = 0;
    STACK_OF(X509) *c = NULL;
    testdata_read_or_skip(rel, &d, &n);
    assert_int_equal(crypto_load_cert_chain(d, n, &c), 0);
    return c;
}

static void assert_hex(const void *data, size_t n, const char *want) {
    _cleanup_free_ char *h = hex_encode(data, n);
    assert_string_equal(h, want);
}

static void test_parse_real(void **state) {
    (void)state;
    SnpReport r;
    load_report(GSG "verify_testdata_attestation.bin", &r);
    assert_int_equal(r.version, 2);
    assert_false(r.has_cpuid);
    assert_int_equal(r.policy, 0xB0000);
    assert_true(r.policy & SNP_POLICY_DEBUG);
    assert_int_equal(r.signing_key, SNP_SIGNING_KEY_VCEK);
    assert_int_equal(r.platform_info, 1);
    assert_hex(r.measurement, 48,
               "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a6"
               "08eb0cf2e4872b01");
    assert_hex(r.chip_id, 8, "3ac3fe21e13fb099");
    assert_int_equal(r.reported_tcb.raw, 0x4405000000000002ULL);
    assert_int_equal(r.reported_tcb.bootloader, 2);
    assert_int_equal(r.reported_tcb.snp, 5);
    assert_int_equal(r.reported_tcb.microcode, 68);
    assert_int_equal(r.current_major, 1);
    assert_int_equal(r.current_minor, 49);
    assert_int_equal(r.current_build, 3);

    load_report(TRUSTEE "deps_verifier_test_data_snp_test-vlek-report.bin", &r);
    assert_int_equal(r.version, 3);
    assert_true(r.has_cpuid);
    assert_int_equal(r.cpuid_fam_id, 0x19);
    assert_int_equal(r.cpuid_mod_id, 0x01);
    assert_int_equal(r.cpuid_step, 0x01);
    assert_int_equal(r.product, SNP_PRODUCT_MILAN);
    assert_int_equal(r.signing_key, SNP_SIGNING_KEY_VLEK);
    assert_int_equal(r.vmpl, 1);
    assert_int_equal(r.platform_info, 0x27);
    assert_int_equal(r.reported_tcb.microcode, 217);
    assert_int_equal(r.reported_tcb.snp, 24);
    assert_int_equal(r.current_tcb.raw, 0xdc18000000000004ULL);

    load_report("derived/trustee_e2e_evidence_genoa_v3_report.bin", &r);
    assert_int_equal(r.product, SNP_PRODUCT_GENOA); /* model 0xA0 */
    assert_int_equal(r.reported_tcb.microcode, 25);
    load_report("derived/trustee_az-snp-vtpm_evidence-genoa_snp-report.bin", &r);
    assert_int_equal(r.product, SNP_PRODUCT_GENOA);
    assert_int_equal(r.guest_svn, 0x1000B);
    assert_int_equal(r.platform_info, 0x24);
}

static void test_parse_errors(void **state) {
    (void)state;
    _cleanup_free_ uint8_t *d = NULL;
    size_t n = 0;
    SnpReport r;
    const char *err = NULL;
    testdata_read_or_skip(TRUSTEE "deps_verifier_test_data_snp_test-report.bin", &d, &n);
    assert_int_equal(snp_report_parse(d, SNP_REPORT_SIZE - 1, &r, &err), -EBADMSG);
    assert_non_null(strstr(err, "1184"));
    assert_int_equal(snp_report_parse(d, 0, &r, &err), -EBADMSG);
    uint8_t copy[SNP_REPORT_SIZE];
    memcpy(copy, d, sizeof(copy));
    for (uint32_t v = 0; v < 8; v++) {
        copy[0] = (uint8_t)v;
        int k = snp_report_parse(copy, sizeof(copy), &r, &err);
        if (v >= 2 && v <= 5)
            assert_int_equal(k, 0);
        else {
            assert_int_equal(k, -EPROTONOSUPPORT);
            assert_non_null(strstr(err, "offset 0x0"));
        }
    }
    memcpy(copy, d, sizeof(copy));
    copy[0x48] |= 0x20; /* signer info MBZ bit */
    assert_int_equal(snp_report_parse(copy, sizeof(copy), &r, &err), -EBADMSG);
    assert_non_null(strstr(err, "0x48"));
    memcpy(copy, d, sizeof(copy));
    copy[0x250] = 1; /* reserved before the signature */
    assert_int_equal(snp_report_parse(copy, sizeof(copy), &r, &err), -EBADMSG);
    /* v5: mitigation vectors */
    memcpy(copy, d, sizeof(copy));
    copy[0] = 5;
    copy[0x1F8] = 0x11;
    copy[0x200] = 0x22;
    assert_int_equal(snp_report_parse(copy, sizeof(copy), &r, &err), 0);
    assert_true(r.has_mit_vectors);
    assert_int_equal(r.launch_mit_vector, 0x11);
    assert_int_equal(r.current_mit_vector, 0x22);
}

static void test_tcb(void **state) {
    (void)state;
    SnpTcb t;
    snp_tcb_decode(0x7308000000000003ULL, SNP_PRODUCT_MILAN, &t);
    assert_int_equal(t.bootloader, 3);
    assert_int_equal(t.tee, 0);
    assert_int_equal(t.snp, 8);
    assert_int_equal(t.microcode, 0x73);
    assert_false(t.has_fmc);
    /* Turin: fmc, bl, tee, snp, -, -, -, ucode */
    snp_tcb_decode(0x0900000004030201ULL, SNP_PRODUCT_TURIN, &t);
    assert_true(t.has_fmc);
    assert_int_equal(t.fmc, 1);
    assert_int_equal(t.bootloader, 2);
    assert_int_equal(t.tee, 3);
    assert_int_equal(t.snp, 4);
    assert_int_equal(t.microcode, 9);
    SnpTcb a = {.bootloader = 3, .snp = 8, .microcode = 115}, b = a;
    assert_true(snp_tcb_at_least(&a, &b));
    b.tee = 1; /* a larger u64 is not a larger TCB */
    a.microcode = 200;
    assert_false(snp_tcb_at_least(&a, &b));
    assert_int_equal(snp_product_from_cpuid(0x19, 0x01), SNP_PRODUCT_MILAN);
    assert_int_equal(snp_product_from_cpuid(0x19, 0x11), SNP_PRODUCT_GENOA);
    assert_int_equal(snp_product_from_cpuid(0x19, 0xA0), SNP_PRODUCT_GENOA);
    assert_int_equal(snp_product_from_cpuid(0x1A, 0x02), SNP_PRODUCT_TURIN);
    assert_int_equal(snp_product_from_cpuid(0x17, 0x01), SNP_PRODUCT_UNKNOWN);
    assert_int_equal(snp_product_from_name("Milan-B0"), SNP_PRODUCT_MILAN);
    assert_int_equal(snp_product_from_name("Genoa"), SNP_PRODUCT_GENOA);
    assert_int_equal(snp_product_from_name("Turin"), SNP_PRODUCT_TURIN);
    assert_int_equal(snp_product_from_name("Milano"), SNP_PRODUCT_UNKNOWN);
}

static void test_cert_info(void **state) {
    (void)state;
    SnpCertInfo ci;
    _cleanup_x509_ X509 *vcek = load_cert(GSG "verify_testdata_vcek.testcer");
    assert_int_equal(snp_cert_info(vcek, &ci), 0);
    assert_false(ci.is_vlek);
    assert_string_equal(ci.product_name, "Milan-B0");
    assert_int_equal(ci.hwid_len, 64);
    assert_hex(ci.hwid, 8, "3ac3fe21e13fb099");
    assert_int_equal(ci.bl, 2);
    assert_int_equal(ci.ucode, 68);

    _cleanup_x509_ X509 *legacy =
        load_cert(TRUSTEE "deps_verifier_test_data_snp_test-vcek-invalid-legacy.der");
    assert_int_equal(snp_cert_info(legacy, &ci), 0);
    assert_int_equal(ci.hwid_len, 64);
    assert_int_equal(ci.hwid[0], 0x00);
    assert_int_equal(ci.hwid[63], 0x3f);
    assert_int_equal(ci.ucode, 169);
    _cleanup_x509_ X509 *newer =
        load_cert(TRUSTEE "deps_verifier_test_data_snp_test-vcek-invalid-new.der");
    assert_int_equal(snp_cert_info(newer, &ci), 0);
    assert_int_equal(ci.hwid_len, 64); /* OCTET STRING unwrapped */

    _cleanup_x509_ X509 *vlek = load_cert(TRUSTEE "deps_verifier_test_data_snp_test-vlek.der");
    assert_int_equal(snp_cert_info(vlek, &ci), 0);
    assert_true(ci.is_vlek);
    assert_int_equal(ci.hwid_len, 0);
    assert_string_equal(ci.product_name, "Milan");
    assert_string_equal(ci.csp_id, "CN=cc-us-east-2.amazonaws.com");
    assert_int_equal(ci.ucode, 217);

    _cleanup_x509_ X509 *turin = load_cert("virtee__sev/tests_certs_data_vcek_turin.der");
    assert_int_equal(snp_cert_info(turin, &ci), 0);
    assert_int_equal(ci.product, SNP_PRODUCT_TURIN);
    assert_true(ci.has_fmc);
    assert_int_equal(ci.fmc, 0);
    assert_int_equal(ci.ucode, 9);
    assert_int_equal(ci.hwid_len, 8);
    assert_hex(ci.hwid, 8, "1e550a8ee5cf9f4d");

    /* an ASK is neither VCEK nor VLEK */
    _cleanup_x509_stack_ STACK_OF(X509) *chain = load_chain(GSG "verify_trust_ask_ark_milan.pem");
    assert_int_equal(snp_cert_info(sk_X509_value(chain, 0), &ci), -EBADMSG);
}

/* A synthetic Turin report against the real Turin VCEK: KDS URL, TCB check. */
static void test_turin(void **state) {
    (void)state;
    SnpReport r;
    _cleanup_free_ uint8_t *d = NULL;
    size_t n = 0;
    const char *err;
    _cleanup_free_ char *url = NULL;
    testdata_read_or_skip(TRUSTEE "deps_verifier_test_data_snp_test-vlek-report.bin", &d, &n);
    uint8_t copy[SNP_REPORT_SIZE];
    memcpy(copy, d, sizeof(copy));
    copy[0x48] = 0;     /* VCEK */
    copy[0x188] = 0x1A; /* Turin */
    copy[0x189] = 0x02;
    /* REPORTED_TCB: fmc 0, bl 0, tee 0, snp 0, ucode 9 */
    memset(copy + 0x180, 0, 8);
    copy[0x187] = 9;
    static const uint8_t chip[8] = {0x1e, 0x55, 0x0a, 0x8e, 0xe5, 0xcf, 0x9f, 0x4d};
    memcpy(copy + 0x1A0, chip, 8);
    assert_int_equal(snp_report_parse(copy, sizeof(copy), &r, &err), 0);
    assert_int_equal(r.product, SNP_PRODUCT_TURIN);
    assert_true(r.reported_tcb.has_fmc);
    assert_int_equal(snp_kds_vcek_url(NULL, &r, r.product, &url), 0);
    assert_string_equal(url, "https://kdsintf.amd.com/vcek/v1/Turin/"
                             "1e550a8ee5cf9f4d?fmcSPL=0&blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=9");
    free(url);
    url = NULL;
    assert_int_equal(snp_kds_chain_url("http://127.0.0.1:1/", SNP_PRODUCT_TURIN, true, &url), 0);
    assert_string_equal(url, "http://127.0.0.1:1/vlek/v1/Turin/cert_chain");

    /* chain and TCB pass; the made-up signature does not */
    _cleanup_x509_ X509 *vcek = load_cert("virtee__sev/tests_certs_data_vcek_turin.der");
    _cleanup_x509_stack_ STACK_OF(X509) *chain =
        load_chain("virtee__sev/tests_certs_data_cert_chain_turin");
    SnpVerifyInput in = {.signer = vcek, .chain = chain, .at = 1767225600 /* 2026-01-01 */};
    SnpVerifyResult res;
    assert_int_equal(snp_verify(&r, &in, &res), -EKEYREJECTED);
    assert_string_equal(res.failed, "signature");
    assert_true(res.pinned_root);
    assert_string_equal(res.root_fp,
                        "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a");
    /* a different fmcSPL is a TCB mismatch */
    copy[0x180] = 1;
    assert_int_equal(snp_report_parse(copy, sizeof(copy), &r, &err), 0);
    assert_int_equal(snp_verify(&r, &in, &res), -EKEYREJECTED);
    assert_string_equal(res.failed, "tcb");
    /* a different chip (8 bytes) */
    copy[0x180] = 0;
    copy[0x1A3] ^= 1;
    assert_int_equal(snp_report_parse(copy, sizeof(copy), &r, &err), 0);
    assert_int_equal(snp_verify(&r, &in, &res), -EKEYREJECTED);
    assert_string_equal(res.failed, "chip_id");
}

/* Changing any single byte of [0, 0x2A0) of a real report fails verification. */
static void test_exhaustive_flip(void **state) {
    (void)state;
    _cleanup_free_ uint8_t *d = NULL;
    size_t n = 0;
    const char *err;
    testdata_read_or_skip(TRUSTEE "deps_verifier_test_data_snp_test-report.bin", &d, &n);
    _cleanup_x509_ X509 *vcek = load_cert(TRUSTEE "deps_verifier_test_data_snp_test-vcek.der");
    _cleanup_x509_stack_ STACK_OF(X509) *chain = load_chain(GSG "verify_trust_ask_ark_milan.pem");
    SnpVerifyInput in = {.signer = vcek, .chain = chain, .at = 1748736000 /* 2025-06-01 */};
    SnpVerifyResult res;
    SnpReport r;
    assert_int_equal(snp_report_parse(d, n, &r, &err), 0);
    assert_int_equal(snp_verify(&r, &in, &res), 0);
    unsigned parse_rejects = 0, verify_rejects = 0;
    for (size_t off = 0; off < SNP_REPORT_SIGNED_SIZE; off += test_stride()) {
        static const uint8_t deltas[] = {0x01, 0x80, 0xff};
        for (size_t k = 0; k < sizeof(deltas); k++) {
            uint8_t copy[SNP_REPORT_SIZE];
            memcpy(copy, d, sizeof(copy));
            copy[off] ^= deltas[k];
            if (snp_report_parse(copy, sizeof(copy), &r, &err) < 0) {
                parse_rejects++;
                continue;
            }
            int v = snp_verify(&r, &in, &res);
            if (v == 0)
                fail_msg("byte 0x%zx ^ 0x%02x still verifies", off, deltas[k]);
            verify_rejects++;
        }
    }
    print_message("exhaustive: %u parse rejects, %u verification rejects\n", parse_rejects,
                  verify_rejects);
    assert_true(verify_rejects > 0);
    /* the signature itself: r and s */
    for (size_t off = SNP_REPORT_SIGNED_SIZE; off < SNP_REPORT_SIGNED_SIZE + 2 * 72;
         off += test_stride()) {
        uint8_t copy[SNP_REPORT_SIZE];
        memcpy(copy, d, sizeof(copy));
        copy[off] ^= 0x01;
        assert_int_equal(snp_report_parse(copy, sizeof(copy), &r, &err), 0);
        assert_int_not_equal(snp_verify(&r, &in, &res), 0);
    }
}

static void test_cert_table(void **state) {
    (void)state;
    static const uint8_t a[] = {1, 2, 3}, b[] = {4, 5};
    const uint8_t *ders[] = {a, b};
    size_t lens[] = {sizeof(a), sizeof(b)};
    SnpCertKind kinds[] = {SNP_CERT_VCEK, SNP_CERT_ARK};
    _cleanup_free_ uint8_t *t = NULL;
    size_t tl = 0, n = 0;
    SnpCertEntry e[4];
    assert_int_equal(snp_cert_table_build(kinds, ders, lens, 2, &t, &tl), 0);
    assert_int_equal(tl, 3 * 24 + 5);
    assert_int_equal(snp_cert_table_parse(t, tl, e, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(e[0].kind, SNP_CERT_VCEK);
    assert_int_equal(e[1].kind, SNP_CERT_ARK);
    assert_memory_equal(e[1].data, b, 2);
    /* GUID in RFC 4122 order: 63da758d-e664-4564-... */
    assert_int_equal(t[0], 0x63);
    assert_int_equal(snp_cert_table_parse(t, tl, e, 1, &n), -E2BIG);
    assert_int_equal(snp_cert_table_parse(t, 24, e, 4, &n), -EBADMSG); /* no terminator */
    t[16] = 10;                                                        /* offset into the header */
    assert_int_equal(snp_cert_table_parse(t, tl, e, 4, &n), -EBADMSG);
    t[16] = 72;
    t[20] = 200; /* length past the end */
    assert_int_equal(snp_cert_table_parse(t, tl, e, 4, &n), -EBADMSG);
}

static void test_policy(void **state) {
    (void)state;
    SnpReport r;
    SnpPolicy p;
    const char *failed = NULL, *err = NULL;
    char reason[256];
    load_report(TRUSTEE "deps_verifier_test_data_snp_test-report.bin", &r);
    snp_policy_init(&p);
    assert_int_equal(snp_policy_check(&r, &p, &failed, reason, sizeof(reason)), 0);

    SnpTcb t;
    assert_int_equal(snp_policy_parse_min_tcb("3:0:8:115", &t), 0);
    assert_int_equal(t.microcode, 115);
    assert_int_equal(snp_policy_parse_min_tcb("0x03:0:8:0x73:1", &t), 0);
    assert_true(t.has_fmc);
    assert_int_equal(t.fmc, 1);
    assert_int_equal(snp_policy_parse_min_tcb("3:0:8", &t), -EINVAL);
    assert_int_equal(snp_policy_parse_min_tcb("3:0:8:256", &t), -EINVAL);
    assert_int_equal(snp_policy_parse_min_tcb("3:0:8:1:2:3", &t), -EINVAL);

    _cleanup_json_ cJSON *j = NULL;
    static const char doc[] =
        "{\"allow_debug\": false, \"min_tcb\": {\"bootloader\": 3, \"snp\": 9},"
        " \"measurements\": [\"a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c"
        "23500644e0e692e6be917f9050d3d38c\"], \"report_data\": \"ec6c52d7\", \"vmpl\": 0}";
    assert_int_equal(json_parse(doc, strlen(doc), &j), 0);
    assert_int_equal(snp_policy_from_json(&p, j, &err), 0);
    assert_int_equal(snp_policy_check(&r, &p, &failed, reason, sizeof(reason)), -EKEYREJECTED);
    assert_string_equal(failed, "min_tcb");
    p.min_tcb.snp = 8;
    assert_int_equal(snp_policy_check(&r, &p, &failed, reason, sizeof(reason)), 0);
    p.report_data[0] ^= 1;
    assert_int_equal(snp_policy_check(&r, &p, &failed, reason, sizeof(reason)), -EKEYREJECTED);
    assert_string_equal(failed, "report_data");

    static const char bad[] = "{\"vmpl\": 4}";
    cJSON_Delete(j);
    j = NULL;
    assert_int_equal(json_parse(bad, strlen(bad), &j), 0);
    assert_int_equal(snp_policy_from_json(&p, j, &err), -EINVAL);

    load_report(GSG "verify_testdata_attestation.bin", &r);
    snp_policy_init(&p);
    assert_int_equal(snp_policy_check(&r, &p, &failed, reason, sizeof(reason)), -EKEYREJECTED);
    assert_string_equal(failed, "debug");
    p.allow_debug = true;
    assert_int_equal(snp_policy_check(&r, &p, &failed, reason, sizeof(reason)), 0);
    r.signing_key = SNP_SIGNING_KEY_NONE;
    assert_int_equal(snp_policy_check(&r, &p, &failed, reason, sizeof(reason)), -EKEYREJECTED);
    assert_string_equal(failed, "signing_key");
}

static void test_unsigned_report(void **state) {
    (void)state;
    SnpReport r;
    SnpVerifyResult res;
    load_report(TRUSTEE "deps_verifier_test_data_snp_test-report.bin", &r);
    r.signing_key = SNP_SIGNING_KEY_NONE;
    SnpVerifyInput in = {0};
    assert_int_equal(snp_verify(&r, &in, &res), -EKEYREJECTED);
    assert_string_equal(res.failed, "signing_key");
}

/* cert with the last byte of its DER (in the signature) flipped. */
static X509 *altered_cert(X509 *cert) {
    uint8_t *der = NULL;
    int n = i2d_X509(cert, &der);
    assert_true(n > 0);
    der[n - 1] ^= 1;
    const uint8_t *p = der;
    X509 *c = d2i_X509(NULL, &p, n);
    OPENSSL_free(der);
    assert_non_null(c);
    return c;
}

static void assert_cache(unsigned want_hits, unsigned want_misses) {
    unsigned hits, misses;
    snp_verify_cache_stats(&hits, &misses);
    assert_int_equal(hits, want_hits);
    assert_int_equal(misses, want_misses);
}

/* The chain's verdict is reused for the same certificates in their validity
 * only: an altered VCEK, ASK or ARK, another anchor set or a time outside the
 * interval misses the cache, and the altered ones fail. */
static void test_chain_cache(void **state) {
    (void)state;
    SnpReport r;
    SnpVerifyResult res;
    load_report(TRUSTEE "deps_verifier_test_data_snp_test-report.bin", &r);
    _cleanup_x509_ X509 *vcek = load_cert(TRUSTEE "deps_verifier_test_data_snp_test-vcek.der");
    _cleanup_x509_stack_ STACK_OF(X509) *chain = load_chain(GSG "verify_trust_ask_ark_milan.pem");
    SnpVerifyInput in = {.signer = vcek, .chain = chain, .at = 1748736000 /* 2025-06-01 */};
    snp_verify_cache_clear();
    assert_int_equal(snp_verify(&r, &in, &res), 0);
    assert_cache(0, 1);
    char root_fp[65];
    memcpy(root_fp, res.root_fp, sizeof(root_fp));
    in.at += 86400;
    assert_int_equal(snp_verify(&r, &in, &res), 0);
    assert_cache(1, 1);
    assert_true(res.pinned_root);
    assert_string_equal(res.root_fp, root_fp);

    /* an altered VCEK: another key, and the ASK's signature fails */
    _cleanup_x509_ X509 *bad_vcek = altered_cert(vcek);
    in.signer = bad_vcek;
    assert_int_equal(snp_verify(&r, &in, &res), -EKEYREJECTED);
    assert_string_equal(res.failed, "chain");
    assert_cache(1, 2);
    in.signer = vcek;
    /* an altered ASK, then ARK, in the chain */
    for (int i = 0; i < sk_X509_num(chain); i++) {
        _cleanup_x509_stack_ STACK_OF(X509) *alt = sk_X509_dup(chain);
        _cleanup_x509_ X509 *bad = altered_cert(sk_X509_value(chain, i));
        assert_non_null(alt);
        (void)sk_X509_set(alt, i, bad);
        in.chain = alt;
        assert_int_equal(snp_verify(&r, &in, &res), -EKEYREJECTED);
        assert_string_equal(res.failed, "chain");
        sk_X509_zero(alt); /* borrowed */
    }
    assert_cache(1, 4);
    in.chain = chain;
    /* long after the VCEK expired: outside the verdict's interval */
    in.at = 4102444800; /* 2100-01-01 */
    assert_int_equal(snp_verify(&r, &in, &res), -EKEYREJECTED);
    assert_string_equal(res.failed, "chain");
    assert_cache(1, 5);
    /* failures were not kept; the good verdict still is */
    in.at = 1748736000;
    assert_int_equal(snp_verify(&r, &in, &res), 0);
    assert_cache(2, 5);
    /* an extra anchor is another key: verified afresh */
    _cleanup_x509_stack_ STACK_OF(X509) *anchors = sk_X509_new_null();
    assert_non_null(anchors);
    assert_true(sk_X509_push(anchors, sk_X509_value(chain, sk_X509_num(chain) - 1)) > 0);
    in.anchors = anchors;
    assert_int_equal(snp_verify(&r, &in, &res), 0);
    assert_cache(2, 6);
    sk_X509_zero(anchors); /* borrowed */
    snp_verify_cache_clear();
    assert_cache(0, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_real),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_tcb),
        cmocka_unit_test(test_cert_info),
        cmocka_unit_test(test_turin),
        cmocka_unit_test(test_exhaustive_flip),
        cmocka_unit_test(test_cert_table),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_unsigned_report),
        cmocka_unit_test(test_chain_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
