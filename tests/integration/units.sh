#!/bin/bash
# The systemd units as built (configured paths filled in) pass `systemd-analyze verify` with
# no ordering cycle against this machine's units, run the commands they are for, and name
# man pages the build makes. The check can fail: a misspelt key and the cycle the default
# dependencies would make are both caught.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_cmd systemd-analyze

units=(cvm-agent.service cvm-agent-rotate.service cvm-agent-rotate.timer)
for u in "${units[@]}"; do
    f="$CVM_BUILDDIR/dist/$u"
    [ -f "$f" ] || f="$CVM_SRCDIR/dist/$u"
    [ -f "$f" ] || fail "$u not built (make dist/$u)"
    cp "$f" "$TEST_DIR/$u"
done

# verify checks that ExecStart= is executable: point the copies at the built program
exec_path=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$TEST_DIR/cvm-agent.service")
[ "$(basename "$exec_path")" = cvm-agent ] || fail "cvm-agent.service runs '$exec_path'"
sed -i "s|^ExecStart=$exec_path |ExecStart=$CVM_AGENT |" "$TEST_DIR"/*.service

# verify; the unit names go through the search path, so dependencies resolve as at boot
analyze() { # unit files...
    (cd "$TEST_DIR" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$@" 2>&1)
}
out=$(analyze "${units[@]/#/./}") || fail "systemd-analyze verify failed:
$out"
if grep -qi 'cycle' <<<"$out"; then fail "ordering cycle:
$out"; fi
[ -z "$out" ] || fail "systemd-analyze verify warns:
$out"

grep -qx 'ExecStart=[^ ]*/cvm-agent boot' "$TEST_DIR/cvm-agent.service" ||
    fail "cvm-agent.service does not run 'cvm-agent boot'"
grep -qx 'ExecStart=[^ ]*/cvm-agent rotate --if-needed --all' "$TEST_DIR/cvm-agent-rotate.service" ||
    fail "cvm-agent-rotate.service does not run 'cvm-agent rotate --if-needed --all'"
grep -qx 'Type=oneshot' "$TEST_DIR/cvm-agent.service" || fail "cvm-agent.service is not oneshot"
grep -qx 'Before=cryptsetup-pre.target' "$TEST_DIR/cvm-agent.service" ||
    fail "cvm-agent.service does not run before cryptsetup-pre.target"
grep -qx 'DeviceAllow=/dev/tpmrm0 rw' "$TEST_DIR/cvm-agent.service" ||
    fail "cvm-agent.service's sandbox shuts out /dev/tpmrm0"
grep -q '^RandomizedDelaySec=' "$TEST_DIR/cvm-agent-rotate.timer" ||
    fail "the rotate timer has no RandomizedDelaySec"
if grep -n '@[a-z]*@' "$TEST_DIR"/*.service; then fail "a placeholder left unsubstituted"; fi

# every man page a unit names is one the build makes
for m in $(sed -n 's/^Documentation=//p' "$TEST_DIR"/* | tr ' ' '\n' | sed -n 's/^man://p' | sort -u); do
    page="${m%(*}.$(sed 's/.*(\(.*\))/\1/' <<<"$m")"
    [ -f "$CVM_BUILDDIR/man/$page" ] || [ -f "$CVM_SRCDIR/man/$page" ] ||
        fail "Documentation=man:$m names a page the build does not make"
done

# the checks can fail
sed 's/^RemainAfterExit=/RemainAfterExti=/' "$TEST_DIR/cvm-agent.service" >"$TEST_DIR/bad-key.service"
out=$(analyze ./bad-key.service) || true
grep -q 'RemainAfterExti' <<<"$out" || fail "verify let a misspelt key through: $out"
sed 's/^DefaultDependencies=no/DefaultDependencies=yes/' "$TEST_DIR/cvm-agent.service" \
    >"$TEST_DIR/cycle.service"
out=$(analyze ./cycle.service) || true
grep -qi 'ordering cycle' <<<"$out" || fail "the default dependencies' cycle was not seen: $out"

pass_msg "${#units[@]} units verify with no cycle; a bad key and a cycle are caught"
