#!/bin/bash
# The MAA emulator's POST /attest/AzureGuest end to end on a private swtpm:
# evidence collected with tpm2-tools, the sealed token opened inside the TPM,
# the JWT verified with openssl, every single defect refused (test_maa_azureguest.py).
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_cmd swtpm tpm2_quote tpm2_certify tpm2_rsadecrypt openssl
[ -x "$PYTHON" ] || skip "$PYTHON not found"
"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography not installed"
export PYTHONDONTWRITEBYTECODE=1 TMPDIR="$TEST_DIR"
cd "$CVM_SRCDIR/tests/sim"
"$PYTHON" -m unittest -v test_maa_azureguest
