/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * store/'s key provider over release/: the public part of a CMK version from
 * the key's metadata (no release needed to seal), unwrap by releasing that
 * version into this VM (attesting once per run), the newest version from the
 * key's paged version list.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/key-provider.h"
#include "common/jose.h"
#include "common/json.h"
#include "common/log.h"

#define DEFAULT_API_VERSION "7.4"

int agent_store_bearer(AgentStore *s, const char **ret) {
    if (!s->bearer) {
        int r = agent_vault_bearer(s->ctx, &s->http, &s->key, now_realtime_s(), &s->bearer);
        if (r < 0)
            return r;
    }
    *ret = (const char *)s->bearer->data;
    return 0;
}

int agent_exit_to_errno(int exit_code) {
    switch (exit_code) {
    case CVM_EXIT_OK: return 0;
    case CVM_EXIT_USAGE: return -EINVAL;
    case CVM_EXIT_TRANSIENT: return -EAGAIN;
    case CVM_EXIT_PLATFORM: return -EIO;
    default: return -EKEYREJECTED;
    }
}

int agent_store_attest(AgentStore *s) {
    if (s->attested)
        return s->attest_exit;
    s->attested = true;
    s->attest_exit = agent_attest_token(s->ctx, &s->token, &s->claims);
    if (s->attest_exit != CVM_EXIT_OK)
        log_error("the attestation of this VM failed: no key version can be released");
    return s->attest_exit;
}

static int provider_newest(void *userdata, char **ret_version) {
    AgentStore *s = userdata;
    const char *bearer = NULL;
    VaultError err;
    unsigned pages = 0;
    int r = agent_store_bearer(s, &bearer);
    if (r < 0)
        return s->newest_error = r;
    r = vault_newest_version(&s->http, &s->key, s->api_version, bearer, ret_version, &pages, &err);
    if (r == -ENOENT && err.status == 0)
        return s->newest_error = log_error_errno(
                   -EKEYREJECTED, "%s has no enabled version: enable or create one", s->key_url);
    if (r == -EPROTO && err.status == 0)
        return s->newest_error = log_error_errno(r, "the version list of %s is unusable: %s",
                                                 s->key_url, err.message);
    if (r < 0)
        r = agent_vault_failure("cannot list the versions of the key", r, &err);
    if (r < 0)
        return s->newest_error = r;
    log_debug("the newest version of %s is %s (%u page(s) of versions)", s->key_url, *ret_version,
              pages);
    return 0;
}

static int provider_wrapping_key(void *userdata, const char *version, StoreWrappingKey *ret) {
    AgentStore *s = userdata;
    _cleanup_json_ cJSON *bundle = NULL;
    const char *bearer = NULL, *why = NULL;
    VaultError err;
    KeyRef k = s->key;
    k.version = (char *)version;
    int r = agent_store_bearer(s, &bearer);
    if (r < 0)
        return r;
    r = vault_get_key(&s->http, &k, s->api_version, bearer, &bundle, &err);
    if (r < 0)
        return agent_vault_failure("cannot read the key version's public part", r, &err);
    const cJSON *jwk = json_get_object(bundle, "key");
    const char *kty = json_get_string(jwk, "kty");
    if (!kty || !startswith(kty, "RSA"))
        return log_error_errno(-EOPNOTSUPP,
                               "%s/%s is a %s key: the secret store wraps to RSA keys (the "
                               "metadata of an oct key carries no public part)",
                               s->key_url, version, kty ? kty : "(no kty)");
    /* the vault's JWK says RSA-HSM; the public part is an RFC 7517 RSA key */
    _cleanup_json_ cJSON *rsa = cJSON_Duplicate(jwk, true);
    if (!rsa || !cJSON_ReplaceItemInObject(rsa, "kty", cJSON_CreateString("RSA")))
        return -ENOMEM;
    r = jose_jwk_to_pkey(rsa, &ret->rsa_public, &why);
    if (r < 0)
        return log_error_errno(-EPROTO, "the public key of %s/%s is unusable: %s", s->key_url,
                               version, why ? why : "?");
    ret->alg = STORE_WRAP_RSA_OAEP_256;
    return 0;
}

