/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The pure half of tpm/: TPMS_ATTEST/TPMT_SIGNATURE parsing, PCR digests,
 * policy digests, PCR files, and offline quote verification against the real
 * Azure vTPM quote (kinvolk az-cvm-vtpm test/quote.bin + akpub.pem, nonce
 * "challenge"; layout in ../shared/testdata/MANIFEST.md).
 */
#include "config.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "common/crypto.h"
#include "tests/unit/test-helpers.h"
#include "tpm/tpm.h"

#define AZ_QUOTE "kinvolk__azure-cvm-tooling/az-cvm-vtpm_test_quote.bin"
#define AZ_AKPUB "kinvolk__azure-cvm-tooling/az-cvm-vtpm_test_akpub.pem"

typedef struct AzQuote {
    uint8_t *file;
    size_t file_len;
    const uint8_t *sig, *msg;
    size_t sig_len, msg_len;
    TpmPcrBank bank;
    EVP_PKEY *ak;
} AzQuote;

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* bincode: u64 len + signature | u64 len + TPMS_ATTEST | u64 count + count x 32-byte PCRs */
static void az_load(AzQuote *q) {
    uint8_t *pem = NULL;
    size_t pem_len = 0, off = 0;
    memset(q, 0, sizeof(*q));
    testdata_read_or_skip(AZ_QUOTE, &q->file, &q->file_len);
    testdata_read_or_skip(AZ_AKPUB, &pem, &pem_len);
    assert_int_equal(crypto_load_pubkey(pem, pem_len, &q->ak), 0);
    free(pem);
    assert_true(q->file_len >= 8);
    q->sig_len = le64(q->file);
    off = 8;
    assert_int_equal(q->sig_len, 256);
    q->sig = q->file + off;
    off += q->sig_len;
    q->msg_len = le64(q->file + off);
    off += 8;
    q->msg = q->file + off;
    off += q->msg_len;
    assert_int_equal(q->msg_len, 122);
    uint64_t n = le64(q->file + off);
    off += 8;
    assert_int_equal(n, 24);
    q->bank.hash = TPM_HASH_SHA256;
    for (unsigned i = 0; i < 24; i++) {
        memcpy(q->bank.values[i], q->file + off, 32);
        q->bank.mask |= 1u << i;
        off += 32;
    }
    assert_int_equal(off, q->file_len);
}

static void az_done(AzQuote *q) {
    free(q->file);
    EVP_PKEY_free(q->ak);
}

static void test_azure_quote_verifies(void **state) {
    (void)state;
    AzQuote q;
    TpmSignature sig;
    TpmAttest info;
    char reason[256] = "";
    az_load(&q);
    assert_int_equal(tpm_signature_parse(q.sig, q.sig_len, 256, &sig), 0);
    assert_int_equal(sig.scheme, 0x0014);
    assert_int_equal(tpm_quote_verify(q.ak, q.msg, q.msg_len, &sig, "challenge", 9, &q.bank, 1,
                                      &info, reason, sizeof(reason)),
                     0);
    assert_int_equal(info.type, 0x8018);
    assert_int_equal(info.extra_data_len, 9);
    assert_memory_equal(info.extra_data, "challenge", 9);
    assert_int_equal(info.n_sel, 1);
    assert_int_equal(info.sel[0].hash, TPM_HASH_SHA256);
    assert_int_equal(info.sel[0].mask, 0xFFFFFF);
    /* MANIFEST: pcrDigest = 04fabd98...a4a0 = SHA256(PCR0 || ... || PCR23) */
    static const uint8_t want[4] = {0x04, 0xfa, 0xbd, 0x98};
    assert_memory_equal(info.pcr_digest, want, 4);
    uint8_t d[64];
    size_t dlen = 0;
    assert_int_equal(tpm_pcr_digest(TPM_HASH_SHA256, info.sel, 1, &q.bank, 1, d, &dlen), 0);
    assert_int_equal(dlen, 32);
    assert_memory_equal(d, info.pcr_digest, 32);
    az_done(&q);
}

