#!/bin/bash
# A user from a directory service (SSSD, LDAP, extrausers: here nss-systemd's
# JSON records) whose UID lies inside uid_range is not ours: the module
# answers PAM_USER_UNKNOWN before any prompt, and his directory password
# never reaches the provider. A broken configuration then must not lock him
# out in the account phase, while a user the identity store holds stays
# refused.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/e2e-lib.sh"
source "$(dirname "$0")/attack-lib.sh"
ns_enter "$@"
e2e_require
idp_start
e2e_setup
CFG_ACCESS="allow_users = *" e2e_config
e2e_packaged_stack
e2e_cache_init
module_only_service cloudauth-only
printf '%s\n' "@include common-auth" "@include common-account" >/etc/pam.d/cloudauth-stack

dir_uid=300000
dir_pw=directory-pw-$RANDOM$RANDOM
directory_user dirk "$dir_uid"
uid_range=$(awk -F' *= *' '$1 == "uid_range" { print $2 }' "$E2E_CONF")
: "${uid_range:=200000-2000199999}"
((dir_uid >= ${uid_range%-*} && dir_uid <= ${uid_range#*-})) || fail "UID $dir_uid is outside uid_range $uid_range"

# The module alone: unknown at once, no prompt, no request.
syslog_mark
requests_mark
system_pam_run cloudauth-only dirk authenticate "$dir_pw"
[[ $PAM_RC -ne 0 ]] || fail "the module authenticated the directory user dirk"
grep -q 'Password' "$PAM_OUT" && fail "the module prompted the directory user dirk for a password: $(tr '\n' ' ' <"$PAM_OUT")"
requests_new | grep -q '^POST /token' &&
        fail "dirk's directory password was sent to the provider: $(requests_new | tr '\n' ';')"
expect_pam_fail "User not known to the underlying authentication module"

# The packaged stack: pam_unix asks, and the provider still hears nothing.
requests_mark
system_pam_run cloudauth-stack dirk authenticate "$dir_pw"
[[ $PAM_RC -ne 0 ]] || fail "the packaged stack authenticated dirk, who has no password anywhere"
requests_new | grep -q '^POST /token' &&
        fail "through common-auth, dirk's directory password was sent to the provider: $(requests_new | tr '\n' ';')"
SYSLOG_MARK=0
expect_no_syslog "$dir_pw" "the directory password must never be logged"

# acct_mgmt with a good configuration: not ours.
system_pam_run cloudauth-only dirk acct_mgmt ""
expect_pam_fail "User not known to the underlying authentication module"

# alice logs in, so the identity store holds her; then the configuration breaks.
pw=$(password_of alice@example.com)
system_pam_run cloudauth-only alice "authenticate acct_mgmt" "$pw"
expect_pam_ok
cp "$E2E_CONF" "$T/cloudauth.conf.good"
printf '%s\n' "" "[provider]" "no_such_key = 1" >>"$E2E_CONF"

syslog_mark
system_pam_run cloudauth-only dirk acct_mgmt ""
[[ $PAM_RC -ne 0 ]] || fail "acct_mgmt admitted dirk through a broken configuration"
grep -q 'pamtester: Permission denied$' "$T/pam.stderr" &&
        fail "a broken configuration locks the directory user dirk out: acct_mgmt said PAM_PERM_DENIED instead of PAM_USER_UNKNOWN"
expect_pam_fail "User not known to the underlying authentication module"
system_pam_run cloudauth-stack dirk acct_mgmt ""
[[ $PAM_RC -ne 0 ]] || true # pam_unix decides for dirk; only the module's refusal matters
grep -q 'pamtester: Permission denied$' "$T/pam.stderr" &&
        fail "through common-account, a broken configuration locks dirk out"

system_pam_run cloudauth-only alice acct_mgmt ""
[[ $PAM_RC -ne 0 ]] || fail "acct_mgmt admitted alice, whom the identity store holds, through a broken configuration"
expect_pam_fail "Permission denied"
system_pam_run cloudauth-stack alice acct_mgmt ""
[[ $PAM_RC -ne 0 ]] || fail "common-account admitted alice through a broken configuration"
pass
