/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A fresh hardware report bound to the caller's data, from whichever
 * interface this VM has: SEV-SNP through configfs-tsm or /dev/sev-guest, TDX
 * through /dev/tdx_guest or configfs-tsm, or on Azure the vTPM's HCL report
 * (for TDX with the TD quote IMDS makes of its TDREPORT).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attest/attest-internal.h"
#include "attest/attest.h"
#include "common/log.h"
#include "snp/snp.h"
#include "tdx/tdx.h"

static const char *const source_names[] = {
    [ATTEST_SOURCE_SNP_CONFIGFS] = "configfs",
    [ATTEST_SOURCE_SEV_GUEST] = "sev-guest",
    [ATTEST_SOURCE_VTPM] = "vtpm",
    [ATTEST_SOURCE_TDX_GUEST] = "tdx-guest",
    [ATTEST_SOURCE_TDX_CONFIGFS] = "tdx-configfs",
    [ATTEST_SOURCE_AZURE_TDX] = "azure-tdx",
};

const char *attest_source_name(AttestSource s) {
    return s >= 0 && (size_t)s < ELEMENTSOF(source_names) ? source_names[s] : "invalid";
}

AttestSource attest_source_from_name(const char *name) {
    for (size_t i = 0; name && i < ELEMENTSOF(source_names); i++)
        if (streq(name, source_names[i]))
            return (AttestSource)i;
    return ATTEST_SOURCE_INVALID;
}

bool attest_source_is_tdx(AttestSource s) {
    return s == ATTEST_SOURCE_TDX_GUEST || s == ATTEST_SOURCE_TDX_CONFIGFS ||
           s == ATTEST_SOURCE_AZURE_TDX;
}

static bool path_exists(const char *p) {
    struct stat st;
    return p && stat(p, &st) == 0;
}

static const char *snp_tsm(const AttestSourceConfig *cfg) {
    return cfg->snp_configfs_tsm ? cfg->snp_configfs_tsm : SNP_CONFIGFS_TSM;
}

/* configfs-tsm is the kernel's preferred interface, then the ioctl, then the
 * Azure vTPM (whose paravisor hides /dev/sev-guest). */
AttestSource attest_platform_detect(const AttestSourceConfig *cfg) {
    const char *dev = cfg->snp_device ? cfg->snp_device : SNP_SEV_GUEST_DEVICE;
    AttestSource s = path_exists(snp_tsm(cfg)) ? ATTEST_SOURCE_SNP_CONFIGFS
                     : path_exists(dev)        ? ATTEST_SOURCE_SEV_GUEST
                                               : ATTEST_SOURCE_VTPM;
    log_debug("report source: %s", attest_source_name(s));
    return s;
}

void attest_report_done(AttestReport *r) {
    if (!r)
        return;
    free(r->raw);
    free(r->certs);
    free(r->provider);
    free(r->hcl);
    *r = (AttestReport){0};
}

static int snp_source(const AttestSourceConfig *cfg, AttestSource s, const uint8_t *data,
                      uint32_t vmpl, AttestReport *ret) {
    static const uint8_t zeros[64] = {0};
    const char *tsm = snp_tsm(cfg);
    const char *dev = cfg->snp_device ? cfg->snp_device : SNP_SEV_GUEST_DEVICE;
    int r;
    if (s == ATTEST_SOURCE_SEV_GUEST) {
        r = snp_guest_get_report(dev, data ? data : zeros, vmpl, &ret->raw, &ret->raw_len,
                                 &ret->certs, &ret->certs_len);
        return r < 0 ? attest_fail(r, "cannot get a report from '%s': %s", dev, strerror(-r)) : 0;
    }
    r = snp_tsm_get_report(tsm, data ? data : zeros, vmpl, &ret->raw, &ret->raw_len, &ret->certs,
                           &ret->certs_len, &ret->provider);
    if (r == -EBUSY)
        return attest_fail(-EAGAIN,
                           "configfs-tsm: another writer kept changing the report entry under "
                           "'%s'; try again",
                           tsm);
    if (r == -ENODEV)
        return attest_fail(r,
                           "configfs-tsm '%s' is not the SEV-SNP provider (sev_guest); on a "
                           "TDX VM use --source tdx-configfs",
                           tsm);
    if (r < 0)
        return attest_fail(r, "cannot get a report through configfs-tsm '%s': %s", tsm,
                           strerror(-r));
    return 0;
}

/* The TD quote for the TDREPORT inside the vTPM's HCL report, checked to be
 * for it (tdx_quote_matches_report, as `verify --hcl-report --td-quote`). */
