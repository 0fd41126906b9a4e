/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * verify --evidence-dir DIR: the files of `cvm-agent evidence --out-dir`
 * (attest/evidence.c, cvm-agent(8)) verified together, by the handlers of
 * the separate options: the HCL report with its signer (vcek-chain.pem, or
 * td-quote.bin for TDX), the TPM quote with the AK taken from the HCL
 * report's HCLAkPub (ak.pub.pem must be that key) over pcrs.json, the event
 * log's replay against pcrs.json, the transfer key's TPM2_Certify by that AK,
 * and evidence.json against the files. The AK certificate is decoded only:
 * its chain ends at a Microsoft CA that is not available offline. Every
 * check runs; the answer is yes only when each said yes, and the first "no"
 * names the piece (failed_check = its file name).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent/args.h"
#include "agent/verify-snp.h"
#include "agent/verify.h"
#include "attest/attest.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "tpm/tpm.h"

typedef enum EvidenceFile {
    EF_HCL,
    EF_HW,
    EF_QUOTE_MSG,
    EF_QUOTE_SIG,
    EF_PCRS,
    EF_AK_PUB,
    EF_AK_CERT,
    EF_TRANSFER_PUB,
    EF_CERTIFY_MSG,
    EF_CERTIFY_SIG,
    EF_EVIDENCE,
    EF_EVENT_LOG,  /* absent when evidence.json says none was collected */
    EF_VCEK_CHAIN, /* SNP */
    EF_TD_QUOTE,   /* TDX */
    EF_COUNT_,
} EvidenceFile;

static const char *const file_names[EF_COUNT_] = {
    "hcl-report.bin", "hw-report.bin", "quote.msg",        "quote.sig",    "pcrs.json",
    "ak.pub.pem",     "ak-cert.der",   "transfer-key.pub", "certify.msg",  "certify.sig",
    "evidence.json",  "event-log.bin", "vcek-chain.pem",   "td-quote.bin",
};

typedef struct EvidenceDir {
    char *path[EF_COUNT_];
    bool present[EF_COUNT_];
    uint8_t *hcl_data; /* hcl-report.bin; hcl points into it */
    size_t hcl_len;
    HclReport hcl;
    uint8_t digest[EF_COUNT_][32]; /* SHA-256 of each file as first seen */
    VerifyOptions sub;             /* opts with the files as the options of the separate checks */
    int result;                    /* the first "no" */
} EvidenceDir;

static void evidence_dir_done(EvidenceDir *e) {
    for (size_t i = 0; i < EF_COUNT_; i++)
        free(e->path[i]);
    free(e->hcl_data);
}

/* The first "no" of a check (sub) becomes the answer, naming piece. -EINVAL
 * from a check is a file of the directory it could not use (the options were
 * checked before): a "no" as well. Other errors without an answer are local
 * failures and returned. */
static int record(EvidenceDir *e, cJSON *out, cJSON *sub, int r, const char *piece) {
    if (r == -ENOMEM || r >= 0)
        return r;
    if (r != -EINVAL && !cJSON_GetObjectItem(sub, "verified"))
        return r;
    if (r == -EINVAL || cvm_exit_from_errno(r) == CVM_EXIT_USAGE) {
        r = -EKEYREJECTED;
        if (!json_get_string(sub, "reason"))
            verify_fail(sub, r, "unusable (see the error above)");
    }
    if (e->result < 0)
        return 0;
    e->result = r;
    const char *why = json_get_string(sub, "reason");
    cJSON_DeleteItemFromObjectCaseSensitive(out, "failed_check");
    if (json_add_string(out, "failed_check", piece) < 0)
        return -ENOMEM;
    verify_fail(out, r, "%s: %s", piece, why ? why : "not verified");
    return 0;
}

static int fail_piece(EvidenceDir *e, cJSON *out, cJSON *sub, const char *piece, const char *fmt,
                      ...) _printf_(5, 6);
