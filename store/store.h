/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The secret store: secrets bound 2-of-2 to this VM's vTPM and to a
 * customer-managed key (CMK), kept as one versioned JSON envelope per secret
 * in STATE/secrets/NAME.json. docs/secret-store.md has the scheme and the
 * crash-safety argument; cvm-agent-store(5) the envelope format.
 *
 * In short: a secret S (≤ STORE_SECRET_MAX bytes) is encrypted with AES-256-GCM
 * under a data key DK = K_tpm ⊕ K_cmk. K_tpm is sealed in the vTPM under
 * PolicyAuthorize(K_pol); K_cmk and the private policy key K_pol are
 * encrypted under a fresh key-encryption key that is wrapped to one version of
 * the CMK. Neither the vTPM nor the CMK alone yields DK.
 *
 * store/ knows nothing of the network or of attestation: the caller hands it
 * a StoreKeyProvider (agent/ wires it to release/), and says whether the
 * attestation that preceded an open succeeded.
 *
 * Functions return 0 or a negative errno and, on failure, leave a one-line
 * reason naming what failed in store_last_error(). Errors with a meaning of
 * their own:
 *   -EEXIST        seal: the secret exists and force was not given
 *   -ENOENT        no such secret
 *   -EBADMSG       the envelope is malformed (the reason names the field)
 *   -EKEYREJECTED  the vTPM or the CMK refused (PCRs changed without a
 *                  successful attestation, wrong key, tampered envelope)
 *   -ESTALE        STORE_E_NONPERSISTED: the SRK differs from the one recorded
 *                  at seal time: the vTPM lost its state (NonPersistedTPM)
 */
#ifndef CVM_STORE_STORE_H
#define CVM_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/secbuf.h"
#include "tpm/tpm.h"

#define STORE_SECRET_MAX     4096u /* largest secret seal accepts */
#define STORE_SECRET_DEFAULT 64u   /* generated secret length */
#define STORE_NAME_MAX       64u
#define STORE_ENVELOPE_MAX   (64u * 1024)
#define STORE_VERSION_MAX    256u /* length of a key version string */
#define STORE_E_NONPERSISTED ESTALE

typedef enum StoreMode {
    STORE_MODE_TPM_CMK = 0,  /* 2-of-2: vTPM and CMK (default) */
    STORE_MODE_CMK_ONLY = 1, /* CMK alone, for vTPMs without persistent state */
} StoreMode;

/* How a CMK version wraps the key-encryption key. */
typedef enum StoreWrapAlg {
    STORE_WRAP_RSA_OAEP_256 = 1, /* RSA CMK: RSA-OAEP, SHA-256, MGF1-SHA-256, empty label */
    STORE_WRAP_AES_KWP = 2,      /* oct CMK: AES key wrap with padding (RFC 5649) */
} StoreWrapAlg;

/* What the provider says about a CMK version, for wrapping. */
typedef struct StoreWrappingKey {
    StoreWrapAlg alg;
    EVP_PKEY *rsa_public; /* RSA_OAEP_256: the version's public key (owned) */
    SecretBuf *oct;       /* AES_KWP: the version's 16/24/32-byte key (owned) */
} StoreWrappingKey;
void store_wrapping_key_done(StoreWrappingKey *k);

/*
 * The key provider. agent/ implements it over release/ (public part from the
 * key's metadata, unwrap with the released key); the tests over local files.
 * Callbacks return 0 or a negative errno and may log why at error level
 * (they are the layer that knows: an HTTP status, a disabled version).
 */
typedef struct StoreKeyProvider {
    void *userdata;
    const char *key_url; /* recorded in envelopes sealed through this provider */
    /* The newest enabled version of the key (malloc'ed string). */
    int (*newest_version)(void *userdata, char **ret_version);
    /* The key of a version as needed to wrap to it (public part for RSA). */
    int (*wrapping_key)(void *userdata, const char *version, StoreWrappingKey *ret);
    /* Unwraps what store_wrap() produced for that version. */
    int (*unwrap)(void *userdata, const char *version, StoreWrapAlg alg, const uint8_t *wrapped,
                  size_t wrapped_len, SecretBuf **ret);
} StoreKeyProvider;

/* The two wraps, for providers: wrap with a StoreWrappingKey, unwrap with the
 * RSA private key or the oct key of that version. */
int store_wrap(const StoreWrappingKey *k, const void *data, size_t len, uint8_t **ret,
               size_t *ret_len);
int store_unwrap_rsa(EVP_PKEY *priv, const uint8_t *wrapped, size_t len, SecretBuf **ret);
int store_unwrap_oct(const SecretBuf *oct, const uint8_t *wrapped, size_t len, SecretBuf **ret);

const char *store_wrap_alg_name(StoreWrapAlg alg);
const char *store_mode_name(StoreMode mode);
int store_mode_from_name(const char *s, StoreMode *ret);

