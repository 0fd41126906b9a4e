/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Buffers for secrets: locked in memory where the kernel allows it and wiped
 * with OPENSSL_cleanse before they are freed. Anything that ever held key
 * material lives in a SecretBuf or is wiped with secure_wipe().
 */
#ifndef CVM_COMMON_SECBUF_H
#define CVM_COMMON_SECBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct SecretBuf {
    uint8_t *data;
    size_t len;
    size_t cap;  /* allocated bytes (len + 1 at creation) */
    bool locked; /* mlock succeeded */
} SecretBuf;

/* A zero-filled secret of len bytes (len may be 0); NULL on allocation failure. */
SecretBuf *secret_new(size_t len);
SecretBuf *secret_dup(const void *data, size_t len);
/* Wipes, unlocks and frees; accepts NULL; returns NULL. */
SecretBuf *secret_free(SecretBuf *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(SecretBuf *, secret_free)
#define _cleanup_secret_ _cleanup_(secret_freep)

/* Shrinks the visible length (the tail is wiped). */
void secret_truncate(SecretBuf *s, size_t len);

void secure_wipe(void *p, size_t n);
/* Wipes a NUL-terminated string and frees it. */
void secure_free_string(char *s);
static inline void secure_free_stringp(char **s) {
    secure_free_string(*s);
}

/* Makes the process non-dumpable (no core dumps, no ptrace by same uid) and
 * sets a private umask; called once at start. Returns 0 or -errno. */
int process_harden(void);

#endif
