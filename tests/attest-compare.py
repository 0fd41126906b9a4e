#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Our AzureGuest request against the one Microsoft's client sends.

  attest-compare.py capture --port-file F --out DIR
      a one-shot plain-HTTP server on 127.0.0.1: stores the raw request head
      (DIR/request_headers.txt) and body (DIR/request_body.json) of the first
      request, answers 400 {"error":{"code":"Captured",...}} and exits.
  attest-compare.py compare --ours DIR --ref DIR [--tee snp|tdx]
      compares request line, header names/order/values (Host without port,
      Content-Length = body size) and the body: AttestationInfo decoded,
      member by member — same keys, same JSON types, same string encodings
      (base64 vs base64url, padding), same TPM structure types (TPM2B_PUBLIC,
      TPMS_ATTEST quote/certify, raw RSASSA signatures, DER certificate),
      recursively inside Proof and RunTimeData. Values are not compared.
  attest-compare.py selftest --ref DIR
      proves the comparison fails: altered copies of the reference (a
      base64url field, a missing key, a TPMT_SIGNATURE instead of raw bytes,
      a string where a number was, a header changed) must each be refused.
Exit 0 when equal, 1 with one line per difference.
"""

import argparse
import base64
import copy
import json
import os
import re
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "sim"))
import tpmstructs as ts  # noqa: E402

STD = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
URL = re.compile(r"^[A-Za-z0-9_-]*$")


def b64dec(s):
    t = s.replace("-", "+").replace("_", "/")
    return base64.b64decode(t + "=" * (-len(t) % 4), validate=True)


def enc_class(s):
    """(alphabet, padded) of a base64 string: alphabet std|url|either, padded yes|no|either."""
    if s == "":
        return ("empty", "either")
    std_chars = bool(re.search(r"[+/]", s))
    url_chars = bool(re.search(r"[-_]", s))
    if "=" in s:
        padded = "yes"
    elif len(s) % 4:
        padded = "no"
    else:
        padded = "either"
    if std_chars and url_chars:
        return ("mixed", padded)
    if not (STD.match(s) or URL.match(s)):
        return ("text", padded)
    return ("std" if std_chars else "url" if url_chars else "either", padded)


def compatible(a, b):
    """Two encoding classes can be the same encoder's output."""
    if "text" in (a[0], b[0]) or "mixed" in (a[0], b[0]):
        return a[0] == b[0]
    if "empty" in (a[0], b[0]):
        return True  # nothing to tell (e.g. TcgLogs without a log in the reference)
    alpha = a[0] == b[0] or "either" in (a[0], b[0])
    pad = a[1] == b[1] or "either" in (a[1], b[1])
    return alpha and pad


def tpm_kind(name, raw):
    """What TPM structure (or other binary) a TpmInfo member holds."""
    try:
        if name in ("AikPub", "EncKeyPub"):
            p = ts.Public(raw, sized=True)
            return "TPM2B_PUBLIC/rsa%d" % p.key_bits
        if name in ("PcrQuote", "EncKeyCertifyInfo"):
            return "TPMS_ATTEST/0x%04x" % ts.Attest(raw).type
        if name in ("PcrSignature", "EncKeyCertifyInfoSignature"):
            try:
                ts.Signature(raw)
                return "TPMT_SIGNATURE"
            except ts.TpmParseError:
                return "raw-%d" % len(raw)
        if name == "AikCert":
            return "DER" if raw[:1] == b"\x30" else "not-DER"
        if name == "Digest":
            return "digest-%d" % len(raw)
    except ts.TpmParseError as e:
        return "unparsable(%s)" % e
    return None


def nested_json(raw):
    try:
        v = json.loads(raw.decode("utf-8"))
        return v if isinstance(v, (dict, list)) else None
    except (UnicodeDecodeError, ValueError):
        return None


