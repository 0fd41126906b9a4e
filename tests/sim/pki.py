#!/usr/bin/python3
"""Fresh test PKIs for the simulated CVM platform.

generate(out_dir, tee="snp") writes everything under OUT_DIR/pki/ (layout in
tests/sim/README.md). The AMD-like chain is made with the openssl CLI because
python3-cryptography 38 cannot sign X.509 with RSA-PSS (ENVIRONMENT-NOTES §2);
everything else uses cryptography.

Run as a program: pki.py OUT_DIR [--turin]
"""

import datetime
import json
import os
import secrets
import subprocess
import sys
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

import der

# Defaults of the simulated SNP platform: REPORTED_TCB components
# (tee-formats.md §1.3) the VCEK is issued for.
SNP_TCB = {"bl": 3, "tee": 0, "snp": 8, "ucode": 115}
TURIN_TCB = {"fmc": 1, "bl": 3, "tee": 0, "snp": 2, "ucode": 80}
# Intel-like PCK TCB (tee-formats.md §2.4): 16 SGX TCB component SVNs, PCESVN, CPUSVN.
PCK_TCB_COMPONENTS = [3, 3, 2, 2, 2, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0]
PCK_PCESVN = 11
FMSPC = bytes.fromhex("00806f050000")
PCE_ID = bytes.fromhex("0000")

AMD_OID = "1.3.6.1.4.1.3704.1"
SGX_EXT_OID = "1.2.840.113741.1.13.1"

NOW = None  # overridable for tests


def _now():
    return NOW or datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _run(args, cwd=None):
    r = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
    return r.stdout


def _write(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(cn, o=None, ou=None, l=None, st=None, c=None):
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    for oid, v in ((NameOID.ORGANIZATION_NAME, o), (NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                   (NameOID.LOCALITY_NAME, l), (NameOID.STATE_OR_PROVINCE_NAME, st),
                   (NameOID.COUNTRY_NAME, c)):
        if v:
            attrs.append(x509.NameAttribute(oid, v))
    return x509.Name(attrs)


def _issue(subject, pubkey, issuer_name, issuer_key, *, ca, pathlen=None, days=3650,
           serial=None, exts=(), hash_alg=None, ku=None):
    now = _now()
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
         .public_key(pubkey).serial_number(serial if serial is not None else x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=days)))
    b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen if ca else None), critical=True)
    if ku is None:
        ku = dict(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca)
    full = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False)
    full.update(ku)
    b = b.add_extension(x509.KeyUsage(**full), critical=True)
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(pubkey), critical=False)
    if issuer_key.public_key() is not pubkey:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                            critical=False)
    for ext, crit in exts:
        b = b.add_extension(ext, critical=crit)
    return b.sign(issuer_key, hash_alg or hashes.SHA256())


# ---------------------------------------------------------------- AMD (openssl)

_AMD_SUBJ = "/C=US/ST=CA/L=Santa Clara/O=Advanced Micro Devices/OU=Engineering/CN=%s"
_PSS = ["-sha384", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:48",
        "-sigopt", "rsa_mgf1_md:sha384"]


def vcek_extension_lines(product, tcb, hwid, turin=False):
    """openssl config lines for the AMD VCEK extensions (tee-formats.md §1.4)."""
    lines = ["%s.1=ASN1:INTEGER:%d" % (AMD_OID, 1 if turin else 0),
             "%s.2=ASN1:IA5STRING:%s" % (AMD_OID, product),
             "%s.3.1=ASN1:INTEGER:%d" % (AMD_OID, tcb["bl"]),
             "%s.3.2=ASN1:INTEGER:%d" % (AMD_OID, tcb["tee"]),
             "%s.3.3=ASN1:INTEGER:%d" % (AMD_OID, tcb["snp"])]
    lines += ["%s.3.%d=ASN1:INTEGER:0" % (AMD_OID, i) for i in range(5 if turin else 4, 8)]
    lines.append("%s.3.8=ASN1:INTEGER:%d" % (AMD_OID, tcb["ucode"]))
    if turin:
        lines.append("%s.3.9=ASN1:INTEGER:%d" % (AMD_OID, tcb["fmc"]))
    # hwID: raw chip-id bytes with no ASN.1 tag, as in every real VCEK (tee-formats.md §1.4).
    lines.append("%s.4=DER:%s" % (AMD_OID, hwid.hex()))
    return lines


