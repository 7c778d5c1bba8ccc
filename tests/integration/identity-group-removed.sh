#!/bin/bash
# Group membership follows the provider: once linux-admins is taken from
# alice at the IdP, her next login drops the admin role's local groups (sudo,
# adm) and the linux-admins group from what NSS answers.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
require_nss_module
idp_start
write_config "[role admin]" "groups = linux-admins" "unix_groups = sudo, adm" "" "[role user]" "groups = linux-users"
pam_service login
pw=$(password_of alice@example.com)
uid=$(uid_of alice@example.com)
g_users=$(gid_of linux-users)
g_admins=$(gid_of linux-admins)
groups_of_alice() { nss_glibc_run id -G alice | tr ' ' '\n' | sort -n | tr '\n' ' '; }

pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
want=$(printf '%s\n' "$uid" 4 27 "$g_users" "$g_admins" | sort -n | tr '\n' ' ')
[[ "$(groups_of_alice)" == "$want" ]] || fail "before: id -G alice is '$(groups_of_alice)', expected '$want'"
expect_getent "linux-admins@example.com:*:$g_admins:alice" group linux-admins@example.com

idp_admin "/__test/user?email=alice@example.com&groups=linux-users"

# Until she logs in again, the cache keeps what the last login said.
[[ "$(groups_of_alice)" == "$want" ]] || fail "the groups changed without a login: '$(groups_of_alice)'"

syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
expect_syslog 'user=alice@example\.com account=alice result=allowed' "still allowed through linux-users"
want=$(printf '%s\n' "$uid" "$g_users" | sort -n | tr '\n' ' ')
[[ "$(groups_of_alice)" == "$want" ]] || fail "after: id -G alice is '$(groups_of_alice)', expected '$want'"
got=$(nss_glibc_run id -Gn alice)
[[ " $got " != *" sudo "* && " $got " != *" adm "* && " $got " != *" linux-admins@example.com "* ]] ||
        fail "id -Gn alice still lists a removed group: $got"
# Nobody is in linux-admins any more: the group is not defined at all.
expect_getent_absent group linux-admins@example.com
expect_getent_absent group "$g_admins"
expect_getent "linux-users@example.com:*:$g_users:alice" group linux-users@example.com

# And back: the next login with the group restores the role's groups.
idp_admin "/__test/user?email=alice@example.com&groups=linux-users,linux-admins"
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
want=$(printf '%s\n' "$uid" 4 27 "$g_users" "$g_admins" | sort -n | tr '\n' ' ')
[[ "$(groups_of_alice)" == "$want" ]] || fail "restored: id -G alice is '$(groups_of_alice)', expected '$want'"
expect_getent "linux-admins@example.com:*:$g_admins:alice" group linux-admins@example.com
pass
