/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Intel TDX: the TDREPORT (TDG.MR.REPORT output), TD quotes v4 and v5 with
 * their ECDSA signature data, DCAP verification to the Intel SGX Root CA with
 * optional collateral (TCB info, QE identity, CRLs), and the guest interfaces
 * that produce reports and quotes (/dev/tdx_guest, configfs-tsm, Azure IMDS).
 *
 * Layouts: Intel TDX Module ABI spec (TDREPORT_STRUCT), Intel DCAP
 * sgx_quote_4.h / QVL QuoteStructures.h (quotes); details and sources are in
 * docs tee-formats.md §2.
 *
 * The parsers are pure: bytes in, struct out. Pointers in the parsed structs
 * point into the caller's buffer, which must outlive them.
 */
#ifndef CVM_TDX_TDX_H
#define CVM_TDX_TDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "common/http.h"

/* ---- TDREPORT (tdx-report.c) ------------------------------------------ */

#define TDX_TDREPORT_SIZE     1024 /* TDX Module ABI: TDREPORT_STRUCT */
#define TDX_REPORT_TYPE_TDX   0x81 /* REPORTTYPE.TYPE for TDX */
#define TDX_TEE_TCB_INFO_SIZE 239
#define TDX_TDINFO_SIZE       512
#define TDX_MR_SIZE           48 /* SHA-384 measurement registers */
#define TDX_REPORT_DATA_SIZE  64

/* TD ATTRIBUTES bits (TDX Module ABI, TDATTRIBUTES; trustee claims.rs). */
#define TDX_ATTR_DEBUG           (UINT64_C(1) << 0)
#define TDX_ATTR_SEPT_VE_DISABLE (UINT64_C(1) << 28)
#define TDX_ATTR_PKS             (UINT64_C(1) << 30)
#define TDX_ATTR_KL              (UINT64_C(1) << 31)
#define TDX_ATTR_PERFMON         (UINT64_C(1) << 63)

typedef struct TdxTdInfo {
    uint64_t attributes; /* TDATTRIBUTES, little-endian u64 */
    uint64_t xfam;
    uint8_t attributes_raw[8];
    uint8_t xfam_raw[8];
    uint8_t mrtd[TDX_MR_SIZE];
    uint8_t mrconfigid[TDX_MR_SIZE];
    uint8_t mrowner[TDX_MR_SIZE];
    uint8_t mrownerconfig[TDX_MR_SIZE];
    uint8_t rtmr[4][TDX_MR_SIZE];
    uint8_t servtd_hash[TDX_MR_SIZE]; /* TDX 1.5; zero in 1.0 */
} TdxTdInfo;

typedef struct TdxTdReport {
    /* REPORTMACSTRUCT @0x000 */
    uint8_t report_type; /* 0x81 */
    uint8_t report_subtype;
    uint8_t report_version; /* 0 = TDX 1.0, 1 = TDX 1.5 */
    uint8_t cpusvn[16];
    uint8_t tee_tcb_info_hash[48];
    uint8_t tee_info_hash[48];
    uint8_t report_data[TDX_REPORT_DATA_SIZE];
    uint8_t mac[32];
    /* TEE_TCB_INFO @0x100 */
    uint8_t tee_tcb_valid[8];
    uint8_t tee_tcb_svn[16];
    uint8_t mrseam[TDX_MR_SIZE];
    uint8_t mrsignerseam[TDX_MR_SIZE];
    uint8_t seam_attributes[8];
    uint8_t tee_tcb_svn2[16];
    /* TDINFO @0x200 */
    TdxTdInfo td;
    /* the raw bytes the two hashes cover */
    const uint8_t *tee_tcb_info_raw; /* 239 bytes */
    const uint8_t *tdinfo_raw;       /* 512 bytes */
} TdxTdReport;

