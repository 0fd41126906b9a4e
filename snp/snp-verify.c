/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SEV-SNP report verification: the VCEK/VLEK extensions, the pinned AMD
 * roots, the chain (OpenSSL path validation, RSA-PSS SHA-384), the report
 * signature, and the policy a verifier applies on top (tee-formats.md
 * §1.1-1.5; checks after go-sev-guest validate/validate.go).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/obj_mac.h>
#include <openssl/x509v3.h>

#include "common/bytes.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/log.h"
#include "snp/snp.h"

/* ---- VCEK / VLEK extensions (AMD VCEK spec 57230 §3; tee-formats §1.4) ---- */

#define AMD_OID_PREFIX "1.3.6.1.4.1.3704.1."

/* A DER INTEGER of 1..3 content bytes holding 0..255 (ucodeSPL 217 is 02 02 00 d9). */
static int der_small_uint(const uint8_t *p, size_t n, uint8_t *ret) {
    ByteReader br;
    br_init(&br, p, n);
    if (br_u8(&br) != 0x02)
        return -EBADMSG;
    uint8_t len = br_u8(&br);
    if (len < 1 || len > 2 || br_remaining(&br) != len)
        return -EBADMSG;
    const uint8_t *c = br_take(&br, len);
    if (!c)
        return -EBADMSG;
    if (len == 2) {
        if (c[0] != 0 || c[1] < 0x80) /* minimal encoding of 128..255 */
            return -EBADMSG;
        *ret = c[1];
    } else {
        if (c[0] & 0x80) /* negative */
            return -EBADMSG;
        *ret = c[0];
    }
    return 0;
}

static int der_ia5(const uint8_t *p, size_t n, char *out, size_t outlen) {
    ByteReader br;
    br_init(&br, p, n);
    if (br_u8(&br) != 0x16)
        return -EBADMSG;
    uint8_t len = br_u8(&br);
    if (len >= 0x80 || br_remaining(&br) != len || len >= outlen)
        return -EBADMSG;
    br_copy(&br, out, len);
    out[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
            return -EBADMSG;
    return br_ok(&br) ? 0 : -EBADMSG;
}

int snp_cert_info(X509 *cert, SnpCertInfo *ret) {
    SnpCertInfo info = {0};
    char cn[64] = "";
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) < 0)
        return -EBADMSG;
    if (strcmp(cn, "SEV-VLEK") == 0)
        info.is_vlek = true;
    else if (strcmp(cn, "SEV-VCEK") != 0)
        return -EBADMSG;

    for (int i = 0; i < X509_get_ext_count(cert); i++) {
        X509_EXTENSION *ext = X509_get_ext(cert, i);
        char oid[80];
        if (OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(ext), 1) <= 0)
            continue;
        if (strncmp(oid, AMD_OID_PREFIX, strlen(AMD_OID_PREFIX)) != 0)
            continue;
        const char *sub = oid + strlen(AMD_OID_PREFIX);
        const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(ext);
        const uint8_t *v = ASN1_STRING_get0_data(os);
        size_t n = (size_t)ASN1_STRING_length(os);
        int r = 0;
        if (strcmp(sub, "2") == 0) {
            r = der_ia5(v, n, info.product_name, sizeof(info.product_name));
            info.product = snp_product_from_name(info.product_name);
        } else if (strcmp(sub, "3.1") == 0) {
            r = der_small_uint(v, n, &info.bl);
            info.has_bl = true;
        } else if (strcmp(sub, "3.2") == 0) {
            r = der_small_uint(v, n, &info.tee);
            info.has_tee = true;
        } else if (strcmp(sub, "3.3") == 0) {
            r = der_small_uint(v, n, &info.snp);
            info.has_snp = true;
        } else if (strcmp(sub, "3.8") == 0) {
            r = der_small_uint(v, n, &info.ucode);
            info.has_ucode = true;
        } else if (strcmp(sub, "3.9") == 0) {
            r = der_small_uint(v, n, &info.fmc);
            info.has_fmc = true;
        } else if (strcmp(sub, "4") == 0) {
            /* hwID: raw 64 bytes (Milan/Genoa), raw 8 (Turin), or an OCTET STRING of either */
            if (n == 64 || n == 8) {
                memcpy(info.hwid, v, n);
                info.hwid_len = n;
            } else if ((n == 66 && v[0] == 0x04 && v[1] == 64) ||
                       (n == 10 && v[0] == 0x04 && v[1] == 8)) {
                memcpy(info.hwid, v + 2, n - 2);
                info.hwid_len = n - 2;
            } else
                r = -EBADMSG;
        } else if (strcmp(sub, "5") == 0)
            r = der_ia5(v, n, info.csp_id, sizeof(info.csp_id));
        if (r < 0) {
            log_debug("VCEK extension %s is malformed", oid);
            return -EBADMSG;
        }
    }
    if (info.is_vlek && info.hwid_len)
        return -EBADMSG; /* a VLEK has no hwID */
    *ret = info;
    return 0;
}

