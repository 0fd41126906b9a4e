#!/bin/bash
# cvm-agent report --source azure-tdx end to end: the HCL report from
# vTPM NV 0x01400001 (a swtpm), its TDREPORT POSTed to IMDS /acc/tdquote (the
# strict fixture), the TD quote checked against the TDREPORT; the [tdx]
# configuration keys point every piece at the test doubles.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
quiet() { "$@" >/dev/null 2>&1; }
TR=confidential-containers__trustee
require_cmd swtpm tpm2_nvdefine tpm2_nvwrite
require_testdata $TR/deps_verifier_test_data_az-tdx-vtpm_hcl-report.bin $TR/deps_verifier_test_data_az-tdx-vtpm_td-quote.bin \
    $TR/deps_verifier_test_data_tdx_quote_6.dat
: "${CVM_BUILDDIR:?run through make check}"
T=$CVM_TESTDATA
AT=2026-06-01T00:00:00Z
hcl_src="$T/$TR/deps_verifier_test_data_az-tdx-vtpm_hcl-report.bin"
azq="$T/$TR/deps_verifier_test_data_az-tdx-vtpm_td-quote.bin"

swtpm_start
# The real Azure TDX HCL reports (2438 meaningful bytes) exceed swtpm's 2048-byte
# NV limit: keep the real header and TDREPORT, shorten the runtime claims.
make_hcl() { # OUT USER-DATA-HEX
"$PYTHON" - "$hcl_src" "$1" "$2" <<'PY'
import json, struct, sys
src = open(sys.argv[1], "rb").read()
var = json.dumps({"keys": [], "vm-configuration": {"tpm-enabled": True}, "user-data": sys.argv[3]},
                 separators=(",", ":")).encode()
hdr = bytearray(src[:32])
struct.pack_into("<I", hdr, 8, 1236 + len(var))
igvm = struct.pack("<IIIII", 20 + len(var), 1, 4, 1, len(var))
out = bytes(hdr) + src[32:32 + 1184] + igvm + var
out += bytes(2048 - len(out))
assert len(out) == 2048
open(sys.argv[2], "wb").write(out)
PY
}
make_hcl "$TEST_DIR/hcl.bin" "$(printf '%0128d' 0)"
"$CVM_SRCDIR/tests/sim/vtpm-provision.sh" --tcti "$CVM_AGENT_TCTI" --hcl-report "$TEST_DIR/hcl.bin" >/dev/null ||
    fail "cannot store the HCL report in the swtpm"

start_imds() { # QUOTE NAME: sets $port
    "$PYTHON" "$CVM_SRCDIR/tests/tdx/imds-tdquote.py" --quote "$1" --port-file "$TEST_DIR/$2.port" \
        --log "$TEST_DIR/$2.log" >/dev/null 2>&1 &
    CLEANUP_PIDS+=($!)
    for _ in $(seq 1 100); do [ -s "$TEST_DIR/$2.port" ] && break; sleep 0.05; done
    [ -s "$TEST_DIR/$2.port" ] || fail "IMDS fixture did not start"
    port=$(cat "$TEST_DIR/$2.port")
}
write_conf() { # PORT
    cat >"$TEST_DIR/agent.conf" <<CONF
[agent]
tcti = $CVM_AGENT_TCTI
[http]
allow-plain-http-loopback = yes
attempts = 2
backoff = 20ms
[tdx]
imds-url = http://127.0.0.1:$1
CONF
}

start_imds "$azq" good
write_conf "$port"
out=$(agent -c "$TEST_DIR/agent.conf" report --source azure-tdx --out "$TEST_DIR/quote.dat" --json) ||
    fail "report --source azure-tdx failed"
cmp -s "$TEST_DIR/quote.dat" "$azq" || fail "the quote is not the one IMDS served"
grep -q "^OK report 9734504f161d104c74e3165c15f779b0" "$TEST_DIR/good.log" || fail "IMDS did not see the HCL's TDREPORT"
"$PYTHON" -c '
import json, sys
o = json.load(sys.stdin)
assert o["source"] == "azure-tdx" and o["evidence"] == "tdx-quote", o
assert o["mrtd"].startswith("024a32b070383331"), o["mrtd"]
assert o["report_data"].startswith("9734504f161d104c"), o["report_data"]
assert o["runtime_data_bound"] is False   # the runtime claims were shortened for swtpm
' <<<"$out" || fail "azure-tdx output: $out"
agent verify --tdx-quote "$TEST_DIR/quote.dat" --at "$AT" >/dev/null || fail "the Azure quote does not verify"
pass_msg "azure-tdx: vTPM HCL report -> IMDS /acc/tdquote -> TD quote"

# with --report-data: the user data goes to NV 0x01400002 and the agent waits
# for an HCL report whose runtime claims carry it (uppercase hex, as Azure's)
ud=$(printf 'ab%.0s' $(seq 1 64))
make_hcl "$TEST_DIR/hcl2.bin" "${ud^^}"
"$CVM_SRCDIR/tests/sim/vtpm-provision.sh" --tcti "$CVM_AGENT_TCTI" --hcl-report "$TEST_DIR/hcl2.bin" >/dev/null
agent -c "$TEST_DIR/agent.conf" report --source azure-tdx --report-data "$ud" --out "$TEST_DIR/q2.dat" >/dev/null ||
    fail "report --source azure-tdx --report-data"
tpm2_nvread -C o -s 64 0x01400002 -o "$TEST_DIR/ud.bin" 2>/dev/null || fail "NV 0x01400002 not written"
[ "$(od -An -tx1 -v "$TEST_DIR/ud.bin" | tr -d ' \n')" = "$ud" ] || fail "NV 0x01400002 does not hold the user data"
# user data the (absent) paravisor never reflects: a transient timeout
expect_rc 3 quiet agent -c "$TEST_DIR/agent.conf" report --source azure-tdx --report-data 01 --timeout 300ms
pass_msg "azure-tdx --report-data: NV 0x01400002 written, fresh HCL report awaited"

# IMDS answering with a quote for another TD is refused
start_imds "$T/$TR/deps_verifier_test_data_tdx_quote_6.dat" other
write_conf "$port"
err=$(agent -c "$TEST_DIR/agent.conf" report --source azure-tdx 2>&1 >/dev/null) && fail "a foreign quote was accepted"
grep -q "another TD report" <<<"$err" || fail "foreign quote reason: $err"
# an unreachable IMDS fails (transient), naming the URL
write_conf 1
rc=0
err=$(agent -c "$TEST_DIR/agent.conf" report --source azure-tdx 2>&1 >/dev/null) || rc=$?
[ "$rc" -eq 3 ] || fail "unreachable IMDS: exit $rc, expected 3 (transient)"
grep -q "127.0.0.1:1/acc/tdquote" <<<"$err" || fail "unreachable IMDS reason: $err"
pass_msg "azure-tdx refuses a foreign quote and reports an unreachable IMDS"
