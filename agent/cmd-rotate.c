/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cvm-agent rotate [--name N | --all] [--if-needed] [--json]
 *
 * Moves secrets to the CMK's newest version (store_rewrap: per secret,
 * idempotent, resumable). Ephemeral secrets are skipped: boot regenerates them.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/key-provider.h"
#include "common/json.h"
#include "common/log.h"

void rotate_usage(FILE *f) {
    fprintf(f, "Usage: cvm-agent rotate (--name N | --all) [OPTIONS]\n"
               "Move secrets to the newest version of the customer-managed key.\n"
               "      --name N         this secret\n"
               "      --all            every secret in the store (ephemeral ones are skipped)\n"
               "      --if-needed      exit 0 without attesting when all are current\n"
               "      --json           print a JSON object\n"
               "  -h, --help           this help\n");
}

/* 1 when name is behind the newest version, 0 when current or skipped, <0 error. */
static int is_behind(AgentStore *s, const char *name, bool *ephemeral) {
    StoreStatus st = {0};
    int r = store_status(s->store, name, &st);
    if (r < 0) {
        log_error("cannot read '%s': %s", name, store_last_error(s->store));
        return r;
    }
    *ephemeral = st.ephemeral;
    if (!st.newest) {
        store_status_done(&st);
        /* the provider logged why; keep its class (a 401 is not "try later") */
        r = s->newest_error < 0 ? s->newest_error : -EAGAIN;
        return log_error_errno(r, "the newest version of %s is unknown", s->key_url);
    }
    r = st.behind && !st.ephemeral;
    store_status_done(&st);
    return r;
}

static int rotate_one(AgentStore *s, const char *name, cJSON *arr) {
    bool ephemeral = false, changed = false;
    int r = is_behind(s, name, &ephemeral);
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o))
        return cJSON_Delete(o), -ENOMEM;
    json_add_string(o, "name", name);
    if (r == 0 || r < 0) {
        json_add_string(o, "result",
                        r < 0       ? "error"
                        : ephemeral ? "skipped (ephemeral)"
                                    : "current");
        return r;
    }
    r = agent_exit_to_errno(agent_store_attest(s));
    if (r < 0)
        log_error("cannot rotate '%s': the attestation of this VM failed (above)", name);
    else if ((r = store_rewrap(s->store, name, NULL, NULL, &changed)) < 0)
        log_error("cannot rotate '%s': %s", name, store_last_error(s->store));
    else
        log_notice("'%s' now uses the newest key version", name);
    json_add_string(o, "result", r < 0 ? "error" : changed ? "rotated" : "current");
    return r;
}

static bool any_rotated(const cJSON *arr) {
    const cJSON *o;
    cJSON_ArrayForEach(o, arr) {
        if (streq_ptr(json_get_string(o, "result"), "rotated"))
            return true;
    }
    return false;
}

int cmd_rotate(AgentContext *ctx, int argc, char **argv) {
    enum { OPT_NAME = 0x100, OPT_ALL, OPT_IF_NEEDED, OPT_JSON };
    static const struct option options[] = {
        {"name", required_argument, NULL, OPT_NAME},
        {"all", no_argument, NULL, OPT_ALL},
        {"if-needed", no_argument, NULL, OPT_IF_NEEDED},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *name = NULL;
    bool all = false, if_needed = false, json = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h': rotate_usage(stdout); return CVM_EXIT_OK;
        case OPT_NAME: name = optarg; break;
        case OPT_ALL: all = true; break;
        case OPT_IF_NEEDED: if_needed = true; break;
        case OPT_JSON: json = true; break;
        default: fprintf(stderr, "see 'cvm-agent rotate --help'\n"); return CVM_EXIT_USAGE;
        }
    }
    if (optind < argc || !!name == all || (name && !store_name_is_valid(name)))
        return log_error("rotate: give either --name N or --all"), CVM_EXIT_USAGE;
    AgentStore s;
    char **names = NULL;
    size_t n = 0;
    int e = agent_store_open(ctx, &s);
    _cleanup_json_ cJSON *out = cJSON_CreateObject();
    cJSON *arr = out ? cJSON_AddArrayToObject(out, "secrets") : NULL;
    if (e == CVM_EXIT_OK && !arr)
        e = CVM_EXIT_PLATFORM;
    if (e == CVM_EXIT_OK && all && store_list(s.store, &names, &n) < 0) {
        log_error("cannot list the secrets: %s", store_last_error(s.store));
        e = CVM_EXIT_PLATFORM;
    }
    /* rotate only ever touches secrets that are behind: --if-needed (the timer's
     * spelling) states that, and adds a line when there was nothing to do */
    int worst = 0;
    for (size_t i = 0; e == CVM_EXIT_OK && i < (all ? n : 1); i++) {
        int r = rotate_one(&s, all ? names[i] : name, arr);
        if (r < 0 && (worst == 0 || cvm_exit_from_errno(r) > cvm_exit_from_errno(worst)))
            worst = r;
    }
    if (e == CVM_EXIT_OK)
        e = cvm_exit_from_errno(worst);
    if (e == CVM_EXIT_OK && if_needed && !any_rotated(arr))
        log_info("every secret is on the newest key version: nothing to do");
    if (out && (e == CVM_EXIT_OK || json)) {
        if (json)
            agent_print_json(out);
        else
            agent_print_text(out);
    }
    store_list_free(names);
    agent_store_done(&s);
    return e;
}
