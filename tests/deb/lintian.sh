#!/bin/bash
# lintian on the built package reports no error and no warning (info, pedantic and overridden
# tags are printed, not counted), and every override in debian/ has a one-line reason above
# it. The check can fail: the package without its copyright file is an error.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_cmd lintian dpkg-deb
deb_dir=${CVM_DEB_DIR:-$CVM_BUILDDIR/deb}
debs=("$deb_dir"/cvm-agent_*.deb)
deb=${debs[0]}
[ -f "$deb" ] || skip "no cvm-agent_*.deb in $deb_dir: build it with make check-deb"

# the tags lintian prints as "X: package: tag ..."; lintian as root says it would rather not
run_lintian() { lintian --display-info --pedantic --show-overrides "$@" 2>&1 | grep -v 'root privileges' || true; }
count() { grep -c "^$1: " <<<"$2" || true; }

# the .changes names the source package, the .deb, its debug symbols and the .buildinfo:
# lintian checks them all
changes=("$deb_dir"/cvm-agent_*.changes)
target=$deb
[ ! -f "${changes[0]}" ] || target=${changes[0]}
out=$(run_lintian "$target")
echo "$out"
errors=$(count E "$out") warnings=$(count W "$out")
echo "lintian $(basename "$target"): $errors errors, $warnings warnings, $(count I "$out") info," \
    "$(count P "$out") pedantic, $(count O "$out") overridden"
if [ "$errors" -ne 0 ] || [ "$warnings" -ne 0 ]; then
    fail "lintian: $errors errors, $warnings warnings"
fi

# overrides: each with a comment line directly above it
for f in "$CVM_SRCDIR"/debian/*lintian-overrides "$CVM_SRCDIR"/debian/source/lintian-overrides; do
    [ -f "$f" ] || continue
    awk -v f="$f" '/^[^#[:space:]]/ && prev !~ /^#/ { print f ": no reason above: " $0; bad = 1 }
        { prev = $0 } END { exit bad }' "$f" || fail "a lintian override without its reason"
done

# the check can fail
broken=$TEST_DIR/broken
dpkg-deb -R "$deb" "$broken"
rm "$broken/usr/share/doc/cvm-agent/copyright"
dpkg-deb -b -Zgzip "$broken" "$TEST_DIR/cvm-agent-broken.deb" >/dev/null
out=$(run_lintian "$TEST_DIR/cvm-agent-broken.deb")
grep -q '^E: cvm-agent: no-copyright-file' <<<"$out" || fail "lintian missed the missing copyright file: $out"

pass_msg "lintian: no errors, no warnings on $(basename "$target")"
