/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `cvm-agent verify`: verification of evidence from files. The
 * command (cmd-verify.c) parses the options, checks that each one given is
 * read by the evidence given, and runs one handler per kind of evidence
 * (verify-*.c); every handler must pass for "verified": true.
 */
#ifndef CVM_AGENT_VERIFY_H
#define CVM_AGENT_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <openssl/x509.h>

#include "agent/agent.h"

/* One bit per option of `verify`, so a handler can say which it reads. */
typedef enum VerifyOpt {
    VOPT_SNP_REPORT,
    VOPT_HCL_REPORT,
    VOPT_TDX_QUOTE,
    VOPT_TDREPORT,
    VOPT_TD_QUOTE,
    VOPT_EVENT_LOG,
    VOPT_PCRS,
    VOPT_TPM_QUOTE,
    VOPT_TPM_SIGNATURE,
    VOPT_AK_PUB,
    VOPT_NONCE,
    VOPT_NO_NONCE_CHECK,
    VOPT_TOKEN,
    VOPT_JWKS,
    VOPT_CERTS_URL,
    VOPT_TRANSFER_KEY,
    VOPT_RELEASE_RESPONSE,
    VOPT_RELEASE_POLICY,
    VOPT_VCEK,
    VOPT_CERT_CHAIN,
    VOPT_TCB_INFO,
    VOPT_QE_IDENTITY,
    VOPT_COLLATERAL_CHAIN,
    VOPT_CRL,
    VOPT_POLICY,
    VOPT_ALLOW_DEBUG,
    VOPT_MIN_TCB,
    VOPT_MEASUREMENT,
    VOPT_REPORT_DATA,
    VOPT_HOST_DATA,
    VOPT_VMPL,
    VOPT_TRUST_ANCHOR,
    VOPT_AT,
    VOPT_JSON,
    VOPT_CA_BUNDLE,
    VOPT_EVIDENCE_DIR,
    VOPT_COUNT_,
} VerifyOpt;
#define VOPT(x) (UINT64_C(1) << VOPT_##x)

/* What the SNP and TDX checks read besides their evidence. */
#define VOPTS_SNP                                                                                  \
    (VOPT(VCEK) | VOPT(CERT_CHAIN) | VOPT(CRL) | VOPT(POLICY) | VOPT(ALLOW_DEBUG) |                \
     VOPT(MIN_TCB) | VOPT(MEASUREMENT) | VOPT(REPORT_DATA) | VOPT(HOST_DATA) | VOPT(TRUST_ANCHOR))
#define VOPTS_TDX                                                                                  \
    (VOPT(TCB_INFO) | VOPT(QE_IDENTITY) | VOPT(COLLATERAL_CHAIN) | VOPT(CRL) | VOPT(ALLOW_DEBUG) | \
     VOPT(MEASUREMENT) | VOPT(REPORT_DATA) | VOPT(TRUST_ANCHOR))
/* What only the SNP or only the TDX side of an HCL report reads. */
#define VOPTS_HCL_SNP_ONLY (VOPTS_SNP & ~VOPTS_TDX)
#define VOPTS_HCL_TDX_ONLY ((VOPTS_TDX & ~VOPTS_SNP) | VOPT(TD_QUOTE))

typedef struct VerifyOptions {
    uint64_t given; /* VOPT() bits of the options on the command line */
    /* evidence */
    const char *snp_report;
    const char *hcl_report;
    const char *tdx_quote;
    const char *tdreport;
    const char *td_quote; /* with --hcl-report: the TD quote matching the HCL's TDREPORT */
    const char *event_log;
    const char *pcrs;
    const char *tpm_quote;
    const char *tpm_signature;
    const char *ak_pub;
    const char *nonce; /* hex */
    bool no_nonce_check;
    const char *token;            /* an MAA token (JWT) */
    const char *jwks;             /* with --token: its signing keys (JWKS file) */
    const char *certs_url;        /* with --token: where to fetch them */
    const char *transfer_key;     /* with --token: our transfer key (PEM/DER or TPM2B_PUBLIC) */
    const char *release_response; /* a Key Vault / Managed HSM release response */
    const char *release_policy;   /* a key release policy, evaluated against --token */
    const char *ca_bundle;        /* --release-response: PEM roots instead of the system store */
    const char *evidence_dir;     /* the files of `cvm-agent evidence --out-dir` */
    /* signer certificates and collateral */
    const char *vcek;
    const char *cert_chain;
    const char *tcb_info;
    const char *qe_identity;
    const char *collateral_chain;
    const char **crls;     /* NULL-terminated */
    int64_t crl_max_age_s; /* TDX: a CRL without nextUpdate is stale this long after issue */
    /* policy */
    const char *policy;
    bool allow_debug;
    const char *min_tcb;       /* SNP: "bl:tee:snp:ucode[:fmc]" */
    const char **measurements; /* SNP/TDX: allowed measurements (hex), NULL-terminated */
    const char *report_data;   /* expected report_data (hex) */
    const char *host_data;     /* SNP: expected host_data (hex) */
    int vmpl;                  /* SNP: required VMPL, -1 = any */
    /* trust and time */
    const char **trust_anchors; /* NULL-terminated: --trust-anchor and [trust] anchor */
    STACK_OF(X509) * anchors;   /* trust_anchors loaded, or NULL (pinned roots only) */
    int64_t at;                 /* verification time, seconds since the epoch (always set) */
    bool json;
} VerifyOptions;

