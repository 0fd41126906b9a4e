/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Process-wide accumulators: the TPM and HTTP layers add to them without a
 * context to thread through, as the agent is single-threaded.
 */
#include "config.h"

#include <sys/resource.h>
#include <time.h>

#include "common/timing.h"

static uint64_t start_ns;
static uint64_t total_ns[TIMING_N_KINDS];
static unsigned counts[TIMING_N_KINDS];

uint64_t timing_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void timing_start(void) {
    start_ns = timing_now_ns();
}

void timing_add(TimingKind kind, uint64_t ns) {
    if ((unsigned)kind >= TIMING_N_KINDS)
        return;
    total_ns[kind] += ns;
    counts[kind]++;
}

static double tv_ms(struct timeval tv) {
    return (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3;
}

void timing_report(TimingReport *ret) {
    struct rusage ru = {0};
    (void)getrusage(RUSAGE_SELF, &ru);
    *ret = (TimingReport){
        .wall_ms = start_ns ? (double)(timing_now_ns() - start_ns) / 1e6 : 0,
        .cpu_user_ms = tv_ms(ru.ru_utime),
        .cpu_sys_ms = tv_ms(ru.ru_stime),
        .tpm_ms = (double)total_ns[TIMING_TPM] / 1e6,
        .endpoint_ms = (double)total_ns[TIMING_ENDPOINT] / 1e6,
        .tpm_commands = counts[TIMING_TPM],
        .endpoint_requests = counts[TIMING_ENDPOINT],
        .max_rss_kib = ru.ru_maxrss,
    };
}
