# SPDX-License-Identifier: BSD-3-Clause
"""Azure IMDS emulator (plain HTTP, as 169.254.169.254 is):

  GET  /metadata/identity/oauth2/token?api-version=..&resource=..   managed identity token
  GET  /metadata/THIM/amd/certification                              VCEK chain (THIM JSON)
  POST /acc/tdquote  {"report": b64url(TDREPORT)} -> {"quote": b64url}

Formats: azure-wire-formats.md §3.1 (token), §5.2 (THIM), §5.1 (tdquote) and
the real THIM JSON in testdata/azure-services (keys vcekCert, tcbm,
certificateChain, cacheControl, in that order).
Service-specific faults: expired_token and wrong_signature (tokens; THIM VCEK
and TD quote signatures), no_identity (no managed identity assigned: every
token request is 400 invalid_request "Identity not found", as IMDS answers).
"""

import json
import os
import re
import time

from cryptography import x509

import simjwt
from simhttp import Response, b64url, b64url_decode, faults, json_response

# Resources (App ID URIs) the simulated tenant knows; the vault accepts only
# its own.  management.azure.com lets tests fetch a wrong-audience token.
KNOWN_RESOURCES = (
    "https://vault.azure.net", "https://managedhsm.azure.net",
    "https://management.azure.com", "https://storage.azure.com",
    "https://attest.azure.net",
)

# AMD VCEK extension OIDs (AMD VCEK spec 57230 §3.1 Table 8).
OID_BLSPL = "1.3.6.1.4.1.3704.1.3.1"
OID_TEESPL = "1.3.6.1.4.1.3704.1.3.2"
OID_SNPSPL = "1.3.6.1.4.1.3704.1.3.3"
OID_UCODESPL = "1.3.6.1.4.1.3704.1.3.8"
OID_FMCSPL = "1.3.6.1.4.1.3704.1.3.9"
OID_HWID = "1.3.6.1.4.1.3704.1.4"
OID_PRODUCT = "1.3.6.1.4.1.3704.1.2"

TDREPORT_SIZE = 1024  # TDX module spec, TDREPORT_STRUCT


def _der_int(value: bytes) -> int:
    """Value of a DER INTEGER TLV (as the VCEK SPL extensions carry it)."""
    if len(value) < 3 or value[0] != 0x02 or value[1] != len(value) - 2:
        raise ValueError("not a short DER INTEGER")
    return int.from_bytes(value[2:], "big", signed=True)


def _hwid(value: bytes) -> bytes:
    """hwID: real VCEKs carry the raw chip id (64 B; 8 B on Turin) without an
    ASN.1 tag (tee-formats.md §1.4); accept an OCTET STRING wrapping too."""
    if len(value) in (66, 10) and value[0] == 0x04 and value[1] == len(value) - 2:
        return value[2:]
    return value


def vcek_info(cert):
    """{"bl","tee","snp","ucode"[,"fmc"], "hwid": bytes, "product": str} of a VCEK."""
    info = {}
    names = {OID_BLSPL: "bl", OID_TEESPL: "tee", OID_SNPSPL: "snp", OID_UCODESPL: "ucode",
             OID_FMCSPL: "fmc"}
    for ext in cert.extensions:
        oid = ext.oid.dotted_string
        raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else None
        if raw is None:
            continue
        if oid in names:
            info[names[oid]] = _der_int(raw)
        elif oid == OID_HWID:
            info["hwid"] = _hwid(raw)
        elif oid == OID_PRODUCT:
            s = raw[2:] if raw[:1] in (b"\x16", b"\x0c", b"\x13") else raw
            info["product"] = s.decode("ascii", "replace")
    return info


def tcbm_hex(info):
    """THIM tcbm: the TCB_VERSION u64 printed as big-endian hex (SNP ABI 56860
    Table 3; Turin layout fmc|bl|tee|snp|..|ucode, Table 4)."""
    b = bytearray(8)
    if "fmc" in info:
        b[0], b[1], b[2], b[3], b[7] = info["fmc"], info["bl"], info["tee"], info["snp"], info["ucode"]
    else:
        b[0], b[1], b[6], b[7] = info["bl"], info["tee"], info["snp"], info["ucode"]
    return bytes(reversed(b)).hex().upper()


def corrupt_cert_signature(der: bytes) -> bytes:
    """The certificate with one bit of its signature flipped (last byte)."""
    return der[:-1] + bytes([der[-1] ^ 0x01])


def _pem(der, label="CERTIFICATE"):
    import base64
    b = base64.encodebytes(der).decode().replace("\n", "")
    lines = [b[i:i + 64] for i in range(0, len(b), 64)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)


def imds_error(status, error, description, headers=None):
    """IMDS identity errors are OAuth-style: {"error","error_description"}."""
    return json_response(status, {"error": error, "error_description": description}, headers)


def metadata_error(status, message, headers=None):
    """Other IMDS routes answer {"error": "<text>"}."""
    return json_response(status, {"error": message}, headers)


