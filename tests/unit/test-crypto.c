/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Crypto helpers against certificates and signatures made by the openssl CLI,
 * an implementation independent of the code under test.
 */
#include "config.h"

#include <openssl/ecdsa.h>
#include <openssl/pem.h>

#include "tests/unit/test-helpers.h"

#include "common/crypto.h"
#include "common/fileio.h"
#include "common/util.h"

static char dir[] = "/tmp/cvm-test-crypto.XXXXXX";

static int setup(void **state) {
    (void)state;
    char cmd[4096];
    if (!mkdtemp(dir))
        return -1;
    /* root (RSA-PSS signed, as AMD's) -> intermediate -> EC P-384 leaf */
    snprintf(
        cmd, sizeof(cmd),
        "set -e; cd '%s';"
        "printf "
        "'[v3ca]\\nbasicConstraints=critical,CA:true\\nkeyUsage=critical,keyCertSign,cRLSign\\n"
        "[leaf]\\nbasicConstraints=critical,CA:false\\nkeyUsage=critical,digitalSignature\\n' > "
        "ext.cnf;"
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out root.key 2>/dev/null;"
        "openssl req -x509 -new -key root.key -subj /CN=test-root -days 3650 -sha384 "
        "  -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:48 -sigopt rsa_mgf1_md:sha384 "
        "  -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign "
        "  -out root.pem;"
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out int.key 2>/dev/null;"
        "openssl req -new -key int.key -subj /CN=test-int -out int.csr;"
        "openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -CAcreateserial -days 3650 "
        "  -sha384 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:48 "
        "  -sigopt rsa_mgf1_md:sha384 -extfile ext.cnf -extensions v3ca -out int.pem 2>/dev/null;"
        "openssl ecparam -name secp384r1 -genkey -noout -out leaf.key;"
        "openssl req -new -key leaf.key -subj /CN=test-leaf -out leaf.csr;"
        "openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key -CAcreateserial -days 30 "
        "  -sha384 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:48 "
        "  -sigopt rsa_mgf1_md:sha384 -extfile ext.cnf -extensions leaf -out leaf.pem 2>/dev/null;"
        "openssl x509 -in leaf.pem -outform DER -out leaf.der;"
        "openssl ec -in leaf.key -pubout -out leaf.pub.pem 2>/dev/null;"
        "openssl req -x509 -new -key int.key -subj /CN=other-root -days 10 -out other.pem;"
        "printf 'message to sign' > msg;"
        "openssl dgst -sha384 -sign leaf.key -out msg.sig msg",
        dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void load(const char *name, uint8_t **data, size_t *len) {
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    assert_int_equal(read_file(p, FILE_MAX_EVIDENCE, data, len), 0);
}

static X509 *cert(const char *name) {
    _cleanup_free_ uint8_t *d = NULL;
    size_t n;
    X509 *x = NULL;
    load(name, &d, &n);
    assert_int_equal(crypto_load_cert(d, n, &x), 0);
    return x;
}

static void test_digest(void **state) {
    (void)state;
    static const uint8_t abc_sha256[] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                         0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                         0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                         0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    uint8_t out[CRYPTO_MAX_DIGEST];
    size_t n = 0;
    assert_int_equal(crypto_digest("SHA256", "abc", 3, out, &n), 0);
    assert_int_equal(n, 32);
    assert_memory_equal(out, abc_sha256, 32);
    assert_int_equal(crypto_digest("SHA384", "abc", 3, out, &n), 0);
    assert_int_equal(n, 48);
    assert_int_equal(crypto_digest("NO-SUCH-MD", "abc", 3, out, &n), -EOPNOTSUPP);
}

static void test_load(void **state) {
    (void)state;
    _cleanup_free_ uint8_t *pem = NULL, *der = NULL, *pub = NULL;
    size_t pem_len, der_len, pub_len;
    _cleanup_x509_ X509 *a = NULL, *b = NULL;
    _cleanup_pkey_ EVP_PKEY *k1 = NULL, *k2 = NULL;
    load("leaf.pem", &pem, &pem_len);
    load("leaf.der", &der, &der_len);
    load("leaf.pub.pem", &pub, &pub_len);
    assert_int_equal(crypto_load_cert(pem, pem_len, &a), 0);
    assert_int_equal(crypto_load_cert(der, der_len, &b), 0);
    assert_int_equal(X509_cmp(a, b), 0);
    assert_int_equal(crypto_load_pubkey(pub, pub_len, &k1), 0);
    assert_int_equal(crypto_load_pubkey(pem, pem_len, &k2), 0); /* a certificate's key */
    assert_int_equal(EVP_PKEY_eq(k1, k2), 1);
    assert_int_equal(crypto_load_cert("garbage", 7, &a), -EBADMSG);
    der[der_len / 2] ^= 0xff;
    X509 *bad = NULL;
    if (crypto_load_cert(der, der_len, &bad) == 0) /* may still parse: must not verify */
        X509_free(bad);

    uint8_t fp1[32], fp2[32];
    assert_int_equal(crypto_cert_fingerprint(a, fp1), 0);
    assert_int_equal(crypto_cert_fingerprint(b, fp2), 0);
    assert_memory_equal(fp1, fp2, 32);
}

static void test_chain_with_trailing_nuls(void **state) {
    (void)state;
    _cleanup_free_ uint8_t *i = NULL, *r = NULL;
    size_t il, rl;
    load("int.pem", &i, &il);
    load("root.pem", &r, &rl);
    /* as real TDX quotes carry them: two PEMs and a NUL terminator */
    size_t n = il + rl + 3;
    _cleanup_free_ uint8_t *both = calloc(1, n);
    memcpy(both, i, il);
    memcpy(both + il, r, rl);
    _cleanup_x509_stack_ STACK_OF(X509) *chain = NULL;
    assert_int_equal(crypto_load_cert_chain(both, n, &chain), 0);
    assert_int_equal(sk_X509_num(chain), 2);
    _cleanup_x509_stack_ STACK_OF(X509) *none = NULL;
    assert_int_equal(crypto_load_cert_chain("\0\0", 2, &none), -EBADMSG);
}

static void test_verify_chain(void **state) {
    (void)state;
    _cleanup_x509_ X509 *leaf = cert("leaf.pem");
    _cleanup_x509_stack_ STACK_OF(X509) *untrusted = sk_X509_new_null();
    _cleanup_x509_stack_ STACK_OF(X509) *trusted = sk_X509_new_null();
    _cleanup_x509_stack_ STACK_OF(X509) *wrong = sk_X509_new_null();
    _cleanup_free_ char *err = NULL;
    sk_X509_push(untrusted, cert("int.pem"));
    sk_X509_push(trusted, cert("root.pem"));
    sk_X509_push(wrong, cert("other.pem"));
    assert_int_equal(crypto_verify_chain(leaf, untrusted, trusted, now_realtime_s(), NULL), 0);
    /* another root: no */
    assert_int_equal(crypto_verify_chain(leaf, untrusted, wrong, now_realtime_s(), &err),
                     -EKEYREJECTED);
    assert_non_null(err);
    free(TAKE_PTR(err));
    /* missing intermediate: no */
    assert_int_equal(crypto_verify_chain(leaf, NULL, trusted, now_realtime_s(), NULL),
                     -EKEYREJECTED);
    /* long after the leaf expired (2100-01-01): no, and the message says why */
    assert_int_equal(crypto_verify_chain(leaf, untrusted, trusted, 4102444800, &err),
                     -EKEYREJECTED);
    assert_non_null(strstr(err, "expired"));
    free(TAKE_PTR(err));
    /* no time means no check, never "now" */
    assert_int_equal(crypto_verify_chain(leaf, untrusted, trusted, -1, &err), -EINVAL);
}

static void test_signatures(void **state) {
    (void)state;
    _cleanup_free_ uint8_t *msg = NULL, *sig = NULL, *pub = NULL;
    size_t msg_len, sig_len, pub_len;
    _cleanup_pkey_ EVP_PKEY *key = NULL;
    load("msg", &msg, &msg_len);
    load("msg.sig", &sig, &sig_len);
    load("leaf.pub.pem", &pub, &pub_len);
    assert_int_equal(crypto_load_pubkey(pub, pub_len, &key), 0);
    assert_int_equal(crypto_verify(key, "SHA384", msg, msg_len, sig, sig_len), 0);

    /* the same signature as raw r||s, big- and little-endian */
    const unsigned char *p = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
    assert_non_null(es);
    uint8_t r[48], s[48], rle[48], sle[48];
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), r, 48), 48);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), s, 48), 48);
    ECDSA_SIG_free(es);
    assert_int_equal(crypto_ecdsa_verify_raw(key, "SHA384", msg, msg_len, r, s, 48), 0);
    crypto_reverse(rle, r, 48);
    crypto_reverse(sle, s, 48);
    uint8_t rbe[48], sbe[48];
    crypto_reverse(rbe, rle, 48);
    crypto_reverse(sbe, sle, 48);
    assert_int_equal(crypto_ecdsa_verify_raw(key, "SHA384", msg, msg_len, rbe, sbe, 48), 0);

    /* any change to message or signature: no */
    msg[0] ^= 1;
    assert_int_equal(crypto_ecdsa_verify_raw(key, "SHA384", msg, msg_len, r, s, 48), -EKEYREJECTED);
    assert_int_equal(crypto_verify(key, "SHA384", msg, msg_len, sig, sig_len), -EKEYREJECTED);
    msg[0] ^= 1;
    s[47] ^= 1;
    assert_int_equal(crypto_ecdsa_verify_raw(key, "SHA384", msg, msg_len, r, s, 48), -EKEYREJECTED);
    assert_int_equal(crypto_verify(key, "SHA256", msg, msg_len, sig, sig_len), -EKEYREJECTED);
}

