#!/bin/bash
# After a password login, the NSS module answers for the user from nss.db:
# passwd by short name, full name and UID, the IdP groups with the user as
# member, and (through glibc's initgroups) the private group, the IdP groups'
# GIDs and the local groups the user's role grants. Ids are computed here
# from cloudauth.conf(5), not taken from the code under test.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
require_nss_module
idp_start
write_config "[role admin]" "groups = linux-admins" "unix_groups = sudo, adm" "" "[role user]" "groups = linux-users"
pam_service login

# No login yet: no nss.db, and the module answers nothing (no error either).
expect_getent_absent passwd "$(uid_of alice@example.com)"

syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$(password_of alice@example.com)"
expect_pam_ok
[[ -f "$T/state/nss.db" ]] || fail "the login wrote no nss.db"
[[ $(stat -c '%a %U' "$T/state/nss.db") == "644 root" ]] ||
        fail "nss.db is $(stat -c '%a %U' "$T/state/nss.db"), not 644 root"

uid=$(uid_of alice@example.com)
g_users=$(gid_of linux-users)
g_admins=$(gid_of linux-admins)
line="alice:*:$uid:$uid:Alice Example:/home/alice:/bin/bash"
expect_syslog "stored alice \\(uid $uid," "the store names the computed UID"

expect_getent "$line" passwd alice
expect_getent "$line" passwd "$uid"
expect_getent "$line" passwd alice@example.com
expect_getent "$line" passwd ALICE@Example.COM
expect_getent "alice:*:$uid:alice" group alice
expect_getent "alice:*:$uid:alice" group "$uid"
expect_getent "linux-admins@example.com:*:$g_admins:alice" group linux-admins@example.com
expect_getent "linux-admins@example.com:*:$g_admins:alice" group "$g_admins"
expect_getent "linux-users@example.com:*:$g_users:alice" group linux-users@example.com
# Local groups stay local: nss.db never defines sudo or adm.
expect_getent "sudo:x:27:" group sudo
expect_getent "root:x:0:0:root:/root:/bin/bash" passwd root

# Enumeration: alice once, after the local entries.
users=$(nss_run getent passwd | cut -d: -f1 | tr '\n' ' ')
[[ "$users" == "root alice " ]] || fail "getent passwd enumerates: $users"

# nss_wrapper builds group lists from member lists, so the IdP groups show,
# the local role groups not; glibc itself asks initgroups_dyn for those.
got=$(nss_run id alice)
[[ "$got" == "uid=$uid(alice) gid=$uid(alice) groups=$uid(alice),$g_users(linux-users@example.com),$g_admins(linux-admins@example.com)" ]] ||
        fail "id alice under nss_wrapper: $got"
want=$(printf '%s\n' "$uid" 4 27 "$g_users" "$g_admins" | sort -n | tr '\n' ' ')
got=$(nss_glibc_run id -G alice | tr ' ' '\n' | sort -n | tr '\n' ' ')
[[ "$got" == "$want" ]] || fail "id -G alice through glibc: '$got', expected '$want'"
got=$(nss_glibc_run id -u alice@example.com)
[[ "$got" == "$uid" ]] || fail "id -u alice@example.com through glibc: $got"
got=$(nss_glibc_run id -gn alice)
[[ "$got" == alice ]] || fail "the primary group of alice is '$got', not her private group"
for g in "adm" "sudo" "linux-users@example.com" "linux-admins@example.com"; do
        nss_glibc_run id -Gn alice | tr ' ' '\n' | grep -qx "$g" || fail "id -Gn alice lacks $g: $(nss_glibc_run id -Gn alice)"
done

# bob has only the user role: no sudo, no adm, no linux-admins.
pam_run login bob@example.com "authenticate acct_mgmt" "$(password_of bob@example.com)"
expect_pam_ok
bob_uid=$(uid_of bob@example.com)
expect_getent "bob:*:$bob_uid:$bob_uid:Bob Example:/home/bob:/bin/bash" passwd bob
want=$(printf '%s\n' "$bob_uid" "$g_users" | sort -n | tr '\n' ' ')
got=$(nss_glibc_run id -G bob | tr ' ' '\n' | sort -n | tr '\n' ' ')
[[ "$got" == "$want" ]] || fail "id -G bob through glibc: '$got', expected '$want'"
expect_getent "linux-users@example.com:*:$g_users:alice,bob" group linux-users@example.com
expect_getent "linux-admins@example.com:*:$g_admins:alice" group linux-admins@example.com
pass
