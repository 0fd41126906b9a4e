/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cvm-agent verify: verify evidence from files; one handler per kind of evidence.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/args.h"
#include "agent/verify.h"
#include "common/json.h"
#include "common/log.h"

void verify_usage(FILE *f) {
    fprintf(f, "Usage: cvm-agent verify (--snp-report|--hcl-report|--tdx-quote|--tdreport|\n"
               "                         --tpm-quote|--event-log|--token|--release-response|\n"
               "                         --release-policy) FILE... [OPTIONS]\n"
               "       cvm-agent verify --evidence-dir DIR [OPTIONS]\n"
               "\n"
               "Verify evidence from files and print what it says. \"verified: yes\" (true in\n"
               "JSON; exit 0) means every piece of evidence named on the command line was\n"
               "authenticated to a pinned root (or a trust anchor the user named, announced\n"
               "on stderr), and every expected value the user gave was compared and matched.\n"
               "Anything less is exit 1 with a reason, or exit 2 if the request itself makes\n"
               "no sense (an option the evidence does not read included).\n"
               "\n"
               "SEV-SNP report, or Azure HCL report of an SNP VM:\n"
               "      --snp-report F       an SEV-SNP attestation report (binary or hex)\n"
               "      --hcl-report F       an Azure HCL report; its SNP report must be VMPL 0\n"
               "      --vcek F             the report's VCEK/VLEK (PEM or DER; more PEM\n"
               "                           certificates in the file join the chain)\n"
               "      --cert-chain F       with --vcek: ASK/ASVK and ARK (PEM, as KDS\n"
               "                           cert_chain); without --vcek: cache, THIM, AMD KDS\n"
               "      --min-tcb B:T:S:U[:F] minimum bootloader:tee:snp:microcode[:fmc]\n"
               "      --host-data HEX      expected host_data\n"
               "      --vmpl N             required VMPL (0..3; --snp-report only)\n"
               "      --policy F           a JSON policy file (format: cvm-agent(8))\n"
               "\n"
               "Intel TDX quote, or Azure HCL report of a TDX VM with its TD quote; a\n"
               "TDREPORT alone (--tdreport, or --hcl-report without --td-quote) is decoded\n"
               "but never verified, since only a TD quote is signed:\n"
               "      --tdx-quote F        a TD quote (v4/v5), verified to the Intel SGX Root\n"
               "                           CA\n"
               "      --td-quote F         the TD quote for the HCL report's TDREPORT:\n"
               "                           verified, and every TDINFO/TEE_TCB_INFO field must\n"
               "                           equal it\n"
               "      --tdreport F         a 1024-byte TDREPORT: decoded and hash-checked only\n"
               "      --tcb-info F         Intel PCS TCB info (with --qe-identity: TCB status)\n"
               "      --qe-identity F      Intel PCS QE identity\n"
               "      --crl F              a PCK or root CRL (DER or PEM); repeatable (also\n"
               "                           AMD's ARK CRL for SNP: see [snp] crl)\n"
               "      --collateral-chain F the TCB signing certificate(s) of the collateral\n"
               "\n"
               "Either hardware report:\n"
               "      --allow-debug        accept a debug guest or TD\n"
               "      --measurement HEX    an allowed launch measurement (SNP) or MRTD;\n"
               "                           repeatable\n"
               "      --report-data HEX    expected report data (a prefix may be given)\n"
               "      --trust-anchor PEM   an extra (non-production) root certificate;\n"
               "                           repeatable\n"
               "\n"
               "TPM quote, alone or beside a hardware report:\n"
               "      --tpm-quote F        TPMS_ATTEST of a TPM quote (tpm2_quote -m)\n"
               "      --tpm-signature F    its TPMT_SIGNATURE (tpm2_quote -s) or raw RSASSA\n"
               "                           bytes\n"
               "      --ak-pub F           the AK public key (PEM/DER, certificate or\n"
               "                           TPM2B_PUBLIC); with --hcl-report the AK is its\n"
               "                           HCLAkPub, which --ak-pub must then equal\n"
               "      --nonce HEX          the expected qualifying data (required, or:)\n"
               "      --no-nonce-check     accept any qualifying data (recorded in the output)\n"
               "\n"
               "Event log and PCR values, beside a quote or alone:\n"
               "      --event-log F        a TCG event log or TDX CCEL, replayed: with --pcrs\n"
               "                           the replay must equal them; with --tpm-quote it\n"
               "                           must give the quoted PCR digest; with --tdx-quote\n"
               "                           (a CCEL) it must give RTMR0..3; with none of them\n"
               "                           it is not verified\n"
               "      --pcrs F             PCR values, JSON {\"sha256\":{\"0\":\"hex\"}} or\n"
               "                           tpm2_pcrread YAML (with --tpm-quote: the quoted\n"
               "                           digest)\n"
               "\n"
               "MAA attestation token:\n"
               "      --token F            an MAA token (JWT): RS256 signature by the key of\n"
               "                           its kid, iss ([attestation] url), jku, exp/nbf/iat\n"
               "      --jwks F             its signing keys (a JWKS file), or:\n"
               "      --certs-url URL      fetch them (default: the cached /certs of\n"
               "                           [attestation] url)\n"
               "      --nonce S            the nonce string sent in the client payload\n"
               "      --transfer-key F     the transfer key (PEM/DER or TPM2B_PUBLIC) that\n"
               "                           x-ms-runtime.keys must hold\n"
               "\n"
               "All the evidence 'cvm-agent evidence' writes to a directory, verified together\n"
               "(with --nonce or --no-nonce-check and the policy options of its report):\n"
               "      --evidence-dir DIR   the HCL report and vcek-chain.pem or td-quote.bin,\n"
               "                           the TPM quote by HCLAkPub (= ak.pub.pem) over\n"
               "                           pcrs.json, the event log, the transfer key's\n"
               "                           TPM2_Certify, evidence.json; ak-cert.der is\n"
               "                           decoded, its chain not verified\n"
               "\n"
               "Options:\n"
               "      --at TIME            verify as of TIME (RFC 3339, such as\n"
               "                           2024-06-01T00:00:00Z; default now; printed as \"at\")\n"
               "      --json               print a JSON object\n"
               "  -h, --help               this help\n"
               "\n"
               "Key release (Key Vault / Managed HSM):\n"
               "      --release-response F a release response ({\"value\": JWS}, or the JWS):\n"
               "                           signer chain, name and signature; an unsigned\n"
               "                           payload is decoded but unverifiable\n"
               "      --ca-bundle F        its roots (default: the system store)\n"
               "      --release-policy P   a key release policy, evaluated against --token F\n"
               "                           (with --jwks/--certs-url: the token verified)\n"
               "\n"
               "Exit status: 0 verified, 1 not verified, 2 usage error, 3 transient (AMD KDS,\n"
               "THIM or MAA unreachable), 4 local failure.\n");
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

/* The options; val is 0x100 + the VerifyOpt bit, so the table names the bits. */
#define O(name, has_arg, bit)                                                                      \
    { name, has_arg, NULL, 0x100 + VOPT_##bit }
static const struct option verify_options[] = {
    O("snp-report", required_argument, SNP_REPORT),
    O("hcl-report", required_argument, HCL_REPORT),
    O("tdx-quote", required_argument, TDX_QUOTE),
    O("tdreport", required_argument, TDREPORT),
    O("td-quote", required_argument, TD_QUOTE),
    O("event-log", required_argument, EVENT_LOG),
    O("pcrs", required_argument, PCRS),
    O("tpm-quote", required_argument, TPM_QUOTE),
    O("tpm-signature", required_argument, TPM_SIGNATURE),
    O("ak-pub", required_argument, AK_PUB),
    O("nonce", required_argument, NONCE),
    O("no-nonce-check", no_argument, NO_NONCE_CHECK),
    O("token", required_argument, TOKEN),
    O("jwks", required_argument, JWKS),
    O("certs-url", required_argument, CERTS_URL),
    O("transfer-key", required_argument, TRANSFER_KEY),
    O("release-response", required_argument, RELEASE_RESPONSE),
    O("release-policy", required_argument, RELEASE_POLICY),
    O("ca-bundle", required_argument, CA_BUNDLE),
    O("vcek", required_argument, VCEK),
    O("cert-chain", required_argument, CERT_CHAIN),
    O("tcb-info", required_argument, TCB_INFO),
    O("qe-identity", required_argument, QE_IDENTITY),
    O("collateral-chain", required_argument, COLLATERAL_CHAIN),
    O("crl", required_argument, CRL),
    O("policy", required_argument, POLICY),
    O("allow-debug", no_argument, ALLOW_DEBUG),
    O("min-tcb", required_argument, MIN_TCB),
    O("measurement", required_argument, MEASUREMENT),
    O("report-data", required_argument, REPORT_DATA),
    O("host-data", required_argument, HOST_DATA),
    O("vmpl", required_argument, VMPL),
    O("trust-anchor", required_argument, TRUST_ANCHOR),
    O("at", required_argument, AT),
    O("json", no_argument, JSON),
    O("evidence-dir", required_argument, EVIDENCE_DIR),
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};
#undef O

const char *verify_option_name(VerifyOpt opt) {
    static char names[VOPT_COUNT_][32]; /* "--" + name, filled on first use */
    if ((unsigned)opt >= VOPT_COUNT_)
        return "?";
    if (!names[opt][0])
        for (const struct option *o = verify_options; o->name; o++)
            if (o->val == 0x100 + (int)opt)
                snprintf(names[opt], sizeof(names[opt]), "--%s", o->name);
    return names[opt];
}

int verify_refuse(const VerifyOptions *opts, uint64_t mask, const char *what) {
    for (unsigned i = 0; i < VOPT_COUNT_; i++)
        if (opts->given & mask & (UINT64_C(1) << i))
            return log_error_errno(-EINVAL,
                                   "%s does not apply to %s; see 'cvm-agent verify --help'",
                                   verify_option_name((VerifyOpt)i), what);
    return 0;
}

/*
 * The kinds of evidence. A kind runs when its option is given, unless a kind
 * that reads that option runs too (--event-log with a quote is the quote's);
 * every option given must be read by a kind that runs. Adding a kind: a
 * handler (VerifyHandler) and a row here.
 */
typedef struct VerifyKind {
    const char *key;  /* its JSON object when several kinds run */
    VerifyOpt option; /* the option that names the evidence */
    uint64_t reads;   /* the other options it reads */
    bool hardware;    /* one hardware report per run */
    VerifyHandler run;
} VerifyKind;

static const VerifyKind kinds[] = {
    {"snp_report", VOPT_SNP_REPORT, VOPTS_SNP | VOPT(VMPL), true, verify_snp},
    {"hcl_report", VOPT_HCL_REPORT, VOPTS_SNP | VOPTS_TDX | VOPT(TD_QUOTE), true, verify_hcl},
    {"tdx_quote", VOPT_TDX_QUOTE, VOPTS_TDX | VOPT(EVENT_LOG), true, verify_tdx},
    {"tdreport", VOPT_TDREPORT, 0, true, verify_tdreport},
    {"tpm_quote", VOPT_TPM_QUOTE,
     VOPT(TPM_SIGNATURE) | VOPT(AK_PUB) | VOPT(NONCE) | VOPT(NO_NONCE_CHECK) | VOPT(PCRS) |
         VOPT(EVENT_LOG),
     false, verify_tpm_quote},
    {"event_log", VOPT_EVENT_LOG, VOPT(PCRS), false, verify_event_log},
    {"token", VOPT_TOKEN, VOPT(JWKS) | VOPT(CERTS_URL) | VOPT(NONCE) | VOPT(TRANSFER_KEY), false,
     verify_token},
    {"release_response", VOPT_RELEASE_RESPONSE, VOPT(CA_BUNDLE), false, verify_release_response},
    {"release_policy", VOPT_RELEASE_POLICY,
     VOPT(TOKEN) | VOPT(JWKS) | VOPT(CERTS_URL) | VOPT(NONCE) | VOPT(TRANSFER_KEY), false,
     verify_release_policy},
    {"evidence_dir", VOPT_EVIDENCE_DIR,
     ((VOPTS_SNP | VOPTS_TDX) & ~(VOPT(VCEK) | VOPT(CERT_CHAIN))) | VOPT(NONCE) |
         VOPT(NO_NONCE_CHECK),
     true, verify_evidence_dir},
};
#define ALWAYS_READ (VOPT(AT) | VOPT(JSON))

static bool kind_given(const VerifyKind *k, uint64_t given) {
    return given & (UINT64_C(1) << k->option);
}

/* Picks the kinds to run (bit i = kinds[i]); -EINVAL (logged) for an option
 * nothing reads or a combination that makes no sense. */
static int pick_kinds(const VerifyOptions *o, unsigned *ret) {
    uint64_t reads = ALWAYS_READ, known = ALWAYS_READ;
    unsigned run = 0, hw = 0;
    const char *names = NULL;
    for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
        known |= kinds[i].reads | (UINT64_C(1) << kinds[i].option);
    for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
        if (!kind_given(&kinds[i], o->given))
            continue;
        bool absorbed = false;
        for (size_t j = 0; j < ELEMENTSOF(kinds); j++)
            absorbed |= j != i && kind_given(&kinds[j], o->given) &&
                        (kinds[j].reads & (UINT64_C(1) << kinds[i].option));
        if (absorbed)
            continue;
        run |= 1u << i;
        reads |= kinds[i].reads | (UINT64_C(1) << kinds[i].option);
        if (kinds[i].hardware && hw++)
            return log_error_errno(-EINVAL, "%s and %s: give one hardware report per run", names,
                                   verify_option_name(kinds[i].option));
        if (kinds[i].hardware)
            names = verify_option_name(kinds[i].option);
    }
    for (unsigned b = 0; b < VOPT_COUNT_; b++)
        if ((o->given & (UINT64_C(1) << b)) && !(known & (UINT64_C(1) << b)))
            return log_error_errno(-EINVAL, "%s is not supported by this build",
                                   verify_option_name((VerifyOpt)b));
    if (!run)
        return log_error_errno(
            -EINVAL, "verify: name the evidence to verify; see 'cvm-agent verify --help'");
    /* evidence two kinds would both take (--event-log with a TD and a TPM quote) */
    for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
        unsigned takers = 0;
        for (size_t j = 0; j < ELEMENTSOF(kinds); j++)
            takers += (run & (1u << j)) && (kinds[j].reads & (UINT64_C(1) << kinds[i].option));
        if (kind_given(&kinds[i], o->given) && takers > 1)
            return log_error_errno(-EINVAL,
                                   "%s: more than one evidence given reads it; verify "
                                   "them in separate runs",
                                   verify_option_name(kinds[i].option));
    }
    char given[128] = "";
    for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
        if (run & (1u << i))
            snprintf(given + strlen(given), sizeof(given) - strlen(given), "%s%s",
                     *given ? " and " : "", verify_option_name(kinds[i].option));
    for (unsigned b = 0; b < VOPT_COUNT_; b++)
        if ((o->given & (UINT64_C(1) << b)) && !(reads & (UINT64_C(1) << b)))
            return log_error_errno(-EINVAL,
                                   "%s does not apply to %s; see 'cvm-agent verify --help'",
                                   verify_option_name((VerifyOpt)b), given);
    *ret = run;
    return 0;
}

