#!/bin/bash
# One device login approved the way a person approves it: headless Debian
# chromium (driven by playwright-core) opens the verification page, types the
# code, signs in on the provider's login page and allows access, while the
# PAM module (flow=device, under pamtester) waits at its Enter prompt.
# Screenshots of each page are written to $T/screens, and copied to
# $CLOUDAUTH_TEST_ARTIFACTS/device-chromium when that is set.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
[[ -x /usr/bin/chromium ]] || skip "chromium is not installed (Debian package chromium)"
[[ -d "$INTEGRATION_DIR/node_modules/playwright-core" ]] ||
        skip "playwright-core is not installed (npm ci in tests/integration)"
interval=1
idp_start --interval "$interval"
CFG_PROVIDER_EXTRA=$'flows = device password\napp_name = Example Linux' write_config
pam_service device flow=device
wrapper=$(_libpam_wrapper)

rm -f "$T/in"
mkfifo "$T/in"
syslog_mark
env LD_PRELOAD="$wrapper" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" PAM_WRAPPER_USE_SYSLOG=1 \
        timeout 120 stdbuf -oL pamtester -v device alice authenticate acct_mgmt <"$T/in" >"$T/dev.out" 2>&1 &
login_pid=$!
exec 7>"$T/in"

wait_for() { # REGEX: what pamtester printed
        local deadline=$(($(now_ms) + 20000)) m
        while (($(now_ms) < deadline)); do
                m=$(grep -aoE -m1 "$1" "$T/dev.out" || true)
                [[ -n "$m" ]] && { echo "$m"; return 0; }
                sleep 0.05
        done
        fail "pamtester never printed /$1/: $(tr -d '\000' <"$T/dev.out" | tail -c 2000)"
}
code=$(wait_for 'enter the code  [^ ]+' | awk '{print $4}')
uri=$(wait_for 'open     https://[^ ]+' | awk '{print $2}')

mkdir -m 0755 "$T/screens"
t0=$(now_ms)
node "$INTEGRATION_DIR/chromium-approve.mjs" "$uri" "$code" alice@example.com "$(password_of alice@example.com)" \
        "$T/screens" >"$T/chromium.out" 2>&1 || fail "chromium did not approve the code: $(cat "$T/chromium.out")"
echo "chromium approved the code in $(($(now_ms) - t0)) ms"
grep -q '^approved$' "$T/chromium.out" || fail "chromium-approve: $(cat "$T/chromium.out")"
for page in enter-code sign-in allow-access signed-in; do
        ls "$T/screens/"*"-$page.png" >/dev/null 2>&1 || fail "no screenshot of the $page page"
done
# A PNG, not an empty file: the signature and a plausible size.
shot=$(ls "$T/screens/"*-enter-code.png)
[[ $(head -c 8 "$shot" | od -An -tx1 | tr -d ' ') == 89504e470d0a1a0a ]] || fail "$shot is not a PNG"
(($(stat -c %s "$shot") > 2000)) || fail "$shot is too small to show a page"

sleep "$interval" # the module's poller sees the approval within one interval
printf '\n' >&7
exec 7>&-
rc=0
wait "$login_pid" || rc=$?
[[ $rc -eq 0 ]] || fail "the device login approved in chromium failed (exit $rc): $(tail -c 1500 "$T/dev.out")"
grep -aq 'pamtester: successfully authenticated' "$T/dev.out" || fail "no success: $(tail -c 800 "$T/dev.out")"
expect_syslog 'user=alice flow=device result=success local_user=alice' "the device login's decision"

if [[ -n "${CLOUDAUTH_TEST_ARTIFACTS:-}" ]]; then
        mkdir -p "$CLOUDAUTH_TEST_ARTIFACTS/device-chromium"
        cp "$T/screens/"*.png "$CLOUDAUTH_TEST_ARTIFACTS/device-chromium/"
        echo "screenshots of the provider's pages: $CLOUDAUTH_TEST_ARTIFACTS/device-chromium/"
else
        echo "screenshots of the provider's pages were in $T/screens (set CLOUDAUTH_TEST_ARTIFACTS to keep them)"
fi
pass
