/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Azure HCL ("HCLA") attestation report read from vTPM NV 0x01400001:
 * header, the hardware report it wraps (SNP ATTESTATION_REPORT or TDX
 * TDREPORT), and the runtime-claims JSON whose hash the hardware report's
 * report_data carries. Layout: azure-wire-formats.md §1.2-1.4 (struct names
 * from Azure's HwVmReport.h / kinvolk az-cvm-vtpm src/hcl/mod.rs).
 */
#ifndef CVM_AGENT_HCL_H
#define CVM_AGENT_HCL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define HCL_NV_INDEX_REPORT    0x01400001u /* azure-wire-formats §1.1 */
#define HCL_NV_INDEX_USER_DATA 0x01400002u
#define HCL_USER_DATA_SIZE     64u

#define HCL_SIGNATURE                  0x414C4348u /* "HCLA" little-endian */
#define HCL_HW_REPORT_OFFSET           0x20u
#define HCL_HW_REPORT_SIZE             1184u  /* fixed regardless of type */
#define HCL_DATA_OFFSET                0x4C0u /* 1216: IGVM request data */
#define HCL_VAR_DATA_OFFSET            0x4D4u /* 1236 */
#define HCL_TDREPORT_SIZE              1024u
#define HCL_TDREPORT_REPORTDATA_OFFSET 0x80u /* REPORTMACSTRUCT.REPORTDATA, tee-formats §2.1 */
#define HCL_SNP_REPORTDATA_OFFSET      0x50u /* ATTESTATION_REPORT.REPORT_DATA */

typedef enum HclReportType {
    HCL_REPORT_INVALID = 0,
    HCL_REPORT_RESERVED = 1,
    HCL_REPORT_SNP = 2,
    HCL_REPORT_TVM = 3,
    HCL_REPORT_TDX = 4,
} HclReportType;

typedef enum HclHashType {
    HCL_HASH_INVALID = 0,
    HCL_HASH_SHA256 = 1,
    HCL_HASH_SHA384 = 2,
    HCL_HASH_SHA512 = 3,
} HclHashType;

typedef struct HclReport {
    uint32_t version;
    uint32_t report_size;
    uint32_t request_type;
    uint32_t status;
    /* the hardware report: points into the parsed buffer */
    const uint8_t *hw_report;
    size_t hw_report_len; /* 1184 (SNP) or 1024 (TDX TDREPORT) */
    /* IGVM request data */
    uint32_t data_size;
    uint32_t data_version;
    uint32_t report_type;    /* HclReportType */
    uint32_t hash_type;      /* HclHashType */
    const uint8_t *var_data; /* the runtime-claims JSON, exactly as hashed */
    size_t var_data_len;
    /* report_data of the hardware report (64 bytes) */
    uint8_t report_data[64];
} HclReport;

/*
 * Parses an HCL report; pointers refer to data, which must outlive ret.
 * -EBADMSG (bad magic, truncation, sizes) with *reterr naming the field.
 */
int hcl_report_parse(const void *data, size_t len, HclReport *ret, const char **reterr);

/* "snp", "tdx", ... */
const char *hcl_report_type_name(uint32_t type);

/*
 * The runtime-data binding: report_data[0, hashlen) == H(var_data) and the
 * rest of report_data is zero. true when bound; *ret_expected (optional)
 * gets the hex of H(var_data) (caller frees).
 */
bool hcl_runtime_data_bound(const HclReport *h, char **ret_expected);

/* The runtime claims as JSON (-EBADMSG when not JSON). */
int hcl_runtime_claims(const HclReport *h, cJSON **ret);

/* The JWK with kid (e.g. "HCLAkPub", "HCLEkPub") from the claims' "keys",
 * or NULL. Borrowed from claims. */
const cJSON *hcl_find_jwk(const cJSON *claims, const char *kid);

/* The "user-data" member decoded (64 bytes), -ENOENT when absent. */
int hcl_user_data(const cJSON *claims, uint8_t out[HCL_USER_DATA_SIZE]);

/*
 * Reads the HCL report from the vTPM at tcti (NV 0x01400001; hcl-vtpm.c). With
 * data (HCL_USER_DATA_SIZE bytes), first writes it to the user-data index
 * 0x01400002 and polls, with backoff and without holding the TPM between
 * reads, until the report's runtime claims carry it, for at most deadline_ms
 * (-ETIMEDOUT after). Errors are logged. *ret is malloc'ed; the caller frees it.
 */
int hcl_vtpm_read(const char *tcti, const uint8_t *data, uint64_t deadline_ms, uint8_t **ret,
                  size_t *ret_len);

#endif
