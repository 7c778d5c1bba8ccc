#!/bin/bash
# A service that calls only pam_authenticate (no acct_mgmt, as some
# screensavers, VPN daemons and scripts using PAM do) must not admit a
# person the access policy refuses, even with the right password.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
idp_start
CFG_ACCESS="allow_groups = linux-users" write_config
pam_service login

# alice is in linux-users: authenticate alone admits her.
pam_run login alice authenticate "$(password_of alice@example.com)"
expect_pam_ok

# carol's password is right, but no rule allows her.
carol_pw=$(password_of carol@other.example)
syslog_mark
requests_mark
pam_run login carol@other.example authenticate "$carol_pw"
[[ $PAM_RC -ne 0 ]] ||
        fail "pam_authenticate alone admitted carol@other.example, whom [access] does not allow (allow_groups = linux-users)"
requests_new | grep -q '^POST /token 200$' ||
        fail "carol's refusal came before the provider checked her password: $(requests_new | tr '\n' ';')"
expect_no_syslog 'user=carol@other\.example flow=password result=success .*allowed=yes' "carol is never allowed"
expect_syslog 'user=carol@other\.example' "carol's refusal is logged"

# The same with acct_mgmt after it: refused, as before.
pam_run login carol@other.example "authenticate acct_mgmt" "$carol_pw"
[[ $PAM_RC -ne 0 ]] || fail "authenticate and acct_mgmt admitted carol@other.example"

SYSLOG_MARK=0
expect_no_syslog "$carol_pw" "the password must never be logged"
pass
