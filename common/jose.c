/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "codec.h"
#include "crypto.h"
#include "jose.h"
#include "json.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM_BLD *, OSSL_PARAM_BLD_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM *, OSSL_PARAM_free)

static const struct {
    unsigned alg;
    const char *name;
} alg_names[] = {
    {JOSE_ALG_RS256, "RS256"},
    {JOSE_ALG_PS256, "PS256"},
    {JOSE_ALG_ES256, "ES256"},
    {JOSE_ALG_ES384, "ES384"},
};

unsigned jose_alg_from_string(const char *s) {
    for (size_t i = 0; s && i < ELEMENTSOF(alg_names); i++)
        if (streq(s, alg_names[i].name))
            return alg_names[i].alg;
    return 0;
}

const char *jose_alg_to_string(unsigned alg) {
    for (size_t i = 0; i < ELEMENTSOF(alg_names); i++)
        if (alg == alg_names[i].alg)
            return alg_names[i].name;
    return NULL;
}

JoseJws *jose_jws_free(JoseJws *jws) {
    if (!jws)
        return NULL;
    cJSON_Delete(jws->header);
    cJSON_Delete(jws->payload);
    free(jws->signing_input);
    free(jws->signature);
    free(jws);
    return NULL;
}

/* RFC 7515 §2: base64url without padding; the codec also refuses non-zero
 * trailing bits, so a segment has exactly one spelling. */
static int segment_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len) {
    if (memchr(s, '=', len))
        return -EBADMSG;
    return base64url_decode(s, len, ret, ret_len) < 0 ? -EBADMSG : 0;
}

/* Two members of one name would let two readers see two different tokens. */
static bool has_duplicate_members(const cJSON *item, unsigned depth) {
    if (depth > 64)
        return true;
    for (const cJSON *a = item ? item->child : NULL; a; a = a->next) {
        if (cJSON_IsObject(item) && a->string)
            for (const cJSON *b = a->next; b; b = b->next)
                if (b->string && streq(a->string, b->string))
                    return true;
        if ((cJSON_IsObject(a) || cJSON_IsArray(a)) && has_duplicate_members(a, depth + 1))
            return true;
    }
    return false;
}

static int decode_object(const char *seg, size_t len, size_t max, cJSON **ret, const char *what,
                         const char **why) {
    _cleanup_free_ uint8_t *raw = NULL;
    size_t raw_len = 0;
    cJSON *obj = NULL;
    static __thread char msg[96];

    if (segment_decode(seg, len, &raw, &raw_len) < 0) {
        snprintf(msg, sizeof(msg), "the %s is not base64url without padding", what);
        *why = msg;
        return -EBADMSG;
    }
    if (raw_len > max) {
        snprintf(msg, sizeof(msg), "the %s is larger than %zu bytes", what, max);
        *why = msg;
        return -E2BIG;
    }
    if (json_parse(raw, raw_len, &obj) < 0 || !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        snprintf(msg, sizeof(msg), "the %s is not a JSON object", what);
        *why = msg;
        return -EBADMSG;
    }
    if (has_duplicate_members(obj, 0)) {
        cJSON_Delete(obj);
        snprintf(msg, sizeof(msg), "the %s has a duplicate member name", what);
        *why = msg;
        return -EBADMSG;
    }
    *ret = obj;
    return 0;
}

static int parse_header(JoseJws *jws, const char **why) {
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(jws->header, "alg");
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(jws->header, "kid");
    if (!cJSON_IsString(alg))
        return *why = "the header has no \"alg\" string", -EBADMSG;
    if (kid && !cJSON_IsString(kid))
        return *why = "the header's \"kid\" is not a string", -EBADMSG;
    /* RFC 7515 §4.1.11: an extension the recipient does not understand must be refused */
    if (cJSON_GetObjectItemCaseSensitive(jws->header, "crit"))
        return *why = "the header names critical extensions (\"crit\"), which are not supported",
               -EBADMSG;
    jws->alg_name = alg->valuestring;
    jws->alg = jose_alg_from_string(alg->valuestring);
    jws->kid = kid ? kid->valuestring : NULL;
    return 0;
}

