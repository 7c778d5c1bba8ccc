#!/bin/bash
# cloudauthctl over the identity store: user list, user show (text and
# JSON), user forget, cache rebuild; unknown names exit 1 and say so.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
require_nss_module
[[ -x "${CLOUDAUTH_CTL:-}" ]] || skip "cloudauthctl is not built"
idp_start
write_config "[role admin]" "groups = linux-admins" "unix_groups = sudo, adm" "" "[role user]" "groups = linux-users"
pam_service login
json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }

out=$(ctl user list) || fail "user list on an empty store failed: $out"
grep -q '^0 users cached\.$' <<<"$out" || fail "empty list: $out"

for u in alice bob; do
        pam_run login "$u@example.com" "authenticate acct_mgmt" "$(password_of "$u@example.com")"
        expect_pam_ok
done
uid=$(uid_of alice@example.com)
bob=$(uid_of bob@example.com)

out=$(ctl user list) || fail "user list failed: $out"
grep -Eq "^alice +$uid  [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}  admin,user$" <<<"$out" ||
        grep -Eq "^alice +$uid  [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}  user,admin$" <<<"$out" ||
        fail "no line for alice: $out"
grep -Eq "^bob +$bob  .*  user$" <<<"$out" || fail "no line for bob: $out"
grep -q '^2 users cached\.$' <<<"$out" || fail "no count: $out"
json=$(ctl --json user list) || fail "user list --json failed: $json"
[[ $(json_get '[u["name"] for u in d]' <<<"$json") == "['alice', 'bob']" ]] || fail "user list --json: $json"

out=$(ctl user show alice) || fail "user show alice failed: $out"
grep -Eq "^uid +$uid$" <<<"$out" || fail "show: no uid: $out"
grep -Eq '^IdP name +alice@example\.com$' <<<"$out" || fail "show: no IdP name: $out"
grep -Eq '^display name +Alice Example$' <<<"$out" || fail "show: no display name: $out"
grep -Eq "^groups +.*linux-admins@example\\.com\\($(gid_of linux-admins)\\)" <<<"$out" || fail "show: no IdP groups with gids: $out"
grep -Eq '^local groups +.*sudo\(27\)' <<<"$out" || fail "show: no local groups: $out"
out2=$(ctl user show alice@example.com) || fail "user show alice@example.com failed"
[[ "$out" == "$out2" ]] || fail "show by the IdP name differs from show by the local name"
for args in "--json user show alice" "user show alice --json"; do
        # shellcheck disable=SC2086
        json=$(ctl $args) || fail "$args failed: $json"
        [[ $(json_get '(d["name"], d["uid"], d["idp_name"], sorted(g["name"] for g in d["unix_groups"]))' <<<"$json") == \
                "('alice', $uid, 'alice@example.com', ['adm', 'sudo'])" ]] || fail "$args: $json"
        # Whether a token is kept may be said; never a token, a sealed one, or a verifier's salt and hash.
        grep -q 'refresh_token_sealed\|_verifier"\|"salt"\|"hash"\|eyJ' <<<"$json" && fail "$args printed a secret field: $json"
done

# Unknown names: exit 1, a message naming them, nothing on stdout.
for verb in show forget; do
        set +e
        out=$(ctl user "$verb" nosuchuser 2>"$T/err")
        rc=$?
        set -e
        [[ $rc -eq 1 && -z "$out" ]] || fail "user $verb nosuchuser: exit $rc, stdout '$out'"
        grep -q 'nosuchuser is not in the cache' "$T/err" || fail "user $verb nosuchuser: $(cat "$T/err")"
done
set +e
ctl user frobnicate >/dev/null 2>&1
rc=$?
set -e
[[ $rc -ne 0 ]] || fail "an unknown subcommand exited 0"

# forget: her record goes, and nss.db no longer knows her, by name or UID:
# a name nobody is logged in with is free outside sshd's own lookup.
out=$(ctl user forget alice) || fail "forget failed: $out"
grep -q '^Forgot alice\.' <<<"$out" || fail "forget: $out"
[[ ! -e "$T/state/users/$uid.json" ]] || fail "the record is still there"
[[ "$(cached_users | cut -d: -f1)" == bob ]] || fail "enumeration after forget: $(cached_users)"
expect_getent_absent passwd alice
expect_getent_absent passwd "$uid"
expect_getent_absent group linux-admins@example.com
grep -q '^1 user cached\.$' <<<"$(ctl user list)" || fail "list after forget: $(ctl user list)"
set +e
ctl user show alice >/dev/null 2>&1
rc=$?
set -e
[[ $rc -eq 1 ]] || fail "show of a forgotten user exited $rc"

# The next login brings her back with the same UID.
pam_run login alice@example.com "authenticate acct_mgmt" "$(password_of alice@example.com)"
expect_pam_ok
expect_getent "alice:*:$uid:$uid:Alice Example:/home/alice:/bin/bash" passwd "$uid"

# rebuild: nss.db from the records, with the same answers.
# Order may differ (a rebuild writes records sorted), the entries may not.
answers() {
        { nss_run getent passwd; nss_run getent group; } | python3 -c 'import sys
out = []
for line in sys.stdin.read().splitlines():
    f = line.split(":")
    if len(f) == 4:
        f[3] = ",".join(sorted(f[3].split(",")))
    out.append(":".join(f))
print("\n".join(sorted(out)))'
}
before=$(answers)
rm -f "$T/state/nss.db"
expect_getent_absent passwd bob
out=$(ctl cache rebuild) || fail "cache rebuild failed: $out"
grep -q "^$T/state/nss.db: 2 users and 2 groups written\\.$" <<<"$out" || fail "rebuild: $out"
[[ "$(answers)" == "$before" ]] || fail "the rebuilt nss.db answers differently: $(diff <(echo "$before") <(answers))"
json=$(ctl --json cache rebuild) || fail "cache rebuild --json failed: $json"
[[ $(json_get '(d["users"], d["groups"])' <<<"$json") == "(2, 2)" ]] || fail "rebuild --json: $json"
pass