/*
 * A handler checks its evidence and adds what it decoded to out; it adds
 * "verified" and, when false, "reason" (one line naming the failed check).
 * Returns 0 when the evidence verified, -EKEYREJECTED (or another negative
 * errno mapped by cvm_exit_from_errno) otherwise; usage errors (a missing
 * file, a bad option value, an option that does not apply) are logged and
 * return -EINVAL.
 */
typedef int (*VerifyHandler)(AgentContext *ctx, const VerifyOptions *opts, cJSON *out);

/* Sets "verified": false and "reason" in out, and returns r (-EKEYREJECTED when r >= 0). */
int verify_fail(cJSON *out, int r, const char *fmt, ...) _printf_(3, 4);
/* Sets "verified": true. */
int verify_pass(cJSON *out);
/* "--vmpl" for VOPT_VMPL */
const char *verify_option_name(VerifyOpt opt);
/* When an option of mask was given: logs that it does not apply to what and
 * returns -EINVAL; else 0. */
int verify_refuse(const VerifyOptions *opts, uint64_t mask, const char *what);

/* Handlers, by the file they live in. */
int verify_snp(AgentContext *ctx, const VerifyOptions *opts, cJSON *out);       /* verify-snp.c */
int verify_hcl(AgentContext *ctx, const VerifyOptions *opts, cJSON *out);       /* verify-hcl.c */
int verify_tdx(AgentContext *ctx, const VerifyOptions *opts, cJSON *out);       /* verify-tdx.c */
int verify_tdreport(AgentContext *ctx, const VerifyOptions *opts, cJSON *out);  /* verify-tdx.c */
int verify_tpm_quote(AgentContext *ctx, const VerifyOptions *opts, cJSON *out); /* verify-tpm.c */
int verify_event_log(AgentContext *ctx, const VerifyOptions *opts,
                     cJSON *out); /* verify-tpm-eventlog.c */
int verify_token(AgentContext *ctx, const VerifyOptions *opts, cJSON *out); /* verify-token.c */
/* verify-release.c */
int verify_release_response(AgentContext *ctx, const VerifyOptions *opts, cJSON *out);
int verify_release_policy(AgentContext *ctx, const VerifyOptions *opts, cJSON *out);
int verify_evidence_dir(AgentContext *ctx, const VerifyOptions *opts,
                        cJSON *out); /* verify-evidence.c */

/* The AK of a TPM quote (verify-tpm.c): with opts->hcl_report the HCL
 * report's HCLAkPub, which opts->ak_pub (when given) must equal; else
 * opts->ak_pub. A missing or different AK is a "no" (verify_fail into out,
 * failed_check "ak" or "ak_pub"); adds "ak_source". */
int verify_tpm_ak(const VerifyOptions *opts, cJSON *out, EVP_PKEY **ret);

/* A TPM2_Certify (verify-tpm.c): the TPMS_ATTEST in msg signed (sig) by ak,
 * certifying the TPM2B_PUBLIC in pub. Files named by the caller must exist;
 * a "no" has failed_check "certify" or "certified_key". */
int verify_tpm_certify(EVP_PKEY *ak, const char *msg, const char *sig, const char *pub, cJSON *out);

struct TpmPcrBank;
/* For --tpm-quote with --event-log (verify-tpm-eventlog.c): replays the log
 * into out (with opts->pcrs also compared, as --event-log does) and fills
 * banks (TPM_MAX_BANKS) with the replayed values for the quote's digest. */
int verify_event_log_for_quote(const VerifyOptions *opts, cJSON *out, struct TpmPcrBank *banks,
                               size_t *n_banks);
/* The replay of opts->event_log compared with opts->pcrs for the PCRs the
 * log extends (the others are not the log's to explain); at least one must
 * be compared. As verify_event_log otherwise. */
int verify_event_log_covered(const VerifyOptions *opts, cJSON *out);

#endif
