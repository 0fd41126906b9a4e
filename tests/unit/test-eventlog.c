/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpm/eventlog.c: replay of real logs against independently stated values
 * (tpm2-tools YAML `pcrs:` blocks, the MANIFEST's upstream-asserted PCRs and
 * RTMRs, the RTMRs inside the cos-113 TDX quote), the replay rules on
 * hand-built logs, and truncations / bit flips of real logs (errors or
 * different values, never a crash; run under ASan in the sanitizer build).
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>

#include <openssl/evp.h>

#include "common/bytes.h"
#include "common/codec.h"
#include "common/util.h"
#include "test-helpers.h"
#include "tpm/eventlog.h"

#define T2T  "tpm2-software__tpm2-tools"
#define GEL  "google__go-eventlog"
#define COS  GEL "/eventlogs_ccel_cos-113-intel-tdx.bin"
#define COSQ "google__go-tdx-guest/testing_testdata_ccel_cos-113-tdx-quote.dat"

static void testdata_or_skip(void) {
    struct stat st;
    if (stat(testdata_dir(), &st) < 0) {
        print_message("SKIP: testdata '%s' absent (set CVM_TESTDATA)\n", testdata_dir());
        skip();
    }
}

static EventLogReplay *replay_ok(const uint8_t *d, size_t n, bool ccel, const char *what) {
    EventLogReplay *r = calloc(1, sizeof(*r));
    char *err = NULL;
    assert_non_null(r);
    int k = eventlog_replay(d, n, ccel, r, &err);
    if (k < 0)
        fail_msg("%s: replay failed: %s", what, err ? err : strerror(-k));
    free(err);
    return r;
}

static bool same_values(const EventLogReplay *a, const EventLogReplay *b) {
    if (a->n_banks != b->n_banks)
        return false;
    for (size_t i = 0; i < a->n_banks; i++) {
        const EventLogBank *x = &a->banks[i], *y = &b->banks[i];
        if (x->alg_id != y->alg_id || x->touched != y->touched)
            return false;
        for (unsigned p = 0; p < EVENTLOG_MAX_PCRS; p++)
            if (memcmp(x->pcr[p], y->pcr[p], x->digest_size) != 0)
                return false;
    }
    return true;
}

/* ---- tpm2-tools fixtures: the `pcrs:` block of FILE.yaml ---- */

/* Compares the replay with the pcrs: block (bank lines "  sha1:", value lines
 * "    N  : 0xHEX"); every bank the replay touched must be listed, and vice versa. */
static size_t check_yaml_pcrs(const char *yaml_rel, const char *bin_rel) {
    _cleanup_free_ uint8_t *yaml = NULL, *bin = NULL;
    size_t ylen = 0, blen = 0, checked = 0;
    testdata_read_or_skip(yaml_rel, &yaml, &ylen);
    testdata_read_or_skip(bin_rel, &bin, &blen);
    _cleanup_free_ EventLogReplay *r = replay_ok(bin, blen, false, bin_rel);
    char *p = strstr((char *)yaml, "\npcrs:\n");
    if (!p)
        fail_msg("%s has no pcrs: block", yaml_rel);
    const EventLogBank *bank = NULL;
    uint32_t listed[EVENTLOG_MAX_BANKS] = {0};
    for (char *line = strtok(p + 7, "\n"); line; line = strtok(NULL, "\n")) {
        char name[16], colon[2], hex[160];
        unsigned idx;
        if (sscanf(line, "  %15[a-z0-9_]%1[:]", name, colon) == 2 && line[2] != ' ') {
            bank = eventlog_bank(r, name);
            if (!bank)
                fail_msg("%s: bank %s not in the replay", bin_rel, name);
            continue;
        }
        if (sscanf(line, " %u : 0x%159[0-9a-fA-F]", &idx, hex) != 2)
            fail_msg("%s: unexpected line in pcrs: '%s'", yaml_rel, line);
        assert_non_null(bank);
        assert_true(idx < EVENTLOG_MAX_PCRS);
        uint8_t want[64];
        assert_int_equal(strlen(hex), 2u * bank->digest_size);
        assert_int_equal(hex_decode_fixed(hex, want, bank->digest_size), 0);
        if (!(bank->touched & (1u << idx)) || memcmp(want, bank->pcr[idx], bank->digest_size))
            fail_msg("%s: %s PCR %u differs from %s", bin_rel, bank->name, idx, yaml_rel);
        listed[bank - r->banks] |= 1u << idx;
        checked++;
    }
    for (size_t i = 0; i < r->n_banks; i++)
        if (r->banks[i].touched != listed[i])
            fail_msg("%s: %s touched 0x%x, YAML lists 0x%x", bin_rel, r->banks[i].name,
                     r->banks[i].touched, listed[i]);
    return checked;
}

