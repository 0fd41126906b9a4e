/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The TPM module: everything cvm-agent does with a (v)TPM, over tpm2-tss ESYS.
 * Only tpm/ sees TSS2_RC; callers get 0 / negative errno.
 *
 * Two halves:
 *  - device operations on a TpmContext (NV, PCRs, quotes, the transfer key,
 *    sealing). Every transient object and session they create is flushed
 *    before they return, on every path (there is no resource manager in front
 *    of a socket swtpm or an Azure vTPM opened without /dev/tpmrm0).
 *  - pure functions (no TPM): parsing TPMS_ATTEST and TPMT_SIGNATURE, PCR
 *    digests, policy digests, offline quote/certify verification. These are
 *    what `cvm-agent verify` uses.
 *
 * Wire formats are those of tpm2-tools: a quote is the TPMS_ATTEST bytes
 * (TPM2B_ATTEST contents, `tpm2_quote -m`) plus a marshalled TPMT_SIGNATURE
 * (`tpm2_quote -s`); a sealed object is a marshalled TPM2B_PUBLIC plus a
 * marshalled TPM2B_PRIVATE (`tpm2_create -u/-r`, loadable by `tpm2_load`).
 *
 * Security: the TPM is in the trusted computing base. What crosses the TPM
 * bus (or the TCTI socket) in secret travels encrypted: sealing and unsealing
 * run in sessions salted with the SRK, decryption with the transfer key in a
 * policy session salted with that key, all with AES-128-CFB parameter
 * encryption. Quotes, certification, PCR and NV access carry nothing secret
 * and use password sessions (empty auth, as on Azure). ESYS logging, which
 * would print session keys at debug level, is silenced unless TSS2_LOG is set.
 * Secrets come back in SecretBufs; ESYS buffers that held them are wiped
 * before Esys_Free.
 */
#ifndef CVM_TPM_TPM_H
#define CVM_TPM_TPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/secbuf.h"
#include "common/util.h"

/* Azure vTPM layout (azure-wire-formats.md §1.1). */
#define TPM_NV_HCL_REPORT 0x01400001u /* HCL attestation report, written by the paravisor */
#define TPM_NV_USER_DATA  0x01400002u /* 64 bytes of guest data bound into the next report */
#define TPM_NV_AK_CERT    0x01C101D0u /* AK certificate (DER) */
#define TPM_HANDLE_SRK    0x81000001u /* storage root key */
#define TPM_HANDLE_AK     0x81000003u /* attestation key, RSA-2048 restricted signing */

#define TPM_USER_DATA_SIZE 64

/* TPM_ALG_ID values of the hash algorithms (TCG Algorithm Registry §3). */
#define TPM_HASH_SHA1   0x0004u
#define TPM_HASH_SHA256 0x000Bu
#define TPM_HASH_SHA384 0x000Cu
#define TPM_HASH_SHA512 0x000Du

/* RSA decryption schemes (TPM_ALG_RSAES / TPM_ALG_OAEP). */
typedef enum TpmRsaScheme {
    TPM_RSA_RSAES = 0,       /* RSAES-PKCS1-v1_5 */
    TPM_RSA_OAEP_SHA1 = 1,   /* OAEP, SHA-1, empty label */
    TPM_RSA_OAEP_SHA256 = 2, /* OAEP, SHA-256, empty label */
    TPM_RSA_OAEP_SHA384 = 3, /* OAEP, SHA-384, empty label (Key Vault RSA_AES_KEY_WRAP_384) */
} TpmRsaScheme;

#define TPM_PCR_COUNT   24 /* PC Client PTP: 24 PCRs per bank */
#define TPM_MAX_BANKS   4
#define TPM_MAX_DIGEST  64
#define TPM_SEAL_MAX    128 /* largest secret tpm_seal_* accept */
#define TPM_NV_MAX_READ (64u * 1024)

/* PCRs of one bank: bit i of mask = PCR i. */
typedef struct TpmPcrSelection {
    uint16_t hash; /* TPM_HASH_* */
    uint32_t mask;
} TpmPcrSelection;

