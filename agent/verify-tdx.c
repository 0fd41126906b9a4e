/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * verify --tdx-quote F | --tdreport F: a TD quote verified to the Intel SGX
 * Root CA (with optional collateral and CCEL replay), or a TDREPORT's hash
 * checks. Fields go into the JSON in lowercase hex.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/verify.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "tdx/tdx.h"
#include "tpm/eventlog.h"

typedef struct FileBuf {
    uint8_t *data;
    size_t len;
} FileBuf;

static void filebuf_done(FileBuf *f) {
    free(f->data);
    *f = (FileBuf){0};
}

static int load(const char *what, const char *path, FileBuf *ret) {
    int r = read_file(path, FILE_MAX_EVIDENCE, &ret->data, &ret->len);
    if (r < 0)
        return log_error_errno(-EINVAL, "cannot read %s '%s': %s", what, path, strerror(-r));
    return 0;
}

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

/* --tdreport: parse and hash checks; the MAC needs the CPU that made it. */
static int verify_tdreport(const VerifyOptions *opts, cJSON *out) {
    _cleanup_(filebuf_done) FileBuf f = {0};
    TdxTdReport t;
    bool tcb_ok = false, info_ok = false;
    int r = load("TDREPORT", opts->tdreport, &f);
    if (r < 0)
        return r;
    r = tdx_report_parse(f.data, f.len, false, &t);
    if (r < 0)
        return verify_fail(out, r, "'%s' is not a %u-byte TDX TDREPORT (%s)", opts->tdreport,
                           TDX_TDREPORT_SIZE,
                           r == -EPROTONOSUPPORT ? "REPORTTYPE is not 0x81" : "wrong size");
    if (json_add_string(out, "type", "tdreport") < 0 ||
        json_add_int(out, "report_version", t.report_version) < 0 ||
        add_hex(out, "report_data", t.report_data, 64) < 0 ||
        add_tdinfo(out, t.td.attributes_raw, t.td.attributes, t.td.xfam_raw, t.td.mrtd,
                   t.td.mrconfigid, t.td.mrowner, t.td.mrownerconfig, t.td.rtmr) < 0 ||
        add_hex(out, "servtd_hash", t.td.servtd_hash, 48) < 0 ||
        add_hex(out, "cpusvn", t.cpusvn, 16) < 0 ||
        add_hex(out, "tee_tcb_svn", t.tee_tcb_svn, 16) < 0 ||
        add_hex(out, "tee_tcb_svn2", t.tee_tcb_svn2, 16) < 0 ||
        add_hex(out, "mrseam", t.mrseam, 48) < 0 ||
        add_hex(out, "mrsignerseam", t.mrsignerseam, 48) < 0)
        return -ENOMEM;
    r = tdx_report_check_hashes(&t, &tcb_ok, &info_ok);
    if (r == -ENOMEM)
        return r;
    if (json_add_bool(out, "tee_tcb_info_hash_ok", tcb_ok) < 0 ||
        json_add_bool(out, "tee_info_hash_ok", info_ok) < 0 ||
        json_add_bool(out, "mac_checked", false) < 0 ||
        json_add_string(out, "mac_note",
                        "the REPORTMACSTRUCT MAC is keyed by the CPU and only checkable on the "
                        "platform that produced the report") < 0)
        return -ENOMEM;
    if (!tcb_ok)
        return verify_fail(out, -EKEYREJECTED,
                           "SHA-384(TEE_TCB_INFO) does not match TEE_TCB_INFO_HASH");
    if (!info_ok)
        return verify_fail(out, -EKEYREJECTED, "SHA-384(TDINFO) does not match TEE_INFO_HASH");
    return verify_pass(out);
}

