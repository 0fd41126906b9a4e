# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# The VM harness: cvm-sim on the host, its vTPM handed to QEMU, a Debian
# guest booted with OVMF under TCG. Sourced by tests/vm/check-vm.sh.
#
#   vm_init WORKDIR          work dir (short: swtpm's unix socket lives in it)
#   vm_sim_up                cvm-sim up (TLS names 10.0.2.2)
#   vm_seal_data IMAGE       the image builder's step: `cvm-agent seal --name data`
#                            against the provisioned vTPM and the sim's vault, and
#                            the run's copy of the data volume rekeyed to that secret
#   vm_tpm_handoff           the sim's swtpm stopped, its state kept for QEMU
#   vm_seed [MODE]           per-run fw_cfg item: agent.conf, test PKI, IMDS port,
#                            the envelope; MODE full: report/evidence/attest too
#   vm_boot NAME IMAGE [APPEND...]   one boot: swtpm on a unix socket + QEMU,
#                            bounded by VM_BOOT_TIMEOUT; logs in WORKDIR/NAME/
#   vm_timings NAME          one line: firmware, kernel, userspace, the agent, the
#                            volume open (from the guest's report)
#   vm_cleanup               stops QEMU, swtpm, cvm-sim (trap it on EXIT)
#
# Everything started here is recorded by PID and stopped by that PID.

VM_BOOT_TIMEOUT=${VM_BOOT_TIMEOUT:-240}
VM_OVMF_CODE=${VM_OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.fd}
VM_OVMF_VARS=${VM_OVMF_VARS:-/usr/share/OVMF/OVMF_VARS_4M.fd}
# What a guest under QEMU's user network reaches the host's loopback at.
VM_HOST_ADDR=10.0.2.2
vm_qemu_pid="" vm_swtpm_pid="" vm_sim_dir="" vm_work="" vm_tpm_state=""
# The PCRs the data volume's secret is sealed to: firmware (0), boot loader
# and kernel (4), Secure Boot state (7), and 9, where Linux's EFI stub
# measures the initrd and the kernel command line (a kernel update).
VM_DATA_PCRS=sha256:0,4,7,9
export vm_boot_secs=""     # set by vm_boot: QEMU's wall time, power-on to power-off
export vm_boot_start_ms="" # set by vm_boot: host clock at QEMU start (ms)

vm_log() { echo "vm: $*" >&2; }

# Prints why the VM tests cannot run here (nothing when they can).
vm_missing() {
    local t
    for t in qemu-system-x86_64 qemu-img swtpm mmdebstrap mke2fs cryptsetup dpkg-buildpackage; do
        command -v "$t" >/dev/null || { echo "$t is not installed (scripts/deps.sh)"; return; }
    done
    [ -r "$VM_OVMF_CODE" ] || { echo "no OVMF firmware at $VM_OVMF_CODE (package ovmf)"; return; }
    # the guest installs the Debian package, built here
    (cd "$CVM_SRCDIR" && dpkg-checkbuilddeps >/dev/null 2>&1) ||
        echo "the package's build dependencies are missing (scripts/package.sh installs them)"
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
}

# What an image builder does before the first boot: seal the data volume's
# key to this vTPM and the customer-managed key (`cvm-agent seal`, the
# host's build of the agent, through the sim's swtpm on TCP), and format the
# volume with it. The cached image's volume was formatted with a build key;
# the run's copy gets the sealed secret in that key slot instead
# (luksChangeKey: the build key no longer opens it).
vm_seal_data() { # IMAGE
    local image=$1 key="$vm_work/data.secret"
    head -c 64 /dev/urandom >"$key"
    "$CVM_BUILDDIR/cvm-agent" -c "$vm_sim_dir/agent.conf" seal --name data --in "$key" \
        --pcrs "$VM_DATA_PCRS" --json >"$vm_work/seal.json" 2>"$vm_work/seal.log" || {
        cat "$vm_work/seal.log" >&2
        return 1
    }
    cp "$vm_sim_dir/state/secrets/data.json" "$vm_work/data.json"
    cp "$image/data.luks" "$vm_work/data.luks"
    cryptsetup luksChangeKey --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
        --hash sha256 --key-file "$image/data.key" "$vm_work/data.luks" "$key" >&2 || return 1
    # the secret itself stays only in the envelope (and the test's own check)
    cryptsetup open --test-passphrase --key-file "$image/data.key" "$vm_work/data.luks" \
        2>/dev/null && { vm_log "the build key still opens the data volume"; return 1; }
    return 0
}

# swtpm serves one client: provisioned over TCP by cvm-sim (and used by the
# seal above), it is restarted on a unix socket for QEMU with the same state.
vm_tpm_handoff() {
    vm_tpm_state=$("$CVM_SRCDIR/tests/sim/cvm-sim" tpm-handoff --dir "$vm_sim_dir")
}

# The sim's https URLs as the guest reaches them.
vm_guest_url() { sed "s#://127\.0\.0\.1:#://$VM_HOST_ADDR:#" <<<"$1"; }

