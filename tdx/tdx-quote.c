/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TD quotes v4 and v5 (Intel DCAP sgx_quote_4.h, QVL QuoteStructures.h and
 * Quote.cpp; go-tdx-guest abi.go; tee-formats.md §2.2-2.3). Everything is
 * bounded by the signature-data length field: real quotes carry trailing
 * bytes after it (zero padding, or text), which are counted and ignored.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "tdx/tdx.h"

/* Intel QVL QuoteConstants.h INTEL_QE_VENDOR_ID 939a7233-f79c-4ca9-940a-0db3957f0607 */
static const uint8_t intel_qe_vendor_id[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                               0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

static int quote_err(char **reterr, int r, const char *fmt, ...) _printf_(3, 4);
static int quote_err(char **reterr, int r, const char *fmt, ...) {
    if (reterr && !*reterr) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(reterr, fmt, ap) < 0)
            *reterr = NULL;
        va_end(ap);
    }
    return r;
}

/* The TD report body shared by v4 and v5 (584 bytes, TD_REPORT10). */
static void parse_body10(ByteReader *r, TdxQuoteBody *b) {
    br_copy(r, b->tee_tcb_svn, 16);
    br_copy(r, b->mrseam, TDX_MR_SIZE);
    br_copy(r, b->mrsignerseam, TDX_MR_SIZE);
    br_copy(r, b->seam_attributes, 8);
    br_copy(r, b->td_attributes_raw, 8);
    br_copy(r, b->xfam_raw, 8);
    br_copy(r, b->mrtd, TDX_MR_SIZE);
    br_copy(r, b->mrconfigid, TDX_MR_SIZE);
    br_copy(r, b->mrowner, TDX_MR_SIZE);
    br_copy(r, b->mrownerconfig, TDX_MR_SIZE);
    for (unsigned i = 0; i < 4; i++)
        br_copy(r, b->rtmr[i], TDX_MR_SIZE);
    br_copy(r, b->report_data, TDX_REPORT_DATA_SIZE);
    ByteReader a;
    br_init(&a, b->td_attributes_raw, 8);
    b->td_attributes = br_u64le(&a);
    br_init(&a, b->xfam_raw, 8);
    b->xfam = br_u64le(&a);
}

static void parse_qe_report(ByteReader *r, TdxQeReport *q) {
    /* sgx_report_body_t (Intel sgx_report.h), 384 bytes */
    br_copy(r, q->cpusvn, 16);
    q->miscselect = br_u32le(r);
    br_skip(r, 28); /* reserved1 */
    br_copy(r, q->attributes, 16);
    br_copy(r, q->mrenclave, 32);
    br_skip(r, 32); /* reserved2 */
    br_copy(r, q->mrsigner, 32);
    br_skip(r, 96); /* reserved3 */
    q->isvprodid = br_u16le(r);
    q->isvsvn = br_u16le(r);
    br_skip(r, 60); /* reserved4 */
    br_copy(r, q->report_data, 64);
}

