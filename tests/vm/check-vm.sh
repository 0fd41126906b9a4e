#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# make check-vm: cvm-agent baked into a real image and run at boot by
# systemd. A Debian 12 guest (tests/vm/build-image.sh, cached; cvm-agent from
# its .deb) boots under QEMU/TCG with OVMF and cvm-sim's vTPM (swtpm). The
# data volume's key is sealed on the host before the first boot (the image
# builder's step); cvm-agent.service (`cvm-agent boot`) unseals it before
# cryptsetup-pre.target and systemd-cryptsetup opens the LUKS2 volume. Five
# boots on one persistent root overlay, data volume and vTPM state:
#   a  first boot: volume opens, a file is written; report/evidence/attest;
#      the MAA emulator replayed the guest's real OVMF event log
#   b  the key rotated in the vault emulator: the volume opens, boot moves the
#      secret to the new version, status --json clean, the file intact
#   c  a changed kernel command line (PCR 9): re-authorized after attestation
#   d  the MAA emulator refuses (wrong_signature): the volume stays locked,
#      the boot says why, the envelope is untouched
#   e  the next good boot opens it; the file intact
# CVM_VM_BOOTS="a b" runs the first boots only (each needs the ones before).
# Exit 77 (skip) where QEMU & co. are missing.
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
boots=${CVM_VM_BOOTS:-a b c d e}

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
    (cd "$work" && find . \( -name '*.log' -o -name '*.json' \) -not -path './sim/pki/*' \
        -not -path './seed/*' -print0 | xargs -0 -r cp --parents -t "$logs") 2>/dev/null
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
if grep -q 'image .* built' "$work/build-image.log"; then
    how="built: $(cat "$image/build-times")"
else
    how="cache hit"
fi
grep -q 'package cache hit' "$work/build-image.log" || how="$how; the .deb rebuilt"
echo "image: $image ($how; ${t_image} s)"

vm_init "$work"
ts=$(date +%s)
vm_sim_up || { echo "FAIL: cvm-sim up"; exit 1; }
vm_seal_data "$image" || { echo "FAIL: sealing the data volume's key on the host"; exit 1; }
vm_tpm_handoff || { echo "FAIL: cvm-sim tpm-handoff"; exit 1; }
echo "cvm-sim: up, data key sealed ($VM_DATA_PCRS) and the volume rekeyed, vTPM handed over in $(($(date +%s) - ts)) s"
export CVM_SIM_DIR=$vm_sim_dir
sim() { "$PYTHON" "$CVM_SRCDIR/tests/sim/cvm-sim" "$@"; }

