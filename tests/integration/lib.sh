#!/bin/bash
# Sourced by every integration test. Gives each test a private work dir and,
# on request, a private swtpm on free loopback ports; everything it starts is
# stopped by the EXIT trap, so tests run in parallel and leave nothing behind.
#
#   . "$CVM_SRCDIR/tests/integration/lib.sh"
#   require_cmd swtpm tpm2_getcap
#   swtpm_start            # exports CVM_AGENT_TCTI and TPM2TOOLS_TCTI
#   agent verify ...       # runs $CVM_AGENT
#
# Exit codes follow automake: 0 pass, 1 fail, 77 skip, 99 hard error.
set -euo pipefail

: "${CVM_AGENT:?run through make check, or set CVM_AGENT to the cvm-agent binary}"
: "${CVM_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${CVM_TESTDATA:=$CVM_SRCDIR/../shared/testdata}"
: "${PYTHON:=/usr/bin/python3}"
export CVM_AGENT CVM_SRCDIR CVM_TESTDATA PYTHON
export TSS2_LOG=all+NONE

TEST_NAME=$(basename "$0" .sh)
TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cvm-test-$TEST_NAME.XXXXXX")
CLEANUP_PIDS=()
CLEANUP_HOOKS=()

_cleanup() {
    local rc=$?
    local hook pid
    for hook in "${CLEANUP_HOOKS[@]+"${CLEANUP_HOOKS[@]}"}"; do
        eval "$hook" || true
    done
    for pid in "${CLEANUP_PIDS[@]+"${CLEANUP_PIDS[@]}"}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${CLEANUP_PIDS[@]+"${CLEANUP_PIDS[@]}"}"; do
        # wait only for our children; others are gone once kill returned
        wait "$pid" 2>/dev/null || true
    done
    if [ "$rc" -ne 0 ] && [ -n "${KEEP_TEST_DIR:-}" ]; then
        echo "test dir kept: $TEST_DIR" >&2
    else
        rm -rf "$TEST_DIR"
    fi
    exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# Registers a command to run at exit (before processes are killed).
on_exit() { CLEANUP_HOOKS+=("$1"); }

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
pass_msg() { echo "ok - $*"; }

require_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || skip "'$c' not installed"
    done
}

require_testdata() {
    [ -d "$CVM_TESTDATA" ] || skip "testdata '$CVM_TESTDATA' absent (set CVM_TESTDATA)"
    local f
    for f in "$@"; do
        [ -e "$CVM_TESTDATA/$f" ] || skip "testdata file '$f' absent"
    done
}

agent() { "$CVM_AGENT" "$@"; }

# expect_rc N CMD...: runs CMD, fails the test unless it exits with N.
expect_rc() {
    local want=$1 rc=0
    shift
    "$@" || rc=$?
    [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want"
}

# Two consecutive free loopback ports (server, control), printed as "P".
free_port_pair() {
    "$PYTHON" - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(20000, 60000)
    socks = []
    try:
        for q in (p, p + 1):
            s = socket.socket(); s.bind(("127.0.0.1", q)); socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks: s.close()
    print(p); break
PY
}

# Starts a fresh swtpm (TPM 2.0, TPM2_Startup done) with its own state dir and
# exports CVM_AGENT_TCTI / TPM2TOOLS_TCTI. Retries when a port race is lost.
# shellcheck disable=SC2034 # SWTPM_* are for the sourcing test
swtpm_start() {
    require_cmd swtpm
    local state="$TEST_DIR/swtpm" port attempt pid
    mkdir -p "$state"
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        port=$(free_port_pair)
        swtpm socket --tpm2 \
            --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
            --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
            --tpmstate "dir=$state" --flags not-need-init,startup-clear \
            --log "file=$state/swtpm.log,level=1" >/dev/null 2>&1 &
        pid=$!
        if _wait_port "$port" "$pid"; then
            CLEANUP_PIDS+=("$pid")
            SWTPM_PORT=$port
            SWTPM_PID=$pid
            SWTPM_STATE=$state
            export CVM_AGENT_TCTI="swtpm:host=127.0.0.1,port=$port"
            export TPM2TOOLS_TCTI="$CVM_AGENT_TCTI"
            echo "# swtpm on port $port (pid $pid); re-run by hand with CVM_AGENT_TCTI='$CVM_AGENT_TCTI'"
            return 0
        fi
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        echo "# swtpm did not start on port $port (attempt $attempt), retrying" >&2
    done
    echo "swtpm could not be started" >&2
    exit 99
}

_wait_port() {
    local port=$1 pid=$2 _
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# Stops the swtpm started by swtpm_start (the EXIT trap does it otherwise).
swtpm_stop() {
    [ -n "${SWTPM_PID:-}" ] || return 0
    kill "$SWTPM_PID" 2>/dev/null || true
    wait "$SWTPM_PID" 2>/dev/null || true
    SWTPM_PID=
}
