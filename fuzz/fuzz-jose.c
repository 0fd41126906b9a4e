/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the JOSE parsers (common/jose.c). The input is tried as a
 * compact JWS (parsed; then its header's JWK/x5c, the JWKS lookup of its kid
 * in the payload, and verification under every algorithm with a fixed RSA
 * key, which must never succeed) and as JSON (a JWK or a JWKS).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rsa.h>

#include "common/jose.h"
#include "common/json.h"
#include "fuzz/fuzz.h"

static const unsigned all_algs = JOSE_ALG_RS256 | JOSE_ALG_PS256 | JOSE_ALG_ES256 | JOSE_ALG_ES384;

static void check_key(const cJSON *jwk, EVP_PKEY *rsa) {
    EVP_PKEY *k = NULL;
    const char *why = NULL;
    int r = jose_jwk_to_pkey(jwk, &k, &why);
    if (r < 0) {
        if (r != -EBADMSG && r != -EPROTONOSUPPORT && r != -ENOMEM && r != -E2BIG)
            abort();
        if (r != -ENOMEM && !why)
            abort();
        return;
    }
    (void)jose_jwk_rsa_equals(jwk, rsa);
    EVP_PKEY_free(k);
}

static void one_jws(const uint8_t *data, size_t size, EVP_PKEY *rsa) {
    JoseJws *jws = NULL;
    const char *why = NULL;
    int r = jose_jws_parse((const char *)data, size, &jws, &why);
    if (r < 0) {
        if ((r != -EBADMSG && r != -E2BIG && r != -ENOMEM) || (r != -ENOMEM && !why))
            abort();
        return;
    }
    if (!cJSON_IsObject(jws->header) || !cJSON_IsObject(jws->payload) || !jws->alg_name ||
        jws->signature_len == 0 || jws->signature_len > JOSE_MAX_SIGNATURE)
        abort();
    /* nobody holds the private half of a key made here: nothing may verify */
    if (jose_jws_verify(jws, rsa, all_algs, &why) == 0 || !why)
        abort();
    check_key(jws->header, rsa);
    (void)jose_jwks_find(jws->payload, jws->kid);
    X509 *leaf = NULL;
    STACK_OF(X509) *rest = NULL;
    if (jose_x5c_parse(cJSON_GetObjectItemCaseSensitive(jws->header, "x5c"), &leaf, &rest, &why) ==
        0) {
        (void)jose_check_thumbprints(jws->header, leaf, &why);
        X509_free(leaf);
        sk_X509_pop_free(rest, X509_free);
    }
    jose_jws_free(jws);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static EVP_PKEY *rsa;
    cJSON *json = NULL;
    if (!rsa && !(rsa = EVP_RSA_gen(2048)))
        abort();
    one_jws(data, size, rsa);
    if (json_parse(data, size, &json) == 0) {
        const cJSON *keys = json_get_array(json, "keys"), *k;
        check_key(json, rsa);
        cJSON_ArrayForEach(k, keys) check_key(k, rsa);
        cJSON_Delete(json);
    }
    return 0;
}
