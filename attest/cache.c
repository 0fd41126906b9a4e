/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The token cache ([attestation] token-cache): the last verified token, kept
 * (mode 0600) with the platform state it was issued for, and reused until
 * shortly before it expires, only while that state is unchanged. The state
 * is SHA-256 over the HCL report (hardware report + runtime claims), PCR 0-7
 * and the transfer key's public area (which changes with the TPM's NULL seed,
 * i.e. on every reboot): a token names the transfer key and the PCRs it was
 * issued for, so a different state means a token about another state.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attest/attest-internal.h"
#include "attest/attest.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"

#define CACHE_VERSION 1

int attest_state_digest(const char *tcti, const uint8_t *hcl, size_t hcl_len, uint8_t ret[32],
                        uint8_t **ret_transfer_pub, size_t *ret_transfer_pub_len) {
    const TpmPcrSelection sel = {.hash = TPM_HASH_SHA256, .mask = ATTEST_PCR_MASK};
    _cleanup_tpm_ TpmContext *t = NULL;
    _cleanup_free_ uint8_t *pub = NULL;
    size_t pub_len = 0;
    TpmPcrBank bank;
    int r = tpm_open(tcti, &t);
    if (r < 0)
        return attest_fail(r, "cannot open the TPM '%s': %s", tcti ? tcti : "(default)",
                           tpm_last_error(NULL));
    if ((r = tpm_pcr_read(t, &sel, &bank)) < 0)
        return attest_fail(r, "cannot read PCR 0-7: %s", tpm_last_error(t));
    if ((r = tpm_transfer_key_public(t, &sel, &pub, &pub_len)) < 0)
        return attest_fail(r, "cannot derive the transfer key: %s", tpm_last_error(t));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned n = 0;
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(md, hcl, hcl_len) == 1;
    for (unsigned i = 0; ok && i < 8; i++)
        ok = EVP_DigestUpdate(md, bank.values[i], 32) == 1;
    ok = ok && EVP_DigestUpdate(md, pub, pub_len) == 1 && EVP_DigestFinal_ex(md, ret, &n) == 1;
    EVP_MD_CTX_free(md);
    if (!ok)
        return attest_fail(-EIO, "SHA-256 failed: %s", crypto_last_error());
    if (ret_transfer_pub) {
        *ret_transfer_pub = TAKE_PTR(pub);
        *ret_transfer_pub_len = pub_len;
    }
    return 0;
}

/* The token's exp claim, without verifying anything (the caller verifies). */
static int token_exp(const char *token, int64_t *ret) {
    const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    _cleanup_free_ uint8_t *payload = NULL;
    _cleanup_json_ cJSON *j = NULL;
    size_t n = 0;
    if (!d2 || base64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &payload, &n) < 0 ||
        json_parse(payload, n, &j) < 0 || json_get_int(j, "exp", ret) < 0)
        return -EBADMSG;
    return 0;
}

static bool str_is(const cJSON *o, const char *key, const char *want) {
    const char *v = json_get_string(o, key);
    return v && streq(v, want);
}

int attest_cache_load(const char *path, const char *protocol, const char *url,
                      const uint8_t state[32], uint64_t margin_s, char **ret_token,
                      char **ret_nonce) {
    _cleanup_free_ uint8_t *text = NULL;
    _cleanup_json_ cJSON *j = NULL;
    _cleanup_free_ char *state_hex = hex_encode(state, 32);
    size_t len = 0;
    struct stat st;
    int64_t exp = 0, version = 0;

    if (!state_hex)
        return -ENOMEM;
    /* opened once, not followed if a link, and checked on that very file: a
     * cache others could have written is not ours to trust */
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return attest_fail(errno == ENOENT ? -ENOENT : -EPERM, "no usable cached token in '%s': %s",
                           path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) ||
        st.st_uid != geteuid() || st.st_size <= 0 || st.st_size > (off_t)FILE_MAX_CONFIG)
        return attest_fail(-EPERM, "'%s' is not a private (0600, ours) file: ignored", path);
    if (!(text = malloc((size_t)st.st_size)))
        return -ENOMEM;
    for (len = 0; len < (size_t)st.st_size;) {
        ssize_t n = read(fd, text + len, (size_t)st.st_size - len);
        if (n <= 0)
            return attest_fail(-EIO, "cannot read '%s'", path);
        len += (size_t)n;
    }
    if (json_parse(text, len, &j) < 0)
        return attest_fail(-EBADMSG, "'%s' is not a token cache", path);
    const char *token = json_get_string(j, "token"), *nonce = json_get_string(j, "nonce");
    if (json_get_int(j, "version", &version) < 0 || version != CACHE_VERSION || !token || !nonce)
        return attest_fail(-EBADMSG, "'%s' is not a token cache of this version", path);
    if (!str_is(j, "protocol", protocol) || !str_is(j, "url", url))
        return attest_fail(-ESTALE, "the cached token is for another endpoint or protocol");
    if (!str_is(j, "state", state_hex))
        return attest_fail(-ESTALE, "the platform state changed since the cached token (PCRs, "
                                    "HCL report or transfer key)");
    if (token_exp(token, &exp) < 0)
        return attest_fail(-EBADMSG, "the cached token has no readable exp");
    if ((int64_t)time(NULL) + (int64_t)margin_s >= exp)
        return attest_fail(-ESTALE, "the cached token expires within %llu s",
                           (unsigned long long)margin_s);
    if (!(*ret_token = strdup(token)) || !(*ret_nonce = strdup(nonce))) {
        free(*ret_token);
        return -ENOMEM;
    }
    return 0;
}

int attest_cache_store(const char *path, const char *protocol, const char *url,
                       const uint8_t state[32], const char *nonce, const char *token) {
    _cleanup_json_ cJSON *j = cJSON_CreateObject();
    _cleanup_free_ char *text = NULL;
    if (!j || json_add_int(j, "version", CACHE_VERSION) < 0 ||
        json_add_string(j, "protocol", protocol) < 0 || json_add_string(j, "url", url) < 0 ||
        json_add_hex(j, "state", state, 32) < 0 || json_add_string(j, "nonce", nonce) < 0 ||
        json_add_string(j, "token", token) < 0 || !(text = cJSON_Print(j)))
        return -ENOMEM;
    int r = write_file_atomic(path, text, strlen(text), 0600);
    if (r < 0)
        return attest_fail(r, "cannot write the token cache '%s': %s", path, strerror(-r));
    return 0;
}
