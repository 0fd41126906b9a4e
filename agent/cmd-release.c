/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cvm-agent release [--key URL] [--token F] [--out F] [--format der|pem]
 *                   [--nonce S] [--enc E] [--json]
 *
 * Secure key release: a verified MAA token (attested now, reused from the
 * token cache, or given with --token; the transfer key in it must be this
 * vTPM's), the key's own release policy checked against it, a bearer
 * token for the vault, the release call, the signed response verified, and
 * key_hsm unwrapped inside the TPM. The key is written to --out (0600) and
 * never printed.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/args.h"
#include "attest/attest.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "release/release.h"
#include "tpm/tpm.h"

#define DEFAULT_API_VERSION "7.4"
#define AZURE_PCRS          0xffu /* PCR 0-7, SHA-256 (azure-wire-formats.md §4) */

typedef struct ReleaseOptions {
    const char *key;
    const char *token;
    const char *out;
    const char *nonce;
    const char *enc;
    bool pem;
    bool json;
} ReleaseOptions;

typedef struct ReleaseRun {
    AgentContext *ctx;
    const ReleaseOptions *o;
    HttpConfig http;
    KeyRef key;
    ReleaseEnc enc;
    const char *api_version;
    int64_t now;
    char *token; /* the verified MAA token */
    cJSON *claims;
    SecretBuf *bearer;
    ReleasedKeyInfo info;
    ReleasedKey released;
    cJSON *out;
} ReleaseRun;

void release_usage(FILE *f) {
    fprintf(f, "Usage: cvm-agent release [OPTIONS]\n"
               "Release a Key Vault / Managed HSM key into this VM: the key's release policy\n"
               "is checked against the attestation token, the vault's signed answer is\n"
               "verified and the key is unwrapped inside the vTPM.\n"
               "      --key URL        https://<vault>/keys/<name>[/<version>] (default\n"
               "                       [keyvault] key)\n"
               "      --token F        use this MAA token (verified against [attestation] url\n"
               "                       and this vTPM's transfer key) instead of attesting;\n"
               "                       default: attest as `attest` does (reusing the\n"
               "                       [attestation] token-cache token while it is valid)\n"
               "      --out FILE       write the key there (mode 0600); never printed\n"
               "      --format der|pem PKCS#8 DER (default) or PEM; raw bytes for oct keys\n"
               "      --enc E          CKM_RSA_AES_KEY_WRAP, RSA_AES_KEY_WRAP_256 (default) or\n"
               "                       RSA_AES_KEY_WRAP_384 (default [keyvault] enc)\n"
               "      --nonce S        a nonce for the release request\n"
               "      --json           print a JSON object\n"
               "  -h, --help           this help\n");
}

static void run_done(ReleaseRun *run) {
    key_ref_done(&run->key);
    secure_free_string(run->token);
    cJSON_Delete(run->claims);
    secret_free(run->bearer);
    released_key_info_done(&run->info);
    released_key_done(&run->released);
    cJSON_Delete(run->out);
}

static int parse_options(int argc, char **argv, ReleaseOptions *o) {
    enum { OPT_KEY = 0x100, OPT_TOKEN, OPT_OUT, OPT_FORMAT, OPT_NONCE, OPT_ENC, OPT_JSON };
    static const struct option options[] = {
        {"key", required_argument, NULL, OPT_KEY},
        {"token", required_argument, NULL, OPT_TOKEN},
        {"out", required_argument, NULL, OPT_OUT},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"nonce", required_argument, NULL, OPT_NONCE},
        {"enc", required_argument, NULL, OPT_ENC},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h': release_usage(stdout); return 1;
        case OPT_KEY: o->key = optarg; break;
        case OPT_TOKEN: o->token = optarg; break;
        case OPT_OUT: o->out = optarg; break;
        case OPT_FORMAT:
            if (!streq(optarg, "der") && !streq(optarg, "pem"))
                return log_error_errno(-EINVAL, "--format wants der or pem, not '%s'", optarg);
            o->pem = streq(optarg, "pem");
            break;
        case OPT_NONCE: o->nonce = optarg; break;
        case OPT_ENC: o->enc = optarg; break;
        case OPT_JSON: o->json = true; break;
        default: fprintf(stderr, "see 'cvm-agent release --help'\n"); return -EINVAL;
        }
    }
    if (optind < argc)
        return log_error_errno(-EINVAL, "release: unexpected argument '%s'", argv[optind]);
    return 0;
}

