/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cvm-agent verify --tpm-quote F --tpm-signature F --ak-pub F [--nonce HEX] [--pcrs F]
 *
 * Offline TPM quote verification: the AK signature over the TPMS_ATTEST, the
 * nonce in extraData, and (with --pcrs) the quoted PCR digest against PCR
 * values from a file (JSON {"sha256": {"0": "hex", ...}} as `verify
 * --event-log --json` prints under "pcrs", or tpm2_pcrread YAML).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/verify.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "tpm/tpm.h"

static int read_input(const char *what, const char *path, uint8_t **ret, size_t *ret_len) {
    int r = read_file(path, FILE_MAX_EVIDENCE, ret, ret_len);
    if (r < 0)
        return log_error_errno(-EINVAL, "cannot read %s '%s': %s", what, path, strerror(-r));
    return 0;
}

static int load_ak(const char *path, EVP_PKEY **ret) {
    _cleanup_free_ uint8_t *data = NULL;
    size_t len = 0;
    int r = read_input("AK public key", path, &data, &len);
    if (r < 0)
        return r;
    /* PEM/DER SubjectPublicKeyInfo or certificate, else a marshalled TPM2B_PUBLIC */
    if (crypto_load_pubkey(data, len, ret) >= 0 || tpm_public_to_pkey(data, len, ret) >= 0)
        return 0;
    return log_error_errno(-EINVAL,
                           "'%s' is neither a PEM/DER public key or certificate nor a "
                           "TPM2B_PUBLIC",
                           path);
}

static void add_selection(cJSON *out, const TpmAttest *a) {
    cJSON *sel = cJSON_AddObjectToObject(out, "pcr_selection");
    if (!sel)
        return;
    for (size_t i = 0; i < a->n_sel; i++) {
        const char *name = tpm_hash_name(a->sel[i].hash);
        char buf[16];
        if (!name) {
            snprintf(buf, sizeof(buf), "0x%04x", a->sel[i].hash);
            name = buf;
        }
        cJSON *arr = cJSON_AddArrayToObject(sel, name);
        for (unsigned p = 0; arr && p < TPM_PCR_COUNT; p++)
            if (a->sel[i].mask & (1u << p))
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(p));
    }
}

int verify_tpm_quote(AgentContext *ctx, const VerifyOptions *o, cJSON *out) {
    _cleanup_free_ uint8_t *attest = NULL, *sigdata = NULL, *nonce = NULL, *pcrtext = NULL;
    _cleanup_pkey_ EVP_PKEY *ak = NULL;
    size_t attest_len = 0, sig_len = 0, nonce_len = 0, pcr_len = 0, n_banks = 0;
    TpmPcrBank banks[TPM_MAX_BANKS];
    TpmSignature sig;
    TpmAttest info = {0};
    char reason[512] = "";
    int r;

    (void)ctx;
    if (!o->tpm_signature || !o->ak_pub)
        return log_error_errno(-EINVAL, "--tpm-quote needs --tpm-signature and --ak-pub");
    if (read_input("quote", o->tpm_quote, &attest, &attest_len) < 0 ||
        read_input("quote signature", o->tpm_signature, &sigdata, &sig_len) < 0 ||
        load_ak(o->ak_pub, &ak) < 0)
        return -EINVAL;
    if (o->nonce && hex_decode(o->nonce, strlen(o->nonce), &nonce, &nonce_len) < 0)
        return log_error_errno(-EINVAL, "--nonce wants hex, not '%s'", o->nonce);
    if (o->pcrs) {
        if (read_input("PCR values", o->pcrs, &pcrtext, &pcr_len) < 0)
            return -EINVAL;
        r = tpm_pcrs_parse((const char *)pcrtext, pcr_len, banks, &n_banks);
        if (r < 0)
            return log_error_errno(-EINVAL,
                                   "'%s' is not a PCR file (JSON {\"sha256\":{\"0\":\"hex\"}} or "
                                   "tpm2_pcrread YAML); run with -v for the line",
                                   o->pcrs);
    }

    json_add_string(out, "evidence", "tpm-quote");
    r = tpm_signature_parse(sigdata, sig_len, (size_t)EVP_PKEY_get_size(ak), &sig);
    if (r < 0)
        return verify_fail(out, r,
                           "signature is neither a TPMT_SIGNATURE (RSASSA/RSAPSS) nor %d raw "
                           "RSASSA bytes",
                           EVP_PKEY_get_size(ak));
    json_add_string(out, "signature_scheme", sig.scheme == 0x0014 ? "rsassa" : "rsapss");
    json_add_string(out, "signature_hash", tpm_hash_name(sig.hash));

    r = tpm_quote_verify(ak, attest, attest_len, &sig, o->nonce ? (nonce ?: (uint8_t *)"") : NULL,
                         nonce_len, o->pcrs ? banks : NULL, n_banks, &info, reason, sizeof(reason));
    if (info.type) {
        json_add_hex(out, "nonce", info.extra_data, info.extra_data_len);
        json_add_hex(out, "signer", info.signer_name, info.signer_name_len);
        json_add_int(out, "clock", (int64_t)info.clock);
        json_add_int(out, "reset_count", info.reset_count);
        json_add_int(out, "restart_count", info.restart_count);
        json_add_bool(out, "safe", info.safe);
        char fw[32];
        snprintf(fw, sizeof(fw), "%016llx", (unsigned long long)info.firmware_version);
        json_add_string(out, "firmware_version", fw);
        add_selection(out, &info);
        json_add_hex(out, "pcr_digest", info.pcr_digest, info.pcr_digest_len);
    }
    json_add_bool(out, "nonce_checked", o->nonce != NULL);
    json_add_bool(out, "pcrs_checked", o->pcrs != NULL);
    if (r < 0)
        return verify_fail(out, r, "%s", reason[0] ? reason : "quote verification failed");
    return verify_pass(out);
}