static int fail_piece(EvidenceDir *e, cJSON *out, cJSON *sub, const char *piece, const char *fmt,
                      ...) {
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    verify_fail(sub, -EKEYREJECTED, "%s", why);
    return record(e, out, sub, -EKEYREJECTED, piece);
}

static cJSON *section(cJSON *out, const char *key) {
    return cJSON_AddObjectToObject(out, key);
}

/* The checks read the files one by one, some twice (the HCL report for
 * itself and for HCLAkPub): a file replaced meanwhile would make each check
 * pass on different evidence. So each file's hash is taken first and must
 * be the same at the end. */
static int file_digest(const char *path, uint8_t ret[32]) {
    _cleanup_free_ uint8_t *d = NULL;
    size_t n = 0, dn = 0;
    int r = read_file(path, FILE_MAX_EVIDENCE, &d, &n);
    if (r == -ENOENT) {
        memset(ret, 0, 32);
        return 0;
    }
    return r < 0 ? r : crypto_digest("SHA256", d, n, ret, &dn);
}

static int snapshot(EvidenceDir *e, bool compare, cJSON *out) {
    for (size_t i = 0; i < EF_COUNT_; i++) {
        uint8_t d[32];
        int r = file_digest(e->path[i], d);
        if (r == -ENOMEM)
            return r;
        if (r < 0)
            memset(d, 0xff, sizeof(d)); /* unreadable: the check that reads it says so */
        if (!compare)
            memcpy(e->digest[i], d, sizeof(d));
        else if (memcmp(e->digest[i], d, sizeof(d)) != 0) {
            cJSON *sub = section(out, "unchanged");
            return sub ? fail_piece(e, out, sub, file_names[i], "%s changed during verification",
                                    e->path[i])
                       : -ENOMEM;
        }
    }
    return 0;
}

/* Paths, which files exist, the HCL report read and parsed. A missing or
 * unparsable HCL report leaves the platform unknown: nothing else runs. */
static int open_dir(const VerifyOptions *opts, EvidenceDir *e, cJSON *out) {
    const char *err = NULL;
    for (size_t i = 0; i < EF_COUNT_; i++) {
        if (asprintf(&e->path[i], "%s/%s", opts->evidence_dir, file_names[i]) < 0)
            return e->path[i] = NULL, -ENOMEM;
        e->present[i] = access(e->path[i], F_OK) == 0;
    }
    if (access(opts->evidence_dir, R_OK | X_OK) < 0)
        return log_error_errno(-EINVAL, "--evidence-dir '%s': %m", opts->evidence_dir);
    int r = snapshot(e, false, out);
    if (r < 0)
        return r;
    cJSON *sub = section(out, "hcl_report");
    if (!sub)
        return -ENOMEM;
    if (!e->present[EF_HCL])
        return fail_piece(e, out, sub, file_names[EF_HCL], "%s is missing", e->path[EF_HCL]);
    uint8_t digest[32];
    size_t dn = 0;
    r = agent_read_file("HCL report", e->path[EF_HCL], &e->hcl_data, &e->hcl_len);
    if (r < 0)
        return record(e, out, sub, r, file_names[EF_HCL]);
    if (crypto_digest("SHA256", e->hcl_data, e->hcl_len, digest, &dn) < 0)
        return -ENOMEM;
    if (memcmp(digest, e->digest[EF_HCL], sizeof(digest)) != 0)
        return fail_piece(e, out, sub, file_names[EF_HCL], "%s changed during verification",
                          e->path[EF_HCL]);
    if (hcl_report_parse(e->hcl_data, e->hcl_len, &e->hcl, &err) < 0)
        return fail_piece(e, out, sub, file_names[EF_HCL], "does not parse: %s", err);
    if (e->hcl.report_type != HCL_REPORT_SNP && e->hcl.report_type != HCL_REPORT_TDX)
        return fail_piece(e, out, sub, file_names[EF_HCL], "holds a '%s' report, not SNP or TDX",
                          hcl_report_type_name(e->hcl.report_type));
    return 0;
}

