#!/bin/bash
# The man pages render and say what the program does:
#  * `man -l` renders each page without a groff warning (MANWIDTH=80), and
#    `groff -ww -z -man` finds nothing either;
#  * options print as users type them: pandoc's smart typography turns
#    "--config" into an en dash ("–config"), and a user who copies that gets
#    "unknown option" (checked in the roff source and in the rendered text);
#  * every command `cvm-agent --help` lists has its section in cvm-agent(8),
#    and every option a command's help lists appears in that section (the
#    global options, --help among them, in OPTIONS);
#  * every configuration key agent/config.c reads is described in its
#    section of cvm-agent.conf(5).
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_cmd man groff
pages=()
for p in cvm-agent.8 cvm-agent.conf.5 cvm-agent-store.5; do
    f="$CVM_BUILDDIR/man/$p"
    [ -f "$f" ] || f="$CVM_SRCDIR/man/$p"
    [ -f "$f" ] || skip "man page '$p' not built (pandoc missing)"
    pages+=("$f")
done
cd "$TEST_DIR"
render() { MANWIDTH=$1 LC_ALL=C.UTF-8 man -l "$2"; }

for f in "${pages[@]}"; do
    p=$(basename "$f")
    warn=$( { MANWIDTH=80 LC_ALL=C.UTF-8 man -l --warnings=w "$f" >/dev/null; } 2>&1)
    [ -z "$warn" ] || fail "$p: man -l warns at 80 columns:
$warn"
    warn=$(groff -ww -z -man "$f" 2>&1)
    [ -z "$warn" ] || fail "$p: groff -ww warns:
$warn"
    [ -n "$(render 80 "$f" 2>/dev/null)" ] || fail "$p: man -l rendered nothing"
    bad=$(grep -nE '(\\\[en\]|\\\(en|–)(\\f\[[A-Z]*\]|\\f[A-Z])?-?[A-Za-z]' "$f" || true)
    [ -z "$bad" ] || fail "$p: an en dash before an option name in the roff:
$bad"
    # en dash, or a Unicode hyphen (U+2010) where ASCII '-' must be
    bad=$(render 200 "$f" 2>/dev/null | grep -nE '(–|‐)-?[A-Za-z]' || true)
    [ -z "$bad" ] || fail "$p: a dash that is not '-' before an option name as rendered:
$bad"
done
pass_msg "${#pages[@]} man pages render with man -l and groff -ww without a warning; no en dash before an option name"

# the en-dash check can fail: a page with the en dash pandoc's default makes is caught
sample="$TEST_DIR/sample.8"
printf '.TH T 8\n.TP\n\\f[B]\\[en]config\\f[R]\n' >"$sample"
grep -qE '(\\\[en\]|\\\(en|–)(\\f\[[A-Z]*\]|\\f[A-Z])?-?[A-Za-z]' "$sample" || fail "the roff check misses \\[en]config"
# and so can the warning check: a table wider than the page
printf '.TH T 8\n.SH X\n.TS\nlw(60n) lw(60n).\na@b\n.TE\n' >"$sample"
[ -n "$( { MANWIDTH=80 man -l --warnings=w "$sample" >/dev/null; } 2>&1)" ] || fail "man -l --warnings misses a table wider than the page"

# --- cvm-agent(8): every command and option of the help
agent --help >help.main
mapfile -t cmds < <(awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }' help.main)
[ "${#cmds[@]}" -ge 10 ] || fail "cvm-agent --help lists ${#cmds[@]} commands: $(cat help.main)"
for c in "${cmds[@]}"; do agent "$c" --help >"help.$c" || fail "'cvm-agent $c --help' failed"; done
render 1000 "${pages[0]}" 2>/dev/null >page.8
"$PYTHON" - page.8 "${cmds[@]}" <<'PY' || fail "cvm-agent(8) lacks what the help lists (above)"
import re, sys
page = open(sys.argv[1], encoding="utf-8").read().splitlines()
cmds = sys.argv[2:]

def section(start, is_end):
    """The lines after the heading line `start` up to the next heading."""
    try:
        i = page.index(start)
    except ValueError:
        return None
    out = []
    for line in page[i + 1:]:
        if is_end(line):
            break
        out.append(line)
    return "\n".join(out)

def options(help_text):
    """Long options anywhere in a help text, short ones where an option line starts."""
    opts = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", help_text))
    opts |= set(re.findall(r"(?m)^\s+(-[A-Za-z])[, ]", help_text))
    return opts

def has(text, opt):
    return re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(opt), text) is not None

missing = []
top = section("OPTIONS", lambda l: re.match(r"^[A-Z]", l) is not None)
for o in sorted(options(open("help.main").read().split("Commands:")[0])):
    if not has(top or "", o):
        missing.append("OPTIONS: %s" % o)
heading = re.compile(r"^   (%s)$" % "|".join(map(re.escape, cmds)))
n_opts = 0
for c in cmds:
    text = section("   " + c, lambda l: heading.match(l) is not None or re.match(r"^[A-Z]", l) is not None)
    if text is None:
        missing.append("no section for the command '%s'" % c)
        continue
    for o in sorted(options(open("help." + c).read()) - {"-h", "--help"}):
        n_opts += 1
        if not has(text, o):
            missing.append("%s: %s" % (c, o))
for m in missing:
    print("cvm-agent(8) lacks " + m, file=sys.stderr)
print("# %d commands, %d command options found in their sections" % (len(cmds), n_opts))
sys.exit(1 if missing else 0)
PY
pass_msg "cvm-agent(8) has a section for each of the ${#cmds[@]} commands of --help, naming every option its help lists"

# --- cvm-agent.conf(5): every key agent/config.c reads, in its section
render 1000 "${pages[1]}" 2>/dev/null >page.5
"$PYTHON" - page.5 "$CVM_SRCDIR/agent/config.c" <<'PY' || fail "cvm-agent.conf(5) lacks keys the code reads (above)"
import re, sys
page = open(sys.argv[1], encoding="utf-8").read().splitlines()
code = open(sys.argv[2], encoding="utf-8").read()
keys = re.findall(r'KEY\("([a-z]+)", "([a-z0-9-]+)"', code)
# the [secret NAME] keys: set_secret_key() compares the key name with each
body = re.search(r"static int set_secret_key\(.*?\n}\n", code, re.S)
keys += [("secret NAME", k) for k in re.findall(r'streq\(key, "([a-z0-9-]+)"\)', body.group(0))]
assert len(keys) > 40, keys

def section(name):
    try:
        i = page.index("[%s]" % name)
    except ValueError:
        return []
    out = []
    for line in page[i + 1:]:
        if re.match(r"^\S", line):
            break
        out.append(line)
    return out

missing = []
for sec, key in keys:
    # a key is described by a tag line "       key = VALUE" (several may share one)
    tag = re.compile(r"^ {7}(.*, )?%s =" % re.escape(key))
    if not any(tag.match(line) for line in section(sec)):
        missing.append("[%s] %s" % (sec, key))
for m in missing:
    print("cvm-agent.conf(5) does not describe " + m, file=sys.stderr)
print("# %d keys in %d sections" % (len(keys), len({s for s, _ in keys})))
sys.exit(1 if missing else 0)
PY
pass_msg "cvm-agent.conf(5) describes every key agent/config.c reads, in its section"
