/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static int max_level = LOG_NOTICE;
static const char *program_name = "cvm-agent";
static int journal = -1;

void log_set_max_level(int level) {
    max_level = level < LOG_ERR ? LOG_ERR : level > LOG_DEBUG ? LOG_DEBUG : level;
}

int log_get_max_level(void) {
    return max_level;
}

void log_set_program_name(const char *name) {
    program_name = name;
}

void log_open(void) {
    journal = secure_getenv("JOURNAL_STREAM") != NULL;
}

static const char *const level_names[] = {
    [LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
    [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

int log_level_from_string(const char *s) {
    for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    if (s[0] >= '3' && s[0] <= '7' && s[1] == '\0')
        return s[0] - '0';
    return -EINVAL;
}

int log_internal(int level, int err, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    int saved = errno;

    if (journal < 0)
        log_open();
    if (err != 0)
        errno = err < 0 ? -err : err; /* so %m names the error */
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* one line per message, whatever the caller formatted */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (journal)
        fprintf(stderr, "<%d>%s\n", level, msg);
    else
        fprintf(stderr, "%s: %s: %s\n", program_name, level_names[level], msg);
    fflush(stderr);
    errno = saved;
    return err < 0 ? err : -err;
}
