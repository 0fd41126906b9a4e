#!/bin/bash
# verify --evidence-dir against cvm-sim (SNP and TDX, one simulation per
# flavour shared by all cases): what `evidence --out-dir` wrote verifies
# (exit 0); every piece altered, swapped or missing is exit 1 with
# failed_check naming it; options that do not apply are exit 2. Also
# --hcl-report with --tpm-quote: the AK is the HCL report's HCLAkPub.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_cmd swtpm openssl tpm2_pcrextend
"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography missing for $PYTHON"
export PYTHONDONTWRITEBYTECODE=1
SIMCTL="$CVM_SRCDIR/tests/sim/cvm-sim"
SIM="$TEST_DIR/sim"
on_exit "'$SIMCTL' down --dir '$SIM' >/dev/null 2>&1"

flip() { # FILE OFFSET: xor one byte (negative OFFSET counts from the end)
    "$PYTHON" - "$1" "$2" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read())
b[off] ^= 0x01
open(p, "wb").write(b)
PY
}

jedit() { # FILE PYTHON: rewrite the JSON file d with the statement
    "$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); exec(sys.argv[2]); json.dump(d, open(sys.argv[1], "w"))' "$1" "$2"
}

# mutate NAME WANT_FAILED_CHECK EDIT [VERIFY ARGS...]: a copy of the good
# evidence, EDIT run in it, then verify must say no (exit 1) naming the piece.
mutate() {
    local name=$1 want=$2 edit=$3 d rc=0
    shift 3
    d="$TEST_DIR/m-$tee-$name"
    rm -rf "$d"
    cp -r "$EV" "$d"
    (cd "$d" && eval "$edit") || fail "$tee/$name: could not alter the evidence"
    agent -q verify --evidence-dir "$d" --json "$@" >"$d.out" 2>"$d.err" || rc=$?
    [ "$rc" = 1 ] || fail "$tee/$name: exit $rc, expected 1: $(cat "$d.out" "$d.err")"
    "$PYTHON" - "$d.out" "$want" <<'PY' || fail "$tee/$name: wrong answer: $(cat "$d.out")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["verified"] is False and o["failed_check"] == sys.argv[2], (o.get("failed_check"), o.get("reason"))
assert o["reason"].startswith(sys.argv[2] + ": "), o["reason"]
PY
    echo "  $name: failed_check $want"
}

# the byte offset of the SHA-256 digest of the last PCR 0-7 event
log_digest_offset() {
    "$PYTHON" - "$1" "$CVM_SRCDIR/tests/sim" <<'PY'
import struct, sys
sys.path.insert(0, sys.argv[2])
import tcglog
b = open(sys.argv[1], "rb").read()
sizes, events = tcglog.parse(b)
e = [e for e in events if e["pcr"] < 8 and e["type"] != 3][-1]
p = e["offset"] + 12
while struct.unpack_from("<H", b, p)[0] != 0x000B:
    p += 2 + sizes[struct.unpack_from("<H", b, p)[0]]
print(p + 2)
PY
}

