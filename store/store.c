/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The operations of the store: seal, open (with re-authorization), rewrap
 * (rotation) and status, over tpm/ and a StoreKeyProvider. Every change to an
 * envelope is one write_file_atomic(), and each operation orders its writes
 * so that the envelope on disk opens at every instant
 * (docs/secret-store.md, "Crash safety").
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/crypto.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/util.h"
#include "store/store-internal.h"

#define POLICY_KEY_BITS 2048

struct StoreContext {
    char *dir; /* state_dir/secrets */
    TpmContext *tpm;
    const StoreKeyProvider *provider;
    char error[512];
};

_printf_(3, 4) static int fail(StoreContext *s, int r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof(s->error), fmt, ap);
    va_end(ap);
    return r < 0 ? r : -EIO;
}

static const char *tpm_why(StoreContext *s) {
    const char *e = tpm_last_error(s->tpm);
    return e && *e ? e : "see the TPM log";
}

int store_new(const char *state_dir, TpmContext *tpm, const StoreKeyProvider *provider,
              StoreContext **ret) {
    StoreContext *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    if (asprintf(&s->dir, "%s/secrets", state_dir) < 0) {
        free(s);
        return -ENOMEM;
    }
    s->tpm = tpm;
    s->provider = provider;
    *ret = s;
    return 0;
}

StoreContext *store_free(StoreContext *s) {
    if (s) {
        free(s->dir);
        free(s);
    }
    return NULL;
}

const char *store_last_error(const StoreContext *s) {
    return s->error;
}

char *store_envelope_path(const StoreContext *s, const char *name) {
    char *p;
    return asprintf(&p, "%s/%s.json", s->dir, name) < 0 ? NULL : p;
}

void store_open_result_done(StoreOpenResult *r) {
    secret_free(r->secret);
    free(r->key_version);
    free(r->warning);
    *r = (StoreOpenResult){0};
}

void store_status_done(StoreStatus *st) {
    free(st->key_url);
    free(st->key_version);
    free(st->newest);
    *st = (StoreStatus){0};
}

static int64_t now_s(void) {
    return (int64_t)time(NULL);
}

/* AAD of the GCM layers: binds a ciphertext to its secret and purpose, so
 * envelopes or payloads cannot be swapped between names. A constant, not the
 * envelope format version: a v2 format must still open v1 ciphertexts. */
static void make_aad(char *buf, size_t size, const char *name, const char *purpose) {
    snprintf(buf, size, "cvm-agent-secret/1/%s/%s", name, purpose);
}

/* --- envelope files --- */

static int load(StoreContext *s, const char *name, StoreEnvelope *ret) {
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ uint8_t *data = NULL;
    size_t len = 0;
    char err[256];
    int r;
    if (!store_name_is_valid(name))
        return fail(s, -EINVAL,
                    "'%s' is not a valid secret name (1..%u of A-Z a-z 0-9 . _ -, not starting "
                    "with '.')",
                    name, STORE_NAME_MAX);
    if (!(path = store_envelope_path(s, name)))
        return -ENOMEM;
    r = read_file(path, STORE_ENVELOPE_MAX, &data, &len);
    if (r == -ENOENT)
        return fail(s, r, "no secret '%s' (no envelope '%s'); create it with seal", name, path);
    if (r < 0)
        return fail(s, r, "cannot read envelope '%s': %s", path, strerror(-r));
    r = store_envelope_parse(data, len, ret, err, sizeof(err));
    if (r < 0)
        return fail(s, r, "envelope '%s': %s", path, err);
    if (!streq(ret->name, name)) {
        store_envelope_done(ret);
        return fail(s, -EBADMSG, "envelope '%s' is for secret '%s', not '%s'", path, ret->name,
                    name);
    }
    return 0;
}

static int save(StoreContext *s, const StoreEnvelope *e) {
    _cleanup_free_ char *path = store_envelope_path(s, e->name), *text = NULL;
    size_t len = 0;
    int r;
    if (!path)
        return -ENOMEM;
    struct stat st;
    r = mkdir_p(s->dir, 0700);
    if (r < 0)
        return fail(s, r, "cannot create the secret directory '%s': %s", s->dir, strerror(-r));
    if (stat(s->dir, &st) < 0 || !S_ISDIR(st.st_mode) || (st.st_mode & 0077))
        return fail(s, -EACCES,
                    "the secret directory '%s' is not a directory of mode 0700; fix it with "
                    "chmod 0700 '%s'",
                    s->dir, s->dir);
    if ((r = store_envelope_format(e, &text, &len)) < 0)
        return fail(s, r, "cannot format envelope '%s': %s", path, strerror(-r));
    r = write_file_atomic(path, text, len, 0600);
    if (r < 0)
        return fail(s, r, "cannot write envelope '%s' (left as it was): %s", path, strerror(-r));
    return 0;
}

