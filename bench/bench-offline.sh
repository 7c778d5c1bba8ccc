#!/bin/bash
# An offline password login (the provider refuses connections; the password
# of the last online login is checked against its argon2id verifier) through
# pamtester and the PAM module, against the argon2id check alone, timed
# inside bench-argon2 with the same default cost, in the same run.
# What the login adds to the check it cannot avoid: starting pamtester and
# the login helper, the refused connection, reading the configuration, the
# store and the host key, taking a verification slot, and the record update.
# usage: bench/bench-offline.sh [BUILDDIR] [ROUNDS]
set -euo pipefail
# As root, the login goes through the real /etc/pam.d of a private mount namespace.
if [ "$(id -u)" -eq 0 ] && [ -z "${CLOUDAUTH_BENCH_NS:-}" ] && command -v unshare >/dev/null; then
        CLOUDAUTH_BENCH_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
top="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$top/build}" && pwd)"
rounds="${2:-20}"
module="$build/pam/pam_cloudauth.so"
helper="$build/helper/cloudauth-auth"
argon2="$build/bench/bench-argon2"
for f in "$module" "$helper" "$argon2"; do
        [ -x "$f" ] || [ -f "$f" ] || { echo "bench-offline: build $f first" >&2; exit 1; }
done
command -v pamtester >/dev/null || { echo "bench-offline: pamtester is missing" >&2; exit 1; }

work="$(mktemp -d /tmp/cloudauth-bench.XXXXXX)"
trap '"$top/tests/idp/idp.sh" stop "$work" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$top/tests/idp/idp.sh" start "$work" >/dev/null
. "$work/env"

mkdir -p "$work/pam.d"
cat >"$work/cloudauth.conf" <<CONF
[provider]
issuer = $ISSUER
client_id = cloudauth-test
ca_file = $CA_FILE
[access]
allow_groups = linux-users
[paths]
state_dir = $work/state
cache_dir = $work/cache
CONF
printf 'auth required %s config=%s helper=%s\naccount required %s config=%s helper=%s\n' \
        "$module" "$work/cloudauth.conf" "$helper" "$module" "$work/cloudauth.conf" "$helper" >"$work/pam.d/bench"

if [ -n "${CLOUDAUTH_BENCH_NS:-}" ]; then
        mount --bind "$work/pam.d" /etc/pam.d
        stack="the real PAM stack, /etc/pam.d in a private mount namespace"
        pam_login() {
                echo "alice-Pa55word" | pamtester bench alice@example.com authenticate acct_mgmt >"$work/pam.out" 2>&1
        }
else
        stack="pam_wrapper (not root)"
        pam_login() {
                echo "alice-Pa55word" | LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$work/pam.d" \
                        pamtester bench alice@example.com authenticate acct_mgmt >"$work/pam.out" 2>&1
        }
fi

now_us() {
        local t=$EPOCHREALTIME
        echo $((${t%.*} * 1000000 + 10#${t#*.}))
}

# One online login leaves the verifier; then the provider is gone.
pam_login || { echo "bench-offline: the online login failed: $(cat "$work/pam.out")" >&2; exit 1; }
"$top/tests/idp/idp.sh" stop "$work" >/dev/null
pam_login || { echo "bench-offline: the offline login failed: $(cat "$work/pam.out")" >&2; exit 1; }
grep -q "cannot be reached; signed in with the password last used" "$work/pam.out" ||
        { echo "bench-offline: the login was not an offline one: $(cat "$work/pam.out")" >&2; exit 1; }
"$argon2" 1 >/dev/null

login_times=() argon2_times=()
for ((i = 0; i < rounds; i++)); do
        t0=$(now_us)
        pam_login || { echo "bench-offline: offline login $i failed: $(cat "$work/pam.out")" >&2; exit 1; }
        t1=$(now_us)
        login_times+=($((t1 - t0)))
        argon2_times+=("$("$argon2" 1)")
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
login_med=$(median "${login_times[@]}")
argon2_med=$(median "${argon2_times[@]}")
awk -v l="$login_med" -v a="$argon2_med" -v n="$rounds" 'BEGIN {
        printf "offline password login through pamtester: median %.1f ms; argon2id check alone (default cost): median %.1f ms; ratio %.2f (%d rounds)\n",
                l / 1000, a / 1000, l / a, n }'
echo "PAM stack: $stack"
