/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCG firmware event logs: parse and replay.
 *
 * Reads a TCG PC Client log (crypto-agile "Spec ID Event03" format, or the
 * legacy SHA1-only TCG_PCR_EVENT format) or a TDX CCEL log (crypto-agile,
 * indices are CC measurement registers) and replays it into the register
 * values it implies, for every digest bank the log carries. Pure: bytes in,
 * values out; no I/O. Untrusted input is read only through the ByteReader.
 *
 * Facts: TCG PC Client Platform Firmware Profile (PFP) §10.2 (structures),
 * §10.4.5.1 (StartupLocality), tee-formats.md §4.
 */
#ifndef CVM_TPM_EVENTLOG_H
#define CVM_TPM_EVENTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVENTLOG_MAX_PCRS  24
#define EVENTLOG_MAX_BANKS 8

typedef struct EventLogBank {
    uint16_t alg_id;  /* TPM_ALG_ID */
    const char *name; /* "sha1","sha256","sha384","sha512","sm3_256" */
    uint16_t digest_size;
    uint8_t pcr[EVENTLOG_MAX_PCRS][64];
    uint32_t touched; /* bit i: PCR/MR i extended or set */
} EventLogBank;

typedef struct EventLogReplay {
    bool ccel;
    size_t n_banks;
    EventLogBank banks[EVENTLOG_MAX_BANKS];
    size_t n_events;   /* events parsed, including the header and EV_NO_ACTION events */
    bool legacy;       /* legacy SHA1-only TCG_PCR_EVENT log (no Spec ID Event03) */
    size_t end_offset; /* where the events end (the input's length, or where padding starts) */
} EventLogReplay;

/* One parsed event, for eventlog_replay_cb(); offsets count from the start of the input. */
typedef struct EventLogEvent {
    size_t offset;         /* of the event header */
    size_t size;           /* whole event */
    uint32_t index;        /* PCR, or CC MR index */
    uint32_t type;         /* eventType */
    size_t digests_offset; /* the digest(s): 20 bytes (legacy) or the TPML_DIGEST_VALUES list */
    size_t digests_len;
    size_t data_offset; /* event data */
    uint32_t data_size;
} EventLogEvent;
/* Called for every event after it was replayed; a negative return stops the replay. */
typedef int (*EventLogCallback)(const EventLogEvent *ev, void *userdata);

/*
 * Parses and replays a whole log. ccel: a TDX CCEL log, indices are CC MR
 * indices (0 = MRTD, 1..4 = RTMR0..3), kept as they are. On malformed input
 * returns -EBADMSG and, when reterr is given, a malloc'ed message naming the
 * byte offset.
 */
int eventlog_replay(const uint8_t *data, size_t len, bool ccel, EventLogReplay *ret, char **reterr);

/* The bank called name ("sha256", ...), or NULL. */
/* The same, calling cb (when not NULL) for every event. */
int eventlog_replay_cb(const uint8_t *data, size_t len, bool ccel, EventLogReplay *ret,
                       char **reterr, EventLogCallback cb, void *userdata);

const EventLogBank *eventlog_bank(const EventLogReplay *r, const char *name);

/* RTMR i (0..3) of a CCEL replay, 48 bytes; -ENOENT if no sha384 bank. */
int eventlog_rtmr(const EventLogReplay *r, unsigned i, uint8_t out[48]);

/*
 * Heuristic: true when data looks like a TDX CCEL log rather than a TPM log:
 * a well-formed crypto-agile log whose only bank is SHA-384 and whose events
 * extend only indices 1..4 (RTMR0..3). Real TPM logs carry SHA-1 or SHA-256
 * banks and extend PCR0, so they never match. False for anything malformed.
 */
bool eventlog_looks_like_ccel(const uint8_t *data, size_t len);

#endif
