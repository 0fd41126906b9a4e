# SPDX-License-Identifier: BSD-3-Clause
"""Azure Key Vault (Premium) / Managed HSM emulator: keys with versions and
Secure Key Release (azure-wire-formats.md §3; shapes from the real responses
in testdata/azure-services, MANIFEST "Facts" 5-7).

Routes (all need ?api-version=7.x and "Authorization: Bearer <token>"):
  POST  /keys/{name}/create                create (or add a version to) a key
  GET   /keys                              list keys
  GET   /keys/{name}[/{version}]           KeyBundle (latest when no version)
  PATCH /keys/{name}/{version}             update attributes (enabled=false disables)
  GET   /keys/{name}/versions              list versions (maxresults, $skiptoken, nextLink)
  POST  /keys/{name}/rotate                new version now
  GET|PUT /keys/{name}/rotationpolicy      rotation policy
  POST  /keys/{name}[/{version}]/release   {"target": MAA JWT, "nonce"?, "enc"?} -> {"value": JWS}

Bearer tokens are access tokens of the sim tenant (simjwt.mint_access_token,
signed by pki/imds-signing) with audience https://vault.azure.net (or
https://managedhsm.azure.net for kind="mhsm").  The VM's managed identity may
get and release; the key owner ("admin" identity, endpoints.json admin_token)
may do everything.  The release target must be an RS256 token signed by the
sim MAA (pki/maa-signing) whose iss is an authority of the key's release policy.
"""

import base64
import hashlib
import json
import os
import re
import threading
import time
import urllib.parse
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

import simjwt
from simhttp import b64url, b64url_decode, error_response, faults, json_response

API_VERSIONS = ("7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6")
RELEASE_MIN_API = "7.3"
ENC_HASH = {  # key_hsm RSA-OAEP hash per enc (azure-wire-formats.md §3.3, §6.7)
    "CKM_RSA_AES_KEY_WRAP": hashes.SHA1,
    "RSA_AES_KEY_WRAP_256": hashes.SHA256,
    "RSA_AES_KEY_WRAP_384": hashes.SHA384,
}
DEFAULT_ENC = "CKM_RSA_AES_KEY_WRAP"  # echoed when the client sends none (MANIFEST fact 6)
RSA_OPS = ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]
OCT_OPS = ["encrypt", "decrypt", "wrapKey", "unwrapKey"]
MI_PERMS = {"get", "release", "list"}
NAME_RE = re.compile(r"^[0-9A-Za-z-]{1,127}$")
DAY = 86400
POLICY_OPS = ("equals", "notEquals", "less", "lessOrEquals", "greater", "greaterOrEquals",
              "exists")
UNVERIFIABLE = "Target environment attestation statement cannot be verified."


