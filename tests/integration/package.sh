#!/bin/bash
# The Debian packages as an administrator meets them: build them from this
# tree, install them (with overlays on /etc, /usr and /var in a private
# mount namespace, so the machine's own system is untouched), and check what
# the maintainer scripts did: nsswitch.conf gains cloudauth, the
# pam-auth-update profile is there but off until enabled, the index is
# written once a configuration exists, the login helper is root's, the PAM
# module links none of the libraries the helper uses, removal undoes the
# system changes, and purge removes the identity store and the provider
# cache, so a reinstall starts empty.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/e2e-lib.sh"
ns_enter "$@"
for c in dpkg-buildpackage dh dh_installnss fakeroot pam-auth-update; do
        command -v "$c" >/dev/null || skip "$c is not installed (debhelper, dh-nss, dpkg-dev, fakeroot)"
done
[[ -d "$CLOUDAUTH_SOURCE_ROOT/debian" ]] || skip "no debian/ directory"

# Build from a copy of the tracked files, as a source package would hold them.
src=$T/src/cloudauth
mkdir -p "$src"
(cd "$CLOUDAUTH_SOURCE_ROOT" && git ls-files -z 2>/dev/null | xargs -0 tar -c 2>/dev/null) | tar -x -C "$src" ||
        fail "cannot copy the source tree"
[[ -f "$src/debian/control" ]] || fail "the copied tree has no debian/control"
(cd "$src" && dpkg-buildpackage -b -uc -us >"$T/build.log" 2>&1) ||
        fail "dpkg-buildpackage failed: $(tail -30 "$T/build.log")"
debs=("$T"/src/libpam-cloudauth_*.deb "$T"/src/libnss-cloudauth_*.deb "$T"/src/cloudauth_*.deb)
for d in "${debs[@]}"; do [[ -f "$d" ]] || fail "no $d"; done

# Nothing of this reaches the machine: /usr and /var/lib/dpkg are overlays too.
e2e_setup
# A fresh /usr overlay hides the module e2e_setup put into the library
# directory (an overlay below it); nsswitch.conf goes back to files only.
_e2e_overlay /usr usr
[[ ! -e /usr/lib/x86_64-linux-gnu/libnss_cloudauth.so.2 ]] || fail "an NSS module is installed before the package"
sed -i -E -e 's/^(passwd|group):.*/\1: files/' /etc/nsswitch.conf
for f in /etc/pam.d/common-auth /etc/pam.d/common-account; do
        grep -q pam_cloudauth "$f" && fail "$f names pam_cloudauth before the install"
done

idp_start
CFG_ACCESS="allow_groups = linux-users" e2e_config
# The provider cache where the package puts it, so purge is seen to remove it.
sed -i "s|^cache_dir = .*|cache_dir = /var/cache/cloudauth|" "$E2E_CONF"
DEBIAN_FRONTEND=noninteractive dpkg -i "${debs[@]}" >"$T/dpkg.log" 2>&1 ||
        fail "dpkg -i failed: $(tail -20 "$T/dpkg.log")"

# Files where the system looks for them.
[[ -f /lib/x86_64-linux-gnu/security/pam_cloudauth.so || -f /usr/lib/x86_64-linux-gnu/security/pam_cloudauth.so ]] ||
        fail "the PAM module is not in the multiarch security directory"
[[ -f /usr/lib/x86_64-linux-gnu/libnss_cloudauth.so.2 ]] || fail "the NSS module is not beside libc"
[[ -x /usr/sbin/cloudauthctl ]] || fail "no /usr/sbin/cloudauthctl"
[[ -f /usr/share/pam-configs/cloudauth ]] || fail "no pam-auth-update profile"
# The re-validation timer ships with cloudauth and is left off: nothing enables it.
for unit in cloudauth-refresh.service cloudauth-refresh.timer; do
        [[ -f /lib/systemd/system/$unit || -f /usr/lib/systemd/system/$unit ]] || fail "no $unit installed"
done
[[ -z "$(find /etc/systemd/system -name 'cloudauth-refresh*' 2>/dev/null)" ]] ||
        fail "the package enabled cloudauth-refresh: $(find /etc/systemd/system -name 'cloudauth-refresh*')"
man -w pam_cloudauth >/dev/null 2>&1 || [[ -f /usr/share/man/man8/pam_cloudauth.8.gz ]] || fail "no pam_cloudauth(8)"

# The login helper the module executes: root's, nobody else may change it.
helper=/usr/libexec/cloudauth/cloudauth-auth
[[ -f $helper && -x $helper ]] || fail "no $helper"
[[ $(stat -c '%U:%G %a' "$helper") == "root:root 755" ]] || fail "$helper is $(stat -c '%U:%G %a' "$helper")"
[[ $(stat -c '%U:%G %a' /usr/libexec/cloudauth) == "root:root 755" ]] ||
        fail "/usr/libexec/cloudauth is $(stat -c '%U:%G %a' /usr/libexec/cloudauth)"
dpkg -S "$helper" 2>/dev/null | grep -q '^libpam-cloudauth:' || fail "$helper is not libpam-cloudauth's: $(dpkg -S "$helper" 2>&1)"
# The module inside su, sshd and sudo links no HTTP, TLS or JSON library.
for module in /lib/x86_64-linux-gnu/security/pam_cloudauth.so /usr/lib/x86_64-linux-gnu/security/pam_cloudauth.so; do
        [[ -f $module ]] && break