/* Header, 48 bytes (sgx_quote4_header_t), and the v5 body descriptor. */
static int parse_header(ByteReader *r, size_t len, TdxQuote *q, char **reterr) {
    q->version = br_u16le(r);
    q->att_key_type = br_u16le(r);
    q->tee_type = br_u32le(r);
    q->qe_svn = br_u16le(r);
    q->pce_svn = br_u16le(r);
    br_copy(r, q->qe_vendor_id, 16);
    br_copy(r, q->user_data, 20);
    if (!br_ok(r))
        return quote_err(reterr, -EBADMSG, "quote truncated in the header (%zu bytes)", len);
    if (q->version != 4 && q->version != 5)
        return quote_err(reterr, -EPROTONOSUPPORT, "quote version %u is not 4 or 5", q->version);
    if (q->att_key_type != TDX_ATT_KEY_ECDSA_P256)
        return quote_err(reterr, -EPROTONOSUPPORT, "attestation key type %u is not 2 (ECDSA P-256)",
                         q->att_key_type);
    if (q->tee_type != TDX_TEE_TYPE_TDX)
        return quote_err(reterr, -EPROTONOSUPPORT, "TEE type 0x%08x is not TDX (0x81)",
                         q->tee_type);
    if (memcmp(q->qe_vendor_id, intel_qe_vendor_id, 16) != 0)
        return quote_err(reterr, -EBADMSG, "QE vendor ID at offset 0xc is not Intel's");

    if (q->version == 4) {
        q->body_type = TDX_QUOTE_BODY_TYPE_TDX10;
        q->body_size = TDX_QUOTE_BODY10_SIZE;
        return 0;
    }
    /* v5 body descriptor: u16 type, u32 size (Quote.cpp, go-tdx-guest quoteToProtoV5) */
    q->body_type = br_u16le(r);
    q->body_size = br_u32le(r);
    if (!br_ok(r))
        return quote_err(reterr, -EBADMSG, "quote truncated in the v5 body descriptor");
    if (q->body_type == TDX_QUOTE_BODY_TYPE_TDX10) {
        if (q->body_size != TDX_QUOTE_BODY10_SIZE)
            return quote_err(reterr, -EBADMSG, "v5 body type 2 with size %u, expected 584",
                             q->body_size);
    } else if (q->body_type == TDX_QUOTE_BODY_TYPE_TDX15) {
        if (q->body_size != TDX_QUOTE_BODY15_SIZE)
            return quote_err(reterr, -EBADMSG, "v5 body type 3 with size %u, expected 648",
                             q->body_size);
    } else
        return quote_err(reterr, -EPROTONOSUPPORT, "v5 body type %u is not a TD report (2 or 3)",
                         q->body_type);
    return 0;
}

/* The TD report body; what the attestation key signs ends with it. */
static int parse_body(ByteReader *r, const uint8_t *data, TdxQuote *q, char **reterr) {
    size_t body_off = br_offset(r);
    ByteReader body = br_sub(r, q->body_size);
    parse_body10(&body, &q->body);
    if (q->body_type == TDX_QUOTE_BODY_TYPE_TDX15) {
        q->body.tdx15 = true;
        br_copy(&body, q->body.tee_tcb_svn2, 16);
        br_copy(&body, q->body.mrservicetd, TDX_MR_SIZE);
    }
    if (!br_ok(r) || !br_at_end(&body))
        return quote_err(reterr, -EBADMSG, "quote truncated in the TD report body at 0x%zx",
                         body_off);
    q->signed_data = data;
    q->signed_len = br_offset(r);
    return 0;
}

/* Ecdsa256BitQuoteV4AuthData: signature, attestation key, certification data header. */
static int parse_auth_data(ByteReader *r, TdxQuote *q, ByteReader *ret_sig, char **reterr) {
    q->sig_data_len = br_u32le(r);
    if (!br_ok(r))
        return quote_err(reterr, -EBADMSG, "quote truncated at the signature data length (0x%zx)",
                         q->signed_len);
    if (q->sig_data_len > br_remaining(r))
        return quote_err(reterr, -EBADMSG,
                         "signature data length %u at 0x%zx exceeds the %zu bytes left",
                         q->sig_data_len, q->signed_len, br_remaining(r));
    ByteReader sig = br_sub(r, q->sig_data_len);
    q->trailing_len = br_remaining(r);

    br_copy(&sig, q->signature, 64);
    br_copy(&sig, q->attestation_key, 64);
    q->cert_data_type = br_u16le(&sig);
    q->cert_data_size = br_u32le(&sig);
    if (!br_ok(&sig))
        return quote_err(reterr, -EBADMSG, "signature data truncated (%u bytes)", q->sig_data_len);
    if (q->cert_data_type != TDX_CERT_TYPE_QE_REPORT)
        return quote_err(reterr, -EBADMSG,
                         "certification data type %u at 0x%zx is not 6 (QE report)",
                         q->cert_data_type, br_offset(&sig) - 6);
    if (q->cert_data_size != br_remaining(&sig))
        return quote_err(reterr, -EBADMSG,
                         "certification data size %u does not match the %zu bytes left",
                         q->cert_data_size, br_remaining(&sig));
    *ret_sig = sig;
    return 0;
}

