#!/bin/bash
# `cvm-agent verify --release-response` and `--release-policy` on real data
# (azure-services/MANIFEST.md): the real Key Vault release JWS verifies at a
# time inside its leaf's validity and fails after it and with one character
# of payload or signature changed; the transcribed Managed HSM and .NET
# payloads decode to the MANIFEST's values and are "unverifiable" (exit 1);
# Microsoft's 26-authority data-disk policy holds for a token whose issuer is
# one of its authorities (with and without trailing slash) and fails naming
# the claim otherwise; the emulator's policy evaluator (tests/sim/keyvault.py)
# and the agent's give the same verdicts on the same real policies.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
AS=azure-services
AKV=$AS/Azure__azure-sdk-for-cpp/derived_ReleaseKey2_release_response_body.json
AKV_POLICY=$AS/Azure__azure-sdk-for-cpp/derived_ReleaseKey2_release_policy_decoded.json
MHSM=$AS/Azure__azure-sdk-for-go/transcribed_TestReleaseKey_MHSM_release_jws_payload_segment.b64
MHSM_JSON=$AS/Azure__azure-sdk-for-go/transcribed_TestReleaseKey_MHSM_release_jws_payload_decoded.json
NET=$AS/Azure__azure-sdk-for-net/transcribed_ReleaseCreatedKey_release_jws_payload_segment.b64
DISK=$AS/Azure__confidential-computing-cvm-guest-attestation/cvm-datadisk-enc-scripts_public_SKR_policy-datadisk.json
require_testdata "$AKV" "$AKV_POLICY" "$MHSM" "$MHSM_JSON" "$NET" "$DISK"
[ -x "$PYTHON" ] || skip "$PYTHON not found"
"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography not installed"
T=$CVM_TESTDATA
export CVM_AGENT_CONFIG=/dev/null PYTHONDONTWRITEBYTECODE=1
cd "$TEST_DIR"

# run WANT_RC ARGS...: cvm-agent verify ARGS --json into out.json
run() {
    local want=$1 rc=0
    shift
    agent verify "$@" --json >out.json 2>err.txt || rc=$?
    [ "$rc" -eq "$want" ] || { cat err.txt out.json >&2; fail "verify $* exited $rc, expected $want"; }
}
# field PATH: a value of out.json ("a.b.c")
field() { "$PYTHON" -c 'import json,sys
v=json.load(open("out.json"))
for p in sys.argv[1].split("."): v=v[p]
print(json.dumps(v) if isinstance(v,(bool,dict,list)) else v)' "$1"; }

# --- the real Key Vault release JWS
if [ -r /etc/ssl/certs/Baltimore_CyberTrust_Root.pem ]; then
    run 0 --release-response "$T/$AKV" --at 2022-05-06T12:00:00Z
    [ "$(field verified)" = true ] && [ "$(field release.vault)" = keyvault ] &&
        [ "$(field release.kty)" = EC-HSM ] && [ "$(field release.version)" = c3c28aadd7d54867beb596461e6640bd ] &&
        [ "$(field release.enc)" = RSA_AES_KEY_WRAP_256 ] || fail "AKV release decoded wrong: $(cat out.json)"
    pass_msg "the real AKV release JWS verifies at 2022-05-06 (chain to Baltimore, CN=vault.azure.net)"
    run 1 --release-response "$T/$AKV" --at 2023-03-01T00:00:00Z
    grep -q 'expired' out.json || fail "after the leaf's validity: $(cat out.json)"
    run 1 --release-response "$T/$AKV"
    pass_msg "and fails after the leaf expired (2023-03-01, today)"
    for part in 1 2; do
        "$PYTHON" - "$T/$AKV" "$part" >flipped.json <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))["value"].split(".")
p = int(sys.argv[2]); s = v[p]; i = 60
v[p] = s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1:]
print(json.dumps({"value": ".".join(v)}))
PY
        run 1 --release-response flipped.json --at 2022-05-06T12:00:00Z
    done
    pass_msg "one character of payload or of signature changed: exit 1"
    # the same roots given as a bundle: another root does not do
    run 1 --release-response "$T/$AKV" --at 2022-05-06T12:00:00Z --ca-bundle /etc/ssl/certs/DigiCert_Global_Root_G2.pem
    run 0 --release-response "$T/$AKV" --at 2022-05-06T12:00:00Z --ca-bundle /etc/ssl/certs/Baltimore_CyberTrust_Root.pem
    pass_msg "--ca-bundle: Baltimore verifies, DigiCert G2 does not"
