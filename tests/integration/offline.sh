#!/bin/bash
# Offline password login: when the provider cannot answer, the password of the
# last allowed online login on this host still works, within [offline]
# max_age, for nobody else, and never after the provider refused it.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
private_tmp
n=50
idp_users_file "$T/users.json" "$n"
idp_start --users "$T/users.json"
write_config
pam_service login
pam_service login-no-offline no_offline
pw=$(password_of alice@example.com)

provider_fails() { # COUNT: the next COUNT token requests answer 500 (503 would be retried)
        idp_admin "/__test/fail?status=500&count=$1"
}

# ---- online, then offline -----------------------------------------------------
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
[[ -f "$T/state/host.key" ]] || fail "the first online login made no host key"
[[ "$(stat -c '%a %u' "$T/state/host.key")" == "600 0" ]] ||
        fail "host.key is $(stat -c '%a %u' "$T/state/host.key"), not root's 0600"
record=$(grep -l '"alice@example.com"' "$T/state/users/"*.json)
grep -q '"algorithm": "argon2id-keyed"' "$record" || fail "the record holds no verifier: $(cat "$record")"
grep -q "$pw" "$record" && fail "the record holds the password itself"
show=$(ctl user show alice) || fail "user show alice: $show"
grep -qE '^offline login +password of [0-9-]+ [0-9:]+, until [0-9-]+ [0-9:]+' <<<"$show" ||
        fail "user show does not say until when alice may log in offline: $show"

provider_fails 1
syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
grep -q "The identity provider cannot be reached; signed in with the password last used on $(date +%Y-%m-%d)" "$PAM_OUT" ||
        fail "no offline message: $(cat "$PAM_OUT")"
expect_syslog 'user=alice@example\.com flow=password source=offline result=success' "the offline decision"

# Only with the provider down: an online answer is never replaced by the verifier.
provider_fails 1
pam_run login alice@example.com "authenticate" "wrong-$pw"
expect_pam_fail "Authentication failure"
grep -q "this is not the password last used here" "$PAM_OUT" || fail "no message for a wrong offline password"

# The provider's process gone altogether (connection refused), the short name typed.
idp_stop
pam_run login alice "authenticate acct_mgmt" "$pw"
expect_pam_ok
pam_run login bob@example.com "authenticate" "$(password_of bob@example.com)"
expect_pam_fail "Authentication service cannot retrieve authentication info"
grep -q "The identity provider cannot be reached, and no offline login is possible for bob@example.com." "$PAM_OUT" ||
        fail "no message for a user never seen here: $(cat "$PAM_OUT")"

# no_offline, and [offline] enabled = no: the provider's silence is the answer.
pam_run login-no-offline alice@example.com "authenticate" "$pw"
expect_pam_fail "Authentication service cannot retrieve authentication info"
write_config "[offline]" "enabled = no"
pam_run login alice@example.com "authenticate" "$pw"
expect_pam_fail "Authentication service cannot retrieve authentication info"

# Past max_age of the last online login.
write_config "[offline]" "max_age = 1s"
sleep 2
syslog_mark
pam_run login alice@example.com "authenticate" "$pw"
expect_pam_fail "Authentication service cannot retrieve authentication info"
expect_syslog 'source=offline result=unavailable reason="offline: the last online login is older than \[offline\] max_age"' \
        "the max_age refusal"
write_config

# ---- the password changed at the provider ---------------------------------------
python3 - "$T/users.json" "$T/users-changed.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
for u in data["users"]:
    if u["email"] == "alice@example.com":
        u["password"] = "alice-New-Pa55word"
json.dump(data, open(sys.argv[2], "w"), indent=2)
PY
idp_start --users "$T/users-changed.json" --port "$PORT"
syslog_mark
pam_run login alice@example.com "authenticate" "$pw"
expect_pam_fail "Authentication failure"
expect_syslog 'offline verifier removed' "the verifier of the refused password removed"
grep -q '"offline_verifier"' "$record" && fail "the refused password's verifier is still in the record"
ctl user show alice | grep -qE '^offline login +none$' || fail "user show still offers alice an offline login"
provider_fails 1
pam_run login alice@example.com "authenticate" "$pw"
expect_pam_fail "Authentication service cannot retrieve authentication info"
grep -q "no offline login is possible for alice@example.com" "$PAM_OUT" || fail "old password still tried offline"

