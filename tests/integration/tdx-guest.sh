#!/bin/bash
# The TDX guest interfaces against fakes: TDX_CMD_GET_REPORT0 through an
# LD_PRELOAD shim on a stand-in device file, configfs-tsm through the shim on
# a fake tree (generation check, provider check, REPORTDATA binding), and the
# Azure IMDS /acc/tdquote path against a strict HTTP fixture answering with a
# real Azure TD quote.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
TR=confidential-containers__trustee
require_testdata confidential-containers__guest-components/attestation-agent_attester_test_tdx_report_1.bin \
    $TR/deps_verifier_test_data_tdx_quote_6.dat $TR/deps_verifier_test_data_az-tdx-vtpm_hcl-report.bin \
    $TR/deps_verifier_test_data_az-tdx-vtpm_td-quote.bin
: "${CVM_BUILDDIR:?run through make check}"
TOOL=$CVM_BUILDDIR/tests/tdx/tdx-guest-tool
SHIM=$CVM_BUILDDIR/tests/tdx/tdx-shim.so
[ -x "$TOOL" ] && [ -f "$SHIM" ] || skip "test helpers not built"
# the shim is preloaded ahead of the ASan runtime in sanitizer builds
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
T=$CVM_TESTDATA
AT=2026-06-01T00:00:00Z
quiet() { "$@" >/dev/null 2>&1; }
json_field() { "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
echo "# re-run by hand: CVM_AGENT=$CVM_AGENT CVM_BUILDDIR=$CVM_BUILDDIR CVM_TESTDATA=$CVM_TESTDATA bash $0"

# ---- /dev/tdx_guest ioctl ----
dev=$TEST_DIR/tdx_guest
: >"$dev"
rd=$(printf '%02x' $(seq 1 64))
TDX_SHIM_TDREPORT="$T/confidential-containers__guest-components/attestation-agent_attester_test_tdx_report_1.bin" \
    TDX_SHIM_LOG="$TEST_DIR/shim.log" LD_PRELOAD=$SHIM "$TOOL" report "$dev" "$rd" "$TEST_DIR/tdreport.bin" ||
    fail "TDX_CMD_GET_REPORT0 through the shim failed"
grep -q "^ioctl 0xc4405401 reportdata $rd\$" "$TEST_DIR/shim.log" || fail "ioctl request/report data not as the ABI says"
# decoded, never verified (exit 1): a TDREPORT is only checkable on its platform
out=$(agent verify --tdreport "$TEST_DIR/tdreport.bin" --json 2>/dev/null) && fail "a TDREPORT verified"
[ "$(json_field tee_info_hash_ok <<<"$out")" = True ] || fail "TDREPORT from the ioctl: $out"
[ "$(json_field report_data <<<"$out")" = "$rd" ] || fail "report data did not round-trip through the ioctl"
# a plain file without the shim answers ENOTTY; a missing device fails
expect_rc 1 quiet "$TOOL" report "$dev" "$rd" "$TEST_DIR/x.bin"
expect_rc 1 quiet "$TOOL" report "$TEST_DIR/missing" "$rd" "$TEST_DIR/x.bin"
pass_msg "TDX_CMD_GET_REPORT0 ioctl"

# ---- configfs-tsm ----
q6="$T/$TR/deps_verifier_test_data_tdx_quote_6.dat"
tsm=$TEST_DIR/tsm
mkdir -p "$tsm"
rd6=$(agent verify --tdx-quote "$q6" --at "$AT" --json | json_field report_data)
shim_tsm() { TDX_SHIM_TSM=$tsm TDX_SHIM_QUOTE=$q6 TDX_SHIM_LOG="$TEST_DIR/tsm.log" LD_PRELOAD=$SHIM "$@"; }
shim_tsm "$TOOL" configfs "$tsm" "$rd6" "$TEST_DIR/q.dat" || fail "configfs-tsm quote failed"
cmp -s "$TEST_DIR/q.dat" "$q6" || fail "configfs quote differs from the outblob"
[ -z "$(ls -A "$tsm")" ] || fail "configfs entry left behind: $(ls "$tsm")"
grep -q "^outblob inblob-bytes 64 quote-bytes 5006 generation 8\$" "$TEST_DIR/tsm.log" || fail "inblob/generation: $(cat "$TEST_DIR/tsm.log")"
grep -q "^rmdir cvm-agent-" "$TEST_DIR/tsm.log" || fail "entry not removed"
agent verify --tdx-quote "$TEST_DIR/q.dat" --at "$AT" >/dev/null || fail "configfs quote does not verify"
# the quote must carry the inblob's REPORTDATA
expect_rc 1 quiet shim_tsm "$TOOL" configfs "$tsm" "$rd" "$TEST_DIR/x.dat"
# a concurrent writer (generation moves by 2) is detected and retried, then refused
TDX_SHIM_EXTRA_GEN=1 expect_rc 1 quiet shim_tsm "$TOOL" configfs "$tsm" "$rd6" "$TEST_DIR/x.dat"
[ "$(grep -c '^outblob' "$TEST_DIR/tsm.log")" -gt 5 ] || fail "EBUSY was not retried"
# another provider is refused
TDX_SHIM_PROVIDER=sev_guest expect_rc 1 quiet shim_tsm "$TOOL" configfs "$tsm" "$rd6" "$TEST_DIR/x.dat"
[ -z "$(ls -A "$tsm")" ] || fail "configfs entry left behind after errors"
pass_msg "configfs-tsm quote (generation, provider and REPORTDATA checks)"

# ---- the same through 'cvm-agent report', paths from the [tdx] section ----
printf '[tdx]\ndevice = %s\nconfigfs-tsm = %s\n' "$dev" "$tsm" >"$TEST_DIR/agent.conf"
out=$(TDX_SHIM_TDREPORT="$T/confidential-containers__guest-components/attestation-agent_attester_test_tdx_report_1.bin" \
    LD_PRELOAD=$SHIM "$CVM_AGENT" -c "$TEST_DIR/agent.conf" report --source tdx-guest --report-data "$rd" \
    --out "$TEST_DIR/r.bin" --json) || fail "report --source tdx-guest"
[ "$(json_field report_data <<<"$out")" = "$rd" ] || fail "tdx-guest report data: $out"
[ "$(json_field tee_info_hash_ok <<<"$out")" = True ] || fail "tdx-guest hash check: $out"
out=$(shim_tsm "$CVM_AGENT" -c "$TEST_DIR/agent.conf" report --source tdx-configfs --report-data "$rd6" \
    --out "$TEST_DIR/r.dat" --json) || fail "report --source tdx-configfs"
[ "$(json_field evidence <<<"$out")" = tdx-quote ] && cmp -s "$TEST_DIR/r.dat" "$q6" || fail "tdx-configfs: $out"
printf '[tdx]\nconfigfs-tsm = %s\n' "$TEST_DIR/nonexistent" >"$TEST_DIR/agent.conf"
expect_rc 4 quiet shim_tsm "$CVM_AGENT" -c "$TEST_DIR/agent.conf" report --source tdx-configfs --report-data "$rd6"
expect_rc 2 quiet "$CVM_AGENT" -c "$TEST_DIR/agent.conf" report --source tdx-configfs --vmpl 1
# --verify: a TDREPORT cannot be verified (2); the configfs quote is verified to the Intel root
expect_rc 2 quiet "$CVM_AGENT" report --source tdx-guest --verify
printf '[tdx]\nconfigfs-tsm = %s\n' "$tsm" >"$TEST_DIR/agent.conf"
out=$(shim_tsm "$CVM_AGENT" -c "$TEST_DIR/agent.conf" report --source tdx-configfs --report-data "$rd6" --verify --json) ||
    fail "report --source tdx-configfs --verify: $out"
"$PYTHON" -c 'import json,sys; o=json.loads(sys.argv[1])["verification"]; assert o["verified"] and o["trust_anchor"] == "production", o' "$out" ||
    fail "tdx-configfs --verify output: $out"
pass_msg "cvm-agent report --source tdx-guest / tdx-configfs with the [tdx] keys"

# ---- Azure IMDS /acc/tdquote ----
azq="$T/$TR/deps_verifier_test_data_az-tdx-vtpm_td-quote.bin"
"$PYTHON" "$CVM_SRCDIR/tests/tdx/imds-tdquote.py" --quote "$azq" --port-file "$TEST_DIR/port" \
    --log "$TEST_DIR/imds.log" --fail-first 1 &
CLEANUP_PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$TEST_DIR/port" ] && break; sleep 0.05; done
[ -s "$TEST_DIR/port" ] || fail "IMDS fixture did not start"
url="http://127.0.0.1:$(cat "$TEST_DIR/port")"
# the TDREPORT from the Azure HCL report (bytes [32, 1056))
dd if="$T/$TR/deps_verifier_test_data_az-tdx-vtpm_hcl-report.bin" of="$TEST_DIR/az-tdreport.bin" bs=1 skip=32 count=1024 status=none
"$TOOL" imds "$url" "$TEST_DIR/az-tdreport.bin" "$TEST_DIR/az-quote.dat" || fail "IMDS quote failed: $(cat "$TEST_DIR/imds.log")"
cmp -s "$TEST_DIR/az-quote.dat" "$azq" || fail "IMDS quote differs"
grep -q "^BUSY 503" "$TEST_DIR/imds.log" || fail "503 not seen"
grep -q "^OK report 9734504f161d104c74e3165c15f779b0 accept=application/json" "$TEST_DIR/imds.log" ||
    fail "IMDS request not accepted: $(cat "$TEST_DIR/imds.log")"
! grep -q REJECT "$TEST_DIR/imds.log" || fail "the fixture rejected a request: $(cat "$TEST_DIR/imds.log")"
# the quote belongs to that TDREPORT: same MRTD and REPORTDATA
td=$(agent verify --tdreport "$TEST_DIR/az-tdreport.bin" --json 2>/dev/null || true)
agent verify --tdx-quote "$TEST_DIR/az-quote.dat" --at "$AT" --measurement "$(json_field mrtd <<<"$td")" \
    --report-data "$(json_field report_data <<<"$td")" >/dev/null || fail "Azure quote does not match its TDREPORT"
# the fixture is strict: a charset parameter gets 415 (as the real endpoint)
"$PYTHON" - "$url" "$TEST_DIR/az-tdreport.bin" <<'PY' || fail "fixture accepted a charset Content-Type"
import base64, sys, urllib.request, urllib.error
rep = base64.urlsafe_b64encode(open(sys.argv[2], "rb").read()).decode().rstrip("=")
req = urllib.request.Request(sys.argv[1] + "/acc/tdquote", data=('{"report":"%s"}' % rep).encode(),
                             headers={"Content-Type": "application/json; charset=utf-8", "Metadata": "true"})
try:
    urllib.request.urlopen(req)
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code == 415 else 1)
sys.exit(1)
PY
# a TDREPORT that is not one is refused by the fixture (HTTP 400, not retried)
head -c 1024 /dev/zero >"$TEST_DIR/zero.bin"
expect_rc 1 quiet "$TOOL" imds "$url" "$TEST_DIR/zero.bin" "$TEST_DIR/x.dat"
pass_msg "Azure IMDS /acc/tdquote"