static bool uses_anchors(unsigned run) {
    for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
        if ((run & (1u << i)) && (kinds[i].reads & VOPT(TRUST_ANCHOR)))
            return true;
    return false;
}

/* "at", and "trust_anchor": what the answer rests on (cvm-agent(8), verify):
 * the pinned roots, anchors the user named (a TPM quote's AK is one), or
 * nothing at all. */
static int add_trust_anchor(const VerifyOptions *o, unsigned run, cJSON *out) {
    _cleanup_free_ char *roots = uses_anchors(run) ? agent_trust_anchor_string(o->anchors) : NULL;
    _cleanup_free_ char *s = NULL;
    char at[32];
    agent_format_time(o->at, at);
    if (json_add_string(out, "at", at) < 0 || (uses_anchors(run) && !roots))
        return -ENOMEM;
    if (cJSON_GetObjectItemCaseSensitive(out, "trust_anchor"))
        return 0; /* the handler knows better (a TDX HCL report without its quote) */
    if (o->tpm_quote && o->ak_pub && !o->hcl_report) { /* with one, the AK is its HCLAkPub */
        bool pinned = !roots || streq(roots, "production");
        if (asprintf(&s, "%s%sthe AK public key '%s' (--ak-pub)",
                     pinned ? "non-production: " : roots, pinned ? "" : "; ", o->ak_pub) < 0)
            return -ENOMEM;
    } else if (!(s = roots ? TAKE_PTR(roots) : strdup("none")))
        return -ENOMEM;
    return json_add_string(out, "trust_anchor", s);
}

