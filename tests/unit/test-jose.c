/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * common/jose.c in both directions: real MAA tokens and a real Key Vault
 * release JWS verify with their published keys and fail when one character
 * changes; JWS signed by the openssl CLI (RS256, PS256, ES256, ES384) verify,
 * and every refusal (alg none, alg outside the allow-list, alg/key mismatch,
 * short RSA keys, wrong PSS salt, malformed compact forms) happens.
 */
#include "config.h"

#include <openssl/ecdsa.h>

#include "tests/unit/test-helpers.h"

#include "common/codec.h"
#include "common/crypto.h"
#include "common/jose.h"
#include "common/json.h"
#include "common/util.h"

static char dir[] = "/tmp/cvm-test-jose.XXXXXX";

#define AS       "azure-services/"
#define MIDNIGHT AS "midnightntwrk__midnight-trusted-setup/tee_contribution_attestation.txt"
#define L138                                                                                       \
    AS "Azure__confidential-computing-cvm-guest-attestation/"                                      \
       "derived_ClientLibTests_L138_sharedweu_azurevm.jwt"
#define SGX         AS "Azure__azure-sdk-for-cpp/derived_sharedwus_SgxEnclave_token.jwt"
#define CCF_JWKS    AS "microsoft__CCF/assembled_jwks_sharedeus2_J0pAPdf.json"
#define SCRT_EUS2   AS "scrtlabs__SecretNetwork/derived_jwks_sharedeus2.json"
#define SCRT_WEU    AS "scrtlabs__SecretNetwork/derived_jwks_sharedweu.json"
#define WUS_CERTS   AS "Azure__azure-sdk-for-cpp/derived_sharedwus_GET_certs_response_body.json"
#define AKV_RELEASE AS "Azure__azure-sdk-for-cpp/derived_ReleaseKey2_release_response_body.json"

static int setup(void **state) {
    (void)state;
    char cmd[4096];
    if (!mkdtemp(dir))
        return -1;
    /* keys and signatures made by the openssl CLI: an implementation independent of jose.c */
    snprintf(
        cmd, sizeof(cmd),
        "set -e; cd '%s';"
        "b64u() { basenc --base64url -w0 | tr -d '='; };"
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key 2>/dev/null;"
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1k.key 2>/dev/null;"
        "openssl ecparam -name prime256v1 -genkey -noout -out p256.key;"
        "openssl ecparam -name secp384r1 -genkey -noout -out p384.key;"
        "for k in rsa rsa1k p256 p384; do openssl pkey -in $k.key -pubout -out $k.pub; done;"
        "P=$(printf '{\"iss\":\"https://test\",\"n\":[1,{\"a\":true}]}' | b64u);"
        "mk() { H=$(printf '{\"alg\":\"%%s\",\"kid\":\"k+/=\",\"typ\":\"JWT\"}' \"$2\" | b64u);"
        "  printf '%%s.%%s' \"$H\" \"$P\" > $1.in; };"
        "sign() { n=$1; shift; openssl dgst \"$@\" -out $n.sig $n.in; };"
        "mk rs256 RS256; sign rs256 -sha256 -sign rsa.key;"
        "mk rs1k RS256; sign rs1k -sha256 -sign rsa1k.key;"
        "mk ps256 PS256; sign ps256 -sha256 -sign rsa.key -sigopt rsa_padding_mode:pss "
        "  -sigopt rsa_pss_saltlen:32 -sigopt rsa_mgf1_md:sha256;"
        "mk ps20 PS256; sign ps20 -sha256 -sign rsa.key -sigopt rsa_padding_mode:pss "
        "  -sigopt rsa_pss_saltlen:20 -sigopt rsa_mgf1_md:sha256;"
        "mk es256 ES256; sign es256 -sha256 -sign p256.key;"
        "mk es384 ES384; sign es384 -sha384 -sign p384.key;"
        "mk none none; : > none.sig;"
        "openssl pkey -in p256.key -pubout -outform DER | tail -c 64 > p256.xy",
        dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static uint8_t *read_tmp(const char *name, size_t *len) {
    char path[512];
    uint8_t *data = NULL;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(read_file(path, FILE_MAX_EVIDENCE, &data, len), 0);
    return data;
}

static EVP_PKEY *tmp_key(const char *name) {
    size_t len = 0;
    _cleanup_free_ uint8_t *pem = read_tmp(name, &len);
    EVP_PKEY *k = NULL;
    assert_int_equal(crypto_load_pubkey(pem, len, &k), 0);
    return k;
}

/* NAME.in + NAME.sig (DER for ECDSA, converted to r || s) -> compact JWS */
static char *tmp_jws(const char *name, size_t ec_size) {
    char f[128];
    size_t in_len = 0, sig_len = 0;
    snprintf(f, sizeof(f), "%s.in", name);
    _cleanup_free_ uint8_t *in = read_tmp(f, &in_len);
    snprintf(f, sizeof(f), "%s.sig", name);
    _cleanup_free_ uint8_t *sig = read_tmp(f, &sig_len);
    uint8_t raw[96];
    if (ec_size) {
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
        assert_non_null(es);
        assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)ec_size), (int)ec_size);
        assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + ec_size, (int)ec_size),
                         (int)ec_size);
        ECDSA_SIG_free(es);
    }
    _cleanup_free_ char *b =
        ec_size ? base64url_encode(raw, 2 * ec_size) : base64url_encode(sig, sig_len);
    char *out = NULL;
    assert_true(asprintf(&out, "%s.%s", (const char *)in, b) > 0);
    return out;
}

