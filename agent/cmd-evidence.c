/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cvm-agent evidence: collect this VM's attestation evidence — HCL report,
 * hardware report and its signer's certificates or TD quote, AK and AK
 * certificate, PCR 0-7, a TPM quote over them with a nonce, the TCG log, the
 * certified transfer key — and write it as files and/or JSON.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/attest-platform.h"
#include "attest/attest.h"
#include "common/codec.h"
#include "common/json.h"
#include "common/log.h"

void evidence_usage(FILE *f) {
    fprintf(f, "Usage: cvm-agent evidence [OPTIONS]\n"
               "\n"
               "Collect this VM's attestation evidence from the vTPM and the platform.\n"
               "\n"
               "Options:\n"
               "      --out-dir DIR      write the pieces as files into DIR (see cvm-agent(8))\n"
               "      --nonce HEX        qualifyingData of the TPM quote, up to 64 bytes\n"
               "                         (default: 32 random bytes)\n"
               "      --json             print the whole bundle (evidence.json) on stdout\n"
               "  -h, --help             this help\n"
               "\n"
               "Exit status: 0 success, 2 usage error, 3 transient, 4 platform.\n");
}

static int summary(const cJSON *ev, const AttestTpmEvidence *e, const AttestPlatform *p,
                   const char *out_dir) {
    _cleanup_json_ cJSON *s = cJSON_CreateObject();
    if (!s || json_add_string(s, "tee", json_get_string(ev, "tee")) < 0 ||
        json_add_string(s, "nonce", json_get_string(ev, "nonce")) < 0 ||
        json_add_int(s, "hcl_report_bytes", (int64_t)p->hcl_report_len) < 0 ||
        json_add_int(s, "quote_bytes", (int64_t)e->quote.attest_len) < 0 ||
        json_add_int(s, "event_log_bytes", (int64_t)e->event_log_len) < 0 ||
        (out_dir && json_add_string(s, "out_dir", out_dir) < 0))
        return CVM_EXIT_PLATFORM;
    cJSON_AddItemToObject(s, "pcrs", cJSON_Duplicate(json_get_object(ev, "pcrs"), true));
    agent_print_text(s);
    return CVM_EXIT_OK;
}

int cmd_evidence(AgentContext *ctx, int argc, char **argv) {
    enum { OPT_OUT_DIR = 0x100, OPT_NONCE, OPT_JSON };
    static const struct option options[] = {
        {"out-dir", required_argument, NULL, OPT_OUT_DIR},
        {"nonce", required_argument, NULL, OPT_NONCE},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out_dir = NULL, *nonce_arg = NULL;
    bool json = false;
    int c, r;

    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h': evidence_usage(stdout); return CVM_EXIT_OK;
        case OPT_OUT_DIR: out_dir = optarg; break;
        case OPT_NONCE: nonce_arg = optarg; break;
        case OPT_JSON: json = true; break;
        default: fprintf(stderr, "see 'cvm-agent evidence --help'\n"); return CVM_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return log_error("evidence: unexpected argument '%s'", argv[optind]), CVM_EXIT_USAGE;
    uint8_t nonce[ATTEST_NONCE_MAX];
    size_t nonce_len = 0;
    if ((r = agent_nonce(nonce_arg, nonce, &nonce_len)) < 0)
        return r == -EINVAL ? CVM_EXIT_USAGE : CVM_EXIT_PLATFORM;
    _cleanup_free_ char *nonce_hex = hex_encode(nonce, nonce_len);
    if (!nonce_hex)
        return CVM_EXIT_PLATFORM;

    _cleanup_(attest_platform_evidence_done) AttestPlatformEvidence ap = {0};
    _cleanup_free_ char *cache = NULL;
    AttestSourceConfig sc;
    if (agent_source_config(&ctx->cfg, &sc, &cache) < 0)
        return CVM_EXIT_PLATFORM;
    if (attest_platform_read(&sc, &ap) < 0) /* the vTPM, whatever the errno */
        return log_error("%s", attest_last_error()), CVM_EXIT_PLATFORM;
    sc.imds_url = agent_signer_imds_url(&ctx->cfg, ap.p.tee);
    if ((r = attest_platform_certs(&sc, &ap)) < 0) { /* THIM/KDS or IMDS */
        log_error("%s", attest_last_error());
        return cvm_exit_from_errno(r) == CVM_EXIT_TRANSIENT ? CVM_EXIT_TRANSIENT
                                                            : CVM_EXIT_PLATFORM;
    }
    _cleanup_(attest_tpm_evidence_done) AttestTpmEvidence e = {0};
    if (attest_tpm_collect(ctx->cfg.tcti, nonce, nonce_len, ctx->cfg.attest_event_log, &e) < 0)
        return log_error("%s", attest_last_error()), CVM_EXIT_PLATFORM;
    _cleanup_json_ cJSON *ev = NULL;
    if (attest_evidence_json(&e, &ap.p, nonce_hex, &ev) < 0)
        return log_error_errno(-ENOMEM, "out of memory"), CVM_EXIT_PLATFORM;
    if (out_dir && attest_evidence_write(out_dir, &e, &ap.p, ev) < 0)
        return log_error("%s", attest_last_error()), CVM_EXIT_PLATFORM;
    if (json)
        return agent_print_json(ev);
    return summary(ev, &e, &ap.p, out_dir);
}
