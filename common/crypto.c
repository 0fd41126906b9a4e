/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include "crypto.h"
#include "fileio.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE *, X509_STORE_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE_CTX *, X509_STORE_CTX_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(ECDSA_SIG *, ECDSA_SIG_free)

const char *crypto_last_error(void) {
    static __thread char buf[256];
    unsigned long e = ERR_get_error();
    if (!e)
        return "no OpenSSL error";
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return buf;
}

int crypto_digest(const char *md, const void *data, size_t len, uint8_t *out, size_t *ret_len) {
    unsigned int n = 0;
    EVP_MD *m = EVP_MD_fetch(NULL, md, NULL);
    if (!m)
        return -EOPNOTSUPP;
    int ok = EVP_Digest(data, len, out, &n, m, NULL);
    EVP_MD_free(m);
    if (!ok)
        return -EIO;
    if (ret_len)
        *ret_len = n;
    return 0;
}

int crypto_load_cert(const void *data, size_t len, X509 **ret) {
    const unsigned char *p = data;
    if (len > INT32_MAX)
        return -E2BIG;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (!x) {
        _cleanup_(BIO_freep) BIO *b = BIO_new_mem_buf(data, (int)len);
        if (!b)
            return -ENOMEM;
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    }
    ERR_clear_error();
    if (!x)
        return -EBADMSG;
    *ret = x;
    return 0;
}

int crypto_load_cert_chain(const void *data, size_t len, STACK_OF(X509) * *ret) {
    if (len > INT32_MAX)
        return -E2BIG;
    _cleanup_(BIO_freep) BIO *b = BIO_new_mem_buf(data, (int)len);
    _cleanup_x509_stack_ STACK_OF(X509) *chain = sk_X509_new_null();
    if (!b || !chain)
        return -ENOMEM;
    for (;;) {
        X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        if (!x)
            break;
        if (!sk_X509_push(chain, x)) {
            X509_free(x);
            return -ENOMEM;
        }
    }
    ERR_clear_error();
    if (sk_X509_num(chain) == 0)
        return -EBADMSG;
    *ret = TAKE_PTR(chain);
    return 0;
}

int crypto_load_cert_file(const char *path, X509 **ret) {
    _cleanup_free_ uint8_t *data = NULL;
    size_t len = 0;
    int r = read_file(path, FILE_MAX_EVIDENCE, &data, &len);
    if (r < 0)
        return r;
    return crypto_load_cert(data, len, ret);
}

int crypto_load_pubkey(const void *data, size_t len, EVP_PKEY **ret) {
    const unsigned char *p = data;
    if (len > INT32_MAX)
        return -E2BIG;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)len);
    if (!k) {
        _cleanup_(BIO_freep) BIO *b = BIO_new_mem_buf(data, (int)len);
        if (!b)
            return -ENOMEM;
        k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    }
    if (!k) {
        _cleanup_x509_ X509 *x = NULL;
        if (crypto_load_cert(data, len, &x) == 0)
            k = X509_get_pubkey(x);
    }
    ERR_clear_error();
    if (!k)
        return -EBADMSG;
    *ret = k;
    return 0;
}

int crypto_cert_fingerprint(X509 *cert, uint8_t out[32]) {
    unsigned int n = 0;
    if (!X509_digest(cert, EVP_sha256(), out, &n) || n != 32)
        return -EIO;
    return 0;
}

int crypto_verify_chain(X509 *leaf, STACK_OF(X509) * untrusted, STACK_OF(X509) * trusted,
                        int64_t at, char **reterr) {
    if (at < 0)
        return -EINVAL;
    _cleanup_(X509_STORE_freep) X509_STORE *store = X509_STORE_new();
    _cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (!store || !ctx)
        return -ENOMEM;
    for (int i = 0; i < sk_X509_num(trusted); i++)
        if (!X509_STORE_add_cert(store, sk_X509_value(trusted, i)))
            return -ENOMEM;
    if (!X509_STORE_CTX_init(ctx, store, leaf, untrusted))
        return -ENOMEM;
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    /* the given anchors are the only roots: no system store is loaded */
    X509_VERIFY_PARAM_set_time(param, (time_t)at);
    int ok = X509_verify_cert(ctx);
    if (ok == 1)
        return 0;
    int err = X509_STORE_CTX_get_error(ctx);
    X509 *bad = X509_STORE_CTX_get_current_cert(ctx);
    if (reterr) {
        char subject[256] = "?";
        if (bad)
            X509_NAME_oneline(X509_get_subject_name(bad), subject, sizeof(subject));
        if (asprintf(reterr, "certificate '%s' (depth %d): %s", subject,
                     X509_STORE_CTX_get_error_depth(ctx), X509_verify_cert_error_string(err)) < 0)
            *reterr = NULL;
    }
    ERR_clear_error();
    return -EKEYREJECTED;
}

