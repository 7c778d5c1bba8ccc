#!/bin/bash
# cloudauthctl check and login --password, as an administrator runs them,
# in text and JSON, against the test provider.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
[[ -x "${CLOUDAUTH_CTL:-}" ]] || skip "cloudauthctl is not built"
require_cmd python3
idp_start
write_config
ctl() { "$CLOUDAUTH_CTL" --config "$T/cloudauth.conf" "$@"; }
json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }
pw=$(password_of alice@example.com)

# A new host: the index NSS needs is missing, and check says what to run.
if out=$(ctl check); then fail "check passed without nss.db: $out"; fi
grep -q "^error *nss .*nss.db does not exist: run 'cloudauthctl cache rebuild'" <<<"$out" ||
        fail "no nss.db line: $out"
ctl cache rebuild >/dev/null || fail "cache rebuild failed on an empty store"

# A good configuration: every check ok, exit 0.
out=$(ctl check) || fail "check failed on a good configuration: $out"
grep -q '^ok *nss .*matches this configuration' <<<"$out" || fail "no nss ok line: $out"
grep -q '^ok *discovery *token endpoint https://127.0.0.1' <<<"$out" || fail "no discovery line: $out"
grep -q '^ok *jwks *2 signing keys' <<<"$out" || fail "no jwks line: $out"
grep -q '^ok *clock ' <<<"$out" || fail "no clock line: $out"
json=$(ctl --json check) || fail "check --json failed: $json"
[[ $(json_get 'd["ok"]' <<<"$json") == True ]] || fail "check --json not ok: $json"
[[ $(json_get 'len([c for c in d["checks"] if c["level"] == "error"])' <<<"$json") == 0 ]] ||
        fail "check --json lists errors: $json"

# Settings NSS uses changed since the index was written: a warning to rebuild.
write_config
sed -i 's|^default_domain = example.com$|default_domain = example.com\nshell = /bin/sh|' "$T/cloudauth.conf"
out=$(ctl check) || fail "changed settings must only warn: $out"
grep -q "^warning *nss .*written with other settings" <<<"$out" || fail "no stale-settings warning: $out"
write_config
out=$(ctl check) || fail "check failed after restoring the config: $out"

# No access rule: a warning, not an error.
CFG_ACCESS="" write_config
out=$(ctl check) || fail "a missing access rule must only warn: $out"
grep -q '^warning *access *no allow_users' <<<"$out" || fail "no access warning: $out"
write_config

# Provider down: exit 1 and a line that says so.
idp_stop
if out=$(ctl check); then fail "check passed with the provider down: $out"; fi
grep -q '^error *discovery ' <<<"$out" || fail "no discovery error line: $out"
idp_start
write_config

# A client secret file readable by others: named as a problem.
printf 'not-a-real-secret\n' >"$T/secret"
chmod 0644 "$T/secret"
CFG_PROVIDER_EXTRA="client_secret_file = $T/secret" write_config
if out=$(ctl check); then fail "check passed with a 0644 secret file: $out"; fi
grep -q "$T/secret" <<<"$out" || fail "the secret file is not named: $out"
grep -q 'not-a-real-secret' <<<"$out" && fail "check printed the secret"
write_config

# A broken configuration: file, line and key named; exit 1.
printf '[provider]\nissuer = %s\nclient_id = x\nfrobnicate = 1\n' "$ISSUER" >"$T/broken.conf"
chmod 0644 "$T/broken.conf"
if out=$("$CLOUDAUTH_CTL" --config "$T/broken.conf" check 2>&1); then fail "a broken config passed: $out"; fi
grep -q "$T/broken.conf:4: .*frobnicate" <<<"$out" || fail "the broken key is not named: $out"

# login --password: the verified claims and what they map to.
out=$(printf '%s\n' "$pw" | ctl login --password alice) || fail "login failed: $out"
grep -q '"preferred_username": "alice@example.com"' <<<"$out" || fail "no claims: $out"
grep -q '^local user *alice$' <<<"$out" || fail "no local user: $out"
grep -q '^allowed *yes (member of an allowed group)' <<<"$out" || fail "no access verdict: $out"
grep -q "$pw" <<<"$out" && fail "login printed the password"

json=$(printf '%s\n' "$pw" | ctl --json login --password alice@example.com) || fail "login --json failed: $json"
[[ $(json_get 'd["local_user"], d["allowed"], d["claims"]["sub"] != ""' <<<"$json") == "('alice', True, True)" ]] ||
        fail "login --json: $json"
grep -q 'id_token\|access_token\|eyJ' <<<"$json" && fail "login --json printed a token: $json"

# Denied and refused logins exit 1 and say why.
if out=$(printf '%s\n' "$(password_of carol@other.example)" | ctl login --password carol@other.example); then
        fail "carol is not allowed, yet login exited 0"
fi
grep -q '^allowed *no (not in allow_users, allow_groups or allow_roles)' <<<"$out" || fail "no denial reason: $out"
if out=$(printf 'wrong\n' | ctl login --password alice); then fail "a wrong password exited 0"; fi
grep -q 'Login failed for alice: wrong password' <<<"$out" || fail "no failure reason: $out"
pass
