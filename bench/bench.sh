#!/bin/bash
# make bench: one table of medians over BENCH_RUNS (10) runs, each figure and
# its reference measured side by side (interleaved) in the same run:
#  - `cvm-agent boot` on cvm-sim with a warm cache (one [secret] sealed to
#    PCRs 0,7): wall, CPU, TPM and endpoint time as the agent measures them
#    (--timings), wall / (TPM + endpoints) (goal <= 1.25), CPU (goal <= 25
#    ms), peak RSS from wait4 (/usr/bin/time %M, goal <= 8 MiB) and the
#    requests THIM and KDS saw during the boot (their JSON-lines logs, goal 0).
#  - seal + unseal of 32 bytes to PCRs 0,7 on one swtpm: the vTPM part of
#    ours (tests/tpm-driver seal-pcr + unseal, the tpm/ calls the store
#    makes) vs clevis' tpm2 pin (clevis encrypt tpm2 + clevis decrypt), goal
#    >= 5x faster; and our full unseal (attestation, release, vTPM) on cvm-sim.
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
# Dependencies beyond the tests': clevis, clevis-tpm2, time
# (scripts/deps.sh --bench); without clevis its row says so.
# Run through `make bench` (sets CVM_AGENT, CVM_BUILDDIR, CVM_SRCDIR, CVM_TESTDATA).
# shellcheck source=tests/integration/lib.sh
. "${CVM_SRCDIR:?}/tests/integration/lib.sh"
# shellcheck source=tests/integration/tpm-lib.sh
. "$CVM_SRCDIR/tests/integration/tpm-lib.sh"
require_cmd openssl tpm2_createek tpm2_createak tpm2_quote tpm2_checkquote tpm2_flushcontext swtpm
[ -x /usr/bin/time ] || skip "/usr/bin/time not installed (Debian package time; scripts/deps.sh --bench)"
"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography not installed"
have_clevis=yes
command -v clevis-encrypt-tpm2 >/dev/null 2>&1 || have_clevis=
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

# --- cvm-sim for boot and the full unseal (its own swtpm; the quote and seal
# rows use the private one above, which clevis shares)
SIMDIR=$CVM_SRCDIR/tests/sim
SIM=$TEST_DIR/sim
PYTHONDONTWRITEBYTECODE=1 "$PYTHON" "$SIMDIR/cvm-sim" up --dir "$SIM" --tee snp --vault akv \
    >"$TEST_DIR/sim-up.txt" 2>&1 || fail "cvm-sim up failed: $(tail -5 "$TEST_DIR/sim-up.txt")"
