#!/bin/bash
# verify --snp-report / --hcl-report against the real SNP and HCL reports of
# the testdata (MANIFEST.md): each verifies to the right pinned ARK with the
# decoded values the MANIFEST states; each negative case fails for its
# reason; policy options; KDS URLs; certificate fetch from a KDS/THIM
# stand-in, then again from the cache with the endpoints down.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_testdata google__go-sev-guest/verify_testdata_attestation.bin derived

T=$CVM_TESTDATA
G=$T/google__go-sev-guest
C=$T/confidential-containers__trustee
V=$T/virtee__sev
D=$T/derived
K=$T/kinvolk__azure-cvm-tooling
AT=2025-06-01T00:00:00Z # inside every certificate window used here
export CVM_AGENT_CONFIG=/dev/null

# field FILE EXPR: a Python expression over the JSON object d
field() { "$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# v NAME RC ARGS...: runs verify --json into $TEST_DIR/NAME.json, checks the exit code
v() {
    local name=$1 want=$2 rc=0
    shift 2
    agent -o snp.kds=no verify --json --at "$AT" "$@" >"$TEST_DIR/$name.json" 2>"$TEST_DIR/$name.err" || rc=$?
    [ "$rc" -eq "$want" ] || fail "$name: exit $rc, want $want: $(cat "$TEST_DIR/$name.err")"
}
check() { # check NAME EXPR WANT
    local got
    got=$(field "$TEST_DIR/$1.json" "$2")
    [ "$got" = "$3" ] || fail "$1: $2 = '$got', want '$3'"
}

# ---- every real report verifies, with the MANIFEST's values ----
v gsg 0 --snp-report "$G/verify_testdata_attestation.bin" --vcek "$G/verify_testdata_vcek.testcer" \
    --cert-chain "$G/verify_trust_ask_ark_milan.pem" --allow-debug
check gsg 'd["verified"]' True
check gsg 'd["product"]' Milan
check gsg 'd["root_fingerprint"]' 69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd
check gsg 'd["measurement"]' b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01
check gsg 'd["report_data"]' "0102030405$(printf '0%.0s' $(seq 118))"
check gsg 'd["chip_id"][:16]' 3ac3fe21e13fb099
check gsg 'd["policy"]' 0x00000000000b0000
check gsg 'd["policy_flags"]["debug"]' True
check gsg 'd["report_id"]' 8edc638e1857c555d21f6b11bda3c8b1b5a09dba4852b4c8ee7aa2f16f22cc0a
check gsg '(d["reported_tcb"]["bootloader"],d["reported_tcb"]["tee"],d["reported_tcb"]["snp"],d["reported_tcb"]["microcode"])' '(2, 0, 5, 68)'
check gsg 'd["current_firmware"]' 1.49.3
check gsg 'd["kds_url"]' 'https://kdsintf.amd.com/vcek/v1/Milan/3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68'
check gsg 'd["crl_checked"]' False
grep -q "AMD's CRL could not be checked" "$TEST_DIR/gsg.err" ||
    fail "gsg: no warning that the CRL was not checked: $(cat "$TEST_DIR/gsg.err")"
pass_msg "go-sev-guest v2 Milan report: verified, fields and KDS URL as the MANIFEST"

# --at is strict RFC 3339 from 1970 on: before 1970 used to turn negative,
# which meant "now"; Feb 31 was accepted
for at in 1960-01-01T00:00:00Z 1969-12-31T23:59:59Z 2025-02-31T00:00:00Z 2023-02-29T00:00:00Z \
    2025-06-01T24:00:00Z 2025-06-01; do
    rc=0
    agent -o snp.kds=no verify --at "$at" --snp-report "$G/verify_testdata_attestation.bin" \
        --vcek "$G/verify_testdata_vcek.testcer" --cert-chain "$G/verify_trust_ask_ark_milan.pem" \
        --allow-debug >/dev/null 2>"$TEST_DIR/at.err" || rc=$?
    [ "$rc" -eq 2 ] || fail "--at $at: exit $rc, want 2"
    grep -q "RFC 3339" "$TEST_DIR/at.err" || fail "--at $at: no message: $(cat "$TEST_DIR/at.err")"
done
pass_msg "--at before 1970, on Feb 31/29 of a common year, at 24:00 or without a time is exit 2"

v virtee 0 --snp-report "$V/tests_certs_data_report_milan.hex" --vcek "$V/tests_certs_data_vcek_milan.der" \
    --cert-chain "$V/tests_certs_data_cert_chain_milan"
check virtee 'd["measurement"]' 7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f
check virtee 'd["report_data"]' d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd
check virtee 'd["chip_id"][:16]' d49554ec717f4e5b
check virtee 'd["reported_tcb"]["raw"]' 7308000000000003
check virtee 'd["current_firmware"]' 1.52.4
check virtee 'd["kds_url"].startswith("https://kdsintf.amd.com/vcek/v1/Milan/d49554ec") and d["kds_url"].endswith("541eb6?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115")' True
pass_msg "virtee v2 Milan report (hex text): verified, fields and KDS URL"

v trustee 0 --snp-report "$C/deps_verifier_test_data_snp_test-report.bin" --vcek "$C/deps_verifier_test_data_snp_test-vcek.der" \
    --cert-chain "$G/verify_trust_ask_ark_milan.pem"
check trustee 'd["measurement"]' a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c
check trustee 'd["report_data"][:64]' ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2
check trustee 'd["chip_id"][:16]' c38427a30d4c7af9
check trustee 'd["current_tcb"]["raw"]+" "+d["reported_tcb"]["raw"]' "ce08000000000003 7308000000000003"
check trustee 'd["guest_svn"]' 4
pass_msg "trustee v2 Milan report: verified"

v vlek 0 --snp-report "$C/deps_verifier_test_data_snp_test-vlek-report.bin" --vcek "$C/deps_verifier_test_data_snp_test-vlek.der" \
    --cert-chain "$G/verify_trust_ask_ark_milan_vlek.pem" --vmpl 1
check vlek 'd["version"]' 3
check vlek 'd["signer_info"]["signing_key"]' vlek
check vlek 'd["product"]' Milan
check vlek 'd["cpuid"]["family"]+d["cpuid"]["model"]+d["cpuid"]["stepping"]' 190101
check vlek 'd["measurement"]' 8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0
check vlek 'd["reported_tcb"]["raw"]+" "+str(d["reported_tcb"]["microcode"])' "d918000000000004 217"
check vlek 'd["platform_info"]' 0x0000000000000027
check vlek 'd["root_fingerprint"]' 69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd
check vlek '"kds_url" in d' False
pass_msg "Milan v3 VLEK report: verified through SEV-VLEK-Milan to ARK-Milan"

v genoa 0 --snp-report "$D/trustee_az-snp-vtpm_evidence-genoa_snp-report.bin" \
    --vcek "$C/deps_verifier_test_data_az-snp-vtpm_vcek-genoa.pem" --cert-chain "$G/verify_trust_ask_ark_genoa.pem"
check genoa 'd["product"]' Genoa
check genoa 'd["root_fingerprint"]' 4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1
check genoa 'd["measurement"]' f57dc09a507c6ecd82369bffb600f0003792f4d99bc26e985ec0c266fc34faf3706faf814c9e61065768a6ff917c89ae
check genoa 'd["report_data"]' "b581f12e29a2d7d64e5e0b738d563879a78b51c644d0fa0cce02b48699f6bf5f$(printf '0%.0s' $(seq 64))"
check genoa 'd["chip_id"][:16]' 0506ffba875e939c
check genoa 'd["reported_tcb"]["raw"]' 541700000000000a
check genoa 'd["guest_svn"]' 65547
check genoa 'd["kds_url"].startswith("https://kdsintf.amd.com/vcek/v1/Genoa/0506ffba") and d["kds_url"].endswith("4ad1?blSPL=10&teeSPL=0&snpSPL=23&ucodeSPL=84")' True
pass_msg "Genoa v3 report (19/11/01): verified to ARK-Genoa, KDS URL"

v genoa2 0 --snp-report "$D/trustee_e2e_evidence_genoa_v3_report.bin" --vcek "$D/trustee_e2e_evidence_genoa_vcek.der" \
    --cert-chain "$G/verify_trust_ask_ark_genoa.pem"
check genoa2 'd["product"]' Genoa
check genoa2 'd["cpuid"]["model"]' a0
check genoa2 'd["measurement"]' 6a6519d757e68c2e939c9dbbbc1828498e8de35d2766dd05f1a2cca5059d0cf4ae62a36d75c837974dd50b315506e73e
check genoa2 'd["chip_id"][:16]' 371c55d6d15cb50f
check genoa2 '(d["reported_tcb"]["bootloader"],d["reported_tcb"]["snp"],d["reported_tcb"]["microcode"])' '(10, 23, 25)'
check genoa2 'd["root_fingerprint"]' 4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1
pass_msg "Genoa-family v3 report (19/a0/02): verified to ARK-Genoa"

# ---- negative cases ----
v debug 1 --snp-report "$G/verify_testdata_attestation.bin" --vcek "$G/verify_testdata_vcek.testcer" \
    --cert-chain "$G/verify_trust_ask_ark_milan.pem"
check debug 'd["verified"]' False
check debug 'd["failed_check"]' debug
pass_msg "debug-policy report rejected without --allow-debug"

flip() { # flip SRC DST OFFSET DELTA
    "$PYTHON" -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); o=int(sys.argv[3],0); b[o]=(b[o]+int(sys.argv[4]))%256; open(sys.argv[2],"wb").write(b)' "$@"
}
flip "$C/deps_verifier_test_data_snp_test-report.bin" "$TEST_DIR/r42.bin" 42 1
v b42 1 --snp-report "$TEST_DIR/r42.bin" --vcek "$C/deps_verifier_test_data_snp_test-vcek.der" --cert-chain "$G/verify_trust_ask_ark_milan.pem"
check b42 'd["failed_check"]' signature
flip "$C/deps_verifier_test_data_snp_test-report.bin" "$TEST_DIR/r180.bin" 0x180 1
v b180 1 --snp-report "$TEST_DIR/r180.bin" --vcek "$C/deps_verifier_test_data_snp_test-vcek.der" --cert-chain "$G/verify_trust_ask_ark_milan.pem"
check b180 'd["failed_check"]' tcb
pass_msg "trustee report: byte 42 changed -> signature; byte 0x180 changed -> TCB mismatch"

