/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Where the VCEK/VLEK and the AMD chain come from: the report's certificate
 * table, an on-disk cache, Azure THIM (IMDS metadata/THIM/amd/certification,
 * azure-wire-formats §5.2) and AMD KDS (tee-formats §1.6).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "common/codec.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/http.h"
#include "common/json.h"
#include "common/log.h"
#include "snp/snp.h"

const char *snp_cert_source_name(SnpCertSource s) {
    switch (s) {
    case SNP_SOURCE_GIVEN: return "given";
    case SNP_SOURCE_CERT_TABLE: return "cert-table";
    case SNP_SOURCE_CACHE: return "cache";
    case SNP_SOURCE_THIM: return "thim";
    case SNP_SOURCE_KDS: return "kds";
    default: return "none";
    }
}

static const char *base_or(const char *base, const char *def) {
    return base && *base ? base : def;
}

/* Strips one trailing '/' so "{base}/vcek" never doubles it. */
static int trimmed(const char *base, char **ret) {
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    *ret = strndup(base, n);
    return *ret ? 0 : -ENOMEM;
}

int snp_kds_vcek_url(const char *base, const SnpReport *r, SnpProduct p, char **ret) {
    _cleanup_free_ char *b = NULL, *chip = NULL;
    const SnpTcb *t = &r->reported_tcb;
    int k;
    if (p == SNP_PRODUCT_UNKNOWN || r->signing_key != SNP_SIGNING_KEY_VCEK)
        return -EINVAL;
    if (trimmed(base_or(base, SNP_KDS_DEFAULT_BASE), &b) < 0)
        return -ENOMEM;
    SnpTcb d;
    snp_tcb_decode(t->raw, p, &d); /* the layout of p, whatever r was decoded for */
    if (p == SNP_PRODUCT_TURIN) {
        /* snpguest fetch.rs: 8 chip-id bytes and fmcSPL */
        chip = hex_encode(r->chip_id, 8);
        if (!chip)
            return -ENOMEM;
        k = asprintf(ret, "%s/vcek/v1/%s/%s?fmcSPL=%u&blSPL=%u&teeSPL=%u&snpSPL=%u&ucodeSPL=%u", b,
                     snp_product_name(p), chip, d.fmc, d.bootloader, d.tee, d.snp, d.microcode);
    } else {
        /* go-sev-guest kds.go VCEKCertURL: decimal, no padding */
        chip = hex_encode(r->chip_id, 64);
        if (!chip)
            return -ENOMEM;
        k = asprintf(ret, "%s/vcek/v1/%s/%s?blSPL=%u&teeSPL=%u&snpSPL=%u&ucodeSPL=%u", b,
                     snp_product_name(p), chip, d.bootloader, d.tee, d.snp, d.microcode);
    }
    return k < 0 ? -ENOMEM : 0;
}

int snp_kds_chain_url(const char *base, SnpProduct p, bool vlek, char **ret) {
    _cleanup_free_ char *b = NULL;
    if (p == SNP_PRODUCT_UNKNOWN)
        return -EINVAL;
    if (trimmed(base_or(base, SNP_KDS_DEFAULT_BASE), &b) < 0)
        return -ENOMEM;
    return asprintf(ret, "%s/%s/v1/%s/cert_chain", b, vlek ? "vlek" : "vcek", snp_product_name(p)) <
                   0
               ? -ENOMEM
               : 0;
}

/* ---- cache: {dir}/{product}-{chip}-{tcb}.vcek.der and {product}-{vcek|vlek}-chain.pem ---- */

static int cache_signer_path(const SnpFetchConfig *cfg, const SnpReport *r, SnpProduct p,
                             char **ret) {
    _cleanup_free_ char *chip = hex_encode(r->chip_id, 64);
    if (!chip)
        return -ENOMEM;
    return asprintf(ret, "%s/snp/%s-%s-%016llx.%s.der", cfg->cache_dir, snp_product_name(p), chip,
                    (unsigned long long)r->reported_tcb.raw,
                    r->signing_key == SNP_SIGNING_KEY_VLEK ? "vlek" : "vcek") < 0
               ? -ENOMEM
               : 0;
}

