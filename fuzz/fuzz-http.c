/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The http_request() stand-in of fuzz-http.h.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz-http.h"

static const uint8_t *next_part;
static size_t left;
static bool exhausted;
static unsigned requests;

void fuzz_http_set(const uint8_t *data, size_t size) {
    next_part = data;
    left = size;
    exhausted = false;
    requests = 0;
}

unsigned fuzz_http_requests(void) {
    return requests;
}

/* The next part of the input and its length; false when none is left. */
static bool take_part(const uint8_t **ret, size_t *ret_len) {
    static const size_t seplen = sizeof(FUZZ_HTTP_SEP) - 1;
    if (exhausted)
        return false;
    *ret = next_part;
    *ret_len = left;
    exhausted = true;
    for (size_t i = 0; left >= seplen && i <= left - seplen; i++)
        if (memcmp(next_part + i, FUZZ_HTTP_SEP, seplen) == 0) {
            *ret_len = i;
            next_part += i + seplen;
            left -= i + seplen;
            exhausted = false;
            break;
        }
    return true;
}

int __wrap_http_request(const HttpConfig *cfg, const HttpRequest *req, HttpResponse *ret,
                        HttpError *reterr) {
    const uint8_t *part;
    size_t len;
    (void)cfg;
    if (!req || !req->url)
        abort(); /* the modules never send a request without a URL */
    requests++;
    if (ret)
        *ret = (HttpResponse){0};
    if (!take_part(&part, &len)) {
        if (reterr)
            *reterr = (HttpError){.status = 404, .attempts = 1};
        return -ENOENT;
    }
    if (reterr)
        *reterr = (HttpError){.status = 200, .attempts = 1};
    if (!ret)
        return 0;
    /* an exact-size copy (plus the NUL the real client adds), so ASan sees overreads */
    ret->body = malloc(len + 1);
    if (!ret->body)
        return -ENOMEM;
    if (len)
        memcpy(ret->body, part, len);
    ret->body[len] = '\0';
    ret->body_len = len;
    ret->status = 200;
    return 0;
}
