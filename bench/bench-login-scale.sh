#!/bin/bash
# A whole password login (pamtester, warm discovery/JWKS cache) on a host
# whose identity store is empty but for the users of this run, against the
# same login on a host with USERS more cached users, interleaved round by
# round in the same run. Two kinds of login: a repeat login of a cached user
# whose groups did not change (nss.db is loaded and left alone), and a first
# login of a new user (record, subject file and a rewritten nss.db).
# The large store is filled by bench/populate-cache (records cloned from the
# one a real login wrote, nss.db from cache_rebuild), then checked with
# cloudauthctl. Also prints nss.db's size and the store step's breakdown.
# usage: bench/bench-login-scale.sh [BUILDDIR] [ROUNDS] [USERS]   (as root)
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$top/build}" && pwd)"
rounds="${2:-30}"
n_users="${3:-100000}"
module="$build/pam/pam_cloudauth.so"
populate="$build/bench/populate-cache"
ctl="$build/tools/cloudauthctl"
for f in "$module" "$populate" "$ctl"; do
        [ -f "$f" ] || { echo "bench-login-scale: build $f first" >&2; exit 1; }
done
command -v pamtester >/dev/null || { echo "bench-login-scale: pamtester is missing" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench-login-scale: run as root (the store must be root-owned)" >&2; exit 1; }

work="$(mktemp -d /tmp/cloudauth-bench-scale.XXXXXX)"
chmod 0755 "$work"
trap '"$top/tests/idp/idp.sh" stop "$work/idp" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# The provider's users plus one new user per round, for first logins.
python3 - "$top/tests/idp/users.json" "$work/users.json" "$rounds" <<'PY'
import json, sys, uuid
data = json.load(open(sys.argv[1]))
for k in range(int(sys.argv[3])):
    data["users"].append({"email": f"new{k}@example.com", "password": "new-Pa55word", "name": f"New {k}",
                          "groups": ["linux-users"], "roles": [],
                          "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"cloudauth-bench-new-{k}"))})
json.dump(data, open(sys.argv[2], "w"))
PY
"$top/tests/idp/idp.sh" start "$work/idp" --users "$work/users.json" >/dev/null
. "$work/idp/env"

mkdir -p "$work/pam.d"
for host in small big; do
        mkdir -m 0700 "$work/$host" "$work/$host/state" "$work/$host/cache"
        cat >"$work/$host.conf" <<CONF
[provider]
issuer = $ISSUER
client_id = cloudauth-test
ca_file = $CA_FILE
[identity]
default_domain = example.com
[access]
allow_groups = linux-users
[paths]
state_dir = $work/$host/state
cache_dir = $work/$host/cache
CONF
        chmod 0644 "$work/$host.conf"
        printf 'auth required %s config=%s\naccount required %s config=%s\n' \
                "$module" "$work/$host.conf" "$module" "$work/$host.conf" >"$work/pam.d/$host"
done

pam_login() { # HOST [USER PASSWORD]
        echo "${3:-alice-Pa55word}" | LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$work/pam.d" \
                pamtester "$1" "${2:-alice@example.com}" authenticate acct_mgmt >/dev/null 2>&1
}

now_us() {
        local t=$EPOCHREALTIME
        echo $((${t%.*} * 1000000 + 10#${t#*.}))
}

# Warm-up: discovery, JWKS and alice's record on both hosts.
for host in small big; do
        pam_login "$host" || { echo "bench-login-scale: the warm-up login on $host failed" >&2; exit 1; }
done
alice_uid="$(basename "$(ls "$work/big/state/users/"[0-9]*.json)" .json)"

echo "filling the big store with $n_users users..."
"$populate" fill "$work/big.conf" "$alice_uid" "$n_users"
echo "cloudauthctl user list on the big host: $("$ctl" --config "$work/big.conf" user list | tail -n 1)"
pam_login big || { echo "bench-login-scale: a login on the filled host failed" >&2; exit 1; }

small_repeat=() big_repeat=() small_first=() big_first=()
for ((i = 0; i < rounds; i++)); do
        # Alternate the order, so neither side always runs right after the other.
        if ((i % 2)); then order="big small"; else order="small big"; fi
        for host in $order; do
                t0=$(now_us)
                pam_login "$host" || { echo "bench-login-scale: a login on $host failed in round $i" >&2; exit 1; }
                t1=$(now_us)
                pam_login "$host" "new$i@example.com" new-Pa55word ||
                        { echo "bench-login-scale: a first login on $host failed in round $i" >&2; exit 1; }
                t2=$(now_us)
                if [ "$host" = small ]; then
                        small_repeat+=($((t1 - t0))) small_first+=($((t2 - t1)))
                else
                        big_repeat+=($((t1 - t0))) big_first+=($((t2 - t1)))
                fi
        done
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
profile_big="$("$populate" profile "$work/big.conf" "$alice_uid" 15)"
big_users=$(sed -n 's/.* bytes, \([0-9]*\) users.*/\1/p' <<<"$profile_big")
report() { # LABEL BIG-MEDIAN SMALL-MEDIAN
        awk -v l="$1" -v b="$2" -v s="$3" -v n="$rounds" -v u="$big_users" 'BEGIN {
                printf "%s: login with %d cached users: median %.2f ms; empty store: median %.2f ms; ratio %.2f (%d interleaved rounds)\n",
                        l, u, b / 1000, s / 1000, b / s, n }'
}
report "repeat login, nothing changed" "$(median "${big_repeat[@]}")" "$(median "${small_repeat[@]}")"
report "first login of a new user    " "$(median "${big_first[@]}")" "$(median "${small_first[@]}")"
# nss.db plus the delta file first logins append to, when the writer keeps one.
delta_size() { if [ -f "$1/nss.delta.db" ]; then stat -c %s "$1/nss.delta.db"; else echo 0; fi; }
db_size() { echo $(($(stat -c %s "$1/nss.db") + $(delta_size "$1"))); }
size=$(db_size "$work/big/state")
small_size=$(db_size "$work/small/state")
small_users=$(find "$work/small/state/users" -name '*.json' | wc -l)
awk -v z="$size" -v d="$(delta_size "$work/big/state")" -v u="$big_users" -v s="$small_size" -v su="$small_users" 'BEGIN {
        printf "nss.db (+ delta): %d bytes for %d users, %.1f bytes per user (delta %d bytes); %d bytes for %d users\n",
                z, u, z / u, d, s, su }'
echo "state directory on $(stat -f -c %T "$work") ($(df -P "$work" | awk 'NR == 2 { print $1 }'))"
echo "store step in-process (populate-cache profile: load nss.db, write it whole, cache_store_login):"
printf '  small: %s\n' "$("$populate" profile "$work/small.conf" "$alice_uid" 15 | tail -n 1)"
printf '  big:   %s\n' "$(tail -n 1 <<<"$profile_big")"
