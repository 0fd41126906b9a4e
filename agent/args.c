/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Files, hex values, anchors and times named on the command line (args.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "agent/args.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/log.h"

int agent_read_file(const char *what, const char *path, uint8_t **ret, size_t *ret_len) {
    int r = read_file(path, FILE_MAX_EVIDENCE, ret, ret_len);
    if (r == -ENOMEM)
        return log_error_errno(r, "out of memory reading %s '%s'", what, path);
    if (r == -EFBIG)
        return log_error_errno(-EINVAL, "%s '%s' is %s; is it the right file?", what, path,
                               file_error_string(r, FILE_MAX_EVIDENCE));
    if (r < 0)
        return log_error_errno(-EINVAL, "cannot read %s '%s': %s", what, path,
                               file_error_string(r, FILE_MAX_EVIDENCE));
    return 0;
}

int agent_read_token(const char *path, uint8_t **ret, size_t *ret_len) {
    int r = agent_read_file("token", path, ret, ret_len);
    if (r < 0)
        return r;
    *ret_len = rstrip_blanks(*ret, *ret_len);
    (*ret)[*ret_len] = '\0'; /* still NUL-terminated, as agent_read_file's */
    return 0;
}

int agent_parse_hex(const char *opt, const char *s, uint8_t *out, size_t max, bool exact,
                    size_t *ret_len) {
    _cleanup_free_ uint8_t *b = NULL;
    size_t n = 0;
    if (hex_decode(s, strlen(s), &b, &n) < 0 || n == 0 || n > max || (exact && n != max))
        return log_error_errno(-EINVAL, "%s wants %s%zu bytes of hex, not '%s'", opt,
                               exact ? "" : "1 to ", max, s);
    memcpy(out, b, n);
    if (ret_len)
        *ret_len = n;
    return 0;
}

int agent_move_certs(STACK_OF(X509) * to, STACK_OF(X509) * from) {
    while (sk_X509_num(from) > 0) {
        X509 *c = sk_X509_shift(from);
        if (!sk_X509_push(to, c)) {
            X509_free(c);
            return -ENOMEM;
        }
    }
    return 0;
}

int agent_load_anchors(const char *const *paths, STACK_OF(X509) * *ret) {
    _cleanup_x509_stack_ STACK_OF(X509) *all = NULL;
    for (const char *const *a = paths; a && *a; a++) {
        _cleanup_free_ uint8_t *d = NULL;
        _cleanup_x509_stack_ STACK_OF(X509) *certs = NULL;
        size_t n = 0;
        int r = agent_read_file("trust anchor", *a, &d, &n);
        if (r < 0)
            return r;
        if (!all && !(all = sk_X509_new_null()))
            return -ENOMEM;
        if (crypto_load_cert_chain(d, n, &certs) < 0) {
            X509 *one = NULL;
            if (crypto_load_cert(d, n, &one) < 0)
                return log_error_errno(-EINVAL,
                                       "trust anchor '%s' holds no certificate (PEM or DER)", *a);
            if (!sk_X509_push(all, one)) {
                X509_free(one);
                return -ENOMEM;
            }
            continue;
        }
        if (agent_move_certs(all, certs) < 0)
            return -ENOMEM;
    }
    *ret = TAKE_PTR(all);
    return 0;
}

char *agent_trust_anchor_string(const STACK_OF(X509) * anchors) {
    int n = anchors ? sk_X509_num(anchors) : 0;
    if (n <= 0)
        return strdup("production");
    char *s = strdup("non-production: ");
    for (int i = 0; s && i < n; i++) {
        char subject[256];
        char *next = NULL;
        X509_NAME_oneline(X509_get_subject_name(sk_X509_value(anchors, i)), subject,
                          sizeof(subject));
        if (asprintf(&next, "%s%s%s", s, i ? "; " : "", subject) < 0)
            next = NULL;
        free(s);
        s = next;
    }
    return s;
}

void agent_announce_anchors(const char *description) {
    /* log_internal, not log_warning: the level check is what -q raises */
    log_internal(LOG_WARNING, 0,
                 "trust anchor in use is %s: a 'verified' here is not vouched for by "
                 "AMD or Intel",
                 description);
}

void agent_format_time(int64_t t, char buf[static 32]) {
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, 32, "@%lld", (long long)t);
}
