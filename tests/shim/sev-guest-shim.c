/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * LD_PRELOAD shim that plays the kernel for the SNP guest interfaces in
 * tests (there is no /dev/sev-guest or configfs here):
 *
 *  - ioctl(SNP_GET_REPORT / SNP_GET_EXT_REPORT) on any fd: answers with a
 *    MSG_REPORT_RSP whose report is CVM_SHIM_REPORT (a 1184-byte template)
 *    with the caller's user_data and VMPL, re-signed with the P-384 key in
 *    CVM_SHIM_KEY (PEM). EXT: the cert table in CVM_SHIM_CERTS; a too-small
 *    buffer gets vmm_error INVALID_LEN and the needed length, as the kernel.
 *  - configfs-tsm under CVM_SHIM_TSM_ROOT: mkdir populates the entry
 *    (provider, generation, inblob, privlevel, privlevel_floor); opening
 *    outblob produces the signed report for inblob/privlevel and auxblob
 *    (the cert table), and sets generation to the number of writes (plus
 *    CVM_SHIM_TSM_RACE, to play a concurrent writer); rmdir removes it all.
 *
 * Uapi layouts: include/uapi/linux/sev-guest.h (tee-formats §1.7, §1.8).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define REPORT_SIZE 0x4A0
#define SIGNED_SIZE 0x2A0

struct req_abi {
    uint8_t user_data[64];
    uint32_t vmpl;
    uint8_t rsvd[28];
};
struct ext_req_abi {
    struct req_abi data;
    uint64_t certs_address;
    uint32_t certs_len;
};
struct guest_ioctl_abi {
    uint8_t msg_version;
    uint64_t req_data;
    uint64_t resp_data;
    uint64_t exitinfo2;
};

static int slurp(const char *path, uint8_t **ret, size_t *ret_len) {
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        return -1;
    uint8_t *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    if (!buf)
        return -1;
    *ret = buf;
    *ret_len = n;
    return 0;
}

/* The template with user_data and vmpl, signed with CVM_SHIM_KEY. */
static int make_report(const uint8_t user_data[64], uint32_t vmpl, uint8_t out[REPORT_SIZE]) {
    uint8_t *tmpl = NULL;
    size_t n = 0;
    if (slurp(getenv("CVM_SHIM_REPORT"), &tmpl, &n) < 0 || n < REPORT_SIZE) {
        free(tmpl);
        return -1;
    }
    memcpy(out, tmpl, REPORT_SIZE);
    free(tmpl);
    memcpy(out + 0x50, user_data, 64);
    for (int i = 0; i < 4; i++)
        out[0x30 + i] = (uint8_t)(vmpl >> (8 * i));
    out[0x48] = 0; /* signed by the VCEK */
    FILE *kf = fopen(getenv("CVM_SHIM_KEY") ? getenv("CVM_SHIM_KEY") : "", "r");
    if (!kf)
        return -1;
    EVP_PKEY *key = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
    fclose(kf);
    if (!key)
        return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[256];
    size_t dlen = sizeof(der);
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha384(), NULL, key) == 1 &&
             EVP_DigestSign(ctx, der, &dlen, out, SIGNED_SIZE) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    if (!ok)
        return -1;
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
    if (!sig)
        return -1;
    uint8_t be[48];
    memset(out + SIGNED_SIZE, 0, REPORT_SIZE - SIGNED_SIZE);
    const BIGNUM *bn[2] = {ECDSA_SIG_get0_r(sig), ECDSA_SIG_get0_s(sig)};
    for (int k = 0; k < 2; k++) {
        BN_bn2binpad(bn[k], be, 48);
        for (int i = 0; i < 48; i++) /* little-endian, zero-extended to 72 */
            out[SIGNED_SIZE + 72 * k + i] = be[47 - i];
    }
    ECDSA_SIG_free(sig);
    return 0;
}

