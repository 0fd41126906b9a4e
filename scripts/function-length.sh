#!/bin/bash
# Lists C functions longer than MAX lines (signature to closing brace) in the
# tracked *.c/*.h files under the given directories, as "file:line: name is N
# lines (max MAX)". Exits 1 when there is one. Relies on the clang-format
# layout the project enforces: a definition starts at column 0 and its body
# closes with a "}" alone at column 0.
#   scripts/function-length.sh [-m MAX] DIR...
set -euo pipefail
max=120
if [ "${1:-}" = -m ]; then
    max=$2
    shift 2
fi
[ $# -gt 0 ] || { echo "usage: $0 [-m MAX] DIR..." >&2; exit 2; }
mapfile -t files < <(git ls-files -- "${@/%//*.c}" "${@/%//*.h}")
[ ${#files[@]} -gt 0 ] || exit 0
awk -v max="$max" '
FNR == 1 { state = 0 }
# state 0: outside; 1: in a signature; 2: in a body
# (a column-0 line in a "signature" starts over: DEFINE_X(...) macro lines)
state <= 1 && /^[A-Za-z_][A-Za-z0-9_ ,()*]*[A-Za-z0-9_]+\(/ && !/;[ \t]*$/ && !/^(typedef|struct|enum|union)[ \t]/ {
    start = FNR
    name = $0
    sub(/^_[a-z_]*_\([^)]*\)[ \t]+/, "", name)  # _printf_(3, 4) static int f(
    sub(/\(.*/, "", name)
    sub(/.*[ *]/, "", name)
    state = 1
}
state == 1 {
    if (/\{[ \t]*$/) { state = 2; next }
    if (/;[ \t]*$/ || /^[ \t]*$/ || /\)[ \t]*$/ && FNR > start + 8) state = 0
    next
}
state == 2 && /^\}/ {
    n = FNR - start + 1
    if (n > max) {
        printf "%s:%d: %s is %d lines (max %d)\n", FILENAME, start, name, n, max
        bad = 1
    }
    state = 0
}
END { exit bad }
' "${files[@]}"
