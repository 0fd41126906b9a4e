/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cvm-agent attest: attest this VM to the configured MAA endpoint with the
 * AzureGuest protocol, open the sealed reply through the vTPM transfer key,
 * and verify the token (signature, issuer, time, nonce, TEE, transfer key).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/attest-platform.h"
#include "attest/attest.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"

void attest_usage(FILE *f) {
    fprintf(f, "Usage: cvm-agent attest [OPTIONS]\n"
               "\n"
               "Attest this VM to Microsoft Azure Attestation ([attestation] url) with the\n"
               "AzureGuest protocol, open the sealed reply in the vTPM, verify the token.\n"
               "\n"
               "Options:\n"
               "      --nonce HEX        the ClientPayload nonce (default: 32 random bytes);\n"
               "                         the token must echo it\n"
               "      --token-out FILE   write the verified token (JWT) to FILE (mode 0600)\n"
               "      --json             print a JSON object (with the token and its claims)\n"
               "  -h, --help             this help\n"
               "\n"
               "Exit status: 0 verified token, 1 refused by MAA or token check failed,\n"
               "2 usage or configuration error, 3 MAA unreachable, 4 platform (TPM, HCL).\n");
}

typedef struct AttestRun {
    const char *proto; /* azureguest, sevsnpvm, tdxvm */
    const char *url;
    const char *nonce_hex; /* the nonce string sent (or, cached: the one sent then) */
    bool nonce_given;      /* --nonce: the caller wants a fresh token */
    bool cached;           /* the token came from [attestation] token-cache */
    char *owned_nonce;     /* the cached token's nonce text (nonce_hex points to it) */
    AttestClientPayload payload;
} AttestRun;

/* [attestation] protocol / expect-tee / client-payload, checked up front. */
static int check_config(const AgentConfig *cfg, AttestRun *run) {
    const char *proto = cfg->attest_protocol ? cfg->attest_protocol : "azureguest";
    const char *tee = cfg->attest_expect_tee;
    if (!cfg->attest_url || !*cfg->attest_url)
        return log_error_errno(-EINVAL, "no MAA endpoint: set [attestation] url in the "
                                        "configuration (e.g. https://sharedeus2.eus2.attest."
                                        "azure.net)");
    if (!streq(proto, "azureguest") && !streq(proto, "sevsnpvm") && !streq(proto, "tdxvm"))
        return log_error_errno(-EINVAL,
                               "[attestation] protocol wants azureguest, sevsnpvm or tdxvm, "
                               "not '%s'",
                               proto);
    if (tee && !streq(tee, "auto") && !streq(tee, "sevsnpvm") && !streq(tee, "tdxvm"))
        return log_error_errno(-EINVAL,
                               "[attestation] expect-tee wants auto, sevsnpvm or tdxvm, "
                               "not '%s'",
                               tee);
    run->url = cfg->attest_url;
    run->proto = proto;
    for (char **kv = cfg->attest_client_payload; kv && *kv; kv++) {
        char *eq = strchr(*kv, '=');
        if (!eq || eq == *kv || run->payload.n + 1 >= ATTEST_CLIENT_PAYLOAD_MAX)
            return log_error_errno(-EINVAL,
                                   "[attestation] client-payload '%s': want key=value "
                                   "(at most %d)",
                                   *kv, ATTEST_CLIENT_PAYLOAD_MAX - 1);
        *eq = '\0'; /* the configuration is ours for this run */
        if (streq(*kv, "nonce"))
            return log_error_errno(-EINVAL, "[attestation] client-payload: 'nonce' is set by "
                                            "cvm-agent (use --nonce)");
        for (size_t i = 0; i < run->payload.n; i++)
            if (streq(run->payload.keys[i], *kv))
                return log_error_errno(-EINVAL, "[attestation] client-payload: '%s' given twice",
                                       *kv);
        run->payload.keys[run->payload.n] = *kv;
        run->payload.values[run->payload.n++] = eq + 1;
    }
    return 0;
}