/* Options that do not apply to this platform are exit 2, as with
 * --hcl-report; values are checked here so that a later -EINVAL can only
 * be a file of the directory. */
static int check_options(const VerifyOptions *opts, const EvidenceDir *e) {
    bool snp = e->hcl.report_type == HCL_REPORT_SNP;
    uint8_t nonce[64];
    SnpPolicy policy;
    int r = verify_refuse(opts, snp ? VOPTS_HCL_TDX_ONLY : VOPTS_HCL_SNP_ONLY,
                          snp ? "the evidence of an SNP VM" : "the evidence of a TDX VM");
    if (r < 0)
        return r;
    if (opts->nonce &&
        agent_parse_hex("--nonce", opts->nonce, nonce, sizeof(nonce), false, NULL) < 0)
        return -EINVAL;
    return agent_snp_build_policy(opts, &policy);
}

/* Every file this platform's evidence has; the first missing one is the answer. */
static int check_present(EvidenceDir *e, cJSON *out) {
    bool snp = e->hcl.report_type == HCL_REPORT_SNP;
    for (size_t i = 0; i < EF_COUNT_; i++) {
        if (i == EF_EVENT_LOG || i == (snp ? EF_TD_QUOTE : EF_VCEK_CHAIN) || e->present[i])
            continue;
        cJSON *sub = section(out, "missing");
        if (!sub)
            return -ENOMEM;
        return fail_piece(e, out, sub, file_names[i], "%s is missing", e->path[i]);
    }
    return 0;
}

/* The files the checks would take for a usage error when they do not
 * parse (they are options there): here they are a "no" naming the file. */
static int check_parsable(EvidenceDir *e, cJSON *out) {
    _cleanup_free_ uint8_t *pcrs = NULL, *ak = NULL;
    _cleanup_pkey_ EVP_PKEY *key = NULL;
    TpmPcrBank banks[TPM_MAX_BANKS];
    size_t n = 0, ak_len = 0, n_banks = 0;
    cJSON *sub = NULL;
    if (read_file(e->path[EF_PCRS], FILE_MAX_EVIDENCE, &pcrs, &n) < 0 ||
        tpm_pcrs_parse((const char *)pcrs, n, banks, &n_banks) < 0)
        return (sub = section(out, "pcrs"))
                   ? fail_piece(e, out, sub, file_names[EF_PCRS], "%s", "is not PCR values as JSON")
                   : -ENOMEM;
    if (read_file(e->path[EF_AK_PUB], FILE_MAX_EVIDENCE, &ak, &ak_len) < 0 ||
        crypto_load_pubkey(ak, ak_len, &key) < 0)
        return (sub = section(out, "ak_pub"))
                   ? fail_piece(e, out, sub, file_names[EF_AK_PUB], "%s", "is not a PEM public key")
                   : -ENOMEM;
    return 0;
}

static const char *hcl_piece(const cJSON *sub) {
    const char *fc = json_get_string(sub, "failed_check");
    const cJSON *tq = json_get_object(sub, "td_quote");
    if (fc && streq(fc, "td_quote_binding"))
        return "td-quote.bin+hcl-report.bin";
    if (tq && cJSON_IsFalse(cJSON_GetObjectItem(tq, "verified")))
        return file_names[EF_TD_QUOTE];
    if (fc && (streq(fc, "certificate") || streq(fc, "certificates") || streq(fc, "chain") ||
               streq(fc, "revoked")))
        return file_names[EF_VCEK_CHAIN];
    return file_names[EF_HCL];
}

/* What the AK checks (verify_tpm_ak) name: the HCL report or ak.pub.pem. */
static const char *ak_piece(const char *fc) {
    if (fc && streq(fc, "ak"))
        return file_names[EF_HCL];
    if (fc && streq(fc, "ak_pub"))
        return file_names[EF_AK_PUB];
    return NULL;
}

