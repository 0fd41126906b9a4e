"""POST /attest/AzureGuest end to end against a provisioned swtpm.

The evidence is collected with tpm2-tools (guest.py), not with the emulator's
code; the sealed reply is opened inside the TPM (tpm2_rsadecrypt under a
PolicyPCR session) and the JWT is verified with the openssl CLI. Each single
defect is refused with MAA's 400 {"error":{"code":"InvalidParameter",...}}.
"""

import base64
import copy
import hashlib
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

import guest  # noqa: E402
import maa  # noqa: E402
import pki  # noqa: E402
import signers  # noqa: E402
import simhttp  # noqa: E402
import tcglog  # noqa: E402
import testutil  # noqa: E402
from test_signers import verify_jwt_with_openssl  # noqa: E402

ISSUER = "https://127.0.0.1:4443"


def b64(b):
    return base64.b64encode(b).decode()


def unb64(s):
    return base64.b64decode(s + "=" * (-len(s) % 4))


class AzureGuestBase(unittest.TestCase):
    TEE = "snp"

    @classmethod
    def setUpClass(cls):
        if cls is AzureGuestBase:
            # its tests run in the SNP and TDX subclasses
            raise unittest.SkipTest("the shared base of the SNP and TDX classes")
        testutil.need_tools("swtpm", "tpm2_quote", "tpm2_certify", "tpm2_rsadecrypt", "openssl")
        cls.sim = tempfile.mkdtemp(prefix="sim-maa.")
        cls.pki = pki.generate(cls.sim, tee=cls.TEE)
        cls.tpm = testutil.Swtpm()
        try:
            vt = os.path.join(cls.sim, "vtpm")
            cls.tpm.provision(vt, os.path.join(cls.pki, "vtpm-ca.pem"), os.path.join(cls.pki, "vtpm-ca.key"))
            hcl = signers.hcl_report(cls.pki, cls.TEE, os.path.join(vt, "ak.pub.pem"), os.path.join(vt, "ek.pub.pem"))
            with open(os.path.join(cls.sim, "hcl.bin"), "wb") as f:
                f.write(hcl)
            cls.tpm.write_hcl(os.path.join(cls.sim, "hcl.bin"))
            cls.guest = guest.Guest(cls.tpm.tcti)
            cls.log = cls.guest.measure_boot()
            cls.ai = cls.guest.attestation_info(cls.pki, tcg_log=cls.log, client_payload={"nonce": "base"})
        except Exception:
            cls.tpm.stop()
            raise
        cls.tmp = tempfile.mkdtemp(prefix="sim-maa-tmp.")
        cls.counter = 0

    @classmethod
    def tearDownClass(cls):
        cls.guest.close()
        cls.tpm.stop()
        shutil.rmtree(cls.sim, ignore_errors=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.svc = maa.MaaService(self.sim, issuer=ISSUER)

    def fresh(self):
        """A copy of the good AttestationInfo with a new nonce."""
        ai = copy.deepcopy(self.ai)
        type(self).counter += 1
        self.nonce = "nonce-%d" % self.counter
        ai["ClientPayload"] = {"nonce": b64(self.nonce.encode())}
        return ai

    def attest(self, ai, api="2020-10-01"):
        return self.svc.handle(simhttp.Request("POST", "/attest/AzureGuest", {"api-version": [api]},
                                               {"Content-Type": "application/json"}, guest.request_body(ai)))

    def refused(self, ai, msg):
        r = self.attest(ai)
        self.assertEqual(r.status, 400, r.body)
        err = r.json()["error"]
        self.assertEqual(err["code"], "InvalidParameter")
        self.assertIn(msg, err["message"])

    def open_token(self, r):
        """Unseals with the TPM (RSAES under PolicyPCR) and AES-256-GCM, AAD "Transport Key"."""
        self.assertEqual(r.status, 200, r.body)
        env = json.loads(unb64(r.json()["token"].replace("-", "+").replace("_", "/")))
        self.assertEqual(env["EncryptionParams"]["BlockMode"], "ChainingModeGCM")
        self.assertEqual(env["EncryptionParams"]["KeySizeInBits"], 256)
        key = self.guest.rsa_decrypt(unb64(env["EncryptedInnerKey"]), scheme="rsaes")
        self.assertEqual(len(key), 32)
        ct = unb64(env["Jwt"]) + unb64(env["AuthenticationData"])
        return AESGCM(key).decrypt(unb64(env["EncryptionParams"]["Iv"]), ct, b"Transport Key").decode()

    def certs(self):
        return self.svc.handle(simhttp.Request("GET", "/certs")).json()

    def test_replayed_log_recorded(self):
        """A replayed TcgLogs is reported to the server's request log (tests/vm
        checks a real guest's OVMF log by it); a refused one is not."""
        class Server:
            def __init__(self):
                self.events = []

            def log_event(self, rec):
                self.events.append(rec)
        srv = Server()
        self.svc.bind(srv)
        self.assertEqual(self.attest(self.fresh()).status, 200)
        self.assertEqual(len(srv.events), 1)
        rec = srv.events[0]
        self.assertEqual(rec["event"], "tcg-log-replayed")
        self.assertEqual(rec["log_sha256"], hashlib.sha256(self.log).hexdigest())
        self.assertEqual(rec["events"], sum(rec["events_per_pcr"].values()))
        self.assertTrue(rec["events"] > 0)
        self.assertTrue(set(range(8)) <= set(rec["quoted_pcrs"]))
        ai = self.fresh()
        events = tcglog.default_boot_events()
        events[3] = (events[3][0], events[3][1], b"a different firmware")
        ai["TcgLogs"] = b64(tcglog.build(events)[0])
        self.refused(ai, "TcgLogs replay does not match the quoted PCR")
        self.assertEqual(len(srv.events), 1)

    def test_zz_no_tpm_handles_left(self):
        # runs last (alphabetical): nothing the collection and unsealing did stays loaded
        self.open_token(self.attest(self.fresh()))
        for kind in ("transient", "loaded-session", "saved-session"):
            self.assertEqual(self.guest.handles(kind), [], kind)


class TestAzureGuestSnp(AzureGuestBase):
    TEE = "snp"

    def test_good_request_token(self):
        ai = self.fresh()
        jwt = self.open_token(self.attest(ai))
        ok, claims = verify_jwt_with_openssl(self, jwt, self.certs(), self.tmp)
        self.assertTrue(ok, "JWT signature does not verify with openssl")
        header = json.loads(unb64(jwt.split(".")[0].replace("-", "+").replace("_", "/")))
        # exactly the real header (MANIFEST fact 3), members sorted as the real service sends them
        self.assertEqual(list(header), ["alg", "jku", "kid", "typ"])
        self.assertEqual(header["jku"], ISSUER + "/certs")
        self.assertEqual(header["typ"], "JWT")
        self.assertIn(header["kid"], [k["kid"] for k in self.certs()["keys"]])
        self.assertEqual(list(claims), sorted(claims))
        self.assertEqual(claims["iss"], ISSUER)
        self.assertEqual(claims["x-ms-attestation-type"], "azurevm")
        self.assertEqual(claims["exp"] - claims["iat"], 28800)
        self.assertEqual(claims["nbf"], claims["iat"])
        tee = claims["x-ms-isolation-tee"]
        self.assertEqual(tee["x-ms-attestation-type"], "sevsnpvm")
        self.assertEqual(tee["x-ms-compliance-status"], "azure-compliant-cvm")
        self.assertEqual(tee["x-ms-runtime"]["keys"][0]["kid"], "HCLAkPub")
        self.assertEqual(claims["x-ms-runtime"]["client-payload"]["nonce"], b64(self.nonce.encode()))
        self.assertEqual(claims["x-ms-azurevm-attested-pcrs"], list(range(8)))
        # the transfer key in the token is the certified EncKeyPub
        import tpmstructs as ts
        enc = ts.Public(unb64(ai["TpmInfo"]["EncKeyPub"]), sized=True)
        k = claims["x-ms-runtime"]["keys"][0]
        self.assertEqual(k["kid"], "TpmEphemeralEncryptionKey")
        self.assertEqual(int.from_bytes(unb64(k["n"].replace("-", "+").replace("_", "/")), "big"),
                         int.from_bytes(enc.rsa_n, "big"))

    def test_wrong_quote_signature(self):
        ai = self.fresh()
        sig = bytearray(unb64(ai["TpmInfo"]["PcrSignature"]))
        sig[10] ^= 0x40
        ai["TpmInfo"]["PcrSignature"] = b64(bytes(sig))
        self.refused(ai, "TPM quote signature (PcrSignature) does not verify with AikPub")

    def test_pcrs_not_matching_quote(self):
        ai = self.fresh()
        ai["TpmInfo"]["PCRs"][3]["Digest"] = b64(bytes(32))
        self.refused(ai, "do not match the PCR digest of the TPM quote")

    def test_pcrs_not_matching_log(self):
        ai = self.fresh()
        events = tcglog.default_boot_events()
        events[3] = (events[3][0], events[3][1], b"a different firmware")
        log, _ = tcglog.build(events)
        ai["TcgLogs"] = b64(log)
        self.refused(ai, "TcgLogs replay does not match the quoted PCR")
        ai = self.fresh()
        ai["TcgLogs"] = b64(self.log[:-7])
        self.refused(ai, "TcgLogs cannot be parsed")

    def test_wrong_runtime_binding(self):
        ai = self.fresh()
        ev = ai["IsolationInfo"]["Evidence"]
        rt = json.loads(unb64(ev["RunTimeData"]))
        rt["user-data"] = "11" * 64
        ev["RunTimeData"] = b64(json.dumps(rt).encode())
        self.refused(ai, "runtime data does not match the report data")

    def test_ak_mismatch(self):
        # A correctly bound HCL report, but for another AK.
        ai = self.fresh()
        other = rsa.generate_private_key(65537, 2048).public_key()
        hcl = signers.parse_hcl(signers.hcl_report(self.pki, "snp", other))
        chain = unb64(json.loads(unb64(ai["IsolationInfo"]["Evidence"]["Proof"]))["VcekCertChain"]
                      .replace("-", "+").replace("_", "/"))
        proof = json.dumps({"SnpReport": b64(hcl["hw"]), "VcekCertChain": b64(chain)}).encode()
        ai["IsolationInfo"]["Evidence"] = {"Proof": b64(proof), "RunTimeData": b64(hcl["var"])}
        self.refused(ai, "HCLAkPub key in the runtime data does not match AikPub")

    def test_bad_ak_cert(self):
        ai = self.fresh()
        other = os.path.join(self.tmp, "other")
        os.makedirs(other, exist_ok=True)
        pki._self_signed_rsa(other, "ca", "Test Global Virtual TPM CA - 01")   # same name, other key
        import subprocess
        ak = os.path.join(self.sim, "vtpm", "ak.pub.pem")
        subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        os.path.join(other, "d.key"), "-out", os.path.join(other, "d.csr"), "-subj", "/CN=x"],
                       check=True, stderr=subprocess.DEVNULL)
        subprocess.run(["openssl", "x509", "-req", "-in", os.path.join(other, "d.csr"), "-force_pubkey", ak,
                        "-CA", os.path.join(other, "ca.pem"), "-CAkey", os.path.join(other, "ca.key"),
                        "-set_serial", "7", "-outform", "DER", "-out", os.path.join(other, "ak.der")],
                       check=True, stderr=subprocess.DEVNULL)
        with open(os.path.join(other, "ak.der"), "rb") as f:
            ai["TpmInfo"]["AikCert"] = b64(f.read())
        self.refused(ai, "AIK certificate: signature does not verify")

    def test_repeated_body_accepted(self):
        # Microsoft's client re-sends the identical body (same nonce) after a failed
        # decrypt: both answers are tokens echoing that nonce; freshness is the client's check
        ai = self.fresh()
        body = guest.request_body(ai)
        for _ in range(2):
            r = self.svc.handle(simhttp.Request("POST", "/attest/AzureGuest", {"api-version": ["2020-10-01"]},
                                                {"Content-Type": "application/json"}, body))
            ok, claims = verify_jwt_with_openssl(self, self.open_token(r), self.certs(), self.tmp)
            self.assertTrue(ok)
            self.assertEqual(claims["x-ms-runtime"]["client-payload"]["nonce"], b64(self.nonce.encode()))

    def test_refusal_reason_header(self):
        # the server logs X-Sim-Reason as the request's "reason" (README)
        ai = self.fresh()
        ai["TpmInfo"]["PcrSet"] = [0, 1]
        r = self.attest(ai)
        self.assertEqual(r.status, 400)
        self.assertIn(r.json()["error"]["message"], r.headers["X-Sim-Reason"])

    def test_claims_shaped_as_real_protocol_3_token(self):
        # the member names of the real AzureGuest SNP token (protocol 3.0, Dec 2025)
        real = os.path.join(os.environ.get("CVM_TESTDATA") or os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "testdata"),
            "azure-services", "midnightntwrk__midnight-trusted-setup", "tee_contribution_attestation.txt")
        if self.TEE != "snp" or not os.path.exists(real):
            self.skipTest("real SNP AzureGuest token (testdata) absent")
        with open(real) as f:
            rh, rp, _ = f.read().strip().split(".")
        rclaims = json.loads(unb64(rp.replace("-", "+").replace("_", "/")))
        jwt = self.open_token(self.attest(self.fresh()))
        h, p, _ = jwt.split(".")
        claims = json.loads(unb64(p.replace("-", "+").replace("_", "/")))
        self.assertEqual(list(json.loads(unb64(h.replace("-", "+").replace("_", "/")))),
                         list(json.loads(unb64(rh.replace("-", "+").replace("_", "/")))))
        self.assertEqual(sorted(claims), sorted(rclaims))
        self.assertEqual(sorted(claims["x-ms-isolation-tee"]), sorted(rclaims["x-ms-isolation-tee"]))
        self.assertEqual(sorted(claims["x-ms-runtime"]), sorted(rclaims["x-ms-runtime"]))
        self.assertEqual(sorted(claims["x-ms-runtime"]["keys"][0]), sorted(rclaims["x-ms-runtime"]["keys"][0]))
        self.assertNotIn("current-time", claims["x-ms-isolation-tee"]["x-ms-runtime"]["vm-configuration"])
        for k, v in rclaims.items():
            self.assertIs(type(claims[k]), type(v), k)

    def test_enc_key_not_certified(self):
        ai = self.fresh()
        cert = bytearray(unb64(ai["TpmInfo"]["EncKeyCertifyInfo"]))
        cert[-1] ^= 1
        ai["TpmInfo"]["EncKeyCertifyInfo"] = b64(bytes(cert))
        self.refused(ai, "EncKeyCertifyInfoSignature does not verify")

    def test_tampered_snp_report(self):
        ai = self.fresh()
        proof = json.loads(unb64(ai["IsolationInfo"]["Evidence"]["Proof"]))
        rep = bytearray(unb64(proof["SnpReport"].replace("-", "+").replace("_", "/")))
        rep[0x90] ^= 1
        proof["SnpReport"] = b64(bytes(rep))
        ai["IsolationInfo"]["Evidence"]["Proof"] = b64(json.dumps(proof).encode())
        self.refused(ai, "SnpReport signature does not verify")

    def test_faults(self):
        self.svc.faults.set("wrong_nonce")
        _, c = verify_jwt_with_openssl(self, self.open_token(self.attest(self.fresh())), self.certs(), self.tmp)
        self.assertNotEqual(c["x-ms-runtime"]["client-payload"]["nonce"], b64(self.nonce.encode()))
        self.svc.faults.clear()
        self.svc.faults.set("wrong_transfer_key")
        with self.assertRaises(RuntimeError):   # sealed to another key: the TPM cannot open it
            self.open_token(self.attest(self.fresh()))
        self.guest.flush()
        self.svc.faults.args = lambda name: {"mode": "claim"} if name == "wrong_transfer_key" else {}
        ai = self.fresh()
        _, c = verify_jwt_with_openssl(self, self.open_token(self.attest(ai)), self.certs(), self.tmp)
        import tpmstructs as ts
        enc = ts.Public(unb64(ai["TpmInfo"]["EncKeyPub"]), sized=True)
        n = c["x-ms-runtime"]["keys"][0]["n"]
        self.assertNotEqual(int.from_bytes(unb64(n.replace("-", "+").replace("_", "/")), "big"),
                            int.from_bytes(enc.rsa_n, "big"))
        self.svc.faults.clear()
        self.svc.faults.set("expired_token")
        _, c = verify_jwt_with_openssl(self, self.open_token(self.attest(self.fresh())), self.certs(), self.tmp)
        import time
        self.assertLess(c["exp"], time.time())


class TestAzureGuestTdx(AzureGuestBase):
    TEE = "tdx"

    def test_good_request_token(self):
        jwt = self.open_token(self.attest(self.fresh()))
        ok, claims = verify_jwt_with_openssl(self, jwt, self.certs(), self.tmp)
        self.assertTrue(ok)
        tee = claims["x-ms-isolation-tee"]
        self.assertEqual(tee["x-ms-attestation-type"], "tdxvm")
        self.assertEqual(tee["x-ms-compliance-status"], "azure-compliant-cvm")


    def test_wrong_runtime_binding(self):
        ai = self.fresh()
        ev = ai["IsolationInfo"]["Evidence"]
        ev["RunTimeData"] = b64(unb64(ev["RunTimeData"]) + b" ")
        self.refused(ai, "runtime data does not match the report data")


if __name__ == "__main__":
    unittest.main()
