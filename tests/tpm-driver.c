/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpm-driver: a test-only front end over tpm/tpm.h (not installed), so the
 * integration tests can drive the TPM operations before cvm-agent has its
 * own subcommands for them.
 *
 *   tpm-driver [--tcti T] ACTION [OPTIONS]     (T defaults to $CVM_AGENT_TCTI)
 *
 *   quote --pcrs SELS [--ak H] [--nonce HEX] --msg F --sig F
 *   pcr-read --pcrs SELS --out F                  JSON {"sha256":{"0":"hex"}}
 *   (SEL is one bank, "sha256:0-7"; SELS may join banks: "sha1:0,1+sha256:0-7")
 *   pcr-extend --pcrs SEL --in F                  extends each PCR of SEL with H(F)
 *   nv-read --index I --out F | nv-write --index I --in F | nv-undefine --index I
 *   srk-name --out F                              name of the SRK used for sealing
 *   seal-pcr --pcrs SEL --in F --pub F --priv F
 *   seal-authorize --signer PEM --in F --pub F --priv F
 *   approve --signer PEM(private) --pcrs SEL --out F    approval for the current PCRs
 *   unseal --pub F --priv F --pcrs SEL [--signer PEM --approval F] --out F
 *   transfer-key-public --pcrs SEL --pub F [--pem F]
 *   certify-transfer-key --pcrs SEL [--ak H] --pub F --attest F --sig F [--pem F]
 *   verify-certify --ak-pub PEM --pub F --attest F --sig F
 *   decrypt --pcrs SEL --scheme rsaes|oaep-sha1|oaep-sha256 --in F --out F
 *
 * Exit: 0 ok, 1 rejected (policy/signature), 2 usage, 4 TPM or I/O error.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "common/codec.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/secbuf.h"
#include "tpm/tpm.h"

typedef struct Args {
    const char *tcti, *pcrs, *nonce, *msg, *sig, *in, *out, *pub, *priv, *signer, *approval, *pem,
        *attest, *scheme, *ak_pub;
    uint32_t ak, index;
} Args;

static int die(int r, const char *what, TpmContext *t) {
    fprintf(stderr, "tpm-driver: %s: %s%s%s\n", what, strerror(r < 0 ? -r : r),
            *tpm_last_error(t) ? ": " : "", tpm_last_error(t));
    return r == -EKEYREJECTED ? 1 : r == -EINVAL ? 2 : 4;
}

static int wr(const char *path, const void *d, size_t n) {
    return write_file_atomic(path, d, n, 0600);
}

static int rd(const char *path, uint8_t **d, size_t *n) {
    return read_file(path, FILE_MAX_EVIDENCE, d, n);
}

static int load_key(const char *path, bool priv, EVP_PKEY **ret) {
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    EVP_PKEY *k =
        priv ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (!k)
        return -EINVAL;
    *ret = k;
    return 0;
}

static int write_pem(const char *path, const uint8_t *pub, size_t len) {
    _cleanup_pkey_ EVP_PKEY *k = NULL;
    int r = tpm_public_to_pkey(pub, len, &k);
    if (r < 0)
        return r;
    FILE *f = fopen(path, "we");
    if (!f)
        return -errno;
    r = PEM_write_PUBKEY(f, k) == 1 ? 0 : -EIO;
    if (fclose(f) != 0)
        r = -EIO;
    return r;
}

static int need(const char *v, const char *opt) {
    if (!v) {
        fprintf(stderr, "tpm-driver: missing %s\n", opt);
        return -EINVAL;
    }
    return 0;
}

static int sel_of(const Args *a, TpmPcrSelection *sel) {
    if (need(a->pcrs, "--pcrs") < 0 || tpm_pcr_selection_parse(a->pcrs, sel) < 0) {
        fprintf(stderr, "tpm-driver: bad --pcrs '%s'\n", a->pcrs ? a->pcrs : "");
        return -EINVAL;
    }
    return 0;
}

/* "sha1:0-7+sha256:0,7" (tpm2-tools style) -> up to TPM_MAX_BANKS selections */
static int sels_of(const Args *a, TpmPcrSelection *sel, size_t *n) {
    char buf[256];
    *n = 0;
    if (need(a->pcrs, "--pcrs") < 0 || strlen(a->pcrs) >= sizeof(buf))
        return -EINVAL;
    snprintf(buf, sizeof(buf), "%s", a->pcrs);
    char *save = NULL;
    for (char *tok = strtok_r(buf, "+", &save); tok; tok = strtok_r(NULL, "+", &save)) {
        if (*n >= TPM_MAX_BANKS || tpm_pcr_selection_parse(tok, &sel[*n]) < 0) {
            fprintf(stderr, "tpm-driver: bad --pcrs '%s'\n", a->pcrs);
            return -EINVAL;
        }
        (*n)++;
    }
    return *n ? 0 : -EINVAL;
}

