/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The attest module: remote attestation of this VM to Microsoft Azure
 * Attestation (MAA). Dependencies point down only: attest -> tpm, snp, tdx ->
 * common; nothing here includes agent/ headers, so the platform evidence (HCL
 * report, VCEK chain, TD quote) is handed in by the caller.
 */
#ifndef CVM_ATTEST_ATTEST_H
#define CVM_ATTEST_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "common/http.h"
#include "common/secbuf.h"
#include "snp/snp.h"
#include "tpm/tpm.h"

#define ATTEST_EVENT_LOG_DEFAULT   "/sys/kernel/security/tpm0/binary_bios_measurements"
#define ATTEST_OS_RELEASE_DEFAULT  "/etc/os-release"
#define ATTEST_API_VERSION_DEFAULT "2020-10-01" /* what Microsoft's client sends (§2.1) */
#define ATTEST_PCR_MASK            0xFFu        /* PCR 0-7, SHA-256 bank: Linux (§2.1) */
#define ATTEST_NONCE_MAX           64           /* TPM2B_DATA qualifyingData limit */
#define ATTEST_CLIENT_PAYLOAD_MAX  16

typedef enum AttestTee {
    ATTEST_TEE_NONE = 0, /* Trusted Launch: vTPM only */
    ATTEST_TEE_SNP,
    ATTEST_TEE_TDX,
} AttestTee;

/* Why the last failing attest_* call of this thread failed, one line ("" if
 * none): the module does not log errors, the caller does. */
const char *attest_last_error(void);

/* "sevsnpvm", "tdxvm" (MAA's x-ms-attestation-type) or NULL. */
const char *attest_tee_claim(AttestTee tee);

/* The hardware side, gathered by the caller from the vTPM's HCL report
 * (borrowed pointers). */
typedef struct AttestPlatform {
    AttestTee tee;
    const uint8_t *hcl_report; /* NV 0x01400001 as read */
    size_t hcl_report_len;
    const uint8_t *hw_report; /* SNP ATTESTATION_REPORT (1184) or TDREPORT (1024) */
    size_t hw_report_len;
    const uint8_t *runtime_data; /* the HCL runtime-claims JSON, exactly as hashed */
    size_t runtime_data_len;
    const char *vcek_chain_pem; /* SNP: VCEK then ASK, ARK (THIM vcekCert + certificateChain) */
    const uint8_t *td_quote;    /* TDX: the TD quote IMDS made of the TDREPORT */
    size_t td_quote_len;
} AttestPlatform;

/* What the vTPM contributes. */
typedef struct AttestTpmEvidence {
    uint8_t *ak_pub; /* marshalled TPM2B_PUBLIC of the AK 0x81000003 */
    size_t ak_pub_len;
    uint8_t *ak_cert; /* NV 0x01C101D0 as stored (DER) */
    size_t ak_cert_len;
    TpmPcrBank pcrs;       /* SHA-256, PCR 0-7: the values the quote covers */
    TpmQuote quote;        /* TPMS_ATTEST + marshalled TPMT_SIGNATURE */
    TpmCertified transfer; /* transfer key public, TPM2_Certify attest + signature */
    uint8_t *event_log;    /* TCG log, NULL when the file does not exist */
    size_t event_log_len;
} AttestTpmEvidence;
void attest_tpm_evidence_done(AttestTpmEvidence *e);

/*
 * Reads the AK public key and certificate, PCR 0-7, quotes them with nonce as
 * qualifyingData (nonce_len 0: empty, as Microsoft's client quotes), creates
 * and certifies the transfer key, reads the event log at event_log_path (NULL
 * = the default; absent file = no log). A PCR change between read and quote
 * is retried. -errno; attest_last_error() says why.
 */
int attest_tpm_collect(const char *tcti, const void *nonce, size_t nonce_len,
                       const char *event_log_path, AttestTpmEvidence *ret);

