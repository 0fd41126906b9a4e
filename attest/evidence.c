/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vTPM half of the evidence (AK, AK certificate, PCR 0-7, quote, certified
 * transfer key, TCG log), the OS fields, and the evidence bundle on disk.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "attest/attest.h"
#include "attest/attest-internal.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"

#define COLLECT_ATTEMPTS 3 /* a PCR extend racing the quote is rare; three tries suffice */

static _Thread_local char last_error[512];

const char *attest_last_error(void) {
    return last_error;
}

int attest_fail(int r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
    log_debug("%s", last_error);
    return r;
}

const char *attest_tee_claim(AttestTee tee) {
    switch (tee) {
    case ATTEST_TEE_SNP: return "sevsnpvm";
    case ATTEST_TEE_TDX: return "tdxvm";
    default: return NULL;
    }
}

void attest_tpm_evidence_done(AttestTpmEvidence *e) {
    if (!e)
        return;
    free(e->ak_pub);
    free(e->ak_cert);
    tpm_quote_done(&e->quote);
    tpm_certified_done(&e->transfer);
    free(e->event_log);
    *e = (AttestTpmEvidence){0};
}

/* True when the quote's pcrDigest is the digest of the values we read. */
static bool quote_covers(const TpmQuote *q, const TpmPcrSelection *sel, const TpmPcrBank *bank) {
    TpmAttest a;
    uint8_t d[TPM_MAX_DIGEST];
    size_t n = 0;
    if (tpm_attest_parse(q->attest, q->attest_len, &a) < 0 ||
        tpm_pcr_digest(sel->hash, sel, 1, bank, 1, d, &n) < 0)
        return false;
    return n == a.pcr_digest_len && memcmp(d, a.pcr_digest, n) == 0;
}

static int collect_tpm(TpmContext *t, const void *nonce, size_t nonce_len, AttestTpmEvidence *e) {
    const TpmPcrSelection sel = {.hash = TPM_HASH_SHA256, .mask = ATTEST_PCR_MASK};
    int r = tpm_read_public(t, TPM_HANDLE_AK, &e->ak_pub, &e->ak_pub_len);
    if (r < 0)
        return attest_fail(r, "cannot read the AK 0x%08x: %s (is this an Azure vTPM?)",
                           TPM_HANDLE_AK, tpm_last_error(t));
    r = tpm_nv_read(t, TPM_NV_AK_CERT, &e->ak_cert, &e->ak_cert_len);
    if (r < 0)
        return attest_fail(r, "cannot read the AK certificate from NV 0x%08x: %s", TPM_NV_AK_CERT,
                           r == -ENOENT ? "not defined" : tpm_last_error(t));
    for (unsigned attempt = 1;; attempt++) {
        r = tpm_pcr_read(t, &sel, &e->pcrs);
        if (r < 0)
            return attest_fail(r, "cannot read PCR 0-7: %s", tpm_last_error(t));
        tpm_quote_done(&e->quote);
        r = tpm_quote(t, TPM_HANDLE_AK, &sel, 1, nonce, nonce_len, &e->quote);
        if (r < 0)
            return attest_fail(r, "TPM2_Quote with the AK failed: %s", tpm_last_error(t));
        if (quote_covers(&e->quote, &sel, &e->pcrs))
            break;
        if (attempt == COLLECT_ATTEMPTS)
            return attest_fail(-EAGAIN, "PCR 0-7 kept changing while they were quoted");
        log_debug("PCRs changed between read and quote, again");
    }
    r = tpm_transfer_key_certify(t, &sel, TPM_HANDLE_AK, &e->transfer);
    if (r < 0)
        return attest_fail(r, "cannot create and certify the transfer key: %s", tpm_last_error(t));
    return 0;
}

int attest_tpm_collect(const char *tcti, const void *nonce, size_t nonce_len,
                       const char *event_log_path, AttestTpmEvidence *ret) {
    _cleanup_tpm_ TpmContext *t = NULL;
    AttestTpmEvidence e = {0};
    const char *log_path = event_log_path ? event_log_path : ATTEST_EVENT_LOG_DEFAULT;

    if (nonce_len > ATTEST_NONCE_MAX)
        return attest_fail(-EINVAL, "the nonce is %zu bytes; at most %d fit a quote", nonce_len,
                           ATTEST_NONCE_MAX);
    int r = tpm_open(tcti, &t);
    if (r < 0)
        return attest_fail(r, "cannot open the TPM '%s': %s", tcti ? tcti : "(default)",
                           tpm_last_error(NULL));
    r = collect_tpm(t, nonce, nonce_len, &e);
    if (r < 0) {
        attest_tpm_evidence_done(&e);
        return r;
    }
    r = read_file(log_path, FILE_MAX_EVIDENCE, &e.event_log, &e.event_log_len);
    if (r == -ENOENT)
        log_debug("no TCG event log at '%s': sending none", log_path);
    else if (r < 0) {
        attest_tpm_evidence_done(&e);
        return attest_fail(r, "cannot read the TCG event log '%s': %s", log_path, strerror(-r));
    }
    *ret = e;
    return 0;
}

