/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "bytes.h"

void br_init(ByteReader *r, const void *data, size_t len) {
    *r = (ByteReader){.data = data, .len = data ? len : 0};
}

static void set_error(ByteReader *r) {
    if (!r->err) {
        r->err = -EBADMSG;
        r->err_offset = r->base + r->pos;
    }
}

int br_fail(ByteReader *r) {
    set_error(r);
    return r->err;
}

const uint8_t *br_take(ByteReader *r, size_t n) {
    if (r->err)
        return NULL;
    if (n > r->len - r->pos) { /* by subtraction: pos <= len always holds */
        set_error(r);
        return NULL;
    }
    const uint8_t *p = r->data + r->pos;
    r->pos += n;
    return p;
}

void br_copy(ByteReader *r, void *out, size_t n) {
    const uint8_t *p = br_take(r, n);
    if (p)
        memcpy(out, p, n);
    else if (n)
        memset(out, 0, n);
}

void br_skip(ByteReader *r, size_t n) {
    (void)br_take(r, n);
}

void br_seek(ByteReader *r, size_t pos) {
    if (r->err)
        return;
    if (pos > r->len) {
        set_error(r);
        return;
    }
    r->pos = pos;
}

bool br_zeros(ByteReader *r, size_t n) {
    const uint8_t *p = br_take(r, n);
    if (!p)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

ByteReader br_sub(ByteReader *r, size_t n) {
    ByteReader sub = {0};
    size_t start = br_offset(r);
    const uint8_t *p = br_take(r, n);
    if (!p) {
        sub.base = start;
        sub.err = -EBADMSG;
        sub.err_offset = start;
        return sub;
    }
    sub.data = p;
    sub.len = n;
    sub.base = start;
    return sub;
}

uint8_t br_u8(ByteReader *r) {
    const uint8_t *p = br_take(r, 1);
    return p ? p[0] : 0;
}

#define DEFINE_READ(name, type, n, expr)                                                           \
    type name(ByteReader *r) {                                                                     \
        const uint8_t *p = br_take(r, n);                                                          \
        type v = 0;                                                                                \
        if (!p)                                                                                    \
            return 0;                                                                              \
        for (size_t i = 0; i < (n); i++)                                                           \
            v |= (type)p[i] << (8 * (expr));                                                       \
        return v;                                                                                  \
    }

DEFINE_READ(br_u16le, uint16_t, 2, i)
DEFINE_READ(br_u32le, uint32_t, 4, i)
DEFINE_READ(br_u64le, uint64_t, 8, i)
DEFINE_READ(br_u16be, uint16_t, 2, (1 - i))
DEFINE_READ(br_u32be, uint32_t, 4, (3 - i))
DEFINE_READ(br_u64be, uint64_t, 8, (7 - i))

bool mem_is_zero(const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}