/* The OS fields of AttestationInfo, from os-release(5). */
typedef struct AttestOsInfo {
    char distro[128];     /* NAME, quotes stripped */
    int64_t major, minor; /* VERSION_ID "22.04" -> 22, 4; "12" -> 12, 0 */
} AttestOsInfo;
/* path NULL = /etc/os-release; a missing file gives "Linux" 0.0 (logged). */
int attest_os_info(const char *path, AttestOsInfo *ret);

typedef struct AttestClientPayload {
    const char *keys[ATTEST_CLIENT_PAYLOAD_MAX];
    const char *values[ATTEST_CLIENT_PAYLOAD_MAX];
    size_t n;
} AttestClientPayload;

/*
 * The AttestationInfo JSON exactly as Microsoft's client encodes it
 * (azure-wire-formats.md §2.1, checked against the recorded request): TPM
 * structures in standard base64 with padding, SNP Proof = base64(JSON
 * {SnpReport, VcekCertChain} in base64url), TDX Proof = base64(TD quote),
 * ClientPayload values base64 of the strings. Members in the client's
 * (alphabetical) order.
 */
int attest_azureguest_info(const AttestTpmEvidence *e, const AttestPlatform *p,
                           const AttestOsInfo *os, const AttestClientPayload *payload, cJSON **ret);
/* The request body {"AttestationInfo": base64url-no-pad(JSON text)}, laid out
 * as the client's serializer does. Caller frees. */
int attest_azureguest_body(const cJSON *info, char **ret);

typedef struct AttestFailure {
    long status;   /* HTTP status, 0 without an answer */
    char *code;    /* MAA error code, if any */
    char *message; /* MAA error message or the transport error */
} AttestFailure;
void attest_failure_done(AttestFailure *f);

/*
 * POST {base_url}/attest/AzureGuest?api-version=V with the client's headers
 * (Content-Type: application/json, Accept: any, no User-Agent); *ret is the
 * sealed token string. -EBADMSG when MAA refused the evidence (f filled),
 * -EAGAIN/-ETIMEDOUT/-ECONN* after retries, -EPROTO on an unusable answer.
 */
int attest_azureguest_send(const HttpConfig *http, const char *base_url, const char *api_version,
                           const char *body, char **ret, AttestFailure *f);

/* MAA's sealed reply (§2.1), parsed (pure; fuzz/fuzz-maa-sealed.c):
 * base64url JSON {Jwt, EncryptedInnerKey, EncryptionParams {Iv, Cipher AES,
 * KeySizeInBits 256}, AuthenticationData (16-byte GCM tag)}. -EBADMSG. */
typedef struct AttestSealed {
    uint8_t *ciphertext; /* the JWT, AES-256-GCM */
    size_t ciphertext_len;
    uint8_t *inner_key; /* the AES key, RSAES-encrypted to the transfer key */
    size_t inner_key_len;
    uint8_t *iv;
    size_t iv_len;
    uint8_t tag[16];
} AttestSealed;
int attest_sealed_parse(const char *sealed, size_t len, AttestSealed *ret);
void attest_sealed_done(AttestSealed *s);

/*
 * Opens MAA's sealed reply (§2.1): EncryptedInnerKey RSAES-decrypted by the
 * transfer key inside the TPM (PolicyPCR session over PCR 0-7), then
 * AES-256-GCM with AAD "Transport Key". *ret is the JWT (NUL-terminated).
 * -EBADMSG malformed, -EKEYREJECTED when it does not open.
 */
int attest_azureguest_open(const char *tcti, const char *sealed, SecretBuf **ret);

/*
 * The platform protocols (§2.2): POST /attest/SevSnpVm or /attest/TdxVm with
 * the hardware report (SNP: base64url JSON {SnpReport, VcekCertChain}; TDX:
 * the TD quote, base64url), the HCL runtime data (dataType JSON) and the
 * nonce, which MAA echoes verbatim in the "nonce" claim. The answer is a
 * plain JWT (no sealing, no transfer key: such a token cannot release a Key
 * Vault key). *ret = the JWT. Errors as attest_azureguest_send.
 */
