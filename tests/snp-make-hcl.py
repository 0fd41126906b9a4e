#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Makes test SNP reports and Azure HCL reports (azure-wire-formats §1.2-1.3).

  snp-make-hcl.py hcl --template HCL --out F [--user-data HEX] [--key PEM] [--max 2048]
      the template's runtime JSON with "user-data" set, report_data bound to
      SHA-256 of it, the embedded SNP report re-signed with KEY (P-384)
  snp-make-hcl.py chip --report F          prints CHIP_ID (hex) of an SNP report
  snp-make-hcl.py table --out F VCEK.der ASK.der ARK.der   a GHCB cert table
"""
import argparse
import hashlib
import json
import struct
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HW = 0x20
VAR = 0x4D4


def sign_snp(report: bytearray, key_pem: str) -> None:
    with open(key_pem, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    sig = key.sign(bytes(report[:0x2A0]), ec.ECDSA(hashes.SHA384()))
    r, s = decode_dss_signature(sig)
    report[0x2A0:0x4A0] = bytes(0x200)
    report[0x2A0:0x2A0 + 72] = r.to_bytes(72, "little")
    report[0x2E8:0x2E8 + 72] = s.to_bytes(72, "little")


def cmd_hcl(a):
    with open(a.template, "rb") as f:
        t = bytearray(f.read())
    var_len = struct.unpack_from("<I", t, 0x4D0)[0]
    claims = json.loads(bytes(t[VAR:VAR + var_len]))
    if a.user_data is not None:
        claims["user-data"] = a.user_data.upper()
    var = json.dumps(claims, separators=(",", ":")).encode()
    out = bytearray(t[:VAR]) + var
    struct.pack_into("<I", out, 0x8, 1236 + len(var))
    struct.pack_into("<I", out, 0x4C0, 20 + len(var))
    struct.pack_into("<I", out, 0x4D0, len(var))
    struct.pack_into("<I", out, 0x4CC, 1)  # SHA-256
    digest = hashlib.sha256(var).digest()
    rtype = struct.unpack_from("<I", out, 0x4C8)[0]
    rd = HW + (0x50 if rtype == 2 else 0x80)
    out[rd:rd + 64] = digest + bytes(32)
    if a.key and rtype == 2:
        rep = bytearray(out[HW:HW + 0x4A0])
        rep[0x48] = 0  # VCEK
        sign_snp(rep, a.key)
        out[HW:HW + 0x4A0] = rep
    if len(out) > a.max:
        sys.exit(f"HCL report of {len(out)} bytes exceeds {a.max}")
    out += bytes(a.max - len(out)) if a.pad else b""
    with open(a.out, "wb") as f:
        f.write(out)


def cmd_chip(a):
    with open(a.report, "rb") as f:
        d = f.read()
    off = HW if d[:4] == b"HCLA" else 0
    print(d[off + 0x1A0:off + 0x1E0].hex())


def cmd_table(a):
    guids = ["63da758d-e664-4564-adc5-f4b93be8accd", "4ab7b379-bbac-4fe4-a02f-05aef327c782",
             "c0b406a4-a803-4952-9743-3fb6014cd0ae"]
    ders = [open(p, "rb").read() for p in a.certs]
    off = 24 * (len(ders) + 1)
    hdr, body = b"", b""
    for g, d in zip(guids, ders):
        hdr += bytes.fromhex(g.replace("-", "")) + struct.pack("<II", off + len(body), len(d))
        body += d
    with open(a.out, "wb") as f:
        f.write(hdr + bytes(24) + body)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hcl")
    h.add_argument("--template", required=True)
    h.add_argument("--out", required=True)
    h.add_argument("--user-data")
    h.add_argument("--key")
    h.add_argument("--max", type=int, default=2048)
    h.add_argument("--pad", action="store_true")
    c = sub.add_parser("chip")
    c.add_argument("--report", required=True)
    t = sub.add_parser("table")
    t.add_argument("--out", required=True)
    t.add_argument("certs", nargs=3)
    a = ap.parse_args()
    {"hcl": cmd_hcl, "chip": cmd_chip, "table": cmd_table}[a.cmd](a)


if __name__ == "__main__":
    main()
