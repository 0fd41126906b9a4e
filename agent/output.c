/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * How commands print their results: JSON with --json, otherwise one
 * "key: value" line per leaf of the same object.
 */
#include "config.h"

#include <stdio.h>

#include "agent/agent.h"
#include "common/json.h"

int agent_print_json(const cJSON *obj) {
    return json_print(stdout, obj) < 0 ? CVM_EXIT_PLATFORM : CVM_EXIT_OK;
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
            printf("%s:", key);
            for (const cJSON *e = c->child; e; e = e->next) {
                if (cJSON_IsString(e))
                    printf(" %s", e->valuestring);
                else {
                    char *s = cJSON_PrintUnformatted(e);
                    printf(" %s", s ? s : "?");
                    cJSON_free(s);
                }
            }
            printf("\n");
        } else if (cJSON_IsString(c))
            printf("%s: %s\n", key, c->valuestring);
        else if (cJSON_IsBool(c))
            printf("%s: %s\n", key, cJSON_IsTrue(c) ? "yes" : "no");
        else {
            char *s = cJSON_PrintUnformatted(c);
            printf("%s: %s\n", key, s ? s : "?");
            cJSON_free(s);
        }
    }
}

void agent_print_text(const cJSON *obj) {
    print_text(obj, "");
}
