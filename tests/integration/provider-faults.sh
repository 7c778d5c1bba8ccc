#!/bin/bash
# A password login through the real PAM stack against a token endpoint that
# fails in each way a provider can: every case answers within the timeout
# plus one second, a 4xx without an error body is a refusal (PAM_AUTH_ERR),
# never "provider unreachable", and an offline login is used exactly when the
# provider could not answer. Prints the table that README.md "When the
# provider fails" shows.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults-lib.sh"
ns_enter "$@"
require_module
idp_start

TIMEOUT=2
BUDGET_MS=$(((TIMEOUT + 1) * 1000))

faults_certs
CFG_CA_FILE=$T/ca-bundle.pem CFG_TIMEOUT=$TIMEOUT write_config
# nodelay: the time measured is the request's, not the failure delay. No
# no_offline: the good login below leaves a verifier, so every row shows
# whether the offline login was tried.
pam_service login nodelay
pw=$(password_of alice@example.com)
faults_cache_discovery login alice@example.com "$pw"
faults_server_start

# ---- the faults ----------------------------------------------------------------

ROWS=()
FAILURES=()

# One login against MODE's port; the row is checked against EXPECTED (a PAM code).
run_case() { # MODE EXPECTED-PAM-CODE EXPECTED-LOG-RESULT EXPECTED-OFFLINE
        local mode=$1 want=$2 want_result=$3 want_offline=$4 label code result offline requests
        label=$(fault_label "$mode")
        point_token_endpoint "https://127.0.0.1:$(port_of "$mode")/token"
        syslog_mark
        pam_run login alice@example.com "authenticate" "$pw"
        code=$(pam_code)
        syslog_sync
        result=$(syslog_grep -oE 'user=alice@example\.com flow=[a-z-]+( source=[a-z]+)? result=[a-z-]+' | tail -n1 |
                sed 's/.*result=//' || true)
        if syslog_grep -qiE 'offline|last used' || grep -qi 'offline\|last used' "$PAM_OUT"; then
                offline=yes
        else
                offline=no
        fi
        requests=$(grep -cx -- "$mode" "$F/requests.log" || true)
        ROWS+=("$(printf '| %-28s | %-20s | %5s | %-11s | %-8s | %s |' "$label" "$code" "$PAM_ELAPSED_MS" "${result:-none}" \
                "$requests" "$offline")")
        [[ "$code" == "$want" ]] || FAILURES+=("$label: $code, expected $want")
        [[ "$result" == "$want_result" ]] || FAILURES+=("$label: logged result '${result:-none}', expected '$want_result'")
        ((PAM_ELAPSED_MS < BUDGET_MS)) || FAILURES+=("$label: answered in $PAM_ELAPSED_MS ms, over $BUDGET_MS ms")
        [[ "$offline" == "$want_offline" ]] || FAILURES+=("$label: offline login $offline, expected $want_offline")
        case $mode in
        untrusted-ca | expired | other-host)
                [[ "$requests" -eq 0 ]] || FAILURES+=("$label: the request got through TLS")
                ;;
        status-503)
                # One retry after a second's back-off, not a burst of them.
                [[ "$requests" -eq 2 && "$PAM_ELAPSED_MS" -ge 900 ]] ||
                        FAILURES+=("$label: $requests requests in $PAM_ELAPSED_MS ms, expected 2 a second apart")
                ;;
        esac
        return 0
}

# The provider could not answer: alice's verifier of the good login lets her in offline.
run_case refused PAM_SUCCESS success yes
run_case reset PAM_SUCCESS success yes
run_case black-hole PAM_SUCCESS success yes
run_case slow-body PAM_SUCCESS success yes
run_case status-500 PAM_SUCCESS success yes
run_case status-503 PAM_SUCCESS success yes
run_case status-429 PAM_SUCCESS success yes
run_case truncated PAM_AUTHINFO_UNAVAIL unavailable no
run_case huge PAM_AUTHINFO_UNAVAIL unavailable no
run_case untrusted-ca PAM_SUCCESS success yes
run_case expired PAM_SUCCESS success yes
run_case other-host PAM_SUCCESS success yes
run_case forbidden-empty PAM_AUTH_ERR denied no

echo "provider faults, timeout = $TIMEOUT s (budget $BUDGET_MS ms):"
printf '| %-28s | %-20s | %5s | %-11s | %-8s | %s |\n' "fault at the token endpoint" "PAM code" "ms" "logged" \
        "requests" "offline login"
printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..30})" "$(printf -- '-%.0s' {1..22})" "-------" \
        "-------------" "----------" "--------------------"
printf '%s\n' "${ROWS[@]}"

if ((${#FAILURES[@]} > 0)); then
        fail "$(printf '%s; ' "${FAILURES[@]}")"
fi

# The provider itself still works once the token endpoint is its own again.
cp "$F/discovery.json" "$T/cache/discovery.json"
pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
pass
