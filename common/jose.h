/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JOSE primitives (RFC 7515 JWS compact serialisation, RFC 7517 JWK, RFC 7518
 * algorithms) for the two signed objects the agent checks: MAA attestation
 * tokens and Key Vault / Managed HSM key-release responses.
 *
 * Parsing is strict so that one input has one meaning: exactly three
 * base64url segments without padding or whitespace, header and payload
 * JSON objects without duplicate member names, size caps on every part,
 * "crit" refused (no extension is understood). Verification takes the
 * allowed algorithms from the caller, never from the token: "alg":"none",
 * an algorithm outside the allow-list and an algorithm that does not fit
 * the key's type are all refused before any signature arithmetic.
 */
#ifndef CVM_COMMON_JOSE_H
#define CVM_COMMON_JOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "util.h"

/* Caps (bytes): a real MAA token is ~6.5 KB, a Key Vault release JWS with a
 * three-certificate x5c and an RSA-4096 key ~20 KB. */
#define JOSE_MAX_COMPACT   (1024u * 1024)
#define JOSE_MAX_HEADER    (64u * 1024) /* decoded protected header */
#define JOSE_MAX_SIGNATURE 1024u        /* RSA-8192 */
#define JOSE_MIN_RSA_BITS  2048

/* Signature algorithms, as a bit set for allow-lists. */
typedef enum JoseAlg {
    JOSE_ALG_RS256 = 1u << 0, /* RSASSA-PKCS1-v1_5 SHA-256 */
    JOSE_ALG_PS256 = 1u << 1, /* RSASSA-PSS SHA-256, MGF1 SHA-256, salt 32 */
    JOSE_ALG_ES256 = 1u << 2, /* ECDSA P-256 SHA-256, signature r || s (2 x 32) */
    JOSE_ALG_ES384 = 1u << 3, /* ECDSA P-384 SHA-384, signature r || s (2 x 48) */
} JoseAlg;

/* "RS256" -> JOSE_ALG_RS256; 0 for anything else (including "none"). */
unsigned jose_alg_from_string(const char *s);
const char *jose_alg_to_string(unsigned alg);

typedef struct JoseJws {
    cJSON *header;        /* the protected header (object) */
    cJSON *payload;       /* the payload (object) */
    const char *alg_name; /* header "alg" (points into header) */
    unsigned alg;         /* JOSE_ALG_* or 0 when alg_name is none/unknown */
    const char *kid;      /* header "kid" or NULL (points into header) */
    char *signing_input;  /* "BASE64URL(header).BASE64URL(payload)", NUL-terminated */
    size_t signing_input_len;
    uint8_t *signature;
    size_t signature_len;
} JoseJws;

/*
 * Parses a compact JWS of exactly len bytes (no trailing newline: callers
 * strip it). Returns 0, or -EBADMSG / -E2BIG with *why set to a static
 * message naming the defect ("the payload is not base64url", ...), or
 * -ENOMEM. An unknown or "none" alg is not a parse error; it is refused by
 * jose_jws_verify.
 */
int jose_jws_parse(const char *compact, size_t len, JoseJws **ret, const char **why);
JoseJws *jose_jws_free(JoseJws *jws);
DEFINE_TRIVIAL_CLEANUP_FUNC(JoseJws *, jose_jws_free)
#define _cleanup_jws_ _cleanup_(jose_jws_freep)

/*
 * Verifies jws's signature with key. allowed is a set of JOSE_ALG_* bits.
 * Returns 0 when valid; -EPROTONOSUPPORT when the header's alg is "none",
 * unknown or not allowed; -EKEYREJECTED when the alg does not fit the key
 * (RSA alg on an EC key, ES256 on P-384, an RSA key under 2048 bits) or the
 * signature does not verify (wrong length included); *why says which.
 */
int jose_jws_verify(const JoseJws *jws, EVP_PKEY *key, unsigned allowed, const char **why);

/*
 * A public key from a JWK object: x5c[0] (standard base64 DER certificate)
 * when present, else kty RSA n/e (base64url; leading zero bytes, as Key Vault
 * puts in e, are accepted) or kty EC crv P-256/P-384 x/y. -EBADMSG with *why
 * on a malformed JWK, -EPROTONOSUPPORT for another kty/crv.
 */
int jose_jwk_to_pkey(const cJSON *jwk, EVP_PKEY **ret, const char **why);

/* The key of jwks ({"keys":[...]}) whose "kid" is exactly kid (an opaque
 * string: no normalisation of "+/=" or case), or NULL. */
const cJSON *jose_jwks_find(const cJSON *jwks, const char *kid);

/*
 * The certificates of an "x5c" array (standard base64 DER, RFC 7515 §4.1.6):
 * *leaf = x5c[0], *rest = the others in order (possibly empty). -EBADMSG with
 * *why for a missing/empty array or an entry that is not a certificate.
 */
int jose_x5c_parse(const cJSON *x5c, X509 **leaf, STACK_OF(X509) * *rest, const char **why);

/*
 * When the header carries "x5t" (base64url SHA-1 of the DER) or "x5t#S256"
 * (SHA-256), checks they name cert. 0 when all present thumbprints match
 * (none present is 0 too), -EKEYREJECTED with *why otherwise.
 */
int jose_check_thumbprints(const cJSON *header, X509 *cert, const char **why);

/*
 * For a JWS that carries its signer (Key Vault / Managed HSM release
 * responses): the header's x5c[0] must chain through the other x5c entries
 * to one of trusted at time at (seconds since the epoch, >= 0: the caller
 * reads the clock; there is no value meaning "now"), be a
 * certificate for host when host is given (RFC 6125 matching, wildcards as
 * TLS does), be the one x5t / x5t#S256 name when present, and its key must
 * verify the signature under allowed. 0, or -EKEYREJECTED / -EPROTONOSUPPORT
 * / -EBADMSG with *reterr set (malloc'ed; the caller frees it).
 */
int jose_jws_verify_x5c(const JoseJws *jws, STACK_OF(X509) * trusted, int64_t at, const char *host,
                        unsigned allowed, char **reterr);

/* True when the RSA key's modulus and exponent equal the JWK's n and e
 * (compared as integers, so leading zero bytes do not matter). */
bool jose_jwk_rsa_equals(const cJSON *jwk, EVP_PKEY *key);

#endif