static int write_secret(const char *path, SecretBuf *s) {
    return wr(path, s->data, s->len);
}

static int run(TpmContext *t, const char *action, const Args *a) {
    TpmPcrSelection sel;
    int r;

    if (streq(action, "quote")) {
        _cleanup_free_ uint8_t *nonce = NULL;
        TpmPcrSelection sels[TPM_MAX_BANKS];
        size_t nlen = 0, n_sel = 0;
        TpmQuote q = {0};
        if (sels_of(a, sels, &n_sel) < 0 || need(a->msg, "--msg") < 0 || need(a->sig, "--sig") < 0)
            return -EINVAL;
        if (a->nonce && hex_decode(a->nonce, strlen(a->nonce), &nonce, &nlen) < 0)
            return -EINVAL;
        r = tpm_quote(t, a->ak, sels, n_sel, nonce, nlen, &q);
        if (r >= 0)
            r = wr(a->msg, q.attest, q.attest_len);
        if (r >= 0)
            r = wr(a->sig, q.signature, q.signature_len);
        tpm_quote_done(&q);
        return r;
    }
    if (streq(action, "pcr-read")) {
        TpmPcrSelection sels[TPM_MAX_BANKS];
        size_t n_sel = 0;
        if (sels_of(a, sels, &n_sel) < 0 || need(a->out, "--out") < 0)
            return -EINVAL;
        FILE *f = fopen(a->out, "we");
        if (!f)
            return -errno;
        fprintf(f, "{");
        for (size_t i = 0; i < n_sel; i++) {
            TpmPcrBank b;
            r = tpm_pcr_read(t, &sels[i], &b);
            if (r < 0) {
                fclose(f);
                return r;
            }
            fprintf(f, "%s\"%s\":{", i ? "," : "", tpm_hash_name(b.hash));
            bool first = true;
            for (unsigned p = 0; p < TPM_PCR_COUNT; p++) {
                if (!(b.mask & (1u << p)))
                    continue;
                _cleanup_free_ char *hex = hex_encode(b.values[p], tpm_hash_size(b.hash));
                fprintf(f, "%s\"%u\":\"%s\"", first ? "" : ",", p, hex ? hex : "");
                first = false;
            }
            fprintf(f, "}");
        }
        fprintf(f, "}\n");
        return fclose(f) == 0 ? 0 : -EIO;
    }
    if (streq(action, "pcr-extend")) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t len = 0, dlen = 0;
        uint8_t d[CRYPTO_MAX_DIGEST];
        if (sel_of(a, &sel) < 0 || need(a->in, "--in") < 0)
            return -EINVAL;
        r = rd(a->in, &data, &len);
        if (r < 0)
            return r;
        const char *md = tpm_hash_name(sel.hash);
        char up[16];
        snprintf(up, sizeof(up), "%s", md);
        for (char *c = up; *c; c++)
            *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
        r = crypto_digest(up, data, len, d, &dlen);
        for (unsigned p = 0; r >= 0 && p < TPM_PCR_COUNT; p++)
            if (sel.mask & (1u << p))
                r = tpm_pcr_extend(t, sel.hash, p, d, dlen);
        return r;
    }
    if (streq(action, "nv-read")) {
        _cleanup_free_ uint8_t *d = NULL;
        size_t n = 0;
        if (need(a->out, "--out") < 0)
            return -EINVAL;
        r = tpm_nv_read(t, a->index, &d, &n);
        return r < 0 ? r : wr(a->out, d, n);
    }
    if (streq(action, "nv-write")) {
        _cleanup_free_ uint8_t *d = NULL;
        size_t n = 0;
        if (need(a->in, "--in") < 0)
            return -EINVAL;
        r = rd(a->in, &d, &n);
        return r < 0 ? r : tpm_nv_write(t, a->index, d, n);
    }
    if (streq(action, "srk-name")) {
        uint8_t name[66];
        size_t n = 0;
        if (need(a->out, "--out") < 0)
            return -EINVAL;
        r = tpm_srk_name(t, name, &n);
        return r < 0 ? r : wr(a->out, name, n);
    }
    if (streq(action, "nv-undefine"))
        return tpm_nv_undefine(t, a->index);
    if (streq(action, "seal-pcr") || streq(action, "seal-authorize")) {
        _cleanup_secret_ SecretBuf *secret = NULL;
        _cleanup_pkey_ EVP_PKEY *signer = NULL;
        TpmSealed s = {0};
        if (need(a->in, "--in") < 0 || need(a->pub, "--pub") < 0 || need(a->priv, "--priv") < 0)
            return -EINVAL;
        r = read_file_secret(a->in, FILE_MAX_SECRET, &secret);
        if (r < 0)
            return r;
        if (streq(action, "seal-pcr")) {
            if (sel_of(a, &sel) < 0)
                return -EINVAL;
            r = tpm_seal_pcr(t, &sel, secret->data, secret->len, &s);
        } else {
            if (need(a->signer, "--signer") < 0 || load_key(a->signer, false, &signer) < 0)
                return -EINVAL;
            r = tpm_seal_authorize(t, signer, secret->data, secret->len, &s);
        }
        if (r >= 0)
            r = wr(a->pub, s.pub, s.pub_len);
        if (r >= 0)
            r = wr(a->priv, s.priv, s.priv_len);
        tpm_sealed_done(&s);
        return r;
    }
    if (streq(action, "approve")) {
        _cleanup_pkey_ EVP_PKEY *signer = NULL;
        _cleanup_free_ uint8_t *sig = NULL;
        size_t slen = 0;
        uint8_t policy[32];
        TpmPcrBank b;
        if (sel_of(a, &sel) < 0 || need(a->out, "--out") < 0 || need(a->signer, "--signer") < 0 ||
            load_key(a->signer, true, &signer) < 0)
            return -EINVAL;
        r = tpm_pcr_read(t, &sel, &b);
        if (r >= 0)
            r = tpm_policy_pcr_digest(&b, policy);
        if (r >= 0)
            r = tpm_policy_approve(signer, policy, &sig, &slen);
        return r < 0 ? r : wr(a->out, sig, slen);
    }
    if (streq(action, "unseal")) {
        _cleanup_free_ uint8_t *pub = NULL, *priv = NULL, *appr = NULL;
        _cleanup_secret_ SecretBuf *out = NULL;
        _cleanup_pkey_ EVP_PKEY *signer = NULL;
        size_t plen = 0, vlen = 0, alen = 0;
        if (sel_of(a, &sel) < 0 || need(a->pub, "--pub") < 0 || need(a->priv, "--priv") < 0 ||
            need(a->out, "--out") < 0)
            return -EINVAL;
        if ((r = rd(a->pub, &pub, &plen)) < 0 || (r = rd(a->priv, &priv, &vlen)) < 0)
            return r;
        TpmSealed s = {.pub = pub, .pub_len = plen, .priv = priv, .priv_len = vlen};
        if (a->signer) {
            if (load_key(a->signer, false, &signer) < 0 || need(a->approval, "--approval") < 0)
                return -EINVAL;
            if ((r = rd(a->approval, &appr, &alen)) < 0)
                return r;
            r = tpm_unseal_authorize(t, &s, signer, &sel, appr, alen, &out);
        } else
            r = tpm_unseal_pcr(t, &s, &sel, &out);
        return r < 0 ? r : write_secret(a->out, out);
    }
    if (streq(action, "transfer-key-public")) {
        _cleanup_free_ uint8_t *pub = NULL;
        size_t plen = 0;
        if (sel_of(a, &sel) < 0 || need(a->pub, "--pub") < 0)
            return -EINVAL;
        r = tpm_transfer_key_public(t, &sel, &pub, &plen);
        if (r >= 0)
            r = wr(a->pub, pub, plen);
        if (r >= 0 && a->pem)
            r = write_pem(a->pem, pub, plen);
        return r;
    }
    if (streq(action, "certify-transfer-key")) {
        TpmCertified c = {0};
        if (sel_of(a, &sel) < 0 || need(a->pub, "--pub") < 0 || need(a->attest, "--attest") < 0 ||
            need(a->sig, "--sig") < 0)
            return -EINVAL;
        r = tpm_transfer_key_certify(t, &sel, a->ak, &c);
        if (r >= 0)
            r = wr(a->pub, c.pub, c.pub_len);
        if (r >= 0)
            r = wr(a->attest, c.attest, c.attest_len);
        if (r >= 0)
            r = wr(a->sig, c.signature, c.signature_len);
        if (r >= 0 && a->pem)
            r = write_pem(a->pem, c.pub, c.pub_len);
        tpm_certified_done(&c);
        return r;
    }
    if (streq(action, "decrypt")) {
        _cleanup_free_ uint8_t *ct = NULL;
        _cleanup_secret_ SecretBuf *pt = NULL;
        size_t clen = 0;
        TpmRsaScheme sch;
        if (sel_of(a, &sel) < 0 || need(a->in, "--in") < 0 || need(a->out, "--out") < 0 ||
            need(a->scheme, "--scheme") < 0)
            return -EINVAL;
        if (streq(a->scheme, "rsaes"))
            sch = TPM_RSA_RSAES;
        else if (streq(a->scheme, "oaep-sha1"))
            sch = TPM_RSA_OAEP_SHA1;
        else if (streq(a->scheme, "oaep-sha256"))
            sch = TPM_RSA_OAEP_SHA256;
        else
            return -EINVAL;
        if ((r = rd(a->in, &ct, &clen)) < 0)
            return r;
        r = tpm_transfer_key_decrypt(t, &sel, sch, ct, clen, &pt);
        return r < 0 ? r : write_secret(a->out, pt);
    }
    fprintf(stderr, "tpm-driver: unknown action '%s'\n", action);
    return -EINVAL;
}

