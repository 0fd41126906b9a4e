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

TR=$testdata/confidential-containers__trustee
GT=$testdata/google__go-tdx-guest
CAT=$testdata/azure-services/Azure__cvm-attestation-tools
run fuzz-tdx-quote "$srcdir/fuzz/corpus/tdx-quote" "$GT"/testing_testdata_*quote*.dat \
    "$TR"/deps_verifier_test_data_tdx_quote_*.dat "$TR/deps_verifier_test_data_az-tdx-vtpm_td-quote.bin" \
    "$CAT"/cvm-attestation_tests_reports_td_quote_v*.dat
run fuzz-tdreport "$srcdir/fuzz/corpus/tdreport" \
    "$testdata/confidential-containers__guest-components/attestation-agent_attester_test_tdx_report_1.bin" \
    "$TR/deps_verifier_test_data_az-tdx-vtpm_hcl-report.bin" \
    "$testdata/kinvolk__azure-cvm-tooling/az-cvm-vtpm_test_hcl-report-tdx.bin" \
    "$CAT/cvm-attestation_tests_reports_snp_hcl_report.bin"

exit $status