static void test_azure_quote_marshalled_signature(void **state) {
    (void)state;
    AzQuote q;
    TpmSignature sig;
    uint8_t tpmt[6 + 256] = {0x00, 0x14, 0x00, 0x0b, 0x01, 0x00};
    char reason[256];
    az_load(&q);
    memcpy(tpmt + 6, q.sig, 256);
    assert_int_equal(tpm_signature_parse(tpmt, sizeof(tpmt), 256, &sig), 0);
    assert_int_equal(sig.hash, TPM_HASH_SHA256);
    assert_int_equal(tpm_quote_verify(q.ak, q.msg, q.msg_len, &sig, "challenge", 9, NULL, 0, NULL,
                                      reason, sizeof(reason)),
                     0);
    /* wrong algorithm, wrong size, trailing byte */
    tpmt[1] = 0x18;
    assert_int_not_equal(tpm_signature_parse(tpmt, sizeof(tpmt), 256, &sig), 0);
    tpmt[1] = 0x14;
    assert_int_equal(tpm_signature_parse(tpmt, sizeof(tpmt) - 1, 256, &sig), -EBADMSG);
    az_done(&q);
}

static void test_azure_quote_tampered(void **state) {
    (void)state;
    AzQuote q;
    TpmSignature sig;
    char reason[256];
    az_load(&q);
    assert_int_equal(tpm_signature_parse(q.sig, q.sig_len, 256, &sig), 0);
    uint8_t msg[122];
    memcpy(msg, q.msg, sizeof(msg));
    /* every single-byte change of the message is caught (signature or parse) */
    for (size_t i = 0; i < sizeof(msg); i++) {
        msg[i] ^= 0x01;
        int r = tpm_quote_verify(q.ak, msg, sizeof(msg), &sig, NULL, 0, NULL, 0, NULL, reason,
                                 sizeof(reason));
        assert_true(r == -EKEYREJECTED || r == -EBADMSG || r == -EPROTONOSUPPORT);
        msg[i] ^= 0x01;
    }
    /* a changed signature byte */
    sig.sig[17] ^= 0x80;
    assert_int_equal(tpm_quote_verify(q.ak, q.msg, q.msg_len, &sig, NULL, 0, NULL, 0, NULL, reason,
                                      sizeof(reason)),
                     -EKEYREJECTED);
    assert_non_null(strstr(reason, "signature"));
    sig.sig[17] ^= 0x80;
    /* wrong nonce, empty nonce */
    assert_int_equal(tpm_quote_verify(q.ak, q.msg, q.msg_len, &sig, "challengf", 9, NULL, 0, NULL,
                                      reason, sizeof(reason)),
                     -EKEYREJECTED);
    assert_non_null(strstr(reason, "nonce"));
    assert_int_equal(tpm_quote_verify(q.ak, q.msg, q.msg_len, &sig, "", 0, NULL, 0, NULL, reason,
                                      sizeof(reason)),
                     -EKEYREJECTED);
    /* a changed PCR value, a missing PCR */
    q.bank.values[23][0] ^= 1;
    assert_int_equal(tpm_quote_verify(q.ak, q.msg, q.msg_len, &sig, "challenge", 9, &q.bank, 1,
                                      NULL, reason, sizeof(reason)),
                     -EKEYREJECTED);
    assert_non_null(strstr(reason, "PCR digest"));
    q.bank.values[23][0] ^= 1;
    q.bank.mask &= ~(1u << 5);
    assert_int_equal(tpm_quote_verify(q.ak, q.msg, q.msg_len, &sig, "challenge", 9, &q.bank, 1,
                                      NULL, reason, sizeof(reason)),
                     -EKEYREJECTED);
    az_done(&q);
}

static void test_attest_truncations(void **state) {
    (void)state;
    AzQuote q;
    TpmAttest a;
    az_load(&q);
    assert_int_equal(tpm_attest_parse(q.msg, q.msg_len, &a), 0);
    for (size_t n = 0; n < q.msg_len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, q.msg, n);
        assert_int_equal(tpm_attest_parse(copy, n, &a), -EBADMSG);
        free(copy);
    }
    /* trailing byte */
    uint8_t longer[123];
    memcpy(longer, q.msg, 122);
    longer[122] = 0;
    assert_int_equal(tpm_attest_parse(longer, sizeof(longer), &a), -EBADMSG);
    az_done(&q);
}

