/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: a certificate as KDS, THIM, a cache file or a quote's
 * certification data delivers it (DER or PEM, crypto_load_cert), then the
 * AMD VCEK/VLEK extensions (snp_cert_info) and the Intel SGX PCK extensions
 * (tdx_pck_info_from_cert) read from it; and the input as a PEM chain.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "fuzz/fuzz.h"
#include "snp/snp.h"
#include "tdx/tdx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    _cleanup_x509_ X509 *cert = NULL;
    if (crypto_load_cert(data, size, &cert) == 0) {
        SnpCertInfo info;
        TdxPckInfo pck;
        if (snp_cert_info(cert, &info) == 0 &&
            (memchr(info.product_name, 0, sizeof(info.product_name)) == NULL ||
             memchr(info.csp_id, 0, sizeof(info.csp_id)) == NULL ||
             info.hwid_len > sizeof(info.hwid)))
            abort(); /* strings terminated, lengths in bounds */
        (void)tdx_pck_info_from_cert(cert, &pck);
    }
    _cleanup_x509_stack_ STACK_OF(X509) *chain = NULL;
    (void)crypto_load_cert_chain(data, size, &chain);
    return 0;
}
