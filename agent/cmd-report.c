/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cvm-agent report: obtain and print this VM's hardware report, with
 * caller-chosen report data, from configfs-tsm, /dev/sev-guest, or the Azure
 * vTPM (HCL report in NV 0x01400001, refreshed through NV 0x01400002).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/args.h"
#include "agent/attest-platform.h"
#include "agent/report-tdx.h"
#include "agent/verify-snp.h"
#include "agent/verify-tdx.h"
#include "agent/verify.h"
#include "attest/attest.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "snp/snp.h"
#include "tdx/tdx.h"

#define REPORT_VTPM_DEADLINE_MS 10000u /* the paravisor answers in well under a second */

void report_usage(FILE *f) {
    fprintf(f, "Usage: cvm-agent report [OPTIONS]\n"
               "\n"
               "Obtain this VM's hardware report, bound to fresh report data, and print it.\n"
               "\n"
               "Options:\n"
               "      --source SRC       configfs (configfs-tsm), sev-guest (/dev/sev-guest) or\n"
               "                         vtpm (Azure HCL report); default: [snp] report-source,\n"
               "                         else the first of these that exists; TDX: tdx-guest\n"
               "                         (/dev/tdx_guest TDREPORT), tdx-configfs (TD quote\n"
               "                         through configfs-tsm) or azure-tdx (TD quote from IMDS\n"
               "                         for the vTPM HCL report's TDREPORT), paths in [tdx]\n"
               "      --report-data HEX  up to 64 bytes for REPORT_DATA (vtpm: the user data\n"
               "                         the HCL report's runtime claims carry); zero-padded\n"
               "      --vmpl N           VMPL to request (0..3, default 0; not for vtpm)\n"
               "      --out FILE         write the raw report (SNP report or HCL report)\n"
               "      --certs-out FILE   write the certificate table (configfs, sev-guest)\n"
               "      --verify           verify as 'cvm-agent verify' does: SNP to the AMD\n"
               "                         root (certificates from the report, the cache, THIM\n"
               "                         or AMD KDS) at the VMPL asked for (vtpm: 0, and the\n"
               "                         runtime claims bound); TDX: the TD quote (for a TDX\n"
               "                         HCL report fetched from IMDS); not for tdx-guest\n"
               "      --allow-debug      with --verify: accept a debug guest\n"
               "      --timeout DURATION vtpm: how long to wait for a fresh report\n"
               "                         (default 10s)\n"
               "      --json             print a JSON object\n"
               "  -h, --help             this help\n"
               "\n"
               "Exit status: 0 success, 1 not verified, 2 usage error, 3 transient, 4 platform.\n");
}

typedef struct ReportOptions {
    const char *source, *out_path, *certs_path;
    uint8_t data[64];
    bool have_data, json, verify, allow_debug;
    uint32_t vmpl;
    uint64_t deadline_ms;
} ReportOptions;

