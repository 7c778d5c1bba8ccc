#!/bin/bash
# A local account that already has the UID alice hashes to: her login is
# refused, with a log line naming both, and nothing is stored for her. A UID
# pinned in [uids] resolves it: the next login uses the pinned UID.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
require_nss_module
idp_start
uid=$(uid_of alice@example.com)
local_accounts "squatter:x:$uid:100:Local Squatter:/home/squatter:/bin/sh"
write_config
pam_service login
pw=$(password_of alice@example.com)

syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_fail "Permission denied"
expect_syslog 'user=alice@example\.com flow=password result=success .*allowed=no' "the password itself was accepted"
expect_syslog "UID $uid .*alice@example\\.com is already used by local user squatter \\(uid $uid\\) in /etc/passwd" \
        "the collision, naming both accounts"
expect_syslog 'user=alice@example\.com account=alice result=denied reason="[^"]*local account[^"]*"' \
        "the account decision says why"
[[ ! -e "$T/state/users/$uid.json" ]] || fail "a record was stored for the colliding UID"
# The local account keeps its UID; no cloudauth entry claims it.
expect_getent "squatter:x:$uid:100:Local Squatter:/home/squatter:/bin/sh" passwd "$uid"
[[ -z "$(cached_users)" ]] || fail "nss.db lists users after a refused login: $(cached_users)"

# A clash with a local group's gid (alice's private group) is refused as well.
bob=$(uid_of bob@example.com)
printf '%s\n' "staff-local:x:$bob:" >>"$T/group"
syslog_mark
pam_run login bob@example.com "authenticate acct_mgmt" "$(password_of bob@example.com)"
expect_pam_fail "Permission denied"
expect_syslog "UID $bob .*bob@example\\.com is already used by local group staff-local \\(gid $bob\\)" \
        "the collision with a local group"

# The administrator pins another UID.
pinned=2001300042
write_config "[uids]" "alice@example.com = $pinned"
syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
expect_no_syslog 'already used' "no collision once pinned"
expect_syslog "stored alice \\(uid $pinned," "the pinned UID is stored"
expect_getent "alice:*:$pinned:$pinned:Alice Example:/home/alice:/bin/bash" passwd alice
expect_getent "alice:*:$pinned:$pinned:Alice Example:/home/alice:/bin/bash" passwd "$pinned"
expect_getent "squatter:x:$uid:100:Local Squatter:/home/squatter:/bin/sh" passwd "$uid"
[[ -f "$T/state/users/$pinned.json" ]] || fail "no record under the pinned UID"

# The UID stays with her subject: a later login, still pinned, changes nothing.
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
expect_getent "alice:*:$pinned:$pinned:Alice Example:/home/alice:/bin/bash" passwd alice
pass