/* Parses the first 1024 bytes of data (more is -EBADMSG unless allow_trailing). */
int tdx_report_parse(const uint8_t *data, size_t len, bool allow_trailing, TdxTdReport *ret);
/* SHA-384(TEE_TCB_INFO) == TEE_TCB_INFO_HASH and SHA-384(TDINFO) ==
 * TEE_INFO_HASH. The CPU MAC over REPORTMACSTRUCT is only checkable on the
 * platform that made the report. 0, or -EKEYREJECTED naming the mismatch. */
int tdx_report_check_hashes(const TdxTdReport *r, bool *ret_tcb_info_ok, bool *ret_tdinfo_ok);

/* ---- Quotes v4/v5 (tdx-quote.c) --------------------------------------- */

#define TDX_QUOTE_HEADER_SIZE       48
#define TDX_QUOTE_BODY10_SIZE       584 /* TD_REPORT10 (TDX 1.0) */
#define TDX_QUOTE_BODY15_SIZE       648 /* TD_REPORT15 (TDX 1.5) */
#define TDX_QUOTE_BODY_TYPE_TDX10   2   /* v5 body descriptor type */
#define TDX_QUOTE_BODY_TYPE_TDX15   3
#define TDX_ATT_KEY_ECDSA_P256      2
#define TDX_TEE_TYPE_TDX            0x00000081
#define TDX_CERT_TYPE_PCK_CHAIN     5 /* PEM PCK leaf, intermediate, root */
#define TDX_CERT_TYPE_QE_REPORT     6 /* PCK_ID_QE_REPORT_CERTIFICATION_DATA */
#define TDX_QE_REPORT_SIZE          384
#define TDX_QUOTE_SIG_DATA_MIN_SIZE (64 + 64 + 2 + 4 + 384 + 64 + 2 + 2 + 4)

typedef struct TdxQuoteBody {
    uint8_t tee_tcb_svn[16];
    uint8_t mrseam[TDX_MR_SIZE];
    uint8_t mrsignerseam[TDX_MR_SIZE];
    uint8_t seam_attributes[8];
    uint8_t td_attributes_raw[8];
    uint64_t td_attributes;
    uint8_t xfam_raw[8];
    uint64_t xfam;
    uint8_t mrtd[TDX_MR_SIZE];
    uint8_t mrconfigid[TDX_MR_SIZE];
    uint8_t mrowner[TDX_MR_SIZE];
    uint8_t mrownerconfig[TDX_MR_SIZE];
    uint8_t rtmr[4][TDX_MR_SIZE];
    uint8_t report_data[TDX_REPORT_DATA_SIZE];
    bool tdx15; /* the next two fields are present (v5 body type 3) */
    uint8_t tee_tcb_svn2[16];
    uint8_t mrservicetd[TDX_MR_SIZE];
} TdxQuoteBody;

/* The QE's SGX REPORT body (384 bytes; Intel sgx_report_body_t). */
typedef struct TdxQeReport {
    uint8_t cpusvn[16];
    uint32_t miscselect;
    uint8_t attributes[16];
    uint8_t mrenclave[32];
    uint8_t mrsigner[32];
    uint16_t isvprodid;
    uint16_t isvsvn;
    uint8_t report_data[64];
} TdxQeReport;

typedef struct TdxQuote {
    /* header */
    uint16_t version; /* 4 or 5 */
    uint16_t att_key_type;
    uint32_t tee_type;
    uint16_t qe_svn;
    uint16_t pce_svn;
    uint8_t qe_vendor_id[16];
    uint8_t user_data[20];
    /* v5 body descriptor (v4: type 2, size 584) */
    uint16_t body_type;
    uint32_t body_size;
    TdxQuoteBody body;
    /* what the attestation key signs: header ‖ [descriptor ‖] body */
    const uint8_t *signed_data;
    size_t signed_len;
    /* signature data */
    uint32_t sig_data_len;
    uint8_t signature[64];       /* r ‖ s, big-endian */
    uint8_t attestation_key[64]; /* x ‖ y, big-endian */
    uint16_t cert_data_type;     /* 6 */
    uint32_t cert_data_size;
    const uint8_t *qe_report_raw; /* 384 bytes */
    TdxQeReport qe_report;
    uint8_t qe_report_signature[64];
    const uint8_t *qe_auth_data;
    uint16_t qe_auth_data_len;
    uint16_t pck_cert_type;   /* 5 */
    const uint8_t *pck_chain; /* PEM text, possibly NUL-terminated */
    uint32_t pck_chain_len;
    size_t trailing_len; /* bytes after the signature data (ignored) */
} TdxQuote;