/* A hand-built certify TPMS_ATTEST and a quote with oversized fields. */
static void test_attest_fields(void **state) {
    (void)state;
    TpmAttest a;
    uint8_t att[] = {
        0xff, 0x54, 0x43, 0x47, 0x80, 0x17,                                  /* magic, certify */
        0x00, 0x02, 0xaa, 0xbb,                                              /* qualifiedSigner */
        0x00, 0x01, 0x42,                                                    /* extraData */
        0,    0,    0,    0,    0,    0,    0, 9, 0, 0, 0, 1, 0, 0, 0, 2, 1, /* clockInfo */
        0,    0,    0,    0,    0,    0,    0, 7,                            /* firmwareVersion */
        0x00, 0x01, 0x11,                                                    /* name */
        0x00, 0x00,                                                          /* qualifiedName */
    };
    assert_int_equal(tpm_attest_parse(att, sizeof(att), &a), 0);
    assert_int_equal(a.type, 0x8017);
    assert_int_equal(a.clock, 9);
    assert_int_equal(a.reset_count, 1);
    assert_int_equal(a.restart_count, 2);
    assert_true(a.safe);
    assert_int_equal(a.firmware_version, 7);
    assert_int_equal(a.certified_name_len, 1);
    /* extraData larger than 64 */
    att[11] = 0x41;
    att[10] = 0x00;
    assert_int_equal(tpm_attest_parse(att, sizeof(att), &a), -EBADMSG);
    att[11] = 0x01;
    /* another attestation type; bad magic */
    att[5] = 0x14;
    assert_int_equal(tpm_attest_parse(att, sizeof(att), &a), -EPROTONOSUPPORT);
    att[5] = 0x17;
    att[0] = 0xfe;
    assert_int_equal(tpm_attest_parse(att, sizeof(att), &a), -EBADMSG);
}

static void test_pcr_selection_parse(void **state) {
    (void)state;
    TpmPcrSelection s;
    assert_int_equal(tpm_pcr_selection_parse("sha256:0-7", &s), 0);
    assert_int_equal(s.hash, TPM_HASH_SHA256);
    assert_int_equal(s.mask, 0xFF);
    assert_int_equal(tpm_pcr_selection_parse("sha1:0,7,16-17", &s), 0);
    assert_int_equal(s.hash, TPM_HASH_SHA1);
    assert_int_equal(s.mask, 0x30081);
    assert_int_equal(tpm_pcr_selection_parse("SHA384:all", &s), 0);
    assert_int_equal(s.mask, 0xFFFFFF);
    assert_int_equal(tpm_pcr_selection_parse("sha256:24", &s), -EINVAL);
    assert_int_equal(tpm_pcr_selection_parse("sha256:", &s), -EINVAL);
    assert_int_equal(tpm_pcr_selection_parse("md5:1", &s), -EINVAL);
    assert_int_equal(tpm_pcr_selection_parse("sha256:7-3", &s), -EINVAL);
    assert_int_equal(tpm_pcr_selection_parse("sha256:1,x", &s), -EINVAL);
    assert_int_equal(tpm_pcr_selection_parse("sha256", &s), -EINVAL);
}

/* PolicyPCR over all-zero PCR 0-7 (sha256), as azure-wire-formats §4 defines it:
 * SHA256(0^32 || 0000017f || 00000001 000b 03 ff0000 || SHA256(0^256)). */
