/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cvm-agent unseal --name N [--out FILE|-] [--json]
 *
 * Attests, releases the envelope's CMK version and opens the secret. When the
 * PCRs changed since the stored approval, the approval is re-signed for the
 * current values only because the attestation of this boot succeeded.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/key-provider.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"

void unseal_usage(FILE *f) {
    fprintf(f, "Usage: cvm-agent unseal --name N [OPTIONS]\n"
               "Open a secret: attest, release its key version, unseal in the vTPM.\n"
               "      --name N         the secret's name\n"
               "      --out FILE|-     write the secret there (0600), or to stdout with -\n"
               "      --json           print a JSON object (never the secret)\n"
               "  -h, --help           this help\n");
}

static void pcr_list(uint32_t mask, char *buf, size_t size) {
    size_t n = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < 24 && n < size; i++)
        if (mask & (1u << i))
            n += (size_t)snprintf(buf + n, size - n, "%s%u", n ? "," : "", i);
}

static int deliver(const char *out, const SecretBuf *secret) {
    if (streq(out, "-")) {
        size_t off = 0;
        while (off < secret->len) {
            ssize_t w = write(STDOUT_FILENO, secret->data + off, secret->len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return log_error_errno(-EIO, "cannot write the secret to stdout");
            off += (size_t)w;
        }
        return 0;
    }
    int r = write_file_atomic(out, secret->data, secret->len, 0600);
    return r < 0 ? log_error_errno(-EIO, "cannot write the secret to '%s': %s", out, strerror(-r))
                 : 0;
}

/* Unseals name with s; the secret into *ret. A CvmExit. Shared with boot. */
int agent_unseal(AgentStore *s, const char *name, StoreOpenResult *ret) {
    int e = agent_store_attest(s);
    int r = store_open(s->store, name, e == CVM_EXIT_OK, ret);
    if (r < 0) {
        log_error("cannot unseal '%s': %s", name, store_last_error(s->store));
        return e != CVM_EXIT_OK ? e : (int)cvm_exit_from_errno(r);
    }
    if (ret->reauthorized) {
        char pcrs[96];
        pcr_list(ret->changed_pcrs, pcrs, sizeof(pcrs));
        log_notice("'%s': PCR %s changed since the stored approval; re-authorized for the "
                   "current values after a successful attestation",
                   name, pcrs);
    }
    if (ret->warning)
        log_warning("'%s': %s", name, ret->warning);
    return CVM_EXIT_OK;
}

int cmd_unseal(AgentContext *ctx, int argc, char **argv) {
    enum { OPT_NAME = 0x100, OPT_OUT, OPT_JSON };
    static const struct option options[] = {
        {"name", required_argument, NULL, OPT_NAME},
        {"out", required_argument, NULL, OPT_OUT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *name = NULL, *out = NULL;
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h': unseal_usage(stdout); return CVM_EXIT_OK;
        case OPT_NAME: name = optarg; break;
        case OPT_OUT: out = optarg; break;
        case OPT_JSON: json = true; break;
        default: fprintf(stderr, "see 'cvm-agent unseal --help'\n"); return CVM_EXIT_USAGE;
        }
    }
    if (optind < argc || !name || !store_name_is_valid(name))
        return log_error("unseal: give --name N and no other argument"), CVM_EXIT_USAGE;
    if (out && streq(out, "-") && json)
        return log_error("unseal: --out - and --json both want stdout"), CVM_EXIT_USAGE;
    AgentStore s;
    StoreOpenResult res = {0};
    int e = agent_store_open(ctx, &s);
    if (e == CVM_EXIT_OK)
        e = agent_unseal(&s, name, &res);
    if (e == CVM_EXIT_OK && out && deliver(out, res.secret) < 0)
        e = CVM_EXIT_PLATFORM;
    if (e == CVM_EXIT_OK && !(out && streq(out, "-"))) {
        _cleanup_json_ cJSON *o = cJSON_CreateObject();
        if (o) {
            json_add_string(o, "name", name);
            json_add_bool(o, "unsealed", true);
            json_add_string(o, "version", res.key_version);
            json_add_bool(o, "reauthorized", res.reauthorized);
            json_add_int(o, "length", (int64_t)res.secret->len);
            if (out)
                json_add_string(o, "written_to", out);
            if (json)
                e = agent_print_json(o);
            else
                agent_print_text(o);
        }
    }
    store_open_result_done(&res);
    agent_store_done(&s);
    return e;
}