int jose_jws_parse(const char *compact, size_t len, JoseJws **ret, const char **why) {
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = NULL;
    if (len > JOSE_MAX_COMPACT)
        return *why = "the JWS is larger than 1 MiB", -E2BIG;
    if (memchr(compact, '\0', len))
        return *why = "the JWS contains a NUL byte", -EBADMSG;
    const char *dot1 = memchr(compact, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - compact)) : NULL;
    if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - compact)))
        return *why = "not a compact JWS (three base64url parts separated by dots)", -EBADMSG;
    size_t hlen = (size_t)(dot1 - compact), plen = (size_t)(dot2 - dot1 - 1);
    size_t slen = len - (size_t)(dot2 + 1 - compact);
    if (hlen == 0 || plen == 0 || slen == 0)
        return *why = "a part of the JWS is empty (an unsigned or detached JWS)", -EBADMSG;

    JoseJws *jws = calloc(1, sizeof(*jws));
    if (!jws)
        return -ENOMEM;
    _cleanup_jws_ JoseJws *owned = jws;
    int r = decode_object(compact, hlen, JOSE_MAX_HEADER, &jws->header, "header", why);
    if (r < 0)
        return r;
    r = parse_header(jws, why);
    if (r < 0)
        return r;
    r = decode_object(dot1 + 1, plen, JOSE_MAX_COMPACT, &jws->payload, "payload", why);
    if (r < 0)
        return r;
    if (slen > (JOSE_MAX_SIGNATURE * 4 + 2) / 3)
        return *why = "the signature is longer than any supported key", -E2BIG;
    if (segment_decode(dot2 + 1, slen, &jws->signature, &jws->signature_len) < 0)
        return *why = "the signature is not base64url without padding", -EBADMSG;
    jws->signing_input = strndup(compact, hlen + 1 + plen);
    if (!jws->signing_input)
        return -ENOMEM;
    jws->signing_input_len = hlen + 1 + plen;
    *ret = TAKE_PTR(owned);
    return 0;
}

static bool ec_group_is(EVP_PKEY *key, const char *group) {
    char name[64] = "";
    size_t n = 0;
    if (!EVP_PKEY_is_a(key, "EC"))
        return false;
    if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &n)) {
        ERR_clear_error();
        return false;
    }
    return streq(name, group);
}

/* The key must be of the algorithm's family, and strong enough. */
static int check_key_fits(unsigned alg, EVP_PKEY *key, const char **why) {
    switch (alg) {
    case JOSE_ALG_RS256:
    case JOSE_ALG_PS256:
        if (!EVP_PKEY_is_a(key, "RSA") && !(alg == JOSE_ALG_PS256 && EVP_PKEY_is_a(key, "RSA-PSS")))
            return *why = "the JWS alg needs an RSA key, the key is not RSA", -EKEYREJECTED;
        if (EVP_PKEY_get_bits(key) < JOSE_MIN_RSA_BITS)
            return *why = "the RSA signing key is shorter than 2048 bits", -EKEYREJECTED;
        return 0;
    case JOSE_ALG_ES256:
        if (!ec_group_is(key, "prime256v1"))
            return *why = "the JWS alg ES256 needs a P-256 key, the key is not one", -EKEYREJECTED;
        return 0;
    case JOSE_ALG_ES384:
        if (!ec_group_is(key, "secp384r1"))
            return *why = "the JWS alg ES384 needs a P-384 key, the key is not one", -EKEYREJECTED;
        return 0;
    }
    return *why = "unsupported JWS alg", -EPROTONOSUPPORT;
}

static int verify_pss(EVP_PKEY *key, const JoseJws *jws) {
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    if (!ctx)
        return -ENOMEM;
    if (EVP_DigestVerifyInit_ex(ctx, &pctx, "SHA256", NULL, NULL, key, NULL) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA256", NULL) != 1 ||
        /* RFC 7518 §3.5: the salt is as long as the hash */
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1) {
        ERR_clear_error();
        return -EINVAL;
    }
    int ok = EVP_DigestVerify(ctx, jws->signature, jws->signature_len,
                              (const uint8_t *)jws->signing_input, jws->signing_input_len);
    ERR_clear_error();
    return ok == 1 ? 0 : -EKEYREJECTED;
}

