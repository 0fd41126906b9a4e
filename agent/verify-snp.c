/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * verify --snp-report: an SEV-SNP report checked to the pinned AMD root (or a
 * named anchor), then policy. verify-hcl.c and `report --verify` use the same
 * checks for the SNP report inside an Azure HCL report.
 */
#include "config.h"

#include <errno.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/args.h"
#include "agent/verify-snp.h"
#include "agent/verify.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "snp/snp.h"

static int add_tcb(cJSON *out, const char *key, const SnpTcb *t) {
    cJSON *o = cJSON_AddObjectToObject(out, key);
    char raw[17];
    if (!o)
        return -ENOMEM;
    snprintf(raw, sizeof(raw), "%016llx", (unsigned long long)t->raw);
    if (json_add_string(o, "raw", raw) < 0 || json_add_int(o, "bootloader", t->bootloader) < 0 ||
        json_add_int(o, "tee", t->tee) < 0 || json_add_int(o, "snp", t->snp) < 0 ||
        json_add_int(o, "microcode", t->microcode) < 0)
        return -ENOMEM;
    /* FMC exists on Turin and later only; null says "not applicable" */
    if (t->has_fmc ? json_add_int(o, "fmc", t->fmc) < 0 : !cJSON_AddNullToObject(o, "fmc"))
        return -ENOMEM;
    return 0;
}

static int add_u64hex(cJSON *out, const char *key, uint64_t v) {
    char s[19];
    snprintf(s, sizeof(s), "0x%016llx", (unsigned long long)v);
    return json_add_string(out, key, s);
}

static const char *signing_key_name(unsigned k) {
    switch (k) {
    case SNP_SIGNING_KEY_VCEK: return "vcek";
    case SNP_SIGNING_KEY_VLEK: return "vlek";
    case SNP_SIGNING_KEY_NONE: return "none";
    default: return "reserved";
    }
}

