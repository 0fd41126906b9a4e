/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * attest/: remote attestation — evidence, the MAA protocols and the
 * verification of the tokens MAA returns.
 */
#ifndef CVM_ATTEST_ATTEST_H
#define CVM_ATTEST_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "common/http.h"

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

#endif
