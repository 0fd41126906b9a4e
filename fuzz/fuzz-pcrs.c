/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: PCR value files (tpm_pcrs_parse: JSON, tpm2_pcrread YAML,
 * tpm2_eventlog's "pcrs:" section) and, as a NUL-terminated string, the
 * PCR selection syntax (tpm_pcr_selection_parse).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "tpm/tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static TpmPcrBank banks[TPM_MAX_BANKS];
    size_t n = 0;
    int k = tpm_pcrs_parse((const char *)data, size, banks, &n);
    if (k == 0 && n > TPM_MAX_BANKS)
        abort();
    if (k < 0 && k != -EBADMSG && k != -ENOMEM && k != -EINVAL)
        abort();

    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    TpmPcrSelection sel;
    (void)tpm_pcr_selection_parse(s, &sel);
    free(s);
    return 0;
}