int snp_report_to_json(const SnpReport *r, cJSON *out) {
    cJSON *o;
    char ver[32];
#define CK(x)                                                                                      \
    do {                                                                                           \
        if ((x) < 0)                                                                               \
            return -ENOMEM;                                                                        \
    } while (0)
    CK(json_add_int(out, "version", r->version));
    CK(json_add_string(out, "product", snp_product_name(r->product)));
    CK(json_add_int(out, "guest_svn", r->guest_svn));
    CK(add_u64hex(out, "policy", r->policy));
    if (!(o = cJSON_AddObjectToObject(out, "policy_flags")))
        return -ENOMEM;
    CK(json_add_int(o, "abi_major", (r->policy >> 8) & 0xff));
    CK(json_add_int(o, "abi_minor", r->policy & 0xff));
    CK(json_add_bool(o, "smt", r->policy & SNP_POLICY_SMT));
    CK(json_add_bool(o, "migrate_ma", r->policy & SNP_POLICY_MIGRATE_MA));
    CK(json_add_bool(o, "debug", r->policy & SNP_POLICY_DEBUG));
    CK(json_add_bool(o, "single_socket", r->policy & SNP_POLICY_SINGLE_SOCKET));
    CK(json_add_bool(o, "cxl_allow", r->policy & SNP_POLICY_CXL_ALLOW));
    CK(json_add_bool(o, "mem_aes_256_xts", r->policy & SNP_POLICY_MEM_AES_256_XTS));
    CK(json_add_bool(o, "rapl_dis", r->policy & SNP_POLICY_RAPL_DIS));
    CK(json_add_bool(o, "ciphertext_hiding", r->policy & SNP_POLICY_CIPHERTEXT_HIDING));
    CK(json_add_bool(o, "page_swap_disable", r->policy & SNP_POLICY_PAGE_SWAP_DISABLE));
    CK(json_add_hex(out, "family_id", r->family_id, 16));
    CK(json_add_hex(out, "image_id", r->image_id, 16));
    CK(json_add_int(out, "vmpl", r->vmpl));
    CK(json_add_int(out, "signature_algo", r->signature_algo));
    CK(add_u64hex(out, "platform_info", r->platform_info));
    if (!(o = cJSON_AddObjectToObject(out, "platform_flags")))
        return -ENOMEM;
    CK(json_add_bool(o, "smt_enabled", r->platform_info & SNP_PLATFORM_SMT_EN));
    CK(json_add_bool(o, "tsme_enabled", r->platform_info & SNP_PLATFORM_TSME_EN));
    CK(json_add_bool(o, "ecc_enabled", r->platform_info & SNP_PLATFORM_ECC_EN));
    CK(json_add_bool(o, "rapl_disabled", r->platform_info & SNP_PLATFORM_RAPL_DIS));
    CK(json_add_bool(o, "ciphertext_hiding", r->platform_info & SNP_PLATFORM_CIPHERTEXT_HIDING));
    CK(json_add_bool(o, "alias_check_complete",
                     r->platform_info & SNP_PLATFORM_ALIAS_CHECK_COMPLETE));
    CK(json_add_bool(o, "tio_enabled", r->platform_info & SNP_PLATFORM_TIO_EN));
    if (!(o = cJSON_AddObjectToObject(out, "signer_info")))
        return -ENOMEM;
    CK(json_add_bool(o, "author_key_en", r->author_key_en));
    CK(json_add_bool(o, "mask_chip_key", r->mask_chip_key));
    CK(json_add_string(o, "signing_key", signing_key_name(r->signing_key)));
    CK(json_add_hex(out, "report_data", r->report_data, 64));
    CK(json_add_hex(out, "measurement", r->measurement, 48));
    CK(json_add_hex(out, "host_data", r->host_data, 32));
    CK(json_add_hex(out, "id_key_digest", r->id_key_digest, 48));
    CK(json_add_hex(out, "author_key_digest", r->author_key_digest, 48));
    CK(json_add_hex(out, "report_id", r->report_id, 32));
    CK(json_add_hex(out, "report_id_ma", r->report_id_ma, 32));
    CK(add_tcb(out, "current_tcb", &r->current_tcb));
    CK(add_tcb(out, "reported_tcb", &r->reported_tcb));
    CK(add_tcb(out, "committed_tcb", &r->committed_tcb));
    CK(add_tcb(out, "launch_tcb", &r->launch_tcb));
    if (r->has_cpuid) {
        if (!(o = cJSON_AddObjectToObject(out, "cpuid")))
            return -ENOMEM;
        CK(json_add_hex(o, "family", &r->cpuid_fam_id, 1));
        CK(json_add_hex(o, "model", &r->cpuid_mod_id, 1));
        CK(json_add_hex(o, "stepping", &r->cpuid_step, 1));
    }
    CK(json_add_hex(out, "chip_id", r->chip_id, 64));
    snprintf(ver, sizeof(ver), "%u.%u.%u", r->current_major, r->current_minor, r->current_build);
    CK(json_add_string(out, "current_firmware", ver));
    snprintf(ver, sizeof(ver), "%u.%u.%u", r->committed_major, r->committed_minor,
             r->committed_build);
    CK(json_add_string(out, "committed_firmware", ver));
    if (r->has_mit_vectors) {
        CK(add_u64hex(out, "launch_mit_vector", r->launch_mit_vector));
        CK(add_u64hex(out, "current_mit_vector", r->current_mit_vector));
    }
    CK(json_add_hex(out, "signature_r", r->sig_r, SNP_SIG_COMPONENT_SIZE));
    CK(json_add_hex(out, "signature_s", r->sig_s, SNP_SIG_COMPONENT_SIZE));
    return 0;
#undef CK
}

int agent_snp_fetch_config(const AgentConfig *cfg, SnpFetchConfig *ret, char **ret_cache) {
    char *cache = NULL;
    if (cfg->state_dir && asprintf(&cache, "%s/cache", cfg->state_dir) < 0)
        return -ENOMEM;
    *ret = (SnpFetchConfig){
        .kds_base = cfg->snp_kds_url,
        .imds_base = cfg->snp_imds_url,
        .cache_dir = cache,
        .use_thim = cfg->snp_thim,
        .use_kds = cfg->snp_kds,
        .crl_mode = (SnpCrlMode)cfg->snp_crl,
    };
    agent_http_config(cfg, &ret->http);
    *ret_cache = cache;
    return 0;
}

/* 2368 hex digits (virtee's report_milan.hex), whitespace allowed */
static int maybe_hex(const uint8_t *d, size_t n, uint8_t **ret, size_t *ret_len) {
    _cleanup_free_ char *s = malloc(n + 1);
    size_t m = 0;
    if (!s)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (isspace(d[i]))
            continue;
        if (!isxdigit(d[i]))
            return -EBADMSG;
        s[m++] = (char)d[i];
    }
    s[m] = '\0';
    return hex_decode(s, m, ret, ret_len);
}

