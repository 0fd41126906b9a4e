/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MAA token verification (attest.h "token verification"): the signing key by
 * exact kid from the issuer's /certs (cached per issuer), the RS256
 * signature, then every claim the caller expects. Facts from
 * azure-wire-formats.md §2.3-2.4 as corrected by azure-services/MANIFEST.md.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "attest/attest.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/jose.h"
#include "common/json.h"
#include "common/log.h"

#define CACHE_DIR "maa-signing-keys"
#define JWKS_MAX  (1024u * 1024)
/* A key MAA stopped serving must stop being trusted: cached key sets are
 * refetched after a day even when the kid is found. */
#define CACHE_MAX_AGE_S  (24 * 3600)
#define COMPLIANT_CVM    "azure-compliant-cvm"
#define TIME_SYNC_ADVICE "check time sync (chrony/NTP)"

static int fail(TokenResult *res, int r, const char *claim, const char *fmt, ...) _printf_(4, 5);
static int fail(TokenResult *res, int r, const char *claim, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
    va_end(ap);
    res->failed_claim = claim;
    return r;
}

static size_t issuer_len(const char *s) {
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    return n;
}

bool attest_issuer_equal(const char *a, const char *b) {
    if (!a || !b)
        return false;
    size_t n = issuer_len(a);
    return n > 0 && n == issuer_len(b) && memcmp(a, b, n) == 0;
}

/* "7 min", "45 s", "3 h 5 min": how far a time is off, for people. */
static void format_span(int64_t secs, char *buf, size_t len) {
    if (secs < 120)
        snprintf(buf, len, "%lld s", (long long)secs);
    else if (secs < 7200)
        snprintf(buf, len, "%lld min", (long long)((secs + 30) / 60));
    else if (secs < 2 * 86400)
        snprintf(buf, len, "%lld h %lld min", (long long)(secs / 3600),
                 (long long)(secs % 3600 / 60));
    else
        snprintf(buf, len, "%lld days", (long long)(secs / 86400));
}

static void format_time(int64_t t, char *buf, size_t len) {
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, len, "%lld", (long long)t);
}

/* ------------------------------------------------------------ signing keys */

static int cache_path(const TokenKeys *keys, const char *issuer, char **ret) {
    uint8_t digest[CRYPTO_MAX_DIGEST];
    int r = crypto_digest("SHA256", issuer, issuer_len(issuer), digest, NULL);
    if (r < 0)
        return r;
    _cleanup_free_ char *hex = hex_encode(digest, 32);
    if (!hex || asprintf(ret, "%s/" CACHE_DIR "/%s.json", keys->state_dir, hex) < 0)
        return -ENOMEM;
    return 0;
}

static cJSON *cache_load(const TokenKeys *keys, const char *issuer) {
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ uint8_t *data = NULL;
    size_t len = 0;
    cJSON *c = NULL;
    if (!keys->state_dir || cache_path(keys, issuer, &path) < 0 ||
        read_file(path, JWKS_MAX, &data, &len) < 0 || json_parse(data, len, &c) < 0)
        return NULL;
    const char *cached_for = json_get_string(c, "issuer");
    int64_t fetched = 0, now = (int64_t)time(NULL);
    if (!cached_for || !attest_issuer_equal(cached_for, issuer) || !json_get_object(c, "jwks")) {
        log_debug("ignoring signing-key cache '%s': not for issuer '%s'", path, issuer);
        cJSON_Delete(c);
        return NULL;
    }
    if (json_get_int(c, "fetched", &fetched) < 0 || fetched > now + 300 ||
        now - fetched > CACHE_MAX_AGE_S) {
        log_debug("signing-key cache '%s' is older than a day: refetching", path);
        cJSON_Delete(c);
        return NULL;
    }
    return c;
}

static void cache_store(const TokenKeys *keys, const char *issuer, const cJSON *jwks) {
    _cleanup_free_ char *path = NULL, *dir = NULL, *text = NULL;
    _cleanup_json_ cJSON *c = cJSON_CreateObject();
    if (!keys->state_dir || !c || cache_path(keys, issuer, &path) < 0 ||
        asprintf(&dir, "%s/" CACHE_DIR, keys->state_dir) < 0)
        return;
    if (json_add_string(c, "issuer", issuer) < 0 || json_add_int(c, "fetched", time(NULL)) < 0 ||
        !cJSON_AddItemToObject(c, "jwks", cJSON_Duplicate(jwks, true)))
        return;
    text = cJSON_Print(c);
    int r = text ? mkdir_p(dir, 0700) : -ENOMEM;
    if (r >= 0)
        r = write_file_atomic(path, text, strlen(text), 0600);
    if (r < 0)
        log_warning("cannot cache the signing keys of '%s' in '%s': %s; continuing without", issuer,
                    path, strerror(-r));
}

