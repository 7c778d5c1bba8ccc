#!/bin/bash
# The real, setuid sudo with our module as its PAM service: sudo reads the
# invoking user's groups through NSS from the default nss.db (setuid, so
# CLOUDAUTH_NSS_DB is ignored), and Debian's stock sudoers grants %sudo. alice
# gets sudo only through her role's unix_groups = sudo, bob (no admin role)
# is refused by the policy even with his right password, and a cloudauth
# group named in a sudoers drop-in works as the alternative.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/e2e-lib.sh"
ns_enter "$@"
e2e_require sudo
require_cmd visudo
idp_start
e2e_setup
e2e_config "" "[role admin]" "groups = linux-admins" "unix_groups = sudo"
e2e_pam_service sudo debug
grep -q '^%sudo[[:space:]]' /etc/sudoers || skip "/etc/sudoers does not grant %sudo"
sudo_gid=$(getent group sudo | cut -d: -f3)
[[ -n "$sudo_gid" ]] || skip "this system has no group sudo"

pw=$(password_of alice@example.com)
bob_pw=$(password_of bob@example.com)
e2e_pam_login sudo alice "$pw"
e2e_pam_login sudo bob "$bob_pw"
[[ " $(id -G alice) " == *" $sudo_gid "* ]] || fail "NSS does not give alice the role's group sudo: $(id alice)"

as_user alice 'id -G; sudo -n true'
[[ " $(sed -n 1p "$SUDO_OUT") " == *" $sudo_gid "* ]] ||
        fail "a process of alice's lacks group sudo: $(cat "$SUDO_OUT")"
[[ $SUDO_RC -ne 0 ]] || fail "sudo -n ran without a password before any timestamp"

# Authenticate through /etc/pam.d/sudo; the timestamp carries the later calls.
# sudo -K first, not -k with -v: -k keeps -v from writing the timestamp.
syslog_mark
as_user alice 'sudo -K; sudo -S -v -p "" || exit 11; sudo -n true || exit 12; sudo -n id -u || exit 13' "$pw"
[[ $SUDO_RC -eq 0 ]] || fail "alice's sudo failed at step $((SUDO_RC - 10)) (1 -v, 2 -n true, 3 -n id -u): $(cat "$SUDO_ERR")"
[[ "$(cat "$SUDO_OUT")" == 0 ]] || fail "sudo -n id -u printed '$(cat "$SUDO_OUT")', not 0"
expect_syslog 'pam_cloudauth\(sudo:auth\): user=alice flow=password result=success .*roles=admin' \
        "sudo's authentication through pam_cloudauth"
expect_syslog 'pam_cloudauth\(sudo:account\): user=alice account=alice result=allowed .*source=cache' \
        "the account check of the timestamped calls, from the identity store"
expect_syslog 'sudo(\[[0-9]+\])?: +alice : .*USER=root ; COMMAND=/usr/bin/id -u' "sudo's own log of the command"

syslog_mark
as_user alice 'sudo -K; sudo -S -v -p ""' "wrong-$pw"
[[ $SUDO_RC -ne 0 ]] || fail "sudo accepted a wrong password"
expect_syslog 'pam_cloudauth\(sudo:auth\): user=alice flow=password result=denied reason="wrong password"' \
        "the wrong password's decision"

# bob authenticates, but no sudoers rule names him or his groups: sudo
# asks for the password before it tells him so.
syslog_mark
as_user bob 'sudo -K; sudo -S -p "" id -u' "$bob_pw"
[[ $SUDO_RC -ne 0 && ! -s "$SUDO_OUT" ]] || fail "bob ran sudo id -u (exit $SUDO_RC): $(cat "$SUDO_OUT")"
grep -q 'bob is not in the sudoers file' "$SUDO_ERR" || fail "sudo refused bob for another reason: $(cat "$SUDO_ERR")"
expect_syslog 'pam_cloudauth\(sudo:auth\): user=bob flow=password result=success' \
        "bob's password was right: the policy refused him, not the authentication"
expect_syslog 'sudo(\[[0-9]+\])?: +bob : user NOT in sudoers' "sudo's own log of the refusal"
as_user bob 'sudo -K; sudo -S -v -p ""' "$bob_pw"
[[ $SUDO_RC -ne 0 ]] || fail "sudo -v validated bob"
[[ " $(id -G bob) " != *" $sudo_gid "* ]] || fail "bob has group sudo: $(id bob)"

# Without unix_groups the role grants nothing local; the next login drops
# sudo from alice's groups, and a drop-in naming her IdP group takes over.
e2e_config "" "[role admin]" "groups = linux-admins" "unix_groups = adm"
e2e_pam_login sudo alice "$pw"
[[ " $(id -G alice) " != *" $sudo_gid "* ]] || fail "alice kept group sudo after the role stopped granting it"
as_user alice 'sudo -K; sudo -S -v -p ""' "$pw"
[[ $SUDO_RC -ne 0 ]] || fail "alice got sudo without group sudo and without a drop-in"

getent group linux-admins@example.com >/dev/null || fail "NSS has no group linux-admins@example.com"
echo '%linux-admins@example.com ALL=(ALL) ALL' >"$T/sudoers.cloudauth"
visudo -cq -f "$T/sudoers.cloudauth" || fail "visudo rejects the drop-in"
install -m 0440 -o root -g root "$T/sudoers.cloudauth" /etc/sudoers.d/cloudauth
syslog_mark
as_user alice 'sudo -K; sudo -S -v -p "" || exit 11; sudo -n id -u || exit 12' "$pw"
[[ $SUDO_RC -eq 0 ]] || fail "the %linux-admins drop-in did not give alice sudo (exit $SUDO_RC): $(cat "$SUDO_ERR")"
[[ "$(cat "$SUDO_OUT")" == 0 ]] || fail "sudo -n id -u printed '$(cat "$SUDO_OUT")' through the drop-in"
as_user bob 'sudo -K; sudo -S -v -p ""' "$bob_pw"
[[ $SUDO_RC -ne 0 ]] || fail "the %linux-admins drop-in let bob in"

SYSLOG_MARK=0
expect_no_syslog "$pw" "the password must never be logged"
pass
