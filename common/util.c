/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "util.h"

CvmExit cvm_exit_from_errno(int r) {
    if (r >= 0)
        return CVM_EXIT_OK;
    switch (-r) {
    case EBADMSG:
    case EKEYREJECTED:
    case EKEYEXPIRED:
    case EKEYREVOKED:
    case EACCES:
    case EPERM:
    case EPROTONOSUPPORT: return CVM_EXIT_REJECTED;
    case EINVAL:
    case ENOENT:
    case E2BIG:
    case ENAMETOOLONG: return CVM_EXIT_USAGE;
    case EAGAIN:
    case ETIMEDOUT:
    case ECONNREFUSED:
    case ECONNRESET:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EPROTO: return CVM_EXIT_TRANSIENT;
    default: return CVM_EXIT_PLATFORM;
    }
}

int parse_u64(const char *s, uint64_t max, uint64_t *ret) {
    if (!s || !*s || !isdigit((unsigned char)s[0]))
        return -EINVAL;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
            return -ERANGE;
    }
    if (v > max)
        return -ERANGE;
    *ret = v;
    return 0;
}

int parse_u32(const char *s, uint32_t *ret) {
    uint64_t v;
    int r = parse_u64(s, UINT32_MAX, &v);
    if (r < 0)
        return r;
    *ret = (uint32_t)v;
    return 0;
}

int parse_bool(const char *s, bool *ret) {
    static const char *const yes[] = {"1", "yes", "true", "on"};
    static const char *const no[] = {"0", "no", "false", "off"};
    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *ret = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *ret = false;
            return 0;
        }
    }
    return -EINVAL;
}

int parse_duration_ms(const char *s, uint64_t *ret) {
    static const struct {
        const char *suffix;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"", 1000}};
    if (!s || !*s)
        return -EINVAL;
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 18)
        return -EINVAL;
    char num[20];
    memcpy(num, s, n);
    num[n] = '\0';
    uint64_t v;
    int r = parse_u64(num, UINT64_MAX, &v);
    if (r < 0)
        return r;
    for (size_t i = 0; i < ELEMENTSOF(units); i++) {
        if (streq(s + n, units[i].suffix)) {
            if (__builtin_mul_overflow(v, units[i].ms, &v))
                return -ERANGE;
            *ret = v;
            return 0;
        }
    }
    return -EINVAL;
}

bool streq_ptr(const char *a, const char *b) {
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

bool startswith(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool mem_is_zero(const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

uint64_t now_monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int parse_digits(const char **p, size_t n, int *ret) {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -EINVAL;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *ret = v;
    return 0;
}

static int expect_char(const char **p, char c) {
    if (**p != c)
        return -EINVAL;
    (*p)++;
    return 0;
}

int parse_rfc3339(const char *s, int64_t *ret) {
    int year, mon, day, hour, min, sec;
    const char *p = s;
    if (!s)
        return -EINVAL;
    if (parse_digits(&p, 4, &year) < 0 || expect_char(&p, '-') < 0 ||
        parse_digits(&p, 2, &mon) < 0 || expect_char(&p, '-') < 0 || parse_digits(&p, 2, &day) < 0)
        return -EINVAL;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -EINVAL;
    p++;
    if (parse_digits(&p, 2, &hour) < 0 || expect_char(&p, ':') < 0 ||
        parse_digits(&p, 2, &min) < 0 || expect_char(&p, ':') < 0 || parse_digits(&p, 2, &sec) < 0)
        return -EINVAL;
    if (*p == '.') { /* fractional seconds are ignored */
        p++;
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    int64_t offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (parse_digits(&p, 2, &oh) < 0 || expect_char(&p, ':') < 0 ||
            parse_digits(&p, 2, &om) < 0 || oh > 23 || om > 59)
            return -EINVAL;
        offset = sign * (oh * 3600 + om * 60);
    } else
        return -EINVAL;
    if (*p != '\0')
        return -EINVAL;
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
        return -EINVAL;
    /* days from civil (Howard Hinnant's algorithm), no timezone state involved */
    int y = year - (mon <= 2);
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (mon + (mon > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    *ret = days * 86400 + hour * 3600 + min * 60 + sec - offset;
    return 0;
}