# --- helpers over one boot's report (report.log) ------------------------------
# KEY=VALUE field of a report line: field NAME LINEKEY FIELD
field() { vm_report "$1" "$2" | tr ' ' '\n' | sed -n "s/^$3=//p" | head -1; }
log_lines() { cat "$vm_sim_dir/logs/$1.log" 2>/dev/null | wc -l; }
declare -A maa_from maa_to vault_from vault_to qemu_secs
boot() { # NAME [kernel arguments...]: one boot, its MAA log range recorded
    local name=$1
    shift
    maa_from[$name]=$(log_lines maa)
    vault_from[$name]=$(log_lines vault)
    vm_boot "$name" "$image" "$@" || { echo "FAIL: boot $name did not complete"; exit 1; }
    maa_to[$name]=$(log_lines maa)
    vault_to[$name]=$(log_lines vault)
    qemu_secs[$name]=$vm_boot_secs
    echo "boot $name: QEMU ran ${vm_boot_secs} s (power-on to power-off)"
}
# The agent ran and delivered; systemd-cryptsetup opened the volume; the
# file the first boot wrote is there.
volume_open() { # NAME
    local n=$1 hello
    [ "$(field "$n" agent Result)" = success ] && ok "$n: cvm-agent.service succeeded" ||
        fail "$n: cvm-agent.service: $(vm_report "$n" agent); log: $(vm_report_block "$n" agent.log | tail -n 5)"
    [ "$(field "$n" cryptsetup ActiveState)" = active ] && ok "$n: systemd-cryptsetup@data opened the volume" ||
        fail "$n: systemd-cryptsetup@data: $(vm_report "$n" cryptsetup); $(vm_report_block "$n" cryptsetup.log | tail -n 3)"
    hello=$(vm_report "$n" data | sed -n 's/.* hello=//p')
    [ "$hello" = "$(cat "$work/data-token")" ] && ok "$n: /data/hello intact ($(vm_report "$n" data | cut -d' ' -f1-2))" ||
        fail "$n: data volume: '$(vm_report "$n" data)', want hello=$(cat "$work/data-token")"
}
no_failed_units() { # NAME [UNIT...]: no failed unit but those named
    local n=$1 others
    shift
    others=$(vm_report_block "$n" failed | grep -v '^$')
    for u in "$@"; do others=$(grep -v "$u" <<<"$others"); done
    [ -z "$others" ] && ok "$n: no failed unit${1:+ besides $*}" || fail "$n: failed units: $others"
}
status_clean() { # NAME
    local n=$1
    vm_report "$n" cmd | grep -q '^status rc=0 ' && vm_report_block "$n" status.out | "$PYTHON" -c '
import json, sys
s = json.load(sys.stdin)
txt = json.dumps(s)
assert "\"behind\": true" not in txt and "stale" not in txt, txt
print("ok: '"$n"': cvm-agent status --json clean: " + txt[:160])' ||
        fail "$n: status: $(vm_report "$n" cmd | grep '^status'); $(vm_report_block "$n" status.out | head -c 400) $(vm_report_block "$n" status.err | tail -n 3)"
}
envelope() { vm_report_block "$1" envelope; }
# jq-like: a member of the envelope of one boot (python expression over e)
env_get() { envelope "$1" | "$PYTHON" -c "import json,sys; e=json.load(sys.stdin); print($2)" 2>/dev/null; }
reauthorized() { vm_report_block "$1" agent.log | grep -q "re-authorized after a successful attestation"; }

run_a() {
    vm_seed full
    boot a
    [ "$(vm_report a tpm)" = /dev/tpmrm0 ] && ok "a: /dev/tpmrm0 present" ||
        fail "a: no /dev/tpmrm0 in the guest: $(vm_report a tpm)"
    for c in report evidence attest; do
        line=$(vm_report a cmd | grep "^$c ")
        if [[ "$line" == *" rc=0 "* ]]; then
            ok "a: cvm-agent $c: ${line#* }"
        else
            fail "a: cvm-agent $c: ${line:-no result}; stderr: $(vm_report_block a "$c.err" | tail -n 5)"
        fi
    done
    vm_report_block a report.out | "$PYTHON" -c 'import json,sys; assert json.load(sys.stdin)' ||
        fail "a: report --json is not JSON"
    # the host: the MAA emulator saw the guest's real firmware log
    local sha
    sha=$(vm_report a eventlog | sed -n 's/.*sha256=\([0-9a-f]*\).*/\1/p')
    "$PYTHON" - "$vm_sim_dir/logs/maa.log" "$sha" "$vm_sim_dir/binary_bios_measurements" <<'PY' ||
import hashlib, json, sys
path, guest_sha, sim_log = sys.argv[1:4]
recs = [json.loads(l) for l in open(path)]
rep = [r for r in recs if r.get("event") == "tcg-log-replayed"]
att = [r for r in recs if r.get("event") == "request" and "/attest/AzureGuest" in (r.get("target") or "")]
assert att and all(r["status"] == 200 for r in att), "AzureGuest requests: %s" % [
    (r["status"], r.get("reason")) for r in att]
assert rep, "the MAA emulator replayed no TcgLogs"
assert all(r["log_sha256"] == guest_sha for r in rep), "a replayed log is not the guest's %s" % guest_sha
assert guest_sha != hashlib.sha256(open(sim_log, "rb").read()).hexdigest(), "the sim's simulated log"
r = rep[-1]
assert set(range(8)) <= set(r["quoted_pcrs"]), r["quoted_pcrs"]
assert r["events"] >= 10, r
print("ok: a: MAA emulator replayed the guest's OVMF event log (%d events, %s) to the quoted PCRs %s (%d AzureGuest requests, all 200)"
      % (r["events"], r["events_per_pcr"], r["quoted_pcrs"], len(att)))
PY
        fail "a: MAA emulator log ($vm_sim_dir/logs/maa.log)"
    volume_open a
    # sealed on the host (the sim's simulated PCRs), opened in the guest
    # (OVMF's): the first boot itself re-authorizes
    reauthorized a && ok "a: the host-sealed approval was re-authorized to the measured boot" ||
        fail "a: no re-authorization on the first boot: $(vm_report_block a agent.log | tail -n 4)"
    [ "$(vm_report a keyfile)" = "600 64" ] && ok "a: /run/cvm-agent/data.key 0600, 64 bytes" ||
        fail "a: key file: $(vm_report a keyfile)"
    status_clean a
    no_failed_units a
}

