/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * release/: the real Key Vault release JWS verifies at a time inside its
 * leaf's validity and fails after it, with one character of payload or
 * signature changed, or for another host; the transcribed Managed HSM and
 * .NET payloads decode to the MANIFEST's values; Microsoft's 26-authority
 * data-disk release policy in both directions; the operators; the AES-KWP
 * unwrap and key parsing; key URLs; bearer tokens from a file.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/codec.h"
#include "common/crypto.h"
#include "common/json.h"
#include "release/release.h"
#include "tests/unit/test-helpers.h"

#define AS          "azure-services/"
#define AKV_RELEASE AS "Azure__azure-sdk-for-cpp/derived_ReleaseKey2_release_response_body.json"
#define MHSM_B64                                                                                   \
    AS "Azure__azure-sdk-for-go/transcribed_TestReleaseKey_MHSM_release_jws_payload_segment.b64"
#define NET_B64                                                                                    \
    AS "Azure__azure-sdk-for-net/transcribed_ReleaseCreatedKey_release_jws_payload_segment.b64"
#define NET_JSON                                                                                   \
    AS "Azure__azure-sdk-for-net/transcribed_ReleaseCreatedKey_release_jws_payload_decoded.json"
#define DATADISK                                                                                   \
    AS "Azure__confidential-computing-cvm-guest-attestation/"                                      \
       "cvm-datadisk-enc-scripts_public_SKR_policy-datadisk.json"

static char *read_text(const char *rel, size_t *len) {
    uint8_t *data = NULL;
    testdata_read_or_skip(rel, &data, len);
    return (char *)data;
}

static int verify_at(const char *body, size_t len, const char *when, const char *host,
                     ReleasedKeyInfo *info) {
    _cleanup_x509_stack_ STACK_OF(X509) *roots = NULL;
    _cleanup_free_ char *err = NULL;
    int64_t at = now_realtime_s();
    if (when)
        assert_int_equal(parse_rfc3339(when, &at), 0);
    assert_int_equal(release_trust_load(NULL, &roots), 0);
    ReleaseJwsCheck chk = {.trusted = roots, .at = at, .signer_host = host};
    int r = release_jws_verify(body, len, &chk, info, &err);
    if (r < 0)
        assert_non_null(err);
    return r;
}

/* Flips one base64url character of part (1 payload, 2 signature) in the JWS string. */
static void flip_in_part(char *value, int part, size_t offset) {
    char *p = value;
    for (int i = 0; i < part; i++)
        p = strchr(p, '.') + 1;
    p += offset;
    *p = *p == 'A' ? 'B' : 'A';
}

static void test_real_akv_release(void **state) {
    (void)state;
    size_t len = 0;
    _cleanup_free_ char *body = read_text(AKV_RELEASE, &len);
    ReleasedKeyInfo info;
    if (access("/etc/ssl/certs/Baltimore_CyberTrust_Root.pem", R_OK) < 0) {
        print_message("SKIP: the system CA store lacks Baltimore CyberTrust Root\n");
        skip();
    }
    assert_int_equal(verify_at(body, len, "2022-05-06T12:00:00Z", NULL, &info), 0);
    assert_int_equal(info.vault, RELEASE_VAULT_KEYVAULT);
    assert_string_equal(info.kty, "EC-HSM");
    assert_string_equal(info.enc, "RSA_AES_KEY_WRAP_256");
    assert_string_equal(info.version, "c3c28aadd7d54867beb596461e6640bd");
    assert_true(info.has_exportable && info.exportable && info.enabled);
    assert_non_null(info.key_hsm);
    assert_non_null(strstr(info.signer, "vault.azure.net"));
    released_key_info_done(&info);
    /* after the leaf expired (2023-02-28) */
    assert_int_equal(verify_at(body, len, "2023-03-01T00:00:00Z", NULL, &info), -EKEYREJECTED);
    released_key_info_done(&info);
    assert_int_equal(verify_at(body, len, NULL, NULL, &info), -EKEYREJECTED);
    released_key_info_done(&info);
    /* a signer name the certificate does not carry */
    assert_int_equal(verify_at(body, len, "2022-05-06T12:00:00Z", "x.managedhsm.azure.net", &info),
                     -EKEYREJECTED);
    released_key_info_done(&info);
    /* one character of the payload, then of the signature */
    for (int part = 1; part <= 2; part++) {
        _cleanup_free_ char *copy = strdup(body);
        flip_in_part(copy, part, 40);
        int r = verify_at(copy, len, "2022-05-06T12:00:00Z", NULL, &info);
        assert_true(r == -EKEYREJECTED || r == -EBADMSG);
        released_key_info_done(&info);
    }
}

