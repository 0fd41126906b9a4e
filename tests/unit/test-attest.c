/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * attest/: the OS fields, the AzureGuest encoding (member names and order,
 * base64 vs base64url, raw signatures, the Proof JSON, the body layout) and
 * the refusal of malformed sealed replies before the TPM is touched.
 */
#include "config.h"

#include "tests/unit/test-helpers.h"

#include <unistd.h>

#include "attest/attest.h"
#include "common/codec.h"
#include "common/json.h"

static int setup(void **state) {
    (void)state;
    json_init();
    return 0;
}

static void os_info_of(const char *text, AttestOsInfo *os) {
    char path[] = "/tmp/test-attest-osr.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(attest_os_info(path, os), 0);
    unlink(path);
}

static void test_os_info(void **state) {
    (void)state;
    AttestOsInfo os;
    os_info_of("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n"
               "VERSION_ID=\"12\"\nID=debian\n",
               &os);
    assert_string_equal(os.distro, "Debian GNU/Linux");
    assert_int_equal(os.major, 12);
    assert_int_equal(os.minor, 0);
    os_info_of("NAME=Ubuntu\nVERSION_ID=\"22.04\"\n", &os);
    assert_string_equal(os.distro, "Ubuntu");
    assert_int_equal(os.major, 22);
    assert_int_equal(os.minor, 4);
    os_info_of("NAME='Some \"OS\"'\nVERSION_ID=rolling\n", &os);
    assert_string_equal(os.distro, "Some \"OS\"");
    assert_int_equal(os.major, 0);
    os_info_of("NAME=\"A \\\"q\\\" B\"\nVERSION_ID=9.3.1\n", &os);
    assert_string_equal(os.distro, "A \"q\" B");
    assert_int_equal(os.major, 9);
    assert_int_equal(os.minor, 3);
    /* no file: the fields still exist */
    assert_int_equal(attest_os_info("/nonexistent/os-release", &os), 0);
    assert_string_equal(os.distro, "Linux");
    assert_int_equal(os.major, 0);
}

static uint8_t *memdup_(const void *p, size_t n) {
    uint8_t *d = malloc(n);
    assert_non_null(d);
    memcpy(d, p, n);
    return d;
}

/* A TPMT_SIGNATURE (RSASSA, SHA-256) around 256 bytes of value v. */
static uint8_t *tpmt_signature(uint8_t v, size_t *len) {
    uint8_t *s = malloc(6 + 256);
    assert_non_null(s);
    memcpy(s, "\x00\x14\x00\x0b\x01\x00", 6);
    memset(s + 6, v, 256);
    *len = 6 + 256;
    return s;
}

typedef struct Fixture {
    AttestTpmEvidence e;
    uint8_t hw[1184];
    const char *runtime;
    AttestPlatform p;
    AttestOsInfo os;
} Fixture;

static void fixture(Fixture *f, AttestTee tee) {
    memset(f, 0, sizeof(*f));
    f->e.ak_pub = memdup_("\x00\x03"
                          "abc",
                          5);
    f->e.ak_pub_len = 5;
    f->e.ak_cert = memdup_("\x30\x01\x00", 3);
    f->e.ak_cert_len = 3;
    f->e.pcrs.hash = TPM_HASH_SHA256;
    f->e.pcrs.mask = ATTEST_PCR_MASK;
    for (unsigned i = 0; i < 8; i++)
        memset(f->e.pcrs.values[i], (int)(0xf0 + i), 32);
    f->e.quote.attest = memdup_("\xff"
                                "TCG",
                                4);
    f->e.quote.attest_len = 4;
    f->e.quote.signature = tpmt_signature(0xfb, &f->e.quote.signature_len);
    f->e.transfer.pub = memdup_("\x00\x02pk", 4);
    f->e.transfer.pub_len = 4;
    f->e.transfer.attest = memdup_("cert", 4);
    f->e.transfer.attest_len = 4;
    f->e.transfer.signature = tpmt_signature(0xff, &f->e.transfer.signature_len);
    for (size_t i = 0; i < sizeof(f->hw); i++)
        f->hw[i] = (uint8_t)(i * 7 + 0xfb);
    f->runtime = "{\"keys\":[]}";
    f->p = (AttestPlatform){.tee = tee,
                            .hw_report = f->hw,
                            .hw_report_len = sizeof(f->hw),
                            .runtime_data = (const uint8_t *)f->runtime,
                            .runtime_data_len = strlen(f->runtime),
                            .vcek_chain_pem = "-----BEGIN CERTIFICATE-----\nMII?\n"};
    snprintf(f->os.distro, sizeof(f->os.distro), "Debian GNU/Linux");
    f->os.major = 12;
}

