#!/bin/bash
# Two hosts with the same configuration (only their paths differ) give alice
# the same UID and her groups the same GIDs without talking to each other;
# a host trusting another issuer gives her another UID.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
require_nss_module
idp_start
write_config
pw=$(password_of alice@example.com)

# host2: the same file with its own state and cache directories.
mkdir -m 0700 -p "$T/host2/state" "$T/host2/cache"
sed -e "s|^state_dir = .*|state_dir = $T/host2/state|" -e "s|^cache_dir = .*|cache_dir = $T/host2/cache|" \
        "$T/cloudauth.conf" >"$T/host2.conf"
chmod 0644 "$T/host2.conf"
diff <(grep -v '_dir = ' "$T/cloudauth.conf") <(grep -v '_dir = ' "$T/host2.conf") >/dev/null ||
        fail "host2's configuration differs beyond its paths"

# host3: another provider, so another issuer, with the same users and subjects.
idp_start_extra "$T/idp3"
issuer3=$(sed -n 's/^ISSUER=//p' "$T/idp3/env")
ca3=$(sed -n 's/^CA_FILE=//p' "$T/idp3/env")
[[ -n "$issuer3" && "$issuer3" != "$ISSUER" ]] || fail "the second provider has no issuer of its own: $issuer3"
mkdir -m 0700 -p "$T/host3/state" "$T/host3/cache"
sed -e "s|^state_dir = .*|state_dir = $T/host3/state|" -e "s|^cache_dir = .*|cache_dir = $T/host3/cache|" \
        -e "s|^issuer = .*|issuer = $issuer3|" -e "s|^ca_file = .*|ca_file = $ca3|" \
        "$T/cloudauth.conf" >"$T/host3.conf"
chmod 0644 "$T/host3.conf"

for h in host1 host2 host3; do
        conf=$T/cloudauth.conf
        [[ $h == host1 ]] || conf=$T/$h.conf
        printf '%s\n' "auth required $CLOUDAUTH_PAM_MODULE config=$conf helper=$CLOUDAUTH_HELPER" \
                "account required $CLOUDAUTH_PAM_MODULE config=$conf helper=$CLOUDAUTH_HELPER" >"$T/pam.d/$h"
        pam_run "$h" alice@example.com "authenticate acct_mgmt" "$pw"
        expect_pam_ok
done
_pam_other

uid=$(uid_of alice@example.com)
uid3=$(uid_of alice@example.com "$issuer3")
[[ "$uid" != "$uid3" ]] || fail "two issuers hash alice to the same UID $uid"
g=$(gid_of linux-users)
g3=$(gid_of linux-users "$issuer3")

expect_getent "alice:*:$uid:$uid:Alice Example:/home/alice:/bin/bash" passwd alice
NSS_DB=$T/host2/state/nss.db expect_getent "alice:*:$uid:$uid:Alice Example:/home/alice:/bin/bash" passwd alice
NSS_DB=$T/host3/state/nss.db expect_getent "alice:*:$uid3:$uid3:Alice Example:/home/alice:/bin/bash" passwd alice
expect_getent "linux-users@example.com:*:$g:alice" group linux-users@example.com
NSS_DB=$T/host2/state/nss.db expect_getent "linux-users@example.com:*:$g:alice" group linux-users@example.com
NSS_DB=$T/host3/state/nss.db expect_getent "linux-users@example.com:*:$g3:alice" group linux-users@example.com

# The stores agree record for record on the ids (the files differ only in times).
[[ -f "$T/state/users/$uid.json" && -f "$T/host2/state/users/$uid.json" && -f "$T/host3/state/users/$uid3.json" ]] ||
        fail "the user records are not named by the UID: $(ls "$T/state/users" "$T/host2/state/users" "$T/host3/state/users" | tr '\n' ' ')"

# Synthesised entries (a user not yet seen) agree too: bob has never logged in anywhere.
# Such entries exist only for sshd's lookup before authentication: getent
# under that name, run by root.
bob=$(uid_of bob@example.com)
cp "$(command -v getent)" "$T/sshd"
want="bob:*:$bob:$bob::/home/bob:/bin/bash"
got=$(nss_run "$T/sshd" passwd bob) || true
[[ "$got" == "$want" ]] || fail "host1 synthesises bob for sshd as '$got', expected '$want'"
got=$(NSS_DB=$T/host2/state/nss.db nss_run "$T/sshd" passwd bob) || true
[[ "$got" == "$want" ]] || fail "host2 synthesises bob for sshd as '$got', expected '$want'"
pass
