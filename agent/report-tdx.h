/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The TDX sources of `cvm-agent report`: a TDREPORT from /dev/tdx_guest, a
 * TD quote from configfs-tsm, or on Azure a TD quote for the TDREPORT inside
 * the vTPM's HCL report, from IMDS /acc/tdquote. Paths and the IMDS URL come
 * from the [tdx] configuration section. The TD quote <-> TDREPORT binding is
 * tdx_quote_matches_report (tdx/), as for `verify --hcl-report --td-quote`.
 */
#ifndef CVM_AGENT_REPORT_TDX_H
#define CVM_AGENT_REPORT_TDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "agent/agent.h"
#include "tdx/tdx.h"

/* true for "tdx-guest", "tdx-configfs" and "azure-tdx" */
bool report_tdx_is_source(const char *source);

/*
 * Obtains the evidence of source bound to data (64 bytes; NULL = zeros, and
 * for azure-tdx: the HCL report as it is, without writing new user data).
 * *ret is the raw evidence (TDREPORT for tdx-guest, a TD quote otherwise),
 * out gets the decoded fields. Logs its errors; returns 0 or a negative errno
 * (-ETIMEDOUT/-EAGAIN transient, -EINVAL usage, others platform).
 */
int report_tdx(AgentContext *ctx, const char *source, const uint8_t *data, uint64_t deadline_ms,
               uint8_t **ret, size_t *ret_len, cJSON *out);

#endif
