#!/bin/bash
# Sealing through tpm/:
#  (a) a PolicyPCR object sealed by us unseals with us and with tpm2-tools
#      (tpm2_load + tpm2_unseal in a PCR policy session), and with neither
#      after a PCR extend;
#  (b) a PolicyAuthorize object unseals with a signed approval of the current
#      PCRs; after a PCR extend the old approval is refused until a new one is
#      signed; a different signer's approval is refused.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$CVM_SRCDIR/tests/integration/tpm-lib.sh"
require_cmd tpm2_load tpm2_unseal tpm2_startauthsession tpm2_policypcr tpm2_flushcontext tpm2_evictcontrol
vtpm_start
cd "$TEST_DIR"
SEL=sha256:0,7
echo -n "event" >ev

head -c 100 /dev/urandom >secret
driver seal-pcr --pcrs "$SEL" --in secret --pub pcr.pub --priv pcr.priv || fail "seal-pcr failed"
no_leaks "seal-pcr"
driver unseal --pcrs "$SEL" --pub pcr.pub --priv pcr.priv --out out1 || fail "unseal failed"
cmp -s secret out1 || fail "unsealed data differs"
no_leaks "unseal"
pass_msg "PolicyPCR object seals and unseals"

tools_unseal() {
    local rc=0
    tpm2_load -C 0x81000001 -u pcr.pub -r pcr.priv -c obj.ctx >/dev/null || fail "tpm2_load failed"
    tpm2_startauthsession --policy-session -S s.ctx >/dev/null || fail "tpm2_startauthsession failed"
    tpm2_policypcr -S s.ctx -l "$SEL" >/dev/null || fail "tpm2_policypcr failed"
    tpm2_unseal -p session:s.ctx -c obj.ctx -o "$1" 2>/dev/null || rc=$?
    # tpm2-tools leaves its objects loaded on a TPM without a resource manager
    # (ENVIRONMENT-NOTES §3); ours are checked by no_leaks before this runs.
    tpm2_flushcontext -t >/dev/null 2>&1 || true
    tpm2_flushcontext -s >/dev/null 2>&1 || true
    tpm2_flushcontext -l >/dev/null 2>&1 || true
    rm -f s.ctx obj.ctx
    return $rc
}
no_leaks "our operations"
tools_unseal out2 || fail "tpm2_unseal refused our PolicyPCR object"
cmp -s secret out2 || fail "tpm2_unseal returned other data"
no_leaks "tpm2-tools unseal"
pass_msg "tpm2_load + tpm2_unseal with a PCR policy session unseal our object"

driver pcr-extend --pcrs sha256:7 --in ev || fail "pcr-extend failed"
expect_rc 1 driver unseal --pcrs "$SEL" --pub pcr.pub --priv pcr.priv --out out3
[ ! -e out3 ] || fail "unseal wrote output after a PCR change"
if tools_unseal out4; then fail "tpm2_unseal unsealed after a PCR extend"; fi
no_leaks "refused unseals"
pass_msg "after a PCR extend both refuse"

# --- PolicyAuthorize
openssl genrsa -out signer.key 2048 2>/dev/null
openssl rsa -in signer.key -pubout -out signer.pem 2>/dev/null
openssl genrsa -out other.key 2048 2>/dev/null
head -c 128 /dev/urandom >secret2
driver seal-authorize --signer signer.pem --in secret2 --pub auth.pub --priv auth.priv ||
    fail "seal-authorize failed"
expect_rc 2 driver seal-authorize --signer signer.pem --in <(head -c 129 /dev/zero) --pub x --priv y
driver approve --signer signer.key --pcrs "$SEL" --out approval1 || fail "approve failed"
no_leaks "seal-authorize/approve"
driver unseal --pcrs "$SEL" --pub auth.pub --priv auth.priv --signer signer.pem --approval approval1 \
    --out a1 || fail "unseal with the approval failed"
cmp -s secret2 a1 || fail "PolicyAuthorize unseal returned other data"
pass_msg "PolicyAuthorize object unseals with an approval of the current PCRs"

driver approve --signer other.key --pcrs "$SEL" --out approval-other || fail "approve failed"
expect_rc 1 driver unseal --pcrs "$SEL" --pub auth.pub --priv auth.priv --signer signer.pem \
    --approval approval-other --out x1
openssl rsa -in other.key -pubout -out other.pem 2>/dev/null
expect_rc 1 driver unseal --pcrs "$SEL" --pub auth.pub --priv auth.priv --signer other.pem \
    --approval approval-other --out x2
pass_msg "another signer's approval is refused"

driver pcr-extend --pcrs sha256:7 --in ev || fail "pcr-extend failed"
expect_rc 1 driver unseal --pcrs "$SEL" --pub auth.pub --priv auth.priv --signer signer.pem \
    --approval approval1 --out a2
pass_msg "after a PCR extend the old approval is refused"
driver approve --signer signer.key --pcrs "$SEL" --out approval2 || fail "approve failed"
driver unseal --pcrs "$SEL" --pub auth.pub --priv auth.priv --signer signer.pem --approval approval2 \
    --out a3 || fail "unseal with the new approval failed"
cmp -s secret2 a3 || fail "unseal with the new approval returned other data"
pass_msg "a new approval for the new PCR values unseals"

driver srk-name --out srk.name || fail "srk-name failed"
tpm2_readpublic -c 0x81000001 -n srk.tools.name >/dev/null || fail "tpm2_readpublic SRK failed"
cmp -s srk.name srk.tools.name || fail "SRK name differs from tpm2_readpublic's"
pass_msg "SRK name matches tpm2_readpublic"

# Without a persistent SRK the parent is created from the standard SRK template
# each time (and flushed): seal and unseal still work, and leave nothing loaded.
tpm2_evictcontrol -C o -c 0x81000001 >/dev/null || fail "evicting the SRK failed"
tpm2_flushcontext -t >/dev/null 2>&1 || true
no_leaks "evicting the SRK"
driver seal-pcr --pcrs "$SEL" --in secret --pub t.pub --priv t.priv || fail "seal-pcr without SRK failed"
driver unseal --pcrs "$SEL" --pub t.pub --priv t.priv --out t.out || fail "unseal without SRK failed"
cmp -s secret t.out || fail "unsealed data differs (template SRK)"
driver srk-name --out srk2.name || fail "srk-name (template) failed"
cmp -s srk.name srk2.name || fail "the SRK created from the template differs from the provisioned one (same template and seed must give the same key)"
pass_msg "sealing works with an SRK created from the template"

no_leaks "the whole test"
pass_msg "no handle leaks"