/* Offline: no TPM needed. */
static int verify_certify(const Args *a) {
    _cleanup_free_ uint8_t *pub = NULL, *att = NULL, *sig = NULL, *akd = NULL;
    _cleanup_pkey_ EVP_PKEY *ak = NULL;
    size_t plen = 0, alen = 0, slen = 0, klen = 0;
    TpmSignature s;
    char reason[256] = "";
    int r;
    if (need(a->ak_pub, "--ak-pub") < 0 || need(a->pub, "--pub") < 0 ||
        need(a->attest, "--attest") < 0 || need(a->sig, "--sig") < 0)
        return 2;
    if (rd(a->pub, &pub, &plen) < 0 || rd(a->attest, &att, &alen) < 0 ||
        rd(a->sig, &sig, &slen) < 0 || rd(a->ak_pub, &akd, &klen) < 0 ||
        crypto_load_pubkey(akd, klen, &ak) < 0)
        return 2;
    r = tpm_signature_parse(sig, slen, (size_t)EVP_PKEY_get_size(ak), &s);
    if (r >= 0)
        r = tpm_certify_verify(ak, att, alen, &s, pub, plen, reason, sizeof(reason));
    if (r < 0) {
        fprintf(stderr, "tpm-driver: certify does not verify: %s\n", reason);
        return 1;
    }
    printf("certify verified\n");
    return 0;
}

