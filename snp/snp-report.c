/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The SEV-SNP ATTESTATION_REPORT parser (pure: bytes in, struct out) and the
 * certificate table of extended reports. Layout: SNP ABI 56860 Table 22
 * (docs tee-formats.md §1.1-1.3, §1.7).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/bytes.h"
#include "snp/snp.h"

const char *snp_product_name(SnpProduct p) {
    switch (p) {
    case SNP_PRODUCT_MILAN: return "Milan";
    case SNP_PRODUCT_GENOA: return "Genoa";
    case SNP_PRODUCT_TURIN: return "Turin";
    default: return "unknown";
    }
}

SnpProduct snp_product_from_name(const char *name) {
    static const struct {
        const char *prefix;
        SnpProduct p;
    } names[] = {
        {"Milan", SNP_PRODUCT_MILAN},
        {"Genoa", SNP_PRODUCT_GENOA},
        {"Turin", SNP_PRODUCT_TURIN},
    };
    if (!name)
        return SNP_PRODUCT_UNKNOWN;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = strlen(names[i].prefix);
        /* "Milan", "Milan-B0", "milan" */
        if (strncasecmp(name, names[i].prefix, n) == 0 && (name[n] == '\0' || name[n] == '-'))
            return names[i].p;
    }
    return SNP_PRODUCT_UNKNOWN;
}

/* virtee/sev src/lib.rs Generation::identify_cpu (tee-formats §1.3). */
SnpProduct snp_product_from_cpuid(uint8_t fam, uint8_t model) {
    if (fam == 0x19) {
        if (model <= 0x0F)
            return SNP_PRODUCT_MILAN;
        if ((model >= 0x10 && model <= 0x1F) || (model >= 0xA0 && model <= 0xAF))
            return SNP_PRODUCT_GENOA;
    } else if (fam == 0x1A) {
        if (model <= 0x11)
            return SNP_PRODUCT_TURIN;
    }
    return SNP_PRODUCT_UNKNOWN;
}

/* TCB_VERSION, SNP ABI 56860 Table 3: Milan/Genoa bytes bl,tee,-,-,-,-,snp,ucode;
 * Turin (and later) fmc,bl,tee,snp,-,-,-,ucode. */
void snp_tcb_decode(uint64_t raw, SnpProduct product, SnpTcb *ret) {
    uint8_t b[8];
    for (unsigned i = 0; i < 8; i++)
        b[i] = (uint8_t)(raw >> (8 * i));
    *ret = (SnpTcb){.raw = raw, .microcode = b[7]};
    if (product == SNP_PRODUCT_TURIN) {
        ret->has_fmc = true;
        ret->fmc = b[0];
        ret->bootloader = b[1];
        ret->tee = b[2];
        ret->snp = b[3];
    } else {
        ret->bootloader = b[0];
        ret->tee = b[1];
        ret->snp = b[6];
    }
}

bool snp_tcb_at_least(const SnpTcb *a, const SnpTcb *b) {
    return a->bootloader >= b->bootloader && a->tee >= b->tee && a->snp >= b->snp &&
           a->microcode >= b->microcode && a->fmc >= b->fmc;
}

void snp_report_set_product(SnpReport *r, SnpProduct p) {
    r->product = p;
    snp_tcb_decode(r->current_tcb.raw, p, &r->current_tcb);
    snp_tcb_decode(r->reported_tcb.raw, p, &r->reported_tcb);
    snp_tcb_decode(r->committed_tcb.raw, p, &r->committed_tcb);
    snp_tcb_decode(r->launch_tcb.raw, p, &r->launch_tcb);
}