run_b() {
    local kid v_old
    v_old=$(env_get a 'e["key"]["version"]')
    kid=$("$PYTHON" "$CVM_SRCDIR/tests/sim/sim-release-helper.py" rotate) ||
        { fail "b: the vault emulator did not rotate the key"; return; }
    echo "b: key rotated in the vault emulator: ${v_old:0:8}... -> ${kid##*/}"
    vm_seed
    boot b
    volume_open b
    [ "$(env_get b 'e["key"]["version"]')" = "${kid##*/}" ] &&
        [ "$(env_get b '"previous_key" in e')" = False ] &&
        ok "b: boot moved the secret to the new key version ${kid##*/} (no previous wrap left)" ||
        fail "b: envelope key version $(env_get b 'e["key"]["version"]'), want ${kid##*/}; $(vm_report_block b agent.log | tail -n 4)"
    # the host: the vault released the old version (to unwrap) and the new
    # one's public part was fetched (to wrap), in this boot
    "$PYTHON" - "$vm_sim_dir/logs/vault.log" "${vault_from[b]}" "${vault_to[b]}" "$v_old" "${kid##*/}" <<'PY' ||
import json, sys
path, lo, hi, old, new = sys.argv[1:6]
recs = [json.loads(l) for l in open(path)][int(lo):int(hi)]
req = [(r["method"], r["target"].split("?")[0], r["status"]) for r in recs if r.get("event") == "request"]
rel = [q for q in req if q[1].endswith("/%s/release" % old)]
assert rel and all(q[2] == 200 for q in rel), "no release of the old version %s: %s" % (old, req)
assert any(q[0] == "GET" and q[1].endswith("/" + new) and q[2] == 200 for q in req), req
print("ok: b: vault emulator: the old version released (%d), the new one's public key fetched" % len(rel))
PY
        fail "b: vault log of boot b"
    status_clean b
    no_failed_units b
}

run_c() {
    vm_seed
    boot c cvm.kernel-update=1
    volume_open c
    local p9b p9c
    p9b=$(env_get b 'e["tpm"]["approval"]["pcr_values"]["9"]')
    p9c=$(env_get c 'e["tpm"]["approval"]["pcr_values"]["9"]')
    if reauthorized c && [ -n "$p9c" ] && [ "$p9b" != "$p9c" ]; then
        ok "c: changed command line: PCR 9 ${p9b:0:12}... -> ${p9c:0:12}..., re-authorized after attestation ($(vm_report_block c agent.log | grep -o "'data'.*attestation" | head -1))"
    else
        fail "c: no re-authorization for PCR 9 (b ${p9b:-?}, c ${p9c:-?}); $(vm_report_block c agent.log | tail -n 4)"
    fi
    # the host: the re-authorization followed an attestation of this boot
    "$PYTHON" - "$vm_sim_dir/logs/maa.log" "${maa_from[c]}" "${maa_to[c]}" \
        "$(vm_report c eventlog | sed -n 's/.*sha256=\([0-9a-f]*\).*/\1/p')" <<'PY' ||
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])][int(sys.argv[2]):int(sys.argv[3])]
att = [r for r in recs if r.get("event") == "request" and "/attest/" in (r.get("target") or "")]
rep = [r for r in recs if r.get("event") == "tcg-log-replayed"]
assert att and all(r["status"] == 200 for r in att), [(r["status"], r.get("reason")) for r in att]
assert rep and all(r["log_sha256"] == sys.argv[4] for r in rep), "not boot c's event log"
print("ok: c: MAA emulator: boot c attested (%d request(s), 200) with its own event log" % len(att))
PY
        fail "c: MAA log of boot c"
    status_clean c
    no_failed_units c
}

