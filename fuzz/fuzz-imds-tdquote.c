/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: Azure IMDS's /acc/tdquote answer as tdx_imds_get_quote()
 * reads it (tdx/tdx-guest.c: JSON {"quote": base64url}), served from the
 * input by fuzz-http.c, and the quote it returns through tdx_quote_parse().
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz-http.h"
#include "fuzz/fuzz.h"
#include "tdx/tdx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t tdreport[TDX_TDREPORT_SIZE];
    HttpConfig http = {0};
    uint8_t *quote = NULL;
    size_t quote_len = 0;
    char *err = NULL;
    fuzz_http_set(data, size);
    int k = tdx_imds_get_quote(&http, "http://169.254.169.254", tdreport, &quote, &quote_len, &err);
    if (k == 0) {
        if (!quote || quote_len == 0 || quote_len > TDX_QUOTE_MAX_SIZE)
            abort();
        TdxQuote q;
        char *perr = NULL;
        (void)tdx_quote_parse(quote, quote_len, &q, &perr);
        free(perr);
    } else if (quote)
        abort();
    free(quote);
    free(err);
    return 0;
}
