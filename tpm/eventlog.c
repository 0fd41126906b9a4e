/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCG firmware event logs (PC Client crypto-agile and legacy SHA1 formats,
 * TDX CCEL): parse and replay. Structures: TCG PC Client Platform Firmware
 * Profile (PFP) §10.2.1 TCG_PCR_EVENT, §10.2.2 TCG_PCR_EVENT2, §10.4.5.1
 * TCG_EfiSpecIDEvent, §10.4.5.3 StartupLocality; tee-formats.md §4.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/crypto.h"
#include "tpm/eventlog.h"

/* Event types, PFP §10.4.1 Table 9. */
#define EV_NO_ACTION        0x00000003u
#define EV_EFI_HCRTM_EVENT  0x80000010u
#define TCG_PCR_EVENT_HDR   32u /* pcrIndex, eventType, SHA1 digest[20], eventDataSize */
#define SPEC_ID_SIG_LEN     16u
#define STARTUP_LOC_SIG_LEN 16u
#define HCRTM_LOCALITY      4u /* PFP §10.4.5.3: H-CRTM starts PCR0 at ...04 */
#define CCEL_MAX_INDEX      4u /* CC MR index 0 = MRTD, 1..4 = RTMR0..3 */
#define SPECID_MAX_ALGS     16u

static const uint8_t spec_id_sig[SPEC_ID_SIG_LEN] = "Spec ID Event03";         /* PFP §10.4.5.1 */
static const uint8_t startup_loc_sig[STARTUP_LOC_SIG_LEN] = "StartupLocality"; /* §10.4.5.3 */

/* TPM_ALG_ID values and digest sizes, TCG Algorithm Registry Table 3. */
static const struct {
    uint16_t alg;
    uint16_t size;
    const char *name;
    const char *evp;
} known_algs[] = {
    {0x0004, 20, "sha1", "SHA1"},     {0x000B, 32, "sha256", "SHA256"},
    {0x000C, 48, "sha384", "SHA384"}, {0x000D, 64, "sha512", "SHA512"},
    {0x0012, 32, "sm3_256", "SM3"},
};

typedef struct SpecAlg {
    uint16_t alg;
    uint16_t size;
    int bank; /* index into banks[], or -1 for an algorithm we only skip */
} SpecAlg;

typedef struct Parser {
    ByteReader r;
    bool ccel;
    EventLogReplay *out;
    const char *evp[EVENTLOG_MAX_BANKS];
    SpecAlg algs[SPECID_MAX_ALGS];
    size_t n_algs;
    bool hcrtm; /* an H-CRTM event started PCR0 */
    char **reterr;
    EventLogCallback cb;
    void *userdata;
} Parser;

static int fail_at(Parser *p, size_t offset, const char *fmt, ...) _printf_(3, 4);
static int fail_at(Parser *p, size_t offset, const char *fmt, ...) {
    if (p->reterr) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        free(*p->reterr);
        *p->reterr = NULL;
        if (asprintf(p->reterr, "event log: at offset %zu (0x%zx): %s", offset, offset, msg) < 0)
            *p->reterr = NULL;
    }
    return -EBADMSG;
}

static int add_bank(Parser *p, uint16_t alg, uint16_t size, size_t offset) {
    for (size_t i = 0; i < ELEMENTSOF(known_algs); i++) {
        if (known_algs[i].alg != alg)
            continue;
        if (known_algs[i].size != size)
            return fail_at(p, offset, "Spec ID event gives %s a digest size of %u, not %u",
                           known_algs[i].name, size, known_algs[i].size);
        if (p->out->n_banks >= EVENTLOG_MAX_BANKS)
            return fail_at(p, offset, "too many digest banks");
        EventLogBank *b = &p->out->banks[p->out->n_banks];
        b->alg_id = alg;
        b->name = known_algs[i].name;
        b->digest_size = size;
        p->evp[p->out->n_banks] = known_algs[i].evp;
        return (int)p->out->n_banks++;
    }
    return -1; /* unknown: skipped by its size */
}

/* Does the remainder consist only of 0xFF or only of 0x00 fill (or nothing)? */
static bool rest_is_fill(const ByteReader *r) {
    ByteReader peek = *r;
    size_t n = br_remaining(&peek);
    if (n == 0)
        return true;
    uint8_t fill = br_u8(&peek);
    if (fill != 0xFF && fill != 0x00)
        return false;
    for (size_t i = 1; i < n; i++)
        if (br_u8(&peek) != fill)
            return false;
    return true;
}