/* ---- pinned roots (tee-formats §1.5; MANIFEST) ---- */

static const struct {
    SnpProduct product;
    const char *fp;
} ark_pins[] = {
    {SNP_PRODUCT_MILAN, "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd"},
    {SNP_PRODUCT_GENOA, "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1"},
    {SNP_PRODUCT_TURIN, "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a"},
};

bool snp_ark_is_pinned(const uint8_t fp[32], SnpProduct *ret_product) {
    for (size_t i = 0; i < ELEMENTSOF(ark_pins); i++) {
        uint8_t pin[32];
        if (hex_decode_fixed(ark_pins[i].fp, pin, sizeof(pin)) < 0)
            continue;
        if (memcmp(pin, fp, 32) == 0) {
            if (ret_product)
                *ret_product = ark_pins[i].product;
            return true;
        }
    }
    return false;
}

/* ---- signature ---- */

int snp_report_verify_signature(const SnpReport *r, EVP_PKEY *key) {
    uint8_t rbe[SNP_SIG_COMPONENT_SIZE], sbe[SNP_SIG_COMPONENT_SIZE];
    static const uint8_t zeros[24];
    if (r->signature_algo != SNP_SIG_ALGO_ECDSA_P384_SHA384)
        return -EKEYREJECTED;
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC || EVP_PKEY_get_bits(key) != 384)
        return -EKEYREJECTED;
    crypto_reverse(rbe, r->sig_r, sizeof(rbe));
    crypto_reverse(sbe, r->sig_s, sizeof(sbe));
    /* P-384 integers are 48 bytes: the 24 high bytes must be zero */
    if (memcmp(rbe, zeros, 24) != 0 || memcmp(sbe, zeros, 24) != 0)
        return -EKEYREJECTED;
    return crypto_ecdsa_verify_raw(key, "SHA384", r->raw, SNP_REPORT_SIGNED_SIZE, rbe + 24,
                                   sbe + 24, 48);
}

/* ---- the whole check ---- */

static int vfail(SnpVerifyResult *res, const char *what, const char *fmt, ...) _printf_(3, 4);
static int vfail(SnpVerifyResult *res, const char *what, const char *fmt, ...) {
    va_list ap;
    snprintf(res->failed, sizeof(res->failed), "%s", what);
    va_start(ap, fmt);
    vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
    va_end(ap);
    return -EKEYREJECTED;
}

/* The issuer of cert among pool (by name and signature), or NULL. */
static X509 *find_issuer(X509 *cert, STACK_OF(X509) * a, STACK_OF(X509) * b) {
    STACK_OF(X509) * pools[2] = {a, b};
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < sk_X509_num(pools[p]); i++) {
            X509 *c = sk_X509_value(pools[p], i);
            if (X509_check_issued(c, cert) == X509_V_OK)
                return c;
        }
    return NULL;
}