/* One os-release(5) value: unquoted, with the shell escapes it allows. */
static void os_release_value(const char *v, char *out, size_t out_size) {
    size_t n = 0;
    char q = (*v == '"' || *v == '\'') ? *v++ : 0;
    for (; *v && *v != '\n' && n + 1 < out_size; v++) {
        if (q && *v == q)
            break;
        if (q == '"' && *v == '\\' && v[1])
            v++;
        out[n++] = *v;
    }
    out[n] = '\0';
}

int attest_os_info(const char *path, AttestOsInfo *ret) {
    _cleanup_free_ uint8_t *text = NULL;
    size_t len = 0;
    char version[32] = "";
    const char *p = path ? path : ATTEST_OS_RELEASE_DEFAULT;
    AttestOsInfo os = {.distro = "Linux"};

    int r = read_file(p, FILE_MAX_CONFIG, &text, &len);
    if (r < 0) {
        log_debug("cannot read '%s' (%s): sending OS \"Linux\" 0.0", p, strerror(-r));
        *ret = os;
        return 0;
    }
    for (char *line = (char *)text; line && *line;) {
        char *next = strchr(line, '\n');
        if (startswith(line, "NAME="))
            os_release_value(line + 5, os.distro, sizeof(os.distro));
        else if (startswith(line, "VERSION_ID="))
            os_release_value(line + 11, version, sizeof(version));
        line = next ? next + 1 : NULL;
    }
    /* "22.04" -> 22, 4 as the client's stoi does; anything else stays 0 */
    char *end = NULL;
    long major = strtol(version, &end, 10);
    if (end != version && major >= 0) {
        os.major = major;
        if (*end == '.') {
            const char *m = end + 1;
            long minor = strtol(m, &end, 10);
            if (end != m && minor >= 0)
                os.minor = minor;
        }
    }
    *ret = os;
    return 0;
}

/* --- the bundle --- */

static int add_b64(cJSON *o, const char *key, const void *data, size_t len) {
    _cleanup_free_ char *s = base64_encode(data ? data : "", data ? len : 0);
    if (!s)
        return -ENOMEM;
    return json_add_string(o, key, s);
}

static int pcrs_json(const TpmPcrBank *b, cJSON **ret) {
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    cJSON *bank = o ? cJSON_AddObjectToObject(o, "sha256") : NULL;
    if (!bank)
        return -ENOMEM;
    for (unsigned i = 0; i < TPM_PCR_COUNT; i++) {
        char idx[4];
        if (!(b->mask & (1u << i)))
            continue;
        snprintf(idx, sizeof(idx), "%u", i);
        if (json_add_hex(bank, idx, b->values[i], tpm_hash_size(b->hash)) < 0)
            return -ENOMEM;
    }
    *ret = TAKE_PTR(o);
    return 0;
}

int attest_evidence_json(const AttestTpmEvidence *e, const AttestPlatform *p, const char *nonce_hex,
                         cJSON **ret) {
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    cJSON *pcrs = NULL, *q, *tk;
    const char *tee = attest_tee_claim(p->tee);
    int r = -ENOMEM;

    if (!o || json_add_int(o, "version", 1) < 0 ||
        json_add_string(o, "tee", tee ? tee : "none") < 0 ||
        json_add_string(o, "nonce", nonce_hex ? nonce_hex : "") < 0 ||
        json_add_string(o, "encoding", "base64") < 0 || pcrs_json(&e->pcrs, &pcrs) < 0)
        return -ENOMEM;
    cJSON_AddItemToObject(o, "pcrs", pcrs);
    if (add_b64(o, "hcl_report", p->hcl_report, p->hcl_report_len) < 0 ||
        add_b64(o, "hw_report", p->hw_report, p->hw_report_len) < 0 ||
        add_b64(o, "runtime_data", p->runtime_data, p->runtime_data_len) < 0 ||
        add_b64(o, "ak_pub", e->ak_pub, e->ak_pub_len) < 0 ||
        add_b64(o, "ak_cert", e->ak_cert, e->ak_cert_len) < 0)
        return r;
    if (!(q = cJSON_AddObjectToObject(o, "quote")) ||
        add_b64(q, "msg", e->quote.attest, e->quote.attest_len) < 0 ||
        add_b64(q, "sig", e->quote.signature, e->quote.signature_len) < 0)
        return r;
    if (!(tk = cJSON_AddObjectToObject(o, "transfer_key")) ||
        add_b64(tk, "pub", e->transfer.pub, e->transfer.pub_len) < 0 ||
        add_b64(tk, "certify_msg", e->transfer.attest, e->transfer.attest_len) < 0 ||
        add_b64(tk, "certify_sig", e->transfer.signature, e->transfer.signature_len) < 0)
        return r;
    if (e->event_log ? add_b64(o, "event_log", e->event_log, e->event_log_len) < 0
                     : !cJSON_AddNullToObject(o, "event_log"))
        return r;
    if (p->tee == ATTEST_TEE_SNP && json_add_string(o, "vcek_chain", p->vcek_chain_pem) < 0)
        return r;
    if (p->tee == ATTEST_TEE_TDX && add_b64(o, "td_quote", p->td_quote, p->td_quote_len) < 0)
        return r;
    *ret = TAKE_PTR(o);
    return 0;
}

