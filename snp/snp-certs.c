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
    if (mkdir_p(dir, 0700) < 0 || write_file_atomic(path, data, len, 0644) < 0)
        log_debug("cannot cache '%s', ignoring", path);
}

static int load_chain_pem(const uint8_t *data, size_t len, STACK_OF(X509) * *ret) {
    return crypto_load_cert_chain(data, len, ret);
}

/* THIM: {"vcekCert": PEM, "certificateChain": PEM, "tcbm": hex} */
static int fetch_thim(const SnpFetchConfig *cfg, const SnpReport *r, X509 **ret_signer,
                      STACK_OF(X509) * *ret_chain, uint8_t **ret_der, size_t *ret_der_len,
                      char **ret_chain_pem) {
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
        log_debug("THIM '%s': %s", url, http_error_string(&herr));
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

static int http_get(const SnpFetchConfig *cfg, const char *url, HttpResponse *ret) {
    HttpError herr = {0};
    HttpRequest req = {.method = "GET", .url = url};
    int k = http_request(&cfg->http, &req, ret, &herr);
    if (k < 0) {
        log_debug("GET '%s': %s", url, http_error_string(&herr));
        http_response_done(ret);
    }
    http_error_done(&herr);
    return k;
}

int snp_certs_obtain(const SnpFetchConfig *cfg, const SnpReport *r, SnpProduct p,
                     const uint8_t *cert_table, size_t cert_table_len, X509 **ret_signer,
                     STACK_OF(X509) * *ret_chain, SnpCertSource *ret_source) {
    _cleanup_x509_ X509 *signer = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *chain = NULL;
    _cleanup_free_ char *spath = NULL, *cpath = NULL;
    SnpCertSource src = SNP_SOURCE_NONE;
    bool vlek = r->signing_key == SNP_SIGNING_KEY_VLEK;
    int net_err = 0, k;

    if (r->signing_key != SNP_SIGNING_KEY_VCEK && !vlek)
        return -EINVAL;

    /* 1. the certificate table of an extended report / configfs auxblob */
    if (cert_table && cert_table_len) {
        SnpCertEntry e[SNP_CERT_TABLE_MAX];
        size_t n = 0;
        if (snp_cert_table_parse(cert_table, cert_table_len, e, ELEMENTSOF(e), &n) == 0) {
            _cleanup_x509_ X509 *ask = NULL, *ark = NULL;
            for (size_t i = 0; i < n; i++) {
                X509 **slot = NULL;
                if ((e[i].kind == SNP_CERT_VCEK && !vlek) || (e[i].kind == SNP_CERT_VLEK && vlek))
                    slot = &signer;
                else if (e[i].kind == SNP_CERT_ASK)
                    slot = &ask;
                else if (e[i].kind == SNP_CERT_ARK)
                    slot = &ark;
                if (slot && !*slot && crypto_load_cert(e[i].data, e[i].len, slot) < 0)
                    log_debug("cert table entry %zu does not parse, ignoring", i);
            }
            if (signer)
                src = SNP_SOURCE_CERT_TABLE;
            if (ask && ark) {
                chain = sk_X509_new_null();
                if (!chain || !sk_X509_push(chain, ask))
                    return -ENOMEM;
                ask = NULL;
                if (!sk_X509_push(chain, ark))
                    return -ENOMEM;
                ark = NULL;
            }
        } else
            log_debug("the certificate table does not parse, ignoring it");
    }

    /* 2. the cache */
    if (cfg->cache_dir) {
        if (cache_signer_path(cfg, r, p, &spath) < 0 || cache_chain_path(cfg, p, vlek, &cpath) < 0)
            return -ENOMEM;
        if (!signer) {
            _cleanup_free_ uint8_t *d = NULL;
            size_t n;
            if (read_file(spath, FILE_MAX_EVIDENCE, &d, &n) == 0 &&
                crypto_load_cert(d, n, &signer) == 0)
                src = SNP_SOURCE_CACHE;
        }
        if (!chain) {
            _cleanup_free_ uint8_t *d = NULL;
            size_t n;
            if (read_file(cpath, FILE_MAX_EVIDENCE, &d, &n) == 0 &&
                load_chain_pem(d, n, &chain) < 0)
                chain = NULL;
        }
    }

    /* 3. Azure THIM (VCEK only) */
    if ((!signer || !chain) && cfg->use_thim && !vlek) {
        _cleanup_x509_ X509 *s = NULL;
        _cleanup_x509_stack_ STACK_OF(X509) *c = NULL;
        _cleanup_free_ uint8_t *der = NULL;
        _cleanup_free_ char *pem = NULL;
        size_t dlen = 0;
        k = fetch_thim(cfg, r, &s, &c, &der, &dlen, &pem);
        if (k == 0) {
            if (!signer) {
                signer = TAKE_PTR(s);
                src = SNP_SOURCE_THIM;
                if (spath)
                    cache_store(cfg, spath, der, dlen);
            }
            if (!chain) {
                chain = TAKE_PTR(c);
                if (cpath)
                    cache_store(cfg, cpath, pem, strlen(pem));
            }
        } else if (k != -ENOENT && k != -EBADMSG && k != -ENOMEM)
            net_err = k;
        else if (k == -ENOMEM)
            return k;
    }

    /* 4. AMD KDS */
    if (cfg->use_kds && !signer && !vlek) {
        _cleanup_free_ char *url = NULL;
        HttpResponse resp = {0};
        if (snp_kds_vcek_url(cfg->kds_base, r, p, &url) < 0)
            return -ENOMEM;
        k = http_get(cfg, url, &resp);
        if (k == 0) {
            if (crypto_load_cert(resp.body, resp.body_len, &signer) == 0) {
                src = SNP_SOURCE_KDS;
                if (spath)
                    cache_store(cfg, spath, resp.body, resp.body_len);
            }
            http_response_done(&resp);
        } else if (k != -ENOENT)
            net_err = k;
    }
    if (cfg->use_kds && !chain) {
        _cleanup_free_ char *url = NULL;
        HttpResponse resp = {0};
        if (snp_kds_chain_url(cfg->kds_base, p, vlek, &url) < 0)
            return -ENOMEM;
        k = http_get(cfg, url, &resp);
        if (k == 0) {
            if (load_chain_pem(resp.body, resp.body_len, &chain) == 0 && cpath)
                cache_store(cfg, cpath, resp.body, resp.body_len);
            http_response_done(&resp);
        } else if (k != -ENOENT)
            net_err = k;
    }

    if (!signer || !chain)
        return net_err < 0 ? net_err : -ENOENT;
    *ret_signer = TAKE_PTR(signer);
    *ret_chain = TAKE_PTR(chain);
    if (ret_source)
        *ret_source = src;
    return 0;
}
