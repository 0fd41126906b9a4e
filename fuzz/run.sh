#!/bin/bash
# make check: replay the fuzz corpora and the real test vectors through every fuzz target
# (fuzz-main.c driver). A crash or sanitizer report fails the test.
set -euo pipefail
builddir=${CVM_BUILDDIR:?}
srcdir=${CVM_SRCDIR:?}
testdata=${CVM_TESTDATA:-$srcdir/../shared/testdata}
status=0

# run TARGET INPUT...: inputs that do not exist are left out (testdata may be absent).
run() {
    local target=$1 inputs=() i
    shift
    for i in "$@"; do [ -e "$i" ] && inputs+=("$i"); done
    echo "== $target (${#inputs[@]} inputs/directories)"
    "$builddir/fuzz/$target" "${inputs[@]}" || status=1
}

[ -d "$testdata" ] || echo "SKIP: testdata '$testdata' absent (set CVM_TESTDATA); corpora only"

run fuzz-eventlog "$srcdir/fuzz/corpus/eventlog" \
    "$testdata/google__go-eventlog" \
    "$testdata/tpm2-software__tpm2-tools" \
    "$testdata/google__go-tdx-guest/testing_testdata_ccel_ccel_data.dat" \
    "$testdata"/confidential-containers__trustee/deps_eventlog_test_data_CCEL_*

exit $status