/*
 * Serializes the operations that write envelopes (boot's open with
 * re-authorization and the rotation timer may run at once): without it, a
 * re-authorization could write back the envelope it read before a concurrent
 * rewrap and undo it. An exclusive flock on the secret directory, held until
 * *ret_fd is closed; *ret_fd stays -1 when the directory does not exist yet
 * (and create is false: there is nothing to protect).
 */
static int lock_store(StoreContext *s, bool create, int *ret_fd) {
    int r, fd;
    if (create && (r = mkdir_p(s->dir, 0700)) < 0)
        return fail(s, r, "cannot create the secret directory '%s': %s", s->dir, strerror(-r));
    fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && !create)
        return 0;
    if (fd < 0)
        return fail(s, -errno, "cannot open '%s': %s", s->dir, strerror(errno));
    while (flock(fd, LOCK_EX) < 0)
        if (errno != EINTR) {
            r = -errno;
            close(fd);
            return fail(s, r, "cannot lock '%s': %s", s->dir, strerror(-r));
        }
    *ret_fd = fd;
    return 0;
}

/* --- the CMK side --- */

static int provider_check(StoreContext *s) {
    const StoreKeyProvider *p = s->provider;
    if (!p || !p->newest_version || !p->wrapping_key || !p->unwrap)
        return fail(s, -EINVAL, "no key provider: the CMK side of the secret is unavailable");
    return 0;
}

static int newest_version(StoreContext *s, char **ret) {
    int r = provider_check(s);
    if (r < 0)
        return r;
    r = s->provider->newest_version(s->provider->userdata, ret);
    if (r < 0)
        return fail(s, r, "cannot learn the newest version of key '%s': %s",
                    s->provider->key_url ? s->provider->key_url : "?", strerror(-r));
    if (!*ret || !**ret || strlen(*ret) > STORE_VERSION_MAX) {
        free(*ret);
        *ret = NULL;
        return fail(s, -EBADMSG, "the key provider named no valid newest version");
    }
    return 0;
}

/* Wraps payload to version: a fresh KEK, wrapped by the CMK version, encrypts
 * the payload. */
static int wrap_to(StoreContext *s, const char *name, const char *version, const SecretBuf *payload,
                   StoreWrap *ret) {
    _cleanup_secret_ SecretBuf *kek = secret_new(STORE_KEY_SIZE);
    StoreWrappingKey k = {0};
    StoreWrap w = {0};
    char aad[STORE_NAME_MAX + 64];
    int r;
    if (!kek)
        return -ENOMEM;
    if ((r = provider_check(s)) < 0)
        return r;
    if (RAND_priv_bytes(kek->data, STORE_KEY_SIZE) != 1)
        return fail(s, -EIO, "no random bytes for the key-encryption key");
    r = s->provider->wrapping_key(s->provider->userdata, version, &k);
    if (r < 0)
        return fail(s, r, "cannot get the wrapping key of key version '%s': %s", version,
                    strerror(-r));
    w.alg = k.alg;
    r = store_wrap(&k, kek->data, kek->len, &w.wrapped_key, &w.wrapped_key_len);
    store_wrapping_key_done(&k);
    if (r < 0) {
        store_wrap_done(&w);
        return fail(s, r, "wrapping to key version '%s' failed (%s key expected)", version,
                    store_wrap_alg_name(w.alg));
    }
    make_aad(aad, sizeof(aad), name, "cmk");
    r = store_aead_seal(kek, aad, payload->data, payload->len, &w.payload, &w.payload_len);
    if (r < 0 || !(w.version = strdup(version))) {
        store_wrap_done(&w);
        return fail(s, r < 0 ? r : -ENOMEM, "encrypting the CMK payload failed");
    }
    *ret = w;
    return 0;
}

