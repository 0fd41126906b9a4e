#!/usr/bin/python3
"""Report signers of the simulated platform, using the test PKIs of pki.py.

* snp_report(...)            SEV-SNP ATTESTATION_REPORT v2/v3/v5 signed by the test VCEK
                             (tee-formats.md §1.1, signature over [0,0x2A0) ECDSA P-384/SHA-384, r/s LE)
* tdreport(...)              TDX TDREPORT_STRUCT (1024 B, §2.1) with consistent hashes and a
                             simulated MAC (HMAC-SHA-256 under a per-PKI platform key)
* tdx_quote(...)             TDX quote v4 (§2.2): attestation key P-256, QE report signed by the
                             test PCK key, PCK chain in certification data type 5 inside type 6
* tdx_quote_from_tdreport(pki_dir, tdreport)   what the IMDS /acc/tdquote emulator calls
* runtime_json(...), hcl_report(...)           Azure HCL report (azure-wire-formats.md §1.2-1.4)

Command line: signers.py hcl --pki DIR --ak-pub PEM [--ek-pub PEM] [--tee snp|tdx] --out FILE
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import struct
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import pki as pkimod

SNP_REPORT_SIZE = 0x4A0
SNP_SIGNED_LEN = 0x2A0
TDREPORT_SIZE = 1024
HCL_HEADER_SIZE = 32
HCL_FIXED_SIZE = 1236       # azure-wire-formats §1.2: ReportSize = 1236 + VariableDataSize
SWTPM_NV_MAX = 2048         # ENVIRONMENT-NOTES §3
QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")   # tee-formats §2.2
TDX_TEE_TYPE = 0x81


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


# ------------------------------------------------------------------ SNP

def tcb_u64(tcb, turin=False):
    """TCB_VERSION as u64 (tee-formats.md §1.3)."""
    if turin:
        return (tcb.get("fmc", 0) | tcb["bl"] << 8 | tcb["tee"] << 16 | tcb["snp"] << 24
                | tcb["ucode"] << 56)
    return tcb["bl"] | tcb["tee"] << 8 | tcb["snp"] << 48 | tcb["ucode"] << 56


def snp_report(pki_dir, *, version=2, report_data=b"", measurement=None, policy=0x30000,
               guest_svn=0, vmpl=0, tcb=None, current_tcb=None, chip_id=None, host_data=b"",
               family_id=b"", image_id=b"", platform_info=0x1, turin=False, signing_key=None,
               launch_mit_vector=0, current_mit_vector=0):
    """Returns a signed 1184-byte SNP report. Defaults come from pki meta.json so
    that the report matches the test VCEK (REPORTED_TCB, CHIP_ID)."""
    if version not in (2, 3, 5):
        raise ValueError("SNP report version must be 2, 3 or 5")
    amd = "amd-turin" if turin else "amd"
    meta = pkimod.load_meta(pki_dir)[amd]
    tcb = tcb or meta["tcb"]
    chip_id = chip_id if chip_id is not None else bytes.fromhex(meta["chip_id"])
    measurement = measurement if measurement is not None else hashlib.sha384(b"simulated launch").digest()
    r = bytearray(SNP_REPORT_SIZE)

    def put(off, b, size):
        b = bytes(b)
        if len(b) > size:
            raise ValueError("field at 0x%x: %d bytes > %d" % (off, len(b), size))
        r[off:off + len(b)] = b

    t = tcb_u64(tcb, turin)
    ct = tcb_u64(current_tcb, turin) if current_tcb else t
    struct.pack_into("<IIQ", r, 0, version, guest_svn, policy)
    put(0x10, family_id, 16)
    put(0x20, image_id, 16)
    struct.pack_into("<IIQQI", r, 0x30, vmpl, 1, ct, platform_info, 0)  # sig algo 1, signer VCEK
    put(0x50, report_data, 64)
    put(0x90, measurement, 48)
    put(0xC0, host_data, 32)
    put(0x140, secrets.token_bytes(32), 32)
    put(0x160, b"\xff" * 32, 32)
    struct.pack_into("<Q", r, 0x180, t)
    if version >= 3:
        r[0x188], r[0x189], r[0x18A] = meta["cpuid_fam_id"], meta["cpuid_mod_id"], meta["cpuid_step"]
    put(0x1A0, chip_id, 64)
    struct.pack_into("<Q", r, 0x1E0, ct)
    r[0x1E8:0x1EB] = bytes([21, 55, 1])   # current build/minor/major
    r[0x1EC:0x1EF] = bytes([21, 55, 1])   # committed
    struct.pack_into("<Q", r, 0x1F0, t)
    if version >= 5:
        struct.pack_into("<QQ", r, 0x1F8, launch_mit_vector, current_mit_vector)
    key = signing_key or _load_key(os.path.join(pki_dir, amd, "vcek.key"))
    der_sig = key.sign(bytes(r[:SNP_SIGNED_LEN]), ec.ECDSA(hashes.SHA384()))
    rr, ss = decode_dss_signature(der_sig)
    r[0x2A0:0x2E8] = rr.to_bytes(72, "little")
    r[0x2E8:0x330] = ss.to_bytes(72, "little")
    return bytes(r)


def snp_report_data(report):
    return report[0x50:0x90]


# ------------------------------------------------------------------ TDX

def _platform_mac_key(pki_dir):
    with open(os.path.join(pki_dir, "intel", "pck.key"), "rb") as f:
        return hashlib.sha256(b"simulated TDX report MAC key" + f.read()).digest()


def tdreport(pki_dir, *, report_data=b"", mrtd=None, rtmrs=None, td_attributes=0,
             xfam=0x61B, mrconfigid=b"", mrowner=b"", mrownerconfig=b"",
             tee_tcb_svn=None, mrseam=None, cpusvn=None):
    rep = bytearray(TDREPORT_SIZE)
    meta = pkimod.load_meta(pki_dir)["intel"]
    tee_tcb_svn = tee_tcb_svn if tee_tcb_svn is not None else bytes([3, 0, 5] + [0] * 13)
    mrseam = mrseam if mrseam is not None else hashlib.sha384(b"simulated TDX module").digest()
    cpusvn = cpusvn if cpusvn is not None else bytes(meta["tcb_components"])
    mrtd = mrtd if mrtd is not None else hashlib.sha384(b"simulated TD image").digest()
    rtmrs = list(rtmrs) if rtmrs is not None else [bytes(48)] * 4
    # TEE_TCB_INFO (239 B) @0x100
    tti = bytearray(239)
    tti[0:8] = b"\xff\x01\x00\x00\x00\x00\x00\x00"
    tti[8:24] = tee_tcb_svn
    tti[24:72] = mrseam
    # TDINFO (512 B) @0x200
    ti = bytearray(512)
    struct.pack_into("<QQ", ti, 0, td_attributes, xfam)
    for off, val in ((16, mrtd), (64, mrconfigid), (112, mrowner), (160, mrownerconfig)):
        ti[off:off + len(val)] = val
    for i, v in enumerate(rtmrs):
        ti[208 + 48 * i:256 + 48 * i] = v
    rep[0:4] = bytes([TDX_TEE_TYPE, 0, 0, 0])
    rep[0x10:0x20] = cpusvn
    rep[0x20:0x50] = hashlib.sha384(bytes(tti)).digest()
    rep[0x50:0x80] = hashlib.sha384(bytes(ti)).digest()
    rep[0x80:0x80 + len(report_data)] = report_data
    rep[0x100:0x100 + 239] = tti
    rep[0x200:0x400] = ti
    rep[0xE0:0x100] = hmac.new(_platform_mac_key(pki_dir), bytes(rep[0:0xE0]), hashlib.sha256).digest()
    return bytes(rep)


def check_tdreport(pki_dir, rep):
    """Raises ValueError unless REP is a TDREPORT made on this simulated platform."""
    if len(rep) != TDREPORT_SIZE:
        raise ValueError("TDREPORT must be %d bytes, got %d" % (TDREPORT_SIZE, len(rep)))
    if rep[0] != TDX_TEE_TYPE:
        raise ValueError("TDREPORT type 0x%02x is not TDX (0x81)" % rep[0])
    if hashlib.sha384(rep[0x100:0x1EF]).digest() != rep[0x20:0x50]:
        raise ValueError("TDREPORT TEE_TCB_INFO_HASH mismatch")
    if hashlib.sha384(rep[0x200:0x400]).digest() != rep[0x50:0x80]:
        raise ValueError("TDREPORT TEE_INFO_HASH mismatch")
    mac = hmac.new(_platform_mac_key(pki_dir), rep[0:0xE0], hashlib.sha256).digest()
    if not hmac.compare_digest(mac, rep[0xE0:0x100]):
        raise ValueError("TDREPORT MAC does not verify on this platform")


def _raw_p256_sig(key, msg):
    r, s = decode_dss_signature(key.sign(msg, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _p256_pub_xy(key):
    return key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint)[1:]


def tdx_quote_from_tdreport(pki_dir, tdreport_bytes, attestation_key=None):
    """TDX quote v4 for a TDREPORT of this simulated platform (tee-formats.md §2.2)."""
    rep = bytes(tdreport_bytes)
    check_tdreport(pki_dir, rep)
    tti, ti = rep[0x100:0x1EF], rep[0x200:0x400]
    header = struct.pack("<HHIHH", 4, 2, TDX_TEE_TYPE, 0, 0) + QE_VENDOR_ID + \
        hashlib.sha256(b"simulated QE id").digest()[:16] + bytes(4)
    body = (tti[8:24] + tti[24:72] + tti[72:120] + tti[120:128]    # TEE_TCB_SVN MRSEAM MRSIGNERSEAM SEAMATTR
            + ti[0:8] + ti[8:16] + ti[16:64] + ti[64:112] + ti[112:160] + ti[160:208]
            + ti[208:400] + rep[0x80:0xC0])
    assert len(header) == 48 and len(body) == 584
    ak = attestation_key or ec.generate_private_key(ec.SECP256R1())
    ak_pub = _p256_pub_xy(ak)
    quote_sig = _raw_p256_sig(ak, header + body)
    qe_auth = hashlib.sha256(b"simulated QE auth data").digest()
    qe = bytearray(384)
    qe[0:16] = rep[0x10:0x20]
    qe[64:96] = hashlib.sha256(b"simulated TD QE enclave").digest()   # MRENCLAVE
    qe[128:160] = hashlib.sha256(b"simulated Intel QE signer").digest()  # MRSIGNER
    struct.pack_into("<HH", qe, 256, 2, 8)                               # ISVPRODID 2 (TD QE), ISVSVN
    qe[320:352] = hashlib.sha256(ak_pub + qe_auth).digest()
    pck_key = _load_key(os.path.join(pki_dir, "intel", "pck.key"))
    qe_sig = _raw_p256_sig(pck_key, bytes(qe))
    with open(os.path.join(pki_dir, "intel", "pck-chain.pem"), "rb") as f:
        chain = f.read() + b"\x00"
    inner = struct.pack("<HI", 5, len(chain)) + chain
    cert6 = bytes(qe) + qe_sig + struct.pack("<H", len(qe_auth)) + qe_auth + inner
    sig_data = quote_sig + ak_pub + struct.pack("<HI", 6, len(cert6)) + cert6
    return header + body + struct.pack("<I", len(sig_data)) + sig_data


def tdx_quote(pki_dir, **tdreport_args):
    return tdx_quote_from_tdreport(pki_dir, tdreport(pki_dir, **tdreport_args))


# ------------------------------------------------------------------ HCL

def jwk_from_public(pub, kid, key_ops):
    nums = pub.public_numbers()
    n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
    e = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
    return {"kid": kid, "key_ops": key_ops, "kty": "RSA", "e": b64url(e), "n": b64url(n)}


def _load_pub(p):
    if isinstance(p, (bytes, str)):
        if isinstance(p, bytes):
            data = p
        else:
            with open(p, "rb") as f:
                data = f.read()
        return serialization.load_pem_public_key(data)
    return p


def runtime_json(ak_pub, ek_pub=None, user_data=bytes(64), vm_configuration=None):
    """The HCL VariableData (azure-wire-formats.md §1.4), compact UTF-8 JSON bytes."""
    keys = [jwk_from_public(_load_pub(ak_pub), "HCLAkPub", ["sign"])]
    if ek_pub is not None:
        keys.append(jwk_from_public(_load_pub(ek_pub), "HCLEkPub", ["encrypt"]))
    doc = {"keys": keys}
    if vm_configuration is not False:
        doc["vm-configuration"] = vm_configuration or {
            "console-enabled": True, "root-cert-thumbprint": "", "secure-boot": True,
            "tpm-enabled": True, "tpm-persisted": True,
            "vmUniqueId": "5C3E2A1B-0D4F-4E6A-9B8C-7D6E5F4A3B2C"}
    doc["user-data"] = user_data.hex().upper()
    return json.dumps(doc, separators=(",", ":")).encode()


def hcl_report(pki_dir, tee, ak_pub, ek_pub=None, *, user_data=bytes(64), max_size=SWTPM_NV_MAX,
               vm_configuration=None, **hw_args):
    """HCL report whose hardware report_data = SHA-256(runtime JSON) || 32 zero bytes.

    The swtpm NV limit (2048 B) leaves 812 bytes for the runtime JSON, which is
    too little for two RSA-2048 JWKs plus vm-configuration and user-data: when
    the EK does not fit, the older-firmware form with HCLAkPub only is used
    (like the real 2048-byte SNP vector). Pass max_size=None for no limit.
    Returns the report bytes (exactly ReportSize long, no padding)."""
    var = runtime_json(ak_pub, ek_pub, user_data, vm_configuration)
    if max_size is not None and HCL_FIXED_SIZE + len(var) > max_size and ek_pub is not None:
        var = runtime_json(ak_pub, None, user_data, vm_configuration)
    if max_size is not None and HCL_FIXED_SIZE + len(var) > max_size:
        raise ValueError("HCL report would be %d bytes > %d" % (HCL_FIXED_SIZE + len(var), max_size))
    rd = hashlib.sha256(var).digest() + bytes(32)
    if tee == "snp":
        hw = snp_report(pki_dir, report_data=rd, **hw_args)
        rtype = 2
    elif tee == "tdx":
        hw = tdreport(pki_dir, report_data=rd, **hw_args) + bytes(1184 - TDREPORT_SIZE)
        rtype = 4
    else:
        raise ValueError("tee must be snp or tdx")
    hdr = struct.pack("<4sIIII12x", b"HCLA", 2, HCL_FIXED_SIZE + len(var), 2, 0)
    igvm = struct.pack("<IIIII", 20 + len(var), 1, rtype, 1, len(var))
    return hdr + hw + igvm + var


def parse_hcl(blob):
    """Returns dict(tee, hw (1184 B), report_type, hash_type, var)."""
    if len(blob) < HCL_FIXED_SIZE or blob[0:4] != b"HCLA":
        raise ValueError("not an HCL report (magic/size)")
    data_size, ver, rtype, htype, vsize = struct.unpack_from("<IIIII", blob, 1216)
    var = blob[1236:1236 + vsize]
    if len(var) != vsize:
        raise ValueError("HCL VariableData truncated (%d of %d bytes)" % (len(var), vsize))
    tee = {2: "snp", 4: "tdx"}.get(rtype)
    if tee is None:
        raise ValueError("HCL report type %d unsupported" % rtype)
    return {"tee": tee, "hw": blob[32:1216], "report_type": rtype, "hash_type": htype, "var": var}


def _main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hcl", help="write an HCL report for a provisioned vTPM")
    h.add_argument("--pki", required=True)
    h.add_argument("--tee", choices=("snp", "tdx"), default="snp")
    h.add_argument("--ak-pub", required=True)
    h.add_argument("--ek-pub")
    h.add_argument("--user-data", default="00" * 64, help="64 bytes as hex")
    h.add_argument("--out", required=True)
    s = sub.add_parser("snp-report")
    s.add_argument("--pki", required=True)
    s.add_argument("--version", type=int, default=2)
    s.add_argument("--report-data", default="")
    s.add_argument("--out", required=True)
    t = sub.add_parser("tdx-quote")
    t.add_argument("--pki", required=True)
    t.add_argument("--report-data", default="")
    t.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    if a.cmd == "hcl":
        out = hcl_report(a.pki, a.tee, a.ak_pub, a.ek_pub, user_data=bytes.fromhex(a.user_data))
    elif a.cmd == "snp-report":
        out = snp_report(a.pki, version=a.version, report_data=bytes.fromhex(a.report_data))
    else:
        out = tdx_quote(a.pki, report_data=bytes.fromhex(a.report_data))
    with open(a.out, "wb") as f:
        f.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

__all__ = ["snp_report", "tdreport", "tdx_quote", "tdx_quote_from_tdreport", "hcl_report",
           "runtime_json", "parse_hcl", "check_tdreport"]
