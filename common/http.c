/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http.h"
#include "json.h"
#include "log.h"
#include "secbuf.h"
#include "timing.h"

#define IMDS_HOST "169.254.169.254"

typedef struct Body {
    uint8_t *data;
    size_t len, cap, max;
    bool too_large;
} Body;

typedef struct Attempt {
    Body body;
    long status;
    uint64_t retry_after_ms; /* 0 = none given */
    char *content_type;
    CURLcode curl_rc;
    char errbuf[CURL_ERROR_SIZE];
} Attempt;

static void body_wipe(Body *b) {
    if (b->data)
        secure_wipe(b->data, b->cap);
    free(b->data);
    *b = (Body){0};
}

static void attempt_done(Attempt *a) {
    body_wipe(&a->body);
    free(a->content_type);
    a->content_type = NULL;
}

/* libcurl 7.88 does not stop a transfer of unknown size at MAXFILESIZE: cap here. */
static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
    Body *b = userdata;
    size_t n = size * nmemb;
    if (n > b->max - b->len) {
        b->too_large = true;
        return 0; /* aborts the transfer */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        uint8_t *grown = malloc(cap);
        if (!grown)
            return 0;
        if (b->data) {
            memcpy(grown, b->data, b->len);
            secure_wipe(b->data, b->cap);
            free(b->data);
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = 0;
    return n;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *userdata) {
    Attempt *a = userdata;
    size_t n = size * nitems;
    static const char name[] = "retry-after:";
    if (n > sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
        char value[32] = "";
        size_t vlen = n - (sizeof(name) - 1);
        if (vlen >= sizeof(value))
            vlen = sizeof(value) - 1;
        memcpy(value, buf + sizeof(name) - 1, vlen);
        value[vlen] = '\0';
        char *s = value + strspn(value, " \t");
        s[strcspn(s, " \t\r\n")] = '\0';
        uint64_t secs;
        /* delta-seconds only; an HTTP-date falls back to our own backoff */
        if (parse_u64(s, 86400, &secs) == 0)
            a->retry_after_ms = secs ? secs * 1000 : 1;
    }
    return n;
}

static bool host_is_loopback(const char *host) {
    struct in_addr a4;
    if (streq(host, "localhost") || streq(host, "::1") || streq(host, "[::1]"))
        return true;
    /* an IPv4 literal in 127.0.0.0/8, not a name that merely starts with "127." */
    return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

bool http_url_allowed(const HttpConfig *cfg, const char *url) {
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool ok = false;
    if (!u)
        return false;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    if (strcasecmp(scheme, "https") == 0)
        ok = true;
    else if (strcasecmp(scheme, "http") == 0)
        ok = streq(host, IMDS_HOST) || (cfg->allow_plain_http_loopback && host_is_loopback(host));
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

/* IMDS is link-local and a loopback endpoint is this machine: neither is ever reached
 * through a proxy, whatever http_proxy/https_proxy say. */
static bool url_bypasses_proxy(const char *url) {
    CURLU *u = curl_url();
    char *host = NULL;
    bool bypass = false;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        bypass = streq(host, IMDS_HOST) || host_is_loopback(host);
    curl_free(host);
    curl_url_cleanup(u);
    return bypass;
}

/*
 * One easy handle for the process, its options reset for every attempt:
 * libcurl keeps the parsed CA store in the handle (CURLOPT_CA_CACHE_TIMEOUT,
 * a day by default, per CA file), so only the first HTTPS request of a run
 * parses the bundle — about 22 ms of CPU for Debian's 140 roots, paid by each
 * request when every request had its own handle. libcurl caches only without
 * a CA directory, which Debian's libcurl sets by default beside its bundle:
 * set_trust() keeps one of the two. Connections are still not reused (FORBID_REUSE): each attempt
 * connects afresh, as before.
 */
static CURL *process_curl;

static CURL *easy_handle(void) {
    if (process_curl)
        curl_easy_reset(process_curl);
    else
        process_curl = curl_easy_init();
    return process_curl;
}

/* [http] ca-bundle alone when set (its documented meaning; cached); else the
 * system roots from libcurl's hashed CA directory alone when there is one,
 * which OpenSSL reads one root at a time, as a chain needs it, instead of
 * parsing the whole bundle (the same roots on Debian); else curl's defaults. */
static void set_trust(CURL *curl, const HttpConfig *cfg) {
    const char *dir = NULL;
    if (cfg->ca_bundle) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, cfg->ca_bundle);
        curl_easy_setopt(curl, CURLOPT_CAPATH, NULL);
    } else if (curl_easy_getinfo(curl, CURLINFO_CAPATH, &dir) == CURLE_OK && dir &&
               access(dir, R_OK | X_OK) == 0)
        curl_easy_setopt(curl, CURLOPT_CAINFO, NULL);
}

void http_cleanup(void) {
    curl_easy_cleanup(process_curl);
    process_curl = NULL;
}

static int perform_once(const HttpConfig *cfg, const HttpRequest *req, uint64_t timeout_ms,
                        size_t max_response, Attempt *a) {
    CURL *curl = easy_handle();
    struct curl_slist *headers = NULL;
    if (!curl)
        return -ENOMEM;
    a->body.max = max_response;
    for (const char *const *h = req->headers; h && *h; h++) {
        struct curl_slist *n = curl_slist_append(headers, *h);
        if (!n) {
            curl_slist_free_all(headers);
            return -ENOMEM;
        }
        headers = n;
    }
    const char *method = req->method ? req->method : (req->body ? "POST" : "GET");
    curl_easy_setopt(curl, CURLOPT_URL, req->url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    set_trust(curl, cfg);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_response);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, a->errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a->body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "cvm-agent/" PACKAGE_VERSION);
    if (url_bypasses_proxy(req->url))
        curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    if (headers)
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (req->body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    if (!streq(method, "GET") && !(streq(method, "POST") && req->body))
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);

    uint64_t sent = timing_now_ns();
    a->curl_rc = curl_easy_perform(curl);
    timing_add(TIMING_ENDPOINT, timing_now_ns() - sent);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
    char *ct = NULL;
    if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
        a->content_type = strdup(ct);
    curl_slist_free_all(headers);
    return 0;
}

