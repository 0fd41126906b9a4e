#!/bin/bash
# Sourced by the tests of the secret store against one `cvm-sim up`
# (secrets-sim-lib.sh, rotate-crash.sh): starts the simulation (SIM_VAULT,
# SIM_TEE) and gives the helpers below; cd's into the test dir.
#   ep NAME            a value of the sim's endpoints.json
#   run NAME WANT ...  cvm-agent with the short-timeout options A into
#                      out.NAME / err.NAME; fails unless it exits WANT
#   fault SERVICE ...  cvm-sim fault (switch an emulator fault on or off)
#   HELPER             sim-release-helper.py (rotate, disable, forms)
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_cmd swtpm tpm2_startup tpm2_pcrextend openssl
[ -x "$PYTHON" ] || skip "$PYTHON not found"
"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography not installed"
export PYTHONDONTWRITEBYTECODE=1
SIMDIR=$CVM_SRCDIR/tests/sim
export CVM_SIM_DIR=$TEST_DIR/sim
# shellcheck disable=SC2034 # for the sourcing test
HELPER=("$PYTHON" "$SIMDIR/sim-release-helper.py")
"$PYTHON" "$SIMDIR/cvm-sim" up --dir "$CVM_SIM_DIR" --tee "$SIM_TEE" --vault "$SIM_VAULT" >"$TEST_DIR/up.txt" 2>&1 ||
    fail "cvm-sim up failed: $(tail -5 "$TEST_DIR/up.txt")"
on_exit '"$PYTHON" "$SIMDIR/cvm-sim" down --dir "$CVM_SIM_DIR" >/dev/null 2>&1'
. "$CVM_SIM_DIR/env"
echo "cvm-sim: $SIM_VAULT, $SIM_TEE"
ep() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$CVM_SIM_DIR/endpoints.json" "$1"; }
# shellcheck disable=SC2034 # for the sourcing test
KEY_V1=$(ep key_url)
STATE=$TEST_DIR/state
cd "$TEST_DIR"
A=(-o http.timeout=2s -o http.attempts=2 -o http.backoff=100ms -o http.deadline=6s -o "agent.state-dir=$STATE")
fault() { "$PYTHON" "$SIMDIR/cvm-sim" fault --dir "$CVM_SIM_DIR" "$@" >/dev/null; }
# run NAME WANT CMD...: agent CMD into out.NAME / err.NAME, exit WANT
run() {
    local name=$1 want=$2 rc=0
    shift 2
    agent "${A[@]}" "$@" >"out.$name" 2>"err.$name" || rc=$?
    [ "$rc" -eq "$want" ] || { cat "out.$name" "err.$name" >&2; fail "$name: '$*' exited $rc, expected $want"; }
}
