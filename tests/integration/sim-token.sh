#!/bin/bash
# Live: tokens minted by cvm-sim's MAA emulator (its /attest/SevSnpVm and
# /attest/TdxVm routes, over HTTPS with the sim's TLS CA) verify with
# `verify --token --certs-url` and through [attestation] url with the
# per-issuer signing-key cache; a wrong signature, an expired token and a
# token whose nbf lies beyond the leeway are exit 1 naming the claim (the
# last with the time-sync hint), nbf within the leeway is accepted; an
# unreachable /certs is exit 3. AzureGuest-shaped tokens signed with the
# emulator's key check the nonce and the transfer key.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
[ -x "$PYTHON" ] || skip "$PYTHON not found"
"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography not installed"
require_cmd openssl
export PYTHONDONTWRITEBYTECODE=1 CVM_AGENT_CONFIG=/dev/null
SIM=$TEST_DIR/sim
SIMDIR=$CVM_SRCDIR/tests/sim
mkdir -p "$SIM/run" "$SIM/logs" "$SIM/faults"
"$PYTHON" "$SIMDIR/pki.py" "$SIM" >/dev/null
"$PYTHON" "$SIMDIR/cvm-sim" serve --dir "$SIM" --service maa --port 0 2>"$SIM/logs/maa.stderr" &
CLEANUP_PIDS+=("$!")
for _ in $(seq 1 200); do [ -s "$SIM/run/maa.json" ] && break; sleep 0.05; done
URL=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$SIM/run/maa.json") ||
    fail "the MAA emulator did not start: $(cat "$SIM/logs/maa.stderr")"
echo "# MAA emulator at $URL"
CA=(-o "http.ca-bundle=$SIM/pki/tls-ca.pem" -o http.attempts=2 -o http.backoff=100ms -o http.deadline=5s)
cd "$TEST_DIR"

# mint KIND OUT [key=value...]: a token from the running emulator (snp, tdx) or
# signed with its key in the test (azurevm, with nbf/exp offsets, kid, transfer key)
mint() {
    "$PYTHON" - "$SIM" "$URL" "$@" <<'PY'
import base64, hashlib, json, os, ssl, sys, time, urllib.request
sys.path.insert(0, os.environ["SIMDIR"])
import maa, signers
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
sim, url, kind, out = sys.argv[1:5]
args = dict(a.split("=", 1) for a in sys.argv[5:])
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
pki = os.path.join(sim, "pki")
if kind in ("snp", "tdx"):
    runtime = json.dumps({"keys": [], "user-data": "00" * 64}).encode()
    rd = hashlib.sha256(runtime).digest() + bytes(32)
    if kind == "snp":
        chain = open(os.path.join(pki, "amd", "vcek.pem"), "rb").read() + \
            open(os.path.join(pki, "amd", "cert_chain.pem"), "rb").read()
        rep = {"SnpReport": b64u(signers.snp_report(pki, report_data=rd)), "VcekCertChain": b64u(chain)}
        body, path = {"report": b64u(json.dumps(rep).encode())}, "/attest/SevSnpVm?api-version=2022-08-01"
    else:
        body, path = {"quote": b64u(signers.tdx_quote(pki, report_data=rd))}, "/attest/TdxVm?api-version=2023-04-01-preview"
    body["runtimeData"] = {"data": b64u(runtime), "dataType": "JSON"}
    if "nonce" in args:
        body["nonce"] = args["nonce"]
    ctx = ssl.create_default_context(cafile=os.path.join(pki, "tls-ca.pem"))
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=60) as r:
        tok = json.load(r)["token"]
