/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Key release policy evaluation (azure-wire-formats.md §3.4): the agent
 * checks the key's policy against its own token before asking the vault, so a
 * refusal names the claim instead of relaying the vault's one generic 403.
 *
 * Comparison rules follow what Key Vault accepts and what the simulated vault
 * (tests/sim/keyvault.py) implements, so both give the same verdict: equals
 * compares same-typed values exactly, a number claim equals its decimal
 * string, a boolean compared with a string ignores case; the ordering
 * operators compare numbers (numeric strings included); exists true/false
 * asks whether the claim is present.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/codec.h"
#include "common/json.h"
#include "release/release.h"

#define POLICY_MAX_DEPTH 16

static const char *const operators[] = {
    "equals", "notEquals", "less", "lessOrEquals", "greater", "greaterOrEquals", "exists",
};

int release_policy_parse(const char *text, size_t len, cJSON **ret, const char **why) {
    _cleanup_json_ cJSON *doc = NULL;
    len = rstrip_blanks(text, len);
    if (json_parse(text, len, &doc) < 0) {
        /* the "data" member as stored: base64url of the policy */
        _cleanup_free_ uint8_t *raw = NULL;
        size_t n = 0;
        if (base64url_decode(text, len, &raw, &n) < 0 || json_parse(raw, n, &doc) < 0) {
            if (why)
                *why = "neither policy JSON nor base64url of it";
            return -EBADMSG;
        }
    }
    const char *data = json_get_string(doc, "data");
    if (data && !json_get_array(doc, "anyOf")) {
        /* a release_policy object {"contentType","data","immutable"} */
        cJSON *inner = NULL;
        int r = release_policy_parse(data, strlen(data), &inner, why);
        if (r < 0)
            return r;
        *ret = inner;
        return 0;
    }
    if (!cJSON_IsObject(doc) || !json_get_array(doc, "anyOf")) {
        if (why)
            *why = "a release policy needs an \"anyOf\" list of authorities";
        return -EBADMSG;
    }
    *ret = TAKE_PTR(doc);
    return 0;
}

/* The claim at a dotted path ("x-ms-isolation-tee.x-ms-attestation-type"). */
static const cJSON *claim_at(const cJSON *claims, const char *path) {
    const cJSON *cur = claims;
    const char *p = path;
    while (cur) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char part[256];
        if (n >= sizeof(part) || !cJSON_IsObject(cur))
            return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        cur = cJSON_GetObjectItemCaseSensitive(cur, part);
        if (!dot)
            return cur;
        p = dot + 1;
    }
    return NULL;
}

/* Text of a scalar as the policy sees it (a number as an integer when integral). */
static bool scalar_text(const cJSON *v, char *buf, size_t size) {
    if (cJSON_IsString(v))
        snprintf(buf, size, "%s", v->valuestring);
    else if (cJSON_IsBool(v))
        snprintf(buf, size, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
             fabs(v->valuedouble) < 1e15)
        snprintf(buf, size, "%lld", (long long)v->valuedouble);
    else if (cJSON_IsNumber(v))
        snprintf(buf, size, "%.17g", v->valuedouble);
    else
        return false;
    return true;
}

static bool as_number(const cJSON *v, double *ret) {
    if (cJSON_IsNumber(v)) {
        *ret = v->valuedouble;
        return true;
    }
    if (cJSON_IsBool(v)) {
        *ret = cJSON_IsTrue(v) ? 1 : 0;
        return true;
    }
    if (!cJSON_IsString(v) || !*v->valuestring)
        return false;
    char *end = NULL;
    errno = 0;
    *ret = strtod(v->valuestring, &end);
    return errno == 0 && end && *end == '\0' && !isnan(*ret);
}

