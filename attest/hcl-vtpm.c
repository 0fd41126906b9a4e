/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Obtaining the Azure HCL report from the vTPM, fresh when asked
 * (azure-wire-formats.md §1.5): the report source of both SNP and TDX VMs.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/attest.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "tpm/tpm.h"

/* Reads the HCL report; with data, writes the user-data index first and
 * polls until the report's runtime claims carry it, within deadline_ms. The
 * TPM is released between polls so the paravisor side (and other users of
 * an exclusive /dev/tpm0) are not blocked while we wait. */
int hcl_vtpm_read(const char *tcti, const uint8_t *data, uint64_t deadline_ms, uint8_t **ret,
                  size_t *ret_len) {
    int r;
    if (data) {
        _cleanup_tpm_ TpmContext *t = NULL;
        r = tpm_open(tcti, &t);
        if (r < 0)
            return log_error_errno(r, "cannot open the TPM '%s': %s", tcti, tpm_last_error(NULL)),
                   r;
        r = tpm_nv_write(t, HCL_NV_INDEX_USER_DATA, data, HCL_USER_DATA_SIZE);
        if (r < 0)
            return log_error_errno(r, "cannot write the HCL user data to NV 0x%08x: %s",
                                   HCL_NV_INDEX_USER_DATA, strerror(-r)),
                   r;
    }
    uint64_t start = now_monotonic_ms(), wait = 20;
    int last_err = 0;
    for (unsigned polls = 1;; polls++) {
        _cleanup_free_ uint8_t *d = NULL;
        size_t n = 0;
        {
            _cleanup_tpm_ TpmContext *t = NULL;
            r = tpm_open(tcti, &t);
            if (r < 0)
                return log_error_errno(r, "cannot open the TPM '%s': %s", tcti,
                                       tpm_last_error(NULL)),
                       r;
            r = tpm_nv_read(t, HCL_NV_INDEX_REPORT, &d, &n);
        }
        if (r == -ENOENT && !data)
            return log_error_errno(r, "the vTPM has no HCL report (NV 0x%08x undefined)",
                                   HCL_NV_INDEX_REPORT),
                   r;
        /* while the paravisor rewrites it the index may be briefly undefined or
         * unwritten: when polling, that is "not yet" until the deadline */
        if (r < 0)
            last_err = r;
        if (r < 0 && !data)
            return log_error_errno(r, "cannot read the HCL report from NV 0x%08x: %s",
                                   HCL_NV_INDEX_REPORT, strerror(-r)),
                   r;
        if (!data) {
            *ret = TAKE_PTR(d);
            *ret_len = n;
            return 0;
        }
        HclReport h;
        _cleanup_json_ cJSON *claims = NULL;
        uint8_t ud[HCL_USER_DATA_SIZE];
        if (r == 0 && hcl_report_parse(d, n, &h, NULL) == 0 &&
            hcl_runtime_claims(&h, &claims) == 0 && hcl_user_data(claims, ud) == 0 &&
            memcmp(ud, data, sizeof(ud)) == 0) {
            log_debug("fresh HCL report after %u read(s)", polls);
            *ret = TAKE_PTR(d);
            *ret_len = n;
            return 0;
        }
        uint64_t elapsed = now_monotonic_ms() - start;
        if (elapsed >= deadline_ms)
            return log_error_errno(-ETIMEDOUT,
                                   "the HCL report did not reflect the new user data within "
                                   "%llu ms (%u reads%s%s)",
                                   (unsigned long long)deadline_ms, polls,
                                   last_err ? "; last read: " : "",
                                   last_err ? strerror(-last_err) : ""),
                   -ETIMEDOUT;
        if (wait > deadline_ms - elapsed)
            wait = deadline_ms - elapsed;
        struct timespec ts = {.tv_sec = (time_t)(wait / 1000),
                              .tv_nsec = (long)(wait % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        wait = wait * 2 > 500 ? 500 : wait * 2; /* backoff, capped */
    }
}
