#!/bin/bash
# With default_domain set, a name nobody logged in with belongs to nobody:
# useradd -r and adduser --system (what package installs run) create their
# accounts, getent finds nothing for an ordinary process (so "getent passwd
# foo || useradd foo" and chown do not hand files to the UID a future
# provider account would get), and only sshd's own lookup before
# authentication, as root, still gets an entry, for names the policy admits.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/e2e-lib.sh"
ns_enter "$@"
e2e_require
require_cmd useradd getent chown
idp_start
e2e_setup
CFG_ACCESS=$'allow_users = dave@example.com' e2e_config
e2e_cache_init
[[ -f $E2E_STATE/nss.db ]] || fail "cache rebuild wrote no nss.db"
grep -q '^passwd: files cloudauth$' /etc/nsswitch.conf || fail "nsswitch.conf does not name cloudauth"

nobody_run() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# Ordinary processes, root's and a user's: the name does not exist.
for name in newname newname@example.com dave; do
        out=$(getent passwd "$name") && fail "getent passwd $name as root found: $out"
        out=$(nobody_run getent passwd "$name") && fail "getent passwd $name as a user found: $out"
done
echo data >"$T/file"
chown newname "$T/file" 2>/dev/null && fail "chown newname succeeded on a name nobody has"

# Package installs.
useradd -r -M -s /usr/sbin/nologin sysfoo >"$T/useradd.out" 2>&1 ||
        fail "useradd -r sysfoo failed: $(cat "$T/useradd.out")"
line=$(getent passwd sysfoo) || fail "useradd made no sysfoo"
uid=$(cut -d: -f3 <<<"$line")
((uid < 1000)) || fail "sysfoo got UID $uid, not a system UID"
if command -v adduser >/dev/null; then
        adduser --system --no-create-home sysbar >"$T/adduser.out" 2>&1 ||
                fail "adduser --system sysbar failed: $(cat "$T/adduser.out")"
        getent passwd sysbar | grep -q '^sysbar:x:' || fail "adduser made no local sysbar: $(getent passwd sysbar)"
else
        echo "adduser is not installed: adduser --system not checked"
fi
# "getent passwd foo || useradd foo" ends with a local account, not a cloud one.
getent passwd localfoo >/dev/null || useradd -M localfoo || fail "useradd localfoo failed"
getent passwd localfoo | grep -q '^localfoo:x:' || fail "localfoo is not the local account: $(getent passwd localfoo)"

# sshd's lookup before authentication: the program named sshd with real UID 0.
cp "$(command -v getent)" "$T/sshd"
want="dave:*:$(uid_of dave@example.com):$(uid_of dave@example.com)::/home/dave:/bin/bash"
[[ "$("$T/sshd" passwd dave)" == "$want" ]] || fail "sshd's lookup of dave: '$("$T/sshd" passwd dave)', not '$want'"
out=$("$T/sshd" passwd newname) && fail "sshd's lookup invented newname, whom no rule admits: $out"
chmod 0755 "$T"
out=$(nobody_run "$T/sshd" passwd dave) && fail "a user's process named sshd got an entry for dave: $out"
pass
