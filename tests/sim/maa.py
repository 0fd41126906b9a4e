"""Microsoft Azure Attestation emulator (azure-wire-formats.md §2).

MaaService(sim_dir).handle(Request) -> Response for:
  POST /attest/AzureGuest   full AttestationInfo validation, sealed token reply (§2.1)
  POST /attest/SevSnpVm     platform token (§2.2)
  POST /attest/TdxVm        platform token (§2.2)
  GET  /certs               JWKS {kid, kty, x5c} (§2.4)
  GET  /.well-known/openid-configuration

Trust: the test ARK (SIM/pki/amd/ark.pem, and amd-turin if present), the test
Intel root (SIM/pki/intel/root.pem) and the test vTPM CA (SIM/pki/vtpm-ca.pem).
Tokens are signed with SIM/pki/maa-signing.key. Errors are 400
{"error":{"code":"InvalidParameter","message":...}} as MAA answers attestation
failures; a missing api-version gives 400 MissingApiVersionParameter. Every
refusal also carries its message in X-Sim-Reason, which the server writes to
the request log ("reason").

Nonces are not remembered: Microsoft's client re-sends the identical body
(same nonce) when it cannot decrypt a reply, and nothing documents that MAA
refuses a repeated nonce; freshness is the client's check (it compares the
echoed nonce with the one it sent).

Token shape (azure-services/MANIFEST.md facts 1-4): header exactly {alg RS256,
jku = iss + "/certs", kid, typ JWT}; members sorted; exp - iat = 8 h, nbf =
iat; AzureGuest claims as protocol 3.0 tokens (the x-ms-azurevm-* boot flags,
the SNP policy flags ciphertext-hiding-dram-enabled, cxl-allowed,
mem-aes256-xts-required, page-swap-disabled, rapl-disabled, singlesocket; no
vm-configuration.current-time); the client payload echoed as sent (its values
are base64 of the client's strings).

Faults (simhttp.Faults; the hyphenated spellings are accepted too):
  wrong_signature     the JWT signature is corrupted
  expired_token       iat/nbf/exp lie in the past (exp = now - 1 h)
  wrong_nonce         client-payload nonce (AzureGuest) / nonce claim altered
  wrong_transfer_key  the sealed reply is wrapped to another RSA key (the
                      TPM cannot open it); with args {"mode": "claim"} it is
                      wrapped correctly but x-ms-runtime.keys[0] is another key
"""

import base64
import binascii
import copy
import datetime
import hashlib
import json
import os
import secrets
import struct
import subprocess
import tempfile
import time

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import simhttp
import tcglog
import tpmstructs as ts

TOKEN_LIFETIME = 28800           # 8 h (azure-wire-formats §2.3)
TRANSPORT_AAD = b"Transport Key"  # §2.1 unseal step 2
EKU_AK = "2.23.133.8.3"           # TCG AIK certificate EKU
AMD_OID = "1.3.6.1.4.1.3704.1"
SGX_EXT_OID = "1.2.840.113741.1.13.1"


FAULT_ALIASES = {
    "wrong_signature": ("wrong_signature", "bad-signature", "wrong-signature"),
    "expired_token": ("expired_token", "expired-token"),
    "wrong_nonce": ("wrong_nonce", "wrong-nonce"),
    "wrong_transfer_key": ("wrong_transfer_key", "wrong-transfer-key"),
}


class AttestationError(Exception):
    """Refusal with an MAA-style error body."""

    def __init__(self, message, code="InvalidParameter", status=400):
        super().__init__(message)
        self.code, self.status = code, status


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64std(b):
    return base64.b64encode(b).decode()


def b64any(s, field):
    """Decodes standard or URL-safe base64, padded or not (MAA accepts both)."""
    if not isinstance(s, str):
        raise AttestationError("%s must be a base64 string" % field)
    t = s.strip().replace("-", "+").replace("_", "/")
    t += "=" * (-len(t) % 4)
    try:
        return base64.b64decode(t, validate=True)
    except (binascii.Error, ValueError):
        raise AttestationError("%s is not valid base64" % field)


def _ci_get(d, key):
    """Case-insensitive JSON member lookup (the service is case-insensitive)."""
    if not isinstance(d, dict):
        return None
    for k, v in d.items():
        if k.lower() == key.lower():
            return v
    return None


def _need(d, key, where, typ=None):
    v = _ci_get(d, key)
    if v is None:
        raise AttestationError("%s.%s is missing" % (where, key))
    if typ is not None and not isinstance(v, typ):
        raise AttestationError("%s.%s has the wrong type" % (where, key))
    return v


def _now():
    return int(time.time())