static void test_tpm2_tools_fixtures(void **state) {
    (void)state;
    testdata_or_skip();
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/" T2T, testdata_dir());
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t files = 0, values = 0;
    for (struct dirent *de; (de = readdir(d));) {
        const char *n = de->d_name;
        size_t l = strlen(n);
        /* event-raw_X.bin.yaml (and the unprefixed X.bin.yaml) describe X.bin */
        if (l < 9 || strcmp(n + l - 9, ".bin.yaml") != 0 || strncmp(n, "event-pretty", 12) == 0)
            continue;
        const char *bin = strncmp(n, "event-raw_", 10) == 0 ? n + 10 : n;
        char yrel[512], brel[512];
        snprintf(yrel, sizeof(yrel), T2T "/%s", n);
        snprintf(brel, sizeof(brel), T2T "/%.*s", (int)strlen(bin) - 5, bin);
        size_t v = check_yaml_pcrs(yrel, brel);
        print_message("  %s: %zu PCR values match\n", brel, v);
        files++;
        values += v;
    }
    closedir(d);
    print_message("  tpm2-tools: %zu fixtures, %zu PCR values\n", files, values);
    assert_true(files >= 12); /* 10 event-raw_*.yaml + event.bin.yaml + specid-vendordata */
    assert_true(values > 100);
}

/* ---- MANIFEST.md: upstream-asserted PCR and RTMR values of the event logs ---- */

/* Compares want (hex, or "PREFIX...SUFFIX" as the MANIFEST abbreviates) with got. */
static bool hex_matches(const char *want, size_t wlen, const uint8_t *got, size_t n) {
    _cleanup_free_ char *g = hex_encode(got, n);
    assert_non_null(g);
    const char *dots = memmem(want, wlen, "...", 3);
    if (!dots)
        return wlen == 2 * n && strncmp(want, g, wlen) == 0;
    size_t pre = (size_t)(dots - want), suf = wlen - pre - 3;
    return pre + suf <= 2 * n && strncmp(want, g, pre) == 0 &&
           strncmp(want + pre + 3, g + 2 * n - suf, suf) == 0;
}

static size_t span_hex(const char *s) {
    size_t n = 0;
    while (isxdigit((unsigned char)s[n]) && !isupper((unsigned char)s[n]))
        n++;
    return n;
}

/* Checks every "shaN[i]=HEX" and "RTMRi=HEX" token of one MANIFEST row. */
static size_t check_manifest_row(const char *rel, const char *row) {
    _cleanup_free_ uint8_t *log = NULL;
    size_t len = 0, checked = 0;
    testdata_read_or_skip(rel, &log, &len);
    bool ccel = eventlog_looks_like_ccel(log, len);
    _cleanup_free_ EventLogReplay *r = replay_ok(log, len, ccel, rel);
    for (const char *p = row; *p; p++) {
        char bank[16];
        unsigned idx;
        int used = 0;
        if (sscanf(p, "%15[a-z0-9][%u]=%n", bank, &idx, &used) == 2 && used > 0 &&
            strncmp(bank, "sha", 3) == 0 && (p == row || !isalnum((unsigned char)p[-1]))) {
            const char *h = p + used;
            size_t hl = span_hex(h);
            if (hl == 0)
                continue;
            const EventLogBank *b = eventlog_bank(r, bank);
            if (!b || idx >= EVENTLOG_MAX_PCRS || !(b->touched & (1u << idx)))
                fail_msg("%s: MANIFEST names %s[%u], which the replay lacks", rel, bank, idx);
            if (!hex_matches(h, hl, b->pcr[idx], b->digest_size))
                fail_msg("%s: %s[%u] differs from the MANIFEST", rel, bank, idx);
            checked++;
            p = h + hl - 1;
        } else if (sscanf(p, "RTMR%1u=%n", &idx, &used) == 1 && used > 0) {
            const char *h = p + used;
            size_t hl = span_hex(h);
            if (hl && strncmp(h + hl, "...", 3) == 0)
                hl += 3 + span_hex(h + hl + 3);
            if (hl == 0)
                continue;
            uint8_t mr[48];
            if (!ccel || eventlog_rtmr(r, idx, mr) < 0)
                fail_msg("%s: MANIFEST names RTMR%u but the log is not a CCEL log", rel, idx);
            if (!hex_matches(h, hl, mr, sizeof(mr)))
                fail_msg("%s: RTMR%u differs from the MANIFEST", rel, idx);
            checked++;
            p = h + hl - 1;
        }
    }
    return checked;
}

