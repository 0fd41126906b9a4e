/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cvm-agent verify --event-log F [--pcrs F]: replay a TCG firmware event log
 * (or a TDX CCEL log) and compare the result with given PCR values.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/verify.h"
#include "common/codec.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "tpm/eventlog.h"

static const char *const bank_names[] = {"sha1", "sha256", "sha384", "sha512", "sm3_256"};

/* Expected values from --pcrs: per known bank, per index. */
typedef struct ExpectedPcrs {
    struct {
        uint32_t present;
        uint8_t value[EVENTLOG_MAX_PCRS][64];
        size_t len[EVENTLOG_MAX_PCRS];
    } bank[ELEMENTSOF(bank_names)];
} ExpectedPcrs;

static int bank_slot(const char *name) {
    for (size_t i = 0; i < ELEMENTSOF(bank_names); i++)
        if (streq(name, bank_names[i]))
            return (int)i;
    return -1;
}

static int set_expected(ExpectedPcrs *e, const char *path, const char *bank, const char *index,
                        const char *hex) {
    uint32_t idx;
    int b = bank_slot(bank);
    if (b < 0)
        return log_error_errno(-EINVAL, "--pcrs '%s': unknown bank '%s'", path, bank);
    if (parse_u32(index, &idx) < 0 || idx >= EVENTLOG_MAX_PCRS)
        return log_error_errno(-EINVAL, "--pcrs '%s': bad PCR index '%s' in %s", path, index, bank);
    if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
        hex += 2;
    _cleanup_free_ uint8_t *v = NULL;
    size_t n = 0;
    if (hex_decode(hex, strlen(hex), &v, &n) < 0 || n == 0 || n > 64)
        return log_error_errno(-EINVAL, "--pcrs '%s': %s PCR %u is not a hex digest", path, bank,
                               idx);
    memcpy(e->bank[b].value[idx], v, n);
    e->bank[b].len[idx] = n;
    e->bank[b].present |= 1u << idx;
    return 0;
}