/* The payload wrapped in w: K_cmk || PKCS#8(K_pol). */
static int unwrap_from(StoreContext *s, const char *name, const StoreWrap *w, SecretBuf **ret) {
    _cleanup_secret_ SecretBuf *kek = NULL;
    char aad[STORE_NAME_MAX + 64];
    int r = provider_check(s);
    if (r < 0)
        return r;
    r = s->provider->unwrap(s->provider->userdata, w->version, w->alg, w->wrapped_key,
                            w->wrapped_key_len, &kek);
    if (r < 0)
        /* the provider has said why (attestation, release, TPM); its errno only
         * carries the exit class, and strerror() of it would read as the cause */
        return fail(s, r,
                    "the key provider could not unwrap with key version '%s' (the cause is above)",
                    w->version);
    make_aad(aad, sizeof(aad), name, "cmk");
    if (kek->len != STORE_KEY_SIZE ||
        store_aead_open(kek, aad, w->payload, w->payload_len, ret) < 0 ||
        (*ret)->len < STORE_KEY_SIZE)
        return fail(s, -EKEYREJECTED,
                    "key version '%s' does not open the CMK payload of '%s' (another key, or the "
                    "envelope was altered)",
                    w->version, name);
    return 0;
}

/* Unwraps with the current version, or with the previous one when a rewrap
 * left it and the current cannot be used (e.g. not yet released). */
static int unwrap_any(StoreContext *s, const StoreEnvelope *e, SecretBuf **ret,
                      const StoreWrap **ret_used) {
    int r = unwrap_from(s, e->name, &e->key, ret);
    if (r >= 0 || !e->has_previous) {
        *ret_used = &e->key;
        return r;
    }
    log_debug("secret '%s': %s; trying the previous key version '%s'", e->name, s->error,
              e->previous.version);
    *ret_used = &e->previous;
    return unwrap_from(s, e->name, &e->previous, ret);
}

static int payload_policy_key(StoreContext *s, const SecretBuf *payload, EVP_PKEY **ret) {
    const uint8_t *p = payload->data + STORE_KEY_SIZE;
    if (payload->len <= STORE_KEY_SIZE ||
        !(*ret = d2i_AutoPrivateKey(NULL, &p, (long)(payload->len - STORE_KEY_SIZE))))
        return fail(s, -EBADMSG, "the CMK payload holds no policy key");
    return 0;
}

static int make_payload(const SecretBuf *k_cmk, EVP_PKEY *k_pol, SecretBuf **ret) {
    int n = k_pol ? i2d_PrivateKey(k_pol, NULL) : 0;
    if (n < 0)
        return -EIO;
    _cleanup_secret_ SecretBuf *p = secret_new(STORE_KEY_SIZE + (size_t)n);
    if (!p)
        return -ENOMEM;
    memcpy(p->data, k_cmk->data, STORE_KEY_SIZE);
    uint8_t *w = p->data + STORE_KEY_SIZE;
    if (n > 0 && i2d_PrivateKey(k_pol, &w) != n)
        return -EIO;
    *ret = TAKE_PTR(p);
    return 0;
}

/* --- the vTPM side --- */

static int srk_check(StoreContext *s, const StoreEnvelope *e) {
    uint8_t name[2 + TPM_MAX_DIGEST];
    size_t n = sizeof(name);
    int r = tpm_srk_name(s->tpm, name, &n);
    if (r < 0)
        return fail(s, r, "cannot read the vTPM's storage root key: %s", tpm_why(s));
    if (n != e->srk_name_len || !crypto_memeq(name, e->srk_name, n))
        return fail(s, -STORE_E_NONPERSISTED,
                    "secret '%s': the vTPM's storage root key is not the one it was sealed under: "
                    "this vTPM lost its state (NonPersistedTPM security type, or a different VM); "
                    "its vTPM share is gone. Re-create the secret, and on VMs whose vTPM does not "
                    "persist use mode = cmk-only",
                    e->name);
    return 0;
}

static uint32_t changed_pcrs(const StoreEnvelope *e, const TpmPcrBank *now) {
    size_t dlen = tpm_hash_size(e->pcrs.hash);
    uint32_t changed = 0;
    for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
        if ((e->pcrs.mask & (1u << i)) && memcmp(e->approved.values[i], now->values[i], dlen) != 0)
            changed |= 1u << i;
    return changed;
}

