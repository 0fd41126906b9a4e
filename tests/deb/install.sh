#!/bin/bash
# Installs the .deb into a throwaway root with `dpkg --root --force-script-chrootless`, the
# way image builders install into a root they do not boot: the maintainer scripts run on
# this machine with DPKG_ROOT set, and Debian 12's debhelper snippets (deb-systemd-helper,
# systemd-tmpfiles --root) act inside the root. The test checks that they did, and that
# this machine's own systemd and /var/lib were not touched.
#
# Then: files and modes, the units enabled (`systemctl --root`), the conffile marked, the
# program runs in the root (chroot, with this machine's libraries copied in: the root has
# no Debian underneath); an upgrade keeps an edited configuration, the state and a unit the
# admin disabled; remove and purge keep the state (a sealed secret), purge removes the
# configuration; a package whose purge deletes the secrets is caught. Needs the package
# built: make check-deb (scripts/package.sh).
. "${CVM_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
require_cmd dpkg dpkg-deb dpkg-query systemctl sha256sum
deb_dir=${CVM_DEB_DIR:-$CVM_BUILDDIR/deb}
debs=("$deb_dir"/cvm-agent_*.deb)
deb=${debs[0]}
[ -f "$deb" ] || skip "no cvm-agent_*.deb in $deb_dir: build it with make check-deb"
[ "$(id -u)" -eq 0 ] || skip "installs with dpkg --root and runs chroot: needs root"

# a Debian 12 root: merged /usr, an empty dpkg database
make_root() { # dir
    mkdir -p "$1"/usr/{bin,sbin,lib,lib64} "$1"/etc "$1"/tmp "$1"/var/lib/dpkg/{info,updates,triggers}
    for d in bin sbin lib lib64; do ln -s "usr/$d" "$1/$d"; done
    touch "$1"/var/lib/dpkg/{status,available}
}
root=$TEST_DIR/root
make_root "$root"

# what a maintainer script that ignored DPKG_ROOT would change on this machine
host_state() {
    find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled \
        /var/lib/systemd/deb-systemd-helper-masked -name '*cvm-agent*' 2>/dev/null | sort
    ls -lad /var/lib/cvm-agent /etc/cvm-agent 2>/dev/null || true
}
host_before=$(host_state)

dpkg_root() {
    dpkg --root="$root" --force-not-root --force-script-chrootless --force-depends \
        --log="$TEST_DIR/dpkg.log" "$@" >>"$TEST_DIR/dpkg.out" 2>&1 ||
        fail "dpkg $*: $(cat "$TEST_DIR/dpkg.out")"
}
query() { dpkg-query --admindir="$root/var/lib/dpkg" "$@"; }
mode_is() { # mode path (owner root:root)
    [ -e "$root$2" ] || fail "$2 is not installed"
    local got
    got=$(stat -c '%a %U:%G' "$root$2")
    [ "$got" = "$1 root:root" ] || fail "$2 is $got, expected $1 root:root"
}
enabled_is() { # state unit
    local got
    got=$(systemctl --root="$root" is-enabled "$2" 2>&1 || true)
    [ "$got" = "$1" ] || fail "systemctl --root is-enabled $2: '$got', expected '$1'"
}

dpkg_root -i "$deb"
[ "$(query -W -f='${db:Status-Status}' cvm-agent)" = installed ] || fail "cvm-agent not installed"

files=(755:/usr/sbin/cvm-agent 644:/etc/cvm-agent/agent.conf
    644:/lib/systemd/system/cvm-agent.service 644:/lib/systemd/system/cvm-agent-rotate.service
    644:/lib/systemd/system/cvm-agent-rotate.timer 644:/usr/lib/tmpfiles.d/cvm-agent.conf
    644:/usr/share/man/man8/cvm-agent.8.gz 644:/usr/share/man/man5/cvm-agent.conf.5.gz
    644:/usr/share/man/man5/cvm-agent-store.5.gz
    644:/usr/share/bash-completion/completions/cvm-agent
    644:/usr/share/doc/cvm-agent/copyright
    700:/var/lib/cvm-agent 700:/var/lib/cvm-agent/secrets)
for f in "${files[@]}"; do mode_is "${f%%:*}" "${f#*:}"; done
# the state directory is made by the tmpfiles entry (postinst), not shipped by the package
if query -S /var/lib/cvm-agent >/dev/null 2>&1; then fail "the package owns /var/lib/cvm-agent"; fi

# every key of the configuration commented out, and it is the example
keys=$(grep -vE '^[[:space:]]*([;#]|\[|$)' "$root/etc/cvm-agent/agent.conf" || true)
[ -z "$keys" ] || fail "agent.conf sets keys: $keys"
cmp -s "$root/etc/cvm-agent/agent.conf" "$CVM_SRCDIR/dist/agent.conf.example" ||
    fail "agent.conf is not dist/agent.conf.example"
conffiles=$(query -W -f='${Conffiles}' cvm-agent)
grep -qE '^ /etc/cvm-agent/agent.conf [0-9a-f]{32}$' <<<"$conffiles" ||
    fail "agent.conf is not a conffile: '$conffiles'"
[ "$(grep -c . <<<"$conffiles")" -eq 1 ] || fail "conffiles besides agent.conf: $conffiles"

enabled_is enabled cvm-agent.service
enabled_is enabled cvm-agent-rotate.timer
enabled_is static cvm-agent-rotate.service

