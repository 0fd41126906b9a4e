/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DCAP verification of a TD quote (Intel QVL QuoteVerifier.cpp steps
 * 4.1.2.4.x; go-tdx-guest verify/verify.go; tee-formats.md §2.4):
 *   - PCK leaf -> intermediate -> Intel SGX Root CA (pinned by SHA-256
 *     fingerprint; extra anchors only when the caller passes them),
 *   - QE report signed by the PCK key,
 *   - SHA-256(attestation key || QE auth data) == QE REPORTDATA[0:32],
 *   - quote signature over header || body by the attestation key,
 *   - collateral: TCB info and QE identity (signature checked when the
 *     signing chain is given), CRLs, and the TCB status of the platform.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "common/codec.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/util.h"
#include "tdx/tdx.h"

/* SubjectPublicKeyInfo DER prefix for an uncompressed P-256 point
 * (RFC 5480: id-ecPublicKey, prime256v1, BIT STRING of 66 bytes). */
static const uint8_t p256_spki_prefix[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                           0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                           0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04};

/* Intel PCK certificate SGX extensions (Intel SGX PCK Certificate and CRL
 * Profile; go-tdx-guest pcs/pcs.go). */
#define OID_SGX_EXTENSIONS "1.2.840.113741.1.13.1"

DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OBJECT *, ASN1_OBJECT_free)

static void asn1_seq_freep(ASN1_SEQUENCE_ANY **p) {
    if (*p)
        sk_ASN1_TYPE_pop_free(*p, ASN1_TYPE_free);
}

static int res_fail(TdxVerifyResult *res, int r, const char *fmt, ...) _printf_(3, 4);
static int res_fail(TdxVerifyResult *res, int r, const char *fmt, ...) {
    if (!res->error) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&res->error, fmt, ap) < 0)
            res->error = NULL;
        va_end(ap);
    }
    return r;
}

void tdx_verify_result_done(TdxVerifyResult *r) {
    for (size_t i = 0; r->advisory_ids && r->advisory_ids[i]; i++)
        free(r->advisory_ids[i]);
    free(r->advisory_ids);
    free(r->error);
    *r = (TdxVerifyResult){0};
}

static int p256_key_from_raw(const uint8_t xy[64], EVP_PKEY **ret) {
    uint8_t der[sizeof(p256_spki_prefix) + 64];
    memcpy(der, p256_spki_prefix, sizeof(p256_spki_prefix));
    memcpy(der + sizeof(p256_spki_prefix), xy, 64);
    return crypto_load_pubkey(der, sizeof(der), ret);
}

static bool cert_cn_contains(X509 *c, const char *needle) {
    char cn[256] = "";
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, cn, sizeof(cn)) < 0)
        return false;
    return strstr(cn, needle) != NULL;
}

static bool cert_is_pinned_root(X509 *c) {
    uint8_t fp[32], pin[32];
    if (crypto_cert_fingerprint(c, fp) < 0)
        return false;
    if (hex_decode_fixed(TDX_INTEL_SGX_ROOT_CA_SHA256, pin, sizeof(pin)) < 0)
        return false;
    return memcmp(fp, pin, 32) == 0;
}

/*
 * Verifies leaf with the certificates of chain (and, for the collateral, of
 * extra_untrusted) as intermediates. Trusted: the pinned Intel SGX Root CA
 * when one of the given certificates is it, else the caller's extra anchors.
 */
static int verify_to_root(X509 *leaf, STACK_OF(X509) * chain, STACK_OF(X509) * extra_untrusted,
                          const TdxVerifyParams *p, bool *ret_pinned, char **reterr) {
    _cleanup_x509_stack_ STACK_OF(X509) *untrusted = sk_X509_new_null();
    _cleanup_x509_stack_ STACK_OF(X509) *pinned = sk_X509_new_null();
    int r;

    if (!untrusted || !pinned)
        return -ENOMEM;
    STACK_OF(X509) * sets[2] = {chain, extra_untrusted};
    for (unsigned s = 0; s < 2; s++)
        for (int i = 0; sets[s] && i < sk_X509_num(sets[s]); i++) {
            X509 *c = sk_X509_value(sets[s], i);
            if (!X509_up_ref(c))
                return -ENOMEM;
            if (!sk_X509_push(cert_is_pinned_root(c) ? pinned : untrusted, c)) {
                X509_free(c);
                return -ENOMEM;
            }
        }
    if (sk_X509_num(pinned) > 0) {
        r = crypto_verify_chain(leaf, untrusted, pinned, p->at, reterr);
        if (r == 0) {
            *ret_pinned = true;
            return 0;
        }
        if (!p->extra_anchors || sk_X509_num(p->extra_anchors) == 0)
            return r;
        free(*reterr);
        *reterr = NULL;
    }
    if (!p->extra_anchors || sk_X509_num(p->extra_anchors) == 0) {
        if (asprintf(reterr, "the chain does not end at the Intel SGX Root CA (SHA-256 %s)",
                     TDX_INTEL_SGX_ROOT_CA_SHA256) < 0)
            *reterr = NULL;
        return -EKEYREJECTED;
    }
    *ret_pinned = false;
    return crypto_verify_chain(leaf, untrusted, p->extra_anchors, p->at, reterr);
}

