/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The AzureGuest protocol (azure-wire-formats.md §2.1), encoded as Microsoft's
 * own client (libazguestattestation 1.0.5) encodes it — the recorded request
 * in testdata azure-services/_generated_ms-client_vs_swtpm is the reference,
 * and tests/integration/attest-encoding.sh compares ours to it member by
 * member — and the opening of MAA's sealed reply through the vTPM.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "attest/attest.h"
#include "attest/attest-internal.h"
#include "common/bytes.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/log.h"

#define TRANSPORT_AAD  "Transport Key" /* AES-GCM AAD of the sealed reply (§2.1) */
#define GCM_TAG_SIZE   16
#define GCM_IV_MAX     64
#define INNER_KEY_SIZE 32 /* AES-256 */
#define SEALED_MAX     (1024u * 1024)

void attest_failure_done(AttestFailure *f) {
    if (!f)
        return;
    free(f->code);
    free(f->message);
    *f = (AttestFailure){0};
}

static int add_b64(cJSON *o, const char *key, const void *data, size_t len) {
    _cleanup_free_ char *s = base64_encode(data ? data : "", data ? len : 0);
    if (!s)
        return -ENOMEM;
    return json_add_string(o, key, s);
}

static int add_b64_str(cJSON *o, const char *key, const char *s) {
    return add_b64(o, key, s, strlen(s));
}

/* PcrSignature / EncKeyCertifyInfoSignature: the raw RSASSA bytes, not a
 * TPMT_SIGNATURE (the recorded request; §2.1). */
static int add_raw_sig(cJSON *o, const char *key, const uint8_t *sig, size_t len) {
    TpmSignature s;
    int r = tpm_signature_parse(sig, len, 256, &s);
    if (r < 0)
        return attest_fail(r, "the TPM returned a signature that does not parse");
    return add_b64(o, key, s.sig, s.sig_len);
}

static int tpm_info(const AttestTpmEvidence *e, cJSON *ai) {
    cJSON *t = cJSON_AddObjectToObject(ai, "TpmInfo"), *pcrs, *set;
    if (!t || add_b64(t, "AikCert", e->ak_cert, e->ak_cert_len) < 0 ||
        add_b64(t, "AikPub", e->ak_pub, e->ak_pub_len) < 0 ||
        add_b64(t, "EncKeyCertifyInfo", e->transfer.attest, e->transfer.attest_len) < 0 ||
        add_raw_sig(t, "EncKeyCertifyInfoSignature", e->transfer.signature,
                    e->transfer.signature_len) < 0 ||
        add_b64(t, "EncKeyPub", e->transfer.pub, e->transfer.pub_len) < 0 ||
        !(pcrs = cJSON_AddArrayToObject(t, "PCRs")))
        return -ENOMEM;
    for (unsigned i = 0; i < TPM_PCR_COUNT; i++) {
        if (!(ATTEST_PCR_MASK & (1u << i)))
            continue;
        cJSON *p = cJSON_CreateObject();
        if (!p)
            return -ENOMEM;
        cJSON_AddItemToArray(pcrs, p);
        if (add_b64(p, "Digest", e->pcrs.values[i], 32) < 0 || json_add_int(p, "Index", i) < 0)
            return -ENOMEM;
    }
    if (add_b64(t, "PcrQuote", e->quote.attest, e->quote.attest_len) < 0 ||
        !(set = cJSON_AddArrayToObject(t, "PcrSet")))
        return -ENOMEM;
    for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
        if (ATTEST_PCR_MASK & (1u << i))
            cJSON_AddItemToArray(set, cJSON_CreateNumber(i));
    return add_raw_sig(t, "PcrSignature", e->quote.signature, e->quote.signature_len);
}

/* jsoncpp's styled layout for a flat object of strings, as the client
 * serialises Proof and the body (any JSON would do; this keeps the bytes
 * close to the reference). */
static char *styled_object(const char *const *keys, const char *const *values, size_t n) {
    size_t len = 4, used;
    for (size_t i = 0; i < n; i++)
        if (!size_add(len, strlen(keys[i]) + 12, &len) || !size_add(len, strlen(values[i]), &len))
            return NULL;
    char *out = malloc(len);
    if (!out)
        return NULL;
    used = (size_t)snprintf(out, len, "{\n");
    for (size_t i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "\t\"%s\" : \"%s\"%s\n", keys[i],
                                 values[i], i + 1 < n ? "," : "");
    if (used >= len || (size_t)snprintf(out + used, len - used, "}") >= len - used) {
        free(out); /* cannot happen: len counts every byte */
        return NULL;
    }
    return out;
}