static int azure_tdx(const AttestSourceConfig *cfg, const uint8_t *data, AttestReport *ret) {
    _cleanup_free_ char *err = NULL;
    const char *herr = NULL, *differs = NULL;
    HclReport h;
    TdxTdReport t;
    TdxQuote tq;
    uint64_t deadline = cfg->deadline_ms ? cfg->deadline_ms : 10000u;
    const char *url = cfg->imds_url ? cfg->imds_url : TDX_IMDS_URL_DEFAULT;
    int r = hcl_vtpm_read(cfg->tcti, data, deadline, &ret->hcl, &ret->hcl_len);
    if (r < 0)
        return attest_fail(r, "cannot read the HCL report from the vTPM");
    r = hcl_report_parse(ret->hcl, ret->hcl_len, &h, &herr);
    if (r < 0)
        return attest_fail(r, "the vTPM's HCL report: %s", herr ? herr : "malformed");
    if (h.report_type != HCL_REPORT_TDX)
        return attest_fail(-ENODEV, "the HCL report holds a '%s' report, not TDX",
                           hcl_report_type_name(h.report_type));
    if (h.hw_report_len < TDX_TDREPORT_SIZE ||
        tdx_report_parse(h.hw_report, TDX_TDREPORT_SIZE, false, &t) < 0)
        return attest_fail(-EBADMSG, "the HCL report's TDREPORT does not parse");
    r = tdx_imds_get_quote(&cfg->http, url, h.hw_report, &ret->raw, &ret->raw_len, &err);
    if (r < 0)
        return attest_fail(r, "cannot get a TD quote from IMDS: %s", err ? err : strerror(-r));
    _cleanup_free_ char *qerr = NULL;
    if (tdx_quote_parse(ret->raw, ret->raw_len, &tq, &qerr) < 0)
        return attest_fail(-EBADMSG, "the TD quote does not parse: %s", qerr ? qerr : "?");
    if (!tdx_quote_matches_report(&tq.body, &t, &differs))
        return attest_fail(-EBADMSG, "IMDS returned a quote for another TD report (%s differs)",
                           differs);
    return 0;
}

static int tdx_source(const AttestSourceConfig *cfg, AttestSource s, const uint8_t *data,
                      AttestReport *ret) {
    static const uint8_t zeros[TDX_REPORT_DATA_SIZE] = {0};
    int r;
    if (s == ATTEST_SOURCE_AZURE_TDX)
        return azure_tdx(cfg, data, ret);
    if (s == ATTEST_SOURCE_TDX_GUEST) {
        const char *dev = cfg->tdx_device ? cfg->tdx_device : TDX_GUEST_DEVICE_DEFAULT;
        if (!(ret->raw = malloc(TDX_TDREPORT_SIZE)))
            return attest_fail(-ENOMEM, "out of memory");
        ret->raw_len = TDX_TDREPORT_SIZE;
        r = tdx_guest_get_report(dev, data ? data : zeros, ret->raw);
        return r < 0 ? attest_fail(r, "cannot get a TDREPORT from '%s': %s", dev, strerror(-r)) : 0;
    }
    const char *tsm = cfg->tdx_configfs_tsm ? cfg->tdx_configfs_tsm : TDX_CONFIGFS_TSM_DEFAULT;
    r = tdx_configfs_get_quote(tsm, data ? data : zeros, &ret->raw, &ret->raw_len);
    if (r == -EBUSY)
        return attest_fail(-EAGAIN,
                           "configfs-tsm: another writer kept changing the "
                           "report entry under '%s'; try again",
                           tsm);
    if (r < 0)
        return attest_fail(r, "cannot get a TD quote through configfs-tsm '%s': %s", tsm,
                           strerror(-r));
    return 0;
}

int attest_platform_report(const AttestSourceConfig *cfg, AttestSource source, const uint8_t *data,
                           uint32_t vmpl, AttestReport *ret) {
    AttestReport rep = {0};
    int r;
    switch (source) {
    case ATTEST_SOURCE_SNP_CONFIGFS:
    case ATTEST_SOURCE_SEV_GUEST: r = snp_source(cfg, source, data, vmpl, &rep); break;
    case ATTEST_SOURCE_VTPM: {
        uint64_t deadline = cfg->deadline_ms ? cfg->deadline_ms : 10000u;
        r = hcl_vtpm_read(cfg->tcti, data, deadline, &rep.raw, &rep.raw_len);
        if (r < 0)
            r = attest_fail(r, "cannot read the HCL report from the vTPM");
        break;
    }
    case ATTEST_SOURCE_TDX_GUEST:
    case ATTEST_SOURCE_TDX_CONFIGFS:
    case ATTEST_SOURCE_AZURE_TDX: r = tdx_source(cfg, source, data, &rep); break;
    default: r = attest_fail(-EINVAL, "unknown report source"); break;
    }
    if (r < 0) {
        attest_report_done(&rep);
        return r;
    }
    *ret = rep;
    return 0;
}