/* Signs an approval of bank's values with k_pol into e. */
static int approve(StoreContext *s, StoreEnvelope *e, EVP_PKEY *k_pol, const TpmPcrBank *bank) {
    uint8_t digest[32];
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    int r = tpm_policy_pcr_digest(bank, digest);
    if (r < 0)
        return fail(s, r, "cannot compute the PCR policy digest");
    r = tpm_policy_approve(k_pol, digest, &sig, &sig_len);
    if (r < 0)
        return fail(s, r, "signing the PCR approval with the policy key failed");
    free(e->approval);
    e->approval = sig;
    e->approval_len = sig_len;
    e->approved = *bank;
    return 0;
}

static int read_pcrs(StoreContext *s, const TpmPcrSelection *sel, TpmPcrBank *ret) {
    int r = tpm_pcr_read(s->tpm, sel, ret);
    if (r < 0)
        return fail(s, r, "cannot read the PCRs: %s", tpm_why(s));
    return 0;
}

void store_pcr_list(uint32_t mask, char *buf, size_t size) {
    size_t off = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < TPM_PCR_COUNT && off < size; i++)
        if (mask & (1u << i)) {
            int n = snprintf(buf + off, size - off, "%s%u", off ? "," : "", i);
            off += n > 0 ? (size_t)n : 0;
        }
}

/* --- seal --- */

static int seal_tpm_share(StoreContext *s, StoreEnvelope *e, const SecretBuf *k_tpm,
                          EVP_PKEY *k_pol) {
    TpmPcrBank bank;
    int r;
    e->srk_name_len = sizeof(e->srk_name);
    if ((r = tpm_srk_name(s->tpm, e->srk_name, &e->srk_name_len)) < 0)
        return fail(s, r, "cannot read the vTPM's storage root key: %s", tpm_why(s));
    r = tpm_seal_authorize(s->tpm, k_pol, k_tpm->data, k_tpm->len, &e->sealed);
    if (r < 0)
        return fail(s, r, "sealing the vTPM share failed: %s", tpm_why(s));
    if ((r = read_pcrs(s, &e->pcrs, &bank)) < 0)
        return r;
    return approve(s, e, k_pol, &bank);
}

static int seal_secret(StoreContext *s, const StoreSealOptions *o, SecretBuf **ret) {
    if (o->secret) {
        if (o->secret->len == 0 || o->secret->len > STORE_SECRET_MAX)
            return fail(s, -EINVAL, "a secret must be 1..%u bytes, this one is %zu",
                        STORE_SECRET_MAX, o->secret->len);
        *ret = secret_dup(o->secret->data, o->secret->len);
    } else {
        size_t n = o->generate_len ? o->generate_len : STORE_SECRET_DEFAULT;
        if (n > STORE_SECRET_MAX)
            return fail(s, -EINVAL, "a generated secret must be 1..%u bytes", STORE_SECRET_MAX);
        if ((*ret = secret_new(n)) && RAND_priv_bytes((*ret)->data, (int)n) != 1)
            return fail(s, -EIO, "no random bytes for the secret");
    }
    return *ret ? 0 : -ENOMEM;
}

