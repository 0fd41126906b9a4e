#!/bin/bash
# `cvm-agent evidence` and `cvm-agent attest` end to end against cvm-sim (SNP
# and TDX flavours) with nothing but `. DIR/env`: the evidence files are all
# there, tpm2_checkquote verifies quote.msg/quote.sig against ak.pub.pem with
# the nonce (and refuses another nonce or an altered quote), the quote covers
# pcrs.json and TPM2_Certify covers transfer-key.pub; attest gets a token from
# the MAA emulator, opens it in the vTPM, verifies it and writes it 0600.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_cmd swtpm tpm2_checkquote openssl
"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography missing for $PYTHON"
export PYTHONDONTWRITEBYTECODE=1
SIMCTL="$CVM_SRCDIR/tests/sim/cvm-sim"
SIM="$TEST_DIR/sim"
on_exit "'$SIMCTL' down --dir '$SIM' >/dev/null 2>&1"

check_evidence_dir() { # DIR NONCE TEE
    "$PYTHON" - "$1" "$2" "$3" "$CVM_SRCDIR/tests/sim" <<'PY'
import hashlib, json, os, sys
d, nonce, tee, simdir = sys.argv[1:5]
sys.path.insert(0, simdir)
import tpmstructs as ts
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
names = ["hcl-report.bin", "hw-report.bin", "quote.msg", "quote.sig", "pcrs.json", "ak.pub.pem",
         "ak-cert.der", "event-log.bin", "transfer-key.pub", "certify.msg", "certify.sig",
         "evidence.json", "vcek-chain.pem" if tee == "snp" else "td-quote.bin"]
missing = [n for n in names if not os.path.exists(os.path.join(d, n))]
assert not missing, "missing evidence files: %s" % missing
rd = lambda n: open(os.path.join(d, n), "rb").read()
q = ts.Attest(rd("quote.msg"))
assert q.type == ts.TPM_ST_ATTEST_QUOTE and q.extra_data == bytes.fromhex(nonce), "quote nonce"
pcrs = json.loads(rd("pcrs.json"))["sha256"]
assert sorted(map(int, pcrs)) == list(range(8)), pcrs
assert q.pcr_digest == ts.pcr_digest([bytes.fromhex(pcrs[str(i)]) for i in range(8)]), \
    "the quote's pcrDigest is not the digest of pcrs.json"
ak = serialization.load_pem_public_key(rd("ak.pub.pem"))
c = ts.Attest(rd("certify.msg"))
tk = ts.Public(rd("transfer-key.pub"), sized=True)
assert c.type == ts.TPM_ST_ATTEST_CERTIFY and c.certified_name == tk.name(), "certify names another key"
ak.verify(ts.Signature(rd("certify.sig")).sig, rd("certify.msg"), padding.PKCS1v15(), hashes.SHA256())
assert tk.auth_policy == ts.policy_pcr_digest([bytes.fromhex(pcrs[str(i)]) for i in range(8)])
ev = json.loads(rd("evidence.json"))
assert ev["tee"] == {"snp": "sevsnpvm", "tdx": "tdxvm"}[tee] and ev["nonce"] == nonce, ev["tee"]
hw = rd("hw-report.bin")
assert len(hw) == (1184 if tee == "snp" else 1024), len(hw)
assert rd("hcl-report.bin")[32:32 + len(hw)] == hw
assert hashlib.sha256(rd("event-log.bin")).digest() and rd("ak-cert.der")[:1] == b"\x30"
print("evidence files consistent (%d files)" % len(names))
PY
}