static int extend(Parser *p, size_t bank, uint32_t index, const uint8_t *digest, size_t ev_off) {
    EventLogBank *b = &p->out->banks[bank];
    uint8_t buf[128], md[CRYPTO_MAX_DIGEST];
    size_t n = 0;
    memcpy(buf, b->pcr[index], b->digest_size);
    memcpy(buf + b->digest_size, digest, b->digest_size);
    int r = crypto_digest(p->evp[bank], buf, 2u * b->digest_size, md, &n);
    if (r < 0 || n != b->digest_size) {
        if (p->reterr) {
            free(*p->reterr);
            *p->reterr = NULL;
            if (asprintf(p->reterr, "event log: event at offset %zu: cannot compute %s", ev_off,
                         b->name) < 0)
                *p->reterr = NULL;
        }
        return r < 0 ? r : -EIO;
    }
    memcpy(b->pcr[index], md, n);
    b->touched |= 1u << index;
    return 0;
}

/* PFP §10.4.5.3: StartupLocality sets PCR0's initial value to 00..00||locality. */
static int startup_locality(Parser *p, const uint8_t *data, uint32_t size, size_t ev_off) {
    if (p->ccel || size < STARTUP_LOC_SIG_LEN + 1 ||
        memcmp(data, startup_loc_sig, STARTUP_LOC_SIG_LEN) != 0)
        return 0;
    if (p->hcrtm)
        return 0; /* H-CRTM already set PCR0's start (tpm2-tools foreach_event2) */
    for (size_t i = 0; i < p->out->n_banks; i++)
        if (p->out->banks[i].touched & 1u)
            return fail_at(p, ev_off, "StartupLocality event after PCR0 was extended");
    for (size_t i = 0; i < p->out->n_banks; i++) {
        EventLogBank *b = &p->out->banks[i];
        memset(b->pcr[0], 0, sizeof(b->pcr[0]));
        b->pcr[0][b->digest_size - 1] = data[STARTUP_LOC_SIG_LEN];
        b->touched |= 1u;
    }
    return 0;
}

static int check_index(Parser *p, uint32_t index, uint32_t type, size_t ev_off) {
    uint32_t max = p->ccel ? CCEL_MAX_INDEX : EVENTLOG_MAX_PCRS - 1;
    if (index > max)
        return fail_at(p, ev_off, "event type 0x%x extends %s %u, beyond %u", type,
                       p->ccel ? "MR index" : "PCR", index, max);
    return 0;
}

static int hcrtm_start(Parser *p, uint32_t index, uint32_t type) {
    if (p->ccel || index != 0 || type != EV_EFI_HCRTM_EVENT)
        return 0;
    for (size_t i = 0; i < p->out->n_banks; i++)
        if (p->out->banks[i].touched & 1u)
            return 0;
    for (size_t i = 0; i < p->out->n_banks; i++) {
        EventLogBank *b = &p->out->banks[i];
        memset(b->pcr[0], 0, sizeof(b->pcr[0]));
        b->pcr[0][b->digest_size - 1] = HCRTM_LOCALITY;
    }
    p->hcrtm = true;
    return 0;
}

static int callback(Parser *p, const EventLogEvent *ev) {
    if (!p->cb)
        return 0;
    int r = p->cb(ev, p->userdata);
    return r < 0 ? r : 0;
}