/* Sends body to the protocol's route; maps MAA's answers to exit codes. */
static int send_request(AgentContext *ctx, const AttestRun *run, AttestTee tee, const char *body,
                        char **ret_token) {
    _cleanup_(attest_failure_done) AttestFailure f = {0};
    HttpConfig http;
    int r;
    agent_http_config(&ctx->cfg, &http);
    if (streq(run->proto, "azureguest"))
        r = attest_azureguest_send(&http, run->url,
                                   ctx->cfg.attest_api_version ? ctx->cfg.attest_api_version
                                                               : ATTEST_API_VERSION_DEFAULT,
                                   body, ret_token, &f);
    else
        r = attest_platform_send(&http, run->url, tee, ctx->cfg.attest_api_version, body, ret_token,
                                 &f);
    if (r == 0)
        return CVM_EXIT_OK;
    if (r == -EBADMSG || r == -EACCES) {
        log_error("MAA refused the attestation (HTTP %ld): %s%s%s", f.status, f.code ? f.code : "",
                  f.code ? ": " : "", f.message ? f.message : "no reason");
        return CVM_EXIT_REJECTED;
    }
    if (r == -ENOENT || r == -EINVAL) {
        log_error("'%s' is not an MAA endpoint for %s (%s): check [attestation] url", run->url,
                  run->proto, r == -ENOENT ? "HTTP 404" : "URL not allowed");
        return CVM_EXIT_USAGE;
    }
    if (r == -EPROTO)
        log_error("MAA's answer from '%s' is unusable: %s; try again later", run->url,
                  f.message ? f.message : "malformed");
    else if (f.status)
        log_error("MAA at '%s' is unavailable: HTTP %ld %s after retries; try again later",
                  run->url, f.status, f.message ? f.message : "");
    else
        log_error("MAA at '%s' is unreachable after retries: %s; try again later", run->url,
                  f.message ? f.message : strerror(-r));
    return cvm_exit_from_errno(r) == CVM_EXIT_TRANSIENT ? CVM_EXIT_TRANSIENT : CVM_EXIT_PLATFORM;
}

/* AzureGuest: the AttestationInfo request; *ret_jwt = the opened token. */
static int azureguest(AgentContext *ctx, const AttestRun *run, const AttestTpmEvidence *e,
                      const AttestPlatform *p, SecretBuf **ret_jwt) {
    AttestOsInfo os;
    _cleanup_json_ cJSON *info = NULL;
    _cleanup_free_ char *body = NULL, *sealed = NULL;

    attest_os_info(ctx->cfg.attest_os_release, &os);
    int r = attest_azureguest_info(e, p, &os, &run->payload, &info);
    if (r < 0 || attest_azureguest_body(info, &body) < 0)
        return log_error("cannot build the AttestationInfo: %s",
                         *attest_last_error() ? attest_last_error() : "out of memory"),
               CVM_EXIT_PLATFORM;
    if ((r = send_request(ctx, run, p->tee, body, &sealed)) != CVM_EXIT_OK)
        return r;
    r = attest_azureguest_open(ctx->cfg.tcti, sealed, ret_jwt);
    if (r < 0)
        log_error("%s", attest_last_error());
    if (r < 0)
        return r == -EKEYREJECTED || r == -EBADMSG ? CVM_EXIT_REJECTED : CVM_EXIT_PLATFORM;
    return CVM_EXIT_OK;
}

/* SevSnpVm / TdxVm: the hardware report alone; the token comes back plain. */
static int platform(AgentContext *ctx, const AttestRun *run, const AttestPlatform *p,
                    SecretBuf **ret_jwt) {
    _cleanup_free_ char *body = NULL, *token = NULL;
    const char *have = attest_tee_claim(p->tee);
    if (!have || !streq(have, run->proto))
        return log_error("[attestation] protocol %s does not fit this VM, whose HCL report holds "
                         "a %s report",
                         run->proto, have ? have : "non-TEE"),
               CVM_EXIT_USAGE;
    if (attest_platform_body(p, run->nonce_hex, &body) < 0)
        return log_error("cannot build the %s request: %s", run->proto,
                         *attest_last_error() ? attest_last_error() : "out of memory"),
               CVM_EXIT_PLATFORM;
    int r = send_request(ctx, run, p->tee, body, &token);
    if (r != CVM_EXIT_OK)
        return r;
    if (!(*ret_jwt = secret_dup(token, strlen(token) + 1)))
        return CVM_EXIT_PLATFORM;
    secret_truncate(*ret_jwt, strlen(token));
    return CVM_EXIT_OK;
}

