#!/bin/bash
# make check: replay the corpora (seeds and regression inputs) and the real
# evidence of the testdata through the fuzz targets but those of run-snp.sh.
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

# the targets of the other parsers: their seeds and regression inputs, and real evidence
run fuzz-snp-cert-table "$srcdir/fuzz/corpus/snp-cert-table"
run fuzz-x509-ext "$srcdir/fuzz/corpus/x509-ext" "$TR"/deps_verifier_test_data_snp_test-v*.der \
    "$testdata"/derived/*.der "$testdata"/google__go-sev-guest/verify_trust_ask_ark_*.pem \
    "$GT/verify_trusted_root.pem"
run fuzz-hcl-claims "$srcdir/fuzz/corpus/hcl-claims" \
    "$testdata/kinvolk__azure-cvm-tooling/az-cvm-vtpm_test_var-data.bin"
run fuzz-tpm-attest "$srcdir/fuzz/corpus/tpm-attest" "$TR"/deps_verifier_test_data_az-snp-vtpm_tpm-quote.* \
    "$testdata/kinvolk__azure-cvm-tooling/az-cvm-vtpm_test_akpub.pem"
run fuzz-pcrs "$srcdir/fuzz/corpus/pcrs" "$testdata"/ovmf-qemu/pcrs-*.yaml
run fuzz-config "$srcdir/fuzz/corpus/config" "$srcdir/dist/agent.conf.example"
run fuzz-snp-fetch "$srcdir/fuzz/corpus/snp-fetch" \
    "$testdata/azure-services/microsoft__confidential-sidecar-containers/pkg_attest_test_data_uvm_host_amd_certificate.json"
run fuzz-imds-tdquote "$srcdir/fuzz/corpus/imds-tdquote"
run fuzz-tdx-collateral "$srcdir/fuzz/corpus/tdx-collateral"

exit $status
