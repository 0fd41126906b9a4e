#!/bin/bash
# The secret store (store/) on a private swtpm with a fake key provider
# (tests/store-driver.c: one RSA or oct key file per CMK version):
#  seal/open round trip; rotation (status behind, rewrap, same bytes, old
#  version no longer needed, idempotent; RSA -> oct); PCR change with and
#  without a successful attestation; 2-of-2 (no vault; another vTPM);
#  SIGKILL after every rewrap step; a full file system during envelope
#  writes; a vTPM that lost its state (NonPersistedTPM) while cmk-only opens.
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$CVM_SRCDIR/tests/integration/tpm-lib.sh"
STORE_DRIVER="$CVM_BUILDDIR/tests/store-driver"
[ -x "$STORE_DRIVER" ] || { echo "store-driver not built ('$STORE_DRIVER')" >&2; exit 99; }
vtpm_start
cd "$TEST_DIR"
KEYS=$TEST_DIR/vault
STATE=$TEST_DIR/state
mkdir -p "$KEYS"
sd() { "$STORE_DRIVER" --state "$STATE" --keys "$KEYS" "$@"; }
new_version() { # new_version NAME [oct]: the vault gets a newer key version
    if [ "${2:-}" = oct ]; then head -c 32 /dev/urandom >"$KEYS/$1.oct"; else
        openssl genrsa -out "$KEYS/$1.pem" 2048 2>/dev/null; fi
    echo "$1" >"$KEYS/newest"
}
field() { # field KEY "status line"
    sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"
}
opens_same() { # opens_same NAME EXPECTED-FILE [more driver options]
    local name=$1 want=$2
    shift 2
    rm -f out.bin
    sd open --name "$name" --out out.bin "$@" >open.out || fail "open '$name' failed"
    cmp -s "$want" out.bin || fail "open '$name' returned other bytes"
}
env_of() { echo "$STATE/secrets/$1.json"; }

# --- seal and open
new_version v1
head -c 1000 /dev/urandom >disk.secret
sd seal --name disk --in disk.secret --pcrs sha256:0,7 || fail "seal failed"
[ "$(stat -c %a "$(env_of disk)")" = 600 ] || fail "envelope mode is not 0600"
[ "$(stat -c %a "$STATE/secrets")" = 700 ] || fail "secrets directory mode is not 0700"
opens_same disk disk.secret
grep -q 'version=v1' open.out ||
    fail "open did not report version v1: $(cat open.out)"
no_leaks "seal/open"
pass_msg "seal then open returns the same 1000 bytes (envelope 0600, directory 0700)"

expect_rc 2 sd seal --name disk --in disk.secret
opens_same disk disk.secret
head -c 4097 /dev/urandom >big.secret
expect_rc 2 sd seal --name big --in big.secret
expect_rc 2 sd seal --name ../evil --in disk.secret
sd seal --name gen --len 32 --ephemeral || fail "seal of a generated secret failed"
sd open --name gen --out gen.out >/dev/null || fail "open of the generated secret failed"
[ "$(stat -c %s gen.out)" = 32 ] || fail "generated secret is not 32 bytes"
st=$(sd status --name gen)
[ "$(field ephemeral "$st")" = yes ] || fail "status does not say ephemeral: $st"
head -c 4096 /dev/urandom >max.secret
sd seal --name nvm --in max.secret --cmk-only || fail "seal --cmk-only failed"
opens_same nvm max.secret
grep -q '"tpm"' "$(env_of nvm)" && fail "a cmk-only envelope has a tpm member"
touch "$STATE/secrets/disk.json.tmp.AbC123" "$STATE/secrets/notes.txt"
[ "$(sd list | tr '\n' ' ')" = "disk gen nvm " ] || fail "list: $(sd list)"
rm -f "$STATE/secrets/disk.json.tmp.AbC123" "$STATE/secrets/notes.txt"
pass_msg "no overwrite without force; 4096 bytes max; names checked; generated, ephemeral and cmk-only secrets; list"

# --- rotation
new_version v2
st=$(sd status --name disk)
[ "$(field key_version "$st")/$(field newest "$st")/$(field behind "$st")" = v1/v2/yes ] ||
    fail "status does not say behind: $st"
expect_rc 0 sd rewrap --name disk >rw.out
grep -q changed=yes rw.out || fail "rewrap did not change the envelope"
st=$(sd status --name disk)
[ "$(field key_version "$st")/$(field behind "$st")/$(field rewrap_pending "$st")" = v2/no/no ] ||
    fail "status after rewrap: $st"
