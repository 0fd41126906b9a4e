/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A TCTI in front of the loaded one that times every TPM command, from
 * transmit until its response is read: every ESYS and SAPI call of tpm/
 * passes here, so this one place sees all TPM time (`--timings`), whatever
 * the TCTI (device, swtpm, mssim) and including commands retried.
 */
#include "config.h"

#include <stdlib.h>

#include <tss2/tss2_tctildr.h>

#include "common/timing.h"
#include "tpm/tpm-internal.h"

#define TIMED_TCTI_MAGIC 0x63766d74696d6564ull /* "cvmtimed" */

typedef struct TimedTcti {
    TSS2_TCTI_CONTEXT_COMMON_V2 common; /* first: ESYS sees a TCTI */
    TSS2_TCTI_CONTEXT *inner;
    uint64_t sent_ns; /* 0 when no command is outstanding */
} TimedTcti;

static TimedTcti *timed(TSS2_TCTI_CONTEXT *ctx) {
    return (TimedTcti *)ctx;
}

static TSS2_RC timed_transmit(TSS2_TCTI_CONTEXT *ctx, size_t size, const uint8_t *command) {
    TimedTcti *t = timed(ctx);
    t->sent_ns = timing_now_ns();
    return Tss2_Tcti_Transmit(t->inner, size, command);
}

static TSS2_RC timed_receive(TSS2_TCTI_CONTEXT *ctx, size_t *size, uint8_t *response,
                             int32_t timeout) {
    TimedTcti *t = timed(ctx);
    TSS2_RC rc = Tss2_Tcti_Receive(t->inner, size, response, timeout);
    /* a NULL response only asks for the size; TRY_AGAIN is not an answer yet */
    if (response && t->sent_ns && rc != TSS2_TCTI_RC_TRY_AGAIN) {
        timing_add(TIMING_TPM, timing_now_ns() - t->sent_ns);
        t->sent_ns = 0;
    }
    return rc;
}

static void timed_finalize(TSS2_TCTI_CONTEXT *ctx) {
    (void)ctx; /* the owner calls tpm_timed_tcti_free() */
}

static TSS2_RC timed_cancel(TSS2_TCTI_CONTEXT *ctx) {
    return Tss2_Tcti_Cancel(timed(ctx)->inner);
}

static TSS2_RC timed_get_poll_handles(TSS2_TCTI_CONTEXT *ctx, TSS2_TCTI_POLL_HANDLE *handles,
                                      size_t *num_handles) {
    return Tss2_Tcti_GetPollHandles(timed(ctx)->inner, handles, num_handles);
}

static TSS2_RC timed_set_locality(TSS2_TCTI_CONTEXT *ctx, uint8_t locality) {
    return Tss2_Tcti_SetLocality(timed(ctx)->inner, locality);
}

static TSS2_RC timed_make_sticky(TSS2_TCTI_CONTEXT *ctx, TPM2_HANDLE *handle, uint8_t sticky) {
    return Tss2_Tcti_MakeSticky(timed(ctx)->inner, handle, sticky);
}

TSS2_TCTI_CONTEXT *tpm_timed_tcti_new(TSS2_TCTI_CONTEXT *inner) {
    TimedTcti *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->inner = inner;
    t->common.v1.magic = TIMED_TCTI_MAGIC;
    t->common.v1.version = TSS2_TCTI_VERSION(inner) >= 2 ? 2 : 1;
    t->common.v1.transmit = timed_transmit;
    t->common.v1.receive = timed_receive;
    t->common.v1.finalize = timed_finalize;
    t->common.v1.cancel = timed_cancel;
    t->common.v1.getPollHandles = timed_get_poll_handles;
    t->common.v1.setLocality = timed_set_locality;
    t->common.makeSticky = timed_make_sticky;
    return (TSS2_TCTI_CONTEXT *)t;
}

void tpm_timed_tcti_free(TSS2_TCTI_CONTEXT *ctx) {
    if (!ctx)
        return;
    Tss2_TctiLdr_Finalize(&timed(ctx)->inner);
    free(ctx);
}
