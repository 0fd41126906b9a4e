/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TDX evidence for `cvm-agent report` (see report-tdx.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/report-tdx.h"
#include "attest/attest.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "tdx/tdx.h"
#include "tpm/tpm.h"

bool report_tdx_is_source(const char *source) {
    return streq_ptr(source, "tdx-guest") || streq_ptr(source, "tdx-configfs") ||
           streq_ptr(source, "azure-tdx");
}

static int add_mrs(cJSON *out, const uint8_t *mrtd, const uint8_t rtmr[4][TDX_MR_SIZE],
                   const uint8_t *report_data, uint64_t attributes) {
    if (json_add_hex(out, "mrtd", mrtd, TDX_MR_SIZE) < 0)
        return -ENOMEM;
    for (unsigned i = 0; i < 4; i++) {
        char k[8];
        snprintf(k, sizeof(k), "rtmr%u", i);
        if (json_add_hex(out, k, rtmr[i], TDX_MR_SIZE) < 0)
            return -ENOMEM;
    }
    if (json_add_hex(out, "report_data", report_data, TDX_REPORT_DATA_SIZE) < 0 ||
        json_add_bool(out, "debug", attributes & TDX_ATTR_DEBUG) < 0)
        return -ENOMEM;
    return 0;
}

static int quote_out(const uint8_t *q, size_t n, cJSON *out, TdxQuote *ret) {
    _cleanup_free_ char *err = NULL;
    int r = tdx_quote_parse(q, n, ret, &err);
    if (r < 0)
        return log_error_errno(-EBADMSG, "the TD quote does not parse: %s", err ? err : "?");
    if (json_add_string(out, "evidence", "tdx-quote") < 0 ||
        json_add_int(out, "quote_version", ret->version) < 0 ||
        add_mrs(out, ret->body.mrtd, ret->body.rtmr, ret->body.report_data,
                ret->body.td_attributes) < 0)
        return -ENOMEM;
    return 0;
}

static int azure_tdx(AgentContext *ctx, const uint8_t *data, uint64_t deadline_ms, uint8_t **ret,
                     size_t *ret_len, cJSON *out) {
    _cleanup_free_ uint8_t *hcl = NULL;
    _cleanup_free_ char *err = NULL;
    size_t hcl_len = 0;
    HclReport h;
    const char *herr = NULL;
    TdxTdReport t;
    int r;

    r = hcl_vtpm_read(ctx->cfg.tcti, data, deadline_ms, &hcl, &hcl_len);
    if (r < 0)
        return r;
    r = hcl_report_parse(hcl, hcl_len, &h, &herr);
    if (r < 0)
        return log_error_errno(r, "the vTPM's HCL report: %s", herr ? herr : "malformed");
    if (h.report_type != HCL_REPORT_TDX)
        return log_error_errno(-ENODEV, "the HCL report holds a '%s' report, not TDX",
                               hcl_report_type_name(h.report_type));
    if (h.hw_report_len < TDX_TDREPORT_SIZE ||
        tdx_report_parse(h.hw_report, TDX_TDREPORT_SIZE, false, &t) < 0)
        return log_error_errno(-EBADMSG, "the HCL report's TDREPORT does not parse");
    if (json_add_bool(out, "runtime_data_bound", hcl_runtime_data_bound(&h, NULL)) < 0)
        return -ENOMEM;

    HttpConfig http;
    agent_http_config(&ctx->cfg, &http);
    const char *url = ctx->cfg.tdx_imds_url ? ctx->cfg.tdx_imds_url : TDX_IMDS_URL_DEFAULT;
    uint8_t *q = NULL;
    size_t qn = 0;
    r = tdx_imds_get_quote(&http, url, h.hw_report, &q, &qn, &err);
    if (r < 0)
        return log_error_errno(r, "cannot get a TD quote from IMDS: %s", err ? err : strerror(-r));
    TdxQuote tq;
    r = quote_out(q, qn, out, &tq);
    if (r < 0) {
        free(q);
        return r;
    }
    /* the quote must be for this TDREPORT */
    const char *differs = NULL;
    if (!tdx_quote_matches_report(&tq.body, &t, &differs)) {
        free(q);
        return log_error_errno(-EBADMSG, "IMDS returned a quote for another TD report (%s differs)",
                               differs);
    }
    *ret = q;
    *ret_len = qn;
    return 0;
}

int report_tdx(AgentContext *ctx, const char *source, const uint8_t *data, uint64_t deadline_ms,
               uint8_t **ret, size_t *ret_len, cJSON *out) {
    static const uint8_t zeros[TDX_REPORT_DATA_SIZE] = {0};
    int r;

    if (json_add_string(out, "source", source) < 0)
        return -ENOMEM;
    if (streq(source, "tdx-guest")) {
        const char *dev = ctx->cfg.tdx_device ? ctx->cfg.tdx_device : TDX_GUEST_DEVICE_DEFAULT;
        uint8_t rep[TDX_TDREPORT_SIZE];
        TdxTdReport t;
        bool a = false, b = false;
        r = tdx_guest_get_report(dev, data ? data : zeros, rep);
        if (r < 0)
            return log_error_errno(r, "cannot get a TDREPORT from '%s': %s", dev, strerror(-r));
        r = tdx_report_parse(rep, sizeof(rep), false, &t);
        if (r < 0)
            return log_error_errno(r, "'%s' returned something that is not a TDREPORT", dev);
        (void)tdx_report_check_hashes(&t, &a, &b);
        if (json_add_string(out, "evidence", "tdreport") < 0 ||
            add_mrs(out, t.td.mrtd, t.td.rtmr, t.report_data, t.td.attributes) < 0 ||
            json_add_bool(out, "tee_tcb_info_hash_ok", a) < 0 ||
            json_add_bool(out, "tee_info_hash_ok", b) < 0)
            return -ENOMEM;
        uint8_t *copy = malloc(sizeof(rep));
        if (!copy)
            return -ENOMEM;
        memcpy(copy, rep, sizeof(rep));
        *ret = copy;
        *ret_len = sizeof(rep);
        return 0;
    }
    if (streq(source, "tdx-configfs")) {
        const char *tsm =
            ctx->cfg.tdx_configfs_tsm ? ctx->cfg.tdx_configfs_tsm : TDX_CONFIGFS_TSM_DEFAULT;
        uint8_t *q = NULL;
        size_t n = 0;
        TdxQuote tq;
        r = tdx_configfs_get_quote(tsm, data ? data : zeros, &q, &n);
        if (r == -EBUSY)
            return log_error_errno(-EAGAIN,
                                   "configfs-tsm: another writer kept changing the "
                                   "report entry under '%s'; try again",
                                   tsm);
        if (r < 0)
            return log_error_errno(r, "cannot get a TD quote through configfs-tsm '%s': %s", tsm,
                                   strerror(-r));
        r = quote_out(q, n, out, &tq);
        if (r < 0) {
            free(q);
            return r;
        }
        *ret = q;
        *ret_len = n;
        return 0;
    }
    if (streq(source, "azure-tdx"))
        return azure_tdx(ctx, data, deadline_ms, ret, ret_len, out);
    return log_error_errno(-EINVAL, "unknown TDX report source '%s'", source);
}
