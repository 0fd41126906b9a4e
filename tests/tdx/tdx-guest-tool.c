/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test helper: drives the tdx/ guest interfaces directly so the integration
 * tests exercise their marshalling against fakes (LD_PRELOAD shim for the
 * ioctl and configfs, a Python IMDS fixture).
 *   tdx-guest-tool report DEVICE REPORTDATA-HEX OUT
 *   tdx-guest-tool configfs TSM-DIR REPORTDATA-HEX OUT
 *   tdx-guest-tool imds BASE-URL TDREPORT-FILE OUT
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/fileio.h"
#include "common/http.h"
#include "common/json.h"
#include "common/log.h"
#include "tdx/tdx.h"

static int write_out(const char *path, const void *d, size_t n) {
    int r = write_file_atomic(path, d, n, 0644);
    if (r < 0)
        fprintf(stderr, "cannot write '%s': %s\n", path, strerror(-r));
    return r < 0 ? 1 : 0;
}

int main(int argc, char **argv) {
    uint8_t rd[TDX_REPORT_DATA_SIZE] = {0};
    int r;

    json_init();
    log_set_max_level(LOG_DEBUG);
    if (argc != 5) {
        fprintf(stderr, "usage: %s report|configfs|imds ARG DATA OUT\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "report") == 0 || strcmp(argv[1], "configfs") == 0) {
        if (hex_decode_fixed(argv[3], rd, sizeof(rd)) < 0) {
            fprintf(stderr, "report data must be 64 bytes of hex\n");
            return 2;
        }
    }
    if (strcmp(argv[1], "report") == 0) {
        uint8_t rep[TDX_TDREPORT_SIZE];
        r = tdx_guest_get_report(argv[2], rd, rep);
        if (r < 0) {
            fprintf(stderr, "get report: %s\n", strerror(-r));
            return 1;
        }
        return write_out(argv[4], rep, sizeof(rep));
    }
    if (strcmp(argv[1], "configfs") == 0) {
        uint8_t *q = NULL;
        size_t n = 0;
        r = tdx_configfs_get_quote(argv[2], rd, &q, &n);
        if (r < 0) {
            fprintf(stderr, "configfs quote: %s\n", strerror(-r));
            return 1;
        }
        r = write_out(argv[4], q, n);
        free(q);
        return r;
    }
    if (strcmp(argv[1], "imds") == 0) {
        uint8_t *rep = NULL, *q = NULL;
        size_t rl = 0, n = 0;
        char *err = NULL;
        HttpConfig http = {.allow_plain_http_loopback = true,
                           .max_attempts = 3,
                           .backoff_initial_ms = 20,
                           .timeout_ms = 5000,
                           .deadline_ms = 20000};
        r = read_file(argv[3], FILE_MAX_EVIDENCE, &rep, &rl);
        if (r < 0 || rl != TDX_TDREPORT_SIZE) {
            fprintf(stderr, "'%s' is not a 1024-byte TDREPORT\n", argv[3]);
            free(rep);
            return 2;
        }
        r = tdx_imds_get_quote(&http, argv[2], rep, &q, &n, &err);
        free(rep);
        if (r < 0) {
            fprintf(stderr, "imds quote: %s (%s)\n", err ? err : "?", strerror(-r));
            free(err);
            return 1;
        }
        r = write_out(argv[4], q, n);
        free(q);
        return r;
    }
    fprintf(stderr, "unknown mode '%s'\n", argv[1]);
    return 2;
}