int agent_snp_read_report(const char *path, SnpReport *ret) {
    _cleanup_free_ uint8_t *d = NULL, *h = NULL;
    size_t n = 0, hn = 0;
    const char *err = NULL;
    int r = agent_read_file("SNP report", path, &d, &n);
    if (r < 0)
        return r;
    if (n >= 2 * SNP_REPORT_SIZE && maybe_hex(d, n, &h, &hn) == 0) {
        free(d);
        d = TAKE_PTR(h);
        n = hn;
    }
    r = snp_report_parse(d, n, ret, &err);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return log_error("'%s': %s", path, err), r;
    return 0;
}

/* The certs given on the command line: --vcek (first certificate = signer;
 * more in the same file join the chain), --cert-chain (ASK/ASVK, ARK).
 * -EBADMSG when a file holds no certificate. */
static int load_given(const VerifyOptions *opts, X509 **ret_signer, STACK_OF(X509) * *ret_chain) {
    _cleanup_free_ uint8_t *d = NULL;
    size_t n = 0;
    _cleanup_x509_ X509 *signer = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *chain = sk_X509_new_null();
    _cleanup_x509_stack_ STACK_OF(X509) *pem = NULL;
    int r;
    if (!chain)
        return -ENOMEM;
    r = agent_read_file("--vcek", opts->vcek, &d, &n);
    if (r < 0)
        return r;
    if (crypto_load_cert_chain(d, n, &pem) == 0 && sk_X509_num(pem) > 0) {
        signer = sk_X509_shift(pem);
        if (agent_move_certs(chain, pem) < 0)
            return -ENOMEM;
    } else if (crypto_load_cert(d, n, &signer) < 0)
        return log_debug("'%s' holds no certificate (PEM or DER)", opts->vcek), -EBADMSG;
    if (opts->cert_chain) {
        _cleanup_free_ uint8_t *c = NULL;
        _cleanup_x509_stack_ STACK_OF(X509) *cs = NULL;
        r = agent_read_file("--cert-chain", opts->cert_chain, &c, &n);
        if (r < 0)
            return r;
        if (crypto_load_cert_chain(c, n, &cs) < 0)
            return log_debug("'%s' holds no PEM certificates", opts->cert_chain), -EBADMSG;
        if (agent_move_certs(chain, cs) < 0)
            return -ENOMEM;
    }
    *ret_signer = TAKE_PTR(signer);
    *ret_chain = TAKE_PTR(chain);
    return 0;
}

static int policy_from_file(const char *path, SnpPolicy *p) {
    _cleanup_free_ uint8_t *d = NULL;
    _cleanup_json_ cJSON *j = NULL;
    const char *err = NULL;
    size_t n = 0;
    int r = agent_read_file("policy", path, &d, &n);
    if (r < 0)
        return r;
    if (json_parse(d, n, &j) < 0)
        return log_error_errno(-EINVAL, "policy '%s' is not JSON", path);
    /* a policy file may hold other TEEs' sections: use "snp" when present */
    const cJSON *snp = json_get_object(j, "snp");
    if (snp_policy_from_json(p, snp ? snp : j, &err) < 0)
        return log_error_errno(-EINVAL, "policy '%s': %s", path, err);
    return 0;
}

int agent_snp_build_policy(const VerifyOptions *opts, SnpPolicy *p) {
    size_t n;
    snp_policy_init(p);
    if (opts->policy && policy_from_file(opts->policy, p) < 0)
        return -EINVAL;
    if (opts->allow_debug)
        p->allow_debug = true;
    if (opts->min_tcb) {
        if (snp_policy_parse_min_tcb(opts->min_tcb, &p->min_tcb) < 0)
            return log_error_errno(-EINVAL, "--min-tcb wants bl:tee:snp:ucode[:fmc], not '%s'",
                                   opts->min_tcb);
        p->has_min_tcb = true;
    }
    for (const char **m = opts->measurements; m && *m; m++) {
        if (p->n_measurements >= SNP_POLICY_MAX_MEASUREMENTS)
            return log_error_errno(-EINVAL, "too many --measurement values");
        if (agent_parse_hex("--measurement", *m, p->measurements[p->n_measurements], 48, true,
                            NULL) < 0)
            return -EINVAL;
        p->n_measurements++;
    }
    if (opts->report_data) {
        if (agent_parse_hex("--report-data", opts->report_data, p->report_data, 64, false,
                            &p->report_data_len) < 0)
            return -EINVAL;
        p->has_report_data = true;
    }
    if (opts->host_data) {
        if (agent_parse_hex("--host-data", opts->host_data, p->host_data, 32, true, &n) < 0)
            return -EINVAL;
        p->has_host_data = true;
    }
    if (opts->vmpl >= 0)
        p->vmpl = opts->vmpl;
    return 0;
}

