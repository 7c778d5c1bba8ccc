#!/bin/bash
# A provider that is not Entra ID may put claims named tid and oid in its
# tokens with any value. eve's tokens copy dave's: she must still get her own
# UID and record, and dave keep his.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
require_nss_module
python3 - "$IDP_USERS" "$T/users.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
same = {"tid": "72f988bf-86f1-41af-91ab-2d7cd011db47", "oid": "8d3a1f50-0c2e-4b7e-9d61-3f1b2c4d5e6f"}
for name, sub in (("dave", "0b7e3f52-6d1c-4b0a-a1f4-6c2d9e8b7a01"), ("eve", "e5c0a9d4-3b2f-4e1a-8c7d-2f6e1b0a9c02")):
    data["users"].append({"email": f"{name}@example.com", "password": f"{name}-Pa55word", "name": name.title(),
                          "groups": ["linux-users"], "roles": [], "sub": sub, "claims": same})
json.dump(data, open(sys.argv[2], "w"), indent=2)
PY
idp_start --users "$T/users.json"
write_config
pam_service login
dave_uid=$(uid_of dave@example.com)
eve_uid=$(uid_of eve@example.com)

pam_run login dave@example.com "authenticate acct_mgmt" dave-Pa55word
expect_pam_ok
expect_getent "dave:*:$dave_uid:$dave_uid:Dave:/home/dave:/bin/bash" passwd dave

pam_run login eve@example.com "authenticate acct_mgmt" eve-Pa55word
expect_pam_ok
expect_getent "eve:*:$eve_uid:$eve_uid:Eve:/home/eve:/bin/bash" passwd eve
expect_getent "dave:*:$dave_uid:$dave_uid:Dave:/home/dave:/bin/bash" passwd dave
expect_getent "dave:*:$dave_uid:$dave_uid:Dave:/home/dave:/bin/bash" passwd "$dave_uid"
grep -q '"username": "dave"' "$T/state/users/$dave_uid.json" || fail "dave's record was taken over: $(cat "$T/state/users/$dave_uid.json")"
[[ -f "$T/state/users/$eve_uid.json" ]] || fail "eve has no record of her own"
pass
