/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * verify --tdx-quote F: a TD quote verified to the Intel SGX Root CA (with
 * optional collateral and CCEL replay), then TD policy. verify --tdreport F:
 * a TDREPORT decoded and hash-checked, never verified (its MAC is keyed by
 * the CPU that made it; only a TD quote for it can be verified elsewhere).
 * Fields go into the JSON in lowercase hex.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/args.h"
#include "agent/verify-tdx.h"
#include "agent/verify.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/log.h"
#include "tdx/tdx.h"
#include "tpm/eventlog.h"

static int add_hex(cJSON *o, const char *k, const void *d, size_t n) {
    return json_add_hex(o, k, d, n);
}

static int add_attributes(cJSON *out, uint64_t a) {
    cJSON *f = cJSON_AddObjectToObject(out, "td_attributes_flags");
    if (!f)
        return -ENOMEM;
    if (json_add_bool(f, "debug", a & TDX_ATTR_DEBUG) < 0 ||
        json_add_bool(f, "sept_ve_disable", a & TDX_ATTR_SEPT_VE_DISABLE) < 0 ||
        json_add_bool(f, "pks", a & TDX_ATTR_PKS) < 0 ||
        json_add_bool(f, "key_locker", a & TDX_ATTR_KL) < 0 ||
        json_add_bool(f, "perfmon", a & TDX_ATTR_PERFMON) < 0 ||
        json_add_bool(out, "debug", a & TDX_ATTR_DEBUG) < 0 ||
        json_add_bool(out, "sept_ve_disable", a & TDX_ATTR_SEPT_VE_DISABLE) < 0)
        return -ENOMEM;
    return 0;
}

static int add_tdinfo(cJSON *out, const uint8_t attr[8], uint64_t attributes, const uint8_t xfam[8],
                      const uint8_t *mrtd, const uint8_t *mrconfigid, const uint8_t *mrowner,
                      const uint8_t *mrownerconfig, const uint8_t rtmr[4][TDX_MR_SIZE]) {
    if (add_hex(out, "mrtd", mrtd, 48) < 0)
        return -ENOMEM;
    for (unsigned i = 0; i < 4; i++) {
        char k[8];
        snprintf(k, sizeof(k), "rtmr%u", i);
        if (add_hex(out, k, rtmr[i], 48) < 0)
            return -ENOMEM;
    }
    if (add_hex(out, "mrconfigid", mrconfigid, 48) < 0 ||
        add_hex(out, "mrowner", mrowner, 48) < 0 ||
        add_hex(out, "mrownerconfig", mrownerconfig, 48) < 0 ||
        add_hex(out, "td_attributes", attr, 8) < 0 || add_attributes(out, attributes) < 0 ||
        add_hex(out, "xfam", xfam, 8) < 0)
        return -ENOMEM;
    return 0;
}

int verify_tdx_tdreport_json(const TdxTdReport *t, cJSON *out, bool *ret_hashes_ok) {
    bool tcb_ok = false, info_ok = false;
    if (json_add_string(out, "type", "tdreport") < 0 ||
        json_add_int(out, "report_version", t->report_version) < 0 ||
        add_hex(out, "report_data", t->report_data, 64) < 0 ||
        add_tdinfo(out, t->td.attributes_raw, t->td.attributes, t->td.xfam_raw, t->td.mrtd,
                   t->td.mrconfigid, t->td.mrowner, t->td.mrownerconfig, t->td.rtmr) < 0 ||
        add_hex(out, "servtd_hash", t->td.servtd_hash, 48) < 0 ||
        add_hex(out, "cpusvn", t->cpusvn, 16) < 0 ||
        add_hex(out, "tee_tcb_svn", t->tee_tcb_svn, 16) < 0 ||
        add_hex(out, "tee_tcb_svn2", t->tee_tcb_svn2, 16) < 0 ||
        add_hex(out, "mrseam", t->mrseam, 48) < 0 ||
        add_hex(out, "mrsignerseam", t->mrsignerseam, 48) < 0)
        return -ENOMEM;
    int r = tdx_report_check_hashes(t, &tcb_ok, &info_ok);
    if (r == -ENOMEM)
        return r;
    /* integrity only: anyone who rewrites a field can recompute these */
    if (json_add_bool(out, "tee_tcb_info_hash_ok", tcb_ok) < 0 ||
        json_add_bool(out, "tee_info_hash_ok", info_ok) < 0 ||
        json_add_bool(out, "mac_checked", false) < 0)
        return -ENOMEM;
    *ret_hashes_ok = tcb_ok && info_ok;
    return 0;
}

