#!/bin/bash
# cvm-sim up starts a provisioned swtpm and every endpoint on loopback ports
# and writes agent.conf / env / endpoints.json that work; cvm-sim down leaves
# no process and no listening port behind (checked with ss and the PIDs).
# In between, tests/sim/test_e2e.py runs a full attest + key release against it.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_cmd swtpm tpm2_nvreadpublic tpm2_nvread openssl ss
"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography missing for $PYTHON"
for f in pki.py signers.py maa.py vtpm-provision.sh; do
    [ -e "$CVM_SRCDIR/tests/sim/$f" ] || skip "tests/sim/$f (simcore) not present"
done
export PYTHONDONTWRITEBYTECODE=1
SIMCTL="$CVM_SRCDIR/tests/sim/cvm-sim"
SIM="$TEST_DIR/sim"
on_exit "'$SIMCTL' down --dir '$SIM' >/dev/null 2>&1"

json() { "$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print(" ".join(map(str, d.values())) if isinstance(d, dict) else d)' "$SIM/endpoints.json" "$1"; }
port_of() { local u=${1#*://}; u=${u%%/*}; echo "${u##*:}"; }
listening() { [ -n "$(ss -ltnH "sport = :$1" 2>/dev/null)" ]; }
# gone PID: no such process, or a zombie waiting for init to reap it
gone() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

for tee in snp tdx; do
    start=$(date +%s%N)
    "$SIMCTL" up --dir "$SIM" --tee "$tee" || fail "cvm-sim up --tee $tee failed"
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    echo "# cvm-sim up --tee $tee took $ms ms ($(tr -d ' \n' <"$SIM/run/startup.json"))"

    pids=$(json pids)
    ports=""
    for s in maa vault imds kds; do ports+=" $(port_of "$(json "$s")")"; done
    tcti=$(json tcti)
    ports+=" ${tcti##*port=}"
    [ "$(wc -w <<<"$pids")" -eq 5 ] || fail "expected 5 processes (swtpm + 4 services), got: $pids"
    for pid in $pids; do kill -0 "$pid" 2>/dev/null || fail "recorded pid $pid is not running"; done
    for p in $ports; do
        owner=$(ss -ltnpH "sport = :$p" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
        [ -n "$owner" ] || fail "nothing listens on port $p"
        grep -qw "$owner" <<<"$pids" || fail "port $p is held by pid $owner, not by cvm-sim"
    done
    pass_msg "up ($tee): 5 processes, ports$ports listening"

    # the files work: the agent reads agent.conf and, verifying this VM's HCL
    # report with the test anchors, says so on stderr even with -q
    # shellcheck disable=SC1091
    (. "$SIM/env"
     [ "$CVM_AGENT_TCTI" = "$tcti" ] || fail "env: CVM_AGENT_TCTI '$CVM_AGENT_TCTI' != '$tcti'"
     out=$(agent -q report --source vtpm --verify --json 2>"$TEST_DIR/report.err") ||
         fail "report --source vtpm --verify ($tee): $(cat "$TEST_DIR/report.err")"
     ! grep -q "agent.conf:" "$TEST_DIR/report.err" || fail "agent.conf rejected: $(cat "$TEST_DIR/report.err")"
     grep -q "trust anchor in use is non-production" "$TEST_DIR/report.err" ||
         fail "the test anchors of $SIM/agent.conf were not announced: $(cat "$TEST_DIR/report.err")"
     "$PYTHON" -c '
import json, sys
o = json.loads(sys.argv[1])
v = o["report"] if sys.argv[2] == "snp" else o["verification"]
assert v["verified"] is True and v["trust_anchor"].startswith("non-production: "), o
assert o["runtime_data_bound"] is True, o
if sys.argv[2] == "snp":
    assert v["vmpl"] == 0, v
' "$out" "$tee" || fail "report --verify ($tee): $out"
     tpm2_nvreadpublic 0x01400001 >/dev/null || fail "no HCL report at NV 0x01400001"
     tpm2_nvread -C o -s 4 0x01400001 | grep -q HCLA || fail "NV 0x01400001 is not an HCL report"
     tpm2_nvreadpublic 0x01C101D0 >/dev/null || fail "no AK certificate at NV 0x01C101D0"
     tpm2_flushcontext -t >/dev/null 2>&1 || true) || exit 1

    "$PYTHON" - "$SIM/endpoints.json" "$tee" <<'PY' || fail "endpoints.json does not lead to working endpoints"
import json, ssl, sys, urllib.request
ep = json.load(open(sys.argv[1]))
ctx = ssl.create_default_context(cafile=ep["ca_bundle"])
def get(url, headers=None, tls=True):
    r = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(r, context=ctx if tls else None, timeout=20) as f:
        return f.status, f.read()
st, b = get(ep["imds"] + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
            + ep["vault_resource"], {"Metadata": "true"}, tls=False)
tok = json.loads(b)["access_token"]
st, b = get(ep["key_url"] + "?api-version=7.4", {"Authorization": "Bearer " + tok})
key = json.loads(b)
assert key["attributes"]["exportable"] and "release_policy" in key, key
pol = json.loads(__import__("base64").urlsafe_b64decode(key["release_policy"]["data"] + "=="))
assert pol["anyOf"][0]["authority"] == ep["maa"], pol
tee = {"snp": "sevsnpvm", "tdx": "tdxvm"}[sys.argv[2]]
assert tee in json.dumps(pol) and "x-ms-attestation-type" in json.dumps(pol), pol
st, b = get(ep["maa"] + "/certs")
assert json.loads(b)["keys"], b
st, b = get(ep["kds"] + "/vcek/v1/Milan/cert_chain")
assert b.startswith(b"-----BEGIN CERTIFICATE-----"), b[:40]
req = urllib.request.Request(ep["key_url"].rsplit("/", 1)[0] + "/rotate?api-version=7.4",
                             method="POST", headers={"Authorization": "Bearer " + ep["admin_token"]})
with urllib.request.urlopen(req, context=ctx, timeout=20) as f:
    assert json.loads(f.read())["key"]["kid"] != ep["key_url"]
PY
    pass_msg "agent.conf, env and endpoints.json ($tee) lead to working endpoints"

    # end to end without the agent: guest.py (tpm2-tools) attests to the sim MAA,
    # unseals in the TPM, releases the key, unwraps key_hsm in the TPM + openssl
    CVM_SIM_DIR="$SIM" "$PYTHON" "$CVM_SRCDIR/tests/sim/test_e2e.py" -v 2>&1 ||
        fail "end-to-end attest/release/unwrap ($tee) failed"
    pass_msg "end to end ($tee): attest, unseal, release, unwrap in the TPM"

    # fault control through the command (down = port closed, then back)
    vport=$(port_of "$(json vault)")
    "$SIMCTL" fault --dir "$SIM" vault down >/dev/null
    ! listening "$vport" || fail "vault still listening after 'fault vault down'"
    "$SIMCTL" fault --dir "$SIM" vault --clear down >/dev/null
    listening "$vport" || fail "vault not back after clearing 'down'"
    pass_msg "cvm-sim fault down / --clear"

    "$SIMCTL" down --dir "$SIM" || fail "cvm-sim down failed"
    for pid in $pids; do
        gone "$pid" || fail "pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline")) survived cvm-sim down"
    done
    for p in $ports; do
        ! listening "$p" || fail "port $p still listening after cvm-sim down"
    done
    left=$(pgrep -f -- "$SIM" || true)
    [ -z "$left" ] || fail "processes mentioning $SIM survived: $left"
    pass_msg "down ($tee): no process, no port left"
done