static int check_token(AgentContext *ctx, const AttestRun *run, const uint8_t *transfer_pub,
                       size_t transfer_pub_len, const AttestPlatform *p, const SecretBuf *jwt,
                       TokenResult *res) {
    _cleanup_pkey_ EVP_PKEY *tk = NULL;
    HttpConfig http;
    bool guest = streq(run->proto, "azureguest");
    const char *tee = ctx->cfg.attest_expect_tee;
    if (!tee || streq(tee, "auto"))
        tee = attest_tee_claim(p->tee);
    if (guest && tpm_public_to_pkey(transfer_pub, transfer_pub_len, &tk) < 0)
        return log_error_errno(-EBADMSG, "the transfer key public part does not parse"),
               CVM_EXIT_PLATFORM;
    agent_http_config(&ctx->cfg, &http);
    /* platform tokens: the TEE is the top-level type, the nonce is echoed
     * verbatim, and there is no transfer key */
    TokenExpect expect = {.issuer = run->url,
                          .nonce = run->nonce_hex,
                          .transfer_key = tk,
                          .attestation_type = guest ? "azurevm" : run->proto,
                          .tee = tee,
                          .require_compliant = true,
                          .leeway_s = ctx->cfg.attest_leeway_ms / 1000,
                          .now = now_realtime_s(),
                          .fresh = !run->cached};
    TokenKeys keys = {.state_dir = ctx->cfg.state_dir, .http = &http};
    int r = attest_token_verify((const char *)jwt->data, jwt->len, &expect, &keys, res);
    if (r == 0)
        return CVM_EXIT_OK;
    log_full(run->cached ? LOG_INFO : LOG_ERR, "the %sMAA token is not acceptable: %s (claim: %s)",
             run->cached ? "cached " : "", res->reason,
             res->failed_claim ? res->failed_claim : "?");
    if (r == -EKEYREJECTED || r == -EBADMSG)
        return CVM_EXIT_REJECTED;
    return r == -EINVAL ? CVM_EXIT_USAGE : cvm_exit_from_errno(r);
}

static int print_result(const TokenResult *res, const SecretBuf *jwt, const AttestRun *run,
                        bool json) {
    _cleanup_json_ cJSON *out = cJSON_CreateObject();
    const cJSON *c = res->claims, *tee = json_get_object(c, "x-ms-isolation-tee");
    int64_t exp = 0;
    if (!tee) /* platform tokens carry the TEE claims at the top level */
        tee = c;
    if (!out || json_add_bool(out, "verified", true) < 0 ||
        json_add_string(out, "protocol", run->proto) < 0 ||
        json_add_bool(out, "cached", run->cached) < 0 ||
        json_add_string(out, "issuer", json_get_string(c, "iss")) < 0 ||
        json_add_string(out, "nonce", run->nonce_hex) < 0 ||
        json_add_string(out, "attestation_type", json_get_string(c, "x-ms-attestation-type")) < 0 ||
        json_add_string(out, "tee", json_get_string(tee, "x-ms-attestation-type")) < 0 ||
        json_add_string(out, "compliance", json_get_string(tee, "x-ms-compliance-status")) < 0 ||
        (json_get_int(c, "exp", &exp) == 0 && json_add_int(out, "exp", exp) < 0))
        return CVM_EXIT_PLATFORM;
    if (json) {
        if (json_add_string(out, "token", (const char *)jwt->data) < 0)
            return CVM_EXIT_PLATFORM;
        cJSON_AddItemToObject(out, "claims", cJSON_Duplicate(c, true));
        return agent_print_json(out);
    }
    agent_print_text(out);
    return CVM_EXIT_OK;
}

/* A verified cached token for this platform state: *ret_jwt, res, run->cached
 * and run->nonce_hex (owned by run) set, CVM_EXIT_OK. Otherwise (nothing
 * usable) -1, and *state is the current state. */