int snp_report_parse(const void *data, size_t len, SnpReport *ret, const char **reterr) {
    static _Thread_local char msg[160];
    ByteReader br;
    SnpReport *r;
    int err = -EBADMSG;

    if (len < SNP_REPORT_SIZE) {
        snprintf(msg, sizeof(msg),
                 "SNP report is %zu bytes, shorter than the 0x4a0 (1184) of an ATTESTATION_REPORT",
                 len);
        goto fail_msg;
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    br_init(&br, data, SNP_REPORT_SIZE);
    br_copy(&br, r->raw, SNP_REPORT_SIZE);
    br_seek(&br, 0);

    r->version = br_u32le(&br); /* 0x000 */
    if (r->version < 2 || r->version > 5) {
        snprintf(msg, sizeof(msg),
                 "SNP report version %u at offset 0x0 is not supported (2..5 are)", r->version);
        free(r);
        err = -EPROTONOSUPPORT;
        goto fail_msg;
    }
    r->guest_svn = br_u32le(&br);         /* 0x004 */
    r->policy = br_u64le(&br);            /* 0x008 */
    br_copy(&br, r->family_id, 16);       /* 0x010 */
    br_copy(&br, r->image_id, 16);        /* 0x020 */
    r->vmpl = br_u32le(&br);              /* 0x030 */
    r->signature_algo = br_u32le(&br);    /* 0x034 */
    uint64_t current_tcb = br_u64le(&br); /* 0x038 */
    r->platform_info = br_u64le(&br);     /* 0x040 */
    r->signer_info = br_u32le(&br);       /* 0x048 */
    r->author_key_en = r->signer_info & 1;
    r->mask_chip_key = (r->signer_info >> 1) & 1;
    r->signing_key = (r->signer_info >> 2) & 7;
    if (r->signer_info >> 5) {
        snprintf(msg, sizeof(msg), "SNP report signer info 0x%x at offset 0x48 has MBZ bits set",
                 r->signer_info);
        goto fail_free;
    }
    if (!br_zeros(&br, 4)) { /* 0x04C reserved */
        snprintf(msg, sizeof(msg), "SNP report reserved bytes at 0x4c are not zero");
        goto fail_free;
    }
    br_copy(&br, r->report_data, 64);       /* 0x050 */
    br_copy(&br, r->measurement, 48);       /* 0x090 */
    br_copy(&br, r->host_data, 32);         /* 0x0C0 */
    br_copy(&br, r->id_key_digest, 48);     /* 0x0E0 */
    br_copy(&br, r->author_key_digest, 48); /* 0x110 */
    br_copy(&br, r->report_id, 32);         /* 0x140 */
    br_copy(&br, r->report_id_ma, 32);      /* 0x160 */
    uint64_t reported_tcb = br_u64le(&br);  /* 0x180 */
    if (r->version >= 3) {
        r->has_cpuid = true;
        r->cpuid_fam_id = br_u8(&br); /* 0x188 */
        r->cpuid_mod_id = br_u8(&br); /* 0x189 */
        r->cpuid_step = br_u8(&br);   /* 0x18A */
        if (!br_zeros(&br, 21)) {
            snprintf(msg, sizeof(msg), "SNP report reserved bytes at 0x18b are not zero");
            goto fail_free;
        }
    } else if (!br_zeros(&br, 24)) {
        snprintf(msg, sizeof(msg), "SNP v2 report reserved bytes at 0x188 are not zero");
        goto fail_free;
    }
    br_copy(&br, r->chip_id, 64);           /* 0x1A0 */
    uint64_t committed_tcb = br_u64le(&br); /* 0x1E0 */
    r->current_build = br_u8(&br);          /* 0x1E8 */
    r->current_minor = br_u8(&br);
    r->current_major = br_u8(&br);
    br_skip(&br, 1);
    r->committed_build = br_u8(&br); /* 0x1EC */
    r->committed_minor = br_u8(&br);
    r->committed_major = br_u8(&br);
    br_skip(&br, 1);
    uint64_t launch_tcb = br_u64le(&br); /* 0x1F0 */
    if (r->version >= 5) {
        r->has_mit_vectors = true;
        r->launch_mit_vector = br_u64le(&br);  /* 0x1F8 */
        r->current_mit_vector = br_u64le(&br); /* 0x200 */
    } else
        br_skip(&br, 16);
    if (!br_zeros(&br, SNP_REPORT_SIGNED_SIZE - 0x208)) {
        snprintf(msg, sizeof(msg), "SNP report reserved bytes 0x208..0x2a0 are not zero");
        goto fail_free;
    }
    br_copy(&br, r->sig_r, SNP_SIG_COMPONENT_SIZE); /* 0x2A0 */
    br_copy(&br, r->sig_s, SNP_SIG_COMPONENT_SIZE); /* 0x2E8 */
    if (!br_ok(&br)) {
        snprintf(msg, sizeof(msg), "SNP report truncated at offset 0x%zx", br.err_offset);
        goto fail_free;
    }

    SnpProduct p = SNP_PRODUCT_UNKNOWN;
    if (r->has_cpuid)
        p = snp_product_from_cpuid(r->cpuid_fam_id, r->cpuid_mod_id);
    else if (!mem_is_zero(r->chip_id, 8) && mem_is_zero(r->chip_id + 8, 56))
        p = SNP_PRODUCT_TURIN; /* virtee chip_id_is_turin_like */
    r->current_tcb.raw = current_tcb;
    r->reported_tcb.raw = reported_tcb;
    r->committed_tcb.raw = committed_tcb;
    r->launch_tcb.raw = launch_tcb;
    snp_report_set_product(r, p);
    *ret = *r;
    free(r);
    return 0;

fail_free:
    free(r);
fail_msg:
    if (reterr)
        *reterr = msg;
    return err;
}

/* GHCB spec / AMD cert-table GUIDs, RFC 4122 byte order (tee-formats §1.7). */
static const struct {
    SnpCertKind kind;
    uint8_t guid[16];
} cert_guids[] = {
    {SNP_CERT_VCEK,
     {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac,
      0xcd}},
    {SNP_CERT_VLEK,
     {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8,
      0xa1}},
    {SNP_CERT_ASK,
     {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7,
      0x82}},
    {SNP_CERT_ARK,
     {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0,
      0xae}},
};

#define CERT_TABLE_ENTRY_SIZE 24u /* guid[16], u32 offset, u32 length */

int snp_cert_table_parse(const void *data, size_t len, SnpCertEntry *entries, size_t max,
                         size_t *ret_n) {
    ByteReader br;
    size_t n = 0;
    br_init(&br, data, len);
    for (;;) {
        uint8_t guid[16];
        br_copy(&br, guid, 16);
        uint32_t off = br_u32le(&br), elen = br_u32le(&br);
        if (!br_ok(&br))
            return -EBADMSG; /* no terminator */
        bool zero = off == 0 && elen == 0;
        for (size_t i = 0; i < 16 && zero; i++)
            zero = guid[i] == 0;
        if (zero)
            break;
        if (n >= max)
            return -E2BIG;
        size_t header = (n + 1) * CERT_TABLE_ENTRY_SIZE;
        /* offsets are from the start of the table and past the header */
        if (off < header || off > len || elen > len - off)
            return -EBADMSG;
        SnpCertEntry *e = &entries[n++];
        memcpy(e->guid, guid, 16);
        e->kind = SNP_CERT_OTHER;
        for (size_t i = 0; i < sizeof(cert_guids) / sizeof(cert_guids[0]); i++)
            if (memcmp(cert_guids[i].guid, guid, 16) == 0)
                e->kind = cert_guids[i].kind;
        e->data = (const uint8_t *)data + off;
        e->len = elen;
    }
    /* every offset must lie past the whole header, terminator included */
    for (size_t i = 0; i < n; i++)
        if ((size_t)(entries[i].data - (const uint8_t *)data) < (n + 1) * CERT_TABLE_ENTRY_SIZE)
            return -EBADMSG;
    *ret_n = n;
    return 0;
}

int snp_cert_table_build(const SnpCertKind *kinds, const uint8_t *const *ders, const size_t *lens,
                         size_t n, uint8_t **ret, size_t *ret_len) {
    size_t header = (n + 1) * CERT_TABLE_ENTRY_SIZE, total = header;
    for (size_t i = 0; i < n; i++)
        if (lens[i] > UINT32_MAX || __builtin_add_overflow(total, lens[i], &total))
            return -E2BIG;
    if (total > UINT32_MAX)
        return -E2BIG;
    uint8_t *buf = calloc(1, total);
    if (!buf)
        return -ENOMEM;
    size_t off = header;
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = buf + i * CERT_TABLE_ENTRY_SIZE;
        for (size_t g = 0; g < sizeof(cert_guids) / sizeof(cert_guids[0]); g++)
            if (cert_guids[g].kind == kinds[i])
                memcpy(e, cert_guids[g].guid, 16);
        for (unsigned b = 0; b < 4; b++) {
            e[16 + b] = (uint8_t)(off >> (8 * b));
            e[20 + b] = (uint8_t)(lens[i] >> (8 * b));
        }
        memcpy(buf + off, ders[i], lens[i]);
        off += lens[i];
    }
    *ret = buf;
    *ret_len = total;
    return 0;
}
