#!/bin/bash
# The transfer key (azure-wire-formats.md §4) through tpm/: created under
# TPM_RH_NULL with the Azure template and a PolicyPCR authPolicy over PCR 0-7,
# certified by the AK (TPM2_Certify verifies offline with the AK public key and
# binds the key's name); data encrypted outside the TPM with openssl pkeyutl
# (RSAES-PKCS1-v1_5, OAEP-SHA256, OAEP-SHA1) decrypts inside the TPM, and stops
# decrypting once a PCR changes.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$CVM_SRCDIR/tests/integration/tpm-lib.sh"
require_cmd tpm2_print
vtpm_start
cd "$TEST_DIR"
SEL=sha256:0-7

driver certify-transfer-key --pcrs "$SEL" --pub tk.pub --attest tk.attest --sig tk.sig --pem tk.pem ||
    fail "certify-transfer-key failed"
no_leaks "certify"
tpm2_print -t TPM2B_PUBLIC tk.pub >tk.yaml || fail "tk.pub is not a TPM2B_PUBLIC"
grep -q 'raw: 0x20432' tk.yaml || fail "transfer key attributes are not 0x00020432: $(cat tk.yaml)"
grep -q '^bits: 2048' tk.yaml || fail "transfer key is not RSA-2048"
# authPolicy = PolicyPCR over the current PCR 0-7, computed independently here
driver pcr-read --pcrs "$SEL" --out pcrs.json || fail "pcr-read failed"
want=$("$PYTHON" - <<'PY'
import hashlib, json
p = json.load(open("pcrs.json"))["sha256"]
digest = hashlib.sha256(b"".join(bytes.fromhex(p[str(i)]) for i in range(8))).digest()
sel = bytes.fromhex("00000001" "000b" "03" "ff0000")  # TPML_PCR_SELECTION sha256 0-7
print(hashlib.sha256(b"\0" * 32 + bytes.fromhex("0000017f") + sel + digest).hexdigest())
PY
)
grep -q "^authorization policy: $want" tk.yaml || fail "authPolicy is not PolicyPCR(0-7): $(grep policy tk.yaml)"
pass_msg "transfer key has the Azure template and PolicyPCR authPolicy"

driver verify-certify --ak-pub "$VTPM/ak.pub.pem" --pub tk.pub --attest tk.attest --sig tk.sig ||
    fail "certify does not verify with the AK"
[ "$(od -An -tx1 -j4 -N2 tk.attest | tr -d ' ')" = "8017" ] || fail "not a certify TPMS_ATTEST"
cp tk.attest bad.attest; printf '\x01' | dd of=bad.attest bs=1 seek=30 conv=notrunc 2>/dev/null
expect_rc 1 driver verify-certify --ak-pub "$VTPM/ak.pub.pem" --pub tk.pub --attest bad.attest --sig tk.sig
driver transfer-key-public --pcrs sha256:0-6 --pub other.pub || fail "transfer-key-public failed"
expect_rc 1 driver verify-certify --ak-pub "$VTPM/ak.pub.pem" --pub other.pub --attest tk.attest --sig tk.sig
pass_msg "certify verifies with the AK public key, and not for a changed attest or another key"

# Deterministic: the same key again while the NULL seed and PCRs are unchanged.
driver transfer-key-public --pcrs "$SEL" --pub tk2.pub || fail "transfer-key-public failed"
cmp -s tk.pub tk2.pub || fail "the transfer key is not re-derived identically"

head -c 32 /dev/urandom >key
openssl pkeyutl -encrypt -pubin -inkey tk.pem -in key -out ct.rsaes -pkeyopt rsa_padding_mode:pkcs1
openssl pkeyutl -encrypt -pubin -inkey tk.pem -in key -out ct.oaep256 -pkeyopt rsa_padding_mode:oaep \
    -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256
openssl pkeyutl -encrypt -pubin -inkey tk.pem -in key -out ct.oaep1 -pkeyopt rsa_padding_mode:oaep \
    -pkeyopt rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1
for s in rsaes:ct.rsaes oaep-sha256:ct.oaep256 oaep-sha1:ct.oaep1; do
    driver decrypt --pcrs "$SEL" --scheme "${s%%:*}" --in "${s#*:}" --out "pt.${s%%:*}" ||
        fail "decrypt ${s%%:*} failed"
    cmp -s key "pt.${s%%:*}" || fail "decrypt ${s%%:*} returned other data"
done
no_leaks "decrypt"
pass_msg "RSAES, OAEP-SHA256 and OAEP-SHA1 ciphertexts from openssl decrypt in the TPM"

expect_rc 1 driver decrypt --pcrs "$SEL" --scheme oaep-sha256 --in ct.oaep1 --out x
expect_rc 1 driver decrypt --pcrs "$SEL" --scheme oaep-sha1 --in ct.rsaes --out x
pass_msg "a ciphertext of another scheme is rejected"

echo -n "event" >ev
driver pcr-extend --pcrs sha256:7 --in ev || fail "pcr-extend failed"
# the re-derived key now has another authPolicy, hence another modulus: nothing decrypts
expect_rc 1 driver decrypt --pcrs "$SEL" --scheme rsaes --in ct.rsaes --out x
driver transfer-key-public --pcrs "$SEL" --pub tk3.pub || fail "transfer-key-public failed"
cmp -s tk.pub tk3.pub && fail "the transfer key did not change with PCR 7"
no_leaks "the whole test"
pass_msg "after a PCR extend the old ciphertext no longer decrypts; no handle leaks"
