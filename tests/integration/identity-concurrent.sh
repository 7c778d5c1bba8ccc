#!/bin/bash
# 50 logins of 50 users at once: every one succeeds, nss.db ends up with all
# 50, and a reader enumerating passwd throughout never fails and never sees
# the number of users go down (no lost update, no half-written file).
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
require_nss_module
private_tmp
n=50
idp_users_file "$T/users.json" "$n"
idp_start --users "$T/users.json"
write_config
pam_service login

reader() {
        local last=0 count out i=0
        while [[ -e "$T/reading" ]]; do
                if ! out=$(nss_run getent passwd); then
                        echo "round $i: getent passwd failed: $out" >"$T/reader.err"
                        return 1
                fi
                count=$(grep -c '^user[0-9]*:\*:' <<<"$out" || true)
                if ((count < last)); then
                        echo "round $i: $count users after $last" >"$T/reader.err"
                        return 1
                fi
                last=$count
                i=$((i + 1))
        done
        echo "$i" >"$T/reader.rounds"
}

syslog_mark
touch "$T/reading"
reader &
reader_pid=$!

pids=()
for ((k = 1; k <= n; k++)); do
        pam_spawn "$T/login-$k.out" login "user$k@example.com" "authenticate acct_mgmt" "pw-user$k"
        pids+=("$PAM_PID")
done
failed=0
for ((k = 1; k <= n; k++)); do
        if ! wait "${pids[k - 1]}"; then
                failed=$((failed + 1))
                echo "login of user$k failed: $(tail -n 3 "$T/login-$k.out" | tr '\n' ' ')" >&2
        fi
done
rm -f "$T/reading"
wait "$reader_pid" || fail "the reader failed: $(cat "$T/reader.err")"
((failed == 0)) || fail "$failed of $n concurrent logins failed"
echo "reader: $(cat "$T/reader.rounds") enumerations during the logins"

# All 50 in nss.db, each with the UID cloudauth.conf(5) gives it.
got=$(cached_users | cut -d: -f1 | sort)
want=$(for ((k = 1; k <= n; k++)); do echo "user$k"; done | sort)
[[ "$got" == "$want" ]] || fail "nss.db holds $(wc -l <<<"$got") users: $(tr '\n' ' ' <<<"$got")"
for k in 1 17 50; do
        u=$(uid_of "user$k@example.com")
        expect_getent "user$k:*:$u:$u:User $k:/home/user$k:/bin/bash" passwd "$u"
done
members=$(nss_run getent group linux-users@example.com | cut -d: -f4 | tr ',' '\n' | sort)
[[ "$members" == "$want" ]] || fail "linux-users lists $(wc -l <<<"$members") members"
[[ $(find "$T/state/users" -name '*.json' | wc -l) -eq $n ]] || fail "not $n user records"
expect_no_syslog 'cannot use .*nss\.db' "nss.db was always usable"
expect_no_syslog 'result=denied|cannot be written' "no login was refused"
pass
