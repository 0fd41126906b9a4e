#!/bin/bash
# Provisions a fresh swtpm so that it looks like an Azure CVM vTPM
# (../shared/docs/azure-wire-formats.md §1.1):
#
#   EK   persistent 0x81010001  TCG default RSA-2048 EK template (tpm2_createek)
#   SRK  persistent 0x81000001  TCG standard SRK template (RSA-2048, AES-128-CFB,
#                               restricted|decrypt|fixedTPM|fixedParent|
#                               sensitiveDataOrigin|userWithAuth|noDA)
#   AK   persistent 0x81000003  RSA-2048 restricted signing key, RSASSA/SHA-256,
#                               objectAttributes 0x00050472 and a 32-byte
#                               authPolicy, as in the decoded Azure AikPub
#   AK certificate (DER)  NV 0x01C101D0, issued by a test vTPM CA
#   HCL report (optional) NV 0x01400001
#
# Usage:
#   vtpm-provision.sh --tcti TCTI --dir DIR [--hcl-report FILE]
#   vtpm-provision.sh --tcti TCTI --hcl-report FILE     (only (re)write the HCL report)
#   --ca-cert F --ca-key F: issue the AK certificate with this CA (e.g. the one
#   tests/sim/pki.py wrote to SIM/pki/vtpm-ca.pem) instead of DIR/vtpm-ca.pem.
#
# Writes into DIR: vtpm-ca.pem / vtpm-ca.key (created if absent, reused otherwise),
# ak.pub.pem, ak.pub (TPM2B_PUBLIC as `tpm2_readpublic -o` writes it), ak.name,
# ak-cert.der, ak-cert.pem, ek.pub.pem, ek.pub (TPM2B_PUBLIC).
# Every transient object and session is flushed before exit, on every path.
set -euo pipefail

TCTI=${TPM2TOOLS_TCTI:-}
DIR=
HCL=
CA_CERT=
CA_KEY=

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
    --tcti) TCTI=${2:?--tcti needs a value}; shift 2 ;;
    --dir) DIR=${2:?--dir needs a value}; shift 2 ;;
    --hcl-report) HCL=${2:?--hcl-report needs a value}; shift 2 ;;
    --ca-cert) CA_CERT=${2:?--ca-cert needs a value}; shift 2 ;;
    --ca-key) CA_KEY=${2:?--ca-key needs a value}; shift 2 ;;
    -h | --help) usage ;;
    *) echo "vtpm-provision: unknown argument '$1'" >&2; usage ;;
    esac
done
[ -n "$TCTI" ] || { echo "vtpm-provision: --tcti is required" >&2; exit 2; }
[ -n "$DIR" ] || [ -n "$HCL" ] || { echo "vtpm-provision: need --dir and/or --hcl-report" >&2; exit 2; }
export TPM2TOOLS_TCTI=$TCTI
export TSS2_LOG=${TSS2_LOG:-all+NONE}

