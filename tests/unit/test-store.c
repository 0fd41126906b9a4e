/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * store/ without a TPM: the envelope reader and writer (round trip, every
 * malformed member refused with a reason naming it, the per-version reader
 * table), secret names, the XOR split, AES-256-GCM, and both CMK wraps.
 */
#include "config.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "common/json.h"
#include "store/store-internal.h"
#include "test-helpers.h"

static uint8_t *dup_bytes(uint8_t fill, size_t n) {
    uint8_t *p = malloc(n);
    assert_non_null(p);
    memset(p, fill, n);
    return p;
}

static void fill_wrap(StoreWrap *w, const char *version, StoreWrapAlg alg) {
    w->version = strdup(version);
    w->alg = alg;
    w->wrapped_key = dup_bytes(0xA1, 256);
    w->wrapped_key_len = 256;
    w->payload = dup_bytes(0xB2, 1300);
    w->payload_len = 1300;
}

/* A complete tpm+cmk envelope with a previous wrap (contents arbitrary). */
static void sample(StoreEnvelope *e, StoreMode mode) {
    *e = (StoreEnvelope){.version = 1, .mode = mode, .ephemeral = true};
    e->name = strdup("disk-key_1.x");
    e->key_url = strdup("https://vault.example/keys/cmk");
    e->created = 1764460800; /* 2025-11-30T00:00:00Z */
    e->updated = 1764464400;
    fill_wrap(&e->key, "0123456789abcdef", STORE_WRAP_RSA_OAEP_256);
    e->has_previous = true;
    fill_wrap(&e->previous, "v-old", STORE_WRAP_AES_KWP);
    e->ciphertext = dup_bytes(0xC3, 100);
    e->ciphertext_len = 100;
    if (mode == STORE_MODE_CMK_ONLY)
        return;
    e->srk_name_len = 34;
    memset(e->srk_name, 0x5A, 34);
    e->srk_name[0] = 0x00;
    e->srk_name[1] = 0x0B;
    e->pcrs = (TpmPcrSelection){TPM_HASH_SHA256, (1u << 0) | (1u << 7) | (1u << 23)};
    e->sealed.pub = dup_bytes(0xD4, 90);
    e->sealed.pub_len = 90;
    e->sealed.priv = dup_bytes(0xE5, 150);
    e->sealed.priv_len = 150;
    e->approval = dup_bytes(0xF6, 256);
    e->approval_len = 256;
    e->approved = (TpmPcrBank){.hash = TPM_HASH_SHA256, .mask = e->pcrs.mask};
    memset(e->approved.values[0], 0x11, 32);
    memset(e->approved.values[7], 0x77, 32);
    memset(e->approved.values[23], 0x23, 32);
}

static void assert_wrap_equal(const StoreWrap *a, const StoreWrap *b) {
    assert_string_equal(a->version, b->version);
    assert_int_equal(a->alg, b->alg);
    assert_int_equal(a->wrapped_key_len, b->wrapped_key_len);
    assert_memory_equal(a->wrapped_key, b->wrapped_key, a->wrapped_key_len);
    assert_int_equal(a->payload_len, b->payload_len);
    assert_memory_equal(a->payload, b->payload, a->payload_len);
}

static void round_trip(StoreMode mode) {
    StoreEnvelope e, back;
    _cleanup_free_ char *text = NULL, *text2 = NULL;
    size_t len = 0, len2 = 0;
    char err[256];
    sample(&e, mode);
    assert_int_equal(store_envelope_format(&e, &text, &len), 0);
    assert_int_equal(store_envelope_parse(text, len, &back, err, sizeof(err)), 0);
    assert_int_equal(back.version, 1);
    assert_string_equal(back.name, e.name);
    assert_string_equal(back.key_url, e.key_url);
    assert_int_equal(back.mode, mode);
    assert_true(back.ephemeral);
    assert_int_equal(back.created, e.created);
    assert_int_equal(back.updated, e.updated);
    assert_wrap_equal(&back.key, &e.key);
    assert_true(back.has_previous);
    assert_wrap_equal(&back.previous, &e.previous);
    assert_memory_equal(back.ciphertext, e.ciphertext, e.ciphertext_len);
    if (mode == STORE_MODE_TPM_CMK) {
        assert_int_equal(back.srk_name_len, e.srk_name_len);
        assert_memory_equal(back.srk_name, e.srk_name, e.srk_name_len);
        assert_int_equal(back.pcrs.hash, e.pcrs.hash);
        assert_int_equal(back.pcrs.mask, e.pcrs.mask);
        assert_memory_equal(back.sealed.pub, e.sealed.pub, e.sealed.pub_len);
        assert_memory_equal(back.sealed.priv, e.sealed.priv, e.sealed.priv_len);
        assert_memory_equal(back.approval, e.approval, e.approval_len);
        assert_int_equal(back.approved.mask, e.approved.mask);
        for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
            if (e.pcrs.mask & (1u << i))
                assert_memory_equal(back.approved.values[i], e.approved.values[i], 32);
    }
    /* writing what was read gives the same bytes */
    assert_int_equal(store_envelope_format(&back, &text2, &len2), 0);
    assert_int_equal(len, len2);
    assert_memory_equal(text, text2, len);
    store_envelope_done(&e);
    store_envelope_done(&back);
}

