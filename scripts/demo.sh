#!/bin/bash
# The main job on the built-in simulated platform. Installs what is missing
# (as root), builds, and runs the steps that exist so far.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
bash scripts/deps.sh
autoreconf -fi >/dev/null
mkdir -p build && cd build
[ -f Makefile ] || ../configure -q
make -j"$(nproc)" >/dev/null
echo "cvm-agent built: $(./cvm-agent --version)"
./cvm-agent --help
