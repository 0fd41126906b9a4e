/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Agent-side SNP helpers shared by `verify` (verify-snp.c) and `report`
 * (cmd-report.c): the report as JSON, and the certificate-fetch settings
 * from the configuration.
 */
#ifndef CVM_AGENT_VERIFY_SNP_H
#define CVM_AGENT_VERIFY_SNP_H

#include <cjson/cJSON.h>

#include "agent/agent.h"
#include "snp/snp.h"

/* Adds every decoded field of r to out (lowercase hex for byte fields). */
int snp_report_to_json(const SnpReport *r, cJSON *out);

/* Fetch settings from cfg; cache under STATE/cache. Strings borrowed from cfg
 * except *ret_cache, which the caller frees. */
int agent_snp_fetch_config(const AgentConfig *cfg, SnpFetchConfig *ret, char **ret_cache);

/* Reads a report file: 1184+ raw bytes, or the same as hex text. */
int agent_snp_read_report(const char *path, SnpReport *ret);

struct VerifyOptions;

/* The SNP policy from opts (--policy file, --allow-debug, --min-tcb,
 * --measurement, --report-data, --host-data, --vmpl); -EINVAL logged. */
int agent_snp_build_policy(const struct VerifyOptions *opts, SnpPolicy *p);

/*
 * Verifies rep as `verify --snp-report` does (signer from opts->vcek, else the
 * cert table, cache, THIM, KDS; anchors and time from opts), then policy, and
 * describes it in out with "verified" and, when false, "reason".
 */
int agent_snp_verify(AgentContext *ctx, const struct VerifyOptions *opts, SnpReport *rep,
                     const uint8_t *cert_table, size_t cert_table_len, const SnpPolicy *policy,
                     cJSON *out);

#endif
