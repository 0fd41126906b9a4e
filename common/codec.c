/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "util.h"

static const char hexdigits[] = "0123456789abcdef";

char *hex_encode(const void *data, size_t len) {
    const uint8_t *p = data;
    size_t n;
    if (!size_mul(len, 2, &n) || !size_add(n, 1, &n))
        return NULL;
    char *s = malloc(n);
    if (!s)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        s[2 * i] = hexdigits[p[i] >> 4];
        s[2 * i + 1] = hexdigits[p[i] & 0xf];
    }
    s[2 * len] = '\0';
    return s;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int hex_decode_into(const char *s, size_t slen, uint8_t *out) {
    for (size_t i = 0; i < slen / 2; i++) {
        int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int hex_decode(const char *s, size_t slen, uint8_t **ret, size_t *ret_len) {
    if (slen % 2)
        return -EINVAL;
    uint8_t *out = malloc(slen / 2 + 1);
    if (!out)
        return -ENOMEM;
    if (hex_decode_into(s, slen, out) < 0) {
        free(out);
        return -EINVAL;
    }
    out[slen / 2] = 0;
    *ret = out;
    *ret_len = slen / 2;
    return 0;
}

int hex_decode_fixed(const char *s, void *out, size_t out_len) {
    if (!s || strlen(s) != out_len * 2)
        return -EINVAL;
    return hex_decode_into(s, out_len * 2, out);
}

static const char b64std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64_encode(const char *alphabet, bool pad, const void *data, size_t len) {
    const uint8_t *p = data;
    size_t groups = len / 3 + (len % 3 != 0), n;
    if (!size_mul(groups, 4, &n) || !size_add(n, 1, &n))
        return NULL;
    char *s = malloc(n), *o = s;
    if (!s)
        return NULL;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = alphabet[v >> 18 & 63];
        *o++ = alphabet[v >> 12 & 63];
        *o++ = alphabet[v >> 6 & 63];
        *o++ = alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *o++ = alphabet[v >> 18 & 63];
        *o++ = alphabet[v >> 12 & 63];
        if (pad) {
            *o++ = '=';
            *o++ = '=';
        }
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = alphabet[v >> 18 & 63];
        *o++ = alphabet[v >> 12 & 63];
        *o++ = alphabet[v >> 6 & 63];
        if (pad)
            *o++ = '=';
    }
    *o = '\0';
    return s;
}

char *base64_encode(const void *data, size_t len) {
    return b64_encode(b64std, true, data, len);
}

char *base64url_encode(const void *data, size_t len) {
    return b64_encode(b64url, false, data, len);
}

static int b64_value(const char *alphabet, char c) {
    const char *p = c ? strchr(alphabet, c) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

/* pad_mode: 0 = padding required, 1 = optional but exact when present */
static int b64_decode(const char *alphabet, int pad_mode, const char *s, size_t slen, uint8_t **ret,
                      size_t *ret_len) {
    size_t npad = 0;
    while (npad < slen && npad < 3 && s[slen - 1 - npad] == '=')
        npad++;
    size_t body = slen - npad;
    if (pad_mode == 0 && slen % 4)
        return -EINVAL;
    if (npad > 0 && (slen % 4 || npad > 2))
        return -EINVAL;
    if (body % 4 == 1)
        return -EINVAL; /* one leftover character cannot encode a byte */
    if (npad > 0 && npad != (4 - body % 4) % 4)
        return -EINVAL;

    size_t outlen = body / 4 * 3 + (body % 4 ? body % 4 - 1 : 0);
    uint8_t *out = malloc(outlen + 1), *o = out;
    if (!out)
        return -ENOMEM;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < body; i++) {
        int v = b64_value(alphabet, s[i]);
        if (v < 0)
            goto bad;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* non-zero padding bits: not the canonical encoding */
        goto bad;
    out[outlen] = 0;
    *ret = out;
    *ret_len = outlen;
    return 0;
bad:
    free(out);
    return -EINVAL;
}

int base64_decode(const char *s, size_t slen, uint8_t **ret, size_t *ret_len) {
    return b64_decode(b64std, 0, s, slen, ret, ret_len);
}

int base64url_decode(const char *s, size_t slen, uint8_t **ret, size_t *ret_len) {
    return b64_decode(b64url, 1, s, slen, ret, ret_len);
}
