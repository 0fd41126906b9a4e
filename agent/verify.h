/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `cvm-agent verify`: offline verification of evidence from files. The
 * command (cmd-verify.c) parses the options; one handler per kind of evidence
 * (verify-*.c) checks it and describes the result in a JSON object, which the
 * command prints as JSON (--json) or as text.
 */
#ifndef CVM_AGENT_VERIFY_H
#define CVM_AGENT_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "agent/agent.h"

typedef struct VerifyOptions {
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
    const char *token;
    const char *jwks;
    const char *certs_url;
    const char *transfer_key; /* with --token: our transfer key (PEM/DER or TPM2B_PUBLIC) */
    const char *release_response;
    const char *release_policy;
    const char *ca_bundle; /* --release-response: PEM roots instead of the system store */
    /* signer certificates and collateral */
    const char *vcek;
    const char *cert_chain;
    const char *tcb_info;
    const char *qe_identity;
    const char *collateral_chain;
    const char **crls; /* NULL-terminated */
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
    int64_t at;                 /* verification time, seconds since the epoch (never "now") */
    bool json;
} VerifyOptions;

/*
 * A handler checks its evidence and adds what it decoded to out; it adds
 * "verified" and, when false, "reason" (one line naming the failed check).
 * Returns 0 when the evidence verified, -EKEYREJECTED (or another negative
 * errno mapped by cvm_exit_from_errno) otherwise; usage errors (a missing
 * file, a bad option value) are logged and return -EINVAL.
 */
typedef int (*VerifyHandler)(AgentContext *ctx, const VerifyOptions *opts, cJSON *out);

/* Sets "verified": false and "reason" in out, and returns r. */
int verify_fail(cJSON *out, int r, const char *fmt, ...) _printf_(3, 4);
/* Sets "verified": true. */
int verify_pass(cJSON *out);

/* Handlers, one file each. */
int verify_snp(AgentContext *ctx, const VerifyOptions *opts, cJSON *out); /* verify-snp.c */
int verify_hcl(AgentContext *ctx, const VerifyOptions *opts, cJSON *out); /* verify-snp.c */
int verify_tdx(AgentContext *ctx, const VerifyOptions *opts, cJSON *out); /* verify-tdx.c */
/* An HCL report's TDREPORT (hash checks) and, with opts->td_quote, the TD quote
 * for it: verified, and its MRTD, RTMRs, REPORTDATA, TEE_TCB_SVN and MRSEAM
 * equal the TDREPORT's. Sets "verified". (verify-tdx.c) */
int verify_tdx_hcl_quote(AgentContext *ctx, const VerifyOptions *opts, const uint8_t *tdreport,
                         size_t len, cJSON *out);
int verify_tpm_quote(AgentContext *ctx, const VerifyOptions *opts, cJSON *out); /* verify-tpm.c */
int verify_event_log(AgentContext *ctx, const VerifyOptions *opts, cJSON *out); /* verify-tpm.c */
int verify_token(AgentContext *ctx, const VerifyOptions *opts, cJSON *out);     /* verify-token.c */
/* verify-release.c */
int verify_release_response(AgentContext *ctx, const VerifyOptions *opts, cJSON *out);
int verify_release_policy(AgentContext *ctx, const VerifyOptions *opts, cJSON *out);

#endif