/* 0, 1 after --help, or a CvmExit > 1 (logged). */
static int parse_options(int argc, char **argv, ReportOptions *o) {
    enum {
        OPT_SOURCE = 0x100,
        OPT_REPORT_DATA,
        OPT_VMPL,
        OPT_OUT,
        OPT_CERTS_OUT,
        OPT_VERIFY,
        OPT_ALLOW_DEBUG,
        OPT_TIMEOUT,
        OPT_JSON,
    };
    static const struct option options[] = {
        {"source", required_argument, NULL, OPT_SOURCE},
        {"report-data", required_argument, NULL, OPT_REPORT_DATA},
        {"vmpl", required_argument, NULL, OPT_VMPL},
        {"out", required_argument, NULL, OPT_OUT},
        {"certs-out", required_argument, NULL, OPT_CERTS_OUT},
        {"verify", no_argument, NULL, OPT_VERIFY},
        {"allow-debug", no_argument, NULL, OPT_ALLOW_DEBUG},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h': report_usage(stdout); return 1;
        case OPT_SOURCE: o->source = optarg; break;
        case OPT_REPORT_DATA:
            memset(o->data, 0, sizeof(o->data));
            if (agent_parse_hex("--report-data", optarg, o->data, sizeof(o->data), false, NULL) < 0)
                return CVM_EXIT_USAGE;
            o->have_data = true;
            break;
        case OPT_VMPL:
            if (parse_u32(optarg, &o->vmpl) < 0 || o->vmpl > 3)
                return log_error("--vmpl wants 0..3, not '%s'", optarg), CVM_EXIT_USAGE;
            break;
        case OPT_OUT: o->out_path = optarg; break;
        case OPT_CERTS_OUT: o->certs_path = optarg; break;
        case OPT_VERIFY: o->verify = true; break;
        case OPT_ALLOW_DEBUG: o->allow_debug = true; break;
        case OPT_TIMEOUT:
            if (parse_duration_ms(optarg, &o->deadline_ms) < 0)
                return log_error("--timeout wants a duration such as 10s, not '%s'", optarg),
                       CVM_EXIT_USAGE;
            break;
        case OPT_JSON: o->json = true; break;
        default: fprintf(stderr, "see 'cvm-agent report --help'\n"); return CVM_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return log_error("report: unexpected argument '%s'", argv[optind]), CVM_EXIT_USAGE;
    if (o->allow_debug && !o->verify)
        return log_error("--allow-debug goes with --verify"), CVM_EXIT_USAGE;
    return 0;
}

static void anchors_free(STACK_OF(X509) * *a) {
    sk_X509_pop_free(*a, X509_free);
}

/* What `report --verify` verifies with: the [trust] anchors (announced), now. */
static int verify_options(AgentContext *ctx, const ReportOptions *ro, STACK_OF(X509) * *anchors,
                          VerifyOptions *vo, cJSON *out) {
    static const char *none[] = {NULL};
    _cleanup_free_ char *desc = NULL;
    char at[32];
    *vo = (VerifyOptions){.at = now_realtime_s(),
                          .vmpl = -1,
                          .allow_debug = ro->allow_debug,
                          .crl_max_age_s = (int64_t)(ctx->cfg.tdx_crl_max_age_ms / 1000)};
    vo->measurements = none;
    vo->crls = none;
    vo->trust_anchors = (const char **)ctx->cfg.trust_anchors;
    if (agent_load_anchors((const char *const *)ctx->cfg.trust_anchors, anchors) < 0)
        return -EINVAL;
    vo->anchors = *anchors;
    desc = agent_trust_anchor_string(*anchors);
    if (!desc)
        return -ENOMEM;
    if (*anchors)
        agent_announce_anchors(desc);
    agent_format_time(vo->at, at);
    if (json_add_string(out, "trust_anchor", desc) < 0 || json_add_string(out, "at", at) < 0)
        return -ENOMEM;
    return 0;
}

static int print_result(const ReportOptions *o, const cJSON *out, int rc) {
    if (o->json) {
        if (agent_print_json(out) != CVM_EXIT_OK)
            return CVM_EXIT_PLATFORM;
    } else
        agent_print_text(out);
    return rc;
}

/* --source tdx-guest|tdx-configfs|azure-tdx; with --verify the TD quote is
 * verified (and for azure-tdx the runtime claims must be bound). */
static int report_tdx_source(AgentContext *ctx, const ReportOptions *o, const char *source) {
    _cleanup_json_ cJSON *out = cJSON_CreateObject();
    _cleanup_free_ uint8_t *ev = NULL;
    _cleanup_(anchors_free) STACK_OF(X509) *anchors = NULL;
    size_t ev_len = 0;
    int r, rc = CVM_EXIT_OK;
    if (o->vmpl != 0 || o->certs_path)
        return log_error("--vmpl and --certs-out do not apply to '%s'", source), CVM_EXIT_USAGE;
    if (o->verify && streq(source, "tdx-guest"))
        return log_error("a TDREPORT cannot be verified off the platform that made it; for a "
                         "verifiable TD quote use --source tdx-configfs or azure-tdx"),
               CVM_EXIT_USAGE;
    if (!out)
        return log_error_errno(-ENOMEM, "out of memory"), CVM_EXIT_PLATFORM;
    r = report_tdx(ctx, source, o->have_data ? o->data : NULL, o->deadline_ms, &ev, &ev_len, out);
    if (r == -EINVAL)
        return CVM_EXIT_USAGE;
    if (r < 0) /* the platform's or the network's, never the user's */
        return cvm_exit_from_errno(r) == CVM_EXIT_TRANSIENT ? CVM_EXIT_TRANSIENT
                                                            : CVM_EXIT_PLATFORM;
    if (o->out_path && (r = write_file_atomic(o->out_path, ev, ev_len, 0644)) < 0)
        return log_error_errno(r, "cannot write '%s': %s", o->out_path, strerror(-r)),
               CVM_EXIT_PLATFORM;
    if (o->verify) {
        VerifyOptions vo;
        cJSON *q = cJSON_AddObjectToObject(out, "verification");
        if (!q || (r = verify_options(ctx, o, &anchors, &vo, q)) < 0)
            return r == -EINVAL ? CVM_EXIT_USAGE : CVM_EXIT_PLATFORM;
        r = verify_tdx_quote_bytes(&vo, ev, ev_len, "the TD quote", q, NULL);
        if (r == -EINVAL || r == -ENOMEM)
            return cvm_exit_from_errno(r);
        bool bound = true;
        if (r == 0 && json_get_bool(out, "runtime_data_bound", &bound) == 0 && !bound)
            r = verify_fail(q, -EKEYREJECTED,
                            "the HCL report's runtime claims are not bound to "
                            "its TDREPORT (runtime_data_bound: false)");
        rc = cvm_exit_from_errno(r);
        if (r < 0)
            log_error("the report did not verify: %s", json_get_string(q, "reason") ?: "?");
    }
    return print_result(o, out, rc);
}

/* Obtains the report (and certificate table) from source; a CvmExit, or
 * -ENODEV when configfs-tsm is not SEV-SNP's and the caller may try TDX. */
static int obtain(AgentContext *ctx, const ReportOptions *o, AttestSource source, bool picked,
                  AttestReport *e) {
    AttestSourceConfig sc;
    _cleanup_free_ char *cache = NULL;
    int r = agent_source_config(&ctx->cfg, &sc, &cache);
    if (r < 0)
        return CVM_EXIT_PLATFORM;
    sc.deadline_ms = o->deadline_ms;
    r = attest_platform_report(
        &sc, source, o->have_data || source != ATTEST_SOURCE_VTPM ? o->data : NULL, o->vmpl, e);
    if (r == -ENODEV && picked)
        return r;
    if (r < 0) {
        log_error("%s", attest_last_error());
        /* configfs-tsm's entry kept changing, or the paravisor was slow */
        bool transient = (r == -EAGAIN && source == ATTEST_SOURCE_SNP_CONFIGFS) ||
                         (r == -ETIMEDOUT && source == ATTEST_SOURCE_VTPM);
        return transient ? CVM_EXIT_TRANSIENT : CVM_EXIT_PLATFORM;
    }
    if (o->out_path && (r = write_file_atomic(o->out_path, e->raw, e->raw_len, 0644)) < 0)
        return log_error_errno(r, "cannot write '%s': %s", o->out_path, strerror(-r)),
               CVM_EXIT_PLATFORM;
    if (o->certs_path && e->certs &&
        (r = write_file_atomic(o->certs_path, e->certs, e->certs_len, 0644)) < 0)
        return log_error_errno(r, "cannot write '%s': %s", o->certs_path, strerror(-r)),
               CVM_EXIT_PLATFORM;
    return CVM_EXIT_OK;
}

static void list_certificates(const AttestReport *e, cJSON *out) {
    static const char *const kinds[] = {"other", "vcek", "vlek", "ask", "ark"};
    SnpCertEntry ent[SNP_CERT_TABLE_MAX];
    size_t n = 0;
    cJSON *arr = cJSON_AddArrayToObject(out, "certificates");
    if (arr && snp_cert_table_parse(e->certs, e->certs_len, ent, ELEMENTSOF(ent), &n) == 0)
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateString(kinds[ent[i].kind]));
}

