#!/bin/bash
# Sourced by the fuzz/run*.sh tests: replay corpora and real test vectors
# through the fuzz targets (fuzz-main.c driver). A crash or sanitizer report
# fails the test.
# shellcheck disable=SC2034 # status and the paths are for the sourcing script
set -euo pipefail
builddir=${CVM_BUILDDIR:?}
srcdir=${CVM_SRCDIR:?}
testdata=${CVM_TESTDATA:-$srcdir/../shared/testdata}
status=0

# run TARGET INPUT...: inputs that do not exist are left out (testdata may be absent).
# Directories are given as their files: a libFuzzer build (--enable-fuzzing)
# would take a directory as a corpus to fuzz, not to replay.
run() {
    local target=$1 inputs=() i f
    shift
    for i in "$@"; do
        if [ -d "$i" ]; then
            for f in "$i"/*; do [ -f "$f" ] && inputs+=("$f"); done
        elif [ -e "$i" ]; then
            inputs+=("$i")
        fi
    done
    echo "== $target (${#inputs[@]} inputs/directories)"
    # none: the testdata is absent (said above); the driver wants at least one
    [ ${#inputs[@]} -gt 0 ] || return 0
    "$builddir/fuzz/$target" "${inputs[@]}" || status=1
}

[ -d "$testdata" ] || echo "SKIP: testdata '$testdata' absent (set CVM_TESTDATA); corpora only"
