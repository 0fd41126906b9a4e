/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The hardware half of the evidence that `evidence` and `attest` share: the
 * vTPM's HCL report, split, and its signer's material (SNP: the VCEK chain
 * from THIM, the cache or KDS; TDX: the TD quote from IMDS /acc/tdquote).
 */
#ifndef CVM_AGENT_ATTEST_PLATFORM_H
#define CVM_AGENT_ATTEST_PLATFORM_H

#include "agent/agent.h"
#include "attest/attest.h"

typedef struct AgentPlatform {
    AttestPlatform p; /* points into the buffers below */
    uint8_t *hcl;
    size_t hcl_len;
    char *vcek_chain_pem;
    uint8_t *td_quote;
    size_t td_quote_len;
} AgentPlatform;

/* The two halves, each logging its errors and returning 0 or a negative
 * errno: the HCL report only (vTPM, no network: any failure is a platform
 * failure), then the signer's material (THIM/KDS or IMDS: cvm_exit_from_errno
 * tells transient from not) into an AgentPlatform read before. */
int agent_platform_read(AgentContext *ctx, AgentPlatform *ret);
int agent_platform_signer(AgentContext *ctx, AgentPlatform *ap);
void agent_platform_done(AgentPlatform *p);

/* [imds] url, else the older per-section key, else the link-local default. */
const char *agent_imds_url(const AgentConfig *cfg, const char *section_url);

/* Parses --nonce HEX (1..64 bytes), or draws 32 random bytes. -EINVAL (logged)
 * on bad hex. */
int agent_nonce(const char *hex, uint8_t nonce[ATTEST_NONCE_MAX], size_t *ret_len);

#endif
