#!/bin/bash
# verify --tdx-quote / --tdreport on the real TDX evidence in the testdata:
# every real quote verifies to the Intel SGX Root CA at a pinned time with the
# MANIFEST's fields, tdx_quote_4's claims equal trustee's expected claims, a
# debug TD is refused by default, collateral gives a TCB status and says
# whether its own signature was checked, and altered evidence fails.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_testdata google__go-tdx-guest/testing_testdata_tdx_prod_quote_SPR_E4.dat \
    confidential-containers__trustee/deps_verifier_test_data_tdx_quote_4.dat

quiet() { "$@" >/dev/null 2>&1; }

T=$CVM_TESTDATA
AT=2026-06-01T00:00:00Z
TR=confidential-containers__trustee
GT=google__go-tdx-guest
CAT=azure-services/Azure__cvm-attestation-tools

# file | mrtd prefix | report_data prefix (from MANIFEST.md)
while IFS='|' read -r f mrtd rd; do
    out=$(agent verify --tdx-quote "$T/$f" --at "$AT" --json) || fail "$f does not verify"
    cat >"$TEST_DIR/check1.py" <<'PY'
import json, sys
o = json.load(sys.stdin)
mrtd, rd, f = sys.argv[1:4]
assert o["verified"] is True, o
assert o["root_ca"].startswith("Intel SGX Root CA"), o["root_ca"]
assert all(o["checks"].values()), o["checks"]
assert o["mrtd"].startswith(mrtd), (o["mrtd"], mrtd)
assert o["report_data"].startswith(rd), (o["report_data"], rd)
for k in ("rtmr0", "rtmr1", "rtmr2", "rtmr3", "xfam", "tee_tcb_svn", "mrconfigid", "mrowner"):
    assert k in o and o[k] == o[k].lower(), k
if o["version"] == 5 and o["body_type"] == 3:
    assert len(o["mrservicetd"]) == 96 and "tee_tcb_svn2" in o
PY
"$PYTHON" "$TEST_DIR/check1.py" "$mrtd" "$rd" "$f" <<<"$out" || fail "$f: decoded fields differ from the MANIFEST"
done <<LIST
$GT/testing_testdata_tdx_prod_quote_SPR_E4.dat|6363b804|6c62dec1
$GT/testing_testdata_quote_v5_sample.dat||
$GT/testing_testdata_ccel_cos-113-tdx-quote.dat||0000000000000000
$TR/deps_verifier_test_data_tdx_quote_5.dat|dfba221b|
$TR/deps_verifier_test_data_tdx_quote_6.dat|21e8dead|26cae1c7
$TR/deps_verifier_test_data_az-tdx-vtpm_td-quote.bin|024a32b070383331181619fa387cb4d55d1e38879f989933055ccad5bc2db795d1737b66205949d15469dc8c1ba7ab7b|9734504f161d104c74e3165c15f779b06a9bb40dfa71937817d7eee68e593839
$CAT/cvm-attestation_tests_reports_td_quote_v4.dat||e771caa1
$CAT/cvm-attestation_tests_reports_td_quote_v5.dat||9cb7f308
LIST
pass_msg "real quotes verify to the Intel SGX Root CA with the MANIFEST's fields"

# cos-113: RTMRs from the MANIFEST, in full
out=$(agent verify --tdx-quote "$T/$GT/testing_testdata_ccel_cos-113-tdx-quote.dat" --at "$AT" --json)
grep -q '"rtmr0":.*"3fa2f61f395b7f5feefb4ec2df61297f109ad8abcd6410c1b7df60f21f37b19297fc35e544039c7e1edece752afd17f6"' <<<"$out" || fail "cos-113 rtmr0"
grep -q '"rtmr1":.*"f62dbc072bd5d3f3438b7b35c39a727f5aea2ffc2473f43723953f530daf62504f0a7944aa62c41a86e8a878c2b122c1"' <<<"$out" || fail "cos-113 rtmr1"
grep -q '"rtmr2":.*"4969684dc87381fc3b3134176c8d8806eaf0a901859f5f70cfae8d17714b46c10a8de219048c9fc09f11f381a6fbe7c1"' <<<"$out" || fail "cos-113 rtmr2"
pass_msg "cos-113 RTMRs"