static const char *quote_piece(const cJSON *sub) {
    const char *fc = json_get_string(sub, "failed_check");
    if (ak_piece(fc))
        return ak_piece(fc);
    if (fc && streq(fc, "signature"))
        return file_names[EF_QUOTE_SIG];
    if (fc && streq(fc, "nonce"))
        return "nonce";
    if (fc && streq(fc, "pcr_digest"))
        return file_names[EF_PCRS];
    return "quote.msg+quote.sig";
}

static int run_hcl_and_quote(AgentContext *ctx, EvidenceDir *e, cJSON *out) {
    cJSON *hcl = cJSON_GetObjectItem(out, "hcl_report"), *quote = section(out, "tpm_quote");
    if (!hcl || !quote)
        return -ENOMEM;
    int r = verify_hcl(ctx, &e->sub, hcl);
    if ((r = record(e, out, hcl, r, hcl_piece(hcl))) < 0)
        return r;
    r = verify_tpm_quote(ctx, &e->sub, quote);
    return record(e, out, quote, r, quote_piece(quote));
}

static int run_event_log(EvidenceDir *e, const cJSON *evidence, cJSON *out) {
    cJSON *sub = section(out, "event_log");
    if (!sub)
        return -ENOMEM;
    if (!e->present[EF_EVENT_LOG]) {
        /* evidence writes no log when the platform has none, and says so */
        if (evidence && cJSON_IsNull(cJSON_GetObjectItem(evidence, "event_log")))
            return json_add_string(sub, "event_log", "none collected (evidence.json)") < 0 ? -ENOMEM
                                                                                           : 0;
        return fail_piece(e, out, sub, file_names[EF_EVENT_LOG],
                          "%s is missing, and evidence.json does not say none was collected",
                          e->path[EF_EVENT_LOG]);
    }
    VerifyOptions lo = e->sub;
    lo.event_log = e->path[EF_EVENT_LOG];
    int r = verify_event_log_covered(&lo, sub);
    return record(e, out, sub, r, file_names[EF_EVENT_LOG]);
}

/* ak-cert.der: decoded and compared with the AK, its chain not verified. */
static int check_ak_cert(EvidenceDir *e, EVP_PKEY *ak, cJSON *out) {
    _cleanup_free_ uint8_t *d = NULL;
    _cleanup_x509_ X509 *cert = NULL;
    char name[256];
    size_t n = 0;
    cJSON *sub = section(out, "ak_cert");
    if (!sub)
        return -ENOMEM;
    int r = agent_read_file("AK certificate", e->path[EF_AK_CERT], &d, &n);
    if (r < 0)
        return record(e, out, sub, r, file_names[EF_AK_CERT]);
    if (crypto_load_cert(d, n, &cert) < 0)
        return fail_piece(e, out, sub, file_names[EF_AK_CERT], "%s is not a certificate",
                          e->path[EF_AK_CERT]);
    X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof(name));
    if (json_add_string(sub, "subject", name) < 0)
        return -ENOMEM;
    X509_NAME_oneline(X509_get_issuer_name(cert), name, sizeof(name));
    if (json_add_string(sub, "issuer", name) < 0 ||
        json_add_bool(sub, "chain_verified", false) < 0 ||
        json_add_string(sub, "chain_note",
                        "not verified: its chain ends at Microsoft's vTPM CA, which is not "
                        "available offline; the AK is authenticated by the HCL report") < 0)
        return -ENOMEM;
    bool holds_ak = ak && EVP_PKEY_eq(X509_get0_pubkey(cert), ak) == 1;
    if (json_add_bool(sub, "holds_ak", holds_ak) < 0)
        return -ENOMEM;
    if (ak && !holds_ak)
        return fail_piece(e, out, sub, file_names[EF_AK_CERT],
                          "%s certifies another key than the HCL report's HCLAkPub",
                          e->path[EF_AK_CERT]);
    return 0;
}

