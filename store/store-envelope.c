/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The envelope: one JSON object per secret (cvm-agent-store(5)). The reader
 * is strict — every member is typed and bounded, unknown members are refused —
 * so that a new member means a new format version, and every version ever
 * written keeps a reader in readers[].
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/codec.h"
#include "common/json.h"
#include "common/util.h"
#include "store/store-internal.h"

void store_wrap_done(StoreWrap *w) {
    free(w->version);
    free(w->wrapped_key);
    free(w->payload);
    *w = (StoreWrap){0};
}

void store_envelope_done(StoreEnvelope *e) {
    free(e->name);
    free(e->key_url);
    store_wrap_done(&e->key);
    store_wrap_done(&e->previous);
    free(e->ciphertext);
    tpm_sealed_done(&e->sealed);
    free(e->approval);
    *e = (StoreEnvelope){0};
}

_printf_(3, 4) static int bad(char *err, size_t err_size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (err && err_size)
        vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return -EBADMSG;
}

/* Refuses members other than those listed (NULL-terminated). */
static int only_members(const cJSON *obj, const char *where, const char *const *allowed, char *err,
                        size_t err_size) {
    const cJSON *m;
    cJSON_ArrayForEach(m, obj) {
        bool known = false;
        for (size_t i = 0; allowed[i] && !known; i++)
            known = m->string && streq(m->string, allowed[i]);
        if (!known)
            return bad(err, err_size, "unknown member '%s%s'", where, m->string ? m->string : "?");
    }
    return 0;
}

static int get_str(const cJSON *obj, const char *where, const char *key, size_t max, char **ret,
                   char *err, size_t err_size) {
    const char *s = json_get_string(obj, key);
    if (!s)
        return bad(err, err_size, "'%s%s' missing or not a string", where, key);
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return bad(err, err_size, "'%s%s' is empty or longer than %zu", where, key, max);
    if (!(*ret = strdup(s)))
        return -ENOMEM;
    return 0;
}

static int get_b64(const cJSON *obj, const char *where, const char *key, size_t max, uint8_t **ret,
                   size_t *ret_len, char *err, size_t err_size) {
    const char *s = json_get_string(obj, key);
    if (!s)
        return bad(err, err_size, "'%s%s' missing or not a string", where, key);
    if (strlen(s) > (max + 2) / 3 * 4 || base64_decode(s, strlen(s), ret, ret_len) < 0 ||
        *ret_len == 0 || *ret_len > max) {
        if (*ret)
            free(*ret);
        *ret = NULL;
        return bad(err, err_size, "'%s%s' is not base64 of 1..%zu bytes", where, key, max);
    }
    return 0;
}

static int get_time(const cJSON *obj, const char *key, int64_t *ret, char *err, size_t err_size) {
    const char *s = json_get_string(obj, key);
    /* 1970 .. 9999: what the writer can write back in the same form */
    if (!s || parse_rfc3339(s, ret) < 0 || *ret < 0 || *ret >= INT64_C(253402300800))
        return bad(err, err_size, "'%s' missing or not an RFC 3339 time in 1970..9999", key);
    return 0;
}

static int read_wrap(const cJSON *w, const char *where, bool with_url, StoreEnvelope *e,
                     StoreWrap *ret, char *err, size_t err_size) {
    static const char *const members_url[] = {"url",         "version", "wrap",
                                              "wrapped_key", "payload", NULL};
    static const char *const *members = members_url + 1;
    int r;
    if (!cJSON_IsObject(w))
        return bad(err, err_size, "'%s' missing or not an object", where);
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "%s.", where);
    r = only_members(w, prefix, with_url ? members_url : members, err, err_size);
    if (r < 0)
        return r;
    if (with_url && (r = get_str(w, prefix, "url", 2048, &e->key_url, err, err_size)) < 0)
        return r;
    if ((r = get_str(w, prefix, "version", STORE_VERSION_MAX, &ret->version, err, err_size)) < 0)
        return r;
    const char *alg = json_get_string(w, "wrap");
    if (alg && streq(alg, store_wrap_alg_name(STORE_WRAP_RSA_OAEP_256)))
        ret->alg = STORE_WRAP_RSA_OAEP_256;
    else if (alg && streq(alg, store_wrap_alg_name(STORE_WRAP_AES_KWP)))
        ret->alg = STORE_WRAP_AES_KWP;
    else
        return bad(err, err_size, "'%swrap' missing or not one of RSA-OAEP-256, A256KWP", prefix);
    r = get_b64(w, prefix, "wrapped_key", STORE_WRAPPED_MAX, &ret->wrapped_key,
                &ret->wrapped_key_len, err, err_size);
    if (r < 0)
        return r;
    return get_b64(w, prefix, "payload", STORE_PAYLOAD_MAX, &ret->payload, &ret->payload_len, err,
                   err_size);
}

