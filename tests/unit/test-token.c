/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * attest/token.c: every claim check in both directions on tokens signed here
 * (the signature code itself is tested against real tokens in test-jose and
 * token-verify.sh), the leeway edges, and the signing-key cache (a cached key
 * is used without any fetch; a cache file of another issuer is ignored).
 */
#include "config.h"

#include <time.h>

#include <openssl/core_names.h>
#include <openssl/rsa.h>

#include "tests/unit/test-helpers.h"

#include "attest/attest.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/util.h"

#define ISS "https://maa.test"
#define T0  1765826648 /* iat of the real midnight token */
#define KID "k+/Ab=="

static EVP_PKEY *signer, *transfer, *other;
static cJSON *jwks;
static char statedir[] = "/tmp/cvm-test-token.XXXXXX";

static char *b64u_bn(EVP_PKEY *k, const char *param) {
    BIGNUM *bn = NULL;
    uint8_t buf[512];
    assert_true(EVP_PKEY_get_bn_param(k, param, &bn));
    int n = BN_bn2bin(bn, buf);
    BN_free(bn);
    return base64url_encode(buf, (size_t)n);
}

/* {"kty":"RSA","kid":kid,"n":...,"e":...} */
static char *jwk_json(EVP_PKEY *k, const char *kid) {
    _cleanup_free_ char *n = b64u_bn(k, OSSL_PKEY_PARAM_RSA_N);
    _cleanup_free_ char *e = b64u_bn(k, OSSL_PKEY_PARAM_RSA_E);
    char *s = NULL;
    assert_true(
        asprintf(&s, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"}", kid, n, e) > 0);
    return s;
}

static int setup(void **state) {
    (void)state;
    signer = EVP_RSA_gen(2048);
    transfer = EVP_RSA_gen(2048);
    other = EVP_RSA_gen(2048);
    if (!signer || !transfer || !other || !mkdtemp(statedir))
        return -1;
    _cleanup_free_ char *jwk = jwk_json(signer, KID), *text = NULL;
    if (asprintf(&text, "{\"keys\":[{\"kid\":\"other\",\"kty\":\"RSA\"},%s]}", jwk) < 0)
        return -1;
    return json_parse(text, strlen(text), &jwks);
}

static int teardown(void **state) {
    (void)state;
    char cmd[256];
    EVP_PKEY_free(signer);
    EVP_PKEY_free(transfer);
    EVP_PKEY_free(other);
    cJSON_Delete(jwks);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", statedir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *sign_compact(const char *header, const char *payload) {
    _cleanup_free_ char *h = base64url_encode(header, strlen(header));
    _cleanup_free_ char *p = base64url_encode(payload, strlen(payload));
    _cleanup_free_ char *input = NULL, *s = NULL;
    uint8_t sig[512];
    size_t sig_len = sizeof(sig);
    assert_true(asprintf(&input, "%s.%s", h, p) > 0);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, signer, NULL), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sig_len, (uint8_t *)input, strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    s = base64url_encode(sig, sig_len);
    char *out = NULL;
    assert_true(asprintf(&out, "%s.%s", input, s) > 0);
    return out;
}

/*
 * An AzureGuest-shaped token; extra is spliced into the claims (",\"k\":v"),
 * tee_extra into x-ms-isolation-tee. The transfer key is in x-ms-runtime.keys.
 */
static char *mint_full(const char *alg, const char *kid, const char *iss_claim, const char *jku,
                       const char *times, const char *type, const char *tee_obj,
                       const char *extra) {
    _cleanup_free_ char *tk = jwk_json(transfer, "TpmEphemeralEncryptionKey");
    _cleanup_free_ char *header = NULL, *payload = NULL;
    assert_true(asprintf(&header, "{\"alg\":\"%s\"%s%s%s,\"jku\":\"%s\",\"typ\":\"JWT\"}", alg,
                         kid ? ",\"kid\":\"" : "", kid ? kid : "", kid ? "\"" : "", jku) > 0);
    assert_true(asprintf(&payload,
                         "{\"iss\":\"%s\",%s,\"x-ms-attestation-type\":\"%s\"%s%s,"
                         "\"x-ms-runtime\":{\"client-payload\":{\"nonce\":\"YWJj\"},"
                         "\"keys\":[%s]}%s}",
                         iss_claim, times, type, tee_obj ? ",\"x-ms-isolation-tee\":" : "",
                         tee_obj ? tee_obj : "", tk, extra ? extra : "") > 0);
    return sign_compact(header, payload);
}

