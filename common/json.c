/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "json.h"
#include "secbuf.h"

static void wiping_free(void *p) {
    if (p) {
        secure_wipe(p, malloc_usable_size(p));
        free(p);
    }
}

void json_init(void) {
    cJSON_Hooks hooks = {.malloc_fn = malloc, .free_fn = wiping_free};
    cJSON_InitHooks(&hooks);
}

int json_parse(const void *buf, size_t len, cJSON **ret) {
    /* cJSON wants a NUL-terminated buffer to stop at the end reliably */
    _cleanup_free_ char *copy = malloc(len + 1);
    const char *end = NULL;
    if (!copy)
        return -ENOMEM;
    memcpy(copy, buf, len);
    copy[len] = '\0';
    if (strlen(copy) != len) {
        secure_wipe(copy, len);
        return -EBADMSG; /* embedded NUL */
    }
    cJSON *j = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 0);
    int r = 0;
    if (!j)
        r = -EBADMSG;
    else {
        end += strspn(end, " \t\r\n");
        if (*end != '\0') {
            cJSON_Delete(j);
            r = -EBADMSG;
        }
    }
    secure_wipe(copy, len);
    if (r == 0)
        *ret = j;
    return r;
}

const char *json_get_string(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const cJSON *json_get_object(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsObject(v) ? v : NULL;
}

const cJSON *json_get_array(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsArray(v) ? v : NULL;
}

int json_get_bool(const cJSON *obj, const char *key, bool *ret) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return -ENOENT;
    if (!cJSON_IsBool(v))
        return -EBADMSG;
    *ret = cJSON_IsTrue(v);
    return 0;
}

int json_get_int(const cJSON *obj, const char *key, int64_t *ret) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return -ENOENT;
    if (!cJSON_IsNumber(v))
        return -EBADMSG;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d <= -9007199254740992.0 || d >= 9007199254740992.0)
        return -EBADMSG; /* from 2^53 on a double no longer holds every integer */
    *ret = (int64_t)d;
    return 0;
}

int json_add_string(cJSON *obj, const char *key, const char *value) {
    return cJSON_AddStringToObject(obj, key, value) ? 0 : -ENOMEM;
}

int json_add_hex(cJSON *obj, const char *key, const void *data, size_t len) {
    _cleanup_free_ char *hex = hex_encode(data, len);
    if (!hex)
        return -ENOMEM;
    return json_add_string(obj, key, hex);
}

int json_add_int(cJSON *obj, const char *key, int64_t value) {
    return cJSON_AddNumberToObject(obj, key, (double)value) ? 0 : -ENOMEM;
}

int json_add_bool(cJSON *obj, const char *key, bool value) {
    return cJSON_AddBoolToObject(obj, key, value) ? 0 : -ENOMEM;
}

int json_print(FILE *f, const cJSON *obj) {
    char *s = cJSON_Print(obj);
    if (!s)
        return -ENOMEM;
    int r = fprintf(f, "%s\n", s) < 0 ? -EIO : 0;
    cJSON_free(s);
    return r;
}
