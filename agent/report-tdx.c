/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TDX evidence for `cvm-agent report` (see report-tdx.h): obtained through
 * attest_platform_report (attest/), decoded here for printing.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/attest-platform.h"
#include "agent/report-tdx.h"
#include "attest/attest.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "tdx/tdx.h"

bool report_tdx_is_source(const char *source) {
    return attest_source_is_tdx(attest_source_from_name(source));
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

/* The decoded fields of what source returned (see attest_platform_report). */
static int decode(AttestSource s, const char *dev, const AttestReport *rep, cJSON *out) {
    if (s == ATTEST_SOURCE_TDX_GUEST) {
        TdxTdReport t;
        bool a = false, b = false;
        if (tdx_report_parse(rep->raw, rep->raw_len, false, &t) < 0)
            return log_error_errno(-EBADMSG, "'%s' returned something that is not a TDREPORT", dev);
        (void)tdx_report_check_hashes(&t, &a, &b);
        if (json_add_string(out, "evidence", "tdreport") < 0 ||
            add_mrs(out, t.td.mrtd, t.td.rtmr, t.report_data, t.td.attributes) < 0 ||
            json_add_bool(out, "tee_tcb_info_hash_ok", a) < 0 ||
            json_add_bool(out, "tee_info_hash_ok", b) < 0)
            return -ENOMEM;
        return 0;
    }
    if (s == ATTEST_SOURCE_AZURE_TDX) {
        HclReport h;
        const char *herr = NULL;
        if (hcl_report_parse(rep->hcl, rep->hcl_len, &h, &herr) < 0)
            return log_error_errno(-EBADMSG, "the vTPM's HCL report: %s", herr ? herr : "?");
        if (json_add_bool(out, "runtime_data_bound", hcl_runtime_data_bound(&h, NULL)) < 0)
            return -ENOMEM;
    }
    TdxQuote tq;
    return quote_out(rep->raw, rep->raw_len, out, &tq);
}

int report_tdx(AgentContext *ctx, const char *source, const uint8_t *data, uint64_t deadline_ms,
               uint8_t **ret, size_t *ret_len, cJSON *out) {
    _cleanup_(attest_report_done) AttestReport rep = {0};
    _cleanup_free_ char *cache = NULL;
    AttestSourceConfig sc;
    AttestSource s = attest_source_from_name(source);
    int r;

    if (!attest_source_is_tdx(s))
        return log_error_errno(-EINVAL, "unknown TDX report source '%s'", source);
    if (json_add_string(out, "source", source) < 0)
        return -ENOMEM;
    if ((r = agent_source_config(&ctx->cfg, &sc, &cache)) < 0)
        return r;
    sc.deadline_ms = deadline_ms;
    sc.imds_url = ctx->cfg.tdx_imds_url ? ctx->cfg.tdx_imds_url : TDX_IMDS_URL_DEFAULT;
    r = attest_platform_report(&sc, s, data, 0, &rep);
    if (r < 0)
        return log_error_errno(r, "%s", attest_last_error());
    r = decode(s, sc.tdx_device ? sc.tdx_device : TDX_GUEST_DEVICE_DEFAULT, &rep, out);
    if (r < 0)
        return r;
    *ret = rep.raw;
    *ret_len = rep.raw_len;
    rep.raw = NULL;
    return 0;
}