def _gen_amd(d, product, tcb, chip_id, turin):
    os.makedirs(d, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cnf = os.path.join(tmp, "amd.cnf")
        hwid = chip_id[:8] if turin else chip_id
        with open(cnf, "w") as f:
            f.write("[ark_ext]\nbasicConstraints=critical,CA:TRUE\n"
                    "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
                    "[ask_ext]\nbasicConstraints=critical,CA:TRUE,pathlen:0\n"
                    "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
                    "authorityKeyIdentifier=keyid\n"
                    "crlDistributionPoints=URI:https://kdsintf.amd.com/vcek/v1/%s/crl\n"
                    "[vcek_ext]\n%s\n" % (product, "\n".join(vcek_extension_lines(product, tcb, hwid, turin))))
        p = lambda n: os.path.join(d, n)  # noqa: E731
        t = lambda n: os.path.join(tmp, n)  # noqa: E731
        for k in ("ark", "ask"):
            _run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096",
                  "-out", p(k + ".key")])
        _run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp384r1",
              "-out", p("vcek.key")])
        _run(["openssl", "req", "-new", "-key", p("ark.key"), "-subj", _AMD_SUBJ % ("ARK-" + product),
              "-out", t("ark.csr")])
        _run(["openssl", "x509", "-req", "-in", t("ark.csr"), "-signkey", p("ark.key"), "-days", "9125",
              "-set_serial", "0x10000", "-extfile", cnf, "-extensions", "ark_ext", "-out", p("ark.pem")] + _PSS)
        _run(["openssl", "req", "-new", "-key", p("ask.key"), "-subj", _AMD_SUBJ % ("SEV-" + product),
              "-out", t("ask.csr")])
        _run(["openssl", "x509", "-req", "-in", t("ask.csr"), "-CA", p("ark.pem"), "-CAkey", p("ark.key"),
              "-days", "9125", "-set_serial", "0x10001", "-extfile", cnf, "-extensions", "ask_ext",
              "-out", p("ask.pem")] + _PSS)
        _run(["openssl", "req", "-new", "-key", p("vcek.key"), "-subj", _AMD_SUBJ % "SEV-VCEK",
              "-out", t("vcek.csr")])
        _run(["openssl", "x509", "-req", "-in", t("vcek.csr"), "-CA", p("ask.pem"), "-CAkey", p("ask.key"),
              "-days", "2555", "-set_serial", "0", "-extfile", cnf, "-extensions", "vcek_ext",
              "-out", p("vcek.pem")] + _PSS)
    _run(["openssl", "x509", "-in", p("vcek.pem"), "-outform", "DER", "-out", p("vcek.der")])
    with open(p("ask.pem"), "rb") as f:
        ask = f.read()
    with open(p("ark.pem"), "rb") as f:
        ark = f.read()
    _write(p("cert_chain.pem"), ask + ark)  # KDS order: ASK then ARK (tee-formats.md §1.6)
    for k in ("ark.key", "ask.key", "vcek.key"):
        os.chmod(p(k), 0o600)


def amd_crl(d, out, revoked=(), days=30):
    """Writes OUT (DER): a CRL issued and signed by D's ARK, RSA-PSS SHA-384
    as AMD's, listing the certificates REVOKED (names in D, e.g. "ask.pem"),
    with nextUpdate DAYS ahead.  Made with `openssl ca` (python3-cryptography
    38 cannot sign with RSA-PSS)."""
    with tempfile.TemporaryDirectory() as tmp:
        t = lambda n: os.path.join(tmp, n)  # noqa: E731
        with open(t("ca.cnf"), "w") as f:
            f.write("[ amd_ca ]\ndatabase = %s\ndefault_md = sha384\ncrlnumber = %s\n"
                    "[ crl_ext ]\nauthorityKeyIdentifier = keyid\n" % (t("index.txt"), t("crlnumber")))
        open(t("index.txt"), "w").close()
        with open(t("crlnumber"), "w") as f:
            f.write("01\n")
        base = ["openssl", "ca", "-config", t("ca.cnf"), "-name", "amd_ca",
                "-keyfile", os.path.join(d, "ark.key"), "-cert", os.path.join(d, "ark.pem")]
        for r in revoked:
            _run(base + ["-revoke", os.path.join(d, r)])
        _run(base + ["-gencrl", "-crldays", str(days), "-crlexts", "crl_ext", "-out", t("crl.pem")] + _PSS[1:]
             + ["-md", "sha384"])
        _run(["openssl", "crl", "-in", t("crl.pem"), "-outform", "DER", "-out", out])
    return out


