/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * verify --snp-report and verify --hcl-report: an SEV-SNP report (bare, or
 * inside an Azure HCL report) checked to the pinned AMD root, plus policy and
 * the HCL runtime-data binding.
 */
#include "config.h"

#include <errno.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/hcl.h"
#include "agent/verify-snp.h"
#include "agent/verify.h"
#include "common/bytes.h"
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
    int r = read_file(path, FILE_MAX_EVIDENCE, &d, &n);
    if (r < 0)
        return log_error_errno(r, "cannot read SNP report '%s': %m", path), -EINVAL;
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
 * more in the same file join the chain), --cert-chain (ASK/ASVK, ARK). */
static int load_given(const VerifyOptions *opts, X509 **ret_signer, STACK_OF(X509) * *ret_chain) {
    _cleanup_free_ uint8_t *d = NULL;
    size_t n = 0;
    _cleanup_x509_ X509 *signer = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *chain = sk_X509_new_null();
    int r;
    if (!chain)
        return -ENOMEM;
    r = read_file(opts->vcek, FILE_MAX_EVIDENCE, &d, &n);
    if (r < 0)
        return log_error_errno(r, "cannot read '%s': %m", opts->vcek), -EINVAL;
    _cleanup_x509_stack_ STACK_OF(X509) *pem = NULL;
    if (crypto_load_cert_chain(d, n, &pem) == 0 && sk_X509_num(pem) > 0) {
        signer = sk_X509_shift(pem);
        while (sk_X509_num(pem) > 0) {
            X509 *c = sk_X509_shift(pem);
            if (!sk_X509_push(chain, c)) {
                X509_free(c);
                return -ENOMEM;
            }
        }
    } else if (crypto_load_cert(d, n, &signer) < 0)
        return log_debug("'%s' holds no certificate (PEM or DER)", opts->vcek), -EBADMSG;
    if (opts->cert_chain) {
        _cleanup_free_ uint8_t *c = NULL;
        _cleanup_x509_stack_ STACK_OF(X509) *cs = NULL;
        r = read_file(opts->cert_chain, FILE_MAX_EVIDENCE, &c, &n);
        if (r < 0)
            return log_error_errno(r, "cannot read '%s': %m", opts->cert_chain), -EINVAL;
        if (crypto_load_cert_chain(c, n, &cs) < 0)
            return log_debug("'%s' holds no PEM certificates", opts->cert_chain), -EBADMSG;
        while (sk_X509_num(cs) > 0) {
            X509 *x = sk_X509_shift(cs);
            if (!sk_X509_push(chain, x)) {
                X509_free(x);
                return -ENOMEM;
            }
        }
    }
    *ret_signer = TAKE_PTR(signer);
    *ret_chain = TAKE_PTR(chain);
    return 0;
}

static int load_anchors(const VerifyOptions *opts, STACK_OF(X509) * *ret) {
    _cleanup_x509_stack_ STACK_OF(X509) *st = sk_X509_new_null();
    if (!st)
        return -ENOMEM;
    for (const char **a = opts->trust_anchors; a && *a; a++) {
        _cleanup_free_ uint8_t *d = NULL;
        _cleanup_x509_stack_ STACK_OF(X509) *cs = NULL;
        size_t n;
        int r = read_file(*a, FILE_MAX_EVIDENCE, &d, &n);
        if (r < 0)
            return log_error_errno(r, "cannot read trust anchor '%s': %m", *a), -EINVAL;
        if (crypto_load_cert_chain(d, n, &cs) < 0) {
            X509 *one = NULL;
            if (crypto_load_cert(d, n, &one) < 0)
                return log_error("trust anchor '%s' holds no certificate", *a), -EINVAL;
            if (!sk_X509_push(st, one)) {
                X509_free(one);
                return -ENOMEM;
            }
            continue;
        }
        while (sk_X509_num(cs) > 0) {
            X509 *x = sk_X509_shift(cs);
            if (!sk_X509_push(st, x)) {
                X509_free(x);
                return -ENOMEM;
            }
        }
    }
    *ret = TAKE_PTR(st);
    return 0;
}

static int hex_opt(const char *name, const char *s, uint8_t *out, size_t max, size_t *ret_len,
                   bool exact) {
    _cleanup_free_ uint8_t *b = NULL;
    size_t n = 0;
    if (hex_decode(s, strlen(s), &b, &n) < 0 || n == 0 || n > max || (exact && n != max))
        return log_error("%s wants %s%zu bytes of hex, not '%s'", name, exact ? "" : "up to ", max,
                         s),
               -EINVAL;
    memcpy(out, b, n);
    *ret_len = n;
    return 0;
}