static int parse(const char *s, JoseJws **ret) {
    const char *why = NULL;
    int r = jose_jws_parse(s, strlen(s), ret, &why);
    if (r < 0)
        assert_non_null(why);
    return r;
}

static int verify_str(const char *s, EVP_PKEY *key, unsigned allowed) {
    _cleanup_jws_ JoseJws *jws = NULL;
    const char *why = NULL;
    int r = parse(s, &jws);
    if (r < 0)
        return r;
    r = jose_jws_verify(jws, key, allowed, &why);
    if (r < 0)
        assert_non_null(why);
    return r;
}

/* Flips the lowest bit of one base64url character: one bit of the decoded bytes changes. */
static void flip_b64(char *c) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *p = strchr(alphabet, *c);
    assert_non_null(p);
    *c = alphabet[(p - alphabet) ^ 1];
}

static const unsigned ALL = JOSE_ALG_RS256 | JOSE_ALG_PS256 | JOSE_ALG_ES256 | JOSE_ALG_ES384;

static void test_algorithms_both_directions(void **state) {
    (void)state;
    static const struct {
        const char *name, *key;
        size_t ec;
        unsigned alg;
    } cases[] = {
        {"rs256", "rsa.pub", 0, JOSE_ALG_RS256},
        {"ps256", "rsa.pub", 0, JOSE_ALG_PS256},
        {"es256", "p256.pub", 32, JOSE_ALG_ES256},
        {"es384", "p384.pub", 48, JOSE_ALG_ES384},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_free_ char *jws = tmp_jws(cases[i].name, cases[i].ec);
        _cleanup_pkey_ EVP_PKEY *key = tmp_key(cases[i].key);
        assert_int_equal(verify_str(jws, key, ALL), 0);
        /* not in the allow-list */
        assert_int_equal(verify_str(jws, key, ALL & ~cases[i].alg), -EPROTONOSUPPORT);
        /* one bit of the payload ("https" -> "httpw"), then of the signature */
        char *payload = strchr(jws, '.') + 1 + 12;
        flip_b64(payload);
        assert_int_equal(verify_str(jws, key, ALL), -EKEYREJECTED);
        flip_b64(payload);
        assert_int_equal(verify_str(jws, key, ALL), 0);
        char *sig = strrchr(jws, '.') + 5;
        flip_b64(sig);
        assert_int_equal(verify_str(jws, key, ALL), -EKEYREJECTED);
    }
}

static void test_alg_key_mismatch(void **state) {
    (void)state;
    _cleanup_free_ char *rs = tmp_jws("rs256", 0), *es256 = tmp_jws("es256", 32);
    _cleanup_free_ char *es384 = tmp_jws("es384", 48), *rs1k = tmp_jws("rs1k", 0);
    _cleanup_free_ char *ps20 = tmp_jws("ps20", 0);
    _cleanup_pkey_ EVP_PKEY *rsa = tmp_key("rsa.pub"), *p256 = tmp_key("p256.pub");
    _cleanup_pkey_ EVP_PKEY *p384 = tmp_key("p384.pub"), *rsa1k = tmp_key("rsa1k.pub");
    assert_int_equal(verify_str(rs, p256, ALL), -EKEYREJECTED);
    assert_int_equal(verify_str(es256, rsa, ALL), -EKEYREJECTED);
    assert_int_equal(verify_str(es256, p384, ALL), -EKEYREJECTED);
    assert_int_equal(verify_str(es384, p256, ALL), -EKEYREJECTED);
    /* a valid signature, but by a 1024-bit key */
    assert_int_equal(verify_str(rs1k, rsa1k, ALL), -EKEYREJECTED);
    /* PSS with a 20-byte salt is not PS256 */
    assert_int_equal(verify_str(ps20, rsa, ALL), -EKEYREJECTED);
}

