#!/bin/bash
# The Azure TDX path of agent/report-tdx.c end to end: the HCL report from
# vTPM NV 0x01400001 (a swtpm), its TDREPORT POSTed to IMDS /acc/tdquote (the
# strict fixture), the TD quote checked against the TDREPORT; the [tdx]
# configuration keys point every piece at the test doubles.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
TR=confidential-containers__trustee
require_cmd swtpm tpm2_nvdefine tpm2_nvwrite
require_testdata $TR/deps_verifier_test_data_az-tdx-vtpm_hcl-report.bin $TR/deps_verifier_test_data_az-tdx-vtpm_td-quote.bin \
    $TR/deps_verifier_test_data_tdx_quote_6.dat
: "${CVM_BUILDDIR:?run through make check}"
TOOL=$CVM_BUILDDIR/tests/tdx/tdx-guest-tool
[ -x "$TOOL" ] || skip "test helpers not built"
T=$CVM_TESTDATA
AT=2026-06-01T00:00:00Z
hcl_src="$T/$TR/deps_verifier_test_data_az-tdx-vtpm_hcl-report.bin"
azq="$T/$TR/deps_verifier_test_data_az-tdx-vtpm_td-quote.bin"

swtpm_start
# The real Azure TDX HCL reports (2438 meaningful bytes) exceed swtpm's 2048-byte
# NV limit: keep the real header and TDREPORT, shorten the runtime claims.
"$PYTHON" - "$hcl_src" "$TEST_DIR/hcl.bin" <<'PY'
import json, struct, sys
src = open(sys.argv[1], "rb").read()
var = json.dumps({"keys": [], "vm-configuration": {"tpm-enabled": True}, "user-data": "00" * 64},
                 separators=(",", ":")).encode()
hdr = bytearray(src[:32])
struct.pack_into("<I", hdr, 8, 1236 + len(var))
igvm = struct.pack("<IIIII", 20 + len(var), 1, 4, 1, len(var))
out = bytes(hdr) + src[32:32 + 1184] + igvm + var
out += bytes(2048 - len(out))
assert len(out) == 2048
open(sys.argv[2], "wb").write(out)
PY
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
out=$("$TOOL" agent "$TEST_DIR/agent.conf" azure-tdx "$TEST_DIR/quote.dat") || fail "azure-tdx report failed"
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

# IMDS answering with a quote for another TD is refused
start_imds "$T/$TR/deps_verifier_test_data_tdx_quote_6.dat" other
write_conf "$port"
err=$("$TOOL" agent "$TEST_DIR/agent.conf" azure-tdx "$TEST_DIR/x.dat" 2>&1 >/dev/null) && fail "a foreign quote was accepted"
grep -q "another TD report" <<<"$err" || fail "foreign quote reason: $err"
# an unreachable IMDS fails (transient), naming the URL
write_conf 1
err=$("$TOOL" agent "$TEST_DIR/agent.conf" azure-tdx "$TEST_DIR/x.dat" 2>&1 >/dev/null) && fail "unreachable IMDS succeeded"
grep -q "127.0.0.1:1/acc/tdquote" <<<"$err" || fail "unreachable IMDS reason: $err"
pass_msg "azure-tdx refuses a foreign quote and reports an unreachable IMDS"