static int cache_chain_path(const SnpFetchConfig *cfg, SnpProduct p, bool vlek, char **ret) {
    return asprintf(ret, "%s/snp/%s-%s-chain.pem", cfg->cache_dir, snp_product_name(p),
                    vlek ? "vlek" : "vcek") < 0
               ? -ENOMEM
               : 0;
}

static void cache_store(const SnpFetchConfig *cfg, const char *path, const void *data, size_t len) {
    _cleanup_free_ char *dir = NULL;
    if (!cfg->cache_dir)
        return;
    if (asprintf(&dir, "%s/snp", cfg->cache_dir) < 0)
        return;
    /* 0600 like every file in the state directory (cvm-agent(8) FILES) */
    if (mkdir_p(dir, 0700) < 0 || write_file_atomic(path, data, len, 0600) < 0)
        log_debug("cannot cache '%s', ignoring", path);
}

static int load_chain_pem(const uint8_t *data, size_t len, STACK_OF(X509) * *ret) {
    return crypto_load_cert_chain(data, len, ret);
}

/* The first failure of an endpoint that is not "it has no such certificate",
 * kept for the one message the user sees when no source had what was asked. */
typedef struct FetchFailure {
    int err;
    char msg[1280];
} FetchFailure;

/*
 * An endpoint failure as the exit-code contract wants it: the endpoint did
 * not answer usefully (network, TLS, 401/403, another 4xx, 5xx), which is
 * transient (exit 3) and says nothing about the evidence (exit 1).
 */
static int endpoint_errno(int k) {
    return k == -EACCES || k == -EBADMSG ? -EPROTO : k;
}

static void note_failure(FetchFailure *f, const char *url, int k, const HttpError *herr) {
    log_debug("%s", http_failure_string(url, k, herr));
    if (k == -ENOENT || f->err)
        return;
    f->err = endpoint_errno(k);
    snprintf(f->msg, sizeof(f->msg), "%s", http_failure_string(url, k, herr));
}

/* THIM: {"vcekCert": PEM, "certificateChain": PEM, "tcbm": hex} */
static int fetch_thim(const SnpFetchConfig *cfg, const SnpReport *r, X509 **ret_signer,
                      STACK_OF(X509) * *ret_chain, uint8_t **ret_der, size_t *ret_der_len,
                      char **ret_chain_pem, FetchFailure *fail) {
    _cleanup_free_ char *b = NULL, *url = NULL;
    static const char *const headers[] = {"Metadata: true", NULL};
    HttpResponse resp = {0};
    HttpError herr = {0};
    int k;
    if (trimmed(base_or(cfg->imds_base, SNP_IMDS_DEFAULT_BASE), &b) < 0 ||
        asprintf(&url, "%s/metadata/THIM/amd/certification", b) < 0)
        return -ENOMEM;
    HttpRequest req = {.method = "GET", .url = url, .headers = headers};
    k = http_request(&cfg->http, &req, &resp, &herr);
    if (k < 0) {
        if (k == -EINVAL)
            log_error("%s", http_failure_string(url, k, &herr));
        else
            note_failure(fail, url, k, &herr);
        http_error_done(&herr);
        http_response_done(&resp);
        return k;
    }
    _cleanup_json_ cJSON *j = NULL;
    k = json_parse(resp.body, resp.body_len, &j);
    http_response_done(&resp);
    if (k < 0)
        return -EBADMSG;
    const char *vcek = json_get_string(j, "vcekCert"),
               *chain = json_get_string(j, "certificateChain"), *tcbm = json_get_string(j, "tcbm");
    if (!vcek || !chain)
        return -EBADMSG;
    if (tcbm) {
        uint8_t be[8];
        if (hex_decode_fixed(tcbm, be, 8) == 0) {
            uint64_t v = 0;
            for (int i = 0; i < 8; i++)
                v = (v << 8) | be[i];
            if (v != r->reported_tcb.raw) {
                log_debug("THIM's VCEK is for TCB %016llx, the report's is %016llx",
                          (unsigned long long)v, (unsigned long long)r->reported_tcb.raw);
                return -ENOENT;
            }
        }
    }
    _cleanup_x509_ X509 *signer = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *st = NULL;
    if (crypto_load_cert(vcek, strlen(vcek), &signer) < 0 ||
        load_chain_pem((const uint8_t *)chain, strlen(chain), &st) < 0)
        return -EBADMSG;
    unsigned char *der = NULL;
    int dlen = i2d_X509(signer, &der);
    if (dlen <= 0)
        return -ENOMEM;
    char *chain_copy = strdup(chain);
    if (!chain_copy) {
        OPENSSL_free(der);
        return -ENOMEM;
    }
    uint8_t *copy = malloc((size_t)dlen);
    if (!copy) {
        OPENSSL_free(der);
        free(chain_copy);
        return -ENOMEM;
    }
    memcpy(copy, der, (size_t)dlen);
    OPENSSL_free(der);
    *ret_der = copy;
    *ret_der_len = (size_t)dlen;
    *ret_chain_pem = chain_copy;
    *ret_signer = TAKE_PTR(signer);
    *ret_chain = TAKE_PTR(st);
    return 0;
}

