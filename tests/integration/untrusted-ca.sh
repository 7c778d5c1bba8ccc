#!/bin/bash
# A provider certificate from a CA that ca_file does not name is refused.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
idp_start
CFG_CA_FILE=$OTHER_CA_FILE write_config
pam_service login

syslog_mark
requests_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$(password_of alice@example.com)"
expect_pam_fail "Authentication service cannot retrieve authentication info"
expect_syslog 'certificate' "the log names the certificate problem"
expect_no_syslog 'result=success' "never a success"
[[ -z "$(requests_new)" ]] || fail "a request got through TLS: $(requests_new | tr '\n' ';')"
pass
