#!/bin/bash
# With no TPM device node, `cvm-agent report` says that the device does not
# exist and what that means (no vTPM, or no TPM driver), exit 4 — not
# "Connection refused" (the device TCTI's I/O error), which read as exit 3.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
export CVM_AGENT_CONFIG=/dev/null
for args in "report --source vtpm" "report --source vtpm --report-data $(printf '0%.0s' $(seq 128))"; do
    rc=0
    # shellcheck disable=SC2086 # word splitting of the argument list is meant
    agent -T device:/nonexistent/tpmrm0 $args >/dev/null 2>"$TEST_DIR/err" || rc=$?
    [ "$rc" -eq 4 ] || fail "'$args' without a TPM device: exit $rc, want 4: $(cat "$TEST_DIR/err")"
    grep -q "the TPM device '/nonexistent/tpmrm0' does not exist" "$TEST_DIR/err" ||
        fail "'$args': the message does not say the device is missing: $(cat "$TEST_DIR/err")"
    grep -q "tpm_crb" "$TEST_DIR/err" || fail "'$args': the message does not name the drivers"
    grep -qi "connection refused" "$TEST_DIR/err" && fail "'$args' still says connection refused"
done
pass_msg "a missing TPM device node is exit 4 with a message naming the device and the drivers"