/* Key URL, enc, api-version: usage errors before anything is contacted. */
static int resolve_config(ReleaseRun *run) {
    const AgentConfig *cfg = &run->ctx->cfg;
    const char *url = run->o->key ? run->o->key : cfg->keyvault_key;
    const char *enc = run->o->enc ? run->o->enc : cfg->keyvault_enc;
    if (!url)
        return log_error_errno(-EINVAL, "release: no key named: give --key URL or set "
                                        "[keyvault] key");
    int r = key_ref_parse(url, &run->key);
    if (r == -EINVAL)
        return log_error_errno(r, "'%s' is not a key URL https://<vault>/keys/<name>[/<version>]",
                               url);
    if (r < 0)
        return r;
    if (!http_url_allowed(&run->http, run->key.vault))
        return log_error_errno(-EINVAL,
                               "the vault URL %s is not allowed (https only; plain "
                               "http only to loopback with allow-plain-http-loopback)",
                               run->key.vault);
    run->enc = RELEASE_ENC_RSA_AES_KEY_WRAP_256;
    if (enc && release_enc_from_string(enc, &run->enc) < 0)
        return log_error_errno(-EINVAL,
                               "[keyvault] enc / --enc wants CKM_RSA_AES_KEY_WRAP, "
                               "RSA_AES_KEY_WRAP_256 or RSA_AES_KEY_WRAP_384, not '%s'",
                               enc);
    run->api_version = cfg->keyvault_api_version ? cfg->keyvault_api_version : DEFAULT_API_VERSION;
    if (!cfg->attest_url)
        return log_error_errno(-EINVAL, "release: set [attestation] url: the token is verified "
                                        "against that issuer before it is sent");
    return 0;
}

/* Our transfer key, to check that the token carries it (else the vault would
 * wrap the key to someone else's key). */
static int transfer_key(ReleaseRun *run, EVP_PKEY **ret) {
    _cleanup_tpm_ TpmContext *t = NULL;
    _cleanup_free_ uint8_t *pub = NULL;
    size_t len = 0;
    TpmPcrSelection sel = {.hash = TPM_HASH_SHA256, .mask = AZURE_PCRS};
    int r = tpm_open(run->ctx->cfg.tcti, &t);
    if (r < 0)
        return log_error_errno(r, "cannot open the TPM '%s': %s", run->ctx->cfg.tcti,
                               tpm_last_error(NULL));
    r = tpm_transfer_key_public(t, &sel, &pub, &len);
    if (r < 0)
        return log_error_errno(r, "cannot derive the transfer key in the TPM: %s",
                               tpm_last_error(t));
    r = tpm_public_to_pkey(pub, len, ret);
    return r < 0 ? log_error_errno(r, "the TPM's transfer key cannot be read") : 0;
}

/* A CvmExit of another command's code as the errno release_steps passes on. */
static int exit_to_errno(int e) {
    switch (e) {
    case CVM_EXIT_OK: return 0;
    case CVM_EXIT_REJECTED: return -EKEYREJECTED;
    case CVM_EXIT_USAGE: return -EINVAL;
    case CVM_EXIT_TRANSIENT: return -EAGAIN;
    default: return -EIO;
    }
}

/* No --token: attest now, or reuse the cached token while it fits this VM. */
static int attest_now(ReleaseRun *run) {
    _cleanup_secret_ SecretBuf *jwt = NULL;
    int r = exit_to_errno(agent_attest_token(run->ctx, &jwt, &run->claims));
    if (r < 0)
        return log_error_errno(r, "release: no attestation token, nothing was released");
    run->token = strndup((const char *)jwt->data, jwt->len);
    return run->token ? 0 : -ENOMEM;
}

