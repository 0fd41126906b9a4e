#!/bin/bash
# make bench: one table of medians over BENCH_RUNS (10) runs, each figure and
# its reference measured side by side (interleaved) in the same run:
#  - offline SNP report verification/s (bench-verify: parse, snp_verify,
#    policy; certificates loaded once, as a warm cache holds them) vs
#    `openssl speed -seconds 3 ecdsap384` verify/s. Goal >= 80 %. Also the
#    report signature alone (bench-verify snp-sig), the ceiling with the
#    chain's verdict cached. Both tools count per second of CPU time.
#  - TD quote verification/s (tdx_quote_verify, the PCK chain from the quote)
#    vs `openssl speed -seconds 3 ecdsap256` verify/s. Goal >= 80 %.
#  - quote + verify on a private swtpm: tests/tpm-driver quote + cvm-agent
#    verify --tpm-quote (the provisioned AK 0x81000003) vs tpm2-tools:
#    tpm2_createek + tpm2_createak + tpm2_quote + tpm2_checkquote, and vs
#    tpm2_quote + tpm2_checkquote alone with that AK made once.
# Run through `make bench` (sets CVM_AGENT, CVM_BUILDDIR, CVM_SRCDIR, CVM_TESTDATA).
# shellcheck source=tests/integration/lib.sh
. "${CVM_SRCDIR:?}/tests/integration/lib.sh"
# shellcheck source=tests/integration/tpm-lib.sh
. "$CVM_SRCDIR/tests/integration/tpm-lib.sh"
require_cmd openssl tpm2_createek tpm2_createak tpm2_quote tpm2_checkquote tpm2_flushcontext
require_testdata google__go-sev-guest/verify_testdata_attestation.bin \
    google__go-tdx-guest/testing_testdata_tdx_prod_quote_SPR_E4.dat

export CVM_AGENT_CONFIG=/dev/null
runs=${BENCH_RUNS:-10}
bv=$CVM_BUILDDIR/bench/bench-verify
G=$CVM_TESTDATA/google__go-sev-guest
snp_args=(snp "$G/verify_testdata_attestation.bin" "$G/verify_testdata_vcek.testcer"
    "$G/verify_trust_ask_ark_milan.pem" "$(date -d 2025-06-01T00:00:00Z +%s)" 2)
tdx_args=(tdx "$CVM_TESTDATA/google__go-tdx-guest/testing_testdata_tdx_prod_quote_SPR_E4.dat"
    "$(date -d 2026-06-01T00:00:00Z +%s)" 2)

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
# openssl_verify CURVE: verify/s of `openssl speed -seconds 3 CURVE`
openssl_verify() { openssl speed -seconds 3 "$1" 2>/dev/null | awk '/bits ecdsa/ {print $NF}'; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

vtpm_start >/dev/null
cd "$TEST_DIR"
nonce=00112233445566778899aabbccddeeff
pcrs=sha256:0,1,2,3,4,5,6,7,16
tpm2_createek -c ek.ctx -G rsa -u ek.pub >/dev/null
tpm2_flushcontext -t
tpm2_createak -C ek.ctx -c ak-once.ctx -G rsa -g sha256 -s rsassa -u ak-once.pem -f pem -n ak.name >/dev/null
tpm2_flushcontext -t

# the tpm2-tools sequence, from no AK to a checked quote (the tools leave
# their objects loaded: flushed as a script using them has to, or swtpm's
# three object slots run out)
tools_full() {
    tpm2_createek -c ek.ctx -G rsa -u ek.pub >/dev/null && tpm2_flushcontext -t &&
        tpm2_createak -C ek.ctx -c ak.ctx -G rsa -g sha256 -s rsassa -u ak.pem -f pem -n ak.name >/dev/null &&
        tpm2_flushcontext -t &&
        tpm2_quote -Q -c ak.ctx -l "$pcrs" -q "$nonce" -m t.msg -s t.sig -g sha256 &&
        tpm2_checkquote -u ak.pem -m t.msg -s t.sig -g sha256 -q "$nonce" >/dev/null
}
tools_quote() {
    tpm2_quote -Q -c ak-once.ctx -l "$pcrs" -q "$nonce" -m o.msg -s o.sig -g sha256 &&
        tpm2_checkquote -u ak-once.pem -m o.msg -s o.sig -g sha256 -q "$nonce" >/dev/null
}
ours() {
    driver quote --pcrs "$pcrs" --nonce "$nonce" --msg c.msg --sig c.sig &&
        agent verify --tpm-quote c.msg --tpm-signature c.sig --ak-pub "$VTPM/ak.pub.pem" \
            --nonce "$nonce" >/dev/null
}

snp=() sig=() p384=() tdx=() p256=() our_ms=() full_ms=() quote_ms=()
for i in $(seq 1 "$runs"); do
    echo "# run $i/$runs" >&2
    snp+=("$("$bv" "${snp_args[@]}")") || fail "bench-verify snp failed"
    sig+=("$("$bv" snp-sig "${snp_args[@]:1}")") || fail "bench-verify snp-sig failed"
    p384+=("$(openssl_verify ecdsap384)")
    tdx+=("$("$bv" "${tdx_args[@]}")") || fail "bench-verify tdx failed"
    p256+=("$(openssl_verify ecdsap256)")
    t=$(date +%s%N)
    ours || fail "cvm-agent quote + verify failed"
    our_ms+=("$(ms_since "$t")")
    t=$(date +%s%N)
    tools_full || fail "the tpm2-tools sequence failed"
    full_ms+=("$(ms_since "$t")")
    tpm2_flushcontext -t
    t=$(date +%s%N)
    tools_quote || fail "tpm2_quote + tpm2_checkquote failed"
    quote_ms+=("$(ms_since "$t")")
    tpm2_flushcontext -t
done

ms=$(median "${snp[@]}") mg=$(median "${sig[@]}") mp=$(median "${p384[@]}")
mt=$(median "${tdx[@]}") mq=$(median "${p256[@]}")
mo=$(median "${our_ms[@]}") mf=$(median "${full_ms[@]}") mk=$(median "${quote_ms[@]}")
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f %%", 100 * a / b}'; }
met() { awk -v a="$1" -v b="$2" 'BEGIN {print (a >= 0.8 * b) ? "met" : "NOT met"}'; }
echo
echo "make bench: medians of $runs runs on $(nproc) CPUs ($(openssl version | cut -d' ' -f1-2))"
printf '%-44s %12s %12s %9s  %s\n' figure cvm-agent reference ratio goal
printf '%-44s %12s %12s %9s  %s\n' "SNP report verify/s vs ecdsap384 verify/s" "$ms" "$mp" \
    "$(pct "$ms" "$mp")" ">= 80 %: $(met "$ms" "$mp")"
printf '%-44s %12s %12s %9s  %s\n' "  SNP report signature only, chain cached" "$mg" "$mp" \
    "$(pct "$mg" "$mp")" "(what a chain-verdict cache would reach)"
printf '%-44s %12s %12s %9s  %s\n' "TDX quote verify/s vs ecdsap256 verify/s" "$mt" "$mq" \
    "$(pct "$mt" "$mq")" ">= 80 %: $(met "$mt" "$mq")"
printf '%-44s %12s %12s %9s  %s\n' "quote+verify ms vs tpm2-tools createek..check" "$mo" "$mf" \
    "$(pct "$mo" "$mf")" "(no goal; lower is better)"
printf '%-44s %12s %12s %9s  %s\n' "quote+verify ms vs tpm2_quote+checkquote" "$mo" "$mk" \
    "$(pct "$mo" "$mk")" "(no goal; same AK reuse)"
