/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * AMD SEV-SNP: the ATTESTATION_REPORT (parse, decode), its signature and
 * certificate chain (VCEK/VLEK -> ASK/ASVK -> pinned ARK), policy checks,
 * certificate sources (cert table, Azure THIM, AMD KDS, on-disk cache) and
 * the guest interfaces (/dev/sev-guest ioctls, configfs-tsm).
 *
 * Facts: AMD SEV-SNP ABI spec 56860 (Table 22 ATTESTATION_REPORT, Table 3
 * TCB_VERSION), AMD VCEK/KDS spec 57230, Linux uapi sev-guest.h and
 * Documentation/ABI/testing/configfs-tsm-report; digest in
 * docs tee-formats.md §1.
 */
#ifndef CVM_SNP_SNP_H
#define CVM_SNP_SNP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <openssl/x509.h>

#include "common/http.h"

/* ---- report (snp-report.c: pure parser) ---- */

#define SNP_REPORT_SIZE                0x4A0u /* SNP ABI 56860 Table 22 */
#define SNP_REPORT_SIGNED_SIZE         0x2A0u /* signature covers [0, 0x2A0) */
#define SNP_SIG_COMPONENT_SIZE         72u    /* r and s, little-endian, zero-extended */
#define SNP_SIG_ALGO_ECDSA_P384_SHA384 1u

/* POLICY bits (SNP ABI 56860 Table 9) */
#define SNP_POLICY_SMT               (UINT64_C(1) << 16)
#define SNP_POLICY_RESERVED_1        (UINT64_C(1) << 17) /* must be 1 */
#define SNP_POLICY_MIGRATE_MA        (UINT64_C(1) << 18)
#define SNP_POLICY_DEBUG             (UINT64_C(1) << 19)
#define SNP_POLICY_SINGLE_SOCKET     (UINT64_C(1) << 20)
#define SNP_POLICY_CXL_ALLOW         (UINT64_C(1) << 21)
#define SNP_POLICY_MEM_AES_256_XTS   (UINT64_C(1) << 22)
#define SNP_POLICY_RAPL_DIS          (UINT64_C(1) << 23)
#define SNP_POLICY_CIPHERTEXT_HIDING (UINT64_C(1) << 24)
#define SNP_POLICY_PAGE_SWAP_DISABLE (UINT64_C(1) << 25) /* v5 */

/* PLATFORM_INFO bits (SNP ABI 56860 Table 23) */
#define SNP_PLATFORM_SMT_EN               (UINT64_C(1) << 0)
#define SNP_PLATFORM_TSME_EN              (UINT64_C(1) << 1)
#define SNP_PLATFORM_ECC_EN               (UINT64_C(1) << 2)
#define SNP_PLATFORM_RAPL_DIS             (UINT64_C(1) << 3)
#define SNP_PLATFORM_CIPHERTEXT_HIDING    (UINT64_C(1) << 4)
#define SNP_PLATFORM_ALIAS_CHECK_COMPLETE (UINT64_C(1) << 5)
#define SNP_PLATFORM_TIO_EN               (UINT64_C(1) << 7)

/* SIGNING_KEY field of the signer info at 0x48, bits 4:2 */
typedef enum SnpSigningKey {
    SNP_SIGNING_KEY_VCEK = 0,
    SNP_SIGNING_KEY_VLEK = 1,
    SNP_SIGNING_KEY_NONE = 7,
} SnpSigningKey;

typedef enum SnpProduct {
    SNP_PRODUCT_UNKNOWN = 0,
    SNP_PRODUCT_MILAN,
    SNP_PRODUCT_GENOA,
    SNP_PRODUCT_TURIN,
} SnpProduct;

/* "Milan", "Genoa", "Turin" (the KDS spelling), or "unknown". */
const char *snp_product_name(SnpProduct p);
/* Accepts KDS names and VCEK productName values ("Milan-B0"). */
SnpProduct snp_product_from_name(const char *name);

/* A decoded TCB_VERSION (SNP ABI 56860 Table 3; Turin layout has FMC). */
typedef struct SnpTcb {
    uint64_t raw;
    uint8_t bootloader;
    uint8_t tee;
    uint8_t snp;
    uint8_t microcode;
    uint8_t fmc;  /* Turin only, else 0 */
    bool has_fmc; /* decoded with the Turin layout */
} SnpTcb;

void snp_tcb_decode(uint64_t raw, SnpProduct product, SnpTcb *ret);
/* Component-wise a >= b (never as a u64). */
bool snp_tcb_at_least(const SnpTcb *a, const SnpTcb *b);