static int snp_proof(const AttestPlatform *p, char **ret) {
    if (!p->vcek_chain_pem)
        return attest_fail(-EINVAL, "SEV-SNP evidence needs the VCEK certificate chain");
    _cleanup_free_ char *report = base64url_encode(p->hw_report, p->hw_report_len);
    _cleanup_free_ char *chain = base64url_encode(p->vcek_chain_pem, strlen(p->vcek_chain_pem));
    if (!report || !chain)
        return -ENOMEM;
    const char *keys[] = {"SnpReport", "VcekCertChain"};
    const char *values[] = {report, chain};
    _cleanup_free_ char *json = styled_object(keys, values, 2);
    if (!json || !(*ret = base64_encode(json, strlen(json))))
        return -ENOMEM;
    return 0;
}

static int isolation_info(const AttestPlatform *p, cJSON *ai) {
    cJSON *iso = cJSON_AddObjectToObject(ai, "IsolationInfo"), *ev;
    _cleanup_free_ char *proof = NULL;
    int r;
    if (!iso)
        return -ENOMEM;
    if (p->tee == ATTEST_TEE_NONE)
        return json_add_string(iso, "Type", "TrustedLaunch");
    if (p->tee == ATTEST_TEE_SNP && (r = snp_proof(p, &proof)) < 0)
        return r;
    if (p->tee == ATTEST_TEE_TDX) {
        if (!p->td_quote)
            return attest_fail(-EINVAL, "TDX evidence needs the TD quote");
        if (!(proof = base64_encode(p->td_quote, p->td_quote_len)))
            return -ENOMEM;
    }
    if (!(ev = cJSON_AddObjectToObject(iso, "Evidence")) ||
        json_add_string(ev, "Proof", proof) < 0 ||
        add_b64(ev, "RunTimeData", p->runtime_data, p->runtime_data_len) < 0)
        return -ENOMEM;
    return json_add_string(iso, "Type", p->tee == ATTEST_TEE_SNP ? "SevSnp" : "Tdx");
}

int attest_azureguest_info(const AttestTpmEvidence *e, const AttestPlatform *p,
                           const AttestOsInfo *os, const AttestClientPayload *payload,
                           cJSON **ret) {
    _cleanup_json_ cJSON *ai = cJSON_CreateObject();
    cJSON *cp;
    int r;
    if (!ai || json_add_string(ai, "AttestationProtocolVersion", "2.0") < 0 ||
        !(cp = cJSON_AddObjectToObject(ai, "ClientPayload")))
        return -ENOMEM;
    /* in key order, as the client's serializer writes members */
    size_t order[ATTEST_CLIENT_PAYLOAD_MAX] = {0}, n = payload ? payload->n : 0;
    if (n > ATTEST_CLIENT_PAYLOAD_MAX)
        return attest_fail(-EINVAL, "more than %d client-payload members",
                           ATTEST_CLIENT_PAYLOAD_MAX);
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        for (; j > 0 && strcmp(payload->keys[order[j - 1]], payload->keys[i]) > 0; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && streq(payload->keys[order[i - 1]], payload->keys[order[i]]))
            return attest_fail(-EINVAL, "client-payload member '%s' given twice",
                               payload->keys[order[i]]);
        if (add_b64_str(cp, payload->keys[order[i]], payload->values[order[i]]) < 0)
            return -ENOMEM;
    }
    if ((r = isolation_info(p, ai)) < 0)
        return r;
    /* "NotApplication" is the client's spelling for Linux (Windows: NotApplicable) */
    if (add_b64_str(ai, "OSBuild", "NotApplication") < 0 ||
        add_b64_str(ai, "OSDistro", os->distro) < 0 || add_b64_str(ai, "OSType", "Linux") < 0 ||
        json_add_int(ai, "OSVersionMajor", os->major) < 0 ||
        json_add_int(ai, "OSVersionMinor", os->minor) < 0 ||
        add_b64(ai, "TcgLogs", e->event_log, e->event_log ? e->event_log_len : 0) < 0)
        return -ENOMEM;
    if ((r = tpm_info(e, ai)) < 0)
        return r;
    *ret = TAKE_PTR(ai);
    return 0;
}

