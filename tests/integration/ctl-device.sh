#!/bin/bash
# cloudauthctl login --device: the code, the link and the QR code are shown,
# the code is approved through the provider's own pages (as a person does
# on a phone), and the claims and their mapping are printed. Also --json
# (progress on stderr, one document on stdout), no USER, denial and expiry.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
[[ -x "${CLOUDAUTH_CTL:-}" ]] || skip "cloudauthctl is not built"
require_cmd python3
idp_start --interval 1
CFG_PROVIDER_EXTRA=$'flows = device password\napp_name = Example Linux' write_config
approve=$SOURCE_ROOT/tests/idp/approve-device.sh
json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }

# start_login OUT ERR ARGS...: cloudauthctl in the background; sets LOGIN_PID,
# CODE and URI from what it printed (OUT, or ERR with --json).
start_login() {
        local out=$1 err=$2 deadline
        shift 2
        timeout 60 "$CLOUDAUTH_CTL" --config "$T/cloudauth.conf" "$@" >"$out" 2>"$err" &
        LOGIN_PID=$!
        deadline=$(($(now_ms) + 10000))
        CODE="" URI=""
        while [[ -z "$CODE" || -z "$URI" ]]; do
                CODE=$(cat "$out" "$err" | sed -n 's/^  and enter the code  \([^ ]*\)$/\1/p' | head -n1)
                URI=$(cat "$out" "$err" | sed -n 's/^  open     \(https:[^ ]*\)$/\1/p' | head -n1)
                (($(now_ms) < deadline)) || fail "cloudauthctl printed no code: $(cat "$out" "$err")"
                if ! kill -0 "$LOGIN_PID" 2>/dev/null && [[ -z "$CODE" ]]; then
                        fail "cloudauthctl exited before printing a code: $(cat "$out" "$err")"
                fi
                sleep 0.02
        done
}

finish_login() {
        LOGIN_RC=0
        wait "$LOGIN_PID" || LOGIN_RC=$?
        [[ $LOGIN_RC -ne 124 ]] || fail "cloudauthctl hung"
}

pw=$(password_of alice@example.com)

# 1. Approved by alice: exit 0, the code shown with the app name, a QR code, the claims.
start_login "$T/out" "$T/err" login --device alice
"$approve" "$CA_FILE" "$URI" "$CODE" alice@example.com "$pw" >/dev/null || fail "approval failed"
finish_login
out=$(cat "$T/out")
[[ $LOGIN_RC -eq 0 ]] || fail "login --device alice exited $LOGIN_RC: $out $(cat "$T/err")"
[[ "$URI" == "$ISSUER/"* ]] || fail "the verification URI is not the provider's: $URI"
grep -q '^Sign in to Example Linux as alice:$' <<<"$out" || fail "no app name: $out"
grep -q '^or scan this code with your phone:$' <<<"$out" || fail "no QR code: $out"
grep -q '█\|▀\|▄' <<<"$out" || fail "the QR code has no blocks"
grep -Eq '^The code expires in [0-9]+:[0-9]{2} \(at [0-9:]+\)\. Waiting for the sign-in\.\.\.$' <<<"$out" ||
        fail "no time left: $out"
grep -q '"preferred_username": "alice@example.com"' <<<"$out" || fail "no claims: $out"
grep -q '^local user *alice$' <<<"$out" || fail "no local user: $out"
grep -q '^allowed *yes (member of an allowed group)' <<<"$out" || fail "no access verdict: $out"
grep -q 'eyJ' <<<"$out" && fail "a token was printed"

# 2. --json: the code on stderr, one JSON document on stdout.
start_login "$T/out" "$T/err" --json login --device alice
"$approve" "$CA_FILE" "$URI" "$CODE" alice@example.com "$pw" >/dev/null || fail "approval failed"
finish_login
[[ $LOGIN_RC -eq 0 ]] || fail "--json login --device exited $LOGIN_RC: $(cat "$T/out" "$T/err")"
[[ $(json_get 'd["local_user"], d["flow"], d["allowed"], d["user"], d["claims"]["email"]' <"$T/out") == \
        "('alice', 'device', True, 'alice', 'alice@example.com')" ]] || fail "--json: $(cat "$T/out")"
grep -q 'enter the code' "$T/out" && fail "--json mixed the progress into stdout"
grep -q 'device_code\|id_token\|eyJ' "$T/out" "$T/err" && fail "a secret was printed"

# 3. No USER: whoever approves, here bob.
start_login "$T/out" "$T/err" login --device
grep -q '^Sign in to Example Linux:$' "$T/out" || fail "without a user: $(cat "$T/out")"
"$approve" "$CA_FILE" "$URI" "$CODE" bob@example.com "$(password_of bob@example.com)" >/dev/null ||
        fail "approval failed"
finish_login
[[ $LOGIN_RC -eq 0 ]] || fail "login --device without a user exited $LOGIN_RC: $(cat "$T/out" "$T/err")"
grep -q '^local user *bob$' "$T/out" || fail "not bob: $(cat "$T/out")"

# 4. USER named, someone else approves: refused.
start_login "$T/out" "$T/err" login --device alice
"$approve" "$CA_FILE" "$URI" "$CODE" bob@example.com "$(password_of bob@example.com)" >/dev/null ||
        fail "approval failed"
finish_login
[[ $LOGIN_RC -eq 1 ]] || fail "bob's approval logged alice in: exit $LOGIN_RC"
grep -q '^Login failed for alice: the token is for a different user' "$T/out" || fail "mismatch: $(cat "$T/out")"

# 5. Denied at the provider: exit 1 with the reason.
start_login "$T/out" "$T/err" login --device alice
"$approve" "$CA_FILE" "$URI" "$CODE" alice@example.com "$pw" deny >/dev/null || fail "denial failed"
finish_login
[[ $LOGIN_RC -eq 1 ]] || fail "a denied code exited $LOGIN_RC: $(cat "$T/out")"
grep -q '^Login failed for alice: access denied (denied)$' "$T/out" || fail "no denial reason: $(cat "$T/out")"

# 6. Nobody approves before the code expires: exit 1 within its lifetime.
idp_stop
idp_start --interval 1 --device-ttl 3
write_config
t0=$(now_ms)
start_login "$T/out" "$T/err" login --device alice
finish_login
elapsed=$(($(now_ms) - t0))
[[ $LOGIN_RC -eq 1 ]] || fail "an expired code exited $LOGIN_RC"
grep -q '^Login failed for alice: code expired (denied)$' "$T/out" || fail "expiry: $(cat "$T/out")"
((elapsed < 40000)) || fail "expiry took $elapsed ms"
pass
