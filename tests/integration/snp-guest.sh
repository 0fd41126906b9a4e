#!/bin/bash
# cvm-agent report from each guest interface, with the marshalling code
# running for real: /dev/sev-guest ioctls and configfs-tsm answered by an
# LD_PRELOAD shim playing the kernel (tests/shim/sev-guest-shim.c), and the
# Azure vTPM (swtpm provisioned like Azure, a background loop playing the
# paravisor that rewrites the HCL report when the user data changes).
# Reports are signed by a test VCEK under a test AMD-like chain (RSA-PSS),
# accepted only through [trust] anchor.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_testdata confidential-containers__trustee/deps_verifier_test_data_snp_test-report.bin \
    kinvolk__azure-cvm-tooling/az-cvm-vtpm_test_hcl-report-snp.bin
require_cmd openssl

SHIM="${CVM_BUILDDIR:-$(dirname "$CVM_AGENT")}/tests/shim/sev-guest-shim.so"
[ -r "$SHIM" ] || fail "shim '$SHIM' not built (make tests/shim/sev-guest-shim.so)"
MK="$CVM_SRCDIR/tests/snp-make-hcl.py"
TEMPLATE="$CVM_TESTDATA/confidential-containers__trustee/deps_verifier_test_data_snp_test-report.bin"
HCL_TEMPLATE="$CVM_TESTDATA/kinvolk__azure-cvm-tooling/az-cvm-vtpm_test_hcl-report-snp.bin"
export CVM_AGENT_CONFIG=/dev/null
# the shim is preloaded ahead of the sanitizer runtime in --enable-sanitizers builds
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

