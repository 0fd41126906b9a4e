/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TEMPORARY — azureguest branch only. A minimal attest_token_verify() with
 * the token branch's interface (attest/token.c there), so that `attest`
 * verifies the token it receives before that branch is merged. The lead
 * replaces this file with attest/token.c; nothing else depends on it.
 * RS256 only; key by exact kid from x5c[0] of the issuer's /certs (no cache).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/x509.h>

#include "attest/attest.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/log.h"

_printf_(4, 5) static int fail(TokenResult *res, int r, const char *claim, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
    va_end(ap);
    res->failed_claim = claim;
    return r;
}

void attest_token_result_done(TokenResult *res) {
    if (!res)
        return;
    cJSON_Delete(res->header);
    cJSON_Delete(res->claims);
    *res = (TokenResult){0};
}

bool attest_issuer_equal(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    while (la && a[la - 1] == '/')
        la--;
    while (lb && b[lb - 1] == '/')
        lb--;
    return la == lb && strncmp(a, b, la) == 0;
}

static int b64url_json(const char *s, size_t n, cJSON **ret) {
    _cleanup_free_ uint8_t *d = NULL;
    size_t dn = 0;
    if (base64url_decode(s, n, &d, &dn) < 0)
        return -EBADMSG;
    return json_parse(d, dn, ret);
}

static int fetch_jwks(const TokenKeys *keys, const char *iss, cJSON **ret, TokenResult *res) {
    _cleanup_free_ char *url = NULL;
    size_t il = strlen(iss);
    while (il && iss[il - 1] == '/')
        il--;
    if (keys->certs_url)
        url = strdup(keys->certs_url);
    else if (asprintf(&url, "%.*s/certs", (int)il, iss) < 0)
        url = NULL;
    if (!url)
        return -ENOMEM;
    HttpRequest req = {.url = url};
    HttpResponse resp = {0};
    HttpError err = {0};
    int r = http_request(keys->http, &req, &resp, &err);
    if (r < 0) {
        fail(res, r, "signing-keys", "cannot fetch the signing keys from '%s': %s", url,
             http_error_string(&err));
        http_error_done(&err);
        http_response_done(&resp);
        return r;
    }
    r = json_parse(resp.body, resp.body_len, ret);
    http_response_done(&resp);
    if (r < 0)
        return fail(res, -EBADMSG, "signing-keys", "'%s' did not answer a JWKS", url);
    snprintf(res->key_source, sizeof(res->key_source), "%s", url);
    return 0;
}

static int key_for_kid(const cJSON *jwks, const char *kid, EVP_PKEY **ret) {
    const cJSON *k;
    cJSON_ArrayForEach(k, json_get_array(jwks, "keys")) {
        const char *id = json_get_string(k, "kid");
        const cJSON *x5c = json_get_array(k, "x5c");
        const cJSON *c0 = x5c ? cJSON_GetArrayItem(x5c, 0) : NULL;
        _cleanup_free_ uint8_t *der = NULL;
        _cleanup_x509_ X509 *cert = NULL;
        size_t n = 0;
        if (!id || !streq(id, kid))
            continue;
        if (!cJSON_IsString(c0) ||
            base64_decode(c0->valuestring, strlen(c0->valuestring), &der, &n) < 0 ||
            crypto_load_cert(der, n, &cert) < 0 || !(*ret = X509_get_pubkey(cert)))
            return -EBADMSG;
        return 0;
    }
    return -ENOENT;
}

static bool jwk_has_modulus(const cJSON *keys, EVP_PKEY *key) {
    BIGNUM *n = NULL;
    bool found = false;
    const cJSON *k;
    if (EVP_PKEY_get_bn_param(key, "n", &n) != 1)
        return false;
    cJSON_ArrayForEach(k, keys) {
        const char *jn = json_get_string(k, "n");
        _cleanup_free_ uint8_t *d = NULL;
        size_t dn = 0;
        if (!jn || base64url_decode(jn, strlen(jn), &d, &dn) < 0)
            continue;
        BIGNUM *b = BN_bin2bn(d, (int)dn, NULL);
        found = b && BN_cmp(b, n) == 0;
        BN_free(b);
        if (found)
            break;
    }
    BN_free(n);
    return found;
}

static int check_times(const cJSON *claims, const TokenExpect *e, TokenResult *res) {
    int64_t now = e->now >= 0 ? e->now : (int64_t)time(NULL), exp = 0, nbf = 0;
    int64_t leeway = (int64_t)e->leeway_s;
    if (json_get_int(claims, "exp", &exp) < 0)
        return fail(res, -EKEYREJECTED, "exp", "the token has no exp claim");
    if (now > exp + leeway)
        return fail(res, -EKEYREJECTED, "exp", "the token expired %lld s ago%s",
                    (long long)(now - exp),
                    e->fresh ? " although just issued: check time sync (chrony/NTP)" : "");
    if (json_get_int(claims, "nbf", &nbf) == 0 && nbf > now + leeway)
        return fail(res, -EKEYREJECTED, "nbf",
                    "the token is not valid for another %lld min: check time sync (chrony/NTP)",
                    (long long)((nbf - now + 59) / 60));
    return 0;
}

