#!/bin/bash
# A process that holds the identity store's lock and never lets go (stopped,
# or hung) costs a login a bounded wait, then a clear refusal: never a hang.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
require_cmd flock
idp_start
write_config
pam_service login
pw=$(password_of alice@example.com)

pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok

# -o: the lock stays with flock itself, so killing flock releases it.
flock -o "$T/state/lock" sleep 40 &
holder=$!
for ((i = 0; i < 100; i++)); do
        flock -n "$T/state/lock" true || break
        sleep 0.05
done
flock -n "$T/state/lock" true && fail "the lock holder did not take the lock"

syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
sleeper=$(cat "/proc/$holder/task/$holder/children" 2>/dev/null || true)
kill "$holder" $sleeper 2>/dev/null || true
wait "$holder" 2>/dev/null || true
((PAM_ELAPSED_MS < 15000)) || fail "the login waited $PAM_ELAPSED_MS ms for the lock"
((PAM_ELAPSED_MS >= 9000)) || fail "the login gave up after $PAM_ELAPSED_MS ms, before the 10 s deadline"
expect_pam_fail "Permission denied"
expect_syslog 'the identity store is locked by another process for more than 10 s' "the reason, in the log"

# The holder gone, logins work again at once.
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
expect_elapsed_below 5000
pass