/* ---- PCK certificate SGX extensions ------------------------------------ */

static int asn1_obj_txt(const ASN1_TYPE *t, char *buf, size_t n) {
    if (!t || t->type != V_ASN1_OBJECT)
        return -EBADMSG;
    if (OBJ_obj2txt(buf, (int)n, t->value.object, 1) <= 0)
        return -EBADMSG;
    return 0;
}

static int asn1_int_value(const ASN1_TYPE *t, long max, long *ret) {
    if (!t || (t->type != V_ASN1_INTEGER && t->type != V_ASN1_ENUMERATED))
        return -EBADMSG;
    int64_t v;
    int ok = t->type == V_ASN1_INTEGER ? ASN1_INTEGER_get_int64(&v, t->value.integer)
                                       : ASN1_ENUMERATED_get_int64(&v, t->value.enumerated);
    if (!ok || v < 0 || v > max)
        return -EBADMSG;
    *ret = (long)v;
    return 0;
}

static int asn1_octets(const ASN1_TYPE *t, uint8_t *out, size_t n) {
    if (!t || t->type != V_ASN1_OCTET_STRING ||
        (size_t)ASN1_STRING_length(t->value.octet_string) != n)
        return -EBADMSG;
    memcpy(out, ASN1_STRING_get0_data(t->value.octet_string), n);
    return 0;
}

/* A SEQUENCE { OID, value } element of the SGX extension. */
static int asn1_pair(const ASN1_TYPE *t, ASN1_SEQUENCE_ANY **ret) {
    if (!t || t->type != V_ASN1_SEQUENCE)
        return -EBADMSG;
    const unsigned char *der = ASN1_STRING_get0_data(t->value.sequence);
    ASN1_SEQUENCE_ANY *s = d2i_ASN1_SEQUENCE_ANY(NULL, &der, ASN1_STRING_length(t->value.sequence));
    if (!s || sk_ASN1_TYPE_num(s) != 2) {
        if (s)
            sk_ASN1_TYPE_pop_free(s, ASN1_TYPE_free);
        ERR_clear_error();
        return -EBADMSG;
    }
    *ret = s;
    return 0;
}

static int parse_tcb_seq(const ASN1_TYPE *t, TdxPckInfo *info, unsigned *ret_seen) {
    if (!t || t->type != V_ASN1_SEQUENCE)
        return -EBADMSG;
    const unsigned char *der = ASN1_STRING_get0_data(t->value.sequence);
    _cleanup_(asn1_seq_freep) ASN1_SEQUENCE_ANY *seq =
        d2i_ASN1_SEQUENCE_ANY(NULL, &der, ASN1_STRING_length(t->value.sequence));
    if (!seq) {
        ERR_clear_error();
        return -EBADMSG;
    }
    unsigned seen = 0;
    for (int i = 0; i < sk_ASN1_TYPE_num(seq); i++) {
        _cleanup_(asn1_seq_freep) ASN1_SEQUENCE_ANY *pair = NULL;
        char oid[80];
        long v;
        int r = asn1_pair(sk_ASN1_TYPE_value(seq, i), &pair);
        if (r < 0)
            return r;
        r = asn1_obj_txt(sk_ASN1_TYPE_value(pair, 0), oid, sizeof(oid));
        if (r < 0)
            return r;
        const char *pfx = OID_SGX_EXTENSIONS ".2.";
        if (!startswith(oid, pfx))
            continue;
        uint32_t n;
        if (parse_u32(oid + strlen(pfx), &n) < 0)
            continue;
        if (n >= 1 && n <= 16) {
            r = asn1_int_value(sk_ASN1_TYPE_value(pair, 1), 255, &v);
            if (r < 0)
                return r;
            info->cpusvn_comp[n - 1] = (uint8_t)v;
            seen |= 1u << (n - 1);
        } else if (n == 17) {
            r = asn1_int_value(sk_ASN1_TYPE_value(pair, 1), 65535, &v);
            if (r < 0)
                return r;
            info->pcesvn = (uint16_t)v;
            seen |= 1u << 16;
        } else if (n == 18) {
            r = asn1_octets(sk_ASN1_TYPE_value(pair, 1), info->cpusvn, 16);
            if (r < 0)
                return r;
        }
    }
    *ret_seen = seen;
    return 0;
}

