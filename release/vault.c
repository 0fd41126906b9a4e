/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Key Vault / Managed HSM data plane: the key's metadata (for its release
 * policy) and the release call (azure-wire-formats.md §3.2). Retries of 429
 * and 5xx (Retry-After honoured) are common/http's.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/secbuf.h"
#include "release/release.h"

#define VAULT_BODY_MAX  (1024u * 1024)
#define VAULT_MAX_PAGES 1000u

static bool valid_segment(const char *s, size_t n) {
    if (n == 0 || n > 127)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

void key_ref_done(KeyRef *k) {
    if (!k)
        return;
    free(k->vault);
    free(k->host);
    free(k->name);
    free(k->version);
    *k = (KeyRef){0};
}

int key_ref_parse(const char *url, KeyRef *ret) {
    *ret = (KeyRef){0};
    const char *p = startswith(url, "https://")  ? url + 8
                    : startswith(url, "http://") ? url + 7
                                                 : NULL;
    if (!p)
        return -EINVAL;
    size_t auth = strcspn(p, "/?#");
    size_t hostlen = strcspn(p, ":/?#");
    if (hostlen == 0 || p[auth] != '/' || !startswith(p + auth, "/keys/"))
        return -EINVAL;
    const char *name = p + auth + 6;
    size_t nl = strcspn(name, "/?#");
    const char *version = name[nl] == '/' ? name + nl + 1 : NULL;
    size_t vl = version ? strcspn(version, "/?#") : 0;
    if (!valid_segment(name, nl) || (version && vl > 0 && !valid_segment(version, vl)) ||
        (version && version[vl] != '\0') || (!version && name[nl] != '\0'))
        return -EINVAL;
    ret->vault = strndup(url, (size_t)(p - url) + auth);
    ret->host = strndup(p, hostlen);
    ret->name = strndup(name, nl);
    ret->version = version && vl > 0 ? strndup(version, vl) : NULL;
    size_t hl = hostlen;
    static const char mhsm[] = ".managedhsm.azure.net";
    ret->managed_hsm = hl > strlen(mhsm) && strncmp(p + hl - strlen(mhsm), mhsm, strlen(mhsm)) == 0;
    if (!ret->vault || !ret->host || !ret->name || (version && vl > 0 && !ret->version)) {
        key_ref_done(ret);
        return -ENOMEM;
    }
    return 0;
}

const char *key_ref_resource(const KeyRef *k) {
    return k->managed_hsm ? "https://managedhsm.azure.net" : "https://vault.azure.net";
}

/* error.code (+ "/" + innererror.code) and error.message of a vault answer. */
static void vault_error(const HttpResponse *resp, const HttpError *herr, VaultError *err) {
    _cleanup_json_ cJSON *doc = NULL;
    err->status = herr->status;
    if (resp->body && json_parse(resp->body, resp->body_len, &doc) == 0) {
        const cJSON *e = json_get_object(doc, "error");
        const char *code = json_get_string(e, "code");
        const char *inner = json_get_string(json_get_object(e, "innererror"), "code");
        const char *msg = json_get_string(e, "message");
        snprintf(err->code, sizeof(err->code), "%s%s%s", code ? code : "", inner ? "/" : "",
                 inner ? inner : "");
        snprintf(err->message, sizeof(err->message), "%s", msg ? msg : "");
    }
    if (!*err->message && herr->message)
        snprintf(err->message, sizeof(err->message), "%s", herr->message);
}

static int vault_call(const HttpConfig *http, const char *method, const char *url,
                      const char *bearer, const char *body, HttpResponse *resp, VaultError *err) {
    _cleanup_(secure_free_stringp) char *auth = NULL;
    if (asprintf(&auth, "Authorization: Bearer %s", bearer) < 0)
        return -ENOMEM;
    const char *headers[] = {auth, "Accept: application/json",
                             body ? "Content-Type: application/json" : NULL, NULL};
    HttpConfig cfg = *http;
    if (!cfg.max_response)
        cfg.max_response = VAULT_BODY_MAX;
    HttpRequest req = {.method = method,
                       .url = url,
                       .headers = headers,
                       .body = body,
                       .body_len = body ? strlen(body) : 0};
    HttpError herr = {0};
    *err = (VaultError){0};
    int r = http_request(&cfg, &req, resp, &herr);
    if (r < 0) {
        vault_error(resp, &herr, err);
        if (!*err->message)
            snprintf(err->message, sizeof(err->message), "%s", http_failure_string(url, r, &herr));
        http_response_done(resp);
    }
    http_error_done(&herr);
    return r;
}

static char *key_url(const KeyRef *key, const char *suffix, const char *api_version) {
    char *url = NULL;
    if (asprintf(&url, "%s/keys/%s%s%s%s?api-version=%s", key->vault, key->name,
                 key->version ? "/" : "", key->version ? key->version : "", suffix,
                 api_version) < 0)
        return NULL;
    return url;
}

/* GET url, a JSON answer; not_json is err->message when it is not JSON. */
static int vault_get_url(const HttpConfig *http, const char *url, const char *bearer,
                         const char *not_json, cJSON **ret, VaultError *err) {
    HttpResponse resp = {0};
    int r = vault_call(http, "GET", url, bearer, NULL, &resp, err);
    if (r < 0)
        return r;
    r = json_parse(resp.body, resp.body_len, ret);
    http_response_done(&resp);
    if (r < 0)
        snprintf(err->message, sizeof(err->message), "%s", not_json);
    return r < 0 ? -EPROTO : 0;
}

int vault_get_key(const HttpConfig *http, const KeyRef *key, const char *api_version,
                  const char *bearer, cJSON **ret, VaultError *err) {
    _cleanup_free_ char *url = key_url(key, "", api_version);
    if (!url)
        return -ENOMEM;
    return vault_get_url(http, url, bearer, "the key's metadata is not JSON", ret, err);
}

int vault_release(const HttpConfig *http, const KeyRef *key, const char *api_version,
                  const char *bearer, const char *target, ReleaseEnc enc, const char *nonce,
                  char **ret, size_t *ret_len, VaultError *err) {
    _cleanup_free_ char *url = key_url(key, "/release", api_version);
    _cleanup_json_ cJSON *body = cJSON_CreateObject();
    HttpResponse resp = {0};
    if (!url || !body || json_add_string(body, "target", target) < 0 ||
        json_add_string(body, "enc", release_enc_to_string(enc)) < 0 ||
        (nonce && json_add_string(body, "nonce", nonce) < 0))
        return -ENOMEM;
    _cleanup_(secure_free_stringp) char *text = cJSON_PrintUnformatted(body);
    if (!text)
        return -ENOMEM;
    int r = vault_call(http, "POST", url, bearer, text, &resp, err);
    if (r < 0)
        return r;
    /* a NUL inside is no JSON and no JWS: hand over only what precedes it */
    *ret = strndup((const char *)resp.body, resp.body_len);
    http_response_done(&resp);
    if (!*ret)
        return -ENOMEM;
    *ret_len = strlen(*ret);
    return 0;
}

int vault_bundle_policy(const cJSON *bundle, cJSON **ret) {
    const cJSON *rp = json_get_object(bundle, "release_policy");
    const char *data = json_get_string(rp, "data");
    if (!data)
        return -ENOENT;
    return release_policy_parse(data, strlen(data), ret, NULL);
}

/* The version of the page's newest enabled entry into *best, when newer than
 * *best_created (ties: the later entry, as the service lists oldest first). */
static int pick_newest(const cJSON *page, char **best, int64_t *best_created) {
    const cJSON *value = json_get_array(page, "value");
    const cJSON *item;
    cJSON_ArrayForEach(item, value) {
        const cJSON *attrs = json_get_object(item, "attributes");
        const char *kid = json_get_string(item, "kid");
        bool enabled = true;
        int64_t created = 0;
        if (!kid || !strrchr(kid, '/'))
            return -EPROTO;
        (void)json_get_bool(attrs, "enabled", &enabled);
        (void)json_get_int(attrs, "created", &created);
        if (!enabled || created < *best_created)
            continue;
        char *v = strdup(strrchr(kid, '/') + 1);
        if (!v)
            return -ENOMEM;
        free(*best);
        *best = v;
        *best_created = created;
    }
    return 0;
}

int vault_newest_version(const HttpConfig *http, const KeyRef *key, const char *api_version,
                         const char *bearer, char **ret, unsigned *ret_pages, VaultError *err) {
    _cleanup_free_ char *url = NULL;
    _cleanup_free_ char *prefix = NULL;
    char *best = NULL;
    int64_t best_created = INT64_MIN;
    unsigned pages = 0;
    int r = 0;
    if (asprintf(&url, "%s/keys/%s/versions?api-version=%s&maxresults=25", key->vault, key->name,
                 api_version) < 0 ||
        asprintf(&prefix, "%s/", key->vault) < 0)
        return -ENOMEM;
    while (url && r == 0) {
        _cleanup_json_ cJSON *page = NULL;
        /* a nextLink elsewhere would send our bearer token to another host */
        if (!startswith(url, prefix) || ++pages > VAULT_MAX_PAGES) {
            snprintf(err->message, sizeof(err->message), "%s",
                     pages > VAULT_MAX_PAGES ? "the version list does not end"
                                             : "the version list's nextLink leaves the vault");
            r = -EPROTO;
            break;
        }
        r = vault_get_url(http, url, bearer, "the vault's answer is not JSON", &page, err);
        if (r < 0)
            break;
        r = pick_newest(page, &best, &best_created);
        const char *next = json_get_string(page, "nextLink");
        free(url);
        url = next ? strdup(next) : NULL;
        if (next && !url)
            r = -ENOMEM;
    }
    if (r == 0 && !best) {
        snprintf(err->message, sizeof(err->message), "the key has no enabled version");
        r = -ENOENT;
    }
    if (r < 0) {
        free(best);
        return r;
    }
    *ret = best;
    if (ret_pages)
        *ret_pages = pages;
    return 0;
}

int vault_rotation_policy(const HttpConfig *http, const KeyRef *key, const char *api_version,
                          const char *bearer, cJSON **ret, VaultError *err) {
    _cleanup_free_ char *url = NULL;
    if (asprintf(&url, "%s/keys/%s/rotationpolicy?api-version=%s", key->vault, key->name,
                 api_version) < 0)
        return -ENOMEM;
    return vault_get_url(http, url, bearer, "the vault's answer is not JSON", ret, err);
}