static int read_approved(const cJSON *vals, StoreEnvelope *e, char *err, size_t err_size) {
    size_t dlen = tpm_hash_size(e->pcrs.hash);
    const cJSON *v;
    e->approved = (TpmPcrBank){.hash = e->pcrs.hash, .mask = 0};
    if (!cJSON_IsObject(vals))
        return bad(err, err_size, "'tpm.approval.pcr_values' missing or not an object");
    cJSON_ArrayForEach(v, vals) {
        uint32_t pcr;
        if (!v->string || parse_u32(v->string, &pcr) < 0 || pcr >= TPM_PCR_COUNT ||
            !(e->pcrs.mask & (1u << pcr)) || (e->approved.mask & (1u << pcr)))
            return bad(err, err_size,
                       "'tpm.approval.pcr_values' has member '%s' outside 'tpm.pcrs'",
                       v->string ? v->string : "?");
        if (!cJSON_IsString(v) ||
            hex_decode_fixed(v->valuestring, e->approved.values[pcr], dlen) < 0)
            return bad(err, err_size, "'tpm.approval.pcr_values.%u' is not %zu bytes of hex", pcr,
                       dlen);
        e->approved.mask |= 1u << pcr;
    }
    if (e->approved.mask != e->pcrs.mask)
        return bad(err, err_size,
                   "'tpm.approval.pcr_values' does not cover every PCR of 'tpm.pcrs'");
    return 0;
}

static int read_pcrs(const cJSON *tpm, StoreEnvelope *e, char *err, size_t err_size) {
    const char *bank = json_get_string(tpm, "pcr_bank");
    const cJSON *list = json_get_array(tpm, "pcrs"), *p;
    if (!bank || tpm_hash_from_name(bank, &e->pcrs.hash) < 0)
        return bad(err, err_size, "'tpm.pcr_bank' missing or not a known hash");
    if (!list || cJSON_GetArraySize(list) == 0)
        return bad(err, err_size, "'tpm.pcrs' missing or not a non-empty array");
    cJSON_ArrayForEach(p, list) {
        double d = cJSON_IsNumber(p) ? p->valuedouble : -1;
        if (d < 0 || d >= TPM_PCR_COUNT || d != (double)(int)d || (e->pcrs.mask & (1u << (int)d)))
            return bad(err, err_size, "'tpm.pcrs' holds something other than distinct PCRs 0..23");
        e->pcrs.mask |= 1u << (int)d;
    }
    return 0;
}

static int read_tpm(const cJSON *tpm, StoreEnvelope *e, char *err, size_t err_size) {
    static const char *const members[] = {"srk_name",       "pcr_bank", "pcrs", "sealed_public",
                                          "sealed_private", "approval", NULL};
    static const char *const approval_members[] = {"signature", "pcr_values", NULL};
    const char *srk;
    int r;
    if (!cJSON_IsObject(tpm))
        return bad(err, err_size, "'tpm' missing or not an object (mode tpm+cmk)");
    if ((r = only_members(tpm, "tpm.", members, err, err_size)) < 0)
        return r;
    srk = json_get_string(tpm, "srk_name");
    if (!srk || strlen(srk) < 6 || strlen(srk) > 2 * sizeof(e->srk_name) || strlen(srk) % 2 ||
        hex_decode_fixed(srk, e->srk_name, strlen(srk) / 2) < 0)
        return bad(err, err_size, "'tpm.srk_name' missing or not a TPM name in hex");
    e->srk_name_len = strlen(srk) / 2;
    if ((r = read_pcrs(tpm, e, err, err_size)) < 0)
        return r;
    r = get_b64(tpm, "tpm.", "sealed_public", STORE_SEALED_MAX, &e->sealed.pub, &e->sealed.pub_len,
                err, err_size);
    if (r < 0)
        return r;
    r = get_b64(tpm, "tpm.", "sealed_private", STORE_SEALED_MAX, &e->sealed.priv,
                &e->sealed.priv_len, err, err_size);
    if (r < 0)
        return r;
    const cJSON *a = json_get_object(tpm, "approval");
    if (!a)
        return bad(err, err_size, "'tpm.approval' missing or not an object");
    if ((r = only_members(a, "tpm.approval.", approval_members, err, err_size)) < 0)
        return r;
    r = get_b64(a, "tpm.approval.", "signature", STORE_APPROVAL_MAX, &e->approval, &e->approval_len,
                err, err_size);
    if (r < 0)
        return r;
    return read_approved(json_get_object(a, "pcr_values"), e, err, err_size);
}