int tdx_pck_info_from_cert(X509 *pck, TdxPckInfo *ret) {
    TdxPckInfo info = {.sgx_type = -1};
    _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *obj = OBJ_txt2obj(OID_SGX_EXTENSIONS, 1);
    if (!obj)
        return -ENOMEM;
    int idx = X509_get_ext_by_OBJ(pck, obj, -1);
    if (idx < 0)
        return -ENOENT;
    ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(X509_get_ext(pck, idx));
    const unsigned char *der = ASN1_STRING_get0_data(val);
    _cleanup_(asn1_seq_freep) ASN1_SEQUENCE_ANY *seq =
        d2i_ASN1_SEQUENCE_ANY(NULL, &der, ASN1_STRING_length(val));
    if (!seq) {
        ERR_clear_error();
        return -EBADMSG;
    }
    unsigned have = 0, tcb_seen = 0;
    for (int i = 0; i < sk_ASN1_TYPE_num(seq); i++) {
        _cleanup_(asn1_seq_freep) ASN1_SEQUENCE_ANY *pair = NULL;
        char oid[80];
        long v;
        int r = asn1_pair(sk_ASN1_TYPE_value(seq, i), &pair);
        if (r < 0)
            return r;
        r = asn1_obj_txt(sk_ASN1_TYPE_value(pair, 0), oid, sizeof(oid));
        if (r < 0)
            return r;
        const ASN1_TYPE *value = sk_ASN1_TYPE_value(pair, 1);
        if (streq(oid, OID_SGX_EXTENSIONS ".1")) {
            r = asn1_octets(value, info.ppid, 16);
            have |= 1;
        } else if (streq(oid, OID_SGX_EXTENSIONS ".2")) {
            r = parse_tcb_seq(value, &info, &tcb_seen);
            have |= 2;
        } else if (streq(oid, OID_SGX_EXTENSIONS ".3")) {
            r = asn1_octets(value, info.pceid, 2);
            have |= 4;
        } else if (streq(oid, OID_SGX_EXTENSIONS ".4")) {
            r = asn1_octets(value, info.fmspc, 6);
            have |= 8;
        } else if (streq(oid, OID_SGX_EXTENSIONS ".5")) {
            r = asn1_int_value(value, 2, &v);
            info.sgx_type = (int)v;
        }
        if (r < 0)
            return r;
    }
    if ((have & 0xe) != 0xe || tcb_seen != 0x1ffff)
        return -EBADMSG;
    char issuer_cn[128] = "";
    X509_NAME_get_text_by_NID(X509_get_issuer_name(pck), NID_commonName, issuer_cn,
                              sizeof(issuer_cn));
    snprintf(info.ca, sizeof(info.ca), "%s",
             strstr(issuer_cn, "Platform")    ? "platform"
             : strstr(issuer_cn, "Processor") ? "processor"
                                              : "unknown");
    *ret = info;
    return 0;
}

/* ---- collateral -------------------------------------------------------- */

/*
 * The exact bytes of the value of top-level key in a JSON object text: Intel
 * signs the raw text of "tcbInfo" / "enclaveIdentity" as it was served. The
 * text was already parsed by cJSON, so it is well-formed; this only tracks
 * nesting and strings.
 */
static int json_raw_member(const char *s, size_t n, const char *key, size_t *ret_off,
                           size_t *ret_len) {
    size_t klen = strlen(key);
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            size_t start = i + 1, j = start;
            while (j < n && s[j] != '"')
                j += s[j] == '\\' ? 2 : 1;
            if (j >= n)
                return -EBADMSG;
            bool match = depth == 1 && j - start == klen && memcmp(s + start, key, klen) == 0;
            i = j;
            if (!match)
                continue;
            size_t k = j + 1;
            while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r' || s[k] == '\n'))
                k++;
            if (k >= n || s[k] != ':')
                continue;
            k++;
            while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r' || s[k] == '\n'))
                k++;
            if (k >= n || s[k] != '{')
                return -EBADMSG;
            size_t begin = k;
            int d = 0;
            for (; k < n; k++) {
                if (s[k] == '"') {
                    k++;
                    while (k < n && s[k] != '"')
                        k += s[k] == '\\' ? 2 : 1;
                    if (k >= n)
                        return -EBADMSG;
                } else if (s[k] == '{' || s[k] == '[')
                    d++;
                else if (s[k] == '}' || s[k] == ']') {
                    if (--d == 0) {
                        *ret_off = begin;
                        *ret_len = k + 1 - begin;
                        return 0;
                    }
                }
            }
            return -EBADMSG;
        } else if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
    }
    return -ENOENT;
}

