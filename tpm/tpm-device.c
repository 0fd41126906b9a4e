/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device half of tpm/: ESYS context, NV, PCRs, quotes, the transfer key
 * and sealing. Every ESYS_TR a function creates is released by a cleanup
 * guard on every path: transient objects and sessions are flushed (nothing
 * stays loaded in a TPM without a resource manager), handles of persistent
 * objects and NV indices are closed (ESYS metadata only).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/secbuf.h"
#include "tpm/tpm-internal.h"
#include "tpm/tpm.h"

struct TpmContext {
    char *tcti_conf; /* as given to tpm_open(), "" for the default; named when the TPM goes away */
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    TSS2_RC last_rc;
    char err[512];
};

/* Bounded backoff for TPM_RC_RETRY/TESTING/YIELDED/NV_RATE: 10 ms doubling
 * to 1 s, at most busy_timeout_ms in all (ESYS resubmits 5 times itself
 * before each of these rounds). */
#define RETRY_FIRST_MS 10
#define RETRY_MAX_MS   1000
static unsigned busy_timeout_ms = TPM_BUSY_TIMEOUT_DEFAULT_MS;

void tpm_set_busy_timeout(unsigned ms) {
    busy_timeout_ms = ms;
}

/* The error number without layer, parameter/handle/session position. */
static TSS2_RC rc_base(TSS2_RC rc) {
    rc &= 0xFFFF; /* drop the TSS layer */
    if (rc & TPM2_RC_FMT1)
        return rc & (TPM2_RC_FMT1 | 0x3F);
    return rc;
}

static bool rc_is_retry(TSS2_RC rc) {
    if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER) /* TPM RCs carry layer 0 */
        return false;
    TSS2_RC b = rc_base(rc);
    return b == TPM2_RC_RETRY || b == TPM2_RC_TESTING || b == TPM2_RC_YIELDED ||
           b == TPM2_RC_NV_RATE;
}

/*
 * The single TSS2_RC -> errno mapping of the project:
 *   policy, signature, authorization and decryption-value failures -> -EKEYREJECTED
 *   unknown handle / undefined NV index                         -> -ENOENT
 *   retryable conditions after the retries                      -> -EBUSY
 *   TCTI unreachable, connection lost                           -> -ENOTCONN
 *   everything else                                             -> -EIO
 * None of these is "transient" (exit 3, which is for the network): a TPM that
 * is gone or stays busy beyond the bound is a local platform failure (exit 4).
 */
static int tpm_rc_to_errno(TSS2_RC rc) {
    if (rc == TSS2_RC_SUCCESS)
        return 0;
    TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
    if (layer == TSS2_TCTI_RC_LAYER || (rc & 0xFFFF) == TSS2_BASE_RC_IO_ERROR ||
        (rc & 0xFFFF) == TSS2_BASE_RC_NO_CONNECTION)
        return -ENOTCONN;
    if ((rc & 0xFFFF) == TSS2_BASE_RC_MEMORY)
        return -ENOMEM;
    if (layer != TSS2_TPM_RC_LAYER)
        return -EIO;
    switch (rc_base(rc)) {
    case TPM2_RC_POLICY_FAIL:
    case TPM2_RC_SIGNATURE:
    case TPM2_RC_AUTH_FAIL:
    case TPM2_RC_BAD_AUTH:
    case TPM2_RC_POLICY_CC:
    case TPM2_RC_PCR_CHANGED:
    case TPM2_RC_VALUE: /* RSA decrypt: padding/label check failed */ return -EKEYREJECTED;
    case TPM2_RC_HANDLE: return -ENOENT;
    case TPM2_RC_RETRY:
    case TPM2_RC_TESTING:
    case TPM2_RC_YIELDED:
    case TPM2_RC_NV_RATE: return -EBUSY;
    default: return -EIO;
    }
}

