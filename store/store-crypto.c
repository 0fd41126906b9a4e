/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The crypto of the store, no TPM and no files: the XOR split of the data
 * key, AES-256-GCM for the secret and the CMK payload, and the two ways a CMK
 * version wraps the key-encryption key (RSA-OAEP-256, AES-KWP).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "common/crypto.h"
#include "common/util.h"
#include "store/store-internal.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_CIPHER_CTX *, EVP_CIPHER_CTX_free)

const char *store_wrap_alg_name(StoreWrapAlg alg) {
    switch (alg) {
    case STORE_WRAP_RSA_OAEP_256: return "RSA-OAEP-256";
    case STORE_WRAP_AES_KWP: return "A256KWP";
    }
    return "?";
}

const char *store_mode_name(StoreMode mode) {
    return mode == STORE_MODE_CMK_ONLY ? "cmk-only" : "tpm+cmk";
}

int store_mode_from_name(const char *s, StoreMode *ret) {
    if (streq(s, "tpm+cmk"))
        *ret = STORE_MODE_TPM_CMK;
    else if (streq(s, "cmk-only"))
        *ret = STORE_MODE_CMK_ONLY;
    else
        return -EINVAL;
    return 0;
}

bool store_name_is_valid(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > STORE_NAME_MAX || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

void store_wrapping_key_done(StoreWrappingKey *k) {
    EVP_PKEY_free(k->rsa_public);
    secret_free(k->oct);
    *k = (StoreWrappingKey){0};
}

int store_split(const uint8_t key[STORE_KEY_SIZE], SecretBuf **ret_a, SecretBuf **ret_b) {
    _cleanup_secret_ SecretBuf *a = secret_new(STORE_KEY_SIZE);
    _cleanup_secret_ SecretBuf *b = secret_new(STORE_KEY_SIZE);
    if (!a || !b)
        return -ENOMEM;
    if (RAND_priv_bytes(a->data, STORE_KEY_SIZE) != 1)
        return -EIO;
    for (size_t i = 0; i < STORE_KEY_SIZE; i++)
        b->data[i] = key[i] ^ a->data[i];
    *ret_a = TAKE_PTR(a);
    *ret_b = TAKE_PTR(b);
    return 0;
}

int store_combine(const SecretBuf *a, const SecretBuf *b, SecretBuf **ret) {
    if (a->len != STORE_KEY_SIZE || b->len != STORE_KEY_SIZE)
        return -EKEYREJECTED;
    SecretBuf *k = secret_new(STORE_KEY_SIZE);
    if (!k)
        return -ENOMEM;
    for (size_t i = 0; i < STORE_KEY_SIZE; i++)
        k->data[i] = a->data[i] ^ b->data[i];
    *ret = k;
    return 0;
}

int store_aead_seal(const SecretBuf *key, const char *aad, const void *data, size_t len,
                    uint8_t **ret, size_t *ret_len) {
    _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    _cleanup_free_ uint8_t *out = NULL;
    size_t total;
    int n = 0, fin = 0;
    if (key->len != STORE_KEY_SIZE || len > INT32_MAX ||
        !size_add(len, STORE_GCM_NONCE + STORE_GCM_TAG, &total))
        return -EINVAL;
    if (!c || !(out = malloc(total)))
        return -ENOMEM;
    if (RAND_bytes(out, STORE_GCM_NONCE) != 1 ||
        EVP_EncryptInit_ex2(c, EVP_aes_256_gcm(), key->data, out, NULL) != 1 ||
        EVP_EncryptUpdate(c, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) != 1 ||
        EVP_EncryptUpdate(c, out + STORE_GCM_NONCE, &n, data, (int)len) != 1 ||
        EVP_EncryptFinal_ex(c, out + STORE_GCM_NONCE + n, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, STORE_GCM_TAG, out + STORE_GCM_NONCE + len) !=
            1)
        return -EIO;
    *ret = TAKE_PTR(out);
    *ret_len = total;
    return 0;
}

int store_aead_open(const SecretBuf *key, const char *aad, const uint8_t *in, size_t len,
                    SecretBuf **ret) {
    _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    _cleanup_secret_ SecretBuf *out = NULL;
    uint8_t tag[STORE_GCM_TAG];
    int n = 0, fin = 0;
    if (key->len != STORE_KEY_SIZE)
        return -EINVAL;
    if (len <= STORE_GCM_NONCE + STORE_GCM_TAG || len > INT32_MAX)
        return -EBADMSG;
    size_t ct_len = len - STORE_GCM_NONCE - STORE_GCM_TAG;
    if (!c || !(out = secret_new(ct_len)))
        return -ENOMEM;
    memcpy(tag, in + STORE_GCM_NONCE + ct_len, STORE_GCM_TAG);
    if (EVP_DecryptInit_ex2(c, EVP_aes_256_gcm(), key->data, in, NULL) != 1 ||
        EVP_DecryptUpdate(c, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) != 1 ||
        EVP_DecryptUpdate(c, out->data, &n, in + STORE_GCM_NONCE, (int)ct_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, STORE_GCM_TAG, tag) != 1)
        return -EIO;
    if (EVP_DecryptFinal_ex(c, out->data + n, &fin) != 1)
        return -EKEYREJECTED;
    *ret = TAKE_PTR(out);
    return 0;
}

static int rsa_oaep_ctx(EVP_PKEY_CTX *c) {
    if (EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) != 1)
        return -EIO;
    return 0;
}

