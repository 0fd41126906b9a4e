#!/bin/bash
# The whole test suite, from a fresh checkout on Debian 12:
#   1. install what is missing (as root; otherwise says what to install)
#   2. build with the release warnings (-Werror) and run `make lint`, `make check`
#      and `make check-vm` (a real boot under QEMU; skipped, with the reason,
#      where QEMU/OVMF/mmdebstrap are missing)
#   3. rebuild with ASan+UBSan and run `make check` again
#   4. run the unit tests under valgrind
#   5. the Debian package: `make check-deb` builds it (scripts/package.sh), runs lintian and
#      installs it into a throwaway root; skipped, with a line saying so, without
#      dpkg-buildpackage and the build dependencies of debian/control
#   6. `make distcheck`
#   7. `make fuzz-smoke` in build-fuzz/ (clang + libFuzzer; skipped, visibly, without)
# and end with one line "N passed, N failed, N skipped" over the test runs.
# Set CVM_TEST_QUICK=1 to stop after step 2.
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src" || exit 1
jobs=$(nproc 2>/dev/null || echo 2)
failed_steps=()
results=()

# every step's wall time, for the summary (the suite's budget is 30 minutes)
step_names=()
step_starts=()
step() {
    step_names+=("$*")
    step_starts+=("$(date +%s)")
    echo
    echo "==== $*"
}

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
    step "make check-vm (the agent in a Debian 12 guest: QEMU/TCG, OVMF, vTPM)"
    make check-vm >check-vm.log 2>&1
    vm_rc=$?
    grep -E '^(ok|FAIL|SKIP|PASS|timings|image|boot[0-9]*|cvm-sim):' check-vm.log | sed 's/^/  /'
    if grep -q '^SKIP: check-vm' check-vm.log; then
        results+=("check-vm 0 0 1")
    elif [ "$vm_rc" -eq 0 ]; then
        results+=("check-vm 1 0 0")
    else
        results+=("check-vm 0 1 0")
        tail -n 40 check-vm.log
    fi
else
    failed_steps+=("build")
fi
cd "$src" || exit 2

# the rows of tests/integration/fault-matrix.sh the ASan pass runs: each fault
# kind (endpoint and TPM) once, about half the plain run's time
fault_matrix_asan_rows='^(maa (down|slow|429 once|503|malformed|wrong nonce)|vault (429|wrong signature|wrong transfer key|key disabled)|imds expired token|tpm (RC_RETRY x8 on Quote|RC_RETRY for ever|gone in Unseal|stopped))$'
fault_matrix_dist_rows='^(maa wrong nonce|vault key disabled|imds expired token|tpm RC_RETRY x3|tpm stopped)$'
if [ -z "${CVM_TEST_QUICK:-}" ]; then
    step "build with ASan+UBSan, make check"
    mkdir -p build-asan && cd build-asan || exit 2
    if ../configure -q --enable-sanitizers CC=gcc CFLAGS="-O1 -g" && make -j"$jobs" >/dev/null; then
        # fault-matrix.sh: under ASan, every kind of fault once (a subset of the rows)
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            CVM_FAULT_MATRIX_ROWS="$fault_matrix_asan_rows" make -j"$jobs" check >/dev/null 2>&1
        collect "check-asan" test-suite.log
    else
        failed_steps+=("build-asan")
    fi
    cd "$src" || exit 2

    step "unit tests under valgrind"
    cd build || exit 2
    unit=$(make -s print-unit-tests 2>/dev/null)
    if [ -n "$unit" ]; then
        # exhaustive mutation sweeps sample every 31st offset here (test_stride)
        CVM_TEST_STRIDE=31 make -j"$jobs" check TESTS="$unit" \
            LOG_COMPILER="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
            TEST_SUITE_LOG=test-suite-valgrind.log >/dev/null 2>&1
        collect "check-valgrind" test-suite-valgrind.log
    fi
    step "Debian package: make check-deb"
    if command -v dpkg-buildpackage >/dev/null && missing=$(cd "$src" && dpkg-checkbuilddeps 2>&1); then
        rm -f test-suite-deb.log
        run_logged check-deb make check-deb >check-deb.log 2>&1 || tail -n 20 check-deb.log
        collect "check-deb" test-suite-deb.log
        grep -hE '^(lintian .*errors|ok - )' tests/deb/*.log 2>/dev/null | sed 's/^/  /' || true
        grep -h '^package: built' check-deb.log | sed 's/^/  /' || true
    else
        echo "SKIP: check-deb: dpkg-buildpackage or a build dependency of debian/control is missing" \
            "(as root: apt-get build-dep ./) ${missing:-}"
    fi
    step "make distcheck"
    # the tarball's own make check: every test again, the fault matrix reduced to
    # one row per service and TPM fault (the plain pass ran all its rows)
    CVM_FAULT_MATRIX_ROWS="$fault_matrix_dist_rows" \
        run_logged distcheck make -j"$jobs" distcheck >distcheck.log 2>&1 || tail -n 40 distcheck.log
    cd "$src" || exit 2

    step "fuzz-smoke (libFuzzer, each target 30 s, in build-fuzz/)"
    fuzz_start=$(date +%s)
    if echo 'int main(void){return 0;}' |
        clang -fsanitize=fuzzer-no-link -x c - -o /dev/null >/dev/null 2>&1; then
        mkdir -p "$src/build-fuzz" && cd "$src/build-fuzz" || exit 2
        if ../configure -q --enable-fuzzing CC=clang CFLAGS="-O1 -g" &&
            make -j"$jobs" fuzz-smoke FUZZ_JOBS=2 >fuzz-smoke.log 2>&1; then :
        elif ! grep -qE '^[a-z0-9-]+ +FAIL ' fuzz-smoke.log; then
            failed_steps+=("fuzz-smoke") # not built: no per-target result to count
            tail -n 30 fuzz-smoke.log
        fi
        sed -n '/^target /,$p' fuzz-smoke.log | sed 's/^/  /'
        results+=("fuzz-smoke $(grep -cE '^[a-z0-9-]+ +ok ' fuzz-smoke.log) $(grep -cE '^[a-z0-9-]+ +FAIL ' fuzz-smoke.log) 0")
    else
        echo "SKIP: fuzz-smoke: clang with libFuzzer not found (apt-get install clang-14 libclang-rt-14-dev)"
    fi
    echo "fuzz-smoke step: $(($(date +%s) - fuzz_start)) s"
    cd "$src" || exit 2
fi

step "summary"
echo "  time per step:"
for i in "${!step_names[@]}"; do
    [ $((i + 1)) -lt ${#step_starts[@]} ] || break
    printf '  %5d s  %s\n' $((step_starts[i + 1] - step_starts[i])) "${step_names[i]}"
done
printf '  %5d s  in all\n' $(($(date +%s) - step_starts[0]))
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
