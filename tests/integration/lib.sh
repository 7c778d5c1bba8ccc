# Sourced by the integration tests: a private mount namespace with a syslog
# capture on /dev/log, the test identity provider, a config and a PAM service
# directory in a per-test temporary directory $T, and pamtester under
# pam_wrapper. Exit codes: 0 pass, 1 fail, 77 skip.
# shellcheck shell=bash

set -euo pipefail

INTEGRATION_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE_ROOT=$(cd "$INTEGRATION_DIR/../.." && pwd)
IDP_SH=$SOURCE_ROOT/tests/idp/idp.sh
IDP_USERS=$SOURCE_ROOT/tests/idp/users.json
IDP_CLIENT_SECRET=$SOURCE_ROOT/tests/idp/client-secret.txt
TEST_NAME=$(basename "${0%.sh}")

T=""
SYSLOG_PID=""
PAM_OUT=""
PAM_RC=""
PAM_ELAPSED_MS=""
SYSLOG_MARK=0
REQUESTS_MARK=0
EXTRA_IDPS=()
PRIVATE_TMP=""

now_ms() {
        local t=$EPOCHREALTIME
        echo $((${t%.*} * 1000 + 10#${t#*.} / 1000))
}

skip() {
        echo "SKIP: $TEST_NAME: $*"
        exit 77
}

_diagnostics() {
        [[ -n "$T" && -d "$T" ]] || return 0
        local f
        for f in "$T/pam.out" "$T/syslog.log" "$T/idp/requests.log" "$T/cloudauth.conf"; do
                [[ -s "$f" ]] || continue
                echo "----- ${f#"$T"/} (last 40 lines)"
                tail -n 40 "$f"
        done
        if [[ -s "$T/idp/stderr.log" ]] && grep -qv WARNING "$T/idp/stderr.log"; then
                echo "----- idp stderr"
                grep -v WARNING "$T/idp/stderr.log" | tail -n 20
        fi
}

fail() {
        echo "FAIL: $TEST_NAME: $*" >&2
        _diagnostics >&2
        exit 1
}

pass() {
        echo "PASS: $TEST_NAME${1:+: $1}"
        exit 0
}

require_cmd() {
        local c
        for c; do
                command -v "$c" >/dev/null 2>&1 || skip "$c is not installed"
        done
}

_libpam_wrapper() {
        local f
        for f in /usr/lib/x86_64-linux-gnu/libpam_wrapper.so /usr/lib/*/libpam_wrapper.so /usr/lib/libpam_wrapper.so \
                /usr/lib64/libpam_wrapper.so; do
                [[ -e "$f" ]] && {
                        echo "$f"
                        return 0
                }
        done
        return 1
}

_cleanup() {
        local rc=$?
        set +e
        if [[ -n "$T" && -f "$T/idp/pid" ]]; then
                "$IDP_SH" stop "$T/idp" >/dev/null 2>&1
        fi
        local extra
        for extra in "${EXTRA_IDPS[@]}"; do
                "$IDP_SH" stop "$extra" >/dev/null 2>&1
        done
        if [[ -n "$SYSLOG_PID" ]]; then
                kill "$SYSLOG_PID" 2>/dev/null
                wait "$SYSLOG_PID" 2>/dev/null
        fi
        if [[ -n "$T" && -d "$T" ]]; then
                # A half-built /dev may still be mounted under $T: unmount it
                # first, and never let rm cross into another file system.
                if mountpoint -q "$T/dev" 2>/dev/null; then
                        umount -R -l "$T/dev" 2>/dev/null
                fi
                # private_tmp: drop the private /tmp and its bind mounts, so $T is the real directory again.
                if [[ -n "$PRIVATE_TMP" ]]; then
                        umount -R -l /tmp 2>/dev/null
                fi
                rm -rf --one-file-system "$T"
        fi
        exit "$rc"
}

# A private /dev: the machine's device nodes bound in, plus /dev/log served
# by syslog-listener.py into $T/syslog.log.
_setup_dev() {
        local d=$T/dev n i
        mkdir "$d"
        mount -t tmpfs -o mode=0755,size=1m cloudauth-dev "$d"
        for n in null zero full random urandom tty ptmx; do
                [[ -e "/dev/$n" ]] || continue
                : >"$d/$n"
                mount --bind "/dev/$n" "$d/$n"
        done
        for n in pts shm; do
                [[ -d "/dev/$n" ]] || continue
                mkdir "$d/$n"
                mount --bind "/dev/$n" "$d/$n"
        done
        ln -s /proc/self/fd "$d/fd"
        ln -s /proc/self/fd/0 "$d/stdin"
        ln -s /proc/self/fd/1 "$d/stdout"
        ln -s /proc/self/fd/2 "$d/stderr"
        : >"$T/syslog.log"
        python3 "$INTEGRATION_DIR/syslog-listener.py" "$d/log" "$T/syslog.log" &
        SYSLOG_PID=$!
        for ((i = 0; i < 200; i++)); do
                [[ -S "$d/log" ]] && break
                kill -0 "$SYSLOG_PID" 2>/dev/null || fail "the syslog listener exited"
                sleep 0.01
        done
        [[ -S "$d/log" ]] || fail "the syslog listener did not create its socket"
        mount --move "$d" /dev
}

# Re-run the calling script inside a private mount namespace (so the
# machine's own /dev and /etc stay untouched), then set up $T and /dev/log.
ns_enter() {
        if [[ "${CLOUDAUTH_TEST_NS:-}" != "$$" ]]; then
                [[ $EUID -eq 0 ]] || skip "needs root for a private mount namespace"
                require_cmd unshare mount python3
                # The marker holds the pid the re-run shell will have (exec
                # keeps it), so a child test started from inside still re-execs.
                export CLOUDAUTH_TEST_NS=$$
                exec unshare --mount --propagation private bash "$0" "$@"
        fi
        require_cmd pamtester openssl curl node
        _libpam_wrapper >/dev/null || skip "libpam_wrapper.so is not installed"
        T=$(mktemp -d /tmp/cloudauth-it.XXXXXX)
        chmod 0755 "$T"
        trap _cleanup EXIT
        trap 'exit 130' INT TERM
        _setup_dev
        # Where the machine's journald runs, the helper would send it the decisions
        # these tests read from the syslog capture: hide its socket here.
        if [[ -d /run/systemd/journal ]]; then
                mount -t tmpfs -o mode=0755,size=1m cloudauth-no-journal /run/systemd/journal ||
                        fail "cannot hide the machine's journal socket"
        fi
        mkdir -m 0755 "$T/pam.d"
        mkdir -m 0700 "$T/state" "$T/cache"
}

require_module() {
        [[ -n "${CLOUDAUTH_PAM_MODULE:-}" ]] || skip "CLOUDAUTH_PAM_MODULE is not set"
        [[ -f "$CLOUDAUTH_PAM_MODULE" ]] || skip "$CLOUDAUTH_PAM_MODULE is not built"
        [[ -n "${CLOUDAUTH_HELPER:-}" && -x "$CLOUDAUTH_HELPER" ]] || skip "the login helper cloudauth-auth is not built"
}

# ---- syslog ----------------------------------------------------------------

# Every line logged so far has reached the file once this returns: the
# marker is queued on the same socket after them.
syslog_sync() {
        local tag=cloudauth-test-sync-$RANDOM$RANDOM
        logger -u /dev/log -t "$tag" sync || fail "logger could not write to /dev/log"
        syslog_wait_for "$tag" 5 || fail "syslog capture did not see its own marker"
}

syslog_wait_for() { # REGEX [timeout seconds]
        local deadline=$(($(now_ms) + ${2:-5} * 1000))
        while :; do
                syslog_new | grep -Eq -- "$1" && return 0
                (($(now_ms) > deadline)) && return 1
                sleep 0.02
        done
}

syslog_grep() { # grep args, over the lines since the last syslog_mark
        syslog_new | grep "$@"
}

syslog_mark() {
        SYSLOG_MARK=$(wc -l <"$T/syslog.log")
}

syslog_new() {
        tail -n "+$((SYSLOG_MARK + 1))" "$T/syslog.log"
}

# ---- the identity provider -------------------------------------------------

idp_start() { # [server.mjs args]
        "$IDP_SH" start "$T/idp" "$@" || fail "the test identity provider did not start"
        # shellcheck disable=SC1091
        source "$T/idp/env"
        export ISSUER PORT CA_FILE OTHER_CA_FILE REQUEST_LOG
        REQUESTS_MARK=0
}

idp_stop() {
        "$IDP_SH" stop "$T/idp"
}

idp_admin() { # PATH?QUERY
        curl -sf --max-time 5 --cacert "$CA_FILE" -X POST "$ISSUER$1" >/dev/null ||
                fail "admin request $1 failed"
}

requests_mark() {
        REQUESTS_MARK=$(wc -l <"$REQUEST_LOG")
}

requests_new() {
        tail -n "+$((REQUESTS_MARK + 1))" "$REQUEST_LOG"
}

password_of() { # EMAIL
        python3 -c 'import json,sys
for u in json.load(open(sys.argv[1]))["users"]:
    if u["email"] == sys.argv[2]:
        print(u["password"])' "$IDP_USERS" "$1"
}

# ---- configuration ---------------------------------------------------------

# Writes $T/cloudauth.conf. Each CFG_* variable is one key (empty: left out);
# CFG_PROVIDER_EXTRA and CFG_ACCESS are lines of their sections; arguments
# are appended as further lines (new sections).
write_config() {
        local f=$T/cloudauth.conf
        {
                echo "[provider]"
                [[ -n "${CFG_ISSUER-$ISSUER}" ]] && echo "issuer = ${CFG_ISSUER-$ISSUER}"
                [[ -n "${CFG_CLIENT_ID-cloudauth-test}" ]] && echo "client_id = ${CFG_CLIENT_ID-cloudauth-test}"
                [[ -n "${CFG_CA_FILE-$CA_FILE}" ]] && echo "ca_file = ${CFG_CA_FILE-$CA_FILE}"
                [[ -n "${CFG_TIMEOUT-5}" ]] && echo "timeout = ${CFG_TIMEOUT-5}"
                [[ -n "${CFG_PROVIDER_EXTRA:-}" ]] && printf '%s\n' "$CFG_PROVIDER_EXTRA"
                echo
                echo "[identity]"
                echo "default_domain = example.com"
                echo
                echo "[access]"
                [[ -n "${CFG_ACCESS-allow_groups = linux-users}" ]] && printf '%s\n' "${CFG_ACCESS-allow_groups = linux-users}"
                echo
                echo "[paths]"
                echo "state_dir = $T/state"
                echo "cache_dir = $T/cache"
                local line
                for line; do
                        printf '%s\n' "$line"
                done
        } >"$f"
        chown root:root "$f"
        chmod 0644 "$f"
}

# ---- PAM ---------------------------------------------------------------------

# $T/pam.d/NAME: our module for auth and account, with the given arguments.
pam_service() { # NAME [module args]
        local name=$1
        shift
        require_module
        {
                echo "auth required $CLOUDAUTH_PAM_MODULE config=$T/cloudauth.conf helper=$CLOUDAUTH_HELPER $*"
                echo "account required $CLOUDAUTH_PAM_MODULE config=$T/cloudauth.conf helper=$CLOUDAUTH_HELPER $*"
        } >"$T/pam.d/$name"
        _pam_other
}

# $T/pam.d/NAME from stdin, for stacks with other modules; @MODULE@ and
# @CONFIG@ are replaced by the module's path and the config's (with the
# built helper's path as the module's helper= argument).
pam_service_stack() { # NAME
        require_module
        sed -e "s|@MODULE@|$CLOUDAUTH_PAM_MODULE|g" \
                -e "s|@CONFIG@|$T/cloudauth.conf helper=$CLOUDAUTH_HELPER|g" >"$T/pam.d/$1"
        _pam_other
}

_pam_other() {
        [[ -f "$T/pam.d/other" ]] ||
                echo "auth required /lib/x86_64-linux-gnu/security/pam_deny.so" >"$T/pam.d/other"
}

# Runs pamtester under pam_wrapper: sets PAM_RC, PAM_OUT (stdout and stderr
# of pamtester) and PAM_ELAPSED_MS. The password is the answer to every prompt.
pam_run() { # SERVICE USER "OPS..." PASSWORD [VAR=VALUE for the environment...]
        local service=$1 user=$2 ops=$3 password=${4-} start end
        shift 4 || shift $#
        local wrapper
        wrapper=$(_libpam_wrapper)
        PAM_OUT=$T/pam.out
        start=$(now_ms)
        set +e
        # shellcheck disable=SC2086
        printf '%s\n' "$password" | env "$@" LD_PRELOAD="$wrapper" PAM_WRAPPER=1 \
                PAM_WRAPPER_SERVICE_DIR="$T/pam.d" PAM_WRAPPER_USE_SYSLOG=1 \
                timeout 60 pamtester -v "$service" "$user" $ops >"$T/pam.stdout" 2>"$T/pam.stderr"
        PAM_RC=$?
        # stdout is block-buffered, stderr is not: keep them apart.
        cat "$T/pam.stdout" "$T/pam.stderr" >"$PAM_OUT"
        set -e
        end=$(now_ms)
        PAM_ELAPSED_MS=$((end - start))
        [[ $PAM_RC -ne 124 ]] || fail "pamtester hung for 60 s"
        helpers_settle
}

# The login helper keeps the refresh token and the offline verifier in a
# child after it answered:
# wait until no helper runs in this test's mount namespace, so the next step
# sees the record as the login left it.
helpers_settle() {
        local i
        for ((i = 0; i < 2000; i++)); do
                pgrep -x -r R,S,D --ns $$ --nslist mnt cloudauth-auth >/dev/null || return 0
                sleep 0.01
        done
        fail "a login helper still runs 20 s after its login"
}

_pam_last_message() {
        grep 'pamtester: ' "$T/pam.stderr" | grep -v 'invoking pam_start\|performing operation' | tail -n1
}

expect_pam_ok() {
        [[ "$PAM_RC" -eq 0 ]] || fail "expected PAM success, pamtester exited $PAM_RC: $(_pam_last_message)"
}

expect_pam_fail() { # pam_strerror text, e.g. "Authentication failure"
        [[ "$PAM_RC" -ne 0 ]] || fail "expected '$1', but PAM succeeded"
        # A prompt without a newline may stand before the message on its line.
        grep -qE "(^|: )pamtester: $(sed 's/[][\.*^$()+?{}|]/\\&/g' <<<"$1")\$" "$T/pam.stderr" ||
                fail "expected '$1', got: $(_pam_last_message)"
}

expect_elapsed_below() { # MS
        ((PAM_ELAPSED_MS < $1)) || fail "the call took $PAM_ELAPSED_MS ms, more than $1 ms"
}

# Every syslog line since the mark, after the module's lines have arrived.
expect_syslog() { # REGEX description
        syslog_sync
        syslog_grep -Eq -- "$1" || fail "no syslog line matching /$1/ ($2)"
}

expect_no_syslog() { # REGEX description
        syslog_sync
        if syslog_grep -Eq -- "$1"; then
                fail "a syslog line matches /$1/ ($2): $(syslog_grep -E -- "$1" | head -n1)"
        fi
}

# ---- identity store and NSS ------------------------------------------------

# The UID (or an IdP group's GID) as cloudauth.conf(5) "USER AND GROUP IDS"
# defines it, computed here independently of the code under test.
id_hash() { # uid|gid NAME [SCOPE [MIN MAX]]
        local kind=$1 name=$2 scope=${3-$ISSUER} min=${4:-2001000000} max=${5:-2147000000} hex
        hex=$(printf 'cloudauth-%s-v1\n%s\n%s' "$kind" "$scope" "$name" | sha256sum | cut -c1-16)
        python3 -c 'import sys; lo, hi = int(sys.argv[2]), int(sys.argv[3]); print(lo + int(sys.argv[1], 16) % (hi - lo + 1))' \
                "$hex" "$min" "$max"
}

uid_of() { # NAME [SCOPE]
        id_hash uid "$@"
}

gid_of() { # GROUP [SCOPE]
        id_hash gid "$@"
}

# This test's own /etc/passwd and /etc/group (root, the local groups adm and
# sudo with Debian's gids, and any extra passwd lines given), bound over the
# machine's inside the private namespace: the module reads them directly, and
# nss_wrapper serves them as the "files" part. Rewritten in place on later
# calls, so the bind mounts keep showing the current content.
LOCAL_FILES_MOUNTED=""
local_accounts() { # [extra passwd lines...]
        {
                echo "root:x:0:0:root:/root:/bin/bash"
                local line
                for line; do
                        printf '%s\n' "$line"
                done
        } >"$T/passwd"
        printf '%s\n' "root:x:0:" "adm:x:4:" "sudo:x:27:" "users:x:100:" >"$T/group"
        chmod 0644 "$T/passwd" "$T/group"
        if [[ -z "$LOCAL_FILES_MOUNTED" ]]; then
                mount --bind "$T/passwd" /etc/passwd || fail "cannot bind $T/passwd over /etc/passwd"
                mount --bind "$T/group" /etc/group || fail "cannot bind $T/group over /etc/group"
                LOCAL_FILES_MOUNTED=1
        fi
}

require_nss_module() {
        [[ -n "${CLOUDAUTH_NSS_MODULE:-}" ]] || skip "CLOUDAUTH_NSS_MODULE is not set"
        [[ -f "$CLOUDAUTH_NSS_MODULE" ]] || skip "$CLOUDAUTH_NSS_MODULE is not built"
        _libnss_wrapper >/dev/null || skip "libnss_wrapper.so is not installed"
        [[ -f "$T/passwd" ]] || local_accounts
}

_libnss_wrapper() {
        local f
        for f in /usr/lib/x86_64-linux-gnu/libnss_wrapper.so /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so \
                /usr/lib64/libnss_wrapper.so; do
                [[ -e "$f" ]] && {
                        echo "$f"
                        return 0
                }
        done
        return 1
}

# A command with the module behind nss_wrapper: passwd and group answered by
# $T/passwd, $T/group, then the module reading $T/state/nss.db (or NSS_DB).
nss_run() { # COMMAND...
        env LD_PRELOAD="$(_libnss_wrapper)" NSS_WRAPPER_PASSWD="$T/passwd" NSS_WRAPPER_GROUP="$T/group" \
                NSS_WRAPPER_MODULE_SO_PATH="$CLOUDAUTH_NSS_MODULE" NSS_WRAPPER_MODULE_FN_PREFIX=cloudauth \
                CLOUDAUTH_NSS_DB="${NSS_DB:-$T/state/nss.db}" "$@"
}

# A command with glibc itself loading the module from an nsswitch.conf that
# names it, in a nested namespace: nss_wrapper answers getgrouplist() from
# group member lists only, while glibc calls initgroups_dyn, which is how
# local role groups (sudo, adm) reach a process.
nss_glibc_run() { # COMMAND...
        printf '%s\n' "passwd: files cloudauth" "group: files cloudauth" "shadow: files" >"$T/nsswitch.conf"
        unshare --mount --propagation private env LD_LIBRARY_PATH="$(dirname "$CLOUDAUTH_NSS_MODULE")" \
                CLOUDAUTH_NSS_DB="${NSS_DB:-$T/state/nss.db}" \
                sh -c 'mount --bind "$0" /etc/nsswitch.conf && exec "$@"' "$T/nsswitch.conf" "$@"
}

# getent through nss_wrapper; sets GETENT_OUT and GETENT_RC (2: not found).
getent_run() { # DATABASE [KEY...]
        set +e
        GETENT_OUT=$(nss_run getent "$@" 2>&1)
        GETENT_RC=$?
        set -e
}

expect_getent() { # EXPECTED-OUTPUT DATABASE KEY
        local want=$1
        shift
        getent_run "$@"
        [[ "$GETENT_RC" -eq 0 && "$GETENT_OUT" == "$want" ]] ||
                fail "getent $*: exit $GETENT_RC, got '$GETENT_OUT', expected '$want'"
}

expect_getent_absent() { # DATABASE KEY
        getent_run "$@"
        [[ "$GETENT_RC" -eq 2 && -z "$GETENT_OUT" ]] ||
                fail "getent $*: expected nothing (exit 2), got exit $GETENT_RC: '$GETENT_OUT'"
}

# The cloudauth users getent enumerates: the passwd entries not in $T/passwd.
cached_users() {
        nss_run getent passwd | awk -F: 'NR == FNR { local[$1] = 1; next } !($1 in local)' "$T/passwd" - || true
}

ctl() {
        [[ -x "${CLOUDAUTH_CTL:-}" ]] || skip "cloudauthctl is not built"
        "$CLOUDAUTH_CTL" --config "$T/cloudauth.conf" "$@"
}

# A users file for the provider: the standard users plus N generated ones
# (user1@example.com .. userN@example.com, password pw-userK, group
# linux-users).
idp_users_file() { # OUTPUT N
        python3 - "$IDP_USERS" "$1" "$2" <<'PY'
import json, sys, uuid
data = json.load(open(sys.argv[1]))
for k in range(1, int(sys.argv[3]) + 1):
    data["users"].append({
        "email": f"user{k}@example.com", "password": f"pw-user{k}", "name": f"User {k}",
        "groups": ["linux-users"], "roles": [],
        "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"cloudauth-test-user-{k}")),
    })
json.dump(data, open(sys.argv[2], "w"), indent=2)
PY
}

# A second provider (another issuer, the same users) in DIR; stopped at exit.
# Prints nothing; DIR/env holds its ISSUER and CA_FILE.
idp_start_extra() { # DIR [server.mjs args]
        local dir=$1
        shift
        EXTRA_IDPS+=("$dir")
        "$IDP_SH" start "$dir" "$@" || fail "a second test identity provider did not start"
}

# pamtester under pam_wrapper in the background, for tests that run many at
# once or kill them: PAM_PID is pamtester's own pid (env execs it).
pam_spawn() { # OUTFILE SERVICE USER "OPS..." PASSWORD
        local out=$1 service=$2 user=$3 ops=$4 password=$5
        # shellcheck disable=SC2086
        env LD_PRELOAD="$(_libpam_wrapper)" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" PAM_WRAPPER_USE_SYSLOG=1 \
                pamtester -v "$service" "$user" $ops <<<"$password" >"$out" 2>&1 &
        PAM_PID=$!
}

# A private /tmp in this test's namespace. pam_wrapper keeps each running
# process's state in one of 62 fixed /tmp/pam.X directories shared by every
# test on the machine: too few for dozens of logins at once, and a killed
# pamtester leaves its slot behind. Everything else already in /tmp ($T, a
# build directory, the sources) is bound back at its path.
private_tmp() {
        local fd entry name
        exec {fd}</tmp
        mount -t tmpfs -o mode=1777,size=64m cloudauth-tmp /tmp || fail "cannot mount a private /tmp"
        PRIVATE_TMP=1
        for entry in "/proc/self/fd/$fd"/* "/proc/self/fd/$fd"/.[!.]*; do
                name=${entry##*/}
                [[ "$name" == pam.? || -L "$entry" ]] && continue
                if [[ -d "$entry" ]]; then
                        mkdir "/tmp/$name"
                elif [[ -f "$entry" ]]; then
                        : >"/tmp/$name"
                else
                        continue
                fi
                # Not canonicalised: the name would resolve to the new /tmp, the descriptor reaches the old one.
                mount --no-canonicalize --bind "$entry" "/tmp/$name" || fail "cannot bind /tmp/$name into the private /tmp"
        done
        exec {fd}<&-
        [[ -d "$T/pam.d" ]] || fail "$T is not visible in the private /tmp"
}
