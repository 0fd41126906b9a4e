/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * For fuzz targets of code that reads HTTP responses: linked with
 * -Wl,--wrap=http_request, every request the module makes is answered, 200,
 * with the next part of the fuzz input (parts separated by FUZZ_HTTP_SEP),
 * and with 404 once the input is used up. No network, no libcurl.
 */
#ifndef CVM_FUZZ_FUZZ_HTTP_H
#define CVM_FUZZ_FUZZ_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "common/http.h"

#define FUZZ_HTTP_SEP "\n--next-response--\n"

/* The responses for the requests that follow (data must outlive them). */
void fuzz_http_set(const uint8_t *data, size_t size);
/* How many requests were answered since fuzz_http_set(). */
unsigned fuzz_http_requests(void);

int __wrap_http_request(const HttpConfig *cfg, const HttpRequest *req, HttpResponse *ret,
                        HttpError *reterr);

#endif
