#!/bin/bash
# Debian's own sshd with our PAM and NSS modules: a password typed at
# keyboard-interactive logs a never-seen user in (NSS synthesises the entry
# sshd needs for its own lookup only, PAM authenticates and stores it), and again from the cache with
# the role's groups; a wrong password and a user outside allow_groups are
# refused; local accounts never reach the provider.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/e2e-lib.sh"
ns_enter "$@"
e2e_require sshd client
idp_start
e2e_setup
# allow_users names a partner of other.example, so NSS maps that domain's
# users too and, as allow_groups could admit them, synthesises them for sshd,
# which hands carol's password to PAM instead of replacing it as it does for
# names it cannot resolve.
CFG_ACCESS=$'allow_groups = linux-users\nallow_users = dave@other.example' \
        e2e_config "" "[role admin]" "groups = linux-admins" "unix_groups = sudo"
e2e_pam_service sshd debug
e2e_cache_init
sshd_start

pw=$(password_of alice@example.com)
sudo_gid=$(getent group sudo | cut -d: -f3)
[[ -n "$sudo_gid" ]] || skip "this system has no group sudo"

# First login: nobody is cached; alice exists for sshd only, under the UID her login keeps.
entry=$(getent passwd alice) && fail "alice exists for getent before her first login: $entry"
uid=$(uid_of alice@example.com)
[[ -z "$(getent group linux-admins@example.com)" ]] || fail "the IdP group linux-admins exists before anyone logged in"

syslog_mark
requests_mark
ssh_run alice "$pw" 'id -un; id -G'
expect_ssh_ok "alice's first login"
[[ "$(sed -n 1p "$SSH_OUT")" == alice ]] || fail "id -un printed '$(sed -n 1p "$SSH_OUT")', not alice"
expect_syslog 'pam_cloudauth\(sshd:auth\): user=alice flow=password result=success .*roles=admin' \
        "the first login's decision"
expect_syslog 'pam_cloudauth\(sshd:account\): user=alice account=alice result=allowed' "the account decision"
requests_new | grep -q '^POST /token 200$' || fail "no token request in: $(requests_new | tr '\n' ';')"
grep -q '"prompts": \[\["Password: ", false\]\]' "$SSH_TRANSCRIPT" ||
        fail "sshd did not relay the module's non-echoing Password: prompt: $(cat "$SSH_TRANSCRIPT")"

admins_gid=$(getent group linux-admins@example.com | cut -d: -f3) || fail "linux-admins is not a group after alice's login"
[[ "$(id -u alice)" == "$uid" ]] || fail "alice's UID changed from the synthesised $uid to $(id -u alice)"
groups=" $(sed -n 2p "$SSH_OUT") "
[[ "$groups" == *" $sudo_gid "* ]] || fail "alice's session lacks the role's group sudo ($sudo_gid): $groups"
[[ "$groups" == *" $admins_gid "* ]] || fail "alice's session lacks linux-admins ($admins_gid): $groups"

# Cached: the same account, one request.
syslog_mark
requests_mark
ssh_run alice "$pw" 'id -un; id -G'
expect_ssh_ok "alice's second login"
[[ "$(sed -n 1p "$SSH_OUT")" == alice ]] || fail "the second login ran as '$(sed -n 1p "$SSH_OUT")'"
[[ " $(sed -n 2p "$SSH_OUT") " == *" $sudo_gid "* ]] || fail "the second login lacks group sudo"
[[ "$(requests_new)" == "POST /token 200" ]] || fail "a cached login made these requests: $(requests_new | tr '\n' ';')"

syslog_mark
sshd_log_mark
ssh_run alice "wrong-$pw" 'id -un'
expect_ssh_refused "a wrong password"
[[ ! -s "$SSH_OUT" ]] || fail "a command ran after a wrong password: $(cat "$SSH_OUT")"
expect_syslog 'pam_cloudauth\(sshd:auth\): user=alice flow=password result=[a-z-]+ reason="[^"]+"' \
        "the wrong password's decision"
expect_no_syslog 'user=alice flow=password result=success' "a wrong password must not succeed"
sshd_log_new | grep -q 'Failed keyboard-interactive/pam for alice' ||
        fail "sshd did not log the failed login: $(sshd_log_new | tail -n 5)"

# carol authenticates at the provider, but no rule lets her in.
entry=$(getent passwd carol@other.example) && fail "carol@other.example exists for getent: $entry"
syslog_mark
ssh_run carol@other.example "$(password_of carol@other.example)" 'id -un'
expect_ssh_refused "carol, who is in no allowed group"
expect_syslog 'pam_cloudauth\(sshd:auth\): user=carol@other\.example account=[^ ]+ result=denied reason="[^"]+"' \
        "carol's denial, already when she authenticates"
expect_syslog 'pam_cloudauth\(sshd:auth\): user=carol@other\.example flow=password result=success .*allowed=no' \
        "carol's successful authentication"

# A local account goes to pam_unix, and its password never travels.
local_pw=local-$RANDOM$RANDOM
e2e_local_user e2elocal "$local_pw"
syslog_mark
requests_mark
ssh_run e2elocal "$local_pw" 'id -un'
expect_ssh_ok "the local account e2elocal through pam_unix"
[[ "$(cat "$SSH_OUT")" == e2elocal ]] || fail "the local login ran as '$(cat "$SSH_OUT")'"
expect_syslog 'pam_cloudauth\(sshd:auth\): user=e2elocal result=ignored reason="a local account"' \
        "cloudauth passing the local account on"
[[ -z "$(requests_new)" ]] || fail "a local login made requests: $(requests_new | tr '\n' ';')"

syslog_mark
requests_mark
ssh_run root "root-$RANDOM" 'id -un'
expect_ssh_refused "root (PermitRootLogin no)"
expect_syslog 'pam_cloudauth\(sshd:auth\): user=root result=ignored reason="a local account"' \
        "cloudauth passing root on"
[[ -z "$(requests_new)" ]] || fail "root's login made requests: $(requests_new | tr '\n' ';')"

SYSLOG_MARK=0
expect_no_syslog "$pw" "the password must never be logged"
pass
