#!/bin/bash
# The real thing: cvm-agent baked into a Debian 12 image from its .deb and run
# at boot by systemd, unlocking a LUKS2 volume before cryptsetup. Builds the
# image (tests/vm/build-image.sh, cached), starts the simulated platform on
# this machine (tests/sim/cvm-sim: a vTPM provisioned like Azure's, MAA, Key
# Vault, IMDS, KDS), seals the volume's key as an image builder would, boots
# the guest under QEMU (OVMF, TCG: no KVM needed; 1-3 minutes), shows what
# the agent and systemd-cryptsetup did inside it, and stops everything.
# Installs what is missing (as root) and builds in build/ like scripts/demo.sh.
#   scripts/demo-vm.sh [--keep-logs DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
keep=""
case "${1:-}" in
--keep-logs) keep=$(mkdir -p "${2:?--keep-logs needs a directory}" && cd "$2" && pwd) ;;
"") ;;
*) echo "usage: scripts/demo-vm.sh [--keep-logs DIR]" >&2; exit 2 ;;
esac
cd "$src"
bash scripts/deps.sh
autoreconf -fi >/dev/null
mkdir -p build
(cd build && { [ -f Makefile ] || ../configure -q; } && make -j"$(nproc)" >/dev/null)

export CVM_SRCDIR=$src CVM_BUILDDIR=$src/build PYTHON=/usr/bin/python3 TSS2_LOG=all+NONE
# shellcheck source=tests/vm/lib.sh
. "$src/tests/vm/lib.sh"
why=$(vm_missing)
[ -z "$why" ] || { echo "demo-vm: cannot run here: $why" >&2; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
work=$(mktemp -d /tmp/cvm-vm-demo.XXXXXX)
cleanup() {
    vm_cleanup
    [ -z "$keep" ] || cp -r "$work/a" "$work/sim/logs" "$keep/" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "1. the guest image: Debian 12 from packages, cvm-agent from build/deb/cvm-agent_*.deb (cached)"
image=$(tests/vm/build-image.sh --srcdir "$src" --builddir "$src/build" \
    --cache "${CVM_VM_CACHE:-$src/build/vm-cache}")
echo "  $image: $(ls "$image" | tr '\n' ' ')"

step "2. the simulated platform: vTPM (swtpm) provisioned like Azure's; MAA, Key Vault, IMDS, KDS emulators"
vm_init "$work"
vm_sim_up
echo "  endpoints in $work/sim/endpoints.json; the guest reaches them at $VM_HOST_ADDR"

step "3. the image builder's step: seal the volume's key to the vTPM and the key vault key"
vm_seal_data "$image"
sed 's/^/  /' "$work/seal.json"
echo "  data.luks rekeyed to the sealed secret; the guest gets only the envelope"
vm_tpm_handoff

step "4. boot: OVMF measures into the vTPM, systemd runs cvm-agent.service before cryptsetup"
vm_seed
vm_boot a "$image"
echo "  QEMU ran $vm_boot_secs s (power-on to power-off)"

step "5. inside the guest: cvm-agent.service (cvm-agent boot)"
vm_report_block a agent.log | sed 's/^/  /'
step "6. inside the guest: systemd-cryptsetup@data.service and the volume"
vm_report_block a cryptsetup.log | sed 's/^/  /'
echo "  /data: $(vm_report a data)"
echo "  status: $(vm_report_block a status.out | tr -d '\t\n' | head -c 300)"
step "7. the boot's timings"
vm_timings a
vm_report_block a blame | head -8 | sed 's/^/  /'
if [ "$(vm_report a cryptsetup | tr ' ' '\n' | sed -n 's/^ActiveState=//p')" = active ]; then
    echo; echo "demo-vm: the agent unsealed the key at boot and the volume opened"
else
    echo; echo "demo-vm: the volume did not open: see the agent's log above" >&2
    exit 1
fi
