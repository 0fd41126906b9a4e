#!/bin/bash
# make fuzz-smoke: fuzz every target (libFuzzer) for FUZZ_SECONDS, at most
# FUZZ_JOBS at a time, from its seeds in fuzz/corpus/TARGET (and the
# dictionary fuzz/dict/TARGET.dict when there is one). New inputs go to
# BUILDDIR/fuzz/smoke/TARGET/corpus, never into the source tree; a crash
# leaves its input as BUILDDIR/fuzz/smoke/TARGET/crash-* and fails the run.
# Usage: smoke.sh SRCDIR BUILDDIR TARGET...
set -uo pipefail
srcdir=$1 builddir=$2
shift 2
seconds=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-2}

if [ -z "${FUZZ_ENABLED:-}" ]; then
    echo "SKIP: fuzz-smoke needs a libFuzzer build: ./configure --enable-fuzzing CC=clang"
    exit 0
fi

out=$builddir/fuzz/smoke
rm -rf "$out"
mkdir -p "$out"

# fuzz_one TARGET: one line "TARGET rc execs edges corpus seconds" into $out/TARGET.result
fuzz_one() {
    local t=$1 dir=$out/$1 dict=() start rc
    mkdir -p "$dir/corpus"
    [ -f "$srcdir/fuzz/dict/$t.dict" ] && dict=(-dict="$srcdir/fuzz/dict/$t.dict")
    start=$(date +%s)
    "$builddir/fuzz/fuzz-$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -close_fd_mask=3 -artifact_prefix="$dir/" "${dict[@]}" \
        "$dir/corpus" "$srcdir/fuzz/corpus/$t" >"$dir.log" 2>&1
    rc=$?
    local execs edges corpus
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir.log" | tail -1)
    edges=$(grep -o 'cov: [0-9]*' "$dir.log" | tail -1 | cut -d' ' -f2)
    corpus=$(grep -o 'corp: [0-9]*' "$dir.log" | tail -1 | cut -d' ' -f2)
    echo "$t $rc ${execs:-?} ${edges:-?} ${corpus:-?} $(($(date +%s) - start))" >"$out/$t.result"
}

start=$(date +%s)
running=0
for t in "$@"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    fuzz_one "$t" &
    running=$((running + 1))
done
wait

status=0
printf '%-16s %-6s %12s %8s %8s %6s\n' target result execs edges corpus secs
for t in "$@"; do
    read -r name rc execs edges corpus secs <"$out/$t.result" || { name=$t rc=99; }
    if [ "$rc" -eq 0 ]; then
        res=ok
    else
        res=FAIL
        status=1
    fi
    printf '%-16s %-6s %12s %8s %8s %6s\n' "$name" "$res" "${execs:-?}" "${edges:-?}" \
        "${corpus:-?}" "${secs:-?}"
done
for t in "$@"; do
    read -r _ rc _ <"$out/$t.result" 2>/dev/null && [ "$rc" -eq 0 ] && continue
    echo "---- fuzz-$t failed (log $out/$t.log, inputs $out/$t/crash-*, add one to fuzz/corpus/$t):"
    grep -A25 -m1 -E 'ERROR: (AddressSanitizer|libFuzzer|UndefinedBehaviorSanitizer)|runtime error:' \
        "$out/$t.log" || tail -n 30 "$out/$t.log"
done
echo "fuzz-smoke: $# targets, ${seconds} s each, $(($(date +%s) - start)) s in all"
exit $status