_printf_(3, 4) static int fail_rc(TpmContext *t, TSS2_RC rc, const char *fmt, ...) {
    char what[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    t->last_rc = rc;
    int r = tpm_rc_to_errno(rc);
    const char *tcti = t->tcti_conf[0] ? t->tcti_conf : "(tpm2-tss default)";
    if (r == -ENOTCONN)
        snprintf(t->err, sizeof(t->err),
                 "%s(0x%08x) - %s: the connection to the TPM '%s' was lost or refused; check that "
                 "the TPM (or swtpm) is running",
                 what, rc, Tss2_RC_Decode(rc), tcti);
    else if (r == -EBUSY)
        snprintf(t->err, sizeof(t->err),
                 "%s(0x%08x) - %s: the TPM '%s' stayed busy for %u ms of retries; try again, or "
                 "check what else uses it",
                 what, rc, Tss2_RC_Decode(rc), tcti, busy_timeout_ms);
    else
        snprintf(t->err, sizeof(t->err), "%s(0x%08x) - %s", what, rc, Tss2_RC_Decode(rc));
    log_debug("%s", t->err);
    return r;
}

_printf_(3, 4) static int fail_msg(TpmContext *t, int r, const char *fmt, ...) {
    char buf[sizeof(t->err)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap); /* arguments may point into t->err */
    va_end(ap);
    memcpy(t->err, buf, sizeof(buf));
    log_debug("%s", t->err);
    return r;
}

static void sleep_ms(unsigned ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Runs an ESYS call, retrying retryable RCs with bounded backoff. */
#define TPM_TRY(t, name, call)                                                                     \
    ({                                                                                             \
        TSS2_RC _rc;                                                                               \
        unsigned _wait = RETRY_FIRST_MS, _spent = 0;                                               \
        for (;;) {                                                                                 \
            _rc = (call);                                                                          \
            if (!rc_is_retry(_rc) || _spent >= busy_timeout_ms)                                    \
                break;                                                                             \
            log_debug("%s: TPM busy (0x%08x), retrying in %u ms", name, _rc, _wait);               \
            if (_wait > busy_timeout_ms - _spent)                                                  \
                _wait = busy_timeout_ms - _spent;                                                  \
            sleep_ms(_wait);                                                                       \
            _spent += _wait;                                                                       \
            _wait = _wait * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : _wait * 2;                           \
        }                                                                                          \
        _rc == TSS2_RC_SUCCESS ? 0 : fail_rc((t), _rc, "%s", name);                                \
    })

/* A handle released at scope exit: flushed (transient object, session) or
 * closed (persistent object, NV index: ESYS metadata only). */
typedef struct TrGuard {
    ESYS_CONTEXT *esys;
    ESYS_TR tr;
    bool flush;
} TrGuard;

static void tr_guard_done(TrGuard *g) {
    if (g->tr == ESYS_TR_NONE || !g->esys)
        return;
    if (g->flush) {
        TSS2_RC rc = Esys_FlushContext(g->esys, g->tr);
        if (rc != TSS2_RC_SUCCESS)
            log_debug("Esys_FlushContext(0x%08x) - %s", rc, Tss2_RC_Decode(rc));
    } else
        (void)Esys_TR_Close(g->esys, &g->tr);
    g->tr = ESYS_TR_NONE;
}
#define _cleanup_tr_ _cleanup_(tr_guard_done)
#define TR_FLUSH(t)                                                                                \
    { .esys = (t)->esys, .tr = ESYS_TR_NONE, .flush = true }
#define TR_CLOSE(t)                                                                                \
    { .esys = (t)->esys, .tr = ESYS_TR_NONE, .flush = false }

/* Frees an ESYS-returned structure, wiping it first. */
#define ESYS_FREE_WIPE(p)                                                                          \
    do {                                                                                           \
        if (p) {                                                                                   \
            secure_wipe((p), sizeof(*(p)));                                                        \
            Esys_Free(p);                                                                          \
            (p) = NULL;                                                                            \
        }                                                                                          \
    } while (0)

static void esys_freep(void *p) {
    void **pp = p;
    if (*pp)
        Esys_Free(*pp);
}
#define _cleanup_esys_ _cleanup_(esys_freep)

/* Why the last tpm_open() failed, for tpm_last_error(NULL). */
static _Thread_local char open_error[512];

const char *tpm_last_error(TpmContext *t) {
    return t ? t->err : open_error;
}

/* --- context --- */

static TSS2_RC startup(ESYS_CONTEXT *esys) {
    TSS2_RC rc = Esys_Startup(esys, TPM2_SU_CLEAR);
    return rc_base(rc) == TPM2_RC_INITIALIZE ? TSS2_RC_SUCCESS : rc;
}

/*
 * The device TCTI on a node that does not exist fails with a TCTI I/O error
 * that reads like a refused connection; say what it means instead.
 */
static int check_device_node(TpmContext *t, const char *tcti) {
    const char *path;
    if (!tcti || !startswith(tcti, "device"))
        return 0;
    if (streq(tcti, "device") || streq(tcti, "device:"))
        path = "/dev/tpm0"; /* the device TCTI's default */
    else if (startswith(tcti, "device:"))
        path = tcti + strlen("device:");
    else
        return 0;
    if (access(path, F_OK) == 0 || errno != ENOENT)
        return 0; /* present (or unknowable): let the TCTI say what it finds */
    return fail_msg(t, -ENODEV,
                    "the TPM device '%s' does not exist: this VM has no (v)TPM, or the TPM "
                    "driver (tpm_tis, tpm_crb, or tpm_vtpm_proxy) is not loaded; check "
                    "'ls /dev/tpm*' and 'dmesg | grep -i tpm', or name another TCTI with -T",
                    path);
}

static int open_steps(TpmContext *t, const char *tcti) {
    TSS2_RC rc;
    int r;
    r = check_device_node(t, tcti);
    if (r < 0)
        return r;
    TSS2_TCTI_CONTEXT *loaded = NULL;
    rc = Tss2_TctiLdr_Initialize(tcti, &loaded);
    if (rc != TSS2_RC_SUCCESS)
        return fail_rc(t, rc, "Tss2_TctiLdr_Initialize('%s')", tcti ? tcti : "default");
    t->tcti = tpm_timed_tcti_new(loaded);
    if (!t->tcti) {
        Tss2_TctiLdr_Finalize(&loaded);
        return fail_msg(t, -ENOMEM, "out of memory");
    }
    rc = Esys_Initialize(&t->esys, t->tcti, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        t->esys = NULL;
        return fail_rc(t, rc, "Esys_Initialize");
    }
    /* Readiness: TPM2_Startup if nobody did (TPM_RC_INITIALIZE = already started). */
    r = TPM_TRY(t, "Esys_Startup", startup(t->esys));
    if (r < 0)
        return r;
    /* Self-test of what is not tested yet; retried while TPM_RC_TESTING. */
    return TPM_TRY(t, "Esys_SelfTest",
                   Esys_SelfTest(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_NO));
}

int tpm_open(const char *tcti, TpmContext **ret) {
    /* ESYS at debug level logs session secrets (ENVIRONMENT-NOTES §8): silence
     * it before the first call unless the user set TSS2_LOG to ask for tracing. */
    if (!getenv("TSS2_LOG"))
        setenv("TSS2_LOG", "all+NONE", 0);

    open_error[0] = 0;
    TpmContext *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->tcti_conf = strdup(tcti ? tcti : "");
    int r = t->tcti_conf ? open_steps(t, tcti) : -ENOMEM;
    if (r < 0) {
        memcpy(open_error, t->err, sizeof(open_error));
        tpm_close(t);
        return r;
    }
    *ret = t;
    return 0;
}

TpmContext *tpm_close(TpmContext *t) {
    if (!t)
        return NULL;
    if (t->esys)
        Esys_Finalize(&t->esys);
    tpm_timed_tcti_free(t->tcti);
    free(t->tcti_conf);
    free(t);
    return NULL;
}

static int tr_from_handle(TpmContext *t, uint32_t handle, ESYS_TR *ret) {
    TSS2_RC rc =
        Esys_TR_FromTPMPublic(t->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ret);
    if (rc != TSS2_RC_SUCCESS)
        return fail_rc(t, rc, "Esys_TR_FromTPMPublic(0x%08x)", handle);
    return 0;
}

bool tpm_has_persistent(TpmContext *t, uint32_t handle) {
    _cleanup_esys_ TPMS_CAPABILITY_DATA *cap = NULL;
    TPMI_YES_NO more = 0;
    if (TPM_TRY(t, "Esys_GetCapability",
                Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                   TPM2_CAP_HANDLES, handle, 1, &more, &cap)) < 0 ||
        !cap)
        return false;
    return cap->data.handles.count >= 1 && cap->data.handles.handle[0] == handle;
}

int tpm_read_public(TpmContext *t, uint32_t handle, uint8_t **ret, size_t *ret_len) {
    _cleanup_tr_ TrGuard obj = TR_CLOSE(t);
    _cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
    uint8_t buf[sizeof(TPM2B_PUBLIC)];
    size_t off = 0;
    int r = tr_from_handle(t, handle, &obj.tr);
    if (r < 0)
        return r;
    r = TPM_TRY(t, "Esys_ReadPublic",
                Esys_ReadPublic(t->esys, obj.tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
                                NULL, NULL));
    if (r < 0)
        return r;
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
        return fail_msg(t, -EIO, "cannot marshal the public area of 0x%08x", handle);
    uint8_t *d = malloc(off);
    if (!d)
        return -ENOMEM;
    memcpy(d, buf, off);
    *ret = d;
    *ret_len = off;
    return 0;
}

/* --- NV --- */

static uint32_t nv_buffer_max(TpmContext *t) {
    _cleanup_esys_ TPMS_CAPABILITY_DATA *cap = NULL;
    TPMI_YES_NO more = 0;
    if (TPM_TRY(t, "Esys_GetCapability",
                Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                   TPM2_CAP_TPM_PROPERTIES, TPM2_PT_NV_BUFFER_MAX, 1, &more,
                                   &cap)) == 0 &&
        cap && cap->data.tpmProperties.count >= 1 &&
        cap->data.tpmProperties.tpmProperty[0].property == TPM2_PT_NV_BUFFER_MAX &&
        cap->data.tpmProperties.tpmProperty[0].value > 0)
        return cap->data.tpmProperties.tpmProperty[0].value;
    return 512; /* conservative (GA reads 512-byte chunks) */
}

