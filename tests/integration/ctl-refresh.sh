#!/bin/bash
# cloudauthctl refresh asks the provider now, whatever [session] revalidate
# says, for every cached user: two users signed in through PAM are
# confirmed; once the provider disables one, refresh reports that user
# refused and exits nonzero, and NSS no longer gives the user's provider
# groups. cloudauthctl user forget revokes the kept refresh token at the
# provider (the token no longer works there), and still forgets a user when
# the provider cannot be reached. user show tells the session state. No
# refresh token, sealed or open, appears in anything cloudauthctl prints.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
require_nss_module
python3 -c 'import cryptography' 2>/dev/null || skip "python3-cryptography is not installed"
idp_start
write_config "[session]" "revalidate = 15m"
pam_service login

OUTPUTS=$T/ctl-outputs
: >"$OUTPUTS"
run_ctl() { # ARGS...: sets RC, OUT (stdout) and ERR (stderr); both are kept for the token check
        set +e
        OUT=$(ctl "$@" 2>"$T/ctl.err")
        RC=$?
        set -e
        ERR=$(cat "$T/ctl.err")
        printf '%s\n%s\n' "$OUT" "$ERR" >>"$OUTPUTS"
}
# Every refresh token the records hold, opened with the host key as the
# library does (tokenbox.h), and the sealed form: NAME OPEN SEALED per line.
TOKENS=$T/tokens
: >"$TOKENS"
collect_tokens() {
        python3 - "$T/state" >>"$TOKENS" <<'PY'
import base64, glob, json, sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
state = sys.argv[1]
key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"cloudauth refresh token v1").derive(
    open(f"{state}/host.key", "rb").read())
for path in sorted(glob.glob(f"{state}/users/*.json")):
    rec = json.load(open(path))
    sealed = rec.get("refresh_token_sealed")
    if not sealed:
        continue
    box = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    ad = f"{rec['subject_key']}\n{rec['uid']}".encode()
    print(rec["username"], AESGCM(key).decrypt(box[:12], box[12:], ad).decode(), sealed)
PY
}
token_of() { # NAME: the open token the record holds now
        awk -v n="$1" '$1 == n { t = $2 } END { print t }' "$TOKENS"
}
token_requests() { requests_new | grep -c '^POST /token ' || true; }
json() { # PYTHON-EXPRESSION over d, the JSON document on stdin
        python3 -c "import json, sys; d = json.load(sys.stdin); v = ($1); print(v)"
}

for user in alice bob; do
        pam_run login "$user@example.com" "authenticate acct_mgmt" "$(password_of "$user@example.com")"
        expect_pam_ok
done
collect_tokens
[[ -n "$(token_of alice)" && -n "$(token_of bob)" ]] || fail "the logins kept no refresh tokens: $(cut -d' ' -f1 "$TOKENS")"

# Within revalidate, refresh asks all the same: one token request each.
requests_mark
run_ctl refresh
[[ $RC -eq 0 ]] || fail "refresh exited $RC: $OUT $ERR"
grep -qx "alice: confirmed" <<<"$OUT" || fail "refresh did not confirm alice: $OUT"
grep -qx "bob: confirmed" <<<"$OUT" || fail "refresh did not confirm bob: $OUT"
grep -qx "2 confirmed, 0 refused, 0 unavailable, 0 without a refresh token" <<<"$OUT" || fail "no summary: $OUT"
[[ "$(token_requests)" -eq 2 ]] || fail "expected two token requests: $(requests_new)"
[[ "$OUT" != *$'\r'* ]] || fail "refresh drew a progress line on a pipe: $OUT"
collect_tokens

# --json: one object per user, with the reason.
run_ctl --json refresh
[[ $RC -eq 0 ]] || fail "refresh --json exited $RC: $OUT $ERR"
[[ $(json 'sorted((u["user"], u["result"], bool(u["reason"])) for u in d)' <<<"$OUT") == \
        "[('alice', 'confirmed', True), ('bob', 'confirmed', True)]" ]] || fail "refresh --json: $OUT"
collect_tokens

# On a terminal: a progress line redrawn in place, then the summary. The
# private /dev gets its own pseudo-terminals for it.
mount -t devpts -o newinstance,ptmxmode=0666 cloudauth-pts /dev/pts && mount --bind /dev/pts/ptmx /dev/ptmx ||
        fail "cannot mount a private devpts"
python3 "$INTEGRATION_DIR/pty-run.py" --answers 0 -- "$CLOUDAUTH_CTL" --config "$T/cloudauth.conf" refresh >"$T/tty.out" 2>&1 ||
        fail "refresh on a terminal failed: $(cat "$T/tty.out")"
cat "$T/tty.out" >>"$OUTPUTS"
grep -q $'\r''re-validated 2 of 2' "$T/tty.out" || fail "no progress line on a terminal: $(cat -A "$T/tty.out")"
grep -q "2 confirmed, 0 refused, 0 unavailable, 0 without a refresh token" "$T/tty.out" ||
        fail "no summary on a terminal: $(cat -A "$T/tty.out")"
collect_tokens