def _verify_cert_signed_by(cert, issuer_cert, what):
    pub = issuer_cert.public_key()
    try:
        if isinstance(pub, rsa.RSAPublicKey):
            pub.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                       cert.signature_hash_algorithm)
        elif isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        else:
            raise AttestationError("%s: unsupported issuer key type" % what)
    except InvalidSignature:
        raise AttestationError("%s: signature does not verify with %s" % (what, issuer_cert.subject.rfc4514_string()))
    if cert.issuer != issuer_cert.subject:
        raise AttestationError("%s: issuer %s is not %s" % (what, cert.issuer.rfc4514_string(),
                                                            issuer_cert.subject.rfc4514_string()))


def _check_validity(cert, what, now=None):
    now = now or datetime.datetime.utcnow()
    if not (cert.not_valid_before <= now <= cert.not_valid_after):
        raise AttestationError("%s is not valid now (%s..%s)" % (what, cert.not_valid_before, cert.not_valid_after))


def _split_pem(data):
    out, cur = [], []
    for line in data.decode("ascii", "replace").splitlines():
        if "BEGIN CERTIFICATE" in line:
            cur = [line]
        elif "END CERTIFICATE" in line and cur:
            cur.append(line)
            out.append(x509.load_pem_x509_certificate(("\n".join(cur) + "\n").encode()))
            cur = []
        elif cur:
            cur.append(line)
    return out


def _ext_int(cert, oid):
    try:
        v = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value.value
    except x509.ExtensionNotFound:
        return None
    if len(v) < 2 or v[0] != 0x02:
        raise AttestationError("VCEK extension %s is not an INTEGER" % oid)
    return int.from_bytes(v[2:2 + v[1]], "big")


def _ext_raw(cert, oid):
    try:
        return cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value.value
    except x509.ExtensionNotFound:
        return None