field() { "$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
check() { # check FILE EXPR WANT
    local got
    got=$(field "$1" "$2")
    [ "$got" = "$3" ] || fail "$(basename "$1"): $2 = '$got', want '$3'"
}

# ---- a test PKI shaped like AMD's: ARK -> ASK (RSA-PSS SHA-384) -> VCEK (P-384) ----
pki="$TEST_DIR/pki"
mkdir -p "$pki"
pss=(-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:48 -sigopt rsa_mgf1_md:sha384)
amd="/OU=Engineering/C=US/L=Santa Clara/ST=CA/O=Advanced Micro Devices"
cat >"$pki/ext.cnf" <<'EOF'
[ca_ext]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ark.key" -out "$pki/ark.pem" -days 3650 \
    -subj "$amd/CN=ARK-Milan" -sha384 "${pss[@]}" -config "$pki/ext.cnf" -extensions ca_ext 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/ask.key" -out "$pki/ask.csr" -subj "$amd/CN=SEV-Milan" 2>/dev/null
openssl x509 -req -in "$pki/ask.csr" -CA "$pki/ark.pem" -CAkey "$pki/ark.key" -set_serial 2 -days 3650 \
    -sha384 "${pss[@]}" -extfile "$pki/ext.cnf" -extensions ca_ext -out "$pki/ask.pem" 2>/dev/null
cat "$pki/ask.pem" "$pki/ark.pem" >"$pki/chain.pem"
openssl ecparam -name secp384r1 -genkey -noout -out "$pki/vcek.key"
openssl pkcs8 -topk8 -nocrypt -in "$pki/vcek.key" -out "$pki/vcek.p8"

# make_vcek NAME CHIPHEX: a VCEK for bl3 tee0 snp8 ucode115 (the templates' REPORTED_TCB)
make_vcek() {
    cat >"$pki/$1.cnf" <<EOF
[vcek_ext]
1.3.6.1.4.1.3704.1.1 = ASN1:INTEGER:0
1.3.6.1.4.1.3704.1.2 = ASN1:IA5STRING:Milan-B0
1.3.6.1.4.1.3704.1.3.1 = ASN1:INTEGER:3
1.3.6.1.4.1.3704.1.3.2 = ASN1:INTEGER:0
1.3.6.1.4.1.3704.1.3.3 = ASN1:INTEGER:8
1.3.6.1.4.1.3704.1.3.8 = ASN1:INTEGER:115
1.3.6.1.4.1.3704.1.4 = ASN1:FORMAT:HEX,OCTETSTRING:$2
EOF
    openssl req -new -key "$pki/vcek.key" -out "$pki/$1.csr" -subj "$amd/CN=SEV-VCEK" 2>/dev/null
    openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ask.pem" -CAkey "$pki/ask.key" -set_serial 0 -days 3650 \
        -sha384 "${pss[@]}" -extfile "$pki/$1.cnf" -extensions vcek_ext -out "$pki/$1.pem" 2>/dev/null
    openssl x509 -in "$pki/$1.pem" -outform der -out "$pki/$1.der"
}
make_vcek vcek "$("$PYTHON" "$MK" chip --report "$TEMPLATE")"
openssl x509 -in "$pki/ask.pem" -outform der -out "$pki/ask.der"
openssl x509 -in "$pki/ark.pem" -outform der -out "$pki/ark.der"
"$PYTHON" "$MK" table --out "$pki/certs.bin" "$pki/vcek.der" "$pki/ask.der" "$pki/ark.der"

export CVM_SHIM_REPORT="$TEMPLATE" CVM_SHIM_KEY="$pki/vcek.p8" CVM_SHIM_CERTS="$pki/certs.bin"
common=(--state-dir "$TEST_DIR/state" -o snp.kds=no -o "trust.anchor=$pki/ark.pem")
RD=00112233445566778899aabbccddeeff

# ---- /dev/sev-guest through the ioctl shim ----
touch "$TEST_DIR/sev-guest"
# a certificate buffer larger than the agent's first guess: INVALID_LEN, then the retry
LD_PRELOAD="$SHIM" CVM_SHIM_CERTS_MIN=32768 agent "${common[@]}" -o "snp.device=$TEST_DIR/sev-guest" \
    report --source sev-guest --report-data "$RD" --vmpl 1 --verify --json --out "$TEST_DIR/ioctl.bin" \
    --certs-out "$TEST_DIR/ioctl-certs.bin" >"$TEST_DIR/ioctl.json" || fail "report via ioctl failed"
check "$TEST_DIR/ioctl.json" 'd["source"]' sev-guest
check "$TEST_DIR/ioctl.json" 'd["report"]["verified"]' True
check "$TEST_DIR/ioctl.json" 'd["report"]["report_data"]' "$RD$(printf '0%.0s' $(seq 96))"
check "$TEST_DIR/ioctl.json" 'd["report"]["vmpl"]' 1
check "$TEST_DIR/ioctl.json" 'd["report"]["cert_source"]' cert-table
check "$TEST_DIR/ioctl.json" 'd["certificates"]' "['vcek', 'ask', 'ark']"
[ "$(stat -c %s "$TEST_DIR/ioctl.bin")" -eq 1184 ] || fail "--out did not write the 1184-byte report"
# evidence is public: --out and --certs-out are 0644 as cvm-agent(8) FILES says
for f in "$TEST_DIR/ioctl.bin" "$TEST_DIR/ioctl-certs.bin"; do
    [ "$(stat -c %a "$f")" = 644 ] || fail "$f is mode $(stat -c %a "$f"), the man page says 0644"
done
# the saved report verifies offline with the test chain as anchor, and not without it
agent verify --snp-report "$TEST_DIR/ioctl.bin" --vcek "$pki/vcek.pem" --cert-chain "$pki/chain.pem" \
    --trust-anchor "$pki/ark.pem" --report-data "$RD" --vmpl 1 >/dev/null 2>&1 || fail "saved ioctl report does not verify"
expect_rc 1 agent verify --snp-report "$TEST_DIR/ioctl.bin" --vcek "$pki/vcek.pem" --cert-chain "$pki/chain.pem"
# plain SNP_GET_REPORT, text output
LD_PRELOAD="$SHIM" agent "${common[@]}" -o "snp.device=$TEST_DIR/sev-guest" report --source sev-guest \
    --report-data "$RD" >"$TEST_DIR/ioctl.txt" || fail "report via ioctl (text) failed"
grep -q "report.report_data: $RD" "$TEST_DIR/ioctl.txt" || fail "text output lacks report_data: $(head "$TEST_DIR/ioctl.txt")"
# no device: a platform error (4)
expect_rc 4 agent "${common[@]}" -o "snp.device=$TEST_DIR/no-such-device" report --source sev-guest
pass_msg "/dev/sev-guest: SNP_GET_EXT_REPORT (with the INVALID_LEN retry) and SNP_GET_REPORT"

# ---- configfs-tsm through the shim ----
tsm="$TEST_DIR/tsm/report"
mkdir -p "$tsm"
LD_PRELOAD="$SHIM" CVM_SHIM_TSM_ROOT="$tsm" agent "${common[@]}" -o "snp.configfs-tsm=$tsm" \
    -o "snp.device=$TEST_DIR/no-such-device" report --report-data "$RD" --vmpl 2 --verify --json \
    >"$TEST_DIR/tsm.json" || fail "report via configfs-tsm failed"
check "$TEST_DIR/tsm.json" 'd["source"]' configfs # picked first: it exists
check "$TEST_DIR/tsm.json" 'd["provider"]' sev_guest
check "$TEST_DIR/tsm.json" 'd["report"]["verified"]' True
check "$TEST_DIR/tsm.json" 'd["report"]["vmpl"]' 2
check "$TEST_DIR/tsm.json" 'd["report"]["report_data"][:32]' "$RD"
check "$TEST_DIR/tsm.json" 'd["certificates"]' "['vcek', 'ask', 'ark']"
[ -z "$(ls -A "$tsm")" ] || fail "the configfs-tsm entry was not removed: $(ls "$tsm")"
# a concurrent writer bumps generation: detected, retried, given up -> transient (3)
rc=0
LD_PRELOAD="$SHIM" CVM_SHIM_TSM_ROOT="$tsm" CVM_SHIM_TSM_RACE=1 agent "${common[@]}" -o "snp.configfs-tsm=$tsm" \
    report --source configfs --report-data "$RD" 2>"$TEST_DIR/race.err" >/dev/null || rc=$?
[ "$rc" -eq 3 ] || fail "concurrent writer: exit $rc, want 3"
grep -q "another writer" "$TEST_DIR/race.err" || fail "concurrent writer not named: $(cat "$TEST_DIR/race.err")"
# another provider
LD_PRELOAD="$SHIM" CVM_SHIM_TSM_ROOT="$tsm" CVM_SHIM_TSM_PROVIDER=tdx_guest expect_rc 4 \
    agent "${common[@]}" -o "snp.configfs-tsm=$tsm" report --source configfs
# no --source: a tdx_guest provider sends report to the TDX configfs source (same path)
rc=0
LD_PRELOAD="$SHIM" CVM_SHIM_TSM_ROOT="$tsm" CVM_SHIM_TSM_PROVIDER=tdx_guest agent "${common[@]}" \
    -o "snp.configfs-tsm=$tsm" -o "snp.device=$TEST_DIR/no-such-device" report >/dev/null 2>"$TEST_DIR/prov.err" || rc=$?
[ "$rc" -eq 4 ] || fail "tdx_guest provider: exit $rc, want 4"
grep -q "cannot get a TD quote through configfs-tsm '$tsm'" "$TEST_DIR/prov.err" ||
    fail "a tdx_guest configfs-tsm was not handed to the TDX source: $(cat "$TEST_DIR/prov.err")"
[ -z "$(ls -A "$tsm")" ] || fail "entries left behind: $(ls "$tsm")"
pass_msg "configfs-tsm: inblob/privlevel/outblob/auxblob/provider, generation check, cleanup; tdx_guest goes to TDX"

# ---- the Azure vTPM (swtpm + a paravisor loop) ----
require_cmd swtpm tpm2_nvread tpm2_nvwrite
swtpm_start
make_vcek vcek-hcl "$("$PYTHON" "$MK" chip --report "$HCL_TEMPLATE")"
"$PYTHON" "$MK" hcl --template "$HCL_TEMPLATE" --user-data "$(printf '0%.0s' $(seq 128))" --key "$pki/vcek.p8" --out "$TEST_DIR/hcl0.bin"
"$CVM_SRCDIR/tests/sim/vtpm-provision.sh" --tcti "$CVM_AGENT_TCTI" --hcl-report "$TEST_DIR/hcl0.bin" >/dev/null ||
    fail "cannot provision the HCL report"
vt=(--state-dir "$TEST_DIR/vstate" -o "trust.anchor=$pki/ark.pem")

agent "${vt[@]}" -o snp.kds=no report --source vtpm --json >"$TEST_DIR/v0.json" || fail "report --source vtpm failed"
check "$TEST_DIR/v0.json" 'd["report_type"]' snp
check "$TEST_DIR/v0.json" 'd["runtime_data_bound"]' True
check "$TEST_DIR/v0.json" 'd["report"]["chip_id"][:16]' 3a5d5b1d059d193e

# the paravisor: when NV 0x01400002 changes, regenerate NV 0x01400001 with it
paravisor() {
    local last="" cur
    while [ ! -e "$TEST_DIR/paravisor.stop" ]; do
        if tpm2_nvread 0x01400002 -C o -s 64 -o "$TEST_DIR/ud.bin" 2>/dev/null; then
            cur=$(od -An -tx1 -v "$TEST_DIR/ud.bin" | tr -d ' \n')
            if [ "$cur" != "$last" ]; then
                # same size as the provisioned report: rewrite in place, as the paravisor does
                "$PYTHON" "$MK" hcl --template "$HCL_TEMPLATE" --user-data "$cur" --key "$pki/vcek.p8" --out "$TEST_DIR/hcl1.bin" &&
                    tpm2_nvwrite -C o -i "$TEST_DIR/hcl1.bin" 0x01400001 &&
                    last=$cur
            fi
        fi
        sleep 0.1
    done
}
paravisor &
pvpid=$!
stop_paravisor() {
    touch "$TEST_DIR/paravisor.stop"
    wait "$pvpid" 2>/dev/null || true
}
on_exit stop_paravisor

# certificates from a KDS stand-in the first time, from the cache the second
fx="$TEST_DIR/fx"
mkdir -p "$fx"
cp "$pki/vcek-hcl.der" "$fx/vcek.der"
cp "$pki/chain.pem" "$fx/chain.pem"
chip=$("$PYTHON" "$MK" chip --report "$HCL_TEMPLATE")
printf '{"/vcek/v1/Milan/%s?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115": "vcek.der", "/vcek/v1/Milan/cert_chain": "chain.pem"}\n' "$chip" >"$fx/map.json"
"$PYTHON" "$CVM_SRCDIR/tests/snp-kds-fixture.py" --map "$fx/map.json" --port-file "$fx/port" --log "$fx/log" &
fxpid=$!
CLEANUP_PIDS+=("$fxpid")
for _ in $(seq 100); do [ -s "$fx/port" ] && break; sleep 0.05; done
net=(-o http.allow-plain-http-loopback=yes -o http.attempts=1 -o http.deadline=3s -o "snp.kds-url=http://127.0.0.1:$(cat "$fx/port")")

UD1=$(printf 'a1%.0s' $(seq 64))
agent "${vt[@]}" "${net[@]}" report --source vtpm --report-data "$UD1" --verify --timeout 60s --json >"$TEST_DIR/v1.json" ||
    fail "report --source vtpm --report-data --verify failed: $(cat "$TEST_DIR/v1.json")"
check "$TEST_DIR/v1.json" 'd["user_data"]' "$UD1"
check "$TEST_DIR/v1.json" 'd["runtime_data_bound"]' True
check "$TEST_DIR/v1.json" 'd["report"]["verified"]' True
check "$TEST_DIR/v1.json" 'd["report"]["cert_source"]' kds
pass_msg "vTPM: user data written, fresh HCL report polled for, verified with certificates from KDS"

kill "$fxpid"
wait "$fxpid" 2>/dev/null || true
UD2=$(printf 'b2%.0s' $(seq 32))
agent "${vt[@]}" "${net[@]}" report --source vtpm --report-data "$UD2" --verify --timeout 60s --json >"$TEST_DIR/v2.json" ||
    fail "second report with KDS down failed: $(cat "$TEST_DIR/v2.json")"
check "$TEST_DIR/v2.json" 'd["user_data"]' "$UD2$(printf '0%.0s' $(seq 64))"
check "$TEST_DIR/v2.json" 'd["report"]["cert_source"]' cache
check "$TEST_DIR/v2.json" 'd["report"]["verified"]' True
pass_msg "vTPM: second report with the endpoints down verifies from the cache"

# no paravisor: the report never reflects new user data -> transient (3) at the deadline
stop_paravisor
rc=0
start=$(date +%s%N)
agent "${vt[@]}" -o snp.kds=no report --source vtpm --report-data c3 --timeout 1500ms >/dev/null 2>"$TEST_DIR/stale.err" || rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
[ "$rc" -eq 3 ] || fail "stale HCL report: exit $rc, want 3"
grep -q "did not reflect the new user data within 1500 ms" "$TEST_DIR/stale.err" || fail "stale: $(cat "$TEST_DIR/stale.err")"
[ "$ms" -lt 6000 ] || fail "the deadline was not kept ($ms ms)"
pass_msg "vTPM: a report that never refreshes fails at the deadline ($ms ms)"

# runtime claims not bound to the (correctly signed) SNP report: --verify says no
"$PYTHON" -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[0x4D4 + 40] ^= 1; open(sys.argv[2],"wb").write(b)' \
    "$TEST_DIR/hcl0.bin" "$TEST_DIR/unbound.bin"
tpm2_nvwrite -C o -i "$TEST_DIR/unbound.bin" 0x01400001 || fail "cannot write the unbound HCL report"
rc=0
agent "${vt[@]}" -o snp.kds=no report --source vtpm --verify --json >"$TEST_DIR/v3.json" 2>/dev/null || rc=$?
[ "$rc" -eq 1 ] || fail "unbound runtime claims: exit $rc, want 1: $(cat "$TEST_DIR/v3.json")"
check "$TEST_DIR/v3.json" 'd["runtime_data_bound"]' False
check "$TEST_DIR/v3.json" 'd["report"]["verified"]' False
check "$TEST_DIR/v3.json" '"runtime_data_bound: false" in d["report"]["reason"]' True
pass_msg "vTPM: report --verify refuses runtime claims that are not bound to the SNP report"