static bool values_equal(const cJSON *have, const cJSON *want) {
    char h[512], w[512];
    if (cJSON_IsBool(have) || cJSON_IsBool(want)) {
        if (cJSON_IsBool(have) && cJSON_IsBool(want))
            return cJSON_IsTrue(have) == cJSON_IsTrue(want);
        return scalar_text(have, h, sizeof(h)) && scalar_text(want, w, sizeof(w)) &&
               strcasecmp(h, w) == 0;
    }
    if (cJSON_IsString(have) && cJSON_IsString(want))
        return streq(have->valuestring, want->valuestring);
    if (cJSON_IsNumber(have) && cJSON_IsNumber(want))
        return have->valuedouble == want->valuedouble;
    /* a number (or other scalar) claim compared with a string: its decimal text */
    return cJSON_IsString(want) && scalar_text(have, h, sizeof(h)) && streq(h, want->valuestring);
}

static bool compare(const char *op, const cJSON *have, const cJSON *want) {
    if (streq(op, "equals"))
        return values_equal(have, want);
    if (streq(op, "notEquals"))
        return !values_equal(have, want);
    double h, w;
    if (!as_number(have, &h) || !as_number(want, &w))
        return false;
    if (streq(op, "less"))
        return h < w;
    if (streq(op, "lessOrEquals"))
        return h <= w;
    if (streq(op, "greater"))
        return h > w;
    return h >= w; /* greaterOrEquals */
}

typedef struct EvalState {
    const cJSON *claims;
    PolicyResult *res;
    bool malformed;
} EvalState;

static bool fail_malformed(EvalState *st, const char *what) {
    if (!st->malformed)
        snprintf(st->res->clause, sizeof(st->res->clause), "malformed policy: %s", what);
    st->malformed = true;
    return false;
}

/* Records the first failing claim condition (only the first: later ones are
 * not what made the policy fail). */
static void note_failure(EvalState *st, const char *path, const char *op, const cJSON *want,
                         const cJSON *have) {
    if (*st->res->failed_claim)
        return;
    char w[256] = "", h[256] = "";
    scalar_text(want, w, sizeof(w));
    snprintf(st->res->failed_claim, sizeof(st->res->failed_claim), "%s", path);
    if (!have)
        snprintf(st->res->clause, sizeof(st->res->clause),
                 "claim %.120s %s %.120s: the token has no %.120s", path, op, w, path);
    else if (scalar_text(have, h, sizeof(h)))
        snprintf(st->res->clause, sizeof(st->res->clause),
                 "claim %.120s %s %.120s: the token has %.120s", path, op, w, h);
    else
        snprintf(st->res->clause, sizeof(st->res->clause),
                 "claim %.120s %s %.120s: the token's value is not a scalar", path, op, w);
}

static bool eval_condition(EvalState *st, const cJSON *cond, unsigned depth);

static bool eval_list(EvalState *st, const cJSON *list, bool all, unsigned depth) {
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
        return fail_malformed(st, all ? "allOf is not a non-empty list"
                                      : "anyOf is not a non-empty list");
    const cJSON *c;
    cJSON_ArrayForEach(c, list) {
        bool ok = eval_condition(st, c, depth + 1);
        if (st->malformed)
            return false;
        if (all && !ok)
            return false;
        if (!all && ok) {
            /* an alternative held: failures noted in earlier ones do not count */
            st->res->failed_claim[0] = '\0';
            return true;
        }
    }
    return all;
}

static bool eval_claim(EvalState *st, const cJSON *cond) {
    const char *path = json_get_string(cond, "claim");
    const char *op = NULL;
    const cJSON *want = NULL;
    if (!path || !*path)
        return fail_malformed(st, "a condition without claim, allOf or anyOf");
    const char *legacy = json_get_string(cond, "condition");
    if (legacy) { /* {"claim","condition":"equals","value"} */
        op = legacy;
        want = cJSON_GetObjectItemCaseSensitive(cond, "value");
    } else
        for (size_t i = 0; i < ELEMENTSOF(operators); i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(cond, operators[i]);
            if (!v)
                continue;
            if (op)
                return fail_malformed(st, "a claim condition with two operators");
            op = operators[i];
            want = v;
        }
    bool known = false;
    for (size_t i = 0; op && i < ELEMENTSOF(operators); i++)
        known = known || streq(op, operators[i]);
    if (!op || !known || !want || cJSON_IsObject(want) || cJSON_IsArray(want) || cJSON_IsNull(want))
        return fail_malformed(st, "a claim condition needs one operator with a scalar value");
    const cJSON *have = claim_at(st->claims, path);
    bool ok;
    if (streq(op, "exists")) {
        bool want_present = cJSON_IsTrue(want) ||
                            (cJSON_IsString(want) && strcasecmp(want->valuestring, "true") == 0);
        ok = (have != NULL) == want_present;
    } else
        ok = have && compare(op, have, want);
    if (!ok)
        note_failure(st, path, op, want, have);
    return ok;
}