# ---------------------------------------------------------------- Intel

def sgx_extensions_der(fmspc=FMSPC, comps=PCK_TCB_COMPONENTS, pcesvn=PCK_PCESVN, pce_id=PCE_ID,
                       cpusvn=None, ppid=None):
    """DER of the SGX Extensions (OID 1.2.840.113741.1.13.1) of a PCK certificate."""
    base = SGX_EXT_OID
    cpusvn = cpusvn if cpusvn is not None else bytes(comps)
    tcb = [der.seq(der.oid("%s.2.%d" % (base, i + 1)), der.integer(v)) for i, v in enumerate(comps)]
    tcb.append(der.seq(der.oid(base + ".2.17"), der.integer(pcesvn)))
    tcb.append(der.seq(der.oid(base + ".2.18"), der.octet_string(cpusvn)))
    return der.seq(
        der.seq(der.oid(base + ".1"), der.octet_string(ppid or secrets.token_bytes(16))),
        der.seq(der.oid(base + ".2"), der.seq(*tcb)),
        der.seq(der.oid(base + ".3"), der.octet_string(pce_id)),
        der.seq(der.oid(base + ".4"), der.octet_string(fmspc)),
        der.seq(der.oid(base + ".5"), der.enumerated(0)),
    )


def _gen_intel(d):
    os.makedirs(d, exist_ok=True)
    intel = dict(o="Intel Corporation", l="Santa Clara", st="CA", c="US")
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("Intel SGX Root CA", **intel)
    root = _issue(root_name, root_key.public_key(), root_name, root_key, ca=True, pathlen=1, days=9000)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Intel SGX PCK Platform CA", **intel)
    ca = _issue(ca_name, ca_key.public_key(), root_name, root_key, ca=True, pathlen=0, days=9000)
    pck_key = ec.generate_private_key(ec.SECP256R1())
    sgx = x509.UnrecognizedExtension(ObjectIdentifier(SGX_EXT_OID), sgx_extensions_der())
    pck = _issue(_name("Intel SGX PCK Certificate", **intel), pck_key.public_key(), ca_name, ca_key,
                 ca=False, days=2555, exts=[(sgx, False)],
                 ku=dict(digital_signature=True, content_commitment=True))
    for n, obj in (("root.pem", root), ("pck-ca.pem", ca), ("pck.pem", pck)):
        _write(os.path.join(d, n), _cert_pem(obj))
    for n, k in (("root.key", root_key), ("pck-ca.key", ca_key), ("pck.key", pck_key)):
        _write(os.path.join(d, n), _key_pem(k), 0o600)
    # PCK chain as it travels in quote certification data type 5: leaf, intermediate, root.
    _write(os.path.join(d, "pck-chain.pem"), _cert_pem(pck) + _cert_pem(ca) + _cert_pem(root))


# ---------------------------------------------------------------- the rest

def _self_signed_rsa(d, stem, cn, days=3650, ca=True):
    key = rsa.generate_private_key(65537, 2048)
    name = _name(cn, o="cvm-agent test")
    cert = _issue(name, key.public_key(), name, key, ca=ca, days=days,
                  ku=None if ca else dict(digital_signature=True))
    _write(os.path.join(d, stem + ".pem"), _cert_pem(cert))
    _write(os.path.join(d, stem + ".key"), _key_pem(key), 0o600)
    return key, cert