run_d() {
    sim fault --dir "$vm_sim_dir" maa wrong_signature >/dev/null ||
        { fail "d: cvm-sim fault maa wrong_signature"; return; }
    vm_seed
    boot d cvm.kernel-update=1
    sim fault --dir "$vm_sim_dir" maa --clear >/dev/null
    [ "$(field d agent Result)" != success ] &&
        ok "d: cvm-agent.service failed: $(vm_report d agent | tr ' ' '\n' | grep -E '^(Result|ExecMainStatus)=' | tr '\n' ' ')" ||
        fail "d: cvm-agent.service succeeded against a refusing MAA"
    # the journal names the refusal and the secret left closed
    if vm_report_block d agent.log | grep -q "attestation of this VM failed" &&
        vm_report_block d agent.log | grep -q "cannot open 'data'"; then
        ok "d: the boot says why: $(vm_report_block d agent.log | grep -E "not acceptable|cannot open 'data'" |
            sed 's/^.*cvm-agent\[[0-9]*\]: //' | tr '\n' ' ')"
    else
        fail "d: the agent's journal does not say why: $(vm_report_block d agent.log | tail -n 4)"
    fi
    [ "$(field d cryptsetup ActiveState)" != active ] && [ "$(vm_report d data)" = not-mounted ] &&
        ok "d: the volume stayed locked (systemd-cryptsetup@data $(field d cryptsetup ActiveState))" ||
        fail "d: the volume opened with attestation refused: $(vm_report d cryptsetup) $(vm_report d data)"
    [ "$(vm_report d envelope | sed 's/sha256=//')" = "$(vm_report c envelope | sed 's/sha256=//')" ] &&
        ok "d: the envelope is byte-identical to the last good boot's" ||
        fail "d: the envelope changed in a refused boot"
    "$PYTHON" - "$vm_sim_dir/logs/maa.log" "${maa_from[d]}" "${maa_to[d]}" <<'PY' ||
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])][int(sys.argv[2]):int(sys.argv[3])]
att = [r for r in recs if r.get("event") == "request" and "/attest/" in (r.get("target") or "")]
assert att, "no attestation request in boot d"
assert all("wrong_signature" in json.dumps(r.get("faults")) for r in att), att
print("ok: d: MAA emulator: %d attestation request(s), each answered with the wrong_signature fault" % len(att))
PY
        fail "d: MAA log of boot d"
    [ -n "$(vm_report d "done")" ] && ok "d: the boot completed: $(vm_report d system)" ||
        fail "d: the boot did not reach the check unit's end"
    no_failed_units d cvm-agent.service systemd-cryptsetup@data.service
}

run_e() {
    vm_seed
    boot e cvm.kernel-update=1
    volume_open e
    reauthorized e && fail "e: re-authorized again with the PCRs of c (the approval of c should hold)"
    [ "$(vm_report e data | sed -n 's/.*boots=\([0-9]*\).*/\1/p')" = 4 ] &&
        ok "e: the data volume counts 4 opened boots (a b c e), nothing lost" ||
        fail "e: data volume: $(vm_report e data)"
    status_clean e
    no_failed_units e
}

for b in $boots; do "run_$b"; done

# --- timings, per boot, from inside the guest
for b in $boots; do vm_timings "$b"; done
[ -z "${qemu_secs[a]:-}" ] || for c in report evidence attest; do
    echo "timings: boot a: cvm-agent $c $(vm_report a cmd | grep "^$c " | sed 's/.*ms=/ms=/')"
done
echo "timings: check-vm total $(($(date +%s) - t0)) s (image ${t_image} s; QEMU$(for b in $boots; do printf ' %s %s s' "$b" "${qemu_secs[$b]}"; done))"
[ "$fails" -eq 0 ] || { echo "FAIL: $fails check(s); logs in $logs"; exit 1; }
echo "PASS: check-vm"
