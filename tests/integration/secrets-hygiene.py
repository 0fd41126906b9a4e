#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Helper of tests/integration/secrets-hygiene.sh, independent of the agent's code.

  derive OUTDIR --cmk DER... --envelope JSON... [--bearer JWT...]
        writes every secret value the test can learn to OUTDIR, one file each:
        the private numbers of each released CMK (PKCS#8 DER), and, for each
        envelope wrap a CMK opens (RSA-OAEP-256), the key-encryption key, K_cmk
        and the private numbers of the policy key K_pol; for a bearer token,
        its signature (header and claims are alike in every token)
  scan --secret FILE... --root PATH... [--exclude PATH...] [--prune GLOB...]
       [--newer FILE] [--max-size BYTES]
        every regular file under the roots (not the excluded paths nor
        directories whose name matches a --prune glob; with --newer only files
        changed after FILE; files over --max-size skipped) searched for each secret file's bytes:
        raw, hex (lower and upper), base64 and base64url at the three byte
        alignments, in windows of 32 bytes (the whole value when shorter),
        also across line breaks and JSON-escaped newlines (PEM, JSON). Prints
        one line per hit and exits 1 when there is one.
"""

import argparse
import base64
import fnmatch
import json
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

WINDOW = 32


def int_bytes(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def private_numbers(label, key, out):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        out[label + ".d"] = int_bytes(key.private_numbers().private_value)
        return
    if not isinstance(key, rsa.RSAPrivateKey):
        sys.exit("%s: neither an RSA nor an EC private key" % label)
    pn = key.private_numbers()
    for name, v in (("d", pn.d), ("p", pn.p), ("q", pn.q), ("dp", pn.dmp1), ("dq", pn.dmq1),
                    ("qinv", pn.iqmp)):
        out["%s.%s" % (label, name)] = int_bytes(v)


def derive(args):
    found = {}
    cmks = []
    for i, path in enumerate(args.cmk):
        key = serialization.load_der_private_key(open(path, "rb").read(), None)
        private_numbers("cmk%d" % i, key, found)
        cmks.append(key)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    opened = 0
    for path in args.envelope:
        env = json.load(open(path))
        for slot in ("key", "previous"):
            w = env.get(slot)
            if not w or w.get("wrap") != "RSA-OAEP-256":
                continue
            wrapped = base64.b64decode(w["wrapped_key"])
            for key in cmks:
                try:
                    kek = key.decrypt(wrapped, oaep)
                except ValueError:
                    continue
                p = base64.b64decode(w["payload"])
                aad = ("cvm-agent-secret/1/%s/cmk" % env["name"]).encode()
                payload = AESGCM(kek).decrypt(p[:12], p[12:], aad)
                label = "%s.%s.%s" % (env["name"], slot, w["version"][:8])
                found[label + ".kek"] = kek
                found[label + ".k_cmk"] = payload[:32]
                if len(payload) > 32:  # mode tpm+cmk: the policy key follows
                    private_numbers(label + ".k_pol",
                                    serialization.load_der_private_key(payload[32:], None), found)
                opened += 1
    if opened == 0:
        sys.exit("no envelope wrap opened with the released CMKs")
    for path in args.bearer:
        sig = open(path).read().strip().split(".")[2]
        found[os.path.basename(path) + ".sig"] = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    os.makedirs(args.outdir, exist_ok=True)
    for label, value in found.items():
        with open(os.path.join(args.outdir, label), "wb") as f:
            f.write(value)
    print("%d values (%d envelope wraps opened)" % (len(found), opened))


def b64_forms(chunk):
    """base64 / base64url of chunk at the three alignments it can have inside a
    longer encoding: drop 0-2 leading bytes, keep whole 3-byte groups."""
    forms = []
    for off in range(3):
        sub = chunk[off:]
        sub = sub[:len(sub) - len(sub) % 3]
        if len(sub) < 15:
            continue
        forms.append(("base64+%d" % off, base64.b64encode(sub)))
        forms.append(("base64url+%d" % off, base64.urlsafe_b64encode(sub)))
    return forms


def needles(value):
    if len(value) <= WINDOW + WINDOW // 2:
        windows = [value]
    else:
        mid = len(value) // 2 - WINDOW // 2
        windows = [value[:WINDOW], value[mid:mid + WINDOW], value[-WINDOW:]]
    out = []
    for w in windows:
        out.append(("raw", w))
        out.append(("hex", w.hex().encode()))
        out.append(("HEX", w.hex().upper().encode()))
        out += b64_forms(w)
    return out


def variants(data):
    yield data
    # PEM and wrapped base64: the encoding broken over lines (also as JSON escapes)
    flat = data.replace(b"\r", b"").replace(b"\n", b"").replace(b"\\n", b"").replace(b"\\/", b"/")
    if flat != data:
        yield flat
    # hex dumps with separators ("de:ad:..", "de ad ..")
    sep = flat.replace(b":", b"").replace(b" ", b"")
    if sep != flat:
        yield sep


def walk(roots, excluded, prune, newer, max_size):
    for root in roots:
        if os.path.isfile(root):
            yield root
            continue
        for d, dirs, files in os.walk(root):
            dirs[:] = [x for x in dirs if os.path.join(d, x) not in excluded
                       and not any(fnmatch.fnmatch(x, g) for g in prune)]
            for name in files:
                path = os.path.join(d, name)
                if path in excluded or os.path.islink(path) or not os.path.isfile(path):
                    continue
                try:
                    st = os.stat(path)
                except OSError:
                    continue  # gone meanwhile (another test's file)
                if newer is not None and st.st_mtime < newer:
                    continue
                if st.st_size <= max_size:
                    yield path


def scan(args):
    pats = []
    for path in args.secret:
        value = open(path, "rb").read()
        if len(value) < 16:
            sys.exit("%s: %d bytes, too short to search for" % (path, len(value)))
        pats += [(os.path.basename(path), form, n) for form, n in needles(value)]
    excluded = {os.path.abspath(p) for p in args.exclude}
    newer = os.stat(args.newer).st_mtime if args.newer else None
    files = hits = 0
    roots = [os.path.abspath(r) for r in args.root]
    for path in walk(roots, excluded, args.prune, newer, args.max_size):
        try:
            data = open(path, "rb").read()
        except OSError:
            continue
        files += 1
        seen = set()
        for v in variants(data):
            for label, form, n in pats:
                if (label, form) not in seen and n in v:
                    seen.add((label, form))
                    print("LEAK: %s holds %s (%s)" % (path, label, form))
                    hits += 1
    print("scanned %d files for %d secret values (%d patterns): %d hits"
          % (files, len(args.secret), len(pats), hits))
    return 1 if hits else 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("derive")
    d.add_argument("outdir")
    d.add_argument("--cmk", nargs="+", required=True)
    d.add_argument("--envelope", nargs="+", required=True)
    d.add_argument("--bearer", nargs="*", default=[])
    s = sub.add_parser("scan")
    s.add_argument("--secret", nargs="+", required=True)
    s.add_argument("--exclude", nargs="*", default=[])
    s.add_argument("--root", nargs="+", required=True)
    s.add_argument("--prune", nargs="*", default=[])
    s.add_argument("--newer")
    s.add_argument("--max-size", type=int, default=64 << 20)
    args = p.parse_args()
    if args.cmd == "derive":
        derive(args)
        return 0
    return scan(args)


if __name__ == "__main__":
    sys.exit(main())
