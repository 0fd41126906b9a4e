/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MAA's platform protocols, /attest/SevSnpVm and /attest/TdxVm
 * (azure-wire-formats.md §2.2, request shapes as Microsoft's python client
 * cvm-attestation sends them): the hardware report and the HCL runtime
 * data alone, no vTPM evidence; the answer is a plain JWT.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest-internal.h"
#include "attest/attest.h"
#include "common/codec.h"
#include "common/json.h"

static int add_b64url(cJSON *o, const char *key, const void *data, size_t len) {
    _cleanup_free_ char *s = base64url_encode(data, len);
    if (!s)
        return -ENOMEM;
    return json_add_string(o, key, s);
}

/* "report": base64url(JSON {SnpReport, VcekCertChain}), both base64url */
static int snp_report_member(const AttestPlatform *p, cJSON *body) {
    _cleanup_json_ cJSON *rep = cJSON_CreateObject();
    _cleanup_free_ char *text = NULL;
    if (!p->vcek_chain_pem)
        return attest_fail(-EINVAL, "SevSnpVm needs the VCEK certificate chain");
    if (!rep || add_b64url(rep, "SnpReport", p->hw_report, p->hw_report_len) < 0 ||
        add_b64url(rep, "VcekCertChain", p->vcek_chain_pem, strlen(p->vcek_chain_pem)) < 0 ||
        !(text = cJSON_PrintUnformatted(rep)))
        return -ENOMEM;
    return add_b64url(body, "report", text, strlen(text));
}

int attest_platform_body(const AttestPlatform *p, const char *nonce, char **ret) {
    _cleanup_json_ cJSON *body = cJSON_CreateObject();
    cJSON *rt;
    int r;
    if (!body)
        return -ENOMEM;
    if (p->tee == ATTEST_TEE_SNP)
        r = snp_report_member(p, body);
    else if (p->tee == ATTEST_TEE_TDX)
        r = p->td_quote ? add_b64url(body, "quote", p->td_quote, p->td_quote_len)
                        : attest_fail(-EINVAL, "TdxVm needs the TD quote");
    else
        r = attest_fail(-EINVAL, "the platform protocols need an SEV-SNP or TDX report");
    if (r < 0)
        return r;
    if (!(rt = cJSON_AddObjectToObject(body, "runtimeData")) ||
        add_b64url(rt, "data", p->runtime_data, p->runtime_data_len) < 0 ||
        json_add_string(rt, "dataType", "JSON") < 0 ||
        (nonce && json_add_string(body, "nonce", nonce) < 0) ||
        !(*ret = cJSON_PrintUnformatted(body)))
        return -ENOMEM;
    return 0;
}

int attest_platform_send(const HttpConfig *http, const char *base_url, AttestTee tee,
                         const char *api_version, const char *body, char **ret, AttestFailure *f) {
    if (tee != ATTEST_TEE_SNP && tee != ATTEST_TEE_TDX)
        return attest_fail(-EINVAL, "the platform protocols need an SEV-SNP or TDX report");
    const char *route = tee == ATTEST_TEE_SNP ? "SevSnpVm" : "TdxVm";
    if (!api_version)
        api_version =
            tee == ATTEST_TEE_SNP ? ATTEST_API_VERSION_SEVSNPVM : ATTEST_API_VERSION_TDXVM;
    return attest_post(http, base_url, route, api_version, body, ret, f);
}
