/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fresh reports from inside the guest: the /dev/sev-guest ioctls and
 * configfs-tsm. Paths are parameters so tests can serve them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/bytes.h"
#include "common/fileio.h"
#include "common/log.h"
#include "snp/snp.h"

/*
 * Linux uapi include/uapi/linux/sev-guest.h (ABI stable since v5.19), defined
 * here because the installed header's SNP_GUEST_VMM_ERR() does not compile in
 * userspace (tee-formats §1.7; sizes checked below).
 */
struct snp_report_req_abi {
    uint8_t user_data[64];
    uint32_t vmpl;
    uint8_t rsvd[28];
};

struct snp_ext_report_req_abi {
    struct snp_report_req_abi data;
    uint64_t certs_address;
    uint32_t certs_len;
};

struct snp_guest_request_ioctl_abi {
    uint8_t msg_version; /* must be non-zero */
    uint64_t req_data;
    uint64_t resp_data;
    uint64_t exitinfo2; /* fw_error in the low 32 bits, vmm_error in the high */
};

_Static_assert(sizeof(struct snp_report_req_abi) == 96, "snp_report_req is 96 bytes");
_Static_assert(sizeof(struct snp_ext_report_req_abi) == 112, "snp_ext_report_req is 112 bytes");
_Static_assert(sizeof(struct snp_guest_request_ioctl_abi) == 32,
               "snp_guest_request_ioctl is 32 bytes");

/* _IOWR('S', 0x0 / 0x2, struct snp_guest_request_ioctl) */
#define SNP_GET_REPORT_IOCTL     _IOWR('S', 0x0, struct snp_guest_request_ioctl_abi)
#define SNP_GET_EXT_REPORT_IOCTL _IOWR('S', 0x2, struct snp_guest_request_ioctl_abi)
_Static_assert(SNP_GET_REPORT_IOCTL == 0xC0205300u, "SNP_GET_REPORT");
_Static_assert(SNP_GET_EXT_REPORT_IOCTL == 0xC0205302u, "SNP_GET_EXT_REPORT");

#define SNP_RESP_SIZE           4000u /* struct snp_report_resp */
#define SNP_MSG_REPORT_RSP_HDR  0x20u /* status, report_size, reserved (SNP ABI Table 25) */
#define SNP_VMM_ERR_INVALID_LEN 1u    /* SNP_GUEST_VMM_ERR_INVALID_LEN */
#define SNP_GUEST_MSG_VERSION   1u
#define SNP_CERTS_INITIAL       (4u * 4096u)
#define SNP_CERTS_MAX           (64u * 4096u)

/* MSG_REPORT_RSP: u32 status, u32 report_size, reserved to 0x20, report. */
static int parse_report_resp(const uint8_t *resp, uint8_t **ret, size_t *ret_len) {
    ByteReader br;
    br_init(&br, resp, SNP_RESP_SIZE);
    uint32_t status = br_u32le(&br);
    uint32_t size = br_u32le(&br);
    if (status != 0) {
        log_debug("MSG_REPORT_RSP status 0x%x", status);
        return -EIO;
    }
    if (size < SNP_REPORT_SIZE || size > SNP_RESP_SIZE - SNP_MSG_REPORT_RSP_HDR)
        return -EBADMSG;
    br_seek(&br, SNP_MSG_REPORT_RSP_HDR);
    const uint8_t *p = br_take(&br, SNP_REPORT_SIZE);
    if (!p)
        return -EBADMSG;
    uint8_t *copy = malloc(SNP_REPORT_SIZE);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, p, SNP_REPORT_SIZE);
    *ret = copy;
    *ret_len = SNP_REPORT_SIZE;
    return 0;
}

int snp_guest_get_report(const char *dev, const uint8_t report_data[64], uint32_t vmpl,
                         uint8_t **ret_report, size_t *ret_len, uint8_t **ret_certs,
                         size_t *ret_certs_len) {
    _cleanup_close_ int fd = -1;
    _cleanup_free_ uint8_t *resp = NULL;
    _cleanup_free_ uint8_t *certs = NULL;
    struct snp_ext_report_req_abi req = {0};
    struct snp_guest_request_ioctl_abi g = {0};
    size_t certs_len = SNP_CERTS_INITIAL;
    int r;

    if (vmpl > 3)
        return -EINVAL;
    if (!dev)
        dev = SNP_SEV_GUEST_DEVICE;
    fd = open(dev, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        return log_debug_errno(r, "cannot open '%s': %m", dev), r;
    }
    resp = calloc(1, SNP_RESP_SIZE);
    if (!resp)
        return -ENOMEM;
    memcpy(req.data.user_data, report_data, 64);
    req.data.vmpl = vmpl;

    for (int attempt = 0;; attempt++) {
        g = (struct snp_guest_request_ioctl_abi){
            .msg_version = SNP_GUEST_MSG_VERSION,
            .req_data = (uint64_t)(uintptr_t)&req,
            .resp_data = (uint64_t)(uintptr_t)resp,
        };
        if (ret_certs) {
            free(certs);
            certs = NULL;
            /* page-aligned, as the kernel maps it (sev-guest.rst) */
            if (posix_memalign((void **)&certs, 4096, certs_len) != 0)
                return -ENOMEM;
            memset(certs, 0, certs_len);
            req.certs_address = (uint64_t)(uintptr_t)certs;
            req.certs_len = (uint32_t)certs_len;
            r = ioctl(fd, SNP_GET_EXT_REPORT_IOCTL, &g);
        } else
            r = ioctl(fd, SNP_GET_REPORT_IOCTL, &g);
        if (r == 0)
            break;
        r = -errno;
        uint32_t vmm_error = (uint32_t)(g.exitinfo2 >> 32), fw_error = (uint32_t)g.exitinfo2;
        if (ret_certs && vmm_error == SNP_VMM_ERR_INVALID_LEN && attempt < 2 &&
            req.certs_len > certs_len && req.certs_len <= SNP_CERTS_MAX) {
            certs_len = req.certs_len; /* the kernel says how much it needs */
            continue;
        }
        log_debug("%s on '%s' failed: %s (fw_error 0x%x, vmm_error 0x%x)",
                  ret_certs ? "SNP_GET_EXT_REPORT" : "SNP_GET_REPORT", dev, strerror(-r), fw_error,
                  vmm_error);
        return r;
    }
    r = parse_report_resp(resp, ret_report, ret_len);
    if (r < 0)
        return r;
    if (ret_certs) {
        /* the table ends with an all-zero entry; keep what the kernel filled */
        *ret_certs = TAKE_PTR(certs);
        *ret_certs_len = certs_len;
    }
    return 0;
}

