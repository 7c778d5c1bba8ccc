#!/bin/bash
# The test provider's own flows, which later tests rely on: device flow with
# interval, slow_down, approval through its pages, denial and expiry;
# authorization code with PKCE S256 (required) on any loopback port; refresh
# tokens; client authentication of the confidential client.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
idp_start --interval 1 --device-ttl 8
approve=$SOURCE_ROOT/tests/idp/approve-device.sh
c() {
        curl -s --max-time 10 --cacert "$CA_FILE" "$@"
}
field() { # JSON NAME
        python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2"
}
device_poll() { # DEVICE_CODE
        c "$ISSUER/token" -d grant_type=urn:ietf:params:oauth:grant-type:device_code \
                -d client_id=cloudauth-test --data-urlencode "device_code=$1"
}

# Device flow, approved.
d=$(c "$ISSUER/device/auth" -d client_id=cloudauth-test -d "scope=openid profile offline_access")
[[ "$(field "$d" interval)" == 1 ]] || fail "no interval in the device authorization: $d"
dc=$(field "$d" device_code)
[[ "$(field "$(device_poll "$dc")" error)" == authorization_pending ]] || fail "first poll is not pending"
[[ "$(field "$(device_poll "$dc")" error)" == slow_down ]] || fail "an early poll is not slow_down"
"$approve" "$CA_FILE" "$(field "$d" verification_uri)" "$(field "$d" user_code)" \
        bob@example.com "$(password_of bob@example.com)" || fail "approval through the pages failed"
sleep 1.05 # the interval must pass before the next poll, by the protocol
tok=$(device_poll "$dc")
[[ -n "$(field "$tok" id_token)" && -n "$(field "$tok" refresh_token)" ]] || fail "approved device code: $tok"

# Refresh token.
r=$(c "$ISSUER/token" -d grant_type=refresh_token -d client_id=cloudauth-test \
        --data-urlencode "refresh_token=$(field "$tok" refresh_token)")
[[ -n "$(field "$r" id_token)" ]] || fail "refresh: $r"

# Device flow, denied.
d=$(c "$ISSUER/device/auth" -d client_id=cloudauth-test -d scope=openid)
"$approve" "$CA_FILE" "$(field "$d" verification_uri)" "$(field "$d" user_code)" \
        bob@example.com "$(password_of bob@example.com)" deny || fail "denial through the pages failed"
[[ "$(field "$(device_poll "$(field "$d" device_code)")" error)" == access_denied ]] || fail "denied code not access_denied"

# Device flow, expired (device-ttl 8 s: long enough for an approval through the pages under load).
d=$(c "$ISSUER/device/auth" -d client_id=cloudauth-test -d scope=openid)
deadline=$(($(now_ms) + 15000))
while :; do
        e=$(field "$(device_poll "$(field "$d" device_code)")" error)
        [[ "$e" == expired_token ]] && break
        [[ "$e" == authorization_pending || "$e" == slow_down ]] || fail "waiting for expiry got $e"
        (($(now_ms) < deadline)) || fail "the device code did not expire"
        sleep 1.05
done

# Authorization code with PKCE S256 on an arbitrary loopback port.
jar=$T/jar
go() {
        c -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' "$@"
}
verifier=$(openssl rand -hex 32)
challenge=$(printf %s "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')
redirect=http://127.0.0.1:5555/callback
next=$(go "$ISSUER/auth?client_id=cloudauth-test&response_type=code&redirect_uri=$redirect&scope=openid&code_challenge=$challenge&code_challenge_method=S256&state=s1")
[[ "$next" == */interaction/* ]] || fail "authorization did not start an interaction: $next"
bad=$(c -c "$jar" -b "$jar" -o /dev/null -w '%{http_code}' "$next/login" -d login=bob@example.com -d password=wrong)
[[ "$bad" == 401 ]] || fail "the login page accepted a wrong password ($bad)"
next=$(go "$next/login" --data-urlencode login=bob@example.com --data-urlencode "password=$(password_of bob@example.com)")
next=$(go "$next")
next=$(go -X POST "$next/confirm")
next=$(go "$next")
[[ "$next" == "$redirect?code="* ]] || fail "no code at the redirect: $next"
code=$(sed 's/.*[?&]code=\([^&]*\).*/\1/' <<<"$next")
tok=$(c "$ISSUER/token" -d grant_type=authorization_code -d client_id=cloudauth-test \
        --data-urlencode "code=$code" --data-urlencode "redirect_uri=$redirect" --data-urlencode "code_verifier=$verifier")
[[ -n "$(field "$tok" id_token)" ]] || fail "code exchange: $tok"
next=$(go "$ISSUER/auth?client_id=cloudauth-test&response_type=code&redirect_uri=$redirect&scope=openid")
[[ "$next" == *"error=invalid_request"* ]] || fail "an authorization request without PKCE was accepted: $next"

# The confidential client must authenticate.
ans=$(c "$ISSUER/token" -d grant_type=password -d client_id=cloudauth-confidential \
        -d username=bob@example.com --data-urlencode "password=$(password_of bob@example.com)" -d scope=openid)
[[ "$(field "$ans" error)" == invalid_client ]] || fail "the confidential client without its secret: $ans"
ans=$(c -u "cloudauth-confidential:$(tr -d '\n' <"$IDP_CLIENT_SECRET")" "$ISSUER/token" -d grant_type=password \
        -d username=bob@example.com --data-urlencode "password=$(password_of bob@example.com)" -d scope=openid)
[[ -n "$(field "$ans" id_token)" ]] || fail "the confidential client with its secret: $ans"

# Test controls: injected failures.
idp_admin "/__test/fail?status=503&count=1"
s=$(c -o /dev/null -w '%{http_code}' "$ISSUER/token" -d grant_type=password -d client_id=cloudauth-test)
[[ "$s" == 503 ]] || fail "injected failure answered $s"
pass