/* The report is signed, with the key kind the certificate is for. */
static int check_signer(const SnpReport *r, const SnpVerifyInput *in, SnpVerifyResult *res) {
    if (r->signing_key == SNP_SIGNING_KEY_NONE)
        return vfail(res, "signing_key", "the report is not signed (SIGNING_KEY = none)");
    if (r->signing_key != SNP_SIGNING_KEY_VCEK && r->signing_key != SNP_SIGNING_KEY_VLEK)
        return vfail(res, "signing_key", "reserved SIGNING_KEY value %u", r->signing_key);
    if (r->signature_algo != SNP_SIG_ALGO_ECDSA_P384_SHA384)
        return vfail(res, "signature", "unknown SIGNATURE_ALGO %u (1 = ECDSA P-384/SHA-384)",
                     r->signature_algo);
    if (!in->signer)
        return vfail(res, "certificates", "no VCEK/VLEK certificate");
    if (snp_cert_info(in->signer, &res->cert) < 0)
        return vfail(res, "certificate",
                     "the signer certificate is neither a VCEK nor a VLEK with well-formed AMD "
                     "extensions");
    bool want_vlek = r->signing_key == SNP_SIGNING_KEY_VLEK;
    if (res->cert.is_vlek != want_vlek)
        return vfail(res, "signing_key", "the report is signed by a %s but the certificate is a %s",
                     want_vlek ? "VLEK" : "VCEK", res->cert.is_vlek ? "VLEK" : "VCEK");
    return 0;
}

/* The product: CPUID fields (v3+), else the certificate's productName. */
static int settle_product(SnpReport *r, SnpVerifyResult *res) {
    SnpProduct p = SNP_PRODUCT_UNKNOWN;
    if (r->has_cpuid) {
        p = snp_product_from_cpuid(r->cpuid_fam_id, r->cpuid_mod_id);
        if (p == SNP_PRODUCT_UNKNOWN)
            return vfail(res, "product", "unknown CPU family 0x%02x model 0x%02x", r->cpuid_fam_id,
                         r->cpuid_mod_id);
        if (res->cert.product != SNP_PRODUCT_UNKNOWN && res->cert.product != p)
            return vfail(res, "product",
                         "the report is from a %s CPU but the certificate is for '%s'",
                         snp_product_name(p), res->cert.product_name);
    } else
        p = res->cert.product;
    if (p == SNP_PRODUCT_UNKNOWN)
        return vfail(res, "product",
                     "cannot tell the product (no CPUID in a v%u report, "
                     "certificate productName '%s')",
                     r->version, res->cert.product_name);
    if (p != r->product)
        snp_report_set_product(r, p);
    res->product = p;
    return 0;
}

/* The chain to a pinned ARK of this product, or an extra anchor; *ret_root
 * is the root the path ended in (borrowed from in). */
static int check_chain(const SnpVerifyInput *in, SnpVerifyResult *res, X509 **ret_root) {
    _cleanup_x509_stack_ STACK_OF(X509) *trusted = sk_X509_new_null();
    _cleanup_free_ char *chain_err = NULL;
    if (!trusted)
        return -ENOMEM;
    for (int i = 0; i < sk_X509_num(in->chain); i++) {
        X509 *c = sk_X509_value(in->chain, i);
        uint8_t fp[32];
        SnpProduct ap;
        if (crypto_cert_fingerprint(c, fp) == 0 && snp_ark_is_pinned(fp, &ap) &&
            ap == res->product && !sk_X509_push(trusted, c))
            return -ENOMEM;
    }
    for (int i = 0; i < sk_X509_num(in->anchors); i++)
        if (!sk_X509_push(trusted, sk_X509_value(in->anchors, i)))
            return -ENOMEM;
    if (sk_X509_num(trusted) == 0)
        return vfail(res, "chain", "the certificate chain holds no pinned ARK-%s",
                     snp_product_name(res->product));
    int k = crypto_verify_chain(in->signer, in->chain, trusted, in->at, &chain_err);
    sk_X509_zero(trusted); /* borrowed */
    if (k == -ENOMEM || k == -EINVAL)
        return k;
    if (k < 0)
        return vfail(res, "chain", "%s chain: %s", res->cert.is_vlek ? "VLEK" : "VCEK",
                     chain_err ? chain_err : "invalid");
    /* name the root the path ended in */
    X509 *c = in->signer;
    for (int depth = 0; depth < 4; depth++) {
        X509 *issuer = find_issuer(c, in->chain, in->anchors);
        if (!issuer || issuer == c)
            break;
        c = issuer;
    }
    uint8_t rootfp[32];
    if (crypto_cert_fingerprint(c, rootfp) == 0) {
        _cleanup_free_ char *hex = hex_encode(rootfp, 32);
        if (hex)
            snprintf(res->root_fp, sizeof(res->root_fp), "%s", hex);
        res->pinned_root = snp_ark_is_pinned(rootfp, NULL);
    }
    *ret_root = c;
    return 0;
}

