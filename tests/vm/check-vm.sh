#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# make check-vm: the agent in a real boot. A Debian 12 guest (tests/vm/
# build-image.sh, cached) boots under QEMU/TCG with OVMF and cvm-sim's vTPM
# (swtpm); from a unit after network-online.target it runs `cvm-agent report
# --json` (HCL report from /dev/tpmrm0), `evidence` and `attest` against the
# host's MAA emulator, which must have replayed the guest's real OVMF event
# log to the quoted PCRs. systemd-cryptsetup opens the LUKS2 data volume from
# /run/cvm-agent/data.key (delivered by the test until `cvm-agent boot`
# exists). Exit 77 (skip) where QEMU & co. are missing.
set -uo pipefail

CVM_SRCDIR=${CVM_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
CVM_BUILDDIR=${CVM_BUILDDIR:-$CVM_SRCDIR/build}
PYTHON=${PYTHON:-/usr/bin/python3}
export CVM_SRCDIR CVM_BUILDDIR PYTHON
# shellcheck source=tests/vm/lib.sh
. "$CVM_SRCDIR/tests/vm/lib.sh"

why=$(vm_missing)
if [ -n "$why" ]; then
    echo "SKIP: check-vm: $why"
    exit 77
fi

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
t0=$(date +%s)

work=$(mktemp -d /tmp/cvm-vm.XXXXXX)
logs="$CVM_BUILDDIR/tests/vm-logs"
finish() {
    vm_cleanup
    rm -rf "$logs"
    mkdir -p "$logs"
    # what a reader needs after a failure: console, report, emulator logs
    (cd "$work" && find . -name '*.log' -not -path './sim/pki/*' -print0 |
        xargs -0 -r cp --parents -t "$logs") 2>/dev/null
    rm -rf "$work"
}
trap finish EXIT
trap 'exit 130' INT TERM

image=$("$CVM_SRCDIR/tests/vm/build-image.sh" --srcdir "$CVM_SRCDIR" --builddir "$CVM_BUILDDIR" \
    --cache "${CVM_VM_CACHE:-$CVM_BUILDDIR/vm-cache}" 2>"$work/build-image.log") || {
    tail -n 30 "$work/build-image.log"
    echo "FAIL: the guest image could not be built (log above)"
    exit 1
}
t_image=$(($(date +%s) - t0))
echo "image: $image ($(grep -h 'cache hit' "$work/build-image.log" >/dev/null && echo "cache hit" ||
    cat "$image/build-times"), ${t_image} s)"

vm_init "$work"
ts=$(date +%s)
vm_sim_up || { echo "FAIL: cvm-sim up"; exit 1; }
vm_seed "$image/data.key"
echo "cvm-sim: up and vTPM handed over in $(($(date +%s) - ts)) s"

vm_boot boot1 "$image" || { echo "FAIL: boot1 did not complete"; exit 1; }
echo "boot1: QEMU ran ${vm_boot_secs} s (power-on to power-off)"

# --- inside the guest
[ "$(vm_report boot1 tpm)" = /dev/tpmrm0 ] && ok "/dev/tpmrm0 present" ||
    fail "no /dev/tpmrm0 in the guest: $(vm_report boot1 tpm)"
evbytes=$(vm_report boot1 eventlog | sed -n 's/.*bytes=\([0-9]*\).*/\1/p')
[ "${evbytes:-0}" -gt 0 ] && ok "OVMF event log in securityfs: $evbytes bytes" ||
    fail "no firmware event log in the guest"
for c in report evidence attest; do
    line=$(vm_report boot1 cmd | grep "^$c ")
    if [[ "$line" == *" rc=0 "* ]]; then
        ok "cvm-agent $c: ${line#* }"
    else
        fail "cvm-agent $c: ${line:-no result}; stderr: $(vm_report_block boot1 "$c.err" | tail -n 5)"
    fi
done
vm_report_block boot1 report.out | "$PYTHON" -c '
import json, sys
r = json.load(sys.stdin)
assert r, "empty report"
print("ok: report --json parses: " + ", ".join(sorted(r)[:8]))' || fail "report --json is not JSON"
vm_report_block boot1 attest.out | "$PYTHON" -c '
import json, sys
a = json.load(sys.stdin)
print("ok: attest --json: " + ", ".join(sorted(a)[:8]))' || fail "attest --json is not JSON"