static void test_unsigned_payloads(void **state) {
    (void)state;
    static const struct {
        const char *file, *kty, *enc, *version;
    } cases[] = {
        {MHSM_B64, "EC", "CKM_RSA_AES_KEY_WRAP", "6997cf3d4fab4d5b961b424ecf92e63d"},
        {NET_B64, "RSA-HSM", "CKM_RSA_AES_KEY_WRAP", "28538e39bbdb4629b5db5b68da749f89"},
        {NET_JSON, "RSA-HSM", "CKM_RSA_AES_KEY_WRAP", "28538e39bbdb4629b5db5b68da749f89"},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        size_t len = 0;
        _cleanup_free_ char *text = read_text(cases[i].file, &len);
        _cleanup_free_ char *err = NULL;
        ReleasedKeyInfo info;
        assert_int_equal(release_payload_decode(text, len, &info, &err), 0);
        assert_string_equal(info.kty, cases[i].kty);
        assert_string_equal(info.enc, cases[i].enc);
        assert_string_equal(info.version, cases[i].version);
        assert_true(info.exportable && info.enabled);
        assert_null(info.header); /* nothing to verify it with */
        assert_non_null(info.key_hsm);
        released_key_info_done(&info);
        /* and as "signed" input it is refused, not verified */
        _cleanup_x509_stack_ STACK_OF(X509) *roots = sk_X509_new_null();
        ReleaseJwsCheck chk = {.trusted = roots, .at = now_realtime_s()};
        _cleanup_free_ char *err2 = NULL;
        assert_true(release_jws_verify(text, len, &chk, &info, &err2) < 0);
        released_key_info_done(&info);
    }
}

static cJSON *claims_for(const char *iss, const char *tee, const char *compliance) {
    cJSON *c = cJSON_CreateObject();
    cJSON *t = cJSON_AddObjectToObject(c, "x-ms-isolation-tee");
    assert_non_null(t);
    json_add_string(c, "iss", iss);
    json_add_string(c, "x-ms-attestation-type", "azurevm");
    if (tee)
        json_add_string(t, "x-ms-attestation-type", tee);
    if (compliance)
        json_add_string(t, "x-ms-compliance-status", compliance);
    return c;
}

static int eval(const cJSON *policy, cJSON *claims, PolicyResult *res) {
    int r = release_policy_eval(policy, claims, res);
    cJSON_Delete(claims);
    return r;
}

