#!/bin/bash
# SNP revocation and certificate-source errors, with the test AMD PKI of
# tests/sim/pki.py and a KDS stand-in (tests/snp-kds-fixture.py):
# - AMD's CRL (KDS /vcek/v1/{product}/crl, or --crl offline) that lists the
#   ASK refuses the chain (exit 1); a clean one verifies and is cached; one
#   with a bad signature is refused when required, a warning otherwise;
# - [snp] crl = require with KDS unreachable is exit 3, best-effort warns and
#   verifies;
# - a certificate source that is refused (http://), unreachable (a closed
#   port) or untrusted (TLS with a self-signed certificate) is exit 2, 3 and 3,
#   each with a message that says what to do.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_cmd openssl
[ -x "$PYTHON" ] || skip "$PYTHON not found"
"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography not installed"
export PYTHONDONTWRITEBYTECODE=1
export CVM_AGENT_CONFIG=/dev/null

sim="$TEST_DIR/sim"
fx="$TEST_DIR/fx"
mkdir -p "$fx"
"$PYTHON" - "$sim" "$fx" <<'PY' || fail "generating the test PKI, CRLs and report failed"
import json, os, sys
sys.path.insert(0, os.path.join(os.environ["CVM_SRCDIR"], "tests", "sim"))
import pki, signers
sim, fx = sys.argv[1:3]
p = pki.generate(sim)
amd = os.path.join(p, "amd")
pki.amd_crl(amd, os.path.join(fx, "clean.crl"))
pki.amd_crl(amd, os.path.join(fx, "revoked.crl"), revoked=["ask.pem"])
with open(os.path.join(fx, "clean.crl"), "rb") as f:
    der = bytearray(f.read())
der[-1] ^= 1  # the last byte of the signature
with open(os.path.join(fx, "badsig.crl"), "wb") as f:
    f.write(der)
with open(os.path.join(fx, "report.bin"), "wb") as f:
    f.write(signers.snp_report(p, version=3))
# one KDS stand-in per CRL flavour is simpler than a mutable one: the map
# names the CRL file, and the cert paths are not needed (the certs are given)
for name in ("clean", "revoked", "badsig"):
    with open(os.path.join(fx, name + ".json"), "w") as f:
        json.dump({"/vcek/v1/Milan/crl": name + ".crl"}, f)
PY
amd="$sim/pki/amd"
AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
base=(verify --json --at "$AT" --snp-report "$fx/report.bin" --vcek "$amd/vcek.pem"
    --cert-chain "$amd/cert_chain.pem" --trust-anchor "$amd/ark.pem")
fast=(-o http.allow-plain-http-loopback=yes -o http.backoff=10ms -o http.attempts=2 -o http.deadline=5s)

# start_kds NAME: a KDS stand-in serving NAME.crl; sets $port
start_kds() {
    rm -f "$fx/port"
    "$PYTHON" "$CVM_SRCDIR/tests/snp-kds-fixture.py" --map "$fx/$1.json" --port-file "$fx/port" \
        --log "$fx/log" &
    kds_pid=$!
    CLEANUP_PIDS+=("$kds_pid")
    for _ in $(seq 100); do [ -s "$fx/port" ] && break; sleep 0.05; done
    [ -s "$fx/port" ] || fail "the KDS stand-in did not start"
    port=$(cat "$fx/port")
}
stop_kds() {
    kill "$kds_pid"
    wait "$kds_pid" 2>/dev/null || true
}
# run NAME WANT ARGS...: cvm-agent ARGS into NAME.json / NAME.err, checks the
# exit code; each run has its own state dir (the CRL cache) unless ARGS name one
run() {
    local name=$1 want=$2 rc=0
    shift 2
    agent --state-dir "$TEST_DIR/state-$name" "$@" >"$TEST_DIR/$name.json" 2>"$TEST_DIR/$name.err" || rc=$?
    [ "$rc" -eq "$want" ] ||
        fail "$name: exit $rc, want $want: $(cat "$TEST_DIR/$name.err" "$TEST_DIR/$name.json")"
}
field() { "$PYTHON" -c 'import json,sys; print(eval(sys.argv[2], {"d": json.load(open(sys.argv[1]))}))' "$TEST_DIR/$1.json" "$2"; }
check() {
    local got
    got=$(field "$1" "$2")
    [ "$got" = "$3" ] || fail "$1: $2 = '$got', want '$3'"
}
err_has() { grep -q -- "$2" "$TEST_DIR/$1.err" || fail "$1: stderr lacks '$2': $(cat "$TEST_DIR/$1.err")"; }

# ---- the CRL from KDS ----
start_kds clean
state="$TEST_DIR/state"
run clean 0 "${fast[@]}" -o "snp.kds-url=http://127.0.0.1:$port" -o snp.crl=require --state-dir "$state" "${base[@]}"
check clean 'd["verified"]' True
check clean 'd["crl_checked"]' True
grep -q '^/vcek/v1/Milan/crl$' "$fx/log" || fail "the CRL was not fetched: $(cat "$fx/log")"
# the cache is state: 0700 directories, 0600 files (cvm-agent(8) FILES)
[ "$(stat -c %a "$state/cache/snp")" = 700 ] || fail "cache dir mode $(stat -c %a "$state/cache/snp")"
[ "$(stat -c %a "$state/cache/snp/Milan-vcek.crl")" = 600 ] ||
    fail "cached CRL mode $(stat -c %a "$state/cache/snp/Milan-vcek.crl"), the man page says 0600"
