#!/bin/bash
# A PIN after a device login, through the real PAM stack: offered once the
# device login succeeded, then flow=pin signs in with it, re-validating with
# the refresh token every time (one token request each); a wrong PIN fails,
# the lockout counts it and a lock deletes the PIN; passwd (chauthtok)
# changes it; the PIN stops working at once when the provider disables the
# account. The record holds only a verifier of it.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
interval=1
idp_start --interval "$interval"
CFG_PROVIDER_EXTRA=$'flows = device password' write_config "[pin]" "enabled = yes" "min_length = 6" \
        "[lockout]" "attempts = 3"
pam_service device flow=device
pam_service pin flow=pin
echo "password required $CLOUDAUTH_PAM_MODULE config=$T/cloudauth.conf helper=$CLOUDAUTH_HELPER" >>"$T/pam.d/pin"
approve="$CLOUDAUTH_SOURCE_ROOT/tests/idp/approve-device.sh"
wrapper=$(_libpam_wrapper)
pw=$(password_of alice@example.com)
PIN=482913

start_login() { # SERVICE USER
        rm -f "$T/in" "$T/dev.out"
        mkfifo "$T/in"
        env LD_PRELOAD="$wrapper" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" PAM_WRAPPER_USE_SYSLOG=1 \
                timeout 120 stdbuf -oL pamtester -v "$1" "$2" authenticate <"$T/in" >"$T/dev.out" 2>&1 &
        LOGIN_PID=$!
        exec 7>"$T/in"
}
wait_for() { # REGEX
        local deadline=$(($(now_ms) + 20000))
        while (($(now_ms) < deadline)); do
                grep -aqE "$1" "$T/dev.out" && return 0
                sleep 0.05
        done
        fail "pamtester never printed /$1/: $(tr -d '\000' <"$T/dev.out" | tail -c 2000)"
}
device_login() { # EMAIL PASSWORD [PIN-ANSWER REPEAT-ANSWER]
        start_login device "${1%@*}"
        wait_for 'enter the code  [^ ]+'
        code=$(grep -aoE -m1 'enter the code  [^ ]+' "$T/dev.out" | awk '{print $4}')
        uri=$(grep -aoE -m1 'open     https://[^ ]+' "$T/dev.out" | awk '{print $2}')
        "$approve" "$CA_FILE" "$uri" "$code" "$1" "$2" >/dev/null || fail "approval failed"
        sleep $((interval + 1))
        printf '\n' >&7
        if [[ $# -ge 3 ]]; then
                wait_for 'Choose a PIN for sudo and for signing in when offline \(Enter to skip\)'
                printf '%s\n' "$3" >&7
                if [[ -n "$3" ]]; then
                        wait_for 'Repeat the PIN'
                        printf '%s\n' "$4" >&7
                fi
        fi
        exec 7>&-
        LOGIN_RC=0
        wait "$LOGIN_PID" || LOGIN_RC=$?
        helpers_settle
}
record_of() { grep -l "\"$1\"" "$T/state/users/"*.json; }

# Mistyped confirmation: no PIN.
device_login alice@example.com "$pw" "$PIN" "${PIN}0"
[[ $LOGIN_RC -eq 0 ]] || fail "the device login failed: $(tail -c 1500 "$T/dev.out")"
grep -aq "The PINs differ; no PIN was set." "$T/dev.out" || fail "no message for differing PINs"
record=$(record_of alice@example.com)
grep -q '"pin_verifier"' "$record" && fail "a PIN was stored although the two differed"

# Offered again at the next device login, and set.
device_login alice@example.com "$pw" "$PIN" "$PIN"
[[ $LOGIN_RC -eq 0 ]] || fail "the device login failed: $(tail -c 1500 "$T/dev.out")"
grep -aq "PIN set." "$T/dev.out" || fail "no confirmation that the PIN was set"
grep -q '"pin_verifier"' "$record" || fail "no PIN verifier in the record: $(cat "$record")"
grep -q "$PIN" "$record" && fail "the record holds the PIN itself"

# Not offered again once a PIN is set.
device_login alice@example.com "$pw"
[[ $LOGIN_RC -eq 0 ]] || fail "the third device login failed"
grep -aq "Choose a PIN" "$T/dev.out" && fail "a PIN was offered although one is set"

# flow=pin: one refresh request per login, success.
requests_mark
syslog_mark
pam_run pin alice "authenticate acct_mgmt" "$PIN"
expect_pam_ok
[[ "$(requests_new | grep -c '^POST /token ')" -eq 1 ]] || fail "a PIN login made other than one token request: $(requests_new)"
expect_syslog 'user=alice flow=pin source=pin result=success' "the PIN login's decision"

# Wrong PINs: refused; three of them lock the account and delete the PIN.
pam_run pin alice "authenticate" "000000"
expect_pam_fail "Authentication failure"
grep -q "Wrong PIN." "$PAM_OUT" || fail "no message for a wrong PIN: $(cat "$PAM_OUT")"
pam_run pin alice "authenticate" "000001"
expect_pam_fail "Authentication failure"

# passwd: the current PIN, then the new one twice.
NEW=775533
pam_run pin alice "chauthtok" "$PIN"$'\n'"$NEW"$'\n'"$NEW"
expect_pam_ok
grep -q "PIN changed." "$PAM_OUT" || fail "no confirmation from chauthtok: $(cat "$PAM_OUT")"
pam_run pin alice "authenticate" "$NEW"
expect_pam_ok
pam_run pin alice "authenticate" "$PIN"
expect_pam_fail "Authentication failure"
# A wrong current PIN changes nothing.
pam_run pin alice "chauthtok" "999999"$'\n'"123456"$'\n'"123456"
expect_pam_fail "Authentication token manipulation error"

# Three failures in a row lock the account, and the PIN is gone for good.
for guess in 100000 100001 100002; do
        pam_run pin alice "authenticate" "$guess"
done
syslog_mark
pam_run pin alice "authenticate" "$NEW"
[[ "$PAM_RC" -ne 0 ]] || fail "a locked account's PIN worked"
grep -q '"pin_verifier"' "$record" && fail "the lock left the PIN in the record"
ctl user unlock alice >/dev/null || fail "user unlock failed"
pam_run pin alice "authenticate" "$NEW"
expect_pam_fail "Authentication failure"
grep -q "sign in with the device login to set one" "$PAM_OUT" || fail "no advice after the PIN was deleted: $(cat "$PAM_OUT")"

# A new device login sets a PIN again; disabled at the provider, the PIN stops at once.
device_login alice@example.com "$pw" "$PIN" "$PIN"
[[ $LOGIN_RC -eq 0 ]] || fail "the device login after the lock failed"
pam_run pin alice "authenticate" "$PIN"
expect_pam_ok
idp_admin "/__test/user?email=alice@example.com&disabled=1"
pam_run pin alice "authenticate" "$PIN"
expect_pam_fail "Authentication failure"
grep -q "no longer lets this account sign in" "$PAM_OUT" || fail "no message for a disabled account: $(cat "$PAM_OUT")"
pass