/* Runs every kind picked; the first writes to out, the others to out[key].
 * The answer is yes only when each said yes. */
static int run_kinds(AgentContext *ctx, const VerifyOptions *o, unsigned run, cJSON *out) {
    int result = 0;
    bool first = true;
    for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
        if (!(run & (1u << i)))
            continue;
        cJSON *dst = out;
        if (!first && !(dst = cJSON_AddObjectToObject(out, kinds[i].key)))
            return -ENOMEM;
        int r = kinds[i].run(ctx, o, dst);
        if (r == -EINVAL || r == -ENOMEM || (r < 0 && !cJSON_GetObjectItem(dst, "verified")))
            return r; /* the handler logged a usage or local error */
        if (r < 0 && result == 0) {
            result = r;
            if (dst != out) {
                const char *why = json_get_string(dst, "reason");
                const char *fc = json_get_string(dst, "failed_check");
                cJSON_DeleteItemFromObjectCaseSensitive(out, "failed_check");
                if (fc && json_add_string(out, "failed_check", fc) < 0)
                    return -ENOMEM;
                verify_fail(out, r, "%s: %s", verify_option_name(kinds[i].option),
                            why ? why : "not verified");
            }
        }
        first = false;
    }
    return result < 0 ? result : verify_pass(out);
}