/* QE report certification data: QE report, its signature, QE auth data, PCK chain. */
static int parse_qe_cert_data(ByteReader *sig, TdxQuote *q, char **reterr) {
    size_t qe_off = br_offset(sig);
    ByteReader qe = br_sub(sig, TDX_QE_REPORT_SIZE);
    q->qe_report_raw = qe.data;
    parse_qe_report(&qe, &q->qe_report);
    br_copy(sig, q->qe_report_signature, 64);
    q->qe_auth_data_len = br_u16le(sig);
    if (!br_ok(sig) || !br_ok(&qe))
        return quote_err(reterr, -EBADMSG, "QE report certification data truncated at 0x%zx",
                         qe_off);
    q->qe_auth_data = br_take(sig, q->qe_auth_data_len);
    if (!q->qe_auth_data && q->qe_auth_data_len)
        return quote_err(reterr, -EBADMSG, "QE authentication data (%u bytes) truncated",
                         q->qe_auth_data_len);
    q->pck_cert_type = br_u16le(sig);
    q->pck_chain_len = br_u32le(sig);
    if (!br_ok(sig))
        return quote_err(reterr, -EBADMSG, "inner certification data header truncated");
    if (q->pck_cert_type != TDX_CERT_TYPE_PCK_CHAIN)
        return quote_err(reterr, -EBADMSG,
                         "inner certification data type %u is not 5 (PCK certificate chain)",
                         q->pck_cert_type);
    if (q->pck_chain_len != br_remaining(sig))
        return quote_err(reterr, -EBADMSG,
                         "PCK chain size %u does not match the %zu bytes left in the signature "
                         "data",
                         q->pck_chain_len, br_remaining(sig));
    q->pck_chain = br_take(sig, q->pck_chain_len);
    if (!br_ok(sig) || (!q->pck_chain && q->pck_chain_len) || q->pck_chain_len == 0)
        return quote_err(reterr, -EBADMSG, "PCK certificate chain missing or truncated");
    return 0;
}

int tdx_quote_parse(const uint8_t *data, size_t len, TdxQuote *ret, char **reterr) {
    ByteReader r, sig;
    TdxQuote q = {0};
    int k;

    if (reterr)
        *reterr = NULL;
    if (!data)
        return -EINVAL;
    br_init(&r, data, len);
    if ((k = parse_header(&r, len, &q, reterr)) < 0 || (k = parse_body(&r, data, &q, reterr)) < 0 ||
        (k = parse_auth_data(&r, &q, &sig, reterr)) < 0 ||
        (k = parse_qe_cert_data(&sig, &q, reterr)) < 0)
        return k;
    *ret = q;
    return 0;
}

static const char *const tcb_status_names[] = {
    [TDX_TCB_UNKNOWN] = "Unknown",
    [TDX_TCB_UP_TO_DATE] = "UpToDate",
    [TDX_TCB_SW_HARDENING_NEEDED] = "SWHardeningNeeded",
    [TDX_TCB_CONFIGURATION_NEEDED] = "ConfigurationNeeded",
    [TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED] = "ConfigurationAndSWHardeningNeeded",
    [TDX_TCB_OUT_OF_DATE] = "OutOfDate",
    [TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED] = "OutOfDateConfigurationNeeded",
    [TDX_TCB_REVOKED] = "Revoked",
    [TDX_TCB_NOT_SUPPORTED] = "NotSupported",
};

const char *tdx_tcb_status_to_string(TdxTcbStatus s) {
    if ((size_t)s >= sizeof(tcb_status_names) / sizeof(tcb_status_names[0]))
        return "Unknown";
    return tcb_status_names[s];
}

TdxTcbStatus tdx_tcb_status_from_string(const char *s) {
    for (size_t i = 1; s && i < sizeof(tcb_status_names) / sizeof(tcb_status_names[0]); i++)
        if (strcmp(s, tcb_status_names[i]) == 0)
            return (TdxTcbStatus)i;
    return TDX_TCB_UNKNOWN;
}
