#!/bin/bash
# A quote made through tpm/ (tpm_quote) verifies with tpm2_checkquote with the
# right nonce and fails with a wrong one; `cvm-agent verify --tpm-quote` agrees,
# checks PCR values from our JSON and from tpm2_pcrread YAML, and rejects a
# changed PCR value, message byte or signature byte.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$CVM_SRCDIR/tests/integration/tpm-lib.sh"
require_cmd tpm2_checkquote tpm2_pcrread tpm2_pcrextend
vtpm_start
cd "$TEST_DIR"

echo -n "some event" >ev
driver pcr-extend --pcrs sha256:7 --in ev || fail "pcr-extend failed"
nonce=0123456789abcdeffedcba9876543210
driver quote --pcrs sha256:0-7,16 --nonce "$nonce" --msg q.msg --sig q.sig || fail "quote failed"
no_leaks "quote"
[ "$(od -An -tx1 -N6 q.msg | tr -d ' ')" = "ff5443478018" ] || fail "q.msg is not a TPMS_ATTEST quote"

tpm2_checkquote -u "$VTPM/ak.pub.pem" -m q.msg -s q.sig -g sha256 -q "$nonce" >/dev/null ||
    fail "tpm2_checkquote rejects our quote"
pass_msg "tpm2_checkquote verifies the quote with the right nonce"
if tpm2_checkquote -u "$VTPM/ak.pub.pem" -m q.msg -s q.sig -g sha256 -q 00112233 >/dev/null 2>&1; then
    fail "tpm2_checkquote accepted a wrong nonce"
fi
pass_msg "tpm2_checkquote rejects a wrong nonce"

driver pcr-read --pcrs sha256:0-23 --out pcrs.json || fail "pcr-read failed"
tpm2_pcrread sha256:0,1,2,3,4,5,6,7,16 >pcrs.yaml
no_leaks "pcr-read"
expect_rc 0 agent verify --tpm-quote q.msg --tpm-signature q.sig --ak-pub "$VTPM/ak.pub.pem" \
    --nonce "$nonce" --pcrs pcrs.json
expect_rc 0 agent verify --tpm-quote q.msg --tpm-signature q.sig --ak-pub "$VTPM/ak.pub" \
    --nonce "$nonce" --pcrs pcrs.yaml
expect_rc 0 agent verify --tpm-quote q.msg --tpm-signature q.sig --ak-pub "$VTPM/ak-cert.der" \
    --nonce "$nonce"
agent verify --tpm-quote q.msg --tpm-signature q.sig --ak-pub "$VTPM/ak.pub.pem" --nonce "$nonce" \
    --json >out.json || fail "verify --json failed"
grep -q '"nonce":[[:space:]]*"'"$nonce"'"' out.json || fail "nonce not in JSON output"
pass_msg "cvm-agent verify accepts the quote (PCRs from JSON and tpm2_pcrread YAML; AK as PEM, TPM2B_PUBLIC or its certificate)"

expect_rc 1 agent verify --tpm-quote q.msg --tpm-signature q.sig --ak-pub "$VTPM/ak.pub.pem" --nonce 00112233
# PCR 7 extended after the quote: the PCR digest no longer matches
driver pcr-extend --pcrs sha256:7 --in ev || fail "pcr-extend failed"
driver pcr-read --pcrs sha256:0-23 --out pcrs2.json || fail "pcr-read failed"
agent verify --tpm-quote q.msg --tpm-signature q.sig --ak-pub "$VTPM/ak.pub.pem" --nonce "$nonce" \
    --pcrs pcrs2.json 2>err && fail "verify accepted changed PCR values"
grep -q "PCR digest mismatch" err || fail "wrong reason: $(cat err)"
# a quote over PCR 16 without a value for it
"$PYTHON" -c 'import json,sys; d=json.load(open("pcrs.json")); del d["sha256"]["16"]; json.dump(d,open("pcrs3.json","w"))'
expect_rc 1 agent verify --tpm-quote q.msg --tpm-signature q.sig --ak-pub "$VTPM/ak.pub.pem" --pcrs pcrs3.json \
    --nonce "$nonce"
head -c 122 /dev/urandom >junk.msg
agent verify --tpm-quote junk.msg --tpm-signature q.sig --ak-pub "$VTPM/ak.pub.pem" 2>err && fail "junk accepted"
grep -q "not a well-formed TPMS_ATTEST" err || fail "wrong reason for junk: $(cat err)"
cp q.msg bad.msg; printf '\x01' | dd of=bad.msg bs=1 seek=40 conv=notrunc 2>/dev/null
expect_rc 1 agent verify --tpm-quote bad.msg --tpm-signature q.sig --ak-pub "$VTPM/ak.pub.pem"
cp q.sig bad.sig; printf '\x55' | dd of=bad.sig bs=1 seek=100 conv=notrunc 2>/dev/null
expect_rc 1 agent verify --tpm-quote q.msg --tpm-signature bad.sig --ak-pub "$VTPM/ak.pub.pem"
pass_msg "cvm-agent verify rejects a wrong nonce, changed PCRs, a missing PCR value, a changed message or signature"

