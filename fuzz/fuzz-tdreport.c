/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the TDREPORT parser and its hash checks (tdx/tdx-report.c),
 * on the input as it is and, when it is long enough, at HCL offset 0x20.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "fuzz/fuzz.h"
#include "tdx/tdx.h"

static void one(const uint8_t *data, size_t size, bool trailing) {
    TdxTdReport t;
    bool a = false, b = false;
    int r = tdx_report_parse(data, size, trailing, &t);
    if (r < 0) {
        if (r != -EBADMSG && r != -EPROTONOSUPPORT)
            abort();
        return;
    }
    if (size < TDX_TDREPORT_SIZE || t.report_type != TDX_REPORT_TYPE_TDX)
        abort();
    r = tdx_report_check_hashes(&t, &a, &b);
    if ((r == 0) != (a && b))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    one(data, size, false);
    one(data, size, true);
    if (size > 0x20)
        one(data + 0x20, size - 0x20, true);
    return 0;
}