static int from_cache(AgentContext *ctx, AttestRun *run, const AttestPlatform *p, uint8_t state[32],
                      SecretBuf **ret_jwt, TokenResult *res) {
    _cleanup_free_ uint8_t *tpub = NULL;
    _cleanup_free_ char *token = NULL, *nonce = NULL;
    _cleanup_secret_ SecretBuf *jwt = NULL;
    const char *path = ctx->cfg.attest_token_cache;
    size_t tpub_len = 0;
    if (attest_state_digest(ctx->cfg.tcti, p->hcl_report, p->hcl_report_len, state, &tpub,
                            &tpub_len) < 0)
        return log_error("%s", attest_last_error()), CVM_EXIT_PLATFORM;
    if (run->nonce_given)
        return -1; /* a caller-chosen nonce asks for a fresh token */
    if (attest_cache_load(path, run->proto, run->url, state, ATTEST_CACHE_MARGIN_S, &token,
                          &nonce) < 0)
        return log_info("not using the token cache: %s", attest_last_error()), -1;
    if (!(jwt = secret_dup(token, strlen(token) + 1)))
        return CVM_EXIT_PLATFORM;
    secret_truncate(jwt, strlen(token));
    AttestRun cached = *run;
    cached.cached = true;
    cached.nonce_hex = nonce;
    if (check_token(ctx, &cached, tpub, tpub_len, p, jwt, res) != CVM_EXIT_OK) {
        attest_token_result_done(res);
        *res = (TokenResult){0};
        return -1;
    }
    log_info("reusing the cached token from '%s'", path);
    run->cached = true;
    run->nonce_hex = run->owned_nonce = TAKE_PTR(nonce);
    *ret_jwt = TAKE_PTR(jwt);
    return CVM_EXIT_OK;
}

/* A verified token: from the cache when it still fits this platform, else
 * attested now (and cached). Returns a CvmExit; *ret_jwt and res on success. */
static int obtain_token(AgentContext *ctx, AttestRun *run, SecretBuf **ret_jwt, TokenResult *res) {
    _cleanup_(attest_platform_evidence_done) AttestPlatformEvidence ap = {0};
    _cleanup_(attest_tpm_evidence_done) AttestTpmEvidence e = {0};
    _cleanup_secret_ SecretBuf *jwt = NULL;
    _cleanup_free_ char *cache = NULL;
    AttestSourceConfig sc;
    uint8_t state[32];
    if (agent_source_config(&ctx->cfg, &sc, &cache) < 0)
        return CVM_EXIT_PLATFORM;
    /* the vTPM, whatever the errno (a TCTI socket refusing is not the network) */
    int r = attest_platform_read(&sc, &ap);
    if (r < 0)
        return log_error("%s", attest_last_error()), CVM_EXIT_PLATFORM;
    if (ctx->cfg.attest_token_cache && (r = from_cache(ctx, run, &ap.p, state, ret_jwt, res)) >= 0)
        return r;
    sc.imds_url = agent_signer_imds_url(&ctx->cfg, ap.p.tee);
    if ((r = attest_platform_certs(&sc, &ap)) < 0) {
        log_error("%s", attest_last_error());
        return cvm_exit_from_errno(r) == CVM_EXIT_TRANSIENT ? CVM_EXIT_TRANSIENT
                                                            : CVM_EXIT_PLATFORM;
    }
    if (streq(run->proto, "azureguest")) {
        /* qualifyingData empty, as Microsoft's client quotes: freshness is the
         * ClientPayload nonce echoed in the token and the reply sealed to the key */
        if (attest_tpm_collect(ctx->cfg.tcti, NULL, 0, ctx->cfg.attest_event_log, &e) < 0)
            return log_error("%s", attest_last_error()), CVM_EXIT_PLATFORM;
        r = azureguest(ctx, run, &e, &ap.p, &jwt);
    } else
        r = platform(ctx, run, &ap.p, &jwt);
    if (r != CVM_EXIT_OK)
        return r;
    if ((r = check_token(ctx, run, e.transfer.pub, e.transfer.pub_len, &ap.p, jwt, res)) !=
        CVM_EXIT_OK)
        return r;
    /* the state was taken before the evidence: if it moved meanwhile, the
     * next run sees another state and asks MAA again (never the reverse) */
    if (ctx->cfg.attest_token_cache &&
        attest_cache_store(ctx->cfg.attest_token_cache, run->proto, run->url, state, run->nonce_hex,
                           (const char *)jwt->data) < 0)
        log_warning("%s; the token is not cached", attest_last_error());
    *ret_jwt = TAKE_PTR(jwt);
    return CVM_EXIT_OK;
}