static void test_manifest_logs(void **state) {
    (void)state;
    _cleanup_free_ uint8_t *man = NULL;
    size_t len = 0, logs = 0, values = 0;
    testdata_read_or_skip("MANIFEST.md", &man, &len);
    char section[256] = "";
    for (char *line = strtok((char *)man, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "## ", 3) == 0) {
            snprintf(section, sizeof(section), "%s", line + 3);
            continue;
        }
        if (strncmp(line, "| `", 3) != 0)
            continue;
        const char *end = strchr(line + 3, '`');
        if (!end)
            continue;
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(end - line - 3), line + 3);
        /* the event logs of go-eventlog and trustee (not the quotes, tables or JSON) */
        bool gel = strcmp(section, GEL) == 0,
             trustee = strcmp(section, "confidential-containers__trustee") == 0;
        if (!(gel || (trustee && strstr(name, "CCEL"))) || strstr(name, ".json") ||
            (!strstr(name, "eventlog") && !strstr(name, "CCEL")))
            continue;
        if (!strstr(end, "[0]=") && !strstr(end, "RTMR0="))
            continue; /* no values stated */
        char rel[600];
        snprintf(rel, sizeof(rel), "%s/%s", section, name);
        size_t v = check_manifest_row(rel, end);
        print_message("  %s: %zu values match\n", rel, v);
        assert_true(v > 0);
        logs++;
        values += v;
    }
    print_message("  MANIFEST: %zu logs, %zu values\n", logs, values);
    assert_true(logs >= 20);
}

/* Rows that state no values: the 49-byte StartupLocality-only log sets PCR0's start and
 * extends nothing; the unpadded dupe-separator log replays like the padded one. */
static void test_manifest_edge_logs(void **state) {
    (void)state;
    _cleanup_free_ uint8_t *s = NULL, *pad = NULL, *unpad = NULL;
    size_t sl = 0, pl = 0, ul = 0;
    testdata_read_or_skip(GEL "/legacydata_short_no_action_eventlog", &s, &sl);
    _cleanup_free_ EventLogReplay *r = replay_ok(s, sl, false, "short_no_action");
    assert_true(r->legacy);
    assert_int_equal(r->n_events, 1);
    const EventLogBank *b = eventlog_bank(r, "sha1");
    uint8_t want[20] = {0};
    want[19] = 3; /* StartupLocality 3 */
    assert_int_equal(b->touched, 1u);
    assert_memory_equal(b->pcr[0], want, 20);

    testdata_read_or_skip(GEL "/eventlogs_ccel_cos-113-intel-tdx-dupe-separator.bin", &pad, &pl);
    testdata_read_or_skip(GEL "/eventlogs_ccel_cos-113-intel-tdx-dupe-separator-unpadded.bin",
                          &unpad, &ul);
    _cleanup_free_ EventLogReplay *rp = replay_ok(pad, pl, true, "dupe-separator");
    _cleanup_free_ EventLogReplay *ru = replay_ok(unpad, ul, true, "dupe-separator-unpadded");
    assert_true(same_values(rp, ru));
    assert_int_equal(rp->end_offset, ul);
    assert_int_equal(ru->end_offset, ul);
}

/* ---- cos-113: the CCEL replay equals the RTMRs in the TDX quote ---- */

static void quote_rtmrs(uint8_t rtmr[4][48]) {
    _cleanup_free_ uint8_t *q = NULL;
    size_t qlen = 0;
    ByteReader br;
    testdata_read_or_skip(COSQ, &q, &qlen);
    br_init(&br, q, qlen);
    assert_int_equal(br_u16le(&br), 4); /* Quote v4 (tee-formats.md §2.2) */
    br_seek(&br, 0x04);
    assert_int_equal(br_u32le(&br), 0x81); /* TEE type TDX */
    br_seek(&br, 0x178);                   /* RTMR0 at 0x178, then RTMR1..3 */
    for (unsigned i = 0; i < 4; i++)
        br_copy(&br, rtmr[i], 48);
    assert_true(br_ok(&br));
}

