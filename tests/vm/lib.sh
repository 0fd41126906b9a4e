# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# The VM harness: cvm-sim on the host, its vTPM handed to QEMU, a Debian
# guest booted with OVMF under TCG. Sourced by tests/vm/check-vm.sh.
#
#   vm_init WORKDIR          work dir (short: swtpm's unix socket lives in it)
#   vm_sim_up                cvm-sim up (TLS names 10.0.2.2), swtpm handed over
#   vm_seed                  per-run fw_cfg item: agent.conf, test PKI, IMDS port, key
#   vm_boot NAME IMAGE [APPEND...]   one boot: swtpm on a unix socket + QEMU,
#                            bounded by VM_BOOT_TIMEOUT; logs in WORKDIR/NAME/
#   vm_cleanup               stops QEMU, swtpm, cvm-sim (trap it on EXIT)
#
# Everything started here is recorded by PID and stopped by that PID.

VM_BOOT_TIMEOUT=${VM_BOOT_TIMEOUT:-240}
VM_OVMF_CODE=${VM_OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.fd}
VM_OVMF_VARS=${VM_OVMF_VARS:-/usr/share/OVMF/OVMF_VARS_4M.fd}
# What a guest under QEMU's user network reaches the host's loopback at.
VM_HOST_ADDR=10.0.2.2
vm_qemu_pid="" vm_swtpm_pid="" vm_sim_dir="" vm_work="" vm_tpm_state=""
export vm_boot_secs=""  # set by vm_boot: QEMU's wall time, power-on to power-off

vm_log() { echo "vm: $*" >&2; }

# Prints why the VM tests cannot run here (nothing when they can).
vm_missing() {
    local t
    for t in qemu-system-x86_64 qemu-img swtpm mmdebstrap mke2fs cryptsetup; do
        command -v "$t" >/dev/null || { echo "$t is not installed (scripts/deps.sh)"; return; }
    done
    [ -r "$VM_OVMF_CODE" ] || echo "no OVMF firmware at $VM_OVMF_CODE (package ovmf)"
}

vm_init() {
    vm_work=$1
    mkdir -p "$vm_work"
    vm_sim_dir="$vm_work/sim"
    cp "$VM_OVMF_VARS" "$vm_work/ovmf-vars.fd"
}

vm_sim_up() {
    local sim="$CVM_SRCDIR/tests/sim/cvm-sim"
    "$sim" up --dir "$vm_sim_dir" --extra-san "$VM_HOST_ADDR" >"$vm_work/sim-up.log" 2>&1 || {
        cat "$vm_work/sim-up.log" >&2
        return 1
    }
    # swtpm serves one client: provisioned over TCP by cvm-sim, it is now
    # restarted on a unix socket for QEMU with the same state (vm_boot).
    vm_tpm_state=$("$sim" tpm-handoff --dir "$vm_sim_dir")
}

# The sim's https URLs as the guest reaches them.
vm_guest_url() { sed "s#://127\.0\.0\.1:#://$VM_HOST_ADDR:#" <<<"$1"; }

vm_seed() { # [KEY_FILE]: the data volume's key to deliver (TODO(boot))
    local seed="$vm_work/seed" ep="$vm_sim_dir/endpoints.json"
    rm -rf "$seed"
    mkdir -p "$seed/sim"
    cp "$vm_sim_dir/pki/tls-ca.pem" "$seed/sim/tls-ca.pem"
    cp "$vm_sim_dir/pki/amd/ark.pem" "$seed/sim/amd-ark.pem"
    cp "$vm_sim_dir/pki/intel/root.pem" "$seed/sim/intel-root.pem"
    "$PYTHON" - "$ep" "$seed" "$VM_HOST_ADDR" <<'PY'
import json, sys, urllib.parse
ep, seed, host = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
g = lambda u: u.replace("://127.0.0.1:", "://%s:" % host, 1)
open(seed + "/imds-port", "w").write("%d\n" % urllib.parse.urlsplit(ep["imds"]).port)
open(seed + "/vault.json", "w").write(json.dumps(
    {"vault": g(ep["vault"]), "key_url": g(ep["key_url"]), "key_name": ep["key_name"]}))
open(seed + "/agent.conf", "w").write("""# written by tests/vm/lib.sh for one run against cvm-sim on the host
[agent]
tcti = device:/dev/tpmrm0

[http]
ca-bundle = /etc/cvm-agent/sim/tls-ca.pem

[snp]
kds-url = %s

[imds]
url = http://169.254.169.254

[attestation]
url = %s
protocol = azureguest

[trust]
anchor = /etc/cvm-agent/sim/amd-ark.pem
anchor = /etc/cvm-agent/sim/intel-root.pem
""" % (g(ep["kds"]), g(ep["maa"])))
PY
    [ -z "${1:-}" ] || cp "$1" "$seed/data.key"
    tar -C "$seed" -cf "$vm_work/seed.tar" .
}

