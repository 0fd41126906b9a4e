#!/bin/bash
# The long runs behind the table in fuzz/README.md: each TARGET under
# libFuzzer, one after the other, one process each, until FUZZ_SECONDS (600) or
# FUZZ_RUNS (5 million) executions, whichever comes first, from fuzz/corpus
# plus the real evidence in the testdata; prints one line per target.
# Usage: fuzz/long.sh BUILDDIR TARGET...   (a --enable-fuzzing build)
set -uo pipefail
srcdir=$(cd "$(dirname "$0")/.." && pwd)
builddir=$1
shift
testdata=${CVM_TESTDATA:-$srcdir/../shared/testdata}
seconds=${FUZZ_SECONDS:-600}
runs=${FUZZ_RUNS:-5000000}
out=$builddir/fuzz/long

# seeds TARGET: the testdata files that are inputs of that parser
seeds() {
    local T=$testdata/confidential-containers__trustee G=$testdata/google__go-tdx-guest
    local K=$testdata/kinvolk__azure-cvm-tooling S=$testdata/google__go-sev-guest
    case $1 in
    eventlog) echo "$testdata"/ovmf-qemu/*.bin "$testdata"/tpm2-software__tpm2-tools/*.bin \
        "$G"/testing_testdata_ccel_ccel_data.dat "$T"/deps_verifier_test_data_CCEL_data_ovmf ;;
    tdx-quote) echo "$G"/testing_testdata_*quote*.dat "$T"/deps_verifier_test_data_tdx_quote_*.dat ;;
    tdreport) echo "$testdata"/confidential-containers__guest-components/*tdx_report_1.bin \
        "$T"/deps_verifier_test_data_az-tdx-vtpm_hcl-report.bin ;;
    snp-report) echo "$S"/verify_testdata_attestation.bin "$T"/deps_verifier_test_data_snp_test-*report.bin \
        "$testdata"/derived/*report.bin ;;
    hcl-report) echo "$T"/deps_verifier_test_data_az-*-vtpm_hcl-report.bin "$K"/az-cvm-vtpm_test_hcl-report-*.bin ;;
    x509-ext | snp-cert-table) echo "$T"/deps_verifier_test_data_snp_test-v*.der "$testdata"/derived/*.der ;;
    hcl-claims) echo "$K"/az-cvm-vtpm_test_var-data.bin ;;
    tpm-attest) echo "$T"/deps_verifier_test_data_az-snp-vtpm_tpm-quote.* "$K"/az-cvm-vtpm_test_akpub.pem ;;
    pcrs) echo "$testdata"/ovmf-qemu/pcrs-*.yaml ;;
    esac
}

printf '%-16s %10s %8s %8s %8s %6s\n' target execs edges ft corpus secs
for t in "$@"; do
    mkdir -p "$out/$t/corpus" "$out/$t/seeds"
    for f in $(seeds "$t"); do [ -f "$f" ] && cp "$f" "$out/$t/seeds/"; done
    dict=()
    [ -f "$srcdir/fuzz/dict/$t.dict" ] && dict=(-dict="$srcdir/fuzz/dict/$t.dict")
    start=$(date +%s)
    "$builddir/fuzz/fuzz-$t" -max_total_time="$seconds" -runs="$runs" \
        -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -close_fd_mask=3 \
        -artifact_prefix="$out/$t/" "${dict[@]}" \
        "$out/$t/corpus" "$srcdir/fuzz/corpus/$t" "$out/$t/seeds" >"$out/$t.log" 2>&1
    rc=$?
    [ -f "$out/$t.log" ] || : >"$out/$t.log"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log" | tail -1)
    edges=$(grep -o 'cov: [0-9]*' "$out/$t.log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$out/$t.log" | tail -1 | cut -d' ' -f2)
    corpus=$(find "$out/$t/corpus" -type f | wc -l)
    printf '%-16s %10s %8s %8s %8s %6s%s\n' "$t" "${execs:-?}" "${edges:-?}" "${ft:-?}" "$corpus" \
        "$(($(date +%s) - start))" "$([ "$rc" -eq 0 ] || echo "  CRASH rc=$rc, see $out/$t.log")"
done
