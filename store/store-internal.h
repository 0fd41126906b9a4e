/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * store/ internals shared by its files and its unit test: the envelope in
 * memory, its JSON reader and writer, and the crypto of the split.
 */
#ifndef CVM_STORE_STORE_INTERNAL_H
#define CVM_STORE_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/secbuf.h"
#include "store/store.h"
#include "tpm/tpm.h"

#define STORE_FORMAT          "cvm-agent-secret"
#define STORE_ENVELOPE_LATEST 1u
#define STORE_KEY_SIZE        32u /* K_tpm, K_cmk, DK, KEK: AES-256 keys */
#define STORE_GCM_NONCE       12u
#define STORE_GCM_TAG         16u
#define STORE_WRAPPED_MAX     1024u /* a wrapped KEK: RSA-8192 at most */
#define STORE_PAYLOAD_MAX     8192u /* K_cmk plus a PKCS#8 RSA-2048..4096 key, encrypted */
#define STORE_SEALED_MAX      2048u /* a marshalled TPM2B_PUBLIC or TPM2B_PRIVATE */
#define STORE_APPROVAL_MAX    512u

/* What is wrapped to one CMK version. */
typedef struct StoreWrap {
    char *version;
    StoreWrapAlg alg;
    uint8_t *wrapped_key; /* the KEK, wrapped by the CMK version */
    size_t wrapped_key_len;
    uint8_t *payload; /* AES-256-GCM under the KEK of K_cmk || PKCS#8(K_pol) */
    size_t payload_len;
} StoreWrap;

typedef struct StoreEnvelope {
    unsigned version; /* the format version it was read in; written as the latest */
    char *name;
    StoreMode mode;
    bool ephemeral;
    int64_t created, updated; /* seconds since the epoch */
    char *key_url;
    StoreWrap key;
    bool has_previous; /* a rewrap has not dropped the old version's wrap yet */
    StoreWrap previous;
    uint8_t *ciphertext; /* AES-256-GCM under DK of S */
    size_t ciphertext_len;
    /* mode tpm+cmk only */
    uint8_t srk_name[2 + TPM_MAX_DIGEST];
    size_t srk_name_len;
    TpmPcrSelection pcrs;
    TpmSealed sealed;  /* K_tpm under PolicyAuthorize(K_pol) */
    uint8_t *approval; /* RSASSA-SHA256 by K_pol over PolicyPCR(approved) */
    size_t approval_len;
    TpmPcrBank approved; /* the PCR values the approval covers */
} StoreEnvelope;

void store_wrap_done(StoreWrap *w);
void store_envelope_done(StoreEnvelope *e);

/*
 * Parses an envelope of any supported format version (strict: every member
 * is checked, unknown members are refused). -EBADMSG with a reason naming the
 * member in err; -EPROTONOSUPPORT for a version this reader does not know.
 */
int store_envelope_parse(const void *data, size_t len, StoreEnvelope *ret, char *err,
                         size_t err_size);
/* Serializes in the latest format (malloc'ed, NUL-terminated). */
int store_envelope_format(const StoreEnvelope *e, char **ret, size_t *ret_len);

/* The reader of one format version; the table is what keeps old envelopes
 * readable (exposed for the unit test). */
typedef int (*StoreEnvelopeReader)(const void *json, StoreEnvelope *e, char *err, size_t err_size);
StoreEnvelopeReader store_envelope_reader(unsigned version);

/* --- crypto of the split (store/store-crypto.c) --- */

/* Random shares a, b with a ⊕ b = key (STORE_KEY_SIZE each). */
int store_split(const uint8_t key[STORE_KEY_SIZE], SecretBuf **ret_a, SecretBuf **ret_b);
/* a ⊕ b. */
int store_combine(const SecretBuf *a, const SecretBuf *b, SecretBuf **ret);
/* AES-256-GCM: out = nonce || ciphertext || tag; aad binds the context. */
int store_aead_seal(const SecretBuf *key, const char *aad, const void *data, size_t len,
                    uint8_t **ret, size_t *ret_len);
/* -EKEYREJECTED when the tag does not verify. */
int store_aead_open(const SecretBuf *key, const char *aad, const uint8_t *in, size_t len,
                    SecretBuf **ret);

/* "0,7" for a PCR mask. */
void store_pcr_list(uint32_t mask, char *buf, size_t size);

#endif
