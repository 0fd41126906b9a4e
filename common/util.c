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
    case EFBIG:
    case ENAMETOOLONG: return CVM_EXIT_USAGE;
    case EAGAIN:
    case ETIMEDOUT:
    case ECONNREFUSED:
    case ECONNRESET:
    case ECONNABORTED:
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
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {"", 1000}};
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

size_t rstrip_blanks(const void *s, size_t len) {
    const unsigned char *p = s;
    while (len > 0 && char_is_blank(p[len - 1]))
        len--;
    return len;
}

void strip_blanks(const void *s, size_t *start, size_t *end) {
    const unsigned char *p = s;
    while (*start < *end && char_is_blank(p[*start]))
        (*start)++;
    while (*end > *start && char_is_blank(p[*end - 1]))
        (*end)--;
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

static bool is_leap_year(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int year, int mon) {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return mon == 2 && is_leap_year(year) ? 29 : days[mon - 1];
}

/* "Z" or "±hh:mm" (RFC 3339 time-offset), in seconds east of UTC. */
static int parse_offset(const char **p, int64_t *ret) {
    int oh, om;
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        *ret = 0;
        return 0;
    }
    if (**p != '+' && **p != '-')
        return -EINVAL;
    int sign = **p == '-' ? -1 : 1;
    (*p)++;
    if (parse_digits(p, 2, &oh) < 0 || expect_char(p, ':') < 0 || parse_digits(p, 2, &om) < 0 ||
        oh > 23 || om > 59)
        return -EINVAL;
    *ret = sign * (oh * 3600 + om * 60);
    return 0;
}

int parse_rfc3339(const char *s, int64_t *ret) {
    int year, mon, day, hour, min, sec;
    int64_t offset = 0;
    const char *p = s;
    if (!s)
        return -EINVAL;
    if (parse_digits(&p, 4, &year) < 0 || expect_char(&p, '-') < 0 ||
        parse_digits(&p, 2, &mon) < 0 || expect_char(&p, '-') < 0 || parse_digits(&p, 2, &day) < 0)
        return -EINVAL;
    if (*p != 'T' && *p != 't')
        return -EINVAL;
    p++;
    if (parse_digits(&p, 2, &hour) < 0 || expect_char(&p, ':') < 0 ||
        parse_digits(&p, 2, &min) < 0 || expect_char(&p, ':') < 0 || parse_digits(&p, 2, &sec) < 0)
        return -EINVAL;
    if (*p == '.') { /* fractional seconds are truncated */
        p++;
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (parse_offset(&p, &offset) < 0 || *p != '\0')
        return -EINVAL;
    /* a real calendar date; leap seconds (:60) are refused: nothing we check is
     * dated inside one, and accepting them would make two spellings of a time */
    if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) ||
        hour > 23 || min > 59 || sec > 59)
        return -EINVAL;
    /* days from civil (Howard Hinnant's algorithm), no timezone state involved */
    int y = year - (mon <= 2);
    int era = y / 400;
    int yoe = y - era * 400;
    int doy = (153 * (mon + (mon > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    int64_t t = days * 86400 + hour * 3600 + min * 60 + sec - offset;
    if (t < 0) /* 1970-01-01 with a positive offset: still before the epoch */
        return -EINVAL;
    *ret = t;
    return 0;
}

int64_t now_realtime_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec < 0 ? 0 : (int64_t)ts.tv_sec;
}