int verify_tdreport(AgentContext *ctx, const VerifyOptions *opts, cJSON *out) {
    _cleanup_free_ uint8_t *d = NULL;
    size_t n = 0;
    TdxTdReport t;
    bool hashes_ok = false;
    (void)ctx;
    int r = agent_read_file("TDREPORT", opts->tdreport, &d, &n);
    if (r < 0)
        return r;
    r = tdx_report_parse(d, n, false, &t);
    if (r < 0) {
        json_add_string(out, "failed_check", "parse");
        return verify_fail(out, r, "'%s' is not a %u-byte TDX TDREPORT (%s)", opts->tdreport,
                           TDX_TDREPORT_SIZE,
                           r == -EPROTONOSUPPORT ? "REPORTTYPE is not 0x81" : "wrong size");
    }
    r = verify_tdx_tdreport_json(&t, out, &hashes_ok);
    if (r < 0)
        return r;
    if (json_add_string(out, "failed_check", hashes_ok ? "td_quote_needed" : "tdreport_hash") < 0)
        return -ENOMEM;
    if (!hashes_ok)
        return verify_fail(out, -EKEYREJECTED,
                           "SHA-384 of TEE_TCB_INFO or TDINFO does not match the TDREPORT's "
                           "hash of it");
    return verify_fail(out, -EKEYREJECTED, "%s", VERIFY_TDX_NEEDS_QUOTE);
}

static int add_quote_fields(cJSON *out, const TdxQuote *q) {
    const TdxQuoteBody *b = &q->body;
    if (json_add_string(out, "type", "tdx-quote") < 0 ||
        json_add_int(out, "version", q->version) < 0 ||
        json_add_int(out, "body_type", q->body_type) < 0 ||
        json_add_int(out, "att_key_type", q->att_key_type) < 0 ||
        json_add_int(out, "tee_type", q->tee_type) < 0 ||
        add_hex(out, "qe_vendor_id", q->qe_vendor_id, 16) < 0 ||
        add_hex(out, "user_data", q->user_data, 20) < 0 ||
        add_hex(out, "report_data", b->report_data, 64) < 0 ||
        add_tdinfo(out, b->td_attributes_raw, b->td_attributes, b->xfam_raw, b->mrtd, b->mrconfigid,
                   b->mrowner, b->mrownerconfig, b->rtmr) < 0 ||
        add_hex(out, "tee_tcb_svn", b->tee_tcb_svn, 16) < 0 ||
        add_hex(out, "mrseam", b->mrseam, 48) < 0 ||
        add_hex(out, "mrsignerseam", b->mrsignerseam, 48) < 0 ||
        add_hex(out, "seam_attributes", b->seam_attributes, 8) < 0)
        return -ENOMEM;
    if (b->tdx15 && (add_hex(out, "tee_tcb_svn2", b->tee_tcb_svn2, 16) < 0 ||
                     add_hex(out, "mrservicetd", b->mrservicetd, 48) < 0))
        return -ENOMEM;
    cJSON *qe = cJSON_AddObjectToObject(out, "qe_report");
    if (!qe || add_hex(qe, "mrsigner", q->qe_report.mrsigner, 32) < 0 ||
        add_hex(qe, "mrenclave", q->qe_report.mrenclave, 32) < 0 ||
        json_add_int(qe, "isvprodid", q->qe_report.isvprodid) < 0 ||
        json_add_int(qe, "isvsvn", q->qe_report.isvsvn) < 0 ||
        add_hex(qe, "attributes", q->qe_report.attributes, 16) < 0 ||
        json_add_int(out, "trailing_bytes", (int64_t)q->trailing_len) < 0)
        return -ENOMEM;
    return 0;
}