static bool rtmrs_equal(const EventLogReplay *r, uint8_t want[4][48]) {
    for (unsigned i = 0; i < 4; i++) {
        uint8_t mr[48];
        assert_int_equal(eventlog_rtmr(r, i, mr), 0);
        if (memcmp(mr, want[i], 48) != 0)
            return false;
    }
    return true;
}

typedef struct Events {
    size_t n;
    EventLogEvent ev[512];
} Events;

static int collect(const EventLogEvent *ev, void *userdata) {
    Events *e = userdata;
    if (e->n < ELEMENTSOF(e->ev))
        e->ev[e->n++] = *ev;
    return 0;
}

static bool extends(const EventLogEvent *ev) {
    return ev->type != 3 /* EV_NO_ACTION */;
}

static void test_cos113_ccel_matches_quote(void **state) {
    (void)state;
    uint8_t want[4][48];
    _cleanup_free_ uint8_t *log = NULL;
    size_t len = 0;
    quote_rtmrs(want);
    testdata_read_or_skip(COS, &log, &len);
    assert_true(eventlog_looks_like_ccel(log, len));

    _cleanup_free_ EventLogReplay *r = calloc(1, sizeof(*r));
    _cleanup_free_ Events *ev = calloc(1, sizeof(*ev));
    assert_non_null(r);
    assert_non_null(ev);
    assert_int_equal(eventlog_replay_cb(log, len, true, r, NULL, collect, ev), 0);
    assert_true(r->ccel);
    assert_true(rtmrs_equal(r, want));
    assert_int_equal(r->end_offset, 18101); /* 0xFF padding follows (MANIFEST) */

    /* A one-byte change in any extending event's digests breaks the match. */
    size_t changed = 0;
    for (size_t i = 0; i < ev->n; i++) {
        if (!extends(&ev->ev[i]))
            continue;
        size_t off = ev->ev[i].digests_offset + ev->ev[i].digests_len - 1;
        log[off] ^= 0x01;
        _cleanup_free_ EventLogReplay *m = replay_ok(log, len, true, "cos-113 altered");
        assert_false(rtmrs_equal(m, want));
        log[off] ^= 0x01;
        changed++;
    }
    assert_true(changed > 30);
    /* Without the CCEL flag the same bytes are a TPM log with PCRs 1..3. */
    _cleanup_free_ EventLogReplay *t = replay_ok(log, len, false, COS);
    assert_false(t->ccel);
    assert_int_equal(eventlog_rtmr(t, 0, want[0]), -EINVAL);
}

static void test_looks_like_ccel(void **state) {
    (void)state;
    static const char *const tpm[] = {GEL "/eventlogs_tpm_cos-101-amd-sev.bin",
                                      GEL "/eventlogs_tpm_debian-10.bin",
                                      T2T "/event-gce-ubuntu-2104-log.bin", T2T "/event.bin"};
    static const char *const ccel[] = {
        COS, GEL "/eventlogs_ccel_event_log.bin",
        "confidential-containers__trustee/deps_eventlog_test_data_CCEL_data",
        "confidential-containers__trustee/deps_eventlog_test_data_CCEL_AAEL_alibabacloud"};
    for (size_t i = 0; i < ELEMENTSOF(tpm); i++) {
        _cleanup_free_ uint8_t *d = NULL;
        size_t n = 0;
        testdata_read_or_skip(tpm[i], &d, &n);
        assert_false(eventlog_looks_like_ccel(d, n));
    }
    for (size_t i = 0; i < ELEMENTSOF(ccel); i++) {
        _cleanup_free_ uint8_t *d = NULL;
        size_t n = 0;
        testdata_read_or_skip(ccel[i], &d, &n);
        assert_true(eventlog_looks_like_ccel(d, n));
    }
}

/* ---- truncations and bit flips of real logs ---- */

static const struct {
    const char *rel;
    bool ccel;
    bool every_bit; /* all 8 bits of every byte, else one bit per byte */
} mutated[] = {
    {T2T "/event-uefivar.bin", false, true},
    {T2T "/event-sd-boot-fedora37.bin", false, true},
    {T2T "/event-uefi-sha1-log.bin", false, false}, /* legacy SHA1 */
    {T2T "/specid-vendordata.bin", false, true},
    {GEL "/eventlogs_tpm_glinux-alex.bin", false, false},
    {GEL "/legacydata_option_rom_eventlog", false, false},
    {GEL "/eventlogs_ccel_cos-113-intel-tdx-dupe-separator-unpadded.bin", true, false},
};

