#!/bin/bash
# A token endpoint slower than the timeout is PAM_AUTHINFO_UNAVAIL, within
# the timeout plus 2 s.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
idp_start
CFG_TIMEOUT=2 write_config
# nodelay: what is timed here is the request timeout, not the failure delay.
pam_service login no_offline nodelay
pw=$(password_of alice@example.com)

idp_admin "/__test/delay?ms=8000"
syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_fail "Authentication service cannot retrieve authentication info"
expect_elapsed_below 4000
expect_syslog 'user=alice@example\.com flow=password result=unavailable' "the decision"

idp_admin "/__test/delay?ms=0"
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
pass
