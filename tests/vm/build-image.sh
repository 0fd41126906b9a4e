#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Builds the Debian 12 guest image for the VM tests from Debian packages
# (mmdebstrap, the host's apt sources) with cvm-agent installed from its
# Debian package, as an image builder would: scripts/package.sh builds
# cvm-agent_*.deb into BUILD/deb (cached by a hash of the source tree), the
# image installs it with dpkg -i.
#
#   tests/vm/build-image.sh --srcdir SRC --builddir BUILD [--cache DIR] [--force]
#
# Prints the image directory on stdout: vmlinuz, initrd.img, root.ext4 (the
# root file system), cvm-agent.deb (the package installed), data.luks (an
# empty LUKS2 volume, pbkdf2 key slot) and data.key (the key it was formatted
# with, host side only: the harness replaces it with the sealed secret).
# The image is cached under DIR/<hash of every input> (default
# $XDG_CACHE_HOME/cvm-agent-vm or ~/.cache/cvm-agent-vm): a rebuild happens
# only when this script, tests/vm/guest/ or the .deb changes (or with
# --force, e.g. after a Debian point release). The two newest images are
# kept.
set -euo pipefail

srcdir="" builddir="" cache="" force=0
while [ $# -gt 0 ]; do
    case "$1" in
    --srcdir) srcdir=$(cd "$2" && pwd); shift 2 ;;
    --builddir) builddir=$(cd "$2" && pwd); shift 2 ;;
    --cache) cache="$2"; shift 2 ;;
    --force) force=1; shift ;;
    *) echo "build-image: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
    esac
done
if [ -z "$srcdir" ] || [ -z "$builddir" ]; then
    echo "build-image: --srcdir and --builddir are required" >&2
    exit 2
fi
[ -n "$cache" ] || cache="${XDG_CACHE_HOME:-$HOME/.cache}/cvm-agent-vm"
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
log() { echo "build-image: $*" >&2; }

# Runtime packages of the guest (dmsetup: its udev rules make /dev/mapper/*
# devices "ready" for systemd). The agent's libraries are named explicitly:
# dpkg -i of the .deb needs its Depends installed already, and a missing one
# fails here, naming it. tpm2-tools serves in-guest diagnostics.
packages=(
    systemd-sysv udev kmod dbus linux-image-amd64 initramfs-tools cryptsetup dmsetup
    libtss2-esys-3.0.2-0 libtss2-tctildr0 libtss2-tcti-device0 libtss2-mu0 libtss2-rc0
    libcurl4 libcjson1 libinih1 libssl3 tpm2-tools e2fsprogs
)
# Drivers a virtio guest never loads: leaving them out of the root file
# system saves about 250 MB and most of mke2fs's time.
module_excludes=(
    drivers/gpu drivers/net/wireless drivers/net/ethernet drivers/media
    drivers/infiniband drivers/staging drivers/scsi drivers/usb drivers/input
    drivers/hid drivers/bluetooth drivers/iio drivers/isdn drivers/mtd
    drivers/nfc drivers/watchdog drivers/video sound net/wireless net/bluetooth
    net/mac80211 fs/btrfs fs/xfs fs/ocfs2 fs/gfs2 fs/nfs fs/nfsd fs/ceph fs/smb
)

# --- the agent: its Debian package, rebuilt only when the source changes.
# The hash covers what goes into the package (the files package.sh copies,
# less tests/, fuzz/, bench/ and docs/, which the package does not ship); the
# stamp also records the .deb's own hash, so a .deb replaced by `make
# check-deb` from another tree is not taken for this one.
debdir="$builddir/deb"
stamp="$debdir/vm-input-hash"
tracked_files() {
    if git -C "$srcdir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$srcdir" ls-files -z --cached --others --exclude-standard -- \
            . ':!tests' ':!fuzz' ':!bench' ':!docs'
    else
        (cd "$srcdir" && find . -type f -not -path './build*' -not -path './.git/*' \
            -not -path './autom4te.cache/*' -not -path './tests/*' -not -path './fuzz/*' \
            -not -path './bench/*' -not -path './docs/*' -print0)
    fi
}
src_hash=$( (cd "$srcdir" && tracked_files | sort -z |
    while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
    xargs -0 sha256sum) | sha256sum | cut -c1-16)
deb_ok() {
    local f
    [ -f "$stamp" ] || return 1
    read -r h f _ <"$stamp" || return 1
    [ "$h" = "$src_hash" ] && [ -f "$debdir/$f" ] &&
        [ "$(sha256sum "$debdir/$f" | cut -d' ' -f1)" = "$(cut -d' ' -f3 "$stamp")" ]
}
if deb_ok; then
    log "package cache hit: $debdir/$(cut -d' ' -f2 "$stamp")"
else
    log "building the Debian package (scripts/package.sh --out $debdir)"
    # make's jobserver and flags must not leak into dpkg-buildpackage's own make
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "$srcdir/scripts/package.sh" --no-deps \
        --out "$debdir" >&2
    f=$(cd "$debdir" && ls -1 cvm-agent_*.deb | head -1)
    [ -n "$f" ] || { log "scripts/package.sh made no cvm-agent_*.deb in $debdir"; exit 1; }
    echo "$src_hash $f $(sha256sum "$debdir/$f" | cut -d' ' -f1)" >"$stamp"
