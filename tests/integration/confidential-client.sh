#!/bin/bash
# A confidential client's secret comes from client_secret_file, which must be
# root's alone; a wrong secret is refused by the provider.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
idp_start
secret=$T/client_secret
install -m 0600 -o root -g root "$IDP_CLIENT_SECRET" "$secret"
CFG_CLIENT_ID=cloudauth-confidential CFG_PROVIDER_EXTRA="client_secret_file = $secret" write_config
pam_service login
pw=$(password_of alice@example.com)

syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
expect_syslog 'user=alice@example\.com flow=password result=success' "the decision"

chmod 0644 "$secret"
syslog_mark
requests_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
[[ $PAM_RC -ne 0 ]] || fail "a world-readable client secret file was used"
expect_syslog "$secret" "the log names the secret file"
expect_no_syslog 'result=success' "never a success"
expect_no_syslog "$(tr -d '\n' <"$IDP_CLIENT_SECRET")" "the secret is never logged"
requests_new | grep -q '^POST /token' && fail "the secret from a 0644 file was sent to the provider"

echo "not-the-secret" >"$secret"
chmod 0600 "$secret"
syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
[[ $PAM_RC -ne 0 ]] || fail "a wrong client secret logged in"
expect_no_syslog 'result=success' "never a success with a wrong secret"
pass