for tee in snp tdx; do
    "$SIMCTL" up --dir "$SIM" --tee "$tee" >"$TEST_DIR/up.log" 2>&1 || { cat "$TEST_DIR/up.log"; fail "cvm-sim up --tee $tee"; }
    # shellcheck disable=SC1091
    (. "$SIM/env"
     nonce=$(openssl rand -hex 20)
     ev="$TEST_DIR/ev-$tee"
     expect_rc 0 agent -q evidence --out-dir "$ev" --nonce "$nonce"
     check_evidence_dir "$ev" "$nonce" "$tee" || fail "$tee: evidence files inconsistent"
     tpm2_checkquote -u "$ev/ak.pub.pem" -m "$ev/quote.msg" -s "$ev/quote.sig" -g sha256 \
         -q "$nonce" >/dev/null || fail "$tee: tpm2_checkquote refused our quote"
     ! tpm2_checkquote -u "$ev/ak.pub.pem" -m "$ev/quote.msg" -s "$ev/quote.sig" -g sha256 \
         -q "$(openssl rand -hex 20)" >/dev/null 2>&1 || fail "$tee: tpm2_checkquote took another nonce"
     cp "$ev/quote.msg" "$TEST_DIR/bad.msg"
     printf '\x01' | dd of="$TEST_DIR/bad.msg" bs=1 seek=60 conv=notrunc 2>/dev/null
     ! tpm2_checkquote -u "$ev/ak.pub.pem" -m "$TEST_DIR/bad.msg" -s "$ev/quote.sig" -g sha256 \
         -q "$nonce" >/dev/null 2>&1 || fail "$tee: tpm2_checkquote took an altered quote"
     pass_msg "$tee: evidence --out-dir: tpm2_checkquote verifies the quote with the nonce, refuses other nonce / altered quote"

     agent -q evidence --json >"$TEST_DIR/ev.json" || fail "$tee: evidence --json"
     "$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["nonce"]) == 64 and d["quote"]["msg"], d.keys()' \
         "$TEST_DIR/ev.json" || fail "$tee: evidence --json without --nonce lacks a random nonce or the quote"
     expect_rc 2 agent -q evidence --nonce zz
     expect_rc 4 agent -q -T swtpm:host=127.0.0.1,port=1 evidence
     expect_rc 4 agent -q -T swtpm:host=127.0.0.1,port=1 attest

     n2=$(openssl rand -hex 16)
     agent -q -o attestation.client-payload=app=cvm-agent attest --nonce "$n2" --token-out "$TEST_DIR/token-$tee.jwt" --json >"$TEST_DIR/attest.json" ||
         fail "$tee: attest failed"
     [ "$(stat -c %a "$TEST_DIR/token-$tee.jwt")" = 600 ] || fail "$tee: token file is not 0600"
     "$PYTHON" - "$TEST_DIR/attest.json" "$TEST_DIR/token-$tee.jwt" "$n2" "$tee" <<'PY' || fail "$tee: attest output wrong"
import base64, json, sys
out = json.load(open(sys.argv[1]))
tok = open(sys.argv[2]).read()
assert out["verified"] is True and out["token"] == tok, out.keys()
p = tok.split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
assert claims["x-ms-runtime"]["client-payload"]["nonce"] == base64.b64encode(sys.argv[3].encode()).decode()
assert claims["x-ms-runtime"]["client-payload"]["app"] == base64.b64encode(b"cvm-agent").decode()
assert claims["x-ms-isolation-tee"]["x-ms-attestation-type"] == {"snp": "sevsnpvm", "tdx": "tdxvm"}[sys.argv[4]]
assert out["tee"] == claims["x-ms-isolation-tee"]["x-ms-attestation-type"]
PY
     expect_rc 0 agent -q attest
     # a loopback endpoint is never reached through a proxy (a dead one here)
     https_proxy=http://127.0.0.1:1 HTTPS_PROXY=http://127.0.0.1:1 http_proxy=http://127.0.0.1:1 \
         expect_rc 0 agent -q attest
     expect_rc 2 agent -q -o attestation.url= attest
     expect_rc 2 agent -q -o attestation.client-payload=nonce=x attest
     expect_rc 2 agent -q -o attestation.client-payload=a=1 -o attestation.client-payload=a=2 attest
     expect_rc 2 agent -q -o attestation.client-payload=novalue attest
     pass_msg "$tee: attest (no options) gets, opens and verifies an MAA token; --token-out 0600, nonce and client-payload echoed; bad client-payload exit 2"
     # injected OS fields, another api-version, no event log: still a token
     printf 'NAME="Test OS"\nVERSION_ID="22.04"\n' >"$TEST_DIR/os-release"
     agent -q -o "attestation.os-release=$TEST_DIR/os-release" -o attestation.api-version=2025-06-01 \
         -o attestation.event-log=/nonexistent attest --json >"$TEST_DIR/os.json" ||
         fail "$tee: attest with os-release/api-version/no event log failed"
     "$PYTHON" -c 'import json,sys; c=json.load(open(sys.argv[1]))["claims"]
assert c["x-ms-azurevm-osdistro"] == "Test OS" and c["x-ms-azurevm-osversion-major"] == 22 \
    and c["x-ms-azurevm-osversion-minor"] == 4, c' "$TEST_DIR/os.json" || fail "$tee: OS claims wrong"
     grep -q '"target": "/attest/AzureGuest?api-version=2025-06-01"' "$SIM/logs/maa.log" ||
         fail "$tee: api-version not sent"
     agent -q -o attestation.event-log=/nonexistent evidence --out-dir "$TEST_DIR/ev-nolog-$tee" >/dev/null ||
         fail "$tee: evidence without an event log failed"
     [ ! -e "$TEST_DIR/ev-nolog-$tee/event-log.bin" ] || fail "$tee: event-log.bin written without a log"
     pass_msg "$tee: OS fields from os-release, api-version and a missing event log handled"

     own=$([ "$tee" = snp ] && echo sevsnpvm || echo tdxvm)
     other=$([ "$tee" = snp ] && echo tdxvm || echo sevsnpvm)
     n3=$(openssl rand -hex 8)
     agent -q -o "attestation.protocol=$own" attest --nonce "$n3" --json >"$TEST_DIR/plat.json" ||
         fail "$tee: attest with the $own platform protocol failed"
     "$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d["claims"]
assert d["verified"] and c["x-ms-attestation-type"] == sys.argv[2] and c["nonce"] == sys.argv[3], c' \
         "$TEST_DIR/plat.json" "$own" "$n3" || fail "$tee: platform token claims wrong"
     expect_rc 2 agent -q -o "attestation.protocol=$other" attest
     pass_msg "$tee: protocol $own: a verified platform token echoing the nonce; $other refused (exit 2)"
     expect_rc 2 agent -q -o attestation.protocol=bogus attest
     expect_rc 2 agent -q -o attestation.expect-tee=sgx attest
     expect_rc 1 agent -q -o attestation.expect-tee="$([ "$tee" = snp ] && echo tdxvm || echo sevsnpvm)" attest
     pass_msg "$tee: bad protocol/expect-tee exit 2; the other TEE expected exit 1"
     # the token cache: reused while the platform state is the same, never
     # for --nonce, never from a file others could write, not after a PCR change
     cache="$TEST_DIR/token-cache-$tee.json"
     jq_cached() { "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["cached"])'; }
     [ "$(agent -q -o "attestation.token-cache=$cache" attest --json | jq_cached)" = False ] ||
         fail "$tee: first run used a cache"
     [ "$(stat -c %a "$cache")" = 600 ] || fail "$tee: token cache is not 0600"
     [ "$(agent -q -o "attestation.token-cache=$cache" attest --json | jq_cached)" = True ] ||
         fail "$tee: second run did not reuse the cached token"
     [ "$(agent -q -o "attestation.token-cache=$cache" attest --nonce 00ff --json | jq_cached)" = False ] ||
         fail "$tee: --nonce reused a cached token"
     chmod 0644 "$cache"
     err=$(agent -v -o "attestation.token-cache=$cache" attest 2>&1 >/dev/null) || fail "$tee: attest with a 0644 cache"
     grep -q "not a private (0600, ours) file" <<<"$err" || fail "$tee: a 0644 cache was used: $err"
     tpm2_pcrextend "7:sha256=$(openssl rand -hex 32)" || fail "tpm2_pcrextend"
     rc=0; err=$(agent -v -o "attestation.token-cache=$cache" attest 2>&1 >/dev/null) || rc=$?
     grep -q "platform state changed since the cached token" <<<"$err" ||
         fail "$tee: the cached token was used after PCR7 changed: $err"
     [ "$rc" = 1 ] || fail "$tee: after PCR7 changed (log no longer replays) MAA should refuse: exit $rc"
     pass_msg "$tee: token cache: reused (0600) for the same state; not for --nonce, a 0644 file or a changed PCR7"

     [ -z "$(tpm2_getcap handles-transient 2>/dev/null)" ] || fail "$tee: transient handles left in the TPM"
    ) || exit 1
    "$SIMCTL" down --dir "$SIM" >/dev/null
done
