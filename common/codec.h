/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Strict hex, base64 (RFC 4648 §4) and base64url (§5) codecs. Decoders reject
 * any character outside the alphabet (including whitespace), wrong padding and
 * non-zero padding bits, so one input has exactly one decoding.
 * Encoders return a malloc'ed NUL-terminated string (NULL on OOM); decoders
 * return a malloc'ed buffer (one spare NUL byte after ret_len) the caller frees.
 */
#ifndef CVM_COMMON_CODEC_H
#define CVM_COMMON_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* lowercase */
char *hex_encode(const void *data, size_t len);
/* Accepts upper and lower case; -EINVAL on odd length or a bad character. */
int hex_decode(const char *s, size_t slen, uint8_t **ret, size_t *ret_len);
/* Decodes exactly out_len bytes; -EINVAL unless strlen(s) == 2 * out_len. */
int hex_decode_fixed(const char *s, void *out, size_t out_len);

/* Standard alphabet, '=' padding. */
char *base64_encode(const void *data, size_t len);
/* Padding required (length a multiple of 4). */
int base64_decode(const char *s, size_t slen, uint8_t **ret, size_t *ret_len);

/* URL-safe alphabet, no padding (as JWS/JWT use it). */
char *base64url_encode(const void *data, size_t len);
/* Padding is optional, but when present it must be exactly right. */
int base64url_decode(const char *s, size_t slen, uint8_t **ret, size_t *ret_len);

#endif
