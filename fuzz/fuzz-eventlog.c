/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the event-log parser/replayer (tpm/eventlog.c), as a TPM log
 * and as a CCEL log, plus the CCEL detection and the accessors.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "fuzz/fuzz.h"
#include "tpm/eventlog.h"

static int count_event(const EventLogEvent *ev, void *userdata) {
    size_t *n = userdata;
    (*n)++;
    return ev->size == 0 ? -1 : 0; /* every event has a header */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    EventLogReplay *r = calloc(1, sizeof(*r));
    if (!r)
        return 0;
    for (int ccel = 0; ccel <= 1; ccel++) {
        char *err = NULL;
        size_t n = 0;
        int k = eventlog_replay_cb(data, size, ccel, r, &err, count_event, &n);
        if (k == 0 && (n != r->n_events || r->end_offset > size || r->n_banks == 0))
            abort(); /* a successful replay must account for every event */
        if (k < 0 && k != -EBADMSG && k != -ENOMEM && k != -EOPNOTSUPP)
            abort();
        if (k == 0) {
            uint8_t mr[48];
            (void)eventlog_bank(r, "sha256");
            for (unsigned i = 0; i < 4; i++)
                (void)eventlog_rtmr(r, i, mr);
        }
        free(err);
    }
    (void)eventlog_looks_like_ccel(data, size);
    free(r);
    return 0;
}