typedef struct SnpReport {
    uint32_t version;
    uint32_t guest_svn;
    uint64_t policy;
    uint8_t family_id[16];
    uint8_t image_id[16];
    uint32_t vmpl;
    uint32_t signature_algo;
    uint64_t platform_info;
    uint32_t signer_info;
    bool author_key_en;
    bool mask_chip_key;
    unsigned signing_key; /* SnpSigningKey value, 0..7 */
    uint8_t report_data[64];
    uint8_t measurement[48];
    uint8_t host_data[32];
    uint8_t id_key_digest[48];
    uint8_t author_key_digest[48];
    uint8_t report_id[32];
    uint8_t report_id_ma[32];
    bool has_cpuid; /* v3+ */
    uint8_t cpuid_fam_id;
    uint8_t cpuid_mod_id;
    uint8_t cpuid_step;
    uint8_t chip_id[64];
    uint8_t current_build, current_minor, current_major;
    uint8_t committed_build, committed_minor, committed_major;
    bool has_mit_vectors; /* v5 */
    uint64_t launch_mit_vector;
    uint64_t current_mit_vector;
    uint8_t sig_r[SNP_SIG_COMPONENT_SIZE]; /* little-endian as in the report */
    uint8_t sig_s[SNP_SIG_COMPONENT_SIZE];
    /* the product the TCBs below were decoded for (from CPUID for v3+,
     * a guess for v2; snp_report_set_product() re-decodes) */
    SnpProduct product;
    SnpTcb current_tcb;
    SnpTcb reported_tcb;
    SnpTcb committed_tcb;
    SnpTcb launch_tcb;
    /* the bytes, for signature checks */
    uint8_t raw[SNP_REPORT_SIZE];
} SnpReport;

/*
 * Parses an ATTESTATION_REPORT (versions 2, 3, 4 and 5). -EBADMSG for short
 * input or a malformed field, -EPROTONOSUPPORT for an unknown version; in both
 * cases *reterr (when given) gets a static message naming offset or value.
 */
int snp_report_parse(const void *data, size_t len, SnpReport *ret, const char **reterr);
/* Product from CPUID_FAM_ID/CPUID_MOD_ID (v3+), per virtee Generation::identify_cpu. */
SnpProduct snp_product_from_cpuid(uint8_t fam, uint8_t model);
/* Re-decodes the TCBs for product p (e.g. from the VCEK's productName). */
void snp_report_set_product(SnpReport *r, SnpProduct p);

/* The certificate table of an extended report / configfs auxblob (GHCB spec). */
typedef enum SnpCertKind {
    SNP_CERT_OTHER = 0,
    SNP_CERT_VCEK,
    SNP_CERT_VLEK,
    SNP_CERT_ASK, /* also ASVK */
    SNP_CERT_ARK,
} SnpCertKind;

typedef struct SnpCertEntry {
    uint8_t guid[16];
    SnpCertKind kind;
    const uint8_t *data; /* points into the table buffer */
    size_t len;
} SnpCertEntry;

#define SNP_CERT_TABLE_MAX 16
/* Entries of a cert table; pointers refer to data. */
int snp_cert_table_parse(const void *data, size_t len, SnpCertEntry *entries, size_t max,
                         size_t *ret_n);
/* Builds a cert table from DER certificates (tests, the shim). Caller frees. */
int snp_cert_table_build(const SnpCertKind *kinds, const uint8_t *const *ders, const size_t *lens,
                         size_t n, uint8_t **ret, size_t *ret_len);

/* ---- verification (snp-verify.c) ---- */

/* AMD extensions of a VCEK/VLEK (OID 1.3.6.1.4.1.3704.1.*). */
typedef struct SnpCertInfo {
    bool is_vlek;          /* subject CN SEV-VLEK */
    char product_name[32]; /* productName IA5String, e.g. "Milan-B0" */
    SnpProduct product;
    bool has_bl, has_tee, has_snp, has_ucode, has_fmc;
    uint8_t bl, tee, snp, ucode, fmc;
    uint8_t hwid[64];
    size_t hwid_len; /* 0 = no hwID (VLEK), 64, or 8 (Turin) */
    char csp_id[128];
} SnpCertInfo;

int snp_cert_info(X509 *cert, SnpCertInfo *ret);

/* The SHA-256 fingerprints of the pinned ARKs (tee-formats.md §1.5). */
bool snp_ark_is_pinned(const uint8_t fp[32], SnpProduct *ret_product);

/* ECDSA P-384/SHA-384 over raw[0, 0x2A0) with key. 0 / -EKEYREJECTED. */
int snp_report_verify_signature(const SnpReport *r, EVP_PKEY *key);