static void test_round_trip(void **state) {
    (void)state;
    round_trip(STORE_MODE_TPM_CMK);
    round_trip(STORE_MODE_CMK_ONLY);
}

/* The sample as a cJSON tree, to mutate. */
static cJSON *sample_json(StoreMode mode) {
    StoreEnvelope e;
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    cJSON *j = NULL;
    sample(&e, mode);
    assert_int_equal(store_envelope_format(&e, &text, &len), 0);
    store_envelope_done(&e);
    assert_int_equal(json_parse(text, len, &j), 0);
    return j;
}

/* Parses j and expects failure r with a reason containing want. */
static void expect_refused(cJSON *j, int r, const char *want, const char *what) {
    _cleanup_free_ char *text = cJSON_PrintUnformatted(j);
    StoreEnvelope e;
    char err[256];
    assert_non_null(text);
    int got = store_envelope_parse(text, strlen(text), &e, err, sizeof(err));
    if (got != r || !strstr(err, want))
        fail_msg("%s: got %d '%s', expected %d naming '%s'", what, got, err, r, want);
}

/* Walks "a.b.c" to the parent object and the last key. */
static cJSON *walk(cJSON *j, const char *path, const char **ret_key) {
    static char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    char *key = buf, *dot;
    while ((dot = strchr(key, '.'))) {
        *dot = '\0';
        j = cJSON_GetObjectItemCaseSensitive(j, key);
        assert_non_null(j);
        key = dot + 1;
    }
    *ret_key = key;
    return j;
}

typedef struct Mutation {
    const char *path;  /* member to replace or delete */
    const char *value; /* JSON to put there; NULL = delete */
    const char *named; /* what the reason must contain */
} Mutation;

static void test_malformed(void **state) {
    static const Mutation m[] = {
        {"format", NULL, "'format'"},
        {"format", "\"other\"", "'format'"},
        {"version", "\"1\"", "'version'"},
        {"version", "1.5", "'version'"},
        {"name", NULL, "'name'"},
        {"name", "\"../x\"", "'name'"},
        {"name", "\"a/b\"", "'name'"},
        {"mode", "\"tpm\"", "'mode'"},
        {"ephemeral", "\"yes\"", "'ephemeral'"},
        {"created", "\"yesterday\"", "'created'"},
        {"updated", "12", "'updated'"},
        {"updated", "\"0622-11-30T09:43:06Z\"", "'updated'"}, /* fuzz: not written back alike */
        {"ciphertext", "\"!!notbase64\"", "'ciphertext'"},
        {"ciphertext", "\"AAAA\"", "'ciphertext'"},
        {"key", NULL, "'key'"},
        {"key.url", "7", "'key.url'"},
        {"key.version", "\"\"", "'key.version'"},
        {"key.wrap", "\"RSA1_5\"", "'key.wrap'"},
        {"key.wrapped_key", NULL, "'key.wrapped_key'"},
        {"key.payload", "\"A===\"", "'key.payload'"},
        {"key.extra", "1", "'key.extra'"},
        {"previous_key", "[]", "'previous_key'"},
        {"previous_key.url", "\"https://x\"", "'previous_key.url'"},
        {"previous_key.version", NULL, "'previous_key.version'"},
        {"tpm", NULL, "'tpm'"},
        {"tpm.srk_name", "\"00\"", "'tpm.srk_name'"},
        {"tpm.pcr_bank", "\"md5\"", "'tpm.pcr_bank'"},
        {"tpm.pcrs", "[]", "'tpm.pcrs'"},
        {"tpm.pcrs", "[0, 24]", "'tpm.pcrs'"},
        {"tpm.pcrs", "[0, 0]", "'tpm.pcrs'"},
        {"tpm.sealed_public", NULL, "'tpm.sealed_public'"},
        {"tpm.sealed_private", "false", "'tpm.sealed_private'"},
        {"tpm.approval", NULL, "'tpm.approval'"},
        {"tpm.approval.signature", "\"\"", "'tpm.approval.signature'"},
        {"tpm.approval.pcr_values", NULL, "'tpm.approval.pcr_values'"},
        {"tpm.approval.pcr_values.7", "\"00\"", "'tpm.approval.pcr_values.7'"},
        {"tpm.approval.pcr_values.7", NULL, "'tpm.approval.pcr_values'"},
        {"tpm.approval.pcr_values.3", "\"00\"", "'tpm.approval.pcr_values'"},
        {"tpm.approval.extra", "1", "'tpm.approval.extra'"},
        {"tpm.extra", "1", "'tpm.extra'"},
        {"extra", "1", "'extra'"},
    };
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(m); i++) {
        _cleanup_json_ cJSON *j = sample_json(STORE_MODE_TPM_CMK);
        const char *key;
        cJSON *parent = walk(j, m[i].path, &key);
        cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
        if (m[i].value) {
            cJSON *v = cJSON_Parse(m[i].value);
            assert_non_null(v);
            cJSON_AddItemToObject(parent, key, v);
        }
        expect_refused(j, -EBADMSG, m[i].named, m[i].path);
    }
    /* a cmk-only envelope must not carry a vTPM part */
    _cleanup_json_ cJSON *j = sample_json(STORE_MODE_CMK_ONLY);
    cJSON_AddItemToObject(j, "tpm", cJSON_CreateObject());
    expect_refused(j, -EBADMSG, "'tpm'", "tpm in cmk-only");
}

