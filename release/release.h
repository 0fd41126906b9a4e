/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * release/: secure key release from Azure Key Vault Premium / Managed HSM
 * (azure-wire-formats.md §3-4, corrected by azure-services/MANIFEST.md facts
 * 5-8): the managed-identity bearer token, the release call, verification of
 * the signed response, the key_hsm unwrap inside the vTPM, and evaluation of
 * key release policies.
 *
 * This module never attests: the caller hands it an MAA token it has already
 * verified. Key material only ever lives in SecretBufs and is never logged.
 */
#ifndef CVM_RELEASE_RELEASE_H
#define CVM_RELEASE_RELEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/http.h"
#include "common/secbuf.h"
#include "tpm/tpm.h"

/* --- release policies (KeyReleasePolicy, §3.4) --- */

typedef struct PolicyResult {
    bool satisfied;
    char authority[512];    /* the authority whose conditions matched, or that failed */
    char clause[512];       /* what matched, or the first condition that failed */
    char failed_claim[256]; /* the claim path of that condition ("" when none) */
} PolicyResult;

/*
 * A policy document from text: the policy JSON itself, base64url of it (the
 * "data" member as Key Vault stores it), or a release_policy object
 * {"contentType","data","immutable"}. -EBADMSG with *why otherwise.
 */
int release_policy_parse(const char *text, size_t len, cJSON **ret, const char **why);

/*
 * Evaluates policy (version 1.0.0 grammar, or the legacy {"claim","condition",
 * "value"} conditions) against a token's claims: some authority of its anyOf
 * must equal claims.iss (ignoring a trailing "/") and its allOf/anyOf tree of
 * conditions hold (operators equals, notEquals, less, lessOrEquals, greater,
 * greaterOrEquals, exists on dotted claim paths). Returns 0 when satisfied,
 * -EKEYREJECTED when not (res says which authority and condition), -EBADMSG
 * when the policy is malformed (res->clause says where).
 */
int release_policy_eval(const cJSON *policy, const cJSON *claims, PolicyResult *res);

/* --- the release response (a JWS, §3.3) --- */

typedef enum ReleaseVault {
    RELEASE_VAULT_UNKNOWN = 0,
    RELEASE_VAULT_KEYVAULT,   /* header alg, kid (hex SHA-1), x5t, typ, x5t#S256, x5c */
    RELEASE_VAULT_MANAGEDHSM, /* header alg, kid (GUID), x5c, x5t#S256 */
} ReleaseVault;

const char *release_vault_name(ReleaseVault v);

typedef struct ReleaseJwsCheck {
    STACK_OF(X509) * trusted; /* roots the signer must chain to */
    int64_t at;               /* verification time (the caller reads the clock) */
    /* The name the signer's certificate must carry. NULL: the host of the
     * key the payload names, which must lie in one of host_families. */
    const char *signer_host;
    const char *const *host_families; /* NULL-terminated; NULL = the Azure ones */
} ReleaseJwsCheck;

typedef struct ReleasedKeyInfo {
    ReleaseVault vault; /* by the header's shape */
    char *kid;          /* response.key.key.kid: the released version's URL */
    char *version;      /* its last path segment */
    char *kty;          /* "RSA-HSM", "EC", "oct-HSM", ... */
    char *enc;          /* request.enc, as echoed */
    char *request_kid;  /* request.kid (as called) */
    char *signer;       /* the signer certificate's subject (when verified) */
    bool has_enabled, enabled, has_exportable, exportable;
    bool has_exp;
    int64_t exp;
    cJSON *header;       /* NULL for an unsigned payload */
    cJSON *payload;      /* the whole payload */
    const char *key_hsm; /* points into payload: response.key.key.key_hsm */
} ReleasedKeyInfo;

void released_key_info_done(ReleasedKeyInfo *k);

