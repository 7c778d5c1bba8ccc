#!/bin/bash
# A new signing key (unknown kid) makes the module refetch the JWKS once; a
# second unknown kid within 5 minutes does not refetch again.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
idp_start
write_config
pam_service login
pw=$(password_of alice@example.com)

pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok

idp_admin /__test/rotate
requests_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
n=$(requests_new | grep -c '^GET /jwks ' || true)
[[ $n -eq 1 ]] || fail "expected one JWKS refetch after rotation, saw $n: $(requests_new | tr '\n' ';')"

# The refetched JWKS is cached: the next login is one request again.
requests_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
[[ "$(requests_new)" == "POST /token 200" ]] || fail "after the refetch: $(requests_new | tr '\n' ';')"

idp_admin /__test/rotate
requests_mark
syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
n=$(requests_new | grep -c '^GET /jwks ' || true)
[[ $n -eq 0 ]] || fail "a second unknown kid within 5 minutes refetched the JWKS ($n times)"
[[ $PAM_RC -ne 0 ]] || fail "a token signed with a key not in the cached JWKS was accepted"
expect_no_syslog 'result=success' "never a success with an unverifiable token"
pass
