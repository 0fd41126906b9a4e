#!/bin/bash
# Our AzureGuest request against the one Microsoft's own client sent
# (testdata azure-services/_generated_ms-client_vs_swtpm/sevsnp_path): the
# request line and headers (name, order, value; Host without the port), and
# the AttestationInfo decoded and compared member by member — same keys, JSON
# types, base64 vs base64url and padding, TPM structure types — values
# ignored. First the comparison proves it can fail (tests/attest-compare.py
# selftest: six altered bodies and two altered header sets are refused).
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

REF_REL=azure-services/_generated_ms-client_vs_swtpm
require_testdata "$REF_REL/sevsnp_path/request_body.json" "$REF_REL/sevsnp_path/request_headers.txt" \
    "$REF_REL/trustedlaunch_path/request_body.json"
require_cmd swtpm
"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography missing for $PYTHON"
export PYTHONDONTWRITEBYTECODE=1
REF="$CVM_TESTDATA/$REF_REL"
COMPARE="$CVM_SRCDIR/tests/attest-compare.py"
SIMCTL="$CVM_SRCDIR/tests/sim/cvm-sim"
SIM="$TEST_DIR/sim"
on_exit "'$SIMCTL' down --dir '$SIM' >/dev/null 2>&1"

for path in sevsnp_path trustedlaunch_path; do
    "$PYTHON" "$COMPARE" selftest --ref "$REF/$path" || fail "the comparison misses alterations of $path"
done
pass_msg "the comparison refuses altered requests and accepts the reference itself"

"$SIMCTL" up --dir "$SIM" --tee snp >"$TEST_DIR/up.log" 2>&1 || { cat "$TEST_DIR/up.log"; fail "cvm-sim up"; }
# shellcheck disable=SC1091
. "$SIM/env"
"$PYTHON" "$COMPARE" capture --port-file "$TEST_DIR/port" --out "$TEST_DIR/ours" --timeout 60 &
capture=$!
on_exit "kill $capture 2>/dev/null"
for _ in $(seq 100); do [ -s "$TEST_DIR/port" ] && break; sleep 0.05; done
[ -s "$TEST_DIR/port" ] || fail "the capture server did not start"
# the capture server answers 400 like a refusing MAA: exit 1, its message shown
err=$(agent -o "attestation.url=http://127.0.0.1:$(cat "$TEST_DIR/port")" attest 2>&1 >/dev/null) && rc=0 || rc=$?
wait "$capture" || fail "the capture server failed"
[ "$rc" = 1 ] || fail "attest against a 400 answer exited $rc, expected 1: $err"
grep -q "Captured: request captured by attest-compare" <<<"$err" || fail "MAA's 400 code/message not shown: $err"
pass_msg "a 400 answer: exit 1 with the service's code and message"
echo "# our request head:"; sed 's/^/#   /' "$TEST_DIR/ours/request_headers.txt"
"$PYTHON" "$COMPARE" compare --ours "$TEST_DIR/ours" --ref "$REF/sevsnp_path" ||
    fail "our AzureGuest request differs from Microsoft's client's"
pass_msg "request line, headers and AttestationInfo (keys, types, encodings, TPM structures) match Microsoft's client"
