/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bearer token for the vault (azure-wire-formats.md §3.1): from IMDS's
 * managed-identity endpoint (Metadata: true, resource URL-encoded, never
 * through a proxy), or for deployments outside Azure from a file or an
 * environment variable — never from the command line, where other users see
 * it. IMDS tokens are cached in memory until shortly before they expire.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "release/release.h"

#define IMDS_DEFAULT        "http://169.254.169.254"
#define IMDS_API_VERSION    "2018-02-01"
#define IDENTITY_REFRESH_S  300 /* refetch this long before expires_on */
#define IDENTITY_CACHE_SIZE 8
#define TOKEN_MAX           (32u * 1024)

typedef struct CachedToken {
    char *key; /* resource + identity selector */
    SecretBuf *token;
    int64_t expires_on;
} CachedToken;

static CachedToken cache[IDENTITY_CACHE_SIZE];

void identity_cache_clear(void) {
    for (size_t i = 0; i < ELEMENTSOF(cache); i++) {
        free(cache[i].key);
        secret_free(cache[i].token);
        cache[i] = (CachedToken){0};
    }
}

int identity_source_from_string(const char *s, IdentitySource *ret) {
    if (streq_ptr(s, "imds"))
        *ret = IDENTITY_IMDS;
    else if (streq_ptr(s, "file"))
        *ret = IDENTITY_FILE;
    else if (streq_ptr(s, "env"))
        *ret = IDENTITY_ENV;
    else
        return -EINVAL;
    return 0;
}

/* A token as given: surrounding whitespace and an optional "Bearer " dropped. */
static int clean_token(SecretBuf *raw, SecretBuf **ret) {
    size_t start = 0, end = raw->len;
    strip_blanks(raw->data, &start, &end);
    if (end - start > 7 && strncasecmp((char *)raw->data + start, "Bearer ", 7) == 0)
        start += 7;
    if (end == start)
        return -EINVAL;
    for (size_t i = start; i < end; i++)
        if (raw->data[i] < 0x21 || raw->data[i] > 0x7e)
            return -EINVAL;
    *ret = secret_dup(raw->data + start, end - start);
    return *ret ? 0 : -ENOMEM;
}

static int token_from_file(const char *path, SecretBuf **ret) {
    _cleanup_secret_ SecretBuf *raw = NULL;
    if (!path)
        return log_error_errno(-EINVAL, "[identity] source = file needs [identity] token-file");
    int r = read_file_secret(path, TOKEN_MAX, &raw);
    if (r < 0)
        return log_error_errno(-EINVAL, "cannot read the bearer token file '%s': %s", path,
                               file_error_string(r, TOKEN_MAX));
    r = clean_token(raw, ret);
    if (r == -EINVAL)
        log_error("the bearer token file '%s' holds no token (one line of printable text)", path);
    return r;
}

static int token_from_env(const char *name, SecretBuf **ret) {
    const char *v = getenv(name ? name : "CVM_AGENT_BEARER_TOKEN");
    if (!v || !*v)
        return log_error_errno(-EINVAL,
                               "[identity] source = env, but the environment variable %s is "
                               "not set",
                               name ? name : "CVM_AGENT_BEARER_TOKEN");
    _cleanup_secret_ SecretBuf *raw = secret_dup(v, strlen(v));
    if (!raw)
        return -ENOMEM;
    int r = clean_token(raw, ret);
    if (r == -EINVAL)
        log_error("the environment variable %s holds no token",
                  name ? name : "CVM_AGENT_BEARER_TOKEN");
    return r;
}

/* "resource=<enc>[&client_id=<enc>|...]" */
static char *identity_query(const IdentityConfig *cfg, const char *resource) {
    CURL *c = curl_easy_init();
    char *res = c ? curl_easy_escape(c, resource, 0) : NULL;
    const char *name = cfg->client_id    ? "client_id"
                       : cfg->object_id  ? "object_id"
                       : cfg->msi_res_id ? "msi_res_id"
                                         : NULL;
    const char *value = cfg->client_id   ? cfg->client_id
                        : cfg->object_id ? cfg->object_id
                                         : cfg->msi_res_id;
    char *id = name && c ? curl_easy_escape(c, value, 0) : NULL;
    char *q = NULL;
    if (res && (!name || id) &&
        asprintf(&q, "resource=%s%s%s%s%s", res, name ? "&" : "", name ? name : "", name ? "=" : "",
                 id ? id : "") < 0)
        q = NULL;
    curl_free(res);
    curl_free(id);
    curl_easy_cleanup(c);
    return q;
}

static CachedToken *cache_find(const char *key, int64_t now) {
    for (size_t i = 0; i < ELEMENTSOF(cache); i++)
        if (cache[i].key && streq(cache[i].key, key) &&
            cache[i].expires_on - IDENTITY_REFRESH_S > now)
            return &cache[i];
    return NULL;
}

static void cache_store(char *key, const SecretBuf *token, int64_t expires_on) {
    size_t slot = 0;
    for (size_t i = 0; i < ELEMENTSOF(cache); i++)
        if (!cache[i].key || streq(cache[i].key, key)) {
            slot = i;
            break;
        } else if (cache[i].expires_on < cache[slot].expires_on)
            slot = i;
    free(cache[slot].key);
    secret_free(cache[slot].token);
    cache[slot] = (CachedToken){
        .key = key, .token = secret_dup(token->data, token->len), .expires_on = expires_on};
    if (!cache[slot].token) {
        free(cache[slot].key);
        cache[slot] = (CachedToken){0};
    }
}