def _jwk_rsa(pub):
    n = pub.public_numbers()
    return b64url(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")), \
        b64url(n.e.to_bytes((n.e.bit_length() + 7) // 8, "big"))


def _jwk_int(s, field):
    return int.from_bytes(b64any(s, field), "big")


class MaaService:
    def __init__(self, sim_dir, faults=None, issuer=None):
        self.sim_dir = sim_dir
        self.pki = os.path.join(sim_dir, "pki")
        self.faults = faults or simhttp.Faults()
        self.issuer = issuer     # None: https://<Host header>
        self.server = None       # set by bind(): where replayed event logs are reported
        with open(os.path.join(self.pki, "maa-signing.key"), "rb") as f:
            self.key = serialization.load_pem_private_key(f.read(), None)
        with open(os.path.join(self.pki, "maa-signing.pem"), "rb") as f:
            self.cert = x509.load_pem_x509_certificate(f.read())
        self.cert_der = self.cert.public_bytes(serialization.Encoding.DER)
        self.kid = b64std(hashlib.sha256(self.cert_der).digest())   # opaque, like real kids
        with open(os.path.join(self.pki, "vtpm-ca.pem"), "rb") as f:
            self.vtpm_ca = x509.load_pem_x509_certificate(f.read())
        self.ark_paths = [p for p in (os.path.join(self.pki, d, "ark.pem") for d in ("amd", "amd-turin"))
                          if os.path.exists(p)]
        with open(os.path.join(self.pki, "intel", "root.pem"), "rb") as f:
            self.intel_root = x509.load_pem_x509_certificate(f.read())

    def bind(self, server):
        self.server = server

    def _log_replay(self, log, quoted):
        """One request-log line per replayed TcgLogs, so that a test on the
        host can tell that a guest's real firmware log was checked, not
        merely accepted (tests/vm)."""
        if self.server is None:
            return
        _, events = tcglog.parse(log)
        per_pcr = {}
        for e in events:
            if e["type"] != tcglog.EV_NO_ACTION:
                per_pcr[e["pcr"]] = per_pcr.get(e["pcr"], 0) + 1
        self.server.log_event({"event": "tcg-log-replayed", "log_bytes": len(log),
                               "log_sha256": hashlib.sha256(log).hexdigest(),
                               "events": sum(per_pcr.values()),
                               "events_per_pcr": {str(k): v for k, v in sorted(per_pcr.items())},
                               "quoted_pcrs": quoted, "matched": True})

    # ------------------------------------------------------------ dispatch

    def handle(self, req):
        try:
            if req.method == "GET" and req.path == "/certs":
                return simhttp.json_response(200, {"keys": [
                    {"kid": self.kid, "kty": "RSA", "x5c": [b64std(self.cert_der)]}]})
            if req.method == "GET" and req.path == "/.well-known/openid-configuration":
                iss = self._issuer(req)
                return simhttp.json_response(200, {
                    "issuer": iss, "jwks_uri": iss + "/certs",
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "response_types_supported": ["token", "none"],
                    "revocation_endpoint": iss + "/revoke",
                    "claims_supported": ["x-ms-attestation-type", "x-ms-isolation-tee", "x-ms-runtime",
                                         "x-ms-compliance-status", "nonce", "iss", "iat", "nbf", "exp"]})
            routes = {"/attest/AzureGuest": self._azure_guest, "/attest/SevSnpVm": self._sevsnp_vm,
                      "/attest/TdxVm": self._tdx_vm}
            fn = routes.get(req.path)
            if fn is None:
                raise AttestationError("The requested resource %s was not found." % req.path, "NotFound", 404)
            if req.method != "POST":
                raise AttestationError("Method %s is not allowed on %s" % (req.method, req.path),
                                       "MethodNotAllowed", 405)
            if not req.query1("api-version"):
                raise AttestationError("The api-version query parameter (?api-version=) is required for all requests.",
                                       "MissingApiVersionParameter")
            try:
                body = req.json()
            except (ValueError, UnicodeDecodeError):
                raise AttestationError("The request body is not valid JSON.")
            if not isinstance(body, dict):
                raise AttestationError("The request body must be a JSON object.")
            return fn(req, body)
        except AttestationError as e:
            # the server logs X-Sim-Reason as the request's "reason" (README: every refusal's reason)
            return simhttp.error_response(e.status, e.code, str(e), {"X-Sim-Reason": "%s: %s" % (e.code, e)})

    def _fault(self, name):
        return any(self.faults.active(n) for n in FAULT_ALIASES[name])

    def _fault_args(self, name):
        get = getattr(self.faults, "args", None)
        out = {}
        if get:
            for n in FAULT_ALIASES[name]:
                out.update(get(n) or {})
        return out

    def _issuer(self, req):
        if self.issuer:
            return self.issuer.rstrip("/")
        return "https://" + (req.headers.get("Host") or "127.0.0.1")

    # ------------------------------------------------------------ token

    def _sign_jwt(self, iss, claims):
        # exactly the real header (MANIFEST fact 3): the key is found by kid in /certs
        header = {"alg": "RS256", "jku": iss + "/certs", "kid": self.kid, "typ": "JWT"}
        now = _now()
        if self._fault("expired_token"):
            now -= TOKEN_LIFETIME + 3600
        full = {"exp": now + TOKEN_LIFETIME, "iat": now, "iss": iss, "jti": secrets.token_hex(32),
                "nbf": now}
        full.update(claims)
        full["x-ms-ver"] = "1.0"
        full["x-ms-policy-hash"] = b64url(hashlib.sha256(b"simulated default policy").digest())
        enc = lambda o: b64url(json.dumps(o, separators=(",", ":"), sort_keys=True).encode())  # noqa: E731
        signing_input = (enc(header) + "." + enc(full)).encode()
        sig = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        if self._fault("wrong_signature"):
            sig = bytes([sig[0] ^ 0x01]) + sig[1:]
        return signing_input.decode() + "." + b64url(sig)

    # ------------------------------------------------------------ hardware evidence

    def _verify_snp(self, report, chain_pem):
        """SNP report + VCEK chain → claims dict. Raises AttestationError."""
        if len(report) < 0x4A0:
            raise AttestationError("SnpReport is %d bytes, expected 1184" % len(report))
        report = report[:0x4A0]
        version, = struct.unpack_from("<I", report, 0)
        if version not in (2, 3, 4, 5):
            raise AttestationError("SnpReport version %d is not supported" % version)
        if struct.unpack_from("<I", report, 0x34)[0] != 1:
            raise AttestationError("SnpReport signature algorithm is not ECDSA P-384")
        if (struct.unpack_from("<I", report, 0x48)[0] >> 2) & 7 != 0:   # tee-formats §1.1 SIGNING_KEY
            raise AttestationError("SnpReport is not signed by a VCEK")
        certs = _split_pem(chain_pem)
        if len(certs) < 2:
            raise AttestationError("VcekCertChain must hold the VCEK and its ASK (and ARK)")
        vcek = certs[0]
        with tempfile.TemporaryDirectory() as tmp:
            leaf = os.path.join(tmp, "vcek.pem")
            untrusted = os.path.join(tmp, "chain.pem")
            with open(leaf, "wb") as f:
                f.write(vcek.public_bytes(serialization.Encoding.PEM))
            with open(untrusted, "wb") as f:
                for c in certs[1:]:
                    f.write(c.public_bytes(serialization.Encoding.PEM))
            ok = False
            for ark in self.ark_paths:   # openssl verifies the RSA-PSS chain; cryptography 38 cannot
                r = subprocess.run(["openssl", "verify", "-CAfile", ark, "-untrusted", untrusted, leaf],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                ok = ok or r.returncode == 0
            if not ok:
                raise AttestationError("VCEK certificate chain does not chain to a trusted AMD root (ARK).")
        # REPORTED_TCB must equal the VCEK's TCB (tee-formats §1.3), hwID == CHIP_ID.
        t = struct.unpack_from("<Q", report, 0x180)[0]
        fmc = _ext_int(vcek, AMD_OID + ".3.9")
        if fmc is not None:
            want = {"fmc": t & 0xFF, "bl": (t >> 8) & 0xFF, "tee": (t >> 16) & 0xFF, "snp": (t >> 24) & 0xFF,
                    "ucode": t >> 56}
        else:
            want = {"bl": t & 0xFF, "tee": (t >> 8) & 0xFF, "snp": (t >> 48) & 0xFF, "ucode": t >> 56}
        for name, sub in (("bl", 1), ("tee", 2), ("snp", 3), ("ucode", 8), ("fmc", 9)):
            if name in want and _ext_int(vcek, "%s.3.%d" % (AMD_OID, sub)) != want[name]:
                raise AttestationError("SnpReport reported_tcb %s SPL %d does not match the VCEK" % (name, want[name]))
        hwid = _ext_raw(vcek, AMD_OID + ".4")
        if hwid is not None:
            if len(hwid) in (66, 10) and hwid[0] == 0x04:
                hwid = hwid[2:]
            chip = report[0x1A0:0x1E0]
            if chip != bytes(64) and chip[:len(hwid)] != hwid:
                raise AttestationError("SnpReport chip_id does not match the VCEK hwID")
        r = int.from_bytes(report[0x2A0:0x2E8], "little")
        s = int.from_bytes(report[0x2E8:0x330], "little")
        try:
            vcek.public_key().verify(encode_dss_signature(r, s), report[:0x2A0], ec.ECDSA(hashes.SHA384()))
        except (InvalidSignature, ValueError):
            raise AttestationError("SnpReport signature does not verify with the VCEK.")
        policy = struct.unpack_from("<Q", report, 8)[0]
        h = lambda a, b: report[a:b].hex()  # noqa: E731
        claims = {
            "x-ms-attestation-type": "sevsnpvm",
            "x-ms-sevsnpvm-authorkeydigest": h(0x110, 0x140),
            "x-ms-sevsnpvm-bootloader-svn": want["bl"],
            "x-ms-sevsnpvm-familyId": h(0x10, 0x20),
            "x-ms-sevsnpvm-guestsvn": struct.unpack_from("<I", report, 4)[0],
            "x-ms-sevsnpvm-hostdata": h(0xC0, 0xE0),
            "x-ms-sevsnpvm-idkeydigest": h(0xE0, 0x110),
            "x-ms-sevsnpvm-imageId": h(0x20, 0x30),
            "x-ms-sevsnpvm-is-debuggable": bool(policy >> 19 & 1),
            "x-ms-sevsnpvm-launchmeasurement": h(0x90, 0xC0),
            "x-ms-sevsnpvm-microcode-svn": want["ucode"],
            "x-ms-sevsnpvm-migration-allowed": bool(policy >> 18 & 1),
            "x-ms-sevsnpvm-reportdata": h(0x50, 0x90),
            "x-ms-sevsnpvm-reportid": h(0x140, 0x160),
            "x-ms-sevsnpvm-smt-allowed": bool(policy >> 16 & 1),
            "x-ms-sevsnpvm-snpfw-svn": want["snp"],
            "x-ms-sevsnpvm-tee-svn": want["tee"],
            "x-ms-sevsnpvm-vmpl": struct.unpack_from("<I", report, 0x30)[0],
        }
        # protocol 3.0 (MANIFEST fact 4): the guest-policy bits of SNP ABI 56860 §4.3
        for bit, name in ((20, "singlesocket"), (21, "cxl-allowed"), (22, "mem-aes256-xts-required"),
                          (23, "rapl-disabled"), (24, "ciphertext-hiding-dram-enabled"),
                          (25, "page-swap-disabled")):
            claims["x-ms-sevsnpvm-" + name] = bool(policy >> bit & 1)
        compliant = not claims["x-ms-sevsnpvm-is-debuggable"] and claims["x-ms-sevsnpvm-vmpl"] == 0
        return claims, report[0x50:0x90], compliant

    def _verify_tdx(self, quote):
        """TDX quote v4/v5 → claims. PCK chain to the test Intel root."""
        if len(quote) < 48 + 584 + 4:
            raise AttestationError("TD quote is too short (%d bytes)" % len(quote))
        ver, akt, tee = struct.unpack_from("<HHI", quote, 0)
        if ver not in (4, 5) or akt != 2 or tee != 0x81:
            raise AttestationError("TD quote header: version %d, key type %d, TEE 0x%x unsupported" % (ver, akt, tee))
        if quote[12:28] != bytes.fromhex("939a7233f79c4ca9940a0db3957f0607"):   # tee-formats §2.2
            raise AttestationError("TD quote QE vendor ID is not Intel's")
        if ver == 4:
            body_off, body_len = 48, 584
        else:
            btype, body_len = struct.unpack_from("<HI", quote, 48)
            body_off = 54
            if (btype, body_len) not in ((2, 584), (3, 648)):
                raise AttestationError("TD quote v5 body type %d size %d unsupported" % (btype, body_len))
        signed_end = body_off + body_len
        body = quote[body_off:signed_end]
        sig_len = struct.unpack_from("<I", quote, signed_end)[0]
        sd = quote[signed_end + 4:signed_end + 4 + sig_len]
        if len(sd) != sig_len or sig_len < 0x86 + 384 + 64 + 2:
            raise AttestationError("TD quote signature data truncated")
        quote_sig, ak_pub = sd[0:64], sd[64:128]
        ctype, csize = struct.unpack_from("<HI", sd, 128)
        cert = sd[134:134 + csize]
        if ctype != 6 or len(cert) != csize:
            raise AttestationError("TD quote certification data type %d (expected 6)" % ctype)
        qe_report, qe_sig = cert[0:384], cert[384:448]
        auth_len = struct.unpack_from("<H", cert, 448)[0]
        qe_auth = cert[450:450 + auth_len]
        p = 450 + auth_len
        itype, isize = struct.unpack_from("<HI", cert, p)
        chain = cert[p + 6:p + 6 + isize]
        if itype != 5 or len(chain) != isize:
            raise AttestationError("TD quote inner certification data type %d (expected 5)" % itype)
        certs = _split_pem(chain)
        if len(certs) < 2:
            raise AttestationError("TD quote PCK chain is incomplete")
        pck = certs[0]
        inter = certs[1]
        _verify_cert_signed_by(pck, inter, "PCK certificate")
        _verify_cert_signed_by(inter, self.intel_root, "PCK platform CA certificate")
        for c, w in ((pck, "PCK certificate"), (inter, "PCK CA certificate")):
            _check_validity(c, w)

        def p256(pub, sig, msg, what):
            r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
            try:
                pub.verify(encode_dss_signature(r, s), msg, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                raise AttestationError("%s does not verify." % what)

        p256(pck.public_key(), qe_sig, qe_report, "TD quote QE report signature")
        if hashlib.sha256(ak_pub + qe_auth).digest() != qe_report[320:352]:
            raise AttestationError("TD quote QE report data does not bind the attestation key")
        akey = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + ak_pub)
        p256(akey, quote_sig, quote[:signed_end], "TD quote signature")
        h = lambda a, b: body[a:b].hex()  # noqa: E731
        td_attr = struct.unpack_from("<Q", body, 120)[0]
        claims = {
            "x-ms-attestation-type": "tdxvm",
            "tdx_mrseam": h(16, 64), "tdx_mrsignerseam": h(64, 112), "tdx_seam_attributes": h(112, 120),
            "tdx_td_attributes": h(120, 128), "tdx_td_attributes_debug": bool(td_attr & 1),
            "tdx_xfam": h(128, 136), "tdx_mrtd": h(136, 184), "tdx_mrconfigid": h(184, 232),
            "tdx_mrowner": h(232, 280), "tdx_mrownerconfig": h(280, 328), "tdx_rtmr0": h(328, 376),
            "tdx_rtmr1": h(376, 424), "tdx_rtmr2": h(424, 472), "tdx_rtmr3": h(472, 520),
            "tdx_report_data": h(520, 584), "tdx_tee_tcb_svn": h(0, 16),
            "tdx_seamsvn": body[1] << 8 | body[0], "attester_tcb_status": "UpToDate",
        }
        return claims, body[520:584], not (td_attr & 1)

    def _check_aik_cert(self, akcert):
        """AIK certificate issued by the test vTPM CA, valid now, with the AIK EKU."""
        _verify_cert_signed_by(akcert, self.vtpm_ca, "AIK certificate")
        _check_validity(akcert, "AIK certificate")
        try:
            eku = akcert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            if x509.ObjectIdentifier(EKU_AK) not in eku:
                raise x509.ExtensionNotFound("", None)
        except x509.ExtensionNotFound:
            raise AttestationError("AIK certificate lacks the AIK certificate EKU %s." % EKU_AK)

    @staticmethod
    def _check_binding(report_data, runtime):
        if report_data[:32] != hashlib.sha256(runtime).digest() or report_data[32:] != bytes(32):
            raise AttestationError("The runtime data does not match the report data of the hardware report "
                                   "(expected SHA-256(runtime data) followed by zeros).")

    # ------------------------------------------------------------ AzureGuest

    def _azure_guest(self, req, body):
        ai_b64 = _need(body, "AttestationInfo", "request", str)
        try:
            ai = json.loads(b64any(ai_b64, "AttestationInfo").decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise AttestationError("AttestationInfo is not base64url-encoded JSON.")
        if not isinstance(ai, dict):
            raise AttestationError("AttestationInfo must be a JSON object.")
        proto = str(_need(ai, "AttestationProtocolVersion", "AttestationInfo"))
        if proto not in ("2.0", "3.0"):
            raise AttestationError("AttestationProtocolVersion %s is not supported." % proto)
        tpm = _need(ai, "TpmInfo", "AttestationInfo", dict)
        # --- AK certificate chain to the vTPM CA
        try:
            akcert = x509.load_der_x509_certificate(b64any(_need(tpm, "AikCert", "TpmInfo", str), "AikCert"))
        except ValueError:
            raise AttestationError("TpmInfo.AikCert is not a DER X.509 certificate.")
        self._check_aik_cert(akcert)
        # --- AK public
        try:
            aik = ts.Public(b64any(_need(tpm, "AikPub", "TpmInfo", str), "AikPub"), sized=True)
        except ts.TpmParseError as e:
            raise AttestationError("TpmInfo.AikPub: %s" % e)
        if aik.type != ts.TPM_ALG_RSA or not (aik.attributes & ts.OA_SIGN and aik.attributes & ts.OA_RESTRICTED):
            raise AttestationError("AikPub is not a restricted RSA signing key.")
        akpub = aik.rsa_public_key()
        if akcert.public_key().public_numbers() != akpub.public_numbers():
            raise AttestationError("AikPub does not match the public key of the AIK certificate.")

        def verify_ak_sig(sig_b64, msg, what):
            sig = b64any(sig_b64, what)
            if len(sig) == 6 + 256:
                try:
                    sig = ts.Signature(sig).sig   # tolerate a marshalled TPMT_SIGNATURE
                except ts.TpmParseError:
                    pass
            try:
                akpub.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                raise AttestationError("%s does not verify with AikPub." % what)

        # --- PCR quote
        quote_raw = b64any(_need(tpm, "PcrQuote", "TpmInfo", str), "PcrQuote")
        verify_ak_sig(_need(tpm, "PcrSignature", "TpmInfo", str), quote_raw, "The TPM quote signature (PcrSignature)")
        try:
            quote = ts.Attest(quote_raw)
        except ts.TpmParseError as e:
            raise AttestationError("TpmInfo.PcrQuote: %s" % e)
        if quote.type != ts.TPM_ST_ATTEST_QUOTE:
            raise AttestationError("PcrQuote is not a TPM2_Quote attestation.")
        sel = [(a, p) for a, p in quote.pcr_select if p]
        if len(sel) != 1 or sel[0][0] != ts.TPM_ALG_SHA256:
            raise AttestationError("PcrQuote must select one SHA-256 PCR bank.")
        quoted = sel[0][1]
        pcrset = _need(tpm, "PcrSet", "TpmInfo", list)
        if sorted(pcrset) != quoted or not set(range(8)) <= set(quoted):
            raise AttestationError("PcrSet %s does not match the quoted PCRs %s (PCR0-7 required)." % (pcrset, quoted))
        pcr_values = {}
        for e in _need(tpm, "PCRs", "TpmInfo", list):
            idx = _need(e, "Index", "PCRs[]", int)
            pcr_values[idx] = b64any(_need(e, "Digest", "PCRs[]", str), "PCRs[%d].Digest" % idx)
        if sorted(pcr_values) != quoted:
            raise AttestationError("PCRs do not list exactly the quoted PCRs.")
        if ts.pcr_digest([pcr_values[i] for i in quoted]) != quote.pcr_digest:
            raise AttestationError("The PCR values do not match the PCR digest of the TPM quote.")
        # --- TCG log replay
        logs_b64 = _ci_get(ai, "TcgLogs") or ""
        if logs_b64:
            log = b64any(logs_b64, "TcgLogs")
            try:
                banks = tcglog.replay(log)
            except tcglog.LogError as e:
                raise AttestationError("TcgLogs cannot be parsed: %s" % e)
            bank = banks.get(ts.TPM_ALG_SHA256)
            if bank is None:
                raise AttestationError("TcgLogs has no SHA-256 bank.")
            for i in quoted:
                if bank.get(i, bytes(32)) != pcr_values[i]:
                    raise AttestationError("TcgLogs replay does not match the quoted PCR%d." % i)
            self._log_replay(log, quoted)
        # --- Transfer (ephemeral encryption) key certified by the AK
        try:
            enc = ts.Public(b64any(_need(tpm, "EncKeyPub", "TpmInfo", str), "EncKeyPub"), sized=True)
        except ts.TpmParseError as e:
            raise AttestationError("TpmInfo.EncKeyPub: %s" % e)
        cert_raw = b64any(_need(tpm, "EncKeyCertifyInfo", "TpmInfo", str), "EncKeyCertifyInfo")
        verify_ak_sig(_need(tpm, "EncKeyCertifyInfoSignature", "TpmInfo", str), cert_raw,
                      "EncKeyCertifyInfoSignature")
        try:
            certify = ts.Attest(cert_raw)
        except ts.TpmParseError as e:
            raise AttestationError("TpmInfo.EncKeyCertifyInfo: %s" % e)
        if certify.type != ts.TPM_ST_ATTEST_CERTIFY or certify.certified_name != enc.name():
            raise AttestationError("EncKeyCertifyInfo does not certify EncKeyPub.")
        if enc.type != ts.TPM_ALG_RSA or not enc.attributes & ts.OA_DECRYPT or enc.attributes & ts.OA_SIGN \
                or not enc.attributes & ts.OA_FIXED_TPM:
            raise AttestationError("EncKeyPub is not a fixedTPM RSA decryption key.")
        if enc.auth_policy != ts.policy_pcr_digest([pcr_values[i] for i in range(8)]):
            raise AttestationError("EncKeyPub authPolicy is not PolicyPCR over the quoted PCR0-7.")
        # --- Isolation evidence (HCL hardware report)
        iso = _need(ai, "IsolationInfo", "AttestationInfo", dict)
        itype = _need(iso, "Type", "IsolationInfo", str)
        tee_claims = None
        if itype.lower() in ("sevsnp", "tdx"):
            ev = _need(iso, "Evidence", "IsolationInfo", dict)
            runtime = b64any(_need(ev, "RunTimeData", "Evidence", str), "RunTimeData")
            proof = b64any(_need(ev, "Proof", "Evidence", str), "Proof")
            if itype.lower() == "sevsnp":
                try:
                    pj = json.loads(proof.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    raise AttestationError("Evidence.Proof is not JSON {SnpReport, VcekCertChain}.")
                report = b64any(_need(pj, "SnpReport", "Proof", str), "SnpReport")
                chain = b64any(_need(pj, "VcekCertChain", "Proof", str), "VcekCertChain")
                tee_claims, rd, compliant = self._verify_snp(report, chain)
            else:
                tee_claims, rd, compliant = self._verify_tdx(proof)
            self._check_binding(rd, runtime)
            try:
                rt = json.loads(runtime.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise AttestationError("RunTimeData is not JSON.")
            hclak = [k for k in (_ci_get(rt, "keys") or []) if isinstance(k, dict) and k.get("kid") == "HCLAkPub"]
            if not hclak:
                raise AttestationError("RunTimeData has no HCLAkPub key.")
            an = akpub.public_numbers()
            if _jwk_int(hclak[0].get("n", ""), "HCLAkPub.n") != an.n or \
                    _jwk_int(hclak[0].get("e", ""), "HCLAkPub.e") != an.e:
                raise AttestationError("The HCLAkPub key in the runtime data does not match AikPub.")
            # protocol 3.0 tokens no longer carry vm-configuration.current-time (MANIFEST fact 4)
            shown = copy.deepcopy(rt)
            if isinstance(shown.get("vm-configuration"), dict):
                shown["vm-configuration"].pop("current-time", None)
            tee_claims["x-ms-runtime"] = shown
            secure_boot = bool((rt.get("vm-configuration") or {}).get("secure-boot", False))
            tee_claims["x-ms-compliance-status"] = "azure-compliant-cvm" if compliant and secure_boot \
                else "azure-non-compliant-cvm"
        elif itype.lower() != "trustedlaunch":
            raise AttestationError("IsolationInfo.Type %s is not supported." % itype)
        # --- client payload / nonce
        payload = _ci_get(ai, "ClientPayload") or {}
        if not isinstance(payload, dict):
            raise AttestationError("ClientPayload must be a JSON object.")
        if self._fault("wrong_nonce") and "nonce" in payload:
            payload = dict(payload, nonce=b64std(secrets.token_bytes(8)))
        # --- token
        en, ee = _jwk_rsa(enc.rsa_public_key())
        seal_to = enc.rsa_public_key()
        if self._fault("wrong_transfer_key"):
            other = rsa.generate_private_key(65537, 2048).public_key()
            if self._fault_args("wrong_transfer_key").get("mode") == "claim":
                en, ee = _jwk_rsa(other)
            else:
                seal_to = other

        def s(field):
            v = _ci_get(ai, field)
            if isinstance(v, str):
                try:
                    return b64any(v, field).decode("utf-8", "replace")
                except AttestationError:
                    return v
            return v

        secure_boot = bool(tee_claims and tee_claims["x-ms-runtime"].get("vm-configuration", {}).get("secure-boot"))
        claims = {
            "secureboot": secure_boot,
            "x-ms-attestation-type": "azurevm",
            # the boot-configuration claims of a Linux CVM as a protocol 3.0 token shows them
            "x-ms-azurevm-bootdebug-enabled": False, "x-ms-azurevm-dbvalidated": secure_boot,
            "x-ms-azurevm-dbxvalidated": secure_boot, "x-ms-azurevm-debuggersdisabled": True,
            "x-ms-azurevm-default-securebootkeysvalidated": secure_boot,
            "x-ms-azurevm-elam-enabled": False, "x-ms-azurevm-flightsigning-enabled": False,
            "x-ms-azurevm-hvci-policy": 0, "x-ms-azurevm-hypervisordebug-enabled": False,
            "x-ms-azurevm-kerneldebug-enabled": False, "x-ms-azurevm-signingdisabled": True,
            "x-ms-azurevm-testsigning-enabled": False,
            "x-ms-azurevm-attestation-protocol-ver": proto,
            "x-ms-azurevm-attested-pcrs": quoted,
            "x-ms-azurevm-is-windows": (s("OSType") or "").lower() == "windows",
            "x-ms-azurevm-osbuild": s("OSBuild"), "x-ms-azurevm-osdistro": s("OSDistro"),
            "x-ms-azurevm-ostype": s("OSType"),
            "x-ms-azurevm-osversion-major": _ci_get(ai, "OSVersionMajor"),
            "x-ms-azurevm-osversion-minor": _ci_get(ai, "OSVersionMinor"),
            "x-ms-runtime": {"client-payload": payload,
                             "keys": [{"e": ee, "key_ops": ["encrypt"], "kid": "TpmEphemeralEncryptionKey",
                                       "kty": "RSA", "n": en}]},
        }
        if tee_claims:
            vmid = (tee_claims["x-ms-runtime"].get("vm-configuration") or {}).get("vmUniqueId")
            if vmid:
                claims["x-ms-azurevm-vmid"] = vmid
            claims["x-ms-isolation-tee"] = tee_claims
        jwt = self._sign_jwt(self._issuer(req), claims)
        return simhttp.json_response(200, {"token": self._seal(jwt, seal_to)})

    @staticmethod
    def _seal(jwt, enc_pub):
        """MAA's sealed reply (azure-wire-formats §2.1): AES-256-GCM under a fresh key,
        AAD "Transport Key", the key RSAES-PKCS1-v1_5-wrapped to EncKeyPub."""
        key = secrets.token_bytes(32)
        iv = secrets.token_bytes(12)
        ct = AESGCM(key).encrypt(iv, jwt.encode(), TRANSPORT_AAD)
        inner = enc_pub.encrypt(key, padding.PKCS1v15())
        sealed = {"AuthenticationData": b64std(ct[-16:]), "EncryptedInnerKey": b64std(inner),
                  "EncryptionParams": {"BlockMode": "ChainingModeGCM", "BlockPadding": "PKCS7", "Cipher": "AES",
                                       "Iv": b64std(iv), "KeySizeInBits": 256},
                  "Jwt": b64std(ct[:-16])}
        return b64url(json.dumps(sealed).encode())

    # ------------------------------------------------------------ platform routes

    def _runtime(self, body):
        rt = _ci_get(body, "runtimeData")
        if rt is None:
            return None, None
        data = b64any(_need(rt, "data", "runtimeData", str), "runtimeData.data")
        parsed = None
        if str(_ci_get(rt, "dataType") or "").lower() == "json":
            try:
                parsed = json.loads(data.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise AttestationError("runtimeData.data is declared JSON but does not parse.")
        return data, parsed

    def _platform_token(self, req, body, claims, rd, compliant):
        data, parsed = self._runtime(body)
        if data is not None:
            if rd[:32] != hashlib.sha256(data).digest():
                raise AttestationError("The runtime data does not match the report data of the hardware report.")
            if parsed is not None:
                claims["x-ms-runtime"] = parsed
        claims["x-ms-compliance-status"] = "azure-compliant-cvm" if compliant else "azure-non-compliant-cvm"
        nonce = _ci_get(body, "nonce")
        if nonce is not None:
            claims["nonce"] = b64std(secrets.token_bytes(8)) if self._fault("wrong_nonce") else nonce
        return simhttp.json_response(200, {"token": self._sign_jwt(self._issuer(req), claims)})

    def _sevsnp_vm(self, req, body):
        try:
            rep = json.loads(b64any(_need(body, "report", "request", str), "report").decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise AttestationError("report is not base64url JSON {SnpReport, VcekCertChain}.")
        report = b64any(_need(rep, "SnpReport", "report", str), "SnpReport")
        chain = b64any(_need(rep, "VcekCertChain", "report", str), "VcekCertChain")
        claims, rd, compliant = self._verify_snp(report, chain)
        return self._platform_token(req, body, claims, rd, compliant)

    def _tdx_vm(self, req, body):
        quote = b64any(_need(body, "quote", "request", str), "quote")
        claims, rd, compliant = self._verify_tdx(quote)
        return self._platform_token(req, body, claims, rd, compliant)


def unseal_with_private_key(token_b64url, enc_priv):
    """Reference unseal (tests): returns the JWT text."""
    env = json.loads(b64any(token_b64url, "token"))
    key = enc_priv.decrypt(b64any(env["EncryptedInnerKey"], "EncryptedInnerKey"), padding.PKCS1v15())
    ct = b64any(env["Jwt"], "Jwt") + b64any(env["AuthenticationData"], "AuthenticationData")
    return AESGCM(key).decrypt(b64any(env["EncryptionParams"]["Iv"], "Iv"), ct, TRANSPORT_AAD).decode()
