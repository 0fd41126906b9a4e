/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The pure half of tpm/: TPMS_ATTEST and TPMT_SIGNATURE parsing, PCR and
 * policy digests, TPM public keys and names, offline quote and certify
 * verification. No TPM, no I/O; untrusted bytes are read through ByteReader.
 * (TPM2B_PUBLIC is unmarshalled by tss2-mu, the TSS's bounded unmarshaller.)
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <tss2/tss2_mu.h>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/log.h"
#include "tpm/tpm-internal.h"
#include "tpm/tpm.h"

static const struct {
    uint16_t id;
    const char *name;
    const char *md;
    size_t size;
} hashes[] = {
    {TPM_HASH_SHA1, "sha1", "SHA1", 20},
    {TPM_HASH_SHA256, "sha256", "SHA256", 32},
    {TPM_HASH_SHA384, "sha384", "SHA384", 48},
    {TPM_HASH_SHA512, "sha512", "SHA512", 64},
};

size_t tpm_hash_size(uint16_t hash) {
    for (size_t i = 0; i < ELEMENTSOF(hashes); i++)
        if (hashes[i].id == hash)
            return hashes[i].size;
    return 0;
}

const char *tpm_hash_name(uint16_t hash) {
    for (size_t i = 0; i < ELEMENTSOF(hashes); i++)
        if (hashes[i].id == hash)
            return hashes[i].name;
    return NULL;
}

const char *tpm_hash_md(uint16_t hash) {
    for (size_t i = 0; i < ELEMENTSOF(hashes); i++)
        if (hashes[i].id == hash)
            return hashes[i].md;
    return NULL;
}

int tpm_hash_from_name(const char *name, uint16_t *ret) {
    char buf[16];
    size_t j = 0;
    if (!name)
        return -EINVAL;
    for (const char *p = name; *p; p++) {
        if (*p == '-' || *p == '_')
            continue;
        if (j + 1 >= sizeof(buf))
            return -EINVAL;
        buf[j++] = *p;
    }
    buf[j] = 0;
    for (size_t i = 0; i < ELEMENTSOF(hashes); i++)
        if (strcasecmp(buf, hashes[i].name) == 0) {
            *ret = hashes[i].id;
            return 0;
        }
    return -EINVAL;
}

int tpm_pcr_selection_parse(const char *s, TpmPcrSelection *ret) {
    char bank[16];
    const char *colon = s ? strchr(s, ':') : NULL;
    TpmPcrSelection sel = {0};
    if (!colon || (size_t)(colon - s) >= sizeof(bank) || colon == s)
        return -EINVAL;
    memcpy(bank, s, (size_t)(colon - s));
    bank[colon - s] = 0;
    if (tpm_hash_from_name(bank, &sel.hash) < 0)
        return -EINVAL;
    const char *p = colon + 1;
    if (streq(p, "all")) {
        sel.mask = (1u << TPM_PCR_COUNT) - 1;
        *ret = sel;
        return 0;
    }
    while (*p) {
        char *end;
        errno = 0;
        unsigned long a = strtoul(p, &end, 10), b;
        if (errno || end == p || *p < '0' || *p > '9' || a >= TPM_PCR_COUNT)
            return -EINVAL;
        b = a;
        if (*end == '-') {
            p = end + 1;
            if (*p < '0' || *p > '9')
                return -EINVAL;
            b = strtoul(p, &end, 10);
            if (errno || end == p || b >= TPM_PCR_COUNT || b < a)
                return -EINVAL;
        }
        for (unsigned long i = a; i <= b; i++)
            sel.mask |= 1u << i;
        if (*end == ',')
            end++;
        else if (*end)
            return -EINVAL;
        p = end;
    }
    if (!sel.mask)
        return -EINVAL;
    *ret = sel;
    return 0;
}

void tpm_sel_to_tpml(const TpmPcrSelection *sel, size_t n_sel, TPML_PCR_SELECTION *ret) {
    memset(ret, 0, sizeof(*ret));
    for (size_t i = 0; i < n_sel && i < TPM2_NUM_PCR_BANKS; i++) {
        TPMS_PCR_SELECTION *s = &ret->pcrSelections[ret->count++];
        s->hash = sel[i].hash;
        s->sizeofSelect = TPM_PCR_SELECT_BYTES;
        for (unsigned b = 0; b < TPM_PCR_SELECT_BYTES; b++)
            s->pcrSelect[b] = (uint8_t)(sel[i].mask >> (8 * b));
    }
}

/* TPML_PCR_SELECTION (Part 2 §10.9.7), as TPMS_PCR_SELECTION bitmaps LSB-first. */
static int parse_pcr_selection(ByteReader *r, TpmPcrSelection *sel, size_t *n_sel) {
    uint32_t count = br_u32be(r);
    if (!br_ok(r))
        return -EBADMSG;
    if (count > TPM_MAX_BANKS) {
        log_debug("TPML_PCR_SELECTION at offset %zu: %u banks, at most %d supported",
                  br_offset(r) - 4, count, TPM_MAX_BANKS);
        return br_fail(r);
    }
    for (uint32_t i = 0; i < count; i++) {
        uint16_t hash = br_u16be(r);
        uint8_t size = br_u8(r);
        if (!br_ok(r))
            return -EBADMSG;
        if (size > 4) {
            log_debug("TPMS_PCR_SELECTION at offset %zu: sizeofSelect %u > 4", br_offset(r) - 1,
                      size);
            return br_fail(r);
        }
        uint32_t mask = 0;
        for (unsigned b = 0; b < size; b++) {
            uint8_t v = br_u8(r);
            if (b >= 3 && v) {
                log_debug("TPMS_PCR_SELECTION at offset %zu: PCR above 23 selected",
                          br_offset(r) - 1);
                return br_fail(r);
            }
            mask |= (uint32_t)v << (8 * b);
        }
        sel[i].hash = hash;
        sel[i].mask = mask;
    }
    *n_sel = count;
    return br_ok(r) ? 0 : -EBADMSG;
}

static int parse_tpm2b(ByteReader *r, uint8_t *out, size_t max, size_t *ret_len, const char *what) {
    uint16_t n = br_u16be(r);
    if (!br_ok(r))
        return -EBADMSG;
    if (n > max) {
        log_debug("%s at offset %zu: size %u exceeds %zu", what, br_offset(r) - 2, n, max);
        return br_fail(r);
    }
    br_copy(r, out, n);
    *ret_len = n;
    return br_ok(r) ? 0 : -EBADMSG;
}

int tpm_attest_parse(const uint8_t *data, size_t len, TpmAttest *ret) {
    ByteReader r;
    TpmAttest a = {0};
    int k;

    br_init(&r, data, len);
    uint32_t magic = br_u32be(&r);
    a.type = br_u16be(&r);
    if (!br_ok(&r)) {
        log_debug("TPMS_ATTEST truncated at offset %zu", r.err_offset);
        return -EBADMSG;
    }
    if (magic != TPM_GENERATED_MAGIC) {
        log_debug("TPMS_ATTEST magic 0x%08x, expected 0x%08x (TPM_GENERATED_VALUE)", magic,
                  TPM_GENERATED_MAGIC);
        return -EBADMSG;
    }
    if (a.type != TPM_ST_QUOTE && a.type != TPM_ST_CERTIFY) {
        log_debug("TPMS_ATTEST type 0x%04x is neither quote nor certify", a.type);
        return -EPROTONOSUPPORT;
    }
    k = parse_tpm2b(&r, a.signer_name, sizeof(a.signer_name), &a.signer_name_len,
                    "qualifiedSigner");
    if (k >= 0)
        k = parse_tpm2b(&r, a.extra_data, sizeof(a.extra_data), &a.extra_data_len, "extraData");
    if (k < 0)
        return k;
    a.clock = br_u64be(&r);
    a.reset_count = br_u32be(&r);
    a.restart_count = br_u32be(&r);
    uint8_t safe = br_u8(&r);
    a.safe = safe != 0;
    a.firmware_version = br_u64be(&r);
    if (!br_ok(&r)) {
        log_debug("TPMS_ATTEST truncated at offset %zu", r.err_offset);
        return -EBADMSG;
    }
    if (a.type == TPM_ST_QUOTE) {
        k = parse_pcr_selection(&r, a.sel, &a.n_sel);
        if (k >= 0)
            k = parse_tpm2b(&r, a.pcr_digest, sizeof(a.pcr_digest), &a.pcr_digest_len, "pcrDigest");
    } else {
        k = parse_tpm2b(&r, a.certified_name, sizeof(a.certified_name), &a.certified_name_len,
                        "certifyInfo.name");
        if (k >= 0)
            k = parse_tpm2b(&r, a.certified_qname, sizeof(a.certified_qname),
                            &a.certified_qname_len, "certifyInfo.qualifiedName");
    }
    if (k < 0 || !br_ok(&r)) {
        log_debug("TPMS_ATTEST malformed at offset %zu", r.err_offset);
        return -EBADMSG;
    }
    if (!br_at_end(&r)) {
        log_debug("TPMS_ATTEST has %zu trailing bytes at offset %zu", br_remaining(&r),
                  br_offset(&r));
        return -EBADMSG;
    }
    *ret = a;
    return 0;
}

int tpm_signature_parse(const uint8_t *data, size_t len, size_t key_bytes, TpmSignature *ret) {
    TpmSignature s = {0};
    ByteReader r;

    if (key_bytes && len == key_bytes && len <= sizeof(s.sig)) {
        /* raw RSASSA-PKCS1-v1_5 bytes (Azure PcrSignature); SHA-256 (azure-wire-formats §1.1) */
        s.scheme = TPM_SIG_RSASSA;
        s.hash = TPM_HASH_SHA256;
        memcpy(s.sig, data, len);
        s.sig_len = len;
        *ret = s;
        return 0;
    }
    /* TPMT_SIGNATURE, Part 2 §11.3.4: sigAlg, then TPMS_SIGNATURE_RSA {hash, TPM2B} */
    br_init(&r, data, len);
    s.scheme = br_u16be(&r);
    s.hash = br_u16be(&r);
    if (!br_ok(&r)) {
        log_debug("TPMT_SIGNATURE truncated at offset %zu", r.err_offset);
        return -EBADMSG;
    }
    if (s.scheme != TPM_SIG_RSASSA && s.scheme != TPM_SIG_RSAPSS) {
        log_debug("TPMT_SIGNATURE sigAlg 0x%04x is not RSASSA (0x0014) or RSAPSS (0x0016)",
                  s.scheme);
        return -EPROTONOSUPPORT;
    }
    if (!tpm_hash_md(s.hash)) {
        log_debug("TPMT_SIGNATURE hash 0x%04x unknown", s.hash);
        return -EPROTONOSUPPORT;
    }
    int k = parse_tpm2b(&r, s.sig, sizeof(s.sig), &s.sig_len, "TPMT_SIGNATURE.sig");
    if (k < 0)
        return k;
    if (!br_at_end(&r)) {
        log_debug("TPMT_SIGNATURE has trailing bytes at offset %zu", br_offset(&r));
        return -EBADMSG;
    }
    if (key_bytes && s.sig_len != key_bytes) {
        log_debug("TPMT_SIGNATURE holds %zu signature bytes, the key has %zu", s.sig_len,
                  key_bytes);
        return -EBADMSG;
    }
    *ret = s;
    return 0;
}

int tpm_pcr_digest(uint16_t hash, const TpmPcrSelection *sel, size_t n_sel, const TpmPcrBank *banks,
                   size_t n_banks, uint8_t *out, size_t *ret_len) {
    const char *md = tpm_hash_md(hash);
    if (!md)
        return -EPROTONOSUPPORT;
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return -ENOMEM;
    if (EVP_DigestInit_ex2(ctx, EVP_get_digestbyname(md), NULL) != 1)
        return -EIO;
    for (size_t i = 0; i < n_sel; i++) {
        const TpmPcrBank *b = NULL;
        size_t dlen = tpm_hash_size(sel[i].hash);
        if (!dlen)
            return -EPROTONOSUPPORT;
        for (size_t j = 0; j < n_banks; j++)
            if (banks[j].hash == sel[i].hash)
                b = &banks[j];
        for (unsigned p = 0; p < TPM_PCR_COUNT; p++) {
            if (!(sel[i].mask & (1u << p)))
                continue;
            if (!b || !(b->mask & (1u << p))) {
                log_debug("no value for PCR %s:%u", tpm_hash_name(sel[i].hash), p);
                return -ENOENT;
            }
            if (EVP_DigestUpdate(ctx, b->values[p], dlen) != 1)
                return -EIO;
        }
    }
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(ctx, out, &n) != 1)
        return -EIO;
    *ret_len = n;
    return 0;
}

