/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * How commands print their results: JSON with --json, otherwise one
 * "key: value" line per leaf of the same object.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>

#include "agent/agent.h"
#include "common/json.h"

int agent_print_json(const cJSON *obj) {
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