/* Opens an NV index; -ENOENT when undefined. */
static int nv_open(TpmContext *t, uint32_t index, ESYS_TR *tr, TPM2B_NV_PUBLIC **pub) {
    int r = tr_from_handle(t, index, tr);
    if (r < 0)
        return r; /* TPM_RC_HANDLE -> -ENOENT: not defined */
    r = TPM_TRY(
        t, "Esys_NV_ReadPublic",
        Esys_NV_ReadPublic(t->esys, *tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, pub, NULL));
    return r;
}

int tpm_nv_read(TpmContext *t, uint32_t index, uint8_t **ret, size_t *ret_len) {
    _cleanup_tr_ TrGuard nv = TR_CLOSE(t);
    _cleanup_esys_ TPM2B_NV_PUBLIC *pub = NULL;
    int r = nv_open(t, index, &nv.tr, &pub);
    if (r < 0)
        return r;
    size_t size = pub->nvPublic.dataSize;
    TPMA_NV attrs = pub->nvPublic.attributes;
    ESYS_TR auth = (attrs & TPMA_NV_OWNERREAD)  ? ESYS_TR_RH_OWNER
                   : (attrs & TPMA_NV_AUTHREAD) ? nv.tr
                   : (attrs & TPMA_NV_PPREAD)   ? ESYS_TR_RH_PLATFORM
                                                : nv.tr;
    if (size > TPM_NV_MAX_READ)
        return fail_msg(t, -E2BIG, "NV index 0x%08x is %zu bytes, more than %u", index, size,
                        TPM_NV_MAX_READ);
    uint32_t chunk = nv_buffer_max(t);
    _cleanup_free_ uint8_t *buf = malloc(size + 1);
    if (!buf)
        return -ENOMEM;
    for (size_t off = 0; off < size;) {
        _cleanup_esys_ TPM2B_MAX_NV_BUFFER *data = NULL;
        uint16_t n = (uint16_t)(size - off < chunk ? size - off : chunk);
        r = TPM_TRY(t, "Esys_NV_Read",
                    Esys_NV_Read(t->esys, auth, nv.tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                 n, (uint16_t)off, &data));
        if (r < 0)
            return fail_msg(t, r, "NV index 0x%08x at offset %zu: %s", index, off,
                            tpm_last_error(t));
        if (!data || data->size != n)
            return fail_msg(t, -EIO, "NV index 0x%08x: short read at offset %zu, asked %u", index,
                            off, n);
        memcpy(buf + off, data->buffer, n);
        off += n;
    }
    buf[size] = 0;
    *ret = TAKE_PTR(buf);
    *ret_len = size;
    return 0;
}

int tpm_nv_undefine(TpmContext *t, uint32_t index) {
    _cleanup_tr_ TrGuard nv = TR_CLOSE(t);
    _cleanup_esys_ TPM2B_NV_PUBLIC *pub = NULL;
    int r = nv_open(t, index, &nv.tr, &pub);
    if (r < 0)
        return r;
    r = TPM_TRY(t, "Esys_NV_UndefineSpace",
                Esys_NV_UndefineSpace(t->esys, ESYS_TR_RH_OWNER, nv.tr, ESYS_TR_PASSWORD,
                                      ESYS_TR_NONE, ESYS_TR_NONE));
    if (r == 0)
        nv.tr = ESYS_TR_NONE; /* ESYS released the handle */
    return r;
}

