#!/bin/bash
# use_first_pass and try_first_pass take the password an earlier module set
# (pam_wrapper's pam_set_items sets PAM_AUTHTOK from the environment).
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
setitems=/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_set_items.so
[[ -f $setitems ]] || skip "pam_wrapper's pam_set_items.so is not installed"
idp_start
write_config
pw=$(password_of alice@example.com)

for opt in use_first_pass try_first_pass; do
        pam_service_stack "$opt" <<EOT
auth required $setitems
auth required @MODULE@ config=@CONFIG@ $opt
account required @MODULE@ config=@CONFIG@
EOT
        # The prompt would read a wrong password: success proves the item was used.
        pam_run "$opt" alice@example.com "authenticate acct_mgmt" "prompted-wrong" PAM_AUTHTOK="$pw"
        expect_pam_ok
done

# A wrong password from the earlier module: use_first_pass fails without
# asking; try_first_pass asks once more, as pam_unix does.
pam_run use_first_pass alice@example.com "authenticate" "$pw" PAM_AUTHTOK="wrong-$RANDOM"
expect_pam_fail "Authentication failure"
pam_run try_first_pass alice@example.com "authenticate" "$pw" PAM_AUTHTOK="wrong-$RANDOM"
expect_pam_ok
pam_run try_first_pass alice@example.com "authenticate" "typed-wrong-too" PAM_AUTHTOK="wrong-$RANDOM"
expect_pam_fail "Authentication failure"

# Without an earlier password: use_first_pass fails without asking,
# try_first_pass asks.
pam_run use_first_pass alice@example.com authenticate "$pw"
expect_pam_fail "Authentication failure"
pam_run try_first_pass alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok

# A password typed at our prompt is left for the modules after us.
printf '#!/bin/sh\ncat >"%s/authtok"\n' "$T" >"$T/show-authtok"
chmod 0755 "$T/show-authtok"
pam_service_stack handdown <<EOT
auth required @MODULE@ config=@CONFIG@
auth required /lib/x86_64-linux-gnu/security/pam_exec.so expose_authtok $T/show-authtok
EOT
pam_run handdown alice@example.com authenticate "$pw"
expect_pam_ok
[[ "$(tr -d '\0' <"$T/authtok")" == "$pw" ]] || fail "the typed password was not left in PAM_AUTHTOK"
pass
