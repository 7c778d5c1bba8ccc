#!/bin/bash
# Password guessing is stopped on this host: after [lockout] attempts wrong
# passwords the account is refused with PAM_MAXTRIES and a message saying
# when to try again, without any request to the provider (so guessing cannot
# trip the provider's own lockout of the person). A success resets the count,
# cloudauthctl user unlock ends a lock, names the provider does not know are
# bounded too, local accounts are never counted, and a lock ends by itself.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
idp_start
local_accounts
write_config
# nodelay: five failures in a row would otherwise cost the failure delay each time.
pam_service login nodelay
pw=$(password_of alice@example.com)
maxtries="Have exhausted maximum number of retries for service"

wrong_n() { # USER N
        local i
        for ((i = 0; i < $2; i++)); do
                pam_run login "$1" authenticate "wrong-$i-$RANDOM"
                expect_pam_fail "Authentication failure"
        done
}

lockout_files() {
        find "$T/state/lockout" -type f ! -name '.*' 2>/dev/null | wc -l
}

show_field() { # NAME LABEL
        ctl user show "$1" | sed -n "s/^$2  *//p"
}

pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok

# Four failures and a success: the count starts again.
wrong_n alice@example.com 4
[[ "$(show_field alice failures)" == 4 ]] || fail "user show: expected 4 failures, got '$(show_field alice failures)'"
pam_run login alice@example.com authenticate "$pw"
expect_pam_ok
[[ "$(show_field alice failures)" == 0 ]] || fail "a success must reset the count: $(show_field alice failures)"

# Five failures lock the account: the right password is refused, with nothing sent to the provider.
wrong_n alice@example.com 5
[[ "$(show_field alice failures)" == 5 ]] || fail "user show: expected 5 failures"
[[ "$(show_field alice 'locked until')" =~ ^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]\ [0-9][0-9]:[0-9][0-9]$ ]] ||
        fail "user show: expected a 'locked until' time, got '$(show_field alice 'locked until')'"
ctl --json user show alice | grep -q '"locked_until": [0-9]' || fail "user show --json: no locked_until"

requests_mark
syslog_mark
pam_run login alice@example.com authenticate "$pw"
expect_pam_fail "$maxtries"
grep -q "Too many failed logins: try again in 15 minutes\." "$PAM_OUT" ||
        fail "the person was not told when to try again: $(cat "$PAM_OUT")"
expect_syslog 'user=alice@example\.com result=locked reason="5 failed logins, locked for [0-9]+ more seconds"' "the lock, in the log"
# The short name is the same account.
pam_run login alice authenticate "$pw"
expect_pam_fail "$maxtries"
[[ -z "$(requests_new)" ]] || fail "a locked account reached the provider: $(requests_new)"

ctl user unlock alice | grep -q "Unlocked alice" || fail "user unlock did not say it unlocked"
[[ "$(show_field alice 'locked until')" == "-" ]] || fail "still locked after user unlock"
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
ctl user unlock alice | grep -q "nothing to unlock" || fail "a second unlock should find nothing"

# A name the provider does not know is bounded the same way.
wrong_n nobody-here@example.com 5
requests_mark
pam_run login nobody-here@example.com authenticate "guess"
expect_pam_fail "$maxtries"
[[ -z "$(requests_new)" ]] || fail "a locked unknown name reached the provider: $(requests_new)"
ctl user unlock nobody-here@example.com | grep -q "Unlocked" || fail "user unlock of a name that is not cached"

# Local accounts never reach the count.
before=$(lockout_files)
pam_run login root authenticate "guess"
pam_run login root authenticate "guess"
[[ "$(lockout_files)" == "$before" ]] || fail "a local account was counted"

# Files are root's, 0600, named by the hash of the lowercased IdP name.
hash=$(printf '%s' alice@example.com | sha256sum | cut -d' ' -f1)
wrong_n ALICE@example.com 1
[[ "$(stat -c '%a %U' "$T/state/lockout/$hash")" == "600 root" ]] ||
        fail "lockout file: $(stat -c '%a %U %n' "$T/state/lockout/"* 2>&1)"
[[ "$(stat -c '%a' "$T/state/lockout")" == 700 ]] || fail "lockout directory mode"

# A short lock ends by itself.
write_config "" "[lockout]" "attempts = 2" "window = 1m" "duration = 2s"
ctl user unlock alice >/dev/null
wrong_n alice@example.com 2
pam_run login alice@example.com authenticate "$pw"
expect_pam_fail "$maxtries"
grep -q "try again in 1 minute\." "$PAM_OUT" || fail "expected 'try again in 1 minute': $(cat "$PAM_OUT")"
sleep 2.2
pam_run login alice@example.com authenticate "$pw"
expect_pam_ok
pass