/* Parses a v4 or v5 TD quote. -EBADMSG malformed/truncated (reterr, when
 * given, gets a malloc'ed message naming the field and offset),
 * -EPROTONOSUPPORT for other versions, key types, TEE types or body types. */
int tdx_quote_parse(const uint8_t *data, size_t len, TdxQuote *ret, char **reterr);

/*
 * True when the quote body b is for the TDREPORT t: every field the body
 * carries equals the report's, from TEE_TCB_INFO (TEE_TCB_SVN, MRSEAM,
 * MRSIGNERSEAM, SEAM_ATTRIBUTES, and TEE_TCB_SVN2 for a TDX 1.5 body), TDINFO
 * (ATTRIBUTES, XFAM, MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG, RTMR0-3, and
 * SERVTD_HASH = MRSERVICETD for 1.5) and REPORTDATA. On a mismatch
 * *ret_field (when given) names the first field that differs. This binds an
 * unauthenticated TDREPORT to a verified quote: claims are then read from
 * the quote.
 */
bool tdx_quote_matches_report(const TdxQuoteBody *b, const TdxTdReport *t, const char **ret_field);

/* "UpToDate", ... names for the TCB statuses of Intel's collateral. */
typedef enum TdxTcbStatus {
    TDX_TCB_UNKNOWN = 0, /* not evaluated (no collateral) */
    TDX_TCB_UP_TO_DATE,
    TDX_TCB_SW_HARDENING_NEEDED,
    TDX_TCB_CONFIGURATION_NEEDED,
    TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
    TDX_TCB_OUT_OF_DATE,
    TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
    TDX_TCB_REVOKED,
    TDX_TCB_NOT_SUPPORTED, /* no level matched */
} TdxTcbStatus;
const char *tdx_tcb_status_to_string(TdxTcbStatus s);
TdxTcbStatus tdx_tcb_status_from_string(const char *s);

/* ---- Verification (tdx-verify.c) -------------------------------------- */

/* SHA-256 fingerprint of the Intel SGX Root CA certificate (DER). */
#define TDX_INTEL_SGX_ROOT_CA_SHA256                                                               \
    "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

typedef struct TdxBlob {
    const uint8_t *data;
    size_t len;
} TdxBlob;

#define TDX_CRL_MAX_AGE_DEFAULT (30 * 86400) /* [tdx] crl-max-age */

typedef struct TdxVerifyParams {
    int64_t at;                     /* seconds since the epoch (now_realtime_s() for now) */
    STACK_OF(X509) * extra_anchors; /* non-production roots (tests), or NULL */
    /* collateral, each optional (data NULL = absent) */
    TdxBlob tcb_info;         /* Intel PCS TDX TCB info JSON {"tcbInfo":..,"signature":..} */
    TdxBlob qe_identity;      /* Intel PCS TD_QE identity JSON */
    TdxBlob collateral_chain; /* PEM: TCB signing cert (+ root) that signs both */
    const TdxBlob *crls;      /* DER or PEM CRLs */
    size_t n_crls;
    /* a CRL without nextUpdate is stale this long after its lastUpdate
     * (0 = TDX_CRL_MAX_AGE_DEFAULT) */
    int64_t crl_max_age_s;
} TdxVerifyParams;

