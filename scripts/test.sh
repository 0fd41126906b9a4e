#!/bin/bash
# The whole test suite, from a fresh checkout on Debian 12:
#   1. install what is missing (as root; otherwise says what to install)
#   2. build with the release warnings (-Werror) and run `make lint` and `make check`
#   3. rebuild with ASan+UBSan and run `make check` again
#   4. run the unit tests under valgrind
#   5. `make fuzz-smoke` in build-fuzz/ (clang + libFuzzer; skipped, visibly, without)
#   6. `make distcheck`
# and end with one line "N passed, N failed, N skipped" over the test runs.
# Set CVM_TEST_QUICK=1 to stop after step 2.
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src" || exit 1
jobs=$(nproc 2>/dev/null || echo 2)
failed_steps=()
results=()

step() { echo; echo "==== $*"; }

run_logged() { # name, command...
    local name=$1
    shift
    if ! "$@"; then
        failed_steps+=("$name")
        return 1
    fi
}

# totals of an automake test-suite.log into results[]
collect() {
    local label=$1 log=$2 pass fail skip
    if [ ! -f "$log" ]; then
        results+=("$label 0 1 0")
        return
    fi
    pass=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
    fail=$(( $(sed -n 's/^# FAIL: *//p' "$log" | head -1) + $(sed -n 's/^# ERROR: *//p' "$log" | head -1) + $(sed -n 's/^# XPASS: *//p' "$log" | head -1) ))
    skip=$(sed -n 's/^# SKIP: *//p' "$log" | head -1)
    results+=("$label ${pass:-0} $fail ${skip:-0}")
    if [ "$fail" -ne 0 ]; then
        echo "---- failures in $label:"
        grep -E '^(FAIL|ERROR|XPASS):' "$log" || true
        # the failing tests' own logs, for CI readers
        local t
        for t in $(grep -E '^(FAIL|ERROR|XPASS):' "$log" | awk '{print $2}'); do
            echo "---- $t.log"
            tail -n 60 "$(dirname "$log")/$t.log" 2>/dev/null || true
        done
    fi
}

step "dependencies"
bash scripts/deps.sh || exit 2

step "bootstrap"
autoreconf -fi >/dev/null || { echo "autoreconf failed"; exit 2; }

step "build (gcc, -Werror)"
mkdir -p build && cd build || exit 2
if ../configure -q && make -j"$jobs" >/dev/null; then
    step "lint"
    run_logged lint make lint
    step "make check"
    make -j"$jobs" check >check.log 2>&1
    collect "check" test-suite.log
    grep -E '^(PASS|FAIL|SKIP|ERROR|XPASS|XFAIL):' check.log 2>/dev/null | sort | sed 's/^/  /' || true
    grep -h '^SKIP: ' tests/*/*.log 2>/dev/null | sort -u | sed 's/^/  why: /' || true
else
    failed_steps+=("build")
fi
cd "$src" || exit 2

if [ -z "${CVM_TEST_QUICK:-}" ]; then
    step "build with ASan+UBSan, make check"
    mkdir -p build-asan && cd build-asan || exit 2
    if ../configure -q --enable-sanitizers CC=gcc CFLAGS="-O1 -g" && make -j"$jobs" >/dev/null; then
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            make -j"$jobs" check >/dev/null 2>&1
        collect "check-asan" test-suite.log
    else
        failed_steps+=("build-asan")
    fi
    cd "$src" || exit 2

    step "unit tests under valgrind"
    cd build || exit 2
    unit=$(make -s print-unit-tests 2>/dev/null)
    if [ -n "$unit" ]; then
        make -j"$jobs" check TESTS="$unit" \
            LOG_COMPILER="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
            TEST_SUITE_LOG=test-suite-valgrind.log >/dev/null 2>&1
        collect "check-valgrind" test-suite-valgrind.log
    fi
    step "fuzz-smoke (libFuzzer, each target 30 s, in build-fuzz/)"
    fuzz_start=$(date +%s)
    if echo 'int main(void){return 0;}' |
        clang -fsanitize=fuzzer-no-link -x c - -o /dev/null >/dev/null 2>&1; then
        mkdir -p build-fuzz && cd build-fuzz || exit 2
        if ../configure -q --enable-fuzzing CC=clang CFLAGS="-O1 -g" &&
            make -j"$jobs" fuzz-smoke FUZZ_JOBS=2 >fuzz-smoke.log 2>&1; then :
        elif ! grep -qE '^[a-z0-9-]+ +FAIL ' fuzz-smoke.log; then
            failed_steps+=("fuzz-smoke") # not built: no per-target result to count
            tail -n 30 fuzz-smoke.log
        fi
        sed -n '/^target /,$p' fuzz-smoke.log | sed 's/^/  /'
        results+=("fuzz-smoke $(grep -cE '^[a-z0-9-]+ +ok ' fuzz-smoke.log) $(grep -cE '^[a-z0-9-]+ +FAIL ' fuzz-smoke.log) 0")
        cd "$src" || exit 2
    else
        echo "SKIP: fuzz-smoke: clang with libFuzzer not found (apt-get install clang-14 libclang-rt-14-dev)"
    fi
    echo "fuzz-smoke step: $(($(date +%s) - fuzz_start)) s"

    step "make distcheck"
    run_logged distcheck make -j"$jobs" distcheck >distcheck.log 2>&1 || tail -n 40 distcheck.log
    cd "$src" || exit 2
fi

step "summary"
tp=0 tf=0 ts=0
for r in "${results[@]}"; do
    read -r label p f s <<<"$r"
    printf '  %-16s %4d passed, %d failed, %d skipped\n' "$label" "$p" "$f" "$s"
    tp=$((tp + p)) tf=$((tf + f)) ts=$((ts + s))
done
for s in "${failed_steps[@]+"${failed_steps[@]}"}"; do
    echo "  step failed: $s"
    tf=$((tf + 1))
done
echo "$tp passed, $tf failed, $ts skipped"
[ "$tf" -eq 0 ]