int jose_jws_verify(const JoseJws *jws, EVP_PKEY *key, unsigned allowed, const char **why) {
    const char *dummy;
    int r;
    if (!why)
        why = &dummy;
    *why = NULL;
    if (!jws->alg || !(jws->alg & allowed))
        return *why = streq(jws->alg_name, "none") ? "unsigned JWS (\"alg\": \"none\") refused"
                                                   : "the JWS alg is not one this check allows",
               -EPROTONOSUPPORT;
    r = check_key_fits(jws->alg, key, why);
    if (r < 0)
        return r;
    const uint8_t *msg = (const uint8_t *)jws->signing_input;
    size_t msg_len = jws->signing_input_len;
    switch (jws->alg) {
    case JOSE_ALG_RS256:
        if (jws->signature_len != (size_t)EVP_PKEY_get_size(key))
            return *why = "the signature length does not match the RSA key", -EKEYREJECTED;
        r = crypto_verify(key, "SHA256", msg, msg_len, jws->signature, jws->signature_len);
        break;
    case JOSE_ALG_PS256:
        if (jws->signature_len != (size_t)EVP_PKEY_get_size(key))
            return *why = "the signature length does not match the RSA key", -EKEYREJECTED;
        r = verify_pss(key, jws);
        break;
    case JOSE_ALG_ES256:
    case JOSE_ALG_ES384: {
        /* RFC 7518 §3.4: r || s, each exactly the curve's size */
        size_t n = jws->alg == JOSE_ALG_ES256 ? 32 : 48;
        if (jws->signature_len != 2 * n)
            return *why = "the ECDSA signature is not r || s of the curve's size", -EKEYREJECTED;
        r = crypto_ecdsa_verify_raw(key, jws->alg == JOSE_ALG_ES256 ? "SHA256" : "SHA384", msg,
                                    msg_len, jws->signature, jws->signature + n, n);
        break;
    }
    default: return *why = "unsupported JWS alg", -EPROTONOSUPPORT;
    }
    if (r == -EKEYREJECTED)
        *why = "the signature does not verify";
    else if (r < 0)
        *why = "the signature could not be checked";
    return r;
}

static int b64url_member(const cJSON *jwk, const char *key, uint8_t **ret, size_t *ret_len) {
    const char *s = json_get_string(jwk, key);
    if (!s || !*s)
        return -ENOENT;
    return base64url_decode(s, strlen(s), ret, ret_len) < 0 ? -EBADMSG : 0;
}

static int fromdata(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **ret) {
    _cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *k = NULL;
    if (!params || !ctx)
        return -ENOMEM;
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        ERR_clear_error();
        return -EBADMSG;
    }
    *ret = k;
    return 0;
}

static int jwk_rsa(const cJSON *jwk, EVP_PKEY **ret, const char **why) {
    _cleanup_free_ uint8_t *n = NULL, *e = NULL;
    size_t n_len = 0, e_len = 0;
    if (b64url_member(jwk, "n", &n, &n_len) < 0 || b64url_member(jwk, "e", &e, &e_len) < 0)
        return *why = "the RSA JWK has no base64url \"n\" and \"e\"", -EBADMSG;
    if (n_len > 2048 || e_len > 16)
        return *why = "the RSA JWK's \"n\" or \"e\" is implausibly long", -EBADMSG;
    _cleanup_(BN_freep) BIGNUM *bn = BN_bin2bn(n, (int)n_len, NULL);
    _cleanup_(BN_freep) BIGNUM *be = BN_bin2bn(e, (int)e_len, NULL);
    _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (!bn || !be || !bld)
        return -ENOMEM;
    if (BN_is_zero(bn) || BN_is_zero(be))
        return *why = "the RSA JWK's \"n\" or \"e\" is zero", -EBADMSG;
    if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
        return -ENOMEM;
    int r = fromdata("RSA", bld, ret);
    if (r == -EBADMSG)
        *why = "the RSA JWK is not a valid public key";
    return r;
}

static int jwk_ec(const cJSON *jwk, EVP_PKEY **ret, const char **why) {
    const char *crv = json_get_string(jwk, "crv");
    const char *group = NULL;
    size_t size = 0;
    if (streq_ptr(crv, "P-256"))
        group = "prime256v1", size = 32;
    else if (streq_ptr(crv, "P-384"))
        group = "secp384r1", size = 48;
    else
        return *why = "the EC JWK's curve is not P-256 or P-384", -EPROTONOSUPPORT;
    _cleanup_free_ uint8_t *x = NULL, *y = NULL;
    size_t x_len = 0, y_len = 0;
    if (b64url_member(jwk, "x", &x, &x_len) < 0 || b64url_member(jwk, "y", &y, &y_len) < 0 ||
        x_len != size || y_len != size)
        return *why = "the EC JWK has no base64url \"x\" and \"y\" of the curve's size", -EBADMSG;
    uint8_t point[1 + 2 * 48];
    point[0] = 0x04; /* uncompressed (SEC 1 §2.3.3) */
    memcpy(point + 1, x, size);
    memcpy(point + 1 + size, y, size);
    _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * size))
        return -ENOMEM;
    int r = fromdata("EC", bld, ret);
    if (r == -EBADMSG)
        *why = "the EC JWK's point is not on the curve";
    return r;
}