def compare_values(path, ours, ref, diffs, tee="snp"):
    if type(ours) is not type(ref):
        diffs.append("%s: type %s, Microsoft's client sends %s" % (path, type(ours).__name__,
                                                                    type(ref).__name__))
        return
    if isinstance(ref, dict):
        ko, kr = list(ours), list(ref)
        if sorted(ko) != sorted(kr):
            if path != "AttestationInfo.ClientPayload" or "nonce" not in ko:
                diffs.append("%s: keys %s, Microsoft's client sends %s" % (path, sorted(ko), sorted(kr)))
                return
        for k in kr:
            if k in ours:
                compare_values(path + "." + k, ours[k], ref[k], diffs, tee)
        return
    if isinstance(ref, list):
        if ref and ours:
            for i, o in enumerate(ours):
                compare_values("%s[%d]" % (path, i), o, ref[min(i, len(ref) - 1)], diffs, tee)
        elif bool(ref) != bool(ours):
            diffs.append("%s: %d elements, reference %d" % (path, len(ours), len(ref)))
        return
    if not isinstance(ref, str):
        return
    name = path.rsplit(".", 1)[-1].split("[")[0]
    if name in ("AttestationProtocolVersion", "Type"):  # enumerations, not encodings
        return
    co, cr = enc_class(ours), enc_class(ref)
    if not compatible(co, cr):
        diffs.append("%s: encoding %s/padded=%s, Microsoft's client uses %s/padded=%s"
                     % (path, co[0], co[1], cr[0], cr[1]))
        return
    if cr[0] == "empty" and co[0] != "empty" and not compatible(co, ("std", "yes")):
        # nothing in the reference (no TCG log there): the client's encoder
        # for binaries is standard base64 with padding
        diffs.append("%s: encoding %s/padded=%s, the client's binary encoding is std/padded"
                     % (path, co[0], co[1]))
    if cr[0] in ("text", "empty") or co[0] == "empty":
        return
    ro, rr = b64dec(ours), b64dec(ref)
    ko, kr = tpm_kind(name, ro), tpm_kind(name, rr)
    if ko != kr:
        diffs.append("%s: holds %s, Microsoft's client sends %s" % (path, ko, kr))
        return
    if name == "Proof" and tee == "tdx":
        if ro[:2] not in (b"\x04\x00", b"\x05\x00"):
            diffs.append("%s: not a TD quote (version %r)" % (path, ro[:2]))
        return
    jo, jr = nested_json(ro), nested_json(rr)
    if (jo is None) != (jr is None):
        diffs.append("%s: JSON inside is %s, reference %s" % (path, jo is not None, jr is not None))
    elif jr is not None and name != "RunTimeData":  # runtime claims are the platform's, not ours
        compare_values(path + "<json>", jo, jr, diffs, tee)


def parse_head(text):
    lines = text.replace("\r\n", "\n").split("\n")
    return lines[0], [tuple(x.split(":", 1)) for x in lines[1:] if x.strip()]


def compare_headers(ours_text, ref_text, body_len, diffs):
    lo, ho = parse_head(ours_text)
    lr, hr = parse_head(ref_text)
    if lo != lr:
        diffs.append("request line %r, Microsoft's client sends %r" % (lo, lr))
    no, nr = [k for k, _ in ho], [k for k, _ in hr]
    if no != nr:
        diffs.append("headers %s, Microsoft's client sends %s (same order, same case)" % (no, nr))
        return
    for (k, vo), (_, vr) in zip(ho, hr):
        vo, vr = vo.strip(), vr.strip()
        if k.lower() == "host":
            vo = vo.rsplit(":", 1)[0] if vo.count(":") == 1 else vo
        if k.lower() == "content-length":
            if int(vo) != body_len:
                diffs.append("Content-Length %s != body size %d" % (vo, body_len))
            continue
        if vo != vr:
            diffs.append("header %s: %r, Microsoft's client sends %r" % (k, vo, vr))


def load_body(path):
    with open(path, "rb") as f:
        raw = f.read()
    outer = json.loads(raw)
    return raw, outer


def compare_bodies(ours_outer, ref_outer, diffs, tee):
    if sorted(ours_outer) != sorted(ref_outer):
        diffs.append("body keys %s, Microsoft's client sends %s" % (sorted(ours_outer), sorted(ref_outer)))
        return
    ao, ar = ours_outer["AttestationInfo"], ref_outer["AttestationInfo"]
    co, cr = enc_class(ao), enc_class(ar)
    if not compatible(co, cr):
        diffs.append("AttestationInfo: encoding %s, Microsoft's client uses %s" % (co, cr))
        return
    compare_values("AttestationInfo", json.loads(b64dec(ao)), json.loads(b64dec(ar)), diffs, tee)


def cmd_compare(a):
    diffs = []
    with open(os.path.join(a.ours, "request_headers.txt"), encoding="latin-1") as f:
        oh = f.read()
    with open(os.path.join(a.ref, "request_headers.txt"), encoding="latin-1") as f:
        rh = f.read()
    oraw, oo = load_body(os.path.join(a.ours, "request_body.json"))
    _, ro = load_body(os.path.join(a.ref, "request_body.json"))
    compare_headers(oh, rh, len(oraw), diffs)
    compare_bodies(oo, ro, diffs, a.tee)
    for d in diffs:
        print("DIFF: " + d)
    if not diffs:
        print("same request line, headers, keys, types, encodings and TPM structures as %s" % a.ref)
    return 1 if diffs else 0