"$PYTHON" -c 'import sys; s=open(sys.argv[1]).read().strip(); b=bytearray.fromhex(s); b[21]^=0x80; open(sys.argv[2],"w").write(b.hex())' \
    "$V/tests_certs_data_report_milan.hex" "$TEST_DIR/milan-21.hex"
v v21 1 --snp-report "$TEST_DIR/milan-21.hex" --vcek "$V/tests_certs_data_vcek_milan.der" --cert-chain "$V/tests_certs_data_cert_chain_milan"
check v21 'd["failed_check"]' signature
pass_msg "virtee report with bit 7 of byte 21 flipped fails"

v wrongchip 1 --snp-report "$G/verify_testdata_attestation.bin" --vcek "$C/deps_verifier_test_data_snp_test-vcek.der" \
    --cert-chain "$G/verify_trust_ask_ark_milan.pem" --allow-debug
check wrongchip 'd["failed_check"] in ("chip_id","tcb")' True
v wrongchip2 1 --hcl-report "$K/az-cvm-vtpm_test_hcl-report-snp.bin" --vcek "$K/az-cvm-vtpm_test_certs.pem"
check wrongchip2 'd["failed_check"]' chip_id
check wrongchip2 'd["runtime_data_bound"]' True
pass_msg "a VCEK for another chip is rejected (chip_id)"

