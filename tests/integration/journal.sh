#!/bin/bash
# With journald running, each login decision is one journal record with the
# MESSAGE_ID of its kind and its fields (cloudauth-journal(7)), its MESSAGE
# the syslog line: success, refused, locked on this host, denied by policy,
# unavailable; the password is in no field. A private journald serves
# this namespace, with volatile storage under a private /run.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
JOURNALD=/lib/systemd/systemd-journald
[[ -x "$JOURNALD" ]] || skip "systemd-journald is not installed"
require_cmd journalctl
ldd "$CLOUDAUTH_HELPER" | grep -q 'libsystemd\.so' || skip "the login helper is built without libsystemd"

ID_SUCCESS=be6eb778e41f449dbd9a5d50f045209c
ID_REFUSED=cc2f5a8fff58437895696cbd68ad33e5
ID_UNAVAILABLE=54fe07803fe04cf681b0fe52a6267c53
ID_NOT_ALLOWED=8b73e0d77a6b4247997b3ca994ad2e5f
ID_LOCKED=c37e5b6fd48b40d2ae9188136e0f902c

# journald's sockets and its runtime journal, for this namespace only; a
# volatile configuration, and a private /var/log/journal besides, keep it off
# the machine's own journal.
mkdir -p /run/systemd /run/log
mount -t tmpfs -o mode=0755,size=8m cloudauth-run-systemd /run/systemd
mount -t tmpfs -o mode=0755,size=32m cloudauth-run-log /run/log
[[ -d /var/log/journal ]] && mount -t tmpfs -o mode=0755,size=1m cloudauth-var-journal /var/log/journal
if [[ -f /etc/systemd/journald.conf ]]; then
        printf '[Journal]\nStorage=volatile\nForwardToSyslog=no\nForwardToWall=no\nForwardToConsole=no\n' \
                >"$T/journald.conf"
        mount --bind "$T/journald.conf" /etc/systemd/journald.conf
fi
[[ -d /etc/systemd/journald.conf.d ]] && mount -t tmpfs -o size=1m cloudauth-journald-conf /etc/systemd/journald.conf.d
"$JOURNALD" >"$T/journald.log" 2>&1 &
JOURNALD_PID=$!
trap 'rc=$?; kill "$JOURNALD_PID" 2>/dev/null; wait "$JOURNALD_PID" 2>/dev/null; (exit "$rc"); _cleanup' EXIT
for ((i = 0; i < 200; i++)); do
        [[ -S /run/systemd/journal/socket ]] && break
        kill -0 "$JOURNALD_PID" 2>/dev/null || fail "systemd-journald exited: $(cat "$T/journald.log")"
        sleep 0.02
done
[[ -S /run/systemd/journal/socket ]] || fail "systemd-journald did not create its socket"

idp_start
write_config
# nodelay: the failures that lock alice would otherwise cost the failure delay each.
pam_service login nodelay

# The record of MESSAGE_ID whose CLOUDAUTH_USER is user, one FIELD=value a line.
record_of() { # MESSAGE_ID USER
        local i
        for ((i = 0; i < 100; i++)); do
                journalctl --directory=/run/log/journal -o export --no-pager \
                        "MESSAGE_ID=$1" "CLOUDAUTH_USER=$2" >"$T/record" 2>/dev/null
                grep -q '^MESSAGE=' "$T/record" && return 0
                sleep 0.05
        done
        fail "no journal record $1 for $2: $(journalctl --directory=/run/log/journal -o short --no-pager | tail -n 5)"
}

expect_field() { # FIELD=VALUE
        grep -qxF -- "$1" "$T/record" || fail "the record has no $1: $(grep '^CLOUDAUTH_\|^MESSAGE' "$T/record" | tr '\n' ';')"
}

pw=$(password_of alice@example.com)
syslog_mark
pam_run login alice@example.com authenticate "$pw"
expect_pam_ok
record_of "$ID_SUCCESS" alice@example.com
expect_field "CLOUDAUTH_FLOW=password"
expect_field "CLOUDAUTH_RESULT=success"
expect_field "CLOUDAUTH_SERVICE=login"
expect_field "SYSLOG_IDENTIFIER=cloudauth-auth"
expect_field "PRIORITY=5"
expect_field "SYSLOG_FACILITY=10"
expect_field "CLOUDAUTH_ISSUER=$ISSUER"
grep -qE '^CLOUDAUTH_SUBJECT=.+' "$T/record" || fail "the success has no subject"
grep -qE '^CLOUDAUTH_LOCAL_USER=alice$' "$T/record" || fail "the success has no local user"
grep -qE '^CLOUDAUTH_UID=[0-9]+$' "$T/record" || fail "the success has no UID"
grep -qE '^MESSAGE=pam_cloudauth\(login:auth\): user=alice@example\.com flow=password result=success local_user=alice ' \
        "$T/record" || fail "the MESSAGE is not the decision line: $(grep '^MESSAGE=' "$T/record")"
# The decision is the journal's: no second copy of it over syslog.
expect_no_syslog 'user=alice@example\.com flow=password result=' "the decision went to the journal"

pam_run login alice@example.com authenticate "wrong-$pw"
expect_pam_fail "Authentication failure"
record_of "$ID_REFUSED" alice@example.com
expect_field "CLOUDAUTH_RESULT=denied"
expect_field "PRIORITY=4"
grep -q '^CLOUDAUTH_REASON=.' "$T/record" || fail "the refusal has no reason"

# [lockout] attempts (5 by default) failures lock alice; the next login is refused unasked.
for i in 2 3 4 5; do
        pam_run login alice@example.com authenticate "wrong-$i-$pw"
        expect_pam_fail "Authentication failure"
done
pam_run login alice@example.com authenticate "$pw"
expect_pam_fail "Have exhausted maximum number of retries for service"
record_of "$ID_LOCKED" alice@example.com
expect_field "CLOUDAUTH_RESULT=locked"
expect_field "CLOUDAUTH_SERVICE=login"
grep -qE '^CLOUDAUTH_REASON=5 failed logins, locked for [0-9]+ more seconds$' "$T/record" ||
        fail "the lock's record has no reason: $(grep '^CLOUDAUTH_' "$T/record" | tr '\n' ';')"

pam_run login carol@other.example authenticate "$(password_of carol@other.example)"
expect_pam_fail "Permission denied"
record_of "$ID_NOT_ALLOWED" carol@other.example
expect_field "CLOUDAUTH_RESULT=not-allowed"

idp_stop
pam_run login carol@other.example authenticate "$(password_of carol@other.example)"
expect_pam_fail "Authentication service cannot retrieve authentication info"
record_of "$ID_UNAVAILABLE" carol@other.example
expect_field "CLOUDAUTH_RESULT=unavailable"
expect_field "PRIORITY=3"

journalctl --directory=/run/log/journal -o export --no-pager >"$T/all"
if grep -qF -- "$pw" "$T/all"; then
        fail "the password is in the journal"
fi
pass
