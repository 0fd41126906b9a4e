#!/bin/bash
# `cvm-agent verify --token` on the real MAA tokens of azure-services/MANIFEST.md:
# the three VALID ones verify at a time inside [iat, exp] with the stated key
# files; the two whose keys were never published give "unknown kid"; one
# changed character (payload or signature), a time after exp, the wrong
# issuer, nonce or transfer key each give exit 1 naming the claim.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
AS=azure-services
MIDNIGHT=$AS/midnightntwrk__midnight-trusted-setup/tee_contribution_attestation.txt
L138=$AS/Azure__confidential-computing-cvm-guest-attestation/derived_ClientLibTests_L138_sharedweu_azurevm.jwt
L643=$AS/Azure__confidential-computing-cvm-guest-attestation/derived_ClientLibTests_L643_sharedeus2_azurevm.jwt
SGX=$AS/Azure__azure-sdk-for-cpp/derived_sharedwus_SgxEnclave_token.jwt
SNPTEST=$AS/Azure-Samples__microsoft-azure-attestation/maa.jwt.verifier.dotnet_sev-snp-jwt.txt
CCF=$AS/microsoft__CCF/assembled_jwks_sharedeus2_J0pAPdf.json
SCRT_EUS2=$AS/scrtlabs__SecretNetwork/derived_jwks_sharedeus2.json
SCRT_WEU=$AS/scrtlabs__SecretNetwork/derived_jwks_sharedweu.json
WUS=$AS/Azure__azure-sdk-for-cpp/derived_sharedwus_GET_certs_response_body.json
require_testdata "$MIDNIGHT" "$L138" "$L643" "$SGX" "$SNPTEST" "$CCF" "$SCRT_EUS2" "$SCRT_WEU" "$WUS"
[ -x "$PYTHON" ] || skip "$PYTHON not found"
T=$CVM_TESTDATA
export CVM_AGENT_CONFIG=/dev/null
cd "$TEST_DIR"

# verify_token WANT_RC WANT_FAILED_CHECK ARGS...: runs verify --token --json,
# checks the exit code, "verified" and (for failures) failed_check and reason.
verify_token() {
    local want_rc=$1 want_check=$2 rc=0
    shift 2
    agent "$@" --json >out.json 2>err.txt || rc=$?
    if [ "$rc" -ne "$want_rc" ]; then
        cat err.txt >&2
        fail "'$*' exited $rc, expected $want_rc"
    fi
    "$PYTHON" - "$want_rc" "$want_check" <<'PY' || fail "'$*': unexpected output: $(cat out.json)"
import json, sys
out = json.load(open("out.json"))
want_rc, want_check = int(sys.argv[1]), sys.argv[2]
assert out["verified"] is (want_rc == 0), out.get("reason")
if want_rc:
    assert out["failed_check"] == want_check, (out["failed_check"], want_check)
    assert out["reason"], "no reason"
else:
    assert "failed_check" not in out and "reason" not in out
    assert out["token"]["claims"]["iss"] == out["token"]["issuer"]
PY
}

# -- the three VALID tokens, with each stated key file, time pinned inside [iat, exp]
verify_token 0 - verify --token "$T/$MIDNIGHT" --jwks "$T/$CCF" --at 2025-12-15T20:00:00Z
verify_token 0 - verify --token "$T/$MIDNIGHT" --jwks "$T/$SCRT_EUS2" --at 2025-12-15T20:00:00Z
verify_token 0 - verify --token "$T/$L138" --jwks "$T/$SCRT_WEU" --at 2023-03-30T12:00:00Z
verify_token 0 - verify --token "$T/$SGX" --jwks "$T/$WUS" --at 2022-06-01T00:00:00Z
# with the issuer configured (trailing slash tolerated), and the claims printed
verify_token 0 - -o attestation.url=https://sharedeus2.eus2.attest.azure.net/ \
    verify --token "$T/$MIDNIGHT" --jwks "$T/$CCF" --at 2025-12-15T20:00:00Z
"$PYTHON" -c '
import json; t = json.load(open("out.json"))["token"]
assert t["tee"] == "sevsnpvm" and t["compliance_status"] == "azure-compliant-cvm", t
assert t["claims"]["x-ms-azurevm-attestation-protocol-ver"] == "3.0"
assert t["expires"] == "2025-12-16T03:24:08Z" and t["kid"].endswith("Ca0=")' ||
    fail "claims not printed as expected"
agent verify --token "$T/$MIDNIGHT" --jwks "$T/$CCF" --at 2025-12-15T20:00:00Z >out.txt 2>/dev/null
grep -q '^verified: yes$' out.txt && grep -q '^token.claims.x-ms-isolation-tee.x-ms-attestation-type: sevsnpvm$' out.txt ||
    fail "text output lacks verified/claims"
pass_msg "three real tokens verify with the stated keys (x5c and n/e JWKS)"

# -- unknown kid: keys never published
verify_token 1 kid verify --token "$T/$L643" --jwks "$T/$CCF" --at 2022-04-15T00:00:00Z
grep -q "unknown kid 'rj/UuoedUDeC1WTpnxBo2fBz+RFnAuC5j4luHsQAaXI='" err.txt || fail "no 'unknown kid' message"
verify_token 1 kid verify --token "$T/$L643" --jwks "$T/$SCRT_EUS2" --at 2022-04-15T00:00:00Z
verify_token 1 kid verify --token "$T/$SNPTEST" --jwks "$T/$SCRT_WEU" --at 2025-04-08T06:00:00Z
grep -q "unknown kid" err.txt || fail "no 'unknown kid' message"
# kid is exact: the sharedweu JWKS has "ZOub...yks" without "=", a token asking for it with "=" is unknown
pass_msg "tokens without published keys: unknown kid, exit 1"