# virtee milan_chain_invalid: byte 40 of the VCEK ^ 0xff
"$PYTHON" -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[40]^=0xff; open(sys.argv[2],"wb").write(b)' \
    "$V/tests_certs_data_vcek_milan.der" "$TEST_DIR/vcek40.der"
v chainflip 1 --snp-report "$V/tests_certs_data_report_milan.hex" --vcek "$TEST_DIR/vcek40.der" --cert-chain "$V/tests_certs_data_cert_chain_milan"
check chainflip 'd["failed_check"]' chain
# a byte of the ASK in the chain file changed (inside its base64 body)
"$PYTHON" -c 'import sys; s=open(sys.argv[1]).read().split("\n"); s[10]=s[10][:20]+("A" if s[10][20]!="A" else "B")+s[10][21:]; open(sys.argv[2],"w").write("\n".join(s))' \
    "$V/tests_certs_data_cert_chain_milan" "$TEST_DIR/chain-ask.pem"
v chainask 1 --snp-report "$V/tests_certs_data_report_milan.hex" --vcek "$V/tests_certs_data_vcek_milan.der" --cert-chain "$TEST_DIR/chain-ask.pem"
check chainask 'd["failed_check"] in ("chain","certificate")' True
# a byte of the VCEK's signed part (its public key) changed: the chain breaks
"$PYTHON" -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); i=b.find(bytes.fromhex("04a17accd8")); b[i+10]^=1; open(sys.argv[2],"wb").write(b)' \
    "$V/tests_certs_data_vcek_milan.der" "$TEST_DIR/vcek-key.der"