static int add_result(cJSON *out, const TdxVerifyResult *res) {
    cJSON *c = cJSON_AddObjectToObject(out, "checks");
    if (!c || json_add_bool(c, "pck_chain", res->pck_chain_ok) < 0 ||
        json_add_bool(c, "qe_report_signature", res->qe_report_signature_ok) < 0 ||
        json_add_bool(c, "qe_report_data", res->qe_report_data_ok) < 0 ||
        json_add_bool(c, "quote_signature", res->quote_signature_ok) < 0)
        return -ENOMEM;
    if (res->pck_chain_ok &&
        json_add_string(out, "root_ca",
                        res->root_pinned ? "Intel SGX Root CA (pinned " TDX_INTEL_SGX_ROOT_CA_SHA256
                                           ")"
                                         : "non-production trust anchor") < 0)
        return -ENOMEM;
    if (res->pck_info_ok) {
        cJSON *p = cJSON_AddObjectToObject(out, "pck");
        if (!p || add_hex(p, "fmspc", res->pck.fmspc, 6) < 0 ||
            add_hex(p, "pceid", res->pck.pceid, 2) < 0 ||
            json_add_int(p, "pcesvn", res->pck.pcesvn) < 0 ||
            add_hex(p, "tcb_components", res->pck.cpusvn_comp, 16) < 0 ||
            add_hex(p, "cpusvn", res->pck.cpusvn, 16) < 0 ||
            json_add_string(p, "ca", res->pck.ca) < 0)
            return -ENOMEM;
    }
    if (json_add_bool(out, "collateral_given", res->collateral_given) < 0 ||
        json_add_bool(out, "collateral_signature_checked", res->collateral_signature_checked) < 0)
        return -ENOMEM;
    if (!res->collateral_given)
        return json_add_string(out, "tcb_status", "not evaluated (no collateral given)");
    if (!res->collateral_signature_checked &&
        json_add_string(out, "collateral_note",
                        "the collateral's own signature was NOT checked: no --collateral-chain "
                        "(Intel SGX TCB Signing certificate) was given") < 0)
        return -ENOMEM;
    if (json_add_bool(out, "crls_checked", res->crls_checked) < 0 ||
        json_add_string(out, "tcb_status", tdx_tcb_status_to_string(res->tcb_status)) < 0 ||
        json_add_string(out, "platform_tcb_status",
                        tdx_tcb_status_to_string(res->platform_tcb_status)) < 0 ||
        json_add_string(out, "tdx_module_tcb_status",
                        tdx_tcb_status_to_string(res->tdx_module_status)) < 0 ||
        json_add_string(out, "qe_tcb_status", tdx_tcb_status_to_string(res->qe_tcb_status)) < 0 ||
        (res->tcb_date[0] && json_add_string(out, "tcb_date", res->tcb_date) < 0))
        return -ENOMEM;
    if (res->advisory_ids) {
        cJSON *a = cJSON_AddArrayToObject(out, "advisory_ids");
        if (!a)
            return -ENOMEM;
        for (size_t i = 0; res->advisory_ids[i]; i++) {
            cJSON *s = cJSON_CreateString(res->advisory_ids[i]);
            if (!s || !cJSON_AddItemToArray(a, s)) {
                cJSON_Delete(s);
                return -ENOMEM;
            }
        }
    }
    return 0;
}

/* Collateral files and their TdxBlob views, kept together so one cleanup frees all. */
typedef struct Collateral {
    uint8_t *tcb_info, *qe_identity, *chain;
    uint8_t **crl;
    size_t n_crls;
    TdxBlob *crl_blobs;
} Collateral;

static void collateral_done(Collateral *c) {
    free(c->tcb_info);
    free(c->qe_identity);
    free(c->chain);
    for (size_t i = 0; c->crl && i < c->n_crls; i++)
        free(c->crl[i]);
    free(c->crl);
    free(c->crl_blobs);
}

