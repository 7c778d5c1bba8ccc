#!/bin/bash
# cloudauthctl login --browser: the authorization code flow with PKCE over a
# loopback redirect. The provider's pages are driven with curl as a person
# drives them in a browser (sign in, allow), and curl follows the last
# redirect to the listener, which is how the code reaches cloudauthctl.
# Also: the listener is on 127.0.0.1 only, forged callbacks and stalled
# connections from another local user neither end nor block the login,
# denial, the wrong account, no account named, --json and the timeout.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
[[ -x "${CLOUDAUTH_CTL:-}" ]] || skip "cloudauthctl is not built"
require_cmd python3 ss setpriv
idp_start
write_config
jar=$T/jar

c() {
        curl -s --max-time 10 --cacert "$CA_FILE" "$@"
}
go() { # the Location of one step at the provider, with the cookies of this browser
        c -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' "$@"
}
url_param() { # URL NAME
        python3 -c 'import sys, urllib.parse as u
print(u.parse_qs(u.urlsplit(sys.argv[1]).query).get(sys.argv[2], [""])[0])' "$1" "$2"
}
json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }

# start_login OUT ERR ARGS...: cloudauthctl in the background; sets LOGIN_PID,
# AUTH_URL (read from OUT, or ERR with --json) and CB_PORT.
start_login() {
        local out=$1 err=$2 deadline
        shift 2
        timeout 60 "$CLOUDAUTH_CTL" --config "$T/cloudauth.conf" "$@" >"$out" 2>"$err" &
        LOGIN_PID=$!
        deadline=$(($(now_ms) + 10000))
        AUTH_URL=""
        while [[ -z "$AUTH_URL" ]]; do
                AUTH_URL=$(cat "$out" "$err" | grep -A2 -m1 '^Open this URL in a browser on this machine:$' |
                        grep -o 'https://[^ ]*' || true)
                (($(now_ms) < deadline)) || fail "cloudauthctl printed no URL: $(cat "$out" "$err")"
                kill -0 "$LOGIN_PID" 2>/dev/null || [[ -n "$AUTH_URL" ]] ||
                        fail "cloudauthctl exited before printing a URL: $(cat "$out" "$err")"
                sleep 0.02
        done
        local redirect
        redirect=$(url_param "$AUTH_URL" redirect_uri)
        [[ "$redirect" =~ ^http://127\.0\.0\.1:([0-9]+)/callback$ ]] || fail "redirect_uri is $redirect"
        CB_PORT=${BASH_REMATCH[1]}
}

finish_login() {
        LOGIN_RC=0
        wait "$LOGIN_PID" || LOGIN_RC=$?
        [[ $LOGIN_RC -ne 124 ]] || fail "cloudauthctl hung"
}

# sign_in EMAIL PASSWORD allow|deny: through the provider's pages with a new
# browser; the last redirect is followed to the listener. Sets PAGE (what the
# listener showed) and FINAL (the URL it was sent to).
sign_in() {
        local next
        rm -f "$jar"
        next=$(go "$AUTH_URL")
        [[ "$next" == "$ISSUER/interaction/"* ]] || fail "the authorization URL did not start a sign-in: $next"
        next=$(go "$next/login" --data-urlencode "login=$1" --data-urlencode "password=$2")
        [[ -n "$next" ]] || fail "the sign-in page did not accept $1"
        next=$(go "$next")
        [[ "$next" == "$ISSUER/interaction/"* ]] || fail "no consent page after signing in: $next"
        if [[ "$3" == deny ]]; then
                next=$(go -X POST "$next/abort")
        else
                next=$(go -X POST "$next/confirm")
        fi
        # The provider sends the browser back to the loopback address; curl follows, as a browser does.
        PAGE=$(c -c "$jar" -b "$jar" -L -w '\n%{url_effective}' "$next") || true
        FINAL=$(tail -n1 <<<"$PAGE")
}

pw=$(password_of alice@example.com)

# 1. Sign in as alice: exit 0, the verified claims and the mapping.
requests_mark
start_login "$T/out" "$T/err" login --browser alice
for p in response_type client_id scope state nonce code_challenge; do
        [[ -n "$(url_param "$AUTH_URL" $p)" ]] || fail "the authorization URL has no $p: $AUTH_URL"
done
[[ "$(url_param "$AUTH_URL" code_challenge_method)" == S256 ]] || fail "PKCE method is not S256: $AUTH_URL"
[[ "$AUTH_URL" == "$ISSUER/auth?"* ]] || fail "not the provider's authorization endpoint: $AUTH_URL"
# The listener is on the loopback address only.
listeners=$(ss -Hltnp "sport = :$CB_PORT")
grep -q "127.0.0.1:$CB_PORT .*cloudauthctl" <<<"$listeners" || fail "cloudauthctl is not listening on 127.0.0.1:$CB_PORT: $listeners"
[[ $(wc -l <<<"$listeners") -eq 1 ]] || fail "more than one listener on port $CB_PORT: $listeners"
grep -Eq '(0\.0\.0\.0|\*|\[::\]):'"$CB_PORT" <<<"$listeners" && fail "the listener is reachable from outside: $listeners"
# A browser asking for an icon meanwhile is answered 404 and ends nothing.
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$CB_PORT/favicon.ico") == 404 ]] ||
        fail "/favicon.ico was not answered 404"
kill -0 "$LOGIN_PID" || fail "a request for /favicon.ico ended the login"
sign_in alice@example.com "$pw" allow
[[ "$FINAL" == "http://127.0.0.1:$CB_PORT/callback?code="* ]] || fail "the browser did not come back to the listener: $FINAL"
grep -q 'You can close this window' <<<"$PAGE" || fail "the listener's page: $PAGE"
finish_login
out=$(cat "$T/out")
[[ $LOGIN_RC -eq 0 ]] || fail "login --browser alice exited $LOGIN_RC: $out $(cat "$T/err")"
grep -q '"preferred_username": "alice@example.com"' <<<"$out" || fail "no claims: $out"
grep -q "\"nonce\": \"$(url_param "$AUTH_URL" nonce)\"" <<<"$out" || fail "the ID token does not carry this login's nonce: $out"
grep -q '^local user *alice$' <<<"$out" || fail "no local user: $out"
grep -q '^allowed *yes (member of an allowed group)' <<<"$out" || fail "no access verdict: $out"
grep -q 'eyJ' <<<"$out" && fail "a token was printed: $out"
[[ $(requests_new | grep -c '^POST /token ') -eq 1 ]] || fail "expected one code exchange: $(requests_new)"

# 2. Another local user (not root) tries to end the administrator's login:
# a forged callback (another state, or a denial without this login's state)
# and connections that send nothing or half a request, held open. Each
# forgery is answered 400 without any token request, the stalled connections
# hold nobody up, and the real sign-in completes the login.
requests_mark
start_login "$T/out" "$T/err" login --browser alice
as_other() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
stall() { # WHAT-TO-SEND: connect, send it, then hold the connection open
        as_other python3 -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode())
time.sleep(60)' "$CB_PORT" "$1" &
        STALLED+=($!)
}
STALLED=()
stall ""
stall "GET /callback?code=half-a-req"
for q in "code=forged-code&state=guessed" "error=access_denied&state=guessed" "code=forged-code"; do
        page=$(as_other curl -s --max-time 5 -w '\n%{http_code}' "http://127.0.0.1:$CB_PORT/callback?$q") || true
        [[ "$(tail -n1 <<<"$page")" == 400 ]] || fail "the forged callback ?$q was answered: $page"
        grep -q 'refused' <<<"$page" || fail "the forged callback's page: $page"
        kill -0 "$LOGIN_PID" 2>/dev/null || fail "a forged callback (?$q) from another user ended the login: $(cat "$T/out")"
done
stall ""
t0=$(now_ms)
sign_in alice@example.com "$pw" allow
((($(now_ms) - t0) < 4000)) || fail "the sign-in took $(($(now_ms) - t0)) ms with stalled connections open"
[[ "$FINAL" == "http://127.0.0.1:$CB_PORT/callback?code="* ]] || fail "the browser did not come back: $FINAL"
grep -q 'You can close this window' <<<"$PAGE" || fail "the listener's page after forgeries: $PAGE"
finish_login
for pid in "${STALLED[@]}"; do kill "$pid" 2>/dev/null || true; done
wait "${STALLED[@]}" 2>/dev/null || true
out=$(cat "$T/out")
[[ $LOGIN_RC -eq 0 ]] || fail "login --browser after forged callbacks: exit $LOGIN_RC: $out $(cat "$T/err")"
grep -q '^local user *alice$' <<<"$out" || fail "no local user after forged callbacks: $out"
[[ $(grep -c "refused a callback that is not this login's answer" "$T/err") -eq 3 ]] ||
        fail "the refused callbacks are not each reported on stderr: $(cat "$T/err")"
[[ $(requests_new | grep -c '^POST /token ') -eq 1 ]] || fail "expected only the real code exchanged: $(requests_new)"
ss -Hltn "sport = :$CB_PORT" | grep -q . && fail "the listener is still open after the login"

# 3. Denied at the provider: exit 1 with the reason.
start_login "$T/out" "$T/err" login --browser alice
sign_in alice@example.com "$pw" deny
[[ "$FINAL" == "http://127.0.0.1:$CB_PORT/callback?error=access_denied"* ]] || fail "denial did not come back: $FINAL"
finish_login
out=$(cat "$T/out")
[[ $LOGIN_RC -eq 1 ]] || fail "a denied sign-in: exit $LOGIN_RC: $out"
grep -q '^Login failed for alice: sign-in denied at the provider (denied)$' <<<"$out" || fail "no denial reason: $out"

# 4. USER named, another account signed in: refused.
start_login "$T/out" "$T/err" login --browser alice
sign_in bob@example.com "$(password_of bob@example.com)" allow
finish_login
out=$(cat "$T/out")
[[ $LOGIN_RC -eq 1 ]] || fail "bob signed in for alice: exit $LOGIN_RC: $out"
grep -q '^Login failed for alice: the token is for a different user' <<<"$out" || fail "no mismatch reason: $out"

# 5. No USER: whoever signs in, here bob, as JSON on stdout (the URL on stderr).
start_login "$T/out" "$T/err" --json login --browser
sign_in bob@example.com "$(password_of bob@example.com)" allow
finish_login
[[ $LOGIN_RC -eq 0 ]] || fail "login --browser without a user: exit $LOGIN_RC: $(cat "$T/out" "$T/err")"
[[ $(json_get 'd["local_user"], d["flow"], d["allowed"], d["user"]' <"$T/out") == "('bob', 'browser', True, None)" ]] ||
        fail "--json: $(cat "$T/out")"
grep -q 'id_token\|eyJ' "$T/out" && fail "--json printed a token"
grep -q '^Open this URL' "$T/out" && fail "--json mixed the progress into stdout"

# 6. Nobody comes back within --timeout: exit 1, and said so.
t0=$(now_ms)
start_login "$T/out" "$T/err" --timeout 1 login --browser alice
finish_login
elapsed=$(($(now_ms) - t0))
[[ $LOGIN_RC -eq 1 ]] || fail "a timed-out login: exit $LOGIN_RC"
grep -q '^Login failed for alice: nobody signed in before the timeout' "$T/out" || fail "timeout: $(cat "$T/out")"
((elapsed < 5000)) || fail "--timeout 1 took $elapsed ms"
pass