static int build_policy(const VerifyOptions *opts, SnpPolicy *p) {
    size_t n;
    snp_policy_init(p);
    if (opts->policy) {
        _cleanup_free_ uint8_t *d = NULL;
        _cleanup_json_ cJSON *j = NULL;
        const char *err = NULL;
        int r = read_file(opts->policy, FILE_MAX_CONFIG, &d, &n);
        if (r < 0)
            return log_error_errno(r, "cannot read policy '%s': %m", opts->policy), -EINVAL;
        if (json_parse(d, n, &j) < 0)
            return log_error("policy '%s' is not JSON", opts->policy), -EINVAL;
        /* a policy file may hold other TEEs' sections: use "snp" when present */
        const cJSON *snp = json_get_object(j, "snp");
        if (snp_policy_from_json(p, snp ? snp : j, &err) < 0)
            return log_error("policy '%s': %s", opts->policy, err), -EINVAL;
    }
    if (opts->allow_debug)
        p->allow_debug = true;
    if (opts->min_tcb) {
        if (snp_policy_parse_min_tcb(opts->min_tcb, &p->min_tcb) < 0)
            return log_error("--min-tcb wants bl:tee:snp:ucode[:fmc], not '%s'", opts->min_tcb),
                   -EINVAL;
        p->has_min_tcb = true;
    }
    for (const char **m = opts->measurements; m && *m; m++) {
        if (p->n_measurements >= SNP_POLICY_MAX_MEASUREMENTS)
            return log_error("too many --measurement values"), -EINVAL;
        if (hex_opt("--measurement", *m, p->measurements[p->n_measurements], 48, &n, true) < 0)
            return -EINVAL;
        p->n_measurements++;
    }
    if (opts->report_data) {
        if (hex_opt("--report-data", opts->report_data, p->report_data, 64, &p->report_data_len,
                    false) < 0)
            return -EINVAL;
        p->has_report_data = true;
    }
    if (opts->host_data) {
        if (hex_opt("--host-data", opts->host_data, p->host_data, 32, &n, true) < 0)
            return -EINVAL;
        p->has_host_data = true;
    }
    if (opts->vmpl >= 0)
        p->vmpl = opts->vmpl;
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

/*
 * The common part of --snp-report and an SNP --hcl-report: certificates,
 * signature and chain, then policy. Adds decoded fields to out.
 */
static int verify_snp_report(AgentContext *ctx, const VerifyOptions *opts, SnpReport *rep,
                             const uint8_t *cert_table, size_t cert_table_len,
                             const SnpPolicy *policy, cJSON *out) {
    _cleanup_x509_ X509 *signer = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *chain = NULL, *anchors = NULL;
    SnpCertSource src = SNP_SOURCE_NONE;
    SnpVerifyResult res;
    int r;

    r = load_anchors(opts, &anchors);
    if (r < 0)
        return r;
    if (opts->vcek) {
        r = load_given(opts, &signer, &chain);
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
        if (!rep->has_cpuid && snp_cert_info(signer, &ci) == 0 && ci.product != SNP_PRODUCT_UNKNOWN)
            snp_report_set_product(rep, ci.product);
    } else if (opts->cert_chain)
        return log_error("--cert-chain needs --vcek"), -EINVAL;

    /* the product decides the TCB layout and the KDS path; v2 reports
     * without a certificate are taken for Milan (go-sev-guest's default) */
    SnpProduct p = rep->product;
    if (p == SNP_PRODUCT_UNKNOWN && !rep->has_cpuid) {
        p = SNP_PRODUCT_MILAN;
        snp_report_set_product(rep, p);
    }
    if (snp_report_to_json(rep, out) < 0)
        return -ENOMEM;
    if (rep->signing_key == SNP_SIGNING_KEY_VCEK && p != SNP_PRODUCT_UNKNOWN) {
        _cleanup_free_ char *url = NULL;
        if (snp_kds_vcek_url(ctx->cfg.snp_kds_url, rep, p, &url) < 0 ||
            json_add_string(out, "kds_url", url) < 0)
            return -ENOMEM;
    }
    if (p != SNP_PRODUCT_UNKNOWN) {
        _cleanup_free_ char *url = NULL;
        if (snp_kds_chain_url(ctx->cfg.snp_kds_url, p, rep->signing_key == SNP_SIGNING_KEY_VLEK,
                              &url) < 0 ||
            json_add_string(out, "kds_chain_url", url) < 0)
            return -ENOMEM;
    }

    if (!signer && rep->signing_key != SNP_SIGNING_KEY_NONE) {
        SnpFetchConfig fc;
        _cleanup_free_ char *cache = NULL;
        if (agent_snp_fetch_config(&ctx->cfg, &fc, &cache) < 0)
            return -ENOMEM;
        r = snp_certs_obtain(&fc, rep, p, cert_table, cert_table_len, &signer, &chain, &src);
        if (r == -ENOMEM)
            return r;
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
    if (json_add_string(out, "cert_source", snp_cert_source_name(src)) < 0)
        return -ENOMEM;

    _cleanup_(snp_crl_done) SnpCrl crl = {0};
    r = obtain_crl(ctx, opts, p, rep->signing_key == SNP_SIGNING_KEY_VLEK, &crl, out);
    if (r < 0)
        return r;

    SnpVerifyInput in = {
        .signer = signer, .chain = chain, .anchors = anchors, .at = opts->at, .crl = &crl};
    r = snp_verify(rep, &in, &res);
    if (r == -ENOMEM)
        return r;
    /* the product may have been settled by the certificate: re-describe */
    cJSON_ReplaceItemInObjectCaseSensitive(out, "product",
                                           cJSON_CreateString(snp_product_name(rep->product)));
    for (size_t i = 0; i < 4; i++) {
        static const char *const names[] = {"current_tcb", "reported_tcb", "committed_tcb",
                                            "launch_tcb"};
        const SnpTcb *t[] = {&rep->current_tcb, &rep->reported_tcb, &rep->committed_tcb,
                             &rep->launch_tcb};
        _cleanup_json_ cJSON *tmp = cJSON_CreateObject();
        if (!tmp || add_tcb(tmp, names[i], t[i]) < 0)
            return -ENOMEM;
        cJSON *item = cJSON_DetachItemFromObjectCaseSensitive(tmp, names[i]);
        if (!cJSON_ReplaceItemInObjectCaseSensitive(out, names[i], item))
            cJSON_Delete(item);
    }
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
    return 0;
}

int agent_snp_verify(AgentContext *ctx, const VerifyOptions *opts, SnpReport *rep,
                     const uint8_t *cert_table, size_t cert_table_len, cJSON *out) {
    SnpPolicy policy;
    int r = build_policy(opts, &policy);
    if (r < 0)
        return r;
    r = verify_snp_report(ctx, opts, rep, cert_table, cert_table_len, &policy, out);
    if (r < 0)
        return r;
    return verify_pass(out);
}

int verify_snp(AgentContext *ctx, const VerifyOptions *opts, cJSON *out) {
    SnpReport rep;
    SnpPolicy policy;
    int r = build_policy(opts, &policy);
    if (r < 0)
        return r;
    r = agent_snp_read_report(opts->snp_report, &rep);
    if (r == -EINVAL || r == -ENOMEM)
        return r;
    if (r < 0) {
        json_add_string(out, "failed_check", "parse");
        return verify_fail(out, r, "the SNP report does not parse");
    }
    r = verify_snp_report(ctx, opts, &rep, NULL, 0, &policy, out);
    if (r < 0)
        return r;
    return verify_pass(out);
}

/* TDX TDREPORT fields (tee-formats §2.1) read with the byte reader. */
static int tdreport_to_json(const uint8_t *td, size_t len, cJSON *out) {
    static const struct {
        const char *name;
        size_t off, len;
    } fields[] = {
        {"report_type", 0x000, 4},    {"cpusvn", 0x010, 16},       {"tee_tcb_info_hash", 0x020, 48},
        {"tee_info_hash", 0x050, 48}, {"report_data", 0x080, 64},  {"tee_tcb_svn", 0x108, 16},
        {"mrseam", 0x118, 48},        {"td_attributes", 0x200, 8}, {"xfam", 0x208, 8},
        {"mrtd", 0x210, 48},          {"mrconfigid", 0x240, 48},   {"mrowner", 0x270, 48},
        {"mrownerconfig", 0x2a0, 48}, {"rtmr0", 0x2d0, 48},        {"rtmr1", 0x300, 48},
        {"rtmr2", 0x330, 48},         {"rtmr3", 0x360, 48},
    };
    ByteReader br;
    br_init(&br, td, len);
    for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
        uint8_t buf[64];
        br_seek(&br, fields[i].off);
        br_copy(&br, buf, fields[i].len);
        if (!br_ok(&br))
            return -EBADMSG;
        if (json_add_hex(out, fields[i].name, buf, fields[i].len) < 0)
            return -ENOMEM;
    }
    return 0;
}

int verify_hcl(AgentContext *ctx, const VerifyOptions *opts, cJSON *out) {
    _cleanup_free_ uint8_t *d = NULL;
    _cleanup_free_ char *expected = NULL;
    _cleanup_json_ cJSON *claims = NULL;
    HclReport h;
    SnpPolicy policy;
    const char *err = NULL;
    size_t n = 0;
    int r = build_policy(opts, &policy);
    if (r < 0)
        return r;
    r = read_file(opts->hcl_report, FILE_MAX_EVIDENCE, &d, &n);
    if (r < 0)
        return log_error_errno(r, "cannot read HCL report '%s': %m", opts->hcl_report), -EINVAL;
    r = hcl_report_parse(d, n, &h, &err);
    if (r < 0) {
        json_add_string(out, "failed_check", "parse");
        return verify_fail(out, r, "'%s': %s", opts->hcl_report, err);
    }
    json_add_int(out, "hcl_version", h.version);
    json_add_string(out, "report_type", hcl_report_type_name(h.report_type));
    json_add_int(out, "hash_type", h.hash_type);
    bool bound = hcl_runtime_data_bound(&h, &expected);
    json_add_bool(out, "runtime_data_bound", bound);
    if (expected)
        json_add_string(out, "runtime_data_hash", expected);
    if (hcl_runtime_claims(&h, &claims) == 0) {
        const cJSON *ak = hcl_find_jwk(claims, "HCLAkPub"), *ek = hcl_find_jwk(claims, "HCLEkPub");
        if (ak)
            cJSON_AddItemToObject(out, "ak_jwk", cJSON_Duplicate(ak, 1));
        if (ek)
            cJSON_AddItemToObject(out, "ek_jwk", cJSON_Duplicate(ek, 1));
        const cJSON *vmc = json_get_object(claims, "vm-configuration");
        if (vmc)
            cJSON_AddItemToObject(out, "vm_configuration", cJSON_Duplicate(vmc, 1));
        uint8_t ud[HCL_USER_DATA_SIZE];
        if (hcl_user_data(claims, ud) == 0)
            json_add_hex(out, "user_data", ud, sizeof(ud));
        cJSON_AddItemToObject(out, "runtime_claims", cJSON_Duplicate(claims, 1));
    } else
        json_add_string(out, "runtime_claims_error", "the runtime data is not JSON");
    if (!bound) {
        json_add_string(out, "failed_check", "runtime_data_binding");
        return verify_fail(out, -EKEYREJECTED,
                           "report_data does not hold the hash of the runtime data (want %s)",
                           expected ? expected : "?");
    }

    if (h.report_type == HCL_REPORT_TDX) {
        cJSON *td = cJSON_AddObjectToObject(out, "tdreport");
        if (!td || tdreport_to_json(h.hw_report, h.hw_report_len, td) < 0)
            return -ENOMEM;
        return verify_tdx_hcl_quote(ctx, opts, h.hw_report, h.hw_report_len, out);
    }

    SnpReport rep;
    r = snp_report_parse(h.hw_report, h.hw_report_len, &rep, &err);
    if (r < 0) {
        json_add_string(out, "failed_check", "parse");
        return verify_fail(out, r, "the SNP report inside the HCL report: %s", err);
    }
    cJSON *snp = cJSON_AddObjectToObject(out, "snp");
    if (!snp)
        return -ENOMEM;
    /* Azure's paravisor asks at VMPL0 for the guest (azure-wire-formats §1.2) */
    r = verify_snp_report(ctx, opts, &rep, NULL, 0, &policy, snp);
    if (r == -EINVAL || r == -ENOMEM)
        return r;
    if (r < 0) {
        const char *why = json_get_string(snp, "reason");
        const char *fc = json_get_string(snp, "failed_check");
        if (fc)
            json_add_string(out, "failed_check", fc);
        return verify_fail(out, r, "SNP report: %s", why ? why : "not verified");
    }
    return verify_pass(out);
}