else
    echo "# the system CA store lacks Baltimore CyberTrust Root: the real AKV JWS is not chained"
fi

# --- the algorithm allow-list, thumbprints, header shapes and the signer's name,
# on responses signed here (python3-cryptography) by a CA named with --ca-bundle
"$PYTHON" - <<'PY'
import base64, datetime, hashlib, json
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = datetime.datetime.utcnow()
def cert(key, cn, sans):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
         .add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False))
    return b.sign(key, hashes.SHA256())
keys = {"rsa": rsa.generate_private_key(65537, 2048), "p256": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1())}
certs = {k: cert(v, "vault signer " + k, ["vault.azure.net", "*.vault.azure.net", "*.managedhsm.azure.net"])
         for k, v in keys.items()}
with open("signers.pem", "wb") as f:
    for c in certs.values():
        f.write(c.public_bytes(serialization.Encoding.PEM))
def payload(host="v1.vault.azure.net", enc="RSA_AES_KEY_WRAP_256"):
    kid = "https://%s/keys/k1/0123456789abcdef0123456789abcdef" % host
    return {"request": {"api-version": "7.4", "enc": enc, "kid": kid},
            "response": {"key": {"key": {"kid": kid, "kty": "RSA-HSM", "key_hsm": b64u(b"{}")},
                                 "attributes": {"enabled": True, "exportable": True, "exp": 2000000000}}}}
