#!/bin/bash
# Sourced by sim-release.sh (Key Vault, SNP) and sim-release-mhsm.sh (Managed
# HSM, TDX): `cvm-agent release` against one shared `cvm-sim up`. Expects
# SIM_VAULT and SIM_TEE. Tokens come from the reference guest (tests/sim,
# tpm2-tools) with the agent's transfer key (sim-release-helper.py).
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_cmd swtpm tpm2_startup openssl
[ -x "$PYTHON" ] || skip "$PYTHON not found"
"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography not installed"
: "${CVM_TPM_DRIVER:=$(dirname "$CVM_AGENT")/tests/tpm-driver}"
[ -x "$CVM_TPM_DRIVER" ] || skip "tests/tpm-driver not built"
export CVM_TPM_DRIVER PYTHONDONTWRITEBYTECODE=1
SIMDIR=$CVM_SRCDIR/tests/sim
export CVM_SIM_DIR=$TEST_DIR/sim
HELPER=("$PYTHON" "$SIMDIR/sim-release-helper.py")
"$PYTHON" "$SIMDIR/cvm-sim" up --dir "$CVM_SIM_DIR" --tee "$SIM_TEE" --vault "$SIM_VAULT" >"$TEST_DIR/up.txt" 2>&1 ||
    fail "cvm-sim up failed: $(tail -5 "$TEST_DIR/up.txt")"
on_exit '"$PYTHON" "$SIMDIR/cvm-sim" down --dir "$CVM_SIM_DIR" >/dev/null 2>&1'
head -1 "$TEST_DIR/up.txt"
export CVM_AGENT_CONFIG=$CVM_SIM_DIR/agent.conf
ep() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$CVM_SIM_DIR/endpoints.json" "$1"; }
KEY_URL=$(ep key_url)
KEY_BASE=${KEY_URL%/*}
cd "$TEST_DIR"
"${HELPER[@]}" token token.jwt || fail "the reference guest could not obtain a token"
FAST=(-o http.timeout=2s -o http.attempts=3 -o http.backoff=200ms -o http.deadline=8s)
N=0

# release_ok NAME [ARGS...]: release --out NAME.key into out.NAME/err.NAME, exit 0
release_ok() {
    local name=$1 rc=0
    shift
    N=$((N + 1))
    agent "${FAST[@]}" release --token token.jwt --out "$name.key" --json "$@" >"out.$name" 2>"err.$name" || rc=$?
    [ "$rc" -eq 0 ] || { cat "err.$name" >&2; fail "$name: release exited $rc"; }
    [ -s "$name.key" ] || fail "$name: no key file"
    [ "$(stat -c %a "$name.key")" = 600 ] || fail "$name: key file mode $(stat -c %a "$name.key")"
}
# release_fails NAME RC PATTERN [ARGS...]: exit RC, PATTERN in stderr, no file
release_fails() {
    local name=$1 want=$2 pat=$3 rc=0
    shift 3
    N=$((N + 1))
    agent "${FAST[@]}" release --token token.jwt --out "$name.key" "$@" >"out.$name" 2>"err.$name" || rc=$?
    [ "$rc" -eq "$want" ] || { cat "err.$name" >&2; fail "$name: exited $rc, expected $want"; }
    grep -Eq "$pat" "err.$name" || { cat "err.$name" >&2; fail "$name: stderr does not say /$pat/"; }
    [ ! -e "$name.key" ] || fail "$name: a key file was written"
    ls ./*.key.* 2>/dev/null && fail "$name: a temporary key file was left" || true
}
# public key fingerprint of a written key (DER or PEM)
pub_fp() {
    local inform=DER
    head -c 10 "$1" | grep -q -- '-----' && inform=PEM
    openssl pkey -in "$1" -inform "$inform" -pubout -outform DER | sha256sum | cut -d' ' -f1
}
json_field() { "$PYTHON" -c 'import json,sys
v=json.load(open(sys.argv[1]))
for p in sys.argv[2].split("."): v=v[p]
print(json.dumps(v) if isinstance(v,bool) else v)' "$@"; }
fault() { "$PYTHON" "$SIMDIR/cvm-sim" fault --dir "$CVM_SIM_DIR" "$@" >/dev/null; }
clear_faults() { "$PYTHON" "$SIMDIR/cvm-sim" fault --dir "$CVM_SIM_DIR" all --clear >/dev/null 2>&1 ||
    for s in vault imds maa; do "$PYTHON" "$SIMDIR/cvm-sim" fault --dir "$CVM_SIM_DIR" "$s" --clear >/dev/null; done; }

# --- the default key, its fingerprint equal to the emulator's
release_ok latest
want=$("${HELPER[@]}" fingerprint "$KEY_URL")
[ "$(pub_fp latest.key)" = "$want" ] || fail "released key's public part differs from the emulator's"
[ "$(json_field out.latest key.public_key_sha256)" = "$want" ] || fail "printed fingerprint differs"
[ "$(json_field out.latest key.version)" = "${KEY_URL##*/}" ] || fail "version not reported"
[ "$(json_field out.latest key.enabled)" = true ] && [ "$(json_field out.latest key.exportable)" = true ] ||
    fail "attributes not reported: $(cat out.latest)"