/* The vTPM's HCL report: header fields; *ret_snp the SNP report inside, or
 * NULL for a TDX one (decoded here; verified through its TD quote). */
static int decode_hcl(const AttestReport *e, cJSON *out, HclReport *h, const uint8_t **ret_snp) {
    const char *err = NULL;
    _cleanup_json_ cJSON *claims = NULL;
    uint8_t ud[HCL_USER_DATA_SIZE];
    TdxTdReport t;
    bool hashes_ok = false;
    if (hcl_report_parse(e->raw, e->raw_len, h, &err) < 0)
        return log_error("the vTPM's HCL report: %s", err), -EBADMSG;
    if (json_add_string(out, "report_type", hcl_report_type_name(h->report_type)) < 0 ||
        json_add_bool(out, "runtime_data_bound", hcl_runtime_data_bound(h, NULL)) < 0)
        return -ENOMEM;
    if (hcl_runtime_claims(h, &claims) == 0 && hcl_user_data(claims, ud) == 0)
        json_add_hex(out, "user_data", ud, sizeof(ud));
    *ret_snp = h->report_type == HCL_REPORT_SNP ? h->hw_report : NULL;
    if (h->report_type != HCL_REPORT_TDX)
        return 0;
    cJSON *td = cJSON_AddObjectToObject(out, "tdreport");
    if (!td || h->hw_report_len < TDX_TDREPORT_SIZE ||
        tdx_report_parse(h->hw_report, TDX_TDREPORT_SIZE, false, &t) < 0)
        return log_error("the HCL report's TDREPORT does not parse"), -EBADMSG;
    return verify_tdx_tdreport_json(&t, td, &hashes_ok);
}

