#!/bin/bash
# Secrets hygiene, against one `cvm-sim up` (Key Vault, SNP): seal (file and
# stdin), unseal (file and stdout), release, rotate, attest and boot (file,
# credential and stdout targets) at debug level, half of them in the journal
# format, with secrets the test knows: the sealed inputs, what unseal and boot
# delivered, the released CMK versions, what those open in the envelopes
# (key-encryption keys, K_cmk, the policy key K_pol), and a vault access token
# given as a file (its signature). None of them may appear,
# raw, hex or base64(url), in stdout/stderr (but the stdout asked for), the
# argv or environment of a running agent, or any file but the outputs asked
# for (the state dir, the working dir, the sim dir with the emulators' logs,
# new files in /tmp and $HOME); state files 0600, directories 0700; while the
# agent holds a secret it is non-dumpable, has no core limit, its secret pages
# are locked, and SIGABRT leaves no core (or none with a secret in it).
T0=$(date +%s%N)
SIM_VAULT=akv SIM_TEE=snp SECRETS_SIM_SETUP_ONLY=1
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/secrets-sim-lib.sh"
HY=("$PYTHON" "$CVM_SRCDIR/tests/integration/secrets-hygiene.py")
ms() { echo $((($(date +%s%N) - T0) / 1000000)); }
echo "# platform up after $(ms) ms"
touch "$TEST_DIR/start.mark"
A+=(--log-level=debug)
mkdir -m 0700 known out samples
# a recognizable secret with random bytes in it, so every encoding is distinct
secret() { { printf 'CVM-HYGIENE-%s:' "$1"; head -c "$2" /dev/urandom; } >"known/$1"; }
secret sealed 45
secret piped 100
secret stalled 40
secret aborted 40
# jrun: run (secrets-sim-lib.sh) with the journal's stderr format
jrun() { JOURNAL_STREAM=8:4242 run "$@"; }

# --- every command that handles a secret, at debug level
run seal 0 seal --name db --in known/sealed --pcrs sha256:0,7
jrun seal-stdin 0 seal --name piped --in - <known/piped
run unseal 0 unseal --name db --out out/db.bin
cmp -s known/sealed out/db.bin || fail "unseal --out: other bytes"
jrun unseal-stdout 0 unseal --name piped --out -
cmp -s known/piped out.unseal-stdout || fail "unseal --out -: other bytes"
run release1 0 release --out out/cmk1.der
jrun release1-pem 0 release --format pem --out out/cmk1.pem
KEY_V2=$("${HELPER[@]}" rotate)
jrun rotate 0 rotate --all
# the vault's access token from a file the test holds: a known bearer credential
"$PYTHON" "$SIMDIR/cvm-sim" token --dir "$CVM_SIM_DIR" >known/bearer.jwt
run release2 0 -o identity.source=file -o "identity.token-file=$TEST_DIR/known/bearer.jwt" \
    release --key "$KEY_V2" --out out/cmk2.der
run unseal-rotated 0 unseal --name db --out out/db2.bin
cmp -s known/sealed out/db2.bin || fail "unseal after rotate: other bytes"
jrun attest 0 attest --token-out out/token.jwt
cp "$CVM_SIM_DIR/agent.conf" boot.conf
cat >>boot.conf <<CONF
[store]
credstore = $TEST_DIR/credstore
[secret disk]
create = yes
target = file:$TEST_DIR/run/cvm-agent/disk.key
[secret eph]
ephemeral = yes
target = credential
[secret keyscript]
create = yes
mode = cmk-only
target = stdout
CONF
A=(-c "$TEST_DIR/boot.conf" "${A[@]}")
jrun boot 0 boot
cp run/cvm-agent/disk.key known/boot-file && cp credstore/eph known/boot-credential &&
    cp out.boot known/boot-stdout || fail "boot did not deliver"
[ "$(stat -c %s known/boot-stdout)" = 64 ] || fail "boot's stdout target: $(stat -c %s out.boot) bytes"
pass_msg "seal (file, stdin), unseal (file, stdout), release (der, pem), rotate, attest, boot (file, credential, stdout) at debug level [$(ms) ms]"

# --- a stall while the agent holds a secret: seal with each vault answer
# 1 s late; argv, environment and process state sampled meanwhile
slow_seal() { # NAME SECRET: starts a seal that stalls at the vault, sets PID
    "$CVM_AGENT" "${A[@]}" -o http.timeout=6s -o http.deadline=10s seal --name "$1" --in "known/$2" \
        >"out.$1" 2>"err.$1" &
    PID=$!
}
fault vault slow seconds=1
slow_seal stalled stalled
n=0
while kill -0 "$PID" 2>/dev/null && [ $n -lt 40 ]; do
    n=$((n + 1))
    cat "/proc/$PID/cmdline" >"samples/cmdline.$n" 2>/dev/null || true
    cat "/proc/$PID/environ" >"samples/environ.$n" 2>/dev/null || true
    cat "/proc/$PID/status" >"samples/status.$n" 2>/dev/null || true
    cat "/proc/$PID/limits" >"samples/limits.$n" 2>/dev/null || true
    sleep 0.1
