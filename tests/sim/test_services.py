#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Tests of the Key Vault / Managed HSM, IMDS and KDS emulators and of the
fault injection (run by tests/integration/sim-services.sh).

Every service runs on a real loopback port (SimServer, TLS where the real
one is HTTPS) and is called over HTTP.  Released keys and signatures are
checked with the openssl CLI, independent of the emulators and the agent.
"""

import base64
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

import imds  # noqa: E402
import kds  # noqa: E402
import keyvault  # noqa: E402
import pki  # noqa: E402
import simhttp  # noqa: E402
import simjwt  # noqa: E402
from simhttp import b64url, b64url_decode  # noqa: E402

MAA_URL = "https://maa.sim.test:8443"  # issuer of the test's own target tokens
S = {}  # module state: dir, servers


def setUpModule():
    d = tempfile.mkdtemp(prefix="cvm-sim-services.")
    S["dir"] = d
    t = time.monotonic()
    pki.generate(d, "snp", turin=True)
    S["pki_s"] = time.monotonic() - t
    os.makedirs(os.path.join(d, "faults"))
    pk = os.path.join(d, "pki")
    tls = (os.path.join(pk, "tls-server.pem"), os.path.join(pk, "tls-server.key"))

    def srv(name, service, tls_on):
        s = simhttp.SimServer(service, tls=tls if tls_on else None,
                              log_path=os.path.join(d, name + ".log"),
                              faults_path=os.path.join(d, "faults", name + ".json"))
        s.name = name
        return s.start()
    S["imds"] = srv("imds", imds.ImdsService(d), False)
    S["kds"] = srv("kds", kds.KdsService(d), True)
    S["vault"] = srv("vault", keyvault.KeyVaultService(d, maa_issuers=[MAA_URL]), True)
    S["mhsm"] = srv("mhsm", keyvault.KeyVaultService(d, kind="mhsm", maa_issuers=[MAA_URL]),
                    True)
    S["ctx"] = ssl.create_default_context(cafile=os.path.join(pk, "tls-ca.pem"))
    # The transfer key the "vTPM" would hold (RSA-2048, as the ephemeral key).
    S["kek"] = rsa.generate_private_key(65537, 2048)
    S["admin"] = {"akv": simjwt.mint_access_token(d, "https://vault.azure.net", "admin")[0],
                  "mhsm": simjwt.mint_access_token(d, "https://managedhsm.azure.net",
                                                   "admin")[0]}


def tearDownModule():
    for n in ("imds", "kds", "vault", "mhsm"):
        S[n].stop()
    if os.environ.get("KEEP_TEST_DIR"):
        print("test dir kept: %s" % S["dir"], file=sys.stderr)
    else:
        shutil.rmtree(S["dir"], ignore_errors=True)


# ---------------------------------------------------------------------------
# helpers


def call(server, method, target, headers=None, body=None, timeout=30):
    """(status, headers, body bytes) of one request over a fresh connection."""
    s = S[server] if isinstance(server, str) else server
    if s.scheme == "https":
        c = http.client.HTTPSConnection(s.host, s.port, context=S["ctx"], timeout=timeout)
    else:
        c = http.client.HTTPConnection(s.host, s.port, timeout=timeout)
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    h = dict(headers or {})
    if isinstance(body, (dict, list)):
        h.setdefault("Content-Type", "application/json")
    try:
        c.request(method, target, body=data, headers=h)
        r = c.getresponse()
        return r.status, r.headers, r.read()
    finally:
        c.close()


def jcall(*a, **kw):
    st, h, b = call(*a, **kw)
    return st, h, json.loads(b) if b else None


def mi_token(resource="https://vault.azure.net"):
    st, _, b = jcall("imds", "GET", "/metadata/identity/oauth2/token?api-version=2018-02-01"
                     "&resource=" + urllib.parse.quote(resource, safe=""),
                     {"Metadata": "true"})
    assert st == 200, b
    return b["access_token"]


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def maa_token(iss=MAA_URL, tee="sevsnpvm", att="azurevm", kek=None, expired=False,
              bad_sig=False, use_enc=False):
    """A target token as the MAA emulator issues it (AzureGuest claims,
    azure-wire-formats.md §2.3), signed with pki/maa-signing."""
    d = os.path.join(S["dir"], "pki")
    key = simjwt.load_key(os.path.join(d, "maa-signing.key"))
    pub = (kek or S["kek"]).public_key().public_numbers()
    jwk = {"kid": "TpmEphemeralEncryptionKey", "kty": "RSA", "e": b64url(pub.e.to_bytes(3, "big")),
           "n": b64url(pub.n.to_bytes(256, "big"))}
    if use_enc:
        jwk["use"] = "enc"
    else:
        jwk["key_ops"] = ["encrypt"]
    now = int(time.time()) - (40000 if expired else 0)
    claims = {"iss": iss, "iat": now, "nbf": now, "exp": now + 28800, "jti": b64url(os.urandom(8)),
              "x-ms-ver": "1.0", "x-ms-attestation-type": att,
              "x-ms-isolation-tee": {"x-ms-attestation-type": tee,
                                     "x-ms-compliance-status": "azure-compliant-cvm"},
              "x-ms-runtime": {"client-payload": {"nonce": "MTIzNA=="}, "keys": [jwk]}}
    header = {"alg": "RS256", "jku": iss + "/certs", "kid": "sim", "typ": "JWT"}
    return simjwt.sign_rs256(key, header, claims, bad_signature=bad_sig)


def policy(authority=MAA_URL, tee="sevsnpvm"):
    return keyvault.release_policy(authority, tee_types=(tee,))


def create_key(name, vault="vault", kty="RSA-HSM", size=None, pol=None, exportable=True):
    body = {"kty": kty, "attributes": {"exportable": exportable}}
    if size:
        body["key_size"] = size
    if pol is not False:
        body["release_policy"] = pol or policy()
    st, _, b = jcall(vault, "POST", "/keys/%s/create?api-version=7.4" % name,
                     bearer(S["admin"]["mhsm" if vault == "mhsm" else "akv"]), body)
    assert st == 200, b
    return b


def release(vault, path, target, enc="RSA_AES_KEY_WRAP_256", token=None, api="7.4"):
    body = {"target": target}
    if enc:
        body["enc"] = enc
    if token is None:
        token = mi_token("https://managedhsm.azure.net" if vault == "mhsm"
                         else "https://vault.azure.net")
    return jcall(vault, "POST", "%s/release?api-version=%s" % (path, api), bearer(token), body)


def key_path(kid):
    return urllib.parse.urlsplit(kid).path


def set_fault(server, name, **args):
    st, _, b = jcall(server, "POST", "/_sim/faults", body={"name": name, "args": args})
    assert st == 200, b


def port_open(s):
    try:
        socket.create_connection((s.host, s.port), 0.5).close()
        return True
    except OSError:
        return False


def wait_port(s, want_open, timeout=5):
    end = time.monotonic() + timeout
    while time.monotonic() < end and port_open(s) != want_open:
        time.sleep(0.02)
    return port_open(s) == want_open


def clear_faults(server):
    """Through the fault table itself (works while the port is down), then
    wait until the port is open again."""
    s = S[server]
    s.faults.clear()
    assert wait_port(s, True), "%s did not come back" % server


def openssl(*args, input=None):
    r = subprocess.run(["openssl"] + list(args), input=input, capture_output=True)
    return r.returncode, r.stdout, r.stderr


class Tmp:
    def __init__(self):
        self.d = tempfile.mkdtemp(dir=S["dir"])

    def put(self, name, data):
        p = os.path.join(self.d, name)
        with open(p, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return p

    def path(self, name):
        return os.path.join(self.d, name)


def openssl_verify_jws(jws):
    """Verifies a compact RS256 JWS with x5c[0] using only the openssl CLI."""
    t = Tmp()
    h, p, s = jws.split(".")
    header = json.loads(b64url_decode(h))
    leaf = t.put("leaf.der", base64.b64decode(header["x5c"][0]))
    rc, pub, err = openssl("x509", "-inform", "DER", "-in", leaf, "-pubkey", "-noout")
    assert rc == 0, err
    pubf = t.put("pub.pem", pub)
    rc, out, err = openssl("dgst", "-sha256", "-verify", pubf, "-signature",
                           t.put("sig.bin", b64url_decode(s)), t.put("in.txt", h + "." + p))
    return rc == 0 and b"Verified OK" in out


def openssl_unwrap(key_hsm_b64, kek, oaep_md):
    """key_hsm -> key material with openssl pkeyutl (RSA-OAEP) + enc (AES-KWP)."""
    t = Tmp()
    doc = json.loads(b64url_decode(key_hsm_b64))
    ct = b64url_decode(doc["ciphertext"])
    kb = kek.key_size // 8
    kekf = t.put("kek.pem", kek.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    rc, _, err = openssl("pkeyutl", "-decrypt", "-inkey", kekf,
                         "-pkeyopt", "rsa_padding_mode:oaep",
                         "-pkeyopt", "rsa_oaep_md:" + oaep_md, "-pkeyopt", "rsa_mgf1_md:" + oaep_md,
                         "-in", t.put("wrapped.bin", ct[:kb]), "-out", t.path("aes.bin"))
    if rc != 0:
        raise ValueError("openssl pkeyutl OAEP decrypt failed: %s" % err.decode().strip())
    with open(t.path("aes.bin"), "rb") as f:
        aes = f.read()
    assert len(aes) == 32
    rc, _, err = openssl("enc", "-d", "-id-aes256-wrap-pad", "-K", aes.hex(), "-iv", "A65959A6",
                         "-in", t.put("kwp.bin", ct[kb:]), "-out", t.path("key.bin"))
    if rc != 0:
        raise ValueError("openssl AES-KWP unwrap failed: %s" % err.decode().strip())
    with open(t.path("key.bin"), "rb") as f:
        return doc, f.read()


def jws_payload(jws):
    return json.loads(b64url_decode(jws.split(".")[1]))


# ---------------------------------------------------------------------------


class ImdsTests(unittest.TestCase):
    TOKEN = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource="

    def test_token(self):
        st, h, b = jcall("imds", "GET", self.TOKEN + "https%3A%2F%2Fvault.azure.net",
                         {"Metadata": "true"})
        self.assertEqual(st, 200)
        for k in ("access_token", "client_id", "expires_in", "expires_on", "ext_expires_in",
                  "not_before", "resource", "token_type"):
            self.assertIsInstance(b[k], str, k)  # IMDS sends every field as a string
        self.assertEqual(b["resource"], "https://vault.azure.net")
        self.assertEqual(b["token_type"], "Bearer")
        hdr, claims, _, _ = simjwt.decode(b["access_token"])
        self.assertEqual(claims["aud"], "https://vault.azure.net")
        self.assertEqual(str(claims["exp"]), b["expires_on"])
        self.assertEqual(hdr["alg"], "RS256")
        # the unencoded resource form is accepted too (azure-wire-formats.md §3.1)
        st, _, _ = call("imds", "GET", self.TOKEN + "https://vault.azure.net",
                        {"Metadata": "true"})
        self.assertEqual(st, 200)

    def test_token_refusals(self):
        cases = [
            ({}, self.TOKEN + "https://vault.azure.net", 400,
             {"error": "invalid_request",
              "error_description": "Required metadata header not specified"}),
            ({"Metadata": "True"}, self.TOKEN + "https://vault.azure.net", 400,
             {"error": "invalid_request",
              "error_description": "Required metadata header not specified"}),
            ({"Metadata": "true"}, "/metadata/identity/oauth2/token?api-version=2018-02-01",
             400, {"error": "invalid_request",
                   "error_description": "Required query variable 'resource' is missing"}),
            ({"Metadata": "true"}, "/metadata/identity/oauth2/token?resource=x", 400,
             {"error": "invalid_request",
              "error_description": "Required query variable 'api-version' is missing"}),
        ]
        for hdr, target, want_st, want in cases:
            st, _, b = jcall("imds", "GET", target, hdr)
            self.assertEqual((st, b), (want_st, want), target)
        st, _, b = jcall("imds", "GET", self.TOKEN + "https://unknown.example", {"Metadata": "true"})
        self.assertEqual(st, 400)
        self.assertEqual(b["error"], "invalid_resource")
        self.assertIn("AADSTS500011", b["error_description"])

    def test_thim(self):
        st, h, b = call("imds", "GET", "/metadata/THIM/amd/certification", {"Metadata": "true"})
        self.assertEqual(st, 200)
        doc = json.loads(b)
        # exactly the real keys, in the real order (MANIFEST fact 8)
        self.assertEqual(list(doc), ["vcekCert", "tcbm", "certificateChain", "cacheControl"])
        self.assertEqual(doc["cacheControl"], "86400")
        meta = pki.load_meta(os.path.join(S["dir"], "pki"))
        tcb = meta["amd"]["tcb"]
        want = bytes([tcb["ucode"], tcb["snp"], 0, 0, 0, 0, tcb["tee"], tcb["bl"]]).hex()
        self.assertEqual(doc["tcbm"].lower(), want)
        t = Tmp()
        rc, out, err = openssl("verify", "-CAfile", t.put("chain.pem", doc["certificateChain"]),
                               t.put("vcek.pem", doc["vcekCert"]))
        self.assertEqual(rc, 0, err)
        st, _, b = jcall("imds", "GET", "/metadata/THIM/amd/certification")
        self.assertEqual((st, b), (400, {"error": "Bad request. Required metadata header "
                                                  "not specified"}))

    def test_tdquote(self):
        import signers
        pk = os.path.join(S["dir"], "pki")
        rd = os.urandom(64)
        rep = signers.tdreport(pk, report_data=rd)
        body = json.dumps({"report": b64url(rep)}).encode()
        st, _, b = call("imds", "POST", "/acc/tdquote",
                        {"Content-Type": "application/json; charset=utf-8"}, body)
        self.assertEqual((st, b), (415, b"Unknown media type"))
        st, _, b = jcall("imds", "POST", "/acc/tdquote", {"Content-Type": "application/json"},
                         body)
        self.assertEqual(st, 200, b)
        quote = b64url_decode(b["quote"])
        self.assertEqual(int.from_bytes(quote[0:2], "little"), 4)
        self.assertEqual(quote[568:632], rd)  # v4: 48 + 520 (azure-wire-formats.md §5.1)
        st, _, b = jcall("imds", "POST", "/acc/tdquote", {"Content-Type": "application/json"},
                         json.dumps({"report": b64url(rep[:1000])}).encode())
        self.assertEqual(st, 400)


class KdsTests(unittest.TestCase):
    def vcek_url(self, which="amd", **over):
        meta = pki.load_meta(os.path.join(S["dir"], "pki"))[which]
        tcb = dict(meta["tcb"], **over)
        if which == "amd":
            return "/vcek/v1/Milan/%s?blSPL=%d&teeSPL=%d&snpSPL=%d&ucodeSPL=%d" % (
                meta["chip_id"], tcb["bl"], tcb["tee"], tcb["snp"], tcb["ucode"])
        return "/vcek/v1/Turin/%s?fmcSPL=%d&blSPL=%d&teeSPL=%d&snpSPL=%d&ucodeSPL=%d" % (
            meta["chip_id"][:16], tcb["fmc"], tcb["bl"], tcb["tee"], tcb["snp"], tcb["ucode"])

    def test_crl(self):
        st, h, b = call("kds", "GET", "/vcek/v1/Milan/crl")
        self.assertEqual(st, 200)
        crl = x509.load_der_x509_crl(b)  # DER, as the real KDS
        with open(os.path.join(S["dir"], "pki", "amd", "ark.pem"), "rb") as f:
            ark = x509.load_pem_x509_certificate(f.read())
        self.assertEqual(crl.issuer, ark.subject)
        self.assertEqual(len(list(crl)), 0)  # nothing revoked in the sim's PKI
        self.assertEqual(call("kds", "GET", "/vcek/v1/Genoa/crl")[0], 404)

    def test_vcek_and_chain(self):
        st, h, b = call("kds", "GET", self.vcek_url())
        self.assertEqual(st, 200)
        with open(os.path.join(S["dir"], "pki", "amd", "vcek.pem"), "rb") as f:
            want = x509.load_pem_x509_certificate(f.read()).public_bytes(
                serialization.Encoding.DER)
        self.assertEqual(b, want)  # DER, as the real KDS
        st, h, chain = call("kds", "GET", "/vcek/v1/Milan/cert_chain")
        self.assertEqual(st, 200)
        amd = os.path.join(S["dir"], "pki", "amd")
        with open(os.path.join(amd, "ask.pem"), "rb") as a, \
                open(os.path.join(amd, "ark.pem"), "rb") as r:
            self.assertEqual(chain, a.read() + r.read())  # ASK first, then ARK
        st, _, b = call("kds", "GET", self.vcek_url("amd-turin"))
        self.assertEqual(st, 200)

    def test_refusals(self):
        self.assertEqual(call("kds", "GET", self.vcek_url(snp=99))[0], 404)
        url = self.vcek_url()
        self.assertEqual(call("kds", "GET", url.split("&ucodeSPL")[0])[0], 400)
        self.assertEqual(call("kds", "GET", url.replace("/Milan/", "/Rome2/"))[0], 400)
        self.assertEqual(call("kds", "GET", self.vcek_url("amd-turin").replace("fmcSPL=", "x="))[0],
                         400)

    def test_429_mode(self):
        set_fault("kds", "throttle", retry_after=7)
        try:
            st, h, b = call("kds", "GET", self.vcek_url())
            self.assertEqual(st, 429)
            self.assertEqual(h["Retry-After"], "7")
        finally:
            clear_faults("kds")
        self.assertEqual(call("kds", "GET", self.vcek_url())[0], 200)

    def test_wrong_signature(self):
        t = Tmp()
        chain = t.put("chain.pem", call("kds", "GET", "/vcek/v1/Milan/cert_chain")[2])
        set_fault("kds", "wrong_signature")
        try:
            st, _, bad = call("kds", "GET", self.vcek_url())
        finally:
            clear_faults("kds")
        self.assertEqual(st, 200)
        good = call("kds", "GET", self.vcek_url())[2]
        rc_good = openssl("verify", "-CAfile", chain, t.put("g.pem", imds._pem(good)))[0]
        rc_bad = openssl("verify", "-CAfile", chain, t.put("b.pem", imds._pem(bad)))[0]
        self.assertEqual((rc_good, rc_bad != 0), (0, True))


class VaultAuthTests(unittest.TestCase):
    def test_refusals(self):
        create_key("authkey")
        st, h, b = jcall("vault", "GET", "/keys/authkey?api-version=7.4")
        self.assertEqual((st, b["error"]["code"]), (401, "Unauthorized"))
        self.assertTrue(b["error"]["message"].startswith("AKV10000"))
        self.assertIn('resource="https://vault.azure.net"', h["WWW-Authenticate"])
        # wrong audience: a Resource Manager token from the same IMDS
        st, _, b = jcall("vault", "GET", "/keys/authkey?api-version=7.4",
                         bearer(mi_token("https://management.azure.com/")))
        self.assertEqual(st, 401)
        self.assertEqual(b["error"]["code"], "Unauthorized")
        self.assertTrue(b["error"]["message"].startswith(
            "AKV10022: Invalid audience. Expected https://vault.azure.net, found: "
            "https://management.azure.com/"), b)
        # a vault token is not a Managed HSM token
        st, _, b = jcall("mhsm", "GET", "/keys/authkey?api-version=7.4", bearer(mi_token()))
        self.assertEqual((st, b["error"]["code"]), (401, "Unauthorized"))
        # expired and badly signed tokens, obtained from IMDS through its faults
        for fault in ("expired_token", "wrong_signature"):
            set_fault("imds", fault)
            try:
                tok = mi_token()
            finally:
                clear_faults("imds")
            st, _, b = jcall("vault", "GET", "/keys/authkey?api-version=7.4", bearer(tok))
            self.assertEqual((st, b["error"]["code"]), (401, "Unauthorized"), fault)
        # api-version
        st, _, b = jcall("vault", "GET", "/keys/authkey", bearer(mi_token()))
        self.assertEqual((st, b["error"]["code"]), (400, "BadParameter"))
        st, _, b = jcall("vault", "GET", "/keys/authkey?api-version=2.0", bearer(mi_token()))
        self.assertEqual((st, b["error"]["code"]), (400, "BadParameter"))
        # unknown key
        st, _, b = jcall("vault", "GET", "/keys/nosuchkey?api-version=7.4", bearer(mi_token()))
        self.assertEqual((st, b["error"]["code"]), (404, "KeyNotFound"))
        self.assertIn("A key with (name/id) nosuchkey was not found", b["error"]["message"])
        # the managed identity may get and release, not manage
        st, _, b = jcall("vault", "POST", "/keys/authkey/rotate?api-version=7.4",
                         bearer(mi_token()))
        self.assertEqual((st, b["error"]["code"]), (403, "Forbidden"))
        self.assertEqual(b["error"]["innererror"]["code"], "ForbiddenByPolicy")
        self.assertIn("does not have keys rotate permission", b["error"]["message"])

    def test_create_rules(self):
        st, _, b = jcall("vault", "POST", "/keys/nopol/create?api-version=7.4",
                         bearer(S["admin"]["akv"]),
                         {"kty": "RSA-HSM", "attributes": {"exportable": True}})
        self.assertEqual((st, b), (400, {"error": {
            "code": "BadParameter", "message": "AKV.SKR.1004: Exportable keys must have "
                                               "release policy."}}))
        bad_pol = {"data": b64url(b'{"version":"1.0.0","anyOf":[]}')}
        st, _, b = jcall("vault", "POST", "/keys/badpol/create?api-version=7.4",
                         bearer(S["admin"]["akv"]),
                         {"kty": "RSA-HSM", "attributes": {"exportable": True},
                          "release_policy": bad_pol})
        self.assertEqual((st, b["error"]["code"]), (400, "BadParameter"))
        st, _, b = jcall("vault", "POST", "/keys/octkv/create?api-version=7.4",
                         bearer(S["admin"]["akv"]),
                         {"kty": "oct-HSM", "attributes": {"exportable": True},
                          "release_policy": policy()})
        self.assertEqual((st, b["error"]["code"]), (400, "BadParameter"))


class ReleaseTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bundle = create_key("relkey")
        cls.path = key_path(cls.bundle["key"]["kid"])

    def check_release(self, vault, path, bundle, enc, oaep_md, raw=False):
        st, h, b = release(vault, path, maa_token(), enc)
        self.assertEqual(st, 200, b)
        self.assertEqual(list(b), ["value"])
        jws = b["value"]
        self.assertTrue(openssl_verify_jws(jws), "JWS signature (openssl dgst)")
        payload = jws_payload(jws)
        self.assertEqual(payload["request"]["enc"], enc or "CKM_RSA_AES_KEY_WRAP")
        k = payload["response"]["key"]["key"]
        self.assertEqual(k["kid"], bundle["key"]["kid"])
        doc, material = openssl_unwrap(k["key_hsm"], S["kek"], oaep_md)
        self.assertEqual(doc["header"], {"kid": "TpmEphemeralEncryptionKey", "alg": "dir",
                                         "enc": enc or "CKM_RSA_AES_KEY_WRAP"})
        self.assertEqual(doc["schema_version"], "1.0")
        if raw:
            return payload, material
        # PKCS#8 RSA key whose public half is the JWK (checked with openssl too)
        t = Tmp()
        rc, out, err = openssl("pkey", "-inform", "DER", "-in", t.put("k.der", material),
                               "-noout", "-text_pub")
        self.assertEqual(rc, 0, err)
        priv = serialization.load_der_private_key(material, None)
        n = priv.public_key().public_numbers().n
        self.assertEqual(n, int.from_bytes(b64url_decode(k["n"]), "big"))
        self.assertEqual(material[:4], b"\x30\x82" + material[2:4])
        return payload, material

    def test_release_rsa_aes_key_wrap_256(self):
        p, _ = self.check_release("vault", self.path, self.bundle, "RSA_AES_KEY_WRAP_256",
                                  "sha256")
        self.assertEqual(list(p), ["request", "response"])
        hdr = json.loads(b64url_decode(
            release("vault", self.path, maa_token())[2]["value"].split(".")[0]))
        self.assertEqual(sorted(hdr), sorted(["alg", "kid", "x5t", "typ", "x5t#S256", "x5c"]))
        self.assertEqual(hdr["kid"], hdr["kid"].upper())

    def test_release_ckm_default_sha1(self):
        # no enc sent: the vault uses and echoes CKM_RSA_AES_KEY_WRAP (OAEP SHA-1)
        self.check_release("vault", key_path(self.bundle["key"]["kid"].rsplit("/", 1)[0]),
                           self.bundle, None, "sha1")

    def test_sha_mismatch_does_not_unwrap(self):
        st, _, b = release("vault", self.path, maa_token(), "CKM_RSA_AES_KEY_WRAP")
        k = jws_payload(b["value"])["response"]["key"]["key"]
        with self.assertRaises(ValueError):
            openssl_unwrap(k["key_hsm"], S["kek"], "sha256")

    def test_policy_with_several_authorities(self):
        # one MAA under two host names (cvm-sim up --extra-san): either authority releases
        other = "https://10.0.2.2:1"
        both = create_key("two-authorities", pol=policy([other, MAA_URL]))
        self.assertEqual(release("vault", key_path(both["key"]["kid"]), maa_token())[0], 200)
        only_other = create_key("other-authority", pol=policy([other]))
        st, _, b = release("vault", key_path(only_other["key"]["kid"]), maa_token())
        self.assertEqual(st, 403, b)

    def test_use_enc_transfer_key(self):
        st, _, b = release("vault", self.path, maa_token(use_enc=True))
        self.assertEqual(st, 200)

    def refused(self, target, status=403, code="Forbidden", path=None, **kw):
        st, _, b = release("vault", path or self.path, target, **kw)
        self.assertEqual(st, status, b)
        self.assertEqual(b["error"]["code"], code, b)
        return b

    def test_policy_not_met(self):
        b = self.refused(maa_token(att="sevsnpvm"))
        self.assertEqual(b["error"], {"code": "Forbidden", "message": keyvault.UNVERIFIABLE,
                                      "innererror": {"code": "AccessDenied"}})
        self.refused(maa_token(tee="tdxvm"))

    def test_wrong_authority(self):
        key = create_key("otherauth", pol=policy("https://other.attest.example"))
        self.refused(maa_token(), path=key_path(key["key"]["kid"]))

    def test_expired_and_badly_signed_target(self):
        self.refused(maa_token(expired=True))
        self.refused(maa_token(bad_sig=True))
        self.refused("not-a-jwt")
        other = rsa.generate_private_key(65537, 2048)
        t = maa_token()
        h, p, _ = t.split(".")
        from cryptography.hazmat.primitives.asymmetric import padding
        forged = h + "." + p + "." + b64url(other.sign((h + "." + p).encode(), padding.PKCS1v15(),
                                                       hashes.SHA256()))
        self.refused(forged)
        # an issuer the vault does not know, even if the policy names it
        key = create_key("unknownauth", pol=policy("https://rogue.example"))
        self.refused(maa_token(iss="https://rogue.example"), path=key_path(key["key"]["kid"]))

    def test_disabled_version(self):
        key = create_key("revoke")
        v1 = key_path(key["key"]["kid"])
        st, _, v2 = jcall("vault", "POST", "/keys/revoke/rotate?api-version=7.4",
                          bearer(S["admin"]["akv"]))
        self.assertEqual(st, 200)
        st, _, b = jcall("vault", "PATCH", v1 + "?api-version=7.4", bearer(S["admin"]["akv"]),
                         {"attributes": {"enabled": False}})
        self.assertEqual((st, b["attributes"]["enabled"]), (200, False))
        b = self.refused(maa_token(), path=v1)
        self.assertEqual(b["error"]["message"],
                         "Operation release is not allowed on a disabled key.")
        self.assertEqual(b["error"]["innererror"]["code"], "KeyDisabled")
        self.assertEqual(release("vault", key_path(v2["key"]["kid"]), maa_token())[0], 200)
        st, _, b = jcall("vault", "GET", v1 + "?api-version=7.4", bearer(mi_token()))
        self.assertEqual((st, b["error"]["message"]),
                         (403, "Operation get is not allowed on a disabled key."))
        st, _, b = jcall("vault", "GET", "/keys/revoke/versions?api-version=7.4",
                         bearer(mi_token()))
        self.assertEqual([v["attributes"]["enabled"] for v in b["value"]], [False, True])
        # the managed identity cannot re-enable it
        st, _, b = jcall("vault", "PATCH", v1 + "?api-version=7.4", bearer(mi_token()),
                         {"attributes": {"enabled": True}})
        self.assertEqual(st, 403)

    def test_old_api_version(self):
        self.refused(maa_token(), 400, "BadParameter", api="7.2")

    def test_non_exportable(self):
        st, _, b = jcall("vault", "POST", "/keys/plain/create?api-version=7.4",
                         bearer(S["admin"]["akv"]), {"kty": "RSA-HSM"})
        self.assertEqual(st, 200)
        self.refused(maa_token(), 400, "BadParameter", path=key_path(b["key"]["kid"]))


class VersionTests(unittest.TestCase):
    def test_rotate_and_list(self):
        create_key("rot")
        for _ in range(2):
            st, _, b = jcall("vault", "POST", "/keys/rot/rotate?api-version=7.4",
                             bearer(S["admin"]["akv"]))
            self.assertEqual(st, 200)
            self.assertTrue(b["attributes"]["exportable"])
            self.assertIn("release_policy", b)
        st, _, latest = jcall("vault", "GET", "/keys/rot?api-version=7.4", bearer(mi_token()))
        self.assertEqual(latest["key"]["kid"], b["key"]["kid"])
        kids, url = [], "/keys/rot/versions?api-version=7.4&maxresults=2"
        while url:
            st, _, page = jcall("vault", "GET", url, bearer(mi_token()))
            self.assertEqual(st, 200, page)
            self.assertLessEqual(len(page["value"]), 2)
            kids += [v["kid"] for v in page["value"]]
            url = page["nextLink"] and key_path(page["nextLink"]) + "?" + \
                urllib.parse.urlsplit(page["nextLink"]).query
        self.assertEqual(len(kids), 3)
        self.assertEqual(kids[-1], latest["key"]["kid"])

    def test_rotation_policy(self):
        create_key("rotpol")
        adm = bearer(S["admin"]["akv"])
        st, _, b = jcall("vault", "GET", "/keys/rotpol/rotationpolicy?api-version=7.4", adm)
        self.assertEqual(st, 200)
        self.assertTrue(b["id"].endswith("/keys/rotpol/rotationpolicy"))
        good = {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"},
                                     "action": {"type": "Rotate"}},
                                    {"trigger": {"timeBeforeExpiry": "P30D"},
                                     "action": {"type": "Notify"}}],
                "attributes": {"expiryTime": "P2Y"}}
        st, _, b = jcall("vault", "PUT", "/keys/rotpol/rotationpolicy?api-version=7.4", adm, good)
        self.assertEqual(st, 200, b)
        self.assertEqual(b["lifetimeActions"], good["lifetimeActions"])
        self.assertEqual(b["attributes"]["expiryTime"], "P2Y")
        self.assertIn("created", b["attributes"])
        # a rotation now gets the policy's expiry
        st, _, v = jcall("vault", "POST", "/keys/rotpol/rotate?api-version=7.4", adm)
        self.assertAlmostEqual(v["attributes"]["exp"] - v["attributes"]["created"],
                               2 * 365 * 86400, delta=5)
        bad = [
            {"attributes": {"expiryTime": "P27D"}},
            {"attributes": {"expiryTime": "90 days"}},
            {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P3D"},
                                  "action": {"type": "Rotate"}}]},
            {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"},
                                  "action": {"type": "Notify"}}],
             "attributes": {"expiryTime": "P1Y"}},
            {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"},
                                  "action": {"type": "Rotate"}}] * 2},
            {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D",
                                              "timeBeforeExpiry": "P30D"},
                                  "action": {"type": "Rotate"}}],
             "attributes": {"expiryTime": "P1Y"}},
            {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P25D"},
                                  "action": {"type": "Rotate"}}],
             "attributes": {"expiryTime": "P28D"}},
            {"lifetimeActions": [{"trigger": {"timeBeforeExpiry": "P30D"},
                                  "action": {"type": "Rotate"}}]},
        ]
        for body in bad:
            st, _, b = jcall("vault", "PUT", "/keys/rotpol/rotationpolicy?api-version=7.4", adm,
                             body)
            self.assertEqual((st, b["error"]["code"]), (400, "BadParameter"), body)
        st, _, b = jcall("mhsm", "PUT", "/keys/x/rotationpolicy?api-version=7.4",
                         bearer(S["admin"]["mhsm"]), good)
        self.assertEqual(st, 404)  # no such key on the HSM
        create_key("rotpol", vault="mhsm")
        st, _, b = jcall("mhsm", "PUT", "/keys/rotpol/rotationpolicy?api-version=7.4",
                         bearer(S["admin"]["mhsm"]), good)
        self.assertEqual((st, b["error"]["code"]), (400, "BadParameter"))  # no Notify on MHSM

    def test_durations(self):
        self.assertEqual(keyvault.parse_duration("P90D"), 90 * 86400)
        self.assertEqual(keyvault.parse_duration("P1Y2M3W4DT5H6M7S"),
                         ((365 + 60 + 21 + 4) * 24 + 5) * 3600 + 6 * 60 + 7)
        for bad in ("P", "PT", "90D", "P1.5D", "P-1D", ""):
            with self.assertRaises(ValueError, msg=bad):
                keyvault.parse_duration(bad)


class ManagedHsmTests(unittest.TestCase):
    def test_oct_release(self):
        b = create_key("octkey", vault="mhsm", kty="oct-HSM", size=256)
        self.assertEqual(b["key"]["kty"], "oct")  # MHSM shows kty without -HSM
        st, _, r = release("mhsm", key_path(b["key"]["kid"]), maa_token(),
                           "CKM_RSA_AES_KEY_WRAP")
        self.assertEqual(st, 200, r)
        jws = r["value"]
        self.assertTrue(openssl_verify_jws(jws))
        hdr = json.loads(b64url_decode(jws.split(".")[0]))
        self.assertEqual(sorted(hdr), ["alg", "kid", "x5c", "x5t#S256"])  # no typ, no x5t
        payload_text = b64url_decode(jws.split(".")[1]).decode()
        self.assertEqual(payload_text, json.dumps(json.loads(payload_text), sort_keys=True,
                                                  separators=(",", ":")))  # alphabetical
        k = jws_payload(jws)["response"]["key"]["key"]
        doc, material = openssl_unwrap(k["key_hsm"], S["kek"], "sha1")
        self.assertEqual(len(material), 32)  # the raw AES-256 key
        rp = jws_payload(jws)["response"]["key"]["release_policy"]
        self.assertIn("contentType", rp)

    def test_rsa_release(self):
        b = create_key("hsmrsa", vault="mhsm", size=3072)
        st, _, r = release("mhsm", key_path(b["key"]["kid"]), maa_token())
        self.assertEqual(st, 200, r)
        k = jws_payload(r["value"])["response"]["key"]["key"]
        _, material = openssl_unwrap(k["key_hsm"], S["kek"], "sha256")
        self.assertEqual(serialization.load_der_private_key(material, None).key_size, 3072)


class FaultTests(unittest.TestCase):
    """Every fault mode, observable from the client side."""

    def setUp(self):
        self.key = create_key("faultkey")
        self.path = key_path(self.key["key"]["kid"])

    def tearDown(self):
        for n in ("imds", "kds", "vault", "mhsm"):
            clear_faults(n)

    def get(self, server="vault"):
        if server == "vault":
            return call("vault", "GET", self.path + "?api-version=7.4",
                        bearer(S["admin"]["akv"]))
        return call("imds", "GET", "/metadata/THIM/amd/certification", {"Metadata": "true"})

    def test_control_interface(self):
        st, _, b = jcall("vault", "POST", "/_sim/faults", body={"name": "nonsense"})
        self.assertEqual((st, b["error"]["code"]), (400, "BadParameter"))
        set_fault("vault", "slow", seconds=0)
        st, _, b = jcall("vault", "GET", "/_sim/faults")
        self.assertEqual(b["faults"], {"slow": {"seconds": 0}})
        self.assertIn("wrong_transfer_key", b["catalog"])
        st, _, b = jcall("vault", "DELETE", "/_sim/faults/slow")
        self.assertEqual(b["faults"], {})
        st, _, b = jcall("vault", "GET", "/_sim/requests")
        self.assertTrue(any(r.get("target", "").startswith("/keys/faultkey")
                            for r in b["requests"]))

    def test_throttle_and_server_errors(self):
        set_fault("vault", "throttle", retry_after=3)
        st, h, b = self.get()
        self.assertEqual((st, h["Retry-After"], json.loads(b)["error"]["code"]),
                         (429, "3", "Throttled"))
        clear_faults("vault")
        for status in (500, 503):
            set_fault("vault", "server_error", status=status, retry_after=2)
            st, h, b = self.get()
            self.assertEqual(st, status)
            self.assertEqual(h["Retry-After"], "2")
            self.assertIn("error", json.loads(b))
        set_fault("imds", "server_error", status=503)
        self.assertEqual(self.get("imds")[0], 503)

    def test_count_and_path(self):
        set_fault("vault", "throttle", count=2)
        self.assertEqual([self.get()[0] for _ in range(3)], [429, 429, 200])
        set_fault("vault", "throttle", path="/keys/otherkey")
        self.assertEqual(self.get()[0], 200)

    def test_after(self):
        set_fault("vault", "throttle", after=2, count=1)
        self.assertEqual([self.get()[0] for _ in range(4)], [200, 200, 429, 200])
        set_fault("vault", "throttle", after=1, path="/keys/otherkey")
        self.assertEqual([self.get()[0] for _ in range(2)], [200, 200])
        self.assertEqual(S["vault"].faults.snapshot()["throttle"]["after"], 1)

    def test_stall(self):
        log = os.path.join(S["dir"], "vault.log")

        def stalled():
            with open(log, encoding="utf-8") as f:
                return sum(json.loads(line).get("event") == "stalled" for line in f)

        before = stalled()
        set_fault("vault", "stall", after=1)
        self.assertEqual(self.get()[0], 200)  # the first passes
        got = []
        t = threading.Thread(target=lambda: got.append(self.get()[0]), daemon=True)
        t.start()
        end = time.monotonic() + 5
        while stalled() == before and time.monotonic() < end:
            time.sleep(0.02)
        self.assertEqual(stalled(), before + 1, "no 'stalled' event logged")
        t.join(0.5)
        self.assertTrue(t.is_alive(), "the second request was answered during the stall")
        clear_faults("vault")
        t.join(5)
        self.assertEqual(got, [200])
        set_fault("vault", "stall", seconds=0.3)  # the cap: answered after it
        t0 = time.monotonic()
        self.assertEqual(self.get()[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)

    def test_slow(self):
        set_fault("vault", "slow", seconds=1.2)
        t = time.monotonic()
        st, _, _ = self.get()
        self.assertEqual(st, 200)
        self.assertGreaterEqual(time.monotonic() - t, 1.2)
        with self.assertRaises(socket.timeout):
            call("vault", "GET", self.path + "?api-version=7.4", bearer(S["admin"]["akv"]),
                 timeout=0.5)

    def test_malformed(self):
        set_fault("vault", "malformed")
        st, _, b = self.get()
        self.assertEqual(st, 200)
        with self.assertRaises(ValueError):
            json.loads(b)

    def test_down_closed(self):
        set_fault("vault", "down", mode="closed")
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
            self.get()
        clear_faults("vault")
        self.assertEqual(self.get()[0], 200)

    def test_down_refused_via_file(self):
        s = S["imds"]
        simhttp.write_fault_file(s.faults.path, "down")
        self.assertTrue(wait_port(s, False), "port still open")
        with self.assertRaises(ConnectionRefusedError):
            self.get("imds")
        simhttp.write_fault_file(s.faults.path, "down", clear=True)
        self.assertTrue(wait_port(s, True), "port not reopened")
        self.assertEqual(self.get("imds")[0], 200)
        # the control route sets it as well (and the file clears it)
        set_fault("vault", "down")
        self.assertTrue(wait_port(S["vault"], False))

    def test_release_faults(self):
        set_fault("vault", "revoked_key")
        st, _, b = release("vault", self.path, maa_token())
        self.assertEqual((st, b["error"]["innererror"]["code"]), (403, "KeyDisabled"))
        clear_faults("vault")
        set_fault("vault", "wrong_transfer_key")
        st, _, b = release("vault", self.path, maa_token())
        self.assertEqual(st, 200)
        k = jws_payload(b["value"])["response"]["key"]["key"]
        with self.assertRaises(ValueError):  # OAEP under our KEK fails
            openssl_unwrap(k["key_hsm"], S["kek"], "sha256")
        clear_faults("vault")
        set_fault("vault", "wrong_signature")
        st, _, b = release("vault", self.path, maa_token())
        self.assertEqual(st, 200)
        self.assertFalse(openssl_verify_jws(b["value"]))
        clear_faults("vault")
        st, _, b = release("vault", self.path, maa_token())
        self.assertTrue(openssl_verify_jws(b["value"]))

    def test_token_faults(self):
        set_fault("imds", "expired_token")
        st, _, b = jcall("imds", "GET", ImdsTests.TOKEN + "https://vault.azure.net",
                         {"Metadata": "true"})
        self.assertLess(int(b["expires_on"]), time.time())
        clear_faults("imds")
        set_fault("imds", "wrong_signature")
        tok = mi_token()
        pub = simjwt.load_cert(os.path.join(S["dir"], "pki", "imds-signing.pem")).public_key()
        with self.assertRaises(simjwt.JwtError):
            simjwt.verify_rs256(tok, pub)
        clear_faults("imds")
        simjwt.verify_rs256(mi_token(), pub)

    def test_thim_wrong_signature(self):
        set_fault("imds", "wrong_signature")
        doc = json.loads(self.get("imds")[2])
        t = Tmp()
        rc = openssl("verify", "-CAfile", t.put("c.pem", doc["certificateChain"]),
                     t.put("v.pem", doc["vcekCert"]))[0]
        self.assertNotEqual(rc, 0)

    def test_strict_http(self):
        s = S["imds"]
        with socket.create_connection((s.host, s.port), 5) as c:
            c.sendall(b"GET /metadata/THIM/amd/certification HTTP/1.1\r\nMetadata: true\r\n"
                      b"Connection: close\r\n\r\n")
            answer = b""
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                answer += chunk
        self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer[:40])
        recs = jcall("imds", "GET", "/_sim/requests")[2]["requests"]
        self.assertTrue(any(r.get("reason") == "missing Host header" for r in recs))

    def test_request_log(self):
        self.get()
        with open(os.path.join(S["dir"], "vault.log"), encoding="utf-8") as f:
            recs = [json.loads(line) for line in f]
        req = [r for r in recs if r.get("event") == "request"][-1]
        for k in ("time", "method", "target", "headers", "status", "ms", "faults"):
            self.assertIn(k, req)
        self.assertNotIn(S["admin"]["akv"], json.dumps(recs))  # bearer tokens are not logged


TESTDATA = os.environ.get("CVM_TESTDATA") or os.path.join(HERE, "..", "..", "..", "shared",
                                                          "testdata")
AZ = os.path.join(TESTDATA, "azure-services")


def real(rel):
    with open(os.path.join(AZ, rel), encoding="utf-8") as f:
        return json.load(f)


@unittest.skipUnless(os.path.isdir(AZ), "testdata azure-services absent (set CVM_TESTDATA)")
class ShapeTests(unittest.TestCase):
    """The emulators' answers have the shape (member names and order) of the
    real Key Vault / Managed HSM / THIM artefacts in testdata/azure-services."""

    def test_key_vault_release(self):
        b = create_key("shapekey")
        st, _, r = release("vault", key_path(b["key"]["kid"]), maa_token(), None)
        self.assertEqual(st, 200, r)
        h, p, _ = r["value"].split(".")
        header = json.loads(b64url_decode(h))
        want_h = real("Azure__azure-sdk-for-cpp/derived_ReleaseKey2_release_jws_header.json")
        self.assertEqual(list(header), list(want_h))
        self.assertEqual(len(header["kid"]), len(want_h["kid"]))  # 40 upper-case hex
        payload = json.loads(b64url_decode(p))
        want = real("Azure__azure-sdk-for-net/"
                    "transcribed_ReleaseCreatedKey_release_jws_payload_decoded.json")
        self.assertEqual(list(payload), list(want))
        self.assertEqual(list(payload["request"]), list(want["request"]))
        self.assertEqual(payload["request"]["enc"], want["request"]["enc"])  # default
        got_k, want_k = payload["response"]["key"], want["response"]["key"]
        self.assertEqual(list(got_k), list(want_k))
        self.assertEqual(list(got_k["key"]), list(want_k["key"]))
        self.assertEqual(got_k["key"]["kty"], want_k["key"]["kty"])
        self.assertEqual(list(got_k["attributes"]), list(want_k["attributes"]))
        self.assertEqual(list(got_k["release_policy"]), list(want_k["release_policy"]))
        kh = json.loads(b64url_decode(got_k["key"]["key_hsm"]))
        want_kh = real("Azure__azure-sdk-for-net/transcribed_ReleaseCreatedKey_key_hsm_decoded.json")
        self.assertEqual(list(kh), list(want_kh))
        self.assertEqual(list(kh["header"]), list(want_kh["header"]))
        # RSA-2048: 256-byte OAEP block + KWP of the PKCS#8 key, as the real 1,488 B
        # (the PKCS#8 length varies by a few bytes with the key's leading zeros)
        self.assertAlmostEqual(len(b64url_decode(kh["ciphertext"])),
                               len(b64url_decode(want_kh["ciphertext"])), delta=16)

    def test_managed_hsm_release(self):
        b = create_key("shapekey", vault="mhsm")
        st, _, r = release("mhsm", key_path(b["key"]["kid"]), maa_token(), None)
        self.assertEqual(st, 200, r)
        got = jws_payload(r["value"])["response"]["key"]
        want = real("Azure__azure-sdk-for-go/"
                    "transcribed_TestReleaseKey_MHSM_release_jws_payload_decoded.json")
        want = want["response"]["key"]
        self.assertEqual(list(got), list(want))
        self.assertEqual(list(got["attributes"]), list(want["attributes"]))
        self.assertEqual(list(got["release_policy"]), list(want["release_policy"]))
        self.assertEqual(list(got["key"]), sorted(got["key"]))
        kh = json.loads(b64url_decode(got["key"]["key_hsm"]))
        want_kh = real("Azure__azure-sdk-for-go/transcribed_TestReleaseKey_MHSM_key_hsm_decoded.json")
        self.assertEqual(list(kh), list(want_kh))
        self.assertEqual(list(kh["header"]), list(want_kh["header"]))

    def test_error_bodies(self):
        """The vault's error body has the members of the real one MANIFEST.md
        quotes (azure-sdk-for-net recording: 400 BadParameter, AKV.SKR.1001),
        key by key; a 403 adds innererror as Key Vault does; IMDS errors are
        OAuth-shaped {error, error_description} (azure-wire-formats.md §3.1)."""
        with open(os.path.join(AZ, "MANIFEST.md"), encoding="utf-8") as f:
            m = re.search(r'`(\{"error":\{"code":"BadParameter".*?\}\})`', f.read())
        self.assertIsNotNone(m, "MANIFEST.md no longer quotes the real error body")
        want = json.loads(m.group(1))
        st, _, b = jcall("vault", "POST", "/keys/plain2/create?api-version=7.4",
                         bearer(S["admin"]["akv"]), {"kty": "RSA-HSM"})
        self.assertEqual(st, 200)
        st, _, got = release("vault", key_path(b["key"]["kid"]), maa_token(), None)
        self.assertEqual(st, 400)
        self.assertEqual(list(got), list(want))
        self.assertEqual(list(got["error"]), list(want["error"]))
        self.assertEqual(got["error"]["code"], want["error"]["code"])
        self.assertTrue(got["error"]["message"].startswith("AKV.SKR.1001: "))
        st, _, got = release("vault", key_path(create_key("shapeerr")["key"]["kid"]),
                             maa_token(tee="tdxvm"), None)
        self.assertEqual(st, 403)
        self.assertEqual(list(got["error"]), list(want["error"]) + ["innererror"])
        self.assertEqual(list(got["error"]["innererror"]), ["code"])
        st, _, got = jcall("imds", "GET", "/metadata/identity/oauth2/token?api-version=2018-02-01"
                           "&resource=https://vault.azure.net", {})
        self.assertEqual(st, 400)
        self.assertEqual(list(got), ["error", "error_description"])

    def test_create_answer(self):
        rec = real("Azure__azure-sdk-for-cpp/KeyVaultKeyClient.CreateKeyWithReleasePolicyOptions.json")
        want = json.loads(rec["networkCallRecords"][0]["Response"]["BODY"])
        got = create_key("shapecreate")
        self.assertEqual(list(got), list(want))
        self.assertEqual(list(got["attributes"]), list(want["attributes"]))
        self.assertEqual(list(got["release_policy"]), list(want["release_policy"]))

    def test_thim(self):
        want = real("microsoft__confidential-sidecar-containers/"
                    "pkg_attest_test_data_uvm_host_amd_certificate.json")
        st, _, got = jcall("imds", "GET", "/metadata/THIM/amd/certification",
                           {"Metadata": "true"})
        self.assertEqual(list(got), list(want))
        self.assertEqual(got["cacheControl"], want["cacheControl"])
        self.assertEqual(len(got["tcbm"]), len(want["tcbm"]))
        self.assertEqual(got["certificateChain"].count("BEGIN CERTIFICATE"),
                         want["certificateChain"].count("BEGIN CERTIFICATE"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