#define ATTEST_API_VERSION_SEVSNPVM "2022-08-01"         /* CAT's (§2.2) */
#define ATTEST_API_VERSION_TDXVM    "2023-04-01-preview" /* CAT's (§2.2) */
int attest_platform_body(const AttestPlatform *p, const char *nonce, char **ret);
int attest_platform_send(const HttpConfig *http, const char *base_url, AttestTee tee,
                         const char *api_version, const char *body, char **ret, AttestFailure *f);

/*
 * The token cache (cache.c). The platform state is SHA-256(HCL report ||
 * PCR 0-7 || transfer key TPM2B_PUBLIC); *ret_transfer_pub (optional) gets
 * the transfer key's public area. attest_cache_load gives the cached token
 * and the nonce it was issued for when protocol, url and state are the same
 * and it is valid for more than margin_s; otherwise -ENOENT (none), -ESTALE
 * (not reusable), -EPERM (not a private file), -EBADMSG, with
 * attest_last_error() saying which. The caller still verifies the token.
 * attest_cache_store writes the file atomically with mode 0600.
 */
#define ATTEST_CACHE_MARGIN_S 300 /* reuse until 5 min before exp */
int attest_state_digest(const char *tcti, const uint8_t *hcl, size_t hcl_len, uint8_t ret[32],
                        uint8_t **ret_transfer_pub, size_t *ret_transfer_pub_len);
int attest_cache_load(const char *path, const char *protocol, const char *url,
                      const uint8_t state[32], uint64_t margin_s, char **ret_token,
                      char **ret_nonce);
int attest_cache_store(const char *path, const char *protocol, const char *url,
                       const uint8_t state[32], const char *nonce, const char *token);

/* The evidence bundle as JSON (evidence.json; base64 of every piece). */
int attest_evidence_json(const AttestTpmEvidence *e, const AttestPlatform *p, const char *nonce_hex,
                         cJSON **ret);
/* Writes the raw pieces under their documented names into dir (created 0700). */
int attest_evidence_write(const char *dir, const AttestTpmEvidence *e, const AttestPlatform *p,
                          const cJSON *evidence_json);

/* token verification */
/*
 * One function checks an MAA token for both `attest` (a token just received)
 * and `verify --token` (a token from a file). What is checked:
 *   - the JWS: compact, strict, alg RS256 only ("alg"), "kid" present;
 *   - the signing key: the JWKS key whose kid is exactly the token's (an
 *     opaque string), taken from x5c[0] (real /certs keys carry only
 *     kid/kty/x5c) or n/e; from a caller-given JWKS, a /certs URL, or the
 *     issuer's /certs through the per-issuer cache (refetched once when the
 *     kid is unknown); the RS256 signature ("signature");
 *   - "iss" equal to the expected issuer, ignoring trailing slashes, and the
 *     header's "jku" equal to iss + "/certs";
 *   - "exp", "nbf", "iat" against the time with a leeway; a token not valid
 *     yet names the clock ("check time sync (chrony/NTP)");
 *   - when expected: x-ms-attestation-type, the TEE (for azurevm tokens
 *     x-ms-isolation-tee.x-ms-attestation-type, for platform tokens the
 *     top-level type), x-ms-compliance-status "azure-compliant-cvm" (in
 *     x-ms-isolation-tee for azurevm tokens), the nonce (azurevm:
 *     x-ms-runtime.client-payload.nonce == base64 of the string we passed,
 *     as MAA echoes the client payload; platform tokens: the "nonce" claim
 *     verbatim), and the transfer key among x-ms-runtime.keys (RSA, compared
 *     by modulus and exponent, never by kid).
 *
 * The signing-key cache: STATE_DIR/maa-signing-keys/<hex SHA-256 of the
 * issuer without trailing "/">.json, mode 0600 in a 0700 directory, holding
 * {"issuer": ..., "fetched": <unix time>, "jwks": <the /certs body>}. A
 * file whose issuer differs is ignored; one older than a day is refetched
 * (a key MAA no longer serves stops being trusted).
 */