sd rewrap --name nvm >/dev/null || fail "rewrap of the cmk-only secret failed"
mv "$KEYS/v1.pem" "$KEYS/v1.pem.disabled"
opens_same disk disk.secret
opens_same nvm max.secret
grep -q 'version=v2' open.out || fail "open did not use v2: $(cat open.out)"
sd rewrap --name disk >rw2.out || fail "second rewrap failed"
grep -q changed=no rw2.out || fail "rewrap of a current secret is not a no-op"
pass_msg "after a new version: status behind, rewrap moves it, same bytes without the old version, idempotent"

new_version v3 oct
sd rewrap --name disk >/dev/null || fail "rewrap to an oct key failed"
grep -q '"wrap":[[:space:]]*"A256KWP"' "$(env_of disk)" || fail "the envelope is not wrapped with A256KWP"
opens_same disk disk.secret
pass_msg "rewrap from an RSA version to an oct (AES-KWP) version"

# --- PCR change
echo -n "kernel update" >ev
driver pcr-extend --pcrs sha256:7 --in ev || fail "pcr-extend failed"
cp "$(env_of disk)" before.json
expect_rc 1 sd open --name disk --out refused.bin
[ ! -e refused.bin ] || fail "a refused open wrote the secret"
cmp -s before.json "$(env_of disk)" || fail "a refused open changed the envelope"
st=$(sd status --name disk)
[ "$(field approval "$st")/$(field changed "$st")" = stale/7 ] || fail "status after extend: $st"
opens_same disk disk.secret --attested
grep -q 'reauthorized=yes changed=7' open.out || fail "no re-authorization reported: $(cat open.out)"
sig() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["tpm"]["approval"]["signature"])' "$1"; }
[ "$(sig before.json)" != "$(sig "$(env_of disk)")" ] || fail "the stored approval did not change"
opens_same disk disk.secret
grep -q 'reauthorized=no' open.out || fail "a second open re-authorized again"
no_leaks "re-authorization"
pass_msg "PCR extend: refused without attestation (envelope byte-identical), re-authorized with it"

# --- tampering
"$PYTHON" - "$(env_of disk)" tampered.json <<'PY'
import base64, json, sys
e = json.load(open(sys.argv[1]))
ct = bytearray(base64.b64decode(e["ciphertext"])); ct[20] ^= 1
e["ciphertext"] = base64.b64encode(bytes(ct)).decode()
json.dump(e, open(sys.argv[2], "w"))
PY
cp "$(env_of disk)" good.json
cp tampered.json "$(env_of disk)"
expect_rc 1 sd open --name disk --out x.bin
cp good.json "$(env_of disk)"
pass_msg "an altered ciphertext is refused"

# --- 2-of-2, vault side: the envelope and this vTPM without the vault
mv "$KEYS" "$KEYS.away"
expect_rc 3 sd open --name disk --out x.bin
[ ! -e x.bin ] || fail "opened without the vault"
mv "$KEYS.away" "$KEYS"
pass_msg "the envelope plus the vTPM cannot open the secret without the vault"

# --- crash safety of rewrap: SIGKILL after each step, then rerun
v=3
for step in 1 2 3 4; do
    v=$((v + 1))
    new_version "v$v"
    rc=0
    CVM_STORE_DRIVER_KILL_AT=$step sd rewrap --name disk >/dev/null 2>kill.err || rc=$?
    [ "$rc" -eq 137 ] || fail "rewrap was not killed after step $step (rc $rc)"
    no_leaks "rewrap killed after step $step"
    opens_same disk disk.secret
    ! compgen -G "$STATE/secrets/*.tmp.*" >/dev/null || fail "a temporary file was left after step $step"
    if [ "$step" = 2 ]; then
        # written with the previous version kept: it opens even while the
        # new version cannot be used yet
        mv "$KEYS/v$v.pem" "$KEYS/v$v.hidden"
        opens_same disk disk.secret
        grep -q "version=v$((v - 1))" open.out || fail "did not fall back to the previous version"
        mv "$KEYS/v$v.hidden" "$KEYS/v$v.pem"
    fi
    sd rewrap --name disk >/dev/null || fail "rewrap after a kill at step $step failed"
    st=$(sd status --name disk)
    [ "$(field key_version "$st")/$(field rewrap_pending "$st")" = "v$v/no" ] ||
        fail "after a kill at step $step and a rerun: $st"
    opens_same disk disk.secret
done
pass_msg "SIGKILL after each of the 4 rewrap steps: opens every time, a rerun finishes on the new version"