int main(int argc, char **argv) {
    static const struct option opts[] = {
        {"tcti", required_argument, NULL, 'T'},     {"pcrs", required_argument, NULL, 'p'},
        {"nonce", required_argument, NULL, 'n'},    {"msg", required_argument, NULL, 'm'},
        {"sig", required_argument, NULL, 's'},      {"in", required_argument, NULL, 'i'},
        {"out", required_argument, NULL, 'o'},      {"pub", required_argument, NULL, 'u'},
        {"priv", required_argument, NULL, 'r'},     {"signer", required_argument, NULL, 'S'},
        {"approval", required_argument, NULL, 'A'}, {"pem", required_argument, NULL, 'P'},
        {"attest", required_argument, NULL, 'a'},   {"scheme", required_argument, NULL, 'c'},
        {"ak", required_argument, NULL, 'k'},       {"ak-pub", required_argument, NULL, 'K'},
        {"index", required_argument, NULL, 'x'},    {NULL, 0, NULL, 0},
    };
    Args a = {.ak = TPM_HANDLE_AK};
    int c;
    uint64_t v;

    if (argc < 2) {
        fprintf(stderr, "usage: tpm-driver ACTION [OPTIONS] (see tests/tpm-driver.c)\n");
        return 2;
    }
    const char *action = argv[1];
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'T': a.tcti = optarg; break;
        case 'p': a.pcrs = optarg; break;
        case 'n': a.nonce = optarg; break;
        case 'm': a.msg = optarg; break;
        case 's': a.sig = optarg; break;
        case 'i': a.in = optarg; break;
        case 'o': a.out = optarg; break;
        case 'u': a.pub = optarg; break;
        case 'r': a.priv = optarg; break;
        case 'S': a.signer = optarg; break;
        case 'A': a.approval = optarg; break;
        case 'P': a.pem = optarg; break;
        case 'a': a.attest = optarg; break;
        case 'c': a.scheme = optarg; break;
        case 'K': a.ak_pub = optarg; break;
        case 'k':
        case 'x': {
            char *end;
            errno = 0;
            v = strtoull(optarg, &end, 0); /* 0x81000003 or decimal */
            if (errno || end == optarg || *end || v > UINT32_MAX)
                return 2;
            if (c == 'k')
                a.ak = (uint32_t)v;
            else
                a.index = (uint32_t)v;
            break;
        }
        default: return 2;
        }
    }
    if (streq(action, "verify-certify"))
        return verify_certify(&a);
    if (!a.tcti)
        a.tcti = getenv("CVM_AGENT_TCTI");
    _cleanup_tpm_ TpmContext *t = NULL;
    int r = tpm_open(a.tcti, &t);
    if (r < 0)
        return die(r, "cannot open the TPM", NULL);
    r = run(t, action, &a);
    if (r < 0) {
        /* keep the message of a failure inside the TPM layer */
        fprintf(stderr, "tpm-driver: %s failed: %s%s%s\n", action, strerror(-r),
                *tpm_last_error(t) ? ": " : "", tpm_last_error(t));
        return r == -EKEYREJECTED ? 1 : r == -EINVAL ? 2 : 4;
    }
    return 0;
}