static int attest_run(AgentContext *ctx, AttestRun *run, const char *token_out, bool json) {
    _cleanup_secret_ SecretBuf *jwt = NULL;
    _cleanup_(attest_token_result_done) TokenResult res = {0};
    int r = obtain_token(ctx, run, &jwt, &res);
    if (r != CVM_EXIT_OK)
        return r;
    if (token_out && (r = write_file_atomic(token_out, jwt->data, jwt->len, 0600)) < 0)
        return log_error_errno(r, "cannot write the token to '%s': %s", token_out, strerror(-r)),
               CVM_EXIT_PLATFORM;
    return print_result(&res, jwt, run, json);
}

/* Sets up run for nonce_arg (NULL: 32 random bytes); *nonce_hex owns the text. */
static int prepare_run(AgentContext *ctx, AttestRun *run, const char *nonce_arg, char **nonce_hex) {
    if (check_config(&ctx->cfg, run) < 0)
        return CVM_EXIT_USAGE;
    uint8_t nonce[ATTEST_NONCE_MAX];
    size_t nonce_len = 0;
    int r = agent_nonce(nonce_arg, nonce, &nonce_len);
    if (r < 0)
        return r == -EINVAL ? CVM_EXIT_USAGE : CVM_EXIT_PLATFORM;
    /* the nonce string is the hex text: MAA echoes base64 of the string */
    if (!(*nonce_hex = hex_encode(nonce, nonce_len)))
        return CVM_EXIT_PLATFORM;
    run->nonce_hex = *nonce_hex;
    run->nonce_given = nonce_arg != NULL;
    if (run->payload.n >= ATTEST_CLIENT_PAYLOAD_MAX)
        return CVM_EXIT_USAGE;
    run->payload.keys[run->payload.n] = "nonce";
    run->payload.values[run->payload.n++] = *nonce_hex;
    return CVM_EXIT_OK;
}

int agent_attest_token(AgentContext *ctx, SecretBuf **ret_jwt, cJSON **ret_claims) {
    _cleanup_free_ char *nonce_hex = NULL;
    _cleanup_(attest_token_result_done) TokenResult res = {0};
    AttestRun run = {0};
    int r = prepare_run(ctx, &run, NULL, &nonce_hex);
    if (r == CVM_EXIT_OK && !streq(run.proto, "azureguest")) {
        log_error("[attestation] protocol = %s gives a token without a transfer key; key "
                  "release needs protocol = azureguest",
                  run.proto);
        r = CVM_EXIT_USAGE;
    }
    if (r == CVM_EXIT_OK)
        r = obtain_token(ctx, &run, ret_jwt, &res);
    free(run.owned_nonce);
    if (r == CVM_EXIT_OK)
        *ret_claims = TAKE_PTR(res.claims);
    return r;
}

int cmd_attest(AgentContext *ctx, int argc, char **argv) {
    enum { OPT_NONCE = 0x100, OPT_TOKEN_OUT, OPT_JSON };
    static const struct option options[] = {
        {"nonce", required_argument, NULL, OPT_NONCE},
        {"token-out", required_argument, NULL, OPT_TOKEN_OUT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *nonce_arg = NULL, *token_out = NULL;
    bool json = false;
    AttestRun run = {0};
    int c;

    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h': attest_usage(stdout); return CVM_EXIT_OK;
        case OPT_NONCE: nonce_arg = optarg; break;
        case OPT_TOKEN_OUT: token_out = optarg; break;
        case OPT_JSON: json = true; break;
        default: fprintf(stderr, "see 'cvm-agent attest --help'\n"); return CVM_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return log_error("attest: unexpected argument '%s'", argv[optind]), CVM_EXIT_USAGE;
    _cleanup_free_ char *nonce_hex = NULL;
    int r = prepare_run(ctx, &run, nonce_arg, &nonce_hex);
    if (r != CVM_EXIT_OK)
        return r;
    r = attest_run(ctx, &run, token_out, json);
    free(run.owned_nonce);
    return r;
}