_printf_(4, 5) static int reject(char *reason, size_t reason_size, int r, const char *fmt, ...) {
    if (reason && reason_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, reason_size, fmt, ap);
        va_end(ap);
    }
    return r;
}

static int verify_sig(EVP_PKEY *key, const TpmSignature *sig, const uint8_t *msg, size_t len) {
    const char *md = tpm_hash_md(sig->hash);
    if (!md)
        return -EPROTONOSUPPORT;
    if (sig->scheme == TPM_SIG_RSASSA)
        return crypto_verify(key, md, msg, len, sig->sig, sig->sig_len);
    if (sig->scheme != TPM_SIG_RSAPSS)
        return -EPROTONOSUPPORT;
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    if (!ctx)
        return -ENOMEM;
    if (EVP_DigestVerifyInit_ex(ctx, &pctx, md, NULL, NULL, key, NULL) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1) {
        ERR_clear_error();
        return -EINVAL;
    }
    int ok = EVP_DigestVerify(ctx, sig->sig, sig->sig_len, msg, len);
    ERR_clear_error();
    return ok == 1 ? 0 : -EKEYREJECTED;
}

int tpm_signature_verify(EVP_PKEY *key, const TpmSignature *sig, const uint8_t *msg, size_t len) {
    return verify_sig(key, sig, msg, len);
}

