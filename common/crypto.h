/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * OpenSSL 3 helpers shared by the evidence verifiers: digests, certificate
 * loading, pinned-root chain verification, and signature checks on the raw
 * signature encodings the hardware uses.
 */
#ifndef CVM_COMMON_CRYPTO_H
#define CVM_COMMON_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY_CTX *, EVP_PKEY_CTX_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_CRL *, X509_CRL_free)
static inline void x509_stack_freep(STACK_OF(X509) * *s) {
    if (*s)
        sk_X509_pop_free(*s, X509_free);
}
#define _cleanup_x509_       _cleanup_(X509_freep)
#define _cleanup_pkey_       _cleanup_(EVP_PKEY_freep)
#define _cleanup_x509_stack_ _cleanup_(x509_stack_freep)
#define _cleanup_crl_        _cleanup_(X509_CRL_freep)

#define CRYPTO_MAX_DIGEST 64

/* md: "SHA1", "SHA256", "SHA384", "SHA512". out must hold CRYPTO_MAX_DIGEST. */
int crypto_digest(const char *md, const void *data, size_t len, uint8_t *out, size_t *ret_len);

/* One certificate, PEM or DER. */
int crypto_load_cert(const void *data, size_t len, X509 **ret);
/* All PEM certificates in data, in order (trailing NULs and text are ignored);
 * -EBADMSG when there is none. */
int crypto_load_cert_chain(const void *data, size_t len, STACK_OF(X509) * *ret);
int crypto_load_cert_file(const char *path, X509 **ret);
/* A public key: PEM/DER SubjectPublicKeyInfo, or a certificate's key. */
int crypto_load_pubkey(const void *data, size_t len, EVP_PKEY **ret);

/* SHA-256 over the DER encoding of cert. */
int crypto_cert_fingerprint(X509 *cert, uint8_t out[32]);

/*
 * Verifies leaf up to one of trusted, with untrusted intermediates, at time
 * at (seconds since the epoch, resolved by the caller; negative is -EINVAL),
 * with OpenSSL's X.509 path
 * validation (signatures including RSA-PSS, validity, basic constraints).
 * On failure returns -EKEYREJECTED and, when reterr is given, a malloc'ed
 * message naming the failing certificate and OpenSSL's reason.
 */
int crypto_verify_chain(X509 *leaf, STACK_OF(X509) * untrusted, STACK_OF(X509) * trusted,
                        int64_t at, char **reterr);

/* An ASN.1 UTCTime/GeneralizedTime as seconds since the epoch; -EBADMSG when
 * it is malformed (callers fail closed instead of treating that as "equal"). */
int crypto_asn1_time_to_epoch(const ASN1_TIME *t, int64_t *ret);

/* One CRL, PEM or DER. -EBADMSG when it is neither. */
int crypto_load_crl(const void *data, size_t len, X509_CRL **ret);

/*
 * Checks that crl is issued and signed by issuer and is current at time at:
 * lastUpdate <= at (unless allow_newer, for a CRL newer than a pinned past
 * time: revocation only ever grows), and at <= nextUpdate, or, for a CRL
 * without nextUpdate, at <= lastUpdate + max_age_s. Returns 0; -EKEYREJECTED
 * (wrong issuer or bad signature), -ESTALE (out of date or not yet valid),
 * -EBADMSG (malformed time fields), -EINVAL (at < 0), each with a static
 * message in *reterr.
 */
int crypto_crl_check(X509_CRL *crl, X509 *issuer, int64_t at, int64_t max_age_s, bool allow_newer,
                     const char **reterr);

/* True when crl lists cert's serial number (the caller checked the issuer). */
bool crypto_crl_lists(X509_CRL *crl, X509 *cert);

/*
 * ECDSA over msg with digest md, signature given as the raw big-endian
 * integers r and s of n bytes each (leading zeros allowed).
 * 0 when valid, -EKEYREJECTED when not, other -errno on error.
 */
int crypto_ecdsa_verify_raw(EVP_PKEY *key, const char *md, const void *msg, size_t msg_len,
                            const uint8_t *r, const uint8_t *s, size_t n);
/* Reverses a little-endian integer into big-endian (for SNP's r/s). */
void crypto_reverse(uint8_t *dst, const uint8_t *src, size_t n);

/* Generic EVP verification (RSA PKCS#1 v1.5 by default, or ECDSA with DER sigs). */
int crypto_verify(EVP_PKEY *key, const char *md, const void *msg, size_t msg_len,
                  const uint8_t *sig, size_t sig_len);

/* Constant-time comparison. */
bool crypto_memeq(const void *a, const void *b, size_t n);

/* The OpenSSL error queue as one line (static buffer), and clears it. */
const char *crypto_last_error(void);

#endif