# The provider disables bob: refused, nonzero exit, and NSS drops his provider groups.
g_users=$(gid_of linux-users)
nss_glibc_run id -G bob | tr ' ' '\n' | grep -qx "$g_users" || fail "bob is not in linux-users before the refusal"
idp_admin "/__test/user?email=bob@example.com&disabled=1"
run_ctl refresh
[[ $RC -ne 0 ]] || fail "refresh exited 0 although the provider refused bob: $OUT"
grep -qx "bob: refused" <<<"$OUT" || fail "refresh did not report bob refused: $OUT"
grep -qx "alice: confirmed" <<<"$OUT" || fail "refresh did not confirm alice beside bob: $OUT"
grep -qx "1 confirmed, 1 refused, 0 unavailable, 0 without a refresh token" <<<"$OUT" || fail "no summary: $OUT"
nss_glibc_run id -G bob | tr ' ' '\n' | grep -qx "$g_users" && fail "NSS still gives bob linux-users after the refusal"
nss_glibc_run getent group "$g_users" | grep -qE '[:,]bob(,|$)' &&
        fail "linux-users still lists bob: $(nss_glibc_run getent group "$g_users")"
nss_glibc_run getent group "$g_users" | grep -qE '[:,]alice(,|$)' ||
        fail "linux-users lost alice: $(nss_glibc_run getent group "$g_users")"
# The refused record keeps no token, so the next run does not ask for it.
requests_mark
run_ctl --json refresh
[[ $(json '[(u["user"], u["result"]) for u in d]' <<<"$OUT") == "[('alice', 'confirmed'), ('bob', 'skipped')]" ]] ||
        fail "refresh --json after the refusal: $OUT"
[[ "$(token_requests)" -eq 1 ]] || fail "refresh asked for bob's refused record: $(requests_new)"
collect_tokens

# user show: whether a token is kept, when the provider last vouched, when it is asked again.
run_ctl user show alice
[[ $RC -eq 0 ]] || fail "user show alice exited $RC: $ERR"
grep -qE '^provider said +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$' <<<"$OUT" || fail "user show: no last answer: $OUT"
grep -qE '^session +refresh token kept; asked again after [0-9]{4}-' <<<"$OUT" || fail "user show: no session line: $OUT"
run_ctl user show alice --json
now=$(date +%s)
[[ $(json 'd["refresh_token_kept"], abs(d["last_answer"] - '"$now"') < 60, d["revalidate_after"] - d["last_answer"]' <<<"$OUT") == \
        "(True, True, 900)" ]] || fail "user show --json: $OUT"
run_ctl user show bob
grep -qE '^session +no refresh token kept$' <<<"$OUT" || fail "user show bob: $OUT"

# Forgetting bob (enabled and signed in again) revokes his token at the provider first.
idp_admin "/__test/user?email=bob@example.com&disabled=0"
pam_run login bob@example.com "authenticate acct_mgmt" "$(password_of bob@example.com)"
expect_pam_ok
collect_tokens
bob_token=$(token_of bob)
requests_mark
run_ctl user forget bob --json
[[ $RC -eq 0 ]] || fail "user forget bob exited $RC: $ERR"
[[ $(json 'd["user"], d["forgotten"], d["revoked"], d["revocation"]' <<<"$OUT") == "('bob', True, True, 'revoked')" ]] ||
        fail "user forget bob --json: $OUT"
requests_new | grep -qx 'POST /token/revocation 200' || fail "the provider saw no revocation: $(requests_new)"
run_ctl user show bob
[[ $RC -ne 0 ]] || fail "bob is still cached after user forget"
# The token is dead at the provider, not only gone here.
answer=$(curl -s --max-time 5 --cacert "$CA_FILE" -d grant_type=refresh_token -d client_id=cloudauth-test \
        --data-urlencode "refresh_token=$bob_token" "$ISSUER/token")
[[ "$answer" == *'"invalid_grant"'* ]] || fail "bob's refresh token still works after forget: ${answer:0:80}"

# The provider unreachable: alice is forgotten here anyway, with a warning.
idp_stop
run_ctl user forget alice --json
[[ $RC -eq 0 ]] || fail "user forget alice with the provider down exited $RC: $ERR"
[[ $(json 'd["forgotten"], d["revoked"], d["revocation"], d["reason"]' <<<"$OUT") == \
        "(True, False, 'unavailable', 'provider unreachable')" ]] || fail "user forget alice --json: $OUT"
grep -q "warning: the refresh token of alice was not revoked at the provider" <<<"$ERR" || fail "no warning: $ERR"
run_ctl user list
grep -q '^0 users cached\.$' <<<"$OUT" || fail "users are left: $OUT"

# Nothing printed holds a refresh token, open or sealed.
[[ -s "$TOKENS" ]] || fail "no tokens were collected"
while read -r name open sealed; do
        grep -qF -- "$open" "$OUTPUTS" && fail "a refresh token of $name was printed"
        grep -qF -- "$sealed" "$OUTPUTS" && fail "a sealed refresh token of $name was printed"
done <"$TOKENS"
grep -q 'eyJ' "$OUTPUTS" && fail "a JWT was printed: $(grep -m1 eyJ "$OUTPUTS")"
pass