int tpm_quote_verify(EVP_PKEY *ak, const uint8_t *attest, size_t attest_len,
                     const TpmSignature *sig, const void *nonce, size_t nonce_len,
                     const TpmPcrBank *banks, size_t n_banks, TpmAttest *ret_info, char *reason,
                     size_t reason_size) {
    TpmAttest a;
    int r;

    r = tpm_attest_parse(attest, attest_len, &a);
    if (r < 0)
        return reject(reason, reason_size, r, "quote is not a well-formed TPMS_ATTEST of a quote");
    if (ret_info)
        *ret_info = a;
    if (a.type != TPM_ST_QUOTE)
        return reject(reason, reason_size, -EKEYREJECTED,
                      "attestation type 0x%04x is not a quote (0x8018)", a.type);
    r = verify_sig(ak, sig, attest, attest_len);
    if (r == -EKEYREJECTED)
        return reject(reason, reason_size, r, "quote signature does not verify with the AK key");
    if (r < 0)
        return reject(reason, reason_size, r, "cannot check the quote signature: %s", strerror(-r));
    if (nonce) {
        if (a.extra_data_len != nonce_len ||
            (nonce_len && CRYPTO_memcmp(a.extra_data, nonce, nonce_len) != 0))
            return reject(reason, reason_size, -EKEYREJECTED,
                          "nonce mismatch: quote extraData has %zu bytes and differs from the "
                          "expected %zu-byte nonce",
                          a.extra_data_len, nonce_len);
    }
    if (banks) {
        uint8_t d[EVP_MAX_MD_SIZE];
        size_t dlen = 0;
        r = tpm_pcr_digest(sig->hash, a.sel, a.n_sel, banks, n_banks, d, &dlen);
        if (r == -ENOENT)
            return reject(reason, reason_size, -EKEYREJECTED,
                          "the PCR values given do not cover every PCR the quote selects");
        if (r < 0)
            return reject(reason, reason_size, r, "cannot compute the PCR digest: %s",
                          strerror(-r));
        if (dlen != a.pcr_digest_len || CRYPTO_memcmp(d, a.pcr_digest, dlen) != 0)
            return reject(reason, reason_size, -EKEYREJECTED,
                          "PCR digest mismatch: the quoted pcrDigest differs from the digest of "
                          "the PCR values given");
    }
    return 0;
}