static void test_policy_pcr_digest(void **state) {
    (void)state;
    TpmPcrBank b = {.hash = TPM_HASH_SHA256, .mask = 0xFF};
    uint8_t got[32], inner[32], want[32], msg[32 + 4 + 10 + 32] = {0};
    uint8_t zeros[256] = {0};
    size_t n;
    assert_int_equal(tpm_policy_pcr_digest(&b, got), 0);
    assert_int_equal(crypto_digest("SHA256", zeros, sizeof(zeros), inner, &n), 0);
    static const uint8_t mid[] = {0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x00,
                                  0x01, 0x00, 0x0b, 0x03, 0xff, 0x00, 0x00};
    memcpy(msg + 32, mid, sizeof(mid));
    memcpy(msg + 32 + sizeof(mid), inner, 32);
    assert_int_equal(crypto_digest("SHA256", msg, sizeof(msg), want, &n), 0);
    assert_memory_equal(got, want, 32);
    /* a different PCR value gives a different policy */
    b.values[3][0] = 1;
    assert_int_equal(tpm_policy_pcr_digest(&b, want), 0);
    assert_memory_not_equal(got, want, 32);
}

static void test_policy_authorize_and_approve(void **state) {
    (void)state;
    EVP_PKEY *k = EVP_RSA_gen(2048);
    uint8_t p1[32], p2[32], policy[32] = {1, 2, 3};
    uint8_t *sig = NULL, *pub = NULL;
    size_t sig_len = 0, pub_len = 0;
    assert_non_null(k);
    assert_int_equal(tpm_policy_authorize_digest(k, p1), 0);
    assert_int_equal(tpm_policy_authorize_digest(k, p2), 0);
    assert_memory_equal(p1, p2, 32);
    /* the approval is RSASSA-SHA256 over the policy (aHash with empty policyRef) */
    assert_int_equal(tpm_policy_approve(k, policy, &sig, &sig_len), 0);
    assert_int_equal(sig_len, 256);
    assert_int_equal(crypto_verify(k, "SHA256", policy, 32, sig, sig_len), 0);
    /* the public key round-trips through TPM2B_PUBLIC */
    assert_int_equal(tpm_public_from_pkey(k, &pub, &pub_len), 0);
    EVP_PKEY *back = NULL;
    assert_int_equal(tpm_public_to_pkey(pub, pub_len, &back), 0);
    assert_int_equal(EVP_PKEY_eq(k, back), 1);
    uint8_t name[66];
    size_t nlen = 0;
    assert_int_equal(tpm_public_name(pub, pub_len, name, &nlen), 0);
    assert_int_equal(nlen, 34);
    assert_int_equal(name[1], 0x0b);
    assert_int_equal(tpm_public_to_pkey(pub, pub_len - 1, &back), -EBADMSG);
    EVP_PKEY_free(back);
    free(pub);
    free(sig);
    EVP_PKEY_free(k);
}

