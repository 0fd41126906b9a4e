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
