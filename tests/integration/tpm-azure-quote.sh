#!/bin/bash
# Real Azure vTPM quotes verify with `cvm-agent verify --tpm-quote`:
#  - kinvolk az-cvm-vtpm test/quote.bin + akpub.pem, nonce "challenge": the
#    bincode layout (MANIFEST) is split into the TPMS_ATTEST message, the raw
#    RSASSA signature and the 24 SHA-256 PCR values;
#  - trustee az-snp-vtpm / az-tdx-vtpm quote.bin, with the AK taken from the
#    HCLAkPub JWK inside the matching HCL report.
# Each verifies (signature given raw and as a marshalled TPMT_SIGNATURE, PCR
# digest checked), and fails when one byte of the message or signature changes,
# with a wrong nonce, or with a changed PCR value.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
KV=kinvolk__azure-cvm-tooling
require_testdata "$KV/az-cvm-vtpm_test_quote.bin" "$KV/az-cvm-vtpm_test_akpub.pem"
cd "$TEST_DIR"

# split QUOTE OUTPREFIX: bincode u64 len + sig | u64 len + msg | u64 n + n x 32-byte PCRs
split() {
    "$PYTHON" - "$1" "$2" <<'PY'
import json, struct, sys
d = open(sys.argv[1], "rb").read(); p = sys.argv[2]; o = 0
def take():
    global o
    n, = struct.unpack_from("<Q", d, o); o += 8
    return n
n = take(); sig = d[o:o + n]; o += n
n = take(); msg = d[o:o + n]; o += n
n = take(); pcrs = [d[o + 32 * i:o + 32 * i + 32] for i in range(n)]; o += 32 * n
assert o == len(d), "trailing bytes"
open(p + ".sig", "wb").write(sig)
open(p + ".msg", "wb").write(msg)
# the same signature as a marshalled TPMT_SIGNATURE: RSASSA (0x0014), SHA-256, size
open(p + ".tpmt", "wb").write(struct.pack(">HHH", 0x14, 0x0b, len(sig)) + sig)
json.dump({"sha256": {str(i): v.hex() for i, v in enumerate(pcrs)}}, open(p + ".pcrs.json", "w"))
bad = dict((str(i), v.hex()) for i, v in enumerate(pcrs)); bad["3"] = "11" * 32
json.dump({"sha256": bad}, open(p + ".badpcrs.json", "w"))
PY
}

# flip FILE OFFSET: a copy with one byte changed
flip() {
    "$PYTHON" - "$1" "$2" "$3" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read()); d[int(sys.argv[2])] ^= 0x01
open(sys.argv[3], "wb").write(d)
PY
}

check_quote() {
    local p=$1 ak=$2 name=$3
    local nonce
    nonce=$(printf challenge | od -An -tx1 | tr -d ' \n')
    expect_rc 0 agent verify --tpm-quote "$p.msg" --tpm-signature "$p.sig" --ak-pub "$ak" \
        --nonce "$nonce" --pcrs "$p.pcrs.json"
    expect_rc 0 agent verify --tpm-quote "$p.msg" --tpm-signature "$p.tpmt" --ak-pub "$ak" \
        --nonce "$nonce" --pcrs "$p.pcrs.json"
    pass_msg "$name: verifies (raw and TPMT_SIGNATURE, nonce 'challenge', PCR digest)"
    flip "$p.msg" 60 bad.msg
    agent verify --tpm-quote bad.msg --tpm-signature "$p.sig" --ak-pub "$ak" --json >out.json 2>/dev/null &&
        fail "$name: changed message accepted"
    grep -q '"reason":.*signature does not verify' out.json || fail "$name: wrong reason: $(cat out.json)"
    flip "$p.sig" 200 bad.sig
    expect_rc 1 agent verify --tpm-quote "$p.msg" --tpm-signature bad.sig --ak-pub "$ak"
    flip "$p.msg" 0 bad0.msg
    expect_rc 1 agent verify --tpm-quote bad0.msg --tpm-signature "$p.sig" --ak-pub "$ak"
    expect_rc 1 agent verify --tpm-quote "$p.msg" --tpm-signature "$p.sig" --ak-pub "$ak" --nonce 00
    expect_rc 1 agent verify --tpm-quote "$p.msg" --tpm-signature "$p.sig" --ak-pub "$ak" \
        --pcrs "$p.badpcrs.json"
    pass_msg "$name: one changed message or signature byte, a wrong nonce or PCR value fails"
}

split "$CVM_TESTDATA/$KV/az-cvm-vtpm_test_quote.bin" kv
check_quote kv "$CVM_TESTDATA/$KV/az-cvm-vtpm_test_akpub.pem" "kinvolk az-cvm-vtpm quote"

# usage errors: missing companions, unreadable files
expect_rc 2 agent verify --tpm-quote kv.msg
expect_rc 2 agent verify --tpm-quote kv.msg --tpm-signature kv.sig --ak-pub /nonexistent
expect_rc 2 agent verify --tpm-quote kv.msg --tpm-signature kv.sig \
    --ak-pub "$CVM_TESTDATA/$KV/az-cvm-vtpm_test_akpub.pem" --nonce xyz

# trustee vectors: the AK is the HCLAkPub JWK in the HCL report's runtime claims
TR=confidential-containers__trustee
for kind in snp tdx; do
    q="$CVM_TESTDATA/$TR/deps_verifier_test_data_az-${kind}-vtpm_quote.bin"
    h="$CVM_TESTDATA/$TR/deps_verifier_test_data_az-${kind}-vtpm_hcl-report.bin"
    if [ ! -r "$q" ] || [ ! -r "$h" ]; then
        echo "# trustee az-${kind}-vtpm vectors absent, skipping that part"
        continue
    fi
    "$PYTHON" - "$h" "ak-$kind.pem" <<'PY'
import base64, json, struct, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
d = open(sys.argv[1], "rb").read()
size, = struct.unpack_from("<I", d, 1232)          # HclData.VariableDataSize (azure-wire-formats §1.2)
claims = json.loads(d[1236:1236 + size])
jwk = next(k for k in claims["keys"] if k["kid"] == "HCLAkPub")
b = lambda s: int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")
key = rsa.RSAPublicNumbers(b(jwk["e"]), b(jwk["n"])).public_key()
open(sys.argv[2], "wb").write(key.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo))
PY
    split "$q" "tr-$kind"
    check_quote "tr-$kind" "ak-$kind.pem" "trustee az-${kind}-vtpm quote"
done
