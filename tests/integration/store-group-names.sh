#!/bin/bash
# Provider groups never resolve under a name or GID that means something on
# the host. dave is in provider groups named Admin, 0 and 27: Ubuntu's stock
# sudoers line "%admin ALL=(ALL) ALL" must not make him root, chgrp 0 and
# install -g 27 must not mean his groups, and his groups exist only under
# their qualified names (admin@example.com), with GIDs in uid_range.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/e2e-lib.sh"
ns_enter "$@"
e2e_require sudo
require_cmd visudo
python3 - "$IDP_USERS" "$T/users.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
data["users"].append({"email": "dave@example.com", "password": "dave-Pa55word", "name": "Dave Example",
                      "groups": ["linux-users", "Admin", "0", "27"], "roles": [],
                      "sub": "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b"})
json.dump(data, open(sys.argv[2], "w"), indent=2)
PY
idp_start --users "$T/users.json"
e2e_setup
e2e_config
e2e_pam_service sudo
# Ubuntu's stock grant, in this test's /etc only.
echo '%admin ALL=(ALL) ALL' >/etc/sudoers.d/ubuntu-admin
chmod 0440 /etc/sudoers.d/ubuntu-admin
visudo -c >/dev/null || fail "the test sudoers does not parse"
pw=dave-Pa55word
e2e_pam_login sudo dave "$pw"
uid=$(uid_of dave@example.com)
[[ "$(id -u dave)" == "$uid" ]] || fail "NSS does not give dave his UID: $(id dave)"

# No group of ours under a bare name or a number.
for g in admin Admin 0 27; do
        line=$(getent group "$g" || true)
        [[ ",$(cut -d: -f4 <<<"$line")," != *",dave,"* ]] || fail "getent group $g lists dave: $line"
        gid=$(cut -d: -f3 <<<"$line")
        [[ -z "$gid" || "$gid" -lt 2001000000 ]] || fail "getent group $g answers with a GID of ours: $line"
done
[[ -z "$(getent group admin | grep -v '^admin:x:')" ]] || fail "getent group admin answers with a group of ours: $(getent group admin)"
ids=" $(id -G dave) "
names=" $(id -Gn dave) "
[[ "$ids" != *" 0 "* && "$ids" != *" 27 "* ]] || fail "dave is in GID 0 or 27: $ids"
[[ "$names" != *" admin "* && "$names" != *" root "* && "$names" != *" sudo "* ]] || fail "dave is in admin, root or sudo: $names"

# Under their qualified names, with hashed GIDs, they do exist.
for g in admin 0 27 linux-users; do
        want="$g@example.com:*:$(gid_of "$g"):dave"
        [[ "$(getent group "$g@example.com")" == "$want" ]] ||
                fail "getent group $g@example.com: '$(getent group "$g@example.com")', expected '$want'"
        [[ "$names" == *" $g@example.com "* ]] || fail "id -Gn dave lacks $g@example.com: $names"
done

# And sudo grants him nothing.
as_user dave 'sudo -K; sudo -S -l -p ""' "$pw"
! grep -q '(ALL) ALL' "$SUDO_OUT" || fail "sudo -l grants dave root: $(cat "$SUDO_OUT")"
as_user dave 'sudo -S -p "" id -u' "$pw"
[[ $SUDO_RC -ne 0 && "$(cat "$SUDO_OUT")" != 0 ]] || fail "dave ran sudo id -u: $(cat "$SUDO_OUT")"
grep -q 'dave is not in the sudoers file\|not allowed to run sudo' "$SUDO_ERR" ||
        fail "sudo refused dave for another reason: $(cat "$SUDO_ERR")"
pass