/* -errno for a network-level failure of one attempt */
static int curl_errno(CURLcode rc) {
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return -EHOSTUNREACH;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        /* the endpoint could not be authenticated: retrying will not help, but
         * it says nothing about the evidence either (exit 3, not "no") */
        return -ECONNABORTED;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR: return -ECONNRESET;
    default: return -EPROTO;
    }
}

static bool retryable(const Attempt *a, int neterr) {
    if (a->curl_rc != CURLE_OK)
        return neterr == -ETIMEDOUT || neterr == -ECONNREFUSED || neterr == -ECONNRESET ||
               neterr == -EHOSTUNREACH;
    return a->status == 429 || a->status >= 500;
}

static uint64_t jitter(uint64_t ms) {
    /* "equal jitter": half fixed, half random, so waits never collapse to zero */
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
        rnd = (uint32_t)now_monotonic_ms();
    return ms / 2 + (ms / 2 + 1) * rnd / UINT32_MAX;
}

static void sleep_ms(uint64_t ms) {
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void fill_error(HttpError *e, const Attempt *a, unsigned attempts) {
    if (!e)
        return;
    http_error_done(e);
    e->status = a->curl_rc == CURLE_OK ? a->status : 0;
    e->attempts = attempts;
    if (a->curl_rc != CURLE_OK) {
        e->message = strdup(a->errbuf[0] ? a->errbuf : curl_easy_strerror(a->curl_rc));
        return;
    }
    if (a->body.too_large) {
        e->message = strdup("response larger than the configured cap");
        return;
    }
    /* the service's {"error":{"code","message"}} when present */
    _cleanup_json_ cJSON *j = NULL;
    if (a->body.len && json_parse(a->body.data, a->body.len, &j) == 0) {
        const cJSON *err = json_get_object(j, "error");
        const char *code = err ? json_get_string(err, "code") : NULL;
        const char *msg = err ? json_get_string(err, "message") : NULL;
        if (code)
            e->code = strdup(code);
        if (msg)
            e->message = strdup(msg);
    }
}

int http_request(const HttpConfig *cfg, const HttpRequest *req, HttpResponse *ret,
                 HttpError *reterr) {
    uint64_t timeout = cfg->timeout_ms ? cfg->timeout_ms : 30000;
    uint64_t deadline_len = cfg->deadline_ms ? cfg->deadline_ms : 120000;
    unsigned max_attempts = cfg->max_attempts ? cfg->max_attempts : 5;
    uint64_t backoff = cfg->backoff_initial_ms ? cfg->backoff_initial_ms : 500;
    uint64_t backoff_max = cfg->backoff_max_ms ? cfg->backoff_max_ms : 30000;
    size_t max_response = cfg->max_response ? cfg->max_response : 4u * 1024 * 1024;
    uint64_t deadline = now_monotonic_ms() + deadline_len;
    Attempt a = {0};
    unsigned attempts = 0;
    int r = -ETIMEDOUT;

    if (ret)
        *ret = (HttpResponse){0};

    if (!http_url_allowed(cfg, req->url)) {
        if (reterr) {
            http_error_done(reterr);
            reterr->message = strdup("URL not allowed: https is required (plain http only for "
                                     "IMDS, and loopback when allowed)");
        }
        return -EINVAL;
    }

    for (;;) {
        uint64_t now = now_monotonic_ms();
        if (now >= deadline) {
            break;
        }
        attempt_done(&a);
        a = (Attempt){0};
        uint64_t this_timeout = deadline - now < timeout ? deadline - now : timeout;
        r = perform_once(cfg, req, this_timeout, max_response, &a);
        if (r < 0)
            break;
        attempts++;
        int neterr = a.curl_rc == CURLE_OK ? 0 : curl_errno(a.curl_rc);
        if (a.body.too_large) {
            r = -EPROTO;
            break;
        }
        if (a.curl_rc == CURLE_OK && a.status >= 200 && a.status < 300) {
            r = 0;
            break;
        }
        if (a.curl_rc == CURLE_OK) {
            r = a.status == 429 || a.status >= 500   ? -EAGAIN
                : a.status == 401 || a.status == 403 ? -EACCES
                : a.status == 404                    ? -ENOENT
                : a.status >= 400                    ? -EBADMSG
                                                     : -EPROTO;
        } else
            r = neterr;
        if (!retryable(&a, neterr) || attempts >= max_attempts)
            break;
        uint64_t wait = a.retry_after_ms ? a.retry_after_ms : jitter(backoff);
        if (now_monotonic_ms() + wait >= deadline) {
            log_debug("%s: not retrying, the next attempt would pass the deadline", req->url);
            break;
        }
        log_info("%s: %s, retrying in %llu ms (attempt %u of %u)", req->url,
                 a.curl_rc == CURLE_OK ? "service busy or failing" : curl_easy_strerror(a.curl_rc),
                 (unsigned long long)wait, attempts + 1, max_attempts);
        sleep_ms(wait);
        if (backoff < backoff_max)
            backoff = backoff * 2 > backoff_max ? backoff_max : backoff * 2;
    }

    if (r != 0)
        fill_error(reterr, &a, attempts);
    if (ret && (r == 0 || (a.curl_rc == CURLE_OK && a.status))) {
        *ret = (HttpResponse){
            .status = a.status,
            .body = a.body.data,
            .body_len = a.body.len,
            .content_type = a.content_type,
        };
        if (!ret->body) { /* always give callers a NUL-terminated body */
            ret->body = calloc(1, 1);
            if (!ret->body)
                r = r ? r : -ENOMEM;
        }
        a.body = (Body){0};
        a.content_type = NULL;
    }
    attempt_done(&a);
    return r;
}

void http_response_done(HttpResponse *r) {
    if (!r)
        return;
    if (r->body)
        secure_wipe(r->body, r->body_len);
    free(r->body);
    free(r->content_type);
    *r = (HttpResponse){0};
}

void http_error_done(HttpError *e) {
    if (!e)
        return;
    free(e->code);
    free(e->message);
    *e = (HttpError){0};
}

const char *http_error_string(const HttpError *e) {
    static __thread char buf[1024];
    if (e->status)
        snprintf(buf, sizeof(buf), "HTTP %ld%s%s%s%s", e->status, e->code ? ": " : "",
                 e->code ? e->code : "", e->message ? ": " : "", e->message ? e->message : "");
    else
        snprintf(buf, sizeof(buf), "%s", e->message ? e->message : "no response");
    return buf;
}

const char *http_failure_string(const char *url, int r, const HttpError *e) {
    static __thread char buf[1280];
    char *host = NULL;
    CURLU *u = curl_url();
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK)
        curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (r == -EINVAL)
        snprintf(buf, sizeof(buf),
                 "'%s' is not allowed: https is required (plain http only for the IMDS address "
                 "" IMDS_HOST ", and for loopback with [http] allow-plain-http-loopback)",
                 url);
    else if (r == -ECONNABORTED)
        snprintf(buf, sizeof(buf),
                 "TLS with '%s' failed: %s; if it uses a private CA, name the CA's PEM file in "
                 "[http] ca-bundle",
                 host ? host : url, e && e->message ? e->message : "no detail");
    else
        snprintf(buf, sizeof(buf), "GET '%s': %s", url,
                 e ? http_error_string(e) : strerror(r < 0 ? -r : r));
    curl_free(host);
    curl_url_cleanup(u);
    return buf;
}