/* Secret names: 1..STORE_NAME_MAX of [A-Za-z0-9._-], not starting with '.'. */
bool store_name_is_valid(const char *name);

typedef struct StoreContext StoreContext;

/*
 * state_dir: the agent's state directory; envelopes live in state_dir/secrets
 * (created 0700 on first seal). tpm may be NULL when only cmk-only secrets are
 * handled. Both tpm and provider must outlive the context.
 */
int store_new(const char *state_dir, TpmContext *tpm, const StoreKeyProvider *provider,
              StoreContext **ret);
StoreContext *store_free(StoreContext *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(StoreContext *, store_free)
#define _cleanup_store_ _cleanup_(store_freep)
/* Why the last operation failed, one line; "" after success. */
const char *store_last_error(const StoreContext *s);
/* The envelope path of a (valid) name; malloc'ed. */
char *store_envelope_path(const StoreContext *s, const char *name);

typedef struct StoreSealOptions {
    const SecretBuf *secret; /* NULL: generate generate_len random bytes */
    size_t generate_len;     /* 0 = STORE_SECRET_DEFAULT */
    TpmPcrSelection pcrs;    /* hash 0 = sha256:0,7 */
    StoreMode mode;
    bool ephemeral;
    bool force; /* replace an existing secret */
} StoreSealOptions;

/* Creates the secret: split, seal K_tpm, approve the current PCRs, wrap to the
 * provider's newest version, write the envelope. Needs only the public part
 * of the CMK. */
int store_seal(StoreContext *s, const char *name, const StoreSealOptions *o);

typedef struct StoreOpenResult {
    SecretBuf *secret;
    char *key_version;     /* the version that opened it */
    bool reauthorized;     /* a new approval was signed and stored */
    uint32_t changed_pcrs; /* bit i: PCR i differs from the stored approval */
    char *warning;         /* set when the new approval could not be stored (why) */
} StoreOpenResult;
void store_open_result_done(StoreOpenResult *r);

/*
 * Opens the secret. When the current PCRs differ from those the stored
 * approval covers: with attestation_ok (the caller's attestation of this very
 * boot succeeded) the approval is re-signed with K_pol for the current values
 * and stored atomically before the secret is returned (when storing fails, the
 * secret is still returned, with ret->warning saying why, and the next open
 * re-authorizes again); without it -EKEYREJECTED and the envelope is left
 * untouched. The caller logs the re-authorization (reauthorized, changed_pcrs).
 */
int store_open(StoreContext *s, const char *name, bool attestation_ok, StoreOpenResult *ret);

/* The points of store_rewrap() an observer is told about, in order. */
typedef enum StoreRewrapStep {
    STORE_STEP_UNWRAPPED = 1, /* old version unwrapped, nothing written */
    STORE_STEP_WRITTEN = 2,   /* envelope on the new version, old wrap kept as "previous" */
    STORE_STEP_VERIFIED = 3,  /* the written envelope opens with the new version */
    STORE_STEP_DROPPED = 4,   /* "previous" removed: the old version is no longer needed */
} StoreRewrapStep;
typedef void (*StoreStepFn)(void *userdata, const char *name, StoreRewrapStep step);

/*
 * Rotation: moves the secret to the provider's newest version. Idempotent
 * (nothing to do: 0 and *ret_changed false) and resumable: a crash or an
 * error at any point leaves an envelope that opens with the old or the new
 * version, and running it again finishes. step (may be NULL) is called after
 * each step.
 */
int store_rewrap(StoreContext *s, const char *name, StoreStepFn step, void *userdata,
                 bool *ret_changed);

typedef struct StoreStatus {
    unsigned envelope_version;
    StoreMode mode;
    bool ephemeral;
    char *key_url;
    char *key_version;   /* in use */
    char *newest;        /* the provider's newest, NULL when it could not say */
    bool behind;         /* newest known and different, or a rewrap left unfinished */
    bool rewrap_pending; /* the envelope still carries the previous version's wrap */
    int approval;        /* 1 the approval covers the current PCRs, 0 not, -1 n/a */
    uint32_t changed_pcrs;
    int srk;       /* 1 SRK as recorded, 0 changed (NonPersistedTPM), -1 n/a */
    char pcrs[96]; /* "sha256:0,7" */
} StoreStatus;
void store_status_done(StoreStatus *st);

/* Reads the envelope and compares it with the provider and the vTPM; asks
 * nothing to unwrap. */
int store_status(StoreContext *s, const char *name, StoreStatus *ret);

/* The names of all envelopes in the store, sorted; *ret is a NULL-terminated
 * malloc'ed array of malloc'ed strings. */
int store_list(StoreContext *s, char ***ret, size_t *ret_n);
void store_list_free(char **names);

#endif
