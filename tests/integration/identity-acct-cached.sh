#!/bin/bash
# acct_mgmt on its own, as sshd calls it after public-key authentication:
# the identity store and the current [access] policy decide, without the
# provider. A cached, allowed user passes; after the policy excludes her she
# is denied; a user never seen is not ours (PAM_USER_UNKNOWN), so the stack
# can fall through to pam_unix.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
require_nss_module
idp_start
write_config
pam_service login

pam_run login alice@example.com "authenticate acct_mgmt" "$(password_of alice@example.com)"
expect_pam_ok
uid=$(uid_of alice@example.com)
[[ -f "$T/state/users/$uid.json" ]] || fail "the login stored no record"

# From here on the provider is down: none of this may need it.
idp_stop

for name in alice@example.com alice; do
        syslog_mark
        pam_run login "$name" acct_mgmt ""
        expect_pam_ok
        grep -q "successfully authenticated" "$T/pam.stdout" && fail "pamtester ran authenticate"
        expect_syslog "user=$name account=alice result=allowed reason=\"[^\"]+\" source=cache" \
                "the cached decision for $name"
done

CFG_ACCESS="allow_users = bob@example.com" write_config
syslog_mark
pam_run login alice acct_mgmt ""
expect_pam_fail "Permission denied"
expect_syslog 'user=alice account=alice result=denied reason="[^"]+" source=cache' "the policy now excludes her"
grep -q "alice is not allowed to log in" "$T/pam.out" || fail "alice was not told why: $(cat "$T/pam.out")"

# A role-based rule is decided from the groups of her last login.
CFG_ACCESS="allow_roles = admin" write_config "[role admin]" "groups = linux-admins"
pam_run login alice acct_mgmt ""
expect_pam_ok
CFG_ACCESS="allow_roles = admin" write_config "[role admin]" "groups = nobody-has-this"
pam_run login alice acct_mgmt ""
expect_pam_fail "Permission denied"

write_config
for name in bob@example.com bob dave@example.com; do
        pam_run login "$name" acct_mgmt ""
        expect_pam_fail "User not known to the underlying authentication module"
done
# Local accounts are never ours.
pam_run login root acct_mgmt ""
expect_pam_fail "User not known to the underlying authentication module"
pass