/* Plain http only to loopback, and only when the configuration allows it. */
static bool certs_url_allowed(const HttpConfig *http, const char *url) {
    if (startswith(url, "https://"))
        return true;
    return startswith(url, "http://") && !startswith(url, "http://169.254.169.254") &&
           http->allow_plain_http_loopback && http_url_allowed(http, url);
}

static int fetch_jwks(const TokenKeys *keys, const char *url, cJSON **ret, TokenResult *res) {
    HttpRequest req = {.method = "GET", .url = url};
    HttpResponse resp = {0};
    HttpError err = {0};
    cJSON *jwks = NULL;

    if (!keys->http || !certs_url_allowed(keys->http, url))
        return fail(res, -EINVAL, "signing-keys",
                    "signing keys URL '%s' is not allowed: use https (plain http only to "
                    "loopback with [http] allow-plain-http-loopback)",
                    url);
    int r = http_request(keys->http, &req, &resp, &err);
    if (r < 0) {
        fail(res, r, "signing-keys", "cannot fetch the signing keys from '%s': %s", url,
             http_error_string(&err));
        http_response_done(&resp);
        http_error_done(&err);
        return r;
    }
    r = json_parse(resp.body, resp.body_len, &jwks);
    http_response_done(&resp);
    http_error_done(&err);
    if (r < 0 || !json_get_array(jwks, "keys")) {
        cJSON_Delete(jwks);
        return fail(res, -EPROTO, "signing-keys",
                    "'%s' did not answer a JWKS ({\"keys\": [...]}); is it the MAA /certs?", url);
    }
    *ret = jwks;
    return 0;
}

static int key_from_jwks(const cJSON *jwks, const char *kid, const char *where, EVP_PKEY **ret,
                         TokenResult *res) {
    const char *why = NULL;
    const cJSON *jwk = jose_jwks_find(jwks, kid);
    if (!jwk) {
        int n = cJSON_GetArraySize(json_get_array(jwks, "keys"));
        return fail(res, -EKEYREJECTED, "kid",
                    "unknown kid '%s': none of the %d signing keys of %s has it; the token "
                    "cannot be authenticated",
                    kid, n, where);
    }
    int r = jose_jwk_to_pkey(jwk, ret, &why);
    if (r < 0)
        return fail(res, -EKEYREJECTED, "kid", "the signing key '%s' of %s is unusable: %s", kid,
                    where, why);
    return 0;
}

/* The issuer's /certs through the cache, refetched once when the kid is unknown. */
static int key_from_issuer(const TokenKeys *keys, const char *issuer, const char *kid,
                           EVP_PKEY **ret, TokenResult *res) {
    _cleanup_free_ char *url = NULL;
    _cleanup_json_ cJSON *cached = cache_load(keys, issuer);
    _cleanup_json_ cJSON *fetched = NULL;
    if (asprintf(&url, "%.*s/certs", (int)issuer_len(issuer), issuer) < 0)
        return -ENOMEM;
    if (cached && jose_jwks_find(json_get_object(cached, "jwks"), kid)) {
        snprintf(res->key_source, sizeof(res->key_source), "%s (cached)", url);
        return key_from_jwks(json_get_object(cached, "jwks"), kid, url, ret, res);
    }
    if (cached)
        log_debug("kid '%s' is not in the cached signing keys of '%s': refetching", kid, issuer);
    int r = fetch_jwks(keys, url, &fetched, res);
    if (r < 0)
        return r;
    cache_store(keys, issuer, fetched);
    snprintf(res->key_source, sizeof(res->key_source), "%s", url);
    return key_from_jwks(fetched, kid, url, ret, res);
}

static int find_key(const TokenKeys *keys, const TokenExpect *expect, const char *kid,
                    EVP_PKEY **ret, TokenResult *res) {
    if (keys->jwks) {
        snprintf(res->key_source, sizeof(res->key_source), "the given JWKS");
        return key_from_jwks(keys->jwks, kid, "the given JWKS", ret, res);
    }
    if (keys->certs_url) {
        _cleanup_json_ cJSON *jwks = NULL;
        int r = fetch_jwks(keys, keys->certs_url, &jwks, res);
        if (r < 0)
            return r;
        snprintf(res->key_source, sizeof(res->key_source), "%s", keys->certs_url);
        return key_from_jwks(jwks, kid, keys->certs_url, ret, res);
    }
    if (!expect->issuer)
        return fail(res, -EINVAL, "signing-keys",
                    "no signing keys: name the MAA endpoint ([attestation] url) or a JWKS");
    return key_from_issuer(keys, expect->issuer, kid, ret, res);
}

/* ------------------------------------------------------------ claims */

