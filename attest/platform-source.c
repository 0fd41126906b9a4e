/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The hardware half of the attestation evidence, from the vTPM's HCL report
 * (the paravisor hides /dev/sev-guest and /dev/tdx_guest on Azure CVMs), and
 * its signer's material: the VCEK chain (SNP) or the TD quote from IMDS (TDX).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "attest/attest-internal.h"
#include "attest/attest.h"
#include "common/crypto.h"
#include "common/log.h"
#include "snp/snp.h"
#include "tdx/tdx.h"

#define PLATFORM_HCL_DEADLINE_MS 10000u

void attest_platform_evidence_done(AttestPlatformEvidence *p) {
    if (!p)
        return;
    free(p->hcl);
    free(p->vcek_chain_pem);
    free(p->td_quote);
    *p = (AttestPlatformEvidence){0};
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
static int snp_chain(const AttestSourceConfig *cfg, const AttestPlatform *h, char **ret) {
    SnpReport rep;
    const char *err = NULL;
    SnpFetchConfig fc = cfg->snp_fetch;
    _cleanup_x509_ X509 *signer = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *chain = NULL;
    SnpCertSource src = SNP_SOURCE_NONE;

    int r = snp_report_parse(h->hw_report, h->hw_report_len, &rep, &err);
    if (r < 0)
        return attest_fail(r, "the HCL report's SNP report does not parse: %s", err);
    if (rep.product == SNP_PRODUCT_UNKNOWN && !rep.has_cpuid)
        snp_report_set_product(&rep, SNP_PRODUCT_MILAN); /* v2 reports: Azure's SNP hosts */
    fc.use_thim = true;
    fc.imds_base = cfg->imds_url ? cfg->imds_url : TDX_IMDS_URL_DEFAULT;
    r = snp_certs_obtain(&fc, &rep, rep.product, NULL, 0, &signer, &chain, &src);
    if (r < 0)
        return attest_fail(r,
                           "no VCEK certificate chain for the SNP report (THIM at '%s', "
                           "the cache, KDS): %s",
                           fc.imds_base, strerror(-r));
    log_debug("VCEK chain from %s", snp_cert_source_name(src));
    r = chain_pem(signer, chain, ret);
    return r < 0 ? attest_fail(r, "out of memory") : 0;
}

static int tdx_quote(const AttestSourceConfig *cfg, const AttestPlatform *h, uint8_t **ret,
                     size_t *ret_len) {
    _cleanup_free_ char *err = NULL;
    const char *url = cfg->imds_url ? cfg->imds_url : TDX_IMDS_URL_DEFAULT;
    if (h->hw_report_len < TDX_TDREPORT_SIZE)
        return attest_fail(-EBADMSG, "the HCL report's TDREPORT is truncated");
    int r = tdx_imds_get_quote(&cfg->http, url, h->hw_report, ret, ret_len, &err);
    if (r < 0)
        return attest_fail(r, "cannot get a TD quote from IMDS '%s': %s", url,
                           err ? err : strerror(-r));
    return 0;
}

int attest_platform_read(const AttestSourceConfig *cfg, AttestPlatformEvidence *ret) {
    AttestPlatformEvidence ap = {0};
    HclReport h;
    const char *err = NULL;
    uint64_t deadline = cfg->deadline_ms ? cfg->deadline_ms : PLATFORM_HCL_DEADLINE_MS;
    int r = hcl_vtpm_read(cfg->tcti, NULL, deadline, &ap.hcl, &ap.hcl_len);
    if (r < 0)
        return attest_fail(r == -ENOENT ? -ENODEV : r,
                           "cannot read the HCL report from the vTPM at '%s'",
                           cfg->tcti ? cfg->tcti : "(default TCTI)");
    r = hcl_report_parse(ap.hcl, ap.hcl_len, &h, &err);
    if (r < 0) {
        attest_platform_evidence_done(&ap);
        return attest_fail(-EIO, "the vTPM's HCL report: %s", err ? err : "malformed");
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
        attest_platform_evidence_done(&ap);
        return attest_fail(-ENODEV, "the HCL report holds a '%s' report: neither SEV-SNP nor TDX",
                           hcl_report_type_name(h.report_type));
    }
    *ret = ap;
    return 0;
}

int attest_platform_certs(const AttestSourceConfig *cfg, AttestPlatformEvidence *ap) {
    int r;
    if (ap->p.tee == ATTEST_TEE_SNP) {
        r = snp_chain(cfg, &ap->p, &ap->vcek_chain_pem);
        ap->p.vcek_chain_pem = ap->vcek_chain_pem;
    } else {
        r = tdx_quote(cfg, &ap->p, &ap->td_quote, &ap->td_quote_len);
        ap->p.td_quote = ap->td_quote;
        ap->p.td_quote_len = ap->td_quote_len;
    }
    return r;
}
