# Sourced by provider-faults.sh and bench/bench-faults.sh after lib.sh's
# ns_enter and idp_start: a token endpoint that fails in one way per port
# (fault-server.py), the certificates it presents, and the cached discovery
# document pointed at one of its ports.
#
# Discovery and JWKS come from the test provider and are cached by a first,
# good login; the cached discovery document then names the fault server's
# port for the case as token endpoint, so only the token request meets it.
# shellcheck shell=bash

F=""
FAULT_PID=""

# Every fault the server offers, as "MODE|label", in the order of the table
# in README.md "When the provider fails".
FAULTS=(
        "refused|connection refused"
        "reset|reset after the request"
        "black-hole|black hole (accepts, silent)"
        "slow-body|body at one byte a second"
        "status-500|500"
        "status-503|503"
        "status-429|429 with Retry-After: 1"
        "truncated|200 with truncated JSON"
        "huge|10 MiB body"
        "untrusted-ca|certificate of untrusted CA"
        "expired|expired certificate"
        "other-host|certificate for other host"
        "forbidden-empty|403 with an empty body"
)

fault_label() { # MODE
        local f
        for f in "${FAULTS[@]}"; do
                [[ "${f%%|*}" == "$1" ]] && {
                        echo "${f#*|}"
                        return 0
                }
        done
        fail "no fault $1"
}

# ---- certificates: a CA added to ca_file, and one nobody trusts ------------

_new_ca() { # NAME
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=cloudauth fault $1" \
                -keyout "$F/$1-key.pem" -out "$F/$1.pem" 2>/dev/null || fail "openssl could not create CA $1"
}

_new_csr() { # NAME SUBJECT-ALT-NAME
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" -addext "subjectAltName=$2" \
                -keyout "$F/$1-key.pem" -out "$F/$1.csr" 2>/dev/null || fail "openssl could not create key $1"
}

_sign() { # NAME CA SUBJECT-ALT-NAME
        openssl x509 -req -in "$F/$1.csr" -CA "$F/$2.pem" -CAkey "$F/$2-key.pem" -CAcreateserial -days 1 \
                -extfile <(echo "subjectAltName=$3") -out "$F/$1.pem" 2>/dev/null || fail "openssl could not sign $1"
}

# $F with the server's certificates, and $T/ca-bundle.pem: the test
# provider's CA and the fault CA, the ca_file that trusts both.
faults_certs() {
        F=$T/faults
        mkdir -m 0700 "$F"
        _new_ca fault-ca
        _new_ca stranger-ca
        _new_csr good IP:127.0.0.1
        _sign good fault-ca IP:127.0.0.1
        _new_csr otherhost DNS:other.example
        _sign otherhost fault-ca DNS:other.example
        _new_csr untrusted IP:127.0.0.1
        _sign untrusted stranger-ca IP:127.0.0.1
        # Valid for one day in 2020 only: openssl x509 cannot date a certificate back, openssl ca can.
        _new_csr expired IP:127.0.0.1
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
                -startdate 20200101000000Z -enddate 20200102000000Z -in "$F/expired.csr" -out "$F/expired.pem" \
                2>/dev/null || fail "openssl could not sign the expired certificate"

        cat "$CA_FILE" "$F/fault-ca.pem" >"$T/ca-bundle.pem"
        chmod 0644 "$T/ca-bundle.pem"
}

# ---- the server --------------------------------------------------------------

# A good login through SERVICE caches discovery and JWKS; the discovery
# document is kept as point_token_endpoint's original.
faults_cache_discovery() { # SERVICE USER PASSWORD
        pam_run "$1" "$2" "authenticate acct_mgmt" "$3"
        expect_pam_ok
        [[ -f "$T/cache/discovery.json" && -f "$T/cache/jwks.json" ]] || fail "the good login cached no discovery or JWKS"
        cp "$T/cache/discovery.json" "$F/discovery.json"
}

# fault-server.py on its ports, stopped at exit; $F/requests.log empty.
faults_server_start() {
        python3 "$INTEGRATION_DIR/fault-server.py" "$F" "$F/ports" "$F/requests.log" 2>"$F/server.log" &
        FAULT_PID=$!
        # lib.sh's cleanup still runs last, with the test's exit status.
        # shellcheck disable=SC2154
        trap 'fault_rc=$?; set +e; kill "$FAULT_PID" 2>/dev/null; wait "$FAULT_PID" 2>/dev/null || :; (exit "$fault_rc"); _cleanup' EXIT
        local i
        for ((i = 0; i < 500; i++)); do
                [[ -f "$F/ports" ]] && break
                kill -0 "$FAULT_PID" 2>/dev/null || fail "the fault server exited: $(cat "$F/server.log")"
                sleep 0.01
        done
        [[ -f "$F/ports" ]] || fail "the fault server did not start"
        : >"$F/requests.log"
}

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

# The PAM result of the last pam_run, by its name.
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