typedef struct Collateral {
    cJSON *root;
    const cJSON *body; /* tcbInfo / enclaveIdentity */
    const char *raw;   /* signed bytes */
    size_t raw_len;
    uint8_t sig[64];
} Collateral;

static void collateral_done(Collateral *c) {
    cJSON_Delete(c->root);
    *c = (Collateral){0};
}

static int collateral_load(const TdxBlob *b, const char *key, Collateral *ret,
                           TdxVerifyResult *res) {
    Collateral c = {0};
    size_t off = 0, len = 0;
    int r = json_parse(b->data, b->len, &c.root);
    if (r < 0)
        return res_fail(res, -EBADMSG, "%s collateral is not JSON", key);
    c.body = json_get_object(c.root, key);
    const char *sig = json_get_string(c.root, "signature");
    if (!c.body || !sig) {
        collateral_done(&c);
        return res_fail(res, -EBADMSG, "collateral lacks '%s' or 'signature'", key);
    }
    if (hex_decode_fixed(sig, c.sig, sizeof(c.sig)) < 0) {
        collateral_done(&c);
        return res_fail(res, -EBADMSG, "%s signature is not 64 bytes of hex", key);
    }
    r = json_raw_member((const char *)b->data, b->len, key, &off, &len);
    if (r < 0) {
        collateral_done(&c);
        return res_fail(res, -EBADMSG, "cannot locate the signed '%s' text", key);
    }
    c.raw = (const char *)b->data + off;
    c.raw_len = len;
    *ret = c;
    return 0;
}

static int check_dates(const cJSON *body, const char *what, int64_t at, TdxVerifyResult *res) {
    int64_t issue = 0, next = 0;
    const char *is = json_get_string(body, "issueDate"), *ns = json_get_string(body, "nextUpdate");
    if (!is || !ns || parse_rfc3339(is, &issue) < 0 || parse_rfc3339(ns, &next) < 0)
        return res_fail(res, -EBADMSG, "%s has no valid issueDate/nextUpdate", what);
    if (at < issue)
        return res_fail(res, -EKEYREJECTED, "%s issued %s, after the verification time", what, is);
    if (at > next) {
        res->collateral_expired = true;
        return res_fail(res, -EKEYREJECTED,
                        "%s expired (nextUpdate %s); fetch current collateral or pin --at", what,
                        ns);
    }
    return 0;
}

static int hex_field(const cJSON *o, const char *key, uint8_t *out, size_t n) {
    const char *s = json_get_string(o, key);
    if (!s)
        return -EBADMSG;
    return hex_decode_fixed(s, out, n) < 0 ? -EBADMSG : 0;
}

static bool masked_equal(const uint8_t *value, const uint8_t *expect, const uint8_t *mask,
                         size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((value[i] & mask[i]) != expect[i])
            return false;
    return true;
}

static TdxTcbStatus level_status(const cJSON *level) {
    return tdx_tcb_status_from_string(json_get_string(level, "tcbStatus"));
}

