#!/bin/bash
# The account phase alone, as sshd runs it after a public-key login, follows
# the provider: past [session] revalidate it asks with the kept refresh
# token (one token request; none within revalidate), takes the rotated
# token, recomputes groups from the new ID token, refuses a user the
# provider disabled or whose sessions it revoked (groups withdrawn from NSS,
# verifier and token deleted), and keeps the cached verdict while the
# provider cannot answer.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
require_nss_module
idp_start
write_config "[session]" "revalidate = 2s"
pam_service login
pw=$(password_of alice@example.com)
record_of() { grep -l "\"$1\"" "$T/state/users/"*.json; }
token_requests() { requests_new | grep -c '^POST /token ' || true; }
account_only() { # USER: the account phase alone, as after an ssh key
        requests_mark
        syslog_mark
        pam_run login "$1" "acct_mgmt" ""
}

pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
record=$(record_of alice@example.com)
grep -q '"refresh_token_sealed"' "$record" || fail "the login kept no refresh token: $(cat "$record")"
python3 - "$record" <<'PY' || fail "the record holds a token in clear text"
import json, sys
rec = json.load(open(sys.argv[1]))
# Only the sealed form: no field named like a token besides it, and the sealed text is no JWT or opaque token.
assert not any(k in rec for k in ("refresh_token", "access_token", "id_token")), rec.keys()
assert "." not in rec["refresh_token_sealed"]
PY
sealed1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["refresh_token_sealed"])' "$record")

# Within revalidate: the cached verdict, no request.
account_only alice
expect_pam_ok
[[ "$(token_requests)" -eq 0 ]] || fail "the account phase asked the provider within revalidate: $(requests_new)"

# Past it: one refresh, allowed, and the rotated token kept; a second one works with it.
sleep 3
account_only alice
expect_pam_ok
[[ "$(token_requests)" -eq 1 ]] || fail "expected one token request, got: $(requests_new)"
expect_syslog 'user=alice account=alice result=allowed .*source=provider' "the re-validated verdict"
sealed2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["refresh_token_sealed"])' "$record")
[[ "$sealed1" != "$sealed2" ]] || fail "the record still holds the token from before the refresh"
sleep 3
account_only alice
expect_pam_ok
expect_syslog 'user=alice account=alice result=allowed .*source=provider' "the second re-validation, with the rotated token"

# A group added and then taken away at the provider follows without a login.
g_admins=$(gid_of linux-admins)
idp_admin "/__test/user?email=alice@example.com&groups=linux-users,linux-admins"
sleep 3
account_only alice
expect_pam_ok
nss_glibc_run id -G alice | tr ' ' '\n' | grep -qx "$g_admins" || fail "linux-admins did not appear after re-validation"
idp_admin "/__test/user?email=alice@example.com&groups=linux-users"
sleep 3
account_only alice
expect_pam_ok
nss_glibc_run id -G alice | tr ' ' '\n' | grep -qx "$g_admins" && fail "linux-admins stayed after the provider removed it"

# The provider cannot answer: the cached verdict stands (within [offline] max_age).
pam_run login bob@example.com "authenticate acct_mgmt" "$(password_of bob@example.com)"
expect_pam_ok
idp_stop
sleep 3
account_only bob
expect_pam_ok
expect_syslog 'user=bob re-validation: no answer from the provider' "the unavailable re-validation"
# The restarted provider has forgotten every grant: alice signs in again.
idp_start --port "$PORT"
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok

# Disabled at the provider: refused at once, groups withdrawn, verifier and token deleted.
g_users=$(gid_of linux-users)
idp_admin "/__test/user?email=alice@example.com&disabled=1"
sleep 3
account_only alice
expect_pam_fail "Permission denied"
grep -q "the identity provider no longer lets alice sign in" "$PAM_OUT" || fail "no message: $(cat "$PAM_OUT")"
expect_syslog 'user=alice account=alice result=denied reason="the provider ended the grant' "the refusal"
grep -q '"refresh_token_sealed"\|"offline_verifier"' "$record" && fail "the refused record kept its token or verifier"
nss_glibc_run id -G alice | tr ' ' '\n' | grep -qx "$g_users" && fail "NSS still lists linux-users for alice"
# And stays refused without asking again.
account_only alice
expect_pam_fail "Permission denied"
[[ "$(token_requests)" -eq 0 ]] || fail "a refused record asked the provider again"

# Sessions revoked at the provider (bob logs in again first: the provider is back).
pam_run login bob@example.com "authenticate acct_mgmt" "$(password_of bob@example.com)"
expect_pam_ok
idp_admin "/__test/revoke?email=bob@example.com"
sleep 3
account_only bob
expect_pam_fail "Permission denied"

# cloudauthctl refresh asks now, whatever the interval: alice, enabled and signed in again, is confirmed.
idp_admin "/__test/user?email=alice@example.com&disabled=0"
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
requests_mark
out=$(ctl refresh) || fail "cloudauthctl refresh failed: $out"
grep -qx "alice: confirmed" <<<"$out" || fail "refresh did not confirm alice: $out"
grep -qx "bob: skipped" <<<"$out" || fail "refresh asked for bob's refused record: $out"
grep -qx "1 confirmed, 0 refused, 0 unavailable, 1 without a refresh token" <<<"$out" || fail "no summary: $out"
[[ "$(token_requests)" -eq 1 ]] || fail "refresh made other than one token request: $(requests_new)"
ctl user show alice | grep -qE '^session +refresh token kept; asked again after ' || fail "user show has no session line"
ctl user show alice --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["refresh_token_kept"] is True and "refresh_token_sealed" not in d' ||
        fail "user show --json does not say the token is kept, or shows it"
idp_admin "/__test/user?email=alice@example.com&disabled=1"
out=$(ctl refresh alice --json) && fail "cloudauthctl refresh alice exited 0 although the provider refused alice: $out"
[[ "$out" == *'"result": "refused"'* ]] || fail "refresh did not report alice refused: $out"
pass