static int check_claims(const cJSON *claims, const TokenExpect *e, TokenResult *res) {
    const char *type = json_get_string(claims, "x-ms-attestation-type");
    bool azurevm = type && streq(type, "azurevm");
    const cJSON *tee_obj = azurevm ? json_get_object(claims, "x-ms-isolation-tee") : claims;
    if (e->attestation_type && (!type || !streq(type, e->attestation_type)))
        return fail(res, -EKEYREJECTED, "x-ms-attestation-type",
                    "x-ms-attestation-type is '%s', expected '%s'", type ? type : "(none)",
                    e->attestation_type);
    const char *tee = json_get_string(tee_obj, "x-ms-attestation-type");
    if (e->tee && (!tee || !streq(tee, e->tee)))
        return fail(res, -EKEYREJECTED, "x-ms-isolation-tee.x-ms-attestation-type",
                    "the isolation TEE is '%s', expected '%s'", tee ? tee : "(none)", e->tee);
    const char *cs = json_get_string(tee_obj, "x-ms-compliance-status");
    if (e->require_compliant && (!cs || !streq(cs, "azure-compliant-cvm")))
        return fail(res, -EKEYREJECTED, "x-ms-compliance-status",
                    "x-ms-compliance-status is '%s', not azure-compliant-cvm", cs ? cs : "(none)");
    const cJSON *rt = json_get_object(claims, "x-ms-runtime");
    if (e->nonce) {
        _cleanup_free_ char *want = base64_encode(e->nonce, strlen(e->nonce));
        const char *got = azurevm ? json_get_string(json_get_object(rt, "client-payload"), "nonce")
                                  : json_get_string(claims, "nonce");
        if (!want)
            return -ENOMEM;
        if (!got || !streq(got, azurevm ? want : e->nonce))
            return fail(res, -EKEYREJECTED, "nonce",
                        "the token echoes nonce '%s', not the one this request sent ('%s')",
                        got ? got : "(none)", azurevm ? want : e->nonce);
    }
    if (e->transfer_key && !jwk_has_modulus(json_get_array(rt, "keys"), e->transfer_key))
        return fail(res, -EKEYREJECTED, "x-ms-runtime.keys",
                    "x-ms-runtime.keys does not hold this VM's transfer key (by modulus)");
    return 0;
}

int attest_token_verify(const char *token, size_t len, const TokenExpect *expect,
                        const TokenKeys *keys, TokenResult *res) {
    *res = (TokenResult){0};
    while (len && (token[len - 1] == '\n' || token[len - 1] == ' ' || token[len - 1] == '\r'))
        len--;
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return fail(res, -EBADMSG, "token", "not a compact JWS (three dot-separated parts)");
    if (b64url_json(token, (size_t)(d1 - token), &res->header) < 0 ||
        b64url_json(d1 + 1, (size_t)(d2 - d1 - 1), &res->claims) < 0)
        return fail(res, -EBADMSG, "token", "the token's header or payload is not base64url JSON");
    const char *alg = json_get_string(res->header, "alg");
    const char *kid = json_get_string(res->header, "kid");
    const char *iss = json_get_string(res->claims, "iss");
    if (!alg || !streq(alg, "RS256"))
        return fail(res, -EKEYREJECTED, "alg", "alg is '%s'; only RS256 is accepted",
                    alg ? alg : "(none)");
    if (!kid)
        return fail(res, -EKEYREJECTED, "kid", "the token header has no kid");
    if (!iss || (expect->issuer && !attest_issuer_equal(iss, expect->issuer)))
        return fail(res, -EKEYREJECTED, "iss", "iss is '%s', expected '%s'", iss ? iss : "(none)",
                    expect->issuer ? expect->issuer : "?");
    const char *jku = json_get_string(res->header, "jku");
    _cleanup_free_ char *want_jku = NULL;
    if (asprintf(&want_jku, "%.*s/certs", (int)(strlen(iss) - (iss[strlen(iss) - 1] == '/')), iss) <
        0)
        return -ENOMEM;
    if (jku && !streq(jku, want_jku))
        return fail(res, -EKEYREJECTED, "jku", "jku is '%s', expected '%s'", jku, want_jku);

    _cleanup_json_ cJSON *fetched = NULL;
    const cJSON *jwks = keys->jwks;
    int r;
    if (!jwks) {
        if ((r = fetch_jwks(keys, expect->issuer ? expect->issuer : iss, &fetched, res)) < 0)
            return r;
        jwks = fetched;
    }
    _cleanup_pkey_ EVP_PKEY *key = NULL;
    r = key_for_kid(jwks, kid, &key);
    if (r < 0)
        return fail(res, -EKEYREJECTED, "kid", "%s kid '%s' in the signing keys",
                    r == -ENOENT ? "unknown" : "unusable certificate for", kid);
    _cleanup_free_ uint8_t *sig = NULL;
    size_t sig_len = 0;
    if (base64url_decode(d2 + 1, len - (size_t)(d2 + 1 - token), &sig, &sig_len) < 0)
        return fail(res, -EBADMSG, "token", "the signature is not base64url");
    r = crypto_verify(key, "SHA256", token, (size_t)(d2 - token), sig, sig_len);
    if (r < 0)
        return fail(res, -EKEYREJECTED, "signature",
                    "the RS256 signature does not verify with kid '%s'", kid);
    if ((r = check_times(res->claims, expect, res)) < 0)
        return r;
    return check_claims(res->claims, expect, res);
}
