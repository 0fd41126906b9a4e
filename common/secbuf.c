/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "secbuf.h"

void secure_wipe(void *p, size_t n) {
    if (p && n)
        OPENSSL_cleanse(p, n);
}

SecretBuf *secret_new(size_t len) {
    SecretBuf *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    /* one spare byte so text secrets can be NUL-terminated */
    s->data = calloc(1, len + 1);
    if (!s->data) {
        free(s);
        return NULL;
    }
    s->len = len;
    s->cap = len + 1;
    s->locked = mlock(s->data, s->cap) == 0;
    return s;
}

SecretBuf *secret_dup(const void *data, size_t len) {
    SecretBuf *s = secret_new(len);
    if (s && len)
        memcpy(s->data, data, len);
    return s;
}

void secret_truncate(SecretBuf *s, size_t len) {
    if (len < s->len) {
        secure_wipe(s->data + len, s->len - len);
        s->len = len;
    }
}

SecretBuf *secret_free(SecretBuf *s) {
    if (!s)
        return NULL;
    if (s->data) {
        /* wipe the whole allocation, including any truncated tail */
        secure_wipe(s->data, s->cap);
        if (s->locked)
            munlock(s->data, s->cap);
        free(s->data);
    }
    free(s);
    return NULL;
}

void secure_free_string(char *s) {
    if (s) {
        secure_wipe(s, strlen(s));
        free(s);
    }
}

int process_harden(void) {
    struct rlimit nocore = {0, 0};
    umask(0077);
    if (setrlimit(RLIMIT_CORE, &nocore) < 0)
        return -errno;
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return -errno;
    return 0;
}