static void test_datadisk_policy(void **state) {
    (void)state;
    size_t len = 0;
    _cleanup_free_ char *text = read_text(DATADISK, &len);
    _cleanup_json_ cJSON *policy = NULL;
    PolicyResult res;
    assert_int_equal(release_policy_parse(text, len, &policy, NULL), 0);
    assert_int_equal(cJSON_GetArraySize(json_get_array(policy, "anyOf")), 26);
    /* listed with a trailing slash; the token's iss has none, and the other way round */
    static const char *const issuers[] = {
        "https://sharedeus.eus.attest.azure.net", "https://sharedeus.eus.attest.azure.net/",
        "https://sharedscus.scus.attest.azure.net", "https://sharedscus.scus.attest.azure.net/"};
    for (size_t i = 0; i < ELEMENTSOF(issuers); i++) {
        assert_int_equal(
            eval(policy, claims_for(issuers[i], "sevsnpvm", "azure-compliant-cvm"), &res), 0);
        assert_true(res.satisfied);
        assert_true(strncmp(res.authority, issuers[i], strlen("https://sharedeus.")) == 0);
        assert_int_equal(eval(policy, claims_for(issuers[i], "tdxvm", "azure-compliant-cvm"), &res),
                         0);
    }
    assert_int_equal(
        eval(policy, claims_for(issuers[0], "sevsnpvm", "azure-non-compliant-cvm"), &res),
        -EKEYREJECTED);
    assert_string_equal(res.failed_claim, "x-ms-isolation-tee.x-ms-compliance-status");
    assert_non_null(strstr(res.clause, "azure-non-compliant-cvm"));
    assert_int_equal(eval(policy, claims_for(issuers[0], "sgx", "azure-compliant-cvm"), &res),
                     -EKEYREJECTED);
    assert_string_equal(res.failed_claim, "x-ms-isolation-tee.x-ms-attestation-type");
    assert_int_equal(eval(policy, claims_for(issuers[0], NULL, "azure-compliant-cvm"), &res),
                     -EKEYREJECTED);
    assert_non_null(strstr(res.clause, "has no"));
    assert_int_equal(
        eval(policy, claims_for("https://evil.attest.azure.net", "sevsnpvm", "azure-compliant-cvm"),
             &res),
        -EKEYREJECTED);
    assert_string_equal(res.failed_claim, "iss");
    assert_non_null(strstr(res.clause, "26 listed"));
}

static cJSON *json_of(const char *s) {
    cJSON *j = NULL;
    assert_int_equal(json_parse(s, strlen(s), &j), 0);
    return j;
}

