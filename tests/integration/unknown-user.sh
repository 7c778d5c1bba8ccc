#!/bin/bash
# A user the provider does not know fails like a wrong password; acct_mgmt
# for a user this module did not authenticate is PAM_USER_UNKNOWN, so the
# stack can fall through to pam_unix.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
idp_start
write_config
pam_service login

syslog_mark
pam_run login no-such-person@example.com "authenticate acct_mgmt" "some-password"
expect_pam_fail "Authentication failure"
expect_syslog 'user=no-such-person@example\.com flow=password result=' "the decision"
expect_no_syslog 'result=success' "an unknown user never succeeds"

pam_run login no-such-person@example.com acct_mgmt ""
expect_pam_fail "User not known to the underlying authentication module"
pam_run login alice@example.com acct_mgmt ""
expect_pam_fail "User not known to the underlying authentication module"

# A local account is never sent to the provider, under any spelling that
# maps to it (nobody@example.com is the local account nobody here).
requests_mark
for name in root Root nobody@example.com; do
        pam_run login "$name" "authenticate" "some-password"
        expect_pam_fail "User not known to the underlying authentication module"
done
[[ -z "$(requests_new)" ]] || fail "a local account's login reached the provider: $(requests_new | tr '\n' ';')"
pass
