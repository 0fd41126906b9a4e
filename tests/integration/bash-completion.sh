#!/bin/bash
# The bash completion offers every command of `cvm-agent --help` and every option of
# `cvm-agent -h COMMAND` (read here independently of dist/bash-completion/gen.sh), files and
# directories for the options that take them, and the values of the fixed-choice options,
# each of which the help names. A completion made from a program with one more command and
# option offers them too: it follows the help, it is not a list kept by hand.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
bc_main=/usr/share/bash-completion/bash_completion
[ -f "$bc_main" ] || skip "bash-completion not installed (apt-get install bash-completion)"

completion="$CVM_BUILDDIR/dist/bash-completion/cvm-agent"
[ -f "$completion" ] || fail "$completion not built (make dist/bash-completion/cvm-agent)"
if command -v shellcheck >/dev/null; then
    shellcheck -s bash -S warning "$completion" || fail "shellcheck finds fault with $completion"
fi

# The completions for a command line whose last word is being completed, one per line.
complete_line() { # completion-file words...
    local file=$1
    shift
    (
        cd "$TEST_DIR/cwd"
        set +eu
        # shellcheck disable=SC1090
        . "$bc_main"
        # shellcheck disable=SC1090
        . "$file"
        COMP_WORDS=("$@")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        _cvm_agent cvm-agent "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf '%s\n' "${COMPREPLY[@]}"
    )
}
mkdir -p "$TEST_DIR/cwd/evidence-dir"
touch "$TEST_DIR/cwd/report.bin"

# the help's words, read with a different pattern than gen.sh's
help_commands() { sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 && /^  [a-z]/ {print $1}'; }
help_options() {
    grep -E '^ +-' | sed -E 's/^ +//; s/  .*//' | grep -oE -- '(^|, )--?[A-Za-z0-9][a-z0-9-]*' |
        sed 's/^, //' | sort -u
}

mapfile -t commands < <("$CVM_AGENT" --help | help_commands)
[ ${#commands[@]} -ge 4 ] || fail "found only ${#commands[@]} commands in --help"
got=$(complete_line "$completion" cvm-agent "" | sort)
[ "$got" = "$(printf '%s\n' "${commands[@]}" | sort)" ] ||
    fail "commands completed: $got; --help lists: ${commands[*]}"

checked=0
for c in "${commands[@]}"; do
    got=$(complete_line "$completion" cvm-agent -c /dev/null "$c" - | sort)
    want=$("$CVM_AGENT" -h "$c" | help_options)
    [ "$got" = "$want" ] || fail "options of '$c': completed
$got
but -h $c lists
$want"
    checked=$((checked + $(wc -l <<<"$want")))
done
got=$(complete_line "$completion" cvm-agent --l | sort)
[ "$got" = "--log-level" ] || fail "cvm-agent --l completes to '$got'"

# arguments: files, directories, choices
got=$(complete_line "$completion" cvm-agent verify --snp-report "")
grep -qx report.bin <<<"$got" || fail "--snp-report does not complete a file: $got"
got=$(complete_line "$completion" cvm-agent evidence --out-dir "")
[ "$got" = evidence-dir ] || fail "--out-dir completes '$got', not only the directory"
got=$(complete_line "$completion" cvm-agent verify --nonce "")
[ -z "$got" ] || fail "--nonce HEX completes '$got'"
for spec in "--log-level:" "--source:report"; do
    opt=${spec%%:*} cmd=${spec#*:}
    if [ -n "$cmd" ]; then
        help=$("$CVM_AGENT" -h "$cmd")
        mapfile -t values < <(complete_line "$completion" cvm-agent "$cmd" "$opt" "")
    else
        help=$("$CVM_AGENT" --help)
        mapfile -t values < <(complete_line "$completion" cvm-agent "$opt" "")
    fi
    [ ${#values[@]} -ge 3 ] || fail "$opt completes ${#values[@]} values"
    for v in "${values[@]}"; do
        grep -qw -- "$v" <<<"$help" || fail "$opt completes '$v', which its help does not name"
    done
done

# follows the help: a program with one more command and option is completed with them
fake="$TEST_DIR/fake-agent"
cat >"$fake" <<EOF
#!/bin/bash
if [ "\$1" = --help ]; then
    "$CVM_AGENT" --help | sed 's/^Commands:/&\n  frobnicate   frob a thing/'
elif [ "\$2" = frobnicate ]; then
    printf 'Usage: x\n\nOptions:\n      --frob-file FILE   a file\n  -h, --help  this help\n'
else
    exec "$CVM_AGENT" "\$@"
fi
EOF
chmod +x "$fake"
bash "$CVM_SRCDIR/dist/bash-completion/gen.sh" "$fake" >"$TEST_DIR/fake-completion" ||
    fail "gen.sh failed on the extended help"
got=$(complete_line "$TEST_DIR/fake-completion" cvm-agent fr)
[ "$got" = frobnicate ] || fail "a new command was not completed: '$got'"
got=$(complete_line "$TEST_DIR/fake-completion" cvm-agent frobnicate --f)
[ "$got" = --frob-file ] || fail "a new option was not completed: '$got'"
got=$(complete_line "$TEST_DIR/fake-completion" cvm-agent frobnicate --frob-file "")
grep -qx report.bin <<<"$got" || fail "the new option's FILE is not completed: '$got'"

pass_msg "${#commands[@]} commands and $checked options as the help lists them; new ones follow the help"