static void test_pcrs_parse(void **state) {
    (void)state;
    TpmPcrBank banks[TPM_MAX_BANKS];
    size_t n = 0;
    const char *json =
        "{\"sha256\":{\"0\":\"" /* 32 bytes */
        "00000000000000000000000000000000000000000000000000000000000000ff\","
        "\"7\":\"0x0100000000000000000000000000000000000000000000000000000000000000\"},"
        "\"sha1\":{\"1\":\"0000000000000000000000000000000000000001\"}}";
    assert_int_equal(tpm_pcrs_parse(json, strlen(json), banks, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(banks[0].hash, TPM_HASH_SHA256);
    assert_int_equal(banks[0].mask, 0x81);
    assert_int_equal(banks[0].values[0][31], 0xff);
    assert_int_equal(banks[0].values[7][0], 0x01);
    assert_int_equal(banks[1].hash, TPM_HASH_SHA1);
    assert_int_equal(banks[1].values[1][19], 1);
    /* the whole `verify --event-log --json` output, with "pcrs" inside */
    const char *wrapped = "{\"verified\":true,\"pcrs\":{\"sha1\":{\"2\":"
                          "\"0000000000000000000000000000000000000002\"}}}";
    assert_int_equal(tpm_pcrs_parse(wrapped, strlen(wrapped), banks, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(banks[0].mask, 4);
    const char *yaml =
        "  sha1:\n"
        "    0 : 0x0000000000000000000000000000000000000000\n"
        "  sha256:\n"
        "    16: 0x00000000000000000000000000000000000000000000000000000000000000AB\n";
    assert_int_equal(tpm_pcrs_parse(yaml, strlen(yaml), banks, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(banks[1].mask, 1u << 16);
    assert_int_equal(banks[1].values[16][31], 0xab);
    /* wrong length, unknown bank, index out of range, junk */
    const char *bad[] = {
        "{\"sha256\":{\"0\":\"00\"}}",
        "{\"md5\":{\"0\":\"00\"}}",
        "{\"sha1\":{\"24\":\"0000000000000000000000000000000000000000\"}}",
        "sha1:\n  0 : zz\n",
        "0 : 0x00\n",
        "{}",
        "",
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        assert_int_equal(tpm_pcrs_parse(bad[i], strlen(bad[i]), banks, &n), -EBADMSG);
}

/* Every prefix and every single-bit flip of the inputs the verifier reads from
 * files: an error or a result, never a crash (run under ASan in build-asan). */
static void test_robustness(void **state) {
    (void)state;
    AzQuote q;
    TpmSignature sig;
    TpmAttest a;
    TpmPcrBank banks[TPM_MAX_BANKS];
    size_t n = 0;
    az_load(&q);
    uint8_t tpmt[6 + 256] = {0x00, 0x14, 0x00, 0x0b, 0x01, 0x00};
    memcpy(tpmt + 6, q.sig, 256);
    for (size_t i = 0; i < sizeof(tpmt) * 8; i += 3) {
        tpmt[i / 8] ^= (uint8_t)(1u << (i % 8));
        (void)tpm_signature_parse(tpmt, sizeof(tpmt), 256, &sig);
        (void)tpm_signature_parse(tpmt, sizeof(tpmt), 0, &sig);
        tpmt[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    for (size_t len = 0; len < sizeof(tpmt); len++)
        (void)tpm_signature_parse(tpmt, len, 0, &sig);
    uint8_t msg[122];
    memcpy(msg, q.msg, sizeof(msg));
    for (size_t i = 0; i < sizeof(msg) * 8; i++) {
        msg[i / 8] ^= (uint8_t)(1u << (i % 8));
        (void)tpm_attest_parse(msg, sizeof(msg), &a);
        msg[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    /* TPM2B_PUBLIC of an RSA key: flips and truncations */
    EVP_PKEY *k = EVP_RSA_gen(2048), *back = NULL;
    uint8_t *pub = NULL, name[66];
    size_t pub_len = 0, nlen;
    assert_int_equal(tpm_public_from_pkey(k, &pub, &pub_len), 0);
    for (size_t i = 0; i < pub_len * 8; i += 5) {
        pub[i / 8] ^= (uint8_t)(1u << (i % 8));
        if (tpm_public_to_pkey(pub, pub_len, &back) == 0)
            EVP_PKEY_free(back);
        back = NULL;
        (void)tpm_public_name(pub, pub_len, name, &nlen);
        pub[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    for (size_t len = 0; len < pub_len; len++)
        assert_int_not_equal(tpm_public_to_pkey(pub, len, &back), 0);
    free(pub);
    EVP_PKEY_free(k);
    /* PCR files cut anywhere */
    const char *files[] = {
        "{\"sha1\":{\"1\":\"0000000000000000000000000000000000000001\"}}",
        "sha1:\n  0 : 0x0000000000000000000000000000000000000000\n",
    };
    for (size_t f = 0; f < ELEMENTSOF(files); f++)
        for (size_t len = 0; len <= strlen(files[f]); len++)
            (void)tpm_pcrs_parse(files[f], len, banks, &n);
    az_done(&q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_azure_quote_verifies),
        cmocka_unit_test(test_azure_quote_marshalled_signature),
        cmocka_unit_test(test_azure_quote_tampered),
        cmocka_unit_test(test_attest_truncations),
        cmocka_unit_test(test_attest_fields),
        cmocka_unit_test(test_pcr_selection_parse),
        cmocka_unit_test(test_policy_pcr_digest),
        cmocka_unit_test(test_policy_authorize_and_approve),
        cmocka_unit_test(test_pcrs_parse),
        cmocka_unit_test(test_robustness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
