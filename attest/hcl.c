/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Azure HCL attestation report (azure-wire-formats.md §1.2-1.4): a pure
 * parser plus the runtime-data binding check and the runtime-claims lookups.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "common/bytes.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/json.h"

const char *hcl_report_type_name(uint32_t type) {
    switch (type) {
    case HCL_REPORT_SNP: return "snp";
    case HCL_REPORT_TDX: return "tdx";
    case HCL_REPORT_TVM: return "tvm";
    case HCL_REPORT_RESERVED: return "reserved";
    default: return "invalid";
    }
}

int hcl_report_parse(const void *data, size_t len, HclReport *ret, const char **reterr) {
    static _Thread_local char msg[160];
    ByteReader br;
    HclReport h = {0};

#define HFAIL(...)                                                                                 \
    do {                                                                                           \
        snprintf(msg, sizeof(msg), __VA_ARGS__);                                                   \
        if (reterr)                                                                                \
            *reterr = msg;                                                                         \
        return -EBADMSG;                                                                           \
    } while (0)

    br_init(&br, data, len);
    uint32_t sig = br_u32le(&br); /* 0x000 "HCLA" */
    h.version = br_u32le(&br);
    h.report_size = br_u32le(&br);
    h.request_type = br_u32le(&br);
    h.status = br_u32le(&br);
    br_skip(&br, 12);
    if (!br_ok(&br))
        HFAIL("HCL report truncated at offset 0x%zx (%zu bytes)", br.err_offset, len);
    if (sig != HCL_SIGNATURE)
        HFAIL("HCL report signature at offset 0x0 is 0x%08x, not 'HCLA'", sig);
    h.hw_report = br_take(&br, HCL_HW_REPORT_SIZE); /* 0x020 */
    h.data_size = br_u32le(&br);                    /* 0x4C0 */
    h.data_version = br_u32le(&br);
    h.report_type = br_u32le(&br);
    h.hash_type = br_u32le(&br);
    uint32_t var_len = br_u32le(&br); /* 0x4D0 */
    if (!br_ok(&br))
        HFAIL("HCL report truncated at offset 0x%zx (%zu bytes)", br.err_offset, len);
    if (var_len > br_remaining(&br))
        HFAIL("HCL variable data size %u at offset 0x4d0 exceeds the %zu bytes left", var_len,
              br_remaining(&br));
    if (h.data_size != 20u + var_len)
        HFAIL("HCL data size %u at offset 0x4c0 is not 20 + variable data size %u", h.data_size,
              var_len);
    h.var_data = br_take(&br, var_len);
    h.var_data_len = var_len;
    switch (h.report_type) {
    case HCL_REPORT_SNP:
        h.hw_report_len = HCL_HW_REPORT_SIZE;
        memcpy(h.report_data, h.hw_report + HCL_SNP_REPORTDATA_OFFSET, 64);
        break;
    case HCL_REPORT_TDX: {
        /* TDREPORT: REPORTMACSTRUCT.REPORTDATA at 0x80 (tee-formats §2.1) */
        ByteReader td;
        br_init(&td, h.hw_report, HCL_TDREPORT_SIZE);
        br_seek(&td, HCL_TDREPORT_REPORTDATA_OFFSET);
        br_copy(&td, h.report_data, 64);
        if (!br_ok(&td))
            HFAIL("TDREPORT truncated");
        h.hw_report_len = HCL_TDREPORT_SIZE;
        break;
    }
    default:
        HFAIL("HCL report type %u at offset 0x4c8 is neither SNP (2) nor TDX (4)", h.report_type);
    }
    if (h.hash_type < HCL_HASH_SHA256 || h.hash_type > HCL_HASH_SHA512)
        HFAIL("HCL report_data hash type %u at offset 0x4cc is unknown (1..3)", h.hash_type);
#undef HFAIL
    *ret = h;
    return 0;
}

bool hcl_runtime_data_bound(const HclReport *h, char **ret_expected) {
    static const char *const md[] = {NULL, "SHA256", "SHA384", "SHA512"};
    uint8_t digest[CRYPTO_MAX_DIGEST];
    size_t n = 0;
    if (h->hash_type < 1 || h->hash_type > 3)
        return false;
    if (crypto_digest(md[h->hash_type], h->var_data, h->var_data_len, digest, &n) < 0 || n > 64)
        return false;
    if (ret_expected)
        *ret_expected = hex_encode(digest, n);
    if (!crypto_memeq(digest, h->report_data, n))
        return false;
    for (size_t i = n; i < 64; i++)
        if (h->report_data[i])
            return false;
    return true;
}

int hcl_runtime_claims(const HclReport *h, cJSON **ret) {
    return json_parse(h->var_data, h->var_data_len, ret);
}

const cJSON *hcl_find_jwk(const cJSON *claims, const char *kid) {
    const cJSON *keys = json_get_array(claims, "keys");
    for (const cJSON *k = keys ? keys->child : NULL; k; k = k->next) {
        const char *id = json_get_string(k, "kid");
        if (id && strcmp(id, kid) == 0)
            return k;
    }
    return NULL;
}

int hcl_user_data(const cJSON *claims, uint8_t out[HCL_USER_DATA_SIZE]) {
    const char *s = json_get_string(claims, "user-data");
    if (!s)
        return -ENOENT;
    /* accepts either case (azure-wire-formats §1.4) */
    return hex_decode_fixed(s, out, HCL_USER_DATA_SIZE);
}