# ---- many at once: all get in, never more than two verifications at a time -----
# The memory of this test's helpers (those in its mount namespace), sampled
# every 10 ms while the logins run: the highest number of them holding an
# argon2 buffer (resident over half of [offline] memory, 64 MiB) at one
# moment, and the highest total of their proportional set sizes (shared
# library pages counted once).
memory_sampler() { # OUTFILE
        python3 - "$1" <<'PY' &
import os, signal, sys, time
out = sys.argv[1]
peak_big = peak_total = 0
ours = os.readlink("/proc/self/ns/mnt")
stop = False
def done(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, done)
def rollup(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return {l.split(":")[0]: int(l.split()[1]) for l in f if l.endswith("kB\n")}
while not stop:
    big, total = [], 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "cloudauth-auth":
                    continue
            if os.readlink(f"/proc/{pid}/ns/mnt") != ours:
                continue
            fields = rollup(pid)
        except (OSError, ValueError):
            continue
        total += fields.get("Pss", 0)
        if fields.get("Rss", 0) > 32 * 1024:
            big.append(pid)
    # A scan takes a while: count only the helpers still holding the buffer
    # at its end, so one that finished while a later one started is not
    # counted beside it.
    still = 0
    for pid in big:
        try:
            still += rollup(pid).get("Rss", 0) > 32 * 1024
        except (OSError, ValueError):
            pass
    peak_big = max(peak_big, still)
    peak_total = max(peak_total, total)
    time.sleep(0.01)
with open(out, "w") as f:
    f.write(f"{peak_big} {peak_total // 1024}\n")
PY
        SAMPLER_PID=$!
}

logins_at_once() { # WHAT: every userK logs in with her password, all at once
        local k pids=()
        for k in $(seq 1 "$n"); do
                pam_spawn "$T/$1-$k.out" login "user$k@example.com" "authenticate acct_mgmt" "pw-user$k"
                pids+=("$PAM_PID")
        done
        for k in $(seq 1 "$n"); do
                wait "${pids[k - 1]}" || fail "$1 login $k of $n failed: $(cat "$T/$1-$k.out")"
        done
        helpers_settle
}
logins_at_once online
idp_stop
syslog_mark
memory_sampler "$T/memory"
start=$(now_ms)
logins_at_once offline
elapsed=$(($(now_ms) - start))
kill "$SAMPLER_PID"
wait "$SAMPLER_PID"
read -r peak_big peak_mib <"$T/memory"
echo "$n offline logins at once: ${elapsed} ms; at most $peak_big helpers with an argon2 buffer at once, $peak_mib MiB in all helpers at the peak"
((peak_big >= 1 && peak_big <= 2)) || fail "$peak_big helpers held an argon2 buffer at once, expected 1 or 2"
# Two argon2 buffers, and a few MiB for each helper waiting for its turn.
((peak_mib <= 2 * 64 + n * 4)) || fail "the helpers used $peak_mib MiB at once, more than $((2 * 64 + n * 4)) MiB"
syslog_wait_for "user=user$n@example\.com flow=password source=offline result=success" 5 || true
[[ $(syslog_grep -c 'flow=password source=offline result=success') -eq $n ]] ||
        fail "not all $n offline logins were logged as such"
slots=$(syslog_grep -o 'offline verification slot [0-9]*' | sort -u | awk '{print $4}' | tr '\n' ' ')
[[ "$slots" == "0 1 " ]] || fail "verification slots used: '$slots', expected exactly 0 and 1"
[[ -z "$(find "$T/state" -name 'offline-slot-*' ! -name 'offline-slot-[01]')" ]] || fail "more than two slot files"
pass
