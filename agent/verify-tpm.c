/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cvm-agent verify --tpm-quote F --tpm-signature F (--ak-pub F | --hcl-report F)
 *                  (--nonce HEX | --no-nonce-check) [--pcrs F] [--event-log F]
 *
 * Offline TPM quote verification: the AK signature over the TPMS_ATTEST (the
 * AK is the HCL report's HCLAkPub when an HCL report is given: the hardware
 * report vouches for that key only, so any other AK would leave the quote
 * unbound to this VM), the
 * nonce in extraData (without one a replayed quote would pass, so skipping it
 * must be asked for and is recorded), and the quoted PCR digest against PCR
 * values from a file (JSON {"sha256": {"0": "hex", ...}} as `verify
 * --event-log --json` prints under "pcrs", or tpm2_pcrread YAML) or from the
 * replay of --event-log.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/args.h"
#include "agent/verify.h"
#include "attest/attest.h"
#include "common/crypto.h"
#include "common/jose.h"
#include "common/json.h"
#include "common/log.h"
#include "tpm/tpm.h"

static int load_ak(const char *path, EVP_PKEY **ret) {
    _cleanup_free_ uint8_t *data = NULL;
    size_t len = 0;
    int r = agent_read_file("AK public key", path, &data, &len);
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

/* HCLAkPub of the HCL report in path. Whether the report itself is
 * authentic is the HCL report's check, which runs beside this one. */
static int hcl_ak(const char *path, cJSON *out, EVP_PKEY **ret) {
    _cleanup_free_ uint8_t *d = NULL;
    _cleanup_json_ cJSON *claims = NULL;
    HclReport h;
    const char *err = NULL;
    size_t n = 0;
    int r = agent_read_file("HCL report", path, &d, &n);
    if (r < 0)
        return r;
    if (hcl_report_parse(d, n, &h, &err) < 0 || hcl_runtime_claims(&h, &claims) < 0) {
        json_add_string(out, "failed_check", "ak");
        return verify_fail(out, -EKEYREJECTED, "no AK: the HCL report '%s' %s", path,
                           err ? err : "has no JSON runtime claims");
    }
    const cJSON *jwk = hcl_find_jwk(claims, "HCLAkPub");
    if (!jwk || jose_jwk_to_pkey(jwk, ret, &err) < 0) {
        json_add_string(out, "failed_check", "ak");
        return verify_fail(out, -EKEYREJECTED,
                           "no AK: the HCL report '%s' has no usable HCLAkPub%s%s", path,
                           jwk ? ": " : "", jwk && err ? err : "");
    }
    return 0;
}

int verify_tpm_ak(const VerifyOptions *o, cJSON *out, EVP_PKEY **ret) {
    _cleanup_pkey_ EVP_PKEY *given = NULL, *hcl = NULL;
    int r;
    if (o->ak_pub && (r = load_ak(o->ak_pub, &given)) < 0)
        return r;
    if (!o->hcl_report) {
        if (!given)
            return log_error_errno(-EINVAL, "--tpm-quote needs --ak-pub or --hcl-report");
        *ret = TAKE_PTR(given);
        return json_add_string(out, "ak_source", "--ak-pub") < 0 ? -ENOMEM : 0;
    }
    if ((r = hcl_ak(o->hcl_report, out, &hcl)) < 0)
        return r;
    if (json_add_string(out, "ak_source", "HCLAkPub of the HCL report") < 0)
        return -ENOMEM;
    if (given && EVP_PKEY_eq(given, hcl) != 1) {
        json_add_string(out, "failed_check", "ak_pub");
        return verify_fail(out, -EKEYREJECTED,
                           "the AK public key '%s' is not the HCL report's HCLAkPub: a quote by "
                           "it would not be this VM's",
                           o->ak_pub);
    }
    if (json_add_bool(out, "ak_pub_matches_hcl", given != NULL) < 0)
        return -ENOMEM;
    *ret = TAKE_PTR(hcl);
    return 0;
}

int verify_tpm_certify(EVP_PKEY *ak, const char *msg, const char *sig, const char *pub,
                       cJSON *out) {
    _cleanup_free_ uint8_t *attest = NULL, *sigdata = NULL, *pubdata = NULL;
    size_t attest_len = 0, sig_len = 0, pub_len = 0, name_len = 0;
    uint8_t name[2 + TPM_MAX_DIGEST];
    TpmSignature s;
    char reason[512] = "";
    int r;
    if ((r = agent_read_file("certify info", msg, &attest, &attest_len)) < 0 ||
        (r = agent_read_file("certify signature", sig, &sigdata, &sig_len)) < 0 ||
        (r = agent_read_file("certified key", pub, &pubdata, &pub_len)) < 0)
        return r;
    if (tpm_public_name(pubdata, pub_len, name, &name_len) < 0) {
        json_add_string(out, "failed_check", "certified_key");
        return verify_fail(out, -EKEYREJECTED, "'%s' is not a TPM2B_PUBLIC", pub);
    }
    if (json_add_hex(out, "certified_name", name, name_len) < 0)
        return -ENOMEM;
    r = tpm_signature_parse(sigdata, sig_len, (size_t)EVP_PKEY_get_size(ak), &s);
    if (r >= 0)
        r = tpm_certify_verify(ak, attest, attest_len, &s, pubdata, pub_len, reason,
                               sizeof(reason));
    if (r < 0) {
        /* a genuine certification of another key: the key file is the odd one */
        bool genuine = reason[0] && tpm_signature_verify(ak, &s, attest, attest_len) == 0;
        json_add_string(out, "failed_check", genuine ? "certified_key" : "certify");
        return verify_fail(out, r, "%s",
                           reason[0] ? reason : "the signature is not a TPMT_SIGNATURE");
    }
    return verify_pass(out);
}

/* Why a quote failed, for failed_check: the signature (or structure), the
 * nonce, or the PCR digest, found by checking again with less. */
static const char *quote_failure(EVP_PKEY *ak, const uint8_t *attest, size_t len,
                                 const TpmSignature *sig, const uint8_t *nonce, size_t nonce_len) {
    char unused[8];
    if (tpm_quote_verify(ak, attest, len, sig, NULL, 0, NULL, 0, NULL, unused, sizeof(unused)) < 0)
        return "quote";
    if (nonce && tpm_quote_verify(ak, attest, len, sig, nonce, nonce_len, NULL, 0, NULL, unused,
                                  sizeof(unused)) < 0)
        return "nonce";
    return "pcr_digest";
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

/* The quoted values: --pcrs, or the replay of --event-log (into out.event_log). */
static int expected_pcrs(const VerifyOptions *o, cJSON *out, TpmPcrBank *banks, size_t *n_banks) {
    if (o->event_log) {
        cJSON *ev = cJSON_AddObjectToObject(out, "event_log");
        if (!ev)
            return -ENOMEM;
        int r = verify_event_log_for_quote(o, ev, banks, n_banks);
        if (r == -EINVAL || r == -ENOMEM)
            return r;
        if (r < 0) {
            const char *why = json_get_string(ev, "reason");
            return verify_fail(out, r, "event log: %s", why ? why : "not verified");
        }
        return 0;
    }
    if (!o->pcrs)
        return 0;
    _cleanup_free_ uint8_t *text = NULL;
    size_t len = 0;
    int r = agent_read_file("--pcrs", o->pcrs, &text, &len);
    if (r < 0)
        return r;
    if (tpm_pcrs_parse((const char *)text, len, banks, n_banks) < 0)
        return log_error_errno(-EINVAL,
                               "'%s' is not a PCR file (JSON {\"sha256\":{\"0\":\"hex\"}} or "
                               "tpm2_pcrread YAML); run with -v for the line",
                               o->pcrs);
    return 0;
}

static void describe(cJSON *out, const TpmAttest *info) {
    char fw[32];
    json_add_hex(out, "nonce", info->extra_data, info->extra_data_len);
    json_add_hex(out, "signer", info->signer_name, info->signer_name_len);
    json_add_int(out, "clock", (int64_t)info->clock);
    json_add_int(out, "reset_count", info->reset_count);
    json_add_int(out, "restart_count", info->restart_count);
    json_add_bool(out, "safe", info->safe);
    snprintf(fw, sizeof(fw), "%016llx", (unsigned long long)info->firmware_version);
    json_add_string(out, "firmware_version", fw);
    add_selection(out, info);
    json_add_hex(out, "pcr_digest", info->pcr_digest, info->pcr_digest_len);
}

int verify_tpm_quote(AgentContext *ctx, const VerifyOptions *o, cJSON *out) {
    _cleanup_free_ uint8_t *attest = NULL, *sigdata = NULL;
    TpmPcrBank banks[TPM_MAX_BANKS];
    _cleanup_pkey_ EVP_PKEY *ak = NULL;
    size_t attest_len = 0, sig_len = 0, nonce_len = 0, n_banks = 0;
    uint8_t nonce[64];
    TpmSignature sig;
    TpmAttest info = {0};
    char reason[512] = "";
    int r;

    (void)ctx;
    if (!o->tpm_signature || (!o->ak_pub && !o->hcl_report))
        return log_error_errno(-EINVAL,
                               "--tpm-quote needs --tpm-signature, and --ak-pub or --hcl-report");
    if ((r = agent_read_file("--tpm-quote", o->tpm_quote, &attest, &attest_len)) < 0 ||
        (r = agent_read_file("--tpm-signature", o->tpm_signature, &sigdata, &sig_len)) < 0)
        return r;
    if (o->nonce &&
        agent_parse_hex("--nonce", o->nonce, nonce, sizeof(nonce), false, &nonce_len) < 0)
        return -EINVAL;

    json_add_string(out, "evidence", "tpm-quote");
    if ((r = verify_tpm_ak(o, out, &ak)) < 0)
        return r;
    r = tpm_signature_parse(sigdata, sig_len, (size_t)EVP_PKEY_get_size(ak), &sig);
    if (r < 0) {
        json_add_string(out, "failed_check", "signature");
        return verify_fail(out, r,
                           "signature is neither a TPMT_SIGNATURE (RSASSA/RSAPSS) nor %d raw "
                           "RSASSA bytes",
                           EVP_PKEY_get_size(ak));
    }
    json_add_string(out, "signature_scheme", sig.scheme == 0x0014 ? "rsassa" : "rsapss");
    json_add_string(out, "signature_hash", tpm_hash_name(sig.hash));
    r = expected_pcrs(o, out, banks, &n_banks);
    if (r < 0)
        return r;
    bool have_pcrs = o->pcrs || o->event_log;
    r = tpm_quote_verify(ak, attest, attest_len, &sig, o->nonce ? nonce : NULL, nonce_len,
                         have_pcrs ? banks : NULL, n_banks, &info, reason, sizeof(reason));
    if (info.type)
        describe(out, &info);
    json_add_bool(out, "nonce_checked", o->nonce != NULL);
    if (o->no_nonce_check)
        json_add_string(out, "nonce_check", "skipped (--no-nonce-check): a replayed quote passes");
    json_add_bool(out, "pcrs_checked", have_pcrs);
    if (r < 0) {
        json_add_string(
            out, "failed_check",
            quote_failure(ak, attest, attest_len, &sig, o->nonce ? nonce : NULL, nonce_len));
        return verify_fail(out, r, "%s", reason[0] ? reason : "quote verification failed");
    }
    if (!o->nonce && !o->no_nonce_check) {
        json_add_string(out, "failed_check", "nonce");
        return verify_fail(out, -EKEYREJECTED,
                           "no --nonce: the signature is good, but an old quote replayed would "
                           "pass too; give the expected --nonce HEX (or --no-nonce-check)");
    }
    return verify_pass(out);
}
