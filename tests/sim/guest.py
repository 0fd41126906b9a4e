#!/usr/bin/python3
"""A reference guest for tests: drives a provisioned swtpm with tpm2-tools
(not the agent) to measure a simulated boot and build the AttestationInfo of
POST /attest/AzureGuest exactly as Microsoft's client does
(azure-wire-formats.md §2.1, §4). Every tpm2-tools call is followed by a flush
of transient objects and sessions (there is no resource manager on swtpm).
"""

import base64
import json
import os
import subprocess
import tempfile

import signers
import tcglog
import tpmstructs as ts

AK_HANDLE = "0x81000003"
NV_HCL = "0x01400001"
NV_AKCERT = "0x01C101D0"
PCRS = list(range(8))
# Transfer key attributes 0x00020432 (azure-wire-formats §4)
ENC_ATTRS = "decrypt|fixedtpm|fixedparent|sensitivedataorigin|noda"


def b64(b):
    return base64.b64encode(b).decode()


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Guest:
    def __init__(self, tcti, workdir=None):
        self.tcti = tcti
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory()
            workdir = self._tmp.name
        self.dir = workdir
        self.env = dict(os.environ, TPM2TOOLS_TCTI=tcti, TSS2_LOG="all+NONE")

    def close(self):
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def handles(self, kind):
        """tpm2_getcap handles-KIND output lines (to check for leaks)."""
        return [l for l in self.run("tpm2_getcap", "handles-" + kind).decode().splitlines() if l.strip()]

    def path(self, name):
        return os.path.join(self.dir, name)

    def run(self, *args, input=None):
        r = subprocess.run(list(args), env=self.env, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            self.flush()
            raise RuntimeError("%s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr.decode(errors="replace")))
        return r.stdout

    def flush(self):
        for flag in ("-t", "-s", "-l"):
            subprocess.run(["tpm2_flushcontext", flag], env=self.env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)

    def read_file(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    # ---------------------------------------------------------- platform side

    def measure_boot(self, events=None):
        """Extends PCRs (SHA-1 and SHA-256 banks) with a simulated boot and returns the TCG log."""
        log, extends = tcglog.build(events or tcglog.default_boot_events())
        for pcr, digests in extends:
            spec = "%d:%s" % (pcr, ",".join("%s=%s" % (tcglog.ALGS[a][0], d.hex()) for a, d in digests.items()))
            self.run("tpm2_pcrextend", spec)
        return log

    # ---------------------------------------------------------- evidence

    def pcr_values(self):
        self.run("tpm2_pcrread", "sha256:" + ",".join(map(str, PCRS)), "-o", self.path("pcrs.bin"))
        raw = self.read_file("pcrs.bin")
        return [raw[32 * i:32 * i + 32] for i in range(len(PCRS))]

    def nv_read(self, index):
        self.run("tpm2_nvread", "-C", "o", index, "-o", self.path("nv.bin"))
        return self.read_file("nv.bin")

    def quote(self, nonce_hex=None):
        args = ["tpm2_quote", "-c", AK_HANDLE, "-l", "sha256:" + ",".join(map(str, PCRS)), "-g", "sha256",
                "-m", self.path("quote.msg"), "-s", self.path("quote.sig"), "-f", "plain"]
        if nonce_hex:
            args += ["-q", nonce_hex]
        self.run(*args)
        self.flush()
        return self.read_file("quote.msg"), self.read_file("quote.sig")

    def create_transfer_key(self, pcr_values):
        """The PCR-bound RSA-2048 key under TPM_RH_NULL (§4); returns the context file path."""
        with open(self.path("enc.policy"), "wb") as f:
            f.write(ts.policy_pcr_digest(pcr_values))
        # 256 zero bytes of unique, as the agent and Microsoft's sample make it
        with open(self.path("enc.unique"), "wb") as f:
            f.write(bytes(256))
        self.run("tpm2_createprimary", "-C", "n", "-g", "sha256", "-G", "rsa2048:null:null", "-a", ENC_ATTRS,
                 "-L", self.path("enc.policy"), "-u", self.path("enc.unique"), "-c", self.path("enc.ctx"))
        self.flush()  # the saved context stays usable; the loaded copy would exhaust swtpm's 3 slots
        self.run("tpm2_readpublic", "-c", self.path("enc.ctx"), "-o", self.path("enc.pub"))
        self.flush()
        return self.path("enc.ctx")

    def certify_transfer_key(self):
        self.run("tpm2_certify", "-c", self.path("enc.ctx"), "-C", AK_HANDLE, "-g", "sha256",
                 "-o", self.path("certify.msg"), "-s", self.path("certify.sig"), "-f", "plain")
        self.flush()
        return self.read_file("certify.msg"), self.read_file("certify.sig")

    def rsa_decrypt(self, ciphertext, scheme="rsaes", pcrs=PCRS):
        """TPM2_RSA_Decrypt with the transfer key under a PolicyPCR session."""
        pcr_values = self.pcr_values()
        self.create_transfer_key(pcr_values)
        with open(self.path("ct.bin"), "wb") as f:
            f.write(ciphertext)
        try:
            self.run("tpm2_startauthsession", "--policy-session", "-S", self.path("sess.ctx"))
            self.run("tpm2_policypcr", "-S", self.path("sess.ctx"), "-l", "sha256:" + ",".join(map(str, pcrs)))
            self.run("tpm2_rsadecrypt", "-c", self.path("enc.ctx"), "-p", "session:" + self.path("sess.ctx"),
                     "-s", scheme, "-o", self.path("pt.bin"), self.path("ct.bin"))
        finally:
            self.flush()
        return self.read_file("pt.bin")

    def attestation_info(self, pki_dir, tee="snp", tcg_log=b"", client_payload=None, os_info=None):
        """Collects everything and returns the AttestationInfo dict (GA encodings)."""
        hcl = self.nv_read(NV_HCL)
        akcert = self.nv_read(NV_AKCERT)
        self.run("tpm2_readpublic", "-c", AK_HANDLE, "-o", self.path("ak.pub"))
        akpub = self.read_file("ak.pub")
        pcr_values = self.pcr_values()
        qmsg, qsig = self.quote()
        self.create_transfer_key(pcr_values)
        cmsg, csig = self.certify_transfer_key()
        encpub = self.read_file("enc.pub")
        parsed = signers.parse_hcl(hcl)
        if parsed["tee"] == "snp":
            with open(os.path.join(pki_dir, "amd", "vcek.pem"), "rb") as f:
                chain = f.read()
            with open(os.path.join(pki_dir, "amd", "cert_chain.pem"), "rb") as f:
                chain += f.read()
            proof = json.dumps({"SnpReport": b64url(parsed["hw"]), "VcekCertChain": b64url(chain)}).encode()
            iso = {"Type": "SevSnp", "Evidence": {"Proof": b64(proof), "RunTimeData": b64(parsed["var"])}}
        else:
            quote = signers.tdx_quote_from_tdreport(pki_dir, parsed["hw"][:signers.TDREPORT_SIZE])
            iso = {"Type": "Tdx", "Evidence": {"Proof": b64(quote), "RunTimeData": b64(parsed["var"])}}
        os_info = os_info or {"type": "Linux", "distro": "Debian", "major": 12, "minor": 0}
        return {
            "AttestationProtocolVersion": "2.0",
            "OSType": b64(os_info["type"].encode()), "OSDistro": b64(os_info["distro"].encode()),
            "OSVersionMajor": os_info["major"], "OSVersionMinor": os_info["minor"],
            "OSBuild": b64(b"NotApplication"),
            "TcgLogs": b64(tcg_log),
            "ClientPayload": {k: b64(v.encode()) for k, v in (client_payload or {}).items()},
            "TpmInfo": {
                "AikCert": b64(akcert), "AikPub": b64(akpub), "PcrQuote": b64(qmsg), "PcrSignature": b64(qsig),
                "EncKeyPub": b64(encpub), "EncKeyCertifyInfo": b64(cmsg), "EncKeyCertifyInfoSignature": b64(csig),
                "PcrSet": PCRS, "PCRs": [{"Index": i, "Digest": b64(v)} for i, v in zip(PCRS, pcr_values)],
            },
            "IsolationInfo": iso,
        }


def request_body(attestation_info):
    """{"AttestationInfo": base64url(JSON)} (§2.1)."""
    return json.dumps({"AttestationInfo": b64url(json.dumps(attestation_info).encode())}).encode()


def _main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="reference guest on a provisioned swtpm (tpm2-tools)")
    ap.add_argument("--tcti", default=os.environ.get("TPM2TOOLS_TCTI") or os.environ.get("CVM_AGENT_TCTI"))
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure-boot", help="extend PCR0-7 with a simulated boot; write its TCG log")
    m.add_argument("--out", required=True, help="event log file (binary_bios_measurements format)")
    a = sub.add_parser("attestation-info", help="write the POST /attest/AzureGuest body")
    a.add_argument("--pki", required=True)
    a.add_argument("--event-log", help="TCG log to send as TcgLogs")
    a.add_argument("--nonce")
    a.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if not args.tcti:
        ap.error("--tcti (or TPM2TOOLS_TCTI) is required")
    g = Guest(args.tcti)
    try:
        if args.cmd == "measure-boot":
            data = g.measure_boot()
        else:
            log = b""
            if args.event_log:
                with open(args.event_log, "rb") as f:
                    log = f.read()
            ai = g.attestation_info(args.pki, tcg_log=log,
                                    client_payload={"nonce": args.nonce} if args.nonce else None)
            data = request_body(ai)
        with open(args.out, "wb") as f:
            f.write(data)
    finally:
        g.close()
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(_main(sys.argv[1:]))