# nothing is started on install, nothing stopped or restarted on upgrade; remove stops the timer
scripts=$TEST_DIR/control
dpkg-deb -e "$deb" "$scripts"
if grep -nE 'deb-systemd-invoke|systemctl' "$scripts/postinst" | grep -vE 'daemon-reload'; then
    fail "postinst starts or restarts a unit"
fi
[ ! -e "$scripts/preinst" ] || ! grep -q 'deb-systemd-invoke' "$scripts/preinst" ||
    fail "preinst stops a unit on upgrade"
if ! grep -q '"$1" = remove' "$scripts/prerm" || ! grep -q 'stop cvm-agent-rotate.timer' "$scripts/prerm"; then
    fail "prerm does not stop the timer on remove"
fi

# the program runs in the root with the root's paths
while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done < <(ldd "$root/usr/sbin/cvm-agent" | grep -oE '/[^ ]+' | sort -u)
version=$(chroot "$root" /usr/sbin/cvm-agent --version) || fail "cvm-agent --version fails in the root"
[ "$version" = "cvm-agent $(query -W -f='${Version}' cvm-agent)" ] ||
    fail "cvm-agent --version says '$version', the package is $(query -W -f='${Version}' cvm-agent)"
help=$(chroot "$root" /usr/sbin/cvm-agent --help)
grep -q '/etc/cvm-agent/agent.conf' <<<"$help" || fail "the default configuration is not /etc/cvm-agent/agent.conf"
grep -q 'state directory (default /var/lib/cvm-agent)' <<<"$help" ||
    fail "the default state directory is not /var/lib/cvm-agent"

# STATE: a sealed secret and a cache file, which nothing of the package may touch
plant_state() {
    state=$root/var/lib/cvm-agent
    printf '{"version":1,"name":"disk","sealed":"not really"}\n' >"$state/secrets/disk.json"
    chmod 0600 "$state/secrets/disk.json"
    mkdir -m 0700 "$state/cache"
    echo cached >"$state/cache/x"
}
state_sum() { (cd "$state" && find . -printf '%p %m %U:%G\n' | sort && find . -type f -exec sha256sum {} + | sort); }
plant_state
state_before=$(state_sum)

# upgrade: an edited configuration and a disabled timer stay as the admin left them
sed -i 's/^; log-level = notice/log-level = info/' "$root/etc/cvm-agent/agent.conf"
systemctl --root="$root" disable cvm-agent-rotate.timer >/dev/null 2>&1
enabled_is disabled cvm-agent-rotate.timer
next=$TEST_DIR/next
dpkg-deb -R "$deb" "$next"
sed -i 's/^Version: \(.*\)/Version: \1+upgrade1/' "$next/DEBIAN/control"
dpkg-deb -b -Zgzip "$next" "$TEST_DIR/cvm-agent-next.deb" >/dev/null
dpkg_root -i "$TEST_DIR/cvm-agent-next.deb"
[ "$(query -W -f='${Version}' cvm-agent)" = "$(dpkg-deb -f "$deb" Version)+upgrade1" ] ||
    fail "the upgrade did not install"
grep -qx 'log-level = info' "$root/etc/cvm-agent/agent.conf" || fail "the upgrade lost the edited configuration"
enabled_is enabled cvm-agent.service
enabled_is disabled cvm-agent-rotate.timer
[ "$(state_sum)" = "$state_before" ] || fail "the upgrade changed the state directory"

# remove: the program goes, the configuration and the state stay
dpkg_root -r cvm-agent
[ ! -e "$root/usr/sbin/cvm-agent" ] || fail "remove left /usr/sbin/cvm-agent"
[ -f "$root/etc/cvm-agent/agent.conf" ] || fail "remove deleted the configuration"
[ "$(state_sum)" = "$state_before" ] || fail "remove changed the state directory"

# purge: the configuration and the unit links go, the state stays
dpkg_root -P cvm-agent
[ ! -e "$root/etc/cvm-agent" ] || fail "purge left /etc/cvm-agent: $(ls -la "$root/etc/cvm-agent")"
if ls "$root"/etc/systemd/system/*.wants/cvm-agent* 2>/dev/null; then fail "purge left unit links"; fi
[ "$(state_sum)" = "$state_before" ] || fail "purge changed the state directory:
$(diff <(echo "$state_before") <(state_sum))"
grep -q 'kept' "$TEST_DIR/dpkg.out" || fail "purge did not say that the state is kept"

# the check can fail: a package whose purge deletes the secrets is caught
root=$TEST_DIR/root-bad
make_root "$root"
dpkg-deb -R "$deb" "$TEST_DIR/bad"
sed -i '1a [ "$1" != purge ] || rm -rf "${DPKG_ROOT:?}/var/lib/cvm-agent/secrets"' "$TEST_DIR/bad/DEBIAN/postrm"
dpkg-deb -b -Zgzip "$TEST_DIR/bad" "$TEST_DIR/cvm-agent-bad.deb" >/dev/null
dpkg_root -i "$TEST_DIR/cvm-agent-bad.deb"
plant_state
state_before=$(state_sum)
dpkg_root -P cvm-agent
[ "$(state_sum)" != "$state_before" ] || fail "a purge that deletes the secrets went unseen"

[ "$(host_state)" = "$host_before" ] || fail "a maintainer script changed this machine, not the root:
$(diff <(echo "$host_before") <(host_state))"

pass_msg "installed into a root: ${#files[@]} paths and modes, units enabled, conffile marked, --version runs; upgrade, remove and purge keep the state"
