/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Where a run's time went, measured by the process itself (`--timings`):
 * the time spent waiting on the TPM (each command, transmit to response) and
 * on network endpoints (each HTTP attempt), next to the run's wall and CPU
 * time and peak RSS. The lower layers always accumulate (two clock reads per
 * TPM command or HTTP attempt); only the agent decides whether to print.
 */
#ifndef CVM_COMMON_TIMING_H
#define CVM_COMMON_TIMING_H

#include <stdint.h>

typedef enum {
    TIMING_TPM,      /* TPM commands: transmit until the response is read */
    TIMING_ENDPOINT, /* HTTP attempts: curl_easy_perform() */
    TIMING_N_KINDS,
} TimingKind;

typedef struct TimingReport {
    double wall_ms; /* since timing_start() */
    double cpu_user_ms, cpu_sys_ms;
    double tpm_ms, endpoint_ms; /* accumulated */
    unsigned tpm_commands, endpoint_requests;
    long max_rss_kib; /* getrusage ru_maxrss */
} TimingReport;

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t timing_now_ns(void);
/* Marks the start of the run (wall time is measured from here). */
void timing_start(void);
/* Adds one measured interval of the kind. */
void timing_add(TimingKind kind, uint64_t ns);
/* The figures so far. */
void timing_report(TimingReport *ret);

#endif