int tpm_nv_write(TpmContext *t, uint32_t index, const void *data, size_t len) {
    _cleanup_tr_ TrGuard nv = TR_CLOSE(t);
    _cleanup_esys_ TPM2B_NV_PUBLIC *pub = NULL;
    int r;

    if (len == 0 || len > TPM2_MAX_NV_BUFFER_SIZE * 4u || (index >> 24) != TPM2_HT_NV_INDEX)
        return fail_msg(t, -EINVAL, "NV write of %zu bytes to 0x%08x refused", len, index);
    r = nv_open(t, index, &nv.tr, &pub);
    if (r == 0 && pub->nvPublic.dataSize != len) {
        log_debug("NV index 0x%08x is %u bytes, re-defining it for %zu", index,
                  pub->nvPublic.dataSize, len);
        r = TPM_TRY(t, "Esys_NV_UndefineSpace",
                    Esys_NV_UndefineSpace(t->esys, ESYS_TR_RH_OWNER, nv.tr, ESYS_TR_PASSWORD,
                                          ESYS_TR_NONE, ESYS_TR_NONE));
        if (r < 0)
            return r;
        nv.tr = ESYS_TR_NONE;
        r = -ENOENT;
    }
    if (r == -ENOENT) {
        if (nv.tr != ESYS_TR_NONE)
            tr_guard_done(&nv);
        /* azure-wire-formats §1.5: OWNERREAD|OWNERWRITE|AUTHREAD|AUTHWRITE, SHA-256 */
        TPM2B_NV_PUBLIC npub = {
            .nvPublic =
                {
                    .nvIndex = index,
                    .nameAlg = TPM2_ALG_SHA256,
                    .attributes = TPMA_NV_OWNERREAD | TPMA_NV_OWNERWRITE | TPMA_NV_AUTHREAD |
                                  TPMA_NV_AUTHWRITE | (TPM2_NT_ORDINARY << TPMA_NV_TPM2_NT_SHIFT),
                    .dataSize = (UINT16)len,
                },
        };
        TPM2B_AUTH auth = {.size = 0};
        r = TPM_TRY(t, "Esys_NV_DefineSpace",
                    Esys_NV_DefineSpace(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                        ESYS_TR_NONE, &auth, &npub, &nv.tr));
        if (r < 0)
            return r;
        ESYS_FREE_WIPE(pub);
        r = TPM_TRY(t, "Esys_NV_ReadPublic",
                    Esys_NV_ReadPublic(t->esys, nv.tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                       &pub, NULL));
    }
    if (r < 0)
        return r;
    TPMA_NV attrs = pub->nvPublic.attributes;
    ESYS_TR auth = (attrs & TPMA_NV_OWNERWRITE) ? ESYS_TR_RH_OWNER : nv.tr;
    uint32_t chunk = nv_buffer_max(t);
    const uint8_t *p = data;
    for (size_t off = 0; off < len;) {
        TPM2B_MAX_NV_BUFFER buf;
        size_t n = len - off < chunk ? len - off : chunk;
        if (n > sizeof(buf.buffer))
            n = sizeof(buf.buffer);
        buf.size = (UINT16)n;
        memcpy(buf.buffer, p + off, n);
        r = TPM_TRY(t, "Esys_NV_Write",
                    Esys_NV_Write(t->esys, auth, nv.tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                  ESYS_TR_NONE, &buf, (UINT16)off));
        if (r < 0)
            return r;
        off += n;
    }
    return 0;
}

/* --- PCRs --- */

int tpm_pcr_read(TpmContext *t, const TpmPcrSelection *sel, TpmPcrBank *ret) {
    size_t dlen = tpm_hash_size(sel->hash);
    TpmPcrBank bank = {.hash = sel->hash};
    uint32_t want = sel->mask & ((1u << TPM_PCR_COUNT) - 1);
    if (!dlen)
        return fail_msg(t, -EINVAL, "unknown PCR bank 0x%04x", sel->hash);
    /* a response carries at most 8 digests (TPML_DIGEST): loop until all are read */
    while (want) {
        TpmPcrSelection s = {.hash = sel->hash, .mask = want};
        TPML_PCR_SELECTION in;
        _cleanup_esys_ TPML_PCR_SELECTION *out = NULL;
        _cleanup_esys_ TPML_DIGEST *values = NULL;
        UINT32 counter = 0;
        tpm_sel_to_tpml(&s, 1, &in);
        int r = TPM_TRY(t, "Esys_PCR_Read",
                        Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &in,
                                      &counter, &out, &values));
        if (r < 0)
            return r;
        if (!out || !values)
            return fail_msg(t, -EIO, "TPM2_PCR_Read returned nothing");
        uint32_t got = 0;
        size_t v = 0;
        for (uint32_t i = 0; i < out->count; i++) {
            if (out->pcrSelections[i].hash != sel->hash)
                continue;
            for (unsigned b = 0; b < out->pcrSelections[i].sizeofSelect && b < 3; b++)
                got |= (uint32_t)out->pcrSelections[i].pcrSelect[b] << (8 * b);
        }
        got &= want;
        if (!got)
            return fail_msg(t, -ENOENT, "the TPM has no %s bank or not these PCRs (mask 0x%06x)",
                            tpm_hash_name(sel->hash) ?: "?", want);
        for (unsigned p = 0; p < TPM_PCR_COUNT; p++) {
            if (!(got & (1u << p)))
                continue;
            if (v >= values->count || values->digests[v].size != dlen)
                return fail_msg(t, -EIO, "TPM2_PCR_Read returned %u digests for mask 0x%06x",
                                values->count, got);
            memcpy(bank.values[p], values->digests[v].buffer, dlen);
            v++;
        }
        bank.mask |= got;
        want &= ~got;
    }
    *ret = bank;
    return 0;
}

int tpm_pcr_extend(TpmContext *t, uint16_t hash, unsigned pcr, const void *digest, size_t len) {
    TPML_DIGEST_VALUES d = {.count = 1};
    if (pcr >= TPM_PCR_COUNT || len != tpm_hash_size(hash))
        return fail_msg(t, -EINVAL, "bad PCR extend (PCR %u, %zu bytes)", pcr, len);
    d.digests[0].hashAlg = hash;
    memcpy(&d.digests[0].digest, digest, len);
    return TPM_TRY(t, "Esys_PCR_Extend",
                   Esys_PCR_Extend(t->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                   ESYS_TR_NONE, &d));
}

/* --- quotes --- */

void tpm_quote_done(TpmQuote *q) {
    if (!q)
        return;
    free(q->attest);
    free(q->signature);
    *q = (TpmQuote){0};
}

static int dup_bytes(const void *p, size_t n, uint8_t **ret, size_t *ret_len) {
    uint8_t *d = malloc(n ? n : 1);
    if (!d)
        return -ENOMEM;
    if (n)
        memcpy(d, p, n);
    *ret = d;
    *ret_len = n;
    return 0;
}