#define GOOD_TIMES "\"iat\":1765826648,\"nbf\":1765826648,\"exp\":1765855448"
#define GOOD_TEE                                                                                   \
    "{\"x-ms-attestation-type\":\"sevsnpvm\",\"x-ms-compliance-status\":\"azure-compliant-cvm\"}"

static char *mint(void) {
    return mint_full("RS256", KID, ISS, ISS "/certs", GOOD_TIMES, "azurevm", GOOD_TEE, NULL);
}

static TokenExpect expect_default(void) {
    return (TokenExpect){.issuer = ISS "/",
                         .nonce = "abc",
                         .transfer_key = transfer,
                         .attestation_type = "azurevm",
                         .tee = "sevsnpvm",
                         .require_compliant = true,
                         .leeway_s = 300,
                         .now = T0 + 60};
}

/* Verifies with the in-memory JWKS; returns r and leaves the failed claim in *claim. */
static int check(const char *tok, const TokenExpect *e, const char **claim, char *reason) {
    TokenKeys keys = {.jwks = jwks};
    TokenResult res;
    int r = attest_token_verify(tok, strlen(tok), e, &keys, &res);
    *claim = res.failed_claim;
    if (reason)
        snprintf(reason, 512, "%s", res.reason);
    if (r == 0) {
        assert_null(res.failed_claim);
        assert_non_null(res.claims);
    } else
        assert_true(*res.reason);
    attest_token_result_done(&res);
    return r;
}

static void expect_fail(const char *tok, const TokenExpect *e, const char *want_claim) {
    const char *claim = NULL;
    char reason[512];
    int r = check(tok, e, &claim, reason);
    if (r != -EKEYREJECTED && r != -EBADMSG)
        fail_msg("expected a refusal naming %s, got %d (%s)", want_claim, r, reason);
    if (!claim || strcmp(claim, want_claim) != 0)
        fail_msg("expected %s to fail, not %s: %s", want_claim, claim ? claim : "(none)", reason);
}

static void expect_ok(const char *tok, const TokenExpect *e) {
    const char *claim = NULL;
    char reason[512];
    if (check(tok, e, &claim, reason) != 0)
        fail_msg("refused (%s): %s", claim, reason);
}

static void test_good_and_signature(void **state) {
    (void)state;
    _cleanup_free_ char *tok = mint();
    TokenExpect e = expect_default();
    expect_ok(tok, &e);
    /* one bit of the signature: the lowest bit of a base64url character's value */
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *c = tok + strlen(tok) - 5;
    *c = alphabet[(strchr(alphabet, *c) - alphabet) ^ 1];
    expect_fail(tok, &e, "signature");
    expect_fail("garbage", &e, "token");
}

static void test_header(void **state) {
    (void)state;
    TokenExpect e = expect_default();
    _cleanup_free_ char *ps =
        mint_full("PS256", KID, ISS, ISS "/certs", GOOD_TIMES, "azurevm", GOOD_TEE, NULL);
    _cleanup_free_ char *none =
        mint_full("none", KID, ISS, ISS "/certs", GOOD_TIMES, "azurevm", GOOD_TEE, NULL);
    _cleanup_free_ char *nokid =
        mint_full("RS256", NULL, ISS, ISS "/certs", GOOD_TIMES, "azurevm", GOOD_TEE, NULL);
    _cleanup_free_ char *unknown =
        mint_full("RS256", "k+/Ab=", ISS, ISS "/certs", GOOD_TIMES, "azurevm", GOOD_TEE, NULL);
    expect_fail(ps, &e, "alg");
    expect_fail(none, &e, "alg");
    expect_fail(nokid, &e, "kid");
    expect_fail(unknown, &e, "kid"); /* kid is exact: one "=" less is another kid */
}

static void test_issuer_and_jku(void **state) {
    (void)state;
    TokenExpect e = expect_default();
    _cleanup_free_ char *slash =
        mint_full("RS256", KID, ISS "/", ISS "/certs", GOOD_TIMES, "azurevm", GOOD_TEE, NULL);
    _cleanup_free_ char *other_iss =
        mint_full("RS256", KID, "https://maa.test.evil", "https://maa.test.evil/certs", GOOD_TIMES,
                  "azurevm", GOOD_TEE, NULL);
    _cleanup_free_ char *bad_jku =
        mint_full("RS256", KID, ISS, "https://evil/certs", GOOD_TIMES, "azurevm", GOOD_TEE, NULL);
    expect_ok(slash, &e);
    e.issuer = ISS;
    expect_ok(slash, &e);
    expect_fail(other_iss, &e, "iss");
    expect_fail(bad_jku, &e, "jku");
    e.issuer = NULL; /* not compared, but jku must still be iss + /certs */
    expect_ok(other_iss, &e);
    expect_fail(bad_jku, &e, "jku");
}

