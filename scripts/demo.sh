#!/bin/bash
# The main job on the built-in simulated platform: a swtpm provisioned like an
# Azure vTPM, and reference MAA / Key Vault / IMDS / AMD KDS endpoints
# (tests/sim/cvm-sim). Installs what is missing (as root), builds, then runs the
# agent's steps that exist so far and stops everything it started.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
bash scripts/deps.sh
autoreconf -fi >/dev/null
mkdir -p build
(cd build && { [ -f Makefile ] || ../configure -q; } && make -j"$(nproc)" >/dev/null)
agent="$src/build/cvm-agent"
sim="$src/tests/sim/cvm-sim"

demo=$(mktemp -d "${TMPDIR:-/tmp}/cvm-demo.XXXXXX")
cleanup() {
    "$sim" down --dir "$demo" >/dev/null 2>&1 || true
    rm -rf "$demo"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" >&2; "$@"; }

step "1. start the simulated Azure CVM (SEV-SNP, vTPM, MAA, Key Vault, IMDS, KDS)"
run "$sim" up --dir "$demo" --tee snp
# shellcheck disable=SC1091
. "$demo/env"

step "2. read this VM's HCL report from the vTPM and verify its SNP report to the (test) AMD root"
run "$agent" -q report --source vtpm --verify --out "$demo/hcl.bin" --json >"$demo/report.json"
/usr/bin/python3 - "$demo/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rep = r["report"]
print("  report type:        ", r["report_type"])
print("  runtime data bound: ", r["runtime_data_bound"])
print("  SNP report verified:", rep.get("verified"), "(" + rep.get("product", "?") + ")")
print("  measurement:        ", rep.get("measurement"))
print("  chip id:            ", (rep.get("chip_id") or "")[:32] + "...")
PY

step "3. verify the HCL report offline: SNP signature and chain, runtime-claims binding, the AK"
run "$agent" -q verify --hcl-report "$demo/hcl.bin" | grep -E '^(verified|report_type|runtime_data_bound|ak_jwk.kid):'

step "4. replay the boot event log and compare it with the vTPM's PCRs"
tpm2_pcrread sha256:0,1,2,3,4,5,6,7 >"$demo/pcrs.yaml"
run "$agent" -q verify --event-log "$demo/binary_bios_measurements" --pcrs "$demo/pcrs.yaml" |
    grep -E '^(verified|format|events|pcr_match)'

step "5. attest to the (simulated) Microsoft Azure Attestation"
run "$agent" -q attest --json >"$demo/attest.json"
/usr/bin/python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); print("  verified:", a.get("verified"), " issuer:", a.get("issuer", a.get("iss", "?")))' "$demo/attest.json" || true

step "6. release the customer-managed key into the vTPM (Key Vault secure key release)"
run "$agent" -q release --out "$demo/released.der" | grep -E '^(released|key\.(version|kty|key_type)):'

step "7. seal a secret to this vTPM AND the key (2-of-2)"
head -c 32 /dev/urandom >"$demo/secret.bin"
run "$agent" -q seal --name demo --in "$demo/secret.bin" --pcrs sha256:0,4,7 | grep -E '^(sealed|version|pcrs):'

step "8. the key owner rotates the key in Key Vault (a new version)"
helper=(/usr/bin/python3 "$src/tests/sim/sim-release-helper.py")
printf '  new version: %s\n' "$("${helper[@]}" rotate)"

step "9. status: the secret is behind (exit 1), rotate moves it, status is current (exit 0)"
rc=0
"$agent" -q status >/dev/null 2>"$demo/status.err" || rc=$?
printf '  status exit %s: %s\n' "$rc" "$(cat "$demo/status.err")"
run "$agent" -q rotate --all --if-needed | sed 's/^/  /'
rc=0
"$agent" -q status >/dev/null || rc=$?
printf '  status exit %s\n' "$rc"

step "10. unseal: the same bytes"
run "$agent" -q unseal --name demo --out "$demo/unsealed.bin" | grep -E '^(unsealed|version):'
if cmp -s "$demo/secret.bin" "$demo/unsealed.bin"; then echo "  same bytes: yes"; else
    echo "  same bytes: NO"
    exit 1
fi

step "11. a kernel update: PCR 4 extended (and logged), then unseal re-authorizes"
/usr/bin/python3 - "$demo/binary_bios_measurements" <<'PY'
import hashlib, struct, subprocess, sys
data = b"vmlinuz-6.1.99"
d1, d256 = hashlib.sha1(data).digest(), hashlib.sha256(data).digest()
ev = struct.pack("<III", 4, 0x80000003, 2) + struct.pack("<H", 4) + d1 + struct.pack("<H", 0xB) + d256
subprocess.run(["tpm2_pcrextend", "4:sha1=%s,sha256=%s" % (d1.hex(), d256.hex())], check=True)
open(sys.argv[1], "ab").write(ev + struct.pack("<I", len(data)) + data)
print("  PCR 4 extended with", data.decode())
PY
run "$agent" unseal --name demo --out "$demo/unsealed2.bin" | grep -E '^(unsealed|reauthorized):'
if cmp -s "$demo/secret.bin" "$demo/unsealed2.bin"; then echo "  same bytes: yes"; else
    echo "  same bytes: NO"
    exit 1
fi

step "done: stopping the simulation"