/* The product decides the TCB layout and the KDS path; v2 reports without a
 * certificate are taken for Milan (go-sev-guest's default). Adds the report
 * and its KDS URLs to out. */
static int describe(AgentContext *ctx, SnpReport *rep, cJSON *out) {
    SnpProduct p = rep->product;
    if (p == SNP_PRODUCT_UNKNOWN && !rep->has_cpuid) {
        p = SNP_PRODUCT_MILAN;
        snp_report_set_product(rep, p);
    }
    if (snp_report_to_json(rep, out) < 0)
        return -ENOMEM;
    if (p == SNP_PRODUCT_UNKNOWN)
        return 0;
    _cleanup_free_ char *vcek_url = NULL, *chain_url = NULL;
    if (rep->signing_key == SNP_SIGNING_KEY_VCEK &&
        (snp_kds_vcek_url(ctx->cfg.snp_kds_url, rep, p, &vcek_url) < 0 ||
         json_add_string(out, "kds_url", vcek_url) < 0))
        return -ENOMEM;
    if (snp_kds_chain_url(ctx->cfg.snp_kds_url, p, rep->signing_key == SNP_SIGNING_KEY_VLEK,
                          &chain_url) < 0 ||
        json_add_string(out, "kds_chain_url", chain_url) < 0)
        return -ENOMEM;
    return 0;
}

/* The signer and chain: from --vcek/--cert-chain, else the report's cert
 * table, the cache, THIM, KDS. Describes the report in out on the way. */
static int obtain_certs(AgentContext *ctx, const VerifyOptions *opts, SnpReport *rep,
                        const uint8_t *cert_table, size_t cert_table_len, X509 **signer,
                        STACK_OF(X509) * *chain, cJSON *out) {
    SnpCertSource src = SNP_SOURCE_NONE;
    int r;
    if (opts->vcek) {
        r = load_given(opts, signer, chain);
        if (r == -EBADMSG) {
            if (snp_report_to_json(rep, out) < 0)
                return -ENOMEM;
            json_add_string(out, "failed_check", "certificate");
            return verify_fail(out, r, "'%s' or '%s' holds no parsable certificate", opts->vcek,
                               opts->cert_chain ? opts->cert_chain : "-");
        }
        if (r < 0)
            return r;
        src = SNP_SOURCE_GIVEN;
        SnpCertInfo ci;
        if (!rep->has_cpuid && snp_cert_info(*signer, &ci) == 0 &&
            ci.product != SNP_PRODUCT_UNKNOWN)
            snp_report_set_product(rep, ci.product);
    } else if (opts->cert_chain)
        return log_error_errno(-EINVAL, "--cert-chain needs --vcek");
    if ((r = describe(ctx, rep, out)) < 0)
        return r;
    if (!*signer && rep->signing_key != SNP_SIGNING_KEY_NONE) {
        SnpFetchConfig fc;
        _cleanup_free_ char *cache = NULL;
        if (agent_snp_fetch_config(&ctx->cfg, &fc, &cache) < 0)
            return -ENOMEM;
        r = snp_certs_obtain(&fc, rep, rep->product, cert_table, cert_table_len, signer, chain,
                             &src);
        if (r == -ENOMEM)
            return r;
        if (r == -EINVAL) /* the fetch refused a URL of the configuration */
            return log_error_errno(r,
                                   "cannot fetch the certificates for this report: a URL was "
                                   "refused ([snp] kds-url '%s', imds-url '%s'); they must be "
                                   "https:// (plain http only to loopback, with [http] "
                                   "allow-plain-http-loopback = yes)",
                                   ctx->cfg.snp_kds_url ? ctx->cfg.snp_kds_url : "default",
                                   ctx->cfg.snp_imds_url ? ctx->cfg.snp_imds_url : "default");
        if (r < 0) {
            json_add_string(out, "failed_check", "certificates");
            return verify_fail(out, r == -ENOENT ? -EKEYREJECTED : r,
                               "no %s certificate chain for this report (%s); give --vcek and "
                               "--cert-chain",
                               rep->signing_key == SNP_SIGNING_KEY_VLEK ? "VLEK" : "VCEK",
                               r == -ENOENT ? "not in the cache or at the endpoints"
                                            : strerror(-r));
        }
    }
    return json_add_string(out, "cert_source", snp_cert_source_name(src)) < 0 ? -ENOMEM : 0;
}

