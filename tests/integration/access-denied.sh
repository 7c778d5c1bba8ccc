#!/bin/bash
# Authentication and access are separate: carol authenticates, but no rule
# allows her; and with no [access] rule at all nobody is allowed.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
idp_start
write_config
pam_service login
pw=$(password_of carol@other.example)

pam_run login carol@other.example authenticate "$pw"
expect_pam_ok

syslog_mark
pam_run login carol@other.example "authenticate acct_mgmt" "$pw"
expect_pam_fail "Permission denied"
grep -q "successfully authenticated" "$T/pam.stdout" || fail "authenticate did not succeed before acct_mgmt"
expect_syslog 'user=carol@other\.example account=[^ ]+ result=denied reason="[^"]+"' "the denial and its reason"

CFG_ACCESS="" write_config
syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$(password_of alice@example.com)"
expect_pam_fail "Permission denied"
expect_syslog 'user=alice@example\.com account=[^ ]+ result=denied reason="no access rule is configured"' \
        "no rule denies everyone"
pass
