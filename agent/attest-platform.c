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

void agent_platform_done(AgentPlatform *p) {
    attest_platform_evidence_done(p);
}

int agent_platform_read(AgentContext *ctx, AgentPlatform *ret) {
    AttestSourceConfig sc;
    _cleanup_free_ char *cache = NULL;
    int r = agent_source_config(&ctx->cfg, &sc, &cache);
    if (r < 0)
        return r;
    r = attest_platform_read(&sc, ret);
    if (r < 0)
        log_error("%s", attest_last_error());
    return r;
}

/* The SNP chain's THIM and the TD quote's IMDS: [imds] url, else their
 * section's older key. */
int agent_platform_signer(AgentContext *ctx, AgentPlatform *ap) {
    AttestSourceConfig sc;
    _cleanup_free_ char *cache = NULL;
    int r = agent_source_config(&ctx->cfg, &sc, &cache);
    if (r < 0)
        return r;
    sc.imds_url = agent_imds_url(&ctx->cfg, ap->p.tee == ATTEST_TEE_SNP ? ctx->cfg.snp_imds_url
                                                                        : ctx->cfg.tdx_imds_url);
    r = attest_platform_certs(&sc, ap);
    if (r < 0)
        log_error("%s", attest_last_error());
    return r;
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
