#!/bin/bash
# scripts/function-length.sh (make lint's "functions over 120 lines") flags a
# function of 121 lines and not one of 120, follows multi-line signatures and
# attribute prefixes, and ignores long initializers, prototypes and the
# column-0 macro lines before a function.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_cmd git awk
repo="$TEST_DIR/repo"
mkdir -p "$repo/m"
body() { # body N: N-2 statement lines (with the signature and "}" a function of N lines)
    local i
    for ((i = 0; i < $1 - 2; i++)); do echo "    x += $i;"; done
}
{
    echo "static int x;"
    echo "DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free)" # macro lines are not part of fits
    echo "DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free)"
    echo "int fits(void) {"
    body 120
    echo "}"
    echo "static int too_long(int a,"
    echo "                    int b) {"
    body 120 # with the two-line signature: 121 lines
    echo "}"
    echo "_printf_(1, 2) static int with_attr(const char *f, ...) {"
    body 200
    echo "}"
    echo "int prototype(void);"
    echo "static const int table[] = {"
    body 300
    echo "};"
} >"$repo/m/f.c"
git -C "$repo" init -q
git -C "$repo" add m/f.c
rc=0
out=$(cd "$repo" && "$CVM_SRCDIR/scripts/function-length.sh" -m 120 m) || rc=$?
[ "$rc" -eq 1 ] || fail "exit $rc with functions over the limit, want 1: $out"
grep -q "m/f.c:.*: too_long is 121 lines (max 120)" <<<"$out" || fail "too_long not flagged: $out"
grep -q "with_attr is 200 lines" <<<"$out" || fail "with_attr not flagged: $out"
grep -q "fits\|table\|prototype" <<<"$out" && fail "flagged what is within the limit or not a function: $out"
[ "$(wc -l <<<"$out")" -eq 2 ] || fail "want 2 offenders: $out"
(cd "$repo" && "$CVM_SRCDIR/scripts/function-length.sh" -m 200 m) || fail "nothing over 200, yet exit $?"
pass_msg "function-length.sh flags 121 and 200 lines, not 120, an initializer or a prototype"
