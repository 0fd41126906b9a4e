/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TDREPORT_STRUCT (1024 bytes), the output of TDG.MR.REPORT: REPORTMACSTRUCT,
 * TEE_TCB_INFO and TDINFO (Intel TDX Module ABI spec; tee-formats.md §2.1).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "common/bytes.h"
#include "common/crypto.h"
#include "tdx/tdx.h"

/* TDREPORT_STRUCT offsets (TDX Module ABI, Table "TDREPORT_STRUCT"). */
#define OFF_TEE_TCB_INFO 0x100
#define OFF_TDINFO       0x200

int tdx_report_parse(const uint8_t *data, size_t len, bool allow_trailing, TdxTdReport *ret) {
    ByteReader r;
    TdxTdReport t = {0};

    if (!data || len < TDX_TDREPORT_SIZE || (!allow_trailing && len != TDX_TDREPORT_SIZE))
        return -EBADMSG;
    br_init(&r, data, TDX_TDREPORT_SIZE);

    /* REPORTMACSTRUCT @0x000 (256 bytes) */
    t.report_type = br_u8(&r);
    t.report_subtype = br_u8(&r);
    t.report_version = br_u8(&r);
    br_skip(&r, 1);  /* reserved */
    br_skip(&r, 12); /* reserved */
    br_copy(&r, t.cpusvn, sizeof(t.cpusvn));
    br_copy(&r, t.tee_tcb_info_hash, sizeof(t.tee_tcb_info_hash));
    br_copy(&r, t.tee_info_hash, sizeof(t.tee_info_hash));
    br_copy(&r, t.report_data, sizeof(t.report_data));
    br_skip(&r, 32); /* reserved */
    br_copy(&r, t.mac, sizeof(t.mac));

    /* TEE_TCB_INFO @0x100 (239 bytes) + 17 reserved */
    br_seek(&r, OFF_TEE_TCB_INFO);
    ByteReader tcb = br_sub(&r, TDX_TEE_TCB_INFO_SIZE);
    t.tee_tcb_info_raw = tcb.data;
    br_copy(&tcb, t.tee_tcb_valid, sizeof(t.tee_tcb_valid));
    br_copy(&tcb, t.tee_tcb_svn, sizeof(t.tee_tcb_svn));
    br_copy(&tcb, t.mrseam, sizeof(t.mrseam));
    br_copy(&tcb, t.mrsignerseam, sizeof(t.mrsignerseam));
    br_copy(&tcb, t.seam_attributes, sizeof(t.seam_attributes));
    br_copy(&tcb, t.tee_tcb_svn2, sizeof(t.tee_tcb_svn2)); /* TDX 1.5, zero in 1.0 */

    /* TDINFO @0x200 (512 bytes) */
    br_seek(&r, OFF_TDINFO);
    ByteReader ti = br_sub(&r, TDX_TDINFO_SIZE);
    t.tdinfo_raw = ti.data;
    br_copy(&ti, t.td.attributes_raw, 8);
    br_copy(&ti, t.td.xfam_raw, 8);
    br_seek(&ti, 0);
    t.td.attributes = br_u64le(&ti);
    t.td.xfam = br_u64le(&ti);
    br_copy(&ti, t.td.mrtd, TDX_MR_SIZE);
    br_copy(&ti, t.td.mrconfigid, TDX_MR_SIZE);
    br_copy(&ti, t.td.mrowner, TDX_MR_SIZE);
    br_copy(&ti, t.td.mrownerconfig, TDX_MR_SIZE);
    for (unsigned i = 0; i < 4; i++)
        br_copy(&ti, t.td.rtmr[i], TDX_MR_SIZE);
    br_copy(&ti, t.td.servtd_hash, TDX_MR_SIZE);

    if (!br_ok(&r) || !br_ok(&tcb) || !br_ok(&ti))
        return -EBADMSG;
    if (t.report_type != TDX_REPORT_TYPE_TDX)
        return -EPROTONOSUPPORT;
    *ret = t;
    return 0;
}

int tdx_report_check_hashes(const TdxTdReport *r, bool *ret_tcb_info_ok, bool *ret_tdinfo_ok) {
    uint8_t h[CRYPTO_MAX_DIGEST];
    size_t hl = 0;
    bool tcb_ok, info_ok;
    int k;

    k = crypto_digest("SHA384", r->tee_tcb_info_raw, TDX_TEE_TCB_INFO_SIZE, h, &hl);
    if (k < 0)
        return k;
    tcb_ok = hl == 48 && crypto_memeq(h, r->tee_tcb_info_hash, 48);
    k = crypto_digest("SHA384", r->tdinfo_raw, TDX_TDINFO_SIZE, h, &hl);
    if (k < 0)
        return k;
    info_ok = hl == 48 && crypto_memeq(h, r->tee_info_hash, 48);
    if (ret_tcb_info_ok)
        *ret_tcb_info_ok = tcb_ok;
    if (ret_tdinfo_ok)
        *ret_tdinfo_ok = info_ok;
    return tcb_ok && info_ok ? 0 : -EKEYREJECTED;
}

bool tdx_quote_matches_report(const TdxQuoteBody *b, const TdxTdReport *t, const char **ret_field) {
    const struct {
        const char *name;
        const uint8_t *quote, *report;
        size_t len;
    } fields[] = {
        {"TEE_TCB_SVN", b->tee_tcb_svn, t->tee_tcb_svn, 16},
        {"MRSEAM", b->mrseam, t->mrseam, TDX_MR_SIZE},
        {"MRSIGNERSEAM", b->mrsignerseam, t->mrsignerseam, TDX_MR_SIZE},
        {"SEAM_ATTRIBUTES", b->seam_attributes, t->seam_attributes, 8},
        {"TD ATTRIBUTES", b->td_attributes_raw, t->td.attributes_raw, 8},
        {"XFAM", b->xfam_raw, t->td.xfam_raw, 8},
        {"MRTD", b->mrtd, t->td.mrtd, TDX_MR_SIZE},
        {"MRCONFIGID", b->mrconfigid, t->td.mrconfigid, TDX_MR_SIZE},
        {"MROWNER", b->mrowner, t->td.mrowner, TDX_MR_SIZE},
        {"MROWNERCONFIG", b->mrownerconfig, t->td.mrownerconfig, TDX_MR_SIZE},
        {"RTMR0", b->rtmr[0], t->td.rtmr[0], TDX_MR_SIZE},
        {"RTMR1", b->rtmr[1], t->td.rtmr[1], TDX_MR_SIZE},
        {"RTMR2", b->rtmr[2], t->td.rtmr[2], TDX_MR_SIZE},
        {"RTMR3", b->rtmr[3], t->td.rtmr[3], TDX_MR_SIZE},
        {"REPORTDATA", b->report_data, t->report_data, TDX_REPORT_DATA_SIZE},
        /* TDX 1.5 bodies only: a 1.0 body does not carry them */
        {"TEE_TCB_SVN2", b->tee_tcb_svn2, t->tee_tcb_svn2, b->tdx15 ? 16 : 0},
        {"MRSERVICETD", b->mrservicetd, t->td.servtd_hash, b->tdx15 ? TDX_MR_SIZE : 0},
    };
    for (size_t i = 0; i < ELEMENTSOF(fields); i++)
        if (fields[i].len && memcmp(fields[i].quote, fields[i].report, fields[i].len) != 0) {
            if (ret_field)
                *ret_field = fields[i].name;
            return false;
        }
    return true;
}