/* ---- configfs-tsm (Documentation/ABI/testing/configfs-tsm-report) ---- */

static int write_attr(const char *dir, const char *name, const void *data, size_t len) {
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return -ENOMEM;
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, data, len);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

static int read_attr(const char *dir, const char *name, size_t max, uint8_t **ret,
                     size_t *ret_len) {
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return -ENOMEM;
    return read_file(path, max, ret, ret_len);
}

static int read_generation(const char *dir, uint64_t *ret) {
    _cleanup_free_ uint8_t *d = NULL;
    size_t n = 0;
    int r = read_attr(dir, "generation", 64, &d, &n);
    if (r < 0)
        return r;
    while (n > 0 && (d[n - 1] == '\n' || d[n - 1] == '\0'))
        d[--n] = '\0';
    return parse_u64((const char *)d, UINT64_MAX, ret) < 0 ? -EBADMSG : 0;
}

static int tsm_once(const char *root, const uint8_t report_data[64], uint32_t vmpl,
                    uint8_t **ret_report, size_t *ret_len, uint8_t **ret_aux, size_t *ret_aux_len,
                    char **ret_provider) {
    char dir[4096];
    uint8_t rnd[8];
    uint64_t gen0 = 0, gen1 = 0, writes = 0;
    _cleanup_free_ uint8_t *prov = NULL, *out = NULL, *aux = NULL;
    size_t plen = 0, olen = 0, alen = 0;
    int r;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return -EIO;
    snprintf(dir, sizeof(dir), "%s/cvm-agent-%d-%02x%02x%02x%02x%02x%02x%02x%02x", root,
             (int)getpid(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    if (mkdir(dir, 0700) < 0) {
        r = -errno;
        return log_debug_errno(r, "cannot create '%s': %m", dir), r;
    }

    r = read_attr(dir, "provider", 256, &prov, &plen);
    if (r < 0)
        goto out;
    while (plen > 0 && (prov[plen - 1] == '\n' || prov[plen - 1] == '\0'))
        prov[--plen] = '\0';
    if (strcmp((const char *)prov, "sev_guest") != 0) {
        log_debug("configfs-tsm provider is '%s', not sev_guest", (const char *)prov);
        r = -ENODEV;
        goto out;
    }
    r = read_generation(dir, &gen0);
    if (r < 0)
        goto out;
    if (vmpl > 0) {
        char lvl[8];
        int n = snprintf(lvl, sizeof(lvl), "%u", vmpl);
        r = write_attr(dir, "privlevel", lvl, (size_t)n);
        if (r < 0)
            goto out;
        writes++;
    }
    r = write_attr(dir, "inblob", report_data, 64);
    if (r < 0)
        goto out;
    writes++;
    r = read_attr(dir, "outblob", FILE_MAX_EVIDENCE, &out, &olen);
    if (r < 0)
        goto out;
    if (ret_aux) {
        r = read_attr(dir, "auxblob", FILE_MAX_EVIDENCE, &aux, &alen);
        if (r == -ENOENT)
            r = 0; /* optional */
        if (r < 0)
            goto out;
    }
    r = read_generation(dir, &gen1);
    if (r < 0)
        goto out;
    if (gen1 != gen0 + writes) {
        /* another writer changed the entry between our writes and reads */
        log_debug("configfs-tsm generation went %llu -> %llu for %llu writes",
                  (unsigned long long)gen0, (unsigned long long)gen1, (unsigned long long)writes);
        r = -EBUSY;
        goto out;
    }
    if (olen < SNP_REPORT_SIZE) {
        r = -EBADMSG;
        goto out;
    }
    *ret_report = TAKE_PTR(out);
    *ret_len = olen;
    if (ret_aux) {
        *ret_aux = TAKE_PTR(aux);
        *ret_aux_len = alen;
    }
    if (ret_provider)
        *ret_provider = (char *)TAKE_PTR(prov);
    r = 0;
out:
    if (rmdir(dir) < 0)
        log_debug("cannot remove '%s': %m, ignoring", dir);
    return r;
}

int snp_tsm_get_report(const char *root, const uint8_t report_data[64], uint32_t vmpl,
                       uint8_t **ret_report, size_t *ret_len, uint8_t **ret_aux,
                       size_t *ret_aux_len, char **ret_provider) {
    int r = -EBUSY;
    if (vmpl > 3)
        return -EINVAL;
    if (!root)
        root = SNP_CONFIGFS_TSM;
    /* bounded retries when a concurrent writer interferes */
    for (int attempt = 0; attempt < 3 && r == -EBUSY; attempt++)
        r = tsm_once(root, report_data, vmpl, ret_report, ret_len, ret_aux, ret_aux_len,
                     ret_provider);
    return r;
}