/* Legacy TCG_PCR_EVENT (PFP §10.2.1): SHA1-only logs; also the first event of every log. */
static int parse_legacy_event(Parser *p) {
    ByteReader *r = &p->r;
    size_t ev_off = br_offset(r);
    EventLogEvent ev = {.offset = ev_off};
    if (br_remaining(r) < TCG_PCR_EVENT_HDR)
        return fail_at(p, ev_off, "truncated event header (%zu bytes left, need %u)",
                       br_remaining(r), TCG_PCR_EVENT_HDR);
    ev.index = br_u32le(r);
    ev.type = br_u32le(r);
    ev.digests_offset = br_offset(r) - r->base;
    const uint8_t *digest = br_take(r, 20);
    ev.digests_len = 20;
    ev.data_size = br_u32le(r);
    ev.data_offset = br_offset(r) - r->base;
    if (ev.data_size > br_remaining(r))
        return fail_at(p, ev_off, "event data size %u exceeds the %zu bytes left", ev.data_size,
                       br_remaining(r));
    const uint8_t *data = br_take(r, ev.data_size);
    if (!digest || !data)
        return fail_at(p, ev_off, "truncated event");
    ev.size = br_offset(r) - ev_off;
    ev.offset -= r->base;
    p->out->n_events++;

    if (ev.type == EV_NO_ACTION) {
        /* Never extended (PFP §10.4.5); Windows logs end with one on PCR 0xFFFFFFFF. */
        if (ev.index == 0) {
            int k = startup_locality(p, data, ev.data_size, ev_off);
            if (k < 0)
                return k;
        }
        return callback(p, &ev);
    }
    int k = check_index(p, ev.index, ev.type, ev_off);
    if (k < 0)
        return k;
    k = hcrtm_start(p, ev.index, ev.type);
    if (k < 0)
        return k;
    k = extend(p, 0, ev.index, digest, ev_off);
    if (k < 0)
        return k;
    return callback(p, &ev);
}

/* The Spec ID Event03 data (PFP §10.4.5.1 TCG_EfiSpecIDEventStruct). data_end is where
 * the event data ends by its eventDataSize. */
static int parse_spec_id(Parser *p, size_t ev_off, size_t data_end) {
    ByteReader *r = &p->r;
    br_skip(r, SPEC_ID_SIG_LEN);
    (void)br_u32le(r); /* platformClass */
    uint8_t minor = br_u8(r), major = br_u8(r);
    (void)br_u8(r); /* specErrata */
    uint8_t uintn = br_u8(r);
    uint32_t n = br_u32le(r);
    if (!br_ok(r))
        return fail_at(p, r->err_offset, "truncated Spec ID event");
    if (major != 2 || minor != 0)
        return fail_at(p, ev_off, "Spec ID event version %u.%u, expected 2.0", major, minor);
    if (uintn != 1 && uintn != 2)
        return fail_at(p, ev_off, "Spec ID event uintnSize %u, expected 1 or 2", uintn);
    if (n == 0 || n > SPECID_MAX_ALGS)
        return fail_at(p, ev_off, "Spec ID event lists %u algorithms (1..%u allowed)", n,
                       SPECID_MAX_ALGS);
    for (uint32_t i = 0; i < n; i++) {
        size_t off = br_offset(r);
        uint16_t alg = br_u16le(r), size = br_u16le(r);
        if (!br_ok(r))
            return fail_at(p, r->err_offset, "truncated Spec ID algorithm table");
        if (size == 0) /* any other size will do: unknown algorithms are only skipped */
            return fail_at(p, off, "Spec ID event gives algorithm 0x%04x a digest size of 0", alg);
        for (size_t j = 0; j < p->n_algs; j++)
            if (p->algs[j].alg == alg)
                return fail_at(p, off, "Spec ID event lists algorithm 0x%04x twice", alg);
        int bank = add_bank(p, alg, size, off);
        if (bank < -1)
            return bank;
        p->algs[p->n_algs++] = (SpecAlg){.alg = alg, .size = size, .bank = bank};
    }
    if (p->out->n_banks == 0)
        return fail_at(p, ev_off, "Spec ID event names no supported digest algorithm");
    uint8_t vendor = br_u8(r);
    br_skip(r, vendor);
    if (!br_ok(r))
        return fail_at(p, r->err_offset, "truncated Spec ID vendor info");
    /* The next event follows the vendor info, or the event data if that is longer (the
     * tpm2-tools fixture specid-vendordata.bin understates eventDataSize). */
    if (br_offset(r) < data_end)
        br_seek(r, data_end - r->base);
    return 0;
}

