#!/bin/bash
# A local user must not be able to freeze or kill the work of a login he
# started: su is his (its real UID is his), but the helper that talks to the
# provider and holds the identity store's lock runs as root in all three IDs
# and in a session of its own, so neither kill(2) nor a terminal's stop
# signals reach it. With his su stopped, the helper still finishes, the
# store's lock is free, and other people's logins go on.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/e2e-lib.sh"
source "$(dirname "$0")/attack-lib.sh"
ns_enter "$@"
require_cmd pgrep flock
attack_su_stage mallory

as_mallory() {
        setpriv --reuid=mallory --regid=mallory --init-groups "$@"
}

# Every token answer now takes 3 s: time to go after the helper meanwhile.
idp_admin "/__test/delay?ms=3000"
setpriv --reuid=mallory --regid=mallory --init-groups env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$T/mallory" PTY_RUN_PASSWORD="$pw" TERM=dumb \
        python3 "$INTEGRATION_DIR/pty-run.py" --timeout 60 -- su alice -c true >"$T/su.out" 2>&1 &
runner=$!
ATTACK_PIDS+=($runner)

# This test's own processes only: other tests on the machine run helpers too.
helper="" su_pid=""
for ((i = 0; i < 500; i++)); do
        [[ -n "$su_pid" ]] || su_pid=$(pgrep -P "$runner" -x su | head -n1 || true)
        [[ -n "$su_pid" ]] && helper=$(pgrep -P "$su_pid" -x cloudauth-auth | head -n1 || true)
        [[ -n "$helper" ]] && break
        sleep 0.01
done
[[ -n "$su_pid" ]] || fail "mallory's su did not start: $(tr -d '\r' <"$T/su.out" | tail -n 3)"
[[ -n "$helper" ]] || fail "no login helper process ran for mallory's su: the login runs inside su, which mallory may stop at will"
# The password has gone through once the helper has a connection of its own
# besides the socketpair: it is waiting for the provider.
for ((i = 0; i < 500; i++)); do
        (($(find "/proc/$helper/fd" -lname 'socket:*' 2>/dev/null | wc -l) >= 2)) && break
        sleep 0.01
done

# Root in every ID: the caller's UID is nowhere.
ids=$(awk '/^Uid:|^Gid:/ { print $2, $3, $4 }' "/proc/$helper/status" | tr '\n' ' ')
[[ "$ids" == "0 0 0 0 0 0 " ]] || fail "the helper's real, effective and saved IDs are not all root: $ids"
# Its own session, so the terminal's ^Z and ^C reach su, never the helper.
read -r h_sid h_pgid < <(ps -o sid=,pgid= -p "$helper")
read -r s_sid s_pgid < <(ps -o sid=,pgid= -p "$su_pid")
[[ "$h_sid" != "$s_sid" && "$h_pgid" != "$s_pgid" ]] ||
        fail "the helper shares su's session ($h_sid/$s_sid) or process group ($h_pgid/$s_pgid)"

for sig in STOP TSTP KILL TERM; do
        as_mallory kill -s "$sig" "$helper" 2>/dev/null && fail "mallory could send SIG$sig to the login helper"
done
# What mallory may do: stop his own su, and its whole process group, as ^Z would.
as_mallory kill -s STOP "$su_pid" || fail "mallory cannot stop his own su (the test is wrong)"
as_mallory kill -s TSTP -- "-$s_pgid" 2>/dev/null || true
state=$(awk '{ print $3 }' "/proc/$helper/stat")
[[ "$state" != T && "$state" != t ]] || fail "the login helper is stopped (state $state)"

# With su frozen, the helper still gets its answer, stores alice and exits;
# the lock is free and bob logs in meanwhile.
start=$(now_ms)
e2e_pam_login cloudauth-login bob "$(password_of bob@example.com)"
[[ $PAM_RC -eq 0 ]] || fail "bob's login failed while mallory's su was stopped: $(tail -n 3 "$T/pam.out")"
# Finished: gone, or a zombie that the stopped su has yet to reap.
helper_done() {
        local st
        st=$(awk '{ print $3 }' "/proc/$helper/stat" 2>/dev/null) || return 0
        [[ "$st" == Z || "$st" == X ]]
}
for ((i = 0; i < 1000; i++)); do
        helper_done && break
        sleep 0.01
done
helper_done ||
        fail "the login helper of the stopped su did not finish: waiting in $(cat "/proc/$helper/wchan" 2>/dev/null), descriptors $(ls -l "/proc/$helper/fd" 2>/dev/null | awk 'NR > 1 { print $NF }' | tr '\n' ' ')"
# What the helpers do after their answer (the refresh token, the verifier) takes the lock for a moment.
helpers_settle
flock -n -x "$E2E_STATE/lock" true || fail "the identity store is still locked while mallory's su is stopped"
elapsed=$(($(now_ms) - start))
((elapsed < 15000)) || fail "bob's login took $elapsed ms while mallory's su was stopped"
kill -s CONT "$su_pid" 2>/dev/null || true
pass
