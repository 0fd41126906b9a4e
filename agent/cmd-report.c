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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/hcl.h"
#include "agent/report-tdx.h"
#include "agent/verify-snp.h"
#include "agent/verify.h"
#include "common/codec.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "snp/snp.h"
#include "tpm/tpm.h"

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
               "      --verify           verify the report to the AMD root (certificates from the\n"
               "                         report, the cache, THIM or AMD KDS)\n"
               "      --allow-debug      with --verify: accept a debug guest\n"
               "      --timeout DURATION vtpm: how long to wait for a fresh report (default 10s)\n"
               "      --json             print a JSON object\n"
               "  -h, --help             this help\n"
               "\n"
               "Exit status: 0 success, 1 not verified, 2 usage error, 3 transient, 4 platform.\n");
}

static bool path_exists(const char *p) {
    struct stat st;
    return p && stat(p, &st) == 0;
}

int cmd_report(AgentContext *ctx, int argc, char **argv) {
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
    const char *source = ctx->cfg.report_source, *out_path = NULL, *certs_path = NULL;
    uint8_t data[64] = {0};
    bool have_data = false, json = false, verify = false, allow_debug = false;
    uint32_t vmpl = 0;
    uint64_t deadline_ms = REPORT_VTPM_DEADLINE_MS;
    int c, r;

    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h': report_usage(stdout); return CVM_EXIT_OK;
        case OPT_SOURCE: source = optarg; break;
        case OPT_REPORT_DATA: {
            _cleanup_free_ uint8_t *b = NULL;
            size_t n = 0;
            if (hex_decode(optarg, strlen(optarg), &b, &n) < 0 || n > 64)
                return log_error("--report-data wants up to 64 bytes of hex, not '%s'", optarg),
                       CVM_EXIT_USAGE;
            memset(data, 0, sizeof(data));
            memcpy(data, b, n);
            have_data = true;
            break;
        }
        case OPT_VMPL:
            if (parse_u32(optarg, &vmpl) < 0 || vmpl > 3)
                return log_error("--vmpl wants 0..3, not '%s'", optarg), CVM_EXIT_USAGE;
            break;
        case OPT_OUT: out_path = optarg; break;
        case OPT_CERTS_OUT: certs_path = optarg; break;
        case OPT_VERIFY: verify = true; break;
        case OPT_ALLOW_DEBUG: allow_debug = true; break;
        case OPT_TIMEOUT:
            if (parse_duration_ms(optarg, &deadline_ms) < 0)
                return log_error("--timeout wants a duration such as 10s, not '%s'", optarg),
                       CVM_EXIT_USAGE;
            break;
        case OPT_JSON: json = true; break;
        default: fprintf(stderr, "see 'cvm-agent report --help'\n"); return CVM_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return log_error("report: unexpected argument '%s'", argv[optind]), CVM_EXIT_USAGE;
    if (report_tdx_is_source(source)) {
        if (vmpl != 0 || certs_path || verify)
            return log_error("--vmpl, --certs-out and --verify do not apply to '%s'; verify a TD "
                             "quote with 'cvm-agent verify --tdx-quote'",
                             source),
                   CVM_EXIT_USAGE;
        return report_tdx_command(ctx, source, have_data ? data : NULL, deadline_ms, out_path,
                                  json);
    }

    const char *tsm = ctx->cfg.snp_configfs_tsm ? ctx->cfg.snp_configfs_tsm : SNP_CONFIGFS_TSM;
    const char *dev = ctx->cfg.snp_device ? ctx->cfg.snp_device : SNP_SEV_GUEST_DEVICE;
    if (!source) {
        /* configfs-tsm is the kernel's preferred interface; then the ioctl;
         * then the Azure vTPM (whose paravisor hides /dev/sev-guest) */
        if (path_exists(tsm))
            source = "configfs";
        else if (path_exists(dev))
            source = "sev-guest";
        else
            source = "vtpm";
        log_debug("report source: %s", source);
    }
    if (!streq(source, "configfs") && !streq(source, "sev-guest") && !streq(source, "vtpm"))
        return log_error("--source wants configfs, sev-guest or vtpm, not '%s'", source),
               CVM_EXIT_USAGE;
    if (streq(source, "vtpm") && vmpl != 0)
        return log_error("--vmpl does not apply to the vtpm source"), CVM_EXIT_USAGE;

    _cleanup_free_ uint8_t *raw = NULL, *certs = NULL;
    _cleanup_free_ char *provider = NULL;
    size_t raw_len = 0, certs_len = 0;
    if (streq(source, "configfs")) {
        r = snp_tsm_get_report(tsm, data, vmpl, &raw, &raw_len, &certs, &certs_len, &provider);
        if (r == -EBUSY)
            return log_error("configfs-tsm: another writer kept changing the report entry under "
                             "'%s'; try again",
                             tsm),
                   CVM_EXIT_TRANSIENT;
        if (r < 0)
            return log_error_errno(r, "cannot get a report through configfs-tsm '%s': %s", tsm,
                                   strerror(-r)),
                   CVM_EXIT_PLATFORM;
    } else if (streq(source, "sev-guest")) {
        r = snp_guest_get_report(dev, data, vmpl, &raw, &raw_len, &certs, &certs_len);
        if (r < 0)
            return log_error_errno(r, "cannot get a report from '%s': %s", dev, strerror(-r)),
                   CVM_EXIT_PLATFORM;
    } else {
        r = hcl_vtpm_read(ctx->cfg.tcti, have_data ? data : NULL, deadline_ms, &raw, &raw_len);
        if (r == -ETIMEDOUT)
            return CVM_EXIT_TRANSIENT;
        if (r < 0)
            return CVM_EXIT_PLATFORM;
    }
    if (out_path && (r = write_file_atomic(out_path, raw, raw_len, 0644)) < 0)
        return log_error_errno(r, "cannot write '%s': %s", out_path, strerror(-r)),
               CVM_EXIT_PLATFORM;
    if (certs_path && certs && (r = write_file_atomic(certs_path, certs, certs_len, 0644)) < 0)
        return log_error_errno(r, "cannot write '%s': %s", certs_path, strerror(-r)),
               CVM_EXIT_PLATFORM;

    _cleanup_json_ cJSON *out = cJSON_CreateObject();
    if (!out || json_add_string(out, "source", source) < 0)
        return log_error_errno(-ENOMEM, "out of memory"), CVM_EXIT_PLATFORM;
    if (provider)
        json_add_string(out, "provider", provider);

    const uint8_t *snp_bytes = raw;
    size_t snp_len = raw_len;
    if (streq(source, "vtpm")) {
        HclReport h;
        const char *err = NULL;
        _cleanup_free_ char *expected = NULL;
        if (hcl_report_parse(raw, raw_len, &h, &err) < 0)
            return log_error("the vTPM's HCL report: %s", err), CVM_EXIT_PLATFORM;
        json_add_string(out, "report_type", hcl_report_type_name(h.report_type));
        json_add_bool(out, "runtime_data_bound", hcl_runtime_data_bound(&h, &expected));
        _cleanup_json_ cJSON *claims = NULL;
        uint8_t ud[HCL_USER_DATA_SIZE];
        if (hcl_runtime_claims(&h, &claims) == 0 && hcl_user_data(claims, ud) == 0)
            json_add_hex(out, "user_data", ud, sizeof(ud));
        if (h.report_type != HCL_REPORT_SNP) {
            cJSON *hw = cJSON_AddObjectToObject(out, "hw_report");
            if (!hw || json_add_hex(hw, "report_data", h.report_data, 64) < 0)
                return CVM_EXIT_PLATFORM;
            if (verify)
                log_warning("--verify applies to SNP reports only; for TDX use 'verify "
                            "--hcl-report --td-quote'");
            verify = false;
            snp_bytes = NULL;
        } else {
            snp_bytes = h.hw_report;
            snp_len = h.hw_report_len;
        }
    } else if (certs) {
        SnpCertEntry e[SNP_CERT_TABLE_MAX];
        size_t n = 0;
        cJSON *arr = cJSON_AddArrayToObject(out, "certificates");
        if (arr && snp_cert_table_parse(certs, certs_len, e, ELEMENTSOF(e), &n) == 0) {
            static const char *const kinds[] = {"other", "vcek", "vlek", "ask", "ark"};
            for (size_t i = 0; i < n; i++)
                cJSON_AddItemToArray(arr, cJSON_CreateString(kinds[e[i].kind]));
        }
    }

    int rc = CVM_EXIT_OK;
    if (snp_bytes) {
        SnpReport rep;
        const char *err = NULL;
        cJSON *ro = cJSON_AddObjectToObject(out, "report");
        if (!ro)
            return CVM_EXIT_PLATFORM;
        r = snp_report_parse(snp_bytes, snp_len, &rep, &err);
        if (r < 0)
            return log_error("the %s report does not parse: %s", source, err), CVM_EXIT_PLATFORM;
        if (have_data && !streq(source, "vtpm") && memcmp(rep.report_data, data, 64) != 0)
            return log_error("the report does not carry the requested report data"),
                   CVM_EXIT_PLATFORM;
        if (verify) {
            VerifyOptions vo = {.at = now_realtime_s(), .vmpl = -1, .allow_debug = allow_debug};
            const char *none[] = {NULL};
            vo.measurements = none;
            vo.trust_anchors = (const char **)ctx->cfg.trust_anchors;
            r = agent_snp_verify(ctx, &vo, &rep, streq(source, "vtpm") ? NULL : certs, certs_len,
                                 ro);
            if (r == -EINVAL || r == -ENOMEM)
                return cvm_exit_from_errno(r);
            rc = cvm_exit_from_errno(r);
            if (r < 0) {
                const char *why = json_get_string(ro, "reason");
                log_error("the report did not verify: %s", why ? why : "?");
            }
        } else if (snp_report_to_json(&rep, ro) < 0)
            return CVM_EXIT_PLATFORM;
    }
    if (json) {
        if (agent_print_json(out) != CVM_EXIT_OK)
            return CVM_EXIT_PLATFORM;
    } else
        agent_print_text(out);
    return rc;
}