v chainkey 1 --snp-report "$V/tests_certs_data_report_milan.hex" --vcek "$TEST_DIR/vcek-key.der" --cert-chain "$V/tests_certs_data_cert_chain_milan"
check chainkey 'd["failed_check"]' chain
pass_msg "a changed VCEK byte breaks the chain"

for bad in legacy new; do
    v "inv-$bad" 1 --snp-report "$C/deps_verifier_test_data_snp_test-report.bin" \
        --vcek "$C/deps_verifier_test_data_snp_test-vcek-invalid-$bad.der" --cert-chain "$G/verify_trust_ask_ark_milan.pem"
    check "inv-$bad" 'd["failed_check"]' chain
done
pass_msg "synthetic invalid VCEKs (legacy and OCTET STRING hwID) fail the chain"

# only the ASK: no pinned root, and an ARK of another product is not accepted
openssl x509 -in "$G/verify_trust_ask_ark_milan.pem" -out "$TEST_DIR/ask-only.pem"
v noark 1 --snp-report "$C/deps_verifier_test_data_snp_test-report.bin" --vcek "$C/deps_verifier_test_data_snp_test-vcek.der" --cert-chain "$TEST_DIR/ask-only.pem"
check noark 'd["failed_check"]' chain
v otherark 1 --snp-report "$C/deps_verifier_test_data_snp_test-report.bin" --vcek "$C/deps_verifier_test_data_snp_test-vcek.der" --cert-chain "$G/verify_trust_ask_ark_genoa.pem"
check otherark 'd["failed_check"]' chain
pass_msg "no pinned ARK of the product -> chain failure"

# verification time outside the VLEK's validity
rc=0
agent -o snp.kds=no verify --json --at 2026-06-01T00:00:00Z --snp-report "$C/deps_verifier_test_data_snp_test-vlek-report.bin" \
    --vcek "$C/deps_verifier_test_data_snp_test-vlek.der" --cert-chain "$G/verify_trust_ask_ark_milan_vlek.pem" >"$TEST_DIR/late.json" 2>/dev/null || rc=$?
[ "$rc" -eq 1 ] || fail "expired VLEK accepted (rc $rc)"
check late 'd["failed_check"]' chain
pass_msg "--at after the VLEK expired fails"

