#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""End to end through a running `cvm-sim up` (CVM_SIM_DIR), without the agent:
a reference guest (guest.py: tpm2-tools on the sim's swtpm) attests to the sim
MAA, unseals the token inside the TPM, gets a managed-identity token from the
sim IMDS, releases the default key from the sim Key Vault, and unwraps
key_hsm with TPM2_RSA_Decrypt (OAEP, under the PolicyPCR session) + openssl
AES-KWP.  Then the same with a disabled version, and with faults."""

import base64
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

import guest  # noqa: E402
import simjwt  # noqa: E402
from simhttp import b64url_decode  # noqa: E402

SIM = os.environ.get("CVM_SIM_DIR")
CVM_SIM = os.path.join(HERE, "cvm-sim")


def setUpModule():
    if not SIM or not os.path.exists(os.path.join(SIM, "endpoints.json")):
        raise unittest.SkipTest("CVM_SIM_DIR does not name a running cvm-sim")


class E2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(SIM, "endpoints.json")) as f:
            cls.ep = json.load(f)
        cls.ctx = ssl.create_default_context(cafile=cls.ep["ca_bundle"])
        cls.tmp = tempfile.mkdtemp(dir=SIM)
        cls.g = guest.Guest(cls.ep["tcti"], cls.tmp)
        with open(cls.ep["event_log"], "rb") as f:  # the boot cvm-sim up measured
            cls.log = f.read()

    def http(self, method, url, body=None, headers=None):
        h = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, context=self.ctx if url.startswith("https")
                                        else None, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def attest(self, nonce="e2e"):
        ai = self.g.attestation_info(os.path.join(SIM, "pki"), tee=self.ep["tee"],
                                     tcg_log=self.log, client_payload={"nonce": nonce})
        st, b = self.http("POST", self.ep["maa"] + "/attest/AzureGuest?api-version=2020-10-01",
                          json.loads(guest.request_body(ai)))
        self.assertEqual(st, 200, b)
        env = json.loads(b64url_decode(b["token"]))
        inner = self.g.rsa_decrypt(base64.b64decode(env["EncryptedInnerKey"]), scheme="rsaes")
        jwt = AESGCM(inner).decrypt(base64.b64decode(env["EncryptionParams"]["Iv"]),
                                    base64.b64decode(env["Jwt"])
                                    + base64.b64decode(env["AuthenticationData"]),
                                    b"Transport Key")
        return jwt.decode()

    def mi_token(self):
        st, b = self.http("GET", self.ep["imds"] + "/metadata/identity/oauth2/token?"
                          "api-version=2018-02-01&resource=" + self.ep["vault_resource"],
                          headers={"Metadata": "true"})
        self.assertEqual(st, 200, b)
        return b["access_token"]

    def release(self, key_url, jwt, enc="RSA_AES_KEY_WRAP_256"):
        return self.http("POST", key_url + "/release?api-version=7.4",
                         {"target": jwt, "enc": enc},
                         {"Authorization": "Bearer " + self.mi_token()})

    def unwrap_in_tpm(self, jws, oaep):
        payload = json.loads(b64url_decode(jws.split(".")[1]))
        doc = json.loads(b64url_decode(payload["response"]["key"]["key"]["key_hsm"]))
        ct = b64url_decode(doc["ciphertext"])
        aes = self.g.rsa_decrypt(ct[:256], scheme=oaep)
        kwp = os.path.join(self.tmp, "kwp.bin")
        with open(kwp, "wb") as f:
            f.write(ct[256:])
        out = os.path.join(self.tmp, "key.der")
        subprocess.run(["openssl", "enc", "-d", "-id-aes256-wrap-pad", "-K", aes.hex(),
                        "-iv", "A65959A6", "-in", kwp, "-out", out], check=True)
        with open(out, "rb") as f:
            return payload, f.read()

    def test_attest_release_unwrap(self):
        jwt = self.attest()
        _, claims, _, _ = simjwt.decode(jwt)
        self.assertEqual(claims["iss"], self.ep["maa"])
        for enc, oaep in (("RSA_AES_KEY_WRAP_256", "oaep-sha256"),
                          ("CKM_RSA_AES_KEY_WRAP", "oaep-sha1")):
            st, b = self.release(self.ep["key_url"], jwt, enc)
            self.assertEqual(st, 200, b)
            payload, der = self.unwrap_in_tpm(b["value"], oaep)
            k = payload["response"]["key"]["key"]
            n = serialization.load_der_private_key(der, None).public_key().public_numbers().n
            self.assertEqual(n, int.from_bytes(b64url_decode(k["n"]), "big"), enc)

    def test_rotated_and_disabled(self):
        jwt = self.attest("e2e-rotate")
        adm = {"Authorization": "Bearer " + self.ep["admin_token"]}
        base = self.ep["key_url"].rsplit("/", 1)[0]
        st, new = self.http("POST", base + "/rotate?api-version=7.4", headers=adm)
        self.assertEqual(st, 200, new)
        st, b = self.http("PATCH", new["key"]["kid"] + "?api-version=7.4",
                          {"attributes": {"enabled": False}}, adm)
        self.assertEqual(st, 200, b)
        st, b = self.release(new["key"]["kid"], jwt)
        self.assertEqual((st, b["error"]["code"]), (403, "Forbidden"))
        st, b = self.release(self.ep["key_url"], jwt)  # the old version still releases
        self.assertEqual(st, 200, b)

    def test_faults_via_command(self):
        jwt = self.attest("e2e-faults")
        subprocess.run([CVM_SIM, "fault", "--dir", SIM, "vault", "throttle", "retry_after=4",
                        "count=1"], check=True, stdout=subprocess.DEVNULL)
        req = urllib.request.Request(self.ep["key_url"] + "/release?api-version=7.4",
                                     data=json.dumps({"target": jwt}).encode(), method="POST",
                                     headers={"Authorization": "Bearer " + self.mi_token(),
                                              "Content-Type": "application/json"})
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, context=self.ctx, timeout=30)
        self.assertEqual((cm.exception.code, cm.exception.headers["Retry-After"]), (429, "4"))
        st, b = self.release(self.ep["key_url"], jwt)  # count=1: cleared by itself
        self.assertEqual(st, 200, b)
        subprocess.run([CVM_SIM, "fault", "--dir", SIM, "maa", "expired_token"], check=True,
                       stdout=subprocess.DEVNULL)
        try:
            old = self.attest("e2e-expired")
        finally:
            subprocess.run([CVM_SIM, "fault", "--dir", SIM, "maa", "--clear"], check=True,
                           stdout=subprocess.DEVNULL)
        self.assertLess(simjwt.decode(old)[1]["exp"], time.time())
        st, b = self.release(self.ep["key_url"], old)
        self.assertEqual((st, b["error"]["code"]), (403, "Forbidden"))
        # a badly signed MAA token is refused by the vault too; a wrong nonce shows
        for fault in ("wrong_signature", "wrong_nonce"):
            subprocess.run([CVM_SIM, "fault", "--dir", SIM, "maa", fault], check=True,
                           stdout=subprocess.DEVNULL)
            try:
                tok = self.attest("e2e-" + fault)
            finally:
                subprocess.run([CVM_SIM, "fault", "--dir", SIM, "maa", "--clear"], check=True,
                               stdout=subprocess.DEVNULL)
            if fault == "wrong_signature":
                st, b = self.release(self.ep["key_url"], tok)
                self.assertEqual((st, b["error"]["code"]), (403, "Forbidden"))
            else:
                nonce = simjwt.decode(tok)[1]["x-ms-runtime"]["client-payload"].get("nonce")
                self.assertNotEqual(nonce, base64.b64encode(b"e2e-wrong_nonce").decode())

    def test_platform_endpoints_match_the_hcl_report(self):
        """What the agent does before attesting: THIM (SNP) or /acc/tdquote (TDX)
        for the hardware report inside NV 0x01400001."""
        hcl = self.g.nv_read(guest.NV_HCL)
        hw = hcl[32:32 + 1184]  # azure-wire-formats.md §1.2
        if self.ep["tee"] == "snp":
            st, b = self.http("GET", self.ep["imds"] + "/metadata/THIM/amd/certification",
                              headers={"Metadata": "true"})
            self.assertEqual(st, 200, b)
            reported_tcb = hw[0x180:0x188]  # SNP ABI 56860 Table 22 REPORTED_TCB
            self.assertEqual(b["tcbm"].lower(), reported_tcb[::-1].hex())
        else:
            tdreport = hw[:1024]
            req = urllib.request.Request(
                self.ep["imds"] + "/acc/tdquote", method="POST",
                data=json.dumps({"report": base64.urlsafe_b64encode(tdreport).decode()
                                 .rstrip("=")}).encode(),
                headers={"Content-Type": "application/json", "Metadata": "true"})
            with urllib.request.urlopen(req, timeout=60) as r:
                quote = b64url_decode(json.loads(r.read())["quote"])
            self.assertEqual(quote[568:632], tdreport[128:192])  # report_data, §5.1

    def test_zz_no_handles_left(self):
        self.assertEqual(self.g.handles("transient"), [])
        self.assertEqual(self.g.handles("loaded-session"), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