/* The transfer key opens only under PolicyPCR over the quoted PCR values
 * (pcrs.json), as MAA requires of it: its authPolicy says so. */
static int check_transfer_policy(EvidenceDir *e, cJSON *sub, cJSON *out) {
    _cleanup_free_ uint8_t *pub = NULL, *text = NULL;
    TpmPcrBank banks[TPM_MAX_BANKS];
    uint8_t have[TPM_MAX_DIGEST], want[32];
    size_t pub_len = 0, text_len = 0, have_len = 0, n_banks = 0;
    bool match = false;
    if (read_file(e->path[EF_TRANSFER_PUB], FILE_MAX_EVIDENCE, &pub, &pub_len) < 0 ||
        tpm_public_auth_policy(pub, pub_len, have, &have_len) < 0)
        return fail_piece(e, out, sub, file_names[EF_TRANSFER_PUB], "%s", "is not a TPM2B_PUBLIC");
    if (read_file(e->path[EF_PCRS], FILE_MAX_EVIDENCE, &text, &text_len) == 0 &&
        tpm_pcrs_parse((const char *)text, text_len, banks, &n_banks) == 0)
        for (size_t i = 0; i < n_banks; i++)
            match |= banks[i].hash == TPM_HASH_SHA256 &&
                     tpm_policy_pcr_digest(&banks[i], want) == 0 && have_len == sizeof(want) &&
                     crypto_memeq(have, want, sizeof(want));
    if (json_add_bool(sub, "policy_pcr_matches_pcrs", match) < 0)
        return -ENOMEM;
    if (!match)
        return fail_piece(e, out, sub, file_names[EF_TRANSFER_PUB], "%s",
                          "its authPolicy is not PolicyPCR over the SHA-256 values of pcrs.json");
    return 0;
}

/* The transfer key's TPM2_Certify by the AK, then the AK certificate. */
static int run_transfer_key(EvidenceDir *e, cJSON *out) {
    _cleanup_pkey_ EVP_PKEY *ak = NULL;
    cJSON *sub = section(out, "transfer_key");
    if (!sub)
        return -ENOMEM;
    int r = verify_tpm_ak(&e->sub, sub, &ak);
    if (r < 0) {
        const char *piece = ak_piece(json_get_string(sub, "failed_check"));
        if ((r = record(e, out, sub, r, piece ? piece : file_names[EF_HCL])) < 0)
            return r;
    } else {
        r = verify_tpm_certify(ak, e->path[EF_CERTIFY_MSG], e->path[EF_CERTIFY_SIG],
                               e->path[EF_TRANSFER_PUB], sub);
        const char *fc = json_get_string(sub, "failed_check");
        r = record(e, out, sub, r,
                   fc && streq(fc, "certified_key") ? file_names[EF_TRANSFER_PUB]
                                                    : "certify.msg+certify.sig");
        if (r < 0 || (r = check_transfer_policy(e, sub, out)) < 0)
            return r;
    }
    return check_ak_cert(e, ak, out);
}

/* The member key of evidence.json (base64 of file i, or null when the file
 * is absent) against the file; NULL when they agree, else what differs. */
static const char *member_differs(const EvidenceDir *e, const cJSON *ev, const char *path,
                                  EvidenceFile i) {
    const cJSON *obj = ev;
    char key[32];
    const char *dot = strchr(path, '.');
    snprintf(key, sizeof(key), "%s", dot ? dot + 1 : path);
    if (dot) {
        char parent[32];
        snprintf(parent, sizeof(parent), "%.*s", (int)(dot - path), path);
        obj = json_get_object(ev, parent);
    }
    const cJSON *m = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (!e->present[i])
        return cJSON_IsNull(m) ? NULL : path;
    _cleanup_free_ uint8_t *file = NULL, *dec = NULL;
    size_t n = 0, dn = 0;
    if (!cJSON_IsString(m) || read_file(e->path[i], FILE_MAX_EVIDENCE, &file, &n) < 0)
        return path;
    if (i == EF_VCEK_CHAIN) /* PEM text, as is */
        return strlen(m->valuestring) == n && memcmp(m->valuestring, file, n) == 0 ? NULL : path;
    if (base64_decode(m->valuestring, strlen(m->valuestring), &dec, &dn) < 0 || dn != n ||
        (n && memcmp(dec, file, n) != 0))
        return path;
    return NULL;
}

