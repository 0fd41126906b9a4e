/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What `evidence` and `attest` share: the platform evidence from attest/'s
 * platform abstraction, with its source settings taken from AgentConfig.
 */
#ifndef CVM_AGENT_ATTEST_PLATFORM_H
#define CVM_AGENT_ATTEST_PLATFORM_H

#include "agent/agent.h"
#include "attest/attest.h"

typedef AttestPlatformEvidence AgentPlatform;

/* AttestSourceConfig from cfg; *ret_cache (the SNP certificate cache
 * directory the config points into) is the caller's to free. */
int agent_source_config(const AgentConfig *cfg, AttestSourceConfig *ret, char **ret_cache);

/* attest_platform_read / attest_platform_certs with this configuration, each
 * logging its error: the HCL report (a platform failure whatever the errno),
 * then the signer's material (cvm_exit_from_errno tells transient from not). */
int agent_platform_read(AgentContext *ctx, AgentPlatform *ret);
int agent_platform_signer(AgentContext *ctx, AgentPlatform *ap);
void agent_platform_done(AgentPlatform *p);

/* [imds] url, else the older per-section key, else the link-local default. */
const char *agent_imds_url(const AgentConfig *cfg, const char *section_url);

/* Parses --nonce HEX (1..64 bytes), or draws 32 random bytes. -EINVAL (logged)
 * on bad hex. */
int agent_nonce(const char *hex, uint8_t nonce[ATTEST_NONCE_MAX], size_t *ret_len);

#endif
