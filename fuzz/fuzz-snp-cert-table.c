/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the certificate table of an extended report / configfs auxblob
 * (snp_cert_table_parse), and what the agent does with each entry: load it
 * as a certificate and read the VCEK/VLEK extensions (snp_cert_info).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "common/crypto.h"
#include "fuzz/fuzz.h"
#include "snp/snp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    SnpCertEntry e[SNP_CERT_TABLE_MAX];
    size_t n = 0;
    int k = snp_cert_table_parse(data, size, e, SNP_CERT_TABLE_MAX, &n);
    if (k < 0) {
        if (k != -EBADMSG && k != -E2BIG)
            abort();
        return 0;
    }
    if (n > SNP_CERT_TABLE_MAX)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (e[i].data < data || e[i].len > size || (size_t)(e[i].data - data) > size - e[i].len)
            abort(); /* every entry lies inside the input */
        _cleanup_x509_ X509 *cert = NULL;
        if (crypto_load_cert(e[i].data, e[i].len, &cert) == 0) {
            SnpCertInfo info;
            (void)snp_cert_info(cert, &info);
        }
    }
    return 0;
}
