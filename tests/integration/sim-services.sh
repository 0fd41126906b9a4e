#!/bin/bash
# The Key Vault / Managed HSM, IMDS and KDS emulators and the fault injection
# (tests/sim/test_services.py, Python unittest): each refusal with the real
# status and error body, keys released by the vault unwrapped and JWS checked
# with the openssl CLI, every fault mode observed from the client side.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_cmd openssl
"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography missing for $PYTHON"
[ -e "$CVM_SRCDIR/tests/sim/pki.py" ] || skip "tests/sim/pki.py (simcore) not present"

export PYTHONDONTWRITEBYTECODE=1 TMPDIR="$TEST_DIR"
echo "# re-run by hand: $PYTHON $CVM_SRCDIR/tests/sim/test_services.py -v [TestClass.test_name]"
"$PYTHON" "$CVM_SRCDIR/tests/sim/test_services.py" -v 2>&1