done
rc=0
wait "$PID" || rc=$?
[ "$rc" = 0 ] || fail "the stalled seal exited $rc: $(cat err.stalled)"
[ $n -ge 10 ] || fail "the seal did not stall ($n samples): is the slow fault applied?"
# mid-stall: the secret was read (before the TPM and the vault), the vault answers late
mid=$((n / 2))
grep -Eq '^Max core file size +0 +0 ' "samples/limits.$mid" ||
    fail "RLIMIT_CORE not 0 during the stall: $(grep core "samples/limits.$mid")"
lck=$(awk '/^VmLck:/ {print $2}' "samples/status.$mid")
if grep -qa __asan_init "$CVM_AGENT"; then
    # ASan's mlock interceptor returns 0 and locks nothing
    echo "# ASan build: mlock is a no-op under ASan, locked pages not checked"
elif [ "$(ulimit -l)" != unlimited ] && [ "$(ulimit -l)" -lt 64 ]; then
    echo "# RLIMIT_MEMLOCK $(ulimit -l) kB: locked pages not checked"
else
    [ "${lck:-0}" -gt 0 ] || fail "no locked pages while the secret is held (VmLck ${lck:-?} kB)"
fi
pass_msg "stalled at the vault ($n samples): argv/environment sampled, core limit 0, ${lck:-0} kB locked [$(ms) ms]"

# --- non-dumpable: /proc/PID is owned by root once a process is not dumpable,
# which shows only when it runs as another user. The agent as nobody, blocked
# reading the secret from a FIFO that holds part of it; `sleep` as the control.
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
    echo "# SKIP part: non-dumpable check needs root and setpriv"
else
    NB=$(mktemp -d "${TMPDIR:-/tmp}/cvm-hygiene-nobody.XXXXXX")
    on_exit 'rm -rf "$NB"'
    chmod 0755 "$NB" && mkfifo -m 0666 "$NB/in"
    NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups) # execs: $! is the process
    "${NOBODY[@]}" sleep 10 &
    CTL=$!
    exec 3<>"$NB/in"
    "${NOBODY[@]}" "$CVM_AGENT" -c /dev/null --state-dir "$NB/state" seal --name x --in - <&3 3<&- \
        >/dev/null 2>"$NB/err" &
    PID=$!
    head -c 40 known/stalled >&3
    # wait until both have exec'd (setpriv runs as root until then) and the
    # agent has opened /dev/stdin (the FIFO a second time) to read its secret
    for _ in $(seq 50); do
        [[ $(readlink "/proc/$CTL/exe") == */sleep ]] &&
            [ "$(find "/proc/$PID/fd" -lname "$NB/in" | wc -l)" -ge 2 ] && break
        sleep 0.1
    done 2>/dev/null
    ctl_uid=$(stat -c %u "/proc/$CTL/status")
    agent_uid=$(stat -c %u "/proc/$PID/status" 2>/dev/null || echo gone)
    exec 3>&-
    kill "$CTL" "$PID" 2>/dev/null || true
    wait "$CTL" "$PID" 2>/dev/null || true
    if [ "$ctl_uid" != 65534 ]; then
        echo "# SKIP part: /proc of a dumpable process as nobody is owned by $ctl_uid, not 65534"
    elif [ "$agent_uid" = gone ]; then
        fail "the agent as nobody did not wait for its secret: $(cat "$NB/err")"
    else
        [ "$agent_uid" = 0 ] || fail "the agent holding a secret is dumpable (/proc/PID owned by $agent_uid)"
        pass_msg "non-dumpable while reading a secret (/proc/PID owned by root; a dumpable control by nobody) [$(ms) ms]"
    fi
fi