static int load_blob(const char *what, const char *path, uint8_t **buf, TdxBlob *b) {
    size_t n = 0;
    if (!path)
        return 0;
    int r = agent_read_file(what, path, buf, &n);
    if (r < 0)
        return r;
    *b = (TdxBlob){*buf, n};
    return 0;
}

static int load_collateral(const VerifyOptions *opts, Collateral *c, TdxVerifyParams *p) {
    int r;
    if ((r = load_blob("--tcb-info", opts->tcb_info, &c->tcb_info, &p->tcb_info)) < 0 ||
        (r = load_blob("--qe-identity", opts->qe_identity, &c->qe_identity, &p->qe_identity)) < 0 ||
        (r = load_blob("--collateral-chain", opts->collateral_chain, &c->chain,
                       &p->collateral_chain)) < 0)
        return r;
    size_t n = 0;
    for (const char **x = opts->crls; x && *x; x++)
        n++;
    if (!n)
        return 0;
    c->crl = calloc(n, sizeof(uint8_t *));
    c->crl_blobs = calloc(n, sizeof(TdxBlob));
    if (!c->crl || !c->crl_blobs)
        return -ENOMEM;
    c->n_crls = n;
    for (size_t i = 0; i < n; i++)
        if ((r = load_blob("--crl", opts->crls[i], &c->crl[i], &c->crl_blobs[i])) < 0)
            return r;
    p->crls = c->crl_blobs;
    p->n_crls = n;
    return 0;
}

/* --event-log CCEL: replay and compare RTMR0..3 with the quote. */
static int check_event_log(const VerifyOptions *opts, const TdxQuoteBody *b, cJSON *out,
                           bool *ret_ok) {
    _cleanup_free_ uint8_t *d = NULL;
    _cleanup_free_ char *err = NULL;
    EventLogReplay replay, *rep = &replay;
    size_t n = 0;
    int r = agent_read_file("event log", opts->event_log, &d, &n);
    if (r < 0)
        return r;
    r = eventlog_replay(d, n, true, rep, &err);
    if (r < 0) {
        *ret_ok = false;
        return json_add_string(out, "event_log_error", err ? err : "cannot replay the CCEL");
    }
    cJSON *m = cJSON_AddObjectToObject(out, "rtmr_replay");
    if (!m)
        return -ENOMEM;
    bool all = true;
    for (unsigned i = 0; i < 4; i++) {
        uint8_t v[48];
        char k[16];
        r = eventlog_rtmr(rep, i, v);
        bool match = r >= 0 && crypto_memeq(v, b->rtmr[i], 48);
        snprintf(k, sizeof(k), "rtmr%u", i);
        cJSON *e = cJSON_AddObjectToObject(m, k);
        if (!e || json_add_bool(e, "match", match) < 0 ||
            (r >= 0 && add_hex(e, "replayed", v, 48) < 0))
            return -ENOMEM;
        all = all && match;
    }
    *ret_ok = all;
    return 0;
}

static int policy_fail(cJSON *out, const char *check, const char *reason) {
    json_add_string(out, "failed_check", check);
    return verify_fail(out, -EKEYREJECTED, "%s", reason);
}

/* TD policy: debug, --measurement (MRTD), --report-data (a prefix), CCEL. */
static int check_policy(const VerifyOptions *opts, const TdxQuoteBody *b, cJSON *out) {
    if ((b->td_attributes & TDX_ATTR_DEBUG) && !opts->allow_debug)
        return policy_fail(out, "debug",
                           "the TD is a debug TD (TDATTRIBUTES.DEBUG=1); --allow-debug accepts it");
    if (opts->measurements && opts->measurements[0]) {
        bool ok = false;
        for (const char **m = opts->measurements; *m; m++) {
            uint8_t want[48];
            if (agent_parse_hex("--measurement", *m, want, sizeof(want), true, NULL) < 0)
                return -EINVAL;
            ok = ok || crypto_memeq(want, b->mrtd, 48);
        }
        if (!ok)
            return policy_fail(out, "measurement",
                               "MRTD is not one of the allowed --measurement values");
    }
    if (opts->report_data) {
        uint8_t want[64];
        size_t n = 0;
        if (agent_parse_hex("--report-data", opts->report_data, want, sizeof(want), false, &n) < 0)
            return -EINVAL;
        if (!crypto_memeq(want, b->report_data, n))
            return policy_fail(out, "report_data", "REPORTDATA differs from --report-data");
    }
    if (opts->event_log) {
        bool ok = false;
        int r = check_event_log(opts, b, out, &ok);
        if (r < 0)
            return r;
        if (!ok)
            return policy_fail(out, "event_log",
                               "the event log does not replay to the quote's RTMRs");
    }
    return 0;
}