int ioctl(int fd, unsigned long request, ...) {
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (request != 0xC0205300ul && request != 0xC0205302ul) {
        int (*real)(int, unsigned long, ...) =
            (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
        return real(fd, request, arg);
    }
    struct guest_ioctl_abi *g = arg;
    if (!g || g->msg_version == 0) {
        errno = EINVAL;
        return -1;
    }
    const struct req_abi *req = (const struct req_abi *)(uintptr_t)g->req_data;
    uint8_t *resp = (uint8_t *)(uintptr_t)g->resp_data;
    if (request == 0xC0205302ul) {
        struct ext_req_abi *ext = (struct ext_req_abi *)(uintptr_t)g->req_data;
        uint8_t *certs = NULL;
        size_t clen = 0;
        if (slurp(getenv("CVM_SHIM_CERTS"), &certs, &clen) == 0 && ext->certs_len &&
            ext->certs_address) {
            size_t need = (clen + 4095) & ~(size_t)4095;
            if (getenv("CVM_SHIM_CERTS_MIN"))
                need = need > (size_t)atoi(getenv("CVM_SHIM_CERTS_MIN"))
                           ? need
                           : (size_t)atoi(getenv("CVM_SHIM_CERTS_MIN"));
            if (ext->certs_len < need) {
                ext->certs_len = (uint32_t)need;
                g->exitinfo2 = 0x100000000ull; /* SNP_GUEST_VMM_ERR_INVALID_LEN */
                free(certs);
                errno = EIO;
                return -1;
            }
            memcpy((void *)(uintptr_t)ext->certs_address, certs, clen);
        }
        free(certs);
    }
    memset(resp, 0, 4000);
    if (make_report(req->user_data, req->vmpl, resp + 0x20) < 0) {
        g->exitinfo2 = 0xff;
        errno = EIO;
        return -1;
    }
    resp[4] = REPORT_SIZE & 0xff; /* report_size */
    resp[5] = REPORT_SIZE >> 8;
    g->exitinfo2 = 0;
    return 0;
}

/* ---- configfs-tsm ---- */

static int under_root(const char *path) {
    const char *root = getenv("CVM_SHIM_TSM_ROOT");
    size_t n = root ? strlen(root) : 0;
    return n && strncmp(path, root, n) == 0 && path[n] == '/';
}

static void put(const char *dir, const char *name, const void *data, size_t len) {
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (f) {
        if (len)
            fwrite(data, 1, len, f);
        fclose(f);
    }
}

int mkdir(const char *path, mode_t mode) {
    int (*real)(const char *, mode_t) = (int (*)(const char *, mode_t))dlsym(RTLD_NEXT, "mkdir");
    int r = real(path, mode);
    if (r == 0 && under_root(path)) {
        const char *prov =
            getenv("CVM_SHIM_TSM_PROVIDER") ? getenv("CVM_SHIM_TSM_PROVIDER") : "sev_guest";
        char line[64];
        int n = snprintf(line, sizeof(line), "%s\n", prov);
        put(path, "provider", line, (size_t)n);
        put(path, "generation", "0\n", 2);
        put(path, "privlevel_floor", "0\n", 2);
        put(path, "inblob", "", 0);
        put(path, "privlevel", "", 0);
    }
    return r;
}

static void serve_outblob(const char *path) {
    char dir[4096], p[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return;
    *slash = '\0';
    uint8_t *in = NULL, *lvl = NULL;
    size_t inlen = 0, lvllen = 0;
    unsigned writes = 0;
    uint8_t data[64] = {0};
    uint32_t vmpl = 0;
    snprintf(p, sizeof(p), "%s/inblob", dir);
    if (slurp(p, &in, &inlen) == 0 && inlen) {
        memcpy(data, in, inlen > 64 ? 64 : inlen);
        writes++;
    }
    snprintf(p, sizeof(p), "%s/privlevel", dir);
    if (slurp(p, &lvl, &lvllen) == 0 && lvllen) {
        char s[16] = {0};
        memcpy(s, lvl, lvllen < 15 ? lvllen : 15);
        vmpl = (uint32_t)atoi(s);
        writes++;
    }
    free(in);
    free(lvl);
    uint8_t rep[REPORT_SIZE];
    if (make_report(data, vmpl, rep) < 0)
        return;
    put(dir, "outblob", rep, sizeof(rep));
    uint8_t *certs = NULL;
    size_t clen = 0;
    if (slurp(getenv("CVM_SHIM_CERTS"), &certs, &clen) == 0)
        put(dir, "auxblob", certs, clen);
    free(certs);
    char gen[32];
    unsigned race = getenv("CVM_SHIM_TSM_RACE") ? (unsigned)atoi(getenv("CVM_SHIM_TSM_RACE")) : 0;
    int n = snprintf(gen, sizeof(gen), "%u\n", writes + race);
    put(dir, "generation", gen, (size_t)n);
}

static int is_outblob(const char *path) {
    size_t n = strlen(path);
    return under_root(path) && n > 8 && strcmp(path + n - 8, "/outblob") == 0;
}

int open(const char *path, int flags, ...) {
    int (*real)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (is_outblob(path))
        serve_outblob(path);
    return real(path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    int (*real)(const char *, int, ...) =
        (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open64");
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (is_outblob(path))
        serve_outblob(path);
    return real(path, flags, mode);
}

int rmdir(const char *path) {
    int (*real)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "rmdir");
    if (under_root(path)) {
        static const char *const names[] = {"provider",  "generation", "privlevel_floor", "inblob",
                                            "privlevel", "outblob",    "auxblob"};
        char p[4096];
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            snprintf(p, sizeof(p), "%s/%s", path, names[i]);
            unlink(p);
        }
    }
    return real(path);
}