else:
    svc = maa.MaaService(sim)
    tk = rsa.generate_private_key(65537, 2048).public_key()
    open(out + ".transfer.pem", "wb").write(tk.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    n, e = maa._jwk_rsa(tk)
    claims = {"x-ms-attestation-type": "azurevm",
              "x-ms-isolation-tee": {"x-ms-attestation-type": "sevsnpvm",
                                     "x-ms-compliance-status": "azure-compliant-cvm"},
              "x-ms-runtime": {"client-payload": {"nonce": base64.b64encode(args.get("nonce", "n").encode()).decode()},
                               "keys": [{"e": e, "key_ops": ["encrypt"], "kid": "TpmEphemeralEncryptionKey",
                                         "kty": "RSA", "n": n}]}}
    # signed here with the emulator's key, as a service whose clock is nbf seconds ahead
    now = int(time.time()) + int(args.get("nbf", 0))
    header = {"alg": "RS256", "jku": url + "/certs", "kid": args.get("kid", svc.kid), "typ": "JWT"}
    claims.update({"exp": now + maa.TOKEN_LIFETIME, "iat": now, "iss": url, "jti": os.urandom(16).hex(), "nbf": now})
    enc = lambda o: b64u(json.dumps(o, separators=(",", ":"), sort_keys=True).encode())
    si = enc(header) + "." + enc(claims)
    tok = si + "." + b64u(svc.key.sign(si.encode(), padding.PKCS1v15(), hashes.SHA256()))
open(out, "w").write(tok + "\n")
PY
}
export SIMDIR

# verify_token WANT_RC WANT_CHECK ARGS...
verify_token() {
    local want_rc=$1 want_check=$2 rc=0
    shift 2
    agent "${CA[@]}" "$@" --json >out.json 2>err.txt || rc=$?
    if [ "$rc" -ne "$want_rc" ]; then
        cat err.txt out.json >&2
        fail "'$*' exited $rc, expected $want_rc"
    fi
    [ "$want_rc" -ne 1 ] || "$PYTHON" -c '
import json, sys; o = json.load(open("out.json"))
assert o["verified"] is False and o["failed_check"] == sys.argv[1], o.get("failed_check")' "$want_check" ||
        fail "'$*': failed_check is not $want_check: $(cat out.json)"
    [ "$want_rc" -ne 0 ] || "$PYTHON" -c 'import json; assert json.load(open("out.json"))["verified"] is True' ||
        fail "'$*': not verified: $(cat out.json)"
}
certs_gets() { grep -c '"target": *"/certs"' "$SIM/logs/maa.log" || true; }

# -- platform tokens from the emulator, keys from --certs-url (issuer = that endpoint)
mint snp snp.jwt nonce=run-1
verify_token 0 - verify --token snp.jwt --certs-url "$URL/certs" --nonce run-1
"$PYTHON" -c 'import json; t = json.load(open("out.json"))["token"]
assert t["attestation_type"] == "sevsnpvm" and t["claims"]["x-ms-compliance-status"] == "azure-compliant-cvm"' ||
    fail "claims not printed"
verify_token 1 nonce verify --token snp.jwt --certs-url "$URL/certs" --nonce run-2
mint tdx tdx.jwt nonce=run-3
verify_token 0 - verify --token tdx.jwt --certs-url "$URL/certs" --nonce run-3
# the same body twice (same nonce) is answered both times: the agent's nonce check is what refuses replays
mint snp snp2.jwt nonce=run-1
verify_token 0 - verify --token snp2.jwt --certs-url "$URL/certs" --nonce run-1
verify_token 1 iss -o attestation.url=https://127.0.0.1:1 verify --token snp.jwt --certs-url "$URL/certs"
pass_msg "emulator tokens verify with --certs-url; nonce and issuer compared"

