#!/bin/bash
# Users of default_domain may log in by their short name; others may not.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
idp_start
write_config
pam_service login

syslog_mark
pam_run login alice "authenticate acct_mgmt" "$(password_of alice@example.com)"
expect_pam_ok
expect_syslog 'user=alice flow=password result=success' "the short-name login"

pam_run login ALICE@EXAMPLE.COM "authenticate acct_mgmt" "$(password_of alice@example.com)"
expect_pam_ok

# carol is of another domain: her short name means carol@example.com.
pam_run login carol "authenticate" "$(password_of carol@other.example)"
[[ $PAM_RC -ne 0 ]] || fail "a short name outside default_domain logged in"
pass