static int read_v1(const void *json, StoreEnvelope *e, char *err, size_t err_size) {
    static const char *const members[] = {"format",    "version",      "name",    "mode",
                                          "ephemeral", "created",      "updated", "ciphertext",
                                          "key",       "previous_key", "tpm",     NULL};
    const cJSON *j = json;
    const char *mode;
    int r;

    if ((r = only_members(j, "", members, err, err_size)) < 0)
        return r;
    if ((r = get_str(j, "", "name", STORE_NAME_MAX, &e->name, err, err_size)) < 0)
        return r;
    if (!store_name_is_valid(e->name))
        return bad(err, err_size, "'name' is not a valid secret name");
    mode = json_get_string(j, "mode");
    if (!mode || store_mode_from_name(mode, &e->mode) < 0)
        return bad(err, err_size, "'mode' missing or not one of tpm+cmk, cmk-only");
    if (json_get_bool(j, "ephemeral", &e->ephemeral) < 0)
        return bad(err, err_size, "'ephemeral' missing or not a boolean");
    if ((r = get_time(j, "created", &e->created, err, err_size)) < 0 ||
        (r = get_time(j, "updated", &e->updated, err, err_size)) < 0)
        return r;
    r = get_b64(j, "", "ciphertext", STORE_SECRET_MAX + STORE_GCM_NONCE + STORE_GCM_TAG,
                &e->ciphertext, &e->ciphertext_len, err, err_size);
    if (r < 0)
        return r;
    if (e->ciphertext_len <= STORE_GCM_NONCE + STORE_GCM_TAG)
        return bad(err, err_size, "'ciphertext' is too short to hold a secret");
    if ((r = read_wrap(json_get_object(j, "key"), "key", true, e, &e->key, err, err_size)) < 0)
        return r;
    if (cJSON_GetObjectItemCaseSensitive(j, "previous_key")) {
        r = read_wrap(json_get_object(j, "previous_key"), "previous_key", false, e, &e->previous,
                      err, err_size);
        if (r < 0)
            return r;
        e->has_previous = true;
    }
    if (e->mode == STORE_MODE_TPM_CMK)
        return read_tpm(cJSON_GetObjectItemCaseSensitive(j, "tpm"), e, err, err_size);
    if (cJSON_GetObjectItemCaseSensitive(j, "tpm"))
        return bad(err, err_size, "'tpm' present in a cmk-only envelope");
    return 0;
}

/* Index = format version. A v2 adds read_v2 here and keeps read_v1, which
 * fills the same StoreEnvelope (new fields defaulted). */
static const StoreEnvelopeReader readers[] = {
    [1] = read_v1,
};

StoreEnvelopeReader store_envelope_reader(unsigned version) {
    return version < ELEMENTSOF(readers) ? readers[version] : NULL;
}

int store_envelope_parse(const void *data, size_t len, StoreEnvelope *ret, char *err,
                         size_t err_size) {
    _cleanup_json_ cJSON *j = NULL;
    StoreEnvelope e = {0};
    int64_t version;
    const char *format;
    int r;

    if (err && err_size)
        err[0] = '\0';
    if (len > STORE_ENVELOPE_MAX)
        return bad(err, err_size, "larger than %u bytes", STORE_ENVELOPE_MAX);
    if (json_parse(data, len, &j) < 0 || !cJSON_IsObject(j))
        return bad(err, err_size, "not a JSON object");
    format = json_get_string(j, "format");
    if (!format || !streq(format, STORE_FORMAT))
        return bad(err, err_size, "'format' missing or not \"%s\"", STORE_FORMAT);
    if (json_get_int(j, "version", &version) < 0)
        return bad(err, err_size, "'version' missing or not an integer");
    StoreEnvelopeReader reader =
        version > 0 && version <= UINT16_MAX ? store_envelope_reader((unsigned)version) : NULL;
    if (!reader) {
        if (err && err_size)
            snprintf(err, err_size, "envelope version %lld is not one this agent reads (1..%u)",
                     (long long)version, STORE_ENVELOPE_LATEST);
        return -EPROTONOSUPPORT;
    }
    e.version = (unsigned)version;
    r = reader(j, &e, err, err_size);
    if (r < 0) {
        store_envelope_done(&e);
        return r;
    }
    *ret = e;
    return 0;
}

