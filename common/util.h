/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Small helpers every module uses: scope-bound cleanup, overflow-checked size
 * arithmetic, strict number parsing, and the program's exit-code contract.
 */
#ifndef CVM_COMMON_UTIL_H
#define CVM_COMMON_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _unused_       __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_  __attribute__((warn_unused_result))

static inline void freep(void *p) {
    free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}
#define _cleanup_close_ _cleanup_(closep)

/* Generates typep(type *p) that calls func(*p) when *p is set. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
    static inline void func##p(type *p) {                                                          \
        if (*p)                                                                                    \
            func(*p);                                                                              \
    }

/* Hands ownership of a pointer out of a scope whose cleanup would free it. */
#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _taken = (p);                                                                \
        (p) = NULL;                                                                                \
        _taken;                                                                                    \
    })

#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _taken_fd = (fd);                                                                      \
        (fd) = -1;                                                                                 \
        _taken_fd;                                                                                 \
    })

/* Size arithmetic that refuses to wrap: true on success. */
static inline bool size_add(size_t a, size_t b, size_t *ret) {
    return !__builtin_add_overflow(a, b, ret);
}
static inline bool size_mul(size_t a, size_t b, size_t *ret) {
    return !__builtin_mul_overflow(a, b, ret);
}

/*
 * Exit codes, the same for every subcommand (DESIGN.md "Command-line contract").
 */
typedef enum {
    CVM_EXIT_OK = 0,
    CVM_EXIT_REJECTED = 1,  /* evidence, token or policy check failed: the answer is "no" */
    CVM_EXIT_USAGE = 2,     /* usage or configuration error */
    CVM_EXIT_TRANSIENT = 3, /* endpoint or network unavailable after retries */
    CVM_EXIT_PLATFORM = 4,  /* TPM, device or state store failure */
} CvmExit;

/*
 * Maps a negative errno from the lower layers to the exit-code contract.
 * Conventions the modules follow:
 *   -EBADMSG, -EKEYREJECTED, -EACCES, -EPERM, -EPROTONOSUPPORT (malformed or
 *     rejected evidence, failed signature, policy says no)       -> REJECTED
 *   -EINVAL, -ENOENT (of a file the user named), -E2BIG/-EFBIG of
 *     input                                                      -> USAGE
 *   -EAGAIN, -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH, -ENETUNREACH,
 *     -ECONNRESET, -ECONNABORTED (TLS failure), -EPROTO (service
 *     error after retries)                                       -> TRANSIENT
 *   everything else (TPM, device, I/O on the state store)        -> PLATFORM
 * A command that knows better maps its own errors.
 */
CvmExit cvm_exit_from_errno(int r);

/* Strict whole-string parsing: no sign, no trailing junk, range-checked. */
int parse_u64(const char *s, uint64_t max, uint64_t *ret);
int parse_u32(const char *s, uint32_t *ret);
/* "yes/no/true/false/1/0/on/off" */
int parse_bool(const char *s, bool *ret);
/* Durations such as "30", "30s", "500ms", "2m", "1h", "30d"; result in milliseconds. */
int parse_duration_ms(const char *s, uint64_t *ret);

bool streq_ptr(const char *a, const char *b);
static inline bool streq(const char *a, const char *b) {
    return __builtin_strcmp(a, b) == 0;
}
bool startswith(const char *s, const char *prefix);

/* Blanks are ' ', '\t', '\r' and '\n'; a NUL byte is not one (strchr(" \t\r\n", c)
 * would match it). */
static inline bool char_is_blank(int c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
/* The length of s[0, len) without its trailing blanks. */
size_t rstrip_blanks(const void *s, size_t len);
/* Narrows the span s[*start, *end) to drop its leading and trailing blanks. */
void strip_blanks(const void *s, size_t *start, size_t *end);

/* Time helpers (CLOCK_MONOTONIC / CLOCK_REALTIME) in milliseconds. */
uint64_t now_monotonic_ms(void);
/*
 * Parses an RFC 3339 date-time, "2024-05-01T00:00:00Z" or with a "+hh:mm"/
 * "-hh:mm" offset (fractional seconds truncated), to seconds since the epoch.
 * Strict: a real calendar date (leap years included), years 1970-9999, hours
 * 00-23, no leap second, a time not before the epoch. -EINVAL otherwise.
 */
int parse_rfc3339(const char *s, int64_t *ret);
/*
 * The wall-clock time in seconds since the epoch. Verifiers never read the
 * clock themselves: a command resolves "now" once with this and passes the
 * time down, so one run checks everything at one instant and no value of a
 * time field means "now".
 */
int64_t now_realtime_s(void);

#endif
