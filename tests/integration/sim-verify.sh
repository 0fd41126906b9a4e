#!/bin/bash
# Reports made by tests/sim/signers.py with the test PKIs pass `cvm-agent
# verify` with the test anchors (SNP v2/v3/v5, Turin, HCL-wrapped; TDX v4
# quotes) and the decoded fields are the requested ones; an altered report
# fails. Runs each part only once `cvm-agent verify --help` lists the option
# (the snp/tdx modules); skips (77) when neither is there.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_cmd openssl
[ -x "$PYTHON" ] || skip "$PYTHON not found"
"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography not installed"
export PYTHONDONTWRITEBYTECODE=1

help=$(agent verify --help 2>&1 || true)
has_snp=0 has_tdx=0 has_hcl=0
grep -q -- '--snp-report' <<<"$help" && has_snp=1
grep -q -- '--tdx-quote' <<<"$help" && has_tdx=1
grep -q -- '--hcl-report' <<<"$help" && has_hcl=1
[ $has_snp -eq 1 ] || [ $has_tdx -eq 1 ] ||
    skip "cvm-agent verify lists neither --snp-report nor --tdx-quote yet"

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
mrtd = hashlib.sha384(b"mrtd").digest()
rd = hashlib.sha512(b"td report data").digest()
out("tdx-v4.bin", signers.tdx_quote(p, mrtd=mrtd, report_data=rd), mrtd=mrtd.hex(), report_data=rd.hex())
mrtd = hashlib.sha384(b"hcl mrtd").digest()
h = signers.hcl_report(p, "tdx", ak, mrtd=mrtd)
var = signers.parse_hcl(h)["var"]
out("hcl-tdx.bin", h, mrtd=mrtd.hex(), report_data=(hashlib.sha256(var).digest() + bytes(32)).hex())
out("hcl-tdx.quote", signers.tdx_quote_from_tdreport(p, h[32:32 + 1024]))
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

if [ $has_snp -eq 1 ]; then
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
    if [ $has_hcl -eq 1 ]; then
        out=$(agent verify --hcl-report "$gen/hcl-snp.bin" --vcek "$amd/vcek.pem" \
            --cert-chain "$amd/cert_chain.pem" --trust-anchor "$amd/ark.pem" --json) ||
            fail "HCL-wrapped SNP report did not verify: $out"
        check_fields "$out" "$gen/hcl-snp.bin.expect"
        bad=$(tamper "$gen/hcl-snp.bin" 1300) # a byte of the runtime JSON: binding broken
        expect_rc 1 agent verify --hcl-report "$bad" --vcek "$amd/vcek.pem" \
            --cert-chain "$amd/cert_chain.pem" --trust-anchor "$amd/ark.pem" --json >/dev/null
        pass_msg "HCL-wrapped SNP report verifies and decodes as requested; broken binding refused"
    fi
fi

if [ $has_tdx -eq 1 ]; then
    f="$gen/tdx-v4.bin"
    out=$(agent verify --tdx-quote "$f" --trust-anchor "$intel/root.pem" --json) ||
        fail "TDX quote did not verify: $out"
    check_fields "$out" "$f.expect"
    bad=$(tamper "$f" 0x238)
    expect_rc 1 agent verify --tdx-quote "$bad" --trust-anchor "$intel/root.pem" --json >/dev/null
    expect_rc 1 agent verify --tdx-quote "$f" --trust-anchor "$amd/ark.pem" --json >/dev/null
    pass_msg "TDX v4 quote verifies with the test Intel root; altered quote or wrong root refused"
    if [ $has_hcl -eq 1 ]; then
        # the TDREPORT decodes and the runtime data is bound (its MAC is not checkable off-platform)
        out=$(agent verify --hcl-report "$gen/hcl-tdx.bin" --trust-anchor "$intel/root.pem" --json) ||
            fail "HCL-wrapped TDREPORT did not verify: $out"
        check_fields "$out" "$gen/hcl-tdx.bin.expect"
        bad=$(tamper "$gen/hcl-tdx.bin" 1300)
        expect_rc 1 agent verify --hcl-report "$bad" --trust-anchor "$intel/root.pem" --json >/dev/null
        pass_msg "HCL-wrapped TDREPORT decodes as requested; broken runtime binding refused"
    fi
    if [ $has_hcl -eq 1 ] && grep -q -- '--td-quote' <<<"$help"; then
        out=$(agent verify --hcl-report "$gen/hcl-tdx.bin" --td-quote "$gen/hcl-tdx.quote" \
            --trust-anchor "$intel/root.pem" --json) || fail "HCL-wrapped TDREPORT + TD quote did not verify: $out"
        check_fields "$out" "$gen/hcl-tdx.bin.expect"
        # a quote for another TD does not match the HCL's TDREPORT
        expect_rc 1 agent verify --hcl-report "$gen/hcl-tdx.bin" --td-quote "$f" \
            --trust-anchor "$intel/root.pem" --json >/dev/null
        pass_msg "HCL-wrapped TDX report verifies with its TD quote; another TD's quote refused"
    fi
fi
