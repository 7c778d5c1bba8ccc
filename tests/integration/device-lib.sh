#!/bin/bash
# The device flow through libcloudauth (device_start, device_wait_for_tokens,
# provider_verify_id_token) against the test provider, approved and denied
# through the provider's own pages: the result a user gets, that polls never
# come faster than the interval, PKCE when advertised, expiry, and the
# provider going away while we poll.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
[[ -x "${CLOUDAUTH_DEVICE_DRIVER:-}" ]] || skip "device-driver is not built"
approve=$SOURCE_ROOT/tests/idp/approve-device.sh
bob_pw=$(password_of bob@example.com)

DRIVER_PID=""
DRIVER_RC=""
DRIVER_OUT=""
# A driver still running is stopped before lib.sh cleans up; errexit is off
# so the test's exit status reaches _cleanup.
_device_cleanup() {
        local rc=$?
        set +e
        [[ -n "$DRIVER_PID" ]] && kill "$DRIVER_PID" 2>/dev/null
        (exit "$rc")
        _cleanup
}
trap _device_cleanup EXIT

driver_start() { # NAME
        DRIVER_OUT=$T/$1.out
        timeout 90 "$CLOUDAUTH_DEVICE_DRIVER" "$T/cloudauth.conf" >"$DRIVER_OUT" 2>"$T/$1.err" &
        DRIVER_PID=$!
}

driver_field() { # KEY
        sed -n "s/^$1 //p" "$DRIVER_OUT" | tail -n1
}

driver_wait_for() { # KEY [timeout seconds]
        local deadline=$(($(now_ms) + ${2:-10} * 1000))
        until grep -q "^$1 " "$DRIVER_OUT"; do
                kill -0 "$DRIVER_PID" 2>/dev/null || fail "the driver exited before '$1': $(cat "$DRIVER_OUT" "$DRIVER_OUT" 2>/dev/null; cat "${DRIVER_OUT%.out}.err")"
                (($(now_ms) < deadline)) || fail "no '$1' from the driver within ${2:-10} s"
                sleep 0.02
        done
}

driver_wait() {
        set +e
        wait "$DRIVER_PID"
        DRIVER_RC=$?
        set -e
        DRIVER_PID=""
}

expect_result() { # TEXT RC
        [[ "$(driver_field result)" == "$1" ]] ||
                fail "expected result '$1', got '$(driver_field result)' (rc $DRIVER_RC): $(cat "${DRIVER_OUT%.out}.err")"
        [[ "$DRIVER_RC" == "$2" ]] || fail "the driver exited $DRIVER_RC, expected $2"
}

count_requests() { # METHOD PATH
        requests_new | grep -c "^$1 $2 " || true
}

# ---- approved after a while, with PKCE --------------------------------------
idp_start --interval 1
write_config
requests_mark
start=$(now_ms)
driver_start approve
driver_wait_for user_code
[[ "$(driver_field pkce)" == S256 ]] || fail "the provider advertises S256 but the driver uses '$(driver_field pkce)'"
[[ "$(driver_field interval)" == 1 ]] || fail "interval not taken from the provider: $(driver_field interval)"
[[ "$(driver_field qr)" == rendered ]] || fail "no QR code of verification_uri_complete"
[[ "$(driver_field verification_uri)" == "$ISSUER/device" ]] || fail "verification_uri: $(driver_field verification_uri)"
sleep 3
"$approve" "$CA_FILE" "$(driver_field verification_uri)" "$(driver_field user_code)" bob@example.com "$bob_pw" ||
        fail "approval through the provider's pages failed"
approved=$(now_ms)
driver_wait
expect_result success 0
[[ "$(driver_field id_token)" == verified ]] || fail "the ID token was not verified"
[[ "$(driver_field preferred_username)" == bob@example.com ]] ||
        fail "preferred_username: $(driver_field preferred_username)"
polls=$(count_requests POST /token)
# No request may come sooner than the interval allows: at most one poll per
# whole interval before the approval, and the one that gets the tokens.
max=$(((approved - start) / 1000 + 1))
((polls <= max)) || fail "$polls token requests in $((approved - start)) ms with interval 1 (at most $max)"
((polls >= 3)) || fail "only $polls token requests while waiting 3 s with interval 1"
[[ "$(driver_field polls)" == "$polls" ]] || fail "the driver counted $(driver_field polls) polls, the provider saw $polls"
[[ "$(count_requests POST /device/auth)" == 1 ]] || fail "not exactly one device authorization request"
# The provider saw the challenge and, since it checks the verifier when the
# code is redeemed, the success above proves the verifier matched.
seen=$(curl -sf --cacert "$CA_FILE" -X POST "$ISSUER/__test/device-requests")
python3 -c 'import json,sys; r=json.loads(sys.argv[1])[-1]
assert r["code_challenge_method"] == "S256" and len(r["code_challenge"]) == 43, r' "$seen" ||
        fail "the provider did not receive an S256 challenge: $seen"

# ---- denied, without PKCE ----------------------------------------------------
CFG_PROVIDER_EXTRA="pkce = no" write_config
start=$(now_ms)
driver_start deny
driver_wait_for user_code
[[ "$(driver_field pkce)" == none ]] || fail "pkce = no still sends PKCE"
seen=$(curl -sf --cacert "$CA_FILE" -X POST "$ISSUER/__test/device-requests")
python3 -c 'import json,sys; r=json.loads(sys.argv[1])[-1]
assert r["code_challenge"] is None, r' "$seen" || fail "pkce = no: the provider received a challenge: $seen"
"$approve" "$CA_FILE" "$(driver_field verification_uri)" "$(driver_field user_code)" bob@example.com "$bob_pw" deny ||
        fail "denial through the provider's pages failed"
driver_wait
expect_result "access denied" 2
(($(now_ms) - start < 10000)) || fail "the denial took $(($(now_ms) - start)) ms to arrive"

# ---- expired at the provider (3 s; the client clamps its own view to 30 s) ---
idp_stop
idp_start --interval 1 --device-ttl 3
write_config
start=$(now_ms)
driver_start expire
driver_wait_for user_code
[[ "$(driver_field expires_in)" == 30 ]] || fail "expires_in 3 not clamped to 30: $(driver_field expires_in)"
driver_wait
expect_result "code expired" 2
elapsed=$(($(now_ms) - start))
((elapsed >= 3000 && elapsed < 10000)) || fail "expiry reported after $elapsed ms (code lifetime 3 s)"

# ---- the provider goes away mid-poll ----------------------------------------
driver_start gone
driver_wait_for user_code
sleep 1.5
killed=$(now_ms)
idp_stop
driver_wait
expect_result "provider unreachable" 2
elapsed=$(($(now_ms) - killed))
# the first failed poll, then two retries after 2 and 4 intervals
((elapsed >= 6000 && elapsed < 15000)) || fail "unreachable reported $elapsed ms after the provider stopped"

pass