static void assert_b64_of(const cJSON *o, const char *key, const void *want, size_t want_len) {
    const char *s = json_get_string(o, key);
    _cleanup_free_ uint8_t *d = NULL;
    size_t n = 0;
    assert_non_null(s);
    assert_int_equal(base64_decode(s, strlen(s), &d, &n), 0); /* standard, padded */
    assert_int_equal(n, want_len);
    assert_memory_equal(d, want, n);
}

static void test_info_snp(void **state) {
    (void)state;
    Fixture f;
    fixture(&f, ATTEST_TEE_SNP);
    AttestClientPayload cp = {.keys = {"nonce"}, .values = {"1234"}, .n = 1};
    _cleanup_json_ cJSON *ai = NULL;
    assert_int_equal(attest_azureguest_info(&f.e, &f.p, &f.os, &cp, &ai), 0);

    /* members in the client's (alphabetical) order */
    static const char *const order[] = {"AttestationProtocolVersion",
                                        "ClientPayload",
                                        "IsolationInfo",
                                        "OSBuild",
                                        "OSDistro",
                                        "OSType",
                                        "OSVersionMajor",
                                        "OSVersionMinor",
                                        "TcgLogs",
                                        "TpmInfo"};
    const cJSON *m = ai->child;
    for (size_t i = 0; i < ELEMENTSOF(order); i++, m = m->next) {
        assert_non_null(m);
        assert_string_equal(m->string, order[i]);
    }
    assert_null(m);
    assert_string_equal(json_get_string(ai, "OSType"), "TGludXg=");
    assert_string_equal(json_get_string(ai, "OSBuild"), "Tm90QXBwbGljYXRpb24=");
    assert_string_equal(json_get_string(ai, "OSDistro"), "RGViaWFuIEdOVS9MaW51eA==");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(ai, "OSVersionMajor")));
    assert_string_equal(json_get_string(ai, "TcgLogs"), "");
    assert_string_equal(json_get_string(json_get_object(ai, "ClientPayload"), "nonce"), "MTIzNA==");

    const cJSON *t = json_get_object(ai, "TpmInfo");
    uint8_t raw[256];
    memset(raw, 0xfb, sizeof(raw));
    assert_b64_of(t, "PcrSignature", raw, sizeof(raw)); /* raw bytes, not the TPMT_SIGNATURE */
    memset(raw, 0xff, sizeof(raw));
    assert_b64_of(t, "EncKeyCertifyInfoSignature", raw, sizeof(raw));
    assert_b64_of(t, "AikPub",
                  "\x00\x03"
                  "abc",
                  5);
    assert_b64_of(t, "PcrQuote",
                  "\xff"
                  "TCG",
                  4);
    const cJSON *pcrs = json_get_array(t, "PCRs");
    assert_int_equal(cJSON_GetArraySize(pcrs), 8);
    assert_b64_of(cJSON_GetArrayItem(pcrs, 3), "Digest", f.e.pcrs.values[3], 32);
    assert_int_equal(cJSON_GetArraySize(json_get_array(t, "PcrSet")), 8);

    const cJSON *iso = json_get_object(ai, "IsolationInfo");
    assert_string_equal(json_get_string(iso, "Type"), "SevSnp");
    const cJSON *ev = json_get_object(iso, "Evidence");
    assert_b64_of(ev, "RunTimeData", f.runtime, strlen(f.runtime));
    const char *proof = json_get_string(ev, "Proof");
    _cleanup_free_ uint8_t *pj = NULL;
    size_t pn = 0;
    assert_int_equal(base64_decode(proof, strlen(proof), &pj, &pn), 0);
    _cleanup_json_ cJSON *pjson = NULL;
    assert_int_equal(json_parse(pj, pn, &pjson), 0);
    /* inside Proof: base64url without padding (the recorded client) */
    const char *rep = json_get_string(pjson, "SnpReport");
    assert_non_null(rep);
    assert_null(strpbrk(rep, "+/="));
    _cleanup_free_ uint8_t *rd = NULL;
    size_t rn = 0;
    assert_int_equal(base64url_decode(rep, strlen(rep), &rd, &rn), 0);
    assert_int_equal(rn, sizeof(f.hw));
    assert_memory_equal(rd, f.hw, rn);
    assert_non_null(json_get_string(pjson, "VcekCertChain"));

    /* body: {"AttestationInfo": base64url-no-pad(JSON)} in the client's layout */
    _cleanup_free_ char *body = NULL;
    assert_int_equal(attest_azureguest_body(ai, &body), 0);
    assert_true(startswith(body, "{\n\t\"AttestationInfo\" : \""));
    _cleanup_json_ cJSON *outer = NULL;
    assert_int_equal(json_parse(body, strlen(body), &outer), 0);
    const char *enc = json_get_string(outer, "AttestationInfo");
    assert_null(strpbrk(enc, "+/="));
    _cleanup_free_ uint8_t *dec = NULL;
    size_t dn = 0;
    assert_int_equal(base64url_decode(enc, strlen(enc), &dec, &dn), 0);
    _cleanup_json_ cJSON *back = NULL;
    assert_int_equal(json_parse(dec, dn, &back), 0);
    assert_true(cJSON_Compare(back, ai, true));
    attest_tpm_evidence_done(&f.e);
}

