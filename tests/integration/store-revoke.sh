#!/bin/bash
# Revocation reaches the host. alice, removed from every group at the
# provider, is refused at her next online login: at once NSS no longer gives
# her sudo, and the account phase alone (what sshd runs after a public key)
# refuses her through the whole stack, cloudauth then pam_unix, which would
# admit any account NSS resolves if cloudauth passed her on as unknown.
# A cached verdict also ends [offline] max_age after the last online login.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/e2e-lib.sh"
ns_enter "$@"
e2e_require
idp_start
e2e_setup
e2e_config "" "[role admin]" "groups = linux-admins" "unix_groups = sudo"
e2e_pam_service sshd
pw=$(password_of alice@example.com)
uid=$(uid_of alice@example.com)

account_phase() { # as sshd after a public key: acct_mgmt alone; sets PAM_RC
        set +e
        timeout 60 pamtester -v sshd alice acct_mgmt >"$T/pam.out" 2>&1
        PAM_RC=$?
        set -e
}

e2e_pam_login sshd alice "$pw"
[[ " $(id -Gn alice) " == *" sudo "* ]] || fail "before: NSS does not give alice sudo: $(id alice)"
account_phase
[[ $PAM_RC -eq 0 ]] || fail "before: the account phase refused alice: $(tail -n 2 "$T/pam.out")"

idp_admin "/__test/user?email=alice@example.com&groups=&roles="
syslog_mark
set +e
printf '%s\n' "$pw" | timeout 60 pamtester -v sshd alice authenticate acct_mgmt >"$T/pam.out" 2>&1
PAM_RC=$?
set -e
[[ $PAM_RC -ne 0 ]] || fail "alice, in no group, logged in online"

# At once, without any further login: no sudo, no provider group, the same UID.
[[ "$(id -u alice)" == "$uid" ]] || fail "alice's UID changed: $(id alice)"
got=" $(id -Gn alice) "
[[ "$got" != *" sudo "* && "$got" != *"@example.com "* ]] || fail "after the refusal, alice still has groups: $got"
getent group sudo | grep -qE '[:,]alice(,|$)' && fail "the local group sudo lists alice"
expect_syslog 'refused online' "the refusal, recorded in the identity store"

syslog_mark
account_phase
[[ $PAM_RC -ne 0 ]] || fail "the account phase (cloudauth, then pam_unix) admitted the refused alice"
grep -q 'pamtester: Permission denied$' "$T/pam.out" ||
        fail "the account phase did not answer PAM_PERM_DENIED: $(tail -n 2 "$T/pam.out")"
expect_syslog 'account=alice result=denied reason="the last online login was refused"' "the account phase's reason"

# Back in her groups: the next online login restores everything.
idp_admin "/__test/user?email=alice@example.com&groups=linux-users,linux-admins&roles=Linux.Admin"
e2e_pam_login sshd alice "$pw"
[[ " $(id -Gn alice) " == *" sudo "* ]] || fail "restored: NSS does not give alice sudo: $(id alice)"
account_phase
[[ $PAM_RC -eq 0 ]] || fail "restored: the account phase refused alice: $(tail -n 2 "$T/pam.out")"

# Eight days without a word from the provider, and no refresh token to ask
# it with: the cached verdict is past max_age (7d).
python3 - "$E2E_STATE/users/$uid.json" <<'PY'
import json, os, sys, time
path = sys.argv[1]
rec = json.load(open(path))
rec["last_online_login"] = int(time.time()) - 8 * 86400
rec["last_answer"] = rec["last_online_login"]
rec.pop("refresh_token_sealed", None)
with open(path + ".new", "w") as f:
    json.dump(rec, f)
os.chmod(path + ".new", 0o600)
os.rename(path + ".new", path)
PY
syslog_mark
account_phase
[[ $PAM_RC -ne 0 ]] || fail "the account phase admitted alice eight days after her last online login"
grep -q 'pamtester: Permission denied$' "$T/pam.out" ||
        fail "the stale verdict did not end in PAM_PERM_DENIED: $(tail -n 2 "$T/pam.out")"
expect_syslog 'reason="the last online login is older than \[offline\] max_age"' "the reason, in the log"
pass
