#!/bin/bash
# A wrong password is PAM_AUTH_ERR, logged as such, and never logged itself,
# not even with debug.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
idp_start
write_config
pam_service login
pam_service login-debug debug
wrong="Wr0ng-$RANDOM$RANDOM-not-logged"

syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$wrong"
expect_pam_fail "Authentication failure"
expect_syslog 'user=alice@example\.com flow=password result=[a-z-]+ reason="wrong password"' "the decision"
expect_no_syslog 'result=success|result=allowed' "a wrong password never succeeds"

syslog_mark
pam_run login-debug alice@example.com "authenticate acct_mgmt" "$wrong"
expect_pam_fail "Authentication failure"
expect_syslog 'reason="wrong password"' "the decision with debug"

pw=$(password_of alice@example.com)
pam_run login-debug alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok

SYSLOG_MARK=0
expect_no_syslog "$wrong" "a wrong password must never be logged"
expect_no_syslog "$pw" "the password must never be logged, not even with debug"
pass