/*
 * The ARK's CRL: issued and signed by the root the chain ended in, current
 * at the verification time (a later one is fine: AMD's CRL only grows), and
 * listing no certificate that root issued (the ASK/ASVK).
 */
static int check_crl(const SnpVerifyInput *in, X509 *root, SnpVerifyResult *res) {
    const char *why = NULL;
    if (!in->crl || !in->crl->crl) {
        if (in->crl && in->crl->required)
            return vfail(res, "crl", "revocation must be checked but there is no CRL");
        return 0;
    }
    int k = crypto_crl_check(in->crl->crl, root, in->at, SNP_CRL_MAX_AGE, true, &why);
    if (k == -EINVAL)
        return k;
    if (k < 0) {
        if (in->crl->required)
            return vfail(res, "crl", "AMD CRL: %s", why);
        log_warning("AMD's CRL was not checked: %s", why);
        return 0;
    }
    STACK_OF(X509) * pools[2] = {in->chain, in->anchors};
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < sk_X509_num(pools[p]); i++) {
            X509 *c = sk_X509_value(pools[p], i);
            if (c == root || X509_check_issued(root, c) != X509_V_OK ||
                !crypto_crl_lists(in->crl->crl, c))
                continue;
            char subject[256] = "?";
            X509_NAME_oneline(X509_get_subject_name(c), subject, sizeof(subject));
            _cleanup_free_ char *serial = NULL;
            BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), NULL);
            if (bn) {
                char *hex = BN_bn2hex(bn);
                serial = hex ? strdup(hex) : NULL;
                OPENSSL_free(hex);
                BN_free(bn);
            }
            return vfail(res, "revoked", "certificate '%s' (serial %s) is revoked by AMD's CRL",
                         subject, serial ? serial : "?");
        }
    res->crl_checked = true;
    return 0;
}

/* The certificate's TCB is the one the report says it was derived for, and
 * (VCEK) its hwID is the CHIP_ID (Turin compares 8 bytes). */
static int check_tcb_and_chip(const SnpReport *r, SnpVerifyResult *res) {
    const SnpCertInfo *ci = &res->cert;
    const SnpTcb *t = &r->reported_tcb;
    bool turin = res->product == SNP_PRODUCT_TURIN;
    if (!ci->has_bl || !ci->has_tee || !ci->has_snp || !ci->has_ucode || (turin && !ci->has_fmc))
        return vfail(res, "tcb", "the certificate lacks TCB extensions");
    if (ci->bl != t->bootloader || ci->tee != t->tee || ci->snp != t->snp ||
        ci->ucode != t->microcode || (turin && ci->fmc != t->fmc))
        return vfail(res, "tcb",
                     "certificate TCB (bl %u tee %u snp %u ucode %u fmc %u) differs from "
                     "REPORTED_TCB at 0x180 (bl %u tee %u snp %u ucode %u fmc %u)",
                     ci->bl, ci->tee, ci->snp, ci->ucode, ci->fmc, t->bootloader, t->tee, t->snp,
                     t->microcode, t->fmc);
    if (ci->is_vlek)
        return 0;
    size_t n = turin ? 8 : 64;
    if (ci->hwid_len != n)
        return vfail(res, "chip_id", "the VCEK's hwID has %zu bytes, want %zu", ci->hwid_len, n);
    if (mem_is_zero(r->chip_id, 64) && !r->mask_chip_key)
        return vfail(res, "chip_id", "CHIP_ID is zero but MASK_CHIP_KEY is not set");
    if (!mem_is_zero(r->chip_id, 64) && memcmp(ci->hwid, r->chip_id, n) != 0)
        return vfail(res, "chip_id",
                     "the VCEK's hwID does not equal the report's CHIP_ID at 0x1a0 (a "
                     "certificate for another chip)");
    return 0;
}

