#!/bin/bash
# Crash safety of `cvm-agent rotate` as a command, on one cvm-sim platform
# (Key Vault, SNP guest), with a tpm+cmk and a cmk-only secret:
#  * SIGKILL at every request a rotation makes: a counting run lists the
#    requests per emulator; then for each one the emulator holds exactly that
#    request ("stall" with after=K), the test kills the agent while it waits
#    there, every secret must open with its bytes, and a rerun must finish the
#    rotation. Each round starts from a fresh key version, so every round
#    makes the same requests as the counting run (checked: the held request
#    is the one expected).
#  * a full file system (STATE on a 256 KiB tmpfs) during the envelope write:
#    rotate fails (exit 4) naming the envelope, no envelope changes, every
#    secret opens, and after freeing space rotate completes.
SIM_VAULT=akv SIM_TEE=snp
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/secrets-sim-env.sh"
T0=$SECONDS
# one attempt per request: a retry on a loaded machine would shift the
# request count; the held request is killed long before these timeouts
A+=(-o http.attempts=1 -o http.timeout=20s -o http.deadline=30s)
SECRETS=(db nvm)
head -c 48 /dev/urandom >db.bin
head -c 4096 /dev/urandom >nvm.bin
run seal-db 0 seal --name db --in db.bin
run seal-nvm 0 seal --name nvm --in nvm.bin

# opens WHEN NAME...: each secret unseals to its bytes, and no temporary file
# is left beside the envelopes
opens() {
    local when=$1 s rc
    shift
    for s in "$@"; do
        rm -f open.bin
        rc=0
        agent "${A[@]}" unseal --name "$s" --out open.bin >out.open 2>err.open || rc=$?
        [ "$rc" = 0 ] || { cat err.open >&2; fail "$when: '$s' does not open (exit $rc)"; }
        cmp -s "$s.bin" open.bin || fail "$when: '$s' opened to other bytes"
    done
    ! compgen -G "${STATE_NOW:-$STATE}/secrets/*.tmp.*" >/dev/null || fail "$when: a temporary file was left"
}
opens_all() { opens "$1" "${SECRETS[@]}"; }
# on_version V WHEN: every envelope names key version V and nothing else
on_version() {
    local s
    for s in "${SECRETS[@]}"; do
        "$PYTHON" - "${STATE_NOW:-$STATE}/secrets/$s.json" "$1" <<'PY' || fail "$2: '$s' is not on ${1##*/} alone"
import json, sys
e = json.load(open(sys.argv[1]))
sys.exit(0 if e["key"]["version"] == sys.argv[2].rsplit("/", 1)[1] and "previous_key" not in e else 1)
PY
    done
}
# log_lines SERVICE: the number of lines in the emulator's request log
log_lines() { if [ -e "$CVM_SIM_DIR/logs/$1.log" ]; then wc -l <"$CVM_SIM_DIR/logs/$1.log"; else echo 0; fi; }
# requests SERVICE FROM EVENT: "METHOD TARGET" of each EVENT line after line
# FROM of its log, key versions replaced by V (they differ from round to round)
requests() {
    [ -e "$CVM_SIM_DIR/logs/$1.log" ] || return 0
    tail -n +"$(($2 + 1))" "$CVM_SIM_DIR/logs/$1.log" | "$PYTHON" -c '
import json, re, sys
for line in sys.stdin:
    r = json.loads(line)
    if r.get("event") == sys.argv[1]:
        print(r["method"], re.sub(r"/[0-9a-f]{32}", "/V", r["target"]))' "$3"
}
SERVICES=(imds maa vault kds)

# --- the counting run, with the agent's caches (VCEK chain, MAA signing
# keys) warm as they are in every later round
opens_all "after seal"
V=$("${HELPER[@]}" rotate)
declare -A FROM
for svc in "${SERVICES[@]}"; do FROM[$svc]=$(log_lines "$svc"); done
run count 0 rotate --all
on_version "$V" "the counting run"
total=0
for svc in "${SERVICES[@]}"; do
    requests "$svc" "${FROM[$svc]}" request >"expected.$svc"
    total=$((total + $(wc -l <"expected.$svc")))
done
[ "$total" -ge 8 ] || fail "a rotation of two secrets made only $total requests: $(cat expected.*)"
echo "# rotate --all makes $total requests: $(for s in "${SERVICES[@]}"; do printf '%s %s ' "$s" "$(wc -l <"expected.$s")"; done)"