/* GET url. A URL the https rule refuses is a configuration error, reported
 * at once (-EINVAL); other failures are noted in f. */
static int http_get(const SnpFetchConfig *cfg, const char *url, HttpResponse *ret,
                    FetchFailure *f) {
    HttpError herr = {0};
    HttpRequest req = {.method = "GET", .url = url};
    int k = http_request(&cfg->http, &req, ret, &herr);
    if (k == -EINVAL)
        log_error("%s", http_failure_string(url, k, &herr));
    else if (k < 0)
        note_failure(f, url, k, &herr);
    if (k < 0)
        http_response_done(ret);
    http_error_done(&herr);
    return k;
}

/* What the sources found so far. */
typedef struct Found {
    X509 *signer;
    STACK_OF(X509) * chain; /* ASK then ARK */
    SnpCertSource source;
} Found;

static void found_done(Found *f) {
    X509_free(f->signer);
    x509_stack_freep(&f->chain);
    *f = (Found){0};
}

/* 1. the certificate table of an extended report / configfs auxblob */
static int from_cert_table(const uint8_t *table, size_t len, bool vlek, Found *f) {
    SnpCertEntry e[SNP_CERT_TABLE_MAX];
    _cleanup_x509_ X509 *ask = NULL, *ark = NULL;
    size_t n = 0;
    if (snp_cert_table_parse(table, len, e, ELEMENTSOF(e), &n) < 0) {
        log_debug("the certificate table does not parse, ignoring it");
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        X509 **slot = NULL;
        if ((e[i].kind == SNP_CERT_VCEK && !vlek) || (e[i].kind == SNP_CERT_VLEK && vlek))
            slot = &f->signer;
        else if (e[i].kind == SNP_CERT_ASK)
            slot = &ask;
        else if (e[i].kind == SNP_CERT_ARK)
            slot = &ark;
        if (slot && !*slot && crypto_load_cert(e[i].data, e[i].len, slot) < 0)
            log_debug("cert table entry %zu does not parse, ignoring", i);
    }
    if (f->signer)
        f->source = SNP_SOURCE_CERT_TABLE;
    if (ask && ark) {
        f->chain = sk_X509_new_null();
        if (!f->chain || !sk_X509_push(f->chain, ask))
            return -ENOMEM;
        ask = NULL;
        if (!sk_X509_push(f->chain, ark))
            return -ENOMEM;
        ark = NULL;
    }
    return 0;
}

/* 2. the cache */
static void from_cache(const char *spath, const char *cpath, Found *f) {
    if (!f->signer) {
        _cleanup_free_ uint8_t *d = NULL;
        size_t n;
        if (read_file(spath, FILE_MAX_EVIDENCE, &d, &n) == 0 &&
            crypto_load_cert(d, n, &f->signer) == 0)
            f->source = SNP_SOURCE_CACHE;
    }
    if (!f->chain) {
        _cleanup_free_ uint8_t *d = NULL;
        size_t n;
        if (read_file(cpath, FILE_MAX_EVIDENCE, &d, &n) == 0 && load_chain_pem(d, n, &f->chain) < 0)
            f->chain = NULL;
    }
}