/* ---- the chain's verdict, cached ---- */

/*
 * The chain signer -> ASK/ASVK -> ARK costs two RSA-4096 verifications and an
 * X509 store, more than the report's own ECDSA signature; a verifier checking
 * many reports of one chip repeats it for the same certificates. A successful
 * verdict (chain and CRL) is kept in-process under a SHA-256 of everything it
 * depends on: the product, the exact DER of the signer, of every chain
 * certificate and anchor, the CRL's DER and whether it is required. It is
 * reused only for a verification time inside the interval where all those
 * certificates are valid and the CRL is current. Failures and verdicts whose
 * CRL check was skipped with a warning are never kept.
 */
#define CHAIN_CACHE_SIZE 8

typedef struct ChainVerdict {
    bool used;
    uint8_t key[32];
    int64_t valid_from, valid_until; /* inclusive, as OpenSSL's validity check */
    bool pinned_root, crl_checked;
    char root_fp[65];
} ChainVerdict;

static ChainVerdict chain_cache[CHAIN_CACHE_SIZE];
static unsigned chain_cache_next, chain_cache_hits, chain_cache_misses;

void snp_verify_cache_clear(void) {
    memset(chain_cache, 0, sizeof(chain_cache));
    chain_cache_next = chain_cache_hits = chain_cache_misses = 0;
}

void snp_verify_cache_stats(unsigned *hits, unsigned *misses) {
    *hits = chain_cache_hits;
    *misses = chain_cache_misses;
}

/* Narrows [*from, *until] to cert's validity; -EBADMSG when unreadable. */
static int narrow_to_cert(X509 *cert, int64_t *from, int64_t *until) {
    int64_t nb, na;
    if (crypto_asn1_time_to_epoch(X509_get0_notBefore(cert), &nb) < 0 ||
        crypto_asn1_time_to_epoch(X509_get0_notAfter(cert), &na) < 0)
        return -EBADMSG;
    if (nb > *from)
        *from = nb;
    if (na < *until)
        *until = na;
    return 0;
}

static int hash_cert(EVP_MD_CTX *md, X509 *cert, int64_t *from, int64_t *until) {
    uint8_t fp[32];
    if (crypto_cert_fingerprint(cert, fp) < 0 || narrow_to_cert(cert, from, until) < 0)
        return -EBADMSG;
    return EVP_DigestUpdate(md, fp, sizeof(fp)) == 1 ? 0 : -ENOMEM;
}

static int hash_certs(EVP_MD_CTX *md, STACK_OF(X509) * certs, int64_t *from, int64_t *until) {
    int num = sk_X509_num(certs);             /* -1 for NULL */
    uint32_t n = num > 0 ? (uint32_t)num : 0; /* the count separates chain from anchors */
    if (EVP_DigestUpdate(md, &n, sizeof(n)) != 1)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        if (hash_cert(md, sk_X509_value(certs, (int)i), from, until) < 0)
            return -EBADMSG;
    return 0;
}

/* The CRL's part: its DER, whether required, and the end of its currency
 * (check_crl accepts a CRL issued after the verification time). */