done
needed=$(readelf -d "$module" | awk '/\(NEEDED\)/ { print $NF }' | tr -d '[]')
[[ -n "$needed" ]] || fail "readelf finds no NEEDED entries in $module"
grep -E '^lib(curl|ssl|crypto|jansson)' <<<"$needed" && fail "the installed $module links: $(echo $needed)"

# dh-nss put cloudauth last for passwd and group.
grep -qE '^passwd:.*\bcloudauth\b' /etc/nsswitch.conf || fail "nsswitch.conf passwd: $(grep ^passwd: /etc/nsswitch.conf)"
grep -qE '^group:.*\bcloudauth\b' /etc/nsswitch.conf || fail "nsswitch.conf group: $(grep ^group: /etc/nsswitch.conf)"

# The profile stays off until an administrator enables it.
grep -q pam_cloudauth /etc/pam.d/common-auth && fail "the profile was enabled by the install"
pam-auth-update --package --enable cloudauth >/dev/null 2>&1 || fail "pam-auth-update --enable cloudauth failed"
grep -q 'pam_cloudauth.so' /etc/pam.d/common-auth || fail "common-auth lacks pam_cloudauth after enabling"
grep -q 'pam_cloudauth.so' /etc/pam.d/common-account || fail "common-account lacks pam_cloudauth after enabling"

# postinst wrote the index from the configuration that was in place.
[[ -f "$E2E_STATE/nss.db" ]] || fail "postinst did not write $E2E_STATE/nss.db"
/usr/sbin/cloudauthctl check >"$T/check.out" 2>&1 || fail "cloudauthctl check: $(cat "$T/check.out")"

# A login through the installed stack (common-auth and common-account).
cat >/etc/pam.d/cloudauth-pkg <<PAM
@include common-auth
@include common-account
PAM
printf '%s\n' "$(password_of alice@example.com)" | timeout 60 pamtester cloudauth-pkg alice authenticate acct_mgmt \
        >"$T/pamtester.out" 2>&1 || fail "a login through the installed stack failed: $(cat "$T/pamtester.out")"
getent passwd alice | grep -q '^alice:' || fail "getent passwd alice finds nobody after the login"
records() { find /var/lib/cloudauth/users -type f -name '*.json' 2>/dev/null | wc -l; }
(($(records) > 0)) || fail "the login left no record in /var/lib/cloudauth/users: $(ls -lR /var/lib/cloudauth)"
[[ -n "$(ls -A /var/cache/cloudauth)" ]] || fail "the login cached nothing in /var/cache/cloudauth"

# Purging the admin tool alone keeps the store: logins still use it.
DEBIAN_FRONTEND=noninteractive dpkg -P cloudauth >"$T/dpkg-p1.log" 2>&1 ||
        fail "dpkg -P cloudauth failed: $(tail -20 "$T/dpkg-p1.log")"
(($(records) > 0)) || fail "purging cloudauth alone removed the records the PAM module still uses"

# Removal undoes the system changes and keeps people's data.
DEBIAN_FRONTEND=noninteractive dpkg -r libnss-cloudauth libpam-cloudauth >"$T/dpkg-r.log" 2>&1 ||
        fail "dpkg -r failed: $(tail -20 "$T/dpkg-r.log")"
grep -qE '^(passwd|group):.*\bcloudauth\b' /etc/nsswitch.conf && fail "nsswitch.conf still names cloudauth"
grep -q pam_cloudauth /etc/pam.d/common-auth && fail "common-auth still names pam_cloudauth"
[[ ! -e /usr/lib/x86_64-linux-gnu/libnss_cloudauth.so.2 ]] || fail "the NSS module is still installed"
[[ ! -e "$helper" ]] || fail "$helper is still installed"
(($(records) > 0)) || fail "dpkg -r removed the records; only purge may"

# Purge removes the identity store and the provider cache.
DEBIAN_FRONTEND=noninteractive dpkg -P libnss-cloudauth libpam-cloudauth >"$T/dpkg-p.log" 2>&1 ||
        fail "dpkg -P failed: $(tail -20 "$T/dpkg-p.log")"
[[ ! -e /var/lib/cloudauth ]] || fail "/var/lib/cloudauth is left after purge: $(ls -lR /var/lib/cloudauth)"
[[ ! -e /var/cache/cloudauth ]] || fail "/var/cache/cloudauth is left after purge: $(ls -lR /var/cache/cloudauth)"
dpkg -l 2>/dev/null | grep -E '^.. +(libpam-cloudauth|libnss-cloudauth|cloudauth) ' &&
        fail "packages are still known to dpkg after purge"

# A reinstall starts empty: nobody cached, the index written anew with no users.
DEBIAN_FRONTEND=noninteractive dpkg -i "${debs[@]}" >"$T/dpkg-i2.log" 2>&1 ||
        fail "the reinstall failed: $(tail -20 "$T/dpkg-i2.log")"
[[ -d /var/lib/cloudauth && -d /var/cache/cloudauth ]] || fail "the reinstall did not create the state directories"
(($(records) == 0)) || fail "a record came back with the reinstall: $(ls -lR /var/lib/cloudauth)"
out=$(/usr/sbin/cloudauthctl user list) || fail "cloudauthctl user list after the reinstall: $out"
grep -q '^0 users cached\.$' <<<"$out" || fail "the reinstalled store is not empty: $out"
pass
