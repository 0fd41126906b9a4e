/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cJSON helpers: bounded parsing that insists the whole input is one JSON
 * value, typed getters that return NULL/-errno instead of trusting shapes,
 * and allocation hooks that wipe every cJSON buffer on free (tokens and key
 * release responses pass through cJSON).
 */
#ifndef CVM_COMMON_JSON_H
#define CVM_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(cJSON *, cJSON_Delete)
#define _cleanup_json_ _cleanup_(cJSON_Deletep)

/* Installs wiping malloc/free hooks; call once before any cJSON use. */
void json_init(void);

/* Parses exactly len bytes (no NUL needed) as one JSON value, trailing
 * whitespace allowed; -EBADMSG otherwise. */
int json_parse(const void *buf, size_t len, cJSON **ret);

/* Typed lookups: NULL (or -ENOENT/-EBADMSG) when absent or of another type. */
const char *json_get_string(const cJSON *obj, const char *key);
const cJSON *json_get_object(const cJSON *obj, const char *key);
const cJSON *json_get_array(const cJSON *obj, const char *key);
int json_get_bool(const cJSON *obj, const char *key, bool *ret);
/* Integral numbers only, within int64 range. */
int json_get_int(const cJSON *obj, const char *key, int64_t *ret);

/* Adds helpers that fail with -ENOMEM instead of leaving half-built objects. */
int json_add_string(cJSON *obj, const char *key, const char *value);
int json_add_hex(cJSON *obj, const char *key, const void *data, size_t len);
int json_add_int(cJSON *obj, const char *key, int64_t value);
int json_add_bool(cJSON *obj, const char *key, bool value);

/* Prints indented JSON and a newline to f. */
int json_print(FILE *f, const cJSON *obj);

#endif
