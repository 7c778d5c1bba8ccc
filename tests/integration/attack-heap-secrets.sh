#!/bin/bash
# Secrets left in the host process: after pam_end, the memory of the
# program that ran the login (su, sshd, a display manager) must hold no copy
# of the password, of the confidential client's secret or its HTTP Basic
# credentials, or of the provider's token response. heap-scan runs the
# login through the test's PAM service and searches its own writable memory.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
[[ -x "${CLOUDAUTH_HEAP_SCAN:-}" ]] || skip "heap-scan is not built (CLOUDAUTH_HEAP_SCAN)"
idp_start
secret_file=$T/client_secret
install -m 0600 -o root -g root "$IDP_CLIENT_SECRET" "$secret_file"
client_id=cloudauth-confidential
CFG_CLIENT_ID=$client_id CFG_PROVIDER_EXTRA="client_secret_file = $secret_file" write_config
pam_service login

secret=$(tr -d '\n' <"$IDP_CLIENT_SECRET")
basic=$(printf '%s:%s' "$client_id" "$secret" | base64 -w0)
password_of alice@example.com >"$T/password"
chmod 0600 "$T/password"
{
        echo "client secret=$secret"
        echo "Basic credentials=$basic"
        echo 'token response (access_token)="access_token":"'
        echo 'token response (id_token)="id_token":"eyJ'
        # Every JWT the provider signs starts with the base64 of {"alg":
        echo 'a JWT=eyJhbGciOi'
} >"$T/needles"
chmod 0600 "$T/needles"

scan() { # USER
        set +e
        # meson test sets MALLOC_PERTURB_, which fills freed memory; su and sshd run without it.
        env -u MALLOC_PERTURB_ "$CLOUDAUTH_HEAP_SCAN" "$T/pam.d" login "$1" "$T/password" "$T/needles" >"$T/scan.out" 2>"$T/scan.err"
        SCAN_RC=$?
        set -e
        [[ $SCAN_RC -ne 2 ]] || fail "heap-scan could not run: $(cat "$T/scan.err")"
}

# Twice, so that a warm discovery and key cache (the usual login) is searched too.
for round in cold warm; do
        scan alice
        grep -q '^authenticate: Success$' "$T/scan.out" ||
                fail "alice's login ($round cache) did not authenticate: $(cat "$T/scan.out" "$T/scan.err" | tr '\n' ' ')"
        grep -q '^acct_mgmt: Success$' "$T/scan.out" || fail "alice's account check ($round cache) failed: $(tr '\n' ' ' <"$T/scan.out")"
        if [[ $SCAN_RC -ne 0 ]]; then
                fail "after pam_end ($round cache), the host process still holds: $(grep '^found ' "$T/scan.out" | sed 's/^found //' | paste -sd';')"
        fi
done

# A wrong password leaves nothing either.
echo "wrong-$(cat "$T/password")" >"$T/password"
scan alice
grep -q '^authenticate: Authentication failure$' "$T/scan.out" ||
        fail "a wrong password was not refused: $(tr '\n' ' ' <"$T/scan.out")"
[[ $SCAN_RC -eq 0 ]] ||
        fail "after a refused login, the host process still holds: $(grep '^found ' "$T/scan.out" | sed 's/^found //' | paste -sd';')"
pass