static int load_anchors(const VerifyOptions *opts, STACK_OF(X509) * *ret) {
    _cleanup_x509_stack_ STACK_OF(X509) *all = NULL;
    for (const char **a = opts->trust_anchors; a && *a; a++) {
        _cleanup_(filebuf_done) FileBuf f = {0};
        _cleanup_x509_stack_ STACK_OF(X509) *certs = NULL;
        int r = load("trust anchor", *a, &f);
        if (r < 0)
            return r;
        r = crypto_load_cert_chain(f.data, f.len, &certs);
        if (r < 0) {
            X509 *one = NULL;
            if (crypto_load_cert(f.data, f.len, &one) < 0)
                return log_error_errno(-EINVAL, "trust anchor '%s' holds no certificate", *a);
            certs = sk_X509_new_null();
            if (!certs || !sk_X509_push(certs, one)) {
                X509_free(one);
                return -ENOMEM;
            }
        }
        if (!all && !(all = sk_X509_new_null()))
            return -ENOMEM;
        while (sk_X509_num(certs) > 0) {
            X509 *c = sk_X509_shift(certs);
            if (!sk_X509_push(all, c)) {
                X509_free(c);
                return -ENOMEM;
            }
        }
    }
    *ret = TAKE_PTR(all);
    return 0;
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

static int load_optional(const char *what, const char *path, FileBuf *f, TdxBlob *b) {
    if (!path)
        return 0;
    int r = load(what, path, f);
    if (r < 0)
        return r;
    *b = (TdxBlob){f->data, f->len};
    return 0;
}

/* --event-log CCEL: replay and compare RTMR0..3 with the quote. */
static int check_event_log(const VerifyOptions *opts, const TdxQuote *q, cJSON *out, bool *ret_ok) {
    _cleanup_(filebuf_done) FileBuf f = {0};
    _cleanup_free_ char *err = NULL;
    EventLogReplay rep;
    int r = load("event log", opts->event_log, &f);
    if (r < 0)
        return r;
    r = eventlog_replay(f.data, f.len, true, &rep, &err);
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
        r = eventlog_rtmr(&rep, i, v);
        bool match = r >= 0 && crypto_memeq(v, q->body.rtmr[i], 48);
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

/* --report-data HEX: up to 64 bytes, compared as a prefix (as for SNP). */
static int check_report_data(const VerifyOptions *opts, const uint8_t rd[64], bool *ret_ok) {
    _cleanup_free_ uint8_t *want = NULL;
    size_t n = 0;
    if (hex_decode(opts->report_data, strlen(opts->report_data), &want, &n) < 0 || n == 0 || n > 64)
        return log_error_errno(-EINVAL, "--report-data wants 1 to 64 bytes of hex, not '%s'",
                               opts->report_data);
    *ret_ok = crypto_memeq(want, rd, n);
    return 0;
}

static int check_measurements(const VerifyOptions *opts, const uint8_t mrtd[48], bool *ret_ok) {
    *ret_ok = false;
    for (const char **m = opts->measurements; m && *m; m++) {
        uint8_t want[48];
        if (hex_decode_fixed(*m, want, sizeof(want)) < 0)
            return log_error_errno(-EINVAL,
                                   "--measurement wants 48 bytes of hex (an MRTD), not '%s'", *m);
        if (crypto_memeq(want, mrtd, 48))
            *ret_ok = true;
    }
    return 0;
}

int verify_tdx(AgentContext *ctx, const VerifyOptions *opts, cJSON *out) {
    _cleanup_(filebuf_done) FileBuf f = {0}, ti = {0}, qi = {0}, cc = {0};
    _cleanup_x509_stack_ STACK_OF(X509) *anchors = NULL;
    _cleanup_free_ char *perr = NULL;
    _cleanup_free_ TdxBlob *crls = NULL;
    FileBuf *crl_bufs = NULL;
    size_t n_crls = 0;
    TdxQuote q;
    TdxVerifyResult res = {0};
    int r;

    if (!opts->tdx_quote)
        return verify_tdreport(opts, out);

    r = load("TD quote", opts->tdx_quote, &f);
    if (r < 0)
        return r;
    TdxVerifyParams p = {.at = opts->at,
                         .crl_max_age_s = (int64_t)(ctx->cfg.tdx_crl_max_age_ms / 1000)};
    r = load_anchors(opts, &anchors);
    if (r < 0)
        return r;
    p.extra_anchors = anchors;
    if ((r = load_optional("TCB info", opts->tcb_info, &ti, &p.tcb_info)) < 0 ||
        (r = load_optional("QE identity", opts->qe_identity, &qi, &p.qe_identity)) < 0 ||
        (r = load_optional("collateral chain", opts->collateral_chain, &cc, &p.collateral_chain)) <
            0)
        return r;
    for (const char **c = opts->crls; c && *c; c++)
        n_crls++;
    if (n_crls) {
        crls = calloc(n_crls, sizeof(TdxBlob));
        crl_bufs = calloc(n_crls, sizeof(FileBuf));
        if (!crls || !crl_bufs) {
            free(crl_bufs);
            return -ENOMEM;
        }
        for (size_t i = 0; i < n_crls; i++)
            if ((r = load_optional("CRL", opts->crls[i], &crl_bufs[i], &crls[i])) < 0)
                goto out;
        p.crls = crls;
        p.n_crls = n_crls;
    }

    r = tdx_quote_parse(f.data, f.len, &q, &perr);
    if (r < 0) {
        json_add_string(out, "failed_check", "parse");
        r = verify_fail(out, r, "'%s': %s", opts->tdx_quote, perr ? perr : "malformed TD quote");
        goto out;
    }
    r = add_quote_fields(out, &q);
    if (r < 0)
        goto out;
    int vr = tdx_quote_verify(&q, &p, &res);
    if (vr == -ENOMEM) {
        r = vr;
        goto out;
    }
    r = add_result(out, &res);
    if (r < 0)
        goto out;
    if (vr < 0) {
        const char *fc = !res.pck_chain_ok             ? "pck_chain"
                         : !res.pck_info_ok            ? "pck_certificate"
                         : !res.qe_report_signature_ok ? "qe_report_signature"
                         : !res.qe_report_data_ok      ? "qe_report_data"
                         : !res.quote_signature_ok     ? "quote_signature"
                                                       : "collateral";
        if (json_add_string(out, "failed_check", fc) < 0) {
            r = -ENOMEM;
            goto out;
        }
        r = verify_fail(out, vr, "%s", res.error ? res.error : "TD quote rejected");
        goto out;
    }
    if (!res.root_pinned)
        log_warning(
            "the TD quote chains to a non-production trust anchor, not the Intel SGX Root CA");
    if (res.collateral_given && !res.collateral_signature_checked)
        log_warning("the collateral's own signature was not checked (no --collateral-chain)");
    if (res.tcb_status != TDX_TCB_UNKNOWN && res.tcb_status != TDX_TCB_UP_TO_DATE)
        log_warning("the platform's TCB status is %s", tdx_tcb_status_to_string(res.tcb_status));

    /* policy */
    if ((q.body.td_attributes & TDX_ATTR_DEBUG) && !opts->allow_debug) {
        json_add_string(out, "failed_check", "debug");
        r = verify_fail(out, -EKEYREJECTED,
                        "the TD is a debug TD (TDATTRIBUTES.DEBUG=1); --allow-debug accepts it");
        goto out;
    }
    if (opts->measurements && opts->measurements[0]) {
        bool ok = false;
        r = check_measurements(opts, q.body.mrtd, &ok);
        if (r < 0)
            goto out;
        if (!ok) {
            json_add_string(out, "failed_check", "measurement");
            r = verify_fail(out, -EKEYREJECTED,
                            "MRTD is not one of the allowed --measurement values");
            goto out;
        }
    }
    if (opts->report_data) {
        bool ok = false;
        r = check_report_data(opts, q.body.report_data, &ok);
        if (r < 0)
            goto out;
        if (!ok) {
            json_add_string(out, "failed_check", "report_data");
            r = verify_fail(out, -EKEYREJECTED, "REPORTDATA differs from --report-data");
            goto out;
        }
    }
    if (opts->event_log) {
        bool ok = false;
        r = check_event_log(opts, &q, out, &ok);
        if (r < 0)
            goto out;
        if (!ok) {
            json_add_string(out, "failed_check", "event_log");
            r = verify_fail(out, -EKEYREJECTED,
                            "the event log does not replay to the quote's RTMRs");
            goto out;
        }
    }
    r = verify_pass(out);
out:
    for (size_t i = 0; crl_bufs && i < n_crls; i++)
        filebuf_done(&crl_bufs[i]);
    free(crl_bufs);
    tdx_verify_result_done(&res);
    return r;
}

static bool json_hex_equals(const cJSON *o, const char *key, const uint8_t *want, size_t n) {
    const char *h = json_get_string(o, key);
    _cleanup_free_ char *w = hex_encode(want, n);
    return h && w && streq(h, w);
}

int verify_tdx_hcl_quote(AgentContext *ctx, const VerifyOptions *opts, const uint8_t *tdreport,
                         size_t len, cJSON *out) {
    TdxTdReport t;
    bool tcb_ok = false, info_ok = false;
    int r;

    if (tdx_report_parse(tdreport, len < TDX_TDREPORT_SIZE ? len : TDX_TDREPORT_SIZE, false, &t) <
        0) {
        json_add_string(out, "failed_check", "tdreport");
        return verify_fail(out, -EBADMSG, "the HCL report's TDREPORT does not parse");
    }
    r = tdx_report_check_hashes(&t, &tcb_ok, &info_ok);
    if (r == -ENOMEM)
        return r;
    if (json_add_bool(out, "tdreport_hashes_ok", tcb_ok && info_ok) < 0 ||
        json_add_bool(out, "tdreport_mac_checked", false) < 0)
        return -ENOMEM;
    if (!tcb_ok || !info_ok) {
        json_add_string(out, "failed_check", "tdreport_hash");
        return verify_fail(out, -EKEYREJECTED, "SHA-384(%s) does not match the TDREPORT's hash",
                           tcb_ok ? "TDINFO" : "TEE_TCB_INFO");
    }
    if (!opts->td_quote) {
        if (json_add_bool(out, "td_quote_verified", false) < 0 ||
            json_add_string(out, "note",
                            "the TDREPORT's MAC is not verifiable off-platform; a TD quote for it "
                            "(--td-quote) is") < 0)
            return -ENOMEM;
        return verify_pass(out);
    }

    cJSON *tq = cJSON_AddObjectToObject(out, "td_quote");
    if (!tq)
        return -ENOMEM;
    VerifyOptions o = *opts;
    o.tdx_quote = opts->td_quote;
    o.tdreport = NULL;
    r = verify_tdx(ctx, &o, tq);
    if (r == -EINVAL || r == -ENOMEM)
        return r;
    if (r < 0) {
        const char *why = json_get_string(tq, "reason");
        json_add_string(out, "failed_check", "td_quote");
        return verify_fail(out, r, "TD quote: %s", why ? why : "not verified");
    }
    /* the quote must be the TDREPORT's (tee-formats.md §3, binding step 1) */
    static const char *const rtmr_keys[4] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};
    bool same = json_hex_equals(tq, "mrtd", t.td.mrtd, 48) &&
                json_hex_equals(tq, "report_data", t.report_data, 64) &&
                json_hex_equals(tq, "tee_tcb_svn", t.tee_tcb_svn, 16) &&
                json_hex_equals(tq, "mrseam", t.mrseam, 48) &&
                json_hex_equals(tq, "td_attributes", t.td.attributes_raw, 8);
    for (unsigned i = 0; same && i < 4; i++)
        same = json_hex_equals(tq, rtmr_keys[i], t.td.rtmr[i], 48);
    if (json_add_bool(out, "td_quote_matches_tdreport", same) < 0)
        return -ENOMEM;
    if (!same) {
        json_add_string(out, "failed_check", "td_quote_binding");
        return verify_fail(out, -EKEYREJECTED,
                           "the TD quote is not for this TDREPORT (MRTD, RTMRs, REPORTDATA, "
                           "TEE_TCB_SVN, MRSEAM or TD attributes differ)");
    }
    if (json_add_bool(out, "td_quote_verified", true) < 0)
        return -ENOMEM;
    return verify_pass(out);
}