static int write_piece(const char *dir, const char *name, const void *data, size_t len) {
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return attest_fail(-ENOMEM, "out of memory");
    int r = write_file_atomic(path, data ? data : "", data ? len : 0, 0644);
    if (r < 0)
        return attest_fail(r, "cannot write '%s': %s", path, strerror(-r));
    return 0;
}

static int pubkey_pem(const uint8_t *pub, size_t len, char **ret, size_t *ret_len) {
    _cleanup_pkey_ EVP_PKEY *k = NULL;
    int r = tpm_public_to_pkey(pub, len, &k);
    if (r < 0)
        return r;
    BIO *b = BIO_new(BIO_s_mem());
    char *mem = NULL;
    long n;
    if (!b || PEM_write_bio_PUBKEY(b, k) != 1 || (n = BIO_get_mem_data(b, &mem)) <= 0 ||
        !(*ret = strndup(mem, (size_t)n))) {
        BIO_free(b);
        return -ENOMEM;
    }
    *ret_len = (size_t)n;
    BIO_free(b);
    return 0;
}

int attest_evidence_write(const char *dir, const AttestTpmEvidence *e, const AttestPlatform *p,
                          const cJSON *evidence_json) {
    _cleanup_free_ char *pcrs_text = NULL, *ev_text = NULL, *ak_pem = NULL;
    _cleanup_json_ cJSON *pcrs = NULL;
    size_t ak_pem_len = 0;
    int r = mkdir_p(dir, 0700);
    if (r < 0)
        return attest_fail(r, "cannot create '%s': %s", dir, strerror(-r));
    if (pcrs_json(&e->pcrs, &pcrs) < 0 || !(pcrs_text = cJSON_Print(pcrs)) ||
        !(ev_text = cJSON_Print(evidence_json)))
        return attest_fail(-ENOMEM, "out of memory");
    r = pubkey_pem(e->ak_pub, e->ak_pub_len, &ak_pem, &ak_pem_len);
    if (r < 0)
        return attest_fail(r, "the AK public key does not convert to PEM");
    struct {
        const char *name;
        const void *data;
        size_t len;
    } pieces[] = {
        {"hcl-report.bin", p->hcl_report, p->hcl_report_len},
        {"hw-report.bin", p->hw_report, p->hw_report_len},
        {"quote.msg", e->quote.attest, e->quote.attest_len},
        {"quote.sig", e->quote.signature, e->quote.signature_len},
        {"pcrs.json", pcrs_text, strlen(pcrs_text)},
        {"ak.pub.pem", ak_pem, ak_pem_len},
        {"ak-cert.der", e->ak_cert, e->ak_cert_len},
        {"transfer-key.pub", e->transfer.pub, e->transfer.pub_len},
        {"certify.msg", e->transfer.attest, e->transfer.attest_len},
        {"certify.sig", e->transfer.signature, e->transfer.signature_len},
        {"evidence.json", ev_text, strlen(ev_text)},
    };
    for (size_t i = 0; i < ELEMENTSOF(pieces); i++)
        if ((r = write_piece(dir, pieces[i].name, pieces[i].data, pieces[i].len)) < 0)
            return r;
    if (e->event_log && (r = write_piece(dir, "event-log.bin", e->event_log, e->event_log_len)) < 0)
        return r;
    if (p->tee == ATTEST_TEE_SNP &&
        (r = write_piece(dir, "vcek-chain.pem", p->vcek_chain_pem, strlen(p->vcek_chain_pem))) < 0)
        return r;
    if (p->tee == ATTEST_TEE_TDX &&
        (r = write_piece(dir, "td-quote.bin", p->td_quote, p->td_quote_len)) < 0)
        return r;
    return 0;
}