stop_kds
# the cached CRL (until its nextUpdate) serves the next run with KDS down
run cached 0 "${fast[@]}" -o "snp.kds-url=http://127.0.0.1:$port" -o snp.crl=require --state-dir "$state" "${base[@]}"
check cached 'd["crl_checked"]' True
pass_msg "a clean CRL from KDS: verified, checked, cached for the next run"

start_kds revoked
run revoked 1 "${fast[@]}" -o "snp.kds-url=http://127.0.0.1:$port" "${base[@]}"
check revoked 'd["verified"]' False
check revoked 'd["failed_check"]' revoked
check revoked '"010001" in d["reason"] and "SEV-Milan" in d["reason"]' True
stop_kds
pass_msg "a CRL listing the ASK's serial refuses the chain (exit 1), under the default best-effort too"

start_kds badsig
run badsig-req 1 "${fast[@]}" -o "snp.kds-url=http://127.0.0.1:$port" -o snp.crl=require "${base[@]}"
check badsig-req 'd["failed_check"]' crl
run badsig-be 0 "${fast[@]}" -o "snp.kds-url=http://127.0.0.1:$port" "${base[@]}"
check badsig-be 'd["crl_checked"]' False
err_has badsig-be "CRL was not checked"
stop_kds
pass_msg "a CRL with a bad signature: refused under require, a warning under best-effort"

# ---- KDS unreachable: a port nothing listens on (the stopped stand-in's) ----
run unreach-req 3 "${fast[@]}" -o "snp.kds-url=http://127.0.0.1:$port" -o snp.crl=require "${base[@]}"
err_has unreach-req "crl = require"
err_has unreach-req "127.0.0.1:$port"
run unreach-be 0 "${fast[@]}" -o "snp.kds-url=http://127.0.0.1:$port" "${base[@]}"
check unreach-be 'd["crl_checked"]' False
err_has unreach-be "CRL could not be checked"
run crl-off 0 "${fast[@]}" -o "snp.kds-url=http://127.0.0.1:$port" -o snp.crl=off "${base[@]}"
grep -q "CRL" "$TEST_DIR/crl-off.err" && fail "crl = off still warns: $(cat "$TEST_DIR/crl-off.err")"
pass_msg "KDS unreachable: exit 3 under require; a warning and verified under best-effort; silent when off"

# ---- offline: --crl ----
run off-revoked 1 -o snp.kds=no "${base[@]}" --crl "$fx/revoked.crl"
check off-revoked 'd["failed_check"]' revoked
run off-clean 0 -o snp.kds=no "${base[@]}" --crl "$fx/clean.crl"
check off-clean 'd["crl_checked"]' True
run off-bad 1 -o snp.kds=no "${base[@]}" --crl "$fx/badsig.crl"
check off-bad 'd["failed_check"]' crl
run off-stale 1 -o snp.kds=no verify --json --at 2099-01-01T00:00:00Z --snp-report "$fx/report.bin" \
    --vcek "$amd/vcek.pem" --cert-chain "$amd/cert_chain.pem" --trust-anchor "$amd/ark.pem" --crl "$fx/clean.crl"
run off-missing 2 -o snp.kds=no "${base[@]}" --crl "$fx/nonexistent.crl"
err_has off-missing "nonexistent.crl"
run crl-badmode 2 -o snp.crl=sometimes "${base[@]}"
err_has crl-badmode "require, best-effort or off"
pass_msg "--crl offline: a listed ASK is refused, a clean CRL verifies, a forged one is refused"

# ---- certificate sources: refused, unreachable, untrusted ----
noc=(verify --json --at "$AT" --snp-report "$fx/report.bin" --trust-anchor "$amd/ark.pem")
run http-kds 2 -o "snp.kds-url=http://kds.example.test" "${noc[@]}"
err_has http-kds "https is required"
run closed-kds 3 "${fast[@]}" -o "snp.kds-url=https://127.0.0.1:$port" -o snp.crl=off "${noc[@]}"
err_has closed-kds "127.0.0.1:$port"
"$PYTHON" "$CVM_SRCDIR/tests/unit/http-test-server.py" --port-file "$fx/tls-ports" --ca-file "$fx/tls-ca.pem" &
CLEANUP_PIDS+=("$!")
for _ in $(seq 100); do [ -s "$fx/tls-ports" ] && break; sleep 0.05; done
read -r _ tls_port <"$fx/tls-ports" || fail "the TLS test server did not start"
run tls-kds 3 "${fast[@]}" -o "snp.kds-url=https://127.0.0.1:$tls_port" -o snp.crl=off "${noc[@]}"
err_has tls-kds "TLS with '127.0.0.1' failed"
err_has tls-kds "ca-bundle"
pass_msg "KDS over http:// is exit 2 with a message; unreachable and untrusted TLS are exit 3 naming host and ca-bundle"