static void test_not_json(void **state) {
    StoreEnvelope e;
    char err[256];
    (void)state;
    assert_int_equal(store_envelope_parse("[1]", 3, &e, err, sizeof(err)), -EBADMSG);
    assert_int_equal(store_envelope_parse("{\"a\":", 5, &e, err, sizeof(err)), -EBADMSG);
    _cleanup_free_ char *big = malloc(STORE_ENVELOPE_MAX + 1);
    assert_non_null(big);
    memset(big, ' ', STORE_ENVELOPE_MAX + 1);
    assert_int_equal(store_envelope_parse(big, STORE_ENVELOPE_MAX + 1, &e, err, sizeof(err)),
                     -EBADMSG);
}

static void test_versions(void **state) {
    (void)state;
    /* every version ever written has a reader; none beyond the latest */
    for (unsigned v = 1; v <= STORE_ENVELOPE_LATEST; v++)
        assert_non_null(store_envelope_reader(v));
    assert_null(store_envelope_reader(0));
    assert_null(store_envelope_reader(STORE_ENVELOPE_LATEST + 1));
    for (int v = -1; v <= 2; v += 1) {
        if (v == 1)
            continue;
        _cleanup_json_ cJSON *j = sample_json(STORE_MODE_TPM_CMK);
        cJSON_ReplaceItemInObjectCaseSensitive(j, "version", cJSON_CreateNumber(v));
        expect_refused(j, -EPROTONOSUPPORT, "not one this agent reads", "version");
    }
    /* the dispatcher hands the parsed object to the version's reader */
    _cleanup_json_ cJSON *j = sample_json(STORE_MODE_TPM_CMK);
    StoreEnvelope e = {0};
    char err[128];
    assert_int_equal(store_envelope_reader(1)(j, &e, err, sizeof(err)), 0);
    assert_string_equal(e.name, "disk-key_1.x");
    store_envelope_done(&e);
}

static void test_names(void **state) {
    (void)state;
    assert_true(store_name_is_valid("disk"));
    assert_true(store_name_is_valid("a.b-c_D9"));
    char longest[STORE_NAME_MAX + 2];
    memset(longest, 'x', sizeof(longest));
    longest[STORE_NAME_MAX] = '\0';
    assert_true(store_name_is_valid(longest));
    longest[STORE_NAME_MAX] = 'x';
    longest[STORE_NAME_MAX + 1] = '\0';
    assert_false(store_name_is_valid(longest));
    assert_false(store_name_is_valid(""));
    assert_false(store_name_is_valid(NULL));
    assert_false(store_name_is_valid(".."));
    assert_false(store_name_is_valid(".hidden"));
    assert_false(store_name_is_valid("a/b"));
    assert_false(store_name_is_valid("a b"));
    assert_false(store_name_is_valid("é"));
}

