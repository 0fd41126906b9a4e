/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cvm-agent verify --token F [--jwks F | --certs-url URL] [--nonce S]
 *                  [--transfer-key F] [--at TIME]
 *
 * An MAA token checked as `attest` checks it (attest_token_verify), offline
 * when the signing keys come from a file: the nonce and the transfer key are
 * compared only when given. The expected issuer is [attestation] url, else
 * the --certs-url endpoint; with neither, iss is not compared (announced).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/args.h"
#include "agent/verify.h"
#include "attest/attest.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/log.h"
#include "tpm/tpm.h"

static int load_jwks(const char *path, cJSON **ret) {
    _cleanup_free_ uint8_t *data = NULL;
    size_t len = 0;
    int r = agent_read_file("JWKS", path, &data, &len);
    if (r < 0)
        return r;
    if (json_parse(data, len, ret) < 0 || !json_get_array(*ret, "keys"))
        return log_error_errno(-EINVAL, "'%s' is not a JWKS ({\"keys\": [...]}, as MAA's /certs)",
                               path);
    log_notice("signing keys from the user-named JWKS '%s', not fetched from the issuer", path);
    return 0;
}

static int load_transfer_key(const char *path, EVP_PKEY **ret) {
    _cleanup_free_ uint8_t *data = NULL;
    size_t len = 0;
    int r = agent_read_file("transfer key", path, &data, &len);
    if (r < 0)
        return r;
    if (crypto_load_pubkey(data, len, ret) >= 0 || tpm_public_to_pkey(data, len, ret) >= 0)
        return 0;
    return log_error_errno(-EINVAL, "'%s' is neither a PEM/DER public key nor a TPM2B_PUBLIC",
                           path);
}

/* iss expected: the configured endpoint, else the endpoint the keys came from. */
static char *expected_issuer(AgentContext *ctx, const VerifyOptions *o) {
    if (ctx->cfg.attest_url)
        return strdup(ctx->cfg.attest_url);
    if (o->certs_url) {
        size_t n = strlen(o->certs_url);
        if (n > 6 && streq(o->certs_url + n - 6, "/certs"))
            return strndup(o->certs_url, n - 6);
    }
    return NULL;
}

static void add_time(cJSON *obj, const char *key, const cJSON *claims, const char *claim) {
    int64_t t;
    char buf[64];
    if (json_get_int(claims, claim, &t) < 0)
        return;
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
        json_add_string(obj, key, buf);
}

/* A summary of what the token says, then its header and claims as they are. */
static void describe(cJSON *out, const TokenResult *res) {
    cJSON *t = cJSON_AddObjectToObject(out, "token");
    if (!t || !res->claims)
        return;
    const cJSON *tee = json_get_object(res->claims, "x-ms-isolation-tee");
    const char *s;
    if ((s = json_get_string(res->claims, "iss")))
        json_add_string(t, "issuer", s);
    if ((s = json_get_string(res->header, "kid")))
        json_add_string(t, "kid", s);
    if (*res->key_source)
        json_add_string(t, "signing_key", res->key_source);
    add_time(t, "issued", res->claims, "iat");
    add_time(t, "not_before", res->claims, "nbf");
    add_time(t, "expires", res->claims, "exp");
    if ((s = json_get_string(res->claims, "x-ms-attestation-type")))
        json_add_string(t, "attestation_type", s);
    if ((s = json_get_string(tee, "x-ms-attestation-type")))
        json_add_string(t, "tee", s);
    if ((s = json_get_string(tee ? tee : res->claims, "x-ms-compliance-status")))
        json_add_string(t, "compliance_status", s);
    cJSON_AddItemToObject(t, "header", cJSON_Duplicate(res->header, true));
    cJSON_AddItemToObject(t, "claims", cJSON_Duplicate(res->claims, true));
}

int verify_token(AgentContext *ctx, const VerifyOptions *o, cJSON *out) {
    _cleanup_free_ uint8_t *token = NULL;
    _cleanup_free_ char *issuer = NULL;
    _cleanup_json_ cJSON *jwks = NULL;
    _cleanup_pkey_ EVP_PKEY *transfer_key = NULL;
    size_t len = 0;
    HttpConfig http;
    TokenResult res;

    if (o->jwks && o->certs_url)
        return log_error_errno(-EINVAL, "--jwks and --certs-url both name the signing keys: "
                                        "give one");
    int r;
    if ((r = agent_read_token(o->token, &token, &len)) < 0 ||
        (o->jwks && (r = load_jwks(o->jwks, &jwks)) < 0) ||
        (o->transfer_key && (r = load_transfer_key(o->transfer_key, &transfer_key)) < 0))
        return r;
    issuer = expected_issuer(ctx, o);
    if (!issuer && !o->jwks)
        return log_error_errno(-EINVAL, "--token needs the signing keys: --jwks F, --certs-url "
                                        "URL, or [attestation] url in the configuration");
    if (!issuer)
        log_warning("the token's issuer is not compared: no [attestation] url is configured");
    agent_http_config(&ctx->cfg, &http);
    TokenExpect expect = {
        .issuer = issuer,
        .nonce = o->nonce,
        .transfer_key = transfer_key,
        .leeway_s = ctx->cfg.attest_leeway_ms / 1000,
        .now = o->at,
    };
    TokenKeys keys = {
        .jwks = jwks,
        .certs_url = o->certs_url,
        .state_dir = ctx->cfg.state_dir,
        .http = &http,
    };
    r = attest_token_verify((const char *)token, len, &expect, &keys, &res);
    if (r == -ENOMEM) {
        attest_token_result_done(&res);
        return log_error_errno(r, "out of memory");
    }
    if (r == -EINVAL) {
        log_error("%s", res.reason);
        attest_token_result_done(&res);
        return r;
    }
    describe(out, &res);
    attest_token_result_done(&res);
    if (r < 0) {
        json_add_string(out, "failed_check", res.failed_claim ? res.failed_claim : "token");
        return verify_fail(out, r, "%s", res.reason);
    }
    return verify_pass(out);
}