for tee in snp tdx; do
    "$SIMCTL" up --dir "$SIM" --tee "$tee" >"$TEST_DIR/up.log" 2>&1 || { cat "$TEST_DIR/up.log"; fail "cvm-sim up --tee $tee"; }
    # shellcheck disable=SC1091
    (. "$SIM/env"
     nonce=$(openssl rand -hex 20)
     EV="$TEST_DIR/ev-$tee"
     expect_rc 0 agent -q evidence --out-dir "$EV" --nonce "$nonce"
     agent -q verify --evidence-dir "$EV" --nonce "$nonce" --json >"$TEST_DIR/ok.json" ||
         fail "$tee: verify --evidence-dir of fresh evidence: $(cat "$TEST_DIR/ok.json")"
     "$PYTHON" - "$TEST_DIR/ok.json" "$tee" "$nonce" <<'PY' || fail "$tee: the answer lacks a piece"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["verified"] is True and o["tee"] == {"snp": "sevsnpvm", "tdx": "tdxvm"}[sys.argv[2]]
for k in ("hcl_report", "tpm_quote", "event_log", "transfer_key"):
    assert o[k]["verified"] is True, k
assert o["tpm_quote"]["ak_source"] == "HCLAkPub of the HCL report" and o["tpm_quote"]["nonce"] == sys.argv[3]
assert o["ak_cert"]["chain_verified"] is False and o["ak_cert"]["holds_ak"] is True
assert o["files"]["evidence_json_consistent"] is True
assert (o["hcl_report"]["snp"]["verified"] if sys.argv[2] == "snp" else o["hcl_report"]["td_quote_verified"])
PY
     pass_msg "$tee: evidence --out-dir, then verify --evidence-dir --nonce: verified, every piece checked"

     agent -q verify --evidence-dir "$EV" --no-nonce-check --json >"$TEST_DIR/nn.json" ||
         fail "$tee: --no-nonce-check refused"
     grep -q '"nonce_check":.*skipped' "$TEST_DIR/nn.json" || fail "$tee: --no-nonce-check not recorded"
     expect_rc 1 agent -q verify --evidence-dir "$EV"
     pass_msg "$tee: --no-nonce-check recorded; no nonce at all is a no"

     hw=$([ "$tee" = snp ] && echo $((32 + 0x90)) || echo $((32 + 600)))
     other=$(openssl genrsa 2048 2>/dev/null | openssl rsa -pubout 2>/dev/null)
     openssl req -x509 -newkey rsa:2048 -nodes -keyout /dev/null -subj /CN=other -days 1 \
         -outform DER -out "$TEST_DIR/other-cert.der" 2>/dev/null
     signer=$([ "$tee" = snp ] && echo vcek-chain.pem || echo td-quote.bin)
     echo "$tee: altered evidence"
     mutate quote-msg quote.msg+quote.sig 'flip quote.msg 60' --nonce "$nonce"
     mutate quote-sig quote.msg+quote.sig 'flip quote.sig -10' --nonce "$nonce"
     mutate hcl-hw hcl-report.bin "flip hcl-report.bin $hw" --nonce "$nonce"
     mutate hcl-runtime hcl-report.bin 'flip hcl-report.bin 1250' --nonce "$nonce"
     mutate certify-msg certify.msg+certify.sig 'flip certify.msg -1' --nonce "$nonce"
     mutate certify-sig certify.msg+certify.sig 'flip certify.sig -1' --nonce "$nonce"
     mutate transfer-key transfer-key.pub 'flip transfer-key.pub -1' --nonce "$nonce"
     mutate event-log event-log.bin 'flip event-log.bin $(log_digest_offset event-log.bin)' --nonce "$nonce"
     mutate pcrs pcrs.json "jedit pcrs.json 'v=d[\"sha256\"][\"3\"]; d[\"sha256\"][\"3\"]=v[:-1]+(\"0\" if v[-1]!=\"0\" else \"1\")'" --nonce "$nonce"
     mutate ak-pub ak.pub.pem "printf '%s\n' \"$other\" >ak.pub.pem" --nonce "$nonce"
     mutate ak-pub-garbage ak.pub.pem 'echo garbage >ak.pub.pem' --nonce "$nonce"
     mutate pcrs-garbage pcrs.json 'echo "{" >pcrs.json' --nonce "$nonce"
     mutate ak-cert ak-cert.der "cp '$TEST_DIR/other-cert.der' ak-cert.der" --nonce "$nonce"
     mutate hw-report hw-report.bin 'flip hw-report.bin 100' --nonce "$nonce"
     mutate evidence-json evidence.json "jedit evidence.json 'd[\"nonce\"]=\"00\"+d[\"nonce\"]'" --nonce "$nonce"
     mutate evidence-json-pcrs evidence.json "jedit evidence.json 'd[\"pcrs\"][\"sha256\"][\"0\"]=\"00\"*32'" --nonce "$nonce"
     mutate signer "$([ "$tee" = snp ] && echo vcek-chain.pem || echo td-quote.bin)" \
         "flip $signer $([ "$tee" = snp ] && echo 200 || echo 700)" --nonce "$nonce"
     mutate nonce nonce : --nonce "$(openssl rand -hex 20)"
     for f in certify.sig quote.msg pcrs.json evidence.json hcl-report.bin "$signer"; do
         mutate "missing-$f" "$f" "rm $f" --nonce "$nonce"
     done
     mutate missing-log event-log.bin 'rm event-log.bin' --nonce "$nonce"
     pass_msg "$tee: each altered, swapped or missing piece is exit 1 with failed_check naming it"

     # no event log collected: evidence.json says so, and the rest verifies
     n2=$(openssl rand -hex 8)
     agent -q -o attestation.event-log=/nonexistent evidence --out-dir "$TEST_DIR/nolog-$tee" --nonce "$n2" >/dev/null ||
         fail "$tee: evidence without a log"
     expect_rc 0 agent -q verify --evidence-dir "$TEST_DIR/nolog-$tee" --nonce "$n2"
     pass_msg "$tee: evidence without an event log (evidence.json: null) verifies"

     for opt in "--vcek $EV/vcek-chain.pem" "--cert-chain x" "--tpm-signature x" "--ak-pub x" \
         "--pcrs x" "--event-log x" "--td-quote x" "--vmpl 0" "--nonce zz"; do
         # shellcheck disable=SC2086
         expect_rc 2 agent -q verify --evidence-dir "$EV" --nonce "$nonce" $opt
     done
     if [ "$tee" = snp ]; then
         expect_rc 2 agent -q verify --evidence-dir "$EV" --nonce "$nonce" --tcb-info x
     else
         expect_rc 2 agent -q verify --evidence-dir "$EV" --nonce "$nonce" --host-data 00
     fi
     expect_rc 2 agent -q verify --evidence-dir "$TEST_DIR/nonexistent" --nonce "$nonce"
     expect_rc 2 agent -q verify --evidence-dir "$EV" --snp-report "$EV/hw-report.bin"
     expect_rc 1 agent -q verify --evidence-dir "$EV" --nonce "$nonce" --measurement "$(printf '%096d' 0)"
     pass_msg "$tee: options that do not apply are exit 2; a policy option applies"

     # issue 9's gap: --hcl-report with --tpm-quote takes the AK from HCLAkPub
     td=$([ "$tee" = tdx ] && echo "--td-quote $EV/td-quote.bin" || echo "--vcek $EV/vcek-chain.pem")
     printf '%s\n' "$other" >"$TEST_DIR/other.pem"
     # shellcheck disable=SC2086
     agent -q verify --hcl-report "$EV/hcl-report.bin" $td --tpm-quote "$EV/quote.msg" \
         --tpm-signature "$EV/quote.sig" --nonce "$nonce" --json >"$TEST_DIR/hq.json" ||
         fail "$tee: --hcl-report --tpm-quote without --ak-pub: $(cat "$TEST_DIR/hq.json")"
     grep -q '"ak_source":.*"HCLAkPub of the HCL report"' "$TEST_DIR/hq.json" || fail "$tee: AK not from HCLAkPub"
     # shellcheck disable=SC2086
     expect_rc 0 agent -q verify --hcl-report "$EV/hcl-report.bin" $td --tpm-quote "$EV/quote.msg" \
         --tpm-signature "$EV/quote.sig" --nonce "$nonce" --ak-pub "$EV/ak.pub.pem" >/dev/null
     rc=0
     # shellcheck disable=SC2086
     agent -q verify --hcl-report "$EV/hcl-report.bin" $td --tpm-quote "$EV/quote.msg" \
         --tpm-signature "$EV/quote.sig" --nonce "$nonce" --ak-pub "$TEST_DIR/other.pem" --json \
         >"$TEST_DIR/hq2.json" 2>/dev/null || rc=$?
     [ "$rc" = 1 ] && grep -q '"failed_check":.*"ak_pub"' "$TEST_DIR/hq2.json" ||
         fail "$tee: an --ak-pub other than HCLAkPub was not refused (exit $rc): $(cat "$TEST_DIR/hq2.json")"
     pass_msg "$tee: --hcl-report --tpm-quote: the AK is HCLAkPub; another --ak-pub is a no naming it"

     # a genuine TPM2_Certify of a transfer key made for other PCR values
     # (PCR7 extended since): the key must open only under pcrs.json's values
     tpm2_pcrextend "7:sha256=$(openssl rand -hex 32)" || fail "tpm2_pcrextend"
     agent -q evidence --out-dir "$TEST_DIR/later-$tee" --nonce "$nonce" >/dev/null || fail "$tee: evidence after extend"
     mutate transfer-policy transfer-key.pub \
         "cp '$TEST_DIR/later-$tee/'{transfer-key.pub,certify.msg,certify.sig} ." --nonce "$nonce"
     grep -q '"policy_pcr_matches_pcrs":.*false' "$TEST_DIR/m-$tee-transfer-policy.out" ||
         fail "$tee: the transfer key's policy was not what failed"
     pass_msg "$tee: a certified transfer key bound to other PCR values is a no naming transfer-key.pub"
    ) || exit 1
    "$SIMCTL" down --dir "$SIM" >/dev/null
done
