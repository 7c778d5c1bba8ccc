#!/bin/bash
# The harness itself: private /dev with a syslog capture, pam_wrapper with
# stock modules (and pam_set_items handing a password down the stack), and
# the test identity provider answering the password grant.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"

syslog_mark
logger -t cloudauth-harness "hello from the harness"
syslog_wait_for 'cloudauth-harness.*hello from the harness' 5 || fail "logger's line did not reach the capture"

stock=/lib/x86_64-linux-gnu/security
wrapmods=/usr/lib/x86_64-linux-gnu/pam_wrapper
[[ -f $stock/pam_permit.so && -f $stock/pam_deny.so ]] || skip "stock PAM modules are not in $stock"
printf 'auth required %s/pam_permit.so\naccount required %s/pam_deny.so\n' "$stock" "$stock" >"$T/pam.d/stock"
echo "auth required $stock/pam_deny.so" >"$T/pam.d/other"
pam_run stock alice authenticate ""
expect_pam_ok
pam_run stock alice "authenticate acct_mgmt" ""
expect_pam_fail "Authentication failure"
grep -q "successfully authenticated" "$PAM_OUT" || fail "authenticate did not run before acct_mgmt"
printf 'auth required %s/pam_deny.so\n' "$stock" >"$T/pam.d/deny"
pam_run deny alice authenticate ""
expect_pam_fail "Authentication failure"

# pam_set_items sets PAM_AUTHTOK from the environment; pam_exec hands the
# item to a script, which proves the next module sees it without a prompt.
if [[ -f $wrapmods/pam_set_items.so ]]; then
        printf '#!/bin/sh\ncat >"%s/authtok"\n' "$T" >"$T/show-authtok"
        chmod 0755 "$T/show-authtok"
        printf 'auth required %s/pam_set_items.so\nauth required %s/pam_exec.so expose_authtok %s\n' \
                "$wrapmods" "$stock" "$T/show-authtok" >"$T/pam.d/setitems"
        pam_run setitems alice authenticate "" PAM_AUTHTOK=from-the-stack
        expect_pam_ok
        [[ "$(tr -d '\0' <"$T/authtok")" == from-the-stack ]] || fail "pam_set_items did not set PAM_AUTHTOK"
fi

idp_start
token=$(curl -sf --cacert "$CA_FILE" "$ISSUER/token" -d grant_type=password -d client_id=cloudauth-test \
        --data-urlencode username=alice@example.com --data-urlencode "password=$(password_of alice@example.com)" \
        -d scope=openid) || fail "password grant against the test provider failed"
[[ "$token" == *'"id_token"'* ]] || fail "no id_token in $token"
[[ "$(requests_new)" == "POST /token 200" ]] || fail "request log: $(requests_new)"
curl -s --cacert "$OTHER_CA_FILE" -o /dev/null "$ISSUER/jwks" && fail "the unrelated CA was trusted"
pass
