/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the TD quote parser (tdx/tdx-quote.c) and, on what parses, the
 * DCAP verification path (PEM chain, signatures) at a fixed time.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "fuzz/fuzz.h"
#include "tdx/tdx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    TdxQuote q;
    char *err = NULL;
    int r = tdx_quote_parse(data, size, &q, &err);
    if (r < 0) {
        if (r != -EBADMSG && r != -EPROTONOSUPPORT && r != -EINVAL)
            abort();
        free(err);
        return 0;
    }
    /* everything parsed lies inside the input and is accounted for */
    if (q.signed_data != data || q.signed_len > size ||
        q.signed_len + 4 + q.sig_data_len + q.trailing_len != size || q.pck_chain < data ||
        q.pck_chain + q.pck_chain_len > data + size || q.qe_report_raw < data ||
        q.qe_report_raw + TDX_QE_REPORT_SIZE > data + size)
        abort();
    TdxVerifyParams p = {.at = 1780272000};
    TdxVerifyResult res;
    r = tdx_quote_verify(&q, &p, &res);
    if (r < 0 && r != -EKEYREJECTED && r != -EBADMSG && r != -ENOMEM)
        abort();
    if (r < 0 && r != -ENOMEM && !res.error)
        abort(); /* a refusal always says why */
    tdx_verify_result_done(&res);
    return 0;
}