[ "$(json_field out.latest key.vault)" = "$([ "$SIM_VAULT" = mhsm ] && echo managedhsm || echo keyvault)" ] ||
    fail "vault flavour: $(cat out.latest)"
pass_msg "$SIM_VAULT: release --out writes the key (0600); its public part = the emulator's ($want)"
release_ok pem --format pem --enc CKM_RSA_AES_KEY_WRAP
head -1 pem.key | grep -q 'BEGIN PRIVATE KEY' || fail "--format pem did not write PEM"
[ "$(pub_fp pem.key)" = "$want" ] || fail "PEM key differs"
[ "$(json_field out.pem key.enc)" = CKM_RSA_AES_KEY_WRAP ] || fail "enc not reported"
release_ok k384 --enc RSA_AES_KEY_WRAP_384
[ "$(pub_fp k384.key)" = "$want" ] || fail "RSA_AES_KEY_WRAP_384 key differs"
pass_msg "PEM output; enc CKM_RSA_AES_KEY_WRAP (OAEP-SHA-1) and RSA_AES_KEY_WRAP_384 (OAEP-SHA-384) unwrap in the TPM"

# --- without --token: release attests by itself (as `attest`), and reuses the
# [attestation] token-cache token while it fits this VM
attests() { grep -c '"/attest/AzureGuest' "$CVM_SIM_DIR/logs/maa.log" || true; }
before=$(attests)
N=$((N + 1))
agent "${FAST[@]}" -o "attestation.token-cache=$TEST_DIR/token-cache.json" release --out self.key --json \
    >out.self 2>err.self || { cat err.self >&2; fail "release without --token failed"; }
[ "$(pub_fp self.key)" = "$want" ] || fail "self-attested release: another key"
[ "$(attests)" -eq $((before + 1)) ] || fail "release did not attest once ($before -> $(attests))"
N=$((N + 1))
agent "${FAST[@]}" -o "attestation.token-cache=$TEST_DIR/token-cache.json" --log-level=info release \
    --out self2.key >out.self2 2>err.self2 || { cat err.self2 >&2; fail "second release failed"; }
[ "$(attests)" -eq $((before + 1)) ] || fail "the cached token was not reused"
grep -q 'reusing the cached token' err.self2 || fail "no word of the cached token: $(cat err.self2)"
[ "$(pub_fp self2.key)" = "$want" ] || fail "release with the cached token: another key"
pass_msg "without --token: attests once, then reuses the cached token (one AzureGuest request for two releases)"

# --- the bearer token from a file or the environment instead of IMDS
"$PYTHON" "$SIMDIR/cvm-sim" token --dir "$CVM_SIM_DIR" --resource "$(ep vault_resource)" >bearer.txt
N=$((N + 2))
agent "${FAST[@]}" -o identity.source=file -o "identity.token-file=$TEST_DIR/bearer.txt" \
    release --token token.jwt --out file-bearer.key >out.fb 2>err.fb || { cat err.fb >&2; fail "token-file"; }
CVM_AGENT_BEARER_TOKEN=$(cat bearer.txt) agent "${FAST[@]}" -o identity.source=env \
    release --token token.jwt --out env-bearer.key >out.eb 2>err.eb || { cat err.eb >&2; fail "token-env"; }
[ "$(pub_fp file-bearer.key)" = "$want" ] && [ "$(pub_fp env-bearer.key)" = "$want" ] || fail "bearer sources"
grep -F -q -f bearer.txt out.fb err.fb out.eb err.eb && fail "the bearer token was printed"
rc=0
agent "${FAST[@]}" -o identity.source=env release --token token.jwt --out noenv.key >out.noenv 2>err.noenv || rc=$?
[ "$rc" -eq 2 ] && grep -q 'CVM_AGENT_BEARER_TOKEN' err.noenv && [ ! -e noenv.key ] ||
    fail "source = env without the variable: exit $rc, $(cat err.noenv)"
pass_msg "[identity] source = file and env release the same key; the bearer is never printed"

# --- versions: a rotated key; the older version by name, the unversioned URL = latest
NEW=$("${HELPER[@]}" rotate)
release_ok old --key "$KEY_URL"
release_ok new --key "$NEW"
release_ok unversioned --key "$KEY_BASE"
[ "$(pub_fp old.key)" = "$want" ] || fail "the older version released another key"
[ "$(pub_fp new.key)" = "$("${HELPER[@]}" fingerprint "$NEW")" ] || fail "the new version differs"
[ "$(pub_fp unversioned.key)" = "$(pub_fp new.key)" ] || fail "the unversioned URL did not release the latest"
[ "$(pub_fp new.key)" != "$want" ] || fail "rotation did not change the key"
pass_msg "a named older version, the new version and the latest (unversioned URL) each release their own key"