int store_seal(StoreContext *s, const char *name, const StoreSealOptions *o) {
    _cleanup_secret_ SecretBuf *secret = NULL, *dk = secret_new(STORE_KEY_SIZE), *k_tpm = NULL,
                               *k_cmk = NULL, *payload = NULL;
    _cleanup_free_ char *path = NULL, *version = NULL;
    _cleanup_pkey_ EVP_PKEY *k_pol = NULL;
    _cleanup_close_ int lock = -1;
    StoreEnvelope e = {.mode = o->mode, .ephemeral = o->ephemeral};
    char aad[STORE_NAME_MAX + 64];
    struct stat st;
    int r;

    s->error[0] = '\0';
    if (!store_name_is_valid(name))
        return fail(s, -EINVAL, "'%s' is not a valid secret name", name);
    if (!dk || !(path = store_envelope_path(s, name)))
        return -ENOMEM;
    if ((r = lock_store(s, true, &lock)) < 0)
        return r;
    if (!o->force && stat(path, &st) == 0)
        return fail(s, -EEXIST, "secret '%s' exists ('%s'); give force to replace it", name, path);
    if (o->mode == STORE_MODE_TPM_CMK && !s->tpm)
        return fail(s, -EINVAL, "mode tpm+cmk needs the vTPM");
    if (o->pcrs.hash && (tpm_hash_size(o->pcrs.hash) == 0 || o->pcrs.mask == 0 ||
                         o->pcrs.mask >= (1u << TPM_PCR_COUNT)))
        return fail(s, -EINVAL, "the PCR selection names no PCR of a known bank");
    if ((r = seal_secret(s, o, &secret)) < 0 || (r = newest_version(s, &version)) < 0)
        return r;
    if (RAND_priv_bytes(dk->data, STORE_KEY_SIZE) != 1)
        return fail(s, -EIO, "no random bytes for the data key");
    e.pcrs = o->pcrs.hash ? o->pcrs : (TpmPcrSelection){TPM_HASH_SHA256, (1u << 0) | (1u << 7)};
    e.created = e.updated = now_s();
    if (!(e.name = strdup(name)) ||
        (s->provider->key_url && !(e.key_url = strdup(s->provider->key_url)))) {
        r = -ENOMEM;
        goto out;
    }
    make_aad(aad, sizeof(aad), name, "data");
    r = store_aead_seal(dk, aad, secret->data, secret->len, &e.ciphertext, &e.ciphertext_len);
    if (r < 0)
        goto out;
    if (o->mode == STORE_MODE_TPM_CMK) {
        if ((r = store_split(dk->data, &k_tpm, &k_cmk)) < 0)
            goto out;
        if (!(k_pol = EVP_RSA_gen(POLICY_KEY_BITS))) {
            r = fail(s, -EIO, "cannot generate the policy key");
            goto out;
        }
        if ((r = seal_tpm_share(s, &e, k_tpm, k_pol)) < 0)
            goto out;
    } else if (!(k_cmk = secret_dup(dk->data, dk->len))) {
        r = -ENOMEM;
        goto out;
    }
    if ((r = make_payload(k_cmk, k_pol, &payload)) < 0 ||
        (r = wrap_to(s, name, version, payload, &e.key)) < 0)
        goto out;
    r = save(s, &e);
out:
    store_envelope_done(&e);
    if (r < 0 && !s->error[0])
        fail(s, r, "sealing secret '%s' failed: %s", name, strerror(-r));
    return r;
}

/* --- open --- */

/* K_tpm from the vTPM; re-authorizes when the PCRs moved and the caller's
 * attestation succeeded (res->reauthorized: the approval in e changed). */
static int open_tpm_share(StoreContext *s, StoreEnvelope *e, const SecretBuf *payload,
                          bool attestation_ok, StoreOpenResult *res, SecretBuf **ret) {
    _cleanup_pkey_ EVP_PKEY *k_pol = NULL;
    TpmPcrBank now;
    char list[80];
    int r;

    if ((r = payload_policy_key(s, payload, &k_pol)) < 0 || (r = read_pcrs(s, &e->pcrs, &now)) < 0)
        return r;
    res->changed_pcrs = changed_pcrs(e, &now);
    store_pcr_list(res->changed_pcrs, list, sizeof(list));
    if (res->changed_pcrs) {
        if (!attestation_ok)
            return fail(s, -EKEYREJECTED,
                        "secret '%s': PCR %s changed since the stored approval; re-authorizing "
                        "needs a successful attestation of this boot",
                        e->name, list);
        if ((r = approve(s, e, k_pol, &now)) < 0)
            return r;
        res->reauthorized = true;
    }
    r = tpm_unseal_authorize(s->tpm, &e->sealed, k_pol, &e->pcrs, e->approval, e->approval_len,
                             ret);
    if (r == -EKEYREJECTED)
        return fail(s, r,
                    "secret '%s': the vTPM refused to unseal (the PCRs changed during the "
                    "operation, or the envelope does not belong to this vTPM): %s",
                    e->name, tpm_why(s));
    if (r < 0)
        return fail(s, r, "secret '%s': unsealing the vTPM share failed: %s", e->name, tpm_why(s));
    return 0;
}