/* Values of (some) PCRs of one bank; only those in mask are meaningful. */
typedef struct TpmPcrBank {
    uint16_t hash;
    uint32_t mask;
    uint8_t values[TPM_PCR_COUNT][TPM_MAX_DIGEST];
} TpmPcrBank;

/* --- helpers over algorithm ids (pure) --- */

/* Digest size of a TPM_HASH_* (0 when unknown). */
size_t tpm_hash_size(uint16_t hash);
/* "sha1", "sha256", "sha384", "sha512", or NULL. */
const char *tpm_hash_name(uint16_t hash);
/* "sha256" (also "SHA256", "sha-256") -> TPM_HASH_SHA256; -EINVAL when unknown. */
int tpm_hash_from_name(const char *name, uint16_t *ret);
/* Parses "sha256:0,1,7" or "sha256:0-7" (tpm2-tools style, one bank) or
 * "sha256:all"; -EINVAL with nothing written on error. */
int tpm_pcr_selection_parse(const char *s, TpmPcrSelection *ret);

/*
 * Parses a file of PCR values, one of:
 *  - JSON {"sha256": {"0": "hex", "7": "hex"}, "sha1": {...}} — the "pcrs"
 *    member of `cvm-agent verify --event-log --json` output (a whole such
 *    output, with "pcrs" inside, is accepted too);
 *  - tpm2_pcrread's YAML ("sha256:" lines followed by "  0 : 0xHEX" lines).
 * Fills up to TPM_MAX_BANKS banks. -EBADMSG naming the line/key on bad input.
 */
int tpm_pcrs_parse(const char *text, size_t len, TpmPcrBank *banks, size_t *ret_n_banks);

/* --- context --- */

typedef struct TpmContext TpmContext;

/*
 * Opens the TPM through a TCTI string ("device:/dev/tpmrm0",
 * "swtpm:host=127.0.0.1,port=2321", ...; NULL = tpm2-tss default), silences
 * TSS logging unless TSS2_LOG is set by the user, and checks readiness:
 * starts the TPM if it needs TPM2_Startup, and retries TPM_RC_RETRY,
 * TPM_RC_TESTING, TPM_RC_YIELDED and TPM_RC_NV_RATE with bounded backoff.
 * -ENODEV (exit 4) when a device TCTI names a node that does not exist, with
 * tpm_last_error(NULL) saying what that means.
 */
int tpm_open(const char *tcti, TpmContext **ret);

/* The bound on retrying a busy TPM (TPM_RC_RETRY, TESTING, YIELDED, NV_RATE)
 * per command, for every context of the process ([agent] tpm-busy-timeout).
 * A TPM still busy after it is -EBUSY; a TCTI that cannot reach the TPM or
 * loses it mid-command is -ENOTCONN, naming the TCTI: both exit 4. */
