/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the DCAP collateral `verify --tdx-quote` reads from files
 * (tdx/tdx-verify.c) — TCB info JSON, QE identity JSON (cJSON, then the
 * hand-written scan for the signed raw text), the collateral signing chain
 * (PEM) and a CRL — as parts of the input separated by FUZZ_HTTP_SEP (an
 * empty part is an absent file). The collateral is only looked at once the
 * quote verifies, so the quote is a fixed real one (FUZZ_TDX_QUOTE, read
 * once) verified at a time inside its chain's validity.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "fuzz/fuzz-http.h"
#include "fuzz/fuzz.h"
#include "tdx/tdx.h"

#define AT_2025_11_01 1761955200

static const TdxQuote *quote(void) {
    static uint8_t *data;
    static TdxQuote q;
    if (!data) {
        size_t len = 0;
        char *err = NULL;
        if (read_file(FUZZ_TDX_QUOTE, FILE_MAX_EVIDENCE, &data, &len) < 0 ||
            tdx_quote_parse(data, len, &q, &err) < 0) {
            fprintf(stderr, "fuzz-tdx-collateral: cannot load the quote '%s'\n", FUZZ_TDX_QUOTE);
            abort();
        }
    }
    return &q;
}

/* The next part of the input (data NULL when empty or used up). */
static TdxBlob next_part(const uint8_t **p, size_t *left) {
    static const size_t seplen = sizeof(FUZZ_HTTP_SEP) - 1;
    TdxBlob b = {0};
    size_t n = *left;
    for (size_t i = 0; *left >= seplen && i <= *left - seplen; i++)
        if (memcmp(*p + i, FUZZ_HTTP_SEP, seplen) == 0) {
            n = i;
            break;
        }
    if (n > 0) {
        b.data = *p;
        b.len = n;
    }
    size_t used = n < *left ? n + seplen : n;
    *p += used;
    *left -= used;
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const TdxQuote *q = quote();
    TdxVerifyParams p = {.at = AT_2025_11_01};
    TdxBlob crl;
    p.tcb_info = next_part(&data, &size);
    p.qe_identity = next_part(&data, &size);
    p.collateral_chain = next_part(&data, &size);
    crl = next_part(&data, &size);
    if (crl.data) {
        p.crls = &crl;
        p.n_crls = 1;
    }
    TdxVerifyResult res;
    int r = tdx_quote_verify(q, &p, &res);
    if (r < 0 && r != -EKEYREJECTED && r != -EBADMSG && r != -ENOMEM)
        abort();
    if (r < 0 && r != -ENOMEM && !res.error)
        abort(); /* a refusal always says why */
    if (r == 0 && !res.quote_signature_ok)
        abort();
    tdx_verify_result_done(&res);
    return 0;
}