static int aes_kwp(const SecretBuf *oct, bool enc, const uint8_t *in, size_t len, uint8_t *out,
                   size_t *ret_len) {
    _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    const EVP_CIPHER *cipher = oct->len == 16   ? EVP_aes_128_wrap_pad()
                               : oct->len == 24 ? EVP_aes_192_wrap_pad()
                               : oct->len == 32 ? EVP_aes_256_wrap_pad()
                                                : NULL;
    int n = 0, fin = 0;
    if (!cipher)
        return -EINVAL;
    if (!c || len > 4096)
        return -ENOMEM;
    /* OpenSSL refuses wrap modes through EVP unless told the caller knows */
    EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (EVP_CipherInit_ex2(c, cipher, oct->data, NULL, enc ? 1 : 0, NULL) != 1 ||
        EVP_CipherUpdate(c, out, &n, in, (int)len) != 1)
        return enc ? -EIO : -EKEYREJECTED;
    if (EVP_CipherFinal_ex(c, out + n, &fin) != 1)
        return enc ? -EIO : -EKEYREJECTED;
    *ret_len = (size_t)n + (size_t)fin;
    return 0;
}

int store_wrap(const StoreWrappingKey *k, const void *data, size_t len, uint8_t **ret,
               size_t *ret_len) {
    _cleanup_free_ uint8_t *out = NULL;
    size_t n = 0;
    int r;
    if (k->alg == STORE_WRAP_RSA_OAEP_256) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *c = NULL;
        if (!k->rsa_public || !EVP_PKEY_is_a(k->rsa_public, "RSA"))
            return -EINVAL;
        if (!(c = EVP_PKEY_CTX_new_from_pkey(NULL, k->rsa_public, NULL)))
            return -ENOMEM;
        if (EVP_PKEY_encrypt_init(c) != 1 || (r = rsa_oaep_ctx(c)) < 0 ||
            EVP_PKEY_encrypt(c, NULL, &n, data, len) != 1)
            return -EINVAL;
        if (!(out = malloc(n)))
            return -ENOMEM;
        if (EVP_PKEY_encrypt(c, out, &n, data, len) != 1)
            return -EINVAL;
    } else if (k->alg == STORE_WRAP_AES_KWP) {
        if (!k->oct || len == 0 || len > 4096)
            return -EINVAL;
        if (!(out = malloc(len + 16)))
            return -ENOMEM;
        if ((r = aes_kwp(k->oct, true, data, len, out, &n)) < 0)
            return r;
    } else
        return -EINVAL;
    *ret = TAKE_PTR(out);
    *ret_len = n;
    return 0;
}

int store_unwrap_rsa(EVP_PKEY *priv, const uint8_t *wrapped, size_t len, SecretBuf **ret) {
    _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    _cleanup_secret_ SecretBuf *out = NULL;
    size_t n = 0;
    if (!c)
        return -ENOMEM;
    if (EVP_PKEY_decrypt_init(c) != 1 || rsa_oaep_ctx(c) < 0 ||
        EVP_PKEY_decrypt(c, NULL, &n, wrapped, len) != 1)
        return -EKEYREJECTED;
    if (!(out = secret_new(n)))
        return -ENOMEM;
    if (EVP_PKEY_decrypt(c, out->data, &n, wrapped, len) != 1)
        return -EKEYREJECTED;
    secret_truncate(out, n);
    *ret = TAKE_PTR(out);
    return 0;
}

int store_unwrap_oct(const SecretBuf *oct, const uint8_t *wrapped, size_t len, SecretBuf **ret) {
    _cleanup_secret_ SecretBuf *out = NULL;
    size_t n = 0;
    int r;
    if (len < 16 || len > 4096 + 16)
        return -EKEYREJECTED;
    if (!(out = secret_new(len)))
        return -ENOMEM;
    if ((r = aes_kwp(oct, false, wrapped, len, out->data, &n)) < 0)
        return r;
    secret_truncate(out, n);
    *ret = TAKE_PTR(out);
    return 0;
}