/* Decodes (and with --verify verifies) an SNP report; a CvmExit. */
static int report_snp(AgentContext *ctx, const ReportOptions *o, const char *source,
                      const AttestReport *e, const uint8_t *snp, size_t snp_len, cJSON *out) {
    SnpReport rep;
    const char *err = NULL;
    bool vtpm = streq(source, "vtpm");
    cJSON *ro = cJSON_AddObjectToObject(out, "report");
    if (!ro)
        return CVM_EXIT_PLATFORM;
    if (snp_report_parse(snp, snp_len, &rep, &err) < 0)
        return log_error("the %s report does not parse: %s", source, err), CVM_EXIT_PLATFORM;
    if (o->have_data && !vtpm && memcmp(rep.report_data, o->data, 64) != 0)
        return log_error("the report does not carry the requested report data"), CVM_EXIT_PLATFORM;
    if (!o->verify)
        return snp_report_to_json(&rep, ro) < 0 ? CVM_EXIT_PLATFORM : CVM_EXIT_OK;
    _cleanup_(anchors_free) STACK_OF(X509) *anchors = NULL;
    VerifyOptions vo;
    SnpPolicy policy;
    int r = verify_options(ctx, o, &anchors, &vo, ro);
    if (r < 0)
        return r == -EINVAL ? CVM_EXIT_USAGE : CVM_EXIT_PLATFORM;
    snp_policy_init(&policy);
    policy.allow_debug = o->allow_debug;
    policy.vmpl = vtpm ? 0 : (int)o->vmpl; /* the paravisor's VMPL 0, or the one asked for */
    r = agent_snp_verify(ctx, &vo, &rep, vtpm ? NULL : e->certs, e->certs_len, &policy, ro);
    if (r == -EINVAL || r == -ENOMEM)
        return cvm_exit_from_errno(r);
    bool bound = false;
    if (r == 0 && vtpm && (json_get_bool(out, "runtime_data_bound", &bound) < 0 || !bound))
        r = verify_fail(ro, -EKEYREJECTED,
                        "the HCL report's runtime claims are not bound to its "
                        "SNP report (runtime_data_bound: false)");
    if (r < 0)
        log_error("the report did not verify: %s", json_get_string(ro, "reason") ?: "?");
    return cvm_exit_from_errno(r);
}