static void test_times_and_leeway(void **state) {
    (void)state;
    _cleanup_free_ char *tok = mint();
    TokenExpect e = expect_default();
    const char *claim = NULL;
    char reason[512];
    e.now = T0 - 299;
    expect_ok(tok, &e);
    e.now = T0 - 420;
    assert_int_equal(check(tok, &e, &claim, reason), -EKEYREJECTED);
    assert_string_equal(claim, "nbf");
    assert_non_null(strstr(reason, "not valid for another 7 min"));
    assert_non_null(strstr(reason, "check time sync (chrony/NTP)"));
    e.now = T0 + 28800 + 299;
    expect_ok(tok, &e);
    e.now = T0 + 28800 + 301;
    assert_int_equal(check(tok, &e, &claim, reason), -EKEYREJECTED);
    assert_string_equal(claim, "exp");
    assert_non_null(strstr(reason, "expired"));
    assert_null(strstr(reason, "chrony"));
    e.fresh = true; /* a token just received that is already expired: this clock is ahead */
    assert_int_equal(check(tok, &e, &claim, reason), -EKEYREJECTED);
    assert_non_null(strstr(reason, "check time sync (chrony/NTP)"));
    e = expect_default();
    e.leeway_s = 0;
    e.now = T0 - 1;
    expect_fail(tok, &e, "nbf");
    _cleanup_free_ char *no_exp =
        mint_full("RS256", KID, ISS, ISS "/certs", "\"iat\":1765826648", "azurevm", GOOD_TEE, NULL);
    _cleanup_free_ char *iat_ahead =
        mint_full("RS256", KID, ISS, ISS "/certs", "\"iat\":1765827648,\"exp\":1765855448",
                  "azurevm", GOOD_TEE, NULL);
    _cleanup_free_ char *backwards = mint_full(
        "RS256", KID, ISS, ISS "/certs", "\"iat\":1765826648,\"nbf\":1765826648,\"exp\":1765826000",
        "azurevm", GOOD_TEE, NULL);
    _cleanup_free_ char *float_exp =
        mint_full("RS256", KID, ISS, ISS "/certs", "\"iat\":1765826648,\"exp\":1765855448.5",
                  "azurevm", GOOD_TEE, NULL);
    e = expect_default();
    expect_fail(no_exp, &e, "exp");
    expect_fail(iat_ahead, &e, "iat");
    expect_fail(backwards, &e, "exp");
    expect_fail(float_exp, &e, "exp");
}

static void test_type_tee_compliance(void **state) {
    (void)state;
    _cleanup_free_ char *tok = mint();
    _cleanup_free_ char *tl = mint_full("RS256", KID, ISS, ISS "/certs", GOOD_TIMES, "azurevm",
                                        NULL, NULL); /* Trusted Launch: no isolation TEE */
    _cleanup_free_ char *noncompliant =
        mint_full("RS256", KID, ISS, ISS "/certs", GOOD_TIMES, "azurevm",
                  "{\"x-ms-attestation-type\":\"sevsnpvm\",\"x-ms-compliance-status\":"
                  "\"azure-non-compliant-cvm\"}",
                  NULL);
    _cleanup_free_ char *platform =
        mint_full("RS256", KID, ISS, ISS "/certs", GOOD_TIMES, "sevsnpvm", NULL,
                  ",\"x-ms-compliance-status\":\"azure-compliant-cvm\",\"nonce\":\"abc\"");
    TokenExpect e = expect_default();
    e.tee = "tdxvm";
    expect_fail(tok, &e, "x-ms-isolation-tee.x-ms-attestation-type");
    e = expect_default();
    expect_fail(tl, &e, "x-ms-isolation-tee.x-ms-attestation-type");
    expect_fail(noncompliant, &e, "x-ms-compliance-status");
    expect_fail(platform, &e, "x-ms-attestation-type");
    e.attestation_type = "sevsnpvm"; /* a platform token: TEE and compliance at the top level */
    expect_ok(platform, &e);
    e.tee = "tdxvm";
    expect_fail(platform, &e, "x-ms-attestation-type");
    e = expect_default();
    e.attestation_type = e.tee = NULL;
    e.require_compliant = false;
    expect_ok(noncompliant, &e);
}