/* 3. Azure THIM (VCEK only) */
static int from_thim(const SnpFetchConfig *cfg, const SnpReport *r, const char *spath,
                     const char *cpath, Found *f, FetchFailure *fail) {
    _cleanup_x509_ X509 *s = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *c = NULL;
    _cleanup_free_ uint8_t *der = NULL;
    _cleanup_free_ char *pem = NULL;
    size_t dlen = 0;
    int k = fetch_thim(cfg, r, &s, &c, &der, &dlen, &pem, fail);
    if (k == -ENOMEM || k == -EINVAL)
        return k;
    if (k < 0)
        return 0;
    if (!f->signer) {
        f->signer = TAKE_PTR(s);
        f->source = SNP_SOURCE_THIM;
        if (spath)
            cache_store(cfg, spath, der, dlen);
    }
    if (!f->chain) {
        f->chain = TAKE_PTR(c);
        if (cpath)
            cache_store(cfg, cpath, pem, strlen(pem));
    }
    return 0;
}

/* 4. AMD KDS: the VCEK (VLEKs are not published) and the chain */
static int from_kds(const SnpFetchConfig *cfg, const SnpReport *r, SnpProduct p, bool vlek,
                    const char *spath, const char *cpath, Found *f, FetchFailure *fail) {
    int k;
    if (!f->signer && !vlek) {
        _cleanup_free_ char *url = NULL;
        HttpResponse resp = {0};
        if (snp_kds_vcek_url(cfg->kds_base, r, p, &url) < 0)
            return -ENOMEM;
        k = http_get(cfg, url, &resp, fail);
        if (k == -EINVAL)
            return k;
        if (k == 0) {
            if (crypto_load_cert(resp.body, resp.body_len, &f->signer) == 0) {
                f->source = SNP_SOURCE_KDS;
                if (spath)
                    cache_store(cfg, spath, resp.body, resp.body_len);
            }
            http_response_done(&resp);
        }
    }
    if (!f->chain) {
        _cleanup_free_ char *url = NULL;
        HttpResponse resp = {0};
        if (snp_kds_chain_url(cfg->kds_base, p, vlek, &url) < 0)
            return -ENOMEM;
        k = http_get(cfg, url, &resp, fail);
        if (k == -EINVAL)
            return k;
        if (k == 0) {
            if (load_chain_pem(resp.body, resp.body_len, &f->chain) == 0 && cpath)
                cache_store(cfg, cpath, resp.body, resp.body_len);
            http_response_done(&resp);
        }
    }
    return 0;
}

int snp_certs_obtain(const SnpFetchConfig *cfg, const SnpReport *r, SnpProduct p,
                     const uint8_t *cert_table, size_t cert_table_len, X509 **ret_signer,
                     STACK_OF(X509) * *ret_chain, SnpCertSource *ret_source) {
    _cleanup_(found_done) Found f = {0};
    _cleanup_free_ char *spath = NULL, *cpath = NULL;
    FetchFailure fail = {0};
    bool vlek = r->signing_key == SNP_SIGNING_KEY_VLEK;
    int k;

    if (r->signing_key != SNP_SIGNING_KEY_VCEK && !vlek)
        return -EINVAL;
    if (cert_table && cert_table_len &&
        (k = from_cert_table(cert_table, cert_table_len, vlek, &f)) < 0)
        return k;
    if (cfg->cache_dir) {
        if (cache_signer_path(cfg, r, p, &spath) < 0 || cache_chain_path(cfg, p, vlek, &cpath) < 0)
            return -ENOMEM;
        from_cache(spath, cpath, &f);
    }
    if ((!f.signer || !f.chain) && cfg->use_thim && !vlek &&
        (k = from_thim(cfg, r, spath, cpath, &f, &fail)) < 0)
        return k;
    if ((!f.signer || !f.chain) && cfg->use_kds &&
        (k = from_kds(cfg, r, p, vlek, spath, cpath, &f, &fail)) < 0)
        return k;

    if (!f.signer || !f.chain) {
        if (!fail.err)
            return -ENOENT;
        log_error("cannot fetch the %s certificates: %s", vlek ? "VLEK" : "VCEK", fail.msg);
        return fail.err;
    }
    *ret_signer = TAKE_PTR(f.signer);
    *ret_chain = TAKE_PTR(f.chain);
    if (ret_source)
        *ret_source = f.source;
    return 0;
}