static int parse_options(AgentContext *ctx, int argc, char **argv, VerifyOptions *o,
                         const char **anchors, const char **crls, const char **meas) {
    size_t n_anchors = 0, n_crls = 0, n_meas = 0;
    int c;
    for (char **a = ctx->cfg.trust_anchors; a && *a; a++)
        anchors[n_anchors++] = *a;
    while ((c = getopt_long(argc, argv, "h", verify_options, NULL)) != -1) {
        if (c == 'h') {
            verify_usage(stdout);
            return 1;
        }
        if (c < 0x100 || c >= 0x100 + VOPT_COUNT_) {
            fprintf(stderr, "see 'cvm-agent verify --help'\n");
            return -EINVAL;
        }
        VerifyOpt opt = (VerifyOpt)(c - 0x100);
        o->given |= UINT64_C(1) << opt;
        switch (opt) {
        case VOPT_SNP_REPORT: o->snp_report = optarg; break;
        case VOPT_HCL_REPORT: o->hcl_report = optarg; break;
        case VOPT_TDX_QUOTE: o->tdx_quote = optarg; break;
        case VOPT_TDREPORT: o->tdreport = optarg; break;
        case VOPT_TD_QUOTE: o->td_quote = optarg; break;
        case VOPT_EVENT_LOG: o->event_log = optarg; break;
        case VOPT_PCRS: o->pcrs = optarg; break;
        case VOPT_TPM_QUOTE: o->tpm_quote = optarg; break;
        case VOPT_TPM_SIGNATURE: o->tpm_signature = optarg; break;
        case VOPT_AK_PUB: o->ak_pub = optarg; break;
        case VOPT_NONCE: o->nonce = optarg; break;
        case VOPT_NO_NONCE_CHECK: o->no_nonce_check = true; break;
        case VOPT_TOKEN: o->token = optarg; break;
        case VOPT_JWKS: o->jwks = optarg; break;
        case VOPT_CERTS_URL: o->certs_url = optarg; break;
        case VOPT_TRANSFER_KEY: o->transfer_key = optarg; break;
        case VOPT_RELEASE_RESPONSE: o->release_response = optarg; break;
        case VOPT_RELEASE_POLICY: o->release_policy = optarg; break;
        case VOPT_CA_BUNDLE: o->ca_bundle = optarg; break;
        case VOPT_VCEK: o->vcek = optarg; break;
        case VOPT_CERT_CHAIN: o->cert_chain = optarg; break;
        case VOPT_TCB_INFO: o->tcb_info = optarg; break;
        case VOPT_QE_IDENTITY: o->qe_identity = optarg; break;
        case VOPT_COLLATERAL_CHAIN: o->collateral_chain = optarg; break;
        case VOPT_CRL: crls[n_crls++] = optarg; break;
        case VOPT_POLICY: o->policy = optarg; break;
        case VOPT_ALLOW_DEBUG: o->allow_debug = true; break;
        case VOPT_MIN_TCB: o->min_tcb = optarg; break;
        case VOPT_MEASUREMENT: meas[n_meas++] = optarg; break;
        case VOPT_REPORT_DATA: o->report_data = optarg; break;
        case VOPT_HOST_DATA: o->host_data = optarg; break;
        case VOPT_VMPL: {
            uint32_t v;
            if (parse_u32(optarg, &v) < 0 || v > 3)
                return log_error_errno(-EINVAL, "--vmpl wants 0..3, not '%s'", optarg);
            o->vmpl = (int)v;
            break;
        }
        case VOPT_TRUST_ANCHOR: anchors[n_anchors++] = optarg; break;
        case VOPT_AT:
            if (parse_rfc3339(optarg, &o->at) < 0)
                return log_error_errno(-EINVAL,
                                       "--at wants an RFC 3339 time such as "
                                       "2024-06-01T00:00:00Z, not '%s'",
                                       optarg);
            break;
        case VOPT_JSON: o->json = true; break;
        case VOPT_EVIDENCE_DIR: o->evidence_dir = optarg; break;
        default: break; /* options without a handler: refused by pick_kinds() */
        }
    }
    if (optind < argc)
        return log_error_errno(-EINVAL, "verify: unexpected argument '%s'", argv[optind]);
    if (o->nonce && o->no_nonce_check)
        return log_error_errno(-EINVAL, "--nonce and --no-nonce-check contradict each other");
    o->trust_anchors = anchors;
    o->crls = crls;
    o->measurements = meas;
    return 0;
}

