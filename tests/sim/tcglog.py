"""TCG PC Client crypto-agile event log: parse, replay, and build.

Replay rules from tee-formats.md §4.2 (TCG PC Client PFP): EV_NO_ACTION is
never extended; a StartupLocality EV_NO_ACTION on PCR0 sets PCR0's initial
last byte; EV_EFI_HCRTM_EVENT sets it to 4; the log ends at its end or at an
all-0xFF / all-zero (pcrIndex, eventType) pair (padding).
"""

import hashlib
import struct

EV_NO_ACTION = 0x3
EV_SEPARATOR = 0x4
EV_S_CRTM_VERSION = 0x8
EV_EFI_ACTION = 0x80000007
EV_EFI_HCRTM_EVENT = 0x80000010
ALGS = {0x0004: ("sha1", 20), 0x000B: ("sha256", 32), 0x000C: ("sha384", 48), 0x000D: ("sha512", 64)}
SPEC_ID_SIG = b"Spec ID Event03\x00"
STARTUP_LOCALITY = b"StartupLocality\x00"


class LogError(ValueError):
    pass


def _u32(b, off, field):
    if off + 4 > len(b):
        raise LogError("event log truncated at offset %d reading %s" % (off, field))
    return struct.unpack_from("<I", b, off)[0]


def parse(log):
    """Returns (digest_sizes {alg: size}, events [ {pcr, type, digests {alg: bytes}, data} ])."""
    b = bytes(log)
    off = 0
    pcr = _u32(b, 0, "pcrIndex")
    etype = _u32(b, 4, "eventType")
    if etype != EV_NO_ACTION or len(b) < 32:
        raise LogError("offset 0: first event is not the Spec ID EV_NO_ACTION event (legacy SHA-1 logs unsupported)")
    size = _u32(b, 28, "eventDataSize")
    data = b[32:32 + size]
    if len(data) != size or data[:16] != SPEC_ID_SIG:
        raise LogError("offset 32: Spec ID Event03 signature missing")
    if size < 28:
        raise LogError("offset 32: Spec ID event too short")
    nalg = struct.unpack_from("<I", data, 24)[0]
    sizes = {}
    p = 28
    for _ in range(nalg):
        if p + 4 > len(data):
            raise LogError("offset %d: Spec ID algorithm table truncated" % (32 + p))
        alg, dsz = struct.unpack_from("<HH", data, p)
        sizes[alg] = dsz
        p += 4
    if p >= len(data) + 1:
        raise LogError("offset %d: Spec ID vendorInfoSize missing" % (32 + p))
    vsz = data[p] if p < len(data) else 0
    off = 32 + p + 1 + vsz  # tpm2-tools locates the next event after vendorInfo
    del pcr
    events = []
    while off < len(b):
        if off + 8 > len(b):
            raise LogError("event log truncated at offset %d (event header)" % off)
        pcr, etype = struct.unpack_from("<II", b, off)
        if (pcr, etype) in ((0xFFFFFFFF, 0xFFFFFFFF), (0, 0)):
            break
        start = off
        count = _u32(b, off + 8, "digestCount")
        off += 12
        digests = {}
        for _ in range(count):
            if off + 2 > len(b):
                raise LogError("event at offset %d: truncated digest list" % start)
            alg = struct.unpack_from("<H", b, off)[0]
            if alg not in sizes:
                raise LogError("event at offset %d: digest algorithm 0x%04x not in the Spec ID table" % (start, alg))
            d = b[off + 2:off + 2 + sizes[alg]]
            if len(d) != sizes[alg]:
                raise LogError("event at offset %d: truncated digest" % start)
            digests[alg] = d
            off += 2 + sizes[alg]
        esz = _u32(b, off, "eventSize")
        data = b[off + 4:off + 4 + esz]
        if len(data) != esz:
            raise LogError("event at offset %d: event data truncated (%d of %d bytes)" % (start, len(data), esz))
        off += 4 + esz
        events.append({"pcr": pcr, "type": etype, "digests": digests, "data": data, "offset": start})
    return sizes, events


def replay(log):
    """Returns {alg: {pcr: value}} for every bank in the Spec ID table."""
    sizes, events = parse(log)
    banks = {alg: {} for alg in sizes if alg in ALGS}
    locality = None
    hcrtm = any(e["type"] == EV_EFI_HCRTM_EVENT and e["pcr"] == 0 for e in events)
    for e in events:
        if e["type"] == EV_NO_ACTION and e["pcr"] == 0 and e["data"][:16] == STARTUP_LOCALITY and len(e["data"]) > 16:
            locality = e["data"][16]
    for alg, bank in banks.items():
        name, size = ALGS[alg]
        init0 = bytes(size - 1) + bytes([4 if hcrtm else (locality or 0)])
        for e in events:
            if e["type"] == EV_NO_ACTION or alg not in e["digests"]:
                continue
            cur = bank.get(e["pcr"], init0 if e["pcr"] == 0 else bytes(size))
            bank[e["pcr"]] = hashlib.new(name, cur + e["digests"][alg]).digest()
        if 0 not in bank and (hcrtm or locality):
            bank[0] = init0
    return banks


def build(events, algs=(0x0004, 0x000B), locality=None):
    """Builds a crypto-agile log. events = [(pcr, type, data)], each digest = H(data).
    Returns (log bytes, [(pcr, {alg: digest})] in order) — the extends to apply."""
    spec = SPEC_ID_SIG + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, len(algs))
    for a in algs:
        spec += struct.pack("<HH", a, ALGS[a][1])
    spec += b"\x00"
    out = struct.pack("<II", 0, EV_NO_ACTION) + bytes(20) + struct.pack("<I", len(spec)) + spec
    extends = []

    def ev2(pcr, etype, digests, data):
        body = struct.pack("<III", pcr, etype, len(digests))
        for a, d in digests.items():
            body += struct.pack("<H", a) + d
        return body + struct.pack("<I", len(data)) + data

    if locality is not None:
        data = STARTUP_LOCALITY + bytes([locality])
        out += ev2(0, EV_NO_ACTION, {a: bytes(ALGS[a][1]) for a in algs}, data)
    for pcr, etype, data in events:
        digests = {a: hashlib.new(ALGS[a][0], data).digest() for a in algs}
        out += ev2(pcr, etype, digests, data)
        extends.append((pcr, digests))
    return out, extends


def default_boot_events():
    """A small, plausible boot sequence over PCR0-7 (firmware, config, separators)."""
    ev = [(0, EV_S_CRTM_VERSION, "simulated CRTM 1.0\0".encode("utf-16-le"))]
    ev += [(i, EV_EFI_ACTION, b"simulated firmware measurement for PCR %d" % i) for i in range(8)]
    ev += [(i, EV_SEPARATOR, b"\x00\x00\x00\x00") for i in range(8)]
    return ev