# --- operations that write envelopes wait for each other (flock on the directory)
flock "$STATE/secrets" sleep 3 &
holder=$!
sleep 0.5
rc=0
timeout 1 "$STORE_DRIVER" --state "$STATE" --keys "$KEYS" rewrap --name disk >/dev/null 2>&1 || rc=$?
[ "$rc" = 124 ] || fail "rewrap did not wait for the store lock (rc $rc)"
wait "$holder"
sd rewrap --name disk >/dev/null || fail "rewrap after the lock was released failed"
pass_msg "rewrap waits while another process holds the store lock"

# --- a full file system during the envelope writes
if [ "$(id -u)" = 0 ] && mkdir -p "$TEST_DIR/small" &&
    mount -t tmpfs -o size=256k tmpfs "$TEST_DIR/small" 2>/dev/null; then
    on_exit "umount '$TEST_DIR/small'"
    SMALL=$TEST_DIR/small/state
    ssd() { "$STORE_DRIVER" --state "$SMALL" --keys "$KEYS" "$@"; }
    ssd seal --name full --in disk.secret || fail "seal on the small file system failed"
    dd if=/dev/zero of="$TEST_DIR/small/fill" bs=4k 2>/dev/null || true
    cp "$SMALL/secrets/full.json" full.before
    new_version v20
    expect_rc 4 ssd rewrap --name full
    cmp -s full.before "$SMALL/secrets/full.json" || fail "a failed rewrap changed the envelope"
    ! compgen -G "$SMALL/secrets/*.tmp.*" >/dev/null || fail "a full disk left a temporary file"
    "$STORE_DRIVER" --state "$SMALL" --keys "$KEYS" open --name full --out full.bin >/dev/null ||
        fail "the secret does not open after a failed rewrap"
    cmp -s disk.secret full.bin || fail "other bytes after a failed rewrap"
    driver pcr-extend --pcrs sha256:7 --in ev || fail "pcr-extend failed"
    ssd open --name full --out full2.bin --attested >/dev/null 2>full.err ||
        fail "re-authorization on a full disk did not return the secret"
    cmp -s disk.secret full2.bin || fail "other bytes after re-authorization on a full disk"
    grep -q 're-authorized.*cannot write envelope' full.err || fail "no warning: $(cat full.err)"
    cmp -s full.before "$SMALL/secrets/full.json" || fail "a failed approval write changed the envelope"
    rm -f "$TEST_DIR/small/fill"
    ssd rewrap --name full >/dev/null || fail "rewrap after freeing space failed"
    ssd open --name full --out full3.bin --attested >/dev/null || fail "open after freeing space failed"
    cmp -s disk.secret full3.bin || fail "other bytes after freeing space"
    [ "$(field key_version "$(ssd status --name full)")" = v20 ] || fail "not on v20 after freeing space"
    pass_msg "a full file system: rewrap and approval writes fail, the envelope is intact and opens"
else
    echo "# skipped the full-file-system part: mounting a tmpfs needs root"
fi

# --- the vTPM loses its state (NonPersistedTPM); the vault keys with another vTPM
cp "$(env_of disk)" disk.before
swtpm_stop
rm -rf "$TEST_DIR/swtpm" "$VTPM"
vtpm_start
rc=0
sd open --name disk --out x.bin 2>nonpersist.err || rc=$?
[ "$rc" = 4 ] || fail "open after the vTPM lost its state exited $rc, expected 4"
grep -q NonPersistedTPM nonpersist.err || fail "no NonPersistedTPM message: $(cat nonpersist.err)"
grep -q 'cmk-only' nonpersist.err || fail "the message does not point to cmk-only"
st=$(sd status --name disk)
[ "$(field srk "$st")" = changed ] || fail "status does not report the SRK change: $st"
cmp -s disk.before "$(env_of disk)" || fail "a refused open changed the envelope"
opens_same nvm max.secret
opens_same nvm max.secret --no-tpm
expect_rc 2 sd --no-tpm open --name disk --out x.bin
pass_msg "a vTPM that lost its state: NonPersistedTPM (exit 4), the cmk-only secret still opens"

driver srk-name --out srk.new || fail "srk-name failed"
"$PYTHON" - "$(env_of disk)" srk.new <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
e["tpm"]["srk_name"] = open(sys.argv[2], "rb").read().hex()
json.dump(e, open(sys.argv[1], "w"))
PY
rc=0
sd open --name disk --out x.bin --attested 2>other.err || rc=$?
if [ "$rc" -eq 0 ] || [ -e x.bin ]; then fail "the vault's keys opened the secret with another vTPM"; fi
no_leaks "refused opens"
pass_msg "the vault keys with another vTPM cannot open it (exit $rc: $(tail -c 120 other.err))"
