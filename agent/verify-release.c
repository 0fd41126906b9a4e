/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cvm-agent verify --release-response F [--at T] [--ca-bundle F]
 * cvm-agent verify --release-policy P --token F [--jwks F | --certs-url URL]
 *
 * A Key Vault / Managed HSM release response checked as `release` checks it
 * (a payload without its signature is decoded but "unverifiable"), and a key
 * release policy evaluated against a token's claims as `release` does before
 * asking the vault.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/args.h"
#include "agent/verify.h"
#include "common/crypto.h"
#include "common/jose.h"
#include "common/json.h"
#include "common/log.h"
#include "release/release.h"

static void describe_release(cJSON *out, const ReleasedKeyInfo *info) {
    cJSON *k = cJSON_AddObjectToObject(out, "release");
    if (!k)
        return;
    json_add_string(k, "vault", release_vault_name(info->vault));
    if (info->request_kid)
        json_add_string(k, "requested", info->request_kid);
    if (info->enc)
        json_add_string(k, "enc", info->enc);
    if (info->kid)
        json_add_string(k, "kid", info->kid);
    if (info->version)
        json_add_string(k, "version", info->version);
    if (info->kty)
        json_add_string(k, "kty", info->kty);
    if (info->has_enabled)
        json_add_bool(k, "enabled", info->enabled);
    if (info->has_exportable)
        json_add_bool(k, "exportable", info->exportable);
    if (info->has_exp)
        json_add_int(k, "exp", info->exp);
    if (info->signer)
        json_add_string(k, "signer", info->signer);
    json_add_bool(k, "key_hsm_present", info->key_hsm != NULL);
    if (info->header) {
        /* the certificates are long and say nothing the signer line does not */
        cJSON *h = cJSON_Duplicate(info->header, true);
        cJSON_DeleteItemFromObjectCaseSensitive(h, "x5c");
        cJSON_AddItemToObject(k, "header", h);
    }
}

/* A JWS (compact, or the service's {"value": ...}) rather than a bare payload. */
static bool looks_signed(const char *text) {
    const char *p = text + strspn(text, " \t\r\n");
    if (*p == '{')
        return strstr(p, "\"value\"") && !strstr(p, "\"response\"");
    const char *dot = strchr(p, '.');
    return dot && strchr(dot + 1, '.');
}

int verify_release_response(AgentContext *ctx, const VerifyOptions *o, cJSON *out) {
    _cleanup_free_ uint8_t *data = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *roots = NULL;
    _cleanup_free_ char *err = NULL;
    ReleasedKeyInfo info = {0};
    size_t len = 0;
    int r;
    if ((r = agent_read_file("release response", o->release_response, &data, &len)) < 0)
        return r;
    if (!looks_signed((const char *)data)) {
        r = release_payload_decode((const char *)data, len, &info, &err);
        describe_release(out, &info);
        released_key_info_done(&info);
        json_add_bool(out, "unverifiable", true);
        if (r < 0)
            return verify_fail(out, -EBADMSG, "%s", err ? err : "not a release response");
        return verify_fail(out, -EKEYREJECTED,
                           "unverifiable: a release payload without its header and signature "
                           "(nothing authenticates it)");
    }
    const char *ca = o->ca_bundle ? o->ca_bundle : ctx->cfg.keyvault_signer_ca;
    if (release_trust_load(ca, &roots) < 0)
        return -EINVAL;
    /* what the answer rests on: the public roots, or the user-named ones */
    char anchor[4200];
    snprintf(anchor, sizeof(anchor), ca ? "non-production: the CA bundle '%s'" : "%s",
             ca ? ca : "the system certificate store");
    if (json_add_string(out, "trust_anchor", anchor) < 0)
        return -ENOMEM;
    ReleaseJwsCheck chk = {
        .trusted = roots, .at = o->at, .signer_host = ctx->cfg.keyvault_signer_host};
    r = release_jws_verify((const char *)data, len, &chk, &info, &err);
    describe_release(out, &info);
    released_key_info_done(&info);
    if (r == -ENOMEM)
        return log_error_errno(r, "out of memory");
    if (r < 0)
        return verify_fail(out, r, "%s", err ? err : "the release response does not verify");
    return verify_pass(out);
}

/* The token's claims without authentication (announced), when no keys are given. */
static int unverified_claims(const char *path, cJSON **ret) {
    _cleanup_free_ uint8_t *data = NULL;
    _cleanup_jws_ JoseJws *jws = NULL;
    size_t len = 0;
    const char *why = NULL;
    int r = agent_read_token(path, &data, &len);
    if (r < 0)
        return r;
    if (jose_jws_parse((const char *)data, len, &jws, &why) < 0)
        return log_error_errno(-EINVAL, "'%s' is not a compact JWT: %s", path, why ? why : "?");
    *ret = cJSON_Duplicate(jws->payload, true);
    return *ret ? 0 : -ENOMEM;
}

int verify_release_policy(AgentContext *ctx, const VerifyOptions *o, cJSON *out) {
    _cleanup_free_ uint8_t *text = NULL;
    _cleanup_json_ cJSON *policy = NULL;
    _cleanup_json_ cJSON *own_claims = NULL;
    const char *why = NULL;
    size_t len = 0;
    PolicyResult pr;
    int r;
    if (!o->token)
        return log_error_errno(-EINVAL, "--release-policy needs --token F (the claims to "
                                        "evaluate)");
    if ((r = agent_read_file("release policy", o->release_policy, &text, &len)) < 0)
        return r;
    if (release_policy_parse((const char *)text, len, &policy, &why) < 0)
        return log_error_errno(-EINVAL, "'%s' is not a key release policy: %s", o->release_policy,
                               why);
    bool authenticated = o->jwks || o->certs_url || ctx->cfg.attest_url;
    const cJSON *claims;
    if (authenticated) {
        r = verify_token(ctx, o, out);
        if (r < 0)
            return r; /* the token itself failed: that is the answer */
        claims = json_get_object(json_get_object(out, "token"), "claims");
    } else {
        log_warning("the token's signature is not checked (no --jwks, --certs-url or "
                    "[attestation] url): the verdict is about its claims only");
        if ((r = unverified_claims(o->token, &own_claims)) < 0)
            return r;
        claims = own_claims;
    }
    r = release_policy_eval(policy, claims, &pr);
    cJSON *p = cJSON_AddObjectToObject(out, "policy");
    if (p) {
        json_add_bool(p, "satisfied", pr.satisfied);
        if (*pr.authority)
            json_add_string(p, "authority", pr.authority);
        json_add_string(p, pr.satisfied ? "matched" : "failed", pr.clause);
        if (*pr.failed_claim)
            json_add_string(p, "failed_claim", pr.failed_claim);
    }
    json_add_bool(out, "token_authenticated", authenticated);
    if (r == -EBADMSG)
        return log_error_errno(-EINVAL, "'%s': %s", o->release_policy, pr.clause);
    if (r < 0)
        return verify_fail(out, r, "the release policy is not met: %s", pr.clause);
    if (!authenticated)
        return verify_fail(out, -EKEYREJECTED,
                           "the policy holds for the token's claims, but the token is not "
                           "authenticated (give --jwks, --certs-url or [attestation] url)");
    return verify_pass(out);
}
