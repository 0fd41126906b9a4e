#!/bin/bash
# The harness itself: a private swtpm starts, answers, and is gone after exit.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_cmd swtpm tpm2_getcap

swtpm_start
tpm2_getcap properties-fixed >"$TEST_DIR/props" || fail "swtpm does not answer tpm2_getcap"
grep -q TPM2_PT_FAMILY_INDICATOR "$TEST_DIR/props" || fail "unexpected getcap output"
pass_msg "swtpm answers on port $SWTPM_PORT"

# Two harness instances in one test get different TPMs: run a nested test and
# check that its swtpm is gone when it returns.
child_out=$(CVM_AGENT="$CVM_AGENT" bash -c '
    . "$CVM_SRCDIR/tests/integration/lib.sh"
    swtpm_start >/dev/null
    echo "$SWTPM_PORT $SWTPM_PID"')
read -r child_port child_pid <<<"$child_out"
[ "$child_port" != "$SWTPM_PORT" ] || fail "nested harness reused port $SWTPM_PORT"
sleep 0.2
if kill -0 "$child_pid" 2>/dev/null; then
    fail "nested harness left swtpm pid $child_pid running"
fi
if (exec 3<>"/dev/tcp/127.0.0.1/$child_port") 2>/dev/null; then
    fail "port $child_port still open after the nested harness exited"
fi
pass_msg "nested harness cleaned up its swtpm"