# -- [attestation] url and the signing-key cache (0600 in a 0700 directory)
ST=$TEST_DIR/state
before=$(certs_gets)
verify_token 0 - --state-dir "$ST" -o "attestation.url=$URL/" verify --token snp.jwt
cache=$(echo "$ST"/maa-signing-keys/*.json)
[ -f "$cache" ] || fail "no signing-key cache under $ST"
[ "$(stat -c %a "$cache")" = 600 ] && [ "$(stat -c %a "$ST/maa-signing-keys")" = 700 ] ||
    fail "cache modes: $(stat -c '%a %n' "$cache" "$ST/maa-signing-keys")"
verify_token 0 - --state-dir "$ST" -o "attestation.url=$URL" verify --token tdx.jwt
[ "$(certs_gets)" -eq $((before + 1)) ] || fail "the cache was not used: $(certs_gets) GET /certs after $before"
# a cached key set without the token's kid: fetched again, once, and the cache updated
"$PYTHON" -c '
import json, sys; c = json.load(open(sys.argv[1])); c["jwks"]["keys"][0]["kid"] = "rotated+/="
json.dump(c, open(sys.argv[1], "w"))' "$cache"
verify_token 0 - --state-dir "$ST" -o "attestation.url=$URL" verify --token snp.jwt
[ "$(certs_gets)" -eq $((before + 2)) ] || fail "unknown kid did not refetch once"
grep -q '"rotated+/="' "$cache" && fail "the cache was not updated"
# a kid the service does not have: one refetch, then "unknown kid"
mint azurevm unknown.jwt kid=nobody+has/this=
verify_token 1 kid --state-dir "$ST" -o "attestation.url=$URL" verify --token unknown.jwt
grep -q "unknown kid 'nobody+has/this='" err.txt || fail "no unknown-kid message: $(cat err.txt)"
[ "$(certs_gets)" -eq $((before + 3)) ] || fail "unknown kid: expected exactly one refetch"
pass_msg "signing keys cached per issuer, refetched once on an unknown kid"

# -- emulator faults: wrong signature, expired token (exit 1 naming the claim)
fault() { curl -sf --cacert "$SIM/pki/tls-ca.pem" -X "$1" "$URL/_sim/faults${3:+/$3}" ${2:+-d "$2"} >/dev/null; }
require_cmd curl
fault POST '{"name":"wrong_signature"}'
mint snp badsig.jwt nonce=run-4
fault DELETE "" wrong_signature
verify_token 1 signature verify --token badsig.jwt --certs-url "$URL/certs"
fault POST '{"name":"expired_token"}'
mint snp expired.jwt nonce=run-5
fault DELETE "" expired_token
verify_token 1 exp verify --token expired.jwt --certs-url "$URL/certs"
grep -q "expired" err.txt || fail "expiry not named: $(cat err.txt)"
pass_msg "wrong signature and expired token refused (signature, exp)"

# -- clock skew: nbf beyond the 5 min leeway names time sync; within it passes
mint azurevm ahead.jwt nbf=600 nonce=abc
verify_token 1 nbf verify --token ahead.jwt --certs-url "$URL/certs"
grep -q "not valid for another 10 min.*check time sync (chrony/NTP)" err.txt || fail "no time-sync hint: $(cat err.txt)"
mint azurevm near.jwt nbf=120 nonce=abc
verify_token 0 - verify --token near.jwt --certs-url "$URL/certs" --nonce abc --transfer-key near.jwt.transfer.pem
verify_token 1 nbf -o attestation.leeway=1m verify --token near.jwt --certs-url "$URL/certs"
verify_token 1 nonce verify --token near.jwt --certs-url "$URL/certs" --nonce abd
verify_token 1 x-ms-runtime.keys verify --token near.jwt --certs-url "$URL/certs" --transfer-key ahead.jwt.transfer.pem
pass_msg "nbf beyond the leeway refused with the time-sync hint, within accepted; nonce and transfer key"

# -- the refusal reasons are in the emulator's request log
"$PYTHON" - "$URL" "$SIM/pki/tls-ca.pem" <<'PY' || fail "refusal not answered 400"
import json, ssl, sys, urllib.error, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2])
req = urllib.request.Request(sys.argv[1] + "/attest/SevSnpVm?api-version=2022-08-01", data=b'{"report":"e30"}',
                             headers={"Content-Type": "application/json"})
try:
    urllib.request.urlopen(req, context=ctx)
    sys.exit(1)
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code == 400 else 1)
PY
grep '"status": *400' "$SIM/logs/maa.log" | grep -q '"reason": *"InvalidParameter: report.SnpReport is missing' ||
    fail "refusal reason not in the request log: $(tail -2 "$SIM/logs/maa.log")"
pass_msg "the emulator logs the refusal reason"

# -- /certs unreachable after retries: exit 3
fault POST '{"name":"server_error","args":{"status":503}}'
verify_token 3 - verify --token snp.jwt --certs-url "$URL/certs"
fault DELETE "" server_error
verify_token 0 - verify --token snp.jwt --certs-url "$URL/certs"
pass_msg "/certs failing after retries is exit 3"
