"""Test PKIs, report signers and the MAA platform routes, checked with tools
independent of the simulator (openssl CLI) where it matters."""

import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402

import maa  # noqa: E402
import pki  # noqa: E402
import signers  # noqa: E402
import simhttp  # noqa: E402
import tcglog  # noqa: E402
import testutil  # noqa: E402


def openssl(*args, check=True, input=None):
    r = subprocess.run(["openssl"] + list(args), input=input, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if check and r.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), r.stdout.decode(errors="replace")))
    return r


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64ud(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verify_jwt_with_openssl(test, jwt, certs_body, tmp):
    """Verifies an RS256 JWS with the openssl CLI and the key from the JWKS x5c[0]."""
    h, p, s = jwt.split(".")
    header = json.loads(b64ud(h))
    test.assertEqual(header["alg"], "RS256")
    keys = [k for k in certs_body["keys"] if k["kid"] == header["kid"]]
    test.assertEqual(len(keys), 1, "kid not found in /certs")
    with open(os.path.join(tmp, "maa.der"), "wb") as f:
        f.write(base64.b64decode(keys[0]["x5c"][0]))
    with open(os.path.join(tmp, "in"), "wb") as f:
        f.write((h + "." + p).encode())
    with open(os.path.join(tmp, "sig"), "wb") as f:
        f.write(b64ud(s))
    pub = openssl("x509", "-inform", "DER", "-in", os.path.join(tmp, "maa.der"), "-noout", "-pubkey").stdout
    with open(os.path.join(tmp, "pub.pem"), "wb") as f:
        f.write(pub)
    r = openssl("dgst", "-sha256", "-verify", os.path.join(tmp, "pub.pem"), "-signature",
                os.path.join(tmp, "sig"), os.path.join(tmp, "in"), check=False)
    return r.returncode == 0, json.loads(b64ud(p))


_SIM = {}


def setUpModule():
    testutil.need_tools("openssl")
    _SIM["sim"] = tempfile.mkdtemp(prefix="sim-test.")
    _SIM["pki"] = pki.generate(_SIM["sim"], turin=True)   # once: RSA-4096 keys are slow


def tearDownModule():
    if "sim" in _SIM:
        shutil.rmtree(_SIM["sim"], ignore_errors=True)


def read(path):
    with open(path, "rb") as f:
        return f.read()


class SimBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim, cls.pki = _SIM["sim"], _SIM["pki"]
        cls.tmp = tempfile.mkdtemp(prefix="sim-tmp.")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def p(self, *parts):
        return os.path.join(self.pki, *parts)

    def t(self, name):
        return os.path.join(self.tmp, name)


class TestPki(SimBase):
    def test_amd_chain_rsa_pss_and_vcek_extensions(self):
        for d in ("amd", "amd-turin"):
            openssl("verify", "-CAfile", self.p(d, "ark.pem"), "-untrusted", self.p(d, "ask.pem"), self.p(d, "vcek.pem"))
            text = openssl("x509", "-in", self.p(d, "ask.pem"), "-noout", "-text").stdout.decode()
            self.assertIn("rsassaPss", text)
            self.assertIn("Salt Length: 0x30", text)
            self.assertIn("Public-Key: (4096 bit)", openssl("x509", "-in", self.p(d, "ark.pem"), "-noout",
                                                            "-text").stdout.decode())
        # the wrong ARK must not verify (the check above can fail)
        r = openssl("verify", "-CAfile", self.p("amd-turin", "ark.pem"), "-untrusted", self.p("amd", "ask.pem"),
                    self.p("amd", "vcek.pem"), check=False)
        self.assertNotEqual(r.returncode, 0)
        meta = pki.load_meta(self.pki)
        for d, hwlen in (("amd", 64), ("amd-turin", 8)):
            cert = x509.load_pem_x509_certificate(read(self.p(d, "vcek.pem")))
            self.assertEqual(cert.serial_number, 0)
            self.assertIsInstance(cert.public_key().curve, type(cert.public_key().curve))
            self.assertEqual(cert.public_key().curve.name, "secp384r1")
            ext = {e.oid.dotted_string: e.value.value for e in cert.extensions
                   if e.oid.dotted_string.startswith("1.3.6.1.4.1.3704.")}
            tcb = meta[d]["tcb"]
            for sub, name in ((1, "bl"), (2, "tee"), (3, "snp"), (8, "ucode")):
                v = ext["1.3.6.1.4.1.3704.1.3.%d" % sub]
                self.assertEqual(v[0], 0x02)
                self.assertEqual(int.from_bytes(v[2:], "big"), tcb[name], name)
            hwid = ext["1.3.6.1.4.1.3704.1.4"]
            self.assertEqual(hwid, bytes.fromhex(meta[d]["chip_id"])[:hwlen])
            self.assertEqual("1.3.6.1.4.1.3704.1.3.9" in ext, d == "amd-turin")

    def test_intel_chain_and_sgx_extensions(self):
        openssl("verify", "-CAfile", self.p("intel", "root.pem"), "-untrusted", self.p("intel", "pck-ca.pem"),
                self.p("intel", "pck.pem"))
        cert = x509.load_pem_x509_certificate(read(self.p("intel", "pck.pem")))
        self.assertIn("Intel SGX PCK Certificate", cert.subject.rfc4514_string())
        ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.2.840.113741.1.13.1")).value.value
        # openssl parses it as DER and shows FMSPC after its OID
        dump = openssl("asn1parse", "-inform", "DER", input=ext).stdout.decode()
        self.assertIn(":1.2.840.113741.1.13.1.4", dump)
        self.assertIn(pki.FMSPC.hex().upper(), dump.upper())
        self.assertIn(":1.2.840.113741.1.13.1.2.17", dump)

    def test_tls_and_signing_certs(self):
        openssl("verify", "-CAfile", self.p("tls-ca.pem"), self.p("tls-server.pem"))
        text = openssl("x509", "-in", self.p("tls-server.pem"), "-noout", "-ext", "subjectAltName").stdout.decode()
        self.assertIn("IP Address:127.0.0.1", text)
        self.assertIn("DNS:localhost", text)
        for stem in ("maa-signing", "imds-signing", "vtpm-ca"):
            k = serialization.load_pem_private_key(read(self.p(stem + ".key")), None)
            c = x509.load_pem_x509_certificate(read(self.p(stem + ".pem")))
            self.assertEqual(k.public_key().public_numbers(), c.public_key().public_numbers())


    def test_tls_extra_sans(self):
        self.assertEqual(pki.tls_names(["10.0.2.2", "guest.test"]),
                         (("localhost", "guest.test"), ("127.0.0.1", "10.0.2.2")))
        d = self.t("tls-extra")
        os.makedirs(d, exist_ok=True)
        pki._gen_tls(d, *pki.tls_names(["10.0.2.2", "guest.test"]))
        text = openssl("x509", "-in", os.path.join(d, "tls-server.pem"), "-noout", "-ext",
                       "subjectAltName").stdout.decode()
        for name in ("IP Address:127.0.0.1", "IP Address:10.0.2.2", "DNS:localhost", "DNS:guest.test"):
            self.assertIn(name, text)
        # the default certificate does not name the guest's view of the host
        default = openssl("x509", "-in", self.p("tls-server.pem"), "-noout", "-ext",
                          "subjectAltName").stdout.decode()
        self.assertNotIn("10.0.2.2", default)


class TestSnpReports(SimBase):
    def verify_with_openssl(self, report, vcek_pem):
        r = int.from_bytes(report[0x2A0:0x2E8], "little")
        s = int.from_bytes(report[0x2E8:0x330], "little")
        with open(self.t("sig.der"), "wb") as f:
            f.write(encode_dss_signature(r, s))
        with open(self.t("msg"), "wb") as f:
            f.write(report[:0x2A0])
        pub = openssl("x509", "-in", vcek_pem, "-noout", "-pubkey").stdout
        with open(self.t("vcek.pub"), "wb") as f:
            f.write(pub)
        return openssl("dgst", "-sha384", "-verify", self.t("vcek.pub"), "-signature", self.t("sig.der"),
                       self.t("msg"), check=False).returncode == 0

    def test_versions_fields_and_signature(self):
        meas = hashlib.sha384(b"m").digest()
        rd = bytes(range(64))
        for v in (2, 3, 5):
            rep = signers.snp_report(self.pki, version=v, report_data=rd, measurement=meas, policy=0x30000,
                                     current_mit_vector=7 if v == 5 else 0)
            self.assertEqual(len(rep), 1184)
            self.assertEqual(struct.unpack_from("<I", rep, 0)[0], v)
            self.assertEqual(rep[0x50:0x90], rd)
            self.assertEqual(rep[0x90:0xC0], meas)
            self.assertEqual(rep[0x1A0:0x1E0].hex(), pki.load_meta(self.pki)["amd"]["chip_id"])
            self.assertEqual(rep[0x188] == 0x19, v >= 3)
            self.assertEqual(struct.unpack_from("<Q", rep, 0x200)[0], 7 if v == 5 else 0)
            self.assertTrue(self.verify_with_openssl(rep, self.p("amd", "vcek.pem")), "v%d" % v)
            bad = bytearray(rep)
            bad[0x90] ^= 1
            self.assertFalse(self.verify_with_openssl(bytes(bad), self.p("amd", "vcek.pem")))
        tcb = pki.SNP_TCB
        t = struct.unpack_from("<Q", rep, 0x180)[0]
        self.assertEqual((t & 0xFF, t >> 8 & 0xFF, t >> 48 & 0xFF, t >> 56),
                         (tcb["bl"], tcb["tee"], tcb["snp"], tcb["ucode"]))

    def test_turin(self):
        rep = signers.snp_report(self.pki, version=3, turin=True)
        self.assertTrue(self.verify_with_openssl(rep, self.p("amd-turin", "vcek.pem")))
        self.assertFalse(self.verify_with_openssl(rep, self.p("amd", "vcek.pem")))
        self.assertEqual(rep[0x1A8:0x1E0], bytes(56))
        self.assertEqual(rep[0x188], 0x1A)


class TestTdx(SimBase):
    def test_quote_v4_verifies_with_openssl(self):
        rd = hashlib.sha512(b"x").digest()
        rtmrs = [hashlib.sha384(bytes([i])).digest() for i in range(4)]
        q = signers.tdx_quote(self.pki, report_data=rd, rtmrs=rtmrs)
        self.assertEqual(struct.unpack_from("<HHI", q, 0), (4, 2, 0x81))
        self.assertEqual(q[0x238:0x278], rd)
        self.assertEqual(q[0x178:0x1A8], rtmrs[0])
        siglen = struct.unpack_from("<I", q, 0x278)[0]
        sd = q[0x27C:0x27C + siglen]
        self.assertEqual(len(sd), siglen)
        # quote signature with the attestation key (ECDSA P-256, r||s big-endian)
        from cryptography.hazmat.primitives.asymmetric import ec
        ak = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + sd[64:128])
        with open(self.t("ak.pem"), "wb") as f:
            f.write(ak.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

        def ossl_p256(pub_pem, sig, msg):
            with open(self.t("s.der"), "wb") as f:
                f.write(encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")))
            with open(self.t("m"), "wb") as f:
                f.write(msg)
            return openssl("dgst", "-sha256", "-verify", pub_pem, "-signature", self.t("s.der"), self.t("m"),
                           check=False).returncode == 0

        self.assertTrue(ossl_p256(self.t("ak.pem"), sd[:64], q[:0x278]))
        self.assertFalse(ossl_p256(self.t("ak.pem"), sd[:64], q[:0x277] + b"\x01"))
        ctype, csize = struct.unpack_from("<HI", sd, 128)
        self.assertEqual(ctype, 6)
        cert = sd[134:134 + csize]
        pck_pub = openssl("x509", "-in", self.p("intel", "pck.pem"), "-noout", "-pubkey").stdout
        with open(self.t("pck.pub"), "wb") as f:
            f.write(pck_pub)
        self.assertTrue(ossl_p256(self.t("pck.pub"), cert[384:448], cert[:384]))
        alen = struct.unpack_from("<H", cert, 448)[0]
        self.assertEqual(hashlib.sha256(sd[64:128] + cert[450:450 + alen]).digest(), cert[320:352])
        itype, isize = struct.unpack_from("<HI", cert, 450 + alen)
        self.assertEqual(itype, 5)
        chain = cert[456 + alen:456 + alen + isize]
        self.assertTrue(chain.endswith(b"\x00"))
        with open(self.t("chain.pem"), "wb") as f:
            f.write(chain.rstrip(b"\x00"))
        certs = maa._split_pem(chain)
        self.assertEqual(len(certs), 3)

    def test_tdreport_checked_before_quoting(self):
        rep = signers.tdreport(self.pki, report_data=b"\x01" * 64)
        signers.check_tdreport(self.pki, rep)
        for off in (0x80, 0x210, 0xE0):
            bad = bytearray(rep)
            bad[off] ^= 1
            with self.assertRaises(ValueError):
                signers.tdx_quote_from_tdreport(self.pki, bytes(bad))


class TestHcl(SimBase):
    def test_hcl_binding_and_size(self):
        ak = rsa.generate_private_key(65537, 2048).public_key()
        ek = rsa.generate_private_key(65537, 2048).public_key()
        for tee in ("snp", "tdx"):
            h = signers.hcl_report(self.pki, tee, ak, ek, user_data=b"\xab" * 64)
            self.assertLessEqual(len(h), 2048)
            self.assertEqual(h[:4], b"HCLA")
            size, rtype = struct.unpack_from("<II", h, 8)
            self.assertEqual(size, len(h))
            self.assertEqual(rtype, 2)
            vsize = struct.unpack_from("<I", h, 1232)[0]
            var = h[1236:1236 + vsize]
            rt = json.loads(var)
            self.assertEqual(rt["keys"][0]["kid"], "HCLAkPub")
            self.assertEqual(int.from_bytes(b64ud(rt["keys"][0]["n"]), "big"), ak.public_numbers().n)
            self.assertEqual(rt["user-data"], "AB" * 64)
            rd_off = 32 + (0x50 if tee == "snp" else 0x80)
            self.assertEqual(h[rd_off:rd_off + 64], hashlib.sha256(var).digest() + bytes(32))
            self.assertEqual(struct.unpack_from("<I", h, 1224)[0], 2 if tee == "snp" else 4)
            # without the NV limit both keys are carried
            big = signers.hcl_report(self.pki, tee, ak, ek, max_size=None)
            kids = [k["kid"] for k in json.loads(big[1236:])["keys"]]
            self.assertEqual(kids, ["HCLAkPub", "HCLEkPub"])


class TestMaaPlatform(SimBase):
    def setUp(self):
        self.svc = maa.MaaService(self.sim, issuer="https://maa.sim.test")

    def post(self, path, body, api="2022-08-01"):
        q = {"api-version": [api]} if api else {}
        return self.svc.handle(simhttp.Request("POST", path, q, {"Content-Type": "application/json"},
                                               json.dumps(body).encode()))

    def snp_body(self, runtime, nonce=None, tamper=None):
        rep = bytearray(signers.snp_report(self.pki, report_data=hashlib.sha256(runtime).digest() + bytes(32)))
        if tamper is not None:
            rep[tamper] ^= 1
        chain = read(self.p("amd", "vcek.pem")) + read(self.p("amd", "cert_chain.pem"))
        body = {"report": b64u(json.dumps({"SnpReport": b64u(bytes(rep)), "VcekCertChain": b64u(chain)}).encode()),
                "runtimeData": {"data": b64u(runtime), "dataType": "JSON"}}
        if nonce:
            body["nonce"] = nonce
        return body

    def certs(self):
        r = self.svc.handle(simhttp.Request("GET", "/certs"))
        self.assertEqual(r.status, 200)
        return r.json()

    def test_certs_and_openid(self):
        body = self.certs()
        self.assertEqual(set(body["keys"][0]), {"kid", "kty", "x5c"})
        r = self.svc.handle(simhttp.Request("GET", "/.well-known/openid-configuration"))
        self.assertEqual(r.json()["jwks_uri"], "https://maa.sim.test/certs")
        self.assertEqual(r.json()["issuer"], "https://maa.sim.test")

    def test_sevsnpvm_token_verifies_with_openssl(self):
        runtime = json.dumps({"keys": [], "user-data": "00" * 64}).encode()
        r = self.post("/attest/SevSnpVm", self.snp_body(runtime, nonce="abc123"))
        self.assertEqual(r.status, 200, r.body)
        ok, claims = verify_jwt_with_openssl(self, r.json()["token"], self.certs(), self.tmp)
        self.assertTrue(ok)
        self.assertEqual(claims["x-ms-attestation-type"], "sevsnpvm")
        self.assertEqual(claims["nonce"], "abc123")
        self.assertEqual(claims["x-ms-compliance-status"], "azure-compliant-cvm")
        self.assertEqual(claims["x-ms-runtime"]["user-data"], "00" * 64)
        self.assertEqual(claims["exp"] - claims["iat"], 28800)
        self.assertEqual(claims["iss"], "https://maa.sim.test")
        # a corrupted signature (fault) fails the same independent check
        self.svc.faults.set("wrong_signature")
        r = self.post("/attest/SevSnpVm", self.snp_body(runtime, nonce="abc124"))
        ok, _ = verify_jwt_with_openssl(self, r.json()["token"], self.certs(), self.tmp)
        self.assertFalse(ok)

    def test_sevsnpvm_refusals(self):
        runtime = b'{"keys":[]}'
        cases = [
            ("tampered report", self.snp_body(runtime, tamper=0x90), "signature does not verify"),
            ("runtime binding", dict(self.snp_body(runtime), runtimeData={"data": b64u(b'{"x":1}'),
                                                                          "dataType": "JSON"}),
             "runtime data does not match"),
        ]
        for name, body, msg in cases:
            r = self.post("/attest/SevSnpVm", body)
            self.assertEqual(r.status, 400, name)
            self.assertEqual(r.json()["error"]["code"], "InvalidParameter", name)
            self.assertIn(msg, r.json()["error"]["message"], name)
            self.assertIn(msg, r.headers["X-Sim-Reason"], name)
        r = self.post("/attest/SevSnpVm", self.snp_body(runtime), api=None)
        self.assertEqual((r.status, r.json()["error"]["code"]), (400, "MissingApiVersionParameter"))
        # every refusal names its reason for the request log (X-Sim-Reason)
        self.assertIn("MissingApiVersionParameter", r.headers["X-Sim-Reason"])
        r = self.svc.handle(simhttp.Request("GET", "/attest/SevSnpVm"))
        self.assertEqual(r.status, 405)
        self.assertIn("not allowed", r.headers["X-Sim-Reason"])
        # a repeated nonce (the same body again) is answered: freshness is the client's check
        body = self.snp_body(runtime, nonce="once")
        for _ in range(2):
            r = self.post("/attest/SevSnpVm", body)
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(json.loads(b64ud(r.json()["token"].split(".")[1]))["nonce"], "once")

    def test_tdxvm(self):
        runtime = b'{"keys":[],"user-data":"00"}'
        q = signers.tdx_quote(self.pki, report_data=hashlib.sha256(runtime).digest() + bytes(32))
        body = {"quote": b64u(q), "runtimeData": {"data": b64u(runtime), "dataType": "JSON"}}
        r = self.post("/attest/TdxVm", body, "2023-04-01-preview")
        self.assertEqual(r.status, 200, r.body)
        ok, claims = verify_jwt_with_openssl(self, r.json()["token"], self.certs(), self.tmp)
        self.assertTrue(ok)
        self.assertEqual(claims["x-ms-attestation-type"], "tdxvm")
        self.assertEqual(claims["tdx_report_data"], (hashlib.sha256(runtime).digest() + bytes(32)).hex())
        bad = bytearray(q)
        bad[0x100] ^= 1
        body["quote"] = b64u(bytes(bad))
        r = self.post("/attest/TdxVm", body, "2023-04-01-preview")
        self.assertEqual(r.status, 400)
        self.assertIn("TD quote signature does not verify", r.json()["error"]["message"])


class TestMaaWithMicrosoftClient(SimBase):
    """AttestationInfo produced by Microsoft's own client against a swtpm
    (testdata azure-services/_generated_ms-client_vs_swtpm): its encodings pass
    every TPM-side check of the emulator; only its AK certificate (from an
    unknown local CA, without the AIK EKU) is refused."""

    def body(self, path):
        td = os.environ.get("CVM_TESTDATA") or os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                                             "shared", "testdata")
        f = os.path.join(td, "azure-services", "_generated_ms-client_vs_swtpm", path, "request_body.json")
        if not os.path.exists(f):
            self.skipTest("testdata %s absent" % f)
        return read(f)

    def attest(self, svc, body):
        return svc.handle(simhttp.Request("POST", "/attest/AzureGuest", {"api-version": ["2020-10-01"]},
                                          {"Content-Type": "application/json"}, body))

    def test_trusted_launch_request(self):
        body = self.body("trustedlaunch_path")
        r = self.attest(maa.MaaService(self.sim, issuer="https://maa.sim.test"), body)
        self.assertEqual(r.status, 400)
        self.assertIn("AIK certificate", r.json()["error"]["message"])

        class AnyAikCert(maa.MaaService):
            def _check_aik_cert(self, akcert):
                pass

        r = self.attest(AnyAikCert(self.sim, issuer="https://maa.sim.test"), body)
        self.assertEqual(r.status, 200, r.body)
        self.assertIn("Jwt", json.loads(b64ud(r.json()["token"])))
        # the same request with one PCR value changed is refused
        outer = json.loads(body)
        ai = json.loads(b64ud(outer["AttestationInfo"]))
        ai["TpmInfo"]["PCRs"][0]["Digest"] = base64.b64encode(b"\x01" * 32).decode()
        r = self.attest(AnyAikCert(self.sim, issuer="https://maa.sim.test"),
                        json.dumps({"AttestationInfo": b64u(json.dumps(ai).encode())}).encode())
        self.assertEqual(r.status, 400)
        self.assertIn("PCR digest", r.json()["error"]["message"])


class TestTcgLog(unittest.TestCase):
    def test_build_replay_roundtrip(self):
        log, extends = tcglog.build(tcglog.default_boot_events())
        banks = tcglog.replay(log)
        for alg, name in ((0x0004, "sha1"), (0x000B, "sha256")):
            exp = {}
            for pcr, d in extends:
                exp[pcr] = hashlib.new(name, exp.get(pcr, bytes(hashlib.new(name).digest_size)) + d[alg]).digest()
            self.assertEqual(banks[alg], exp)
        with self.assertRaises(tcglog.LogError):
            tcglog.replay(log[:-3])

    def test_startup_locality(self):
        log, _ = tcglog.build([(0, tcglog.EV_SEPARATOR, b"\0\0\0\0")], locality=3)
        v = tcglog.replay(log)[0x000B][0]
        self.assertEqual(v, hashlib.sha256(bytes(31) + b"\x03" + hashlib.sha256(b"\0\0\0\0").digest()).digest())

    def test_real_fixtures(self):
        td = os.environ.get("CVM_TESTDATA") or os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                                             "shared", "testdata")
        d = os.path.join(td, "tpm2-software__tpm2-tools")
        if not os.path.isdir(d):
            self.skipTest("testdata absent")
        checked = 0
        for name in sorted(os.listdir(d)):
            if not (name.startswith("event-") and name.endswith(".bin")):
                continue
            yml = os.path.join(d, "event-raw_" + name + ".yaml")
            if not os.path.exists(yml):
                continue
            with open(yml) as f:
                text = f.read()
            if "\npcrs:" not in text:
                continue
            try:
                banks = tcglog.replay(read(os.path.join(d, name)))
            except tcglog.LogError:
                continue   # legacy SHA-1 logs are not supported here
            exp_sha256 = {}
            sect = text.split("\npcrs:")[1]
            if "sha256:" not in sect:
                continue
            for line in sect.split("sha256:")[1].splitlines()[1:]:
                if ":" not in line or not line.startswith("  "):
                    break
                k, v = line.split(":", 1)
                if not k.strip().isdigit():
                    break
                exp_sha256[int(k)] = bytes.fromhex(v.strip()[2:])
            self.assertTrue(exp_sha256, "no sha256 pcrs parsed from " + yml)
            got = {i: banks[0x000B].get(i, bytes(32)) for i in exp_sha256}
            self.assertEqual(got, exp_sha256, name)
            checked += 1
        self.assertGreaterEqual(checked, 5)
        if checked == 0:
            self.skipTest("no tpm2-tools fixtures with sha256 pcrs found")


if __name__ == "__main__":
    unittest.main()
