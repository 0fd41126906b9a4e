/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * verify --hcl-report: an Azure HCL report. Its runtime claims must be bound
 * to the hardware report (report_data holds their hash), and the hardware
 * report must be authenticated: an SNP report to the AMD root, made at
 * VMPL 0 (the paravisor; a guest kernel at VMPL 2 could otherwise mint
 * "paravisor" claims), or, for a TDX VM, the TD quote for its TDREPORT
 * (--td-quote), whose every field must equal the TDREPORT's. A TDREPORT
 * alone is never verified.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/args.h"
#include "agent/report-tdx.h"
#include "agent/verify-snp.h"
#include "agent/verify-tdx.h"
#include "agent/verify.h"
#include "attest/attest.h"
#include "common/json.h"
#include "common/log.h"
#include "snp/snp.h"
#include "tdx/tdx.h"

static int add_copy(cJSON *out, const char *key, const cJSON *item) {
    cJSON *c = cJSON_Duplicate(item, 1);
    if (!c || !cJSON_AddItemToObject(out, key, c)) {
        cJSON_Delete(c);
        return -ENOMEM;
    }
    return 0;
}

/* The header, the runtime claims and their binding. */
static int describe(const HclReport *h, cJSON *out, bool *ret_bound) {
    _cleanup_free_ char *expected = NULL;
    _cleanup_json_ cJSON *claims = NULL;
    bool bound = hcl_runtime_data_bound(h, &expected);
    if (json_add_int(out, "hcl_version", h->version) < 0 ||
        json_add_string(out, "report_type", hcl_report_type_name(h->report_type)) < 0 ||
        json_add_int(out, "hash_type", h->hash_type) < 0 ||
        json_add_bool(out, "runtime_data_bound", bound) < 0 ||
        (expected && json_add_string(out, "runtime_data_hash", expected) < 0))
        return -ENOMEM;
    *ret_bound = bound;
    if (hcl_runtime_claims(h, &claims) < 0)
        return json_add_string(out, "runtime_claims_error", "the runtime data is not JSON");
    const cJSON *ak = hcl_find_jwk(claims, "HCLAkPub"), *ek = hcl_find_jwk(claims, "HCLEkPub");
    const cJSON *vmc = json_get_object(claims, "vm-configuration");
    uint8_t ud[HCL_USER_DATA_SIZE];
    if ((ak && add_copy(out, "ak_jwk", ak) < 0) || (ek && add_copy(out, "ek_jwk", ek) < 0) ||
        (vmc && add_copy(out, "vm_configuration", vmc) < 0) ||
        (hcl_user_data(claims, ud) == 0 && json_add_hex(out, "user_data", ud, sizeof(ud)) < 0) ||
        add_copy(out, "runtime_claims", claims) < 0)
        return -ENOMEM;
    return 0;
}

/* Copies the sub-result's failed_check and reason up, prefixed. */
static int fail_from(cJSON *out, const cJSON *sub, int r, const char *what) {
    const char *why = json_get_string(sub, "reason");
    const char *fc = json_get_string(sub, "failed_check");
    if (fc)
        json_add_string(out, "failed_check", fc);
    return verify_fail(out, r, "%s: %s", what, why ? why : "not verified");
}

/* The options of the SNP side, read before anything is answered. */
static int hcl_snp_policy(const VerifyOptions *opts, SnpPolicy *policy) {
    int r = verify_refuse(opts, VOPTS_HCL_TDX_ONLY, "the SNP report of an HCL report");
    if (r < 0 || (r = agent_snp_build_policy(opts, policy)) < 0)
        return r;
    if (policy->vmpl > 0)
        return log_error_errno(-EINVAL,
                               "policy '%s' wants VMPL %d; an HCL report's SNP report comes from "
                               "VMPL 0 (the paravisor) and is checked for it",
                               opts->policy, policy->vmpl);
    policy->vmpl = 0; /* azure-wire-formats §1.2: the paravisor asks at VMPL 0 */
    return 0;
}

static int verify_hcl_snp(AgentContext *ctx, const VerifyOptions *opts, const HclReport *h,
                          const SnpPolicy *policy, cJSON *out) {
    SnpReport rep;
    const char *err = NULL;
    int r = snp_report_parse(h->hw_report, h->hw_report_len, &rep, &err);
    if (r < 0) {
        json_add_string(out, "failed_check", "parse");
        return verify_fail(out, r, "the SNP report inside the HCL report: %s", err);
    }
    cJSON *snp = cJSON_AddObjectToObject(out, "snp");
    if (!snp)
        return -ENOMEM;
    r = agent_snp_verify(ctx, opts, &rep, NULL, 0, policy, snp);
    if (r == -EINVAL || r == -ENOMEM)
        return r;
    if (r < 0)
        return fail_from(out, snp, r, "SNP report");
    return verify_pass(out);
}

/* With --td-quote: the quote verified, then bound field by field. Only the
 * quote's (authenticated) fields are printed as claims, under "td_quote". */
