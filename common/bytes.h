/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bounded byte reader: every parser of untrusted binary input reads
 * through it. Reads never go past the end; the first overrun sets a sticky
 * error, after which every read yields zeros and ByteReader.err stays set, so a
 * parser may read a whole structure and check once. Offsets are kept for
 * error messages ("truncated at offset 0x1a0").
 */
#ifndef CVM_COMMON_BYTES_H
#define CVM_COMMON_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ByteReader {
    const uint8_t *data; /* start of this reader's window */
    size_t len;          /* window length */
    size_t pos;          /* bytes consumed */
    size_t base;         /* offset of data[0] in the outermost input, for messages */
    int err;             /* 0, or -EBADMSG once a read went past the end */
    size_t err_offset;   /* absolute offset of the first failed read */
} ByteReader;

void br_init(ByteReader *r, const void *data, size_t len);

static inline size_t br_remaining(const ByteReader *r) {
    return r->err ? 0 : r->len - r->pos;
}
/* Absolute offset of the next byte, counting from the outermost input. */
static inline size_t br_offset(const ByteReader *r) {
    return r->base + r->pos;
}
static inline bool br_ok(const ByteReader *r) {
    return r->err == 0;
}
static inline bool br_at_end(const ByteReader *r) {
    return r->err == 0 && r->pos == r->len;
}

uint8_t br_u8(ByteReader *r);
uint16_t br_u16le(ByteReader *r);
uint32_t br_u32le(ByteReader *r);
uint64_t br_u64le(ByteReader *r);
uint16_t br_u16be(ByteReader *r);
uint32_t br_u32be(ByteReader *r);
uint64_t br_u64be(ByteReader *r);

/* Copies n bytes into out (zero-filled on overrun). */
void br_copy(ByteReader *r, void *out, size_t n);
/* Returns a pointer to the next n bytes inside the input and consumes them, or
 * NULL on overrun. The pointer is only for reading n bytes. */
const uint8_t *br_take(ByteReader *r, size_t n);
void br_skip(ByteReader *r, size_t n);
/* Moves to an absolute position within this reader's window. */
void br_seek(ByteReader *r, size_t pos);
/* True when the next n bytes are all zero (consumes them). */
bool br_zeros(ByteReader *r, size_t n);

/* A sub-reader over the next n bytes; the parent advances past them. On
 * overrun the sub-reader is empty and in error, and the parent is in error. */
ByteReader br_sub(ByteReader *r, size_t n);

/* Marks the reader failed (e.g. a field holds an impossible value) at the
 * current offset; returns -EBADMSG. */
int br_fail(ByteReader *r);

/* True when all n bytes at p are zero (must-be-zero fields, unset IDs). */
bool mem_is_zero(const void *p, size_t n);

#endif
