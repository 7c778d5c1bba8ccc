#!/bin/bash
# The device flow through Debian's sshd: keyboard-interactive shows the code
# and the link only together with the module's Enter prompt; the client's
# responder approves the code through the provider's own pages, as a person
# would on a phone, then presses Enter. A denied code is refused.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/e2e-lib.sh"
ns_enter "$@"
e2e_require sshd client
interval=1
idp_start --interval "$interval"
e2e_setup
CFG_PROVIDER_EXTRA=$'flows = device password\napp_name = Example Linux' \
        e2e_config "" "[role admin]" "groups = linux-admins" "unix_groups = sudo"
e2e_pam_service sshd flow=device
e2e_cache_init
sshd_start
sudo_gid=$(getent group sudo | cut -d: -f3)

# Run by ssh-client.py for the Enter prompt: the code and link from the text
# sshd relayed, approved (or denied) once; later rounds only press Enter.
cat >"$T/respond" <<'EOF'
#!/bin/bash
set -euo pipefail
text="$SSH_INSTRUCTIONS
$SSH_PROMPT"
if [[ ! -e "$RESPOND_DIR/approved" && "$RESPOND_MODE" == kill ]]; then
        # The provider goes away while the module polls.
        kill "$(cat "$RESPOND_DIR/idp/pid")"
        touch "$RESPOND_DIR/approved"
elif [[ ! -e "$RESPOND_DIR/approved" && "$RESPOND_MODE" == wait ]]; then
        # Nobody approves; Enter only comes back after the code is dead.
        touch "$RESPOND_DIR/approved"
elif [[ ! -e "$RESPOND_DIR/approved" ]]; then
        code=$(grep -oE 'enter the code  [^ ]+' <<<"$text" | awk '{ print $4 }')
        uri=$(grep -oE 'open     https://[^ ]+' <<<"$text" | awk '{ print $2 }')
        [[ -n "$code" && -n "$uri" ]] || { echo "respond: no code or link in: $text" >&2; exit 1; }
        "$APPROVE" "$CA_FILE" "$uri" "$code" "$RESPOND_EMAIL" "$RESPOND_PASSWORD" $RESPOND_MODE \
                >>"$RESPOND_DIR/approve.log" 2>&1
        touch "$RESPOND_DIR/approved"
fi
# Let the module's poller see the verdict before Enter arrives.
sleep "$RESPOND_WAIT"
echo
EOF
chmod 0755 "$T/respond"

device_login() { # MODE (allow, deny, kill or wait)
        rm -f "$T/approved" "$SSH_TRANSCRIPT" 2>/dev/null || true
        APPROVE=$CLOUDAUTH_SOURCE_ROOT/tests/idp/approve-device.sh RESPOND_DIR=$T RESPOND_MODE=$1 \
                RESPOND_EMAIL=alice@example.com RESPOND_PASSWORD=$(password_of alice@example.com) \
                RESPOND_WAIT=${RESPOND_WAIT_OVERRIDE:-$((interval + 1))} CA_FILE=$CA_FILE \
                ssh_run alice "" 'id -un; id -G' --respond 'Press Enter once you have signed in' "$T/respond"
}

syslog_mark
device_login allow
expect_ssh_ok "alice's device login"
[[ -e "$T/approved" ]] || fail "the responder never approved a code"
[[ "$(sed -n 1p "$SSH_OUT")" == alice ]] || fail "id -un printed '$(sed -n 1p "$SSH_OUT")', not alice"
[[ " $(sed -n 2p "$SSH_OUT") " == *" $sudo_gid "* ]] || fail "the device login lacks the role's group sudo"
grep -q "Sign in to Example Linux on $(hostname) as alice" "$SSH_TRANSCRIPT" ||
        fail "sshd did not relay the app and host name with the prompt: $(head -c 600 "$SSH_TRANSCRIPT")"
grep -q 'Password' "$SSH_TRANSCRIPT" && fail "flow=device asked for a password: $(cat "$SSH_TRANSCRIPT")"
expect_syslog 'pam_cloudauth\(sshd:auth\): user=alice flow=device result=success' "the device login's decision"
expect_syslog 'pam_cloudauth\(sshd:account\): user=alice account=alice result=allowed' "the account decision"

# Again, now that alice is cached: the same user, UID and groups.
uid_first=$(getent passwd alice | cut -d: -f3)
device_login allow
expect_ssh_ok "alice's second device login"
[[ " $(sed -n 2p "$SSH_OUT") " == *" $sudo_gid "* ]] || fail "the cached login lacks the role's group sudo"
[[ "$(getent passwd alice | cut -d: -f3)" == "$uid_first" ]] || fail "the UID changed between logins"

syslog_mark
device_login deny
expect_ssh_refused "a denied device code"
[[ ! -s "$SSH_OUT" ]] || fail "a command ran after a denied code: $(cat "$SSH_OUT")"
expect_no_syslog 'user=alice flow=device result=success' "a denied code must not log in"

# The provider vanishes mid-poll: refused with "unreachable", and sshd does
# not hang (the poller gives up after its bounded retries).
syslog_mark
start=$(now_ms)
device_login kill
expect_ssh_refused "a login whose provider vanished"
elapsed=$(($(now_ms) - start))
((elapsed < 60000)) || fail "the login took $elapsed ms after the provider vanished"
expect_syslog 'user=alice flow=device result=unavailable' "the vanished provider's decision"

# A code nobody approves: refused once the provider says it expired.
idp_start --interval "$interval" --device-ttl 4
CFG_PROVIDER_EXTRA=$'flows = device password\napp_name = Example Linux' \
        e2e_config "" "[role admin]" "groups = linux-admins" "unix_groups = sudo"
syslog_mark
start=$(now_ms)
RESPOND_WAIT_OVERRIDE=6 device_login wait
expect_ssh_refused "an expired code"
elapsed=$(($(now_ms) - start))
((elapsed < 60000)) || fail "the expired login took $elapsed ms"
expect_syslog 'user=alice flow=device result=denied reason="[^"]*expired' "the expiry's decision"
pass