static void test_operators(void **state) {
    (void)state;
    _cleanup_json_ cJSON *claims =
        json_of("{\"iss\":\"https://a.example\",\"n\":219,\"s\":\"abc\",\"b\":true,"
                "\"nested\":{\"deep\":{\"v\":\"x\"}},\"ns\":\"24\"}");
    static const struct {
        const char *cond;
        int want;
    } cases[] = {
        {"{\"claim\":\"n\",\"equals\":219}", 0},
        {"{\"claim\":\"n\",\"equals\":\"219\"}", 0},
        {"{\"claim\":\"n\",\"equals\":218}", -EKEYREJECTED},
        {"{\"claim\":\"n\",\"notEquals\":218}", 0},
        {"{\"claim\":\"n\",\"less\":220}", 0},
        {"{\"claim\":\"n\",\"less\":219}", -EKEYREJECTED},
        {"{\"claim\":\"n\",\"lessOrEquals\":219}", 0},
        {"{\"claim\":\"n\",\"greater\":219}", -EKEYREJECTED},
        {"{\"claim\":\"n\",\"greaterOrEquals\":219}", 0},
        {"{\"claim\":\"ns\",\"greaterOrEquals\":24}", 0},
        {"{\"claim\":\"s\",\"greater\":1}", -EKEYREJECTED},
        {"{\"claim\":\"s\",\"equals\":\"ABC\"}", -EKEYREJECTED},
        {"{\"claim\":\"b\",\"equals\":true}", 0},
        {"{\"claim\":\"b\",\"equals\":\"True\"}", 0},
        {"{\"claim\":\"nested.deep.v\",\"equals\":\"x\"}", 0},
        {"{\"claim\":\"nested.deep.w\",\"exists\":true}", -EKEYREJECTED},
        {"{\"claim\":\"nested.deep.w\",\"exists\":false}", 0},
        {"{\"claim\":\"nested.deep\",\"exists\":true}", 0},
        {"{\"claim\":\"s\",\"condition\":\"equals\",\"value\":\"abc\"}", 0}, /* legacy */
        {"{\"anyOf\":[{\"claim\":\"s\",\"equals\":\"no\"},{\"allOf\":[{\"claim\":\"n\","
         "\"equals\":219},{\"claim\":\"b\",\"equals\":true}]}]}",
         0},
        {"{\"claim\":\"s\",\"equals\":\"abc\",\"notEquals\":\"x\"}", -EBADMSG},
        {"{\"claim\":\"s\",\"matches\":\"abc\"}", -EBADMSG},
        {"{\"claim\":\"s\",\"equals\":{}}", -EBADMSG},
        {"{\"allOf\":[]}", -EBADMSG},
        {"{\"allOf\":[{}]}", -EBADMSG},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        char text[1024];
        snprintf(text, sizeof(text),
                 "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://a.example/\","
                 "\"allOf\":[%s]}]}",
                 cases[i].cond);
        _cleanup_json_ cJSON *policy = json_of(text);
        PolicyResult res;
        int r = release_policy_eval(policy, claims, &res);
        if (r != cases[i].want)
            fail_msg("case %zu (%s): %d, want %d (%s)", i, cases[i].cond, r, cases[i].want,
                     res.clause);
    }
    /* the first failing claim is named, not a later one */
    _cleanup_json_ cJSON *p2 =
        json_of("{\"anyOf\":[{\"authority\":\"https://a.example\",\"allOf\":[{\"claim\":\"n\","
                "\"less\":100},{\"claim\":\"s\",\"equals\":\"zzz\"}]}]}");
    PolicyResult res;
    assert_int_equal(release_policy_eval(p2, claims, &res), -EKEYREJECTED);
    assert_string_equal(res.failed_claim, "n");
    /* an unknown version is refused, a policy from base64url or a release_policy object read */
    _cleanup_json_ cJSON *p3 = json_of("{\"version\":\"2.0\",\"anyOf\":[]}");
    assert_int_equal(release_policy_eval(p3, claims, &res), -EBADMSG);
    const char *inner = "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://a.example\","
                        "\"allOf\":[{\"claim\":\"s\",\"equals\":\"abc\"}]}]}";
    _cleanup_free_ char *b64 = base64url_encode(inner, strlen(inner));
    char wrapped[1024];
    snprintf(wrapped, sizeof(wrapped),
             "{\"contentType\":\"application/json\",\"data\":\"%s\","
             "\"immutable\":false}",
             b64);
    _cleanup_json_ cJSON *p4 = NULL, *p5 = NULL;
    assert_int_equal(release_policy_parse(b64, strlen(b64), &p4, NULL), 0);
    assert_int_equal(release_policy_parse(wrapped, strlen(wrapped), &p5, NULL), 0);
    assert_int_equal(release_policy_eval(p4, claims, &res), 0);
    assert_int_equal(release_policy_eval(p5, claims, &res), 0);
}

/* AES-KWP as the vault does it, then release_unwrap_material. */
static uint8_t *kwp(const uint8_t key[32], const uint8_t *in, size_t len, size_t *out_len) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    uint8_t *out = malloc(len + 16);
    int n1 = 0, n2 = 0;
    assert_non_null(ctx);
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_wrap_pad(), NULL, key, NULL), 1);
    assert_int_equal(EVP_EncryptUpdate(ctx, out, &n1, in, (int)len), 1);
    assert_int_equal(EVP_EncryptFinal_ex(ctx, out + n1, &n2), 1);
    EVP_CIPHER_CTX_free(ctx);
    *out_len = (size_t)(n1 + n2);
    return out;
}

