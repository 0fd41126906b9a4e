/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What `evidence` and `attest` share: the platform evidence from attest/'s
 * platform abstraction, with its source settings taken from AgentConfig.
 */
#ifndef CVM_AGENT_ATTEST_PLATFORM_H
#define CVM_AGENT_ATTEST_PLATFORM_H

#include "agent/agent.h"
#include "attest/attest.h"

/* AttestSourceConfig from cfg, for attest_platform_read(); *ret_cache (the SNP
 * certificate cache directory the config points into) is the caller's to free.
 * -ENOMEM (logged). */
int agent_source_config(const AgentConfig *cfg, AttestSourceConfig *ret, char **ret_cache);

/* [imds] url, else the older per-section key, else the link-local default. */
const char *agent_imds_url(const AgentConfig *cfg, const char *section_url);
/* The IMDS that serves the signer's material of tee (SNP: THIM's VCEK chain,
 * TDX: the TD quote), for AttestSourceConfig.imds_url before
 * attest_platform_certs(). */
const char *agent_signer_imds_url(const AgentConfig *cfg, AttestTee tee);

/* Parses --nonce HEX (1..64 bytes), or draws 32 random bytes. -EINVAL (logged)
 * on bad hex. */
int agent_nonce(const char *hex, uint8_t nonce[ATTEST_NONCE_MAX], size_t *ret_len);

#endif
