#!/bin/bash
# Installs what cvm-agent needs to build, test and run its demo on Debian 12.
# As root it installs the missing packages with apt-get; otherwise it prints
# the exact command to run. Usage: scripts/deps.sh [--check] [--bench]
# (--bench adds what `make bench` compares against: clevis' tpm2 pin and
# /usr/bin/time; the tests do not need them)
set -euo pipefail

packages=(
    autoconf
    autoconf-archive
    automake
    bash-completion
    clang
    clang-format
    cppcheck
    cryptsetup-bin
    debhelper
    dpkg-dev
    e2fsprogs
    gcc
    git
    groff-base
    iproute2
    libcjson-dev
    libclang-rt-14-dev
    libcmocka-dev
    libcurl4-openssl-dev
    libinih-dev
    libssl-dev
    libtss2-dev
    lintian
    make
    man-db
    mmdebstrap
    openssl
    ovmf
    pandoc
    pkg-config
    procps
    python3
    python3-cryptography
    qemu-system-x86
    qemu-utils
    shellcheck
    swtpm
    swtpm-tools
    systemd
    tpm2-tools
    valgrind
)

check_only=
for arg in "$@"; do
    case $arg in
    --check) check_only=yes ;;
    --bench) packages+=(clevis clevis-tpm2 time) ;;
    *) echo "usage: scripts/deps.sh [--check] [--bench]" >&2 && exit 2 ;;
    esac
done

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#packages[@]} packages installed"
    exit 0
fi
if [ -n "$check_only" ]; then
    echo "deps: missing: ${missing[*]}"
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages; run as root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