static int marshal_signature(const TPMT_SIGNATURE *sig, uint8_t **ret, size_t *ret_len) {
    uint8_t buf[sizeof(TPMT_SIGNATURE)];
    size_t off = 0;
    if (Tss2_MU_TPMT_SIGNATURE_Marshal(sig, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
        return -EIO;
    return dup_bytes(buf, off, ret, ret_len);
}

int tpm_quote(TpmContext *t, uint32_t ak_handle, const TpmPcrSelection *sel, size_t n_sel,
              const void *nonce, size_t nonce_len, TpmQuote *ret) {
    _cleanup_tr_ TrGuard ak = TR_CLOSE(t);
    _cleanup_esys_ TPM2B_ATTEST *quoted = NULL;
    _cleanup_esys_ TPMT_SIGNATURE *sig = NULL;
    TPM2B_DATA qd = {.size = (UINT16)nonce_len};
    TPMT_SIG_SCHEME null_scheme = {0};
    TPML_PCR_SELECTION tpml;
    TpmQuote q = {0};
    int r;

    null_scheme.scheme = TPM2_ALG_NULL; /* the AK's own scheme (RSASSA-SHA256 on Azure) */
    if (nonce_len > sizeof(qd.buffer) || n_sel == 0 || n_sel > TPM_MAX_BANKS)
        return fail_msg(t, -EINVAL, "quote: nonce of %zu bytes (max %zu) or %zu banks", nonce_len,
                        sizeof(qd.buffer), n_sel);
    if (nonce_len)
        memcpy(qd.buffer, nonce, nonce_len);
    tpm_sel_to_tpml(sel, n_sel, &tpml);
    r = tr_from_handle(t, ak_handle, &ak.tr);
    if (r < 0)
        return r;
    r = TPM_TRY(t, "Esys_Quote",
                Esys_Quote(t->esys, ak.tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qd,
                           &null_scheme, &tpml, &quoted, &sig));
    if (r < 0)
        return r;
    r = dup_bytes(quoted->attestationData, quoted->size, &q.attest, &q.attest_len);
    if (r >= 0)
        r = marshal_signature(sig, &q.signature, &q.signature_len);
    if (r < 0) {
        tpm_quote_done(&q);
        return r;
    }
    *ret = q;
    return 0;
}

/* --- the transfer key --- */

void tpm_certified_done(TpmCertified *c) {
    if (!c)
        return;
    free(c->pub);
    free(c->attest);
    free(c->signature);
    *c = (TpmCertified){0};
}

static int pcr_policy(TpmContext *t, const TpmPcrSelection *sel, uint8_t policy[32]) {
    TpmPcrBank bank;
    int r = tpm_pcr_read(t, sel, &bank);
    if (r < 0)
        return r;
    r = tpm_policy_pcr_digest(&bank, policy);
    if (r < 0)
        return fail_msg(t, r, "cannot compute the PolicyPCR digest");
    return 0;
}

/*
 * The transfer key is a primary of the NULL hierarchy: the same template
 * gives the same key until the TPM resets, but deriving its RSA-2048 primes
 * is the TPM's slowest command (~90 ms on swtpm, more on a vTPM), and one
 * boot needs the key three times (certify, the MAA reply, the released key).
 * The first creation is saved (ContextSave: a blob only this TPM can load,
 * and only until its NULL hierarchy's next reset) for the same TCTI, PCR
 * selection and policy digest; later uses ContextLoad it and flush it as
 * they would a fresh one, so no object slot stays taken. A load that fails
 * (the TPM reset, another TPM) falls back to CreatePrimary.
 */
static struct {
    bool valid;
    char *tcti_conf;
    TpmPcrSelection sel;
    uint8_t policy[32];
    TPMS_CONTEXT saved;
    TPM2B_PUBLIC pub;
} transfer_key_saved;

static void transfer_key_forget(void) {
    free(transfer_key_saved.tcti_conf);
    transfer_key_saved.tcti_conf = NULL;
    transfer_key_saved.valid = false;
}

static bool transfer_key_load(TpmContext *t, const TpmPcrSelection *sel, const uint8_t policy[32],
                              ESYS_TR *ret, TPM2B_PUBLIC **ret_pub) {
    if (!transfer_key_saved.valid || !streq(transfer_key_saved.tcti_conf, t->tcti_conf) ||
        transfer_key_saved.sel.hash != sel->hash || transfer_key_saved.sel.mask != sel->mask ||
        memcmp(transfer_key_saved.policy, policy, 32) != 0)
        return false;
    TPM2B_PUBLIC *pub = malloc(sizeof(*pub)); /* Esys_Free() is free() */
    if (!pub)
        return false;
    TSS2_RC rc = Esys_ContextLoad(t->esys, &transfer_key_saved.saved, ret);
    if (rc != TSS2_RC_SUCCESS) {
        log_debug("the saved transfer key does not load (%s): creating it again",
                  Tss2_RC_Decode(rc));
        transfer_key_forget();
        free(pub);
        return false;
    }
    *pub = transfer_key_saved.pub;
    *ret_pub = pub;
    return true;
}

static void transfer_key_save(TpmContext *t, const TpmPcrSelection *sel, const uint8_t policy[32],
                              ESYS_TR key, const TPM2B_PUBLIC *pub) {
    _cleanup_esys_ TPMS_CONTEXT *saved = NULL;
    transfer_key_forget();
    if (Esys_ContextSave(t->esys, key, &saved) != TSS2_RC_SUCCESS || !saved ||
        !(transfer_key_saved.tcti_conf = strdup(t->tcti_conf)))
        return; /* only slower next time */
    transfer_key_saved.saved = *saved;
    transfer_key_saved.pub = *pub;
    transfer_key_saved.sel = *sel;
    memcpy(transfer_key_saved.policy, policy, 32);
    transfer_key_saved.valid = true;
}

/* The transfer key under TPM_RH_NULL (azure-wire-formats §4), loaded. */
static int transfer_key_create(TpmContext *t, const TpmPcrSelection *sel, ESYS_TR *ret,
                               TPM2B_PUBLIC **ret_pub) {
    uint8_t policy[32];
    TPM2B_PUBLIC tmpl;
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION creation = {0};
    if (sel->hash != TPM_HASH_SHA256)
        return fail_msg(t, -EINVAL, "the transfer key's PCR policy uses the sha256 bank");
    int r = pcr_policy(t, sel, policy);
    if (r < 0)
        return r;
    if (transfer_key_load(t, sel, policy, ret, ret_pub))
        return 0;
    tpm_transfer_key_template(policy, &tmpl);
    r = TPM_TRY(t, "Esys_CreatePrimary",
                Esys_CreatePrimary(t->esys, ESYS_TR_RH_NULL, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                   ESYS_TR_NONE, &sens, &tmpl, &outside, &creation, ret, ret_pub,
                                   NULL, NULL, NULL));
    if (r >= 0)
        transfer_key_save(t, sel, policy, *ret, *ret_pub);
    return r;
}

static int marshal_public(const TPM2B_PUBLIC *pub, uint8_t **ret, size_t *ret_len) {
    uint8_t buf[sizeof(TPM2B_PUBLIC)];
    size_t off = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
        return -EIO;
    return dup_bytes(buf, off, ret, ret_len);
}

int tpm_transfer_key_public(TpmContext *t, const TpmPcrSelection *sel, uint8_t **ret,
                            size_t *ret_len) {
    _cleanup_tr_ TrGuard key = TR_FLUSH(t);
    _cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
    int r = transfer_key_create(t, sel, &key.tr, &pub);
    if (r < 0)
        return r;
    return marshal_public(pub, ret, ret_len);
}

int tpm_transfer_key_certify(TpmContext *t, const TpmPcrSelection *sel, uint32_t ak_handle,
                             TpmCertified *ret) {
    _cleanup_tr_ TrGuard key = TR_FLUSH(t);
    _cleanup_tr_ TrGuard ak = TR_CLOSE(t);
    _cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
    _cleanup_esys_ TPM2B_ATTEST *info = NULL;
    _cleanup_esys_ TPMT_SIGNATURE *sig = NULL;
    TPM2B_DATA qd = {0}; /* qualifyingData empty, as GA does (azure-wire-formats §4) */
    TPMT_SIG_SCHEME null_scheme = {0};
    TpmCertified c = {0};
    int r;

    null_scheme.scheme = TPM2_ALG_NULL;
    r = tr_from_handle(t, ak_handle, &ak.tr);
    if (r < 0)
        return r;
    r = transfer_key_create(t, sel, &key.tr, &pub);
    if (r < 0)
        return r;
    r = TPM_TRY(t, "Esys_Certify",
                Esys_Certify(t->esys, key.tr, ak.tr, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD,
                             ESYS_TR_NONE, &qd, &null_scheme, &info, &sig));
    if (r < 0)
        return r;
    r = marshal_public(pub, &c.pub, &c.pub_len);
    if (r >= 0)
        r = dup_bytes(info->attestationData, info->size, &c.attest, &c.attest_len);
    if (r >= 0)
        r = marshal_signature(sig, &c.signature, &c.signature_len);
    if (r < 0) {
        tpm_certified_done(&c);
        return r;
    }
    *ret = c;
    return 0;
}

static const TPMT_SYM_DEF session_aes = {
    .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};

/* A policy session over PolicyPCR(sel), salted with salt_key when given, with
 * response parameter encryption so what the TPM returns is not in the clear. */
static int start_pcr_policy_session(TpmContext *t, ESYS_TR salt_key, const TpmPcrSelection *sel,
                                    ESYS_TR *ret) {
    TPM2B_DIGEST empty = {0};
    TPML_PCR_SELECTION tpml;
    int r = TPM_TRY(t, "Esys_StartAuthSession",
                    Esys_StartAuthSession(t->esys, salt_key, ESYS_TR_NONE, ESYS_TR_NONE,
                                          ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_POLICY,
                                          &session_aes, TPM2_ALG_SHA256, ret));
    if (r < 0)
        return r;
    r = TPM_TRY(t, "Esys_TRSess_SetAttributes",
                Esys_TRSess_SetAttributes(
                    t->esys, *ret, TPMA_SESSION_CONTINUESESSION | TPMA_SESSION_ENCRYPT, 0xff));
    if (r < 0)
        return r;
    tpm_sel_to_tpml(sel, 1, &tpml);
    return TPM_TRY(
        t, "Esys_PolicyPCR",
        Esys_PolicyPCR(t->esys, *ret, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &empty, &tpml));
}

/* True when the TPM answers and reports no self-test failure. */
static bool tpm_healthy(TpmContext *t) {
    _cleanup_esys_ TPM2B_MAX_BUFFER *data = NULL;
    TPM2_RC result = 0;
    TSS2_RC rc =
        Esys_GetTestResult(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &data, &result);
    return rc == TSS2_RC_SUCCESS && result == TPM2_RC_SUCCESS;
}

int tpm_transfer_key_decrypt(TpmContext *t, const TpmPcrSelection *sel, TpmRsaScheme scheme,
                             const uint8_t *ct, size_t ct_len, SecretBuf **ret) {
    _cleanup_tr_ TrGuard key = TR_FLUSH(t);
    _cleanup_tr_ TrGuard session = TR_FLUSH(t);
    _cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
    TPM2B_PUBLIC_KEY_RSA *msg = NULL;
    TPM2B_PUBLIC_KEY_RSA in = {.size = (UINT16)ct_len};
    TPMT_RSA_DECRYPT s = {0};
    TPM2B_DATA label = {0};
    int r;

    if (ct_len == 0 || ct_len > sizeof(in.buffer))
        return fail_msg(t, -EINVAL, "ciphertext of %zu bytes", ct_len);
    memcpy(in.buffer, ct, ct_len);
    switch (scheme) {
    case TPM_RSA_RSAES: s.scheme = TPM2_ALG_RSAES; break;
    case TPM_RSA_OAEP_SHA1:
        s.scheme = TPM2_ALG_OAEP;
        s.details.oaep.hashAlg = TPM2_ALG_SHA1;
        break;
    case TPM_RSA_OAEP_SHA256:
        s.scheme = TPM2_ALG_OAEP;
        s.details.oaep.hashAlg = TPM2_ALG_SHA256;
        break;
    case TPM_RSA_OAEP_SHA384:
        s.scheme = TPM2_ALG_OAEP;
        s.details.oaep.hashAlg = TPM2_ALG_SHA384;
        break;
    default: return fail_msg(t, -EINVAL, "unknown RSA scheme %d", (int)scheme);
    }
    r = transfer_key_create(t, sel, &key.tr, &pub);
    if (r < 0)
        return r;
    /* the session salt is encrypted to the transfer key itself */
    r = start_pcr_policy_session(t, key.tr, sel, &session.tr);
    if (r < 0)
        return r;
    r = TPM_TRY(t, "Esys_RSA_Decrypt",
                Esys_RSA_Decrypt(t->esys, key.tr, session.tr, ESYS_TR_NONE, ESYS_TR_NONE, &in, &s,
                                 &label, &msg));
    if (r < 0 && rc_base(t->last_rc) == TPM2_RC_FAILURE && tpm_healthy(t)) {
        /* libtpms (swtpm) answers a padding/label mismatch with TPM_RC_FAILURE
         * where the spec (Part 3 §14.3) says TPM_RC_VALUE; a TPM that still
         * passes its self-test is not in failure mode, so it is a rejection. */
        return fail_msg(t, -EKEYREJECTED,
                        "Esys_RSA_Decrypt: ciphertext does not decrypt under "
                        "this scheme (TPM reported TPM_RC_FAILURE but is healthy)");
    }
    if (r < 0)
        return r;
    SecretBuf *out = secret_dup(msg->buffer, msg->size);
    ESYS_FREE_WIPE(msg);
    if (!out)
        return -ENOMEM;
    *ret = out;
    return 0;
}

/* --- sealing --- */

void tpm_sealed_done(TpmSealed *s) {
    if (!s)
        return;
    free(s->pub);
    free(s->priv);
    *s = (TpmSealed){0};
}

/* The SRK: persistent TPM_HANDLE_SRK if present (closed afterwards), otherwise
 * created from the standard template (flushed afterwards). */
static int srk_open(TpmContext *t, TrGuard *g) {
    if (tpm_has_persistent(t, TPM_HANDLE_SRK)) {
        g->flush = false;
        return tr_from_handle(t, TPM_HANDLE_SRK, &g->tr);
    }
    /* TCG TPM v2.0 Provisioning Guidance §7.5.1 "Storage Root Key" template:
     * RSA-2048, AES-128-CFB, SHA-256, restricted|decrypt|fixedTPM|fixedParent|
     * sensitiveDataOrigin|userWithAuth|noDA, exponent 0, unique empty. */
    TPM2B_PUBLIC tmpl = {
        .publicArea =
            {
                .type = TPM2_ALG_RSA,
                .nameAlg = TPM2_ALG_SHA256,
                .objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |
                                    TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                    TPMA_OBJECT_NODA,
                .parameters.rsaDetail =
                    {
                        .symmetric = {.algorithm = TPM2_ALG_AES,
                                      .keyBits.aes = 128,
                                      .mode.aes = TPM2_ALG_CFB},
                        .keyBits = 2048,
                        .exponent = 0,
                    },
            },
    };
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION creation = {0};
    tmpl.publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
    g->flush = true;
    return TPM_TRY(t, "Esys_CreatePrimary",
                   Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                      ESYS_TR_NONE, &sens, &tmpl, &outside, &creation, &g->tr, NULL,
                                      NULL, NULL, NULL));
}

int tpm_srk_name(TpmContext *t, uint8_t *ret, size_t *ret_len) {
    _cleanup_tr_ TrGuard srk = TR_FLUSH(t);
    _cleanup_esys_ TPM2B_NAME *name = NULL;
    int r = srk_open(t, &srk);
    if (r < 0)
        return r;
    r = TPM_TRY(t, "Esys_TR_GetName", Esys_TR_GetName(t->esys, srk.tr, &name));
    if (r < 0)
        return r;
    if (!name || name->size > 2 + TPM_MAX_DIGEST)
        return fail_msg(t, -EIO, "SRK name of unexpected size");
    memcpy(ret, name->name, name->size);
    *ret_len = name->size;
    return 0;
}

/* An HMAC session salted with the SRK, encrypting the first command and
 * response parameters (the secret going in, the secret coming out). */
static int start_hmac_session(TpmContext *t, ESYS_TR salt_key, ESYS_TR *ret) {
    int r = TPM_TRY(t, "Esys_StartAuthSession",
                    Esys_StartAuthSession(t->esys, salt_key, ESYS_TR_NONE, ESYS_TR_NONE,
                                          ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_HMAC,
                                          &session_aes, TPM2_ALG_SHA256, ret));
    if (r < 0)
        return r;
    return TPM_TRY(t, "Esys_TRSess_SetAttributes",
                   Esys_TRSess_SetAttributes(t->esys, *ret,
                                             TPMA_SESSION_CONTINUESESSION | TPMA_SESSION_DECRYPT |
                                                 TPMA_SESSION_ENCRYPT,
                                             0xff));
}

static int seal_with_policy(TpmContext *t, const uint8_t policy[32], const void *data, size_t len,
                            TpmSealed *ret) {
    _cleanup_tr_ TrGuard srk = TR_FLUSH(t);
    _cleanup_tr_ TrGuard session = TR_FLUSH(t);
    TPM2B_PRIVATE *priv = NULL;
    _cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_PUBLIC tmpl;
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION creation = {0};
    uint8_t buf[sizeof(TPM2B_PRIVATE)];
    size_t off = 0;
    TpmSealed s = {0};
    int r;

    if (len == 0 || len > TPM_SEAL_MAX)
        return fail_msg(t, -EINVAL, "can seal 1..%d bytes, not %zu", TPM_SEAL_MAX, len);
    r = srk_open(t, &srk);
    if (r < 0)
        return r;
    r = start_hmac_session(t, srk.tr, &session.tr);
    if (r < 0)
        return r;
    tpm_seal_template(policy, &tmpl);
    sens.sensitive.data.size = (UINT16)len;
    memcpy(sens.sensitive.data.buffer, data, len);
    r = TPM_TRY(t, "Esys_Create",
                Esys_Create(t->esys, srk.tr, session.tr, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
                            &outside, &creation, &priv, &pub, NULL, NULL, NULL));
    secure_wipe(&sens, sizeof(sens));
    if (r < 0)
        return r;
    r = -EIO;
    if (Tss2_MU_TPM2B_PRIVATE_Marshal(priv, buf, sizeof(buf), &off) == TSS2_RC_SUCCESS)
        r = dup_bytes(buf, off, &s.priv, &s.priv_len);
    ESYS_FREE_WIPE(priv);
    if (r >= 0)
        r = marshal_public(pub, &s.pub, &s.pub_len);
    if (r < 0) {
        tpm_sealed_done(&s);
        return r;
    }
    *ret = s;
    return 0;
}

int tpm_seal_pcr(TpmContext *t, const TpmPcrSelection *sel, const void *data, size_t len,
                 TpmSealed *ret) {
    uint8_t policy[32];
    if (sel->hash != TPM_HASH_SHA256 && !tpm_hash_size(sel->hash))
        return fail_msg(t, -EINVAL, "unknown PCR bank");
    int r = pcr_policy(t, sel, policy);
    if (r < 0)
        return r;
    return seal_with_policy(t, policy, data, len, ret);
}

int tpm_seal_authorize(TpmContext *t, EVP_PKEY *signer, const void *data, size_t len,
                       TpmSealed *ret) {
    uint8_t policy[32];
    int r = tpm_policy_authorize_digest(signer, policy);
    if (r < 0)
        return fail_msg(t, r, "the signer key is not an RSA key usable for PolicyAuthorize");
    return seal_with_policy(t, policy, data, len, ret);
}

/* Loads a sealed object under the SRK; srk stays open for salting. */
static int load_sealed(TpmContext *t, const TpmSealed *s, TrGuard *srk, TrGuard *obj) {
    TPM2B_PUBLIC pub = {0};
    TPM2B_PRIVATE priv = {0};
    size_t off = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(s->pub, s->pub_len, &off, &pub) != TSS2_RC_SUCCESS ||
        off != s->pub_len)
        return fail_msg(t, -EBADMSG, "sealed object: malformed TPM2B_PUBLIC");
    off = 0;
    if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(s->priv, s->priv_len, &off, &priv) != TSS2_RC_SUCCESS ||
        off != s->priv_len)
        return fail_msg(t, -EBADMSG, "sealed object: malformed TPM2B_PRIVATE");
    int r = srk_open(t, srk);
    if (r < 0)
        return r;
    return TPM_TRY(t, "Esys_Load",
                   Esys_Load(t->esys, srk->tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv,
                             &pub, &obj->tr));
}

