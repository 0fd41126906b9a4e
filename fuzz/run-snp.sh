#!/bin/bash
# make check: replay the SNP and HCL fuzz corpora and the real reports, VCEK
# chains and HCL reports of the testdata through fuzz-snp-report and
# fuzz-hcl-report (fuzz-main.c driver). A crash or sanitizer report fails.
set -euo pipefail
builddir=${CVM_BUILDDIR:?}
srcdir=${CVM_SRCDIR:?}
testdata=${CVM_TESTDATA:-$srcdir/../shared/testdata}
status=0

run() {
    local target=$1 inputs=() i
    shift
    for i in "$@"; do [ -e "$i" ] && inputs+=("$i"); done
    echo "== $target (${#inputs[@]} inputs/directories)"
    "$builddir/fuzz/$target" "${inputs[@]}" || status=1
}

[ -d "$testdata" ] || echo "SKIP: testdata '$testdata' absent (set CVM_TESTDATA); corpora only"

snp_seeds=("$testdata"/google__go-sev-guest/verify_testdata_attestation.bin
    "$testdata"/confidential-containers__trustee/deps_verifier_test_data_snp_test-report.bin
    "$testdata"/confidential-containers__trustee/deps_verifier_test_data_snp_test-vlek-report.bin
    "$testdata"/derived/trustee_az-snp-vtpm_evidence-genoa_snp-report.bin
    "$testdata"/derived/trustee_e2e_evidence_genoa_v3_report.bin)
hcl_seeds=("$testdata"/confidential-containers__trustee/deps_verifier_test_data_az-snp-vtpm_hcl-report.bin
    "$testdata"/confidential-containers__trustee/deps_verifier_test_data_az-tdx-vtpm_hcl-report.bin
    "$testdata"/kinvolk__azure-cvm-tooling/az-cvm-vtpm_test_hcl-report-snp.bin
    "$testdata"/kinvolk__azure-cvm-tooling/az-cvm-vtpm_test_hcl-report-tdx.bin
    "$testdata"/derived/trustee_az-snp-vtpm_evidence-genoa_hcl-report.bin
    "$testdata"/derived/trustee_az-snp-vtpm_evidence-v2_hcl-report.bin)

run fuzz-snp-report "$srcdir/fuzz/corpus/snp-report" "${snp_seeds[@]}" "${hcl_seeds[@]}"
run fuzz-hcl-report "$srcdir/fuzz/corpus/hcl-report" "${hcl_seeds[@]}" "${snp_seeds[@]}"

# every single-byte truncation of one real report and one HCL report
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-snp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for f in "${snp_seeds[1]}" "${hcl_seeds[2]}"; do
    [ -e "$f" ] || continue
    size=$(stat -c %s "$f")
    for n in 0 1 4 31 32 671 672 1183 1184 1215 1216 1235 1236 $((size - 1)); do
        [ "$n" -lt "$size" ] && head -c "$n" "$f" >"$tmp/$(basename "$f").$n"
    done
done
run fuzz-snp-report "$tmp"
run fuzz-hcl-report "$tmp"
exit $status