static void check_unwrap(EVP_PKEY *k, bool pkcs8) {
    uint8_t aes[32];
    assert_int_equal(RAND_bytes(aes, sizeof(aes)), 1);
    unsigned char *der = NULL;
    int n;
    if (pkcs8) {
        PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
        n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
        PKCS8_PRIV_KEY_INFO_free(p8);
    } else
        n = i2d_PrivateKey(k, &der);
    assert_true(n > 0);
    size_t wl = 0;
    _cleanup_free_ uint8_t *wrapped = kwp(aes, der, (size_t)n, &wl);
    OPENSSL_free(der);
    _cleanup_secret_ SecretBuf *key = secret_dup(aes, sizeof(aes));
    ReleasedKey rk;
    char why[256];
    assert_int_equal(release_unwrap_material(key, wrapped, wl, false, &rk, why, sizeof(why)), 0);
    /* the public part is the original's */
    unsigned char *spki = NULL;
    int sl = i2d_PUBKEY(k, &spki);
    uint8_t md[CRYPTO_MAX_DIGEST];
    size_t ml = 0;
    assert_int_equal(crypto_digest("SHA256", spki, (size_t)sl, md, &ml), 0);
    OPENSSL_free(spki);
    assert_true(rk.has_public);
    assert_memory_equal(md, rk.public_sha256, 32);
    _cleanup_secret_ SecretBuf *pem = NULL;
    assert_int_equal(released_key_export(&rk, true, &pem), 0);
    assert_non_null(memmem(pem->data, pem->len, "BEGIN PRIVATE KEY", 17));
    released_key_done(&rk);
    /* another AES key: the integrity check refuses */
    key->data[0] ^= 1;
    assert_int_equal(release_unwrap_material(key, wrapped, wl, false, &rk, why, sizeof(why)),
                     -EKEYREJECTED);
}

static void test_unwrap_material(void **state) {
    (void)state;
    _cleanup_pkey_ EVP_PKEY *rsa = EVP_RSA_gen(2048);
    _cleanup_pkey_ EVP_PKEY *ec = EVP_EC_gen("P-256");
    assert_non_null(rsa);
    assert_non_null(ec);
    check_unwrap(rsa, true);
    check_unwrap(rsa, false); /* PKCS#1 fallback */
    check_unwrap(ec, true);
    /* oct: 32 raw bytes */
    uint8_t aes[32], raw[32];
    assert_int_equal(RAND_bytes(aes, 32), 1);
    assert_int_equal(RAND_bytes(raw, 32), 1);
    size_t wl = 0;
    _cleanup_free_ uint8_t *wrapped = kwp(aes, raw, 32, &wl);
    _cleanup_secret_ SecretBuf *key = secret_dup(aes, 32);
    ReleasedKey rk;
    char why[256];
    assert_int_equal(release_unwrap_material(key, wrapped, wl, true, &rk, why, sizeof(why)), 0);
    assert_true(rk.oct);
    assert_memory_equal(rk.der->data, raw, 32);
    assert_string_equal(rk.key_type, "oct-256");
    released_key_done(&rk);
    /* a short AES key is no transfer key */
    secret_truncate(key, 16);
    assert_int_equal(release_unwrap_material(key, wrapped, wl, true, &rk, why, sizeof(why)),
                     -EKEYREJECTED);
}

