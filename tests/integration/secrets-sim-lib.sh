#!/bin/bash
# Sourced by secrets-sim.sh (Key Vault, SNP) and secrets-sim-mhsm.sh (Managed
# HSM, TDX): seal / unseal / rotate / status / boot against one `cvm-sim up`,
# the secret store with release/ as its key provider, end to end.
# Expects SIM_VAULT and SIM_TEE; with SECRETS_SIM_SETUP_ONLY=1 it only brings the
# platform up and defines the helpers (secrets-hygiene.sh).
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/secrets-sim-env.sh"
ENV_=$STATE/secrets/db.json
# a simulated kernel update: an event on PCR 4 in the TCG log and the extend of
# both banks, so the MAA's replay still matches and attestation succeeds
kernel_update() {
    "$PYTHON" - "$(ep event_log)" "$1" <<'PY'
import hashlib, os, struct, subprocess, sys
log, data = sys.argv[1], sys.argv[2].encode()
d1, d256 = hashlib.sha1(data).digest(), hashlib.sha256(data).digest()
ev = struct.pack("<III", 4, 0x80000003, 2) + struct.pack("<H", 4) + d1 + struct.pack("<H", 0xB) + d256
ev += struct.pack("<I", len(data)) + data
subprocess.run(["tpm2_pcrextend", "4:sha1=%s,sha256=%s" % (d1.hex(), d256.hex())], check=True)
with open(log, "ab") as f:
    f.write(ev)
PY
}
# a test that wants only this platform and the helpers above stops here
[ -z "${SECRETS_SIM_SETUP_ONLY:-}" ] || return 0

# --- seal, unseal: the same bytes
head -c 48 /dev/urandom >secret.bin
run seal 0 seal --name db --in secret.bin --pcrs sha256:0,4,7 --json
[ "$(stat -c %a "$ENV_")" = 600 ] && [ "$(stat -c %a "$STATE/secrets")" = 700 ] || fail "envelope/dir modes"
run seal-again 2 seal --name db --in secret.bin
grep -q -- '--force' err.seal-again || fail "refusal to overwrite does not name --force: $(cat err.seal-again)"
run unseal 0 unseal --name db --out u1.bin
cmp -s secret.bin u1.bin || fail "unseal returned other bytes"
run unseal-stdout 0 unseal --name db --out -
cmp -s secret.bin out.unseal-stdout || fail "unseal --out - wrote other bytes"
run status0 0 status --json
pass_msg "seal then unseal returns the same 48 bytes (file and stdout); a second seal without --force is exit 2"

# --- the emulator rotates the key: status behind, rotate, same bytes, status current
KEY_V2=$("${HELPER[@]}" rotate)
run status-behind 1 status
grep -q "'db' is behind: it uses ${KEY_V1##*/}, the newest is ${KEY_V2##*/}" err.status-behind ||
    fail "status does not name the secret behind: $(cat err.status-behind)"
[ "$(grep -c 'is behind' err.status-behind)" = 1 ] || fail "not one line per secret behind"
run rotate 0 rotate --all --if-needed --json
grep -q '"rotated"' out.rotate || fail "rotate did not report the move: $(cat out.rotate)"
grep -q "${KEY_V2##*/}" "$ENV_" || fail "the envelope is not on the new version"
run rotate-again 0 rotate --all --if-needed --json
grep -q '"current"' out.rotate-again || fail "a second rotate was not a no-op: $(cat out.rotate-again)"
run unseal2 0 unseal --name db --out u2.bin
cmp -s secret.bin u2.bin || fail "after rotation unseal returned other bytes"
run status1 0 status
pass_msg "after the emulator rotates: status exit 1 naming db, rotate moves it (then a no-op), same bytes, status exit 0"


