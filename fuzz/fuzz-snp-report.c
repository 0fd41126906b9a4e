/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the SEV-SNP report parser and the certificate-table parser
 * (snp/snp-report.c), and the pure helpers a parsed report feeds (TCB decode,
 * KDS URL).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "snp/snp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    SnpReport *r = malloc(sizeof(*r));
    const char *err = NULL;
    if (!r)
        return 0;
    int k = snp_report_parse(data, size, r, &err);
    if (k == 0) {
        if (size < SNP_REPORT_SIZE || r->version < 2 || r->version > 5)
            abort();
        char *url = NULL;
        SnpProduct p = r->product == SNP_PRODUCT_UNKNOWN ? SNP_PRODUCT_MILAN : r->product;
        if (snp_kds_vcek_url(NULL, r, p, &url) == 0 && !url)
            abort();
        free(url);
        snp_report_set_product(r, SNP_PRODUCT_TURIN);
        if (!r->reported_tcb.has_fmc)
            abort();
    } else if ((k != -EBADMSG && k != -EPROTONOSUPPORT) || !err)
        abort();
    free(r);

    SnpCertEntry e[SNP_CERT_TABLE_MAX];
    size_t n = 0;
    k = snp_cert_table_parse(data, size, e, SNP_CERT_TABLE_MAX, &n);
    if (k == 0) {
        for (size_t i = 0; i < n; i++)
            if (e[i].data < data || e[i].len > size || (size_t)(e[i].data - data) > size - e[i].len)
                abort(); /* every entry lies inside the input */
    } else if (k != -EBADMSG && k != -E2BIG)
        abort();
    return 0;
}
