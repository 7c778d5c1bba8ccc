#!/bin/bash
# Debian's own sshd while the provider is down: alice, who logged in here
# online before, gets in with the same password, checked against the
# verifier of that login; a wrong password does not; bob, never seen on this
# host, is refused, and the log says why.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/e2e-lib.sh"
ns_enter "$@"
e2e_require sshd client
idp_start
e2e_setup
e2e_config
e2e_pam_service sshd
e2e_cache_init
sshd_start
pw=$(password_of alice@example.com)

syslog_mark
ssh_run alice "$pw" 'id -un'
expect_ssh_ok "alice's online login"
expect_syslog 'pam_cloudauth\(sshd:auth\): user=alice flow=password result=success local_user=alice' \
        "the online login's decision"

idp_stop

syslog_mark
ssh_run alice "$pw" 'id -un'
expect_ssh_ok "alice's login while the provider is down"
[[ "$(sed -n 1p "$SSH_OUT")" == alice ]] || fail "id -un printed '$(sed -n 1p "$SSH_OUT")', not alice"
expect_syslog 'pam_cloudauth\(sshd:auth\): user=alice flow=password source=offline result=success local_user=alice' \
        "the offline decision"

syslog_mark
ssh_run alice "wrong-$pw" 'id -un'
expect_ssh_refused "alice with a wrong password, offline"
expect_syslog 'pam_cloudauth\(sshd:auth\): user=alice flow=password source=offline result=denied' \
        "the offline refusal"

syslog_mark
ssh_run bob "$(password_of bob@example.com)" 'id -un'
expect_ssh_refused "bob, never seen here, while the provider is down"
expect_syslog 'pam_cloudauth\(sshd:auth\): user=bob flow=password( source=offline)? result=unavailable' \
        "why bob cannot log in offline"

SYSLOG_MARK=0
expect_no_syslog "$pw" "the password must never be logged"
pass
