/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The TDX checks of `verify` that verify-hcl.c shares with --tdx-quote and
 * --tdreport (verify-tdx.c).
 */
#ifndef CVM_AGENT_VERIFY_TDX_H
#define CVM_AGENT_VERIFY_TDX_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "agent/verify.h"
#include "tdx/tdx.h"

/* The reason of every TDREPORT-only answer. */
#define VERIFY_TDX_NEEDS_QUOTE                                                                     \
    "a TDREPORT cannot be authenticated off the platform that made it (its MAC is keyed by the "   \
    "CPU): a TD quote for it is needed (--tdx-quote, or --hcl-report with --td-quote)"

/* Adds the TDREPORT's fields and its two hash checks (integrity, not
 * authenticity) to out; *ret_hashes_ok when both hashes match. */
int verify_tdx_tdreport_json(const TdxTdReport *t, cJSON *out, bool *ret_hashes_ok);

/*
 * Verifies the TD quote in path as --tdx-quote does (signatures, chain,
 * collateral, TD policy and, with opts->event_log, the CCEL) into out, with
 * "verified". On success *ret_body (optional) gets the quote's body.
 */
int verify_tdx_quote_file(const VerifyOptions *opts, const char *path, cJSON *out,
                          TdxQuoteBody *ret_body);
/* The same for a quote in memory; name is what the messages call it. */
int verify_tdx_quote_bytes(const VerifyOptions *opts, const uint8_t *d, size_t n, const char *name,
                           cJSON *out, TdxQuoteBody *ret_body);

#endif
