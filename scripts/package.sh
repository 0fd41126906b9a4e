#!/bin/bash
# Builds the Debian package cvm-agent_*.deb into build/deb/.
#   1. installs the build dependencies of debian/control (as root, apt-get build-dep;
#      otherwise it prints the command to run)
#   2. copies the source tree (the files git tracks or would track; without git, all but
#      build outputs) to build/deb/src/, so the checkout stays as it was
#   3. runs dpkg-buildpackage -us -uc there: the .deb, and the source package beside it
#      (.dsc, .tar.xz), so lintian sees an upload's worth (tests: scripts/test.sh)
# Usage: scripts/package.sh [--no-deps] [--out DIR]
#   --no-deps  fail (and name the command) instead of installing the build dependencies
#   --out DIR  put the package in DIR instead of build/deb/
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
out=$src/build/deb
install_deps=yes
while [ $# -gt 0 ]; do
    case $1 in
        --no-deps) install_deps=no ;;
        --out)
            out=$(mkdir -p "${2:?--out needs a directory}" && cd "$2" && pwd)
            shift
            ;;
        *)
            echo "usage: scripts/package.sh [--no-deps] [--out DIR]" >&2
            exit 2
            ;;
    esac
    shift
done

build_deps_missing() {
    ! command -v dpkg-checkbuilddeps >/dev/null || ! (cd "$src" && dpkg-checkbuilddeps 2>/dev/null)
}

if build_deps_missing; then
    if [ "$install_deps" = no ] || [ "$(id -u)" -ne 0 ]; then
        (cd "$src" && dpkg-checkbuilddeps) || true
        echo "package: build dependencies missing; run as root:" >&2
        echo "  apt-get update && apt-get build-dep -y '$src'" >&2
        exit 2
    fi
    echo "package: installing the build dependencies (apt-get build-dep)"
    export DEBIAN_FRONTEND=noninteractive
    # the package lists may be missing or stale on a fresh machine: update once, then retry
    apt-get build-dep -y -qq "$src" >/dev/null ||
        { apt-get update -qq && apt-get build-dep -y -qq "$src" >/dev/null; }
fi

version=$(cd "$src" && dpkg-parsechangelog -S Version)
tree=$out/src/cvm-agent-$version
rm -rf "$out/src"
rm -f "$out"/cvm-agent*_*.deb "$out"/cvm-agent_*.buildinfo "$out"/cvm-agent_*.changes \
    "$out"/cvm-agent_*.dsc "$out"/cvm-agent_*.tar.*
mkdir -p "$tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$src" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar -cf - --null -T -) | tar -xf - -C "$tree"
else
    tar -C "$src" -cf - --exclude='./build*' --exclude=./autom4te.cache --exclude=./.git . |
        tar -xf - -C "$tree"
fi

echo "package: dpkg-buildpackage -us -uc in ${tree#"$src"/}"
start=$(date +%s)
log=$out/build.log
if ! (cd "$tree" && DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -us -uc -j"$(nproc 2>/dev/null || echo 2)") >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "package: dpkg-buildpackage failed; the whole log is $log" >&2
    exit 1
fi
mv "$out"/src/*.deb "$out"/src/*.buildinfo "$out"/src/*.changes "$out"/src/*.dsc \
    "$out"/src/*.tar.* "$out"/
rm -rf "$out/src"
echo "package: built in $(($(date +%s) - start)) s:"
ls -1 "$out"/*.deb
