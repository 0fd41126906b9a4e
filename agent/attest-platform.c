/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The hardware half of the attestation evidence, from the vTPM's HCL report
 * (the paravisor hides /dev/sev-guest and /dev/tdx_guest on Azure CVMs).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "agent/attest-platform.h"
#include "agent/verify-snp.h"
#include "attest/attest.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/log.h"
#include "snp/snp.h"
#include "tdx/tdx.h"

#define PLATFORM_HCL_DEADLINE_MS 10000u

const char *agent_imds_url(const AgentConfig *cfg, const char *section_url) {
    if (cfg->imds_url)
        return cfg->imds_url;
    return section_url ? section_url : TDX_IMDS_URL_DEFAULT;
}

void agent_platform_done(AgentPlatform *p) {
    if (!p)
        return;
    free(p->hcl);
    free(p->vcek_chain_pem);
    free(p->td_quote);
    *p = (AgentPlatform){0};
}

static int chain_pem(X509 *signer, STACK_OF(X509) * chain, char **ret) {
    BIO *b = BIO_new(BIO_s_mem());
    char *mem = NULL;
    long n;
    int ok = b && PEM_write_bio_X509(b, signer) == 1;
    for (int i = 0; ok && chain && i < sk_X509_num(chain); i++)
        ok = PEM_write_bio_X509(b, sk_X509_value(chain, i)) == 1;
    if (ok && (n = BIO_get_mem_data(b, &mem)) > 0)
        *ret = strndup(mem, (size_t)n);
    else
        *ret = NULL;
    BIO_free(b);
    return *ret ? 0 : -ENOMEM;
}

/* Azure's VcekCertChain: the VCEK then ASK and ARK, as THIM serves them;
 * THIM is asked even when [snp] thim is off, since this is an Azure CVM. */
static int snp_chain(AgentContext *ctx, const AttestPlatform *h, char **ret) {
    SnpReport rep;
    const char *err = NULL;
    SnpFetchConfig fc;
    _cleanup_free_ char *cache = NULL;
    _cleanup_x509_ X509 *signer = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *chain = NULL;
    SnpCertSource src = SNP_SOURCE_NONE;

    int r = snp_report_parse(h->hw_report, h->hw_report_len, &rep, &err);
    if (r < 0)
        return log_error_errno(r, "the HCL report's SNP report does not parse: %s", err);
    if (rep.product == SNP_PRODUCT_UNKNOWN && !rep.has_cpuid)
        snp_report_set_product(&rep, SNP_PRODUCT_MILAN); /* v2 reports: Azure's SNP hosts */
    if (agent_snp_fetch_config(&ctx->cfg, &fc, &cache) < 0)
        return -ENOMEM;
    fc.use_thim = true;
    fc.imds_base = agent_imds_url(&ctx->cfg, ctx->cfg.snp_imds_url);
    r = snp_certs_obtain(&fc, &rep, rep.product, NULL, 0, &signer, &chain, &src);
    if (r < 0)
        return log_error_errno(r,
                               "no VCEK certificate chain for the SNP report (THIM at '%s', "
                               "the cache, KDS): %s",
                               fc.imds_base, strerror(-r));
    log_debug("VCEK chain from %s", snp_cert_source_name(src));
    return chain_pem(signer, chain, ret);
}

static int tdx_quote(AgentContext *ctx, const AttestPlatform *h, uint8_t **ret, size_t *ret_len) {
    HttpConfig http;
    _cleanup_free_ char *err = NULL;
    const char *url = agent_imds_url(&ctx->cfg, ctx->cfg.tdx_imds_url);
    if (h->hw_report_len < TDX_TDREPORT_SIZE)
        return log_error_errno(-EBADMSG, "the HCL report's TDREPORT is truncated");
    agent_http_config(&ctx->cfg, &http);
    int r = tdx_imds_get_quote(&http, url, h->hw_report, ret, ret_len, &err);
    if (r < 0)
        return log_error_errno(r, "cannot get a TD quote from IMDS '%s': %s", url,
                               err ? err : strerror(-r));
    return 0;
}

int agent_platform_read(AgentContext *ctx, AgentPlatform *ret) {
    AgentPlatform ap = {0};
    HclReport h;
    const char *err = NULL;
    int r = hcl_vtpm_read(ctx->cfg.tcti, NULL, PLATFORM_HCL_DEADLINE_MS, &ap.hcl, &ap.hcl_len);
    if (r < 0)
        return r == -ENOENT ? -ENODEV : r;
    r = hcl_report_parse(ap.hcl, ap.hcl_len, &h, &err);
    if (r < 0) {
        agent_platform_done(&ap);
        return log_error_errno(-EIO, "the vTPM's HCL report: %s", err ? err : "malformed");
    }
    ap.p = (AttestPlatform){.hcl_report = ap.hcl,
                            .hcl_report_len = ap.hcl_len,
                            .hw_report = h.hw_report,
                            .hw_report_len = h.hw_report_len,
                            .runtime_data = h.var_data,
                            .runtime_data_len = h.var_data_len};
    if (h.report_type == HCL_REPORT_SNP)
        ap.p.tee = ATTEST_TEE_SNP;
    else if (h.report_type == HCL_REPORT_TDX) {
        ap.p.tee = ATTEST_TEE_TDX;
        ap.p.hw_report_len = TDX_TDREPORT_SIZE; /* the 1184-byte slot is zero-padded */
    } else {
        agent_platform_done(&ap);
        return log_error_errno(-ENODEV,
                               "the HCL report holds a '%s' report: neither SEV-SNP nor TDX",
                               hcl_report_type_name(h.report_type));
    }
    *ret = ap;
    return 0;
}

int agent_platform_signer(AgentContext *ctx, AgentPlatform *ap) {
    int r;
    if (ap->p.tee == ATTEST_TEE_SNP) {
        r = snp_chain(ctx, &ap->p, &ap->vcek_chain_pem);
        ap->p.vcek_chain_pem = ap->vcek_chain_pem;
    } else {
        r = tdx_quote(ctx, &ap->p, &ap->td_quote, &ap->td_quote_len);
        ap->p.td_quote = ap->td_quote;
        ap->p.td_quote_len = ap->td_quote_len;
    }
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