/* {"sha256": {"0": "hex", ...}, ...}, optionally wrapped as {"pcrs": {...}} (our own output). */
static int parse_pcrs_json(ExpectedPcrs *e, const char *path, const uint8_t *buf, size_t len) {
    _cleanup_json_ cJSON *j = NULL;
    if (json_parse(buf, len, &j) < 0 || !cJSON_IsObject(j))
        return log_error_errno(-EINVAL, "--pcrs '%s': not a JSON object", path);
    const cJSON *root = json_get_object(j, "pcrs");
    if (!root)
        root = j;
    for (const cJSON *bank = root->child; bank; bank = bank->next) {
        if (!cJSON_IsObject(bank))
            return log_error_errno(-EINVAL, "--pcrs '%s': '%s' is not an object", path,
                                   bank->string ? bank->string : "?");
        for (const cJSON *pcr = bank->child; pcr; pcr = pcr->next) {
            if (!cJSON_IsString(pcr))
                return log_error_errno(-EINVAL, "--pcrs '%s': %s PCR '%s' is not a string", path,
                                       bank->string, pcr->string ? pcr->string : "?");
            int r = set_expected(e, path, bank->string, pcr->string, pcr->valuestring);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/* tpm2_pcrread (and tpm2_eventlog "pcrs:") YAML: "  sha256:" then "    0 : 0xHEX" lines. */
static int parse_pcrs_yaml(ExpectedPcrs *e, const char *path, char *text) {
    char bank[16] = "";
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char name[16], idx[16], hex[160], rest;
        if (sscanf(line, " %15[a-z0-9_]%1[:] %c", name, idx, &rest) == 2 && bank_slot(name) >= 0) {
            snprintf(bank, sizeof(bank), "%s", name);
            continue;
        }
        if (sscanf(line, " %15[0-9] : %159[0-9a-fA-FxX] %c", idx, hex, &rest) == 2) {
            if (!*bank)
                return log_error_errno(-EINVAL, "--pcrs '%s': PCR value before a bank name", path);
            int r = set_expected(e, path, bank, idx, hex);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

static int load_expected(const char *path, ExpectedPcrs *e) {
    _cleanup_free_ uint8_t *buf = NULL;
    size_t len = 0;
    int r = read_file(path, FILE_MAX_EVIDENCE, &buf, &len); /* may be tpm2_eventlog output */
    if (r < 0)
        return log_error_errno(-EINVAL, "cannot read --pcrs '%s': %s", path, strerror(-r));
    size_t i = 0;
    while (i < len && isspace(buf[i]))
        i++;
    if (i < len && buf[i] == '{')
        r = parse_pcrs_json(e, path, buf, len);
    else
        r = parse_pcrs_yaml(e, path, (char *)buf); /* read_file NUL-terminates */
    if (r < 0)
        return r;
    for (size_t b = 0; b < ELEMENTSOF(bank_names); b++)
        if (e->bank[b].present)
            return 0;
    return log_error_errno(-EINVAL, "--pcrs '%s' holds no PCR values", path);
}

static cJSON *bank_object(const EventLogBank *b, uint32_t mask) {
    cJSON *o = cJSON_CreateObject();
    for (unsigned i = 0; o && i < EVENTLOG_MAX_PCRS; i++) {
        char key[8];
        if (!(mask & (1u << i)))
            continue;
        snprintf(key, sizeof(key), "%u", i);
        if (json_add_hex(o, key, b->pcr[i], b->digest_size) < 0) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

static int add_values(cJSON *out, const EventLogReplay *rp) {
    cJSON *pcrs = cJSON_AddObjectToObject(out, "pcrs");
    if (!pcrs)
        return -ENOMEM;
    for (size_t i = 0; i < rp->n_banks; i++) {
        cJSON *o = bank_object(&rp->banks[i], rp->banks[i].touched);
        if (!o || !cJSON_AddItemToObject(pcrs, rp->banks[i].name, o)) {
            cJSON_Delete(o);
            return -ENOMEM;
        }
    }
    if (rp->ccel) {
        cJSON *rtmrs = cJSON_AddObjectToObject(out, "rtmrs");
        if (!rtmrs)
            return -ENOMEM;
        for (unsigned i = 0; i < 4; i++) {
            uint8_t v[48];
            char key[4];
            snprintf(key, sizeof(key), "%u", i);
            if (eventlog_rtmr(rp, i, v) < 0)
                break;
            if (json_add_hex(rtmrs, key, v, sizeof(v)) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

/* The work of verify_event_log(), on caller-allocated (zeroed) state. */
static int replay_and_compare(const VerifyOptions *o, cJSON *out, EventLogReplay *rp,
                              ExpectedPcrs *exp) {
    _cleanup_free_ uint8_t *log = NULL;
    _cleanup_free_ char *err = NULL;
    char first_bad[64] = "";
    size_t len = 0, compared = 0;
    int r;

    r = read_file(o->event_log, FILE_MAX_EVIDENCE, &log, &len);
    if (r < 0)
        return log_error_errno(-EINVAL, "cannot read --event-log '%s': %s", o->event_log,
                               strerror(-r));
    if (o->pcrs) {
        r = load_expected(o->pcrs, exp);
        if (r < 0)
            return r;
    }

    bool ccel = eventlog_looks_like_ccel(log, len);
    if (json_add_string(out, "event_log", o->event_log) < 0)
        return -ENOMEM;
    r = eventlog_replay(log, len, ccel, rp, &err);
    if (r == -ENOMEM)
        return log_error_errno(r, "out of memory");
    if (r < 0)
        return verify_fail(out, r, "%s", err ? err : "malformed event log");

    if (json_add_string(out, "format",
                        rp->ccel     ? "tdx-ccel"
                        : rp->legacy ? "tcg-sha1-legacy"
                                     : "tcg-crypto-agile") < 0 ||
        json_add_int(out, "events", (int64_t)rp->n_events) < 0 || add_values(out, rp) < 0)
        return log_error_errno(-ENOMEM, "out of memory");

    if (!o->pcrs) {
        if (json_add_string(out, "note",
                            "replay only: a log proves nothing until its values match PCRs "
                            "from a verified quote (--pcrs)") < 0)
            return -ENOMEM;
        return verify_pass(out);
    }

    cJSON *match = cJSON_AddObjectToObject(out, "pcr_match");
    cJSON *missing = cJSON_AddArrayToObject(out, "banks_not_in_log");
    if (!match || !missing)
        return -ENOMEM;
    for (size_t b = 0; b < ELEMENTSOF(bank_names); b++) {
        if (!exp->bank[b].present)
            continue;
        const EventLogBank *bank = eventlog_bank(rp, bank_names[b]);
        if (!bank) {
            cJSON *s = cJSON_CreateString(bank_names[b]);
            if (!s || !cJSON_AddItemToArray(missing, s))
                return cJSON_Delete(s), -ENOMEM;
            continue;
        }
        cJSON *bm = cJSON_AddObjectToObject(match, bank_names[b]);
        if (!bm)
            return -ENOMEM;
        for (unsigned i = 0; i < EVENTLOG_MAX_PCRS; i++) {
            char key[8];
            if (!(exp->bank[b].present & (1u << i)))
                continue;
            snprintf(key, sizeof(key), "%u", i);
            /* An index the log never touched replays to its reset value, zero. */
            bool ok = exp->bank[b].len[i] == bank->digest_size &&
                      memcmp(exp->bank[b].value[i], bank->pcr[i], bank->digest_size) == 0;
            if (json_add_bool(bm, key, ok) < 0)
                return -ENOMEM;
            compared++;
            if (!ok && !*first_bad)
                snprintf(first_bad, sizeof(first_bad), "%s PCR %u", bank_names[b], i);
        }
    }
    if (*first_bad)
        return verify_fail(out, -EKEYREJECTED, "%s of --pcrs does not match the event log replay",
                           first_bad);
    if (compared == 0)
        return verify_fail(out, -EKEYREJECTED,
                           "no bank of --pcrs is in the event log, nothing was compared");
    return verify_pass(out);
}

int verify_event_log(AgentContext *ctx, const VerifyOptions *o, cJSON *out) {
    (void)ctx;
    _cleanup_free_ EventLogReplay *rp = calloc(1, sizeof(EventLogReplay));
    _cleanup_free_ ExpectedPcrs *exp = calloc(1, sizeof(ExpectedPcrs));
    int r = -ENOMEM;
    if (rp && exp)
        r = replay_and_compare(o, out, rp, exp);
    else
        log_error("out of memory");
    return r;
}