# without --nonce a replayed quote would pass: not verified unless the check is
# skipped explicitly, which the output records
out=$(agent verify --tpm-quote q.msg --tpm-signature q.sig --ak-pub "$VTPM/ak.pub.pem" --pcrs pcrs.json --json 2>/dev/null) &&
    fail "a quote without --nonce verified"
"$PYTHON" -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["failed_check"] == "nonce" and "no --nonce" in o["reason"], o' "$out" ||
    fail "no-nonce reason: $out"
agent verify --tpm-quote q.msg --tpm-signature q.sig --ak-pub "$VTPM/ak.pub.pem" --pcrs pcrs.json --no-nonce-check \
    --json >nn.json || fail "--no-nonce-check"
"$PYTHON" -c 'import json; o=json.load(open("nn.json")); assert o["nonce_checked"] is False and "skipped" in o["nonce_check"], o
assert o["trust_anchor"].startswith("non-production: the AK public key"), o' || fail "--no-nonce-check output: $(cat nn.json)"
expect_rc 2 agent verify --tpm-quote q.msg --tpm-signature q.sig --ak-pub "$VTPM/ak.pub.pem" --nonce "$nonce" --no-nonce-check
# an event log beside the quote is checked, not dropped: garbage fails it
head -c 200 /dev/urandom >junk.log
expect_rc 1 agent verify --tpm-quote q.msg --tpm-signature q.sig --ak-pub "$VTPM/ak.pub.pem" --nonce "$nonce" --event-log junk.log
# an event log that replays to the quoted PCRs verifies through the quote's digest
"$PYTHON" - <<'PY'
import os, sys
sys.path.insert(0, os.path.join(os.environ["CVM_SRCDIR"], "tests", "sim"))
import tcglog
for name, data in (("ev.log", b"some event"), ("ev2.log", b"another event")):
    open(name, "wb").write(tcglog.build([(7, 0x80000007, data)], algs=(0x000B,))[0])
PY
agent verify --tpm-quote q.msg --tpm-signature q.sig --ak-pub "$VTPM/ak.pub.pem" --nonce "$nonce" \
    --event-log ev.log --json >ev.json || fail "the event log of the quoted PCRs: $(cat ev.json)"
grep -q '"note":.*TPM quote.s PCR digest' ev.json || fail "event log not compared through the quote: $(cat ev.json)"
expect_rc 1 agent verify --tpm-quote q.msg --tpm-signature q.sig --ak-pub "$VTPM/ak.pub.pem" --nonce "$nonce" --event-log ev2.log
pass_msg "no --nonce is not verified; --no-nonce-check is recorded; an event log beside the quote is checked"

# Several banks in one quote (SHA-1, SHA-256, SHA-384; swtpm has all four)
MULTI=sha1:0-7+sha256:0,7,16+sha384:0,23
driver quote --pcrs "$MULTI" --nonce "$nonce" --msg m.msg --sig m.sig || fail "multi-bank quote failed"
tpm2_checkquote -u "$VTPM/ak.pub.pem" -m m.msg -s m.sig -g sha256 -q "$nonce" >/dev/null ||
    fail "tpm2_checkquote rejects the multi-bank quote"
driver pcr-read --pcrs sha1:all+sha256:all+sha384:all+sha512:all --out all.json || fail "pcr-read of 4 banks failed"
tpm2_pcrread sha1:0,1,2,3,4,5,6,7+sha256:0,7,16+sha384:0,23 >multi.yaml
expect_rc 0 agent verify --tpm-quote m.msg --tpm-signature m.sig --ak-pub "$VTPM/ak.pub.pem" \
    --nonce "$nonce" --pcrs all.json
expect_rc 0 agent verify --tpm-quote m.msg --tpm-signature m.sig --ak-pub "$VTPM/ak.pub.pem" \
    --nonce "$nonce" --pcrs multi.yaml
agent verify --tpm-quote m.msg --tpm-signature m.sig --ak-pub "$VTPM/ak.pub.pem" --nonce "$nonce" --json >m.json
"$PYTHON" - <<'PY' || fail "multi-bank selection not reported"
import json
d = json.load(open("m.json"))
assert d["pcr_selection"] == {"sha1": list(range(8)), "sha256": [0, 7, 16], "sha384": [0, 23]}, d
PY
"$PYTHON" -c 'import json; d=json.load(open("all.json")); d["sha384"]["23"]="11"*48; json.dump(d,open("bad.json","w"))'
expect_rc 1 agent verify --tpm-quote m.msg --tpm-signature m.sig --ak-pub "$VTPM/ak.pub.pem" --pcrs bad.json \
    --nonce "$nonce"
no_leaks "multi-bank quote"
pass_msg "a quote over SHA-1, SHA-256 and SHA-384 banks verifies (tpm2_checkquote, cvm-agent) and a changed SHA-384 PCR fails"

# A different AK handle is configurable; a missing one is an error, not a crash.
expect_rc 4 driver quote --ak 0x81000009 --pcrs sha256:0 --msg x.msg --sig x.sig
no_leaks "the whole test"
pass_msg "no handle leaks"
