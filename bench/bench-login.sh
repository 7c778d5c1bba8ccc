#!/bin/bash
# A whole password login through pamtester and the PAM module, against a bare
# curl password-grant request to the same provider, in the same run.
# Both are one new process doing one TLS handshake and one token request;
# the module adds loading itself and executing its login helper, which reads
# the config, the cached discovery and JWKS, verifies the ID token and applies
# the access policy.
# usage: bench/bench-login.sh [BUILDDIR] [ROUNDS]
set -euo pipefail
# As root, the login goes through the real /etc/pam.d: a private mount
# namespace gets a service directory of its own, so the machine's is
# untouched and no pam_wrapper sits in the measured path.
if [ "$(id -u)" -eq 0 ] && [ -z "${CLOUDAUTH_BENCH_NS:-}" ] && command -v unshare >/dev/null; then
        CLOUDAUTH_BENCH_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
top="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$top/build}" && pwd)"
rounds="${2:-40}"
module="$build/pam/pam_cloudauth.so"
helper="$build/helper/cloudauth-auth"
[ -f "$module" ] || { echo "bench-login: build $module first" >&2; exit 1; }
# The module executes its login helper for every call; a tree built before
# the helper existed has none, and runs everything in the module.
helper_arg=""
[ -x "$helper" ] && helper_arg="helper=$helper"
command -v pamtester >/dev/null || { echo "bench-login: pamtester is missing" >&2; exit 1; }

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
printf 'auth required %s config=%s %s\naccount required %s config=%s %s\n' \
        "$module" "$work/cloudauth.conf" "$helper_arg" "$module" "$work/cloudauth.conf" "$helper_arg" >"$work/pam.d/bench"
# What the helper alone costs: the account phase for a name nobody has, which
# starts it, reads the configuration and the store, and makes no request;
# against the same pamtester run through pam_permit.
printf 'account required %s config=%s %s\n' "$module" "$work/cloudauth.conf" "$helper_arg" >"$work/pam.d/bench-account"
printf 'account required pam_permit.so\n' >"$work/pam.d/bench-permit"

if [ -n "${CLOUDAUTH_BENCH_NS:-}" ]; then
        mount --bind "$work/pam.d" /etc/pam.d
        stack="the real PAM stack, /etc/pam.d in a private mount namespace"
        pam_login() {
                echo "alice-Pa55word" | pamtester bench alice@example.com authenticate acct_mgmt >/dev/null 2>&1
        }
        pam_account() { # SERVICE
                pamtester "$1" nobody-here acct_mgmt >/dev/null 2>&1 || true
        }
else
        stack="pam_wrapper (not root)"
        pam_login() {
                echo "alice-Pa55word" | LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$work/pam.d" \
                        pamtester bench alice@example.com authenticate acct_mgmt >/dev/null 2>&1
        }
        pam_account() { # SERVICE
                LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$work/pam.d" \
                        pamtester "$1" nobody-here acct_mgmt >/dev/null 2>&1 || true
        }
fi

curl_login() {
        curl -sf --cacert "$CA_FILE" -o /dev/null \
                -d grant_type=password -d client_id=cloudauth-test -d username=alice@example.com \
                -d password=alice-Pa55word --data-urlencode "scope=openid profile email" \
                "$ISSUER/token"
}

# After it answered, a login's helper makes the offline verifier in a child
# (about 200 ms of argon2): wait for it outside the timed part, so that it
# does not slow down the next request measured.
settle() {
        while pgrep -x -r R,S,D --ns $$ --nslist mnt cloudauth-auth >/dev/null; do sleep 0.005; done
}

now_us() {
        local t=$EPOCHREALTIME
        echo $((${t%.*} * 1000000 + 10#${t#*.}))
}

# Warm up both paths (and the discovery/JWKS cache the module keeps on disk).
pam_login || { echo "bench-login: the PAM login failed" >&2; exit 1; }
curl_login || { echo "bench-login: the curl request failed" >&2; exit 1; }

pam_times=() curl_times=()
for ((i = 0; i < rounds; i++)); do
        t0=$(now_us); pam_login; t1=$(now_us); settle; t1b=$(now_us); curl_login; t2=$(now_us)
        pam_times+=($((t1 - t0)))
        curl_times+=($((t2 - t1b)))
done

account_times=() permit_times=()
for ((i = 0; i < rounds; i++)); do
        t0=$(now_us); pam_account bench-account; t1=$(now_us); pam_account bench-permit; t2=$(now_us)
        account_times+=($((t1 - t0)))
        permit_times+=($((t2 - t1)))
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
pam_med=$(median "${pam_times[@]}")
curl_med=$(median "${curl_times[@]}")
tokens=$(grep -c '^POST /token ' "$REQUEST_LOG" || true)
others=$(grep -vc '^POST /token ' "$REQUEST_LOG" || true)
awk -v p="$pam_med" -v c="$curl_med" -v n="$rounds" 'BEGIN {
        printf "password login through pamtester: median %.2f ms; bare curl password grant: median %.2f ms; ratio %.2f (%d rounds)\n",
                p / 1000, c / 1000, p / c, n }'
acc_med=$(median "${account_times[@]}")
permit_med=$(median "${permit_times[@]}")
awk -v a="$acc_med" -v p="$permit_med" 'BEGIN {
        printf "account phase for an unknown name: median %.2f ms; the same pamtester through pam_permit: median %.2f ms; difference %.2f ms\n",
                a / 1000, p / 1000, (a - p) / 1000 }'
echo "PAM stack: $stack"
echo "provider requests: $tokens token requests for $((2 * rounds + 2)) logins, $others others (discovery and JWKS, fetched once)"
