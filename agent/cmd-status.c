/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cvm-agent status [--json]
 *
 * Per secret: the key version in use vs the newest, whether the approval
 * covers the current PCRs, the envelope version, ephemeral; the key's exp and
 * the rotation policy's next rotation when readable. Exit 1 when a secret is
 * behind (one line each), as a rotation that reached some resources only.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/key-provider.h"
#include "common/json.h"
#include "common/log.h"

void status_usage(FILE *f) {
    fprintf(f, "Usage: cvm-agent status [--json]\n"
               "Show every secret's key version, approval and envelope; exit 1 when one is\n"
               "behind the newest key version.\n"
               "      --json           print a JSON object\n"
               "  -h, --help           this help\n");
}

/* ISO-8601 durations as Key Vault writes them (P90D, P1Y, PT12H): seconds,
 * months as 30 days and years as 365 (the service's own approximation). */
static int iso_duration(const char *s, int64_t *ret) {
    int64_t total = 0;
    bool time = false, any = false;
    if (*s++ != 'P')
        return -EINVAL;
    while (*s) {
        if (*s == 'T' && !time) {
            time = true;
            s++;
            continue;
        }
        int64_t n = 0;
        const char *start = s;
        while (*s >= '0' && *s <= '9' && n < 100000)
            n = n * 10 + (*s++ - '0');
        if (s == start)
            return -EINVAL;
        int64_t unit = *s == 'Y' && !time   ? 365 * 86400
                       : *s == 'M' && !time ? 30 * 86400
                       : *s == 'W' && !time ? 7 * 86400
                       : *s == 'D' && !time ? 86400
                       : *s == 'H' && time  ? 3600
                       : *s == 'M' && time  ? 60
                       : *s == 'S' && time  ? 1
                                            : 0;
        if (!unit)
            return -EINVAL;
        total += n * unit;
        any = true;
        s++;
    }
    *ret = total;
    return any ? 0 : -EINVAL;
}

/* The key's exp and the rotation policy's next rotation, into key. */
static void key_schedule(AgentStore *s, const char *version, cJSON *key) {
    _cleanup_json_ cJSON *bundle = NULL, *policy = NULL;
    const char *bearer = NULL;
    VaultError err;
    int64_t exp = 0, created = 0, after = 0;
    if (agent_store_bearer(s, &bearer) < 0)
        return;
    KeyRef k = s->key;
    k.version = (char *)version;
    if (vault_get_key(&s->http, &k, s->api_version, bearer, &bundle, &err) == 0) {
        const cJSON *attrs = json_get_object(bundle, "attributes");
        if (json_get_int(attrs, "exp", &exp) == 0)
            json_add_int(key, "exp", exp);
        (void)json_get_int(attrs, "created", &created);
    }
    if (vault_rotation_policy(&s->http, &s->key, s->api_version, bearer, &policy, &err) < 0) {
        log_info("the key's rotation policy is not readable (HTTP %ld %s): next rotation not "
                 "shown",
                 err.status, err.code);
        json_add_string(key, "rotation_policy", "unreadable");
        return;
    }
    const cJSON *a;
    cJSON_ArrayForEach(a, json_get_array(policy, "lifetimeActions")) {
        const char *type = json_get_string(json_get_object(a, "action"), "type");
        const char *tac = json_get_string(json_get_object(a, "trigger"), "timeAfterCreate");
        if (type && strcasecmp(type, "Rotate") == 0 && tac && created &&
            iso_duration(tac, &after) == 0)
            json_add_int(key, "next_rotation", created + after);
    }
    const char *expiry = json_get_string(json_get_object(policy, "attributes"), "expiryTime");
    int64_t exp_after = 0;
    if (expiry && created && iso_duration(expiry, &exp_after) == 0)
        json_add_int(key, "policy_expiry", created + exp_after);
}

static int status_one(AgentStore *s, const char *name, cJSON *arr) {
    StoreStatus st = {0};
    int r = store_status(s->store, name, &st);
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        store_status_done(&st);
        return -ENOMEM;
    }
    json_add_string(o, "name", name);
    if (r < 0) {
        log_error("'%s': %s", name, store_last_error(s->store));
        json_add_string(o, "error", store_last_error(s->store));
        return r;
    }
    json_add_int(o, "envelope_version", st.envelope_version);
    json_add_string(o, "mode", store_mode_name(st.mode));
    json_add_bool(o, "ephemeral", st.ephemeral);
    json_add_string(o, "key", st.key_url);
    json_add_string(o, "version", st.key_version);
    json_add_string(o, "newest", st.newest ? st.newest : "unknown");
    json_add_bool(o, "behind", st.behind);
    json_add_string(o, "pcrs", st.pcrs);
    json_add_string(o, "approval",
                    st.approval == 1   ? "current"
                    : st.approval == 0 ? "stale"
                                       : "n/a");
    if (st.srk == 0)
        json_add_string(o, "srk", "changed (NonPersistedTPM)");
    cJSON *key = cJSON_AddObjectToObject(o, "key_schedule");
    if (key)
        key_schedule(s, st.key_version, key);
    r = 0;
    if (st.behind && !st.ephemeral) {
        log_error("'%s' is behind: it uses %s, the newest is %s%s (run 'cvm-agent rotate --name "
                  "%s')",
                  name, st.key_version, st.newest ? st.newest : "unknown",
                  st.rewrap_pending ? " (a rotation was interrupted)" : "", name);
        r = 1;
    }
    store_status_done(&st);
    return r;
}

int cmd_status(AgentContext *ctx, int argc, char **argv) {
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h': status_usage(stdout); return CVM_EXIT_OK;
        case 'j': json = true; break;
        default: fprintf(stderr, "see 'cvm-agent status --help'\n"); return CVM_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return log_error("status: unexpected argument '%s'", argv[optind]), CVM_EXIT_USAGE;
    AgentStore s;
    char **names = NULL;
    size_t n = 0;
    int e = agent_store_open(ctx, &s);
    _cleanup_json_ cJSON *out = cJSON_CreateObject();
    cJSON *arr = out ? cJSON_AddArrayToObject(out, "secrets") : NULL;
    if (e == CVM_EXIT_OK && (!arr || store_list(s.store, &names, &n) < 0)) {
        log_error("cannot list the secrets: %s", store_last_error(s.store));
        e = CVM_EXIT_PLATFORM;
    }
    bool behind = false;
    for (size_t i = 0; e == CVM_EXIT_OK && i < n; i++) {
        int r = status_one(&s, names[i], arr);
        if (r < 0)
            e = cvm_exit_from_errno(r);
        behind |= r == 1;
    }
    if (e == CVM_EXIT_OK) {
        if (json)
            e = agent_print_json(out);
        else
            agent_print_text(out);
        if (e == CVM_EXIT_OK && behind)
            e = CVM_EXIT_REJECTED;
    }
    store_list_free(names);
    agent_store_done(&s);
    return e;
}
