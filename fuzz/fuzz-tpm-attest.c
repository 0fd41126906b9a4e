/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the TPM structures `verify --tpm-quote` reads from files
 * (tpm/tpm-attest.c): TPMS_ATTEST (tpm_attest_parse, and the PCR digest over
 * its selection), TPMT_SIGNATURE or raw RSASSA bytes (tpm_signature_parse,
 * for 2048- and 3072-bit keys), and the AK as a marshalled TPM2B_PUBLIC
 * (tpm_public_to_pkey, tpm_public_name). An AK in PEM/DER is OpenSSL's
 * parser alone (crypto_load_pubkey), and slow under the fuzzer: left out.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "fuzz/fuzz.h"
#include "tpm/tpm.h"

static void attest(const uint8_t *data, size_t size) {
    TpmAttest a;
    int k = tpm_attest_parse(data, size, &a);
    if (k < 0) {
        if (k != -EBADMSG && k != -EPROTONOSUPPORT)
            abort();
        return;
    }
    if (a.n_sel > TPM_MAX_BANKS || a.signer_name_len > sizeof(a.signer_name) ||
        a.extra_data_len > sizeof(a.extra_data) || a.pcr_digest_len > sizeof(a.pcr_digest) ||
        a.certified_name_len > sizeof(a.certified_name) ||
        a.certified_qname_len > sizeof(a.certified_qname))
        abort();
    /* every selected PCR "known" as zero: the digest over the quote's own selection */
    static TpmPcrBank banks[TPM_MAX_BANKS];
    for (size_t i = 0; i < a.n_sel; i++) {
        banks[i].hash = a.sel[i].hash;
        banks[i].mask = a.sel[i].mask;
    }
    uint8_t out[TPM_MAX_DIGEST];
    size_t out_len = 0;
    if (a.n_sel > 0 && tpm_hash_size(a.sel[0].hash) > 0)
        (void)tpm_pcr_digest(a.sel[0].hash, a.sel, a.n_sel, banks, a.n_sel, out, &out_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    attest(data, size);

    TpmSignature sig;
    static const size_t key_bytes[] = {256, 384};
    for (size_t i = 0; i < 2; i++)
        if (tpm_signature_parse(data, size, key_bytes[i], &sig) == 0 &&
            sig.sig_len > sizeof(sig.sig))
            abort();

    _cleanup_pkey_ EVP_PKEY *key = NULL;
    (void)tpm_public_to_pkey(data, size, &key);
    uint8_t name[2 + TPM_MAX_DIGEST];
    size_t name_len = 0;
    if (tpm_public_name(data, size, name, &name_len) == 0 && name_len > sizeof(name))
        abort();
    return 0;
}
