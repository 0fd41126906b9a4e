#!/bin/bash
# NV through tpm/: the 64-byte user-data index 0x01400002 is defined and
# written, re-defined when the size changes, read back (also by tpm2_nvread);
# a 2048-byte HCL report at 0x01400001 is read in TPM2_PT_NV_BUFFER_MAX chunks;
# the AK certificate at 0x01C101D0 reads back as provisioned.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$CVM_SRCDIR/tests/integration/tpm-lib.sh"
require_cmd tpm2_nvread
vtpm_start
cd "$TEST_DIR"

head -c 64 /dev/urandom >ud
driver nv-write --index 0x01400002 --in ud || fail "nv-write user data failed"
driver nv-read --index 0x01400002 --out ud.out || fail "nv-read user data failed"
cmp -s ud ud.out || fail "user data read back differs"
tpm2_nvread -C o 0x01400002 -o ud.tools >/dev/null || fail "tpm2_nvread failed"
cmp -s ud ud.tools || fail "tpm2_nvread sees other user data"
tpm2_nvreadpublic 0x01400002 >ud.public || fail "tpm2_nvreadpublic failed"
grep -q "size: 64" ud.public || fail "user-data index is not 64 bytes"
pass_msg "user data index defined, written and read (64 bytes)"

head -c 32 /dev/urandom >ud2
driver nv-write --index 0x01400002 --in ud2 || fail "nv-write of another size failed"
driver nv-read --index 0x01400002 --out ud2.out || fail "nv-read failed"
cmp -s ud2 ud2.out || fail "re-defined index reads back wrong"
pass_msg "index re-defined when the size changes"

# A 2048-byte HCL report (the swtpm maximum): more than one 1024-byte chunk.
if [ -r "$CVM_TESTDATA/kinvolk__azure-cvm-tooling/az-cvm-vtpm_test_hcl-report-snp.bin" ]; then
    cp "$CVM_TESTDATA/kinvolk__azure-cvm-tooling/az-cvm-vtpm_test_hcl-report-snp.bin" hcl.bin
else
    head -c 2048 /dev/urandom >hcl.bin
fi
bash "$CVM_SRCDIR/tests/sim/vtpm-provision.sh" --tcti "$CVM_AGENT_TCTI" --hcl-report hcl.bin >/dev/null ||
    fail "writing the HCL report failed"
driver nv-read --index 0x01400001 --out hcl.out || fail "nv-read HCL report failed"
cmp -s hcl.bin hcl.out || fail "HCL report read back differs"
pass_msg "2048-byte HCL report read in chunks"

# our own chunked write of 2048 bytes (two TPM2_NV_Write of 1024), read by tpm2-tools
head -c 2048 /dev/urandom >big
driver nv-write --index 0x01400003 --in big || fail "nv-write of 2048 bytes failed"
tpm2_nvread -C o 0x01400003 -o big.tools >/dev/null || fail "tpm2_nvread of our 2048 bytes failed"
cmp -s big big.tools || fail "tpm2_nvread sees other data than we wrote"
expect_rc 4 driver nv-write --index 0x01400004 --in <(head -c 2049 /dev/zero)
pass_msg "2048-byte NV write in chunks; 2049 bytes refused by the TPM"

driver nv-read --index 0x01C101D0 --out akcert.der || fail "nv-read AK cert failed"
cmp -s "$VTPM/ak-cert.der" akcert.der || fail "AK certificate read back differs"
openssl x509 -inform DER -in akcert.der -noout 2>/dev/null || fail "AK certificate is not DER X.509"
pass_msg "AK certificate read from 0x01C101D0"

expect_rc 4 driver nv-read --index 0x01400005 --out none
driver nv-undefine --index 0x01400002 || fail "nv-undefine failed"
expect_rc 4 driver nv-read --index 0x01400002 --out none
pass_msg "absent indices are errors"
no_leaks "the whole test"
pass_msg "no handle leaks"