#define TPM_BUSY_TIMEOUT_DEFAULT_MS 10000u
void tpm_set_busy_timeout(unsigned ms);
/* Flushes what is left, closes; NULL-safe; returns NULL. */
TpmContext *tpm_close(TpmContext *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(TpmContext *, tpm_close)
#define _cleanup_tpm_ _cleanup_(tpm_closep)

/* The last failure on t as one line ("Esys_Quote(0x000001c4) - tpm:parameter(1):value is
 * out of range ..."), or ""; valid until the next call on t. With t NULL: why
 * the last tpm_open() of this thread failed. */
const char *tpm_last_error(TpmContext *t);

/* True when a persistent handle (0x81xxxxxx) holds an object. */
bool tpm_has_persistent(TpmContext *t, uint32_t handle);
/* The marshalled TPM2B_PUBLIC of a loaded/persistent object. */
int tpm_read_public(TpmContext *t, uint32_t handle, uint8_t **ret, size_t *ret_len);

/* --- NV --- */

/* Reads a whole NV index (size from NV_ReadPublic, chunks of
 * TPM2_PT_NV_BUFFER_MAX, owner auth if the index allows it, else index auth).
 * -ENOENT when the index is not defined. */
int tpm_nv_read(TpmContext *t, uint32_t index, uint8_t **ret, size_t *ret_len);
/* Writes data at offset 0; defines the index (owner auth, OWNERREAD|OWNERWRITE|
 * AUTHREAD|AUTHWRITE, SHA-256, size len) if absent, and re-defines it when its
 * size differs from len. */
int tpm_nv_write(TpmContext *t, uint32_t index, const void *data, size_t len);
/* Removes an NV index (owner auth); -ENOENT when absent. */
int tpm_nv_undefine(TpmContext *t, uint32_t index);

/* --- PCRs --- */

/* Reads every PCR of sel (one bank, any subset of 0..23). */
int tpm_pcr_read(TpmContext *t, const TpmPcrSelection *sel, TpmPcrBank *ret);
/* Extends one PCR of one bank with a digest of that bank's size (tests). */
int tpm_pcr_extend(TpmContext *t, uint16_t hash, unsigned pcr, const void *digest, size_t len);

/* --- quotes --- */

typedef struct TpmQuote {
    uint8_t *attest; /* TPMS_ATTEST (the TPM2B_ATTEST contents), as tpm2_quote -m */
    size_t attest_len;
    uint8_t *signature; /* marshalled TPMT_SIGNATURE, as tpm2_quote -s */
    size_t signature_len;
} TpmQuote;
void tpm_quote_done(TpmQuote *q);

/* TPM2_Quote with the AK at ak_handle (e.g. TPM_HANDLE_AK) over n_sel banks,
 * with an optional nonce (qualifyingData, ≤ 64 bytes). */
int tpm_quote(TpmContext *t, uint32_t ak_handle, const TpmPcrSelection *sel, size_t n_sel,
              const void *nonce, size_t nonce_len, TpmQuote *ret);

/* What a TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE or _CERTIFY says. */
typedef struct TpmAttest {
    uint16_t type; /* 0x8018 quote, 0x8017 certify (TPM 2.0 Part 2 §6.9) */
    uint8_t signer_name[2 + TPM_MAX_DIGEST];
    size_t signer_name_len;
    uint8_t extra_data[TPM_MAX_DIGEST];
    size_t extra_data_len;
    uint64_t clock;
    uint32_t reset_count;
    uint32_t restart_count;
    bool safe;
    uint64_t firmware_version;
    /* quote */
    TpmPcrSelection sel[TPM_MAX_BANKS];
    size_t n_sel;
    uint8_t pcr_digest[TPM_MAX_DIGEST];
    size_t pcr_digest_len;
    /* certify */
    uint8_t certified_name[2 + TPM_MAX_DIGEST];
    size_t certified_name_len;
    uint8_t certified_qname[2 + TPM_MAX_DIGEST];
    size_t certified_qname_len;
} TpmAttest;

/* Parses a TPMS_ATTEST (quote or certify); -EBADMSG with the offset logged at
 * debug on malformed input, -EPROTONOSUPPORT for other attestation types. */
int tpm_attest_parse(const uint8_t *data, size_t len, TpmAttest *ret);

/* A signature as the verifier needs it: the RSASSA/RSAPSS bytes and hash. */
typedef struct TpmSignature {
    uint16_t scheme; /* 0x0014 RSASSA, 0x0016 RSAPSS */
    uint16_t hash;
    uint8_t sig[512];
    size_t sig_len;
} TpmSignature;

/*
 * Parses a signature file: a marshalled TPMT_SIGNATURE (RSASSA or RSAPSS), or
 * raw RSASSA-PKCS1-v1_5 bytes exactly key_bytes long (as Azure's PcrSignature),
 * which are taken as SHA-256.
 */
int tpm_signature_parse(const uint8_t *data, size_t len, size_t key_bytes, TpmSignature *ret);

/*
 * The quote's pcrDigest recomputed from values: H(PCR values of each selection
 * in order, ascending index), H = hash. -ENOENT (and the first missing
 * bank/PCR in *ret_missing_hash / *ret_missing_pcr when given) when values lack
 * a selected PCR.
 */
int tpm_pcr_digest(uint16_t hash, const TpmPcrSelection *sel, size_t n_sel, const TpmPcrBank *banks,
                   size_t n_banks, uint8_t *out, size_t *ret_len);

/*
 * Offline quote verification: the signature over attest with the AK public
 * key, magic and type, the nonce (when nonce is non-NULL it must equal
 * extraData; nonce_len 0 = must be empty), and, when banks is non-NULL, the
 * PCR digest against those values. Fills *ret_info (may be NULL) as far as
 * parsing got. -EKEYREJECTED with a one-line reason in reason (size
 * reason_size) when a check fails; -EBADMSG when attest is malformed.
 */
int tpm_quote_verify(EVP_PKEY *ak, const uint8_t *attest, size_t attest_len,
                     const TpmSignature *sig, const void *nonce, size_t nonce_len,
                     const TpmPcrBank *banks, size_t n_banks, TpmAttest *ret_info, char *reason,
                     size_t reason_size);

/* --- public keys, names and policies (pure) --- */

/* An RSA TPM2B_PUBLIC (marshalled) as an OpenSSL key. */
int tpm_public_to_pkey(const uint8_t *pub, size_t len, EVP_PKEY **ret);
/* The TPM name (nameAlg || H(TPMT_PUBLIC)) of a marshalled TPM2B_PUBLIC. */
int tpm_public_name(const uint8_t *pub, size_t len, uint8_t *ret, size_t *ret_len);
/* The authPolicy of a marshalled TPM2B_PUBLIC (up to TPM_MAX_DIGEST bytes;
 * *ret_len 0 when it has none). -EBADMSG when malformed. */
int tpm_public_auth_policy(const uint8_t *pub, size_t len, uint8_t *ret, size_t *ret_len);
/* The marshalled TPM2B_PUBLIC of an RSA signing key as this module loads it
 * with TPM2_LoadExternal (SHA-256 name, RSASSA-SHA256, userWithAuth|sign). */
int tpm_public_from_pkey(EVP_PKEY *key, uint8_t **ret, size_t *ret_len);

/* PolicyPCR digest starting from 32 zero bytes (TPM 2.0 Part 3 §23.7):
 * SHA256(0^32 || TPM_CC_PolicyPCR || TPML_PCR_SELECTION || SHA256(PCR values)). */
int tpm_policy_pcr_digest(const TpmPcrBank *bank, uint8_t ret[32]);
/* PolicyAuthorize digest for a signer (Part 3 §23.16), policyRef empty:
 * SHA256(SHA256(0^32 || TPM_CC_PolicyAuthorize || keyName) || ""). */
int tpm_policy_authorize_digest(EVP_PKEY *signer, uint8_t ret[32]);
/* Signs an approved policy (aHash = SHA256(policy || policyRef""), RSASSA-SHA256)
 * with the signer's private key; ret gets the raw signature. */
int tpm_policy_approve(EVP_PKEY *signer_priv, const uint8_t policy[32], uint8_t **ret,
                       size_t *ret_len);

/* --- the transfer key (azure-wire-formats.md §4) --- */

/* The template's authPolicy for PCR values bank (SHA-256 bank, Azure: PCR 0-7). */
/* (= tpm_policy_pcr_digest) */

typedef struct TpmCertified {
    uint8_t *pub; /* marshalled TPM2B_PUBLIC of the transfer key */
    size_t pub_len;
    uint8_t *attest; /* TPMS_ATTEST of TPM2_Certify */
    size_t attest_len;
    uint8_t *signature; /* marshalled TPMT_SIGNATURE */
    size_t signature_len;
} TpmCertified;
void tpm_certified_done(TpmCertified *c);

/* Creates the transfer key (primary under TPM_RH_NULL, template and PolicyPCR
 * authPolicy over the current values of sel), certifies it with the AK at
 * ak_handle, flushes it. sel is a SHA-256 selection (Azure: PCR 0-7). */
int tpm_transfer_key_certify(TpmContext *t, const TpmPcrSelection *sel, uint32_t ak_handle,
                             TpmCertified *ret);
/* The transfer key's public part only (marshalled TPM2B_PUBLIC). */
int tpm_transfer_key_public(TpmContext *t, const TpmPcrSelection *sel, uint8_t **ret,
                            size_t *ret_len);
/* Re-creates the transfer key (or loads the context saved when this process
 * last created it for the same TCTI, selection and PCR values) and RSA-decrypts ct (≤ 256 bytes) in a PolicyPCR
 * session. -EKEYREJECTED when the PCRs no longer match or the padding is bad. */
int tpm_transfer_key_decrypt(TpmContext *t, const TpmPcrSelection *sel, TpmRsaScheme scheme,
                             const uint8_t *ct, size_t ct_len, SecretBuf **ret);

/* The signature sig (RSASSA or RSAPSS) by key over msg: 0, -EKEYREJECTED,
 * -EPROTONOSUPPORT for another scheme or hash. */
int tpm_signature_verify(EVP_PKEY *key, const TpmSignature *sig, const uint8_t *msg, size_t len);

/* Offline check of a TPM2_Certify: signature by ak over attest, type certify,
 * certified name == name of pub, optional nonce. */
int tpm_certify_verify(EVP_PKEY *ak, const uint8_t *attest, size_t attest_len,
                       const TpmSignature *sig, const uint8_t *pub, size_t pub_len, char *reason,
                       size_t reason_size);

/* --- sealing --- */

typedef struct TpmSealed {
    uint8_t *pub; /* marshalled TPM2B_PUBLIC (tpm2_create -u) */
    size_t pub_len;
    uint8_t *priv; /* marshalled TPM2B_PRIVATE (tpm2_create -r) */
    size_t priv_len;
} TpmSealed;
void tpm_sealed_done(TpmSealed *s);

/* The parent of sealed objects: TPM_HANDLE_SRK if present, otherwise created
 * from the standard SRK template (TCG TPM v2.0 Provisioning Guidance §7.5.1,
 * RSA-2048/AES-128-CFB) each time. */

/* The name of the SRK the sealing functions use (nameAlg || H(public)); a
 * different name after a reboot means sealed objects can no longer load (a
 * vTPM whose state does not persist). */
int tpm_srk_name(TpmContext *t, uint8_t *ret, size_t *ret_len);

/* Seals ≤ TPM_SEAL_MAX bytes bound by PolicyPCR to the current values of sel. */
int tpm_seal_pcr(TpmContext *t, const TpmPcrSelection *sel, const void *data, size_t len,
                 TpmSealed *ret);
/* Seals ≤ TPM_SEAL_MAX bytes under PolicyAuthorize by signer (public key):
 * unsealing needs a PolicyPCR approval signed with the signer's private key. */
int tpm_seal_authorize(TpmContext *t, EVP_PKEY *signer, const void *data, size_t len,
                       TpmSealed *ret);

/* Unseals a PolicyPCR object. -EKEYREJECTED when the PCRs changed. */
int tpm_unseal_pcr(TpmContext *t, const TpmSealed *s, const TpmPcrSelection *sel, SecretBuf **ret);
/* Unseals a PolicyAuthorize object: PolicyPCR over sel, then the approval
 * (signature from tpm_policy_approve over that PolicyPCR digest) checked by
 * TPM2_VerifySignature, then PolicyAuthorize. -EKEYREJECTED when the approval
 * does not match the current PCRs or signer. */
int tpm_unseal_authorize(TpmContext *t, const TpmSealed *s, EVP_PKEY *signer,
                         const TpmPcrSelection *sel, const uint8_t *approval, size_t approval_len,
                         SecretBuf **ret);

#endif
