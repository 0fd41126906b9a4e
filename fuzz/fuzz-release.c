/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the release module's parsers (release/). The input is tried
 * as a release response (verified against an empty trust store: it must
 * never verify), as an unsigned release payload, as a release policy
 * (parsed, then evaluated against fixed claims: satisfied, not, or
 * malformed, never anything else), and as AES-KWP-wrapped key material under
 * a fixed key (the unwrap must fail or give a parsed key).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "fuzz/fuzz.h"
#include "release/release.h"

static const char claims_text[] =
    "{\"iss\":\"https://sharedeus.eus.attest.azure.net\",\"x-ms-attestation-type\":\"azurevm\","
    "\"x-ms-isolation-tee\":{\"x-ms-attestation-type\":\"sevsnpvm\","
    "\"x-ms-compliance-status\":\"azure-compliant-cvm\"},\"n\":219,\"b\":true}";

static void as_response(const char *text, size_t size) {
    STACK_OF(X509) *none = sk_X509_new_null();
    ReleaseJwsCheck chk = {.trusted = none, .at = 1700000000};
    ReleasedKeyInfo info;
    char *err = NULL;
    if (!none)
        return;
    int r = release_jws_verify(text, size, &chk, &info, &err);
    if (r == 0)
        abort(); /* nothing chains to no root */
    if (r != -ENOMEM && !err)
        abort();
    free(err);
    released_key_info_done(&info);
    sk_X509_free(none);
    err = NULL;
    r = release_payload_decode(text, size, &info, &err);
    if (r < 0 && r != -EBADMSG && r != -ENOMEM)
        abort();
    free(err);
    released_key_info_done(&info);
}

static void as_policy(const char *text, size_t size) {
    cJSON *policy = NULL, *claims = NULL;
    PolicyResult res;
    if (release_policy_parse(text, size, &policy, NULL) < 0)
        return;
    if (json_parse(claims_text, strlen(claims_text), &claims) == 0) {
        int r = release_policy_eval(policy, claims, &res);
        if (r != 0 && r != -EKEYREJECTED && r != -EBADMSG && r != -ENOMEM)
            abort();
        if (r == 0 && !res.satisfied)
            abort();
    }
    cJSON_Delete(claims);
    cJSON_Delete(policy);
}

static void as_wrapped(const uint8_t *data, size_t size) {
    static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    SecretBuf *aes = secret_dup(key, sizeof(key));
    ReleasedKey k;
    char why[256];
    if (!aes)
        return;
    for (int oct = 0; oct < 2; oct++) {
        int r = release_unwrap_material(aes, data, size, oct, &k, why, sizeof(why));
        if (r == 0 && !k.der)
            abort();
        released_key_done(&k);
    }
    secret_free(aes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        json_init();
        init = 1;
    }
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    as_response(text, size);
    as_policy(text, size);
    as_wrapped(data, size);
    free(text);
    return 0;
}
