#!/bin/bash
# tests/sim/vtpm-provision.sh turns a fresh swtpm into an Azure-like vTPM:
# EK/SRK/AK at the Azure handles, AK attributes as in the real AikPub, an AK
# certificate chaining to the test vTPM CA in NV 0x01C101D0, the HCL report in
# NV 0x01400001, a working AK quote, and no transient handle left behind.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_cmd swtpm tpm2_createek tpm2_quote tpm2_checkquote openssl

PROV="$CVM_SRCDIR/tests/sim/vtpm-provision.sh"
out="$TEST_DIR/vtpm"
swtpm_start

no_leaks() {
    local what
    for what in handles-transient handles-loaded-session handles-saved-session; do
        [ -z "$(tpm2_getcap "$what")" ] || fail "$what not empty after $1: $(tpm2_getcap "$what")"
    done
}

bash "$PROV" --tcti "$CVM_AGENT_TCTI" --dir "$out" || fail "provisioning failed"
no_leaks "provisioning"
persistent=$(tpm2_getcap handles-persistent)
for h in 0x81000001 0x81000003 0x81010001; do
    grep -qx -- "- $h" <<<"$persistent" || fail "persistent handle $h missing: $persistent"
done
pass_msg "EK, SRK and AK persisted at the Azure handles"

tpm2_readpublic -c 0x81000003 >"$TEST_DIR/ak.yaml"
grep -q 'raw: 0x50472' "$TEST_DIR/ak.yaml" || fail "AK objectAttributes are not 0x00050472"
grep -A1 '^scheme:' "$TEST_DIR/ak.yaml" | grep -q 'rsassa' || fail "AK scheme is not RSASSA"
grep -A1 '^scheme-halg:' "$TEST_DIR/ak.yaml" | grep -q 'sha256' || fail "AK scheme hash is not SHA-256"
grep -q '^bits: 2048' "$TEST_DIR/ak.yaml" || fail "AK is not RSA-2048"
grep -q '^authorization policy: 837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa' \
    "$TEST_DIR/ak.yaml" || fail "AK has no 32-byte authPolicy"
# ak.pub is TPM2B_PUBLIC: 2-byte big-endian size, then the TPMT_PUBLIC.
sz=$(stat -c %s "$out/ak.pub")
hdr=$(od -An -tu1 -N2 "$out/ak.pub" | awk '{print $1 * 256 + $2}')
[ "$hdr" -eq $((sz - 2)) ] || fail "ak.pub is not a TPM2B_PUBLIC (size field $hdr, file $sz bytes)"
pass_msg "AK is an RSA-2048 restricted RSASSA/SHA-256 key with Azure's attributes"

tpm2_nvread -C o 0x01C101D0 -o "$TEST_DIR/nv-akcert.der" 2>/dev/null
cmp -s "$TEST_DIR/nv-akcert.der" "$out/ak-cert.der" || fail "NV 0x01C101D0 differs from ak-cert.der"
openssl x509 -inform DER -in "$TEST_DIR/nv-akcert.der" -out "$TEST_DIR/akcert.pem"
openssl verify -CAfile "$out/vtpm-ca.pem" "$TEST_DIR/akcert.pem" >/dev/null ||
    fail "AK certificate does not chain to the test vTPM CA"
openssl x509 -in "$TEST_DIR/akcert.pem" -noout -pubkey >"$TEST_DIR/certkey.pem"
cmp -s <(openssl pkey -pubin -in "$TEST_DIR/certkey.pem" -outform DER) \
    <(openssl pkey -pubin -in "$out/ak.pub.pem" -outform DER) || fail "AK certificate key is not the AK"
openssl x509 -in "$TEST_DIR/akcert.pem" -noout -ext extendedKeyUsage | grep -q '2.23.133.8.3' ||
    fail "AK certificate lacks EKU 2.23.133.8.3"
openssl x509 -in "$TEST_DIR/akcert.pem" -noout -subject | grep -q 'TrustedVM.Azure.Microsoft' ||
    fail "AK certificate subject is not Azure-like"
# A certificate from another CA must not verify (the check above can fail).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TEST_DIR/other.key" -out "$TEST_DIR/other.pem" \
    -subj "/CN=other" 2>/dev/null
if openssl verify -CAfile "$TEST_DIR/other.pem" "$TEST_DIR/akcert.pem" >/dev/null 2>&1; then
    fail "AK certificate verified against an unrelated CA"
fi
pass_msg "AK certificate in NV 0x01C101D0 chains to the test vTPM CA and carries the AK"

tpm2_quote -c 0x81000003 -l sha256:0,1,2,3,4,5,6,7 -q 0badc0de -m "$TEST_DIR/q.msg" \
    -s "$TEST_DIR/q.sig" -o "$TEST_DIR/q.pcrs" -g sha256 >/dev/null
tpm2_flushcontext -t; tpm2_flushcontext -s
tpm2_checkquote -u "$out/ak.pub.pem" -m "$TEST_DIR/q.msg" -s "$TEST_DIR/q.sig" \
    -f "$TEST_DIR/q.pcrs" -g sha256 -q 0badc0de >/dev/null || fail "AK quote does not verify"
pass_msg "the AK quotes and tpm2_checkquote verifies with ak.pub.pem"

# HCL-only mode on the already provisioned TPM; the size limit is enforced.
head -c 2048 /dev/urandom >"$TEST_DIR/hcl.bin"
bash "$PROV" --tcti "$CVM_AGENT_TCTI" --hcl-report "$TEST_DIR/hcl.bin" || fail "--hcl-report failed"
tpm2_nvread -C o 0x01400001 -o "$TEST_DIR/nv-hcl.bin" 2>/dev/null
cmp -s "$TEST_DIR/nv-hcl.bin" "$TEST_DIR/hcl.bin" || fail "NV 0x01400001 differs from the HCL blob"
head -c 700 /dev/urandom >"$TEST_DIR/hcl2.bin"
bash "$PROV" --tcti "$CVM_AGENT_TCTI" --hcl-report "$TEST_DIR/hcl2.bin" || fail "rewriting the HCL report failed"
tpm2_nvread -C o 0x01400001 -o "$TEST_DIR/nv-hcl2.bin" 2>/dev/null
cmp -s "$TEST_DIR/nv-hcl2.bin" "$TEST_DIR/hcl2.bin" || fail "NV 0x01400001 not resized/rewritten"
head -c 2049 /dev/urandom >"$TEST_DIR/big.bin"
expect_rc 1 bash "$PROV" --tcti "$CVM_AGENT_TCTI" --hcl-report "$TEST_DIR/big.bin" 2>/dev/null
pass_msg "HCL report written to NV 0x01400001 (rewrite and 2048-byte limit)"

# Re-running keeps the keys (same AK) and the CA.
cp "$out/ak.pub" "$TEST_DIR/ak.pub.1"
cp "$out/vtpm-ca.pem" "$TEST_DIR/ca.1"
bash "$PROV" --tcti "$CVM_AGENT_TCTI" --dir "$out" || fail "second provisioning failed"
cmp -s "$out/ak.pub" "$TEST_DIR/ak.pub.1" || fail "re-provisioning changed the AK"
cmp -s "$out/vtpm-ca.pem" "$TEST_DIR/ca.1" || fail "re-provisioning replaced the CA"
no_leaks "all steps"
pass_msg "re-provisioning is idempotent and nothing stays loaded"
