/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Where TDX evidence comes from inside a TD:
 *   - /dev/tdx_guest TDX_CMD_GET_REPORT0 -> TDREPORT (Linux uapi tdx-guest.h),
 *   - configfs-tsm report entries (provider "tdx_guest") -> TD quote
 *     (Linux Documentation/ABI/testing/configfs-tsm-report),
 *   - Azure: TDREPORT -> POST IMDS /acc/tdquote -> TD quote
 *     (azure-wire-formats.md §5.1).
 * Every path comes from the caller so tests can point them at fakes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/codec.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "tdx/tdx.h"

/*
 * Linux include/uapi/linux/tdx-guest.h (not shipped in Debian 12's 6.1
 * headers): struct tdx_report_req { __u8 reportdata[64]; __u8 tdreport[1024]; }
 * and TDX_CMD_GET_REPORT0 = _IOWR('T', 1, struct tdx_report_req).
 */
struct tdx_report_req {
    uint8_t reportdata[TDX_REPORT_DATA_SIZE];
    uint8_t tdreport[TDX_TDREPORT_SIZE];
};
_Static_assert(sizeof(struct tdx_report_req) == 1088, "tdx_report_req is 1088 bytes");
#define TDX_CMD_GET_REPORT0 _IOWR('T', 1, struct tdx_report_req)
_Static_assert(TDX_CMD_GET_REPORT0 == 0xC4405401u, "TDX_CMD_GET_REPORT0 per uapi");

#define TSM_BUSY_RETRIES 10 /* concurrent writers: bounded retries */

int tdx_guest_get_report(const char *device, const uint8_t report_data[TDX_REPORT_DATA_SIZE],
                         uint8_t ret[TDX_TDREPORT_SIZE]) {
    struct tdx_report_req req = {0};
    if (!device)
        device = TDX_GUEST_DEVICE_DEFAULT;
    _cleanup_close_ int fd = open(device, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return log_debug_errno(-errno, "cannot open '%s': %m", device);
    memcpy(req.reportdata, report_data, TDX_REPORT_DATA_SIZE);
    for (unsigned i = 0;; i++) {
        if (ioctl(fd, TDX_CMD_GET_REPORT0, &req) == 0)
            break;
        int e = errno;
        if ((e == EINTR || e == EBUSY || e == EAGAIN) && i < TSM_BUSY_RETRIES)
            continue;
        return log_debug_errno(-e, "TDX_CMD_GET_REPORT0 on '%s' failed: %m", device);
    }
    memcpy(ret, req.tdreport, TDX_TDREPORT_SIZE);
    explicit_bzero(&req, sizeof(req));
    return 0;
}

/* ---- configfs-tsm ------------------------------------------------------ */

static int read_at(int dirfd, const char *name, uint8_t **ret, size_t *ret_len, size_t max) {
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 4096, len = 0;
    _cleanup_free_ uint8_t *buf = malloc(cap + 1);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (len == cap) {
            if (cap >= max)
                return -EFBIG;
            size_t ncap = cap * 2 > max ? max : cap * 2;
            uint8_t *n = realloc(buf, ncap + 1);
            if (!n)
                return -ENOMEM;
            buf = n;
            cap = ncap;
        }
        ssize_t k = read(fd, buf + len, cap - len);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            break;
        len += (size_t)k;
    }
    buf[len] = 0;
    *ret = TAKE_PTR(buf);
    *ret_len = len;
    return 0;
}

static int read_u64_at(int dirfd, const char *name, uint64_t *ret) {
    _cleanup_free_ uint8_t *b = NULL;
    size_t n = 0;
    int r = read_at(dirfd, name, &b, &n, 64);
    if (r < 0)
        return r;
    while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == ' '))
        b[--n] = 0;
    return parse_u64((const char *)b, UINT64_MAX, ret);
}

