# SPDX-License-Identifier: BSD-3-Clause
"""Compact JWS (RS256) helpers for the simulated endpoints, and the sim's
identity file (tenant, managed identity, key owner) shared by the IMDS and
Key Vault emulators."""

import hashlib
import json
import os
import time
import uuid

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from simhttp import b64url, b64url_decode


class JwtError(Exception):
    """A token that does not verify; .kind is one of malformed, alg,
    signature, expired, not_yet_valid, issuer, audience."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def cert_der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def thumbprint_b64url(cert, algo="sha1"):
    return b64url(hashlib.new(algo, cert_der(cert)).digest())


def sign_rs256(key, header, claims, bad_signature=False, sort_keys=False):
    """Compact JWS over header and claims (both dicts)."""
    h = b64url(json.dumps(header, separators=(",", ":"), sort_keys=sort_keys).encode())
    p = b64url(json.dumps(claims, separators=(",", ":"), sort_keys=sort_keys).encode())
    signing_input = (h + "." + p).encode("ascii")
    sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    if bad_signature:
        sig = bytes([sig[0] ^ 0x01]) + sig[1:]
    return h + "." + p + "." + b64url(sig)


def decode(token):
    """(header, claims, signing_input, signature) without verification."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise JwtError("malformed", "not a compact JWS (want three dot-separated parts)")
    h, p, s = token.split(".")
    try:
        header = json.loads(b64url_decode(h))
        claims = json.loads(b64url_decode(p))
        sig = b64url_decode(s)
    except (ValueError, UnicodeDecodeError) as e:
        raise JwtError("malformed", "token parts are not base64url JSON: %s" % e)
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JwtError("malformed", "token header/claims are not JSON objects")
    return header, claims, (h + "." + p).encode("ascii"), sig


def verify_rs256(token, public_key, now=None, leeway=300, issuer=None, audiences=None):
    """Verifies signature, alg, exp/nbf (with LEEWAY s), optionally iss and aud.
    Returns (header, claims); raises JwtError."""
    header, claims, signing_input, sig = decode(token)
    if header.get("alg") != "RS256":
        raise JwtError("alg", "token alg '%s' is not RS256" % header.get("alg"))
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise JwtError("signature", "verification key is not RSA")
    try:
        public_key.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise JwtError("signature", "token signature does not verify")
    now = time.time() if now is None else now
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, (int, float)):
        raise JwtError("malformed", "token has no numeric exp")
    if now > exp + leeway:
        raise JwtError("expired", "token expired at %d (now %d)" % (exp, now))
    if isinstance(nbf, (int, float)) and now + leeway < nbf:
        raise JwtError("not_yet_valid", "token not valid before %d (now %d)" % (nbf, now))
    if issuer is not None and claims.get("iss") != issuer:
        raise JwtError("issuer", "issuer '%s' is not '%s'" % (claims.get("iss"), issuer))
    if audiences is not None and claims.get("aud") not in audiences:
        raise JwtError("audience", "audience '%s'" % claims.get("aud"))
    return header, claims


# ---------------------------------------------------------------------------
# The sim's identities (one tenant, the VM's managed identity, the key owner)


def identity(sim_dir):
    """DIR/identity.json, created on first use."""
    path = os.path.join(sim_dir, "identity.json")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        pass
    tenant = str(uuid.uuid4())
    ident = {
        "tenant_id": tenant,
        "issuer": "https://sts.windows.net/%s/" % tenant,
        "managed_identity": {"client_id": str(uuid.uuid4()), "object_id": str(uuid.uuid4()),
                             "msi_res_id": "/subscriptions/%s/resourceGroups/cvm-sim/providers/"
                                           "Microsoft.Compute/virtualMachines/cvm-sim"
                                           % uuid.uuid4()},
        "admin": {"client_id": str(uuid.uuid4()), "object_id": str(uuid.uuid4())},
    }
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(ident, f, indent=1)
    try:
        os.link(tmp, path)  # first writer wins
    except FileExistsError:
        pass
    os.unlink(tmp)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def mint_access_token(sim_dir, resource, who="managed_identity", lifetime=86399,
                      expired=False, bad_signature=False, now=None):
    """An Entra ID (v1) access token as IMDS hands out, signed with
    pki/imds-signing.key.  Returns (token, claims)."""
    ident = identity(sim_dir)
    principal = ident[who]
    pki = os.path.join(sim_dir, "pki")
    key = load_key(os.path.join(pki, "imds-signing.key"))
    cert = load_cert(os.path.join(pki, "imds-signing.pem"))
    now = int(time.time() if now is None else now)
    iat = now - 7200 - lifetime if expired else now
    x5t = thumbprint_b64url(cert)
    header = {"typ": "JWT", "alg": "RS256", "x5t": x5t, "kid": x5t}
    claims = {
        "aud": resource,
        "iss": ident["issuer"],
        "iat": iat,
        "nbf": iat,
        "exp": iat + lifetime,
        "aio": b64url(os.urandom(24)),
        "appid": principal["client_id"],
        "appidacr": "2",
        "idp": ident["issuer"],
        "oid": principal["object_id"],
        "rh": b64url(os.urandom(16)) + ".",
        "sub": principal["object_id"],
        "tid": ident["tenant_id"],
        "uti": b64url(os.urandom(16)),
        "ver": "1.0",
    }
    if who == "managed_identity":
        claims["xms_mirid"] = principal["msi_res_id"]
    return sign_rs256(key, header, claims, bad_signature=bad_signature), claims