/* svn array of 16 {"svn": N} objects */
static int svn_array(const cJSON *tcb, const char *key, uint8_t out[16]) {
    const cJSON *a = json_get_array(tcb, key);
    if (!a || cJSON_GetArraySize(a) != 16)
        return -EBADMSG;
    for (int i = 0; i < 16; i++) {
        int64_t v;
        if (json_get_int(cJSON_GetArrayItem(a, i), "svn", &v) < 0 || v < 0 || v > 255)
            return -EBADMSG;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int set_advisories(const cJSON *level, TdxVerifyResult *res) {
    const cJSON *ids = json_get_array(level, "advisoryIDs");
    int n = ids ? cJSON_GetArraySize(ids) : 0;
    if (n <= 0)
        return 0;
    res->advisory_ids = calloc((size_t)n + 1, sizeof(char *));
    if (!res->advisory_ids)
        return -ENOMEM;
    for (int i = 0, k = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(ids, i);
        if (cJSON_IsString(e) && !(res->advisory_ids[k++] = strdup(e->valuestring)))
            return -ENOMEM;
    }
    return 0;
}

/* Intel QVL TcbInfo-based status for TDX (QuoteVerifier.cpp getMatchingTcbLevel,
 * checkTdxModuleTcbStatus). */
static int eval_tcb_info(const Collateral *ti, const TdxQuote *q, TdxVerifyResult *res) {
    const cJSON *t = ti->body;
    int64_t version = 0;
    uint8_t fmspc[6], pceid[2], mrsigner[48], attr[8], mask[8];

    if (!streq_ptr(json_get_string(t, "id"), "TDX"))
        return res_fail(res, -EKEYREJECTED, "TCB info id is not 'TDX'");
    if (json_get_int(t, "version", &version) < 0 || version < 2)
        return res_fail(res, -EKEYREJECTED, "TCB info version %lld is not supported",
                        (long long)version);
    if (hex_field(t, "fmspc", fmspc, 6) < 0 || hex_field(t, "pceId", pceid, 2) < 0)
        return res_fail(res, -EBADMSG, "TCB info lacks fmspc/pceId");
    if (memcmp(fmspc, res->pck.fmspc, 6) != 0 || memcmp(pceid, res->pck.pceid, 2) != 0)
        return res_fail(res, -EKEYREJECTED,
                        "TCB info is for FMSPC %s, the PCK certificate says "
                        "%02x%02x%02x%02x%02x%02x",
                        json_get_string(t, "fmspc"), res->pck.fmspc[0], res->pck.fmspc[1],
                        res->pck.fmspc[2], res->pck.fmspc[3], res->pck.fmspc[4], res->pck.fmspc[5]);

    /* TDX module (4.1.2.4.11) */
    const cJSON *mod = json_get_object(t, "tdxModule");
    if (mod) {
        if (hex_field(mod, "mrsigner", mrsigner, 48) < 0 ||
            hex_field(mod, "attributes", attr, 8) < 0 ||
            hex_field(mod, "attributesMask", mask, 8) < 0)
            return res_fail(res, -EBADMSG, "TCB info tdxModule is malformed");
        if (memcmp(mrsigner, q->body.mrsignerseam, 48) != 0)
            return res_fail(res, -EKEYREJECTED, "MRSIGNERSEAM differs from the TCB info's");
        if (!masked_equal(q->body.seam_attributes, attr, mask, 8))
            return res_fail(res, -EKEYREJECTED, "SEAMATTRIBUTES do not match the TCB info");
    }

    /* TDX module identity by major version TEE_TCB_SVN[1] (tcbInfo v3) */
    uint8_t major = q->body.tee_tcb_svn[1], minor_svn = q->body.tee_tcb_svn[0];
    const cJSON *ids = json_get_array(t, "tdxModuleIdentities");
    bool use_identity = ids && major > 0;
    res->tdx_module_status = TDX_TCB_UNKNOWN;
    if (use_identity) {
        char want[16];
        snprintf(want, sizeof(want), "TDX_%02X", major);
        const cJSON *id = NULL, *e;
        cJSON_ArrayForEach(e, ids) if (streq_ptr(json_get_string(e, "id"), want)) id = e;
        if (!id)
            return res_fail(res, -EKEYREJECTED, "TCB info has no TDX module identity '%s'", want);
        if (hex_field(id, "mrsigner", mrsigner, 48) < 0 ||
            hex_field(id, "attributes", attr, 8) < 0 ||
            hex_field(id, "attributesMask", mask, 8) < 0)
            return res_fail(res, -EBADMSG, "TDX module identity '%s' is malformed", want);
        if (memcmp(mrsigner, q->body.mrsignerseam, 48) != 0 ||
            !masked_equal(q->body.seam_attributes, attr, mask, 8))
            return res_fail(res, -EKEYREJECTED, "TD module does not match identity '%s'", want);
        res->tdx_module_status = TDX_TCB_NOT_SUPPORTED;
        const cJSON *lv;
        cJSON_ArrayForEach(lv, json_get_array(id, "tcbLevels")) {
            int64_t isvsvn;
            if (json_get_int(json_get_object(lv, "tcb"), "isvsvn", &isvsvn) < 0)
                return res_fail(res, -EBADMSG, "TDX module identity level lacks isvsvn");
            if (minor_svn >= isvsvn) {
                res->tdx_module_status = level_status(lv);
                break;
            }
        }
    }

    /* platform level (4.1.2.4.17) */
    res->platform_tcb_status = TDX_TCB_NOT_SUPPORTED;
    const cJSON *lv;
    cJSON_ArrayForEach(lv, json_get_array(t, "tcbLevels")) {
        const cJSON *tcb = json_get_object(lv, "tcb");
        uint8_t sgx[16], tdx[16];
        int64_t pcesvn;
        if (!tcb || svn_array(tcb, "sgxtcbcomponents", sgx) < 0 ||
            svn_array(tcb, "tdxtcbcomponents", tdx) < 0 || json_get_int(tcb, "pcesvn", &pcesvn) < 0)
            return res_fail(res, -EBADMSG, "TCB info level is malformed");
        bool ok = res->pck.pcesvn >= pcesvn;
        for (unsigned i = 0; ok && i < 16; i++)
            ok = res->pck.cpusvn_comp[i] >= sgx[i];
        /* with a module identity, bytes 0-1 (module SVN, major) were judged above */
        for (unsigned i = use_identity ? 2 : 0; ok && i < 16; i++)
            ok = q->body.tee_tcb_svn[i] >= tdx[i];
        if (!ok)
            continue;
        res->platform_tcb_status = level_status(lv);
        const char *d = json_get_string(lv, "tcbDate");
        snprintf(res->tcb_date, sizeof(res->tcb_date), "%s", d ? d : "");
        if (set_advisories(lv, res) < 0)
            return -ENOMEM;
        break;
    }
    return 0;
}

static int eval_qe_identity(const Collateral *qi, const TdxQuote *q, TdxVerifyResult *res) {
    const cJSON *e = qi->body;
    uint8_t mrsigner[32], attr[16], amask[16], misc[4], mmask[4], qmisc[4];
    int64_t prodid;

    if (!streq_ptr(json_get_string(e, "id"), "TD_QE"))
        return res_fail(res, -EKEYREJECTED, "QE identity id is not 'TD_QE'");
    if (hex_field(e, "mrsigner", mrsigner, 32) < 0 || hex_field(e, "attributes", attr, 16) < 0 ||
        hex_field(e, "attributesMask", amask, 16) < 0 || hex_field(e, "miscselect", misc, 4) < 0 ||
        hex_field(e, "miscselectMask", mmask, 4) < 0 || json_get_int(e, "isvprodid", &prodid) < 0)
        return res_fail(res, -EBADMSG, "QE identity is malformed");
    /* miscselect is shown big-endian in the JSON (QVL reads it as a u32) */
    qmisc[0] = (uint8_t)(q->qe_report.miscselect >> 24);
    qmisc[1] = (uint8_t)(q->qe_report.miscselect >> 16);
    qmisc[2] = (uint8_t)(q->qe_report.miscselect >> 8);
    qmisc[3] = (uint8_t)q->qe_report.miscselect;
    if (memcmp(mrsigner, q->qe_report.mrsigner, 32) != 0)
        return res_fail(res, -EKEYREJECTED, "QE MRSIGNER differs from the QE identity's");
    if (prodid != q->qe_report.isvprodid)
        return res_fail(res, -EKEYREJECTED, "QE ISVPRODID %u, QE identity says %lld",
                        q->qe_report.isvprodid, (long long)prodid);
    if (!masked_equal(qmisc, misc, mmask, 4) ||
        !masked_equal(q->qe_report.attributes, attr, amask, 16))
        return res_fail(res, -EKEYREJECTED,
                        "QE MISCSELECT/ATTRIBUTES do not match the QE identity");
    /* EnclaveIdentityV2::getTcbStatus: first level at or below the QE's ISVSVN;
     * none means revoked */
    res->qe_tcb_status = TDX_TCB_REVOKED;
    const cJSON *lv;
    cJSON_ArrayForEach(lv, json_get_array(e, "tcbLevels")) {
        int64_t isvsvn;
        if (json_get_int(json_get_object(lv, "tcb"), "isvsvn", &isvsvn) < 0)
            return res_fail(res, -EBADMSG, "QE identity level lacks isvsvn");
        if (q->qe_report.isvsvn >= isvsvn) {
            res->qe_tcb_status = level_status(lv);
            break;
        }
    }
    return 0;
}

/* QVL convergeTcbStatusWithQeTcbStatus (also used for the TDX module status). */
static TdxTcbStatus converge(TdxTcbStatus platform, TdxTcbStatus other) {
    if (other == TDX_TCB_REVOKED || platform == TDX_TCB_REVOKED)
        return TDX_TCB_REVOKED;
    if (other == TDX_TCB_OUT_OF_DATE || other == TDX_TCB_NOT_SUPPORTED) {
        if (platform == TDX_TCB_UP_TO_DATE || platform == TDX_TCB_SW_HARDENING_NEEDED)
            return TDX_TCB_OUT_OF_DATE;
        if (platform == TDX_TCB_CONFIGURATION_NEEDED ||
            platform == TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED)
            return TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED;
    }
    return platform;
}

/* CRL checks (QVL 4.1.2.4.6/7): each CRL must be signed by a certificate of
 * the chain, current at the verification time, and revoke none of the chain.
 * Unreadable times fail closed. */
static int check_crls(const TdxVerifyParams *p, STACK_OF(X509) * chain, TdxVerifyResult *res) {
    int64_t max_age = p->crl_max_age_s > 0 ? p->crl_max_age_s : TDX_CRL_MAX_AGE_DEFAULT;
    for (size_t i = 0; i < p->n_crls; i++) {
        _cleanup_crl_ X509_CRL *crl = NULL;
        char issuer[256] = "?";
        const char *why = NULL;
        if (crypto_load_crl(p->crls[i].data, p->crls[i].len, &crl) < 0)
            return res_fail(res, -EBADMSG, "CRL #%zu is neither PEM nor DER", i + 1);
        X509_NAME_oneline(X509_CRL_get_issuer(crl), issuer, sizeof(issuer));
        X509 *signer = NULL;
        for (int k = 0; k < sk_X509_num(chain); k++)
            if (X509_NAME_cmp(X509_get_subject_name(sk_X509_value(chain, k)),
                              X509_CRL_get_issuer(crl)) == 0)
                signer = sk_X509_value(chain, k);
        if (!signer)
            return res_fail(res, -EKEYREJECTED, "CRL issuer '%s' is not in the PCK chain", issuer);
        int r = crypto_crl_check(crl, signer, p->at, max_age, false, &why);
        if (r == -ESTALE)
            res->crl_stale = true;
        if (r < 0)
            return res_fail(res, -EKEYREJECTED, "CRL of '%s': %s", issuer, why);
        for (int k = 0; k < sk_X509_num(chain); k++) {
            X509 *c = sk_X509_value(chain, k);
            if (X509_NAME_cmp(X509_get_issuer_name(c), X509_CRL_get_issuer(crl)) != 0)
                continue;
            if (crypto_crl_lists(crl, c)) {
                char subj[256] = "?";
                X509_NAME_oneline(X509_get_subject_name(c), subj, sizeof(subj));
                res->tcb_status = TDX_TCB_REVOKED;
                return res_fail(res, -EKEYREJECTED,
                                "certificate '%s' is revoked by the CRL of '%s'", subj, issuer);
            }
        }
    }
    res->crls_checked = p->n_crls > 0;
    return 0;
}

static int check_collateral(const TdxQuote *q, const TdxVerifyParams *p, STACK_OF(X509) * pck_chain,
                            TdxVerifyResult *res) {
    _cleanup_(collateral_done) Collateral ti = {0};
    _cleanup_(collateral_done) Collateral qi = {0};
    int r;

    res->collateral_given = true;
    if (p->tcb_info.data) {
        r = collateral_load(&p->tcb_info, "tcbInfo", &ti, res);
        if (r < 0)
            return r;
    }
    if (p->qe_identity.data) {
        r = collateral_load(&p->qe_identity, "enclaveIdentity", &qi, res);
        if (r < 0)
            return r;
    }

    /* the collateral's own signatures (Intel SGX TCB Signing certificate) */
    if (p->collateral_chain.data) {
        _cleanup_x509_stack_ STACK_OF(X509) *cc = NULL;
        _cleanup_free_ char *err = NULL;
        bool pinned = false;
        r = crypto_load_cert_chain(p->collateral_chain.data, p->collateral_chain.len, &cc);
        if (r < 0)
            return res_fail(res, -EBADMSG, "collateral chain has no PEM certificate");
        X509 *signer = sk_X509_value(cc, 0);
        if (!cert_cn_contains(signer, "TCB Signing"))
            return res_fail(res, -EKEYREJECTED,
                            "collateral signer is not an 'Intel SGX TCB Signing' certificate");
        r = verify_to_root(signer, cc, pck_chain, p, &pinned, &err);
        if (r < 0)
            return res_fail(res, r, "collateral signing chain: %s", err ? err : "rejected");
        const Collateral *set[2] = {ti.body ? &ti : NULL, qi.body ? &qi : NULL};
        const char *names[2] = {"TCB info", "QE identity"};
        for (unsigned i = 0; i < 2; i++) {
            if (!set[i])
                continue;
            r = crypto_ecdsa_verify_raw(X509_get0_pubkey(signer), "SHA256", set[i]->raw,
                                        set[i]->raw_len, set[i]->sig, set[i]->sig + 32, 32);
            if (r < 0)
                return res_fail(res, -EKEYREJECTED, "%s signature does not verify", names[i]);
        }
        res->collateral_signature_checked = true;
    }

    r = check_crls(p, pck_chain, res);
    if (r < 0)
        return r;

    if (ti.body) {
        r = check_dates(ti.body, "TCB info", p->at, res);
        if (r < 0)
            return r;
        r = eval_tcb_info(&ti, q, res);
        if (r < 0)
            return r;
    }
    if (qi.body) {
        r = check_dates(qi.body, "QE identity", p->at, res);
        if (r < 0)
            return r;
        r = eval_qe_identity(&qi, q, res);
        if (r < 0)
            return r;
    }
    if (ti.body) {
        TdxTcbStatus s = res->platform_tcb_status;
        if (res->tdx_module_status != TDX_TCB_UNKNOWN)
            s = converge(s, res->tdx_module_status);
        if (qi.body)
            s = converge(s, res->qe_tcb_status);
        res->tcb_status = s;
        if (s == TDX_TCB_REVOKED || s == TDX_TCB_NOT_SUPPORTED)
            return res_fail(res, -EKEYREJECTED, "TCB status is %s", tdx_tcb_status_to_string(s));
    } else if (qi.body && res->qe_tcb_status == TDX_TCB_REVOKED)
        return res_fail(res, -EKEYREJECTED, "QE TCB status is Revoked");
    return 0;
}

int tdx_quote_verify(const TdxQuote *q, const TdxVerifyParams *p, TdxVerifyResult *res) {
    _cleanup_x509_stack_ STACK_OF(X509) *chain = NULL;
    _cleanup_pkey_ EVP_PKEY *ak = NULL;
    _cleanup_free_ char *err = NULL;
    uint8_t h[CRYPTO_MAX_DIGEST];
    size_t hl = 0;
    int r;

    *res = (TdxVerifyResult){0};

    /* PCK chain (4.1.2.4.4) */
    r = crypto_load_cert_chain(q->pck_chain, q->pck_chain_len, &chain);
    if (r < 0 || sk_X509_num(chain) < 2)
        return res_fail(res, -EBADMSG, "the quote's PCK chain has %d PEM certificates, expected 3",
                        chain ? sk_X509_num(chain) : 0);
    X509 *pck = sk_X509_value(chain, 0);
    if (!cert_cn_contains(pck, "SGX PCK Certificate"))
        return res_fail(res, -EKEYREJECTED, "first certificate is not an SGX PCK certificate");
    r = verify_to_root(pck, chain, NULL, p, &res->root_pinned, &err);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return res_fail(res, -EKEYREJECTED, "PCK chain: %s", err ? err : "rejected");
    res->pck_chain_ok = true;
    r = tdx_pck_info_from_cert(pck, &res->pck);
    if (r < 0)
        return res_fail(res, -EKEYREJECTED, "PCK certificate has no valid SGX extensions");
    res->pck_info_ok = true;

    /* QE report signature by the PCK key (4.1.2.4.12) */
    r = crypto_ecdsa_verify_raw(X509_get0_pubkey(pck), "SHA256", q->qe_report_raw,
                                TDX_QE_REPORT_SIZE, q->qe_report_signature,
                                q->qe_report_signature + 32, 32);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return res_fail(res, -EKEYREJECTED, "QE report signature does not verify with the PCK key");
    res->qe_report_signature_ok = true;

    /* QE report data binds the attestation key (4.1.2.4.13) */
    {
        size_t n = 64 + (size_t)q->qe_auth_data_len;
        _cleanup_free_ uint8_t *buf = malloc(n);
        if (!buf)
            return -ENOMEM;
        memcpy(buf, q->attestation_key, 64);
        if (q->qe_auth_data_len)
            memcpy(buf + 64, q->qe_auth_data, q->qe_auth_data_len);
        r = crypto_digest("SHA256", buf, n, h, &hl);
        if (r < 0)
            return r;
    }
    if (hl != 32 || !crypto_memeq(h, q->qe_report.report_data, 32))
        return res_fail(res, -EKEYREJECTED,
                        "QE REPORTDATA[0:32] is not SHA-256(attestation key || QE auth data)");
    res->qe_report_data_ok = true;

    /* quote signature (4.1.2.4.16) */
    r = p256_key_from_raw(q->attestation_key, &ak);
    if (r < 0)
        return res_fail(res, -EKEYREJECTED, "attestation key is not a P-256 point");
    r = crypto_ecdsa_verify_raw(ak, "SHA256", q->signed_data, q->signed_len, q->signature,
                                q->signature + 32, 32);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return res_fail(res, -EKEYREJECTED,
                        "quote signature does not verify with the attestation key");
    res->quote_signature_ok = true;

    if (p->tcb_info.data || p->qe_identity.data || p->n_crls > 0 || p->collateral_chain.data)
        return check_collateral(q, p, chain, res);
    return 0;
}
