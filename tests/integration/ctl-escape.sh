#!/bin/bash
# What the provider sends is data, never terminal control: a user whose
# display name, group and app role hold ESC [ 2 J (clear the screen), U+009B
# (CSI as a C1 control) and U+202E (right-to-left override) is shown by
# cloudauthctl login, user show and user list, in text and in JSON, with
# every one of them escaped; the JSON still parses to the provider's values.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
[[ -x "${CLOUDAUTH_CTL:-}" ]] || skip "cloudauthctl is not built"
require_cmd python3

# The provider's users plus mallory, whose text tries to take over the terminal.
users=$T/users.json
python3 - "$IDP_USERS" "$users" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
data["users"].append({
    "email": "mallory@example.com", "password": "mallory-Pa55word",
    "name": "Mallory \x1b[2J\u009b31m\u202eexe.txt",
    "groups": ["linux-users", "ops\x1b[2J\u009b\u202e"],
    "roles": ["Linux.\x1b]0;owned\x07\u009b\u202eAdmin"],
    "sub": "4d0c6a7e-2b1f-4f35-9d55-6a1b8c1f2e3d",
})
json.dump(data, open(sys.argv[2], "w"), indent=2)
PY
idp_start --users "$users"
write_config "[role user]" "groups = linux-users"
pam_service login
pw=mallory-Pa55word

# inert FILE WHAT: no C0 but newline, no DEL, no C1 (UTF-8 or raw), no
# bidirectional control, nothing that is not UTF-8.
inert() {
        local why
        why=$(python3 - "$1" <<'PY' 2>&1
import sys
data = open(sys.argv[1], "rb").read()
bad = (set(range(0x20)) - {0x0a}) | {0x7f} | set(range(0x80, 0xa0)) | \
      {0x061c, 0x200e, 0x200f} | set(range(0x202a, 0x202f)) | set(range(0x2066, 0x206a))
try:
    text = data.decode("utf-8")
except UnicodeDecodeError as e:
    sys.exit(f"not UTF-8 at byte {e.start}: {data!r}")
found = sorted({f"U+{ord(c):04X}" for c in text if ord(c) in bad})
if found:
    sys.exit(f"raw {', '.join(found)} in {text!r}")
PY
        ) || fail "$2 writes to the terminal what it must not: $why"
}
json_get() { python3 -c 'import json,sys; d=json.load(open(sys.argv[2])); print(ascii(eval(sys.argv[1], {"d": d})))' "$1" "$2"; }

# 1. login --password, text: the claims, the mapping, the groups and roles.
printf '%s\n' "$pw" | ctl login --password mallory >"$T/login.out" 2>"$T/login.err" ||
        fail "login --password mallory: $(cat "$T/login.out" "$T/login.err")"
inert "$T/login.out" "login --password"
inert "$T/login.err" "login --password (stderr)"
grep -qF '"name": "Mallory \u001b[2J\u009b31m\u202eexe.txt"' "$T/login.out" ||
        grep -qiF '"name": "Mallory \u001B[2J\u009b31m\u202eexe.txt"' "$T/login.out" ||
        fail "the name claim is not shown escaped: $(cat "$T/login.out")"
grep -qF 'ops\x1b[2J\u009b\u202e' "$T/login.out" || fail "the group is not shown escaped: $(cat "$T/login.out")"
grep -qF 'Linux.\x1b]0;owned\x07\u009b\u202eAdmin' "$T/login.out" ||
        fail "the app role is not shown escaped: $(cat "$T/login.out")"
grep -q '^roles *user$' "$T/login.out" || fail "the roles are missing: $(cat "$T/login.out")"

# 2. login --password --json: valid JSON, inert, the provider's exact values.
printf '%s\n' "$pw" | ctl --json login --password mallory >"$T/login.json" 2>"$T/login.err" ||
        fail "--json login --password mallory: $(cat "$T/login.json" "$T/login.err")"
inert "$T/login.json" "--json login --password"
[[ $(json_get 'd["claims"]["name"]' "$T/login.json") == "'Mallory \x1b[2J\x9b31m\u202eexe.txt'" ]] ||
        fail "--json changed the name claim: $(json_get 'd["claims"]["name"]' "$T/login.json")"
[[ $(json_get 'd["groups"]' "$T/login.json") == "['linux-users', 'ops\x1b[2J\x9b\u202e']" ]] ||
        fail "--json changed the groups: $(json_get 'd["groups"]' "$T/login.json")"

# 3. The same user through PAM, so the store holds the record; then the admin looks at it.
pam_run login mallory@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
ctl user show mallory >"$T/show.out" 2>&1 || fail "user show mallory: $(cat "$T/show.out")"
inert "$T/show.out" "user show"
grep -q '^display name ' "$T/show.out" || fail "user show has no display name: $(cat "$T/show.out")"
ctl --json user show mallory >"$T/show.json" 2>&1 || fail "--json user show mallory: $(cat "$T/show.json")"
inert "$T/show.json" "--json user show"
json_get 'd["idp_groups"], d["app_roles"], d["display_name"]' "$T/show.json" >/dev/null ||
        fail "--json user show is not JSON: $(cat "$T/show.json")"
ctl user list >"$T/list.out" 2>&1 || fail "user list: $(cat "$T/list.out")"
inert "$T/list.out" "user list"
grep -q '^mallory ' "$T/list.out" || fail "user list has no mallory: $(cat "$T/list.out")"
ctl --json user list >"$T/list.json" 2>&1 || fail "--json user list: $(cat "$T/list.json")"
inert "$T/list.json" "--json user list"
[[ $(json_get '[u["name"] for u in d]' "$T/list.json") == "['mallory']" ]] ||
        fail "--json user list: $(cat "$T/list.json")"

# 4. What every process sees through NSS: getent and id show mallory, her
# display name without the controls, and no group named with them.
require_nss_module
getent_run passwd mallory
[[ $GETENT_RC -eq 0 ]] || fail "getent passwd mallory: exit $GETENT_RC: $GETENT_OUT"
printf '%s\n' "$GETENT_OUT" >"$T/getent.out"
inert "$T/getent.out" "getent passwd"
[[ "$(cut -d: -f5 <<<"$GETENT_OUT")" == "Mallory exe.txt" || "$(cut -d: -f5 <<<"$GETENT_OUT")" == "Mallory [2J31mexe.txt" ]] ||
        fail "getent passwd mallory shows the display name as '$(cut -d: -f5 <<<"$GETENT_OUT")'"
getent_run group
printf '%s\n' "$GETENT_OUT" >"$T/groups.out"
inert "$T/groups.out" "getent group"
nss_glibc_run id mallory >"$T/id.out" 2>&1 || fail "id mallory: $(cat "$T/id.out")"
inert "$T/id.out" "id"
pass