# Azure-reserved handles and NV indices (azure-wire-formats.md §1.1).
EK_HANDLE=0x81010001
SRK_HANDLE=0x81000001
AK_HANDLE=0x81000003
NV_AK_CERT=0x01C101D0
NV_HCL_REPORT=0x01400001
# swtpm 0.7.1: TPM2_PT_NV_INDEX_MAX (ENVIRONMENT-NOTES.md §3).
NV_INDEX_MAX=2048
# NV attributes GA uses for the Azure-reserved indices it defines (Tss2Util.cpp NvDefineSpace).
NV_ATTRS="ownerread|ownerwrite|authread|authwrite"
# Decoded Azure AikPub objectAttributes 0x00050472.
AK_ATTRS="fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|sign"
SRK_ATTRS="fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vtpm-provision.XXXXXX")
flush_all() {
    tpm2_flushcontext -t >/dev/null 2>&1 || true
    tpm2_flushcontext -s >/dev/null 2>&1 || true
    tpm2_flushcontext -l >/dev/null 2>&1 || true
}
cleanup() {
    local rc=$?
    flush_all
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

die() { echo "vtpm-provision: $*" >&2; exit 1; }

# has_handle CAPABILITY HANDLE: tpm2_getcap prints "- 0x1C101D0" (no leading zeros).
has_handle() {
    local want h
    want=$(printf '%d' "$2")
    for h in $(tpm2_getcap "$1" | sed -n 's/^- //p'); do
        [ "$(printf '%d' "$h")" = "$want" ] && return 0
    done
    return 1
}
handle_exists() { has_handle handles-persistent "$1"; }
nv_exists() { has_handle handles-nv-index "$1"; }

# nv_store INDEX FILE: (re)defines INDEX with exactly FILE's size and writes FILE.
nv_store() {
    local index=$1 file=$2 size
    size=$(stat -c %s "$file")
    [ "$size" -gt 0 ] || die "$file is empty"
    [ "$size" -le "$NV_INDEX_MAX" ] ||
        die "$file is $size bytes; an swtpm NV index holds at most $NV_INDEX_MAX"
    if nv_exists "$index"; then
        tpm2_nvundefine -C o "$index" >/dev/null || die "tpm2_nvundefine $index failed"
    fi
    tpm2_nvdefine -C o -s "$size" -a "$NV_ATTRS" "$index" >/dev/null ||
        die "tpm2_nvdefine $index ($size bytes) failed"
    tpm2_nvwrite -C o -i "$file" "$index" || die "tpm2_nvwrite $index failed"
    flush_all
}

tpm2_getcap properties-fixed >/dev/null 2>&1 || die "no TPM answers on TCTI '$TCTI'"

if [ -n "$DIR" ]; then
    mkdir -p "$DIR"
    flush_all

    # --- EK (TCG default RSA template), persisted where GA persists it.
    if ! handle_exists "$EK_HANDLE"; then
        tpm2_createek -c "$EK_HANDLE" -G rsa -u "$WORK/ek.pub" >/dev/null || die "tpm2_createek failed"
    fi
    tpm2_readpublic -c "$EK_HANDLE" -o "$DIR/ek.pub" >/dev/null || die "reading EK public failed"
    tpm2_readpublic -c "$EK_HANDLE" -f pem -o "$DIR/ek.pub.pem" >/dev/null || die "EK public to PEM failed"
    flush_all

    # --- SRK (TCG standard storage template).
    if ! handle_exists "$SRK_HANDLE"; then
        tpm2_createprimary -C o -g sha256 -G rsa2048:null:aes128cfb -a "$SRK_ATTRS" \
            -c "$WORK/srk.ctx" >/dev/null || die "creating SRK failed"
        tpm2_evictcontrol -C o -c "$WORK/srk.ctx" "$SRK_HANDLE" >/dev/null || die "persisting SRK failed"
        flush_all
    fi

    # --- AK: child of the SRK, persisted at 0x81000003.
    if ! handle_exists "$AK_HANDLE"; then
        # authPolicy: PolicySecret(TPM_RH_ENDORSEMENT) — the TCG default EK policy digest
        # (TCG EK Credential Profile 2.0 §B.6.1); lets the endorsement-hierarchy owner administer it.
        printf '\x83\x71\x97\x67\x44\x84\xb3\xf8\x1a\x90\xcc\x8d\x46\xa5\xd7\x24\xfd\x52\xd7\x6e\x06\x52\x0b\x64\xf2\xa1\xda\x1b\x33\x14\x69\xaa' \
            >"$WORK/ak.policy"
        tpm2_create -C "$SRK_HANDLE" -g sha256 -G rsa2048:rsassa-sha256:null -a "$AK_ATTRS" \
            -L "$WORK/ak.policy" -u "$WORK/ak.tpub" -r "$WORK/ak.priv" >/dev/null || die "tpm2_create AK failed"
        flush_all
        tpm2_load -C "$SRK_HANDLE" -u "$WORK/ak.tpub" -r "$WORK/ak.priv" -c "$WORK/ak.ctx" >/dev/null ||
            die "tpm2_load AK failed"
        tpm2_evictcontrol -C o -c "$WORK/ak.ctx" "$AK_HANDLE" >/dev/null || die "persisting AK failed"
        flush_all
    fi
    tpm2_readpublic -c "$AK_HANDLE" -o "$DIR/ak.pub" -n "$DIR/ak.name" >/dev/null || die "reading AK public failed"
    tpm2_readpublic -c "$AK_HANDLE" -f pem -o "$DIR/ak.pub.pem" >/dev/null || die "AK public to PEM failed"
    flush_all

    # --- Test vTPM CA (created once per DIR) and the AK certificate.
    : "${CA_CERT:=$DIR/vtpm-ca.pem}" "${CA_KEY:=$DIR/vtpm-ca.key}"
    if [ ! -s "$CA_CERT" ] || [ ! -s "$CA_KEY" ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
            -keyout "$CA_KEY" -out "$CA_CERT" \
            -subj "/CN=Test Global Virtual TPM CA - 01/O=cvm-agent test/C=US" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null ||
            die "creating the test vTPM CA failed"
        chmod 600 "$CA_KEY"
    fi
    # openssl x509 -req needs a CSR; a throwaway key signs it and -force_pubkey puts the AK in.
    openssl req -new -newkey rsa:2048 -nodes -keyout "$WORK/dummy.key" -out "$WORK/ak.csr" \
        -subj "/CN=placeholder" 2>/dev/null || die "creating the AK CSR failed"
    akid=$(openssl dgst -sha1 -r "$DIR/ak.pub" | cut -c1-32)
    cat >"$WORK/ak-ext.cnf" <<EOF
[ak_cert]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = 2.23.133.8.3,1.3.6.1.4.1.311.10.3.12
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    openssl x509 -req -in "$WORK/ak.csr" -force_pubkey "$DIR/ak.pub.pem" \
        -CA "$CA_CERT" -CAkey "$CA_KEY" -set_serial "0x$akid" \
        -sha256 -days 365 -subj "/CN=$akid.TrustedVM.Azure.Microsoft" \
        -extfile "$WORK/ak-ext.cnf" -extensions ak_cert -outform DER -out "$DIR/ak-cert.der" 2>/dev/null ||
        die "issuing the AK certificate failed"
    openssl x509 -inform DER -in "$DIR/ak-cert.der" -out "$DIR/ak-cert.pem"
    nv_store "$NV_AK_CERT" "$DIR/ak-cert.der"
fi

if [ -n "$HCL" ]; then
    [ -r "$HCL" ] || die "cannot read HCL report '$HCL'"
    nv_store "$NV_HCL_REPORT" "$HCL"
fi
exit 0