static int check_issuer(const TokenExpect *expect, TokenResult *res) {
    const char *iss = json_get_string(res->claims, "iss");
    const char *jku = json_get_string(res->header, "jku");
    if (!iss)
        return fail(res, -EKEYREJECTED, "iss", "the token has no \"iss\" claim");
    if (expect->issuer && !attest_issuer_equal(iss, expect->issuer))
        return fail(res, -EKEYREJECTED, "iss", "the token was issued by '%s', not by '%s'", iss,
                    expect->issuer);
    size_t n = issuer_len(iss);
    if (!jku || strncmp(jku, iss, n) != 0 || !streq(jku + n, "/certs"))
        return fail(res, -EKEYREJECTED, "jku",
                    "the token's key URL (jku) '%s' is not its issuer's /certs ('%.*s/certs')",
                    jku ? jku : "(none)", (int)n, iss);
    return 0;
}

static int get_time(TokenResult *res, const char *claim, bool required, int64_t *ret) {
    int r = json_get_int(res->claims, claim, ret);
    if (r == -ENOENT && !required)
        return 0;
    if (r < 0)
        return fail(res, -EKEYREJECTED, claim, "the token's \"%s\" is %s", claim,
                    r == -ENOENT ? "missing" : "not an integer time");
    return 1;
}

static int check_times(const TokenExpect *expect, TokenResult *res) {
    int64_t now = expect->now;
    int64_t leeway = (int64_t)expect->leeway_s, exp = 0, nbf = 0, iat = 0;
    char span[64], when[64];
    int has_exp = get_time(res, "exp", true, &exp), has_iat = get_time(res, "iat", true, &iat);
    int has_nbf = get_time(res, "nbf", false, &nbf);
    if (has_exp < 0 || has_iat < 0 || has_nbf < 0)
        return -EKEYREJECTED;
    if (has_nbf && nbf > now + leeway) {
        format_span(nbf - now, span, sizeof(span));
        format_time(nbf, when, sizeof(when));
        return fail(res, -EKEYREJECTED, "nbf",
                    "the token is not valid for another %s (nbf %s, beyond the leeway of %llds): "
                    "this clock is behind the service's: " TIME_SYNC_ADVICE,
                    span, when, (long long)leeway);
    }
    if (iat > now + leeway) {
        format_span(iat - now, span, sizeof(span));
        format_time(iat, when, sizeof(when));
        return fail(res, -EKEYREJECTED, "iat",
                    "the token was issued %s in the future (iat %s, beyond the leeway of "
                    "%llds): " TIME_SYNC_ADVICE,
                    span, when, (long long)leeway);
    }
    if (exp < iat || (has_nbf && exp < nbf))
        return fail(res, -EKEYREJECTED, "exp", "the token expires before it becomes valid");
    if (now > exp + leeway) {
        format_span(now - exp, span, sizeof(span));
        format_time(exp, when, sizeof(when));
        return fail(res, -EKEYREJECTED, "exp", "the token expired %s ago (exp %s)%s", span, when,
                    expect->fresh ? ": it was just issued, so this clock is ahead of the "
                                    "service's: " TIME_SYNC_ADVICE
                                  : "");
    }
    return 0;
}

static bool is_azurevm(const TokenResult *res) {
    return streq_ptr(json_get_string(res->claims, "x-ms-attestation-type"), "azurevm");
}

static int check_type(const TokenExpect *expect, TokenResult *res) {
    const char *type = json_get_string(res->claims, "x-ms-attestation-type");
    const cJSON *tee_obj = json_get_object(res->claims, "x-ms-isolation-tee");
    if (expect->attestation_type && !streq_ptr(type, expect->attestation_type))
        return fail(res, -EKEYREJECTED, "x-ms-attestation-type",
                    "x-ms-attestation-type is '%s', expected '%s'", type ? type : "(none)",
                    expect->attestation_type);
    if (expect->tee) {
        bool azurevm = is_azurevm(res);
        const char *tee = azurevm ? json_get_string(tee_obj, "x-ms-attestation-type") : type;
        const char *claim =
            azurevm ? "x-ms-isolation-tee.x-ms-attestation-type" : "x-ms-attestation-type";
        if (!streq_ptr(tee, expect->tee))
            return fail(res, -EKEYREJECTED, claim, "%s is '%s', but this platform is '%s'%s", claim,
                        tee ? tee : "(none)", expect->tee,
                        azurevm && !tee_obj ? " (the token has no x-ms-isolation-tee: not a "
                                              "confidential VM)"
                                            : "");
    }
    if (expect->require_compliant) {
        const cJSON *where = is_azurevm(res) ? tee_obj : res->claims;
        const char *status = json_get_string(where, "x-ms-compliance-status");
        if (!streq_ptr(status, COMPLIANT_CVM))
            return fail(res, -EKEYREJECTED, "x-ms-compliance-status",
                        "%sx-ms-compliance-status is '%s', expected '" COMPLIANT_CVM "'",
                        is_azurevm(res) ? "x-ms-isolation-tee." : "", status ? status : "(none)");
    }
    return 0;
}