static int open_envelope(StoreContext *s, StoreEnvelope *e, bool attestation_ok,
                         StoreOpenResult *res) {
    _cleanup_secret_ SecretBuf *payload = NULL, *k_tpm = NULL, *dk = NULL, *k_cmk = NULL;
    const StoreWrap *used = NULL;
    char aad[STORE_NAME_MAX + 64];
    int r;

    if (e->mode == STORE_MODE_TPM_CMK && !s->tpm)
        return fail(s, -EINVAL, "secret '%s' (mode tpm+cmk) needs the vTPM", e->name);
    if (e->mode == STORE_MODE_TPM_CMK && (r = srk_check(s, e)) < 0)
        return r;
    if ((r = unwrap_any(s, e, &payload, &used)) < 0)
        return r;
    if (!(res->key_version = strdup(used->version)) ||
        !(k_cmk = secret_dup(payload->data, STORE_KEY_SIZE)))
        return -ENOMEM;
    if (e->mode == STORE_MODE_TPM_CMK) {
        if ((r = open_tpm_share(s, e, payload, attestation_ok, res, &k_tpm)) < 0)
            return r;
        if ((r = store_combine(k_tpm, k_cmk, &dk)) < 0)
            return fail(s, r, "secret '%s': the vTPM share has the wrong size", e->name);
    } else
        dk = TAKE_PTR(k_cmk);
    make_aad(aad, sizeof(aad), e->name, "data");
    r = store_aead_open(dk, aad, e->ciphertext, e->ciphertext_len, &res->secret);
    if (r < 0)
        return fail(s, r == -EKEYREJECTED ? r : -EIO,
                    "secret '%s': the shares do not open the ciphertext (the envelope was altered "
                    "or mixes material of two envelopes)",
                    e->name);
    return 0;
}

int store_open(StoreContext *s, const char *name, bool attestation_ok, StoreOpenResult *ret) {
    StoreEnvelope e = {0};
    StoreOpenResult res = {0};
    _cleanup_close_ int lock = -1;
    int r;

    s->error[0] = '\0';
    if ((r = lock_store(s, false, &lock)) < 0)
        return r;
    if ((r = load(s, name, &e)) < 0)
        return r;
    r = open_envelope(s, &e, attestation_ok, &res);
    if (r >= 0 && res.reauthorized) {
        e.updated = now_s();
        /* The secret is already out; a failure to keep the approval only
         * means the next open re-authorizes again, so it is not fatal: the
         * caller logs the warning. */
        if (save(s, &e) < 0 && !(res.warning = strdup(s->error)))
            r = -ENOMEM;
        s->error[0] = '\0';
    }
    store_envelope_done(&e);
    if (r < 0) {
        store_open_result_done(&res);
        return r;
    }
    *ret = res;
    return 0;
}

/* --- rewrap (rotation) --- */

static void step_done(StoreStepFn step, void *userdata, const char *name, StoreRewrapStep what) {
    if (step)
        step(userdata, name, what);
}

/* Re-reads the envelope as written and checks that the version it now names
 * yields the same payload. */
static int rewrap_verify(StoreContext *s, const char *name, const SecretBuf *payload) {
    _cleanup_secret_ SecretBuf *again = NULL;
    StoreEnvelope e = {0};
    int r = load(s, name, &e);
    if (r < 0)
        return r;
    r = unwrap_from(s, name, &e.key, &again);
    if (r >= 0 &&
        (again->len != payload->len || !crypto_memeq(again->data, payload->data, payload->len)))
        r = fail(s, -EKEYREJECTED, "secret '%s': the rewrapped envelope opens to other material",
                 name);
    store_envelope_done(&e);
    return r;
}

/*
 * The order is what makes it crash-safe: (1) unwrap with the old version;
 * (2) one atomic write puts the new wrap in "key" and keeps the old one as
 * "previous_key"; (3) re-read and open with the new version; (4) one atomic
 * write drops "previous_key". Between (2) and (4) both versions open it;
 * a rerun that finds the newest in "key" resumes at (3).
 */
int store_rewrap(StoreContext *s, const char *name, StoreStepFn step, void *userdata,
                 bool *ret_changed) {
    _cleanup_secret_ SecretBuf *payload = NULL;
    _cleanup_free_ char *newest = NULL;
    StoreEnvelope e = {0};
    const StoreWrap *used = NULL;
    _cleanup_close_ int lock = -1;
    int r;

    s->error[0] = '\0';
    *ret_changed = false;
    if ((r = lock_store(s, false, &lock)) < 0)
        return r;
    if ((r = load(s, name, &e)) < 0)
        return r;
    if ((r = newest_version(s, &newest)) < 0)
        goto out;
    if (streq(e.key.version, newest) && !e.has_previous)
        goto out; /* already there */
    if ((r = unwrap_any(s, &e, &payload, &used)) < 0)
        goto out;
    step_done(step, userdata, name, STORE_STEP_UNWRAPPED);
    if (!streq(e.key.version, newest)) {
        StoreWrap fresh = {0};
        if ((r = wrap_to(s, name, newest, payload, &fresh)) < 0)
            goto out;
        /* keep the wrap that just worked, so the old version still opens it */
        if (used == &e.key) {
            store_wrap_done(&e.previous);
            e.previous = e.key;
        } else
            store_wrap_done(&e.key);
        e.has_previous = true;
        e.key = fresh;
        e.updated = now_s();
        if ((r = save(s, &e)) < 0)
            goto out;
        *ret_changed = true;
    }
    step_done(step, userdata, name, STORE_STEP_WRITTEN);
    if ((r = rewrap_verify(s, name, payload)) < 0)
        goto out;
    step_done(step, userdata, name, STORE_STEP_VERIFIED);
    store_wrap_done(&e.previous);
    e.has_previous = false;
    e.updated = now_s();
    if ((r = save(s, &e)) < 0)
        goto out;
    *ret_changed = true;
    step_done(step, userdata, name, STORE_STEP_DROPPED);
out:
    store_envelope_done(&e);
    return r;
}