static void test_memeq(void **state) {
    (void)state;
    assert_true(crypto_memeq("abc", "abc", 3));
    assert_false(crypto_memeq("abc", "abd", 3));
}

static EVP_PKEY *private_key(const char *name) {
    _cleanup_free_ uint8_t *d = NULL;
    size_t n;
    load(name, &d, &n);
    BIO *b = BIO_new_mem_buf(d, (int)n);
    assert_non_null(b);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(k);
    return k;
}

static ASN1_TIME *asn1_at(int64_t t) {
    ASN1_TIME *a = ASN1_TIME_set(NULL, (time_t)t);
    assert_non_null(a);
    return a;
}

/* A CRL with issuer's name, signed by key; next < 0 = no nextUpdate; a
 * malformed lastUpdate when bad_last. Lists revoke's serial when given. */
static X509_CRL *make_crl(X509 *issuer, EVP_PKEY *key, int64_t last, int64_t next, X509 *revoke,
                          bool bad_last) {
    X509_CRL *crl = X509_CRL_new();
    assert_non_null(crl);
    assert_true(X509_CRL_set_version(crl, X509_CRL_VERSION_2));
    assert_true(X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)));
    ASN1_TIME *t = asn1_at(last);
    if (bad_last)
        assert_true(ASN1_STRING_set(t, "241301000000Z", -1)); /* month 13 */
    assert_true(X509_CRL_set1_lastUpdate(crl, t));
    ASN1_TIME_free(t);
    if (next >= 0) {
        t = asn1_at(next);
        assert_true(X509_CRL_set1_nextUpdate(crl, t));
        ASN1_TIME_free(t);
    }
    if (revoke) {
        X509_REVOKED *rev = X509_REVOKED_new();
        assert_non_null(rev);
        assert_true(
            X509_REVOKED_set_serialNumber(rev, (ASN1_INTEGER *)X509_get0_serialNumber(revoke)));
        t = asn1_at(last);
        assert_true(X509_REVOKED_set_revocationDate(rev, t));
        ASN1_TIME_free(t);
        assert_true(X509_CRL_add0_revoked(crl, rev));
    }
    assert_true(X509_CRL_sort(crl));
    assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
    return crl;
}