# --- status with a readable rotation policy (the key owner's token): the next
# rotation and the expiry from its ISO-8601 durations
"$PYTHON" - "${KEY_V1%/*}/rotationpolicy?api-version=7.4" "$(ep admin_token)" "$(ep ca_bundle)" <<'PY' || fail "setting the rotation policy"
import json, ssl, sys, urllib.request
url, token, ca = sys.argv[1], sys.argv[2], sys.argv[3]
body = {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}}],
        "attributes": {"expiryTime": "P1Y"}}
req = urllib.request.Request(url, data=json.dumps(body).encode(), method="PUT",
                             headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
urllib.request.urlopen(req, context=ssl.create_default_context(cafile=ca), timeout=30).read()
PY
ep admin_token >admin.txt
run status-policy 0 -o identity.source=file -o "identity.token-file=$TEST_DIR/admin.txt" status --json
"$PYTHON" -c 'import json, sys
k = json.load(open(sys.argv[1]))["secrets"][0]["key_schedule"]
assert k["policy_expiry"] - k["next_rotation"] == (365 - 90) * 86400, k' out.status-policy ||
    fail "next rotation / expiry not computed: $(cat out.status-policy)"
run status-unreadable 0 status --json
grep -q '"rotation_policy":[[:space:]]*"unreadable"' out.status-unreadable ||
    fail "an unreadable policy is not said: $(cat out.status-unreadable)"
pass_msg "status: the rotation policy (P90D rotate, P1Y expiry) gives next_rotation and policy_expiry; unreadable to the VM's identity, it says so"

# --- disabled versions
"${HELPER[@]}" disable "$KEY_V1"
run unseal-v1-off 0 unseal --name db --out u3.bin
cmp -s secret.bin u3.bin || fail "with the old version disabled: other bytes"
KEY_V3=$("${HELPER[@]}" rotate)
run rotate3 0 rotate --name db
"${HELPER[@]}" disable "$KEY_V3"
run unseal-v3-off 1 unseal --name db --out u4.bin
grep -q "${KEY_V3##*/}" err.unseal-v3-off && grep -qi 'disabled' err.unseal-v3-off ||
    fail "a disabled version: the error does not name it: $(cat err.unseal-v3-off)"
[ ! -e u4.bin ] || fail "a secret was written although unseal failed"
pass_msg "the old version disabled: still opens; the version in use disabled: exit 1 naming it (KeyDisabled)"

# --- PCR change: re-authorization only after a successful attestation
"${HELPER[@]}" rotate >/dev/null
run seal-pcr 0 seal --name pcr --in secret.bin --pcrs sha256:0,4,7
approval() { "$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps(d["tpm"]["approval"], sort_keys=True))' "$1"; }
cp "$STATE/secrets/pcr.json" pcr.before
kernel_update "kernel 6.1.99"
run unseal-reauth 0 --log-level=notice unseal --name pcr --out u5.bin --json
cmp -s secret.bin u5.bin || fail "unseal through re-authorization returned other bytes"
grep -q '"reauthorized":[[:space:]]*true' out.unseal-reauth || fail "not reported as re-authorized: $(cat out.unseal-reauth)"
[ "$(grep -c 'PCR 4 changed' err.unseal-reauth)" = 1 ] || fail "no one line naming PCR 4: $(cat err.unseal-reauth)"
[ "$(approval pcr.before)" != "$(approval "$STATE/secrets/pcr.json")" ] || fail "the stored approval did not change"
run unseal-after 0 unseal --name pcr --out u6.bin --json
grep -q '"reauthorized":[[:space:]]*false' out.unseal-after || fail "re-authorized twice"
kernel_update "kernel 6.1.100"
cp "$STATE/secrets/pcr.json" pcr.before2
fault maa down
rc=0
agent "${A[@]}" unseal --name pcr --out u7.bin >out.refused 2>err.refused || rc=$?
"$PYTHON" "$SIMDIR/cvm-sim" fault --dir "$CVM_SIM_DIR" maa --clear >/dev/null
[ "$rc" -ne 0 ] || fail "unseal after a PCR change succeeded without attestation"
[ ! -e u7.bin ] || fail "a secret was written without attestation"
cmp -s pcr.before2 "$STATE/secrets/pcr.json" || fail "the envelope changed although attestation failed"
run unseal-back 0 unseal --name pcr --out u8.bin
cmp -s secret.bin u8.bin || fail "after the MAA came back: other bytes"
pass_msg "PCR 4 extended (logged): unseal re-authorizes (one line naming PCR 4, approval changed, same bytes); with the MAA down it fails (exit $rc) and the envelope is byte-identical"


# --- boot: a missing envelope is created only with create = yes
cp "$CVM_SIM_DIR/agent.conf" boot0.conf
cat >>boot0.conf <<CONF
[store]
credstore = $TEST_DIR/credstore
boot-deadline = 60s
[secret disk]
target = file:$TEST_DIR/run/cvm-agent/disk.key
[secret eph]
ephemeral = yes
target = credential
[secret cmk]
mode = cmk-only
target = stdout
CONF
rc=0
agent -c "$TEST_DIR/boot0.conf" "${A[@]}" boot >boot0.out 2>err.boot0 || rc=$?
[ "$rc" = 4 ] || { cat err.boot0 >&2; fail "boot with missing envelopes and no create = yes exited $rc, not 4"; }
for s in disk cmk; do
    grep -q "'$s': its envelope $STATE/secrets/$s.json is missing and \[secret $s\] create = no" err.boot0 ||
        fail "the refusal does not name the envelope of '$s' and the setting: $(cat err.boot0)"
    [ ! -e "$STATE/secrets/$s.json" ] || fail "'$s' was created without create = yes"
done
[ ! -e run/cvm-agent/disk.key ] && [ ! -s boot0.out ] || fail "a secret was delivered without its envelope"
[ "$(stat -c %s credstore/eph)" = 64 ] || fail "the ephemeral secret was not delivered beside the refusals"
pass_msg "boot without create = yes: exit 4 naming each missing envelope and the setting, nothing created; the ephemeral secret still delivered"

# --- boot: [secret NAME] sections delivered to a file (0600), a credential
# store and stdout; an ephemeral secret differs every boot; READY=1 to systemd
sed 's/^\[secret \(disk\|cmk\)\]$/&\ncreate = yes/' boot0.conf >boot.conf
[ "$(grep -c '^create = yes$' boot.conf)" = 2 ] || fail "boot.conf: $(cat boot.conf)"
B=(-c "$TEST_DIR/boot.conf" "${A[@]}")
rc=0
agent "${B[@]}" boot >boot1.out 2>err.boot1 || rc=$?
[ "$rc" = 0 ] || { cat err.boot1 >&2; fail "first boot exited $rc"; }
[ "$(stat -c %a run/cvm-agent/disk.key)" = 600 ] && [ "$(stat -c %a credstore/eph)" = 600 ] ||
    fail "targets not 0600"
[ "$(stat -c %s boot1.out)" = 64 ] || fail "stdout target: $(stat -c %s boot1.out) bytes"
cp run/cvm-agent/disk.key disk.1 && cp credstore/eph eph.1
"$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(60)
open(sys.argv[2], "wb").write(s.recv(4096))' "$TEST_DIR/notify.sock" notify.got &
NPID=$!
for _ in $(seq 50); do [ -S notify.sock ] && break; sleep 0.1; done
rc=0
NOTIFY_SOCKET=$TEST_DIR/notify.sock agent "${B[@]}" boot >boot2.out 2>err.boot2 || rc=$?
wait "$NPID" || fail "no notification received"
[ "$rc" = 0 ] || { cat err.boot2 >&2; fail "second boot exited $rc"; }
grep -q '^READY=1$' notify.got || fail "no READY=1: $(cat notify.got)"
cmp -s disk.1 run/cvm-agent/disk.key && cmp -s boot1.out boot2.out || fail "a second boot delivered other bytes"
! cmp -s eph.1 credstore/eph || fail "the ephemeral secret was not regenerated"
agent "${B[@]}" unseal --name disk --out - 2>/dev/null | cmp -s - disk.1 || fail "unseal and boot disagree"
pass_msg "boot: file target 0600, credential store 0600, stdout (keyscript); the same bytes on the next boot, a new ephemeral secret, READY=1 on NOTIFY_SOCKET"

# the state lost after the first boot: without create = yes nothing replaces it
mv "$STATE/secrets/disk.json" disk.json.saved
rc=0
agent -c "$TEST_DIR/boot0.conf" "${A[@]}" boot >boot-lost.out 2>err.boot-lost || rc=$?
[ "$rc" = 4 ] && grep -q "disk.json is missing and \[secret disk\] create = no" err.boot-lost ||
    fail "a lost envelope: exit $rc, $(cat err.boot-lost)"
[ ! -e "$STATE/secrets/disk.json" ] || fail "a new 'disk' replaced the lost one"
mv disk.json.saved "$STATE/secrets/disk.json"
agent "${B[@]}" boot >/dev/null 2>err.boot-back || fail "boot with the envelope restored: $(cat err.boot-back)"
cmp -s disk.1 run/cvm-agent/disk.key || fail "the restored envelope delivered other bytes"
pass_msg "an envelope lost after the first boot: exit 4 and no new secret; restored, the same bytes"

# --- --timings (make bench reads it): a stderr line and, with --json, a
# "timings" object; its endpoint requests are the ones the emulators logged,
# TPM and endpoint time fit in the wall time; nothing without --timings
! grep -q 'timings' err.boot1 err.boot2 || fail "timings printed without --timings"
requests() { cat "$CVM_SIM_DIR"/logs/*.log | "$PYTHON" -c '
import json, sys
print(sum(1 for l in sys.stdin if l.strip() and json.loads(l).get("event") == "request"))'; }
before=$(requests)
run timings 0 -c "$TEST_DIR/boot.conf" --timings unseal --name disk --out u9.bin --json
cmp -s disk.1 u9.bin || fail "unseal --timings returned other bytes"
line=$(grep '^cvm-agent: timings: ' err.timings) || fail "no timings line: $(cat err.timings)"
"$PYTHON" - out.timings "$line" $(($(requests) - before)) <<'PY' || fail "timings not sane: $line $(cat out.timings)"
import json, re, sys
t = json.load(open(sys.argv[1]))["timings"]
line, logged = sys.argv[2], int(sys.argv[3])
for k in ("wall_ms", "cpu_ms", "cpu_user_ms", "cpu_sys_ms", "tpm_ms", "tpm_commands",
          "endpoint_ms", "endpoint_requests", "max_rss_kib"):
    assert isinstance(t[k], (int, float)) and t[k] >= 0, k
assert t["endpoint_requests"] == logged > 0, ("requests", t["endpoint_requests"], logged)
assert t["tpm_commands"] >= 10 and t["tpm_ms"] > 0 and t["endpoint_ms"] > 0, t
assert t["tpm_ms"] + t["endpoint_ms"] <= t["wall_ms"], t
assert t["cpu_ms"] > 0 and abs(t["cpu_ms"] - t["cpu_user_ms"] - t["cpu_sys_ms"]) < 0.01, t
assert t["max_rss_kib"] > 1024, t
m = re.search(r"tpm [0-9.]+ ms \((\d+) commands\), endpoints [0-9.]+ ms \((\d+) requests\)", line)
assert m and int(m.group(1)) == t["tpm_commands"] and int(m.group(2)) == logged, line
PY
agent "${A[@]}" -o agent.timings=yes status >out.timings-conf 2>err.timings-conf || true
grep -q '^cvm-agent: timings: wall ' err.timings-conf || fail "[agent] timings = yes: $(cat err.timings-conf)"
pass_msg "--timings: $(grep -o 'wall.*' <<<"$line"); [agent] timings = yes too"

for bad in "target = tape" "colour = red" "reseal = maybe" "create = maybe" "mode = tpm-only"; do
    { cat "$CVM_SIM_DIR/agent.conf"; printf '[secret x]\n%s\n' "$bad"; } >bad.conf
    rc=0
    agent -c "$TEST_DIR/bad.conf" boot >out.badconf 2>err.badconf || rc=$?
    [ "$rc" = 2 ] && grep -q "bad.conf:[0-9]*: .*secret x" err.badconf ||
        fail "'$bad' in [secret x]: exit $rc, $(cat err.badconf)"
done
pass_msg "a bad [secret NAME] key or value is exit 2 naming file:line"

# --- 30 rotations (two pages of versions): rotate finds the newest
for _ in $(seq 30); do LAST=$("${HELPER[@]}" rotate); done
run status-30 1 status --json
grep -q "${LAST##*/}" out.status-30 || fail "status does not show the newest of 30 rotations"
run rotate-30 0 rotate --name pcr
grep -q "${LAST##*/}" "$STATE/secrets/pcr.json" || fail "rotate did not move to the newest version"
run unseal-30 0 unseal --name pcr --out u9.bin
cmp -s secret.bin u9.bin || fail "after 30 rotations: other bytes"
pass_msg "after 30 more versions (paged list): status names the newest, rotate moves to it, same bytes"


# --- NonPersistedTPM: the vTPM cleared (a new SRK) and provisioned again as
# the HCL would on such a VM: boot is exit 4 naming it, the cmk-only secret opens
tpm2_clear -c p || fail "tpm2_clear"
mkdir -p vtpm2
"$SIMDIR/vtpm-provision.sh" --tcti "$TPM2TOOLS_TCTI" --dir vtpm2 --ca-cert "$CVM_SIM_DIR/pki/vtpm-ca.pem" \
    --ca-key "$CVM_SIM_DIR/pki/vtpm-ca.key" >prov.log 2>&1 || fail "re-provisioning: $(tail -3 prov.log)"
(cd "$SIMDIR" && "$PYTHON" -c 'import signers, sys
open(sys.argv[1], "wb").write(signers.hcl_report(sys.argv[2], sys.argv[4], sys.argv[3] + "/ak.pub.pem", sys.argv[3] + "/ek.pub.pem"))' \
    "$TEST_DIR/hcl2.bin" "$CVM_SIM_DIR/pki" "$TEST_DIR/vtpm2" "$SIM_TEE") || fail "HCL report"
"$SIMDIR/vtpm-provision.sh" --tcti "$TPM2TOOLS_TCTI" --hcl-report hcl2.bin >>prov.log 2>&1 || fail "HCL report to NV"
rc=0
agent "${B[@]}" boot >boot3.out 2>err.boot3 || rc=$?
[ "$rc" = 4 ] || { cat err.boot3 >&2; fail "boot after the vTPM lost its state exited $rc, not 4"; }
grep -q 'NonPersistedTPM' err.boot3 && grep -q 'mode = cmk-only' err.boot3 || fail "no NonPersistedTPM message: $(cat err.boot3)"
cmp -s boot1.out boot3.out || fail "the cmk-only secret did not open after the vTPM lost its state"
pass_msg "vTPM cleared: boot exit 4 with the NonPersistedTPM message pointing at mode = cmk-only; the cmk-only secret still delivered"

# --- nothing printed or logged carries the secret
{ "${HELPER[@]}" forms secret.bin && "${HELPER[@]}" forms disk.1 && "${HELPER[@]}" forms boot1.out; } >forms.txt
[ -s forms.txt ] || fail "no leak patterns"
for f in out.* err.* "$CVM_SIM_DIR"/logs/*; do
    case $f in out.unseal-stdout) continue ;; esac
    ! grep -F -q -f forms.txt "$f" || fail "$f carries the secret"
done
pass_msg "no output, log or emulator log carries a secret (sealed, boot file, boot stdout) in hex or base64"
