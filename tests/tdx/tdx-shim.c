/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * LD_PRELOAD shim standing in for the TDX guest kernel interfaces in tests:
 *   ioctl(TDX_CMD_GET_REPORT0): fills the TDREPORT from $TDX_SHIM_TDREPORT with
 *     the caller's REPORTDATA copied to offset 0x80, and logs the request to
 *     $TDX_SHIM_LOG (checks the ABI: request number and 1088-byte struct);
 *   configfs-tsm under $TDX_SHIM_TSM: mkdir creates the attributes the kernel
 *     would (provider, generation, inblob, outblob); opening outblob produces
 *     $TDX_SHIM_QUOTE and bumps generation by 1 + $TDX_SHIM_EXTRA_GEN (a
 *     simulated concurrent writer); rmdir removes the attributes.
 * Built without sanitizers; plain libc only.
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

#define SHIM_GET_REPORT0 0xC4405401UL /* _IOWR('T', 1, 1088-byte struct) */

static void shim_log(const char *fmt, ...) {
    const char *p = getenv("TDX_SHIM_LOG");
    if (!p)
        return;
    FILE *f = fopen(p, "a");
    if (!f)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

static size_t slurp(const char *path, uint8_t *buf, size_t max) {
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        return 0;
    size_t n = fread(buf, 1, max, f);
    fclose(f);
    return n;
}

static void put(const char *dir, const char *name, const void *d, size_t n) {
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f)
        return;
    fwrite(d, 1, n, f);
    fclose(f);
}

int ioctl(int fd, unsigned long req, ...) {
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (req == SHIM_GET_REPORT0) {
        uint8_t *r = arg; /* reportdata[64] then tdreport[1024] */
        uint8_t rep[1024] = {0};
        if (slurp(getenv("TDX_SHIM_TDREPORT"), rep, sizeof(rep)) != sizeof(rep)) {
            errno = EIO;
            return -1;
        }
        memcpy(rep + 0x80, r, 64);
        memcpy(r + 64, rep, sizeof(rep));
        char hex[129];
        for (int i = 0; i < 64; i++)
            snprintf(hex + 2 * i, 3, "%02x", r[i]);
        shim_log("ioctl 0x%lx reportdata %s", req, hex);
        return 0;
    }
    int (*real)(int, unsigned long, ...) =
        (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
    return real(fd, req, arg);
}

/* the path of dirfd/name, when it lies under $TDX_SHIM_TSM */
static int tsm_path(int dirfd, const char *name, char *out, size_t n) {
    const char *tsm = getenv("TDX_SHIM_TSM");
    char base[4096] = "";
    if (!tsm)
        return -1;
    if (name[0] == '/')
        snprintf(out, n, "%s", name);
    else {
        char link[64];
        if (dirfd == AT_FDCWD) {
            if (!getcwd(base, sizeof(base)))
                return -1;
        } else {
            snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
            ssize_t k = readlink(link, base, sizeof(base) - 1);
            if (k < 0)
                return -1;
            base[k] = 0;
        }
        snprintf(out, n, "%s/%s", base, name);
    }
    return strncmp(out, tsm, strlen(tsm)) == 0 ? 0 : -1;
}

int mkdirat(int dirfd, const char *name, mode_t mode) {
    int (*real)(int, const char *, mode_t) =
        (int (*)(int, const char *, mode_t))dlsym(RTLD_NEXT, "mkdirat");
    char p[4096];
    int r = real(dirfd, name, mode);
    if (r == 0 && tsm_path(dirfd, name, p, sizeof(p)) == 0) {
        const char *prov = getenv("TDX_SHIM_PROVIDER");
        if (!prov)
            prov = "tdx_guest";
        char pl[64];
        snprintf(pl, sizeof(pl), "%s\n", prov);
        put(p, "provider", pl, strlen(pl));
        put(p, "generation", "7\n", 2);
        put(p, "inblob", "", 0);
        put(p, "outblob", "", 0);
        shim_log("mkdir %s", strrchr(p, '/') + 1);
    }
    return r;
}

static void fake_outblob(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return;
    *slash = 0;
    static uint8_t q[65536];
    uint8_t in[128] = {0};
    char p[4096], g[32] = "0";
    snprintf(p, sizeof(p), "%s/inblob", dir);
    size_t inl = slurp(p, in, sizeof(in));
    size_t ql = slurp(getenv("TDX_SHIM_QUOTE"), q, sizeof(q));
    put(dir, "outblob", q, ql);
    snprintf(p, sizeof(p), "%s/generation", dir);
    slurp(p, (uint8_t *)g, sizeof(g) - 1);
    long gen = strtol(g, NULL, 10) + 1;
    const char *extra = getenv("TDX_SHIM_EXTRA_GEN");
    if (extra)
        gen += strtol(extra, NULL, 10);
    snprintf(g, sizeof(g), "%ld\n", gen);
    put(dir, "generation", g, strlen(g));
    shim_log("outblob inblob-bytes %zu quote-bytes %zu generation %ld", inl, ql, gen);
}

int openat(int dirfd, const char *name, int flags, ...) {
    int (*real)(int, const char *, int, ...) =
        (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    char p[4096];
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (strcmp(base, "outblob") == 0 && tsm_path(dirfd, name, p, sizeof(p)) == 0)
        fake_outblob(p);
    return real(dirfd, name, flags, mode);
}

int unlinkat(int dirfd, const char *name, int flags) {
    int (*real)(int, const char *, int) =
        (int (*)(int, const char *, int))dlsym(RTLD_NEXT, "unlinkat");
    char p[4096];
    if ((flags & AT_REMOVEDIR) && tsm_path(dirfd, name, p, sizeof(p)) == 0) {
        static const char *const attrs[] = {"provider", "generation", "inblob", "outblob"};
        for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
            char f[4200];
            snprintf(f, sizeof(f), "%s/%s", p, attrs[i]);
            unlink(f);
        }
        shim_log("rmdir %s", strrchr(p, '/') + 1);
    }
    return real(dirfd, name, flags);
}