int cmd_report(AgentContext *ctx, int argc, char **argv) {
    ReportOptions o = {.source = ctx->cfg.report_source, .deadline_ms = REPORT_VTPM_DEADLINE_MS};
    _cleanup_(attest_report_done) AttestReport e = {0};
    HclReport h;
    int rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc == 1 ? CVM_EXIT_OK : rc;
    if (report_tdx_is_source(o.source))
        return report_tdx_source(ctx, &o, o.source);

    const char *tsm = ctx->cfg.snp_configfs_tsm ? ctx->cfg.snp_configfs_tsm : SNP_CONFIGFS_TSM;
    bool picked = !o.source;
    AttestSource src;
    if (picked) {
        AttestSourceConfig sc = {.snp_configfs_tsm = ctx->cfg.snp_configfs_tsm,
                                 .snp_device = ctx->cfg.snp_device};
        src = attest_platform_detect(&sc);
    } else
        src = attest_source_from_name(o.source);
    if (src != ATTEST_SOURCE_SNP_CONFIGFS && src != ATTEST_SOURCE_SEV_GUEST &&
        src != ATTEST_SOURCE_VTPM)
        return log_error("--source wants configfs, sev-guest or vtpm, not '%s'", o.source),
               CVM_EXIT_USAGE;
    const char *source = attest_source_name(src);
    if (streq(source, "vtpm") && o.vmpl != 0)
        return log_error("--vmpl does not apply to the vtpm source"), CVM_EXIT_USAGE;
    rc = obtain(ctx, &o, src, picked, &e);
    /* configfs-tsm serves SNP and TDX alike: its provider says which */
    if (rc == -ENODEV) {
        log_debug("configfs-tsm '%s' is not sev_guest; trying tdx_guest", tsm);
        if (!ctx->cfg.tdx_configfs_tsm && !(ctx->cfg.tdx_configfs_tsm = strdup(tsm)))
            return log_error_errno(-ENOMEM, "out of memory"), CVM_EXIT_PLATFORM;
        return report_tdx_source(ctx, &o, "tdx-configfs");
    }
    if (rc != CVM_EXIT_OK)
        return rc;
    _cleanup_json_ cJSON *out = cJSON_CreateObject();
    if (!out || json_add_string(out, "source", source) < 0 ||
        (e.provider && json_add_string(out, "provider", e.provider) < 0))
        return log_error_errno(-ENOMEM, "out of memory"), CVM_EXIT_PLATFORM;
    const uint8_t *snp = e.raw;
    size_t snp_len = e.raw_len;
    if (streq(source, "vtpm")) {
        int r = decode_hcl(&e, out, &h, &snp);
        if (r < 0)
            return CVM_EXIT_PLATFORM;
        snp_len = h.hw_report_len;
        /* a TDX HCL report is verified through the TD quote for its TDREPORT */
        if (!snp && o.verify && h.report_type == HCL_REPORT_TDX) {
            ReportOptions q = o;
            q.have_data = false; /* the report read above already carries it */
            return report_tdx_source(ctx, &q, "azure-tdx");
        }
        if (!snp && o.verify)
            return log_error("the HCL report holds a '%s' report, which --verify cannot check",
                             hcl_report_type_name(h.report_type)),
                   CVM_EXIT_REJECTED;
    } else if (e.certs)
        list_certificates(&e, out);
    rc = snp ? report_snp(ctx, &o, source, &e, snp, snp_len, out) : CVM_EXIT_OK;
    if (rc == CVM_EXIT_USAGE || rc == CVM_EXIT_PLATFORM || rc == CVM_EXIT_TRANSIENT)
        return rc;
    return print_result(&o, out, rc);
}