static int unseal_in(TpmContext *t, ESYS_TR obj, ESYS_TR session, SecretBuf **ret) {
    TPM2B_SENSITIVE_DATA *out = NULL;
    int r = TPM_TRY(t, "Esys_Unseal",
                    Esys_Unseal(t->esys, obj, session, ESYS_TR_NONE, ESYS_TR_NONE, &out));
    if (r < 0)
        return r;
    if (!out)
        return fail_msg(t, -EIO, "TPM2_Unseal returned nothing");
    SecretBuf *b = secret_dup(out->buffer, out->size);
    ESYS_FREE_WIPE(out);
    if (!b)
        return -ENOMEM;
    *ret = b;
    return 0;
}

int tpm_unseal_pcr(TpmContext *t, const TpmSealed *s, const TpmPcrSelection *sel, SecretBuf **ret) {
    _cleanup_tr_ TrGuard srk = TR_FLUSH(t);
    _cleanup_tr_ TrGuard obj = TR_FLUSH(t);
    _cleanup_tr_ TrGuard session = TR_FLUSH(t);
    int r = load_sealed(t, s, &srk, &obj);
    if (r < 0)
        return r;
    r = start_pcr_policy_session(t, srk.tr, sel, &session.tr);
    if (r < 0)
        return r;
    return unseal_in(t, obj.tr, session.tr, ret);
}