/* ---- the ARK's CRL ---- */

int snp_kds_crl_url(const char *base, SnpProduct p, bool vlek, char **ret) {
    _cleanup_free_ char *b = NULL;
    if (p == SNP_PRODUCT_UNKNOWN)
        return -EINVAL;
    if (trimmed(base_or(base, SNP_KDS_DEFAULT_BASE), &b) < 0)
        return -ENOMEM;
    return asprintf(ret, "%s/%s/v1/%s/crl", b, vlek ? "vlek" : "vcek", snp_product_name(p)) < 0
               ? -ENOMEM
               : 0;
}

static const char *const crl_mode_names[] = {
    [SNP_CRL_BEST_EFFORT] = "best-effort",
    [SNP_CRL_REQUIRE] = "require",
    [SNP_CRL_OFF] = "off",
};

int snp_crl_mode_from_string(const char *s, SnpCrlMode *ret) {
    for (size_t i = 0; s && i < ELEMENTSOF(crl_mode_names); i++)
        if (streq(s, crl_mode_names[i])) {
            *ret = (SnpCrlMode)i;
            return 0;
        }
    return -EINVAL;
}

const char *snp_crl_mode_to_string(SnpCrlMode m) {
    return (size_t)m < ELEMENTSOF(crl_mode_names) ? crl_mode_names[m] : "?";
}

void snp_crl_done(SnpCrl *c) {
    X509_CRL_free(c->crl);
    *c = (SnpCrl){0};
}

static bool crl_issued_by_ark(X509_CRL *crl, SnpProduct p) {
    char cn[64] = "", want[32];
    X509_NAME_get_text_by_NID(X509_CRL_get_issuer(crl), NID_commonName, cn, sizeof(cn));
    snprintf(want, sizeof(want), "ARK-%s", snp_product_name(p));
    return streq(cn, want);
}

/* --crl files: the one the product's ARK issued, else the only one (the
 * verifier then checks its issuer and signature against the chain's ARK). */
static int crl_from_files(const char **files, SnpProduct p, X509_CRL **ret) {
    _cleanup_crl_ X509_CRL *only = NULL;
    size_t n = 0;
    for (const char **f = files; *f; f++, n++) {
        _cleanup_free_ uint8_t *d = NULL;
        _cleanup_crl_ X509_CRL *crl = NULL;
        size_t len;
        int k = read_file(*f, FILE_MAX_EVIDENCE, &d, &len);
        if (k < 0)
            return log_error_errno(k, "cannot read CRL '%s': %s", *f,
                                   file_error_string(k, FILE_MAX_EVIDENCE)),
                   -EINVAL;
        if (crypto_load_crl(d, len, &crl) < 0)
            return log_error("'%s' is not a CRL (PEM or DER)", *f), -EINVAL;
        if (crl_issued_by_ark(crl, p)) {
            *ret = TAKE_PTR(crl);
            return 0;
        }
        if (!only)
            only = TAKE_PTR(crl);
    }
    if (n != 1)
        return log_error("none of the %zu CRLs given is issued by ARK-%s", n, snp_product_name(p)),
               -EINVAL;
    *ret = TAKE_PTR(only);
    return 0;
}

static int crl_cache_path(const SnpFetchConfig *cfg, SnpProduct p, bool vlek, char **ret) {
    return asprintf(ret, "%s/snp/%s-%s.crl", cfg->cache_dir, snp_product_name(p),
                    vlek ? "vlek" : "vcek") < 0
               ? -ENOMEM
               : 0;
}

/* A cached CRL is good until its nextUpdate by the wall clock: the cache's
 * freshness is about when it was fetched, not the verification time. */