class KvError(Exception):
    def __init__(self, status, code, message, inner=None, headers=None, reason=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.inner, self.headers, self.reason = inner, headers or {}, reason

    def response(self):
        r = error_response(self.status, self.code, self.message, self.headers, self.inner)
        if self.reason:
            r.headers["X-Sim-Reason"] = self.reason
        return r


def bad(message, reason=None):
    return KvError(400, "BadParameter", message, reason=reason)


# ---------------------------------------------------------------------------
# ISO-8601 durations (as rotation policies use them: PnYnMnWnD[TnHnMnS])

_DUR_RE = re.compile(r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                     r"(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def parse_duration(text):
    """Seconds in an ISO-8601 duration (years 365 days, months 30 days)."""
    m = _DUR_RE.match(text or "") if isinstance(text, str) else None
    if not m:
        raise ValueError("'%s' is not an ISO-8601 duration such as P90D" % (text,))
    y, mo, w, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    return (((y * 365 + mo * 30 + w * 7 + d) * 24 + h) * 60 + mi) * 60 + s


def validate_rotation_policy(body, mhsm=False):
    """Raises KvError(400) unless BODY is a valid rotation policy; returns the
    normalised (lifetimeActions, attributes)."""
    if not isinstance(body, dict):
        raise bad("Rotation policy must be a JSON object.")
    actions = body.get("lifetimeActions", [])
    attrs = body.get("attributes") or {}
    if not isinstance(actions, list) or not isinstance(attrs, dict):
        raise bad("lifetimeActions must be an array and attributes an object.")
    expiry = attrs.get("expiryTime")
    expiry_s = None
    if expiry is not None:
        try:
            expiry_s = parse_duration(expiry)
        except ValueError as e:
            raise bad("Invalid expiryTime: %s." % e)
        if expiry_s < 28 * DAY:
            raise bad("The expiryTime '%s' must be at least 28 days (P28D)." % expiry)
    seen = set()
    out = []
    for a in actions:
        if not isinstance(a, dict) or not isinstance(a.get("trigger"), dict) \
                or not isinstance(a.get("action"), dict):
            raise bad("Each lifetime action needs a trigger and an action object.")
        typ = str(a["action"].get("type", ""))
        norm = {"rotate": "Rotate", "notify": "Notify"}.get(typ.lower())
        if not norm:
            raise bad("Unknown lifetime action type '%s' (Rotate or Notify)." % typ)
        if norm in seen:
            raise bad("Only one %s lifetime action is allowed." % norm)
        seen.add(norm)
        if norm == "Notify" and mhsm:
            raise bad("Notify lifetime actions are not supported by Managed HSM.")
        trig = a["trigger"]
        keys = [k for k in ("timeAfterCreate", "timeBeforeExpiry") if trig.get(k) is not None]
        if len(keys) != 1:
            raise bad("A trigger needs exactly one of timeAfterCreate or timeBeforeExpiry.")
        k = keys[0]
        if k == "timeAfterCreate" and norm != "Rotate":
            raise bad("timeAfterCreate is only allowed for the Rotate action.")
        try:
            secs = parse_duration(trig[k])
        except ValueError as e:
            raise bad("Invalid %s: %s." % (k, e))
        if secs < 7 * DAY:
            raise bad("%s '%s' must be at least 7 days (P7D)." % (k, trig[k]))
        if k == "timeBeforeExpiry" and expiry_s is None:
            raise bad("timeBeforeExpiry needs attributes.expiryTime.")
        if expiry_s is not None:
            if k == "timeAfterCreate" and secs > expiry_s - 7 * DAY:
                raise bad("Rotation timeAfterCreate '%s' must be at least 7 days before "
                          "expiryTime '%s'." % (trig[k], expiry))
            if k == "timeBeforeExpiry" and secs > expiry_s - 7 * DAY:
                raise bad("timeBeforeExpiry '%s' must leave at least 7 days after creation "
                          "within expiryTime '%s'." % (trig[k], expiry))
        out.append({"trigger": {k: trig[k]}, "action": {"type": norm}})
    return out, ({"expiryTime": expiry} if expiry is not None else {})


# ---------------------------------------------------------------------------
# Release policy (azure-wire-formats.md §3.4)


def _claim(claims, path):
    cur = claims
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def _cmp(op, have, want):
    if op == "equals":
        if isinstance(want, bool) or isinstance(have, bool):
            return have is want if isinstance(have, bool) and isinstance(want, bool) \
                else str(have).lower() == str(want).lower()
        return have == want or (isinstance(want, str) and str(have) == want)
    if op == "notEquals":
        return not _cmp("equals", have, want)
    try:
        h, w = float(have), float(want)
    except (TypeError, ValueError):
        return False
    return {"less": h < w, "lessOrEquals": h <= w, "greater": h > w,
            "greaterOrEquals": h >= w}[op]


def eval_condition(cond, claims):
    """True when CLAIMS satisfy the condition tree COND."""
    if not isinstance(cond, dict):
        raise ValueError("condition is not an object")
    if "allOf" in cond:
        return all(eval_condition(c, claims) for c in cond["allOf"])
    if "anyOf" in cond:
        return any(eval_condition(c, claims) for c in cond["anyOf"])
    if "claim" not in cond:
        raise ValueError("condition without claim, allOf or anyOf")
    present, have = _claim(claims, cond["claim"])
    if "condition" in cond:  # legacy form {"claim","condition":"equals","value"}
        op, want = cond["condition"], cond.get("value")
    else:
        ops = [o for o in POLICY_OPS if o in cond]
        if len(ops) != 1:
            raise ValueError("claim condition needs exactly one operator")
        op, want = ops[0], cond[ops[0]]
    if op == "exists":
        return present == bool(want)
    return present and _cmp(op, have, want)


def validate_release_policy(policy):
    if not isinstance(policy, dict) or not isinstance(policy.get("anyOf"), list) \
            or not policy["anyOf"]:
        raise ValueError("policy needs a non-empty anyOf list of authorities")
    for auth in policy["anyOf"]:
        if not isinstance(auth, dict) or not isinstance(auth.get("authority"), str):
            raise ValueError("each anyOf entry needs an authority")
        if not any(k in auth for k in ("allOf", "anyOf")):
            raise ValueError("authority '%s' has no allOf/anyOf" % auth["authority"])

        def walk(c):
            if "allOf" in c or "anyOf" in c:
                for x in c.get("allOf", c.get("anyOf")):
                    if not isinstance(x, dict):
                        raise ValueError("condition is not an object")
                    walk(x)
            elif "claim" not in c:
                raise ValueError("condition without claim, allOf or anyOf")
            elif "condition" not in c and \
                    len([o for o in POLICY_OPS if o in c]) != 1:
                raise ValueError("claim '%s' needs exactly one operator" % c["claim"])
        walk({k: auth[k] for k in ("allOf", "anyOf") if k in auth})


def policy_allows(policy, claims):
    """(ok, why) for a verified token's claims."""
    iss = str(claims.get("iss", "")).rstrip("/")
    matched = False
    for auth in policy.get("anyOf", []):
        if auth["authority"].rstrip("/") != iss:
            continue
        matched = True
        sub = {k: auth[k] for k in ("allOf", "anyOf") if k in auth}
        if eval_condition(sub, claims):
            return True, "authority %s satisfied" % auth["authority"]
    return False, ("claims do not satisfy the policy of authority %s" % iss if matched
                   else "token issuer %s is not an authority of the release policy" % iss)


def transfer_key(claims):
    """The KEK: first RSA key in top-level x-ms-runtime.keys with key_ops
    containing encrypt or use == enc (azure-wire-formats.md §3.3, §6.6;
    MANIFEST fact 7)."""
    keys = ((claims.get("x-ms-runtime") or {}).get("keys") or [])
    for k in keys:
        if not isinstance(k, dict) or k.get("kty") != "RSA":
            continue
        if "encrypt" in (k.get("key_ops") or []) or k.get("use") == "enc":
            n = int.from_bytes(b64url_decode(k["n"]), "big")
            e = int.from_bytes(b64url_decode(k["e"]), "big")
            return k.get("kid", ""), rsa.RSAPublicNumbers(e, n).public_key()
    return None, None


def build_key_hsm(kek_kid, kek_pub, enc, material, sort_keys=False):
    """key_hsm: base64url JSON {"schema_version","header","ciphertext"} where
    ciphertext = RSA-OAEP(KEK, fresh AES-256 key) || AES-KWP(material)."""
    h = ENC_HASH[enc]
    aes = os.urandom(32)
    wrapped = kek_pub.encrypt(aes, padding.OAEP(mgf=padding.MGF1(h()), algorithm=h(), label=None))
    ct = wrapped + aes_key_wrap_with_padding(aes, material)
    doc = {"schema_version": "1.0", "header": {"kid": kek_kid, "alg": "dir", "enc": enc},
           "ciphertext": b64url(ct)}
    # Managed HSM sorts the members (MANIFEST: transcribed MHSM key_hsm)
    return b64url(json.dumps(doc, separators=(",", ":"), sort_keys=sort_keys).encode())


# ---------------------------------------------------------------------------


class KeyVersion:
    def __init__(self, name, kty, size, ops, attrs, tags, policy, created):
        self.name = name
        self.version = uuid.uuid4().hex
        self.kty = kty
        self.ops = ops
        self.tags = tags
        self.policy = policy  # {"contentType","data","immutable"} or None
        self.created = self.updated = created
        self.enabled = attrs.get("enabled", True)
        self.exportable = bool(attrs.get("exportable", False))
        self.nbf = attrs.get("nbf")
        self.exp = attrs.get("exp")
        if kty == "RSA-HSM":
            self.key = rsa.generate_private_key(65537, size)
        else:
            self.key = os.urandom(size // 8)
        self.size = size

    def material(self):
        """What release wraps: PKCS#8 DER for RSA (azure-wire-formats.md §3.3),
        the raw bytes for oct."""
        if self.kty == "RSA-HSM":
            return self.key.private_bytes(serialization.Encoding.DER,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
        return self.key


class Key:
    def __init__(self, name):
        self.name = name
        self.versions = []  # oldest first
        self.rotation = None  # (lifetimeActions, attributes, created, updated)


class KeyVaultService:
    def __init__(self, sim_dir, kind="akv", base_url=None, maa_issuers=None, rsa_bits=None):
        """kind: "akv" (Key Vault Premium) or "mhsm" (Managed HSM).
        maa_issuers: accepted target-token issuers (None: any issuer the
        release policy names); the signature is always checked with the sim
        MAA's key, pki/maa-signing."""
        self.name = "vault"
        self.sim_dir = sim_dir
        self.kind = kind
        self.audience = "https://managedhsm.azure.net" if kind == "mhsm" else \
            "https://vault.azure.net"
        self.base_url = base_url
        self.maa_issuers = maa_issuers
        self.ident = simjwt.identity(sim_dir)
        pki = os.path.join(sim_dir, "pki")
        self.imds_pub = simjwt.load_cert(os.path.join(pki, "imds-signing.pem")).public_key()
        self.maa_pub = simjwt.load_cert(os.path.join(pki, "maa-signing.pem")).public_key()
        self.sign_key = simjwt.load_key(os.path.join(pki, "kv-signing.key"))
        self.sign_chain = [simjwt.load_cert(os.path.join(pki, "kv-signing.pem"))]
        self.keys = {}
        self.lock = threading.RLock()
        self.rsa_bits = rsa_bits  # tests may force small keys for speed
        self.mhsm_kid = str(uuid.uuid4())
        # the vault's own URL as the current request named it (per thread)
        self.request_base = threading.local()

    def bind(self, server):
        if not self.base_url:
            self.base_url = server.url

    # -- error shape for generic faults
    def fault_response(self, status, headers):
        if status == 429:
            return error_response(429, "Throttled", "Request was not processed because too "
                                  "many requests were received. Reason: VaultRequestTypeLimitReached",
                                  headers)
        if status == 503:
            return error_response(503, "ServiceUnavailable", "The service is temporarily "
                                  "unavailable. Please retry.", headers)
        return error_response(status, "InternalServerError", "An unexpected error occurred.",
                              headers)

    # -- plumbing
    def _kid(self, name, version=None):
        """Key identifiers name the vault as the caller reached it (Host), as
        Key Vault's name its DNS name: a guest reaching the emulator at
        another address (tests/vm: 10.0.2.2) gets kids it can compare with
        the key it asked for."""
        base = getattr(self.request_base, "url", None) or self.base_url
        return "%s/keys/%s%s" % (base, name, "/" + version if version else "")

    def _attrs(self, v):
        a = {"enabled": v.enabled}
        if v.nbf is not None:
            a["nbf"] = v.nbf
        if v.exp is not None:
            a["exp"] = v.exp
        a["created"] = v.created
        a["updated"] = v.updated
        if self.kind == "mhsm":
            a["recoveryLevel"], a["recoverableDays"] = "CustomizedRecoverable+Purgeable", 7
        else:
            a["recoveryLevel"], a["recoverableDays"] = "Recoverable+Purgeable", 90
        a["exportable"] = v.exportable
        return a

    def _jwk(self, v):
        j = {"kid": self._kid(v.name, v.version), "kty": v.kty, "key_ops": list(v.ops)}
        if v.kty == "RSA-HSM":
            pn = v.key.public_key().public_numbers()
            j["n"] = b64url(pn.n.to_bytes((pn.n.bit_length() + 7) // 8, "big"))
            j["e"] = b64url(pn.e.to_bytes((pn.e.bit_length() + 7) // 8, "big"))
        if self.kind == "mhsm":
            j["kty"] = v.kty.replace("-HSM", "")  # MHSM shows "RSA"/"oct" (MANIFEST fact 5)
        return j

    def _bundle(self, v, for_release=False):
        b = {"key": self._jwk(v), "attributes": self._attrs(v)}
        if v.tags:
            b["tags"] = v.tags
        if v.policy:
            rp = {"data": v.policy["data"], "immutable": v.policy["immutable"]}
            if self.kind == "mhsm" or not for_release:
                rp = {"contentType": v.policy["contentType"], **rp}
            b["release_policy"] = rp
        return b

    def _json(self, status, obj):
        return json_response(status, obj) if self.kind == "akv" else \
            json_response(status, json.loads(json.dumps(obj, sort_keys=True)))

    # -- auth
    def _caller(self, req):
        auth = req.headers.get("Authorization") or ""
        www = {"WWW-Authenticate": 'Bearer authorization="https://login.windows.net/%s", '
               'resource="%s"' % (self.ident["tenant_id"], self.audience)}
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise KvError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP "
                          "token.", headers=www)
        token = auth[7:].strip()
        try:
            _, claims = simjwt.verify_rs256(token, self.imds_pub, leeway=300)
        except simjwt.JwtError as e:
            msg = {"expired": "Token validation failed: the token is expired (exp in the past)."}
            raise KvError(401, "Unauthorized", msg.get(e.kind, "Token validation failed: %s."
                                                       % e), headers=www, reason=str(e))
        if claims.get("iss") != self.ident["issuer"]:
            raise KvError(401, "Unauthorized", "AKV10032: Invalid issuer. Expected one of "
                          "%s, found %s." % (self.ident["issuer"], claims.get("iss")),
                          headers=www)
        aud = str(claims.get("aud", ""))
        if aud.rstrip("/") != self.audience:
            raise KvError(401, "Unauthorized", "AKV10022: Invalid audience. Expected %s, "
                          "found: %s." % (self.audience, aud), headers=www)
        oid = claims.get("oid")
        if oid == self.ident["admin"]["object_id"]:
            return claims, None  # the key owner: every permission
        if oid == self.ident["managed_identity"]["object_id"]:
            return claims, MI_PERMS
        raise KvError(403, "Forbidden", "Caller is not authorized to perform action on "
                      "resource.", inner="AccessDenied")

    def _need(self, claims, perms, perm):
        if perms is not None and perm not in perms:
            raise KvError(403, "Forbidden", "The user, group or application 'appid=%s;oid=%s;"
                          "iss=%s' does not have keys %s permission on key vault 'cvm-sim'. "
                          "For help resolving this issue, please see "
                          "https://go.microsoft.com/fwlink/?linkid=2125287"
                          % (claims.get("appid"), claims.get("oid"), claims.get("iss"), perm),
                          inner="ForbiddenByPolicy")

    def _key(self, name, version=None):
        k = self.keys.get(name)
        v = None
        if k:
            v = k.versions[-1] if not version else \
                next((x for x in k.versions if x.version == version), None)
        if not v:
            raise KvError(404, "KeyNotFound", "A key with (name/id) %s was not found in this "
                          "key vault. If you recently deleted this key you may be able to "
                          "recover it using the correct recovery command. For help resolving "
                          "this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
                          % (name + ("/" + version if version else "")))
        return k, v

    # -- dispatch
    def handle(self, req):
        host = req.headers.get("Host")
        self.request_base.url = ("%s://%s" % (urllib.parse.urlsplit(self.base_url).scheme, host)
                                 if host and self.base_url else None)
        try:
            api = req.query1("api-version")
            if not api:
                raise bad("The 'api-version' query parameter is missing.")
            if api not in API_VERSIONS and not re.fullmatch(r"7\.[0-9](-preview)?", api):
                raise bad("The specified version (%s) is not recognized. Consider using the "
                          "latest supported version (7.5)." % api)
            parts = [urllib.parse.unquote(p) for p in req.path.split("/") if p]
            if not parts or parts[0] != "keys":
                raise KvError(404, "NotFound", "The requested resource %s was not found."
                              % req.path)
            claims, perms = self._caller(req)
            with self.lock:
                return self._route(req, api, parts[1:], claims, perms)
        except KvError as e:
            return e.response()

    def _route(self, req, api, p, claims, perms):
        m = req.method
        if not p and m == "GET":
            self._need(claims, perms, "list")
            return self._json(200, {"value": [
                {"kid": self._kid(n), "attributes": self._attrs(k.versions[-1])}
                for n, k in sorted(self.keys.items())], "nextLink": None})
        if not p:
            raise KvError(405, "MethodNotAllowed", "Method %s is not allowed." % m)
        name = p[0]
        rest = p[1:]
        if rest == ["create"] and m == "POST":
            self._need(claims, perms, "create")
            return self.create(req, name)
        if rest == ["rotate"] and m == "POST":
            self._need(claims, perms, "rotate")
            return self.rotate(name)
        if rest == ["rotationpolicy"] and m in ("GET", "PUT"):
            self._need(claims, perms, "getrotationpolicy" if m == "GET" else "setrotationpolicy")
            return self.rotation_policy(req, name)
        if rest == ["versions"] and m == "GET":
            self._need(claims, perms, "list")
            return self.versions(req, name)
        if rest and rest[-1] == "release" and len(rest) <= 2 and m == "POST":
            self._need(claims, perms, "release")
            return self.release(req, api, name, rest[0] if len(rest) == 2 else None)
        if len(rest) <= 1 and m == "GET":
            self._need(claims, perms, "get")
            _, v = self._key(name, rest[0] if rest else None)
            if not v.enabled:  # as the service: get is refused on a disabled version
                raise KvError(403, "Forbidden", "Operation get is not allowed on a disabled "
                              "key.", inner="KeyDisabled")
            return self._json(200, self._bundle(v))
        if len(rest) <= 1 and m == "PATCH":
            self._need(claims, perms, "update")
            return self.update(req, name, rest[0] if rest else None)
        raise KvError(404, "NotFound", "The requested resource %s was not found." % req.path)

    def _body(self, req):
        try:
            b = req.json()
        except (ValueError, UnicodeDecodeError):
            raise bad("The request body is not valid JSON.")
        if not isinstance(b, dict):
            raise bad("The request body must be a JSON object.")
        return b

    # -- operations
    def create(self, req, name, body=None):
        if not NAME_RE.match(name):
            raise bad("The request URI contains an invalid name: %s" % name)
        b = body if body is not None else self._body(req)
        kty = b.get("kty")
        if kty is None:
            raise bad("Property kty is required.")
        allowed = ("RSA-HSM", "oct-HSM") if self.kind == "mhsm" else ("RSA-HSM",)
        if kty not in allowed:
            raise bad("Key type %s is not supported by this simulated %s (supported: %s)."
                      % (kty, "Managed HSM" if self.kind == "mhsm" else "Key Vault",
                         ", ".join(allowed)))
        if kty == "RSA-HSM":
            size = int(b.get("key_size") or 2048)
            if size not in (2048, 3072, 4096):
                raise bad("Invalid key size %d for RSA-HSM (2048, 3072, 4096)." % size)
            ops = b.get("key_ops") or RSA_OPS
        else:
            size = int(b.get("key_size") or 256)
            if size not in (128, 192, 256):
                raise bad("Invalid key size %d for oct-HSM (128, 192, 256)." % size)
            ops = b.get("key_ops") or OCT_OPS
        attrs = b.get("attributes") or {}
        policy = None
        rp = b.get("release_policy")
        if rp is not None:
            try:
                data = b64url_decode(rp["data"]) if isinstance(rp, dict) else None
                pol = json.loads(data)
                validate_release_policy(pol)
            except (KeyError, TypeError, ValueError) as e:
                raise bad("AKV.SKR.1002: The release policy is not valid: %s." % e)
            policy = {"contentType": rp.get("contentType") or "application/json; charset=utf-8",
                      "data": b64url(data), "immutable": bool(rp.get("immutable", False)),
                      "parsed": pol}
        if attrs.get("exportable") and not policy:
            raise bad("AKV.SKR.1004: Exportable keys must have release policy.")
        if policy and not attrs.get("exportable"):
            raise bad("AKV.SKR.1007: Release policy is only allowed on exportable keys.")
        k = self.keys.get(name)
        if k and k.versions[-1].policy and k.versions[-1].policy["immutable"] and policy and \
                policy["data"] != k.versions[-1].policy["data"]:
            raise bad("AKV.SKR.1005: The release policy of this key is immutable.")
        if self.rsa_bits and kty == "RSA-HSM":
            size = self.rsa_bits
        v = KeyVersion(name, kty, size, ops, attrs, b.get("tags") or {}, policy, int(time.time()))
        if not k:
            k = self.keys[name] = Key(name)
        self._apply_expiry(k, v)
        k.versions.append(v)
        return self._json(200, self._bundle(v))

    def _apply_expiry(self, k, v):
        if k.rotation and k.rotation[1].get("expiryTime") and v.exp is None:
            v.exp = v.created + parse_duration(k.rotation[1]["expiryTime"])

    def rotate(self, name):
        k, last = self._key(name)
        pol = last.policy
        v = KeyVersion(name, last.kty, last.size, last.ops,
                       {"enabled": True, "exportable": last.exportable}, dict(last.tags),
                       dict(pol) if pol else None, int(time.time()))
        self._apply_expiry(k, v)
        k.versions.append(v)
        return self._json(200, self._bundle(v))

    def rotation_policy(self, req, name):
        k, _ = self._key(name)
        now = int(time.time())
        if req.method == "PUT":
            actions, attrs = validate_rotation_policy(self._body(req), self.kind == "mhsm")
            created = k.rotation[2] if k.rotation else now
            k.rotation = (actions, attrs, created, now)
        if k.rotation:
            actions, attrs, created, updated = k.rotation
        else:
            actions = [] if self.kind == "mhsm" else \
                [{"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}]
            attrs, created, updated = {}, None, None
        a = dict(attrs)
        if created:
            a["created"], a["updated"] = created, updated
        return self._json(200, {"id": self._kid(name) + "/rotationpolicy",
                                "lifetimeActions": actions, "attributes": a})

    def versions(self, req, name):
        k, _ = self._key(name)
        try:
            maxr = int(req.query1("maxresults") or 25)
            skip = int(req.query1("$skiptoken") or 0)
        except ValueError:
            raise bad("maxresults and $skiptoken must be integers.")
        if not 1 <= maxr <= 25:
            raise bad("maxresults must be between 1 and 25.")
        page = k.versions[skip:skip + maxr]
        nxt = None
        if skip + maxr < len(k.versions):
            nxt = "%s/versions?api-version=%s&$skiptoken=%d&maxresults=%d" % (
                self._kid(name), req.query1("api-version"), skip + maxr, maxr)
        return self._json(200, {"value": [{"kid": self._kid(name, v.version),
                                           "attributes": self._attrs(v)} for v in page],
                                "nextLink": nxt})

    def update(self, req, name, version):
        _, v = self._key(name, version)
        b = self._body(req)
        attrs = b.get("attributes") or {}
        if "enabled" in attrs:
            v.enabled = bool(attrs["enabled"])
        for f in ("nbf", "exp"):
            if f in attrs:
                setattr(v, f, attrs[f])
        if "tags" in b:
            v.tags = b["tags"] or {}
        if "release_policy" in b:
            if v.policy and v.policy["immutable"]:
                raise bad("AKV.SKR.1005: The release policy of this key is immutable.")
            rp = b["release_policy"]
            try:
                data = b64url_decode(rp["data"])
                pol = json.loads(data)
                validate_release_policy(pol)
            except (KeyError, TypeError, ValueError) as e:
                raise bad("AKV.SKR.1002: The release policy is not valid: %s." % e)
            v.policy = {"contentType": rp.get("contentType") or "application/json; charset=utf-8",
                        "data": b64url(data), "immutable": bool(rp.get("immutable", False)),
                        "parsed": pol}
        v.updated = int(time.time())
        return self._json(200, self._bundle(v))

    def release(self, req, api, name, version):
        if api < RELEASE_MIN_API:
            raise bad("Operation release is not supported by API version %s (need %s or "
                      "later)." % (api, RELEASE_MIN_API))
        _, v = self._key(name, version)
        if not v.enabled or faults.active("revoked_key"):
            raise KvError(403, "Forbidden", "Operation release is not allowed on a disabled "
                          "key.", inner="KeyDisabled")
        now = int(time.time())
        if (v.nbf is not None and now < v.nbf) or (v.exp is not None and now >= v.exp):
            raise KvError(403, "Forbidden", "Operation release is not allowed on an expired "
                          "or not yet valid key.", inner="KeyNotYetValidOrExpired")
        if not v.exportable or not v.policy:
            raise bad("AKV.SKR.1001: Key %s is not exportable." % name)
        b = self._body(req)
        target = b.get("target")
        enc = b.get("enc") or DEFAULT_ENC
        if enc not in ENC_HASH:
            raise bad("Invalid enc '%s' (CKM_RSA_AES_KEY_WRAP, RSA_AES_KEY_WRAP_256, "
                      "RSA_AES_KEY_WRAP_384)." % enc)
        if not isinstance(target, str) or not target:
            raise bad("Property target is required.")
        deny = KvError(403, "Forbidden", UNVERIFIABLE, inner="AccessDenied")
        try:
            _, claims = simjwt.verify_rs256(target, self.maa_pub, leeway=60)
        except simjwt.JwtError as e:
            deny.reason = "target token: %s" % e
            raise deny
        issuers = self.maa_issuers() if callable(self.maa_issuers) else self.maa_issuers
        if issuers is not None and \
                str(claims.get("iss", "")).rstrip("/") not in [i.rstrip("/") for i in issuers]:
            deny.reason = "target token issuer %s is not a known attestation service" % \
                claims.get("iss")
            raise deny
        ok, why = policy_allows(v.policy["parsed"], claims)
        if not ok:
            deny.reason = why
            raise deny
        kek_kid, kek = transfer_key(claims)
        if kek is None:
            raise bad("AKV.SKR.1008: The target token has no encryption key in x-ms-runtime.keys.")
        if faults.active("wrong_transfer_key"):
            kek = rsa.generate_private_key(65537, kek.key_size).public_key()
        bundle = self._bundle(v, for_release=True)
        bundle["key"]["key_hsm"] = build_key_hsm(kek_kid, kek, enc, v.material(),
                                                  sort_keys=self.kind == "mhsm")
        rq = {"api-version": api, "enc": enc,
              "kid": self._kid(name, version)}
        payload = {"request": rq, "response": {"key": bundle}}
        return self._json(200, {"value": self.sign_jws(payload)})

    def sign_jws(self, payload):
        """RS256 JWS with the vault's signing certificate in x5c (Key Vault:
        kid = uppercase hex SHA-1 thumbprint, x5t, typ, x5t#S256; Managed HSM:
        kid GUID, x5t#S256, no typ/x5t -- MANIFEST fact 5)."""
        leaf = self.sign_chain[0]
        der = simjwt.cert_der(leaf)
        x5c = [base64.b64encode(simjwt.cert_der(c)).decode() for c in self.sign_chain]
        if self.kind == "mhsm":
            header = {"alg": "RS256", "kid": self.mhsm_kid, "x5c": x5c,
                      "x5t#S256": simjwt.thumbprint_b64url(leaf, "sha256")}
        else:
            header = {"alg": "RS256", "kid": hashlib.sha1(der).hexdigest().upper(),
                      "x5t": simjwt.thumbprint_b64url(leaf), "typ": "JWT",
                      "x5t#S256": simjwt.thumbprint_b64url(leaf, "sha256"), "x5c": x5c}
        return simjwt.sign_rs256(self.sign_key, header, payload,
                                 bad_signature=faults.active("wrong_signature"),
                                 sort_keys=self.kind == "mhsm")


def release_policy(maa_url, tee_types=("sevsnpvm", "tdxvm"), attestation_type="azurevm",
                   compliance=None):
    """The default CVM policy: the sim MAA as authority, x-ms-attestation-type
    (and the isolation TEE type) required.  MAA_URL may be a list: one
    authority each (the same MAA seen under several host names).  Returns
    the KeyReleasePolicy dict."""
    conds = [{"claim": "x-ms-attestation-type", "equals": attestation_type},
             {"anyOf": [{"claim": "x-ms-isolation-tee.x-ms-attestation-type", "equals": t}
                        for t in tee_types]}]
    if compliance:
        conds.append({"claim": "x-ms-isolation-tee.x-ms-compliance-status",
                      "equals": compliance})
    urls = [maa_url] if isinstance(maa_url, str) else list(maa_url)
    pol = {"version": "1.0.0", "anyOf": [{"authority": u, "allOf": conds} for u in urls]}
    return {"contentType": "application/json; charset=utf-8",
            "data": b64url(json.dumps(pol, separators=(",", ":")).encode()),
            "immutable": False}


__all__ = ["KeyVaultService", "release_policy", "parse_duration", "validate_rotation_policy",
           "eval_condition", "policy_allows", "build_key_hsm", "transfer_key"]
