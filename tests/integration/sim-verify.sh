#!/bin/bash
# Reports made by tests/sim/signers.py with the test PKIs pass `cvm-agent
# verify` with the test anchors (SNP v2/v3/v5, Turin, HCL-wrapped; TDX v4
# quotes) and the decoded fields are the requested ones; an altered report
# fails. What must not verify does not: an HCL report from VMPL 2, a TDX HCL
# report without its TD quote (or with one for another MRCONFIGID), and the
# test anchor is announced on stderr even with -q.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_cmd openssl
[ -x "$PYTHON" ] || skip "$PYTHON not found"
"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography not installed"
export PYTHONDONTWRITEBYTECODE=1

sim="$TEST_DIR/sim"
gen="$TEST_DIR/gen"
mkdir -p "$gen"
# Fresh PKIs and evidence; the expected values go to *.expect files.
"$PYTHON" - "$sim" "$gen" <<'PY' || fail "generating test evidence failed"
import hashlib, os, sys
sys.path.insert(0, os.path.join(os.environ["CVM_SRCDIR"], "tests", "sim"))
import pki, signers
from cryptography.hazmat.primitives.asymmetric import rsa
sim, gen = sys.argv[1:3]
p = pki.generate(sim, turin=True)
def out(name, data, **expect):
    with open(os.path.join(gen, name), "wb") as f:
        f.write(data)
    with open(os.path.join(gen, name + ".expect"), "w") as f:
        for k, v in expect.items():
            f.write("%s %s\n" % (k, v))
for v in (2, 3, 5):
    m = hashlib.sha384(b"measurement v%d" % v).digest()
    rd = hashlib.sha512(b"report data v%d" % v).digest()
    out("snp-v%d.bin" % v, signers.snp_report(p, version=v, measurement=m, report_data=rd),
        measurement=m.hex(), report_data=rd.hex())
m = hashlib.sha384(b"turin").digest()
out("snp-turin.bin", signers.snp_report(p, version=3, turin=True, measurement=m), measurement=m.hex())
ak = rsa.generate_private_key(65537, 2048).public_key()
m = hashlib.sha384(b"hcl").digest()
h = signers.hcl_report(p, "snp", ak, measurement=m)
var = signers.parse_hcl(h)["var"]
out("hcl-snp.bin", h, measurement=m.hex(), report_data=(hashlib.sha256(var).digest() + bytes(32)).hex())
# a guest kernel (VMPL 2) with its own "HCLAkPub": correctly signed, not the paravisor's
out("hcl-snp-vmpl2.bin", signers.hcl_report(p, "snp", ak, measurement=m, vmpl=2))
mrtd = hashlib.sha384(b"mrtd").digest()
rd = hashlib.sha512(b"td report data").digest()
out("tdx-v4.bin", signers.tdx_quote(p, mrtd=mrtd, report_data=rd), mrtd=mrtd.hex(), report_data=rd.hex())
mrtd = hashlib.sha384(b"hcl mrtd").digest()
h = signers.hcl_report(p, "tdx", ak, mrtd=mrtd)
var = signers.parse_hcl(h)["var"]
out("hcl-tdx.bin", h, mrtd=mrtd.hex(), report_data=(hashlib.sha256(var).digest() + bytes(32)).hex())
out("hcl-tdx.quote", signers.tdx_quote_from_tdreport(p, h[32:32 + 1024]))
# the same TD with another MRCONFIGID: its quote must not bind to the HCL's TDREPORT
h2 = signers.hcl_report(p, "tdx", ak, mrtd=mrtd, mrconfigid=hashlib.sha384(b"other config").digest())
out("hcl-tdx-other.quote", signers.tdx_quote_from_tdreport(p, h2[32:32 + 1024]))
# runtime claims that try to print a line of their own
out("hcl-tdx-ctrl.bin", signers.hcl_report(p, "tdx", ak, mrtd=mrtd,
                                           vm_configuration={"note": "x\nverified: yes\x1b[2K"}))
PY
amd="$sim/pki/amd"
turin="$sim/pki/amd-turin"
intel="$sim/pki/intel"

# check_fields JSON EXPECTFILE: every expected hex value appears in the JSON.
check_fields() {
    local json=$1 expect=$2 key val
    while read -r key val; do
        grep -qi "$val" <<<"$json" || fail "$expect: $key $val not in the verify output"
    done <"$expect"
}
# tamper FILE OFFSET: flips one byte, prints the new file name.
tamper() {
    "$PYTHON" -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[int(sys.argv[2], 0)] ^= 1; open(sys.argv[1] + ".bad", "wb").write(b)' "$1" "$2"
    echo "$1.bad"
}