typedef struct TokenExpect {
    const char *issuer;           /* the configured MAA endpoint; NULL = iss not compared */
    const char *nonce;            /* the client-payload nonce string we sent; NULL = unchecked */
    EVP_PKEY *transfer_key;       /* our RSA transfer key; NULL = unchecked */
    const char *attestation_type; /* "azurevm", "sevsnpvm", "tdxvm"; NULL = unchecked */
    const char *tee;              /* "sevsnpvm" or "tdxvm"; NULL = unchecked */
    bool require_compliant;       /* x-ms-compliance-status must be azure-compliant-cvm */
    uint64_t leeway_s;            /* allowed clock difference for exp/nbf/iat */
    int64_t now;                  /* seconds since the epoch (the caller reads the clock) */
    bool fresh;                   /* just received: an expired token also means clock skew */
} TokenExpect;

typedef struct TokenKeys {
    const cJSON *jwks;      /* a JWKS the user named (offline); or */
    const char *certs_url;  /* fetch this /certs (not cached); or, both NULL, */
                            /* the expected issuer's /certs through the cache: */
    const char *state_dir;  /* cache location; NULL = no cache */
    const HttpConfig *http; /* for fetching; required unless jwks */
} TokenKeys;

typedef struct TokenResult {
    cJSON *header; /* the token's header and claims (owned), once parsed */
    cJSON *claims;
    const char *failed_claim; /* machine-readable: "alg", "kid", "signature", "iss", "jku",
                               * "exp", "nbf", "iat", "nonce", "x-ms-attestation-type",
                               * "x-ms-isolation-tee.x-ms-attestation-type",
                               * "x-ms-compliance-status", "x-ms-runtime.keys", "token"
                               * (malformed), "signing-keys" (could not get them) */
    char reason[512];         /* one line for the user */
    char key_source[256];     /* where the signing key came from */
} TokenResult;

/*
 * Verifies token (len bytes; trailing whitespace is ignored). Returns 0 when
 * every check passed; otherwise res->failed_claim and res->reason say why and
 * the return value is -EKEYREJECTED (a check failed; exit 1), -EBADMSG (the
 * token is malformed; exit 1), -EINVAL (unusable expectations or key source;
 * exit 2), or the common/http error of fetching the keys (exit 3 for network
 * errors). res->header/claims are filled whenever the token parsed.
 */
int attest_token_verify(const char *token, size_t len, const TokenExpect *expect,
                        const TokenKeys *keys, TokenResult *res);
void attest_token_result_done(TokenResult *res);

/* "https://x/" and "https://x" name the same issuer. */
bool attest_issuer_equal(const char *a, const char *b);
/* end token verification */

/* --- the Azure HCL report (attest/hcl.c, attest/hcl-vtpm.c) ---
 * The Azure HCL ("HCLA") attestation report read from vTPM NV 0x01400001:
 * header, the hardware report it wraps (SNP ATTESTATION_REPORT or TDX
 * TDREPORT), and the runtime-claims JSON whose hash the hardware report's
 * report_data carries. Layout: azure-wire-formats.md §1.2-1.4 (struct names
 * from Azure's HwVmReport.h / kinvolk az-cvm-vtpm src/hcl/mod.rs).
 */
#define HCL_NV_INDEX_REPORT    0x01400001u /* azure-wire-formats §1.1 */
#define HCL_NV_INDEX_USER_DATA 0x01400002u
#define HCL_USER_DATA_SIZE     64u

#define HCL_SIGNATURE                  0x414C4348u /* "HCLA" little-endian */
#define HCL_HW_REPORT_OFFSET           0x20u
#define HCL_HW_REPORT_SIZE             1184u  /* fixed regardless of type */
#define HCL_DATA_OFFSET                0x4C0u /* 1216: IGVM request data */
#define HCL_VAR_DATA_OFFSET            0x4D4u /* 1236 */
#define HCL_TDREPORT_SIZE              1024u
#define HCL_TDREPORT_REPORTDATA_OFFSET 0x80u /* REPORTMACSTRUCT.REPORTDATA, tee-formats §2.1 */
#define HCL_SNP_REPORTDATA_OFFSET      0x50u /* ATTESTATION_REPORT.REPORT_DATA */

