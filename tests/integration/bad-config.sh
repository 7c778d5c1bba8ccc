#!/bin/bash
# A broken configuration refuses every login and says where it is broken.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
idp_start
pam_service login
pw=$(password_of alice@example.com)
conf=$T/cloudauth.conf

expect_refused() { # what
        [[ $PAM_RC -ne 0 ]] || fail "$1: a broken config let alice log in"
        expect_no_syslog 'result=success|result=allowed' "$1: never a success"
}

# An unknown key: file, line and key are named.
CFG_PROVIDER_EXTRA="colour = blue" write_config
line=$(grep -n '^colour' "$conf" | cut -d: -f1)
syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_refused "unknown key"
expect_syslog "$conf:$line:.*colour" "the unknown key with file and line"

# A missing issuer.
CFG_ISSUER="" write_config
syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_refused "missing issuer"
expect_syslog "$conf.*issuer" "the missing issuer with the file"

# A group-writable config file.
write_config
chmod 0664 "$conf"
syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_refused "group-writable file"
expect_syslog "$conf" "the file whose mode is wrong"

# A broken file never locks out local accounts: the module answers
# "authinfo unavailable" and the stack falls through to the next module.
pam_service_stack fallthrough <<EOT
auth [success=done authinfo_unavail=ignore user_unknown=ignore default=die] @MODULE@ config=@CONFIG@
auth required /lib/x86_64-linux-gnu/security/pam_permit.so
EOT
pam_run fallthrough alice@example.com authenticate "$pw"
expect_pam_ok
expect_no_syslog 'result=success' "the fall-through is not a cloudauth success"

# The same file with a sound mode works, so the refusals above were for the
# reasons given.
chmod 0644 "$conf"
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
pass
