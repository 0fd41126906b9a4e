/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the responses snp_certs_obtain() reads (snp/snp-certs.c) —
 * Azure THIM's JSON {"vcekCert", "certificateChain", "tcbm"}, then AMD KDS's
 * VCEK (DER) and cert_chain (PEM) — served from the input by fuzz-http.c,
 * parts separated by FUZZ_HTTP_SEP; and the VCEK extensions of what it
 * accepts.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "fuzz/fuzz-http.h"
#include "fuzz/fuzz.h"
#include "snp/snp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static SnpReport r;
    SnpFetchConfig cfg = {.use_thim = true, .use_kds = true};
    if (r.version == 0) {
        /* a VCEK-signed Milan report; THIM's "tcbm" is compared with its REPORTED_TCB */
        r.version = 2;
        r.signing_key = SNP_SIGNING_KEY_VCEK;
        memset(r.chip_id, 0xa5, sizeof(r.chip_id));
        snp_tcb_decode(UINT64_C(0x7308000000000003), SNP_PRODUCT_MILAN, &r.reported_tcb);
        r.product = SNP_PRODUCT_MILAN;
    }
    fuzz_http_set(data, size);
    _cleanup_x509_ X509 *signer = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *chain = NULL;
    SnpCertSource src = SNP_SOURCE_NONE;
    int k = snp_certs_obtain(&cfg, &r, SNP_PRODUCT_MILAN, NULL, 0, &signer, &chain, &src);
    if (k == 0) {
        if (!signer || !chain || (src != SNP_SOURCE_THIM && src != SNP_SOURCE_KDS))
            abort();
        SnpCertInfo info;
        (void)snp_cert_info(signer, &info);
    } else if (signer || chain)
        abort();
    if (fuzz_http_requests() > 3)
        abort(); /* THIM, KDS VCEK, KDS chain: nothing is fetched twice */
    return 0;
}