def cmd_selftest(a):
    """Each alteration of the reference must be found (the comparison can fail)."""
    with open(os.path.join(a.ref, "request_headers.txt"), encoding="latin-1") as f:
        rh = f.read()
    rraw, ro = load_body(os.path.join(a.ref, "request_body.json"))
    ai = json.loads(b64dec(ro["AttestationInfo"]))

    def body(info):
        return {"AttestationInfo": base64.urlsafe_b64encode(json.dumps(info).encode()).rstrip(b"=").decode()}

    def m_url(i):
        s = i["TpmInfo"]["PcrQuote"]
        i["TpmInfo"]["PcrQuote"] = base64.urlsafe_b64encode(b64dec(s) + b"\xfb\xff").rstrip(b"=").decode()

    def m_missing(i):
        del i["OSBuild"]

    def m_tpmt(i):
        raw = b64dec(i["TpmInfo"]["PcrSignature"])
        i["TpmInfo"]["PcrSignature"] = base64.b64encode(b"\x00\x14\x00\x0b" + len(raw).to_bytes(2, "big") + raw).decode()

    def m_str(i):
        i["OSVersionMajor"] = str(i["OSVersionMajor"])

    def m_proof(i):
        ev = i["IsolationInfo"].get("Evidence")
        if ev:
            p = json.loads(b64dec(ev["Proof"]))
            p["SnpReport"] = base64.b64encode(b64dec(p["SnpReport"]) + b"\xfb\xff").decode()
            ev["Proof"] = base64.b64encode(json.dumps(p).encode()).decode()
        else:
            i["IsolationInfo"]["Type"] = 1

    def m_pub(i):
        i["TpmInfo"]["AikPub"] = i["TpmInfo"]["PcrQuote"]

    failures = 0
    for name, fn in (("base64url PcrQuote", m_url), ("missing OSBuild", m_missing),
                     ("TPMT_SIGNATURE PcrSignature", m_tpmt), ("string OSVersionMajor", m_str),
                     ("standard base64 inside Proof", m_proof), ("TPMS_ATTEST as AikPub", m_pub)):
        i = copy.deepcopy(ai)
        fn(i)
        diffs = []
        compare_bodies(body(i), ro, diffs, "snp")
        print("%s %s: %s" % ("ok  " if diffs else "MISS", name, diffs[0] if diffs else "not detected"))
        failures += not diffs
    diffs = []
    compare_headers(rh.replace("Accept: */*", "Accept: application/json"), rh, len(rraw), diffs)
    compare_headers(rh.replace("Content-Type", "User-Agent: x\nContent-Type"), rh, len(rraw), diffs)
    print("%s header alterations: %d found" % ("ok  " if len(diffs) == 2 else "MISS", len(diffs)))
    failures += len(diffs) != 2
    diffs = []
    compare_bodies(ro, ro, diffs, "snp")
    compare_headers(rh, rh, len(rraw), diffs)
    print("%s the reference equals itself" % ("ok  " if not diffs else "MISS"))
    failures += bool(diffs)
    return 1 if failures else 0


def cmd_capture(a):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(a.timeout)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    os.replace(a.port_file + ".tmp", a.port_file)
    conn, _ = srv.accept()
    conn.settimeout(a.timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    need = int(m.group(1)) if m else 0
    while len(rest) < need:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "request_headers.txt"), "wb") as f:
        f.write(head.replace(b"\r\n", b"\n") + b"\n\n")
    with open(os.path.join(a.out, "request_body.json"), "wb") as f:
        f.write(rest)
    msg = json.dumps({"error": {"code": "Captured", "message": "request captured by attest-compare"}}).encode()
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(msg) + msg)
    conn.close()
    srv.close()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("capture")
    p.add_argument("--port-file", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--timeout", type=float, default=60)
    p.set_defaults(fn=cmd_capture)
    p = sub.add_parser("compare")
    p.add_argument("--ours", required=True)
    p.add_argument("--ref", required=True)
    p.add_argument("--tee", choices=("snp", "tdx"), default="snp")
    p.set_defaults(fn=cmd_compare)
    p = sub.add_parser("selftest")
    p.add_argument("--ref", required=True)
    p.set_defaults(fn=cmd_selftest)
    a = ap.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
