/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared between the files of tpm/ only (never included outside tpm/).
 */
#ifndef CVM_TPM_TPM_INTERNAL_H
#define CVM_TPM_TPM_INTERNAL_H

#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tpm2_types.h>

#include "tpm/tpm.h"

/* TPM 2.0 Part 2 §6.2 TPM_GENERATED_VALUE and §6.9 TPM_ST. */
#define TPM_GENERATED_MAGIC  0xff544347u
#define TPM_ST_QUOTE         0x8018u
#define TPM_ST_CERTIFY       0x8017u
#define TPM_CC_POLICY_PCR    0x0000017Fu /* Part 2 §6.5.2 */
#define TPM_CC_POLICY_AUTH   0x0000016Au
#define TPM_SIG_RSASSA       0x0014u
#define TPM_SIG_RSAPSS       0x0016u
#define TPM_PCR_SELECT_BYTES 3 /* sizeofSelect for 24 PCRs, as the Azure vTPM uses */

/* OpenSSL digest name for a TPM_HASH_* ("SHA256"), or NULL. */
const char *tpm_hash_md(uint16_t hash);

/* TpmPcrSelection[] -> TPML_PCR_SELECTION (sizeofSelect 3). */
void tpm_sel_to_tpml(const TpmPcrSelection *sel, size_t n_sel, TPML_PCR_SELECTION *ret);

/* Template of the transfer key (azure-wire-formats.md §4) with authPolicy. */
void tpm_transfer_key_template(const uint8_t policy[32], TPM2B_PUBLIC *ret);
/* Template of a sealed keyed-hash object with authPolicy. */
void tpm_seal_template(const uint8_t policy[32], TPM2B_PUBLIC *ret);
/* TPMT_PUBLIC of an external RSA verification key. */
int tpm_public_from_pkey_raw(EVP_PKEY *key, TPM2B_PUBLIC *ret);

/* A TCTI that times each command (common/timing.h, TIMING_TPM) and forwards
 * to inner, a Tss2_TctiLdr context it takes over; NULL without memory. */
TSS2_TCTI_CONTEXT *tpm_timed_tcti_new(TSS2_TCTI_CONTEXT *inner);
/* Frees the wrapper and finalizes the inner TCTI. */
void tpm_timed_tcti_free(TSS2_TCTI_CONTEXT *ctx);

#endif