# ---- policy ----
R=("--snp-report" "$C/deps_verifier_test_data_snp_test-report.bin" "--vcek" "$C/deps_verifier_test_data_snp_test-vcek.der" "--cert-chain" "$G/verify_trust_ask_ark_milan.pem")
M=a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c
v pm 0 "${R[@]}" --measurement "$(printf '0%.0s' $(seq 96))" --measurement "$M" --report-data ec6c52d7533cc2c4 --vmpl 0 --min-tcb 3:0:8:115 --host-data "$(printf '0%.0s' $(seq 64))"
v pm1 1 "${R[@]}" --measurement "$(printf '0%.0s' $(seq 96))"
check pm1 'd["failed_check"]' measurement
v pm2 1 "${R[@]}" --report-data ec6c52d7533cc2c5
check pm2 'd["failed_check"]' report_data
v pm3 1 "${R[@]}" --vmpl 1
check pm3 'd["failed_check"]' vmpl
v pm4 1 "${R[@]}" --min-tcb 3:0:9:115
check pm4 'd["failed_check"]' min_tcb
v pm5 1 "${R[@]}" --host-data "01$(printf '0%.0s' $(seq 62))"
check pm5 'd["failed_check"]' host_data
printf '{"snp": {"measurements": ["%s"], "min_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}, "vmpl": 0}}\n' "$M" >"$TEST_DIR/policy.json"
v pf 0 "${R[@]}" --policy "$TEST_DIR/policy.json"
printf '{"min_tcb": {"microcode": 116}}\n' >"$TEST_DIR/policy2.json"
v pf2 1 "${R[@]}" --policy "$TEST_DIR/policy2.json"
check pf2 'd["failed_check"]' min_tcb
printf '{"allow_debug": true}\n' >"$TEST_DIR/policy3.json"
v pf3 0 --snp-report "$G/verify_testdata_attestation.bin" --vcek "$G/verify_testdata_vcek.testcer" --cert-chain "$G/verify_trust_ask_ark_milan.pem" --policy "$TEST_DIR/policy3.json"
printf '{"no_such": 1}\n' >"$TEST_DIR/policy4.json"
v pf4 2 "${R[@]}" --policy "$TEST_DIR/policy4.json"
# options the SNP report does not read are refused, not ignored
v na1 2 "${R[@]}" --tcb-info "$TEST_DIR/policy.json"
v na2 2 "${R[@]}" --td-quote "$TEST_DIR/policy.json"
v na3 2 "${R[@]}" --pcrs "$TEST_DIR/policy.json"
v na4 2 "${R[@]}" --tdx-quote "$TEST_DIR/policy.json"
# a release response beside the report is verified too (this one is not one: no)
v na5 1 "${R[@]}" --release-response "$TEST_DIR/policy.json"
check na5 "d['verified']" False
v na5b 2 "${R[@]}" --ca-bundle "$TEST_DIR/policy.json"
grep -q -- "--ca-bundle does not apply" "$TEST_DIR/na5b.err" || fail "--ca-bundle: $(cat "$TEST_DIR/na5b.err")"
# a token that is not one, beside the valid report: the whole answer is no
printf 'garbage.token.x\n' >"$TEST_DIR/garbage.jwt"
printf '{"keys":[]}\n' >"$TEST_DIR/jwks.json"
v na6 1 "${R[@]}" --token "$TEST_DIR/garbage.jwt" --jwks "$TEST_DIR/jwks.json"
check na6 "d['verified']" False
grep -q -- "--tcb-info does not apply" "$TEST_DIR/na1.err" || fail "--tcb-info: $(cat "$TEST_DIR/na1.err")"
# evidence beside the report is verified too: garbage fails the whole answer
head -c 300 /dev/urandom >"$TEST_DIR/garbage.bin"
printf '{"sha256": {"0": "%064d"}}\n' 0 >"$TEST_DIR/pcrs.json"
v ga1 1 "${R[@]}" --event-log "$TEST_DIR/garbage.bin" --pcrs "$TEST_DIR/pcrs.json"
check ga1 'd["verified"]' False
check ga1 'd["event_log"]["verified"]' False
check ga1 'd["failed_check"] == d["event_log"]["failed_check"] and d["reason"].startswith("--event-log: ")' True
v ga2 1 "${R[@]}" --event-log "$CVM_TESTDATA/tpm2-software__tpm2-tools/event-arch-linux.bin"
check ga2 '"nothing to compare" in d["reason"]' True
check ga2 'd["trust_anchor"]' production
check ga2 'd["at"]' "$AT"
pass_msg "options the evidence does not read exit 2; garbage or an uncompared log beside a valid report fail"
pass_msg "policy: measurement, report_data, vmpl, min TCB, host_data, policy file"