/* The first event: a legacy-format Spec ID Event03 makes the log crypto-agile. */
static int parse_header(Parser *p, bool *ret_agile) {
    ByteReader *r = &p->r;
    size_t ev_off = br_offset(r);
    *ret_agile = false;
    if (br_remaining(r) < TCG_PCR_EVENT_HDR + SPEC_ID_SIG_LEN)
        return 0;
    ByteReader peek = *r;
    uint32_t index = br_u32le(&peek), type = br_u32le(&peek);
    bool zero = br_zeros(&peek, 20);
    uint32_t size = br_u32le(&peek);
    const uint8_t *sig = br_take(&peek, SPEC_ID_SIG_LEN);
    /* TDX firmware logs it on CC MR index 1 (go-eventlog cos-113 CCEL), others on PCR 0. */
    if (index > 1 || type != EV_NO_ACTION || !sig || memcmp(sig, spec_id_sig, SPEC_ID_SIG_LEN) != 0)
        return 0;
    if (!zero)
        return fail_at(p, ev_off, "Spec ID event has a non-zero digest");
    *ret_agile = true;
    br_skip(r, TCG_PCR_EVENT_HDR);
    size_t data_start = br_offset(r);
    if (size > br_remaining(r))
        return fail_at(p, ev_off, "Spec ID event data size %u exceeds the %zu bytes left", size,
                       br_remaining(r));
    int k = parse_spec_id(p, ev_off, data_start + size);
    if (k < 0)
        return k;
    p->out->n_events++;
    EventLogEvent ev = {
        .offset = ev_off - r->base,
        .size = br_offset(r) - ev_off,
        .index = index,
        .type = type,
        .digests_offset = ev_off + 8 - r->base,
        .digests_len = 20,
        .data_offset = data_start - r->base,
        .data_size = size,
    };
    return callback(p, &ev);
}

/* TCG_PCR_EVENT2 (PFP §10.2.2). */
static int parse_event2(Parser *p) {
    ByteReader *r = &p->r;
    size_t ev_off = br_offset(r);
    EventLogEvent ev = {.offset = ev_off - r->base};
    const uint8_t *digests[SPECID_MAX_ALGS] = {0};
    if (br_remaining(r) < 12)
        return fail_at(p, ev_off, "truncated event header (%zu bytes left, need 12)",
                       br_remaining(r));
    ev.index = br_u32le(r);
    ev.type = br_u32le(r);
    uint32_t count = br_u32le(r);
    ev.digests_offset = br_offset(r) - r->base;
    /* Usually one digest per Spec ID algorithm; fewer occur (tpm2-tools event-uefivar.bin)
     * and leave the other banks alone, as tpm2-tools does. */
    if (count == 0 || count > p->n_algs)
        return fail_at(p, ev_off, "event has %u digests, the Spec ID event lists %zu algorithms",
                       count, p->n_algs);
    for (uint32_t i = 0; i < count; i++) {
        size_t off = br_offset(r);
        if (br_remaining(r) < 2)
            return fail_at(p, off, "truncated digest algorithm");
        uint16_t alg = br_u16le(r);
        size_t j;
        for (j = 0; j < p->n_algs && p->algs[j].alg != alg; j++)
            ;
        if (j == p->n_algs)
            return fail_at(p, off, "digest algorithm 0x%04x is not in the Spec ID event", alg);
        if (digests[j])
            return fail_at(p, off, "digest algorithm 0x%04x appears twice", alg);
        if (p->algs[j].size > br_remaining(r))
            return fail_at(p, off, "truncated digest (0x%04x needs %u bytes, %zu left)", alg,
                           p->algs[j].size, br_remaining(r));
        digests[j] = br_take(r, p->algs[j].size);
    }
    ev.digests_len = br_offset(r) - r->base - ev.digests_offset;
    size_t size_off = br_offset(r);
    if (br_remaining(r) < 4)
        return fail_at(p, size_off, "truncated event data size");
    ev.data_size = br_u32le(r);
    ev.data_offset = br_offset(r) - r->base;
    if (ev.data_size > br_remaining(r))
        return fail_at(p, size_off, "event data size %u exceeds the %zu bytes left", ev.data_size,
                       br_remaining(r));
    const uint8_t *data = br_take(r, ev.data_size);
    if (!data && ev.data_size)
        return fail_at(p, size_off, "truncated event data");
    ev.size = br_offset(r) - ev_off;
    p->out->n_events++;

    if (ev.type == EV_NO_ACTION) {
        if (ev.index == 0) {
            int k = startup_locality(p, data, ev.data_size, ev_off);
            if (k < 0)
                return k;
        }
        return callback(p, &ev);
    }
    int k = check_index(p, ev.index, ev.type, ev_off);
    if (k < 0)
        return k;
    k = hcrtm_start(p, ev.index, ev.type);
    if (k < 0)
        return k;
    for (size_t j = 0; j < p->n_algs; j++) {
        if (p->algs[j].bank < 0 || !digests[j])
            continue;
        k = extend(p, (size_t)p->algs[j].bank, ev.index, digests[j], ev_off);
        if (k < 0)
            return k;
    }
    return callback(p, &ev);
}