static int verify_target_token(ReleaseRun *run) {
    if (!run->o->token)
        return attest_now(run);
    _cleanup_free_ uint8_t *data = NULL;
    _cleanup_pkey_ EVP_PKEY *tk = NULL;
    size_t len = 0;
    TokenResult res;
    int r = agent_read_token(run->o->token, &data, &len);
    if (r < 0)
        return r;
    r = transfer_key(run, &tk);
    if (r < 0)
        return r;
    TokenExpect expect = {
        .issuer = run->ctx->cfg.attest_url,
        .transfer_key = tk,
        .attestation_type = "azurevm",
        .leeway_s = run->ctx->cfg.attest_leeway_ms / 1000,
        .now = run->now,
    };
    TokenKeys keys = {.state_dir = run->ctx->cfg.state_dir, .http = &run->http};
    r = attest_token_verify((const char *)data, len, &expect, &keys, &res);
    if (r < 0) {
        log_error("the attestation token is not usable for release: %s", res.reason);
        attest_token_result_done(&res);
        return r;
    }
    run->claims = TAKE_PTR(res.claims);
    attest_token_result_done(&res);
    run->token = strndup((const char *)data, len);
    secure_wipe(data, len);
    return run->token ? 0 : -ENOMEM;
}

int agent_vault_bearer(AgentContext *ctx, const HttpConfig *http, const KeyRef *key, int64_t now,
                       SecretBuf **ret) {
    const AgentConfig *cfg = &ctx->cfg;
    IdentityConfig ic = {
        .imds_url = cfg->imds_url,
        .client_id = cfg->identity_client_id,
        .object_id = cfg->identity_object_id,
        .msi_res_id = cfg->identity_msi_res_id,
        .token_file = cfg->identity_token_file,
        .token_env = cfg->identity_token_env,
    };
    IdentityError err;
    if (cfg->identity_source && identity_source_from_string(cfg->identity_source, &ic.source) < 0)
        return log_error_errno(-EINVAL, "[identity] source wants imds, file or env, not '%s'",
                               cfg->identity_source);
    const char *resource = cfg->keyvault_resource ? cfg->keyvault_resource : key_ref_resource(key);
    int r = identity_token(&ic, http, resource, now, ret, &err);
    if (r == -EACCES)
        log_error("no managed identity token: HTTP %ld %s%s%s (is a managed identity assigned "
                  "to the VM, and client-id/object-id/msi-res-id right?)",
                  err.status, err.error, *err.description ? ": " : "", err.description);
    return r;
}

static int get_bearer(ReleaseRun *run) {
    return agent_vault_bearer(run->ctx, &run->http, &run->key, run->now, &run->bearer);
}

/* The vault's words, and the exit status they mean. */
int agent_vault_failure(const char *what, int r, const VaultError *err) {
    const char *hint = "";
    if (err->status == 401)
        hint = " (the bearer token was refused: check [identity] and the vault resource)";
    else if (err->status == 403)
        hint = " (the key's release policy is not met, the identity lacks the release "
               "permission, or the key is disabled)";
    else if (err->status == 404)
        hint = " (no such key or version: check [keyvault] key)";
    if (err->status == 429 || err->status >= 500)
        log_error("%s: HTTP %ld %s%s%s (still after retries: the vault is throttling or "
                  "unavailable; try again later)",
                  what, err->status, err->code, *err->code ? ": " : "", err->message);
    else if (err->status)
        log_error("%s: HTTP %ld %s%s%s%s", what, err->status, err->code, *err->code ? ": " : "",
                  err->message, hint);
    else if (r == -EPROTO)
        log_error("%s: %s (the vault's answer is unusable: try again later)", what, err->message);
    else
        log_error("%s: %s (the vault did not answer after retries: try again later)", what,
                  err->message);
    if (r == -ENOENT || r == -EACCES || r == -EBADMSG)
        return -EKEYREJECTED; /* the service said no: exit 1 */
    return r;
}