for v in 2 3 5; do
    f="$gen/snp-v$v.bin"
    out=$(agent verify --snp-report "$f" --vcek "$amd/vcek.pem" --cert-chain "$amd/cert_chain.pem" \
        --trust-anchor "$amd/ark.pem" --json) || fail "SNP v$v report did not verify: $out"
    check_fields "$out" "$f.expect"
    bad=$(tamper "$f" 0x90)
    expect_rc 1 agent verify --snp-report "$bad" --vcek "$amd/vcek.pem" --cert-chain "$amd/cert_chain.pem" \
        --trust-anchor "$amd/ark.pem" --json >/dev/null
done
pass_msg "SNP v2/v3/v5 reports verify with the test ARK; altered ones do not"
out=$(agent verify --snp-report "$gen/snp-turin.bin" --vcek "$turin/vcek.pem" \
    --cert-chain "$turin/cert_chain.pem" --trust-anchor "$turin/ark.pem" --json) ||
    fail "Turin-style report did not verify: $out"
check_fields "$out" "$gen/snp-turin.bin.expect"
# signed by the Turin VCEK, presented with the Milan chain: refused
expect_rc 1 agent verify --snp-report "$gen/snp-turin.bin" --vcek "$amd/vcek.pem" \
    --cert-chain "$amd/cert_chain.pem" --trust-anchor "$amd/ark.pem" --json >/dev/null
# without the test anchor the chain is not trusted
expect_rc 1 agent verify --snp-report "$gen/snp-v2.bin" --vcek "$amd/vcek.pem" \
    --cert-chain "$amd/cert_chain.pem" --json >/dev/null
pass_msg "Turin-style report (fmcSPL, 8-byte hwID) verifies; wrong chain or no anchor refused"

# the test anchor is announced on stderr whatever the log level, and named in the JSON
subject=$(openssl x509 -in "$amd/ark.pem" -noout -subject -nameopt compat | sed 's/^subject=//')
for q in "" -q; do
    # shellcheck disable=SC2086 # $q is one option or none
    agent $q verify --snp-report "$gen/snp-v2.bin" --vcek "$amd/vcek.pem" --cert-chain "$amd/cert_chain.pem" \
        --trust-anchor "$amd/ark.pem" --json >"$TEST_DIR/ta.json" 2>"$TEST_DIR/ta.err" || fail "verify ${q:-without -q}"
    [ "$(grep -c "non-production: $subject" "$TEST_DIR/ta.err")" -eq 1 ] ||
        fail "no one-line non-production announcement ${q:+with $q}: $(cat "$TEST_DIR/ta.err")"
    grep -q "\"trust_anchor\":[[:space:]]*\"non-production: $subject\"" "$TEST_DIR/ta.json" ||
        fail "trust_anchor not in the JSON: $(cat "$TEST_DIR/ta.json")"
done
# the same from the configuration's [trust] anchor
printf '[trust]\nanchor = %s\n' "$amd/ark.pem" >"$TEST_DIR/trust.conf"
err=$(agent -q -c "$TEST_DIR/trust.conf" verify --snp-report "$gen/snp-v2.bin" --vcek "$amd/vcek.pem" \
    --cert-chain "$amd/cert_chain.pem" 2>&1 >/dev/null) || fail "verify with [trust] anchor: $err"
grep -q "non-production: $subject" <<<"$err" || fail "[trust] anchor not announced with -q: $err"
pass_msg "a test anchor is announced once on stderr even with -q, and named in \"trust_anchor\""

out=$(agent verify --hcl-report "$gen/hcl-snp.bin" --vcek "$amd/vcek.pem" \
    --cert-chain "$amd/cert_chain.pem" --trust-anchor "$amd/ark.pem" --json) ||
    fail "HCL-wrapped SNP report did not verify: $out"
check_fields "$out" "$gen/hcl-snp.bin.expect"
bad=$(tamper "$gen/hcl-snp.bin" 1300) # a byte of the runtime JSON: binding broken
expect_rc 1 agent verify --hcl-report "$bad" --vcek "$amd/vcek.pem" \
    --cert-chain "$amd/cert_chain.pem" --trust-anchor "$amd/ark.pem" --json >/dev/null
pass_msg "HCL-wrapped SNP report verifies and decodes as requested; broken binding refused"

# an HCL report made at VMPL 2 (a guest kernel, not the paravisor) is refused;
# --vmpl, which would lower the bar, does not apply to HCL reports
hv=(--hcl-report "$gen/hcl-snp-vmpl2.bin" --vcek "$amd/vcek.pem" --cert-chain "$amd/cert_chain.pem"
    --trust-anchor "$amd/ark.pem" --json)