/*
 * Verifies a release response: body is the service's answer {"value": JWS}
 * or the compact JWS itself. Checks the alg (RS256, PS256, ES256, ES384), the
 * x5c chain to chk->trusted at chk->at, x5t / x5t#S256 when present, the
 * signer's name, the signature, and the payload's shape. 0 when valid; on
 * failure -EKEYREJECTED / -EBADMSG / -EPROTONOSUPPORT with *reterr
 * (malloc'ed). info is filled as far as the response could be decoded.
 */
/* Roots for release responses: the certificates of a PEM file, or with path NULL
 * the system store (OpenSSL's default certificate file). -errno with a message
 * logged. */
int release_trust_load(const char *path, STACK_OF(X509) * *ret);

int release_jws_verify(const char *body, size_t len, const ReleaseJwsCheck *chk,
                       ReleasedKeyInfo *info, char **reterr);

/*
 * A release payload without a signature (a decoded payload JSON, or its
 * base64url segment): decoded into info so it can be shown, never trusted.
 * 0 when it decodes, -EBADMSG otherwise.
 */
int release_payload_decode(const char *text, size_t len, ReleasedKeyInfo *info, char **reterr);

/* --- key_hsm: unwrap in the vTPM (§3.3, §4) --- */

typedef enum ReleaseEnc {
    RELEASE_ENC_CKM_RSA_AES_KEY_WRAP = 0, /* OAEP SHA-1 */
    RELEASE_ENC_RSA_AES_KEY_WRAP_256,     /* OAEP SHA-256 (our default) */
    RELEASE_ENC_RSA_AES_KEY_WRAP_384,     /* OAEP SHA-384 */
} ReleaseEnc;

int release_enc_from_string(const char *s, ReleaseEnc *ret);
const char *release_enc_to_string(ReleaseEnc e);

typedef struct ReleasedKey {
    SecretBuf *der;            /* PKCS#8 PrivateKeyInfo DER (RSA/EC) or the raw oct bytes */
    bool oct;                  /* symmetric: der holds the raw key */
    EVP_PKEY *pkey;            /* the parsed private key (NULL for oct) */
    char key_type[48];         /* "RSA-2048", "EC-P-256", "oct-256" */
    uint8_t public_sha256[32]; /* SHA-256 of the public key's SubjectPublicKeyInfo DER
                                  (for oct: of nothing; has_public false) */
    bool has_public;
} ReleasedKey;

void released_key_done(ReleasedKey *k);

/*
 * Parses key_hsm (base64url JSON {"schema_version","header":{"kid","alg",
 * "enc"},"ciphertext"}), checks its enc is the one requested, decrypts the
 * first 256 bytes with the transfer key in the TPM (OAEP with enc's hash),
 * AES-KWP-unwraps the rest and parses the key (PKCS#8 RSA/EC, PKCS#1 RSA,
 * or raw oct bytes when oct). -EBADMSG (malformed), -EKEYREJECTED (the TPM
 * or the unwrap refused: wrapped to another key, or the PCRs changed),
 * -EOPNOTSUPP (an enc the TPM module cannot decrypt); *why says which.
 */
int release_unwrap(TpmContext *tpm, const TpmPcrSelection *sel, const char *key_hsm, ReleaseEnc enc,
                   bool oct, ReleasedKey *ret, char *why, size_t why_size);

/* The unwrap after the TPM step (exposed for tests): aes_key (32 bytes)
 * unwraps wrapped and the material is parsed. */
int release_unwrap_material(const SecretBuf *aes_key, const uint8_t *wrapped, size_t wrapped_len,
                            bool oct, ReleasedKey *ret, char *why, size_t why_size);

/* Serialises the private key as DER (PKCS#8) or PEM into a SecretBuf. */
int released_key_export(const ReleasedKey *k, bool pem, SecretBuf **ret);

/* --- identity: the bearer token for the vault (§3.1) --- */