on_exit '"$PYTHON" "$SIMDIR/cvm-sim" down --dir "$SIM" >/dev/null 2>&1'
sim_tcti=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["tcti"])' "$SIM/endpoints.json")
# the TLS roots as in production (Debian's bundle, ~140 roots, parsed once
# per run) plus the emulators' test CA
sys_bundle=/etc/ssl/certs/ca-certificates.crt
[ -r "$sys_bundle" ] || skip "$sys_bundle not found (Debian package ca-certificates)"
cat "$sys_bundle" "$SIM/pki/tls-ca.pem" >ca-bundle.pem
cp "$SIM/agent.conf" boot.conf
cat >>boot.conf <<CONF
[store]
boot-deadline = 60s
[secret disk]
create = yes
target = file:$TEST_DIR/run/disk.key
pcrs = sha256:0,7
CONF
# what clevis' tpm2-tools calls leave loaded: objects, and sessions
flush_all() { tpm2_flushcontext -t && tpm2_flushcontext -s && tpm2_flushcontext -l; }
G_OPTS=(-c "$TEST_DIR/boot.conf" -o "http.ca-bundle=$TEST_DIR/ca-bundle.pem")
sim_agent() { CVM_AGENT_TCTI=$sim_tcti "$CVM_AGENT" "${G_OPTS[@]}" "$@"; }
# requests THIM (IMDS /metadata/THIM/) and KDS answered so far
thim_kds_requests() {
    "$PYTHON" - "$SIM/logs" <<'PY'
import json, os, sys
n = 0
for svc in ("imds", "kds"):
    path = os.path.join(sys.argv[1], svc + ".log")
    if not os.path.exists(path):
        continue
    for line in open(path):
        e = json.loads(line)
        if e.get("event") == "request" and (svc == "kds" or e.get("target", "").startswith("/metadata/THIM/")):
            n += 1
print(n)
PY
}
# timings FILE: "wall cpu tpm endpoint" from a --json output
timings() {
    "$PYTHON" -c 'import json,sys; t=json.load(open(sys.argv[1]))["timings"]
print(t["wall_ms"], t["cpu_ms"], t["tpm_ms"], t["endpoint_ms"])' "$1"
}
# the first boot creates the secret (no attestation); the second opens it,
# attesting, which fills the certificate and signing-key caches: warm from here
sim_agent boot >/dev/null 2>boot0.err || fail "the first boot failed: $(cat boot0.err)"
cp run/disk.key disk.0
sim_agent boot >/dev/null 2>boot0.err || fail "the second boot failed: $(cat boot0.err)"
[ "$(thim_kds_requests)" -gt 0 ] || fail "the cold boots asked neither THIM nor KDS: nothing to count"
head -c 32 /dev/urandom >s32
sim_agent seal --name s32 --in s32 --pcrs sha256:0,7 >/dev/null 2>seal.err || fail "seal failed: $(cat seal.err)"

boot_wall=() boot_cpu=() boot_tpm=() boot_ep=() boot_ratio=() boot_rss=() boot_req=()
ours_seal=() clevis_seal=() clevis_dec=() full_unseal=()
snp=() sig=() p384=() tdx=() p256=() our_ms=() full_ms=() quote_ms=()
for i in $(seq 1 "$runs"); do
    echo "# run $i/$runs" >&2
    # boot, warm cache
    before=$(thim_kds_requests)
    CVM_AGENT_TCTI=$sim_tcti /usr/bin/time -f %M -o rss.txt "$CVM_AGENT" "${G_OPTS[@]}" \
        --timings boot --json >boot.json 2>boot.err || fail "boot failed: $(cat boot.err)"
    cmp -s disk.0 run/disk.key || fail "boot delivered other bytes"
    boot_req+=($(($(thim_kds_requests) - before)))
    read -r w c t e < <(timings boot.json)
    boot_wall+=("$w") boot_cpu+=("$c") boot_tpm+=("$t") boot_ep+=("$e")
    boot_ratio+=("$(awk -v w="$w" -v t="$t" -v e="$e" 'BEGIN {printf "%.3f", w / (t + e)}')")
    boot_rss+=("$(tail -1 rss.txt)")
    # seal + unseal of 32 bytes to PCRs 0,7: our vTPM part, clevis, our full unseal
    t0=$(date +%s%N)
    driver seal-pcr --pcrs sha256:0,7 --in s32 --pub s.pub --priv s.priv &&
        driver unseal --pub s.pub --priv s.priv --pcrs sha256:0,7 --out s32.ours ||
        fail "tpm-driver seal-pcr + unseal failed"
    ours_seal+=("$(ms_since "$t0")")
    cmp -s s32 s32.ours || fail "our unseal returned other bytes"
    if [ -n "$have_clevis" ]; then
        t0=$(date +%s%N)
        clevis encrypt tpm2 '{"pcr_ids":"0,7"}' <s32 >s32.jwe || fail "clevis encrypt tpm2 failed"
        ms=$(ms_since "$t0")
        flush_all # not timed: a bare swtpm has no resource manager
        t0=$(date +%s%N)
        clevis decrypt <s32.jwe >s32.clevis || fail "clevis decrypt failed"
        dec=$(ms_since "$t0")
        clevis_seal+=($((ms + dec))) clevis_dec+=("$dec")
        flush_all
        cmp -s s32 s32.clevis || fail "clevis decrypt returned other bytes"
    fi
    t0=$(date +%s%N)
    sim_agent unseal --name s32 --out s32.full >/dev/null 2>unseal.err || fail "unseal failed: $(cat unseal.err)"
    full_unseal+=("$(ms_since "$t0")")
    cmp -s s32 s32.full || fail "the full unseal returned other bytes"
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
bw=$(median "${boot_wall[@]}") bc=$(median "${boot_cpu[@]}") bt=$(median "${boot_tpm[@]}")
be=$(median "${boot_ep[@]}") br=$(median "${boot_ratio[@]}") bm=$(median "${boot_rss[@]}")
bq=$(median "${boot_req[@]}") bq_max=$(printf '%s\n' "${boot_req[@]}" | sort -g | tail -1)
os=$(median "${ours_seal[@]}") fu=$(median "${full_unseal[@]}")
cs=- cd=-
[ -z "$have_clevis" ] || cs=$(median "${clevis_seal[@]}") cd=$(median "${clevis_dec[@]}")
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f %%", 100 * a / b}'; }
# met A OP B: "met" when A OP B holds
met() { awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
    ok = (op == ">=") ? a >= b : (a <= b); print ok ? "met" : "NOT met" }'; }