class ImdsService:
    name = "imds"

    def __init__(self, sim_dir, pki_dir=None):
        self.sim_dir = sim_dir
        self.pki = pki_dir or os.path.join(sim_dir, "pki")
        self.ident = simjwt.identity(sim_dir)

    # -- generic fault answers in IMDS's shape
    def fault_response(self, status, headers):
        if status == 429:
            return imds_error(429, "too_many_requests",
                              "Too many requests; retry after the interval in Retry-After.",
                              headers)
        return imds_error(status, "unknown", "Failed to retrieve token from the Active "
                          "directory. For details see logs in <file path>", headers)

    def handle(self, req):
        if req.path == "/metadata/identity/oauth2/token":
            return self.token(req)
        if req.path == "/metadata/THIM/amd/certification":
            return self.thim(req)
        if req.path == "/acc/tdquote":
            return self.tdquote(req)
        return metadata_error(404, "Not found")

    @staticmethod
    def _metadata_ok(req):
        return req.headers.get("Metadata") == "true"

    # -- managed identity ----------------------------------------------------
    def token(self, req):
        if req.method != "GET":
            return imds_error(405, "invalid_request", "Method not allowed")
        if not self._metadata_ok(req):
            return imds_error(400, "invalid_request", "Required metadata header not specified")
        if "X-Forwarded-For" in req.headers:
            return imds_error(400, "invalid_request", "Request contains X-Forwarded-For header")
        api = req.query1("api-version")
        if not api:
            return imds_error(400, "invalid_request",
                              "Required query variable 'api-version' is missing")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", api) or api < "2018-02-01":
            return imds_error(400, "invalid_request", "Invalid api-version '%s'" % api)
        resource = req.query1("resource")
        if not resource:
            return imds_error(400, "invalid_request",
                              "Required query variable 'resource' is missing")
        if resource.rstrip("/") not in KNOWN_RESOURCES:
            return imds_error(400, "invalid_resource",
                              "AADSTS500011: The resource principal named %s was not found in "
                              "the tenant named %s. This can happen if the application has not "
                              "been installed by the administrator of the tenant or consented "
                              "to by any user in the tenant. You might have sent your "
                              "authentication request to the wrong tenant."
                              % (resource, self.ident["tenant_id"]))
        if faults.active("no_identity"):
            return imds_error(400, "invalid_request", "Identity not found")
        mi = self.ident["managed_identity"]
        for q, want in (("client_id", mi["client_id"]), ("object_id", mi["object_id"]),
                        ("msi_res_id", mi["msi_res_id"])):
            got = req.query1(q)
            if got is not None and got.lower() != want.lower():
                return imds_error(400, "invalid_request", "Identity not found")
        expired = faults.active("expired_token")
        tok, claims = simjwt.mint_access_token(
            self.sim_dir, resource, expired=expired,
            bad_signature=faults.active("wrong_signature"))
        now = int(time.time())
        return json_response(200, {
            "access_token": tok,
            "client_id": mi["client_id"],
            "expires_in": str(max(claims["exp"] - now, 0)),
            "expires_on": str(claims["exp"]),
            "ext_expires_in": str(max(claims["exp"] - now, 0)),
            "not_before": str(claims["nbf"]),
            "resource": resource,
            "token_type": "Bearer",
        })

    # -- THIM ------------------------------------------------------------------
    def thim(self, req):
        if not self._metadata_ok(req):
            return metadata_error(400, "Bad request. Required metadata header not specified")
        if req.method != "GET":
            return metadata_error(405, "Method not allowed")
        amd = os.path.join(self.pki, "amd")
        try:
            with open(os.path.join(amd, "vcek.pem"), "rb") as f:
                vcek = x509.load_pem_x509_certificate(f.read())
            with open(os.path.join(amd, "ask.pem"), encoding="ascii") as f:
                ask = f.read()
            with open(os.path.join(amd, "ark.pem"), encoding="ascii") as f:
                ark = f.read()
        except FileNotFoundError:
            return metadata_error(404, "Not found")
        der = simjwt.cert_der(vcek)
        if faults.active("wrong_signature"):
            der = corrupt_cert_signature(der)
        body = {
            "vcekCert": _pem(der),
            "tcbm": tcbm_hex(vcek_info(vcek)),
            "certificateChain": ask + ark,
            "cacheControl": "86400",
        }
        return Response(200, {"Content-Type": "application/json; charset=utf-8"},
                        json.dumps(body, indent=4).encode())

    # -- TD quote --------------------------------------------------------------
    def tdquote(self, req):
        if req.method != "POST":
            return metadata_error(405, "Method not allowed")
        # The real endpoint wants exactly this media type (KT commit e4e4407:
        # "application/json; charset=utf-8" got 415 Unknown media type).
        if req.headers.get("Content-Type") != "application/json":
            return Response(415, {"Content-Type": "text/plain; charset=utf-8"},
                            b"Unknown media type")
        try:
            body = req.json()
            report = b64url_decode(body["report"])
        except (ValueError, KeyError, TypeError) as e:
            return metadata_error(400, "Bad request. Body must be {\"report\": "
                                  "base64url(TDREPORT)}: %s" % e)
        if len(report) != TDREPORT_SIZE:
            return metadata_error(400, "Bad request. TDREPORT is %d bytes, want %d"
                                  % (len(report), TDREPORT_SIZE))
        try:
            import signers
        except ImportError:
            return metadata_error(503, "TD quote generation unavailable (signers.py missing)")
        try:
            quote = bytearray(signers.tdx_quote_from_tdreport(self.pki, report))
        except ValueError as e:
            return metadata_error(400, "Bad request. The TDREPORT is not from this platform: %s"
                                  % e)
        if faults.active("wrong_signature"):
            # Quote v4: 48-B header + 584-B TD report body + u32 sig length,
            # then the 64-B ECDSA quote signature (Intel TDX DCAP Quote v4 §A.3).
            quote[636] ^= 0x01
        return json_response(200, {"quote": b64url(bytes(quote))})
