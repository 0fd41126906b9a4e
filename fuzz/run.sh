#!/bin/bash
# make check: replay the event-log corpus and the real logs through fuzz-eventlog.
# shellcheck source=fuzz/lib.sh
. "${CVM_SRCDIR:?}/fuzz/lib.sh"

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
