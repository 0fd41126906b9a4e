#!/bin/bash
# The fault matrix: attest, release, unseal, rotate and boot, each under every
# fault the emulators inject (down, slow beyond the deadline, 429 with
# Retry-After, 500/503, a malformed body, a wrong signature, an expired token,
# the wrong nonce, the wrong transfer key, a disabled key) and under TPM faults
# from tests/sim/tpm-proxy.py (TPM_RC_RETRY a few times / for ever, the swtpm
# gone mid-command). One cvm-sim for all of it. Each cell: the exit code the
# contract gives (0 ok, 1 "no", 3 transient after retries, 4 local platform;
# a fault on an endpoint the command does not use is 0) and, when not 0, a
# message naming the cause; after each row every secret opens with the bytes
# it was sealed with. Prints the matrix; fails on any mismatch.
#
# CVM_FAULT_MATRIX_ROWS=REGEX runs only the rows whose name matches (the ASan
# pass of scripts/test.sh sets a subset: every fault kind once).
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_cmd swtpm tpm2_flushcontext curl
[ -x "$PYTHON" ] || skip "$PYTHON not found"
"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography not installed"
export PYTHONDONTWRITEBYTECODE=1
SIMDIR=$CVM_SRCDIR/tests/sim
SIM=$TEST_DIR/sim
T0=$(date +%s.%N)
"$PYTHON" "$SIMDIR/cvm-sim" up --dir "$SIM" --tee snp --vault akv >"$TEST_DIR/up.txt" 2>&1 ||
    fail "cvm-sim up failed: $(tail -5 "$TEST_DIR/up.txt")"