/* --- public keys and names --- */

static int unmarshal_public(const uint8_t *pub, size_t len, TPM2B_PUBLIC *ret) {
    size_t off = 0;
    memset(ret, 0, sizeof(*ret));
    TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub, len, &off, ret);
    if (rc != TSS2_RC_SUCCESS || off != len) {
        log_debug("TPM2B_PUBLIC malformed (rc 0x%08x, %zu of %zu bytes used)", rc, off, len);
        return -EBADMSG;
    }
    return 0;
}

int tpm_public_auth_policy(const uint8_t *pub, size_t len, uint8_t *ret, size_t *ret_len) {
    TPM2B_PUBLIC p;
    int r = unmarshal_public(pub, len, &p);
    if (r < 0)
        return r;
    if (p.publicArea.authPolicy.size > TPM_MAX_DIGEST)
        return -EBADMSG;
    memcpy(ret, p.publicArea.authPolicy.buffer, p.publicArea.authPolicy.size);
    *ret_len = p.publicArea.authPolicy.size;
    return 0;
}

int tpm_public_to_pkey(const uint8_t *pub, size_t len, EVP_PKEY **ret) {
    TPM2B_PUBLIC p;
    int r = unmarshal_public(pub, len, &p);
    if (r < 0)
        return r;
    if (p.publicArea.type != TPM2_ALG_RSA) {
        log_debug("TPM2B_PUBLIC type 0x%04x is not RSA", p.publicArea.type);
        return -EPROTONOSUPPORT;
    }
    uint32_t e = p.publicArea.parameters.rsaDetail.exponent ?: 65537;
    uint8_t ebuf[4] = {(uint8_t)(e >> 24), (uint8_t)(e >> 16), (uint8_t)(e >> 8), (uint8_t)e};
    BIGNUM *n = BN_bin2bn(p.publicArea.unique.rsa.buffer, p.publicArea.unique.rsa.size, NULL);
    BIGNUM *eb = BN_bin2bn(ebuf, 4, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    r = -ENOMEM;
    if (!n || !eb || !bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, eb) ||
        !(params = OSSL_PARAM_BLD_to_param(bld)))
        goto out;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        r = -EBADMSG;
        goto out;
    }
    *ret = key;
    r = 0;