/* SGX extensions of the PCK certificate (OID 1.2.840.113741.1.13.1). */
typedef struct TdxPckInfo {
    uint8_t ppid[16];
    uint8_t cpusvn_comp[16]; /* .1.2.1 - .1.2.16 */
    uint16_t pcesvn;         /* .1.2.17 */
    uint8_t cpusvn[16];      /* .1.2.18 */
    uint8_t pceid[2];        /* .1.3 */
    uint8_t fmspc[6];        /* .1.4 */
    int sgx_type;            /* .1.5 */
    char ca[16];             /* "platform" or "processor" from the issuer CN */
} TdxPckInfo;

typedef struct TdxVerifyResult {
    /* each step; a step not reached stays false */
    bool quote_signature_ok;
    bool qe_report_signature_ok;
    bool qe_report_data_ok;
    bool pck_chain_ok;
    bool root_pinned; /* the chain ended at the pinned Intel SGX Root CA (else an extra anchor) */
    bool pck_info_ok;
    TdxPckInfo pck;
    /* collateral */
    bool collateral_given;
    bool collateral_signature_checked; /* signatures verified with a chain to a trusted root */
    bool crls_checked;                 /* at least one CRL checked and none revokes the chain */
    bool crl_stale;                    /* a CRL's nextUpdate is before the verification time */
    bool collateral_expired;           /* a tcbInfo/qeIdentity nextUpdate is past */
    TdxTcbStatus platform_tcb_status;  /* SGX + TDX components */
    TdxTcbStatus tdx_module_status;    /* TDX module identity (tcbInfo v3) */
    TdxTcbStatus qe_tcb_status;
    TdxTcbStatus tcb_status; /* converged */
    char tcb_date[32];
    char **advisory_ids; /* NULL-terminated, or NULL */
    char *error;         /* why verification failed, or NULL */
} TdxVerifyResult;

void tdx_verify_result_done(TdxVerifyResult *r);

/*
 * Verifies q (parsed from its buffer): quote signature, QE report signature,
 * QE report data binding, PCK chain to the pinned Intel SGX Root CA (or an
 * extra anchor) at p->at, then the collateral when given. Does not apply TD
 * policy (debug, measurements). Returns 0 or -EKEYREJECTED with res->error
 * set; -ENOMEM; -EBADMSG for malformed certificates or collateral.
 */
int tdx_quote_verify(const TdxQuote *q, const TdxVerifyParams *p, TdxVerifyResult *res);

/* Reads the SGX extensions from a PCK certificate. */
int tdx_pck_info_from_cert(X509 *pck, TdxPckInfo *ret);

/* ---- Guest interfaces (tdx-guest.c) ----------------------------------- */

#define TDX_GUEST_DEVICE_DEFAULT "/dev/tdx_guest"
#define TDX_CONFIGFS_TSM_DEFAULT "/sys/kernel/config/tsm/report"
#define TDX_IMDS_URL_DEFAULT     "http://169.254.169.254"
#define TDX_QUOTE_MAX_SIZE       (64u * 1024) /* far above any ECDSA quote */

/* TDX_CMD_GET_REPORT0 on device: TDREPORT for report_data. */
int tdx_guest_get_report(const char *device, const uint8_t report_data[TDX_REPORT_DATA_SIZE],
                         uint8_t ret[TDX_TDREPORT_SIZE]);

/* A quote through configfs-tsm (provider must be "tdx_guest"); *ret is malloc'ed. */
int tdx_configfs_get_quote(const char *tsm_dir, const uint8_t report_data[TDX_REPORT_DATA_SIZE],
                           uint8_t **ret, size_t *ret_len);

/* Azure: POST the TDREPORT to IMDS base_url + "/acc/tdquote"; *ret is malloc'ed. */
int tdx_imds_get_quote(const HttpConfig *http, const char *base_url,
                       const uint8_t tdreport[TDX_TDREPORT_SIZE], uint8_t **ret, size_t *ret_len,
                       char **reterr);

#endif