static void test_split(void **state) {
    uint8_t key[STORE_KEY_SIZE];
    _cleanup_secret_ SecretBuf *a = NULL, *b = NULL, *a2 = NULL, *b2 = NULL, *k = NULL;
    (void)state;
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 7 + 1);
    assert_int_equal(store_split(key, &a, &b), 0);
    assert_int_equal(store_combine(a, b, &k), 0);
    assert_memory_equal(k->data, key, sizeof(key));
    /* shares are random: neither is the key, and a second split differs */
    assert_memory_not_equal(a->data, key, sizeof(key));
    assert_memory_not_equal(b->data, key, sizeof(key));
    assert_int_equal(store_split(key, &a2, &b2), 0);
    assert_memory_not_equal(a->data, a2->data, sizeof(key));
    secret_free(k);
    k = NULL;
    /* shares of two splits do not combine to the key */
    assert_int_equal(store_combine(a, b2, &k), 0);
    assert_memory_not_equal(k->data, key, sizeof(key));
    _cleanup_secret_ SecretBuf *short_share = secret_new(16);
    secret_free(k);
    k = NULL;
    assert_int_equal(store_combine(a, short_share, &k), -EKEYREJECTED);
}

static void test_aead(void **state) {
    _cleanup_secret_ SecretBuf *key = secret_new(STORE_KEY_SIZE), *other = secret_new(32),
                               *out = NULL;
    _cleanup_free_ uint8_t *ct = NULL;
    size_t len = 0;
    const char msg[] = "the secret";
    (void)state;
    memset(key->data, 1, 32);
    memset(other->data, 2, 32);
    assert_int_equal(store_aead_seal(key, "aad", msg, sizeof(msg), &ct, &len), 0);
    assert_int_equal(len, sizeof(msg) + STORE_GCM_NONCE + STORE_GCM_TAG);
    assert_int_equal(store_aead_open(key, "aad", ct, len, &out), 0);
    assert_memory_equal(out->data, msg, sizeof(msg));
    secret_free(out);
    out = NULL;
    assert_int_equal(store_aead_open(other, "aad", ct, len, &out), -EKEYREJECTED);
    assert_int_equal(store_aead_open(key, "other", ct, len, &out), -EKEYREJECTED);
    ct[STORE_GCM_NONCE] ^= 1;
    assert_int_equal(store_aead_open(key, "aad", ct, len, &out), -EKEYREJECTED);
    assert_int_equal(store_aead_open(key, "aad", ct, STORE_GCM_NONCE + STORE_GCM_TAG, &out),
                     -EBADMSG);
}

static void test_wrap_rsa(void **state) {
    EVP_PKEY *k = EVP_RSA_gen(2048), *k2 = EVP_RSA_gen(2048);
    StoreWrappingKey wk = {.alg = STORE_WRAP_RSA_OAEP_256, .rsa_public = k};
    _cleanup_free_ uint8_t *w = NULL;
    _cleanup_secret_ SecretBuf *out = NULL;
    size_t len = 0;
    uint8_t kek[32];
    (void)state;
    assert_non_null(k);
    memset(kek, 0x42, sizeof(kek));
    assert_int_equal(store_wrap(&wk, kek, sizeof(kek), &w, &len), 0);
    assert_int_equal(len, 256);
    assert_int_equal(store_unwrap_rsa(k, w, len, &out), 0);
    assert_int_equal(out->len, 32);
    assert_memory_equal(out->data, kek, 32);
    secret_free(out);
    out = NULL;
    assert_int_equal(store_unwrap_rsa(k2, w, len, &out), -EKEYREJECTED);
    wk.alg = STORE_WRAP_AES_KWP; /* no oct key given */
    free(w);
    w = NULL;
    assert_int_equal(store_wrap(&wk, kek, sizeof(kek), &w, &len), -EINVAL);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
}

static void test_wrap_oct(void **state) {
    (void)state;
    for (size_t bits = 128; bits <= 256; bits += 64) {
        _cleanup_secret_ SecretBuf *oct = secret_new(bits / 8), *out = NULL;
        StoreWrappingKey wk = {.alg = STORE_WRAP_AES_KWP, .oct = oct};
        _cleanup_free_ uint8_t *w = NULL;
        size_t len = 0;
        uint8_t kek[32];
        memset(oct->data, 0x33, oct->len);
        memset(kek, 0x42, sizeof(kek));
        assert_int_equal(store_wrap(&wk, kek, sizeof(kek), &w, &len), 0);
        assert_int_equal(len, 40); /* RFC 5649: 32 bytes + the 8-byte integrity block */
        assert_int_equal(store_unwrap_oct(oct, w, len, &out), 0);
        assert_memory_equal(out->data, kek, 32);
        secret_free(out);
        out = NULL;
        oct->data[0] ^= 1;
        assert_int_equal(store_unwrap_oct(oct, w, len, &out), -EKEYREJECTED);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_not_json),   cmocka_unit_test(test_versions),
        cmocka_unit_test(test_names),      cmocka_unit_test(test_split),
        cmocka_unit_test(test_aead),       cmocka_unit_test(test_wrap_rsa),
        cmocka_unit_test(test_wrap_oct),
    };
    json_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