/* The key's own policy against our token, when the metadata is readable. */
static int check_key_policy(ReleaseRun *run) {
    _cleanup_json_ cJSON *bundle = NULL;
    _cleanup_json_ cJSON *policy = NULL;
    VaultError err;
    PolicyResult pr;
    int r = vault_get_key(&run->http, &run->key, run->api_version, (const char *)run->bearer->data,
                          &bundle, &err);
    if (r == -EACCES && err.status == 403) {
        log_notice("the key's metadata is not readable (%s: %s): its release policy is not "
                   "checked before the release",
                   err.code, err.message);
        return 0;
    }
    if (r < 0)
        return agent_vault_failure("cannot read the key's metadata", r, &err);
    if (vault_bundle_policy(bundle, &policy) < 0) {
        log_notice("the key's metadata carries no readable release policy");
        return 0;
    }
    r = release_policy_eval(policy, run->claims, &pr);
    cJSON *p = cJSON_AddObjectToObject(run->out, "policy");
    if (p) {
        json_add_bool(p, "satisfied", pr.satisfied);
        json_add_string(p, "authority", pr.authority);
        json_add_string(p, pr.satisfied ? "matched" : "failed", pr.clause);
    }
    if (r == -EBADMSG) {
        log_warning("the key's release policy cannot be evaluated here (%s); the vault decides",
                    pr.clause);
        return 0;
    }
    if (r < 0)
        return log_error_errno(-EKEYREJECTED,
                               "the key's release policy is not met by the "
                               "token: %s",
                               pr.clause);
    log_info("the key's release policy holds: %s", pr.clause);
    return 0;
}

static int release_and_verify(ReleaseRun *run) {
    _cleanup_(secure_free_stringp) char *body = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *roots = NULL;
    _cleanup_free_ char *err = NULL;
    size_t len = 0;
    VaultError verr;
    int r = vault_release(&run->http, &run->key, run->api_version, (const char *)run->bearer->data,
                          run->token, run->enc, run->o->nonce, &body, &len, &verr);
    if (r < 0)
        return agent_vault_failure("the key release at the vault failed", r, &verr);
    r = release_trust_load(run->ctx->cfg.keyvault_signer_ca, &roots);
    if (r < 0)
        return r;
    ReleaseJwsCheck chk = {
        .trusted = roots,
        .at = run->now,
        .signer_host = run->ctx->cfg.keyvault_signer_host,
    };
    r = release_jws_verify(body, len, &chk, &run->info, &err);
    if (r == -EPROTO) /* like a garbled MAA answer: transient (exit 3) */
        return log_error_errno(r, "the vault's release answer is unusable: %s; try again later",
                               err ? err : "?");
    if (r < 0)
        return log_error_errno(r == -ENOMEM ? r : -EKEYREJECTED,
                               "the release response does not verify; nothing was unwrapped: %s",
                               err ? err : "?");
    /* the signed payload must be about the key we asked for, wrapped as asked */
    _cleanup_free_ char *prefix = NULL;
    if (asprintf(&prefix, "%s/keys/%s/", run->key.vault, run->key.name) < 0)
        return -ENOMEM;
    if (!startswith(run->info.kid, prefix) ||
        (run->key.version && !streq_ptr(run->info.version, run->key.version)))
        return log_error_errno(-EKEYREJECTED, "the vault released %s, not the key asked for (%s)",
                               run->info.kid, prefix);
    if (!streq_ptr(run->info.enc, release_enc_to_string(run->enc)))
        return log_error_errno(-EKEYREJECTED, "the vault echoed enc %s, not %s",
                               run->info.enc ? run->info.enc : "(none)",
                               release_enc_to_string(run->enc));
    return 0;
}

static int unwrap(ReleaseRun *run) {
    _cleanup_tpm_ TpmContext *t = NULL;
    TpmPcrSelection sel = {.hash = TPM_HASH_SHA256, .mask = AZURE_PCRS};
    char why[512] = "";
    int r = tpm_open(run->ctx->cfg.tcti, &t);
    if (r < 0)
        return log_error_errno(r, "cannot open the TPM '%s': %s", run->ctx->cfg.tcti,
                               tpm_last_error(NULL));
    bool oct = startswith(run->info.kty, "oct");
    r = release_unwrap(t, &sel, run->info.key_hsm, run->enc, oct, &run->released, why, sizeof(why));
    if (r < 0)
        return log_error_errno(r == -ENOMEM ? r : -EKEYREJECTED, "cannot unwrap the key: %s", why);
    return 0;
}