vm_swtpm_start() {
    local sock="$vm_work/tpm.sock" _
    rm -f "$sock"
    swtpm socket --tpm2 --tpmstate dir="$vm_tpm_state" --ctrl type=unixio,path="$sock" \
        --terminate --log file="$vm_work/swtpm.log",level=1 </dev/null >/dev/null 2>&1 &
    vm_swtpm_pid=$!
    for _ in $(seq 100); do
        [ -S "$sock" ] && return 0
        kill -0 "$vm_swtpm_pid" 2>/dev/null || break
        sleep 0.05
    done
    vm_log "swtpm did not open $sock; see $vm_work/swtpm.log"
    return 1
}

vm_stop_pid() { # PID NAME
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 0
    kill "$1" 2>/dev/null
    local _
    for _ in $(seq 50); do
        kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
        sleep 0.1
    done
    vm_log "$2 (pid $1) ignored SIGTERM; killing it"
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# One boot. Disks persist across the boots of a run (a qcow2 overlay on the
# cached root file system, a copy of the data volume). Sets vm_boot_secs.
vm_boot() { # NAME IMAGE [extra kernel arguments...]
    local name=$1 image=$2 out="$vm_work/$1" start rc
    shift 2
    mkdir -p "$out"
    if [ ! -f "$vm_work/root.qcow2" ]; then
        qemu-img create -q -f qcow2 -F raw -b "$image/root.ext4" "$vm_work/root.qcow2"
        cp "$image/data.luks" "$vm_work/data.luks"
    fi
    vm_swtpm_start || return 1
    start=$(date +%s%N)
    timeout -k 5 "$VM_BOOT_TIMEOUT" qemu-system-x86_64 \
        -machine q35,accel=tcg -cpu max -smp 2 -m 1024 -nodefaults -display none -no-reboot \
        -drive if=pflash,format=raw,unit=0,readonly=on,file="$VM_OVMF_CODE" \
        -drive if=pflash,format=raw,unit=1,file="$vm_work/ovmf-vars.fd" \
        -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
        -append "console=ttyS0 root=/dev/disk/by-id/virtio-cvm-root rw quiet panic=5 $*" \
        -drive file="$vm_work/root.qcow2",format=qcow2,if=none,id=root \
        -device virtio-blk-pci,drive=root,serial=cvm-root \
        -drive file="$vm_work/data.luks",format=raw,if=none,id=data \
        -device virtio-blk-pci,drive=data,serial=cvm-data \
        -netdev user,id=net0 -device virtio-net-pci,netdev=net0,romfile= \
        -chardev socket,id=chrtpm,path="$vm_work/tpm.sock" \
        -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0 \
        -fw_cfg name=opt/cvm-agent/seed,file="$vm_work/seed.tar" \
        -serial file:"$out/console.log" -serial file:"$out/report.log" \
        </dev/null >"$out/qemu.log" 2>&1 &
    vm_qemu_pid=$!
    wait "$vm_qemu_pid"
    rc=$?
    vm_qemu_pid=""
    vm_boot_secs=$(awk -v n="$(( $(date +%s%N) - start ))" 'BEGIN { printf "%.1f", n / 1e9 }')
    vm_stop_pid "$vm_swtpm_pid" swtpm
    vm_swtpm_pid=""
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        vm_log "boot $name: no power-off within ${VM_BOOT_TIMEOUT} s; last console lines:"
        tail -n 20 "$out/console.log" >&2
        return 1
    fi
    [ "$rc" -eq 0 ] || { vm_log "boot $name: qemu exited $rc: $(cat "$out/qemu.log")"; return 1; }
}

# The value of "CVM-VM KEY ..." lines of one boot's report.
vm_report() { # NAME KEY
    sed -n "s/^CVM-VM $2 //p" "$vm_work/$1/report.log" | tr -d '\r'
}

# A BEGIN/END block of one boot's report.
vm_report_block() { # NAME BLOCK
    sed -n "/^CVM-VM BEGIN $2\r\?\$/,/^CVM-VM END $2\r\?\$/p" "$vm_work/$1/report.log" |
        sed '1d;$d' | tr -d '\r'
}

vm_cleanup() {
    vm_stop_pid "$vm_qemu_pid" qemu
    vm_stop_pid "$vm_swtpm_pid" swtpm
    if [ -n "$vm_sim_dir" ] && [ -d "$vm_sim_dir/run" ]; then
        "$CVM_SRCDIR/tests/sim/cvm-sim" down --dir "$vm_sim_dir" >/dev/null 2>&1 || true
    fi
}