int jose_x5c_parse(const cJSON *x5c, X509 **leaf, STACK_OF(X509) * *rest, const char **why) {
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!cJSON_IsArray(x5c) || cJSON_GetArraySize(x5c) < 1)
        return *why = "\"x5c\" is not a non-empty array", -EBADMSG;
    _cleanup_x509_ X509 *first = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *others = sk_X509_new_null();
    if (!others)
        return -ENOMEM;
    const cJSON *e;
    cJSON_ArrayForEach(e, x5c) {
        _cleanup_free_ uint8_t *der = NULL;
        size_t der_len = 0;
        X509 *x = NULL;
        const unsigned char *p;
        /* RFC 7515 §4.1.6: standard base64 (not base64url) DER */
        if (!cJSON_IsString(e) ||
            base64_decode(e->valuestring, strlen(e->valuestring), &der, &der_len) < 0)
            return *why = "an \"x5c\" entry is not standard base64", -EBADMSG;
        p = der;
        x = d2i_X509(NULL, &p, (long)der_len);
        if (!x || p != der + der_len) {
            X509_free(x);
            ERR_clear_error();
            return *why = "an \"x5c\" entry is not one DER certificate", -EBADMSG;
        }
        if (!first)
            first = x;
        else if (!sk_X509_push(others, x)) {
            X509_free(x);
            return -ENOMEM;
        }
    }
    *leaf = TAKE_PTR(first);
    if (rest)
        *rest = TAKE_PTR(others);
    return 0;
}

int jose_jwk_to_pkey(const cJSON *jwk, EVP_PKEY **ret, const char **why) {
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!cJSON_IsObject(jwk))
        return *why = "the JWK is not a JSON object", -EBADMSG;
    const cJSON *x5c = cJSON_GetObjectItemCaseSensitive(jwk, "x5c");
    const char *kty = json_get_string(jwk, "kty");
    if (x5c) {
        _cleanup_x509_ X509 *leaf = NULL;
        int r = jose_x5c_parse(x5c, &leaf, NULL, why);
        if (r < 0)
            return r;
        EVP_PKEY *k = X509_get_pubkey(leaf);
        if (!k) {
            ERR_clear_error();
            return *why = "the key of the JWK's x5c[0] certificate cannot be read", -EBADMSG;
        }
        bool kty_ok = !kty || (streq(kty, "RSA") && EVP_PKEY_is_a(k, "RSA")) ||
                      (streq(kty, "EC") && EVP_PKEY_is_a(k, "EC"));
        if (!kty_ok) {
            EVP_PKEY_free(k);
            return *why = "the JWK's kty does not match its x5c[0] certificate's key", -EBADMSG;
        }
        /* RFC 7517 §4.7: a key given twice must be the same key */
        if ((json_get_string(jwk, "n") || json_get_string(jwk, "e")) &&
            !jose_jwk_rsa_equals(jwk, k)) {
            EVP_PKEY_free(k);
            return *why = "the JWK's n/e are not the key of its x5c[0] certificate", -EBADMSG;
        }
        *ret = k;
        return 0;
    }
    if (streq_ptr(kty, "RSA"))
        return jwk_rsa(jwk, ret, why);
    if (streq_ptr(kty, "EC"))
        return jwk_ec(jwk, ret, why);
    return *why = "the JWK's kty is neither RSA nor EC", -EPROTONOSUPPORT;
}

const cJSON *jose_jwks_find(const cJSON *jwks, const char *kid) {
    const cJSON *keys = json_get_array(jwks, "keys"), *k;
    if (!keys || !kid)
        return NULL;
    cJSON_ArrayForEach(k, keys) {
        const char *id = json_get_string(k, "kid");
        if (id && streq(id, kid))
            return k;
    }
    return NULL;
}