/* End of log (tee-formats.md §4.2): the input ends, the rest is 0xFF/0x00 fill, or an
 * all-0xFF / all-0x00 header (pcrIndex and eventType both) starts the padding. A lone
 * pcrIndex 0xFFFFFFFF is a real (Windows) EV_NO_ACTION event, not the end. */
static bool at_end(const ByteReader *r) {
    if (br_remaining(r) == 0)
        return true;
    if (br_remaining(r) >= 8) {
        ByteReader peek = *r;
        uint32_t index = br_u32le(&peek), type = br_u32le(&peek);
        return (index == UINT32_MAX && type == UINT32_MAX) || (index == 0 && type == 0);
    }
    return rest_is_fill(r);
}

int eventlog_replay_cb(const uint8_t *data, size_t len, bool ccel, EventLogReplay *ret,
                       char **reterr, EventLogCallback cb, void *userdata) {
    _cleanup_free_ Parser *p = calloc(1, sizeof(Parser));
    _cleanup_free_ EventLogReplay *out = calloc(1, sizeof(EventLogReplay));
    bool agile;
    int r;

    if (reterr)
        *reterr = NULL;
    if (!p || !out)
        return -ENOMEM;
    br_init(&p->r, data, len);
    p->ccel = out->ccel = ccel;
    p->out = out;
    p->reterr = reterr;
    p->cb = cb;
    p->userdata = userdata;

    if (len == 0)
        return fail_at(p, 0, "empty event log");
    r = parse_header(p, &agile);
    if (r < 0)
        return r;
    if (!agile) {
        if (ccel)
            return fail_at(p, 0, "CCEL log does not start with a Spec ID Event03 event");
        out->legacy = true;
        EventLogBank *b = &out->banks[0];
        b->alg_id = known_algs[0].alg;
        b->name = known_algs[0].name;
        b->digest_size = known_algs[0].size;
        p->evp[0] = known_algs[0].evp;
        out->n_banks = 1;
        p->algs[0] = (SpecAlg){.alg = b->alg_id, .size = b->digest_size, .bank = 0};
        p->n_algs = 1;
        r = parse_legacy_event(p);
        if (r < 0)
            return r;
        while (!at_end(&p->r)) {
            r = parse_legacy_event(p);
            if (r < 0)
                return r;
        }
    } else {
        while (!at_end(&p->r)) {
            r = parse_event2(p);
            if (r < 0)
                return r;
        }
    }
    out->end_offset = br_offset(&p->r);
    *ret = *out;
    return 0;
}

int eventlog_replay(const uint8_t *data, size_t len, bool ccel, EventLogReplay *ret,
                    char **reterr) {
    return eventlog_replay_cb(data, len, ccel, ret, reterr, NULL, NULL);
}

const EventLogBank *eventlog_bank(const EventLogReplay *r, const char *name) {
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->n_banks && i < EVENTLOG_MAX_BANKS; i++)
        if (r->banks[i].name && strcmp(r->banks[i].name, name) == 0)
            return &r->banks[i];
    return NULL;
}

int eventlog_rtmr(const EventLogReplay *r, unsigned i, uint8_t out[48]) {
    if (!r || !r->ccel || i > 3)
        return -EINVAL;
    const EventLogBank *b = eventlog_bank(r, "sha384");
    if (!b)
        return -ENOENT;
    memcpy(out, b->pcr[i + 1], 48); /* CC MR index i+1 = RTMR i (tee-formats.md §4.4) */
    return 0;
}

bool eventlog_looks_like_ccel(const uint8_t *data, size_t len) {
    _cleanup_free_ EventLogReplay *r = calloc(1, sizeof(EventLogReplay));
    if (!r || eventlog_replay(data, len, false, r, NULL) < 0)
        return false;
    if (r->legacy || r->n_banks != 1 || r->banks[0].alg_id != 0x000C)
        return false;
    return (r->banks[0].touched & ~0x1Eu) == 0; /* only MR indices 1..4 (RTMR0..3) */
}