static void anchors_free(STACK_OF(X509) * *a) {
    sk_X509_pop_free(*a, X509_free);
}

int cmd_verify(AgentContext *ctx, int argc, char **argv) {
    VerifyOptions o = {.vmpl = -1,
                       .at = now_realtime_s(),
                       .crl_max_age_s = (int64_t)(ctx->cfg.tdx_crl_max_age_ms / 1000)};
    size_t n_cfg_anchors = 0;
    unsigned run = 0;
    int r;
    for (char **a = ctx->cfg.trust_anchors; a && *a; a++)
        n_cfg_anchors++;
    _cleanup_free_ const char **anchors = calloc((size_t)argc + n_cfg_anchors + 1, sizeof(char *));
    _cleanup_free_ const char **crls = calloc((size_t)argc + 1, sizeof(char *));
    _cleanup_free_ const char **meas = calloc((size_t)argc + 1, sizeof(char *));
    _cleanup_(anchors_free) STACK_OF(X509) *loaded = NULL;
    if (!anchors || !crls || !meas)
        return log_error_errno(-ENOMEM, "out of memory"), CVM_EXIT_PLATFORM;

    r = parse_options(ctx, argc, argv, &o, anchors, crls, meas);
    if (r != 0)
        return r > 0 ? CVM_EXIT_OK : CVM_EXIT_USAGE;
    if (pick_kinds(&o, &run) < 0)
        return CVM_EXIT_USAGE;
    if (uses_anchors(run) && anchors[0]) {
        if (agent_load_anchors(anchors, &loaded) < 0)
            return CVM_EXIT_USAGE;
        o.anchors = loaded;
        _cleanup_free_ char *desc = agent_trust_anchor_string(loaded);
        agent_announce_anchors(desc ? desc : "non-production");
    }

    _cleanup_json_ cJSON *out = cJSON_CreateObject();
    if (!out)
        return log_error_errno(-ENOMEM, "out of memory"), CVM_EXIT_PLATFORM;
    r = run_kinds(ctx, &o, run, out);
    if (r == -EINVAL || r == -ENOMEM || (r < 0 && !cJSON_GetObjectItem(out, "verified")))
        return cvm_exit_from_errno(r); /* the handler logged a usage or local error */
    if (add_trust_anchor(&o, run, out) < 0)
        return log_error_errno(-ENOMEM, "out of memory"), CVM_EXIT_PLATFORM;
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