fi
deb="$debdir/$(cut -d' ' -f2 "$stamp")"
deb_sha=$(cut -d' ' -f3 "$stamp")
stage=$(mktemp -d "$cache/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp "$deb" "$stage/cvm-agent.deb"

# --- cache key: this script, the guest files, the package
hash=$( {
    sha256sum "$0" | cut -d' ' -f1
    printf '%s\n' "${packages[@]}" "${module_excludes[@]}"
    (cd "$srcdir/tests/vm/guest" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    echo "$deb_sha"
} | sha256sum | cut -c1-16)
image="$cache/$hash"
if [ "$force" = 0 ] && [ -f "$image/done" ]; then
    log "cache hit: $image"
    touch "$image/done"
    echo "$image"
    exit 0
fi

for tool in mmdebstrap mke2fs cryptsetup; do
    command -v "$tool" >/dev/null || { log "$tool is missing: run scripts/deps.sh"; exit 2; }
done
log "building image $hash (cache miss)"
rm -rf "$image"
tmp="$image.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$stage" "$tmp"' EXIT
root="$tmp/root"

excl=(--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*'
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*')
for m in "${module_excludes[@]}"; do
    excl+=(--dpkgopt="path-exclude=/lib/modules/*/kernel/$m/*")
done
# The host's apt sources (deb822 or one-line), so that the guest gets the
# same Debian release and mirror as the machine building it.
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [ -s "$f" ] && grep -q 'debian' "$f" && sources+=("$f")
done
[ ${#sources[@]} -gt 0 ] || { log "no Debian apt sources in /etc/apt"; exit 2; }

guest="$srcdir/tests/vm/guest"
t0=$(date +%s)
# setup-hook: before any package is installed, so the kernel's postinst
# already builds the trimmed initramfs (MODULES=list; MODULES=most costs
# ~75 s per run and ~8 s per boot under TCG).
# Downloaded packages are kept in $cache/debs, so that a rebuild (the agent
# changed) does not download them again.
debs="$cache/debs"
mkdir -p "$debs"
mmdebstrap --variant=minbase --mode=root --format=directory --quiet \
    --include="$(IFS=,; echo "${packages[*]}")" "${excl[@]}" \
    --skip=download/empty --skip=essential/unlink \
    --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
    --setup-hook="sync-in '$debs' /var/cache/apt/archives/" \
    --customize-hook="sync-out /var/cache/apt/archives '$debs'" \
    --setup-hook="mkdir -p \"\$1/etc/initramfs-tools/conf.d\" \"\$1/etc/initramfs-tools/hooks\"" \
    --setup-hook="cp '$guest/initramfs/cvm-vm.conf' \"\$1/etc/initramfs-tools/conf.d/\"" \
    --setup-hook="install -m 0755 '$guest/initramfs/cvm-vm-modules' \"\$1/etc/initramfs-tools/hooks/\"" \
    --customize-hook="copy-in '$stage/cvm-agent.deb' /tmp" \
    --customize-hook='chroot "$1" dpkg -i /tmp/cvm-agent.deb' \
    --customize-hook='rm -f "$1/tmp/cvm-agent.deb"' \
    --customize-hook="tar -C '$guest/rootfs' -c . | tar -C \"\$1\" -x --keep-directory-symlink" \
    --customize-hook="chroot \"\$1\" /usr/libexec/cvm-vm/setup-image" \
    bookworm "$root" "${sources[@]}" >&2
t1=$(date +%s)

cp "$root"/boot/vmlinuz-* "$tmp/vmlinuz"
cp "$stage/cvm-agent.deb" "$tmp/cvm-agent.deb"
cp "$root"/boot/initrd.img-* "$tmp/initrd.img"
rm -rf "${root:?}/boot"/* "$root/var/cache/apt"/*.bin "$root/var/cache/apt/archives"/*.deb \
    "$root/var/lib/apt/lists"/*_Packages
size=$(( $(du -sm "$root" | cut -f1) + 384 ))
mke2fs -q -t ext4 -L root -d "$root" "$tmp/root.ext4" "${size}M" >&2
rm -rf "$root"
t2=$(date +%s)

# The data volume: LUKS2, one pbkdf2 key slot with few iterations (argon2id
# costs ~12 s and ~1 GiB per open under TCG), holding an empty ext4 made here
# and encrypted in place (offline reencryption needs no device mapper).
# systemd ignores an opened LUKS device without a file system on it
# (99-systemd.rules), so the guest could not make one on first open.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/data.key"
truncate -s 48M "$tmp/data.luks"
mke2fs -q -t ext4 -L data "$tmp/data.luks" 32M >&2
cryptsetup reencrypt --encrypt --batch-mode --type luks2 --reduce-device-size 16M \
    --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --hash sha256 --label cvm-data \
    --key-file "$tmp/data.key" "$tmp/data.luks" >&2
printf 'mmdebstrap %s s, mke2fs %s s, root %s MiB\n' $((t1 - t0)) $((t2 - t1)) "$size" >"$tmp/build-times"
touch "$tmp/done"
mv "$tmp" "$image"
log "image $hash built: $(cat "$image/build-times")"

# Keep the two newest images.
ls -1dt "$cache"/*/done 2>/dev/null | tail -n +3 | while read -r old; do
    rm -rf "$(dirname "$old")"
done
echo "$image"