static void test_alg_none_refused(void **state) {
    (void)state;
    size_t len = 0;
    _cleanup_free_ uint8_t *in = read_tmp("none.in", &len);
    _cleanup_pkey_ EVP_PKEY *rsa = tmp_key("rsa.pub");
    _cleanup_free_ char *unsigned_jws = NULL, *fake_sig = NULL;
    /* the unsecured form (empty signature) does not even parse */
    assert_true(asprintf(&unsigned_jws, "%s.", (const char *)in) > 0);
    _cleanup_jws_ JoseJws *jws = NULL;
    assert_int_equal(parse(unsigned_jws, &jws), -EBADMSG);
    /* with some signature bytes it parses and is refused as unsigned */
    assert_true(asprintf(&fake_sig, "%s.AAAA", (const char *)in) > 0);
    assert_int_equal(verify_str(fake_sig, rsa, ALL), -EPROTONOSUPPORT);
}

static void test_malformed(void **state) {
    (void)state;
    _cleanup_free_ char *good = tmp_jws("rs256", 0);
    _cleanup_pkey_ EVP_PKEY *rsa = tmp_key("rsa.pub");
    char buf[4096];
    JoseJws *jws = NULL;
    const char *h = "eyJhbGciOiJSUzI1NiJ9"; /* {"alg":"RS256"} */
    static const char *bad[] = {
        "",
        "a.b",
        "a.b.c.d",
        "..",
        "eyJhbGciOiJSUzI1NiJ9..AAAA",
        "eyJhbGciOiJSUzI1NiJ9.e30.AAAA=",                               /* padding */
        "eyJhbGciOiJSUzI1NiJ9.e30.AA+A",                                /* standard alphabet */
        "eyJhbGciOiJSUzI1NiJ9 .e30.AAAA",                               /* whitespace */
        "eyJhbGciOiJSUzI1NiJ9.W10.AAAA",                                /* payload [] */
        "eyJhbGciOiJSUzI1NiJ9.bnVsbA.AAAA",                             /* payload null */
        "e30.e30.AAAA",                                                 /* no alg */
        "eyJhbGciOjF9.e30.AAAA",                                        /* alg 1 */
        "eyJhbGciOiJSUzI1NiIsImFsZyI6Im5vbmUifQ.e30.AAAA",              /* alg twice */
        "eyJhbGciOiJSUzI1NiIsImNyaXQiOlsiZXhwIl19.e30.AAAA",            /* crit */
        "eyJhbGciOiJSUzI1NiJ9.eyJhIjoxLCJiIjp7ImMiOjEsImMiOjJ9fQ.AAAA", /* nested dup */
        "eyJhbGciOiJSUzI1NiIsImtpZCI6MX0.e30.AAAA",                     /* kid 1 */
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        int r = parse(bad[i], &jws);
        if (r == 0)
            fail_msg("'%s' parsed", bad[i]);
        assert_true(r == -EBADMSG || r == -E2BIG);
    }
    /* trailing newline: callers strip it; the parser does not */
    snprintf(buf, sizeof(buf), "%s\n", good);
    assert_int_equal(parse(buf, &jws), -EBADMSG);
    snprintf(buf, sizeof(buf), "%s.e30.%s", h, "A");
    assert_int_equal(parse(buf, &jws), -EBADMSG); /* one leftover base64 char */
    /* the good one parses, and exposes its parts */
    assert_int_equal(parse(good, &jws), 0);
    assert_string_equal(jws->kid, "k+/=");
    assert_string_equal(jws->alg_name, "RS256");
    assert_string_equal(json_get_string(jws->payload, "iss"), "https://test");
    jose_jws_free(jws);
    assert_int_equal(verify_str(good, rsa, JOSE_ALG_RS256), 0);
}