typedef enum HclReportType {
    HCL_REPORT_INVALID = 0,
    HCL_REPORT_RESERVED = 1,
    HCL_REPORT_SNP = 2,
    HCL_REPORT_TVM = 3,
    HCL_REPORT_TDX = 4,
} HclReportType;

typedef enum HclHashType {
    HCL_HASH_INVALID = 0,
    HCL_HASH_SHA256 = 1,
    HCL_HASH_SHA384 = 2,
    HCL_HASH_SHA512 = 3,
} HclHashType;

typedef struct HclReport {
    uint32_t version;
    uint32_t report_size;
    uint32_t request_type;
    uint32_t status;
    /* the hardware report: points into the parsed buffer */
    const uint8_t *hw_report;
    size_t hw_report_len; /* 1184 (SNP) or 1024 (TDX TDREPORT) */
    /* IGVM request data */
    uint32_t data_size;
    uint32_t data_version;
    uint32_t report_type;    /* HclReportType */
    uint32_t hash_type;      /* HclHashType */
    const uint8_t *var_data; /* the runtime-claims JSON, exactly as hashed */
    size_t var_data_len;
    /* report_data of the hardware report (64 bytes) */
    uint8_t report_data[64];
} HclReport;

/*
 * Parses an HCL report; pointers refer to data, which must outlive ret.
 * -EBADMSG (bad magic, truncation, sizes) with *reterr naming the field.
 */
int hcl_report_parse(const void *data, size_t len, HclReport *ret, const char **reterr);

/* "snp", "tdx", ... */
const char *hcl_report_type_name(uint32_t type);

/*
 * The runtime-data binding: report_data[0, hashlen) == H(var_data) and the
 * rest of report_data is zero. true when bound; *ret_expected (optional)
 * gets the hex of H(var_data) (caller frees).
 */
bool hcl_runtime_data_bound(const HclReport *h, char **ret_expected);

/* The runtime claims as JSON (-EBADMSG when not JSON). */
int hcl_runtime_claims(const HclReport *h, cJSON **ret);

/* The JWK with kid (e.g. "HCLAkPub", "HCLEkPub") from the claims' "keys",
 * or NULL. Borrowed from claims. */
const cJSON *hcl_find_jwk(const cJSON *claims, const char *kid);

/* The "user-data" member decoded (64 bytes), -ENOENT when absent. */
int hcl_user_data(const cJSON *claims, uint8_t out[HCL_USER_DATA_SIZE]);

/*
 * Reads the HCL report from the vTPM at tcti (NV 0x01400001; attest/hcl-vtpm.c). With
 * data (HCL_USER_DATA_SIZE bytes), first writes it to the user-data index
 * 0x01400002 and polls, with backoff and without holding the TPM between
 * reads, until the report's runtime claims carry it, for at most deadline_ms
 * (-ETIMEDOUT after). Errors are logged. *ret is malloc'ed; the caller frees it.
 */
int hcl_vtpm_read(const char *tcti, const uint8_t *data, uint64_t deadline_ms, uint8_t **ret,
                  size_t *ret_len);
/* end the Azure HCL report */

/* --- the platform abstraction (attest/platform-source.c) ---
 * Where this VM's hardware evidence comes from, handed down by the caller
 * (agent/ fills it from its configuration): attest/ reads no configuration.
 */