# the debug TD: refused by default, accepted with --allow-debug; its claims
# equal trustee's expected claims (names differ, values must not)
q4="$T/$TR/deps_verifier_test_data_tdx_quote_4.dat"
out=$(agent verify --tdx-quote "$q4" --at "$AT" --json 2>/dev/null) && fail "debug TD accepted by default"
expect_rc 1 quiet agent verify --tdx-quote "$q4" --at "$AT" --json
grep -q '"reason":.*debug TD' <<<"$out" || fail "debug refusal does not say why: $out"
out=$(agent verify --tdx-quote "$q4" --at "$AT" --allow-debug --json) || fail "--allow-debug"
cat >"$TEST_DIR/check2.py" <<'PY'
import json, sys
o = json.load(sys.stdin)
e = json.load(open(sys.argv[1]))
b, h = e["quote"]["body"], e["quote"]["header"]
pairs = {"mrtd": b["mr_td"], "mrconfigid": b["mr_config_id"], "mrowner": b["mr_owner"],
         "mrownerconfig": b["mr_owner_config"], "mrseam": b["mr_seam"],
         "mrsignerseam": b["mrsigner_seam"], "report_data": b["report_data"],
         "rtmr0": b["rtmr_0"], "rtmr1": b["rtmr_1"], "rtmr2": b["rtmr_2"], "rtmr3": b["rtmr_3"],
         "seam_attributes": b["seam_attributes"], "tee_tcb_svn": b["tcb_svn"],
         "td_attributes": b["td_attributes"], "xfam": b["xfam"],
         "user_data": h["user_data"], "qe_vendor_id": h["vendor_id"]}
for k, v in pairs.items():
    assert o[k] == v.lower(), (k, o[k], v)
assert o["report_data"] == e["report_data"]
le16 = lambda s: int.from_bytes(bytes.fromhex(s), "little")
assert o["version"] == le16(h["version"]) and o["att_key_type"] == le16(h["att_key_type"])
assert o["tee_type"] == le16(h["tee_type"])
f, ef = o["td_attributes_flags"], e["td_attributes"]
assert f["debug"] == ef["debug"] and f["sept_ve_disable"] == ef["septve_disable"]
assert f["key_locker"] == ef["key_locker"] and f["perfmon"] == ef["perfmon"]
assert f["pks"] == ef["protection_keys"]
PY
"$PYTHON" "$TEST_DIR/check2.py" "$T/$TR/deps_verifier_test_data_parse_tdx_claims_expected.json" <<<"$out" || fail "tdx_quote_4 claims differ from trustee's expected claims"
pass_msg "debug TD refused by default; tdx_quote_4 claims agree with the expected claims"

# --measurement / --report-data
q6="$T/$TR/deps_verifier_test_data_tdx_quote_6.dat"
m6=$(agent verify --tdx-quote "$q6" --at "$AT" --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["mrtd"])')
agent verify --tdx-quote "$q6" --at "$AT" --measurement "$m6" >/dev/null || fail "--measurement (own MRTD)"
expect_rc 1 quiet agent verify --tdx-quote "$q6" --at "$AT" --measurement "$(printf '%096d' 0)"
agent verify --tdx-quote "$q6" --at "$AT" --report-data 26cae1c77185617f >/dev/null || fail "--report-data (a prefix)"
agent verify --tdx-quote "$q6" --at "$AT" \
    --report-data 26cae1c77185617fb6a03fc29bf1f924596e52352b9b7594940b576ae126cd4a570cc3202a900c5d19a6eb0a95b32cfd >/dev/null ||
    fail "--report-data (48 bytes)"
expect_rc 1 quiet agent verify --tdx-quote "$q6" --at "$AT" --report-data 26cae1c77185617e
expect_rc 1 quiet agent verify --tdx-quote "$q6" --at "$AT" --report-data "26cae1c77185617fb6a03fc29bf1f924596e52352b9b7594940b576ae126cd4a570cc3202a900c5d19a6eb0a95b32cfd01"
expect_rc 2 quiet agent verify --tdx-quote "$q6" --at "$AT" --report-data xyz
pass_msg "--measurement and --report-data"

# collateral: TCB status of tdx_quote_6, and the output says the collateral's
# own signature was not checked
ti="$T/$TR/deps_verifier_test_data_tcbInfo.json"
qi="$T/$TR/deps_verifier_test_data_enclaveIdentity.json"
out=$(agent verify --tdx-quote "$q6" --tcb-info "$ti" --qe-identity "$qi" --at 2025-11-01T00:00:00Z --json 2>/dev/null) ||
    fail "tdx_quote_6 with collateral: $out"
