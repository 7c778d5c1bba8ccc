#!/bin/bash
# The answer time of a password login through the PAM module against each
# fault of tests/integration/provider-faults.sh, against a bare curl request
# in the same run: the same form POST to the same fault endpoint, with
# --max-time the configured [provider] timeout and the same CA bundle. The
# ratio is what the module adds to meeting the fault once: its process, its
# login helper, and its retries of 503 and 429.
# The first PAM column is a user who never logged in online here, so has no
# offline verifier: the time is the failure's, not argon2's. The second is a
# user whose good login left one: where the provider could not answer, that
# time includes the offline verification.
# usage: sudo bench/bench-faults.sh [BUILDDIR] [ROUNDS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
rounds=${2:-5}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || {
        echo "bench-faults: ROUNDS must be a positive number, not '$rounds'" >&2
        exit 2
}
export CLOUDAUTH_PAM_MODULE=$build/pam/pam_cloudauth.so CLOUDAUTH_HELPER=$build/helper/cloudauth-auth
[[ -f "$CLOUDAUTH_PAM_MODULE" && -x "$CLOUDAUTH_HELPER" ]] || {
        echo "bench-faults: build $CLOUDAUTH_PAM_MODULE and $CLOUDAUTH_HELPER first" >&2
        exit 1
}
# lib.sh would report a missing root as a test skip; this is no test.
[[ $EUID -eq 0 ]] || {
        echo "bench-faults: needs root, for a private mount namespace" >&2
        exit 1
}
# The test harness: a private mount namespace (the machine's /etc, /dev and
# journal untouched), the test provider, and pamtester under pam_wrapper
# with a service directory of its own.
source "$top/tests/integration/lib.sh"
source "$top/tests/integration/faults-lib.sh"
ns_enter "$@"
require_module

buildtype=$(python3 -c 'import json, sys
print(next(o["value"] for o in json.load(open(sys.argv[1])) if o["name"] == "buildtype"))' \
        "$build/meson-info/intro-buildoptions.json" 2>/dev/null) || buildtype=unknown
[[ "$buildtype" == release ]] ||
        echo "bench-faults: $build is a $buildtype build, not a release one (meson setup -Dbuildtype=release)" >&2

TIMEOUT=2
idp_start
faults_certs
# No lockout: the 403 is a refused login, and ROUNDS of them would lock the
# account, measuring PAM_MAXTRIES instead of the fault.
CFG_CA_FILE=$T/ca-bundle.pem CFG_TIMEOUT=$TIMEOUT write_config "[lockout]" "attempts = 0"
# nodelay: the time measured is the request's, not the failure delay.
pam_service login nodelay
with=alice@example.com
without=bob@example.com
with_pw=$(password_of "$with")
without_pw=$(password_of "$without")
# The good login also leaves alice's offline verifier; bob never logs in online.
faults_cache_discovery login "$with" "$with_pw"
faults_server_start

# The module's own form, field for field; sets CURL_MS and CURL_RESULT.
# Timed around the curl process as pam_run times pamtester's; the status
# goes to a file so that no command substitution is timed with it.
curl_request() { # URL USER PASSWORD
        local start rc
        start=$(now_ms)
        set +e
        curl -s -o /dev/null -w '%{http_code}' --max-time "$TIMEOUT" --cacert "$T/ca-bundle.pem" \
                -d grant_type=password --data-urlencode "username=$2" --data-urlencode "password=$3" \
                --data-urlencode "scope=openid profile email" -d client_id=cloudauth-test "$1" >"$F/curl.status"
        rc=$?
        set -e
        CURL_MS=$(($(now_ms) - start))
        if ((rc == 0)); then
                CURL_RESULT="HTTP $(cat "$F/curl.status")"
        else
                CURL_RESULT="exit $rc"
        fi
}

median() {
        printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'
}

# The results of all rounds, each once: one name when every round agreed.
distinct() {
        printf '%s\n' "$@" | sort -u | paste -sd/
}

row() {
        printf '| %-28s | %7s | %7s | %5s | %-20s | %-9s | %16s | %-20s |\n' "$@"
}

# The line under the header: as many dashes as each column is wide, plus its two spaces.
rule() {
        local w
        printf '|'
        for w in 28 7 7 5 20 9 16 20; do
                printf -- '-%.0s' $(seq $((w + 2)))
                printf '|'
        done
        echo
}

echo "provider faults, timeout = $TIMEOUT s, median of $rounds rounds, $build ($buildtype build)"
echo "PAM: pamtester authenticate under pam_wrapper, nodelay; $without has no offline verifier, $with has one"
echo "curl: the same form POST, --max-time $TIMEOUT, the same CA bundle"
row "fault at the token endpoint" "PAM ms" "curl ms" ratio "PAM code" curl "with verifier ms" "with verifier code"
rule

# Fault by fault, all rounds of one before the next: the cached discovery
# document is rewritten once per fault, outside the timed calls.
for fault in "${FAULTS[@]}"; do
        mode=${fault%%|*}
        url="https://127.0.0.1:$(port_of "$mode")/token"
        point_token_endpoint "$url"
        pam_ms=() pam_codes=() curl_ms=() curl_results=() with_ms=() with_codes=()
        for ((i = 0; i < rounds; i++)); do
                pam_run login "$without" authenticate "$without_pw"
                pam_ms+=("$PAM_ELAPSED_MS")
                pam_codes+=("$(pam_code)")
                curl_request "$url" "$without" "$without_pw"
                curl_ms+=("$CURL_MS")
                curl_results+=("$CURL_RESULT")
                pam_run login "$with" authenticate "$with_pw"
                with_ms+=("$PAM_ELAPSED_MS")
                with_codes+=("$(pam_code)")
        done
        p=$(median "${pam_ms[@]}")
        c=$(median "${curl_ms[@]}")
        row "${fault#*|}" "$p" "$c" "$(awk -v p="$p" -v c="$c" 'BEGIN { if (c > 0) printf "%.2f", p / c; else print "-" }')" \
                "$(distinct "${pam_codes[@]}")" "$(distinct "${curl_results[@]}")" "$(median "${with_ms[@]}")" \
                "$(distinct "${with_codes[@]}")"
done