static void test_jwk_keys(void **state) {
    (void)state;
    size_t xy_len = 0;
    _cleanup_free_ uint8_t *xy = read_tmp("p256.xy", &xy_len);
    assert_int_equal(xy_len, 64);
    _cleanup_free_ char *x = base64url_encode(xy, 32), *y = base64url_encode(xy + 32, 32);
    char text[1024];
    snprintf(text, sizeof(text), "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x,
             y);
    _cleanup_json_ cJSON *jwk = NULL;
    _cleanup_pkey_ EVP_PKEY *k = NULL;
    assert_int_equal(json_parse(text, strlen(text), &jwk), 0);
    assert_int_equal(jose_jwk_to_pkey(jwk, &k, NULL), 0);
    _cleanup_free_ char *es = tmp_jws("es256", 32);
    assert_int_equal(verify_str(es, k, JOSE_ALG_ES256), 0);
    /* a point off the curve */
    y[5] = y[5] == 'A' ? 'B' : 'A';
    snprintf(text, sizeof(text), "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x,
             y);
    _cleanup_json_ cJSON *bad = NULL;
    EVP_PKEY *none = NULL;
    assert_int_equal(json_parse(text, strlen(text), &bad), 0);
    assert_int_equal(jose_jwk_to_pkey(bad, &none, NULL), -EBADMSG);
    _cleanup_json_ cJSON *oct = NULL;
    assert_int_equal(json_parse("{\"kty\":\"oct\",\"k\":\"AAAA\"}", 24, &oct), 0);
    assert_int_equal(jose_jwk_to_pkey(oct, &none, NULL), -EPROTONOSUPPORT);
}

