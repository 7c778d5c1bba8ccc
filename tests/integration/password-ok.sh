#!/bin/bash
# A right password logs in; once discovery and JWKS are cached, a login costs
# exactly one request: the POST to the token endpoint.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
idp_start
write_config
pam_service login
pw=$(password_of alice@example.com)

syslog_mark
requests_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
expect_syslog 'user=alice@example\.com flow=password result=success' "the first login's decision"
expect_syslog 'user=alice@example\.com account=[^ ]+ result=allowed' "the account decision"
requests_new | grep -q '^POST /token 200$' || fail "no token request in: $(requests_new | tr '\n' ';')"

syslog_mark
requests_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
expect_syslog 'user=alice@example\.com flow=password result=success' "the warm-cache login's decision"
new=$(requests_new)
[[ "$new" == "POST /token 200" ]] || fail "a warm-cache login made these requests: $(tr '\n' ';' <<<"$new")"

SYSLOG_MARK=0
expect_no_syslog "$pw" "the password must never be logged"
pass
