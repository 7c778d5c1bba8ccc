#!/bin/bash
# The device flow with the conversation at end of input (pamtester with
# stdin closed answers every prompt with an empty success): the login must
# end at once with a clear message, not re-prompt in a tight loop at full
# CPU until the code expires.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
idp_start --interval 1 --device-ttl 30
CFG_PROVIDER_EXTRA='flows = device password' write_config
pam_service device flow=device
wrapper=$(_libpam_wrapper)

start=$(now_ms)
set +e
# In a subshell of its own, so that bash's `times` reports pamtester's CPU
# time alone (the second line: its children's user and system time).
(
        env LD_PRELOAD="$wrapper" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" PAM_WRAPPER_USE_SYSLOG=1 \
                timeout 15 pamtester -v device alice authenticate </dev/null >"$T/pam.stdout" 2>"$T/pam.stderr"
        echo "$?" >"$T/rc"
        times >"$T/times"
)
set -e
elapsed=$(($(now_ms) - start))
rc=$(cat "$T/rc")
read -r user_t sys_t < <(tail -n1 "$T/times" | sed -E 's/([0-9]+)m([0-9.]+)s/\1 \2/g' |
        awk '{ printf "%.2f %.2f\n", $1 * 60 + $2, $3 * 60 + $4 }')
prompts=$(cat "$T/pam.stdout" "$T/pam.stderr" | grep -ao 'Press Enter' | wc -l)
cat "$T/pam.stdout" "$T/pam.stderr" >"$T/pam.out"
summary="pamtester exited $rc after $elapsed ms, $user_t s user + $sys_t s system CPU, $prompts 'Press Enter' prompts"

[[ $rc -ne 124 ]] || fail "the device flow at end of input ran until the 15 s timeout: $summary"
[[ $rc -ne 0 ]] || fail "the device flow succeeded with nobody signing in: $summary"
((prompts <= 3)) || fail "the module re-prompted at end of input: $summary"
((elapsed < 10000)) || fail "the device flow at end of input took too long: $summary"
awk -v u="$user_t" -v s="$sys_t" 'BEGIN { exit !(u + s < 2) }' || fail "the device flow at end of input burnt CPU: $summary"
# The person learns why: some text beyond the sign-in instructions, the
# prompt and pamtester's own lines.
sed -E -e 's/Press Enter once you have signed in: ?//g' -e 's/pamtester: .*//' \
        -e '/^(Sign in to |  open |  and enter the code|or scan this code|The code expires in )/d' \
        -e 's/[▀▄█ ]//g' "$T/pam.out" | grep -qa '[[:alpha:]]' ||
        fail "the device flow ended at end of input without a message for the person: $(tr -d '\000' <"$T/pam.out" | tail -c 600)"
pass "$summary"