int attest_azureguest_body(const cJSON *info, char **ret) {
    _cleanup_free_ char *text = cJSON_PrintUnformatted(info);
    if (!text)
        return -ENOMEM;
    _cleanup_free_ char *enc = base64url_encode(text, strlen(text));
    if (!enc)
        return -ENOMEM;
    const char *keys[] = {"AttestationInfo"};
    const char *values[] = {enc};
    *ret = styled_object(keys, values, 1);
    return *ret ? 0 : -ENOMEM;
}

int attest_post(const HttpConfig *http, const char *base_url, const char *route,
                const char *api_version, const char *body, char **ret, AttestFailure *f) {
    /* the client's headers exactly (request_headers.txt): no User-Agent, no
     * Expect: 100-continue, which curl would add for a large body */
    static const char *const headers[] = {"Accept: */*", "Content-Type: application/json",
                                          "User-Agent:", "Expect:", NULL};
    _cleanup_free_ char *url = NULL;
    size_t blen = strlen(base_url);
    while (blen > 0 && base_url[blen - 1] == '/')
        blen--;
    if (asprintf(&url, "%.*s/attest/%s?api-version=%s", (int)blen, base_url, route, api_version) <
        0)
        return -ENOMEM;
    HttpRequest req = {
        .method = "POST", .url = url, .headers = headers, .body = body, .body_len = strlen(body)};
    HttpResponse resp = {0};
    HttpError err = {0};
    int r = http_request(http, &req, &resp, &err);
    if (r < 0) {
        log_debug("POST %s: %s", url, http_error_string(&err));
        f->status = err.status;
        f->code = TAKE_PTR(err.code);
        f->message = TAKE_PTR(err.message);
        http_error_done(&err);
        http_response_done(&resp);
        return r;
    }
    _cleanup_json_ cJSON *j = NULL;
    const char *token;
    if (json_parse(resp.body, resp.body_len, &j) < 0 || !(token = json_get_string(j, "token"))) {
        http_response_done(&resp);
        f->status = 200;
        f->message = strdup("the answer is not JSON with a \"token\"");
        return -EPROTO;
    }
    *ret = strdup(token);
    http_response_done(&resp);
    return *ret ? 0 : -ENOMEM;
}

int attest_azureguest_send(const HttpConfig *http, const char *base_url, const char *api_version,
                           const char *body, char **ret, AttestFailure *f) {
    return attest_post(http, base_url, "AzureGuest", api_version, body, ret, f);
}

/* MAA writes standard base64 in the envelope; accept base64url too, as MAA
 * itself accepts both. */
static int decode_any(const char *s, uint8_t **ret, size_t *ret_len) {
    if (!s)
        return -EBADMSG;
    if (base64_decode(s, strlen(s), ret, ret_len) == 0)
        return 0;
    return base64url_decode(s, strlen(s), ret, ret_len) == 0 ? 0 : -EBADMSG;
}

static int gcm_open(const SecretBuf *key, const uint8_t *iv, size_t iv_len, const uint8_t *ct,
                    size_t ct_len, const uint8_t tag[GCM_TAG_SIZE], SecretBuf **ret) {
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    _cleanup_secret_ SecretBuf *pt = secret_new(ct_len + 1);
    int n = 0, fin = 0, r = -EKEYREJECTED;
    if (!c || !pt) {
        EVP_CIPHER_CTX_free(c);
        return -ENOMEM;
    }
    if (ct_len > INT32_MAX || iv_len > GCM_IV_MAX ||
        EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, (int)iv_len, NULL) != 1 ||
        EVP_DecryptInit_ex(c, NULL, NULL, key->data, iv) != 1 ||
        EVP_DecryptUpdate(c, NULL, &n, (const uint8_t *)TRANSPORT_AAD, strlen(TRANSPORT_AAD)) !=
            1 ||
        EVP_DecryptUpdate(c, pt->data, &n, ct, (int)ct_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG_SIZE, (void *)tag) != 1)
        r = -EBADMSG;
    else if (EVP_DecryptFinal_ex(c, pt->data + n, &fin) == 1)
        r = 0;
    EVP_CIPHER_CTX_free(c);
    if (r < 0)
        return r;
    secret_truncate(pt, (size_t)n + (size_t)fin);
    pt->data[pt->len] = '\0';
    *ret = TAKE_PTR(pt);
    return 0;
}