static bool eval_condition(EvalState *st, const cJSON *cond, unsigned depth) {
    if (depth > POLICY_MAX_DEPTH)
        return fail_malformed(st, "conditions nested too deeply");
    if (!cJSON_IsObject(cond))
        return fail_malformed(st, "a condition is not an object");
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(cond, "allOf");
    const cJSON *any = cJSON_GetObjectItemCaseSensitive(cond, "anyOf");
    if (all && any)
        return fail_malformed(st, "a condition with both allOf and anyOf");
    if (all)
        return eval_list(st, all, true, depth);
    if (any)
        return eval_list(st, any, false, depth);
    return eval_claim(st, cond);
}

static size_t strip_slash(const char *s) {
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    return n;
}

static bool same_issuer(const char *a, const char *b) {
    size_t na = strip_slash(a), nb = strip_slash(b);
    return na == nb && strncmp(a, b, na) == 0;
}

int release_policy_eval(const cJSON *policy, const cJSON *claims, PolicyResult *res) {
    *res = (PolicyResult){0};
    EvalState st = {.claims = claims, .res = res};
    const char *version = json_get_string(policy, "version");
    const cJSON *auths = json_get_array(policy, "anyOf");
    const char *iss = json_get_string(claims, "iss");
    if (version && !streq(version, "1.0.0") && !streq(version, "1.0")) {
        snprintf(res->clause, sizeof(res->clause), "unknown policy version '%s'", version);
        return -EBADMSG;
    }
    if (!auths || cJSON_GetArraySize(auths) == 0) {
        snprintf(res->clause, sizeof(res->clause), "the policy has no anyOf list of authorities");
        return -EBADMSG;
    }
    if (!iss) {
        snprintf(res->clause, sizeof(res->clause), "the token has no iss claim");
        snprintf(res->failed_claim, sizeof(res->failed_claim), "iss");
        return -EKEYREJECTED;
    }
    bool issuer_listed = false;
    const cJSON *a;
    cJSON_ArrayForEach(a, auths) {
        const char *authority = json_get_string(a, "authority");
        if (!authority) {
            snprintf(res->clause, sizeof(res->clause), "an anyOf entry without authority");
            return -EBADMSG;
        }
        if (!same_issuer(authority, iss))
            continue;
        issuer_listed = true;
        snprintf(res->authority, sizeof(res->authority), "%s", authority);
        cJSON *tree = cJSON_CreateObject();
        if (!tree)
            return -ENOMEM;
        /* the authority object minus "authority" is a condition (allOf or anyOf) */
        const cJSON *all = cJSON_GetObjectItemCaseSensitive(a, "allOf");
        const cJSON *any = cJSON_GetObjectItemCaseSensitive(a, "anyOf");
        if (all)
            cJSON_AddItemReferenceToObject(tree, "allOf", (cJSON *)all);
        if (any)
            cJSON_AddItemReferenceToObject(tree, "anyOf", (cJSON *)any);
        bool ok = (all || any) ? eval_condition(&st, tree, 0)
                               : fail_malformed(&st, "an authority without allOf or anyOf");
        cJSON_Delete(tree);
        if (st.malformed)
            return -EBADMSG;
        if (ok) {
            res->satisfied = true;
            res->failed_claim[0] = '\0';
            snprintf(res->clause, sizeof(res->clause), "every condition of authority %s holds",
                     authority);
            return 0;
        }
    }
    if (!issuer_listed) {
        res->authority[0] = '\0';
        snprintf(res->failed_claim, sizeof(res->failed_claim), "iss");
        snprintf(res->clause, sizeof(res->clause),
                 "the token's issuer %s is not an authority of the policy (%d listed)", iss,
                 cJSON_GetArraySize(auths));
    }
    return -EKEYREJECTED;
}