static int hash_crl(EVP_MD_CTX *md, const SnpCrl *crl, int64_t *until) {
    uint8_t tag[2] = {crl != NULL, crl && crl->required}, fp[32];
    unsigned len = 0;
    if (EVP_DigestUpdate(md, tag, sizeof(tag)) != 1)
        return -ENOMEM;
    if (!crl || !crl->crl)
        return EVP_DigestUpdate(md, "-", 1) == 1 ? 0 : -ENOMEM;
    int64_t last, next;
    const ASN1_TIME *next_t = X509_CRL_get0_nextUpdate(crl->crl);
    if (X509_CRL_digest(crl->crl, EVP_sha256(), fp, &len) != 1 || len != sizeof(fp) ||
        crypto_asn1_time_to_epoch(X509_CRL_get0_lastUpdate(crl->crl), &last) < 0 ||
        (next_t ? crypto_asn1_time_to_epoch(next_t, &next) < 0
                : __builtin_add_overflow(last, (int64_t)SNP_CRL_MAX_AGE, &next)))
        return -EBADMSG;
    if (next < *until)
        *until = next;
    return EVP_DigestUpdate(md, fp, sizeof(fp)) == 1 ? 0 : -ENOMEM;
}

/* The cache key of (in, product) and the interval the verdict holds in. */
static int chain_cache_key(const SnpVerifyInput *in, SnpProduct product, uint8_t key[32],
                           int64_t *from, int64_t *until) {
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint32_t p = (uint32_t)product;
    *from = INT64_MIN;
    *until = INT64_MAX;
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(md, "snp-chain-v1", 12) != 1 || EVP_DigestUpdate(md, &p, sizeof(p)) != 1)
        return -ENOMEM;
    if (hash_cert(md, in->signer, from, until) < 0 || hash_certs(md, in->chain, from, until) < 0 ||
        hash_certs(md, in->anchors, from, until) < 0 || hash_crl(md, in->crl, until) < 0)
        return -EBADMSG;
    return EVP_DigestFinal_ex(md, key, NULL) == 1 ? 0 : -ENOMEM;
}

static const ChainVerdict *chain_cache_find(const uint8_t key[32], int64_t at) {
    for (size_t i = 0; i < CHAIN_CACHE_SIZE; i++) {
        const ChainVerdict *v = &chain_cache[i];
        if (v->used && memcmp(v->key, key, 32) == 0 && v->valid_from <= at && at <= v->valid_until)
            return v;
    }
    return NULL;
}

/* The chain and the CRL, or a verdict kept for the same inputs. */
static int check_chain_and_crl(const SnpVerifyInput *in, SnpVerifyResult *res) {
    uint8_t key[32];
    int64_t from, until;
    X509 *root = NULL;
    bool cacheable = in->signer && chain_cache_key(in, res->product, key, &from, &until) == 0 &&
                     from <= in->at && in->at <= until;
    const ChainVerdict *v = cacheable ? chain_cache_find(key, in->at) : NULL;
    if (v) {
        chain_cache_hits++;
        res->pinned_root = v->pinned_root;
        res->crl_checked = v->crl_checked;
        memcpy(res->root_fp, v->root_fp, sizeof(res->root_fp));
        return 0;
    }
    chain_cache_misses++;
    int k = check_chain(in, res, &root);
    if (k < 0 || (k = check_crl(in, root, res)) < 0)
        return k;
    if (!cacheable || (in->crl && in->crl->crl && !res->crl_checked))
        return 0; /* a skipped CRL check is warned about on every run */
    ChainVerdict *slot = &chain_cache[chain_cache_next++ % CHAIN_CACHE_SIZE];
    *slot = (ChainVerdict){.used = true,
                           .valid_from = from,
                           .valid_until = until,
                           .pinned_root = res->pinned_root,
                           .crl_checked = res->crl_checked};
    memcpy(slot->key, key, sizeof(slot->key));
    memcpy(slot->root_fp, res->root_fp, sizeof(slot->root_fp));
    return 0;
}

int snp_verify(SnpReport *r, const SnpVerifyInput *in, SnpVerifyResult *res) {
    int k;

    memset(res, 0, sizeof(*res));
    if ((k = check_signer(r, in, res)) < 0 || (k = settle_product(r, res)) < 0 ||
        (k = check_chain_and_crl(in, res)) < 0 || (k = check_tcb_and_chip(r, res)) < 0)
        return k;

    _cleanup_pkey_ EVP_PKEY *key = X509_get_pubkey(in->signer);
    if (!key)
        return vfail(res, "certificate", "cannot read the certificate's public key");
    k = snp_report_verify_signature(r, key);
    if (k == -ENOMEM)
        return k;
    if (k < 0)
        return vfail(res, "signature",
                     "the report signature over bytes 0x0..0x29f does not verify with the %s",
                     res->cert.is_vlek ? "VLEK" : "VCEK");
    return 0;
}

