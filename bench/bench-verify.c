/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Offline verification throughput for `make bench`: verifies the same real
 * report (or TD quote) over and over in one process with the functions
 * `cvm-agent verify` calls — parse, then snp_verify() and snp_policy_check()
 * (or tdx_quote_verify()) — the certificates loaded once, as a warm cache
 * holds them, at a pinned time. Prints "RATE": verifications per second of
 * this process's CPU time, as `openssl speed` counts (user time): on a shared
 * machine wall-clock rates measure the neighbours.
 *
 *   bench-verify snp REPORT VCEK CHAIN EPOCH SECONDS
 *   bench-verify snp-sig REPORT VCEK CHAIN EPOCH SECONDS
 *   bench-verify tdx QUOTE EPOCH SECONDS
 *
 * snp-sig times only the report's own signature (parse and
 * snp_report_verify_signature), the ceiling of what a verifier that caches
 * its verdict on the certificate chain could reach.
 *
 * Before timing it checks both directions: the report verifies, and the same
 * report with one signed byte flipped does not; otherwise it exits 1.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/crypto.h"
#include "common/fileio.h"
#include "common/util.h"
#include "snp/snp.h"
#include "tdx/tdx.h"

typedef struct SnpBench {
    const uint8_t *report;
    size_t len;
    SnpVerifyInput in;
    SnpPolicy policy;
    bool signature_only;
} SnpBench;

typedef struct TdxBench {
    const uint8_t *quote;
    size_t len;
    TdxVerifyParams params;
} TdxBench;

/* One verification as `verify --snp-report` does it; 0 when verified. */
static int snp_once(const SnpBench *b) {
    SnpReport rep;
    SnpVerifyResult res;
    const char *err = NULL, *failed = NULL;
    char reason[512];
    int r = snp_report_parse(b->report, b->len, &rep, &err);
    if (r < 0)
        return r;
    if (b->signature_only)
        return snp_report_verify_signature(&rep, X509_get0_pubkey(b->in.signer));
    r = snp_verify(&rep, &b->in, &res);
    if (r < 0)
        return r;
    return snp_policy_check(&rep, &b->policy, &failed, reason, sizeof(reason));
}

/* One verification as `verify --tdx-quote` does it; 0 when verified. */
static int tdx_once(const TdxBench *b) {
    TdxQuote q;
    TdxVerifyResult res;
    char *err = NULL;
    int r = tdx_quote_parse(b->quote, b->len, &q, &err);
    free(err);
    if (r < 0)
        return r;
    r = tdx_quote_verify(&q, &b->params, &res);
    tdx_verify_result_done(&res);
    return r;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs once() for seconds of CPU time; verifications per CPU second, or < 0. */
static double rate(int (*once)(const void *), const void *ctx, double seconds) {
    size_t n = 0;
    double start = cpu_s(), t;
    do {
        for (int i = 0; i < 16; i++, n++)
            if (once(ctx) != 0)
                return -1;
        t = cpu_s() - start;
    } while (t < seconds);
    return (double)n / t;
}

static int snp_once_v(const void *b) {
    return snp_once(b);
}

static int tdx_once_v(const void *b) {
    return tdx_once(b);
}

/* Both directions: the evidence verifies, and with byte off flipped it does not. */
static int check_directions(int (*once)(const void *), void *ctx, uint8_t *data, size_t off) {
    if (once(ctx) != 0) {
        fprintf(stderr, "bench-verify: the evidence does not verify\n");
        return -1;
    }
    data[off] ^= 1;
    int r = once(ctx);
    data[off] ^= 1;
    if (r == 0) {
        fprintf(stderr, "bench-verify: altered evidence verified\n");
        return -1;
    }
    return 0;
}

static int bench_snp(char **argv, bool signature_only) {
    _cleanup_free_ uint8_t *report = NULL, *vcek = NULL, *chain = NULL;
    size_t rlen, vlen, clen;
    _cleanup_x509_ X509 *signer = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *certs = NULL;
    if (read_file(argv[0], FILE_MAX_EVIDENCE, &report, &rlen) < 0 ||
        read_file(argv[1], FILE_MAX_EVIDENCE, &vcek, &vlen) < 0 ||
        read_file(argv[2], FILE_MAX_EVIDENCE, &chain, &clen) < 0 ||
        crypto_load_cert(vcek, vlen, &signer) < 0 ||
        crypto_load_cert_chain(chain, clen, &certs) < 0) {
        fprintf(stderr, "bench-verify: cannot load the report, VCEK or chain\n");
        return 2;
    }
    SnpBench b = {.report = report, .len = rlen, .signature_only = signature_only};
    b.in = (SnpVerifyInput){.signer = signer, .chain = certs, .at = strtoll(argv[3], NULL, 10)};
    snp_policy_init(&b.policy);
    b.policy.allow_debug = true; /* the testdata's report is a debug guest's */
    if (check_directions(snp_once_v, &b, report, 0x90 /* MEASUREMENT */) < 0)
        return 1;
    double r = rate(snp_once_v, &b, strtod(argv[4], NULL));
    if (r < 0)
        return 1;
    printf("%.1f\n", r);
    return 0;
}

static int bench_tdx(char **argv) {
    _cleanup_free_ uint8_t *quote = NULL;
    size_t len;
    if (read_file(argv[0], FILE_MAX_EVIDENCE, &quote, &len) < 0) {
        fprintf(stderr, "bench-verify: cannot read the quote '%s'\n", argv[0]);
        return 2;
    }
    TdxBench b = {.quote = quote, .len = len, .params = {.at = strtoll(argv[1], NULL, 10)}};
    if (check_directions(tdx_once_v, &b, quote, 48 + 136 /* MRTD */) < 0)
        return 1;
    double r = rate(tdx_once_v, &b, strtod(argv[2], NULL));
    if (r < 0)
        return 1;
    printf("%.1f\n", r);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 7 && (strcmp(argv[1], "snp") == 0 || strcmp(argv[1], "snp-sig") == 0))
        return bench_snp(argv + 2, strcmp(argv[1], "snp-sig") == 0);
    if (argc == 5 && strcmp(argv[1], "tdx") == 0)
        return bench_tdx(argv + 2);
    fprintf(stderr, "usage: bench-verify snp|snp-sig REPORT VCEK CHAIN EPOCH SECONDS\n"
                    "       bench-verify tdx QUOTE EPOCH SECONDS\n");
    return 2;
}
