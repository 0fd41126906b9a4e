/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cvm-agent verify: verify evidence offline, from files.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/verify.h"
#include "common/json.h"
#include "common/log.h"

void verify_usage(FILE *f) {
    fprintf(
        f,
        "Usage: cvm-agent verify EVIDENCE [OPTIONS]\n"
        "\n"
        "Verify evidence offline, from files, and print what it says.\n"
        "\n"
        "Evidence (one kind per run):\n"
        "      --snp-report F       an SEV-SNP attestation report (binary or hex)\n"
        "      --hcl-report F       an Azure HCL report (SNP or TDX inside)\n"
        "      --td-quote F         with --hcl-report of a TDX VM: the TD quote for its\n"
        "                           TDREPORT (verified, and bound to the TDREPORT)\n"
        "      --vcek F             the report's VCEK/VLEK (PEM or DER; more PEM\n"
        "                           certificates in the file join the chain)\n"
        "      --cert-chain F       ASK/ASVK and ARK (PEM, as KDS cert_chain); without\n"
        "                           --vcek: cache, THIM ([snp] thim) and AMD KDS\n"
        "      --tdx-quote F        a TDX quote (v4/v5), verified to the Intel SGX Root CA;\n"
        "                           with --tcb-info F --qe-identity F [--crl F]...\n"
        "                           [--collateral-chain F] also its TCB status; with\n"
        "                           --event-log CCEL which RTMRs the log replays to; debug\n"
        "                           TDs are rejected unless --allow-debug; --measurement\n"
        "                           MRTD and --report-data HEX (a prefix) compare those\n"
        "                           fields\n"
        "      --tdreport F         a 1024-byte TDX TDREPORT (hash checks; its MAC is only\n"
        "                           checkable on the platform)\n"
        "      --event-log FILE     replay a TCG firmware event log, or a TDX CCEL log\n"
        "                           (recognised by its SHA-384-only bank and RTMR indices)\n"
        "      --pcrs FILE          with --event-log: compare with PCR values, as JSON\n"
        "                           {\"sha256\": {\"0\": \"HEX\", ...}} or tpm2_pcrread YAML\n"
        "      --tpm-quote F        TPMS_ATTEST of a TPM quote (tpm2_quote -m), with\n"
        "        --tpm-signature F  its TPMT_SIGNATURE (tpm2_quote -s) or raw RSASSA bytes\n"
        "        --ak-pub F         the AK public key (PEM/DER, certificate or TPM2B_PUBLIC)\n"
        "        [--nonce HEX]      the expected qualifying data\n"
        "        [--pcrs F]         PCR values: JSON {\"sha256\":{\"0\":\"hex\"}} or\n"
        "                           tpm2_pcrread YAML; checks the quoted PCR digest\n"
        "      --token F            an MAA attestation token (JWT): RS256 signature by the\n"
        "                           key of its kid, iss ([attestation] url), jku, exp/nbf/iat\n"
        "        [--jwks F | --certs-url URL]  the signing keys (default: the cached\n"
        "                           /certs of [attestation] url)\n"
        "        [--nonce S]        the nonce string sent in the client payload\n"
        "        [--transfer-key F] the transfer key (PEM/DER or TPM2B_PUBLIC) that\n"
        "                           x-ms-runtime.keys must hold\n"
        "      --release-response F a Key Vault / Managed HSM release response ({\"value\":JWS},\n"
        "                           the JWS, or an unsigned payload: unverifiable)\n"
        "        [--ca-bundle F]    its roots (default: the system store)\n"
        "      --release-policy P   a key release policy, evaluated against --token F\n"
        "\n"
        "SNP policy:\n"
        "      --allow-debug        accept a guest whose policy allows debugging\n"
        "      --min-tcb B:T:S:U[:F] minimum bootloader:tee:snp:microcode[:fmc]\n"
        "      --measurement HEX    an allowed launch measurement; repeatable\n"
        "      --report-data HEX    expected report_data (a prefix may be given)\n"
        "      --host-data HEX      expected host_data\n"
        "      --vmpl N             required VMPL (0..3)\n"
        "      --policy F           a JSON policy file (format: cvm-agent(8))\n"
        "\n"
        "Options:\n"
        "      --at TIME            verify as of TIME (RFC 3339, e.g. 2024-06-01T00:00:00Z)\n"
        "      --trust-anchor PEM   an extra (non-production) root certificate; repeatable\n"
        "      --json               print a JSON object\n"
        "  -h, --help               this help\n"
        "\n"
        "Exit status: 0 verified, 1 not verified, 2 usage error, 4 local failure.\n");
}

/* Puts item under key as the object's first member, so "verified" leads. */
static void set_first(cJSON *obj, const char *key, cJSON *item) {
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    if (!item || !cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return;
    }
    cJSON_DetachItemViaPointer(obj, item); /* keeps item->string */
    if (!cJSON_InsertItemInArray(obj, 0, item))
        cJSON_Delete(item);
}