static void test_nonce_and_transfer_key(void **state) {
    (void)state;
    _cleanup_free_ char *tok = mint();
    _cleanup_free_ char *platform = mint_full("RS256", KID, ISS, ISS "/certs", GOOD_TIMES,
                                              "sevsnpvm", NULL, ",\"nonce\":\"YWJj\"");
    TokenExpect e = expect_default();
    e.nonce = "abd";
    expect_fail(tok, &e, "nonce");
    e.nonce = "YWJj"; /* the echoed base64 itself is not the string we sent */
    expect_fail(tok, &e, "nonce");
    e = expect_default();
    e.transfer_key = other;
    expect_fail(tok, &e, "x-ms-runtime.keys");
    e = expect_default();
    e.attestation_type = e.tee = NULL;
    e.require_compliant = false;
    e.transfer_key = NULL;
    expect_fail(platform, &e, "nonce"); /* platform tokens echo the nonce verbatim */
    e.nonce = "YWJj";
    expect_ok(platform, &e);
}

static void write_cache(const char *issuer_in_file, const char *for_issuer, int64_t fetched) {
    uint8_t digest[CRYPTO_MAX_DIGEST];
    char path[1024], dir[600];
    assert_int_equal(crypto_digest("SHA256", for_issuer, strlen(for_issuer), digest, NULL), 0);
    _cleanup_free_ char *hex = hex_encode(digest, 32);
    _cleanup_free_ char *keys = cJSON_PrintUnformatted(jwks), *text = NULL;
    snprintf(dir, sizeof(dir), "%s/maa-signing-keys", statedir);
    snprintf(path, sizeof(path), "%s/%s.json", dir, hex);
    assert_int_equal(mkdir_p(dir, 0700), 0);
    assert_true(asprintf(&text, "{\"issuer\":\"%s\",\"fetched\":%lld,\"jwks\":%s}", issuer_in_file,
                         (long long)fetched, keys) > 0);
    assert_int_equal(write_file_atomic(path, text, strlen(text), 0600), 0);
}

static void test_cache(void **state) {
    (void)state;
    /* the issuer is a closed loopback port: any fetch fails at once */
    const char *issuer = "https://127.0.0.1:1";
    _cleanup_free_ char *tok = mint_full("RS256", KID, issuer, "https://127.0.0.1:1/certs",
                                         GOOD_TIMES, "azurevm", GOOD_TEE, NULL);
    HttpConfig http = {.max_attempts = 1, .deadline_ms = 2000, .timeout_ms = 1000};
    TokenKeys keys = {.state_dir = statedir, .http = &http};
    TokenExpect e = expect_default();
    TokenResult res;
    e.issuer = issuer;
    int64_t now = (int64_t)time(NULL);
    write_cache(issuer, issuer, now - 3600);
    assert_int_equal(attest_token_verify(tok, strlen(tok), &e, &keys, &res), 0);
    assert_non_null(strstr(res.key_source, "(cached)"));
    attest_token_result_done(&res);
    /* a file under this issuer's name that says it is another issuer's, one older than a
     * day, one from the future: all ignored, so the (failing) fetch is tried */
    static const struct {
        const char *issuer;
        int64_t age;
    } ignored[] = {{"https://127.0.0.2", 60},
                   {"https://127.0.0.1:1", 25 * 3600},
                   {"https://127.0.0.1:1", -3600}};
    for (size_t i = 0; i < ELEMENTSOF(ignored); i++) {
        write_cache(ignored[i].issuer, issuer, now - ignored[i].age);
        int r = attest_token_verify(tok, strlen(tok), &e, &keys, &res);
        assert_true(r < 0 && r != -EKEYREJECTED);
        assert_string_equal(res.failed_claim, "signing-keys");
        attest_token_result_done(&res);
    }
    /* no issuer and no keys: a usage error */
    e.issuer = NULL;
    assert_int_equal(attest_token_verify(tok, strlen(tok), &e, &keys, &res), -EINVAL);
    attest_token_result_done(&res);
    /* plain http to a non-loopback host is refused before any request */
    e.issuer = "http://maa.test";
    assert_int_equal(attest_token_verify(tok, strlen(tok), &e, &keys, &res), -EINVAL);
    attest_token_result_done(&res);
}

static void test_issuer_equal(void **state) {
    (void)state;
    assert_true(attest_issuer_equal("https://a", "https://a/"));
    assert_true(attest_issuer_equal("https://a//", "https://a"));
    assert_false(attest_issuer_equal("https://a", "https://ab"));
    assert_false(attest_issuer_equal("https://A", "https://a"));
    assert_false(attest_issuer_equal("/", "/"));
    assert_false(attest_issuer_equal(NULL, "https://a"));
}

int main(void) {
    json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_and_signature),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_issuer_and_jku),
        cmocka_unit_test(test_times_and_leeway),
        cmocka_unit_test(test_type_tee_compliance),
        cmocka_unit_test(test_nonce_and_transfer_key),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_issuer_equal),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