/* ---- policy ---- */

void snp_policy_init(SnpPolicy *p) {
    *p = (SnpPolicy){.vmpl = -1};
}

int snp_policy_parse_min_tcb(const char *s, SnpTcb *ret) {
    uint64_t v[5] = {0};
    size_t n = 0;
    const char *cur = s;
    SnpTcb t = {0};
    while (cur && n < 5) {
        const char *colon = strchr(cur, ':');
        size_t len = colon ? (size_t)(colon - cur) : strlen(cur);
        char buf[16];
        if (len == 0 || len >= sizeof(buf))
            return -EINVAL;
        memcpy(buf, cur, len);
        buf[len] = '\0';
        if (strncmp(buf, "0x", 2) == 0) {
            uint8_t b;
            if (len != 4 || hex_decode_fixed(buf + 2, &b, 1) < 0)
                return -EINVAL;
            v[n] = b;
        } else if (parse_u64(buf, 255, &v[n]) < 0)
            return -EINVAL;
        n++;
        cur = colon ? colon + 1 : NULL;
    }
    if (cur || n < 4)
        return -EINVAL;
    t.bootloader = (uint8_t)v[0];
    t.tee = (uint8_t)v[1];
    t.snp = (uint8_t)v[2];
    t.microcode = (uint8_t)v[3];
    t.fmc = (uint8_t)v[4];
    t.has_fmc = n == 5;
    *ret = t;
    return 0;
}

static int hex_member(const cJSON *v, uint8_t *out, size_t max, size_t *ret_len) {
    _cleanup_free_ uint8_t *bytes = NULL;
    size_t n = 0;
    if (!cJSON_IsString(v) || hex_decode(v->valuestring, strlen(v->valuestring), &bytes, &n) < 0 ||
        n == 0 || n > max)
        return -EINVAL;
    memcpy(out, bytes, n);
    *ret_len = n;
    return 0;
}

int snp_policy_from_json(SnpPolicy *p, const cJSON *json, const char **reterr) {
    size_t n;
    if (!cJSON_IsObject(json))
        return *reterr = "the policy is not a JSON object", -EINVAL;
    for (const cJSON *m = json->child; m; m = m->next) {
        const char *k = m->string ? m->string : "";
        if (strcmp(k, "allow_debug") == 0) {
            if (!cJSON_IsBool(m))
                return *reterr = "'allow_debug' wants true or false", -EINVAL;
            p->allow_debug = cJSON_IsTrue(m);
        } else if (strcmp(k, "min_tcb") == 0) {
            static const char *const names[] = {"bootloader", "tee", "snp", "microcode", "fmc"};
            uint8_t *fields[] = {&p->min_tcb.bootloader, &p->min_tcb.tee, &p->min_tcb.snp,
                                 &p->min_tcb.microcode, &p->min_tcb.fmc};
            if (!cJSON_IsObject(m))
                return *reterr = "'min_tcb' wants an object", -EINVAL;
            p->min_tcb = (SnpTcb){0};
            for (const cJSON *f = m->child; f; f = f->next) {
                size_t i;
                for (i = 0; i < ELEMENTSOF(names); i++)
                    if (f->string && strcmp(f->string, names[i]) == 0)
                        break;
                if (i == ELEMENTSOF(names) || !cJSON_IsNumber(f) || f->valuedouble < 0 ||
                    f->valuedouble > 255 || f->valuedouble != (double)(int)f->valuedouble)
                    return *reterr = "'min_tcb' members are bootloader, tee, snp, microcode "
                                     "and fmc, each 0..255",
                           -EINVAL;
                *fields[i] = (uint8_t)f->valueint;
                if (i == 4)
                    p->min_tcb.has_fmc = true;
            }
            p->has_min_tcb = true;
        } else if (strcmp(k, "measurements") == 0) {
            if (!cJSON_IsArray(m))
                return *reterr = "'measurements' wants an array of hex strings", -EINVAL;
            for (const cJSON *e = m->child; e; e = e->next) {
                if (p->n_measurements >= SNP_POLICY_MAX_MEASUREMENTS)
                    return *reterr = "too many measurements", -EINVAL;
                if (hex_member(e, p->measurements[p->n_measurements], 48, &n) < 0 || n != 48)
                    return *reterr = "a measurement is 48 bytes of hex", -EINVAL;
                p->n_measurements++;
            }
        } else if (strcmp(k, "report_data") == 0) {
            if (hex_member(m, p->report_data, 64, &p->report_data_len) < 0)
                return *reterr = "'report_data' wants up to 64 bytes of hex", -EINVAL;
            p->has_report_data = true;
        } else if (strcmp(k, "host_data") == 0) {
            if (hex_member(m, p->host_data, 32, &n) < 0 || n != 32)
                return *reterr = "'host_data' wants 32 bytes of hex", -EINVAL;
            p->has_host_data = true;
        } else if (strcmp(k, "vmpl") == 0) {
            if (!cJSON_IsNumber(m) || m->valuedouble < 0 || m->valuedouble > 3 ||
                m->valuedouble != (double)m->valueint)
                return *reterr = "'vmpl' wants 0..3", -EINVAL;
            p->vmpl = m->valueint;
        } else
            return *reterr = "unknown member in the SNP policy (allowed: allow_debug, min_tcb, "
                             "measurements, report_data, host_data, vmpl)",
                   -EINVAL;
    }
    return 0;
}