int verify_fail(cJSON *out, int r, const char *fmt, ...) {
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    cJSON_DeleteItemFromObjectCaseSensitive(out, "reason");
    cJSON *item = cJSON_CreateString(reason);
    if (item && !cJSON_AddItemToObject(out, "reason", item))
        cJSON_Delete(item);
    set_first(out, "verified", cJSON_CreateFalse());
    return r < 0 ? r : -EKEYREJECTED;
}

int verify_pass(cJSON *out) {
    cJSON_DeleteItemFromObjectCaseSensitive(out, "reason");
    set_first(out, "verified", cJSON_CreateTrue());
    return 0;
}

static VerifyHandler pick_handler(const VerifyOptions *o) {
    /* Handlers register here, one line each. */
    if (o->snp_report)
        return verify_snp;
    if (o->hcl_report)
        return verify_hcl;
    if (o->tdx_quote || o->tdreport)
        return verify_tdx;
    if (o->tpm_quote)
        return verify_tpm_quote;
    if (o->release_response)
        return verify_release_response;
    if (o->release_policy)
        return verify_release_policy;
    if (o->token)
        return verify_token;
    if (o->event_log && !o->tdx_quote && !o->tpm_quote)
        return verify_event_log;
    return NULL;
}

int cmd_verify(AgentContext *ctx, int argc, char **argv) {
    enum {
        OPT_SNP_REPORT = 0x100,
        OPT_HCL_REPORT,
        OPT_TDX_QUOTE,
        OPT_TDREPORT,
        OPT_TD_QUOTE,
        OPT_EVENT_LOG,
        OPT_PCRS,
        OPT_TPM_QUOTE,
        OPT_TPM_SIGNATURE,
        OPT_AK_PUB,
        OPT_NONCE,
        OPT_TOKEN,
        OPT_JWKS,
        OPT_CERTS_URL,
        OPT_TRANSFER_KEY,
        OPT_RELEASE_RESPONSE,
        OPT_RELEASE_POLICY,
        OPT_CA_BUNDLE,
        OPT_VCEK,
        OPT_CERT_CHAIN,
        OPT_TCB_INFO,
        OPT_QE_IDENTITY,
        OPT_COLLATERAL_CHAIN,
        OPT_CRL,
        OPT_POLICY,
        OPT_ALLOW_DEBUG,
        OPT_MIN_TCB,
        OPT_MEASUREMENT,
        OPT_REPORT_DATA,
        OPT_HOST_DATA,
        OPT_VMPL,
        OPT_TRUST_ANCHOR,
        OPT_AT,
        OPT_JSON,
    };
    static const struct option options[] = {
        {"snp-report", required_argument, NULL, OPT_SNP_REPORT},
        {"hcl-report", required_argument, NULL, OPT_HCL_REPORT},
        {"tdx-quote", required_argument, NULL, OPT_TDX_QUOTE},
        {"tdreport", required_argument, NULL, OPT_TDREPORT},
        {"td-quote", required_argument, NULL, OPT_TD_QUOTE},
        {"event-log", required_argument, NULL, OPT_EVENT_LOG},
        {"pcrs", required_argument, NULL, OPT_PCRS},
        {"tpm-quote", required_argument, NULL, OPT_TPM_QUOTE},
        {"tpm-signature", required_argument, NULL, OPT_TPM_SIGNATURE},
        {"ak-pub", required_argument, NULL, OPT_AK_PUB},
        {"nonce", required_argument, NULL, OPT_NONCE},
        {"token", required_argument, NULL, OPT_TOKEN},
        {"jwks", required_argument, NULL, OPT_JWKS},
        {"certs-url", required_argument, NULL, OPT_CERTS_URL},
        {"transfer-key", required_argument, NULL, OPT_TRANSFER_KEY},
        {"release-response", required_argument, NULL, OPT_RELEASE_RESPONSE},
        {"release-policy", required_argument, NULL, OPT_RELEASE_POLICY},
        {"ca-bundle", required_argument, NULL, OPT_CA_BUNDLE},
        {"vcek", required_argument, NULL, OPT_VCEK},
        {"cert-chain", required_argument, NULL, OPT_CERT_CHAIN},
        {"tcb-info", required_argument, NULL, OPT_TCB_INFO},
        {"qe-identity", required_argument, NULL, OPT_QE_IDENTITY},
        {"collateral-chain", required_argument, NULL, OPT_COLLATERAL_CHAIN},
        {"crl", required_argument, NULL, OPT_CRL},
        {"policy", required_argument, NULL, OPT_POLICY},
        {"allow-debug", no_argument, NULL, OPT_ALLOW_DEBUG},
        {"min-tcb", required_argument, NULL, OPT_MIN_TCB},
        {"measurement", required_argument, NULL, OPT_MEASUREMENT},
        {"report-data", required_argument, NULL, OPT_REPORT_DATA},
        {"host-data", required_argument, NULL, OPT_HOST_DATA},
        {"vmpl", required_argument, NULL, OPT_VMPL},
        {"trust-anchor", required_argument, NULL, OPT_TRUST_ANCHOR},
        {"at", required_argument, NULL, OPT_AT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    VerifyOptions o = {.at = now_realtime_s(), .vmpl = -1};
    size_t n_anchors = 0, n_crls = 0, n_meas = 0, n_cfg_anchors = 0;
    for (char **a = ctx->cfg.trust_anchors; a && *a; a++)
        n_cfg_anchors++;
    _cleanup_free_ const char **anchors = calloc((size_t)argc + n_cfg_anchors + 1, sizeof(char *));
    _cleanup_free_ const char **crls = calloc((size_t)argc + 1, sizeof(char *));
    _cleanup_free_ const char **meas = calloc((size_t)argc + 1, sizeof(char *));
    int c, r;

    if (!anchors || !crls || !meas)
        return log_error_errno(-ENOMEM, "out of memory"), CVM_EXIT_PLATFORM;
    for (char **a = ctx->cfg.trust_anchors; a && *a; a++)
        anchors[n_anchors++] = *a;

    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h': verify_usage(stdout); return CVM_EXIT_OK;
        case OPT_SNP_REPORT: o.snp_report = optarg; break;
        case OPT_HCL_REPORT: o.hcl_report = optarg; break;
        case OPT_TDX_QUOTE: o.tdx_quote = optarg; break;
        case OPT_TDREPORT: o.tdreport = optarg; break;
        case OPT_TD_QUOTE: o.td_quote = optarg; break;
        case OPT_EVENT_LOG: o.event_log = optarg; break;
        case OPT_PCRS: o.pcrs = optarg; break;
        case OPT_TPM_QUOTE: o.tpm_quote = optarg; break;
        case OPT_TPM_SIGNATURE: o.tpm_signature = optarg; break;
        case OPT_AK_PUB: o.ak_pub = optarg; break;
        case OPT_NONCE: o.nonce = optarg; break;
        case OPT_TOKEN: o.token = optarg; break;
        case OPT_JWKS: o.jwks = optarg; break;
        case OPT_CERTS_URL: o.certs_url = optarg; break;
        case OPT_TRANSFER_KEY: o.transfer_key = optarg; break;
        case OPT_RELEASE_RESPONSE: o.release_response = optarg; break;
        case OPT_RELEASE_POLICY: o.release_policy = optarg; break;
        case OPT_CA_BUNDLE: o.ca_bundle = optarg; break;
        case OPT_VCEK: o.vcek = optarg; break;
        case OPT_CERT_CHAIN: o.cert_chain = optarg; break;
        case OPT_TCB_INFO: o.tcb_info = optarg; break;
        case OPT_QE_IDENTITY: o.qe_identity = optarg; break;
        case OPT_COLLATERAL_CHAIN: o.collateral_chain = optarg; break;
        case OPT_CRL: crls[n_crls++] = optarg; break;
        case OPT_POLICY: o.policy = optarg; break;
        case OPT_ALLOW_DEBUG: o.allow_debug = true; break;
        case OPT_MIN_TCB: o.min_tcb = optarg; break;
        case OPT_MEASUREMENT: meas[n_meas++] = optarg; break;
        case OPT_REPORT_DATA: o.report_data = optarg; break;
        case OPT_HOST_DATA: o.host_data = optarg; break;
        case OPT_VMPL: {
            uint32_t v;
            if (parse_u32(optarg, &v) < 0 || v > 3)
                return log_error("--vmpl wants 0..3, not '%s'", optarg), CVM_EXIT_USAGE;
            o.vmpl = (int)v;
            break;
        }
        case OPT_TRUST_ANCHOR:
            anchors[n_anchors++] = optarg;
            log_warning("non-production trust anchor '%s' is in use", optarg);
            break;
        case OPT_AT:
            if (parse_rfc3339(optarg, &o.at) < 0)
                return log_error("--at wants an RFC 3339 time such as 2024-06-01T00:00:00Z, "
                                 "not '%s'",
                                 optarg),
                       CVM_EXIT_USAGE;
            break;
        case OPT_JSON: o.json = true; break;
        default: fprintf(stderr, "see 'cvm-agent verify --help'\n"); return CVM_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return log_error("verify: unexpected argument '%s'", argv[optind]), CVM_EXIT_USAGE;
    o.trust_anchors = anchors;
    o.crls = crls;
    o.measurements = meas;

    VerifyHandler handler = pick_handler(&o);
    if (!handler) {
        log_error("verify: name the evidence to verify; see 'cvm-agent verify --help'");
        return CVM_EXIT_USAGE;
    }
    _cleanup_json_ cJSON *out = cJSON_CreateObject();
    if (!out)
        return log_error_errno(-ENOMEM, "out of memory"), CVM_EXIT_PLATFORM;
    r = handler(ctx, &o, out);
    if (r == -EINVAL || r == -ENOMEM || (r < 0 && !cJSON_GetObjectItem(out, "verified")))
        return cvm_exit_from_errno(r); /* the handler logged a usage or local error */
    if (o.json) {
        if (agent_print_json(out) != CVM_EXIT_OK)
            return CVM_EXIT_PLATFORM;
    } else
        agent_print_text(out);
    if (r < 0) {
        const char *reason = json_get_string(out, "reason");
        log_error("verification failed: %s", reason ? reason : "see output");
    }
    return cvm_exit_from_errno(r);
}
