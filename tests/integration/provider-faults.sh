#!/bin/bash
# A password login through the real PAM stack against a token endpoint that
# fails in each way a provider can: every case answers within the timeout
# plus one second, a 4xx without an error body is a refusal (PAM_AUTH_ERR),
# never "provider unreachable", and an offline login is used exactly when the
# provider could not answer. Prints the table that README.md "When the
# provider fails" shows.
#
# Discovery and JWKS come from the test provider and are cached by a first,
# good login; the cached discovery document then names the fault server's
# port for the case as token endpoint, so only the token request meets it.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
idp_start

TIMEOUT=2
BUDGET_MS=$(((TIMEOUT + 1) * 1000))
F=$T/faults
mkdir -m 0700 "$F"

# ---- certificates: a CA added to ca_file, and one nobody trusts ------------

new_ca() { # NAME
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=cloudauth fault $1" \
                -keyout "$F/$1-key.pem" -out "$F/$1.pem" 2>/dev/null || fail "openssl could not create CA $1"
}

new_csr() { # NAME SUBJECT-ALT-NAME
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" -addext "subjectAltName=$2" \
                -keyout "$F/$1-key.pem" -out "$F/$1.csr" 2>/dev/null || fail "openssl could not create key $1"
}

sign() { # NAME CA SUBJECT-ALT-NAME
        openssl x509 -req -in "$F/$1.csr" -CA "$F/$2.pem" -CAkey "$F/$2-key.pem" -CAcreateserial -days 1 \
                -extfile <(echo "subjectAltName=$3") -out "$F/$1.pem" 2>/dev/null || fail "openssl could not sign $1"
}

new_ca fault-ca
new_ca stranger-ca
new_csr good IP:127.0.0.1
sign good fault-ca IP:127.0.0.1
new_csr otherhost DNS:other.example
sign otherhost fault-ca DNS:other.example
new_csr untrusted IP:127.0.0.1
sign untrusted stranger-ca IP:127.0.0.1
# Valid for one day in 2020 only: openssl x509 cannot date a certificate back, openssl ca can.
new_csr expired IP:127.0.0.1
: >"$F/index.txt"
echo 01 >"$F/serial"
cat >"$F/ca.cnf" <<EOF
[ca]
default_ca = fault
[fault]
database = $F/index.txt
serial = $F/serial
new_certs_dir = $F
default_md = sha256
policy = any
copy_extensions = copy
[any]
commonName = supplied
EOF
openssl ca -batch -notext -config "$F/ca.cnf" -cert "$F/fault-ca.pem" -keyfile "$F/fault-ca-key.pem" \
        -startdate 20200101000000Z -enddate 20200102000000Z -in "$F/expired.csr" -out "$F/expired.pem" 2>/dev/null ||
        fail "openssl could not sign the expired certificate"

cat "$CA_FILE" "$F/fault-ca.pem" >"$T/ca-bundle.pem"
chmod 0644 "$T/ca-bundle.pem"
CFG_CA_FILE=$T/ca-bundle.pem CFG_TIMEOUT=$TIMEOUT write_config
# nodelay: the time measured is the request's, not the failure delay. No
# no_offline: the good login below leaves a verifier, so every row shows
# whether the offline login was tried.
pam_service login nodelay
pw=$(password_of alice@example.com)

# ---- a good login caches discovery and JWKS ----------------------------------

pam_run login alice@example.com "authenticate acct_mgmt" "$pw"
expect_pam_ok
[[ -f "$T/cache/discovery.json" && -f "$T/cache/jwks.json" ]] || fail "the good login cached no discovery or JWKS"
cp "$T/cache/discovery.json" "$F/discovery.json"

python3 "$INTEGRATION_DIR/fault-server.py" "$F" "$F/ports" "$F/requests.log" 2>"$F/server.log" &
FAULT_PID=$!
# lib.sh's cleanup still runs last, with the test's exit status.
# shellcheck disable=SC2154
trap 'fault_rc=$?; set +e; kill "$FAULT_PID" 2>/dev/null; wait "$FAULT_PID" 2>/dev/null || :; (exit "$fault_rc"); _cleanup' EXIT
for ((i = 0; i < 500; i++)); do
        [[ -f "$F/ports" ]] && break
        kill -0 "$FAULT_PID" 2>/dev/null || fail "the fault server exited: $(cat "$F/server.log")"
        sleep 0.01
done
[[ -f "$F/ports" ]] || fail "the fault server did not start"
: >"$F/requests.log"

port_of() { # MODE
        awk -v m="$1" '$1 == m { print $2 }' "$F/ports"
}

# The cached discovery document, as the good login stored it, with another token endpoint.
point_token_endpoint() { # URL
        python3 - "$F/discovery.json" "$T/cache/discovery.json" "$1" <<'PY'
import json, os, sys
cache = json.load(open(sys.argv[1]))
doc = json.loads(cache["document"])
doc["token_endpoint"] = sys.argv[3]
cache["document"] = json.dumps(doc)
with open(sys.argv[2] + ".tmp", "w") as f:
    json.dump(cache, f)
os.chmod(sys.argv[2] + ".tmp", 0o644)
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
PY
}

pam_code() {
        [[ "$PAM_RC" -ne 0 ]] || {
                echo PAM_SUCCESS
                return
        }
        case $(_pam_last_message) in
        *"pamtester: successfully"*) echo PAM_SUCCESS ;;
        *"pamtester: Authentication failure") echo PAM_AUTH_ERR ;;
        *"pamtester: Authentication service cannot retrieve authentication info") echo PAM_AUTHINFO_UNAVAIL ;;
        *"pamtester: Have exhausted maximum number of retries for service.") echo PAM_MAXTRIES ;;
        *) echo "other ($(_pam_last_message))" ;;
        esac
}

# ---- the faults ----------------------------------------------------------------

ROWS=()
FAILURES=()

# One login against MODE's port; the row is checked against EXPECTED (a PAM code).
run_case() { # MODE LABEL EXPECTED-PAM-CODE EXPECTED-LOG-RESULT EXPECTED-OFFLINE
        local mode=$1 label=$2 want=$3 want_result=$4 want_offline=$5 code result offline requests
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
run_case refused "connection refused" PAM_SUCCESS success yes
run_case reset "reset after the request" PAM_SUCCESS success yes
run_case black-hole "black hole (accepts, silent)" PAM_SUCCESS success yes
run_case slow-body "body at one byte a second" PAM_SUCCESS success yes
run_case status-500 "500" PAM_SUCCESS success yes
run_case status-503 "503" PAM_SUCCESS success yes
run_case status-429 "429 with Retry-After: 1" PAM_SUCCESS success yes
run_case truncated "200 with truncated JSON" PAM_AUTHINFO_UNAVAIL unavailable no
run_case huge "10 MiB body" PAM_AUTHINFO_UNAVAIL unavailable no
run_case untrusted-ca "certificate of untrusted CA" PAM_SUCCESS success yes
run_case expired "expired certificate" PAM_SUCCESS success yes
run_case other-host "certificate for other host" PAM_SUCCESS success yes
run_case forbidden-empty "403 with an empty body" PAM_AUTH_ERR denied no

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
