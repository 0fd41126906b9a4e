/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * How commands print their results: JSON with --json, otherwise one
 * "key: value" line per leaf of the same object.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "agent/agent.h"
#include "common/json.h"
#include "common/timing.h"

static bool print_timings;

void agent_output_set_timings(bool on) {
    print_timings = on;
}

/* Milliseconds to the microsecond: enough for a benchmark, stable to read. */
static int add_ms(cJSON *o, const char *key, double ms) {
    return cJSON_AddNumberToObject(o, key, (double)(int64_t)(ms * 1000 + 0.5) / 1000) ? 0 : -1;
}

int agent_timings_json(cJSON *obj) {
    TimingReport t;
    timing_report(&t);
    cJSON *o = cJSON_AddObjectToObject(obj, "timings");
    if (!o || add_ms(o, "wall_ms", t.wall_ms) < 0 ||
        add_ms(o, "cpu_ms", t.cpu_user_ms + t.cpu_sys_ms) < 0 ||
        add_ms(o, "cpu_user_ms", t.cpu_user_ms) < 0 || add_ms(o, "cpu_sys_ms", t.cpu_sys_ms) < 0 ||
        add_ms(o, "tpm_ms", t.tpm_ms) < 0 || json_add_int(o, "tpm_commands", t.tpm_commands) < 0 ||
        add_ms(o, "endpoint_ms", t.endpoint_ms) < 0 ||
        json_add_int(o, "endpoint_requests", t.endpoint_requests) < 0 ||
        json_add_int(o, "max_rss_kib", t.max_rss_kib) < 0)
        return -ENOMEM;
    return 0;
}

void agent_timings_print(void) {
    TimingReport t;
    timing_report(&t);
    fprintf(stderr,
            "cvm-agent: timings: wall %.1f ms, cpu %.1f ms (user %.1f, sys %.1f), "
            "tpm %.1f ms (%u commands), endpoints %.1f ms (%u requests), max-rss %ld KiB\n",
            t.wall_ms, t.cpu_user_ms + t.cpu_sys_ms, t.cpu_user_ms, t.cpu_sys_ms, t.tpm_ms,
            t.tpm_commands, t.endpoint_ms, t.endpoint_requests, t.max_rss_kib);
}

int agent_print_json(const cJSON *obj) {
    if (print_timings && cJSON_IsObject(obj)) {
        /* a copy: the caller's object is const and may be printed again */
        _cleanup_json_ cJSON *copy = cJSON_Duplicate(obj, true);
        if (!copy || agent_timings_json(copy) < 0)
            return CVM_EXIT_PLATFORM;
        return json_print(stdout, copy) < 0 ? CVM_EXIT_PLATFORM : CVM_EXIT_OK;
    }
    return json_print(stdout, obj) < 0 ? CVM_EXIT_PLATFORM : CVM_EXIT_OK;
}

/* Prints s with control characters (and backslash) escaped: strings from
 * evidence (HCL runtime claims, JSON files) must not move the cursor, rewrite
 * earlier lines or forge a "verified: yes" line of their own. JSON text from
 * cJSON is escaped already (backslash kept as is). */
static void print_escaped(const char *s, bool escape_backslash) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\' && escape_backslash)
            fputs("\\\\", stdout);
        else if (*p == '\n')
            fputs("\\n", stdout);
        else if (*p == '\t')
            fputs("\\t", stdout);
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\x%02x", *p);
        else
            putchar(*p);
    }
}

/* Text output: one "key: value" line per leaf, nested keys joined with dots. */
static void print_text(const cJSON *item, const char *prefix) {
    for (const cJSON *c = item->child; c; c = c->next) {
        char key[256];
        snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "",
                 c->string ? c->string : "?");
        if (cJSON_IsObject(c))
            print_text(c, key);
        else if (cJSON_IsArray(c)) {
            print_escaped(key, true);
            putchar(':');
            for (const cJSON *e = c->child; e; e = e->next) {
                putchar(' ');
                if (cJSON_IsString(e))
                    print_escaped(e->valuestring, true);
                else {
                    char *s = cJSON_PrintUnformatted(e); /* JSON escapes its strings */
                    print_escaped(s ? s : "?", false);
                    cJSON_free(s);
                }
            }
            putchar('\n');
        } else {
            char *s = NULL;
            print_escaped(key, true);
            fputs(": ", stdout);
            if (cJSON_IsString(c))
                print_escaped(c->valuestring, true);
            else if (cJSON_IsBool(c))
                fputs(cJSON_IsTrue(c) ? "yes" : "no", stdout);
            else
                print_escaped((s = cJSON_PrintUnformatted(c)) ? s : "?", false);
            cJSON_free(s);
            putchar('\n');
        }
    }
}

void agent_print_text(const cJSON *obj) {
    print_text(obj, "");
}
