/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The HTTP client every endpoint goes through (libcurl). It retries what is
 * worth retrying — connection errors, timeouts, 429 and 5xx — with exponential
 * backoff and jitter, honouring Retry-After, inside an overall deadline; it
 * never retries other 4xx. TLS verification is always on; plain http is
 * allowed only for the IMDS link-local address, and for loopback when the
 * caller explicitly allows it (test endpoints). Proxies come from the
 * environment (libcurl's http_proxy/https_proxy/no_proxy); IMDS never goes
 * through a proxy, nor does a loopback endpoint. Response bodies are capped.
 */
#ifndef CVM_COMMON_HTTP_H
#define CVM_COMMON_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct HttpConfig {
    const char *ca_bundle;          /* PEM file of trusted CAs; NULL = the system store */
    uint64_t timeout_ms;            /* one attempt, connect included (0 = 30 s) */
    uint64_t deadline_ms;           /* all attempts and waits together (0 = 120 s) */
    unsigned max_attempts;          /* 0 = 5 */
    uint64_t backoff_initial_ms;    /* first wait (0 = 500 ms); doubles each time */
    uint64_t backoff_max_ms;        /* cap on one wait (0 = 30 s) */
    size_t max_response;            /* body cap (0 = 4 MiB) */
    bool allow_plain_http_loopback; /* http:// to 127.0.0.0/8, ::1, localhost */
} HttpConfig;

typedef struct HttpRequest {
    const char *method; /* "GET", "POST", ... (NULL = GET, or POST with a body) */
    const char *url;
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    const void *body;
    size_t body_len;
} HttpRequest;

typedef struct HttpResponse {
    long status;
    uint8_t *body; /* NUL-terminated after body_len; wiped on free */
    size_t body_len;
    char *content_type;
} HttpResponse;

/* What went wrong, for the message the user sees. */
typedef struct HttpError {
    long status;       /* last HTTP status, 0 when no response */
    char *code;        /* the service's error.code, when its body had one */
    char *message;     /* the service's error.message, or curl's error text */
    unsigned attempts; /* how many requests were sent */
} HttpError;

/*
 * Performs req. On a 2xx answer returns 0 and fills *ret (free with
 * http_response_done). Otherwise returns:
 *   -EINVAL        the URL is not allowed (scheme, plain http outside IMDS/loopback)
 *   -EACCES        401 or 403
 *   -ENOENT        404
 *   -EBADMSG       another 4xx (the service refused the request)
 *   -EAGAIN        429 or 5xx still after the last attempt or the deadline
 *   -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH   network failure after retries
 *   -ECONNABORTED  TLS failed: the server's certificate is not trusted (see
 *                  HttpConfig.ca_bundle) or not for that host; not retried
 *   -EPROTO        the response was too large or otherwise unusable
 * and fills *reterr (free with http_error_done) when given. For a non-2xx
 * answer the body is also returned in *ret when ret is not NULL.
 */
int http_request(const HttpConfig *cfg, const HttpRequest *req, HttpResponse *ret,
                 HttpError *reterr);

void http_response_done(HttpResponse *r);
void http_error_done(HttpError *e);
/* Frees the process's libcurl handle (kept between requests for its CA cache). */
void http_cleanup(void);
/* One line for a log message, e.g. "HTTP 403 Forbidden: AccessDenied: ..." (static buffer). */
const char *http_error_string(const HttpError *e);

/*
 * The one line a user sees when a request for url failed with r (static
 * buffer): a refused URL says which rule refused it, a TLS failure names the
 * host, libcurl's reason and the [http] ca-bundle key, anything else the
 * HTTP status or network error.
 */
const char *http_failure_string(const char *url, int r, const HttpError *e);

/* True when the URL may be requested under cfg (scheme and host rules above). */
bool http_url_allowed(const HttpConfig *cfg, const char *url);

#endif