int snp_policy_check(const SnpReport *r, const SnpPolicy *p, const char **ret_failed, char *reason,
                     size_t reason_len) {
#define PFAIL(what, ...)                                                                           \
    do {                                                                                           \
        *ret_failed = what;                                                                        \
        snprintf(reason, reason_len, __VA_ARGS__);                                                 \
        return -EKEYREJECTED;                                                                      \
    } while (0)
    if (r->signing_key == SNP_SIGNING_KEY_NONE && !p->allow_unsigned)
        PFAIL("signing_key", "the report is not signed (SIGNING_KEY = none)");
    if ((r->policy & SNP_POLICY_DEBUG) && !p->allow_debug)
        PFAIL("debug",
              "the guest policy 0x%016llx allows debugging (bit 19); use --allow-debug "
              "to accept it",
              (unsigned long long)r->policy);
    if (p->has_min_tcb) {
        const SnpTcb *t = &r->reported_tcb, *m = &p->min_tcb;
        if (!snp_tcb_at_least(t, m))
            PFAIL("min_tcb",
                  "REPORTED_TCB (bl %u tee %u snp %u ucode %u fmc %u) is below the minimum "
                  "(bl %u tee %u snp %u ucode %u fmc %u)",
                  t->bootloader, t->tee, t->snp, t->microcode, t->fmc, m->bootloader, m->tee,
                  m->snp, m->microcode, m->fmc);
    }
    if (p->n_measurements) {
        bool found = false;
        for (size_t i = 0; i < p->n_measurements && !found; i++)
            found = memcmp(p->measurements[i], r->measurement, 48) == 0;
        if (!found)
            PFAIL("measurement", "the measurement is not one of the %zu allowed",
                  p->n_measurements);
    }
    if (p->has_report_data && !crypto_memeq(p->report_data, r->report_data, p->report_data_len))
        PFAIL("report_data", "report_data differs from the expected value");
    if (p->has_host_data && !crypto_memeq(p->host_data, r->host_data, 32))
        PFAIL("host_data", "host_data differs from the expected value");
    if (p->vmpl >= 0 && r->vmpl != (uint32_t)p->vmpl)
        PFAIL("vmpl", "the report is for VMPL %u, not %d", r->vmpl, p->vmpl);
    return 0;
#undef PFAIL
}
