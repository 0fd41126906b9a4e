#!/bin/bash
# The command-line contract: help, exit codes, configuration errors.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

out=$(agent --help) || fail "--help exited non-zero"
grep -q "^Usage: cvm-agent" <<<"$out" || fail "--help prints no usage"
grep -q "verify" <<<"$out" || fail "--help does not list verify"
pass_msg "--help"

agent --version | grep -q "^cvm-agent [0-9]" || fail "--version"
# captured first: grep -q stops reading early, and a help longer than the
# pipe buffer would then end in SIGPIPE (a failure under pipefail)
grep -q "Usage: cvm-agent verify" <<<"$(agent -h verify)" || fail "-h verify"
grep -q "Usage: cvm-agent verify" <<<"$(agent help verify)" || fail "help verify"
grep -q "Usage: cvm-agent verify" <<<"$(agent verify -h)" || fail "verify -h"
grep -q "Usage: cvm-agent release" <<<"$(agent release -h)" || fail "release -h"
for cmd in "" report verify release; do
    # shellcheck disable=SC2086 # "" is the global help
    dup=$(agent -h $cmd | grep -E '^ +-' | sort | uniq -d)
    [ -z "$dup" ] || fail "help of '${cmd:-cvm-agent}' lists an option twice: $dup"
done
# verify's help states the rule of cvm-agent(8), documents exit 3 (it fetches
# from AMD KDS by default), and names only options that exist
vh=$(agent -h verify)
rule="every piece of evidence named on the command line was authenticated to a pinned root"
tr -s ' \n' '  ' <<<"$vh" | grep -q "$rule" || fail "-h verify does not state what verified means"
grep -q "3 transient" <<<"$vh" || fail "-h verify does not document exit 3"
! grep -qi "offline" <<<"$vh" || fail "-h verify says offline, but it fetches from AMD KDS"
tr -s ' \n' '  ' <"$CVM_SRCDIR/man/cvm-agent.8.md" | grep -q "$rule" || fail "cvm-agent(8) does not state the rule"
for opt in $(grep -oE -- '--[a-z][a-z-]+' <<<"$vh" | sort -u); do
    err=$(agent verify "$opt" x 2>&1 >/dev/null || true)
    ! grep -q "unrecognized option" <<<"$err" || fail "-h verify names $opt, which verify does not take: $err"
done
pass_msg "help per command"

err=$(agent --no-such-option 2>&1 >/dev/null) && fail "unknown option accepted"
expect_rc 2 agent --no-such-option
grep -q "no-such-option" <<<"$err" || fail "unknown option not named: $err"
expect_rc 2 agent no-such-command
expect_rc 2 agent -h no-such-command
expect_rc 2 agent
expect_rc 2 agent verify --no-such-option
expect_rc 2 agent verify
expect_rc 2 agent verify --at yesterday --snp-report /dev/null
# the token and release options exist now (this loop expected them refused)
for opt in --token --release-response --release-policy; do
    err=$(agent verify --snp-report /dev/null "$opt" x 2>&1 >/dev/null) && fail "$opt accepted"
    ! grep -q -- "not supported by this build" <<<"$err" || fail "$opt: $err"
done
expect_rc 2 agent verify --release-policy /dev/null
expect_rc 2 agent verify --release-response /dev/null --jwks x
expect_rc 2 agent verify --snp-report /dev/null --tdx-quote /dev/null
expect_rc 2 agent verify --tdreport /dev/null --vmpl 0
expect_rc 2 agent verify --td-quote /dev/null
expect_rc 2 agent verify --tdx-quote /dev/null --tpm-quote /dev/null --event-log /dev/null
pass_msg "usage errors exit 2"

conf="$TEST_DIR/agent.conf"
printf '[agent]\ntcti = swtpm:port=1\n\n[http]\nno-such-key = 1\n' >"$conf"
err=$(agent -c "$conf" verify 2>&1) && fail "unknown config key accepted"
expect_rc 2 agent -c "$conf" verify
grep -q "$conf:5: unknown key 'no-such-key' in section '\[http\]'" <<<"$err" ||
    fail "unknown key not named with file:line: $err"
printf '[nosuch]\nkey = 1\n' >"$conf"
err=$(agent -c "$conf" verify 2>&1) && fail "unknown section accepted"
grep -q "$conf:2: unknown section" <<<"$err" || fail "unknown section not named: $err"
printf '[http]\ntimeout = soon\n' >"$conf"
err=$(agent -c "$conf" verify 2>&1) && fail "bad duration accepted"
grep -q "$conf:2: 'http.timeout' wants a duration" <<<"$err" || fail "bad value not named: $err"
expect_rc 2 agent -c "$TEST_DIR/missing.conf" verify
CVM_AGENT_CONFIG="$TEST_DIR/missing.conf" expect_rc 2 agent verify
expect_rc 2 agent -o http.nokey=1 verify
expect_rc 2 agent -o garbage verify
expect_rc 2 agent --log-level=loud verify
pass_msg "configuration errors exit 2 and name file:line"

# journal prefixes when run under systemd
err=$(JOURNAL_STREAM=8:1234 agent no-such-command 2>&1 >/dev/null || true)
grep -q "^<3>unknown command" <<<"$err" || fail "no <3> prefix under JOURNAL_STREAM: $err"
err=$(agent no-such-command 2>&1 >/dev/null || true)
grep -q "^cvm-agent: error: unknown command" <<<"$err" || fail "plain prefix missing: $err"
pass_msg "log prefixes"
