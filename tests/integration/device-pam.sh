#!/bin/bash
# The device flow through the real PAM stack: pamtester shows the code, the
# link and the QR code with an Enter prompt while the module polls; the test
# approves the code through the provider's own pages, as a person would on
# a phone, then presses Enter. Also flow=auto, denial, expiry, Enter pressed
# too early, and the number of token requests each login made.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
interval=2
idp_start --interval "$interval"
CFG_PROVIDER_EXTRA=$'flows = device password\napp_name = Example Linux' write_config
pam_service device flow=device
pam_service auto flow=auto
approve="$CLOUDAUTH_SOURCE_ROOT/tests/idp/approve-device.sh"
wrapper=$(_libpam_wrapper)

# start_login SERVICE USER: pamtester in the background, its stdin a FIFO we write Enter into.
start_login() {
        rm -f "$T/in" "$T/dev.out"
        mkfifo "$T/in"
        env LD_PRELOAD="$wrapper" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" PAM_WRAPPER_USE_SYSLOG=1 \
                timeout 120 stdbuf -oL pamtester -v "$1" "$2" authenticate acct_mgmt <"$T/in" >"$T/dev.out" 2>&1 &
        LOGIN_PID=$!
        exec 7>"$T/in"
}

# wait_for REGEX: until pamtester printed it; prints the first match.
wait_for() {
        local deadline=$(($(now_ms) + 20000)) m
        while (($(now_ms) < deadline)); do
                m=$(grep -aoE -m1 "$1" "$T/dev.out" || true)
                [[ -n "$m" ]] && { echo "$m"; return 0; }
                sleep 0.05
        done
        fail "pamtester never printed /$1/: $(tr -d '\000' <"$T/dev.out" | tail -c 2000)"
}

finish_login() {
        exec 7>&-
        LOGIN_RC=0
        wait "$LOGIN_PID" || LOGIN_RC=$?
}

enter() { printf '\n' >&7; }

code_and_uri() {
        CODE=$(wait_for 'enter the code  [^ ]+' | awk '{print $4}')
        URI=$(wait_for 'open     https://[^ ]+' | awk '{print $2}')
}

pw=$(password_of alice@example.com)

# 1. Approve after a while, then press Enter: success, with the app and host
# name and a QR code shown, and no more token requests than time allows.
requests_mark
syslog_mark
start_login device alice
code_and_uri
grep -aq "Sign in to Example Linux on $(hostname) as alice" "$T/dev.out" || fail "no app and host name shown"
grep -aq 'or scan this code with your phone' "$T/dev.out" || fail "no QR code shown"
grep -aq '▀\|▄\|█' "$T/dev.out" || fail "the QR code has no blocks"
t0=$(now_ms)
sleep 3
"$approve" "$CA_FILE" "$URI" "$CODE" alice@example.com "$pw" >/dev/null || fail "approval failed"
t1=$(now_ms)
sleep "$interval" # the poller sees the approval within one interval
enter
finish_login
[[ $LOGIN_RC -eq 0 ]] || fail "the device login failed: $(tail -c 1500 "$T/dev.out")"
polls=$(requests_new | grep -c '^POST /token ')
t2=$(now_ms)
max=$(((t2 - t0) / 1000 / interval + 1))
echo "device login: $polls token requests over $(((t2 - t0) / 1000)) s at a ${interval} s interval (at most $max)"
((polls >= 1 && polls <= max)) || fail "$polls token requests, expected 1..$max"
expect_syslog 'user=alice flow=device result=success local_user=alice' "the device login's decision"
grep -aq 'Not signed in yet' "$T/dev.out" && fail "an Enter after approval must not ask again"

# 2. Enter pressed before approval: the prompt returns with the time left.
start_login device alice
code_and_uri
enter
wait_for 'Not signed in yet: [0-9]+:[0-9]{2} left' >/dev/null
"$approve" "$CA_FILE" "$URI" "$CODE" alice@example.com "$pw" >/dev/null || fail "approval failed"
sleep "$interval"
enter
finish_login
[[ $LOGIN_RC -eq 0 ]] || fail "the device login after an early Enter failed: $(tail -c 1500 "$T/dev.out")"

# 3. Denied at the provider: refused, with the reason logged.
syslog_mark
start_login device alice
code_and_uri
"$approve" "$CA_FILE" "$URI" "$CODE" alice@example.com "$pw" deny >/dev/null || fail "denial failed"
sleep "$interval"
enter
finish_login
[[ $LOGIN_RC -ne 0 ]] || fail "a denied code logged in"
grep -aq 'pamtester: Authentication failure' "$T/dev.out" || fail "denial: $(tail -c 500 "$T/dev.out")"
expect_syslog 'user=alice flow=device result=denied' "the denial's decision"

# 4. Approved by someone else: the token is for bob, the login is alice's.
start_login device alice
code_and_uri
"$approve" "$CA_FILE" "$URI" "$CODE" bob@example.com "$(password_of bob@example.com)" >/dev/null ||
        fail "approval failed"
sleep "$interval"
enter
finish_login
[[ $LOGIN_RC -ne 0 ]] || fail "bob's approval logged alice in"

# 5. flow=auto: an empty password starts the device flow; a password logs in directly.
start_login auto alice
wait_for 'Password \(or press Enter to sign in with a code\)' >/dev/null
enter
code_and_uri
"$approve" "$CA_FILE" "$URI" "$CODE" alice@example.com "$pw" >/dev/null || fail "approval failed"
sleep "$interval"
enter
finish_login
[[ $LOGIN_RC -eq 0 ]] || fail "flow=auto with an empty password: $(tail -c 1500 "$T/dev.out")"
pam_run auto alice "authenticate acct_mgmt" "$pw"
expect_pam_ok

# 6. Nobody approves before the code expires: refused within expires_in.
idp_stop
idp_start --interval 1 --device-ttl 4
CFG_PROVIDER_EXTRA=$'flows = device password' write_config
start_login device alice
code_and_uri
sleep 6
enter
finish_login
[[ $LOGIN_RC -ne 0 ]] || fail "an expired code logged in"
pass
