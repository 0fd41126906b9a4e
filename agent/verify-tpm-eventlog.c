/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cvm-agent verify --event-log F [--pcrs F]: replay a TCG firmware event log
 * (or a TDX CCEL log) and compare the result with given PCR values, or (for
 * verify-tpm.c) hand the replayed values to a TPM quote's digest check. A
 * replay compared with nothing proves nothing and is not "verified".
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/args.h"
#include "agent/verify.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "tpm/eventlog.h"
#include "tpm/tpm.h"

/* Expected values from --pcrs, in the formats tpm_pcrs_parse() reads. */
typedef struct ExpectedPcrs {
    TpmPcrBank banks[TPM_MAX_BANKS];
    size_t n_banks;
} ExpectedPcrs;

static int load_expected(const char *path, ExpectedPcrs *e) {
    _cleanup_free_ uint8_t *buf = NULL;
    size_t len = 0;
    int r = agent_read_file("--pcrs", path, &buf, &len); /* may be tpm2_eventlog output */
    if (r < 0)
        return r;
    r = tpm_pcrs_parse((const char *)buf, len, e->banks, &e->n_banks);
    if (r < 0)
        return log_error_errno(-EINVAL,
                               "--pcrs '%s': not PCR values as JSON {\"sha256\": {\"0\": \"HEX\"}} "
                               "or tpm2_pcrread YAML",
                               path);
    for (size_t b = 0; b < e->n_banks; b++)
        if (e->banks[b].mask)
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

/* Reads and replays o->event_log into rp and describes it in out; a log
 * that does not replay is a "no" (verify_fail). */
static int replay(const VerifyOptions *o, cJSON *out, EventLogReplay *rp) {
    _cleanup_free_ uint8_t *log = NULL;
    _cleanup_free_ char *err = NULL;
    size_t len = 0;
    int r = agent_read_file("--event-log", o->event_log, &log, &len);
    if (r < 0)
        return r;
    bool ccel = eventlog_looks_like_ccel(log, len);
    if (json_add_string(out, "event_log", o->event_log) < 0)
        return -ENOMEM;
    r = eventlog_replay(log, len, ccel, rp, &err);
    if (r == -ENOMEM)
        return log_error_errno(r, "out of memory");
    if (r < 0) {
        json_add_string(out, "failed_check", "parse");
        return verify_fail(out, r, "%s", err ? err : "malformed event log");
    }
    if (json_add_string(out, "format",
                        rp->ccel     ? "tdx-ccel"
                        : rp->legacy ? "tcg-sha1-legacy"
                                     : "tcg-crypto-agile") < 0 ||
        json_add_int(out, "events", (int64_t)rp->n_events) < 0 || add_values(out, rp) < 0)
        return log_error_errno(-ENOMEM, "out of memory");
    return 0;
}

/* Every value of --pcrs against the replay (with covered_only, those of
 * the PCRs the log extended). */
static int compare(const ExpectedPcrs *exp, const EventLogReplay *rp, bool covered_only,
                   cJSON *out) {
    char first_bad[64] = "";
    size_t compared = 0;
    cJSON *match = cJSON_AddObjectToObject(out, "pcr_match");
    cJSON *missing = cJSON_AddArrayToObject(out, "banks_not_in_log");
    if (!match || !missing)
        return -ENOMEM;
    for (size_t b = 0; b < exp->n_banks; b++) {
        const TpmPcrBank *want = &exp->banks[b];
        const char *name = tpm_hash_name(want->hash);
        if (!want->mask || !name)
            continue;
        const EventLogBank *bank = eventlog_bank(rp, name);
        if (!bank || bank->digest_size != tpm_hash_size(want->hash)) {
            cJSON *s = cJSON_CreateString(name);
            if (!s || !cJSON_AddItemToArray(missing, s))
                return cJSON_Delete(s), -ENOMEM;
            continue;
        }
        cJSON *bm = cJSON_AddObjectToObject(match, name);
        if (!bm)
            return -ENOMEM;
        for (unsigned i = 0; i < TPM_PCR_COUNT; i++) {
            char key[8];
            if (!(want->mask & (1u << i)) || (covered_only && !(bank->touched & (1u << i))))
                continue;
            snprintf(key, sizeof(key), "%u", i);
            /* An index the log never touched replays to its reset value, zero. */
            bool ok = memcmp(want->values[i], bank->pcr[i], bank->digest_size) == 0;
            if (json_add_bool(bm, key, ok) < 0)
                return -ENOMEM;
            compared++;
            if (!ok && !*first_bad)
                snprintf(first_bad, sizeof(first_bad), "%s PCR %u", name, i);
        }
    }
    if (*first_bad || compared == 0)
        json_add_string(out, "failed_check", "pcrs");
    if (*first_bad)
        return verify_fail(out, -EKEYREJECTED, "%s of --pcrs does not match the event log replay",
                           first_bad);
    if (compared == 0)
        return verify_fail(out, -EKEYREJECTED,
                           "no PCR of --pcrs is in the event log, nothing was compared");
    return verify_pass(out);
}

/* The replayed banks as PCR values for a quote's digest: every PCR the log
 * extended, and the PCRs that start at zero (all but the locality PCRs
 * 17..22, which start at all-ones) at their reset value. */
static void replay_to_banks(const EventLogReplay *rp, TpmPcrBank *banks, size_t *n_banks) {
    const uint32_t zero_at_reset = 0xffffffu & ~(0x3fu << 17);
    *n_banks = 0;
    for (size_t i = 0; i < rp->n_banks && *n_banks < TPM_MAX_BANKS; i++) {
        const EventLogBank *b = &rp->banks[i];
        TpmPcrBank *t = &banks[*n_banks];
        if (tpm_hash_from_name(b->name, &t->hash) < 0 || tpm_hash_size(t->hash) != b->digest_size)
            continue;
        t->mask = b->touched | zero_at_reset;
        for (unsigned p = 0; p < TPM_PCR_COUNT; p++)
            memcpy(t->values[p], b->pcr[p], b->digest_size);
        (*n_banks)++;
    }
}

/* What every entry point starts with: the --pcrs values (when given) and the
 * replay of --event-log, both allocated here (freed by the caller). */
static int load_and_replay(const VerifyOptions *o, cJSON *out, EventLogReplay **ret_rp,
                           ExpectedPcrs **ret_exp) {
    EventLogReplay *rp = *ret_rp = calloc(1, sizeof(EventLogReplay));
    ExpectedPcrs *exp = *ret_exp = calloc(1, sizeof(ExpectedPcrs));
    if (!rp || !exp)
        return log_error_errno(-ENOMEM, "out of memory");
    int r = o->pcrs ? load_expected(o->pcrs, exp) : 0;
    return r < 0 ? r : replay(o, out, rp);
}

int verify_event_log_for_quote(const VerifyOptions *o, cJSON *out, TpmPcrBank *banks,
                               size_t *n_banks) {
    _cleanup_free_ EventLogReplay *rp = NULL;
    _cleanup_free_ ExpectedPcrs *exp = NULL;
    int r = load_and_replay(o, out, &rp, &exp);
    if (r < 0)
        return r;
    replay_to_banks(rp, banks, n_banks);
    if (o->pcrs)
        return compare(exp, rp, false, out);
    if (json_add_string(out, "note", "compared through the TPM quote's PCR digest") < 0)
        return -ENOMEM;
    return verify_pass(out);
}

int verify_event_log(AgentContext *ctx, const VerifyOptions *o, cJSON *out) {
    (void)ctx;
    _cleanup_free_ EventLogReplay *rp = NULL;
    _cleanup_free_ ExpectedPcrs *exp = NULL;
    int r = load_and_replay(o, out, &rp, &exp);
    if (r < 0)
        return r;
    if (!o->pcrs) {
        json_add_string(out, "failed_check", "nothing_compared");
        return verify_fail(out, -EKEYREJECTED,
                           "replay only, nothing to compare the replay with: a log proves nothing "
                           "until its values match PCRs (--pcrs) or a quote (--tpm-quote)");
    }
    return compare(exp, rp, false, out);
}

int verify_event_log_covered(const VerifyOptions *o, cJSON *out) {
    _cleanup_free_ EventLogReplay *rp = NULL;
    _cleanup_free_ ExpectedPcrs *exp = NULL;
    int r = load_and_replay(o, out, &rp, &exp);
    if (r < 0)
        return r;
    return compare(exp, rp, true, out);
}