void crypto_reverse(uint8_t *dst, const uint8_t *src, size_t n) {
    for (size_t i = 0; i < n; i++)
        dst[i] = src[n - 1 - i];
}

int crypto_verify(EVP_PKEY *key, const char *md, const void *msg, size_t msg_len,
                  const uint8_t *sig, size_t sig_len) {
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return -ENOMEM;
    if (EVP_DigestVerifyInit_ex(ctx, NULL, md, NULL, NULL, key, NULL) != 1) {
        ERR_clear_error();
        return -EINVAL;
    }
    int ok = EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len);
    ERR_clear_error();
    return ok == 1 ? 0 : -EKEYREJECTED;
}

int crypto_ecdsa_verify_raw(EVP_PKEY *key, const char *md, const void *msg, size_t msg_len,
                            const uint8_t *r, const uint8_t *s, size_t n) {
    _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *br = BN_bin2bn(r, (int)n, NULL), *bs = BN_bin2bn(s, (int)n, NULL);
    unsigned char *der = NULL;
    if (!sig || !br || !bs || !ECDSA_SIG_set0(sig, br, bs)) {
        BN_free(br);
        BN_free(bs);
        return -ENOMEM;
    }
    int der_len = i2d_ECDSA_SIG(sig, &der);
    if (der_len <= 0)
        return -ENOMEM;
    int ret = crypto_verify(key, md, msg, msg_len, der, (size_t)der_len);
    OPENSSL_free(der);
    return ret;
}

bool crypto_memeq(const void *a, const void *b, size_t n) {
    return CRYPTO_memcmp(a, b, n) == 0;
}

int crypto_asn1_time_to_epoch(const ASN1_TIME *t, int64_t *ret) {
    struct tm tm = {0};
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) {
        ERR_clear_error();
        return -EBADMSG;
    }
    time_t v = timegm(&tm);
    if (v == (time_t)-1)
        return -EBADMSG;
    *ret = (int64_t)v;
    return 0;
}

int crypto_load_crl(const void *data, size_t len, X509_CRL **ret) {
    if (len > INT32_MAX)
        return -E2BIG;
    _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(data, (int)len);
    if (!bio)
        return -ENOMEM;
    X509_CRL *crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
    if (!crl) {
        const unsigned char *p = data;
        ERR_clear_error();
        crl = d2i_X509_CRL(NULL, &p, (long)len);
    }
    ERR_clear_error();
    if (!crl)
        return -EBADMSG;
    *ret = crl;
    return 0;
}

int crypto_crl_check(X509_CRL *crl, X509 *issuer, int64_t at, int64_t max_age_s, bool allow_newer,
                     const char **reterr) {
    int64_t last, next;
    const ASN1_TIME *next_t = X509_CRL_get0_nextUpdate(crl);
    if (at < 0)
        return *reterr = "no verification time", -EINVAL;
    if (X509_NAME_cmp(X509_get_subject_name(issuer), X509_CRL_get_issuer(crl)) != 0)
        return *reterr = "the CRL is issued by another CA", -EKEYREJECTED;
    if (X509_CRL_verify(crl, X509_get0_pubkey(issuer)) != 1) {
        ERR_clear_error();
        return *reterr = "the CRL signature does not verify with its issuer's key", -EKEYREJECTED;
    }
    if (crypto_asn1_time_to_epoch(X509_CRL_get0_lastUpdate(crl), &last) < 0)
        return *reterr = "the CRL's lastUpdate is malformed", -EBADMSG;
    if (next_t) {
        if (crypto_asn1_time_to_epoch(next_t, &next) < 0)
            return *reterr = "the CRL's nextUpdate is malformed", -EBADMSG;
    } else if (max_age_s < 0 || __builtin_add_overflow(last, max_age_s, &next))
        return *reterr = "the CRL has no nextUpdate and no maximum age applies", -ESTALE;
    if (!allow_newer && last > at)
        return *reterr = "the CRL is not yet valid at the verification time", -ESTALE;
    if (at > next)
        return *reterr = next_t ? "the CRL is out of date (nextUpdate is before the verification "
                                  "time)"
                                : "the CRL has no nextUpdate and is older than the maximum age",
               -ESTALE;
    return 0;
}

bool crypto_crl_lists(X509_CRL *crl, X509 *cert) {
    X509_REVOKED *rev = NULL;
    /* by serial: the caller has matched the issuer, and get0_by_cert would
     * also compare issuer names that a re-encoded chain may spell differently */
    return X509_CRL_get0_by_serial(crl, &rev, (ASN1_INTEGER *)X509_get0_serialNumber(cert)) == 1;
}
