/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: MAA's sealed AzureGuest reply envelope (attest/azureguest.c
 * attest_sealed_parse), the untrusted answer parsed before the TPM sees it.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "common/json.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool init;
    AttestSealed s;
    if (!init) {
        json_init();
        init = true;
    }
    int r = attest_sealed_parse((const char *)data, size, &s);
    if (r < 0) {
        if (r != -EBADMSG)
            abort();
        return 0;
    }
    /* what a success promises the TPM and AES-GCM steps */
    if (!s.inner_key || !s.ciphertext || s.iv_len == 0 || s.iv_len > 64)
        abort();
    attest_sealed_done(&s);
    return 0;
}
