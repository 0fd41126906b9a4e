#!/bin/bash
# The man pages print options as users type them: pandoc's smart typography
# turns "--config" into an en dash ("–config"), and a user who copies that
# gets "unknown option". Checks the roff source (\[en], \(en or a literal
# en dash before a letter) and, when man(1) is installed, the rendered text.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
pages=()
for p in cvm-agent.8 cvm-agent.conf.5; do
    f="$CVM_BUILDDIR/man/$p"
    [ -f "$f" ] || f="$CVM_SRCDIR/man/$p"
    [ -f "$f" ] || skip "man page '$p' not built (pandoc missing)"
    pages+=("$f")
done
for f in "${pages[@]}"; do
    bad=$(grep -nE '(\\\[en\]|\\\(en|–)(\\f\[[A-Z]*\]|\\f[A-Z])?-?[A-Za-z]' "$f" || true)
    [ -z "$bad" ] || fail "$(basename "$f"): an en dash before an option name in the roff:
$bad"
    if [ "$(basename "$f")" = cvm-agent.8 ]; then
        grep -qE '(\\-|-)(\\-|-)config' "$f" || fail "cvm-agent.8: no '--config' in the roff"
    fi
    if command -v man >/dev/null; then
        text=$(MANWIDTH=200 LC_ALL=C.UTF-8 man -l "$f" 2>/dev/null)
        # en dash, or a Unicode hyphen (U+2010) where ASCII '-' must be
        bad=$(grep -nE '(–|‐)-?[A-Za-z]' <<<"$text" || true)
        [ -z "$bad" ] || fail "$(basename "$f"): a dash that is not '-' before an option name as rendered:
$bad"
        if [ "$(basename "$f")" = cvm-agent.8 ]; then
            grep -q -- ' --config FILE' <<<"$text" || fail "cvm-agent.8 does not render '--config FILE'"
        fi
    fi
done
# the check can fail: a page with the en dash pandoc's default makes is caught
sample="$TEST_DIR/sample.8"
printf '.TH T 8\n.TP\n\\f[B]\\[en]config\\f[R]\n' >"$sample"
grep -qE '(\\\[en\]|\\\(en|–)(\\f\[[A-Z]*\]|\\f[A-Z])?-?[A-Za-z]' "$sample" || fail "the roff check misses \\[en]config"
pass_msg "no en dash before an option name in ${#pages[@]} man pages"