def _gen_tls(d, hosts=("localhost",), ips=("127.0.0.1",)):
    import ipaddress
    ca_key, ca = _self_signed_rsa(d, "tls-ca", "cvm-agent test TLS CA")
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts] +
                                      [x509.IPAddress(ipaddress.ip_address(i)) for i in ips])
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    cert = _issue(_name("localhost", o="cvm-agent test"), key.public_key(), ca.subject, ca_key, ca=False,
                  days=825, exts=[(san, False), (eku, False)], ku=dict(digital_signature=True))
    _write(os.path.join(d, "tls-server.pem"), _cert_pem(cert))
    _write(os.path.join(d, "tls-server.key"), _key_pem(key), 0o600)


def tls_names(extra_sans=()):
    """(DNS names, IP addresses) of the TLS server certificate: localhost and
    127.0.0.1 plus EXTRA_SANS, each sorted into its kind."""
    import ipaddress
    hosts, ips = ["localhost"], ["127.0.0.1"]
    for n in extra_sans:
        try:
            ipaddress.ip_address(n)
            ips.append(n)
        except ValueError:
            hosts.append(n)
    return tuple(hosts), tuple(ips)


def generate(out_dir, tee="snp", turin=False, extra_sans=()):
    """Writes fresh PKIs to OUT_DIR/pki and returns that path.

    extra_sans: more names (IP addresses or DNS names) for the TLS server
    certificate besides localhost and 127.0.0.1, e.g. 10.0.2.2 for a QEMU
    guest reaching the host's loopback services.

    Both the AMD-like and the Intel-like chains are always made (the MAA and
    IMDS emulators can then serve either flavour); TEE is recorded in
    meta.json. turin=True adds a Turin-style AMD chain under pki/amd-turin/.
    """
    if tee not in ("snp", "tdx"):
        raise ValueError("tee must be snp or tdx")
    pki = os.path.join(out_dir, "pki")
    os.makedirs(pki, exist_ok=True)
    chip_id = secrets.token_bytes(64)
    _gen_amd(os.path.join(pki, "amd"), "Milan", SNP_TCB, chip_id, False)
    amd_crl(os.path.join(pki, "amd"), os.path.join(pki, "amd", "crl.der"))
    meta = {"tee": tee,
            "amd": {"product": "Milan", "chip_id": chip_id.hex(), "tcb": SNP_TCB,
                    "cpuid_fam_id": 0x19, "cpuid_mod_id": 0x01, "cpuid_step": 1},
            "intel": {"fmspc": FMSPC.hex(), "pce_id": PCE_ID.hex(), "pcesvn": PCK_PCESVN,
                      "tcb_components": PCK_TCB_COMPONENTS}}
    if turin:
        tchip = secrets.token_bytes(8) + bytes(56)
        _gen_amd(os.path.join(pki, "amd-turin"), "Turin", TURIN_TCB, tchip, True)
        amd_crl(os.path.join(pki, "amd-turin"), os.path.join(pki, "amd-turin", "crl.der"))
        meta["amd-turin"] = {"product": "Turin", "chip_id": tchip.hex(), "tcb": TURIN_TCB,
                             "cpuid_fam_id": 0x1A, "cpuid_mod_id": 0x02, "cpuid_step": 0}
    _gen_intel(os.path.join(pki, "intel"))
    _self_signed_rsa(pki, "vtpm-ca", "Test Global Virtual TPM CA - 01")
    hosts, ips = tls_names(extra_sans)
    _gen_tls(pki, hosts=hosts, ips=ips)
    meta["tls_extra_sans"] = list(extra_sans)
    _self_signed_rsa(pki, "maa-signing", "https://maa.sim.test", ca=False, days=365)
    _self_signed_rsa(pki, "imds-signing", "Test managed identity token signer", ca=False, days=365)
    _self_signed_rsa(pki, "kv-signing", "vault.azure.net", ca=False, days=365)
    with open(os.path.join(pki, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    return pki


def load_meta(pki_dir):
    with open(os.path.join(pki_dir, "meta.json")) as f:
        return json.load(f)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print("usage: pki.py OUT_DIR [--tee snp|tdx] [--turin]", file=sys.stderr)
        sys.exit(2)
    tee = sys.argv[sys.argv.index("--tee") + 1] if "--tee" in sys.argv else "snp"
    print(generate(sys.argv[1], tee=tee, turin="--turin" in sys.argv))