vm_seed() { # [MODE]
    local seed="$vm_work/seed" ep="$vm_sim_dir/endpoints.json"
    rm -rf "$seed"
    mkdir -p "$seed/sim"
    echo "${1:-}" >"$seed/check-mode"
    [ -f "$vm_work/data-token" ] || echo "cvm-vm $(date -u +%FT%TZ) $RANDOM$RANDOM" >"$vm_work/data-token"
    cp "$vm_work/data-token" "$seed/data-token"
    [ ! -f "$vm_work/data.json" ] || cp "$vm_work/data.json" "$seed/data.json"
    cp "$vm_sim_dir/pki/tls-ca.pem" "$seed/sim/tls-ca.pem"
    cp "$vm_sim_dir/pki/kv-signing.pem" "$seed/sim/kv-signing.pem"
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

# the customer-managed key the data volume's secret is wrapped to; the sim
# vault's release JWS is signed by its test signer
[keyvault]
key = %s
api-version = 7.4
resource = https://vault.azure.net
signer-host = vault.azure.net
signer-ca = /etc/cvm-agent/sim/kv-signing.pem

[identity]
source = imds

# The data volume's key: sealed by the image builder (tests/vm/lib.sh:
# vm_seal_data), opened by cvm-agent.service at boot, delivered where
# /etc/crypttab reads it; reseal: re-authorize a PCR change after a
# successful attestation and follow the key's newest version.
[secret data]
target = file:/run/cvm-agent/data.key
reseal = yes
""" % (g(ep["kds"]), g(ep["maa"]), g(ep["key_url"])))
PY
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
    [ -f "$vm_work/root.qcow2" ] ||
        qemu-img create -q -f qcow2 -F raw -b "$image/root.ext4" "$vm_work/root.qcow2"
    [ -f "$vm_work/data.luks" ] || cp "$image/data.luks" "$vm_work/data.luks"
    vm_swtpm_start || return 1
    start=$(date +%s%N)
    vm_boot_start_ms=$((start / 1000000))
    timeout -k 5 "$VM_BOOT_TIMEOUT" qemu-system-x86_64 \
        -machine q35,accel=tcg -cpu max -smp 2 -m 1024 -nodefaults -display none -no-reboot \
        -drive if=pflash,format=raw,unit=0,readonly=on,file="$VM_OVMF_CODE" \
        -drive if=pflash,format=raw,unit=1,file="$vm_work/ovmf-vars.fd" \
        -kernel "$image/vmlinuz" -initrd "${VM_INITRD:-$image/initrd.img}" \
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
    echo "$vm_boot_start_ms $vm_boot_secs" >"$out/host-times"
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

# Per boot, from inside the guest (CLOCK_MONOTONIC: ms since the kernel
# started) and the host's clock at QEMU start: the firmware's time is the
# kernel's start in the guest's realtime clock (the RTC is the host's, to the
# second) less QEMU's start.
vm_timings() { # NAME
    local n=$1
    "$PYTHON" - "$n" "$(cat "$vm_work/$n/host-times" 2>/dev/null)" "$(vm_report "$n" clock)" \
        "$(vm_report "$n" agent)" "$(vm_report "$n" cryptsetup)" "$(vm_report "$n" analyze)" <<'PY'
import re, sys
n, host, clock, agent, crypt, analyze = sys.argv[1:7]
f = lambda s: dict(kv.split("=", 1) for kv in s.split() if "=" in kv)
a, c, k = f(agent), f(crypt), f(clock)
host_start, qemu = (host.split() + ["0", "?"])[:2]
sec = lambda ms: "%.1f s" % (int(ms) / 1000)
fw = "?"
if "now_ms" in k and "uptime" in k:
    fw = "%.0f s" % ((int(k["now_ms"]) - float(k["uptime"]) * 1000 - int(host_start)) / 1000)
t = re.search(r"([0-9.]+)s \(kernel\) \+ ([0-9.]+min )?([0-9.]+)s \(userspace\)", analyze)
kern = user = "?"
if t:
    kern = "%.1f s" % float(t.group(1))
    user = "%.1f s" % (float(t.group(3)) + (60 * float(t.group(2)[:-4]) if t.group(2) else 0))
span = lambda d: int(d.get("ExecMainExitTimestampMonotonic", 0)) - int(d.get("ExecMainStartTimestampMonotonic", 0))
opened = sec(c["ActiveEnterTimestampMonotonic"]) if c.get("ActiveState") == "active" else "never (locked)"
print("timings: boot %s: firmware ~%s, kernel %s, userspace %s; agent %s (%s, done at %s); "
      "cryptsetup %s; volume open at %s; QEMU %s s"
      % (n, fw, kern, user, sec(span(a)), a.get("Result", "?"),
         sec(a.get("ExecMainExitTimestampMonotonic", 0)), sec(span(c)), opened, qemu))
PY
}

vm_cleanup() {
    vm_stop_pid "$vm_qemu_pid" qemu
    vm_stop_pid "$vm_swtpm_pid" swtpm
    if [ -n "$vm_sim_dir" ] && [ -d "$vm_sim_dir/run" ]; then
        "$CVM_SRCDIR/tests/sim/cvm-sim" down --dir "$vm_sim_dir" >/dev/null 2>&1 || true
    fi
}