# --- SIGABRT during the stall: no core (or one without a secret). The kernel
# writes "core" into the process's directory when core_pattern is a plain
# name; a `sleep` there first shows it would.
pattern=$(cat /proc/sys/kernel/core_pattern)
mkdir -m 0700 abrt
ctl_core=
if [[ $pattern == \|* || $pattern == */* ]] || ! (ulimit -c unlimited) 2>/dev/null; then
    echo "# SKIP part: core_pattern '$pattern' or the core limit does not let the test see a core"
else
    (cd abrt && ulimit -c unlimited && exec sleep 10) &
    CTL=$!
    sleep 0.2
    kill -ABRT "$CTL"
    wait "$CTL" 2>/dev/null || true
    ctl_core=$(find abrt -name 'core*' | head -1)
    rm -f abrt/core*
    [ -n "$ctl_core" ] || echo "# SKIP part: a dumpable control left no core in its directory (core_pattern '$pattern')"
fi
if [ -n "$ctl_core" ]; then
    (cd abrt && ulimit -c unlimited && exec "$CVM_AGENT" "${A[@]}" -o http.timeout=6s \
        -o http.deadline=10s seal --name aborted --in ../known/aborted >../out.aborted 2>../err.aborted) &
    PID=$!
    sleep 0.8 # the secret read, the TPM done, the first vault answer 1 s away
    kill -ABRT "$PID"
    rc=0
    wait "$PID" 2>/dev/null || rc=$? # no "Aborted" line from the shell
    [ "$rc" = 134 ] || fail "SIGABRT during the stall: exit $rc, not 134 (did it stall?)"
    if [ -n "$(find abrt -name 'core*')" ]; then
        "${HY[@]}" scan --secret known/* --root abrt || fail "the core of an aborted agent holds a secret"
        pass_msg "SIGABRT while holding a secret: a core, without any secret in it [$(ms) ms]"
    else
        pass_msg "SIGABRT while holding a secret: no core (a dumpable control left one) [$(ms) ms]"
    fi
fi
fault vault --clear

# --- modes
modes() { find "$@" \( -type d ! -perm 0700 -o -type f ! -perm 0600 \) -printf '%m %p\n'; }
bad=$(modes "$STATE")
[ -z "$bad" ] || fail "state not 0700/0600: $bad"
bad=$(modes out run/cvm-agent credstore)
[ -z "$bad" ] || fail "outputs not 0600 (directories the agent made 0700): $bad"
pass_msg "state dir: directories 0700, files 0600; outputs 0600 in directories of 0700 [$(ms) ms]"

# --- the journal format: every stderr line of the jrun commands has a <N> priority
for f in err.seal-stdin err.unseal-stdout err.release1-pem err.rotate err.attest err.boot; do
    [ -s "$f" ] || fail "$f is empty at debug level"
    ! grep -qv '^<[0-7]>' "$f" || fail "$f: a line without the journal's <N> prefix: $(grep -v '^<[0-7]>' "$f" | head -1)"
done
pass_msg "under JOURNAL_STREAM every log line carries its <N> priority [$(ms) ms]"

# --- the secrets the test can learn beyond its own inputs
"${HY[@]}" derive known --cmk out/cmk1.der out/cmk2.der --envelope "$STATE"/secrets/*.json \
    --bearer known/bearer.jwt >derive.txt ||
    fail "deriving the envelope keys: $(cat derive.txt)"
echo "# $(cat derive.txt)"
# the token's text is not searched for (its header and claims are alike in
# every token, the sim's own among them): its signature is
rm known/bearer.jwt

# --- the search finds what it looks for: the CMK in the PEM asked for, the
# secret on the stdout asked for
rc=0
"${HY[@]}" scan --secret known/* --root out/cmk1.pem out.unseal-stdout >scan-self.txt || rc=$?
[ "$rc" = 1 ] && grep -q 'cmk1.pem holds cmk0.d (base64' scan-self.txt &&
    grep -q 'unseal-stdout holds piped (raw)' scan-self.txt || fail "the search misses: $(cat scan-self.txt)"

# --- no secret anywhere but the outputs asked for
requested=(out/db.bin out/db2.bin out/cmk1.der out/cmk1.pem out/cmk2.der out.unseal-stdout out.boot
    run/cvm-agent/disk.key credstore/eph)
"${HY[@]}" scan --secret known/* --root "$TEST_DIR" --exclude known "${requested[@]}" >scan.txt ||
    fail "$(cat scan.txt)"
echo "# work, state and sim dirs, argv/environment samples: $(tail -1 scan.txt)"
"${HY[@]}" scan --secret known/* --root /tmp "$HOME" --newer start.mark --max-size 1048576 \
    --prune 'cvm-test-*' 'bash_jobs*' 'bash_tool_*' --exclude "$TEST_DIR" >scan-tmp.txt ||
    fail "$(cat scan-tmp.txt)"
echo "# /tmp and \$HOME (new files): $(tail -1 scan-tmp.txt)"
pass_msg "no secret (raw, hex, HEX, base64, base64url) in stdout, stderr, argv, environment or any other file [$(ms) ms]"
echo "# wall time: $(ms) ms"