out=$(agent verify "${hv[@]}" 2>/dev/null) && fail "an HCL report from VMPL 2 verified"
"$PYTHON" -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["failed_check"] == "vmpl" and o["snp"]["vmpl"] == 2, o' "$out" ||
    fail "VMPL 2 refusal: $out"
expect_rc 1 agent verify "${hv[@]}" >/dev/null 2>&1
expect_rc 2 agent verify "${hv[@]}" --vmpl 2 >/dev/null 2>&1
printf '{"vmpl": 2}\n' >"$TEST_DIR/vmpl2.json"
expect_rc 2 agent verify "${hv[@]}" --policy "$TEST_DIR/vmpl2.json" >/dev/null 2>&1
pass_msg "an HCL report from VMPL 2 is refused; --vmpl and a VMPL-2 policy do not apply to HCL reports"

f="$gen/tdx-v4.bin"
out=$(agent verify --tdx-quote "$f" --trust-anchor "$intel/root.pem" --json) ||
    fail "TDX quote did not verify: $out"
check_fields "$out" "$f.expect"
bad=$(tamper "$f" 0x238)
expect_rc 1 agent verify --tdx-quote "$bad" --trust-anchor "$intel/root.pem" --json >/dev/null
expect_rc 1 agent verify --tdx-quote "$f" --trust-anchor "$amd/ark.pem" --json >/dev/null
pass_msg "TDX v4 quote verifies with the test Intel root; altered quote or wrong root refused"

# a TDX HCL report alone: decoded and bound, but its TDREPORT is not authenticated.
# Any MRTD can be written into one (the sim's hcl-tdx.bin is exactly that): no.
out=$(agent verify --hcl-report "$gen/hcl-tdx.bin" --json 2>/dev/null) && fail "HCL-wrapped TDREPORT alone verified"
check_fields "$out" "$gen/hcl-tdx.bin.expect"
"$PYTHON" -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["verified"] is False and o["runtime_data_bound"] is True and o["tdreport_hashes_ok"] is True, o
assert o["failed_check"] == "td_quote_needed" and "a TD quote for it is needed" in o["reason"], o
assert o["trust_anchor"] == "none", o
' "$out" || fail "HCL-wrapped TDREPORT alone: $out"
expect_rc 1 agent verify --hcl-report "$gen/hcl-tdx.bin" >/dev/null 2>&1
bad=$(tamper "$gen/hcl-tdx.bin" 1300)
out=$(agent verify --hcl-report "$bad" --json 2>/dev/null) && fail "broken runtime binding verified"
grep -q '"failed_check":[[:space:]]*"runtime_data_binding"' <<<"$out" || fail "broken binding: $out"
pass_msg "HCL-wrapped TDREPORT decodes but is not verified without a TD quote; broken runtime binding refused"

# text output escapes control characters of strings from the evidence
out=$(agent verify --hcl-report "$gen/hcl-tdx-ctrl.bin" 2>/dev/null) && fail "HCL-wrapped TDREPORT alone verified"
[ "$(grep -c '^verified: ' <<<"$out")" -eq 1 ] && grep -q '^verified: no$' <<<"$out" ||
    fail "a runtime claim printed a verdict line of its own: $out"
grep -qF 'vm_configuration.note: x\nverified: yes\x1b[2K' <<<"$out" || fail "control characters not escaped: $out"
! grep -q $'\x1b' <<<"$out" || fail "an escape character reached the terminal"
pass_msg "text output escapes control characters of runtime claims"

out=$(agent verify --hcl-report "$gen/hcl-tdx.bin" --td-quote "$gen/hcl-tdx.quote" \
    --trust-anchor "$intel/root.pem" --json) || fail "HCL-wrapped TDREPORT + TD quote did not verify: $out"
check_fields "$out" "$gen/hcl-tdx.bin.expect"
grep -q '"tdreport"' <<<"$out" && fail "claims printed from the unauthenticated TDREPORT: $out"
# a quote for another TD, or for this TD with another MRCONFIGID, does not bind
expect_rc 1 agent verify --hcl-report "$gen/hcl-tdx.bin" --td-quote "$f" \
    --trust-anchor "$intel/root.pem" --json >/dev/null 2>&1
out=$(agent verify --hcl-report "$gen/hcl-tdx.bin" --td-quote "$gen/hcl-tdx-other.quote" \
    --trust-anchor "$intel/root.pem" --json 2>/dev/null) && fail "a quote with another MRCONFIGID was bound"
grep -q '"reason":.*MRCONFIGID differs' <<<"$out" || fail "MRCONFIGID mismatch reason: $out"
pass_msg "HCL-wrapped TDX report verifies with its TD quote; another TD's or another MRCONFIGID's quote refused"