static int write_all(int fd, const uint8_t *d, size_t n) {
    while (n > 0) {
        ssize_t k = write(fd, d, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        d += k;
        n -= (size_t)k;
    }
    return 0;
}

/* One attempt in an existing entry directory; -EBUSY when another writer
 * raced us (generation moved by more than our one write). */
static int tsm_attempt(int dfd, const uint8_t report_data[TDX_REPORT_DATA_SIZE], uint8_t **ret,
                       size_t *ret_len) {
    _cleanup_free_ uint8_t *prov = NULL, *out = NULL;
    size_t plen = 0, olen = 0;
    uint64_t gen0 = 0, gen1 = 0;
    int r;

    r = read_at(dfd, "provider", &prov, &plen, 64);
    if (r < 0)
        return log_debug_errno(r, "configfs-tsm: cannot read 'provider': %m");
    while (plen > 0 && prov[plen - 1] == '\n')
        prov[--plen] = 0;
    if (!streq((const char *)prov, "tdx_guest"))
        return log_debug_errno(-ENODEV, "configfs-tsm provider is '%s', not 'tdx_guest'",
                               (const char *)prov);

    _cleanup_close_ int in = openat(dfd, "inblob", O_WRONLY | O_CLOEXEC);
    if (in < 0)
        return log_debug_errno(-errno, "configfs-tsm: cannot open 'inblob': %m");
    if (flock(in, LOCK_EX) < 0)
        return log_debug_errno(-errno, "configfs-tsm: cannot lock 'inblob': %m");
    r = read_u64_at(dfd, "generation", &gen0);
    if (r < 0)
        return log_debug_errno(r, "configfs-tsm: cannot read 'generation'");
    r = write_all(in, report_data, TDX_REPORT_DATA_SIZE);
    if (r < 0)
        return log_debug_errno(r, "configfs-tsm: cannot write 'inblob': %m");
    r = read_at(dfd, "outblob", &out, &olen, TDX_QUOTE_MAX_SIZE);
    if (r < 0)
        return log_debug_errno(r, "configfs-tsm: cannot read 'outblob': %m");
    r = read_u64_at(dfd, "generation", &gen1);
    if (r < 0)
        return log_debug_errno(r, "configfs-tsm: cannot read 'generation'");
    /* one write of ours: the generation moves by exactly one */
    if (gen1 != gen0 + 1)
        return log_debug_errno(
            -EBUSY, "configfs-tsm generation went %llu -> %llu: another writer, retrying",
            (unsigned long long)gen0, (unsigned long long)gen1);
    *ret = TAKE_PTR(out);
    *ret_len = olen;
    return 0;
}

int tdx_configfs_get_quote(const char *tsm_dir, const uint8_t report_data[TDX_REPORT_DATA_SIZE],
                           uint8_t **ret, size_t *ret_len) {
    const char *base = tsm_dir ? tsm_dir : TDX_CONFIGFS_TSM_DEFAULT;
    uint8_t rnd[8];
    char name[64];
    int r;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return -EIO;
    snprintf(name, sizeof(name), "cvm-agent-%d-%02x%02x%02x%02x", (int)getpid(), rnd[0], rnd[1],
             rnd[2], rnd[3]);
    _cleanup_close_ int base_fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (base_fd < 0)
        return log_debug_errno(-errno, "cannot open configfs-tsm directory '%s': %m", base);
    if (mkdirat(base_fd, name, 0700) < 0)
        return log_debug_errno(-errno, "cannot create configfs-tsm entry '%s/%s': %m", base, name);
    _cleanup_close_ int dfd = openat(base_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        r = -errno;
        (void)unlinkat(base_fd, name, AT_REMOVEDIR);
        return r;
    }
    uint8_t *out = NULL;
    size_t olen = 0;
    for (unsigned i = 0;; i++) {
        r = tsm_attempt(dfd, report_data, &out, &olen);
        if (r != -EBUSY || i >= TSM_BUSY_RETRIES)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000 * (long)(i + 1)};
        nanosleep(&ts, NULL);
    }
    /* configfs removes the attributes with the directory */
    (void)unlinkat(base_fd, name, AT_REMOVEDIR);
    if (r < 0)
        return r;

    /* the quote must carry the REPORTDATA we asked for */
    TdxQuote q;
    _cleanup_free_ char *err = NULL;
    r = tdx_quote_parse(out, olen, &q, &err);
    if (r < 0) {
        free(out);
        return log_debug_errno(-EBADMSG, "configfs-tsm outblob is not a TD quote: %s",
                               err ? err : "?");
    }
    if (memcmp(q.body.report_data, report_data, TDX_REPORT_DATA_SIZE) != 0) {
        free(out);
        return log_debug_errno(-EBADMSG,
                               "configfs-tsm quote's REPORTDATA is not the inblob written");
    }
    *ret = out;
    *ret_len = olen;
    return 0;
}

/* ---- Azure IMDS /acc/tdquote ------------------------------------------- */

int tdx_imds_get_quote(const HttpConfig *http, const char *base_url,
                       const uint8_t tdreport[TDX_TDREPORT_SIZE], uint8_t **ret, size_t *ret_len,
                       char **reterr) {
    /* azure-wire-formats.md §5.1: Content-Type exactly application/json (a
     * charset parameter gets HTTP 415), body {"report": base64url(TDREPORT)} */
    static const char *const headers[] = {
        "Content-Type: application/json",
        "Accept: application/json",
        "Metadata: true",
        NULL,
    };
    _cleanup_free_ char *b64 = base64url_encode(tdreport, TDX_TDREPORT_SIZE);
    _cleanup_free_ char *body = NULL, *url = NULL;
    _cleanup_json_ cJSON *resp = NULL;
    HttpResponse hr = {0};
    HttpError he = {0};
    int r;

    if (reterr)
        *reterr = NULL;
    if (!b64)
        return -ENOMEM;
    const char *base = base_url ? base_url : TDX_IMDS_URL_DEFAULT;
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    if (asprintf(&url, "%.*s/acc/tdquote", (int)bl, base) < 0 ||
        asprintf(&body, "{\"report\":\"%s\"}", b64) < 0)
        return -ENOMEM;
    HttpRequest req = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .body = body,
        .body_len = strlen(body),
    };
    r = http_request(http, &req, &hr, &he);
    if (r < 0) {
        if (reterr && asprintf(reterr, "POST '%s': %s", url, http_error_string(&he)) < 0)
            *reterr = NULL;
        http_response_done(&hr);
        http_error_done(&he);
        return r;
    }
    http_error_done(&he);
    r = json_parse(hr.body, hr.body_len, &resp);
    http_response_done(&hr);
    if (r < 0) {
        if (reterr &&
            asprintf(reterr, "IMDS '%s' answered with something other than JSON", url) < 0)
            *reterr = NULL;
        return -EPROTO;
    }
    const char *quote = json_get_string(resp, "quote");
    if (!quote) {
        if (reterr && asprintf(reterr, "IMDS '%s' answer has no \"quote\" string", url) < 0)
            *reterr = NULL;
        return -EPROTO;
    }
    uint8_t *q = NULL;
    size_t ql = 0;
    r = base64url_decode(quote, strlen(quote), &q, &ql);
    if (r < 0)
        r = base64_decode(quote, strlen(quote), &q, &ql); /* tolerate the standard alphabet */
    if (r < 0 || ql == 0 || ql > TDX_QUOTE_MAX_SIZE) {
        free(q);
        if (reterr && asprintf(reterr, "IMDS \"quote\" is not base64url of a TD quote") < 0)
            *reterr = NULL;
        return -EPROTO;
    }
    *ret = q;
    *ret_len = ql;
    return 0;
}
