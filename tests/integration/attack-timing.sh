#!/bin/bash
# Which names exist must not show from outside: through the stack
# pam-auth-update writes (cloudauth, then pam_unix), a wrong password for a
# cloud user, a local account's wrong password, a name that is not valid
# for any account, and a name the provider does not know all fail with the
# same message after the same delay (pam_unix's 2 s, which Linux-PAM
# randomises by up to a quarter). 30 failures of each kind, the kinds side
# by side.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/e2e-lib.sh"
ns_enter "$@"
e2e_require
n=30
idp_users_file "$T/users.json" "$n"
idp_start --users "$T/users.json"
e2e_setup
CFG_ACCESS="allow_groups = linux-users" e2e_config
e2e_packaged_stack
e2e_cache_init
printf '%s\n' "@include common-auth" "@include common-account" >/etc/pam.d/cloudauth-timing
local_pw=local-$RANDOM$RANDOM
e2e_local_user timinglocal "$local_pw"

# One failure of KIND per line of $T/timing-KIND: "MS<tab>pamtester's last message".
# Each cloud attempt uses another account, so no lockout or rate limit
# skews the series.
attempts() { # KIND
        local kind=$1 k user pw start end msg
        for ((k = 1; k <= n; k++)); do
                case $kind in
                cloud-wrong-password) user=user$k pw=wrong-pw-user$k ;;
                local-wrong-password) user=timinglocal pw=wrong-$local_pw ;;
                invalid-name) user="no:such:user$k" pw=whatever-$k ;;
                provider-unknown) user=ghost$k pw=ghost-pw-$k ;;
                esac
                start=$(now_ms)
                msg=$(printf '%s\n' "$pw" | timeout 30 pamtester cloudauth-timing "$user" authenticate 2>&1 >/dev/null |
                        tail -n1 | sed -E 's/.*pamtester: //' || true)
                end=$(now_ms)
                printf '%s\t%s\n' "$((end - start))" "$msg" >>"$T/timing-$kind"
        done
}

kinds=(cloud-wrong-password local-wrong-password invalid-name provider-unknown)
pids=()
for kind in "${kinds[@]}"; do
        : >"$T/timing-$kind"
        attempts "$kind" &
        pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done

median() { # FILE: the median of the first column, in ms
        cut -f1 "$1" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

summary=""
declare -A med
for kind in "${kinds[@]}"; do
        f=$T/timing-$kind
        [[ $(wc -l <"$f") -eq $n ]] || fail "$kind: $(wc -l <"$f") of $n attempts ran"
        med[$kind]=$(median "$f")
        summary+="$kind ${med[$kind]} ms; "
done
summary=${summary%; }

for kind in "${kinds[@]}"; do
        f=$T/timing-$kind
        msgs=$(cut -f2 "$f" | sort | uniq -c | sed -E 's/^ *//' | paste -sd, -)
        [[ "$(cut -f2 "$f" | sort -u)" == "Authentication failure" ]] ||
                fail "$kind: pamtester said '$msgs' (count, message), not only 'Authentication failure' as a local account's wrong password does; medians: $summary"
done
for kind in "${kinds[@]}"; do
        ((med[$kind] > 1400)) || fail "$kind fails after a median of ${med[$kind]} ms, without pam_unix's 2 s delay; medians: $summary"
done
lo=$(printf '%s\n' "${med[@]}" | sort -n | head -n1)
hi=$(printf '%s\n' "${med[@]}" | sort -n | tail -n1)
((hi - lo < 350)) || fail "the kinds of failure can be told apart by their delay ($((hi - lo)) ms between medians): $summary"

# The password of the local account never travelled.
SYSLOG_MARK=0
expect_no_syslog "$local_pw" "a password must never be logged"
pass "$summary"
