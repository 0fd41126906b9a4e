/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * key_hsm (azure-wire-formats.md §3.3, MANIFEST fact 6): base64url JSON whose
 * ciphertext is RSA-OAEP(transfer key, AES-256 key) [256 bytes for the vTPM's
 * RSA-2048 key] followed by AES-KWP (RFC 5649) of the key material. The
 * RSA step happens inside the TPM; the AES key and everything unwrapped stay
 * in SecretBufs.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/codec.h"
#include "common/crypto.h"
#include "common/json.h"
#include "release/release.h"

#define TRANSFER_BLOCK 256u /* RSA-2048 */
#define KEY_HSM_MAX    (64u * 1024)

static const char *const enc_names[] = {
    [RELEASE_ENC_CKM_RSA_AES_KEY_WRAP] = "CKM_RSA_AES_KEY_WRAP",
    [RELEASE_ENC_RSA_AES_KEY_WRAP_256] = "RSA_AES_KEY_WRAP_256",
    [RELEASE_ENC_RSA_AES_KEY_WRAP_384] = "RSA_AES_KEY_WRAP_384",
};

int release_enc_from_string(const char *s, ReleaseEnc *ret) {
    for (size_t i = 0; s && i < ELEMENTSOF(enc_names); i++)
        if (streq(s, enc_names[i])) {
            *ret = (ReleaseEnc)i;
            return 0;
        }
    return -EINVAL;
}

const char *release_enc_to_string(ReleaseEnc e) {
    return (size_t)e < ELEMENTSOF(enc_names) ? enc_names[e] : "?";
}

void released_key_done(ReleasedKey *k) {
    if (!k)
        return;
    secret_free(k->der);
    EVP_PKEY_free(k->pkey);
    *k = (ReleasedKey){0};
}

/* PKCS#8 first (what Key Vault wraps), then a bare PKCS#1 RSAPrivateKey. */
static EVP_PKEY *parse_private(const uint8_t *der, size_t len) {
    const unsigned char *p = der;
    EVP_PKEY *k = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
    if (p8 && p == der + len)
        k = EVP_PKCS82PKEY(p8);
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (!k) {
        p = der;
        k = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, (long)len);
        if (k && p != der + len) {
            EVP_PKEY_free(k);
            k = NULL;
        }
    }
    ERR_clear_error();
    return k;
}

static int describe_key(ReleasedKey *k) {
    int bits = EVP_PKEY_get_bits(k->pkey);
    if (EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_RSA)
        snprintf(k->key_type, sizeof(k->key_type), "RSA-%d", bits);
    else if (EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_EC) {
        char curve[32] = "";
        size_t n = 0;
        EVP_PKEY_get_utf8_string_param(k->pkey, "group", curve, sizeof(curve), &n);
        snprintf(k->key_type, sizeof(k->key_type), "EC-%s", curve);
    } else
        snprintf(k->key_type, sizeof(k->key_type), "%s", OBJ_nid2sn(EVP_PKEY_get_base_id(k->pkey)));
    unsigned char *spki = NULL;
    int n = i2d_PUBKEY(k->pkey, &spki);
    if (n <= 0)
        return -EBADMSG;
    uint8_t md[CRYPTO_MAX_DIGEST];
    size_t dl = 0;
    int r = crypto_digest("SHA256", spki, (size_t)n, md, &dl);
    OPENSSL_free(spki);
    if (r == 0)
        memcpy(k->public_sha256, md, sizeof(k->public_sha256));
    k->has_public = r == 0;
    return r;
}

int release_unwrap_material(const SecretBuf *aes_key, const uint8_t *wrapped, size_t wrapped_len,
                            bool oct, ReleasedKey *ret, char *why, size_t why_size) {
    *ret = (ReleasedKey){0};
    if (!aes_key || aes_key->len != 32) {
        snprintf(why, why_size, "the transfer key decrypted to %zu bytes, not an AES-256 key",
                 aes_key ? aes_key->len : 0);
        return -EKEYREJECTED;
    }
    if (wrapped_len < 16 || wrapped_len % 8 != 0 || wrapped_len > KEY_HSM_MAX) {
        snprintf(why, why_size, "the wrapped key is %zu bytes, not an AES-KWP output", wrapped_len);
        return -EBADMSG;
    }
    _cleanup_secret_ SecretBuf *out = secret_new(wrapped_len + 16);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0, ok = 0;
    if (!out || !ctx) {
        EVP_CIPHER_CTX_free(ctx);
        return -ENOMEM;
    }
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_wrap_pad(), NULL, aes_key->data, NULL) == 1 &&
         EVP_DecryptUpdate(ctx, out->data, &n1, wrapped, (int)wrapped_len) == 1 &&
         EVP_DecryptFinal_ex(ctx, out->data + n1, &n2) == 1;
    EVP_CIPHER_CTX_free(ctx);
    ERR_clear_error();
    if (!ok) {
        snprintf(why, why_size,
                 "AES key unwrap failed (integrity check): the key was not "
                 "wrapped under the key the TPM decrypted");
        return -EKEYREJECTED;
    }
    secret_truncate(out, (size_t)n1 + (size_t)n2);
    if (oct) {
        if (out->len != 16 && out->len != 24 && out->len != 32) {
            snprintf(why, why_size, "a symmetric key of %zu bytes", out->len);
            return -EBADMSG;
        }
        ret->oct = true;
        snprintf(ret->key_type, sizeof(ret->key_type), "oct-%zu", out->len * 8);
        ret->der = TAKE_PTR(out);
        return 0;
    }
    ret->pkey = parse_private(out->data, out->len);
    if (!ret->pkey) {
        snprintf(why, why_size, "the unwrapped key is neither PKCS#8 nor PKCS#1 DER");
        return -EBADMSG;
    }
    ret->der = TAKE_PTR(out);
    int r = describe_key(ret);
    if (r < 0) {
        released_key_done(ret);
        snprintf(why, why_size, "the unwrapped key's public part cannot be encoded");
    }
    return r;
}