# --- on the host: the MAA emulator saw the guest's real firmware log
guest_log_sha=$(vm_report boot1 eventlog | sed -n 's/.*sha256=\([0-9a-f]*\).*/\1/p')
"$PYTHON" - "$vm_sim_dir/logs/maa.log" "$guest_log_sha" "$vm_sim_dir/binary_bios_measurements" <<'PY' ||
import hashlib, json, sys
path, guest_sha, sim_log = sys.argv[1:4]
recs = [json.loads(l) for l in open(path)]
rep = [r for r in recs if r.get("event") == "tcg-log-replayed"]
att = [r for r in recs if r.get("event") == "request" and "/attest/AzureGuest" in (r.get("target") or "")]
assert att and all(r["status"] == 200 for r in att), "AzureGuest requests: %s" % [
    (r["status"], r.get("reason")) for r in att]
assert rep, "the MAA emulator replayed no TcgLogs"
r = rep[-1]
assert r["log_sha256"] == guest_sha, "replayed log %s is not the guest's %s" % (r["log_sha256"], guest_sha)
assert r["log_sha256"] != hashlib.sha256(open(sim_log, "rb").read()).hexdigest(), "the sim's simulated log"
assert set(range(8)) <= set(r["quoted_pcrs"]), r["quoted_pcrs"]
assert r["events"] >= 10, r
print("ok: MAA emulator replayed the guest's OVMF log (%d events, %s) to the quoted PCRs %s"
      % (r["events"], r["events_per_pcr"], r["quoted_pcrs"]))
PY
    fail "MAA emulator log ($vm_sim_dir/logs/maa.log)"

# --- the LUKS2 data volume
[ "$(vm_report boot1 cryptsetup)" = active ] && ok "systemd-cryptsetup@data.service active" ||
    fail "systemd-cryptsetup@data: $(vm_report boot1 cryptsetup)"
[[ "$(vm_report boot1 data)" == mounted* ]] && ok "data volume mounted ($(vm_report boot1 data))" ||
    fail "data volume: $(vm_report boot1 data)"
failed_units=$(vm_report_block boot1 failed)
[ -z "$failed_units" ] || fail "failed units in the guest: $failed_units"

boot1_secs=$vm_boot_secs

# --- boot 2, no key delivered: the volume stays locked, the boot goes on
# (nofail, headless: no prompt, no timeout) and reports it.
vm_seed
vm_boot boot2 "$image" || { echo "FAIL: boot2 (no key) did not complete"; exit 1; }
echo "boot2 (no key): QEMU ran ${vm_boot_secs} s"
[ "$(vm_report boot2 data)" = not-mounted ] && ok "without its key the volume stays locked" ||
    fail "boot2 without a key: data $(vm_report boot2 data)"
[ "$(vm_report boot2 cryptsetup)" != active ] && ok "systemd-cryptsetup@data: $(vm_report boot2 cryptsetup)" ||
    fail "boot2: systemd-cryptsetup@data active without a key"
[ -n "$(vm_report boot2 "done")" ] && ok "boot2 completed: $(vm_report boot2 system)" ||
    fail "boot2 did not reach the end of the check unit"
others=$(vm_report_block boot2 failed | grep -v 'systemd-cryptsetup@data.service' | grep -v '^$')
[ -z "$others" ] || fail "boot2: failed units besides the data volume: $others"

for b in boot1 boot2; do
    echo "timings: $b $(vm_report $b analyze)"
    for c in report evidence attest; do
        echo "timings: $b agent $c $(vm_report $b cmd | grep "^$c " | sed 's/.*ms=/ms=/')"
    done
done
echo "timings: check-vm total $(($(date +%s) - t0)) s (image ${t_image} s, boot1 ${boot1_secs} s, boot2 ${vm_boot_secs} s)"
[ "$fails" -eq 0 ] || { echo "FAIL: $fails check(s); logs in $logs"; exit 1; }
echo "PASS: check-vm"