if [ "$SIM_VAULT" = mhsm ]; then
    OCT=$("${HELPER[@]}" create oct-key "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"$(ep maa)\",\"allOf\":[{\"claim\":\"x-ms-attestation-type\",\"equals\":\"azurevm\"}]}]}" oct-HSM 256)
    release_ok oct --key "$OCT"
    [ "$(stat -c %s oct.key)" = 32 ] || fail "oct-HSM 256: $(stat -c %s oct.key) bytes written"
    [ "$(json_field out.oct key.format)" = raw ] || fail "oct format: $(cat out.oct)"
    pass_msg "Managed HSM oct-HSM key: the raw 32 bytes are written"
fi

# --- refusals by the vault (exit 1, the service's words)
"${HELPER[@]}" disable "$NEW"
release_fails disabled 1 'KeyDisabled|disabled' --key "$NEW"
release_fails unknown-version 1 'KeyNotFound|not found' --key "$KEY_BASE/0123456789abcdef0123456789abcdef"
fault vault revoked_key
release_fails revoked 1 'HTTP 403 Forbidden/KeyDisabled' --key "$KEY_URL"
clear_faults
pass_msg "disabled version, unknown version, 403 KeyDisabled on release: exit 1 with the vault's code and message"
PNAME=strict-policy
MAA=$(ep maa)
"${HELPER[@]}" create "$PNAME" "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"$MAA\",\"allOf\":[{\"claim\":\"x-ms-attestation-type\",\"equals\":\"azurevm\"},{\"claim\":\"x-ms-isolation-tee.x-ms-compliance-status\",\"equals\":\"some-other-status\"}]}]}" >/dev/null
release_fails policy 1 'release policy is not met.*x-ms-isolation-tee.x-ms-compliance-status' --key "$(ep vault)/keys/$PNAME"
pass_msg "a key whose policy the token does not meet: exit 1 naming the claim, nothing asked of release"

# --- the release response
fault vault wrong_signature
release_fails wrong-signature 1 'does not verify.*signature'
clear_faults
fault vault wrong_transfer_key
release_fails wrong-transfer-key 1 'cannot unwrap'
clear_faults
fault vault malformed "path=/keys/$(ep key_name)/${KEY_URL##*/}/release"
# a garbled answer is no "no" from the vault: transient, as a garbled MAA or IMDS answer
release_fails malformed 3 'release answer is unusable.*neither'
clear_faults
pass_msg "a wrongly signed or wrongly wrapped release answer: exit 1; a garbled one: exit 3; nothing written"

# --- transport: retried, then exit 3
fault vault throttle retry_after=1 count=1
release_ok throttled-once
fault vault throttle retry_after=1
release_fails throttled 3 '429'
clear_faults
fault vault server_error status=503
release_fails unavailable 3 '503'
clear_faults
fault vault slow seconds=4
release_fails slow 3 'timed out|Timeout|timeout'
clear_faults
fault vault down
release_fails down 3 'refused|Could not connect|Couldn'
clear_faults
pass_msg "vault 429 once is retried (Retry-After); 429, 503, slow, down: exit 3"

# --- identity
fault imds no_identity
release_fails no-identity 1 'Identity not found'
clear_faults
fault imds expired_token
release_fails expired-bearer 1 'HTTP 401'
clear_faults
fault imds malformed
release_fails imds-malformed 3 'malformed'
clear_faults
fault imds down
release_fails imds-down 3 'IMDS .* is unreachable'
clear_faults
fault imds throttle retry_after=1
release_fails imds-throttled 3 'IMDS .* is unreachable.*429|429'
clear_faults
pass_msg "no identity, an expired bearer (401), malformed IMDS answer, IMDS down/429: right exit codes and causes"

# --- the token itself
expect_rc 2 agent -o attestation.protocol=sevsnpvm release --out x.key --key "$KEY_URL"
printf 'not.a.token' >bad.jwt
expect_rc 1 agent release --token bad.jwt --out x.key
[ ! -e x.key ] || fail "a key file was written without a token"
pass_msg "a platform-protocol token (no transfer key): exit 2; a malformed token: exit 1"

# --- nothing printed or logged holds the key material
for k in latest pem k384 self self2 file-bearer env-bearer old new unversioned throttled-once oct; do
    [ -e "$k.key" ] || continue
    "${HELPER[@]}" forms "$k.key" >>forms.txt
done
# the patterns are real: they find the key in its own file's hex and base64
{ xxd -p latest.key | tr -d '\n'; echo; base64 -w0 latest.key; echo; } >control.txt
[ "$(grep -F -c -f forms.txt control.txt)" -ge 2 ] || fail "the leak patterns do not match the key itself"
logs=(out.* err.* "$CVM_SIM_DIR"/logs/*)
if grep -F -f forms.txt -l "${logs[@]}" 2>/dev/null; then
    fail "key material (hex, base64 or base64url) found in the output or logs above"
fi
pass_msg "$N runs: no hex, base64 or base64url form of a released key in stdout, stderr or the sim logs ($(wc -l <forms.txt) patterns)"
