/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared inside attest/ only. */
#ifndef CVM_ATTEST_ATTEST_INTERNAL_H
#define CVM_ATTEST_ATTEST_INTERNAL_H

#include "attest/attest.h"
#include "common/util.h"

/* Records why the current call fails (attest_last_error()), logs it at
 * debug, and returns r (negative errno) — library code does not log errors:
 * the command that decides to fail does. */
int attest_fail(int r, const char *fmt, ...) _printf_(2, 3);

/* POST {base_url}/attest/{route}?api-version=V with the client's headers;
 * *ret = the "token" member of the answer. Errors as attest_azureguest_send. */
int attest_post(const HttpConfig *http, const char *base_url, const char *route,
                const char *api_version, const char *body, char **ret, AttestFailure *f);

#endif
