#!/bin/bash
# `cvm-agent attest` under MAA emulator faults (cvm-sim fault), one cvm-sim
# for all cases: down / slow / 429 / 5xx are retried and end in exit 3 with a
# message naming MAA (a garbled answer too); one 429 or 503 is retried to success; a refusal (400)
# is exit 1 with MAA's code and message; a token with a wrong signature, the
# wrong nonce, expired, or for another transfer key is exit 1 naming it.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_cmd swtpm
"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography missing for $PYTHON"
export PYTHONDONTWRITEBYTECODE=1
SIMCTL="$CVM_SRCDIR/tests/sim/cvm-sim"
SIM="$TEST_DIR/sim"
on_exit "'$SIMCTL' down --dir '$SIM' >/dev/null 2>&1"
"$SIMCTL" up --dir "$SIM" --tee snp >"$TEST_DIR/up.log" 2>&1 || { cat "$TEST_DIR/up.log"; fail "cvm-sim up"; }
# shellcheck disable=SC1091
. "$SIM/env"
# short retries so the transient cases stay quick: 3 attempts within 8 s
FAST=(-o http.attempts=3 -o http.backoff=100ms -o http.timeout=2s -o http.deadline=8s)
MAA_LOG="$SIM/logs/maa.log"

fault() { "$SIMCTL" fault --dir "$SIM" maa "$@" >/dev/null || fail "cvm-sim fault maa $*"; }
clear_faults() { "$SIMCTL" fault --dir "$SIM" maa --clear >/dev/null; }
attests() { local n; n=$(grep -c '"target": "/attest/AzureGuest' "$MAA_LOG" 2>/dev/null) || true; echo "${n:-0}"; }

# case NAME WANT_RC PATTERN [FAULT ARGS...]: attest under the fault
case_() {
    local name=$1 want=$2 pattern=$3 rc=0 err before after
    shift 3
    clear_faults
    [ $# -gt 0 ] && fault "$@"
    before=$(attests)
    err=$(agent "${FAST[@]}" attest 2>&1 >/dev/null) || rc=$?
    after=$(attests)
    clear_faults
    [ "$rc" = "$want" ] || fail "$name: exit $rc, expected $want: $err"
    grep -Eq "$pattern" <<<"$err" || fail "$name: message does not match /$pattern/: $err"
    if grep -qiE "sanitizer|segmentation|core dumped" <<<"$err"; then fail "$name: crashed: $err"; fi
    pass_msg "$name: exit $rc ($((after - before)) AzureGuest request(s) logged): $(tail -1 <<<"$err")"
    LAST_REQUESTS=$((after - before))
}

case_ "no fault" 0 '^$|anchor'
case_ "down" 3 "MAA at .* is unreachable after retries" down
case_ "down (closed)" 3 "MAA at .* (unreachable|unavailable)" down mode=closed
case_ "slow (5 s, 2 s timeout)" 3 "MAA at .* is unreachable after retries" slow seconds=5
case_ "429 throttle" 3 "MAA at .* is unavailable: HTTP 429" throttle retry_after=0
[ "$LAST_REQUESTS" -ge 3 ] || fail "429 was not retried ($LAST_REQUESTS requests)"
case_ "500" 3 "MAA at .* is unavailable: HTTP 500" server_error
[ "$LAST_REQUESTS" -ge 3 ] || fail "500 was not retried ($LAST_REQUESTS requests)"
case_ "503 with Retry-After" 3 "HTTP 503" server_error status=503 retry_after=0
case_ "one 429, then success" 0 '^$|anchor' throttle retry_after=0 count=1
# 2 on a quiet machine; a loaded one may see the 2 s attempt timeout fire once more
[ "$LAST_REQUESTS" -ge 2 ] || fail "one 429 then success: $LAST_REQUESTS requests, expected 2"
case_ "one 503, then success" 0 '^$|anchor' server_error status=503 count=1
case_ "malformed answer" 3 "MAA's answer from .* is unusable" malformed
case_ "wrong token signature" 1 "claim: signature" wrong_signature
case_ "wrong nonce" 1 "claim: nonce" wrong_nonce
case_ "expired token" 1 "claim: exp" expired_token
case_ "reply sealed to another key" 1 "transfer key cannot open MAA's reply" wrong_transfer_key
case_ "token naming another transfer key" 1 "claim: x-ms-runtime.keys" wrong_transfer_key mode=claim
rc=0; agent "${FAST[@]}" attest >/dev/null 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "no fault after the faults: exit $rc"

# a refusal: an event log that does not replay to the PCRs
head -c 600 "$SIM/binary_bios_measurements" >"$TEST_DIR/short.log"
rc=0; err=$(agent "${FAST[@]}" -o "attestation.event-log=$TEST_DIR/short.log" attest 2>&1 >/dev/null) || rc=$?
[ "$rc" = 1 ] || fail "refused evidence: exit $rc, expected 1: $err"
grep -q "MAA refused the attestation (HTTP 400): InvalidParameter: TcgLogs" <<<"$err" ||
    fail "the 400 body's code and message are not shown: $err"
pass_msg "refused evidence: exit 1, $(tail -1 <<<"$err")"