static int check_nonce(const TokenExpect *expect, TokenResult *res) {
    if (!expect->nonce)
        return 0;
    if (!is_azurevm(res)) {
        /* platform protocols echo the request's nonce verbatim */
        const char *got = json_get_string(res->claims, "nonce");
        if (!streq_ptr(got, expect->nonce))
            return fail(res, -EKEYREJECTED, "nonce",
                        "the token's nonce is '%s', not the '%s' this run sent: a stale or "
                        "replayed token",
                        got ? got : "(none)", expect->nonce);
        return 0;
    }
    /* AzureGuest: MAA echoes ClientPayload, whose values are base64 of our strings */
    _cleanup_free_ char *want = base64_encode(expect->nonce, strlen(expect->nonce));
    const cJSON *rt = json_get_object(res->claims, "x-ms-runtime");
    const char *got = json_get_string(json_get_object(rt, "client-payload"), "nonce");
    if (!want)
        return -ENOMEM;
    if (!streq_ptr(got, want))
        return fail(res, -EKEYREJECTED, "nonce",
                    "x-ms-runtime.client-payload.nonce is '%s', not '%s' (base64 of the nonce "
                    "'%s' this run sent): a stale or replayed token",
                    got ? got : "(none)", want, expect->nonce);
    return 0;
}

static int check_transfer_key(const TokenExpect *expect, TokenResult *res) {
    if (!expect->transfer_key)
        return 0;
    const cJSON *keys = json_get_array(json_get_object(res->claims, "x-ms-runtime"), "keys"), *k;
    cJSON_ArrayForEach(k, keys) {
        if (streq_ptr(json_get_string(k, "kty"), "RSA") &&
            jose_jwk_rsa_equals(k, expect->transfer_key))
            return 0;
    }
    return fail(res, -EKEYREJECTED, "x-ms-runtime.keys",
                "x-ms-runtime.keys does not hold this VM's transfer key (compared by modulus): "
                "the token was not issued for this attestation");
}

/* ------------------------------------------------------------ entry point */

static int parse_token(const char *token, size_t len, TokenResult *res, JoseJws **ret) {
    const char *why = NULL;
    while (len > 0 && strchr(" \t\r\n", token[len - 1]))
        len--;
    int r = jose_jws_parse(token, len, ret, &why);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return fail(res, -EBADMSG, "token", "not an attestation token: %s", why);
    res->header = cJSON_Duplicate((*ret)->header, true);
    res->claims = cJSON_Duplicate((*ret)->payload, true);
    if (!res->header || !res->claims)
        return -ENOMEM;
    return 0;
}

int attest_token_verify(const char *token, size_t len, const TokenExpect *expect,
                        const TokenKeys *keys, TokenResult *res) {
    _cleanup_jws_ JoseJws *jws = NULL;
    _cleanup_pkey_ EVP_PKEY *key = NULL;
    const char *why = NULL;

    *res = (TokenResult){0};
    if (expect->now < 0) /* the caller reads the clock once; no value means "now" */
        return -EINVAL;
    int r = parse_token(token, len, res, &jws);
    if (r < 0)
        return r;
    /* MAA signs with RS256 only (MANIFEST fact 3): anything else is not MAA's */
    if (jws->alg != JOSE_ALG_RS256)
        return fail(res, -EKEYREJECTED, "alg", "the token's alg is '%s'; MAA tokens are RS256",
                    jws->alg_name);
    if (!jws->kid || !*jws->kid)
        return fail(res, -EKEYREJECTED, "kid", "the token names no signing key (kid)");
    r = find_key(keys, expect, jws->kid, &key, res);
    if (r < 0)
        return r;
    r = jose_jws_verify(jws, key, JOSE_ALG_RS256, &why);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return fail(res, -EKEYREJECTED, "signature", "the token's signature: %s (key '%s' from %s)",
                    why, jws->kid, res->key_source);
    if ((r = check_issuer(expect, res)) < 0 || (r = check_times(expect, res)) < 0 ||
        (r = check_type(expect, res)) < 0 || (r = check_nonce(expect, res)) < 0 ||
        (r = check_transfer_key(expect, res)) < 0)
        return r;
    return 0;
}

void attest_token_result_done(TokenResult *res) {
    cJSON_Delete(res->header);
    cJSON_Delete(res->claims);
    res->header = res->claims = NULL;
}