"$PYTHON" -c '
import json, sys
o = json.load(sys.stdin)
assert o["collateral_signature_checked"] is False, o
assert "NOT checked" in o["collateral_note"]
assert o["tcb_status"] in ("UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "OutOfDate", "OutOfDateConfigurationNeeded", "ConfigurationAndSWHardeningNeeded"), o["tcb_status"]
assert o["qe_tcb_status"] == "UpToDate" and o["tdx_module_tcb_status"] == "UpToDate"
print("# tdx_quote_6 tcb_status:", o["tcb_status"], o.get("tcb_date"))
' <<<"$out" || fail "collateral output: $out"
# expired collateral (now) is refused
expect_rc 1 quiet agent verify --tdx-quote "$q6" --tcb-info "$ti" --qe-identity "$qi" --at "$AT"
pass_msg "collateral: TCB status reported, unsigned collateral said plainly"

# the collateral's own signature, with a test signing chain: re-signed
# collateral verifies; one changed character fails; Intel's signature does not
# verify under the test key
"$PYTHON" - "$ti" "$qi" "$TEST_DIR" <<'PY'
import datetime, json, re, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
ti, qi, d = sys.argv[1:4]
now = datetime.datetime(2024, 1, 1)
def name(cn): return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
rk = ec.generate_private_key(ec.SECP256R1()); sk = ec.generate_private_key(ec.SECP256R1())
root = (x509.CertificateBuilder().subject_name(name("Test SGX Root CA")).issuer_name(name("Test SGX Root CA"))
        .public_key(rk.public_key()).serial_number(1).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(rk, hashes.SHA256()))
signer = (x509.CertificateBuilder().subject_name(name("Intel SGX TCB Signing (test)")).issuer_name(root.subject)
          .public_key(sk.public_key()).serial_number(2).not_valid_before(now)
          .not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
          .sign(rk, hashes.SHA256()))
pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
open(d + "/root.pem", "wb").write(pem(root))
open(d + "/chain.pem", "wb").write(pem(signer) + pem(root))
for src, key, out in ((ti, "tcbInfo", "ti.json"), (qi, "enclaveIdentity", "qi.json")):
    text = open(src).read()
    o = json.loads(text)
    m = re.match(r'\{"%s":(.*),"signature":"[0-9a-f]+"\}\s*$' % key, text, re.S)
    body = m.group(1)
    assert json.loads(body) == o[key]
    r, s = decode_dss_signature(sk.sign(body.encode(), ec.ECDSA(hashes.SHA256())))
    sig = r.to_bytes(32, "big").hex() + s.to_bytes(32, "big").hex()
    open(d + "/" + out, "w").write('{"%s":%s,"signature":"%s"}' % (key, body, sig))
    open(d + "/bad-" + out, "w").write('{"%s":%s,"signature":"%s"}' % (key, body.replace("2024-03-13", "2024-03-14", 1), sig))
PY
coll=(--collateral-chain "$TEST_DIR/chain.pem" --trust-anchor "$TEST_DIR/root.pem" --at 2025-11-01T00:00:00Z --json)
out=$(agent verify --tdx-quote "$q6" --tcb-info "$TEST_DIR/ti.json" --qe-identity "$TEST_DIR/qi.json" "${coll[@]}" 2>/dev/null) ||
    fail "re-signed collateral rejected: $out"
grep -q '"collateral_signature_checked":.*true' <<<"$out" || fail "collateral signature not reported as checked"
grep -q '"root_ca":.*Intel SGX Root CA' <<<"$out" || fail "the PCK chain must still end at the pinned Intel root"
expect_rc 1 quiet agent verify --tdx-quote "$q6" --tcb-info "$TEST_DIR/bad-ti.json" --qe-identity "$TEST_DIR/qi.json" "${coll[@]}"
expect_rc 1 quiet agent verify --tdx-quote "$q6" --tcb-info "$TEST_DIR/ti.json" --qe-identity "$TEST_DIR/bad-qi.json" "${coll[@]}"
expect_rc 1 quiet agent verify --tdx-quote "$q6" --tcb-info "$ti" --qe-identity "$qi" "${coll[@]}"
# without the test anchor the signing chain is not trusted
expect_rc 1 quiet agent verify --tdx-quote "$q6" --tcb-info "$TEST_DIR/ti.json" --collateral-chain "$TEST_DIR/chain.pem" --at 2025-11-01T00:00:00Z
pass_msg "collateral signature checked with a signing chain; altered collateral fails"

# CRLs (go-tdx-guest's PCK and root CRLs, inside their window)
agent verify --tdx-quote "$T/$GT/testing_testdata_tdx_prod_quote_SPR_E4.dat" --crl "$T/$GT/testing_testdata_pckcrl" \
    --crl "$T/$GT/testing_testdata_rootcrl.der" --at 2023-06-20T00:00:00Z --json | grep -q '"crls_checked":.*true' ||
    fail "CRLs not checked"
expect_rc 1 quiet agent verify --tdx-quote "$T/$GT/testing_testdata_tdx_prod_quote_SPR_E4.dat" --crl "$T/$GT/testing_testdata_pckcrl" --at "$AT"
pass_msg "CRLs checked; a stale CRL fails"

# altered and truncated quotes
cp "$q6" "$TEST_DIR/q.dat"
printf '\xff' | dd of="$TEST_DIR/q.dat" bs=1 seek=200 conv=notrunc status=none
expect_rc 1 quiet agent verify --tdx-quote "$TEST_DIR/q.dat" --at "$AT"
head -c 1000 "$q6" >"$TEST_DIR/short.dat"
out=$(agent verify --tdx-quote "$TEST_DIR/short.dat" --at "$AT" --json 2>/dev/null) && fail "truncated quote verified"
grep -q '"reason":.*exceeds' <<<"$out" || fail "truncation reason: $out"
grep -q '"failed_check":.*"parse"' <<<"$out" || fail "truncation failed_check: $out"
pass_msg "altered and truncated quotes fail"

# TDREPORTs (guest-components, and the Azure HCL reports' TDREPORT at 0x20):
# decoded and hash-checked, never verified; a forged one (MRTD rewritten,
# hash recomputed) passes the hash checks and still gets the same "no"
tdr_check() { # JSON HASHES-OK: verified false, exit 1, the reason names the TD quote
    "$PYTHON" -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["verified"] is False and o["mac_checked"] is False, o
ok = o["tee_tcb_info_hash_ok"] and o["tee_info_hash_ok"]
assert ok == (sys.argv[2] == "1"), o
assert o["failed_check"] == ("td_quote_needed" if ok else "tdreport_hash"), o
assert ("a TD quote for it is needed" in o["reason"]) == ok, o["reason"]
assert o["trust_anchor"] == "none", o["trust_anchor"]
' "$1" "$2" || fail "TDREPORT output: $1"
}
out=$(agent verify --tdreport "$T/confidential-containers__guest-components/attestation-agent_attester_test_tdx_report_1.bin" --json 2>/dev/null) &&
    fail "a TDREPORT alone verified"
tdr_check "$out" 1
for h in kinvolk__azure-cvm-tooling/az-cvm-vtpm_test_hcl-report-tdx.bin $TR/deps_verifier_test_data_az-tdx-vtpm_hcl-report.bin \
    $CAT/cvm-attestation_tests_reports_snp_hcl_report.bin; do
    dd if="$T/$h" of="$TEST_DIR/tdreport.bin" bs=1 skip=32 count=1024 status=none
    expect_rc 1 quiet agent verify --tdreport "$TEST_DIR/tdreport.bin"
    tdr_check "$(agent verify --tdreport "$TEST_DIR/tdreport.bin" --json 2>/dev/null || true)" 1
    printf '\x01' | dd of="$TEST_DIR/tdreport.bin" bs=1 seek=$((0x210)) conv=notrunc status=none
    tdr_check "$(agent verify --tdreport "$TEST_DIR/tdreport.bin" --json 2>/dev/null || true)" 0
    "$PYTHON" -c '
import hashlib, sys
b = bytearray(open(sys.argv[1], "rb").read())
b[0x50:0x80] = hashlib.sha384(bytes(b[0x200:0x400])).digest()   # TEE_INFO_HASH over the new TDINFO
open(sys.argv[1], "wb").write(b)' "$TEST_DIR/tdreport.bin"
    expect_rc 1 quiet agent verify --tdreport "$TEST_DIR/tdreport.bin"
    tdr_check "$(agent verify --tdreport "$TEST_DIR/tdreport.bin" --json 2>/dev/null || true)" 1
done
expect_rc 2 quiet agent verify --tdreport "$TEST_DIR/tdreport.bin" --measurement "$(printf '%096d' 0)"
pass_msg "TDREPORTs are decoded and hash-checked but never verified (a forged one included); --measurement refused"

# RTMR replay: the cos-113 CCEL replays to exactly the cos-113 quote's RTMRs;
# one changed digest byte breaks the match (and says which RTMR)
ccel="$T/$GT/testing_testdata_ccel_ccel_data.dat"
cq="$T/$GT/testing_testdata_ccel_cos-113-tdx-quote.dat"
out=$(agent verify --tdx-quote "$cq" --event-log "$ccel" --at "$AT" --json) || fail "cos-113 CCEL does not replay to its quote"
"$PYTHON" -c '
import json, sys
o = json.load(sys.stdin)
for i in range(4):
    e = o["rtmr_replay"]["rtmr%d" % i]
    assert e["match"] is True and e["replayed"] == o["rtmr%d" % i], (i, e)
' <<<"$out" || fail "RTMR replay output: $out"
# offset of the first extending event's SHA-384 digest on RTMR1 (CC MR index 2)
off=$("$PYTHON" - "$ccel" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
size = struct.unpack_from("<I", d, 28)[0]
o = 32 + size                                   # after the legacy Spec ID event
while True:
    idx, typ, cnt = struct.unpack_from("<III", d, o)
    dig = o + 12 + 2                            # one SHA-384 digest (alg 0x000c)
    esz = struct.unpack_from("<I", d, dig + 48)[0]
    if idx == 2 and typ != 3:
        print(dig); break
    o = dig + 48 + 4 + esz
PY
)
cp "$ccel" "$TEST_DIR/ccel.bin"
printf '\x55' | dd of="$TEST_DIR/ccel.bin" bs=1 seek="$off" conv=notrunc status=none
cmp -s "$ccel" "$TEST_DIR/ccel.bin" && fail "the byte change changed nothing"
out=$(agent verify --tdx-quote "$cq" --event-log "$TEST_DIR/ccel.bin" --at "$AT" --json 2>/dev/null) &&
    fail "a changed CCEL still matches"
"$PYTHON" -c '
import json, sys
o = json.load(sys.stdin)
r = o["rtmr_replay"]
assert r["rtmr0"]["match"] and not r["rtmr1"]["match"] and r["rtmr2"]["match"], r
assert "does not replay" in o["reason"]
' <<<"$out" || fail "changed CCEL output: $out"
pass_msg "cos-113 CCEL replays to the quote's RTMRs; one changed byte breaks RTMR1"

# Azure: the HCL report's TDREPORT and the TD quote for it (--hcl-report --td-quote)
hcl="$T/$TR/deps_verifier_test_data_az-tdx-vtpm_hcl-report.bin"
azq="$T/$TR/deps_verifier_test_data_az-tdx-vtpm_td-quote.bin"
out=$(agent verify --hcl-report "$hcl" --td-quote "$azq" --at "$AT" --json) || fail "HCL + TD quote: $out"
grep -q '"td_quote_matches_tdreport":.*true' <<<"$out" && grep -q '"td_quote_verified":.*true' <<<"$out" ||
    fail "HCL + TD quote output: $out"
out=$(agent verify --hcl-report "$T/kinvolk__azure-cvm-tooling/az-cvm-vtpm_test_hcl-report-tdx.bin" --td-quote "$azq" \
    --at "$AT" --json 2>/dev/null) && fail "a TD quote for another TDREPORT was accepted"
grep -q '"failed_check":.*"td_quote_binding"' <<<"$out" || fail "binding failure not named: $out"
out=$(agent verify --hcl-report "$hcl" --json 2>/dev/null) && fail "HCL without --td-quote verified"
grep -q '"td_quote_verified":.*false' <<<"$out" && grep -q '"reason":.*a TD quote for it is needed' <<<"$out" ||
    fail "HCL without --td-quote: $out"
expect_rc 2 quiet agent verify --hcl-report "$hcl" --td-quote "$azq" --at "$AT" --vcek "$azq"
expect_rc 2 quiet agent verify --hcl-report "$hcl" --td-quote "$azq" --at "$AT" --vmpl 0
expect_rc 2 quiet agent verify --tdx-quote "$azq" --at "$AT" --vmpl 0
expect_rc 2 quiet agent verify --tdx-quote "$azq" --at "$AT" --policy /dev/null
expect_rc 2 quiet agent verify --tdx-quote "$azq" --at "$AT" --host-data zz
pass_msg "HCL report + TD quote: verified and bound; a foreign quote fails; SNP options refused"