static int write_out(ReleaseRun *run) {
    _cleanup_secret_ SecretBuf *data = NULL;
    if (!run->o->out) {
        log_notice("the key was released and unwrapped but not written: give --out FILE");
        return 0;
    }
    int r = released_key_export(&run->released, run->o->pem, &data);
    if (r < 0)
        return log_error_errno(r, "cannot encode the key");
    r = write_file_atomic(run->o->out, data->data, data->len, 0600);
    if (r < 0)
        return log_error_errno(-EIO, "cannot write the key to '%s': %s", run->o->out, strerror(-r));
    return 0;
}

static void describe(ReleaseRun *run) {
    cJSON *k = cJSON_AddObjectToObject(run->out, "key");
    if (!k)
        return;
    json_add_string(k, "kid", run->info.kid);
    if (run->info.version)
        json_add_string(k, "version", run->info.version);
    json_add_string(k, "kty", run->info.kty);
    json_add_string(k, "vault", release_vault_name(run->info.vault));
    if (run->info.has_enabled)
        json_add_bool(k, "enabled", run->info.enabled);
    if (run->info.has_exportable)
        json_add_bool(k, "exportable", run->info.exportable);
    if (run->info.has_exp)
        json_add_int(k, "exp", run->info.exp);
    json_add_string(k, "enc", release_enc_to_string(run->enc));
    json_add_string(k, "key_type", run->released.key_type);
    if (run->released.has_public)
        json_add_hex(k, "public_key_sha256", run->released.public_sha256, 32);
    if (run->info.signer)
        json_add_string(k, "signer", run->info.signer);
    if (run->o->out) {
        json_add_string(k, "written_to", run->o->out);
        json_add_string(k, "format", run->released.oct ? "raw" : run->o->pem ? "pem" : "der");
    }
}

static int release_steps(ReleaseRun *run) {
    int r = resolve_config(run);
    if (r >= 0)
        r = verify_target_token(run);
    if (r >= 0)
        r = get_bearer(run);
    if (r >= 0)
        r = check_key_policy(run);
    if (r >= 0)
        r = release_and_verify(run);
    if (r >= 0)
        r = unwrap(run);
    if (r >= 0)
        r = write_out(run);
    return r;
}

int agent_release_version(AgentContext *ctx, const char *key_url, const char *token,
                          const cJSON *claims, ReleasedKey *ret) {
    ReleaseOptions o = {.key = key_url};
    ReleaseRun run = {.ctx = ctx, .o = &o, .now = now_realtime_s(), .out = cJSON_CreateObject()};
    agent_http_config(&ctx->cfg, &run.http);
    run.token = strdup(token);
    run.claims = cJSON_Duplicate(claims, true);
    int r = run.out && run.token && run.claims ? 0 : -ENOMEM;
    if (r >= 0)
        r = resolve_config(&run);
    if (r >= 0)
        r = get_bearer(&run);
    if (r >= 0)
        r = release_and_verify(&run);
    if (r >= 0)
        r = unwrap(&run);
    if (r >= 0) {
        *ret = run.released;
        run.released = (ReleasedKey){0};
    }
    run_done(&run);
    return r;
}

int cmd_release(AgentContext *ctx, int argc, char **argv) {
    ReleaseOptions o = {0};
    int r = parse_options(argc, argv, &o);
    if (r != 0)
        return r > 0 ? CVM_EXIT_OK : CVM_EXIT_USAGE;
    ReleaseRun run = {.ctx = ctx, .o = &o, .now = now_realtime_s(), .out = cJSON_CreateObject()};
    agent_http_config(&ctx->cfg, &run.http);
    if (!run.out)
        return log_error_errno(-ENOMEM, "out of memory"), CVM_EXIT_PLATFORM;
    r = release_steps(&run);
    if (r >= 0) {
        json_add_bool(run.out, "released", true);
        describe(&run);
        if (o.json)
            r = agent_print_json(run.out) == CVM_EXIT_OK ? 0 : -EIO;
        else
            agent_print_text(run.out);
    }
    run_done(&run);
    return cvm_exit_from_errno(r);
}
