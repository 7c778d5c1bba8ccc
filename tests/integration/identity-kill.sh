#!/bin/bash
# Writers die at any moment: logins are SIGKILLed at random points, again
# and again, while a reader keeps resolving users. nss.db stays readable
# throughout (getent never fails, cloudauthctl user list works), later
# logins are not blocked by a dead writer's lock, and cloudauthctl cache
# rebuild makes nss.db agree with the records again.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
require_nss_module
private_tmp
[[ -x "${CLOUDAUTH_CTL:-}" ]] || skip "cloudauthctl is not built"
n=12
idp_users_file "$T/users.json" "$n"
idp_start --users "$T/users.json"
write_config
pam_service login

# One login first, so there is an nss.db to keep readable from the start.
pam_run login user1@example.com "authenticate acct_mgmt" pw-user1
expect_pam_ok
u1=$(uid_of user1@example.com)
line1="user1:*:$u1:$u1:User 1:/home/user1:/bin/bash"

reader() {
        local out i=0
        while [[ -e "$T/reading" ]]; do
                if ! out=$(nss_run getent passwd "$u1"); then
                        echo "round $i: getent passwd $u1 failed: $out" >"$T/reader.err"
                        return 1
                fi
                if [[ "$out" != "$line1" ]]; then
                        echo "round $i: getent passwd $u1 answered '$out'" >"$T/reader.err"
                        return 1
                fi
                i=$((i + 1))
        done
        echo "$i" >"$T/reader.rounds"
}

syslog_mark
touch "$T/reading"
reader &
reader_pid=$!

# A plain login takes this long; kills land anywhere from its start to past its end.
t0=$(now_ms)
pam_run login user2@example.com "authenticate acct_mgmt" pw-user2
expect_pam_ok
span=$(($(now_ms) - t0 + 20))
killed=0 finished=0 midwrite=0
temp_files() { find "$T/state" -maxdepth 1 \( -name 'nss.db.tmp*' -o -name '.record.tmp.*' \) -printf '%f '; }
for ((round = 0; round < 40; round++)); do
        pids=()
        for k in 3 4 5 6; do
                user=$(((round * 4 + k) % (n - 2) + 3))
                pam_spawn "$T/kill-$k.out" login "user$user@example.com" "authenticate acct_mgmt" "pw-user$user"
                pids+=("$PAM_PID")
        done
        sleep "$(printf '0.%03d' $((RANDOM % span)))"
        for p in "${pids[@]}"; do
                if kill -KILL "$p" 2>/dev/null; then killed=$((killed + 1)); fi
        done
        for p in "${pids[@]}"; do
                wait "$p" 2>/dev/null && finished=$((finished + 1)) || true
        done
        # A temp file now means a writer died between creating and renaming it.
        if [[ -n "$(temp_files)" ]]; then midwrite=$((midwrite + 1)); fi
        out=$(ctl user list 2>&1) || fail "round $round: user list failed after the kills: $out"
        getent_run passwd user1
        [[ "$GETENT_RC" -eq 0 && "$GETENT_OUT" == "$line1" ]] ||
                fail "round $round: getent passwd user1: exit $GETENT_RC '$GETENT_OUT'"
done
rm -f "$T/reading"
wait "$reader_pid" || fail "the reader failed: $(cat "$T/reader.err")"
echo "$killed logins killed, $finished finished before their kill, $midwrite rounds left a writer's temp file;" \
        "the reader resolved $(cat "$T/reader.rounds") times (login span ${span} ms)"
((killed > 0)) || fail "no login was ever killed"
expect_no_syslog 'cannot use .*nss\.db' "nss.db was always usable"

# A dead writer leaves no lock behind: a login now completes promptly.
pam_run login user2@example.com "authenticate acct_mgmt" pw-user2
expect_pam_ok
expect_elapsed_below 10000

records=$(ctl --json user list | python3 -c 'import json,sys; print("\n".join(sorted(u["name"] for u in json.load(sys.stdin))))')
echo "before the rebuild: $(wc -l <<<"$records") records, $(cached_users | wc -l) users in nss.db"
out=$(ctl cache rebuild) || fail "cache rebuild failed: $out"
[[ -n "$records" ]] || fail "no records after the rounds"
[[ "$(cached_users | cut -d: -f1 | sort)" == "$records" ]] ||
        fail "after rebuild nss.db lists '$(cached_users | cut -d: -f1 | sort | tr '\n' ' ')', the records are '$(tr '\n' ' ' <<<"$records")'"
for name in $records; do
        u=$(uid_of "$name@example.com")
        expect_getent "$name:*:$u:$u:User ${name#user}:/home/$name:/bin/bash" passwd "$name"
done
# No temporary file of a killed writer survives the next write.
[[ -z "$(temp_files)" ]] || fail "temporary files left behind: $(temp_files)"

# And every user can still log in, landing in nss.db.
for ((k = 3; k <= n; k++)); do
        pam_run login "user$k@example.com" "authenticate acct_mgmt" "pw-user$k"
        expect_pam_ok
done
[[ $(cached_users | wc -l) -eq $n ]] || fail "after fresh logins nss.db lists $(cached_users | wc -l) users, not $n"
pass
