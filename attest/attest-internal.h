/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared inside attest/ only. */
#ifndef CVM_ATTEST_ATTEST_INTERNAL_H
#define CVM_ATTEST_ATTEST_INTERNAL_H

#include "common/util.h"

/* Records why the current call fails (attest_last_error()), logs it at
 * debug, and returns r (negative errno) — library code does not log errors:
 * the command that decides to fail does. */
int attest_fail(int r, const char *fmt, ...) _printf_(2, 3);

#endif
