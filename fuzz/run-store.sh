#!/bin/bash
# make check: replay the envelope corpus through fuzz-store-envelope, plus
# every truncation of one envelope at a few points and single-byte flips.
# shellcheck source=fuzz/lib.sh
. "${CVM_SRCDIR:?}/fuzz/lib.sh"

corpus=$srcdir/fuzz/corpus/store-envelope
run fuzz-store-envelope "$corpus"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-store.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for f in "$corpus"/*.json; do
    size=$(stat -c %s "$f")
    for n in 0 1 2 100 $((size / 2)) $((size - 2)) $((size - 1)); do
        head -c "$n" "$f" >"$tmp/$(basename "$f").cut$n"
    done
    "$PYTHON" - "$f" "$tmp" <<'PY'
import os, random, sys
data = open(sys.argv[1], "rb").read()
rnd = random.Random(len(data))
for i in range(200):
    b = bytearray(data)
    b[rnd.randrange(len(b))] = rnd.randrange(256)
    open(os.path.join(sys.argv[2], "%s.flip%d" % (os.path.basename(sys.argv[1]), i)), "wb").write(b)
PY
done
run fuzz-store-envelope "$tmp"
exit $status
