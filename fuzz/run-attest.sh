#!/bin/bash
# make check: replay the sealed-reply corpus (valid envelopes made like the
# MAA emulator's, and broken ones) through fuzz-maa-sealed, plus every
# truncation of one valid envelope.
# shellcheck source=fuzz/lib.sh
. "${CVM_SRCDIR:?}/fuzz/lib.sh"

run fuzz-maa-sealed "$srcdir/fuzz/corpus/maa-sealed"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-attest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
seed="$srcdir/fuzz/corpus/maa-sealed/valid-std"
size=$(stat -c %s "$seed")
for n in $(seq 0 7 "$size"); do head -c "$n" "$seed" >"$tmp/trunc.$n"; done
run fuzz-maa-sealed "$tmp"
exit $status