/* IMDS gives expires_on as a string of seconds (sometimes a number). */
static int get_time(const cJSON *obj, const char *key, int64_t *ret) {
    const char *s = json_get_string(obj, key);
    uint64_t v;
    if (s)
        return parse_u64(s, INT64_MAX, &v) < 0 ? -EBADMSG : (*ret = (int64_t)v, 0);
    return json_get_int(obj, key, ret) < 0 ? -EBADMSG : 0;
}

static void imds_error(const HttpResponse *resp, long status, IdentityError *err) {
    _cleanup_json_ cJSON *doc = NULL;
    err->status = status;
    if (resp->body && json_parse(resp->body, resp->body_len, &doc) == 0) {
        const char *e = json_get_string(doc, "error");
        const char *d = json_get_string(doc, "error_description");
        snprintf(err->error, sizeof(err->error), "%s", e ? e : "");
        snprintf(err->description, sizeof(err->description), "%s", d ? d : "");
    }
}

static int parse_answer(const HttpResponse *resp, int64_t now, SecretBuf **ret,
                        int64_t *expires_on) {
    _cleanup_json_ cJSON *doc = NULL;
    if (json_parse(resp->body, resp->body_len, &doc) < 0)
        return log_error_errno(-EPROTO, "IMDS answered with malformed JSON (%zu bytes)",
                               resp->body_len);
    const char *tok = json_get_string(doc, "access_token");
    int64_t exp = 0, in = 0;
    if (!tok || !*tok)
        return log_error_errno(-EPROTO, "IMDS answered without access_token");
    if (get_time(doc, "expires_on", &exp) < 0) {
        if (get_time(doc, "expires_in", &in) < 0)
            return log_error_errno(-EPROTO, "IMDS answered without expires_on/expires_in");
        exp = now + in;
    }
    *expires_on = exp;
    *ret = secret_dup(tok, strlen(tok));
    return *ret ? 0 : -ENOMEM;
}

static int token_from_imds(const IdentityConfig *cfg, const HttpConfig *http, const char *resource,
                           int64_t now, SecretBuf **ret, IdentityError *err) {
    _cleanup_free_ char *query = identity_query(cfg, resource);
    _cleanup_free_ char *url = NULL;
    if (!query)
        return -ENOMEM;
    const char *base = cfg->imds_url ? cfg->imds_url : IMDS_DEFAULT;
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    if (asprintf(&url, "%.*s/metadata/identity/oauth2/token?api-version=" IMDS_API_VERSION "&%s",
                 (int)bl, base, query) < 0)
        return -ENOMEM;
    _cleanup_free_ char *key = strdup(url);
    if (!key)
        return -ENOMEM;
    CachedToken *c = cache_find(key, now);
    if (c) {
        *ret = secret_dup(c->token->data, c->token->len);
        log_debug("managed-identity token for %s from the in-memory cache", resource);
        return *ret ? 0 : -ENOMEM;
    }
    static const char *const headers[] = {"Metadata: true", "Accept: application/json", NULL};
    HttpRequest req = {.method = "GET", .url = url, .headers = headers};
    HttpResponse resp = {0};
    HttpError herr = {0};
    int r = http_request(http, &req, &resp, &herr);
    if (r < 0) {
        if (r == -EACCES || r == -ENOENT || r == -EBADMSG) {
            imds_error(&resp, herr.status, err);
            log_error("IMDS refused a managed-identity token for %s: HTTP %ld %s%s%s", resource,
                      herr.status, err->error, *err->description ? ": " : "", err->description);
            r = -EACCES;
        } else
            log_error("IMDS (%s) is unreachable: %s", base, http_failure_string(url, r, &herr));
        http_response_done(&resp);
        http_error_done(&herr);
        return r;
    }
    http_error_done(&herr);
    int64_t exp = 0;
    r = parse_answer(&resp, now, ret, &exp);
    http_response_done(&resp);
    if (r < 0)
        return r;
    if (exp <= now)
        log_warning("IMDS gave a token that expires at %lld, not after now (%lld): check the "
                    "clock (chrony/NTP)",
                    (long long)exp, (long long)now);
    else
        cache_store(TAKE_PTR(key), *ret, exp);
    return 0;
}

int identity_token(const IdentityConfig *cfg, const HttpConfig *http, const char *resource,
                   int64_t now, SecretBuf **ret, IdentityError *err) {
    *err = (IdentityError){0};
    int n = !!cfg->client_id + !!cfg->object_id + !!cfg->msi_res_id;
    if (n > 1)
        return log_error_errno(-EINVAL, "[identity] names more than one of client-id, "
                                        "object-id and msi-res-id: give one");
    switch (cfg->source) {
    case IDENTITY_FILE: return token_from_file(cfg->token_file, ret);
    case IDENTITY_ENV: return token_from_env(cfg->token_env, ret);
    default: return token_from_imds(cfg, http, resource, now, ret, err);
    }
}
