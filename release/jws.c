/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The release response: a JWS signed by the vault's certificate, carried in
 * its own x5c (MANIFEST fact 5). Nothing in key_hsm is used before the
 * signature, the chain, the signer's name and the thumbprints have checked
 * out. A payload without a signature is decoded for display only.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "common/codec.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/jose.h"
#include "common/json.h"
#include "common/log.h"
#include "release/release.h"

#define RELEASE_ALGS (JOSE_ALG_RS256 | JOSE_ALG_PS256 | JOSE_ALG_ES256 | JOSE_ALG_ES384)

static const char *const azure_families[] = {"vault.azure.net", "managedhsm.azure.net", NULL};

const char *release_vault_name(ReleaseVault v) {
    switch (v) {
    case RELEASE_VAULT_KEYVAULT: return "keyvault";
    case RELEASE_VAULT_MANAGEDHSM: return "managedhsm";
    default: return "unknown";
    }
}

void released_key_info_done(ReleasedKeyInfo *k) {
    if (!k)
        return;
    free(k->kid);
    free(k->version);
    free(k->kty);
    free(k->enc);
    free(k->request_kid);
    free(k->signer);
    cJSON_Delete(k->header);
    cJSON_Delete(k->payload);
    *k = (ReleasedKeyInfo){0};
}

_printf_(3, 4) static int fail(char **reterr, int r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (reterr) {
        free(*reterr);
        if (vasprintf(reterr, fmt, ap) < 0)
            *reterr = NULL;
    }
    va_end(ap);
    return r;
}

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

/* Key Vault's header has typ and x5t; Managed HSM's has neither (fact 5). */
static ReleaseVault vault_by_header(const cJSON *h) {
    if (!h)
        return RELEASE_VAULT_UNKNOWN;
    bool typ = cJSON_GetObjectItemCaseSensitive(h, "typ") != NULL;
    bool x5t = cJSON_GetObjectItemCaseSensitive(h, "x5t") != NULL;
    if (typ && x5t)
        return RELEASE_VAULT_KEYVAULT;
    if (!typ && !x5t && cJSON_GetObjectItemCaseSensitive(h, "x5t#S256"))
        return RELEASE_VAULT_MANAGEDHSM;
    return RELEASE_VAULT_UNKNOWN;
}

/* Fills info from a payload; -EBADMSG when it is not a release payload. */
static int describe_payload(cJSON *payload, ReleasedKeyInfo *info, char **reterr) {
    const cJSON *request = json_get_object(payload, "request");
    const cJSON *bundle = json_get_object(json_get_object(payload, "response"), "key");
    const cJSON *jwk = json_get_object(bundle, "key");
    const cJSON *attrs = json_get_object(bundle, "attributes");
    info->payload = payload;
    if (!jwk)
        return fail(reterr, -EBADMSG, "the release payload has no response.key.key");
    info->kid = dup_or_null(json_get_string(jwk, "kid"));
    info->kty = dup_or_null(json_get_string(jwk, "kty"));
    info->enc = dup_or_null(json_get_string(request, "enc"));
    info->request_kid = dup_or_null(json_get_string(request, "kid"));
    info->key_hsm = json_get_string(jwk, "key_hsm");
    if (!info->kid || !info->kty)
        return fail(reterr, -EBADMSG, "the released key has no kid or kty");
    const char *slash = strrchr(info->kid, '/');
    const char *keys = strstr(info->kid, "/keys/");
    /* .../keys/<name>/<version>: the version is the segment after the name */
    if (keys && slash && slash > keys + 6 && slash[1])
        info->version = strdup(slash + 1);
    info->has_enabled = json_get_bool(attrs, "enabled", &info->enabled) == 0;
    info->has_exportable = json_get_bool(attrs, "exportable", &info->exportable) == 0;
    info->has_exp = json_get_int(attrs, "exp", &info->exp) == 0;
    return 0;
}

/* The host of an https:// URL, without port, into buf. */
static bool url_host(const char *url, char *buf, size_t size) {
    const char *p = NULL;
    if (startswith(url, "https://"))
        p = url + 8;
    else if (startswith(url, "http://"))
        p = url + 7;
    if (!p)
        return false;
    size_t n = strcspn(p, ":/?#");
    if (n == 0 || n >= size)
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return true;
}

static bool in_family(const char *host, const char *const *families) {
    size_t hn = strlen(host);
    for (const char *const *f = families; *f; f++) {
        size_t fn = strlen(*f);
        if (hn > fn + 1 && host[hn - fn - 1] == '.' && streq(host + hn - fn, *f))
            return true;
    }
    return false;
}

/* The name the signer must carry: the configured one, or the payload key's host. */
static int signer_name(const ReleaseJwsCheck *chk, const ReleasedKeyInfo *info, char *buf,
                       size_t size, char **reterr) {
    const char *const *families = chk->host_families ? chk->host_families : azure_families;
    if (chk->signer_host) {
        snprintf(buf, size, "%s", chk->signer_host);
        return 0;
    }
    const char *url = info->request_kid ? info->request_kid : info->kid;
    if (!url || !url_host(url, buf, size))
        return fail(reterr, -EBADMSG,
                    "the release payload names no key URL to check the "
                    "signer against");
    if (!in_family(buf, families))
        return fail(reterr, -EKEYREJECTED,
                    "the released key's host %s is not under %s or %s: not a Key Vault or "
                    "Managed HSM (a test vault needs [keyvault] signer-host)",
                    buf, families[0], families[1] ? families[1] : families[0]);
    return 0;
}