static void test_key_ref(void **state) {
    (void)state;
    KeyRef k;
    assert_int_equal(key_ref_parse("https://v1.vault.azure.net/keys/my-key/0123abcd", &k), 0);
    assert_string_equal(k.vault, "https://v1.vault.azure.net");
    assert_string_equal(k.name, "my-key");
    assert_string_equal(k.version, "0123abcd");
    assert_false(k.managed_hsm);
    assert_string_equal(key_ref_resource(&k), "https://vault.azure.net");
    key_ref_done(&k);
    assert_int_equal(key_ref_parse("https://h.managedhsm.azure.net/keys/k", &k), 0);
    assert_null(k.version);
    assert_true(k.managed_hsm);
    assert_string_equal(key_ref_resource(&k), "https://managedhsm.azure.net");
    key_ref_done(&k);
    assert_int_equal(key_ref_parse("http://127.0.0.1:8443/keys/k/", &k), 0);
    assert_string_equal(k.vault, "http://127.0.0.1:8443");
    assert_null(k.version);
    key_ref_done(&k);
    static const char *const bad[] = {
        "ftp://v/keys/k",           "https://v/secrets/k",  "https://v/keys/", "https://v/keys/a b",
        "https://v/keys/k/v/extra", "https://v/keys/k?x=1", "https:///keys/k",
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        if (key_ref_parse(bad[i], &k) != -EINVAL)
            fail_msg("'%s' parsed", bad[i]);
    ReleaseEnc e;
    assert_int_equal(release_enc_from_string("CKM_RSA_AES_KEY_WRAP", &e), 0);
    assert_int_equal(e, RELEASE_ENC_CKM_RSA_AES_KEY_WRAP);
    assert_int_equal(release_enc_from_string("RSA_AES_KEY_WRAP_512", &e), -EINVAL);
}

static void test_identity_file_env(void **state) {
    (void)state;
    char path[] = "/tmp/test-release-tokenXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "Bearer eyJabc.def.ghi\n", 22), 22);
    close(fd);
    IdentityConfig cfg = {.source = IDENTITY_FILE, .token_file = path};
    IdentityError err;
    SecretBuf *tok = NULL;
    assert_int_equal(identity_token(&cfg, NULL, "https://vault.azure.net", 0, &tok, &err), 0);
    assert_int_equal(tok->len, 14);
    assert_memory_equal(tok->data, "eyJabc.def.ghi", 14);
    secret_free(tok);
    unlink(path);
    assert_int_equal(identity_token(&cfg, NULL, "https://vault.azure.net", 0, &tok, &err), -EINVAL);
    setenv("TEST_RELEASE_BEARER", "  tok123 ", 1);
    IdentityConfig env = {.source = IDENTITY_ENV, .token_env = "TEST_RELEASE_BEARER"};
    assert_int_equal(identity_token(&env, NULL, "https://vault.azure.net", 0, &tok, &err), 0);
    assert_int_equal(tok->len, 6);
    secret_free(tok);
    unsetenv("TEST_RELEASE_BEARER");
    assert_int_equal(identity_token(&env, NULL, "https://vault.azure.net", 0, &tok, &err), -EINVAL);
    IdentityConfig two = {.client_id = "a", .object_id = "b"};
    assert_int_equal(identity_token(&two, NULL, "https://vault.azure.net", 0, &tok, &err), -EINVAL);
    IdentitySource s;
    assert_int_equal(identity_source_from_string("imds", &s), 0);
    assert_int_equal(identity_source_from_string("argv", &s), -EINVAL);
}

/* --- IMDS: tests/unit/imds-test-server.py --- */

static pid_t imds_pid = -1;
static int imds_port;
static char imds_dir[] = "/tmp/cvm-test-release.XXXXXX";

static void imds_start(void) {
    char port_file[4200], script[4200];
    assert_non_null(mkdtemp(imds_dir));
    snprintf(port_file, sizeof(port_file), "%s/port", imds_dir);
    snprintf(script, sizeof(script), "%s/tests/unit/imds-test-server.py", TEST_SRCDIR);
    imds_pid = fork();
    assert_true(imds_pid >= 0);
    if (imds_pid == 0) {
        execl("/usr/bin/python3", "python3", script, "--port-file", port_file, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(port_file, "re");
        if (f) {
            int n = fscanf(f, "%d", &imds_port);
            fclose(f);
            if (n == 1)
                return;
        }
        usleep(50 * 1000);
    }
    fail_msg("the IMDS test server did not start");
}

static void imds_stop(void) {
    char cmd[128];
    if (imds_pid > 0) {
        kill(imds_pid, SIGTERM);
        waitpid(imds_pid, NULL, 0);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", imds_dir);
    if (system(cmd) != 0)
        print_message("could not remove %s\n", imds_dir);
}

/* GET a control route of the test server as text. */
static char *imds_get(const HttpConfig *http, const char *path) {
    char url[128];
    HttpResponse resp = {0};
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", imds_port, path);
    HttpRequest req = {.url = url};
    assert_int_equal(http_request(http, &req, &resp, NULL), 0);
    char *s = strndup((const char *)resp.body, resp.body_len);
    http_response_done(&resp);
    return s;
}

static int imds_count(const HttpConfig *http) {
    _cleanup_free_ char *s = imds_get(http, "/count");
    return atoi(s);
}

static void test_identity_imds(void **state) {
    (void)state;
    imds_start();
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", imds_port);
    HttpConfig http = {.allow_plain_http_loopback = true,
                       .max_attempts = 2,
                       .backoff_initial_ms = 50,
                       .timeout_ms = 5000};
    IdentityConfig cfg = {.imds_url = base};
    IdentityError err;
    SecretBuf *tok = NULL;
    int64_t now = now_realtime_s();
    identity_cache_clear();
    assert_int_equal(identity_token(&cfg, &http, "https://vault.azure.net", now, &tok, &err), 0);
    assert_int_equal(strncmp((char *)tok->data, "tok-1-", 6), 0);
    secret_free(tok);
    /* the resource is URL-encoded, the api-version sent */
    _cleanup_free_ char *last = imds_get(&http, "/last");
    assert_non_null(strstr(last, "resource=https%3A%2F%2Fvault.azure.net"));
    assert_non_null(strstr(last, "api-version=2018-02-01"));
    /* a second request is served from memory; another resource is not */
    assert_int_equal(identity_token(&cfg, &http, "https://vault.azure.net", now, &tok, &err), 0);
    secret_free(tok);
    assert_int_equal(imds_count(&http), 1);
    assert_int_equal(identity_token(&cfg, &http, "https://managedhsm.azure.net", now, &tok, &err),
                     0);
    secret_free(tok);
    assert_int_equal(imds_count(&http), 2);
    /* 10 minutes before expires_on (a 1 h token) it is still cached; 4 minutes before, not */
    assert_int_equal(identity_token(&cfg, &http, "https://vault.azure.net", now + 3000, &tok, &err),
                     0);
    secret_free(tok);
    assert_int_equal(imds_count(&http), 2);
    assert_int_equal(identity_token(&cfg, &http, "https://vault.azure.net", now + 3360, &tok, &err),
                     0);
    secret_free(tok);
    assert_int_equal(imds_count(&http), 3);
    /* a token inside the refresh margin is never reused */
    IdentityConfig expiring = {.imds_url = base, .client_id = "expiring"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(
            identity_token(&expiring, &http, "https://vault.azure.net", now, &tok, &err), 0);
        secret_free(tok);
    }
    assert_int_equal(imds_count(&http), 5);
    _cleanup_free_ char *last2 = imds_get(&http, "/last");
    assert_non_null(strstr(last2, "&client_id=expiring"));
    /* IMDS's error and error_description reach the caller */
    IdentityConfig missing = {.imds_url = base, .client_id = "missing"};
    assert_int_equal(identity_token(&missing, &http, "https://vault.azure.net", now, &tok, &err),
                     -EACCES);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.error, "invalid_request");
    assert_string_equal(err.description, "Identity not found");
    IdentityConfig garbled = {.imds_url = base, .client_id = "garbled"};
    assert_int_equal(identity_token(&garbled, &http, "https://vault.azure.net", now, &tok, &err),
                     -EPROTO);
    identity_cache_clear();
    imds_stop();
}

int main(void) {
    json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_akv_release),  cmocka_unit_test(test_unsigned_payloads),
        cmocka_unit_test(test_datadisk_policy),   cmocka_unit_test(test_operators),
        cmocka_unit_test(test_unwrap_material),   cmocka_unit_test(test_key_ref),
        cmocka_unit_test(test_identity_file_env), cmocka_unit_test(test_identity_imds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