static void test_crl(void **state) {
    (void)state;
    _cleanup_x509_ X509 *root = cert("root.pem");
    _cleanup_x509_ X509 *in = cert("int.pem");
    _cleanup_x509_ X509 *leaf = cert("leaf.pem");
    _cleanup_pkey_ EVP_PKEY *root_key = private_key("root.key");
    _cleanup_pkey_ EVP_PKEY *int_key = private_key("int.key");
    const int64_t now = now_realtime_s(), day = 86400;
    const char *why = NULL;

    /* current and clean, then listing the intermediate */
    _cleanup_crl_ X509_CRL *clean = make_crl(root, root_key, now - day, now + day, NULL, false);
    assert_int_equal(crypto_crl_check(clean, root, now, 0, false, &why), 0);
    assert_false(crypto_crl_lists(clean, in));
    _cleanup_crl_ X509_CRL *revoked = make_crl(root, root_key, now - day, now + day, in, false);
    assert_int_equal(crypto_crl_check(revoked, root, now, 0, false, &why), 0);
    assert_true(crypto_crl_lists(revoked, in));
    assert_false(crypto_crl_lists(revoked, leaf));
    /* DER round trip through the loader */
    unsigned char *der = NULL;
    int der_len = i2d_X509_CRL(revoked, &der);
    assert_true(der_len > 0);
    _cleanup_crl_ X509_CRL *loaded = NULL;
    assert_int_equal(crypto_load_crl(der, (size_t)der_len, &loaded), 0);
    assert_true(crypto_crl_lists(loaded, in));
    OPENSSL_free(der);
    assert_int_equal(crypto_load_crl("not a CRL", 9, &loaded), -EBADMSG);

    /* time: after nextUpdate, before lastUpdate (unless a newer CRL is fine) */
    assert_int_equal(crypto_crl_check(clean, root, now + 2 * day, 0, false, &why), -ESTALE);
    assert_int_equal(crypto_crl_check(clean, root, now - 2 * day, 0, false, &why), -ESTALE);
    assert_int_equal(crypto_crl_check(clean, root, now - 2 * day, 0, true, &why), 0);
    assert_int_equal(crypto_crl_check(clean, root, -1, 0, false, &why), -EINVAL);

    /* no nextUpdate: current only for max_age after lastUpdate */
    _cleanup_crl_ X509_CRL *open_ended = make_crl(root, root_key, now - day, -1, NULL, false);
    assert_int_equal(crypto_crl_check(open_ended, root, now, 2 * day, false, &why), 0);
    assert_int_equal(crypto_crl_check(open_ended, root, now, day / 2, false, &why), -ESTALE);
    assert_non_null(strstr(why, "maximum age"));
    assert_int_equal(crypto_crl_check(open_ended, root, now, -1, false, &why), -ESTALE);

    /* another issuer, or the right name with another key's signature */
    assert_int_equal(crypto_crl_check(clean, in, now, 0, false, &why), -EKEYREJECTED);
    _cleanup_crl_ X509_CRL *forged = make_crl(root, int_key, now - day, now + day, NULL, false);
    assert_int_equal(crypto_crl_check(forged, root, now, 0, false, &why), -EKEYREJECTED);

    /* a lastUpdate that does not parse fails closed, never compares "equal" */
    _cleanup_crl_ X509_CRL *bad_time = make_crl(root, root_key, now - day, now + day, NULL, true);
    int64_t t;
    assert_int_equal(crypto_asn1_time_to_epoch(X509_CRL_get0_lastUpdate(bad_time), &t), -EBADMSG);
    assert_int_equal(crypto_crl_check(bad_time, root, now, 0, false, &why), -EBADMSG);
    assert_int_equal(crypto_asn1_time_to_epoch(X509_CRL_get0_nextUpdate(clean), &t), 0);
    assert_true(t == now + day);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_chain_with_trailing_nuls),
        cmocka_unit_test(test_verify_chain),
        cmocka_unit_test(test_signatures),
        cmocka_unit_test(test_memeq),
        cmocka_unit_test(test_crl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