typedef struct SnpVerifyInput {
    X509 *signer;             /* VCEK or VLEK */
    STACK_OF(X509) * chain;   /* ASK/ASVK and ARK, as from KDS cert_chain (may be NULL) */
    STACK_OF(X509) * anchors; /* extra (non-production) roots, or NULL */
    int64_t at;               /* seconds since the epoch (now_realtime_s() for now) */
    const struct SnpCrl *crl; /* from snp_crl_obtain, or NULL: revocation not checked */
} SnpVerifyInput;

typedef struct SnpVerifyResult {
    SnpCertInfo cert;
    SnpProduct product;
    bool pinned_root; /* the chain ends in a pinned AMD ARK */
    bool crl_checked; /* the ARK's CRL verified, was current and lists none of the chain */
    char root_fp[65]; /* hex SHA-256 of the root */
    char failed[32];  /* which check failed: "signature", "chain", "tcb", "chip_id", ... */
    char reason[512];
} SnpVerifyResult;

/*
 * Verifies the report with its signer: the signer key kind matches the
 * report's SIGNING_KEY, the chain signer -> ASK/ASVK -> ARK validates at
 * in->at with the ARK pinned (or an extra anchor), the product agrees, the
 * certificate's TCB equals REPORTED_TCB, hwID equals CHIP_ID, and the
 * signature is valid; with in->crl, the CRL is the ARK's, current at in->at
 * (one issued later is fine: revocations only accumulate) and revokes no
 * certificate the ARK issued in the chain. A CRL that cannot be checked is a
 * failure when in->crl->required, else a warning. May re-decode r's TCBs for
 * the certificate's product. Returns 0, or -EKEYREJECTED with
 * res->failed/reason set ("revoked" for a listed ASK/ASVK).
 */
int snp_verify(SnpReport *r, const SnpVerifyInput *in, SnpVerifyResult *res);
/*
 * snp_verify() keeps the verdict of a chain (and CRL) that verified, in
 * process, for the exact same certificates, anchors and CRL and a
 * verification time where all of them are current; clear drops every
 * verdict, stats counts lookups that hit and missed since the last clear.
 */
void snp_verify_cache_clear(void);
void snp_verify_cache_stats(unsigned *hits, unsigned *misses);

/* What a verifier requires of the report beyond its authenticity. */
#define SNP_POLICY_MAX_MEASUREMENTS 64
typedef struct SnpPolicy {
    bool allow_debug;
    bool allow_unsigned; /* SIGNING_KEY = none: never from the CLI */
    bool has_min_tcb;
    SnpTcb min_tcb;
    size_t n_measurements;
    uint8_t measurements[SNP_POLICY_MAX_MEASUREMENTS][48];
    bool has_report_data;
    uint8_t report_data[64];
    size_t report_data_len; /* a prefix of report_data may be given */
    bool has_host_data;
    uint8_t host_data[32];
    int vmpl; /* -1 = any */
} SnpPolicy;

void snp_policy_init(SnpPolicy *p);
/*
 * Merges a policy JSON document into p:
 *   {"allow_debug": bool,
 *    "min_tcb": {"bootloader": n, "tee": n, "snp": n, "microcode": n, "fmc": n},
 *    "measurements": ["hex48", ...], "report_data": "hex(<=64)",
 *    "host_data": "hex32", "vmpl": 0..3}
 * every member optional, unknown members rejected. -EINVAL with *reterr.
 */
int snp_policy_from_json(SnpPolicy *p, const cJSON *json, const char **reterr);
/* "bl:tee:snp:ucode[:fmc]" (decimal or 0x hex). */
int snp_policy_parse_min_tcb(const char *s, SnpTcb *ret);
/* 0, or -EKEYREJECTED with the check's name in *ret_failed and a reason. */
int snp_policy_check(const SnpReport *r, const SnpPolicy *p, const char **ret_failed, char *reason,
                     size_t reason_len);

/* ---- certificate sources (snp-certs.c) ---- */

#define SNP_KDS_DEFAULT_BASE  "https://kdsintf.amd.com"
#define SNP_IMDS_DEFAULT_BASE "http://169.254.169.254"

/* The KDS URL of the VCEK for the report's chip and REPORTED_TCB (VCEK
 * reports only; Turin: 8-byte chip id and fmcSPL). base NULL = default. */
int snp_kds_vcek_url(const char *base, const SnpReport *r, SnpProduct p, char **ret);
/* {base}/{vcek|vlek}/v1/{Product}/cert_chain */
int snp_kds_chain_url(const char *base, SnpProduct p, bool vlek, char **ret);
/* {base}/{vcek|vlek}/v1/{Product}/crl: the ARK's CRL of ASKs/ASVKs (DER) */
int snp_kds_crl_url(const char *base, SnpProduct p, bool vlek, char **ret);