static int crl_from_cache(const char *path, X509_CRL **ret) {
    _cleanup_free_ uint8_t *d = NULL;
    _cleanup_crl_ X509_CRL *crl = NULL;
    size_t len;
    int64_t last, next;
    if (read_file(path, FILE_MAX_EVIDENCE, &d, &len) < 0 || crypto_load_crl(d, len, &crl) < 0 ||
        crypto_asn1_time_to_epoch(X509_CRL_get0_lastUpdate(crl), &last) < 0)
        return -ENOENT;
    if (crypto_asn1_time_to_epoch(X509_CRL_get0_nextUpdate(crl), &next) < 0)
        next = last + SNP_CRL_MAX_AGE;
    if (now_realtime_s() >= next)
        return -ENOENT;
    *ret = TAKE_PTR(crl);
    return 0;
}

static int crl_from_kds(const SnpFetchConfig *cfg, SnpProduct p, bool vlek, const char *cpath,
                        X509_CRL **ret, FetchFailure *fail) {
    _cleanup_free_ char *url = NULL;
    HttpResponse resp = {0};
    if (snp_kds_crl_url(cfg->kds_base, p, vlek, &url) < 0)
        return -ENOMEM;
    int k = http_get(cfg, url, &resp, fail);
    if (k == -ENOENT) {
        snprintf(fail->msg, sizeof(fail->msg), "GET '%s': HTTP 404", url);
        fail->err = -EPROTO;
    }
    if (k < 0)
        return k == -EINVAL ? k : fail->err;
    k = crypto_load_crl(resp.body, resp.body_len, ret);
    if (k == 0 && cpath)
        cache_store(cfg, cpath, resp.body, resp.body_len);
    http_response_done(&resp);
    if (k < 0) {
        snprintf(fail->msg, sizeof(fail->msg), "'%s' did not answer with a CRL", url);
        return fail->err = -EPROTO;
    }
    return 0;
}

int snp_crl_obtain(const SnpFetchConfig *cfg, SnpProduct p, bool vlek, SnpCrl *ret) {
    _cleanup_free_ char *cpath = NULL;
    FetchFailure fail = {0};
    int k;

    *ret = (SnpCrl){.required = cfg->crl_mode == SNP_CRL_REQUIRE};
    if (cfg->crl_files && cfg->crl_files[0]) {
        ret->required = true; /* named by the user: it must check out */
        ret->source = SNP_SOURCE_GIVEN;
        return crl_from_files(cfg->crl_files, p, &ret->crl);
    }
    if (cfg->crl_mode == SNP_CRL_OFF)
        return 0;
    if (p == SNP_PRODUCT_UNKNOWN)
        k = -EPROTO, snprintf(fail.msg, sizeof(fail.msg), "the product is not known");
    else {
        if (cfg->cache_dir) {
            if (crl_cache_path(cfg, p, vlek, &cpath) < 0)
                return -ENOMEM;
            if (crl_from_cache(cpath, &ret->crl) == 0) {
                ret->source = SNP_SOURCE_CACHE;
                return 0;
            }
        }
        if (!cfg->use_kds)
            k = -EPROTO, snprintf(fail.msg, sizeof(fail.msg), "not cached and [snp] kds is off");
        else if (ret->required)
            k = crl_from_kds(cfg, p, vlek, cpath, &ret->crl, &fail);
        else {
            /* best effort: one short attempt, so that an offline verifier
             * does not wait out the retries for a check it may skip */
            SnpFetchConfig once = *cfg;
            once.http.max_attempts = 1;
            if (!once.http.timeout_ms || once.http.timeout_ms > SNP_CRL_BEST_EFFORT_TIMEOUT_MS)
                once.http.timeout_ms = SNP_CRL_BEST_EFFORT_TIMEOUT_MS;
            k = crl_from_kds(&once, p, vlek, cpath, &ret->crl, &fail);
        }
    }
    if (k == 0) {
        ret->source = SNP_SOURCE_KDS;
        return 0;
    }
    if (k == -EINVAL || k == -ENOMEM)
        return k;
    if (ret->required) {
        log_error("cannot obtain AMD's CRL, and [snp] crl = require: %s", fail.msg);
        return k;
    }
    log_warning("AMD's CRL could not be checked (%s): revocation of the AMD signing key is not "
                "checked; set [snp] crl = require to refuse instead, or give it with --crl",
                fail.msg);
    return 0;
}