/* --- writer (always the latest version) --- */

static int add_b64(cJSON *o, const char *key, const void *data, size_t len) {
    _cleanup_free_ char *s = base64_encode(data, len);
    return s ? json_add_string(o, key, s) : -ENOMEM;
}

static int add_time(cJSON *o, const char *key, int64_t t) {
    char buf[32];
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return -EINVAL;
    return json_add_string(o, key, buf);
}

static int add_wrap(cJSON *parent, const char *member, const char *url, const StoreWrap *w) {
    cJSON *o = cJSON_AddObjectToObject(parent, member);
    int r;
    if (!o)
        return -ENOMEM;
    if ((url && (r = json_add_string(o, "url", url)) < 0) ||
        (r = json_add_string(o, "version", w->version)) < 0 ||
        (r = json_add_string(o, "wrap", store_wrap_alg_name(w->alg))) < 0 ||
        (r = add_b64(o, "wrapped_key", w->wrapped_key, w->wrapped_key_len)) < 0 ||
        (r = add_b64(o, "payload", w->payload, w->payload_len)) < 0)
        return r;
    return 0;
}

static int add_tpm(cJSON *parent, const StoreEnvelope *e) {
    cJSON *o = cJSON_AddObjectToObject(parent, "tpm"), *list, *a, *vals;
    size_t dlen = tpm_hash_size(e->pcrs.hash);
    int r;
    if (!o)
        return -ENOMEM;
    if ((r = json_add_hex(o, "srk_name", e->srk_name, e->srk_name_len)) < 0 ||
        (r = json_add_string(o, "pcr_bank", tpm_hash_name(e->pcrs.hash))) < 0)
        return r;
    if (!(list = cJSON_AddArrayToObject(o, "pcrs")))
        return -ENOMEM;
    for (unsigned i = 0; i < TPM_PCR_COUNT; i++) {
        cJSON *n;
        if ((e->pcrs.mask & (1u << i)) &&
            (!(n = cJSON_CreateNumber(i)) || !cJSON_AddItemToArray(list, n)))
            return -ENOMEM;
    }
    if ((r = add_b64(o, "sealed_public", e->sealed.pub, e->sealed.pub_len)) < 0 ||
        (r = add_b64(o, "sealed_private", e->sealed.priv, e->sealed.priv_len)) < 0)
        return r;
    if (!(a = cJSON_AddObjectToObject(o, "approval")))
        return -ENOMEM;
    if ((r = add_b64(a, "signature", e->approval, e->approval_len)) < 0)
        return r;
    if (!(vals = cJSON_AddObjectToObject(a, "pcr_values")))
        return -ENOMEM;
    for (unsigned i = 0; i < TPM_PCR_COUNT; i++) {
        char key[4];
        if (!(e->pcrs.mask & (1u << i)))
            continue;
        snprintf(key, sizeof(key), "%u", i);
        if ((r = json_add_hex(vals, key, e->approved.values[i], dlen)) < 0)
            return r;
    }
    return 0;
}

int store_envelope_format(const StoreEnvelope *e, char **ret, size_t *ret_len) {
    _cleanup_json_ cJSON *j = cJSON_CreateObject();
    int r;
    if (!j)
        return -ENOMEM;
    if ((r = json_add_string(j, "format", STORE_FORMAT)) < 0 ||
        (r = json_add_int(j, "version", STORE_ENVELOPE_LATEST)) < 0 ||
        (r = json_add_string(j, "name", e->name)) < 0 ||
        (r = json_add_string(j, "mode", store_mode_name(e->mode))) < 0 ||
        (r = json_add_bool(j, "ephemeral", e->ephemeral)) < 0 ||
        (r = add_time(j, "created", e->created)) < 0 ||
        (r = add_time(j, "updated", e->updated)) < 0 ||
        (r = add_b64(j, "ciphertext", e->ciphertext, e->ciphertext_len)) < 0 ||
        (r = add_wrap(j, "key", e->key_url, &e->key)) < 0)
        return r;
    if (e->has_previous && (r = add_wrap(j, "previous_key", NULL, &e->previous)) < 0)
        return r;
    if (e->mode == STORE_MODE_TPM_CMK && (r = add_tpm(j, e)) < 0)
        return r;
    char *s = cJSON_Print(j);
    if (!s)
        return -ENOMEM;
    size_t n = strlen(s);
    char *out = realloc(s, n + 2);
    if (!out) {
        free(s);
        return -ENOMEM;
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    *ret = out;
    *ret_len = n + 1;
    return 0;
}
