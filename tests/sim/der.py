"""Minimal DER encoder (X.690) for the few structures the simulator builds
by hand (the SGX extensions of PCK certificates)."""


def _len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, value):
    return bytes([tag]) + _len(len(value)) + value


def _int_bytes(v):
    if v == 0:
        return b"\x00"
    b = v.to_bytes((v.bit_length() + 8) // 8, "big", signed=True)  # room for the sign bit
    while len(b) > 1 and b[0] == 0 and b[1] < 0x80:
        b = b[1:]
    return b


def integer(v):
    return tlv(0x02, _int_bytes(v))


def enumerated(v):
    return tlv(0x0A, _int_bytes(v))


def octet_string(b):
    return tlv(0x04, bytes(b))


def oid(dotted):
    parts = [int(x) for x in dotted.split(".")]
    out = bytearray([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        enc = [p & 0x7F]
        p >>= 7
        while p:
            enc.append(0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(reversed(enc))
    return tlv(0x06, bytes(out))


def seq(*items):
    return tlv(0x30, b"".join(items))