# -- one changed character: in the payload (one bit of a claim value), in the signature
"$PYTHON" - "$T/$MIDNIGHT" <<'PY'
import sys
tok = open(sys.argv[1]).read().strip()
h, p, s = tok.split(".")
A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
flip = lambda c: A[A.index(c) ^ 1]
i = 200  # inside the claims text; flipping the lowest bit keeps it valid JSON
open("payload.jwt", "w").write(".".join([h, p[:i] + flip(p[i]) + p[i + 1:], s]) + "\n")
open("sig.jwt", "w").write(".".join([h, p, s[:100] + flip(s[100]) + s[101:]]) + "\n")
open("sig-last.jwt", "w").write(".".join([h, p, s[:-2] + ("w" if s[-2] != "w" else "g") + s[-1]]))
PY
verify_token 1 signature verify --token payload.jwt --jwks "$T/$CCF" --at 2025-12-15T20:00:00Z
verify_token 1 signature verify --token sig.jwt --jwks "$T/$CCF" --at 2025-12-15T20:00:00Z
verify_token 1 signature verify --token sig-last.jwt --jwks "$T/$SCRT_EUS2" --at 2025-12-15T20:00:00Z
pass_msg "one changed character in payload or signature: exit 1 (signature)"

# -- time: after exp (beyond the 5 min leeway) names expiry; within the leeway passes;
#    before nbf names nbf with the time-sync hint; the real clock rejects it too
verify_token 1 exp verify --token "$T/$MIDNIGHT" --jwks "$T/$CCF" --at 2025-12-16T03:30:00Z
grep -q "expired" err.txt || fail "expiry not named"
verify_token 0 - verify --token "$T/$MIDNIGHT" --jwks "$T/$CCF" --at 2025-12-16T03:28:00Z
verify_token 1 exp verify --token "$T/$MIDNIGHT" --jwks "$T/$CCF"
verify_token 1 exp -o attestation.leeway=0 verify --token "$T/$MIDNIGHT" --jwks "$T/$CCF" --at 2025-12-16T03:24:09Z
verify_token 1 nbf verify --token "$T/$MIDNIGHT" --jwks "$T/$CCF" --at 2025-12-15T19:17:08Z
grep -q "not valid for another 7 min.*check time sync (chrony/NTP)" err.txt || fail "no time-sync hint: $(cat err.txt)"
verify_token 0 - verify --token "$T/$MIDNIGHT" --jwks "$T/$CCF" --at 2025-12-15T19:20:08Z
pass_msg "exp/nbf with the leeway; expiry and clock skew named"

# -- issuer, nonce (base64 of the string passed, as MAA echoes it), transfer key (by modulus)
verify_token 1 iss -o attestation.url=https://sharedweu.weu.attest.azure.net \
    verify --token "$T/$MIDNIGHT" --jwks "$T/$CCF" --at 2025-12-15T20:00:00Z
verify_token 0 - verify --token "$T/$MIDNIGHT" --jwks "$T/$CCF" --at 2025-12-15T20:00:00Z --nonce midnight-srs
verify_token 1 nonce verify --token "$T/$MIDNIGHT" --jwks "$T/$CCF" --at 2025-12-15T20:00:00Z --nonce midnight-srt
verify_token 0 - verify --token "$T/$L138" --jwks "$T/$SCRT_WEU" --at 2023-03-30T12:00:00Z --nonce ADE0101
"$PYTHON" - "$T/$MIDNIGHT" <<'PY'
import base64, json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
p = open(sys.argv[1]).read().strip().split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
d = lambda s: int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")
pem = lambda k: k.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
def write(name, jwk):
    open(name, "wb").write(pem(rsa.RSAPublicNumbers(d(jwk["e"]), d(jwk["n"])).public_key()))
write("transfer.pem", claims["x-ms-runtime"]["keys"][0])            # TpmEphemeralEncryptionKey
write("hclek.pem", claims["x-ms-isolation-tee"]["x-ms-runtime"]["keys"][1])   # not the transfer key
PY
verify_token 0 - verify --token "$T/$MIDNIGHT" --jwks "$T/$CCF" --at 2025-12-15T20:00:00Z --transfer-key transfer.pem
verify_token 1 x-ms-runtime.keys verify --token "$T/$MIDNIGHT" --jwks "$T/$CCF" --at 2025-12-15T20:00:00Z --transfer-key hclek.pem
pass_msg "issuer, nonce and transfer key compared"

# -- usage errors are exit 2, not "not verified"
expect_rc 2 agent verify --token "$T/$MIDNIGHT" --at 2025-12-15T20:00:00Z
expect_rc 2 agent verify --token "$T/$MIDNIGHT" --jwks "$T/$CCF" --certs-url https://x/certs
expect_rc 2 agent verify --token "$T/$MIDNIGHT" --jwks "$T/$MIDNIGHT"
expect_rc 2 agent verify --token "$TEST_DIR/missing" --jwks "$T/$CCF"
printf 'not a token\n' >junk.jwt
verify_token 1 token verify --token junk.jwt --jwks "$T/$CCF"
pass_msg "usage errors exit 2, a malformed token exit 1"