def jws(name, alg, kind, mhsm=False, pl=None, x5t256=None):
    der = certs[kind].public_bytes(serialization.Encoding.DER)
    h = {"alg": alg, "kid": hashlib.sha1(der).hexdigest().upper(), "x5t": b64u(hashlib.sha1(der).digest()),
         "typ": "JWT", "x5t#S256": x5t256 or b64u(hashlib.sha256(der).digest()),
         "x5c": [base64.b64encode(der).decode()]}
    if mhsm:
        h = {"alg": alg, "kid": "b6801cf7-acd2-4428-275f-872cbcb19701", "x5c": h["x5c"], "x5t#S256": h["x5t#S256"]}
    si = (b64u(json.dumps(h).encode()) + "." + b64u(json.dumps(pl or payload()).encode())).encode()
    k = keys[kind]
    if alg == "RS256":
        sig = k.sign(si, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "RS384":
        sig = k.sign(si, padding.PKCS1v15(), hashes.SHA384())
    elif alg == "PS256":
        sig = k.sign(si, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    elif alg in ("ES256", "ES384"):
        n = (k.curve.key_size + 7) // 8
        r, s = utils.decode_dss_signature(k.sign(si, ec.ECDSA(hashes.SHA256() if alg == "ES256" else hashes.SHA384())))
        sig = r.to_bytes(n, "big") + s.to_bytes(n, "big")
    elif alg == "HS256":
        m = hmac.HMAC(der, hashes.SHA256()); m.update(si); sig = m.finalize()
    else:
        sig = b""
    open(name, "w").write(json.dumps({"value": si.decode() + "." + b64u(sig)}))
jws("rs256.json", "RS256", "rsa")
jws("ps256.json", "PS256", "rsa")
jws("es256.json", "ES256", "p256")
jws("es384.json", "ES384", "p384")
jws("mhsm.json", "RS256", "rsa", mhsm=True, pl=payload("h1.managedhsm.azure.net"))
jws("rs384.json", "RS384", "rsa")
jws("hs256.json", "HS256", "rsa")
jws("none.json", "none", "rsa")
jws("es256-on-p384.json", "ES256", "p384")
jws("x5t.json", "RS256", "rsa", x5t256=b64u(b"\0" * 32))
jws("foreign-host.json", "RS256", "rsa", pl=payload("vault.example.com"))
jws("other-family.json", "RS256", "rsa", pl=payload("v1.vault.azure.net.example.com"))
PY
for a in rs256 ps256 es256 es384; do
    run 0 --release-response $a.json --ca-bundle signers.pem
    [ "$(field release.vault)" = keyvault ] && [ "$(field release.exp)" = 2000000000 ] || fail "$a: $(cat out.json)"
done
run 0 --release-response mhsm.json --ca-bundle signers.pem
[ "$(field release.vault)" = managedhsm ] || fail "Managed HSM header shape: $(cat out.json)"
pass_msg "RS256, PS256, ES256, ES384 and the Managed HSM header shape verify with their signer"
for a in rs384 hs256; do
    run 1 --release-response $a.json --ca-bundle signers.pem
    grep -q 'not RS256, PS256, ES256 or ES384' out.json || fail "$a: alg not named: $(cat out.json)"
done
run 1 --release-response none.json --ca-bundle signers.pem
grep -q 'unsigned' out.json || fail "alg none: $(cat out.json)"
run 1 --release-response es256-on-p384.json --ca-bundle signers.pem
grep -q 'signature' out.json || fail "ES256 on a P-384 key: $(cat out.json)"
run 1 --release-response x5t.json --ca-bundle signers.pem
grep -qi 'x5t' out.json || fail "x5t#S256 mismatch not named: $(cat out.json)"
run 1 --release-response foreign-host.json --ca-bundle signers.pem
grep -q 'not under vault.azure.net' out.json || fail "$(cat out.json)"
run 1 --release-response other-family.json --ca-bundle signers.pem
run 1 --release-response rs256.json
pass_msg "RS384, HS256, none, ES256 on P-384, a wrong x5t#S256, a host outside the vault families, an unknown root: exit 1"

# --- transcribed payloads: decoded, never verified
check_unsigned() {
    local file=$1 kty=$2 enc=$3 ver=$4
    run 1 --release-response "$file"
    [ "$(field verified)" = false ] && [ "$(field unverifiable)" = true ] &&
        [ "$(field release.kty)" = "$kty" ] && [ "$(field release.enc)" = "$enc" ] &&
        [ "$(field release.version)" = "$ver" ] && [ "$(field release.exportable)" = true ] ||
        fail "$file: $(cat out.json)"
    grep -q unverifiable out.json || fail "no 'unverifiable' reason"
}
check_unsigned "$T/$MHSM" EC CKM_RSA_AES_KEY_WRAP 6997cf3d4fab4d5b961b424ecf92e63d
check_unsigned "$T/$MHSM_JSON" EC CKM_RSA_AES_KEY_WRAP 6997cf3d4fab4d5b961b424ecf92e63d
check_unsigned "$T/$NET" RSA-HSM CKM_RSA_AES_KEY_WRAP 28538e39bbdb4629b5db5b68da749f89
pass_msg "Managed HSM and .NET transcribed payloads: MANIFEST values, unverifiable, exit 1"

# --- release policies: tokens signed with a test key, verified with --jwks
"$PYTHON" - <<'PY'
import base64, json, time
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
key = rsa.generate_private_key(65537, 2048)
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
n = key.public_key().public_numbers()
json.dump({"keys": [{"kid": "test-kid", "kty": "RSA", "n": b64u(n.n.to_bytes(256, "big")),
                     "e": b64u(n.e.to_bytes(3, "big"))}]}, open("jwks.json", "w"))
def mint(name, iss, tee="sevsnpvm", comp="azure-compliant-cvm", extra=None):
    now = int(time.time())
    h = {"alg": "RS256", "jku": iss.rstrip("/") + "/certs", "kid": "test-kid", "typ": "JWT"}
    c = {"iss": iss, "iat": now, "nbf": now, "exp": now + 3600, "x-ms-attestation-type": "azurevm",
         "x-ms-isolation-tee": {"x-ms-attestation-type": tee, "x-ms-compliance-status": comp}}
    c.update(extra or {})
    si = b64u(json.dumps(h).encode()) + "." + b64u(json.dumps(c).encode())
    sig = key.sign(si.encode(), padding.PKCS1v15(), hashes.SHA256())
    open(name, "w").write(si + "." + b64u(sig) + "\n")
    json.dump(c, open(name + ".claims", "w"))
mint("eus.jwt", "https://sharedeus.eus.attest.azure.net")        # policy lists it with "/"
mint("scus.jwt", "https://sharedscus.scus.attest.azure.net/")    # policy lists it without
mint("tdx.jwt", "https://sharedscus.scus.attest.azure.net", tee="tdxvm")
mint("noncompliant.jwt", "https://sharedeus.eus.attest.azure.net", comp="azure-non-compliant-cvm")
mint("sgx.jwt", "https://sharedeus.eus.attest.azure.net", tee="sgx")
mint("other.jwt", "https://evil.attest.azure.net")
mint("mrsigner.jwt", "https://sharedwus.wus.attest.azure.net",
     extra={"x-ms-sgx-mrsigner": "61b8f05efb4e3b259f3b1bba6b89a1a16784bd4b3b172d00ba22a36c7131d2d5"})
PY
for t in eus scus tdx; do
    run 0 --release-policy "$T/$DISK" --token $t.jwt --jwks jwks.json
    [ "$(field policy.satisfied)" = true ] || fail "$t: $(cat out.json)"
    field policy.authority | grep -q '^https://shared' || fail "$t: no authority named"
done
pass_msg "data-disk policy (26 authorities) holds for sevsnpvm/tdxvm tokens of a listed issuer, with and without trailing /"
run 1 --release-policy "$T/$DISK" --token noncompliant.jwt --jwks jwks.json
[ "$(field policy.failed_claim)" = x-ms-isolation-tee.x-ms-compliance-status ] || fail "$(cat out.json)"
run 1 --release-policy "$T/$DISK" --token sgx.jwt --jwks jwks.json
[ "$(field policy.failed_claim)" = x-ms-isolation-tee.x-ms-attestation-type ] || fail "$(cat out.json)"
run 1 --release-policy "$T/$DISK" --token other.jwt --jwks jwks.json
[ "$(field policy.failed_claim)" = iss ] || fail "$(cat out.json)"
pass_msg "and fails naming the claim: compliance status, TEE type, issuer"
run 1 --release-policy "$T/$DISK" --token eus.jwt
[ "$(field policy.satisfied)" = true ] && [ "$(field token_authenticated)" = false ] || fail "$(cat out.json)"
pass_msg "without signing keys the claims are evaluated but the answer is not 'verified'"
"$PYTHON" -c 'import json,sys; t=open(sys.argv[1]).read(); s=t.split("."); s[1]=s[1][:-3]+("A" if s[1][-3]!="A" else "B")+s[1][-2:]; open("tampered.jwt","w").write(".".join(s))' eus.jwt
run 1 --release-policy "$T/$DISK" --token tampered.jwt --jwks jwks.json
pass_msg "a tampered token is refused before the policy is evaluated"

# --- same verdicts as the emulator's evaluator
"$PYTHON" - "$T/$DISK" "$T/$AKV_POLICY" >cases.txt <<'PY'
import json, os, sys
sys.path.insert(0, os.path.join(os.environ["CVM_SRCDIR"], "tests", "sim"))
import base64, keyvault
unb64 = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
pols = {"disk": json.load(open(sys.argv[1])), "akv": json.load(open(sys.argv[2])),
        "sim": json.loads(unb64(keyvault.release_policy(
            "https://sharedeus.eus.attest.azure.net", tee_types=("sevsnpvm",),
            compliance="azure-compliant-cvm")["data"]))}
for name, pol in pols.items():
    json.dump(pol, open(name + ".policy", "w"))
    for tok in ("eus", "scus", "tdx", "noncompliant", "sgx", "other", "mrsigner"):
        claims = json.load(open(tok + ".jwt.claims"))
        ok, why = keyvault.policy_allows(pol, claims)
        print(name, tok, 0 if ok else 1)
PY
n=0
while read -r pol tok want; do
    run "$want" --release-policy "$pol.policy" --token "$tok.jwt" --jwks jwks.json
    n=$((n + 1))
done <cases.txt
[ "$n" -ge 21 ] || fail "only $n policy cases"
grep -q ' 0$' cases.txt && grep -q ' 1$' cases.txt || fail "the cases do not cover both verdicts"
pass_msg "emulator and agent agree on $n (policy, token) pairs of real and sim policies"