static const char *failed_step(const TdxVerifyResult *res) {
    return !res->pck_chain_ok             ? "pck_chain"
           : !res->pck_info_ok            ? "pck_certificate"
           : !res->qe_report_signature_ok ? "qe_report_signature"
           : !res->qe_report_data_ok      ? "qe_report_data"
           : !res->quote_signature_ok     ? "quote_signature"
                                          : "collateral";
}

/* Signature, QE report, PCK chain and collateral of the parsed quote q. */
static int check_signatures(const VerifyOptions *opts, const TdxQuote *q, cJSON *out) {
    _cleanup_(collateral_done) Collateral c = {0};
    _cleanup_(tdx_verify_result_done) TdxVerifyResult res = {0};
    TdxVerifyParams p = {
        .at = opts->at, .extra_anchors = opts->anchors, .crl_max_age_s = opts->crl_max_age_s};
    int r = load_collateral(opts, &c, &p);
    if (r < 0)
        return r;
    int vr = tdx_quote_verify(q, &p, &res);
    if (vr == -ENOMEM || add_result(out, &res) < 0)
        return -ENOMEM;
    if (vr < 0) {
        if (json_add_string(out, "failed_check", failed_step(&res)) < 0)
            return -ENOMEM;
        return verify_fail(out, vr, "%s", res.error ? res.error : "TD quote rejected");
    }
    if (!res.root_pinned)
        log_warning(
            "the TD quote chains to a non-production trust anchor, not the Intel SGX Root CA");
    if (res.collateral_given && !res.collateral_signature_checked)
        log_warning("the collateral's own signature was not checked (no --collateral-chain)");
    if (res.tcb_status != TDX_TCB_UNKNOWN && res.tcb_status != TDX_TCB_UP_TO_DATE)
        log_warning("the platform's TCB status is %s", tdx_tcb_status_to_string(res.tcb_status));
    return 0;
}

int verify_tdx_quote_bytes(const VerifyOptions *opts, const uint8_t *d, size_t n, const char *name,
                           cJSON *out, TdxQuoteBody *ret_body) {
    _cleanup_free_ char *perr = NULL;
    TdxQuote q;
    int r = tdx_quote_parse(d, n, &q, &perr);
    if (r < 0) {
        json_add_string(out, "failed_check", "parse");
        return verify_fail(out, r, "'%s': %s", name, perr ? perr : "malformed TD quote");
    }
    if (add_quote_fields(out, &q) < 0)
        return -ENOMEM;
    if ((r = check_signatures(opts, &q, out)) < 0 || (r = check_policy(opts, &q.body, out)) < 0)
        return r;
    if (ret_body)
        *ret_body = q.body;
    return verify_pass(out);
}

int verify_tdx_quote_file(const VerifyOptions *opts, const char *path, cJSON *out,
                          TdxQuoteBody *ret_body) {
    _cleanup_free_ uint8_t *d = NULL;
    size_t n = 0;
    int r = agent_read_file("TD quote", path, &d, &n);
    if (r < 0)
        return r;
    return verify_tdx_quote_bytes(opts, d, n, path, out, ret_body);
}

int verify_tdx(AgentContext *ctx, const VerifyOptions *opts, cJSON *out) {
    (void)ctx;
    return verify_tdx_quote_file(opts, opts->tdx_quote, out, NULL);
}