int tpm_unseal_authorize(TpmContext *t, const TpmSealed *s, EVP_PKEY *signer,
                         const TpmPcrSelection *sel, const uint8_t *approval, size_t approval_len,
                         SecretBuf **ret) {
    _cleanup_tr_ TrGuard srk = TR_FLUSH(t);
    _cleanup_tr_ TrGuard obj = TR_FLUSH(t);
    _cleanup_tr_ TrGuard session = TR_FLUSH(t);
    _cleanup_tr_ TrGuard verkey = TR_FLUSH(t);
    _cleanup_esys_ TPM2B_DIGEST *approved = NULL;
    _cleanup_esys_ TPM2B_NAME *name = NULL;
    _cleanup_esys_ TPMT_TK_VERIFIED *ticket = NULL;
    TPM2B_PUBLIC vpub;
    TPM2B_DIGEST ahash = {.size = 32};
    TPM2B_NONCE ref = {0};
    TPMT_SIGNATURE sig = {.sigAlg = TPM2_ALG_RSASSA};
    size_t dlen = 0;
    int r;

    if (approval_len == 0 || approval_len > sizeof(sig.signature.rsassa.sig.buffer))
        return fail_msg(t, -EINVAL, "approval signature of %zu bytes", approval_len);
    r = tpm_public_from_pkey_raw(signer, &vpub);
    if (r < 0)
        return fail_msg(t, r, "the signer key is not an RSA key");
    r = load_sealed(t, s, &srk, &obj);
    if (r < 0)
        return r;
    r = start_pcr_policy_session(t, srk.tr, sel, &session.tr);
    if (r < 0)
        return r;
    r = TPM_TRY(t, "Esys_PolicyGetDigest",
                Esys_PolicyGetDigest(t->esys, session.tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                     &approved));
    if (r < 0)
        return r;
    /* aHash = SHA256(approvedPolicy || policyRef) (Part 3 §23.16) */
    r = crypto_digest("SHA256", approved->buffer, approved->size, ahash.buffer, &dlen);
    if (r < 0 || dlen != 32)
        return fail_msg(t, r < 0 ? r : -EIO, "SHA-256 failed");
    /* the signer's key in the owner hierarchy: a NULL-hierarchy key would only
     * give a NULL ticket, which PolicyAuthorize refuses */
    r = TPM_TRY(t, "Esys_LoadExternal",
                Esys_LoadExternal(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL, &vpub,
                                  ESYS_TR_RH_OWNER, &verkey.tr));
    if (r < 0)
        return r;
    r = TPM_TRY(t, "Esys_TR_GetName", Esys_TR_GetName(t->esys, verkey.tr, &name));
    if (r < 0)
        return r;
    sig.signature.rsassa.hash = TPM2_ALG_SHA256;
    sig.signature.rsassa.sig.size = (UINT16)approval_len;
    memcpy(sig.signature.rsassa.sig.buffer, approval, approval_len);
    r = TPM_TRY(t, "Esys_VerifySignature",
                Esys_VerifySignature(t->esys, verkey.tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                     &ahash, &sig, &ticket));
    if (r < 0)
        return fail_msg(t, r,
                        "the approval does not match the current PCR values or the signer: %s",
                        tpm_last_error(t));
    r = TPM_TRY(t, "Esys_PolicyAuthorize",
                Esys_PolicyAuthorize(t->esys, session.tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                     approved, &ref, name, ticket));
    if (r < 0)
        return r;
    return unseal_in(t, obj.tr, session.tr, ret);
}
