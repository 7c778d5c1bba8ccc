#!/bin/bash
# Entra's "MFA required" after a right password is a failure, never a
# success; a locked account fails too, and both are named in the log.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
idp_start
write_config
pam_service login

syslog_mark
pam_run login mfa@example.com "authenticate acct_mgmt" "$(password_of mfa@example.com)"
expect_pam_fail "Authentication failure"
expect_syslog 'user=mfa@example\.com flow=password result=[a-z-]+ reason="multi-factor authentication required"' \
        "the MFA decision"
expect_no_syslog 'result=success|result=allowed' "MFA required is never a success"

syslog_mark
pam_run login locked@example.com "authenticate acct_mgmt" "$(password_of locked@example.com)"
[[ $PAM_RC -ne 0 ]] || fail "a locked account logged in"
expect_syslog 'user=locked@example\.com flow=password result=[a-z-]+ reason="account locked"' "the lock decision"
expect_no_syslog 'result=success|result=allowed' "a locked account is never a success"
pass