on_exit '"$PYTHON" "$SIMDIR/cvm-sim" down --dir "$SIM" >/dev/null 2>&1'
# shellcheck disable=SC1091
. "$SIM/env" # TPM2TOOLS_TCTI stays on the swtpm itself (for flushing)
cd "$TEST_DIR"
ep() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$SIM/endpoints.json" "$1"; }
KEY_BASE=$(ep key_url)
KEY_BASE=${KEY_BASE%/*}
ADMIN=$(ep admin_token)
CA=$(ep ca_bundle)

# --- the TPM proxy in front of the sim's swtpm
"$PYTHON" "$SIMDIR/tpm-proxy.py" --upstream "${CVM_AGENT_TCTI##*port=}" --control tpm-fault.json \
    --log tpm-proxy.log --port-file tpm-proxy.port >/dev/null 2>tpm-proxy.err &
PROXY_PID=$!
CLEANUP_PIDS+=("$PROXY_PID")
for _ in $(seq 100); do [ -s tpm-proxy.port ] && break; sleep 0.05; done
[ -s tpm-proxy.port ] || fail "tpm-proxy did not start: $(cat tpm-proxy.err)"
PROXY_TCTI="swtpm:host=127.0.0.1,port=$(cat tpm-proxy.port)"

# Short retries so that the transient cells stay quick: 2 attempts of at most
# 3 s within 4 s (the MAA emulator makes an RSA key for wrong_transfer_key:
# slow on a loaded machine); the "slow" rows (answers after 2 s) cut the
# attempt timeout to 1 s. A TPM that stays busy is given 300 ms of waits.
A=(-T "$PROXY_TCTI" -o http.timeout=3s -o http.attempts=2 -o http.backoff=50ms
    -o http.deadline=4s -o agent.tpm-busy-timeout=300ms)
SLOW=(-o http.timeout=1s -o http.deadline=2s)
cp "$SIM/agent.conf" boot.conf
cat >>boot.conf <<CONF
[store]
boot-deadline = 20s
[secret db]
target = file:$TEST_DIR/run/db.key
[secret disk]
create = yes
target = file:$TEST_DIR/run/disk.key
CONF
B=(-c "$TEST_DIR/boot.conf")

# --- the secrets: db sealed from known bytes, disk created by the first boot
head -c 48 /dev/urandom >db.bin
agent "${A[@]}" seal --name db --in db.bin >seal.out 2>&1 || fail "seal: $(cat seal.out)"
agent "${B[@]}" "${A[@]}" boot >boot0.out 2>&1 || fail "first boot: $(cat boot0.out)"
cmp -s db.bin run/db.key || fail "the first boot delivered other bytes for db"
cp run/disk.key disk.bin

# delivered: the boot targets hold both secrets' original bytes
delivered() { cmp -s db.bin run/db.key && cmp -s disk.bin run/disk.key; }
# secrets_intact: both secrets open (through boot) with the original bytes
secrets_intact() {
    rm -f run/db.key run/disk.key
    agent "${B[@]}" "${A[@]}" boot >check.out 2>&1 && delivered
}

# --- faults: the services' fault files (re-read when their bytes change) and
# the proxy's control file
port_of() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$SIM/run/$1.json"; }
declare -A PORT
for s in maa vault imds kds; do PORT[$s]=$(port_of "$s"); done
put() { printf '%s\n' "$2" >"$1.tmp" && mv "$1.tmp" "$1"; }
wait_port() { # SERVICE open|closed: a refused "down" closes the port within 50 ms
    local _ open
    for _ in $(seq 100); do
        open=closed
        (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$1]}") 2>/dev/null && open=open
        [ "$open" = "$2" ] && return 0
        sleep 0.02
    done
    fail "$1: port still not $2"
}
# set_fault SERVICE JSON-OBJECT | tpm JSON-OBJECT
ARMED=0
set_fault() {
    mkdir -p "$SIM/faults"
    # the proxy re-arms its counters when the file's bytes change: make them
    if [ "$1" = tpm ]; then
        ARMED=$((ARMED + 1))
        put tpm-fault.json "${2%\}}, \"armed\": $ARMED}"
    else
        put "$SIM/faults/$1.json" "$2"
    fi
    case $2 in *'"down"'*) wait_port "$1" closed ;; esac
}
clear_faults() {
    local s
    for s in maa vault imds kds; do
        if [ -s "$SIM/faults/$s.json" ] && [ "$(tr -d ' \n' <"$SIM/faults/$s.json")" != '{}' ]; then
            put "$SIM/faults/$s.json" '{}'
            wait_port "$s" open
        fi
    done
    put tpm-fault.json '{"mode": "pass"}'
}
# A TPM gone mid-command leaves what the agent had loaded (no resource manager
# in front of a socket swtpm): flush, as /dev/tpmrm0 does when a client goes.
flush_tpm() {
    local what
    for what in -t -s -l; do
        tpm2_flushcontext "$what" >/dev/null 2>&1 || fail "flushing the swtpm ($what)"
    done
}
new_key_version() { # so that rotate has a version to move to
    curl -sS -f --cacert "$CA" -X POST -H "Authorization: Bearer $ADMIN" \
        "$KEY_BASE/rotate?api-version=7.4" -o /dev/null || fail "rotating the key in the vault"
}

# --- the rows: NAME|SERVICE|FAULT-JSON|EXPECTED (attest release unseal rotate boot)|CAUSE-REGEX
# The commands' endpoints, with the caches warm (THIM chain, MAA keys): attest
# uses MAA; release, unseal, rotate (with a newer version) and boot use MAA,
# IMDS (the managed identity's token) and the vault.
ROWS=(
    "maa down|maa|{\"down\": {}}|3 3 3 3 3|MAA.*unreachable"
    "maa slow|maa|{\"slow\": {\"seconds\": 2}}|3 3 3 3 3|MAA.*unreachable"
    "maa 429 once|maa|{\"throttle\": {\"retry_after\": 1, \"count\": 1}}|0 0 0 0 0|"
    "maa 429|maa|{\"throttle\": {\"retry_after\": 1}}|3 3 3 3 3|MAA.*429"
    "maa 503|maa|{\"server_error\": {\"status\": 503, \"retry_after\": 0}}|3 3 3 3 3|MAA.*503"
    "maa malformed|maa|{\"malformed\": {}}|3 3 3 3 3|MAA.*unusable"
    "maa wrong signature|maa|{\"wrong_signature\": {}}|1 1 1 1 1|signature"
    "maa expired token|maa|{\"expired_token\": {}}|1 1 1 1 1|claim: exp"
    "maa wrong nonce|maa|{\"wrong_nonce\": {}}|1 1 1 1 1|nonce"
    "maa wrong transfer key|maa|{\"wrong_transfer_key\": {}}|1 1 1 1 1|transfer key"
    "vault down|vault|{\"down\": {}}|0 3 3 3 3|vault did not answer"
    "vault slow|vault|{\"slow\": {\"seconds\": 2}}|0 3 3 3 3|vault did not answer"
    "vault 429|vault|{\"throttle\": {\"retry_after\": 1}}|0 3 3 3 3|429.*vault"
    "vault 500|vault|{\"server_error\": {}}|0 3 3 3 3|500.*vault"
    "vault malformed|vault|{\"malformed\": {}}|0 3 3 3 3|unusable.*vault|vault.*unusable"
    "vault wrong signature|vault|{\"wrong_signature\": {}}|0 1 1 1 1|signature"
    "vault wrong transfer key|vault|{\"wrong_transfer_key\": {}}|0 1 1 1 1|wrapped to another key"
    "vault key disabled|vault|{\"revoked_key\": {}}|0 1 1 1 1|disabled"
    "imds down|imds|{\"down\": {}}|0 3 3 3 3|IMDS.*unreachable"
    "imds 503|imds|{\"server_error\": {\"status\": 503, \"retry_after\": 0}}|0 3 3 3 3|IMDS.*503"
    "imds malformed|imds|{\"malformed\": {}}|0 3 3 3 3|IMDS.*malformed"
    "imds wrong signature|imds|{\"wrong_signature\": {}}|0 1 1 1 1|401 Unauthorized: Token validation"
    "imds expired token|imds|{\"expired_token\": {}}|0 1 1 1 1|401 Unauthorized: Token validation"
    "tpm RC_RETRY x3|tpm|{\"mode\": \"retry\", \"count\": 3}|0 0 0 0 0|"
    "tpm RC_RETRY x8 on Quote|tpm|{\"mode\": \"retry\", \"count\": 8, \"cc\": 344}|0 0 0 0 0|"
    "tpm RC_RETRY for ever|tpm|{\"mode\": \"retry\", \"count\": -1, \"cc\": 344}|4 4 4 4 4|TPM.*busy"
    "tpm gone in Quote|tpm|{\"mode\": \"drop\", \"cc\": 344}|4 4 4 4 4|connection to the TPM"
    "tpm gone in RSA_Decrypt|tpm|{\"mode\": \"drop\", \"cc\": 345}|4 4 4 4 4|connection to the TPM"
    "tpm gone in Unseal|tpm|{\"mode\": \"drop\", \"cc\": 350}|0 0 4 0 4|connection to the TPM"
    "tpm stopped|tpm|{\"mode\": \"drop\"}|4 4 4 4 4|connection to the TPM"
)
COMMANDS=(attest release unseal rotate boot)

run_cell() { # COMMAND OPTIONS... -> exit code; output in cell.out / cell.err
    local rc=0 cmd=$1
    shift
    rm -f unseal.bin run/db.key run/disk.key
    case $cmd in
    attest) agent "$@" attest ;;
    release) agent "$@" release ;;
    unseal) agent "$@" unseal --name db --out unseal.bin ;;
    rotate) agent "$@" rotate --all ;;
    boot) agent "${B[@]}" "$@" boot ;;
    esac >cell.out 2>cell.err || rc=$?
    echo "$rc"
}

MISMATCH=()
TABLE=()
row_filter=${CVM_FAULT_MATRIX_ROWS:-.}
printf -v header '%-26s' "fault"
for c in "${COMMANDS[@]}"; do printf -v header '%s %-8s' "$header" "$c"; done
echo "# row: the exit code of each command, ✓ = as the contract says"
nrows=0
for row in "${ROWS[@]}"; do
    IFS='|' read -r name service fjson expect cause <<<"$row"
    grep -Eq -- "$row_filter" <<<"$name" || continue
    nrows=$((nrows + 1))
    read -r -a want <<<"$expect"
    row_t0=$(date +%s.%N)
    clear_faults
    new_key_version
    line=$(printf '%-26s' "$name")
    for i in "${!COMMANDS[@]}"; do
        cmd=${COMMANDS[$i]}
        set_fault "$service" "$fjson"
        : >tpm-proxy.log
        opts=("${A[@]}")
        case $name in *slow*) opts+=("${SLOW[@]}") ;; esac
        cell_t0=$(date +%s.%N)
        rc=$(run_cell "$cmd" "${opts[@]}")
        echo "$name × $cmd: $(echo "$(date +%s.%N) - $cell_t0" | bc) s" >>cell-times.txt
        # a fault with a count clears itself once served: still there = not hit
        once_missed=
        case $fjson in *'"count"'*) [ "$service" = tpm ] || ! grep -q '"count"' "$SIM/faults/$service.json" ||
            once_missed=1 ;; esac
        clear_faults
        [ "$service" != tpm ] || flush_tpm
        mark=✓
        why=
        if [ "$rc" != "${want[$i]}" ]; then
            why="exit $rc, expected ${want[$i]}"
        elif [ "$rc" != 0 ] && ! grep -Eq -- "$cause" cell.err; then
            why="the message does not name the cause /$cause/"
        elif grep -Eqi 'sanitizer|runtime error|segmentation' cell.err; then
            why="crashed"
        elif [ "$service" = tpm ] && { [ "${want[$i]}" != 0 ] || [[ $fjson == *retry* ]]; } &&
            ! grep -Eq '"action": "(retry|drop)"' tpm-proxy.log; then
            why="the TPM fault was not hit"
        elif [ -n "$once_missed" ]; then
            why="the one-time fault was not hit"
        elif [ "$cmd" = unseal ] && [ "$rc" = 0 ] && ! cmp -s db.bin unseal.bin; then
            why="unseal returned other bytes"
        elif [ "$cmd" = boot ] && [ "$rc" = 0 ] && ! delivered; then
            why="boot delivered other bytes"
        fi
        if [ -n "$why" ]; then
            mark=✗
            MISMATCH+=("$name × $cmd: $why: $({ grep -v 'notice:' cell.err || true; } | tail -3 | tr '\n' ' ')")
        fi
        line="$line $rc $mark     " # printf would pad ✓/✗ by bytes, not columns
    done
    # the row's last cell, boot, when it succeeded, was that check already
    [ "$rc" = 0 ] || secrets_intact || MISMATCH+=("after '$name': a secret no longer opens with its bytes: $(tail -3 check.out)")
    TABLE+=("$line")
    echo "# $line $(printf '%.1f' "$(echo "$(date +%s.%N) - $row_t0" | bc)") s"
done
[ "$nrows" -gt 0 ] || fail "no row matches CVM_FAULT_MATRIX_ROWS='$row_filter'"
echo
echo "$header"
printf '%s\n' "${TABLE[@]}"
secs=$(echo "$(date +%s.%N) - $T0" | bc)
# CPU time, to tell waiting from a loaded machine: what this script ran
# (agent, tpm2-tools, curl), and the emulators, swtpm and the proxy
times >times.txt
cpu_cmd=$(awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] }
    printf "%.1f", t }' times.txt)
cpu_sim=$("$PYTHON" - "$SIM/run/pids.json" "$PROXY_PID" <<'PY'
import json, os, sys
pids = list(json.load(open(sys.argv[1])).values()) + [int(sys.argv[2])]
total = 0
for pid in pids:
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        total += int(f[11]) + int(f[12])
    except (OSError, IndexError, ValueError):
        pass
print("%.1f" % (total / os.sysconf("SC_CLK_TCK")))
PY
)
echo "fault matrix: $nrows rows x ${#COMMANDS[@]} commands in ${secs%.*} s wall; CPU: commands" \
    "$cpu_cmd s, emulators+swtpm+proxy $cpu_sim s; load average $(cut -d' ' -f1 /proc/loadavg)"
sort -t: -k2 -rn cell-times.txt | sed -n '1,3s/^/slowest cell: /p' # (head: SIGPIPE under pipefail)
if [ "${#MISMATCH[@]}" -gt 0 ]; then
    printf 'MISMATCH: %s\n' "${MISMATCH[@]}" >&2
    fail "${#MISMATCH[@]} cell(s) differ from the contract"
fi
pass_msg "every cell at its expected exit code naming its cause; db and disk open with their bytes after every row"