# --- SIGKILL while the emulator holds request N
n=0 pending=0
T1=$SECONDS
for svc in "${SERVICES[@]}"; do
    mapfile -t want <"expected.$svc"
    for k in "${!want[@]}"; do
        n=$((n + 1))
        V=$("${HELPER[@]}" rotate)
        from=$(log_lines "$svc")
        # the fault file, as cvm-sim fault writes it (atomically)
        printf '{"stall": {"after": %d}}\n' "$k" >"$CVM_SIM_DIR/faults/$svc.json.new"
        mv "$CVM_SIM_DIR/faults/$svc.json.new" "$CVM_SIM_DIR/faults/$svc.json"
        # the binary itself, not the agent() function: $! must be the agent's
        # pid, not that of a subshell whose child would outlive the kill
        "$CVM_AGENT" "${A[@]}" rotate --all >out.killed 2>err.killed &
        pid=$!
        for _ in $(seq 500); do
            [ "$(tail -n +"$((from + 1))" "$CVM_SIM_DIR/logs/$svc.log" | grep -c '"event": "stalled"')" = 0 ] || break
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.02
        done
        kill -KILL "$pid" 2>/dev/null || true
        rc=0
        wait "$pid" 2>/dev/null || rc=$? # (no "Killed" line from bash)
        echo '{}' >"$CVM_SIM_DIR/faults/$svc.json.new"
        mv "$CVM_SIM_DIR/faults/$svc.json.new" "$CVM_SIM_DIR/faults/$svc.json"
        held=$(requests "$svc" "$from" stalled)
        what="request $n ($svc #$((k + 1)): ${want[$k]})"
        [ "$rc" = 137 ] || { cat err.killed >&2; fail "$what: rotate was not held there (exit $rc)"; }
        [ "$held" = "${want[$k]}" ] || fail "$what: the emulator held '$held' instead"
        opens_all "killed at $what"
        mapfile -t both < <(grep -l '"previous_key"' "$STATE"/secrets/*.json | xargs -r -n1 basename -s .json)
        if [ "${#both[@]}" -gt 0 ]; then
            # caught between the write and the drop of the old wrap: such an
            # envelope must open with the old version alone, the new one refused
            pending=$((pending + ${#both[@]}))
            printf '{"revoked_key": {"path": "/%s/release"}}\n' "${V#https://*/}" >"$CVM_SIM_DIR/faults/vault.json.new"
            mv "$CVM_SIM_DIR/faults/vault.json.new" "$CVM_SIM_DIR/faults/vault.json"
            opens "killed at $what, the new version refused" "${both[@]}"
            echo '{}' >"$CVM_SIM_DIR/faults/vault.json.new"
            mv "$CVM_SIM_DIR/faults/vault.json.new" "$CVM_SIM_DIR/faults/vault.json"
        fi
        run "resume" 0 rotate --all
        on_version "$V" "the rerun after a kill at $what"
    done
done
[ "$n" = "$total" ] || fail "exercised $n of $total requests"
# each secret was caught once between writing the new wrap and dropping the old
[ "$pending" -ge "${#SECRETS[@]}" ] || fail "only $pending kills left an envelope with both wraps"
echo "# $n rounds (kill, open both, rerun) in $((SECONDS - T1)) s"
run status 0 status
pass_msg "SIGKILL at each of the $n requests of rotate --all (held by the emulator): every secret opened with its bytes ($pending times with both wraps: also with the new version refused), each rerun finished on the newest version, status exit 0"

# --- a full file system during the envelope write
if [ "$(id -u)" = 0 ] && mkdir -p small && mount -t tmpfs -o size=256k tmpfs small 2>/dev/null; then
    on_exit "umount '$TEST_DIR/small'"
    STATE_NOW=$TEST_DIR/small/state
    A+=(-o "agent.state-dir=$STATE_NOW")
    run small-seal-db 0 seal --name db --in db.bin
    run small-seal-nvm 0 seal --name nvm --in nvm.bin
    opens_all "on the small file system" # fills its caches while there is room
    for s in "${SECRETS[@]}"; do cp "$STATE_NOW/secrets/$s.json" "$s.before"; done
    V=$("${HELPER[@]}" rotate)
    dd if=/dev/zero of=small/fill bs=4k 2>/dev/null || true
    run full 4 rotate --all
    grep -q "$STATE_NOW/secrets/.*No space left on device" err.full ||
        fail "the failure does not name the envelope and the full disk: $(cat err.full)"
    sed 's/^/# /' err.full
    for s in "${SECRETS[@]}"; do
        cmp -s "$s.before" "$STATE_NOW/secrets/$s.json" || fail "a failed rotate changed '$s'"
    done
    opens_all "after rotate failed on a full file system"
    rm small/fill
    run freed 0 rotate --all
    on_version "$V" "rotate after freeing space"
    opens_all "after freeing space"
    pass_msg "a full file system during rotate: exit 4 naming the envelope ($(grep -o 'cannot[^:]*' err.full | head -1)), envelopes byte-identical, both open; with space again rotate completes"
else
    echo "# skipped the full-file-system part: mounting a tmpfs needs root (CAP_SYS_ADMIN)"
fi
echo "# rotate-crash: $n kill points; ${SECONDS} s in all, $((SECONDS - T0)) s after the platform came up"
