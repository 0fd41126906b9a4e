/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging: single lines to stderr. Under systemd (JOURNAL_STREAM set) each
 * line starts with the sd-daemon(3) "<N>" priority prefix so the journal keeps
 * the level; otherwise "cvm-agent: level: ". Library modules log at debug
 * only; the layer that decides to fail logs once, with log_*_errno(), which
 * returns the (negative) error so it can be used in a return statement.
 */
#ifndef CVM_COMMON_LOG_H
#define CVM_COMMON_LOG_H

#include <syslog.h>

#include "util.h"

void log_set_max_level(int level);
int log_get_max_level(void);
/* Parses "error", "warning", "notice", "info", "debug" (or 3..7). */
int log_level_from_string(const char *s);
void log_set_program_name(const char *name);
/* Re-reads JOURNAL_STREAM; called once at start. */
void log_open(void);

int log_internal(int level, int err, const char *fmt, ...) _printf_(3, 4);

/* The level check comes before the arguments are evaluated. */
#define log_full_errno(level, err, ...)                                                            \
    ({                                                                                             \
        int _lvl = (level), _e = (err);                                                            \
        log_get_max_level() >= _lvl ? log_internal(_lvl, _e, __VA_ARGS__) : (_e < 0 ? _e : -_e);   \
    })
#define log_full(level, ...) ((void)log_full_errno(level, 0, __VA_ARGS__))

#define log_debug(...)   log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...)    log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, e, __VA_ARGS__)

#endif
