#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Helper of tests/integration/sim-release.sh, through a running `cvm-sim up`
(CVM_SIM_DIR), independent of the agent's release code:

  token OUT [NONCE]      attest with the reference guest (guest.py, tpm2-tools) to
                         the sim MAA, unseal the token in the TPM, write it to OUT;
                         with CVM_TPM_DRIVER the transfer key is the agent's
  fingerprint KEY_URL    SHA-256 (hex) of the SubjectPublicKeyInfo DER of the public
                         key the vault holds for that key (version)
  rotate                 a new version of the default key; prints its kid
  disable KID            disables that version
  create NAME POLICY [KTY SIZE]  a new exportable key with that release policy (JSON)
  forms KEYFILE          the forms a leak of the key file's material could take
                         (hex, base64, base64url windows), one per line
"""

import base64
import hashlib
import json
import os
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

SIM = os.environ["CVM_SIM_DIR"]
EP = json.load(open(os.path.join(SIM, "endpoints.json")))
CTX = ssl.create_default_context(cafile=EP["ca_bundle"])


def b64u_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def http(method, url, body=None, token=None):
    h = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if token:
        h["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, context=CTX if url.startswith("https") else None,
                                    timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def token(out, nonce="sim-release"):
    import guest
    tmp = tempfile.mkdtemp(dir=SIM)
    g = guest.Guest(EP["tcti"], tmp)
    driver = os.environ.get("CVM_TPM_DRIVER")
    if driver:
        # The transfer key as the agent derives it (GA's template: unique =
        # 256 zero bytes; tpm2-tools' createprimary sends an empty unique, a
        # different key), created and certified through tests/tpm-driver.
        def create(pcr_values):
            return None

        def certify():
            subprocess.run([driver, "certify-transfer-key", "--pcrs", "sha256:0-7",
                            "--pub", g.path("enc.pub"), "--attest", g.path("certify.msg"),
                            "--sig", g.path("certify.sig")], check=True,
                           env=dict(os.environ, CVM_AGENT_TCTI=EP["tcti"]))
            return g.read_file("certify.msg"), g.read_file("certify.sig")
        def decrypt(ct, scheme="rsaes"):
            with open(g.path("ct.bin"), "wb") as f:
                f.write(ct)
            subprocess.run([driver, "decrypt", "--pcrs", "sha256:0-7", "--scheme", scheme,
                            "--in", g.path("ct.bin"), "--out", g.path("pt.bin")], check=True,
                           env=dict(os.environ, CVM_AGENT_TCTI=EP["tcti"]))
            return g.read_file("pt.bin")
        g.create_transfer_key = create
        g.certify_transfer_key = certify
        g.rsa_decrypt = decrypt
    try:
        log = open(EP["event_log"], "rb").read()
        ai = g.attestation_info(os.path.join(SIM, "pki"), tee=EP["tee"], tcg_log=log,
                                client_payload={"nonce": nonce})
        st, b = http("POST", EP["maa"] + "/attest/AzureGuest?api-version=2020-10-01",
                     json.loads(guest.request_body(ai)))
        if st != 200:
            sys.exit("MAA refused: %s %s" % (st, b))
        env = json.loads(b64u_dec(b["token"]))
        inner = g.rsa_decrypt(base64.b64decode(env["EncryptedInnerKey"]), scheme="rsaes")
        jwt = AESGCM(inner).decrypt(base64.b64decode(env["EncryptionParams"]["Iv"]),
                                    base64.b64decode(env["Jwt"])
                                    + base64.b64decode(env["AuthenticationData"]),
                                    b"Transport Key")
    finally:
        g.close()
    with open(out, "wb") as f:
        f.write(jwt)


def fingerprint(url):
    st, b = http("GET", url + "?api-version=7.4", token=EP["admin_token"])
    if st != 200:
        sys.exit("GET %s: %s %s" % (url, st, b))
    jwk = b["key"]
    if jwk["kty"].startswith("RSA"):
        from cryptography.hazmat.primitives.asymmetric import rsa
        n = int.from_bytes(b64u_dec(jwk["n"]), "big")
        e = int.from_bytes(b64u_dec(jwk["e"]), "big")
        pub = rsa.RSAPublicNumbers(e, n).public_key()
        der = pub.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        print(hashlib.sha256(der).hexdigest())
    else:
        sys.exit("no public key for kty %s" % jwk["kty"])


def rotate():
    base = EP["key_url"].rsplit("/", 1)[0]
    st, b = http("POST", base + "/rotate?api-version=7.4", token=EP["admin_token"])
    if st != 200:
        sys.exit("rotate: %s %s" % (st, b))
    print(b["key"]["kid"])


def disable(kid):
    st, b = http("PATCH", kid + "?api-version=7.4", {"attributes": {"enabled": False}},
                 token=EP["admin_token"])
    if st != 200:
        sys.exit("disable: %s %s" % (st, b))


def create(name, policy, kty="RSA-HSM", size="2048"):
    """A new exportable key NAME with the release policy given as JSON text."""
    import keyvault  # noqa: F401 (the policy document shape)
    pol = {"contentType": "application/json; charset=utf-8",
           "data": base64.urlsafe_b64encode(policy.encode()).rstrip(b"=").decode(),
           "immutable": False}
    st, b = http("POST", EP["vault"] + "/keys/%s/create?api-version=7.4" % name,
                 {"kty": kty, "key_size": int(size),
                  "attributes": {"exportable": True, "enabled": True}, "release_policy": pol},
                 token=EP["admin_token"])
    if st != 200:
        sys.exit("create: %s %s" % (st, b))
    print(b["key"]["kid"])


def forms(keyfile):
    """The forms a leak of the key file's bytes could take, one per line."""
    data = open(keyfile, "rb").read()
    if data.startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(data, None)
        data = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    lines = []
    # a long window in the middle of the DER: any printed copy contains it
    mid = data[len(data) // 2 - 24:len(data) // 2 + 24] if len(data) > 64 else data
    for chunk in (data[:48], mid):
        lines.append(chunk.hex())
        lines.append(chunk.hex().upper())
        for off in range(3):  # base64 of a sub-range at each alignment
            sub = chunk[off:off + 30]
            lines.append(base64.b64encode(sub).decode().rstrip("="))
            lines.append(base64.urlsafe_b64encode(sub).decode().rstrip("="))
    if len(data) <= 64:  # oct keys: the whole thing
        lines += [data.hex(), base64.b64encode(data).decode().rstrip("="),
                  base64.urlsafe_b64encode(data).decode().rstrip("=")]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    cmd = sys.argv[1]
    {"token": lambda: token(*sys.argv[2:]), "fingerprint": lambda: fingerprint(sys.argv[2]),
     "rotate": rotate, "disable": lambda: disable(sys.argv[2]),
     "forms": lambda: forms(sys.argv[2]), "create": lambda: create(*sys.argv[2:])}[cmd]()