row() { printf '%-46s %11s %11s %8s  %s\n' "$@"; }
echo
echo "make bench: medians of $runs runs on $(nproc) CPUs ($(openssl version | cut -d' ' -f1-2))"
row figure cvm-agent reference ratio goal
row "boot on cvm-sim, wall ms (agent's own)" "$bw" "" "" "(--timings)"
row "  TPM ms / endpoint ms" "$bt" "$be" "" "(inside TPM commands / HTTP)"
row "  wall / (TPM + endpoints)" "$br" "" "" "<= 1.25: $(met "$br" "<=" 1.25)"
row "  agent CPU ms (user + sys)" "$bc" "" "" "<= 25: $(met "$bc" "<=" 25)"
row "  peak RSS KiB (wait4)" "$bm" "" "" "<= 8192: $(met "$bm" "<=" 8192)"
row "  THIM+KDS requests, warm cache (max $bq_max)" "$bq" "" "" "0: $(met "$bq_max" "<=" 0)"
if [ -n "$have_clevis" ]; then
    row "seal+unseal 32 B to PCR 0,7 ms vs clevis tpm2" "$os" "$cs" \
        "$(awk -v a="$cs" -v b="$os" 'BEGIN {printf "%.1fx", a / b}')" \
        ">= 5x faster: $(met "$cs" ">=" "$(awk -v o="$os" 'BEGIN {print 5 * o}')")"
    row "full unseal ms (attest+release+vTPM) vs clevis" "$fu" "$cd" "$(pct "$fu" "$cd")" \
        "(no goal; clevis decrypt alone)"
else
    row "seal+unseal 32 B to PCR 0,7 ms vs clevis tpm2" "$os" "-" "" \
        "clevis-tpm2 not installed: not measured"
    row "full unseal ms (attest+release+vTPM)" "$fu" "" "" "(no goal)"
fi
row "SNP report verify/s vs ecdsap384 verify/s" "$ms" "$mp" "$(pct "$ms" "$mp")" \
    ">= 80 %: $(met "$ms" ">=" "$(awk -v p="$mp" 'BEGIN {print 0.8 * p}')")"
row "  SNP report signature only" "$mg" "$mp" "$(pct "$mg" "$mp")" "(ceiling)"
row "TDX quote verify/s vs ecdsap256 verify/s" "$mt" "$mq" "$(pct "$mt" "$mq")" \
    ">= 80 %: $(met "$mt" ">=" "$(awk -v p="$mq" 'BEGIN {print 0.8 * p}')")"
row "quote+verify ms vs tpm2-tools createek..check" "$mo" "$mf" "$(pct "$mo" "$mf")" \
    "(no goal; lower is better)"
row "quote+verify ms vs tpm2_quote+checkquote" "$mo" "$mk" "$(pct "$mo" "$mk")" \
    "(no goal; same AK reuse)"
