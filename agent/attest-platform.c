/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The agent's side of the platform abstraction (attest/platform-source.c):
 * the source settings from the configuration, and the errors logged.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "agent/attest-platform.h"
#include "agent/verify-snp.h"
#include "common/codec.h"
#include "common/log.h"
#include "tdx/tdx.h"

const char *agent_imds_url(const AgentConfig *cfg, const char *section_url) {
    if (cfg->imds_url)
        return cfg->imds_url;
    return section_url ? section_url : TDX_IMDS_URL_DEFAULT;
}

int agent_source_config(const AgentConfig *cfg, AttestSourceConfig *ret, char **ret_cache) {
    *ret = (AttestSourceConfig){.tcti = cfg->tcti,
                                .snp_configfs_tsm = cfg->snp_configfs_tsm,
                                .snp_device = cfg->snp_device,
                                .tdx_device = cfg->tdx_device,
                                .tdx_configfs_tsm = cfg->tdx_configfs_tsm};
    agent_http_config(cfg, &ret->http);
    if (agent_snp_fetch_config(cfg, &ret->snp_fetch, ret_cache) < 0)
        return log_error_errno(-ENOMEM, "out of memory");
    return 0;
}

const char *agent_signer_imds_url(const AgentConfig *cfg, AttestTee tee) {
    return agent_imds_url(cfg, tee == ATTEST_TEE_SNP ? cfg->snp_imds_url : cfg->tdx_imds_url);
}

/* Parses --nonce, or draws 32 random bytes. */
int agent_nonce(const char *hex, uint8_t nonce[ATTEST_NONCE_MAX], size_t *ret_len) {
    if (!hex) {
        if (RAND_bytes(nonce, 32) != 1)
            return log_error_errno(-EIO, "no random bytes for a nonce");
        *ret_len = 32;
        return 0;
    }
    _cleanup_free_ uint8_t *b = NULL;
    size_t n = 0;
    if (hex_decode(hex, strlen(hex), &b, &n) < 0 || n == 0 || n > ATTEST_NONCE_MAX)
        return log_error_errno(-EINVAL, "--nonce wants 1 to %d bytes of hex, not '%s'",
                               ATTEST_NONCE_MAX, hex);
    memcpy(nonce, b, n);
    *ret_len = n;
    return 0;
}