# ---- HCL reports ----
for h in "$C/deps_verifier_test_data_az-snp-vtpm_hcl-report.bin|--vcek|$C/deps_verifier_test_data_az-snp-vtpm_vcek.pem" \
    "$D/trustee_az-snp-vtpm_evidence-v2_hcl-report.bin|--vcek|$D/trustee_az-snp-vtpm_evidence-v2_vcek.der|--cert-chain|$G/verify_trust_ask_ark_milan.pem" \
    "$D/trustee_az-snp-vtpm_evidence-genoa_hcl-report.bin|--vcek|$C/deps_verifier_test_data_az-snp-vtpm_vcek-genoa.pem|--cert-chain|$G/verify_trust_ask_ark_genoa.pem"; do
    IFS='|' read -r -a a <<<"$h"
    n=hcl-$(basename "${a[0]}" .bin)
    v "$n" 0 --hcl-report "${a[@]}"
    check "$n" 'd["runtime_data_bound"]' True
    check "$n" '"kty" in d["ak_jwk"]' True
    check "$n" 'd["snp"]["vmpl"]' 0
done
# TDX HCL reports: bound and decoded, but a TDREPORT alone is never verified
for h in "$K/az-cvm-vtpm_test_hcl-report-tdx.bin" "$C/deps_verifier_test_data_az-tdx-vtpm_hcl-report.bin"; do
    n=hcl-$(basename "$h" .bin)
    v "$n" 1 --hcl-report "$h"
    check "$n" 'd["runtime_data_bound"]' True
    check "$n" '"kty" in d["ak_jwk"]' True
    check "$n" 'd["failed_check"]' td_quote_needed
    check "$n" '"TD quote for it is needed" in d["reason"]' True
done
check hcl-deps_verifier_test_data_az-snp-vtpm_hcl-report 'd["snp"]["measurement"]' 9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c315
check hcl-deps_verifier_test_data_az-snp-vtpm_hcl-report 'd["runtime_data_hash"]' b3fbad6514c83caeb0380882145e49f794229ef37c421b91fc47ff93556bafac
check hcl-az-cvm-vtpm_test_hcl-report-tdx 'd["tdreport"]["mrtd"]' 75f3acc2e1dfc3acf404d7eaa69a2eefcd0475a0dd6516ef5ba3cb83399c61b4aa1c638e3622bb650a514bfc6e858886
check hcl-az-cvm-vtpm_test_hcl-report-tdx 'd["runtime_data_hash"]' e8f0796193ba21d6d43d2ea4bb6e4081ce4920729b348f39099cd2f65ecb6170
check hcl-deps_verifier_test_data_az-tdx-vtpm_hcl-report 'd["tdreport"]["mrtd"]' 024a32b070383331181619fa387cb4d55d1e38879f989933055ccad5bc2db795d1737b66205949d15469dc8c1ba7ab7b
check hcl-deps_verifier_test_data_az-tdx-vtpm_hcl-report 'd["td_quote_verified"]' False
# the kinvolk SNP HCL report: bound, but its bundled VCEK is for another chip
check wrongchip2 'd["runtime_data_hash"]' 1d0a466a9eed975e88f889f7aed4abc1c97e87c4f43e5e3478c9a4a5853cbd7d
pass_msg "all real HCL reports (SNP and TDX) pass the runtime-data binding"

for h in "$K/az-cvm-vtpm_test_hcl-report-snp.bin" "$K/az-cvm-vtpm_test_hcl-report-tdx.bin"; do
    n=alt-$(basename "$h" .bin)
    flip "$h" "$TEST_DIR/$n.bin" $((0x4D4 + 40)) 1
    v "$n" 1 --hcl-report "$TEST_DIR/$n.bin"
    check "$n" 'd["runtime_data_bound"]' False
    check "$n" 'd["failed_check"]' runtime_data_binding
done
pass_msg "one altered byte of the runtime JSON breaks the binding"

# ---- certificates from KDS / THIM stand-ins, then from the cache ----
fx="$TEST_DIR/fx"
mkdir -p "$fx"
cp "$G/verify_testdata_vcek.testcer" "$fx/vcek.der"
cp "$G/verify_trust_ask_ark_milan.pem" "$fx/chain.pem"
"$PYTHON" - "$fx" "$C" <<'PY'
import json, sys, subprocess
fx, c = sys.argv[1], sys.argv[2]
vcek = subprocess.run(["openssl", "x509", "-inform", "der", "-in", c + "/deps_verifier_test_data_snp_test-vcek.der"],
                      capture_output=True, check=True).stdout.decode()
