#!/bin/bash
# Start and stop the test identity provider over HTTPS with a throw-away CA.
#   idp.sh start DIR [server.mjs args]   -> DIR/env: ISSUER PORT CA_FILE PID
#   idp.sh stop DIR
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
        echo "idp.sh: $*" >&2
        exit 1
}

ensure_node_modules() {
        [[ -d "$here/node_modules/oidc-provider" ]] && return 0
        command -v npm >/dev/null || die "npm is missing, cannot install the test provider"
        # Tests start in parallel: one installs, the others wait for it.
        (
                flock 9
                [[ -d "$here/node_modules/oidc-provider" ]] ||
                        (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
        ) 9>"${TMPDIR:-/tmp}/cloudauth-idp-npm.lock" || die "npm ci failed in $here"
}

make_ca() { # DIR NAME CN
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
                -subj "/CN=$3" -keyout "$1/$2-key.pem" -out "$1/$2.pem" \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
                2>/dev/null || die "openssl could not create the $2 CA"
}

make_certs() {
        local dir=$1
        make_ca "$dir" ca "cloudauth test CA"
        make_ca "$dir" other-ca "unrelated test CA"
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
                -keyout "$dir/server-key.pem" -out "$dir/server.csr" 2>/dev/null ||
                die "openssl could not create the server key"
        printf '%s\n' "subjectAltName=IP:127.0.0.1,IP:::1" "extendedKeyUsage=serverAuth" \
                "basicConstraints=critical,CA:FALSE" >"$dir/server.ext"
        openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
                -CAcreateserial -days 1 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null ||
                die "openssl could not sign the server certificate"
        rm -f "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl"
        chmod 0644 "$dir/ca.pem" "$dir/other-ca.pem"
}

now_ms() {
        local t=$EPOCHREALTIME
        echo $((${t%.*} * 1000 + 10#${t#*.} / 1000))
}

# One start: 0 once discovery answers; 1 (server killed) if it exited, never
# bound its port within 10 s, or did not answer within the overall timeout.
start_once() {
        local dir=$1
        shift
        rm -f "$dir/port" "$dir/env"
        # setsid: the server gets its own process group, so stop kills only it.
        setsid node "$here/server.mjs" --port 0 --host 127.0.0.1 \
                --cert "$dir/server.pem" --key "$dir/server-key.pem" \
                --state "$dir" --log "$dir/requests.log" --keys "$dir/keys.json" "$@" \
                >"$dir/stdout.log" 2>"$dir/stderr.log" </dev/null &
        local pid=$!
        echo "$pid" >"$dir/pid"

        local now started deadline port=""
        started=$(now_ms)
        deadline=$((started + ${IDP_START_TIMEOUT_MS:-60000}))
        while :; do
                if ! kill -0 "$pid" 2>/dev/null; then
                        echo "idp.sh: the test provider exited during start-up:" >&2
                        cat "$dir/stderr.log" >&2
                        exit 1
                fi
                if [[ -z "$port" && -s "$dir/port" ]]; then
                        port=$(<"$dir/port")
                fi
                if [[ -n "$port" ]] && curl -sf --max-time 2 --cacert "$dir/ca.pem" \
                        -o /dev/null "https://127.0.0.1:$port/.well-known/openid-configuration"; then
                        return 0
                fi
                now=$(now_ms)
                if [[ -z "$port" ]] && ((now > started + 10000)) || ((now > deadline)); then
                        echo "idp.sh: the test provider (pid $pid, state $(ps -o stat= -p "$pid" 2>/dev/null)," \
                                "port ${port:-not bound}) did not answer; its stderr:" >&2
                        cat "$dir/stderr.log" >&2
                        kill -KILL -- "-$pid" 2>/dev/null || true
                        wait "$pid" 2>/dev/null || true
                        return 1
                fi
                sleep 0.05
        done
}

cmd_start() {
        local dir=${1:?usage: idp.sh start DIR [server args]}
        shift
        mkdir -p "$dir"
        dir=$(cd "$dir" && pwd)
        command -v node >/dev/null || die "node is missing"
        command -v openssl >/dev/null || die "openssl is missing"
        command -v curl >/dev/null || die "curl is missing"
        ensure_node_modules
        [[ -f "$dir/ca.pem" ]] || make_certs "$dir"
        rm -f "$dir/port" "$dir/env"
        : >>"$dir/requests.log"

        # A start that has not bound its port within 10 s is retried: on loaded
        # machines node has been seen, rarely, to stall before listen() for good.
        local attempt pid port="" issuer
        for attempt in 1 2 3; do
                start_once "$dir" "$@" && break
                [[ $attempt -lt 3 ]] || exit 1
                echo "idp.sh: start attempt $attempt stalled; trying again" >&2
        done
        pid=$(<"$dir/pid")
        port=$(<"$dir/port")
        # Discovery answered, so these requests are not what a test counts.
        : >"$dir/requests.log"

        issuer="https://127.0.0.1:$port"
        {
                echo "ISSUER=$issuer"
                echo "PORT=$port"
                echo "CA_FILE=$dir/ca.pem"
                echo "OTHER_CA_FILE=$dir/other-ca.pem"
                echo "PID=$pid"
                echo "REQUEST_LOG=$dir/requests.log"
        } >"$dir/env.tmp"
        mv "$dir/env.tmp" "$dir/env"
}

cmd_stop() {
        local dir=${1:?usage: idp.sh stop DIR}
        local pid
        [[ -s "$dir/pid" ]] || return 0
        pid=$(<"$dir/pid")
        rm -f "$dir/pid"
        kill -TERM -- "-$pid" 2>/dev/null || return 0
        local i
        for ((i = 0; i < 100; i++)); do
                kill -0 "$pid" 2>/dev/null || return 0
                sleep 0.05
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
}

case "${1:-}" in
start)
        shift
        cmd_start "$@"
        ;;
stop)
        shift
        cmd_stop "$@"
        ;;
*)
        echo "usage: idp.sh start DIR [server args] | stop DIR" >&2
        exit 2
        ;;
esac