/* --- status and listing --- */

static void status_tpm(StoreContext *s, const StoreEnvelope *e, StoreStatus *st) {
    uint8_t name[2 + TPM_MAX_DIGEST];
    size_t n = sizeof(name);
    TpmPcrBank now;
    st->approval = st->srk = -1;
    if (e->mode != STORE_MODE_TPM_CMK || !s->tpm)
        return;
    if (tpm_srk_name(s->tpm, name, &n) >= 0)
        st->srk = n == e->srk_name_len && crypto_memeq(name, e->srk_name, n);
    if (tpm_pcr_read(s->tpm, &e->pcrs, &now) >= 0) {
        st->changed_pcrs = changed_pcrs(e, &now);
        st->approval = st->changed_pcrs == 0;
    }
}

int store_status(StoreContext *s, const char *name, StoreStatus *ret) {
    StoreEnvelope e = {0};
    StoreStatus st = {0};
    char list[64];
    int r;

    s->error[0] = '\0';
    if ((r = load(s, name, &e)) < 0)
        return r;
    st.envelope_version = e.version;
    st.mode = e.mode;
    st.ephemeral = e.ephemeral;
    st.rewrap_pending = e.has_previous;
    st.key_url = e.key_url ? strdup(e.key_url) : NULL;
    st.key_version = strdup(e.key.version);
    if (e.mode == STORE_MODE_TPM_CMK) {
        store_pcr_list(e.pcrs.mask, list, sizeof(list));
        snprintf(st.pcrs, sizeof(st.pcrs), "%s:%s", tpm_hash_name(e.pcrs.hash), list);
    }
    if (s->provider && s->provider->newest_version &&
        s->provider->newest_version(s->provider->userdata, &st.newest) < 0) {
        free(st.newest);
        st.newest = NULL;
    }
    st.behind = st.rewrap_pending || (st.newest && !streq(st.newest, e.key.version));
    status_tpm(s, &e, &st);
    store_envelope_done(&e);
    if (!st.key_version || (e.key_url && !st.key_url)) {
        store_status_done(&st);
        return -ENOMEM;
    }
    *ret = st;
    return 0;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void store_list_free(char **names) {
    for (size_t i = 0; names && names[i]; i++)
        free(names[i]);
    free(names);
}

int store_list(StoreContext *s, char ***ret, size_t *ret_n) {
    DIR *d = opendir(s->dir);
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    if (!d && errno != ENOENT)
        return fail(s, -errno, "cannot list '%s': %s", s->dir, strerror(errno));
    while (d && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        /* temporary files of an interrupted write end in .tmp.XXXXXX: skipped */
        if (len <= 5 || !streq(de->d_name + len - 5, ".json"))
            continue;
        char *nm = strndup(de->d_name, len - 5);
        char **grown = nm ? realloc(names, (n + 2) * sizeof(*names)) : NULL;
        if (!grown || !store_name_is_valid(nm)) {
            free(nm);
            if (!grown) {
                closedir(d);
                store_list_free(names);
                return -ENOMEM;
            }
            names = grown;
            continue;
        }
        names = grown;
        names[n++] = nm;
        names[n] = NULL;
    }
    if (d)
        closedir(d);
    if (!names && !(names = calloc(1, sizeof(*names))))
        return -ENOMEM;
    qsort(names, n, sizeof(*names), name_cmp);
    *ret = names;
    *ret_n = n;
    return 0;
}