static void note_signer(const JoseJws *jws, ReleasedKeyInfo *info) {
    _cleanup_x509_ X509 *leaf = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *rest = NULL;
    if (jose_x5c_parse(cJSON_GetObjectItemCaseSensitive(jws->header, "x5c"), &leaf, &rest, NULL) <
        0)
        return;
    char *s = X509_NAME_oneline(X509_get_subject_name(leaf), NULL, 0);
    if (s) {
        info->signer = strdup(s);
        OPENSSL_free(s);
    }
}

int release_trust_load(const char *path, STACK_OF(X509) * *ret) {
    const char *file = path ? path : X509_get_default_cert_file();
    _cleanup_free_ uint8_t *data = NULL;
    size_t len = 0;
    int r = read_file(file, FILE_MAX_EVIDENCE, &data, &len);
    if (r < 0)
        return log_error_errno(path ? -EINVAL : -EIO, "cannot read the %s '%s': %s",
                               path ? "CA bundle" : "system certificate store", file,
                               file_error_string(r, FILE_MAX_EVIDENCE));
    r = crypto_load_cert_chain(data, len, ret);
    if (r < 0)
        return log_error_errno(path ? -EINVAL : -EIO, "'%s' holds no PEM certificate", file);
    if (path)
        log_notice("release responses are checked against the CA bundle '%s'", path);
    return 0;
}

/* {"value": "<JWS>"} or the JWS itself, without surrounding whitespace. */
static char *extract_compact(const char *body, size_t len) {
    size_t start = 0, end = len;
    strip_blanks(body, &start, &end);
    body += start;
    len = end - start;
    if (len > 0 && body[0] == '{') {
        _cleanup_json_ cJSON *doc = NULL;
        if (json_parse(body, len, &doc) < 0)
            return NULL;
        const char *v = json_get_string(doc, "value");
        return v ? strdup(v) : NULL;
    }
    return strndup(body, len);
}

int release_jws_verify(const char *body, size_t len, const ReleaseJwsCheck *chk,
                       ReleasedKeyInfo *info, char **reterr) {
    _cleanup_free_ char *compact = extract_compact(body, len);
    _cleanup_jws_ JoseJws *jws = NULL;
    const char *why = NULL;
    char host[256];
    *info = (ReleasedKeyInfo){0};
    if (reterr)
        *reterr = NULL;
    if (!compact)
        return fail(reterr, -EPROTO, /* not an answer at all: garbled in transit, say */
                    "the release response is neither {\"value\": JWS} nor a compact JWS");
    int r = jose_jws_parse(compact, strlen(compact), &jws, &why);
    if (r < 0)
        return fail(reterr, r == -ENOMEM ? r : -EBADMSG, "the release JWS: %s", why ? why : "?");
    info->header = cJSON_Duplicate(jws->header, true);
    info->vault = vault_by_header(jws->header);
    cJSON *payload = cJSON_Duplicate(jws->payload, true);
    if (!info->header || !payload) {
        cJSON_Delete(payload);
        return -ENOMEM;
    }
    r = describe_payload(payload, info, reterr);
    if (r < 0)
        return r;
    if (!(jws->alg & RELEASE_ALGS))
        return fail(reterr, -EPROTONOSUPPORT,
                    "the release JWS is signed with '%s', not RS256, PS256, ES256 or ES384",
                    jws->alg_name ? jws->alg_name : "?");
    r = signer_name(chk, info, host, sizeof(host), reterr);
    if (r < 0)
        return r;
    note_signer(jws, info);
    char *err = NULL;
    r = jose_jws_verify_x5c(jws, chk->trusted, chk->at, host, RELEASE_ALGS, &err);
    if (r < 0) {
        r = fail(reterr, r, "%s", err ? err : "the release JWS does not verify");
        free(err);
        return r;
    }
    if (!info->key_hsm)
        return fail(reterr, -EBADMSG, "the verified release response carries no key_hsm");
    return 0;
}

int release_payload_decode(const char *text, size_t len, ReleasedKeyInfo *info, char **reterr) {
    cJSON *payload = NULL;
    *info = (ReleasedKeyInfo){0};
    if (reterr)
        *reterr = NULL;
    len = rstrip_blanks(text, len);
    if (json_parse(text, len, &payload) < 0) {
        _cleanup_free_ uint8_t *raw = NULL;
        size_t n = 0;
        if (base64url_decode(text, len, &raw, &n) < 0 || json_parse(raw, n, &payload) < 0)
            return fail(reterr, -EBADMSG,
                        "neither a release JWS, a release payload nor its base64url segment");
    }
    return describe_payload(payload, info, reterr);
}