static TpmRsaScheme scheme_for(ReleaseEnc enc) {
    switch (enc) {
    case RELEASE_ENC_CKM_RSA_AES_KEY_WRAP: return TPM_RSA_OAEP_SHA1;
    case RELEASE_ENC_RSA_AES_KEY_WRAP_384: return TPM_RSA_OAEP_SHA384;
    default: return TPM_RSA_OAEP_SHA256;
    }
}

/* key_hsm's JSON: header.enc must be the one we asked for (it picks the OAEP hash). */
static int parse_key_hsm(const char *key_hsm, ReleaseEnc enc, uint8_t **ct, size_t *ct_len,
                         char *why, size_t why_size) {
    _cleanup_free_ uint8_t *raw = NULL;
    _cleanup_json_ cJSON *doc = NULL;
    size_t n = 0;
    if (strlen(key_hsm) > KEY_HSM_MAX * 2 ||
        base64url_decode(key_hsm, strlen(key_hsm), &raw, &n) < 0 || json_parse(raw, n, &doc) < 0) {
        snprintf(why, why_size, "key_hsm is not base64url JSON");
        return -EBADMSG;
    }
    const cJSON *h = json_get_object(doc, "header");
    const char *alg = json_get_string(h, "alg"), *henc = json_get_string(h, "enc");
    const char *ciphertext = json_get_string(doc, "ciphertext");
    if (!streq_ptr(json_get_string(doc, "schema_version"), "1.0") || !streq_ptr(alg, "dir") ||
        !henc || !ciphertext) {
        snprintf(why, why_size,
                 "key_hsm is not {schema_version 1.0, header {alg dir, enc}, "
                 "ciphertext}");
        return -EBADMSG;
    }
    if (!streq(henc, release_enc_to_string(enc))) {
        snprintf(why, why_size, "key_hsm is wrapped with %s, but %s was requested", henc,
                 release_enc_to_string(enc));
        return -EBADMSG;
    }
    /* no stripping of trailing zero bytes: a block ending in 00 stays 256 bytes */
    if (base64url_decode(ciphertext, strlen(ciphertext), ct, ct_len) < 0 ||
        *ct_len <= TRANSFER_BLOCK) {
        snprintf(why, why_size, "key_hsm's ciphertext is not base64url of more than %u bytes",
                 TRANSFER_BLOCK);
        return -EBADMSG;
    }
    return 0;
}

int release_unwrap(TpmContext *tpm, const TpmPcrSelection *sel, const char *key_hsm, ReleaseEnc enc,
                   bool oct, ReleasedKey *ret, char *why, size_t why_size) {
    _cleanup_free_ uint8_t *ct = NULL;
    _cleanup_secret_ SecretBuf *aes = NULL;
    size_t ct_len = 0;
    *ret = (ReleasedKey){0};
    int r = parse_key_hsm(key_hsm, enc, &ct, &ct_len, why, why_size);
    if (r < 0)
        return r;
    r = tpm_transfer_key_decrypt(tpm, sel, scheme_for(enc), ct, TRANSFER_BLOCK, &aes);
    if (r < 0) {
        snprintf(why, why_size,
                 "the TPM did not decrypt key_hsm's transfer block (%s): it is wrapped to "
                 "another key, or PCR 0-7 changed since attestation",
                 tpm_last_error(tpm));
        return r == -EKEYREJECTED || r == -EINVAL ? -EKEYREJECTED : r;
    }
    return release_unwrap_material(aes, ct + TRANSFER_BLOCK, ct_len - TRANSFER_BLOCK, oct, ret, why,
                                   why_size);
}

int released_key_export(const ReleasedKey *k, bool pem, SecretBuf **ret) {
    if (k->oct || !pem) {
        *ret = secret_dup(k->der->data, k->der->len);
        return *ret ? 0 : -ENOMEM;
    }
    BIO *b = BIO_new(BIO_s_secmem());
    if (!b)
        return -ENOMEM;
    int r = -ENOMEM;
    if (PEM_write_bio_PKCS8PrivateKey(b, k->pkey, NULL, NULL, 0, NULL, NULL) == 1) {
        char *data = NULL;
        long n = BIO_get_mem_data(b, &data);
        *ret = n > 0 ? secret_dup(data, (size_t)n) : NULL;
        r = *ret ? 0 : -ENOMEM;
    }
    BIO_free(b);
    ERR_clear_error();
    return r;
}