static void test_truncations(void **state) {
    (void)state;
    testdata_or_skip();
    for (size_t f = 0; f < ELEMENTSOF(mutated); f++) {
        _cleanup_free_ uint8_t *log = NULL;
        size_t len = 0, errors = 0, differ = 0, same = 0;
        testdata_read_or_skip(mutated[f].rel, &log, &len);
        _cleanup_free_ Events *ev = calloc(1, sizeof(*ev));
        _cleanup_free_ EventLogReplay *full = calloc(1, sizeof(*full));
        _cleanup_free_ EventLogReplay *r = calloc(1, sizeof(*r));
        assert_non_null(ev);
        assert_non_null(full);
        assert_non_null(r);
        assert_int_equal(eventlog_replay_cb(log, len, mutated[f].ccel, full, NULL, collect, ev), 0);
        size_t last_extend_end = 0;
        for (size_t i = 0; i < ev->n; i++)
            if (extends(&ev->ev[i]))
                last_extend_end = ev->ev[i].offset + ev->ev[i].size;
        for (size_t cut = 0; cut < len; cut += test_stride()) {
            _cleanup_free_ uint8_t *t = malloc(cut ? cut : 1); /* exact size for ASan */
            char *err = NULL;
            assert_non_null(t);
            memcpy(t, log, cut);
            int k = eventlog_replay(t, cut, mutated[f].ccel, r, &err);
            if (k < 0) {
                assert_int_equal(k, -EBADMSG);
                assert_non_null(err);
                assert_non_null(strstr(err, "offset"));
                errors++;
            } else if (!same_values(r, full))
                differ++;
            else {
                /* only cutting events that extend nothing leaves the values alone */
                if (cut < last_extend_end)
                    fail_msg("%s cut at %zu replays like the whole log", mutated[f].rel, cut);
                same++;
            }
            free(err);
        }
        print_message("  %s: %zu truncations: %zu errors, %zu different, %zu same (after the "
                      "last extension)\n",
                      mutated[f].rel, len, errors, differ, same);
    }
}

static void test_bit_flips(void **state) {
    (void)state;
    testdata_or_skip();
    for (size_t f = 0; f < ELEMENTSOF(mutated); f++) {
        _cleanup_free_ uint8_t *log = NULL;
        size_t len = 0, errors = 0, differ = 0, same = 0, asserted = 0;
        testdata_read_or_skip(mutated[f].rel, &log, &len);
        _cleanup_free_ Events *ev = calloc(1, sizeof(*ev));
        _cleanup_free_ EventLogReplay *full = calloc(1, sizeof(*full));
        _cleanup_free_ EventLogReplay *r = calloc(1, sizeof(*r));
        _cleanup_free_ uint8_t *t = malloc(len);
        assert_non_null(ev);
        assert_non_null(full);
        assert_non_null(r);
        assert_non_null(t);
        assert_int_equal(eventlog_replay_cb(log, len, mutated[f].ccel, full, NULL, collect, ev), 0);
        memcpy(t, log, len);
        size_t e = 0;
        for (size_t off = 0; off < len; off += test_stride()) {
            while (e < ev->n && off >= ev->ev[e].offset + ev->ev[e].size)
                e++;
            /* Value-bearing bytes: the index and the digests (with their count and
             * algorithm ids) of an event that extends. Flips elsewhere (event type,
             * event data, EV_NO_ACTION digests) may leave the values alone. */
            bool must_change = false;
            if (e < ev->n && e > 0 && extends(&ev->ev[e])) {
                const EventLogEvent *x = &ev->ev[e];
                must_change =
                    off < x->offset + 4 || (off >= x->digests_offset - (full->legacy ? 0 : 4) &&
                                            off < x->digests_offset + x->digests_len);
            }
            for (unsigned bit = 0; bit < 8; bit++) {
                if (!mutated[f].every_bit && bit != off % 8)
                    continue;
                char *err = NULL;
                t[off] ^= (uint8_t)(1u << bit);
                int k = eventlog_replay(t, len, mutated[f].ccel, r, &err);
                t[off] ^= (uint8_t)(1u << bit);
                if (k < 0) {
                    assert_int_equal(k, -EBADMSG);
                    assert_non_null(err);
                    errors++;
                } else if (!same_values(r, full))
                    differ++;
                else {
                    if (must_change)
                        fail_msg("%s: flipping bit %u of byte %zu (event %zu) changes nothing",
                                 mutated[f].rel, bit, off, e);
                    same++;
                }
                asserted += must_change;
                free(err);
            }
        }
        print_message("  %s: bit flips: %zu errors, %zu different, %zu same (%zu flips in "
                      "index/digest bytes all detected)\n",
                      mutated[f].rel, errors, differ, same, asserted);
    }
}

