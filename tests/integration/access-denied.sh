#!/bin/bash
# Authentication and access are separate decisions, and both must pass:
# carol's password is right, but no rule allows her, so authenticate alone
# already refuses her (services that call only pam_authenticate must not let
# her in), and so does the account phase; with no [access] rule at all
# nobody is allowed.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
idp_start
write_config
pam_service login
pw=$(password_of carol@other.example)

syslog_mark
pam_run login carol@other.example authenticate "$pw"
expect_pam_fail "Permission denied"
grep -q "is not allowed to log in to this host" "$PAM_OUT" || fail "carol was not told why: $(cat "$PAM_OUT")"
expect_syslog 'user=carol@other\.example flow=password result=success .*allowed=no' "authenticated, but not allowed"
expect_syslog 'user=carol@other\.example account=[^ ]+ result=denied reason="[^"]+"' "the denial and its reason"

pam_run login carol@other.example "authenticate acct_mgmt" "$pw"
expect_pam_fail "Permission denied"

CFG_ACCESS="" write_config
syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$(password_of alice@example.com)"
expect_pam_fail "Permission denied"
expect_syslog 'user=alice@example\.com account=[^ ]+ result=denied reason="no access rule is configured"' \
        "no rule denies everyone"
pass