chain = open(fx + "/chain.pem").read()
json.dump({"vcekCert": vcek, "certificateChain": chain, "tcbm": "7308000000000003", "cacheControl": "86400"},
          open(fx + "/thim.json", "w"))
url = "/vcek/v1/Milan/3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68"
json.dump({url: "vcek.der", "/vcek/v1/Milan/cert_chain": "chain.pem",
           "/metadata/THIM/amd/certification": "thim.json", "__429_once__": [url]},
          open(fx + "/map.json", "w"))
PY
"$PYTHON" "$CVM_SRCDIR/tests/snp-kds-fixture.py" --map "$fx/map.json" --port-file "$fx/port" --log "$fx/log" &
fxpid=$!
CLEANUP_PIDS+=("$fxpid")
for _ in $(seq 100); do [ -s "$fx/port" ] && break; sleep 0.05; done
port=$(cat "$fx/port")
state="$TEST_DIR/state"
net=(-o http.allow-plain-http-loopback=yes -o http.backoff=10ms -o http.attempts=3 -o http.deadline=5s
    -o "snp.kds-url=http://127.0.0.1:$port" -o "snp.imds-url=http://127.0.0.1:$port" --state-dir "$state")
agent "${net[@]}" verify --json --at "$AT" --allow-debug --snp-report "$G/verify_testdata_attestation.bin" >"$TEST_DIR/kds1.json" ||
    fail "verify with KDS failed: $(cat "$TEST_DIR/kds1.json")"
check kds1 'd["cert_source"]' kds
check kds1 'd["kds_url"]' "http://127.0.0.1:$port/vcek/v1/Milan/3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68"
[ "$(grep -c '^/vcek/v1/Milan/3ac3' "$fx/log")" -eq 2 ] || fail "the 429 was not retried: $(cat "$fx/log")"
agent "${net[@]}" -o snp.thim=yes verify --json --at "$AT" --snp-report "$C/deps_verifier_test_data_snp_test-report.bin" >"$TEST_DIR/thim1.json" ||
    fail "verify with THIM failed: $(cat "$TEST_DIR/thim1.json")"
check thim1 'd["cert_source"]' thim
grep -q '^/metadata/THIM/amd/certification$' "$fx/log" || fail "THIM was not asked"
pass_msg "VCEK and chain fetched from KDS (after a 429) and from THIM"

kill "$fxpid"
wait "$fxpid" 2>/dev/null || true
agent "${net[@]}" -o snp.thim=yes verify --json --at "$AT" --allow-debug --snp-report "$G/verify_testdata_attestation.bin" >"$TEST_DIR/kds2.json" ||
    fail "second verify (endpoints down) failed: $(cat "$TEST_DIR/kds2.json")"
check kds2 'd["cert_source"]' cache
agent "${net[@]}" -o snp.thim=yes verify --json --at "$AT" --snp-report "$C/deps_verifier_test_data_snp_test-report.bin" >"$TEST_DIR/thim2.json" ||
    fail "second THIM verify (endpoints down) failed"
check thim2 'd["cert_source"]' cache
rc=0
agent "${net[@]}" verify --json --at "$AT" --snp-report "$V/tests_certs_data_report_milan.hex" >"$TEST_DIR/down.json" 2>/dev/null || rc=$?
[ "$rc" -eq 3 ] || fail "uncached report with endpoints down: exit $rc, want 3"
pass_msg "second run with the endpoints down succeeds from the cache; an uncached one is transient (3)"

# a plain-http certificate source is refused with a message naming the key (2)
rc=0
agent -o snp.kds-url=http://kds.invalid verify --at "$AT" --snp-report "$C/deps_verifier_test_data_snp_test-report.bin" \
    >/dev/null 2>"$TEST_DIR/http.err" || rc=$?
[ "$rc" -eq 2 ] || fail "http:// KDS: exit $rc, want 2"
grep -q "kds-url 'http://kds.invalid'" "$TEST_DIR/http.err" || fail "http:// KDS refused silently: $(cat "$TEST_DIR/http.err")"
pass_msg "an http:// KDS URL is refused with a message (exit 2)"