/* ---- replay rules on hand-built logs ---- */

typedef struct Buf {
    uint8_t d[2048];
    size_t n;
} Buf;

static void put(Buf *b, const void *p, size_t n) {
    assert_true(n <= sizeof(b->d) - b->n);
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void put32(Buf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}
static void put16(Buf *b, uint16_t v) {
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(b, x, 2);
}

typedef struct Alg {
    uint16_t id, size;
} Alg;

static void spec_id(Buf *b, uint32_t index, const Alg *algs, size_t n) {
    static const uint8_t zero[20];
    put32(b, index);
    put32(b, 3);
    put(b, zero, 20);
    put32(b, (uint32_t)(16 + 4 + 4 + 4 + 4 * n + 1));
    put(b, "Spec ID Event03", 16);
    put32(b, 0);
    uint8_t v[4] = {0, 2, 0, 2};
    put(b, v, 4);
    put32(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        put16(b, algs[i].id);
        put16(b, algs[i].size);
    }
    uint8_t vendor = 0;
    put(b, &vendor, 1);
}

static void event2(Buf *b, uint32_t index, uint32_t type, const Alg *algs, size_t n, uint8_t fill,
                   const void *data, uint32_t size) {
    put32(b, index);
    put32(b, type);
    put32(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        uint8_t dg[128];
        memset(dg, fill, sizeof(dg));
        put16(b, algs[i].id);
        put(b, dg, algs[i].size);
    }
    put32(b, size);
    put(b, data, size);
}

/* H(start || fill*size) with OpenSSL directly, as the reference. */
static void ref_extend(const EVP_MD *md, uint8_t *pcr, size_t size, uint8_t fill) {
    uint8_t buf[128];
    unsigned n = 0;
    memcpy(buf, pcr, size);
    memset(buf + size, fill, size);
    assert_int_equal(EVP_Digest(buf, 2 * size, pcr, &n, md, NULL), 1);
    assert_int_equal(n, size);
}

static const Alg sha1_256[] = {{0x0004, 20}, {0x000B, 32}};

static void test_rules_agile(void **state) {
    (void)state;
    Buf b = {0};
    const Alg three[] = {{0x0004, 20}, {0x7777, 80}, {0x000B, 32}}; /* unknown alg in the middle */
    uint8_t loc[17] = "StartupLocality";
    loc[16] = 3;
    spec_id(&b, 0, three, 3);
    event2(&b, 0, 3, three, 3, 0x00, loc, sizeof(loc));  /* StartupLocality 3 */
    event2(&b, 0, 8, three, 3, 0xA1, "crtm", 4);         /* extends PCR0 */
    event2(&b, 5, 3, three, 3, 0xEE, "no action", 9);    /* EV_NO_ACTION: never extended */
    event2(&b, 7, 0x80000001, three, 3, 0xB2, "var", 3); /* PCR7 */
    event2(&b, 23, 4, three, 3, 0xC3, "\0\0\0\0", 4);    /* PCR23, the last */
    size_t end = b.n;

    uint8_t p0_1[20] = {0}, p0_256[32] = {0}, p7_256[32] = {0}, p23_1[20] = {0};
    p0_1[19] = 3;
    p0_256[31] = 3;
    ref_extend(EVP_sha1(), p0_1, 20, 0xA1);
    ref_extend(EVP_sha256(), p0_256, 32, 0xA1);
    ref_extend(EVP_sha256(), p7_256, 32, 0xB2);
    ref_extend(EVP_sha1(), p23_1, 20, 0xC3);

    for (int pad = 0; pad < 3; pad++) {
        Buf c = b;
        uint8_t fill[100];
        memset(fill, pad == 1 ? 0xFF : 0x00, sizeof(fill));
        if (pad)
            put(&c, fill, pad == 1 ? 100 : 7); /* 0xFF padding, or a few 0x00 bytes */
        _cleanup_free_ EventLogReplay *r = replay_ok(c.d, c.n, false, "hand-built agile");
        assert_false(r->legacy);
        assert_int_equal(r->n_banks, 2); /* the unknown algorithm is skipped by its size */
        assert_int_equal(r->n_events, 6);
        assert_int_equal(r->end_offset, end);
        const EventLogBank *s1 = eventlog_bank(r, "sha1"), *s256 = eventlog_bank(r, "sha256");
        assert_non_null(s1);
        assert_non_null(s256);
        assert_null(eventlog_bank(r, "sha384"));
        assert_int_equal(s256->touched, (1u << 0) | (1u << 7) | (1u << 23));
        assert_memory_equal(s1->pcr[0], p0_1, 20);
        assert_memory_equal(s256->pcr[0], p0_256, 32);
        assert_memory_equal(s256->pcr[7], p7_256, 32);
        assert_memory_equal(s1->pcr[23], p23_1, 20);
        assert_false(eventlog_looks_like_ccel(c.d, c.n));
    }

    /* Garbage after the events, or a PCR index beyond 23: errors naming the offset. */
    static const struct {
        uint32_t index;
        const char *data;
        size_t n;
        const char *want;
    } bad[] = {
        {24, NULL, 0, "offset"},
        {0xFFFFFFFF, NULL, 0, "offset"},
        {0, "\xff\xff\xff\x01", 4, "offset"},
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        Buf c = b;
        char *err = NULL;
        EventLogReplay r;
        if (bad[i].data)
            put(&c, bad[i].data, bad[i].n);
        else
            event2(&c, bad[i].index, 4, three, 3, 0x11, "x", 1);
        assert_int_equal(eventlog_replay(c.d, c.n, false, &r, &err), -EBADMSG);
        assert_non_null(err);
        assert_non_null(strstr(err, bad[i].want));
        char want_off[32];
        snprintf(want_off, sizeof(want_off), "offset %zu", b.n);
        assert_non_null(strstr(err, want_off));
        free(err);
    }
}

static void test_rules_headers(void **state) {
    (void)state;
    /* A known algorithm with the wrong size in the Spec ID table. */
    const Alg wrong[] = {{0x000B, 20}};
    Buf b = {0};
    char *err = NULL;
    EventLogReplay r;
    spec_id(&b, 0, wrong, 1);
    event2(&b, 0, 8, wrong, 1, 0x01, "x", 1);
    assert_int_equal(eventlog_replay(b.d, b.n, false, &r, &err), -EBADMSG);
    assert_non_null(strstr(err, "sha256"));
    free(err);
    err = NULL;

    /* A digest algorithm the Spec ID event does not list. */
    Buf c = {0};
    const Alg other[] = {{0x000D, 64}};
    spec_id(&c, 0, sha1_256, 2);
    event2(&c, 0, 8, other, 1, 0x01, "x", 1);
    assert_int_equal(eventlog_replay(c.d, c.n, false, &r, &err), -EBADMSG);
    assert_non_null(strstr(err, "0x000d"));
    free(err);
    err = NULL;

    /* An event data size beyond the input. */
    Buf d = {0};
    spec_id(&d, 0, sha1_256, 2);
    event2(&d, 0, 8, sha1_256, 2, 0x01, "abcd", 4);
    d.d[d.n - 8] = 0xFF; /* eventSize's low byte: 4 -> 255 */
    assert_int_equal(eventlog_replay(d.d, d.n, false, &r, &err), -EBADMSG);
    assert_non_null(strstr(err, "exceeds"));
    free(err);
    err = NULL;

    /* Empty input. */
    assert_int_equal(eventlog_replay(d.d, 0, false, &r, &err), -EBADMSG);
    free(err);

    /* H-CRTM: PCR0 starts at 00..04 and StartupLocality after it changes nothing. */
    Buf h = {0};
    uint8_t loc[17] = "StartupLocality";
    loc[16] = 3;
    spec_id(&h, 0, sha1_256, 2);
    event2(&h, 0, 0x80000010, sha1_256, 2, 0x5A, "HCRTM", 5);
    event2(&h, 0, 3, sha1_256, 2, 0x00, loc, sizeof(loc));
    _cleanup_free_ EventLogReplay *rh = replay_ok(h.d, h.n, false, "H-CRTM");
    uint8_t p0[32] = {0};
    p0[31] = 4;
    ref_extend(EVP_sha256(), p0, 32, 0x5A);
    assert_memory_equal(eventlog_bank(rh, "sha256")->pcr[0], p0, 32);
}

static void test_rules_legacy(void **state) {
    (void)state;
    Buf b = {0};
    uint8_t dg[20];
    static const struct {
        uint32_t index, type;
        uint8_t fill;
    } evs[] = {{0, 8, 0x10}, {4, 0x80000003, 0x20}, {2, 3, 0x30}, {0xFFFFFFFF, 3, 0x40}};
    for (size_t i = 0; i < ELEMENTSOF(evs); i++) {
        put32(&b, evs[i].index);
        put32(&b, evs[i].type);
        memset(dg, evs[i].fill, sizeof(dg));
        put(&b, dg, 20);
        put32(&b, 2);
        put(&b, "ev", 2);
    }
    _cleanup_free_ EventLogReplay *r = replay_ok(b.d, b.n, false, "legacy");
    assert_true(r->legacy);
    assert_int_equal(r->n_banks, 1);
    assert_int_equal(r->n_events, 4); /* the final PCR 0xFFFFFFFF EV_NO_ACTION is an event */
    const EventLogBank *s1 = eventlog_bank(r, "sha1");
    assert_int_equal(s1->touched, (1u << 0) | (1u << 4));
    uint8_t p4[20] = {0};
    ref_extend(EVP_sha1(), p4, 20, 0x20);
    assert_memory_equal(s1->pcr[4], p4, 20);
    /* A legacy log is not a CCEL log. */
    char *err = NULL;
    EventLogReplay x;
    assert_int_equal(eventlog_replay(b.d, b.n, true, &x, &err), -EBADMSG);
    free(err);
}

static void test_rules_ccel(void **state) {
    (void)state;
    const Alg s384[] = {{0x000C, 48}};
    Buf b = {0};
    spec_id(&b, 1, s384, 1);
    event2(&b, 1, 0x80000001, s384, 1, 0x11, "cfg", 3); /* RTMR0 */
    event2(&b, 4, 6, s384, 1, 0x44, "tag", 3);          /* RTMR3 */
    uint8_t ff[64];
    memset(ff, 0xFF, sizeof(ff));
    put(&b, ff, sizeof(ff));
    assert_true(eventlog_looks_like_ccel(b.d, b.n));
    _cleanup_free_ EventLogReplay *r = replay_ok(b.d, b.n, true, "ccel");
    uint8_t want0[48] = {0}, want3[48] = {0}, mr[48];
    ref_extend(EVP_sha384(), want0, 48, 0x11);
    ref_extend(EVP_sha384(), want3, 48, 0x44);
    assert_int_equal(eventlog_rtmr(r, 0, mr), 0);
    assert_memory_equal(mr, want0, 48);
    assert_int_equal(eventlog_rtmr(r, 3, mr), 0);
    assert_memory_equal(mr, want3, 48);
    assert_int_equal(eventlog_rtmr(r, 1, mr), 0);
    assert_true(br_zeros(&(ByteReader){.data = mr, .len = 48}, 48));
    assert_int_equal(eventlog_rtmr(r, 4, mr), -EINVAL);

    /* MR index 5 does not exist. */
    Buf c = {0};
    char *err = NULL;
    EventLogReplay x;
    spec_id(&c, 1, s384, 1);
    event2(&c, 5, 6, s384, 1, 0x44, "tag", 3);
    assert_int_equal(eventlog_replay(c.d, c.n, true, &x, &err), -EBADMSG);
    assert_non_null(strstr(err, "offset"));
    free(err);

    /* A CCEL replay without a SHA-384 bank has no RTMRs. */
    Buf d = {0};
    spec_id(&d, 1, sha1_256, 2);
    event2(&d, 1, 6, sha1_256, 2, 0x44, "tag", 3);
    _cleanup_free_ EventLogReplay *rd = replay_ok(d.d, d.n, true, "ccel sha256");
    assert_int_equal(eventlog_rtmr(rd, 0, mr), -ENOENT);
    assert_false(eventlog_looks_like_ccel(d.d, d.n));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_agile),
        cmocka_unit_test(test_rules_headers),
        cmocka_unit_test(test_rules_legacy),
        cmocka_unit_test(test_rules_ccel),
        cmocka_unit_test(test_tpm2_tools_fixtures),
        cmocka_unit_test(test_manifest_logs),
        cmocka_unit_test(test_manifest_edge_logs),
        cmocka_unit_test(test_cos113_ccel_matches_quote),
        cmocka_unit_test(test_looks_like_ccel),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_bit_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
