/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the Azure HCL report parser (attest/hcl.c), the runtime-data
 * binding check and the runtime-claims lookups, and the SNP report inside.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "attest/attest.h"
#include "common/json.h"
#include "fuzz/fuzz.h"
#include "snp/snp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    HclReport h;
    const char *err = NULL;
    int k = hcl_report_parse(data, size, &h, &err);
    if (k < 0) {
        if (k != -EBADMSG || !err)
            abort();
        return 0;
    }
    if (h.var_data < data || h.var_data_len > size ||
        (size_t)(h.var_data - data) > size - h.var_data_len)
        abort();
    char *hex = NULL;
    (void)hcl_runtime_data_bound(&h, &hex);
    free(hex);
    cJSON *claims = NULL;
    if (hcl_runtime_claims(&h, &claims) == 0) {
        uint8_t ud[HCL_USER_DATA_SIZE];
        (void)hcl_find_jwk(claims, "HCLAkPub");
        (void)hcl_user_data(claims, ud);
        cJSON_Delete(claims);
    }
    if (h.report_type == HCL_REPORT_SNP) {
        SnpReport *r = malloc(sizeof(*r));
        if (r)
            (void)snp_report_parse(h.hw_report, h.hw_report_len, r, &err);
        free(r);
    }
    return 0;
}