/* The members of evidence.json that repeat a file. */
static const struct {
    const char *member;
    EvidenceFile file;
} repeated[] = {
    {"hcl_report", EF_HCL},
    {"hw_report", EF_HW},
    {"ak_cert", EF_AK_CERT},
    {"quote.msg", EF_QUOTE_MSG},
    {"quote.sig", EF_QUOTE_SIG},
    {"transfer_key.pub", EF_TRANSFER_PUB},
    {"transfer_key.certify_msg", EF_CERTIFY_MSG},
    {"transfer_key.certify_sig", EF_CERTIFY_SIG},
    {"event_log", EF_EVENT_LOG},
    {"vcek_chain", EF_VCEK_CHAIN},
    {"td_quote", EF_TD_QUOTE},
};

/* ak_pub (a TPM2B_PUBLIC) is the key of ak.pub.pem. */
static bool same_ak(const EvidenceDir *e, const cJSON *ev) {
    _cleanup_free_ uint8_t *pub = NULL, *pem = NULL;
    _cleanup_pkey_ EVP_PKEY *a = NULL, *b = NULL;
    size_t n = 0, pn = 0;
    const char *s = json_get_string(ev, "ak_pub");
    return s && base64_decode(s, strlen(s), &pub, &n) == 0 && tpm_public_to_pkey(pub, n, &a) == 0 &&
           read_file(e->path[EF_AK_PUB], FILE_MAX_EVIDENCE, &pem, &pn) == 0 &&
           crypto_load_pubkey(pem, pn, &b) == 0 && EVP_PKEY_eq(a, b) == 1;
}

/* The first member of evidence.json that does not agree with the files, or NULL. */
static const char *evidence_json_differs(const EvidenceDir *e, const cJSON *ev, const char *nonce) {
    bool snp = e->hcl.report_type == HCL_REPORT_SNP;
    _cleanup_free_ uint8_t *rt = NULL, *pcrs_text = NULL;
    _cleanup_json_ cJSON *pcrs = NULL;
    size_t n = 0;
    int64_t version = 0;
    const char *s;
    if (json_get_int(ev, "version", &version) < 0 || version != 1)
        return "version";
    if (!(s = json_get_string(ev, "tee")) || !streq(s, snp ? "sevsnpvm" : "tdxvm"))
        return "tee";
    if (!(s = json_get_string(ev, "nonce")) || !nonce || strcasecmp(s, nonce) != 0)
        return "nonce";
    for (size_t i = 0; i < ELEMENTSOF(repeated); i++) {
        if (repeated[i].file == (snp ? EF_TD_QUOTE : EF_VCEK_CHAIN))
            continue;
        const char *d = member_differs(e, ev, repeated[i].member, repeated[i].file);
        if (d)
            return d;
    }
    if (!(s = json_get_string(ev, "runtime_data")) || base64_decode(s, strlen(s), &rt, &n) < 0 ||
        n != e->hcl.var_data_len || memcmp(rt, e->hcl.var_data, n) != 0)
        return "runtime_data";
    if (read_file(e->path[EF_PCRS], FILE_MAX_EVIDENCE, &pcrs_text, &n) < 0 ||
        json_parse(pcrs_text, n, &pcrs) < 0 ||
        !cJSON_Compare(json_get_object(ev, "pcrs"), pcrs, true))
        return "pcrs";
    return same_ak(e, ev) ? NULL : "ak_pub";
}

