#!/bin/bash
# With the provider down the answer is PAM_AUTHINFO_UNAVAIL, within the
# configured timeout plus 2 s.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
idp_start
CFG_TIMEOUT=3 write_config
# nodelay: what is timed here is the request timeout, not the failure delay.
pam_service login no_offline nodelay
pw=$(password_of alice@example.com)

# Once with discovery and JWKS cached, once with nothing cached.
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
idp_stop

syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_fail "Authentication service cannot retrieve authentication info"
expect_elapsed_below 5000
expect_syslog 'user=alice@example\.com flow=password result=unavailable' "the decision"

rm -rf "${T:?}/cache" "${T:?}/state"
mkdir -m 0700 "$T/cache" "$T/state"
syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_fail "Authentication service cannot retrieve authentication info"
expect_elapsed_below 5000
expect_syslog 'result=unavailable' "the decision with nothing cached"
pass