static int provider_unwrap(void *userdata, const char *version, StoreWrapAlg alg,
                           const uint8_t *wrapped, size_t wrapped_len, SecretBuf **ret) {
    AgentStore *s = userdata;
    _cleanup_free_ char *url = NULL;
    ReleasedKey key = {0};
    int r = agent_store_attest(s);
    if (r != CVM_EXIT_OK) /* keep its class: a TPM gone is not a "no" */
        return agent_exit_to_errno(r);
    if (asprintf(&url, "%s/%s", s->key_url, version) < 0)
        return -ENOMEM;
    r = agent_release_version(s->ctx, url, (const char *)s->token->data, s->claims, &key);
    if (r < 0) {
        log_error("cannot release %s: the secret cannot be opened with it", url);
        return r;
    }
    if (alg == STORE_WRAP_RSA_OAEP_256 && key.pkey)
        r = store_unwrap_rsa(key.pkey, wrapped, wrapped_len, ret);
    else if (alg == STORE_WRAP_AES_KWP && key.oct)
        r = store_unwrap_oct(key.der, wrapped, wrapped_len, ret);
    else
        r = log_error_errno(-EKEYREJECTED, "%s released a %s key, the envelope wants %s", url,
                            key.key_type, store_wrap_alg_name(alg));
    released_key_done(&key);
    return r;
}

static int resolve_key(AgentStore *s) {
    const char *url = s->ctx->cfg.keyvault_key;
    if (!url)
        return log_error_errno(-EINVAL, "no customer-managed key: set [keyvault] key");
    if (key_ref_parse(url, &s->key) < 0)
        return log_error_errno(
            -EINVAL, "[keyvault] key '%s' is not https://<vault>/keys/<name>[/<version>]", url);
    free(s->key.version);
    s->key.version = NULL;
    if (!http_url_allowed(&s->http, s->key.vault))
        return log_error_errno(-EINVAL,
                               "the vault URL %s is not allowed (https only; plain http only to "
                               "loopback with allow-plain-http-loopback)",
                               s->key.vault);
    if (asprintf(&s->key_url, "%s/keys/%s", s->key.vault, s->key.name) < 0)
        return -ENOMEM;
    s->api_version =
        s->ctx->cfg.keyvault_api_version ? s->ctx->cfg.keyvault_api_version : DEFAULT_API_VERSION;
    return 0;
}

int agent_store_open(AgentContext *ctx, AgentStore *ret) {
    *ret = (AgentStore){.ctx = ctx};
    agent_http_config(&ctx->cfg, &ret->http);
    int r = resolve_key(ret);
    if (r < 0)
        return cvm_exit_from_errno(r);
    r = tpm_open(ctx->cfg.tcti, &ret->tpm);
    if (r < 0) {
        log_error("cannot open the TPM '%s': %s", ctx->cfg.tcti, tpm_last_error(NULL));
        return CVM_EXIT_PLATFORM;
    }
    ret->provider = (StoreKeyProvider){.userdata = ret,
                                       .key_url = ret->key_url,
                                       .newest_version = provider_newest,
                                       .wrapping_key = provider_wrapping_key,
                                       .unwrap = provider_unwrap};
    const char *state = ctx->cfg.state_dir ? ctx->cfg.state_dir : AGENT_DEFAULT_STATE_DIR;
    r = store_new(state, ret->tpm, &ret->provider, &ret->store);
    if (r < 0) {
        log_error("cannot open the secret store in %s: %s", state, strerror(-r));
        return CVM_EXIT_PLATFORM;
    }
    return CVM_EXIT_OK;
}

void agent_store_done(AgentStore *s) {
    store_free(s->store);
    tpm_close(s->tpm);
    key_ref_done(&s->key);
    free(s->key_url);
    secret_free(s->bearer);
    secret_free(s->token);
    cJSON_Delete(s->claims);
    *s = (AgentStore){0};
}
