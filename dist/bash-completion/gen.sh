#!/bin/bash
# Writes the bash completion of cvm-agent on stdout, read from the program's own help:
# `cvm-agent --help` gives the global options and the commands, `cvm-agent -h COMMAND` each
# command's options. Generated at build time, so a command or option added to the program is
# completed without anyone editing this. Usage: gen.sh PATH/TO/cvm-agent
set -euo pipefail

agent=${1:?usage: gen.sh PATH/TO/cvm-agent}

# Values of the options that take one of a fixed set; tests/integration/bash-completion.sh
# checks that every value is named in that option's help.
declare -A choices=(
    [--log-level]="error warning notice info debug"
    [--source]="configfs sev-guest vtpm tdx-guest tdx-configfs azure-tdx"
)

help=$("$agent" --help)
mapfile -t commands < <(sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z0-9-]*\)  .*/\1/p' <<<"$help")
[ ${#commands[@]} -gt 0 ] || {
    echo "gen.sh: no commands in '$agent --help'" >&2
    exit 1
}

# The option lines of a help text as "NAME ARG" (ARG empty for a flag), short and long names
# each on their own line: "  -c, --config FILE   text" gives "-c FILE" and "--config FILE".
options_of() {
    sed -nE 's/^ {2,}(-[A-Za-z0-9])(, (--[a-z0-9-]+))?( ([^ ]+))?( .*)?$/\1 \5\n\3 \5/p;
             s/^ {2,}(--[a-z0-9-]+)( ([^ ]+))?( .*)?$/\1 \3/p' | sed -E '/^ /d; s/ +$//'
}

# one case branch: "PATTERN) ACTION", none when no option takes that kind of argument
branch() { # indent, action, names...
    local indent=$1 action=$2 IFS='|'
    shift 2
    [ $# -eq 0 ] || echo "$indent$*) $action ;;"
}

# The completion of an option's argument, from the placeholder the help prints. An optional
# argument ("-h [COMMAND]") is left to the caller.
argument_cases() { # indent; lines of "NAME ARG" on stdin
    local indent=$1 name arg files=() dirs=() others=()
    declare -A seen=()
    while read -r name arg; do
        if [ -z "$arg" ] || [ "${arg#[}" != "$arg" ] || [ -n "${seen[$name]:-}" ]; then
            continue
        fi
        seen[$name]=1
        if [ -n "${choices[$name]:-}" ]; then
            branch "$indent" "_cvm_agent_words '${choices[$name]}'; return" "$name"
            continue
        fi
        case $arg in
            F | FILE | PEM) files+=("$name") ;;
            DIR) dirs+=("$name") ;;
            *) others+=("$name") ;;
        esac
    done
    branch "$indent" "_filedir; return" "${files[@]+"${files[@]}"}"
    branch "$indent" "_filedir -d; return" "${dirs[@]+"${dirs[@]}"}"
    branch "$indent" "return" "${others[@]+"${others[@]}"}"
}

global=$(options_of <<<"$help" | sort -u)
mapfile -t global_names < <(awk '{print $1}' <<<"$global" | sort -u)
mapfile -t global_with_arg < <(awk 'NF == 2 {print $1}' <<<"$global")

cat <<EOF
# bash completion for cvm-agent(8)
# Generated from 'cvm-agent --help' and 'cvm-agent -h COMMAND' by dist/bash-completion/gen.sh:
# do not edit, rebuild.

# the words of \$1 that complete \$cur
_cvm_agent_words() {
    mapfile -t COMPREPLY < <(compgen -W "\$1" -- "\$cur")
}

_cvm_agent() {
    local cur prev words cword split
    _init_completion -s || return

    # the command is the first word that is neither an option nor a global option's argument
    local i command=""
    for ((i = 1; i < cword; i++)); do
        case \${words[i]} in
$(branch "            " "((i++))" "${global_with_arg[@]}")
            -*) ;;
            *)
                command=\${words[i]}
                break
                ;;
        esac
    done

    if [ -z "\$command" ]; then
        case \$prev in
            -h | --help)
                _cvm_agent_words '${commands[*]}'
                return
                ;;
$(argument_cases "            " <<<"$global")
        esac
        \$split && return
        if [[ \$cur == -* ]]; then
            _cvm_agent_words '${global_names[*]}'
        else
            _cvm_agent_words '${commands[*]}'
        fi
        return
    fi

    local options=""
    case \$command in
EOF
for c in "${commands[@]}"; do
    opts=$("$agent" -h "$c" | options_of | sort -u)
    mapfile -t names < <(awk '{print $1}' <<<"$opts" | sort -u)
    cat <<EOF
        $c)
            case \$prev in
$(argument_cases "                " <<<"$opts")
            esac
            options='${names[*]}'
            ;;
EOF
done
cat <<'EOF'
        *) return ;;
    esac
    $split && return
    if [[ $cur == -* ]]; then
        _cvm_agent_words "$options"
    fi
} &&
    complete -F _cvm_agent cvm-agent
EOF