typedef struct AttestSourceConfig {
    const char *tcti;             /* the vTPM holding the HCL report; NULL = default TCTI */
    const char *imds_url;         /* Azure IMDS (THIM, /acc/tdquote); NULL = link-local default */
    HttpConfig http;              /* for IMDS */
    SnpFetchConfig snp_fetch;     /* VCEK chain: cache, KDS (THIM is always asked on Azure) */
    uint64_t deadline_ms;         /* a fresh HCL report; 0 = 10 s */
    const char *snp_configfs_tsm; /* NULL = SNP_CONFIGFS_TSM */
    const char *snp_device;       /* NULL = SNP_SEV_GUEST_DEVICE */
    const char *tdx_device;       /* NULL = TDX_GUEST_DEVICE_DEFAULT */
    const char *tdx_configfs_tsm; /* NULL = TDX_CONFIGFS_TSM_DEFAULT */
} AttestSourceConfig;

/* The platform half of the evidence: AttestPlatform pointing into buffers
 * owned here. */
typedef struct AttestPlatformEvidence {
    AttestPlatform p;
    uint8_t *hcl;
    size_t hcl_len;
    char *vcek_chain_pem;
    uint8_t *td_quote;
    size_t td_quote_len;
} AttestPlatformEvidence;

/* The vTPM's HCL report, split (no network: any failure is the platform's;
 * -ENODEV when there is none, or it holds neither an SNP nor a TDX report). */
int attest_platform_read(const AttestSourceConfig *cfg, AttestPlatformEvidence *ret);
/* The signer's material for a report read before: the VCEK chain (SNP: THIM,
 * the cache, KDS) or the TD quote from IMDS (TDX). Network errors as
 * common/http (transient), others the platform's. */
int attest_platform_certs(const AttestSourceConfig *cfg, AttestPlatformEvidence *ap);
void attest_platform_evidence_done(AttestPlatformEvidence *p);

/* Where a fresh hardware report comes from (attest/report-source.c). */
typedef enum AttestSource {
    ATTEST_SOURCE_INVALID = -1,
    ATTEST_SOURCE_SNP_CONFIGFS = 0, /* "configfs": configfs-tsm, provider sev_guest */
    ATTEST_SOURCE_SEV_GUEST,        /* "sev-guest": the /dev/sev-guest ioctl */
    ATTEST_SOURCE_VTPM,             /* "vtpm": the Azure HCL report */
    ATTEST_SOURCE_TDX_GUEST,        /* "tdx-guest": a TDREPORT from /dev/tdx_guest */
    ATTEST_SOURCE_TDX_CONFIGFS,     /* "tdx-configfs": a TD quote through configfs-tsm */
    ATTEST_SOURCE_AZURE_TDX,        /* "azure-tdx": IMDS's TD quote of the HCL TDREPORT */
} AttestSource;
const char *attest_source_name(AttestSource s);
AttestSource attest_source_from_name(const char *name); /* ATTEST_SOURCE_INVALID if none */
bool attest_source_is_tdx(AttestSource s);
/* The first SEV-SNP interface that exists: configfs-tsm, /dev/sev-guest, else
 * the vTPM. (configfs-tsm serves TDX too: its provider tells, as -ENODEV.) */
AttestSource attest_platform_detect(const AttestSourceConfig *cfg);

typedef struct AttestReport {
    uint8_t *raw; /* SNP report, HCL report (vtpm), TDREPORT or TD quote */
    size_t raw_len;
    uint8_t *certs; /* SNP: the certificate table the kernel returned, if any */
    size_t certs_len;
    char *provider; /* configfs-tsm's provider */
    uint8_t *hcl;   /* azure-tdx: the HCL report whose TDREPORT the quote is for */
    size_t hcl_len;
} AttestReport;
void attest_report_done(AttestReport *r);

/*
 * A fresh report from source bound to data (64 bytes; NULL = zeros, and for
 * the vTPM: the HCL report as it is, without writing new user data); vmpl for
 * SEV-SNP. -EINVAL unknown source, -ENODEV configfs-tsm is not sev_guest's,
 * -EAGAIN/-ETIMEDOUT/network errors transient, others the platform's;
 * attest_last_error() says which.
 */
int attest_platform_report(const AttestSourceConfig *cfg, AttestSource source, const uint8_t *data,
                           uint32_t vmpl, AttestReport *ret);
/* end the platform abstraction */

#endif