void attest_sealed_done(AttestSealed *s) {
    if (!s)
        return;
    free(s->ciphertext);
    free(s->inner_key);
    free(s->iv);
    *s = (AttestSealed){0};
}

/* Takes the three decoded members out of the envelope. */
static int sealed_members(const cJSON *j, AttestSealed *s, uint8_t **tag, size_t *tag_len) {
    const cJSON *params = json_get_object(j, "EncryptionParams");
    if (decode_any(json_get_string(j, "Jwt"), &s->ciphertext, &s->ciphertext_len) < 0 ||
        decode_any(json_get_string(j, "EncryptedInnerKey"), &s->inner_key, &s->inner_key_len) < 0 ||
        decode_any(json_get_string(j, "AuthenticationData"), tag, tag_len) < 0 || !params ||
        decode_any(json_get_string(params, "Iv"), &s->iv, &s->iv_len) < 0)
        return attest_fail(-EBADMSG, "MAA's sealed reply lacks Jwt, EncryptedInnerKey, "
                                     "EncryptionParams.Iv or AuthenticationData");
    int64_t bits = 256;
    const char *cipher = json_get_string(params, "Cipher");
    if (*tag_len != GCM_TAG_SIZE || s->iv_len == 0 || s->iv_len > GCM_IV_MAX ||
        (cipher && !streq(cipher, "AES")) ||
        (cJSON_HasObjectItem(params, "KeySizeInBits") &&
         (json_get_int(params, "KeySizeInBits", &bits) < 0 || bits != 256)))
        return attest_fail(-EBADMSG, "MAA's sealed reply is not AES-256-GCM with a 16-byte "
                                     "tag");
    return 0;
}

int attest_sealed_parse(const char *sealed, size_t len, AttestSealed *ret) {
    _cleanup_free_ uint8_t *env = NULL, *tag = NULL;
    _cleanup_free_ char *text = NULL;
    _cleanup_json_ cJSON *j = NULL;
    size_t env_len = 0, tag_len = 0;
    AttestSealed s = {0};

    if (len > SEALED_MAX || memchr(sealed, '\0', len) || !(text = strndup(sealed, len)) ||
        decode_any(text, &env, &env_len) < 0 || json_parse(env, env_len, &j) < 0)
        return attest_fail(-EBADMSG, "MAA's reply token is not base64url JSON (a sealed "
                                     "AzureGuest reply)");
    int r = sealed_members(j, &s, &tag, &tag_len);
    if (r < 0) {
        attest_sealed_done(&s);
        return r;
    }
    memcpy(s.tag, tag, GCM_TAG_SIZE);
    *ret = s;
    return 0;
}

int attest_azureguest_open(const char *tcti, const char *sealed, SecretBuf **ret) {
    _cleanup_(attest_sealed_done) AttestSealed s = {0};
    _cleanup_secret_ SecretBuf *key = NULL;
    _cleanup_tpm_ TpmContext *t = NULL;
    const TpmPcrSelection sel = {.hash = TPM_HASH_SHA256, .mask = ATTEST_PCR_MASK};

    int r = attest_sealed_parse(sealed, strlen(sealed), &s);
    if (r < 0)
        return r;
    r = tpm_open(tcti, &t);
    if (r < 0)
        return attest_fail(r, "cannot open the TPM '%s': %s", tcti ? tcti : "(default)",
                           tpm_last_error(NULL));
    r = tpm_transfer_key_decrypt(t, &sel, TPM_RSA_RSAES, s.inner_key, s.inner_key_len, &key);
    if (r == -EKEYREJECTED)
        return attest_fail(r, "the transfer key cannot open MAA's reply: it was sealed to "
                              "another key, or PCR 0-7 changed since the evidence was taken");
    if (r < 0)
        return attest_fail(r, "TPM2_RSA_Decrypt with the transfer key failed: %s",
                           tpm_last_error(t));
    if (key->len != INNER_KEY_SIZE)
        return attest_fail(-EBADMSG, "MAA's inner key is %zu bytes, not an AES-256 key", key->len);
    r = gcm_open(key, s.iv, s.iv_len, s.ciphertext, s.ciphertext_len, s.tag, ret);
    if (r < 0)
        return attest_fail(r, "MAA's sealed token does not decrypt (AES-256-GCM tag "
                              "mismatch): the reply was altered or is not for this key");
    return 0;
}