/* [snp] crl: what to do about AMD's certificate revocation list. */
typedef enum SnpCrlMode {
    SNP_CRL_BEST_EFFORT = 0, /* check it when it can be had, warn when not */
    SNP_CRL_REQUIRE,         /* no CRL, no verification (exit 3 when unreachable) */
    SNP_CRL_OFF,             /* never fetch or check it */
} SnpCrlMode;
/* "require", "best-effort", "off"; -EINVAL for anything else. */
int snp_crl_mode_from_string(const char *s, SnpCrlMode *ret);
const char *snp_crl_mode_to_string(SnpCrlMode m);

/* A CRL in the cache is used until its nextUpdate, and one without nextUpdate
 * (AMD's carry one) this long after its lastUpdate. */
#define SNP_CRL_MAX_AGE (7 * 86400)
/* Under best-effort the CRL gets one attempt of at most this long. */
#define SNP_CRL_BEST_EFFORT_TIMEOUT_MS 10000

typedef struct SnpFetchConfig {
    const char *kds_base;  /* NULL = SNP_KDS_DEFAULT_BASE */
    const char *imds_base; /* NULL = SNP_IMDS_DEFAULT_BASE */
    const char *cache_dir; /* NULL = no cache */
    bool use_thim;         /* ask Azure IMDS THIM */
    bool use_kds;
    SnpCrlMode crl_mode;
    const char **crl_files; /* --crl: CRL files given offline (NULL-terminated), or NULL */
    HttpConfig http;
} SnpFetchConfig;

/* Where the certificates came from. */
typedef enum SnpCertSource {
    SNP_SOURCE_NONE = 0,
    SNP_SOURCE_GIVEN,
    SNP_SOURCE_CERT_TABLE,
    SNP_SOURCE_CACHE,
    SNP_SOURCE_THIM,
    SNP_SOURCE_KDS,
} SnpCertSource;
const char *snp_cert_source_name(SnpCertSource s);

/*
 * Obtains signer and chain for the report, in order: the cert table (when
 * given), the cache, THIM, KDS; stores what it fetched in the cache, keyed by
 * product + chip + TCB. *ret_signer and *ret_chain are set on success (chain
 * ASK then ARK). -ENOENT when no source had them, -EAGAIN/-ETIMEDOUT/... when
 * the network failed.
 */
int snp_certs_obtain(const SnpFetchConfig *cfg, const SnpReport *r, SnpProduct p,
                     const uint8_t *cert_table, size_t cert_table_len, X509 **ret_signer,
                     STACK_OF(X509) * *ret_chain, SnpCertSource *ret_source);

typedef struct SnpCrl {
    X509_CRL *crl;        /* NULL: none to check */
    SnpCertSource source; /* SNP_SOURCE_GIVEN (--crl), _CACHE or _KDS */
    bool required;        /* [snp] crl = require, or given with --crl */
} SnpCrl;
void snp_crl_done(SnpCrl *c);

/*
 * The ARK's CRL for product p (for the VLEK chain when vlek): from
 * cfg->crl_files when given (the one issued by ARK-{Product}, or the only
 * one), else the cache while it is current, else KDS (then cached).
 * ret->crl stays NULL when cfg->crl_mode is off, or when it could not be had
 * under best-effort (a warning is logged). Under require, or for an
 * unreadable --crl file, returns -errno: -EINVAL (a file, a refused URL:
 * logged), an endpoint failure (transient, logged with host and reason).
 */
int snp_crl_obtain(const SnpFetchConfig *cfg, SnpProduct p, bool vlek, SnpCrl *ret);

/* ---- guest interfaces (snp-guest.c) ---- */

#define SNP_SEV_GUEST_DEVICE "/dev/sev-guest"
#define SNP_CONFIGFS_TSM     "/sys/kernel/config/tsm/report"

/*
 * SNP_GET_REPORT (or SNP_GET_EXT_REPORT when ret_certs is given) on device
 * dev (NULL = /dev/sev-guest). *ret_report is the 1184-byte report; the cert
 * table, when asked for, may be empty. Caller frees.
 */
int snp_guest_get_report(const char *dev, const uint8_t report_data[64], uint32_t vmpl,
                         uint8_t **ret_report, size_t *ret_len, uint8_t **ret_certs,
                         size_t *ret_certs_len);

/*
 * configfs-tsm under root (NULL = /sys/kernel/config/tsm/report): creates an
 * entry, writes inblob (and privlevel when vmpl > 0), reads outblob and
 * auxblob, checks provider and generation (-EBUSY when another writer
 * interfered), and removes the entry. ret_provider optional (caller frees).
 */
int snp_tsm_get_report(const char *root, const uint8_t report_data[64], uint32_t vmpl,
                       uint8_t **ret_report, size_t *ret_len, uint8_t **ret_aux,
                       size_t *ret_aux_len, char **ret_provider);

#endif