/* e = "AAEAAQ" (a leading zero byte, as Key Vault returns it) is 65537. */
static void test_jwk_rsa_leading_zero(void **state) {
    (void)state;
    _cleanup_pkey_ EVP_PKEY *rsa = tmp_key("rsa.pub");
    BIGNUM *n = NULL;
    assert_true(EVP_PKEY_get_bn_param(rsa, "n", &n));
    uint8_t nb[257] = {0};
    assert_int_equal(BN_bn2binpad(n, nb + 1, 256), 256);
    BN_free(n);
    _cleanup_free_ char *n1 = base64url_encode(nb + 1, 256), *n0 = base64url_encode(nb, 257);
    char text[2048];
    _cleanup_json_ cJSON *a = NULL, *b = NULL, *c = NULL;
    snprintf(text, sizeof(text), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AAEAAQ\"}", n1);
    assert_int_equal(json_parse(text, strlen(text), &a), 0);
    snprintf(text, sizeof(text), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", n0);
    assert_int_equal(json_parse(text, strlen(text), &b), 0);
    snprintf(text, sizeof(text), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAD\"}", n1);
    assert_int_equal(json_parse(text, strlen(text), &c), 0);
    assert_true(jose_jwk_rsa_equals(a, rsa));
    assert_true(jose_jwk_rsa_equals(b, rsa));
    assert_false(jose_jwk_rsa_equals(c, rsa));
    _cleanup_pkey_ EVP_PKEY *k = NULL;
    assert_int_equal(jose_jwk_to_pkey(a, &k, NULL), 0);
    _cleanup_free_ char *rs = tmp_jws("rs256", 0);
    assert_int_equal(verify_str(rs, k, JOSE_ALG_RS256), 0);
}

/* ------------------------------------------------------------ real artefacts */

static char *read_token(const char *rel) {
    _cleanup_free_ uint8_t *data = NULL;
    size_t len = 0;
    testdata_read_or_skip(rel, &data, &len);
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    char *tok = strndup((const char *)data, len);
    assert_non_null(tok);
    return tok;
}

static cJSON *read_json(const char *rel) {
    _cleanup_free_ uint8_t *data = NULL;
    size_t len = 0;
    cJSON *j = NULL;
    testdata_read_or_skip(rel, &data, &len);
    assert_int_equal(json_parse(data, len, &j), 0);
    return j;
}

static void real_token(const char *token_rel, const char *jwks_rel) {
    _cleanup_free_ char *tok = read_token(token_rel);
    _cleanup_json_ cJSON *jwks = read_json(jwks_rel);
    _cleanup_jws_ JoseJws *jws = NULL;
    _cleanup_pkey_ EVP_PKEY *key = NULL;
    assert_int_equal(parse(tok, &jws), 0);
    const cJSON *jwk = jose_jwks_find(jwks, jws->kid);
    assert_non_null(jwk);
    assert_int_equal(jose_jwk_to_pkey(jwk, &key, NULL), 0);
    assert_int_equal(verify_str(tok, key, JOSE_ALG_RS256), 0);
    /* RS256 only: the same token under an allow-list without it */
    assert_int_equal(verify_str(tok, key, JOSE_ALG_PS256), -EPROTONOSUPPORT);
    size_t payload = (size_t)(strchr(tok, '.') - tok) + 40;
    size_t sig = (size_t)(strrchr(tok, '.') - tok) + 40;
    char saved = tok[payload];
    tok[payload] = saved == 'x' ? 'y' : 'x';
    assert_int_equal(verify_str(tok, key, JOSE_ALG_RS256), -EKEYREJECTED);
    tok[payload] = saved;
    saved = tok[sig];
    tok[sig] = saved == 'x' ? 'y' : 'x';
    assert_int_equal(verify_str(tok, key, JOSE_ALG_RS256), -EKEYREJECTED);
    tok[sig] = saved;
    assert_int_equal(verify_str(tok, key, JOSE_ALG_RS256), 0);
}

static void test_real_midnight_x5c(void **state) {
    (void)state;
    real_token(MIDNIGHT, CCF_JWKS);
}
static void test_real_midnight_n(void **state) {
    (void)state;
    real_token(MIDNIGHT, SCRT_EUS2);
}
static void test_real_l138(void **state) {
    (void)state;
    real_token(L138, SCRT_WEU);
}
static void test_real_sgx(void **state) {
    (void)state;
    real_token(SGX, WUS_CERTS);
}

/* kid is opaque: "ZOub53V4dZuruzP0dOOH0axfyks" (in sharedweu) is not "...yks=" */
static void test_kid_exact(void **state) {
    (void)state;
    _cleanup_json_ cJSON *weu = read_json(SCRT_WEU), *eus2 = read_json(SCRT_EUS2);
    assert_non_null(jose_jwks_find(weu, "ZOub53V4dZuruzP0dOOH0axfyks"));
    assert_null(jose_jwks_find(weu, "ZOub53V4dZuruzP0dOOH0axfyks="));
    assert_non_null(jose_jwks_find(eus2, "ZOub53V4dZuruzP0dOOH0axfyks="));
    assert_null(jose_jwks_find(eus2, "ZOub53V4dZuruzP0dOOH0axfyks"));
    assert_null(jose_jwks_find(eus2, "j0pAPdfXXHqWWimgrH853wMIdh5/fLe1z6uSXYPXCa0="));
    assert_null(jose_jwks_find(eus2, "J0pAPdfXXHqWWimgrH853wMIdh5_fLe1z6uSXYPXCa0="));
}

/* The Key Vault release JWS: key from its own x5c[0], thumbprints, kid = hex SHA-1. */
static void test_real_keyvault_release(void **state) {
    (void)state;
    _cleanup_json_ cJSON *body = read_json(AKV_RELEASE);
    char *tok = strdup(json_get_string(body, "value"));
    _cleanup_free_ char *owned = tok;
    _cleanup_jws_ JoseJws *jws = NULL;
    _cleanup_x509_ X509 *leaf = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *rest = NULL;
    assert_int_equal(parse(tok, &jws), 0);
    assert_int_equal(jose_x5c_parse(cJSON_GetObjectItem(jws->header, "x5c"), &leaf, &rest, NULL),
                     0);
    assert_int_equal(sk_X509_num(rest), 2);
    assert_int_equal(jose_check_thumbprints(jws->header, leaf, NULL), 0);
    uint8_t sha1[CRYPTO_MAX_DIGEST];
    unsigned int n = 0;
    assert_true(X509_digest(leaf, EVP_sha1(), sha1, &n));
    _cleanup_free_ char *hex = hex_encode(sha1, n);
    for (char *p = hex; *p; p++)
        *p = (char)(*p >= 'a' ? *p - 32 : *p);
    assert_string_equal(hex, jws->kid);
    _cleanup_pkey_ EVP_PKEY *key = X509_get_pubkey(leaf);
    assert_int_equal(verify_str(tok, key, JOSE_ALG_RS256), 0);
    /* a JWK with x5c and n/e: the same key, or refused */
    _cleanup_json_ cJSON *jwk = cJSON_CreateObject();
    EVP_PKEY *k2 = NULL;
    assert_non_null(jwk);
    cJSON_AddItemToObject(jwk, "x5c",
                          cJSON_Duplicate(cJSON_GetObjectItem(jws->header, "x5c"), true));
    BIGNUM *bn = NULL;
    uint8_t nb[512];
    assert_true(EVP_PKEY_get_bn_param(key, "n", &bn));
    int nlen = BN_bn2bin(bn, nb);
    BN_free(bn);
    _cleanup_free_ char *n64 = base64url_encode(nb, (size_t)nlen);
    cJSON_AddStringToObject(jwk, "n", n64);
    cJSON_AddStringToObject(jwk, "e", "AQAB");
    assert_int_equal(jose_jwk_to_pkey(jwk, &k2, NULL), 0);
    EVP_PKEY_free(k2);
    cJSON_ReplaceItemInObject(jwk, "e", cJSON_CreateString("AQAD"));
    assert_int_equal(jose_jwk_to_pkey(jwk, &k2, NULL), -EBADMSG);
    tok[strlen(tok) - 10] ^= 1;
    assert_int_equal(verify_str(tok, key, JOSE_ALG_RS256), -EKEYREJECTED);
    /* another certificate than the thumbprints name */
    _cleanup_x509_ X509 *other = X509_dup(sk_X509_value(rest, 0));
    assert_int_equal(jose_check_thumbprints(jws->header, other, NULL), -EKEYREJECTED);
}

/* The same, as the release module uses it: chain to a root of the system store at a pinned
 * time, for the vault's host name. */
static void test_real_keyvault_release_chain(void **state) {
    (void)state;
    static const char baltimore[] = "/etc/ssl/certs/Baltimore_CyberTrust_Root.pem";
    static const char g2[] = "/etc/ssl/certs/DigiCert_Global_Root_G2.pem";
    _cleanup_json_ cJSON *body = read_json(AKV_RELEASE);
    struct stat st;
    if (stat(baltimore, &st) < 0 || stat(g2, &st) < 0) {
        print_message("SKIP: the system CA store lacks Baltimore CyberTrust Root / DigiCert G2\n");
        skip();
    }
    _cleanup_free_ char *tok = strdup(json_get_string(body, "value"));
    _cleanup_jws_ JoseJws *jws = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *trusted = sk_X509_new_null();
    _cleanup_x509_stack_ STACK_OF(X509) *wrong = sk_X509_new_null();
    X509 *root = NULL;
    char *err = NULL;
    int64_t at = 0;
    assert_int_equal(crypto_load_cert_file(baltimore, &root), 0);
    assert_true(sk_X509_push(trusted, root));
    assert_int_equal(crypto_load_cert_file(g2, &root), 0);
    assert_true(sk_X509_push(wrong, root));
    assert_int_equal(parse_rfc3339("2022-05-06T12:00:00Z", &at), 0);
    assert_int_equal(parse(tok, &jws), 0);
    assert_int_equal(
        jose_jws_verify_x5c(jws, trusted, at, "gearamakv1.vault.azure.net", JOSE_ALG_RS256, &err),
        0);
    assert_null(err);
    static const struct {
        int64_t at;
        const char *host;
        bool wrong_root;
    } bad[] = {
        {-1, "gearamakv1.vault.azure.net", false}, /* today: the leaf expired in 2023 */
        {0, "gearamakv1.managedhsm.azure.net", false},
        {0, "vault.azure.net.evil.example", false},
        {0, "gearamakv1.vault.azure.net", true},
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        int r = jose_jws_verify_x5c(jws, bad[i].wrong_root ? wrong : trusted,
                                    bad[i].at < 0 ? now_realtime_s() : at, bad[i].host,
                                    JOSE_ALG_RS256, &err);
        assert_int_equal(r, -EKEYREJECTED);
        assert_non_null(err);
        free(err);
    }
    /* one bit of the payload */
    jose_jws_free(TAKE_PTR(jws));
    char *dot = strchr(tok, '.') + 1 + 36; /* "api-version":"7.3" -> "3.3" */
    flip_b64(dot);
    assert_int_equal(parse(tok, &jws), 0);
    assert_int_equal(
        jose_jws_verify_x5c(jws, trusted, at, "gearamakv1.vault.azure.net", JOSE_ALG_RS256, &err),
        -EKEYREJECTED);
    assert_non_null(strstr(err, "signature"));
    free(err);
}

int main(void) {
    json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_algorithms_both_directions),
        cmocka_unit_test(test_alg_key_mismatch),
        cmocka_unit_test(test_alg_none_refused),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_jwk_keys),
        cmocka_unit_test(test_jwk_rsa_leading_zero),
        cmocka_unit_test(test_real_midnight_x5c),
        cmocka_unit_test(test_real_midnight_n),
        cmocka_unit_test(test_real_l138),
        cmocka_unit_test(test_real_sgx),
        cmocka_unit_test(test_kid_exact),
        cmocka_unit_test(test_real_keyvault_release),
        cmocka_unit_test(test_real_keyvault_release_chain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