/* The product may have been settled by the certificate: re-describe it and
 * the TCBs, whose layout depends on it. */
static int redescribe(const SnpReport *rep, cJSON *out) {
    static const char *const names[] = {"current_tcb", "reported_tcb", "committed_tcb",
                                        "launch_tcb"};
    const SnpTcb *t[] = {&rep->current_tcb, &rep->reported_tcb, &rep->committed_tcb,
                         &rep->launch_tcb};
    cJSON_ReplaceItemInObjectCaseSensitive(out, "product",
                                           cJSON_CreateString(snp_product_name(rep->product)));
    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        _cleanup_json_ cJSON *tmp = cJSON_CreateObject();
        if (!tmp || add_tcb(tmp, names[i], t[i]) < 0)
            return -ENOMEM;
        cJSON *item = cJSON_DetachItemFromObjectCaseSensitive(tmp, names[i]);
        if (!cJSON_ReplaceItemInObjectCaseSensitive(out, names[i], item))
            cJSON_Delete(item);
    }
    return 0;
}

/* Revocation: AMD's CRL for the chain ([snp] crl, or --crl offline). */
static int obtain_crl(AgentContext *ctx, const VerifyOptions *opts, SnpProduct p, bool vlek,
                      SnpCrl *ret, cJSON *out) {
    SnpFetchConfig fc;
    _cleanup_free_ char *cache = NULL;
    if (agent_snp_fetch_config(&ctx->cfg, &fc, &cache) < 0)
        return -ENOMEM;
    fc.crl_files = opts->crls;
    int r = snp_crl_obtain(&fc, p, vlek, ret);
    if (r < 0 && r != -EINVAL && r != -ENOMEM)
        return json_add_string(out, "failed_check", "crl"),
               verify_fail(out, r, "AMD's CRL cannot be obtained and [snp] crl = require");
    return r;
}

int agent_snp_verify(AgentContext *ctx, const VerifyOptions *opts, SnpReport *rep,
                     const uint8_t *cert_table, size_t cert_table_len, const SnpPolicy *policy,
                     cJSON *out) {
    _cleanup_x509_ X509 *signer = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *chain = NULL;
    SnpVerifyResult res;
    int r = obtain_certs(ctx, opts, rep, cert_table, cert_table_len, &signer, &chain, out);
    if (r < 0)
        return r;
    _cleanup_(snp_crl_done) SnpCrl crl = {0};
    r = obtain_crl(ctx, opts, rep->product, rep->signing_key == SNP_SIGNING_KEY_VLEK, &crl, out);
    if (r < 0)
        return r;
    SnpVerifyInput in = {
        .signer = signer, .chain = chain, .anchors = opts->anchors, .at = opts->at, .crl = &crl};
    r = snp_verify(rep, &in, &res);
    if (r == -ENOMEM || redescribe(rep, out) < 0)
        return -ENOMEM;
    if (res.root_fp[0]) {
        json_add_string(out, "root_fingerprint", res.root_fp);
        json_add_bool(out, "root_pinned", res.pinned_root);
        json_add_bool(out, "crl_checked", res.crl_checked);
    }
    if (r < 0) {
        json_add_string(out, "failed_check", res.failed);
        return verify_fail(out, r, "%s", res.reason);
    }
    const char *failed = NULL;
    char reason[512];
    r = snp_policy_check(rep, policy, &failed, reason, sizeof(reason));
    if (r < 0) {
        json_add_string(out, "failed_check", failed);
        return verify_fail(out, r, "%s", reason);
    }
    return verify_pass(out);
}

int verify_snp(AgentContext *ctx, const VerifyOptions *opts, cJSON *out) {
    SnpReport rep;
    SnpPolicy policy;
    int r = agent_snp_build_policy(opts, &policy);
    if (r < 0)
        return r;
    r = agent_snp_read_report(opts->snp_report, &rep);
    if (r == -EINVAL || r == -ENOMEM)
        return r;
    if (r < 0) {
        json_add_string(out, "failed_check", "parse");
        return verify_fail(out, r, "the SNP report does not parse");
    }
    return agent_snp_verify(ctx, opts, &rep, NULL, 0, &policy, out);
}