static int verify_hcl_td_quote(const VerifyOptions *opts, const TdxTdReport *t, cJSON *out) {
    VerifyOptions qo = *opts;
    TdxQuoteBody body;
    qo.event_log = NULL; /* beside an HCL report the log is the vTPM's: its own check */
    cJSON *tq = cJSON_AddObjectToObject(out, "td_quote");
    if (!tq)
        return -ENOMEM;
    int r = verify_tdx_quote_file(&qo, opts->td_quote, tq, &body);
    if (r == -EINVAL || r == -ENOMEM)
        return r;
    if (r < 0)
        return fail_from(out, tq, r, "TD quote");
    const char *differs = NULL;
    bool binds = tdx_quote_matches_report(&body, t, &differs);
    if (json_add_bool(out, "td_quote_matches_tdreport", binds) < 0)
        return -ENOMEM;
    if (!binds) {
        json_add_string(out, "failed_check", "td_quote_binding");
        return verify_fail(out, -EKEYREJECTED, "the TD quote is not for this TDREPORT (%s differs)",
                           differs);
    }
    if (json_add_bool(out, "td_quote_verified", true) < 0)
        return -ENOMEM;
    return verify_pass(out);
}

static int verify_hcl_tdx(const VerifyOptions *opts, const HclReport *h, cJSON *out) {
    TdxTdReport t;
    bool hashes_ok = false;
    size_t len = h->hw_report_len < TDX_TDREPORT_SIZE ? h->hw_report_len : TDX_TDREPORT_SIZE;
    if (tdx_report_parse(h->hw_report, len, false, &t) < 0) {
        json_add_string(out, "failed_check", "tdreport");
        return verify_fail(out, -EBADMSG, "the HCL report's TDREPORT does not parse");
    }
    /* Decoded for integrity. With a quote only the quote's (authenticated)
     * fields are printed; without one the TDREPORT's go under "tdreport",
     * beside a "no". */
    _cleanup_json_ cJSON *td = cJSON_CreateObject();
    if (!td || verify_tdx_tdreport_json(&t, td, &hashes_ok) < 0 ||
        json_add_bool(out, "tdreport_hashes_ok", hashes_ok) < 0 ||
        json_add_bool(out, "tdreport_mac_checked", false) < 0)
        return -ENOMEM;
    if (!opts->td_quote && !cJSON_AddItemToObject(out, "tdreport", TAKE_PTR(td)))
        return -ENOMEM;
    if (!hashes_ok) {
        json_add_string(out, "failed_check", "tdreport_hash");
        return verify_fail(out, -EKEYREJECTED,
                           "SHA-384 of TEE_TCB_INFO or TDINFO does not match the TDREPORT's "
                           "hash of it");
    }
    if (!opts->td_quote) {
        /* nothing here chains to a root: say so instead of "production" */
        if (json_add_bool(out, "td_quote_verified", false) < 0 ||
            json_add_string(out, "trust_anchor", "none") < 0 ||
            json_add_string(out, "failed_check", "td_quote_needed") < 0)
            return -ENOMEM;
        return verify_fail(out, -EKEYREJECTED, "%s", VERIFY_TDX_NEEDS_QUOTE);
    }
    return verify_hcl_td_quote(opts, &t, out);
}

int verify_hcl(AgentContext *ctx, const VerifyOptions *opts, cJSON *out) {
    _cleanup_free_ uint8_t *d = NULL;
    HclReport h;
    SnpPolicy policy;
    const char *err = NULL;
    size_t n = 0;
    bool bound = false;
    int r = agent_read_file("HCL report", opts->hcl_report, &d, &n);
    if (r < 0)
        return r;
    r = hcl_report_parse(d, n, &h, &err);
    if (r < 0) {
        json_add_string(out, "failed_check", "parse");
        return verify_fail(out, r, "'%s': %s", opts->hcl_report, err);
    }
    if (h.report_type == HCL_REPORT_TDX)
        r = verify_refuse(opts,
                          opts->td_quote ? VOPTS_HCL_SNP_ONLY : VOPTS_HCL_SNP_ONLY | VOPTS_TDX,
                          opts->td_quote ? "the TDREPORT of an HCL report"
                                         : "the TDREPORT of an HCL report without --td-quote");
    else if (h.report_type == HCL_REPORT_SNP)
        r = hcl_snp_policy(opts, &policy);
    if (r < 0)
        return r;
    if ((r = describe(&h, out, &bound)) < 0)
        return r;
    if (h.report_type != HCL_REPORT_SNP && h.report_type != HCL_REPORT_TDX) {
        json_add_string(out, "failed_check", "report_type");
        return verify_fail(out, -EKEYREJECTED, "the HCL report holds a '%s' report",
                           hcl_report_type_name(h.report_type));
    }
    if (!bound) {
        json_add_string(out, "failed_check", "runtime_data_binding");
        return verify_fail(out, -EKEYREJECTED,
                           "report_data does not hold the hash of the runtime data (want %s)",
                           json_get_string(out, "runtime_data_hash") ?: "?");
    }
    if (h.report_type == HCL_REPORT_TDX)
        return verify_hcl_tdx(opts, &h, out);
    return verify_hcl_snp(ctx, opts, &h, &policy, out);
}
