#!/bin/bash
# Sourced by the tpm-*.sh integration tests after lib.sh: a fresh swtpm
# provisioned like an Azure vTPM (tests/sim/vtpm-provision.sh), the test
# driver over tpm/tpm.h, and the handle-leak check every test ends with.
require_cmd swtpm tpm2_getcap tpm2_readpublic openssl

: "${CVM_BUILDDIR:=$(dirname "$CVM_AGENT")}"
DRIVER="$CVM_BUILDDIR/tests/tpm-driver"
[ -x "$DRIVER" ] || { echo "tpm-driver not built ('$DRIVER')" >&2; exit 99; }
VTPM="$TEST_DIR/vtpm"

driver() { "$DRIVER" "$@"; }

# Starts the swtpm and provisions EK, SRK 0x81000001, AK 0x81000003, AK cert.
vtpm_start() {
    swtpm_start
    bash "$CVM_SRCDIR/tests/sim/vtpm-provision.sh" --tcti "$CVM_AGENT_TCTI" --dir "$VTPM" \
        >"$TEST_DIR/provision.log" 2>&1 || { cat "$TEST_DIR/provision.log" >&2; fail "provisioning failed"; }
    no_leaks "provisioning"
}

# No transient object and no loaded or saved session may be left in the TPM.
no_leaks() {
    local what out
    for what in handles-transient handles-loaded-session handles-saved-session; do
        out=$(tpm2_getcap "$what")
        [ -z "$out" ] || fail "$what not empty after $1: $out"
    done
}