static void test_client_payload_order(void **state) {
    (void)state;
    Fixture f;
    fixture(&f, ATTEST_TEE_SNP);
    AttestClientPayload cp = {
        .keys = {"zeta", "nonce", "alpha"}, .values = {"z", "n", "a"}, .n = 3};
    _cleanup_json_ cJSON *ai = NULL, *dup = NULL;
    assert_int_equal(attest_azureguest_info(&f.e, &f.p, &f.os, &cp, &ai), 0);
    const cJSON *m = json_get_object(ai, "ClientPayload")->child;
    assert_string_equal(m->string, "alpha");
    assert_string_equal(m->valuestring, "YQ==");
    assert_string_equal(m->next->string, "nonce");
    assert_string_equal(m->next->next->string, "zeta");
    assert_null(m->next->next->next);
    cp.keys[2] = "zeta";
    assert_int_equal(attest_azureguest_info(&f.e, &f.p, &f.os, &cp, &dup), -EINVAL);
    assert_null(dup);
    attest_tpm_evidence_done(&f.e);
}

static void test_info_tdx_and_trusted_launch(void **state) {
    (void)state;
    Fixture f;
    _cleanup_json_ cJSON *ai = NULL, *tl = NULL;
    fixture(&f, ATTEST_TEE_TDX);
    f.p.hw_report_len = 1024;
    /* TDX without its quote is a caller error */
    assert_int_equal(attest_azureguest_info(&f.e, &f.p, &f.os, NULL, &ai), -EINVAL);
    assert_null(ai);
    const uint8_t quote[] = {4, 0, 2, 0, 0x81, 0, 0, 0};
    f.p.td_quote = quote;
    f.p.td_quote_len = sizeof(quote);
    f.e.event_log = memdup_("\x00\x01\x02\xfb", 4);
    f.e.event_log_len = 4;
    assert_int_equal(attest_azureguest_info(&f.e, &f.p, &f.os, NULL, &ai), 0);
    const cJSON *iso = json_get_object(ai, "IsolationInfo");
    assert_string_equal(json_get_string(iso, "Type"), "Tdx");
    assert_b64_of(json_get_object(iso, "Evidence"), "Proof", quote, sizeof(quote));
    assert_b64_of(ai, "TcgLogs", "\x00\x01\x02\xfb", 4);
    assert_null(json_get_object(ai, "ClientPayload")->child);

    f.p.tee = ATTEST_TEE_NONE;
    assert_int_equal(attest_azureguest_info(&f.e, &f.p, &f.os, NULL, &tl), 0);
    iso = json_get_object(tl, "IsolationInfo");
    assert_string_equal(json_get_string(iso, "Type"), "TrustedLaunch");
    assert_null(json_get_object(iso, "Evidence"));
    attest_tpm_evidence_done(&f.e);
}

