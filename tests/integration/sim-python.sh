#!/bin/bash
# Runs the Python tests of the simulated platform (tests/sim/test_*.py) that
# do not need a TPM: test PKIs, SNP/TDX/HCL signers, TCG log replay, MAA
# platform routes, JWTs checked with the openssl CLI.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_cmd openssl
[ -x "$PYTHON" ] || skip "$PYTHON not found"
"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography not installed"
export PYTHONDONTWRITEBYTECODE=1 TMPDIR="$TEST_DIR"
cd "$CVM_SRCDIR/tests/sim"
"$PYTHON" -m unittest -v test_signers