typedef enum IdentitySource {
    IDENTITY_IMDS = 0,
    IDENTITY_FILE,
    IDENTITY_ENV,
} IdentitySource;

int identity_source_from_string(const char *s, IdentitySource *ret);

typedef struct IdentityConfig {
    IdentitySource source;
    const char *imds_url;  /* base, default http://169.254.169.254 */
    const char *client_id; /* user-assigned identity (one of the three) */
    const char *object_id;
    const char *msi_res_id;
    const char *token_file; /* source = file */
    const char *token_env;  /* source = env: the variable's name */
} IdentityConfig;

typedef struct IdentityError {
    long status;
    char error[128];       /* IMDS "error" */
    char description[512]; /* IMDS "error_description" */
} IdentityError;

/*
 * A bearer token for resource ("https://vault.azure.net"), in a SecretBuf
 * (NUL-terminated). IMDS tokens are cached in memory per (resource,
 * identity) until 5 minutes before expires_on. Errors: -EACCES (IMDS refused:
 * err filled), -EINVAL (configuration), -EPROTO (a malformed answer: exit 3), the
 * common/http errors for the transport (exit 3 after retries).
 */
int identity_token(const IdentityConfig *cfg, const HttpConfig *http, const char *resource,
                   int64_t now, SecretBuf **ret, IdentityError *err);
/* Forgets every cached token (tests). */
void identity_cache_clear(void);

/* --- the vault --- */

typedef struct KeyRef {
    char *vault;      /* "https://host[:port]" */
    char *host;       /* host without port */
    char *name;       /* key name */
    char *version;    /* NULL = the latest */
    bool managed_hsm; /* host under managedhsm.azure.net */
} KeyRef;

/* Parses https://<vault>/keys/<name>[/<version>] (http:// to loopback for tests). */
int key_ref_parse(const char *url, KeyRef *ret);
void key_ref_done(KeyRef *k);
/* The IMDS resource for a key: https://managedhsm.azure.net for Managed HSM, else
 * https://vault.azure.net. */
const char *key_ref_resource(const KeyRef *k);

typedef struct VaultError {
    long status;    /* HTTP status, 0 when none */
    char code[128]; /* the service's error.code (and innererror.code after "/") */
    char message[512];
} VaultError;

/*
 * GET the key (its KeyBundle) with bearer. 0 and *ret, or the http_request
 * errors (-EACCES, -ENOENT, -EBADMSG, -EAGAIN, ...) with err filled.
 */
int vault_get_key(const HttpConfig *http, const KeyRef *key, const char *api_version,
                  const char *bearer, cJSON **ret, VaultError *err);

/*
 * POST {key}/release with {"target": token, "enc": enc[, "nonce": nonce]}.
 * *ret = the response body (the caller verifies it).
 */
int vault_release(const HttpConfig *http, const KeyRef *key, const char *api_version,
                  const char *bearer, const char *target, ReleaseEnc enc, const char *nonce,
                  char **ret, size_t *ret_len, VaultError *err);

/*
 * The newest enabled version of the key (the version list, paged through
 * nextLink, which must stay on the key's vault): the latest "created" among
 * enabled versions. *ret malloc'ed; *ret_pages (may be NULL) the pages read.
 * -ENOENT when no version is enabled, -EPROTO on a malformed list.
 */
int vault_newest_version(const HttpConfig *http, const KeyRef *key, const char *api_version,
                         const char *bearer, char **ret, unsigned *ret_pages, VaultError *err);
/* GET {key}/rotationpolicy (the key's name only; the version is ignored). */
int vault_rotation_policy(const HttpConfig *http, const KeyRef *key, const char *api_version,
                          const char *bearer, cJSON **ret, VaultError *err);

/* The release policy inside a KeyBundle ({"release_policy":{"data":...}}), parsed;
 * -ENOENT when the bundle has none. */
int vault_bundle_policy(const cJSON *bundle, cJSON **ret);

#endif
