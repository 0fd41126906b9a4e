/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include "tests/unit/test-helpers.h"

#include "common/codec.h"
#include "common/util.h"

typedef int (*Decoder)(const char *, size_t, uint8_t **, size_t *);

static void expect_decode(Decoder d, const char *in, const char *want, size_t want_len) {
    _cleanup_free_ uint8_t *out = NULL;
    size_t len = 0;
    int r = d(in, strlen(in), &out, &len);
    if (r != 0)
        fail_msg("decoding '%s' failed: %d", in, r);
    assert_int_equal(len, want_len);
    assert_memory_equal(out, want, want_len);
    assert_int_equal(out[len], 0); /* NUL after the data */
}

static void expect_reject(Decoder d, const char *in) {
    uint8_t *out = NULL;
    size_t len = 0;
    int r = d(in, strlen(in), &out, &len);
    if (r != -EINVAL)
        fail_msg("'%s' was accepted (r=%d)", in, r);
    assert_null(out);
}

/* RFC 4648 §10 test vectors */
static const struct {
    const char *plain, *b64, *b64url;
} rfc4648[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

static void test_base64_vectors(void **state) {
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(rfc4648); i++) {
        _cleanup_free_ char *e = base64_encode(rfc4648[i].plain, strlen(rfc4648[i].plain));
        _cleanup_free_ char *u = base64url_encode(rfc4648[i].plain, strlen(rfc4648[i].plain));
        assert_string_equal(e, rfc4648[i].b64);
        assert_string_equal(u, rfc4648[i].b64url);
        expect_decode(base64_decode, rfc4648[i].b64, rfc4648[i].plain, strlen(rfc4648[i].plain));
        expect_decode(base64url_decode, rfc4648[i].b64url, rfc4648[i].plain,
                      strlen(rfc4648[i].plain));
        /* base64url also takes exact padding */
        expect_decode(base64url_decode, rfc4648[i].b64, rfc4648[i].plain, strlen(rfc4648[i].plain));
    }
}

static void test_base64_alphabets(void **state) {
    (void)state;
    static const uint8_t bytes[] = {0xfb, 0xff, 0xbf};
    _cleanup_free_ char *e = base64_encode(bytes, 3);
    _cleanup_free_ char *u = base64url_encode(bytes, 3);
    assert_string_equal(e, "+/+/");
    assert_string_equal(u, "-_-_");
    expect_decode(base64_decode, "+/+/", (const char *)bytes, 3);
    expect_decode(base64url_decode, "-_-_", (const char *)bytes, 3);
    expect_reject(base64_decode, "-_-_");
    expect_reject(base64url_decode, "+/+/");
}

static void test_base64_rejects(void **state) {
    (void)state;
    expect_reject(base64_decode, "Zg");    /* padding required */
    expect_reject(base64_decode, "Zg=");   /* short padding */
    expect_reject(base64_decode, "Zg==="); /* too much */
    expect_reject(base64_decode, "Z===");  /* one char cannot make a byte */
    expect_reject(base64_decode, "Zh==");  /* non-zero padding bits */
    expect_reject(base64_decode, "Zm9=");  /* non-zero padding bits */
    expect_reject(base64_decode, "Zm 9v"); /* whitespace */
    expect_reject(base64_decode, "Zm9v\n");
    expect_reject(base64_decode, "Zg==Zg=="); /* padding inside */
    expect_reject(base64_decode, "Zm9*");
    expect_reject(base64url_decode, "Z");
    expect_reject(base64url_decode, "Zg="); /* wrong padding */
    expect_reject(base64url_decode, "Zm9v=");
    expect_reject(base64url_decode, "Zh");
    expect_reject(base64url_decode, "Zm=9");
}

static void test_hex(void **state) {
    (void)state;
    static const uint8_t bytes[] = {0x00, 0x01, 0xab, 0xcd, 0xef, 0xff};
    _cleanup_free_ char *h = hex_encode(bytes, sizeof(bytes));
    assert_string_equal(h, "0001abcdefff");
    expect_decode(hex_decode, "0001abcdefff", (const char *)bytes, sizeof(bytes));
    expect_decode(hex_decode, "0001ABCDEFFF", (const char *)bytes, sizeof(bytes));
    expect_decode(hex_decode, "", "", 0);
    expect_reject(hex_decode, "abc");
    expect_reject(hex_decode, "zz");
    expect_reject(hex_decode, "0x00");
    expect_reject(hex_decode, " 00");

    uint8_t fixed[3];
    assert_int_equal(hex_decode_fixed("0a0b0c", fixed, 3), 0);
    assert_int_equal(fixed[2], 0x0c);
    assert_int_equal(hex_decode_fixed("0a0b", fixed, 3), -EINVAL);
    assert_int_equal(hex_decode_fixed("0a0b0c0d", fixed, 3), -EINVAL);
    assert_int_equal(hex_decode_fixed("0a0b0g", fixed, 3), -EINVAL);
}

static void test_roundtrip_all_lengths(void **state) {
    (void)state;
    uint8_t buf[130];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof(buf); n++) {
        _cleanup_free_ char *e = base64_encode(buf, n);
        _cleanup_free_ char *u = base64url_encode(buf, n);
        _cleanup_free_ char *h = hex_encode(buf, n);
        expect_decode(base64_decode, e, (const char *)buf, n);
        expect_decode(base64url_decode, u, (const char *)buf, n);
        expect_decode(hex_decode, h, (const char *)buf, n);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_vectors),        cmocka_unit_test(test_base64_alphabets),
        cmocka_unit_test(test_base64_rejects),        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_roundtrip_all_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