static char *b64url_of(const char *s) {
    return base64url_encode(s, strlen(s));
}

static void test_open_refuses_malformed(void **state) {
    (void)state;
    SecretBuf *jwt = NULL;
    /* refused while parsing: the TPM (tcti) is never opened */
    const char *tcti = "swtpm:host=127.0.0.1,port=1";
    assert_int_equal(attest_azureguest_open(tcti, "not base64 !", &jwt), -EBADMSG);
    _cleanup_free_ char *notjson = b64url_of("[1,2");
    assert_int_equal(attest_azureguest_open(tcti, notjson, &jwt), -EBADMSG);
    _cleanup_free_ char *noiv = b64url_of("{\"Jwt\":\"AAAA\",\"EncryptedInnerKey\":\"AAAA\","
                                          "\"AuthenticationData\":\"AAAAAAAAAAAAAAAAAAAAAA==\","
                                          "\"EncryptionParams\":{}}");
    assert_int_equal(attest_azureguest_open(tcti, noiv, &jwt), -EBADMSG);
    _cleanup_free_ char *shorttag =
        b64url_of("{\"Jwt\":\"AAAA\",\"EncryptedInnerKey\":\"AAAA\",\"AuthenticationData\":"
                  "\"AAAA\",\"EncryptionParams\":{\"Iv\":\"AAAAAAAAAAAAAAAA\"}}");
    assert_int_equal(attest_azureguest_open(tcti, shorttag, &jwt), -EBADMSG);
    _cleanup_free_ char *aes128 =
        b64url_of("{\"Jwt\":\"AAAA\",\"EncryptedInnerKey\":\"AAAA\",\"AuthenticationData\":"
                  "\"AAAAAAAAAAAAAAAAAAAAAA==\",\"EncryptionParams\":{\"Iv\":\"AAAAAAAAAAAAAAAA\","
                  "\"KeySizeInBits\":128}}");
    assert_int_equal(attest_azureguest_open(tcti, aes128, &jwt), -EBADMSG);
    assert_null(jwt);

    /* what MAA sends parses: standard base64 members, base64url outside */
    _cleanup_free_ char *good = b64url_of(
        "{\"AuthenticationData\":\"AAECAwQFBgcICQoLDA0ODw==\",\"EncryptedInnerKey\":\"+/8=\","
        "\"EncryptionParams\":{\"BlockMode\":\"ChainingModeGCM\",\"Cipher\":\"AES\","
        "\"Iv\":\"AAAAAAAAAAAAAAAA\",\"KeySizeInBits\":256},\"Jwt\":\"YWJj\"}");
    AttestSealed s;
    assert_int_equal(attest_sealed_parse(good, strlen(good), &s), 0);
    assert_int_equal(s.ciphertext_len, 3);
    assert_memory_equal(s.ciphertext, "abc", 3);
    assert_int_equal(s.inner_key_len, 2);
    assert_int_equal(s.inner_key[0], 0xfb);
    assert_int_equal(s.iv_len, 12);
    assert_int_equal(s.tag[15], 15);
    attest_sealed_done(&s);
    /* an embedded NUL is not part of any base64 */
    assert_int_equal(attest_sealed_parse(good, strlen(good) + 1, &s), -EBADMSG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_os_info),
        cmocka_unit_test(test_info_snp),
        cmocka_unit_test(test_client_payload_order),
        cmocka_unit_test(test_info_tdx_and_trusted_launch),
        cmocka_unit_test(test_open_refuses_malformed),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