static int check_thumbprint(const cJSON *header, const char *name, const char *md, X509 *cert,
                            const char **why) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(header, name);
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!v)
        return 0;
    if (!cJSON_IsString(v))
        return *why = "a certificate thumbprint in the header is not a string", -EKEYREJECTED;
    EVP_MD *m = EVP_MD_fetch(NULL, md, NULL);
    int ok = m && X509_digest(cert, m, digest, &n);
    EVP_MD_free(m);
    if (!ok)
        return -EIO;
    _cleanup_free_ char *want = base64url_encode(digest, n);
    if (!want)
        return -ENOMEM;
    if (!streq(want, v->valuestring))
        return *why = streq(name, "x5t") ? "the header's x5t does not name the certificate"
                                         : "the header's x5t#S256 does not name the certificate",
               -EKEYREJECTED;
    return 0;
}

int jose_check_thumbprints(const cJSON *header, X509 *cert, const char **why) {
    const char *dummy;
    if (!why)
        why = &dummy;
    int r = check_thumbprint(header, "x5t", "SHA1", cert, why);
    if (r < 0)
        return r;
    return check_thumbprint(header, "x5t#S256", "SHA256", cert, why);
}

bool jose_jwk_rsa_equals(const cJSON *jwk, EVP_PKEY *key) {
    _cleanup_free_ uint8_t *n = NULL, *e = NULL;
    size_t n_len = 0, e_len = 0;
    _cleanup_(BN_freep) BIGNUM *kn = NULL;
    _cleanup_(BN_freep) BIGNUM *ke = NULL;
    if (!EVP_PKEY_is_a(key, "RSA") || b64url_member(jwk, "n", &n, &n_len) < 0 ||
        b64url_member(jwk, "e", &e, &e_len) < 0 || n_len > 2048 || e_len > 16)
        return false;
    if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &kn) ||
        !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &ke)) {
        ERR_clear_error();
        return false;
    }
    _cleanup_(BN_freep) BIGNUM *jn = BN_bin2bn(n, (int)n_len, NULL);
    _cleanup_(BN_freep) BIGNUM *je = BN_bin2bn(e, (int)e_len, NULL);
    return jn && je && BN_cmp(jn, kn) == 0 && BN_cmp(je, ke) == 0;
}

static int x5c_fail(char **reterr, int r, const char *fmt, ...) _printf_(3, 4);
static int x5c_fail(char **reterr, int r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (reterr && vasprintf(reterr, fmt, ap) < 0)
        *reterr = NULL;
    va_end(ap);
    return r;
}

int jose_jws_verify_x5c(const JoseJws *jws, STACK_OF(X509) * trusted, int64_t at, const char *host,
                        unsigned allowed, char **reterr) {
    _cleanup_x509_ X509 *leaf = NULL;
    _cleanup_x509_stack_ STACK_OF(X509) *rest = NULL;
    _cleanup_free_ char *chain_err = NULL;
    const char *why = NULL;
    if (reterr)
        *reterr = NULL;
    int r =
        jose_x5c_parse(cJSON_GetObjectItemCaseSensitive(jws->header, "x5c"), &leaf, &rest, &why);
    if (r < 0)
        return x5c_fail(reterr, r, "the JWS header's signer certificates: %s", why);
    r = jose_check_thumbprints(jws->header, leaf, &why);
    if (r < 0)
        return x5c_fail(reterr, r, "%s", why);
    r = crypto_verify_chain(leaf, rest, trusted, at, &chain_err);
    if (r < 0)
        return x5c_fail(reterr, r, "the JWS signer does not chain to a trusted root: %s",
                        chain_err ? chain_err : "?");
    if (host && X509_check_host(leaf, host, 0, 0, NULL) != 1) {
        ERR_clear_error();
        return x5c_fail(reterr, -EKEYREJECTED, "the JWS signer's certificate is not for '%s'",
                        host);
    }
    _cleanup_pkey_ EVP_PKEY *key = X509_get_pubkey(leaf);
    if (!key) {
        ERR_clear_error();
        return x5c_fail(reterr, -EBADMSG, "the JWS signer's key cannot be read");
    }
    r = jose_jws_verify(jws, key, allowed, &why);
    if (r < 0)
        return x5c_fail(reterr, r, "the JWS signature: %s", why);
    return 0;
}
