/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the HCL report's runtime claims JSON (attest/hcl.c) on its own,
 * so that the fuzzer mutates the JSON rather than the binary header around
 * it: the claims, the AK/EK JWK lookup, user-data, and the runtime-data
 * binding.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "attest/attest.h"
#include "common/json.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    HclReport h = {
        .report_type = HCL_REPORT_SNP,
        .var_data = data,
        .var_data_len = size,
    };
    cJSON *claims = NULL;
    int k = hcl_runtime_claims(&h, &claims);
    if (k == 0) {
        uint8_t ud[HCL_USER_DATA_SIZE];
        (void)hcl_find_jwk(claims, "HCLAkPub");
        (void)hcl_find_jwk(claims, "HCLEkPub");
        (void)hcl_user_data(claims, ud);
        cJSON_Delete(claims);
    } else if (k != -EBADMSG && k != -ENOMEM)
        abort();

    char *hex = NULL;
    h.hash_type = HCL_HASH_SHA256;
    if (hcl_runtime_data_bound(&h, &hex))
        abort(); /* report_data is zero: no non-empty JSON hashes to it */
    free(hex);
    return 0;
}