/* hw-report.bin is the HCL report's hardware report; evidence.json repeats
 * every file (base64) and the quote's nonce. */
static int run_consistency(EvidenceDir *e, const cJSON *ev, cJSON *out) {
    _cleanup_free_ uint8_t *hw = NULL;
    size_t n = 0;
    cJSON *sub = section(out, "files");
    if (!sub)
        return -ENOMEM;
    if (read_file(e->path[EF_HW], FILE_MAX_EVIDENCE, &hw, &n) < 0 || n != e->hcl.hw_report_len ||
        memcmp(hw, e->hcl.hw_report, n) != 0)
        return fail_piece(e, out, sub, file_names[EF_HW], "%s",
                          "differs from the hardware report inside hcl-report.bin");
    if (!ev)
        return fail_piece(e, out, sub, file_names[EF_EVIDENCE], "%s", "is not JSON");
    const cJSON *quote = json_get_object(out, "tpm_quote");
    const char *d = evidence_json_differs(e, ev, quote ? json_get_string(quote, "nonce") : NULL);
    if (d)
        return fail_piece(e, out, sub, file_names[EF_EVIDENCE],
                          "member '%s' does not agree with the files", d);
    return json_add_bool(sub, "evidence_json_consistent", true) < 0 ? -ENOMEM : 0;
}

static int read_evidence_json(const EvidenceDir *e, cJSON **ret) {
    _cleanup_free_ uint8_t *d = NULL;
    size_t n = 0;
    *ret = NULL;
    int r = read_file(e->path[EF_EVIDENCE], FILE_MAX_EVIDENCE, &d, &n);
    if (r == -ENOMEM)
        return r;
    if (r < 0 || json_parse(d, n, ret) < 0)
        *ret = NULL; /* a "no" of the consistency check */
    return 0;
}

int verify_evidence_dir(AgentContext *ctx, const VerifyOptions *opts, cJSON *out) {
    _cleanup_(evidence_dir_done) EvidenceDir e = {0};
    _cleanup_json_ cJSON *ev = NULL;
    if (json_add_string(out, "evidence", "evidence-dir") < 0 ||
        json_add_string(out, "evidence_dir", opts->evidence_dir) < 0)
        return -ENOMEM;
    int r = open_dir(opts, &e, out);
    if (r < 0 || e.result < 0)
        return r < 0 ? r : e.result;
    if ((r = check_options(opts, &e)) < 0)
        return r;
    bool snp = e.hcl.report_type == HCL_REPORT_SNP;
    if (json_add_string(out, "tee", snp ? "sevsnpvm" : "tdxvm") < 0)
        return -ENOMEM;
    if ((r = check_present(&e, out)) < 0 || e.result < 0 || (r = check_parsable(&e, out)) < 0 ||
        e.result < 0)
        return r < 0 ? r : e.result;
    e.sub = *opts;
    e.sub.hcl_report = e.path[EF_HCL];
    e.sub.vcek = snp ? e.path[EF_VCEK_CHAIN] : NULL; /* VCEK, then ASK and ARK */
    e.sub.td_quote = snp ? NULL : e.path[EF_TD_QUOTE];
    e.sub.tpm_quote = e.path[EF_QUOTE_MSG];
    e.sub.tpm_signature = e.path[EF_QUOTE_SIG];
    e.sub.ak_pub = e.path[EF_AK_PUB]; /* compared with HCLAkPub, which is the AK */
    e.sub.pcrs = e.path[EF_PCRS];
    if ((r = read_evidence_json(&e, &ev)) < 0 || (r = run_hcl_and_quote(ctx, &e, out)) < 0 ||
        (r = run_event_log(&e, ev, out)) < 0 || (r = run_transfer_key(&e, out)) < 0 ||
        (r = run_consistency(&e, ev, out)) < 0 || (r = snapshot(&e, true, out)) < 0)
        return r;
    return e.result < 0 ? e.result : verify_pass(out);
}