out:
    ERR_clear_error();
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(eb);
    return r;
}

static int name_of(const TPMT_PUBLIC *pa, uint8_t *ret, size_t *ret_len) {
    uint8_t buf[sizeof(TPMT_PUBLIC)];
    size_t off = 0;
    const char *md = tpm_hash_md(pa->nameAlg);
    if (!md)
        return -EPROTONOSUPPORT;
    if (Tss2_MU_TPMT_PUBLIC_Marshal(pa, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
        return -EBADMSG;
    size_t dlen = 0;
    ret[0] = (uint8_t)(pa->nameAlg >> 8);
    ret[1] = (uint8_t)pa->nameAlg;
    int r = crypto_digest(md, buf, off, ret + 2, &dlen);
    if (r < 0)
        return r;
    *ret_len = 2 + dlen;
    return 0;
}

int tpm_public_name(const uint8_t *pub, size_t len, uint8_t *ret, size_t *ret_len) {
    TPM2B_PUBLIC p;
    int r = unmarshal_public(pub, len, &p);
    if (r < 0)
        return r;
    return name_of(&p.publicArea, ret, ret_len);
}

int tpm_public_from_pkey_raw(EVP_PKEY *key, TPM2B_PUBLIC *ret) {
    BIGNUM *n = NULL, *e = NULL;
    int r = -EINVAL;
    memset(ret, 0, sizeof(*ret));
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA ||
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
        goto out;
    int nbytes = BN_num_bytes(n);
    if (nbytes <= 0 || nbytes > TPM2_MAX_RSA_KEY_BYTES || BN_num_bits(e) > 32)
        goto out;
    TPMT_PUBLIC *pa = &ret->publicArea;
    pa->type = TPM2_ALG_RSA;
    pa->nameAlg = TPM2_ALG_SHA256;
    pa->objectAttributes = TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_USERWITHAUTH;
    pa->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    pa->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
    pa->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
    pa->parameters.rsaDetail.keyBits = (TPMI_RSA_KEY_BITS)(nbytes * 8);
    uint32_t ev = (uint32_t)BN_get_word(e);
    pa->parameters.rsaDetail.exponent = ev == 65537 ? 0 : ev;
    pa->unique.rsa.size = (UINT16)nbytes;
    BN_bn2binpad(n, pa->unique.rsa.buffer, nbytes);
    r = 0;
out:
    BN_free(n);
    BN_free(e);
    ERR_clear_error();
    return r;
}

int tpm_public_from_pkey(EVP_PKEY *key, uint8_t **ret, size_t *ret_len) {
    TPM2B_PUBLIC p;
    uint8_t buf[sizeof(TPM2B_PUBLIC)];
    size_t off = 0;
    int r = tpm_public_from_pkey_raw(key, &p);
    if (r < 0)
        return r;
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(&p, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
        return -EINVAL;
    uint8_t *d = malloc(off);
    if (!d)
        return -ENOMEM;
    memcpy(d, buf, off);
    *ret = d;
    *ret_len = off;
    return 0;
}

/* --- policies (TPM 2.0 Part 3 §23) --- */

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int tpm_policy_pcr_digest(const TpmPcrBank *bank, uint8_t ret[32]) {
    TpmPcrSelection sel = {.hash = bank->hash, .mask = bank->mask};
    TPML_PCR_SELECTION tpml;
    uint8_t msg[32 + 4 + sizeof(TPML_PCR_SELECTION) + 32];
    size_t off = 0, plen = 0, dlen = 0;
    int r;

    /* digestTPM: SHA-256 (the policy session's hash) over the selected PCR values */
    r = tpm_pcr_digest(TPM_HASH_SHA256, &sel, 1, bank, 1, msg + sizeof(msg) - 32, &dlen);
    if (r < 0)
        return r;
    memset(msg, 0, 32);
    put_be32(msg + 32, TPM_CC_POLICY_PCR);
    off = 36;
    tpm_sel_to_tpml(&sel, 1, &tpml);
    if (Tss2_MU_TPML_PCR_SELECTION_Marshal(&tpml, msg, sizeof(msg) - 32, &off) != TSS2_RC_SUCCESS)
        return -EINVAL;
    memmove(msg + off, msg + sizeof(msg) - 32, 32);
    plen = off + 32;
    return crypto_digest("SHA256", msg, plen, ret, &dlen);
}

int tpm_policy_authorize_digest(EVP_PKEY *signer, uint8_t ret[32]) {
    TPM2B_PUBLIC p;
    uint8_t msg[32 + 4 + 2 + TPM_MAX_DIGEST], name[2 + TPM_MAX_DIGEST], inner[32];
    size_t nlen = 0, dlen = 0;
    int r = tpm_public_from_pkey_raw(signer, &p);
    if (r < 0)
        return r;
    r = name_of(&p.publicArea, name, &nlen);
    if (r < 0)
        return r;
    memset(msg, 0, 32);
    put_be32(msg + 32, TPM_CC_POLICY_AUTH);
    memcpy(msg + 36, name, nlen);
    r = crypto_digest("SHA256", msg, 36 + nlen, inner, &dlen);
    if (r < 0)
        return r;
    /* PolicyUpdate's second hash over (digest || policyRef), policyRef empty */
    return crypto_digest("SHA256", inner, 32, ret, &dlen);
}

int tpm_policy_approve(EVP_PKEY *signer_priv, const uint8_t policy[32], uint8_t **ret,
                       size_t *ret_len) {
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t len = 0;
    if (!ctx)
        return -ENOMEM;
    /* aHash = SHA256(approvedPolicy || policyRef""), signed RSASSA-PKCS1-v1_5 SHA-256 */
    if (EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, signer_priv, NULL) != 1 ||
        EVP_DigestSign(ctx, NULL, &len, policy, 32) != 1) {
        ERR_clear_error();
        return -EINVAL;
    }
    _cleanup_free_ uint8_t *sig = malloc(len);
    if (!sig)
        return -ENOMEM;
    if (EVP_DigestSign(ctx, sig, &len, policy, 32) != 1) {
        ERR_clear_error();
        return -EINVAL;
    }
    *ret = TAKE_PTR(sig);
    *ret_len = len;
    return 0;
}

int tpm_certify_verify(EVP_PKEY *ak, const uint8_t *attest, size_t attest_len,
                       const TpmSignature *sig, const uint8_t *pub, size_t pub_len, char *reason,
                       size_t reason_size) {
    TpmAttest a;
    uint8_t name[2 + TPM_MAX_DIGEST];
    size_t nlen = 0;
    int r = tpm_attest_parse(attest, attest_len, &a);
    if (r < 0)
        return reject(reason, reason_size, r, "certify info is not a well-formed TPMS_ATTEST");
    if (a.type != TPM_ST_CERTIFY)
        return reject(reason, reason_size, -EKEYREJECTED,
                      "attestation type 0x%04x is not certify (0x8017)", a.type);
    r = verify_sig(ak, sig, attest, attest_len);
    if (r == -EKEYREJECTED)
        return reject(reason, reason_size, r, "certify signature does not verify with the AK");
    if (r < 0)
        return reject(reason, reason_size, r, "cannot check the certify signature");
    r = tpm_public_name(pub, pub_len, name, &nlen);
    if (r < 0)
        return reject(reason, reason_size, r, "certified public key is malformed");
    if (nlen != a.certified_name_len || CRYPTO_memcmp(name, a.certified_name, nlen) != 0)
        return reject(reason, reason_size, -EKEYREJECTED,
                      "certified name differs from the name of the public key given");
    return 0;
}

void tpm_transfer_key_template(const uint8_t policy[32], TPM2B_PUBLIC *ret) {
    memset(ret, 0, sizeof(*ret));
    TPMT_PUBLIC *pa = &ret->publicArea;
    pa->type = TPM2_ALG_RSA;
    pa->nameAlg = TPM2_ALG_SHA256;
    /* decrypt|fixedTPM|fixedParent|sensitiveDataOrigin|noDA = 0x00020432 (azure-wire-formats §4) */
    pa->objectAttributes = TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                           TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_NODA;
    pa->authPolicy.size = 32;
    memcpy(pa->authPolicy.buffer, policy, 32);
    pa->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    pa->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
    pa->parameters.rsaDetail.keyBits = 2048;
    pa->parameters.rsaDetail.exponent = 0;
    pa->unique.rsa.size = 256; /* 256 zero bytes */
}

void tpm_seal_template(const uint8_t policy[32], TPM2B_PUBLIC *ret) {
    memset(ret, 0, sizeof(*ret));
    TPMT_PUBLIC *pa = &ret->publicArea;
    pa->type = TPM2_ALG_KEYEDHASH;
    pa->nameAlg = TPM2_ALG_SHA256;
    /* policy only (no userWithAuth), bound to this TPM and parent */
    pa->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA;
    pa->authPolicy.size = 32;
    memcpy(pa->authPolicy.buffer, policy, 32);
    pa->parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
}
