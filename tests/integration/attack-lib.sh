# Sourced by the attack tests after lib.sh (and e2e-lib.sh where they use
# it): an unprivileged local attacker, su driven through a terminal, and a
# CONNECT proxy on loopback.
# shellcheck shell=bash

ATTACK_PIDS=()
ATTACKER=""
SU_OUT=""
SU_RC=""

# Stop what these helpers started before lib.sh's cleanup removes $T.
eval "$(declare -f _cleanup | sed '1s/^_cleanup/_attack_lib_cleanup/')"
_cleanup() {
        local rc=$? pid
        for pid in "${ATTACK_PIDS[@]}"; do
                kill "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
        done
        (exit "$rc")
        _attack_lib_cleanup
}

# Terminals an unprivileged user can open: the machine's devpts may allow
# root alone (ptmxmode=000), so the private /dev gets a devpts of its own.
_attack_private_pts() {
        mountpoint -q /dev/pts && umount -l /dev/pts
        mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 cloudauth-pts /dev/pts ||
                fail "cannot mount a devpts instance on /dev/pts"
        mount --bind /dev/pts/ptmx /dev/ptmx || fail "cannot bind /dev/pts/ptmx over /dev/ptmx"
}

# A local account (in the overlay /etc) with no privileges: the attacker.
attacker_create() { # NAME
        _attack_private_pts
        ATTACKER=$1
        e2e_local_user "$ATTACKER" "attacker-$RANDOM$RANDOM"
        mkdir -m 0700 "$T/$ATTACKER"
        chown "$ATTACKER:" "$T/$ATTACKER"
}

# As the attacker, with nothing of root's environment: umask 000, the given
# variables set, then "su TARGET -c COMMAND" on a terminal of its own,
# answering the password prompt with PASSWORD. Sets SU_RC, SU_OUT (a file).
attacker_su() { # TARGET PASSWORD COMMAND [VAR=VALUE...]
        local target=$1 password=$2 command=$3
        shift 3
        SU_OUT=$T/su.out
        set +e
        setpriv --reuid="$ATTACKER" --regid="$ATTACKER" --init-groups \
                env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$T/$ATTACKER" USER="$ATTACKER" LOGNAME="$ATTACKER" \
                PTY_RUN_PASSWORD="$password" TERM=dumb "$@" \
                bash -c 'umask 000; exec python3 "$0" --timeout 60 -- su "$1" -c "$2"' \
                "$INTEGRATION_DIR/pty-run.py" "$target" "$command" >"$SU_OUT" 2>&1
        SU_RC=$?
        set -e
        [[ $SU_RC -ne 124 ]] || fail "su $target, run by $ATTACKER, hung for 60 s: $(tr -d '\r' <"$SU_OUT" | tail -n 3)"
}

# An HTTP CONNECT proxy on loopback: PROXY_PORT, and PROXY_LOG with one line
# per request it got.
proxy_start() { # NAME
        local dir=$T/proxy-$1 i
        mkdir -p "$dir"
        PROXY_LOG=$dir/requests.log
        : >"$PROXY_LOG"
        python3 "$INTEGRATION_DIR/connect-proxy.py" "$dir/port" "$PROXY_LOG" 2>"$dir/stderr" &
        ATTACK_PIDS+=($!)
        for ((i = 0; i < 500; i++)); do
                [[ -s "$dir/port" ]] && break
                sleep 0.01
        done
        [[ -s "$dir/port" ]] || fail "the CONNECT proxy did not start: $(cat "$dir/stderr")"
        # shellcheck disable=SC2034 # for the tests that source this file
        PROXY_PORT=$(cat "$dir/port")
}

# A user from a directory service, as SSSD or LDAP would provide him: glibc
# finds him through nss-systemd in a JSON record under /run/userdb (the e2e
# harness's private /run), never in /etc/passwd, and never from cloudauth.
directory_user() { # NAME UID
        [[ -e "$E2E_LIBDIR/libnss_systemd.so.2" ]] || skip "libnss_systemd.so.2 is not installed (libnss-systemd)"
        mkdir -p /run/userdb
        chmod 0755 /run/userdb
        printf '{"userName":"%s","uid":%s,"gid":%s,"realName":"Directory User","homeDirectory":"/home/%s","shell":"/bin/bash"}\n' \
                "$1" "$2" "$2" "$1" >"/run/userdb/$1.user"
        printf '{"groupName":"%s","gid":%s}\n' "$1" "$2" >"/run/userdb/$1.group"
        chmod 0644 "/run/userdb/$1.user" "/run/userdb/$1.group"
        sed -i -E 's/^(passwd|group):.*/\1: files systemd cloudauth/' /etc/nsswitch.conf
        [[ "$(getent passwd "$1" | cut -d: -f3)" == "$2" ]] ||
                fail "the directory does not answer for $1: '$(getent passwd "$1")'"
        ! grep -q "^$1:" /etc/passwd || fail "$1 is in /etc/passwd"
}

# pamtester as root through /etc/pam.d/SERVICE, the password on stdin: sets
# PAM_RC and PAM_OUT (stdout and stderr), as pam_run does under pam_wrapper.
system_pam_run() { # SERVICE USER "OPS..." PASSWORD
        local service=$1 user=$2 ops=$3 password=${4-}
        PAM_OUT=$T/pam.out
        set +e
        # shellcheck disable=SC2086
        printf '%s\n' "$password" | timeout 60 pamtester -v "$service" "$user" $ops >"$T/pam.stdout" 2>"$T/pam.stderr"
        PAM_RC=$?
        set -e
        cat "$T/pam.stdout" "$T/pam.stderr" >"$PAM_OUT"
        [[ $PAM_RC -ne 124 ]] || fail "pamtester $service $user $ops hung for 60 s"
}

# /etc/pam.d/SERVICE with the module alone, as the package names it: what
# pamtester reports is the module's own answer.
module_only_service() { # SERVICE
        printf '%s\n' "auth required pam_cloudauth.so" "account required pam_cloudauth.so" \
                "password required pam_deny.so" "session required pam_permit.so" >"/etc/pam.d/$1"
}

# The stage for attacks through su: the provider, the packaged stack on the
# e2e harness (every user of the provider allowed), the attacker, and alice
# logged in once as root, since su needs her to exist. Sets pw to her password.
attack_su_stage() { # ATTACKER
        e2e_require
        [[ -x /usr/bin/su && -u /usr/bin/su ]] || skip "/usr/bin/su is not installed setuid"
        idp_start
        e2e_setup
        CFG_ACCESS="allow_users = *" e2e_config
        e2e_packaged_stack
        e2e_cache_init
        attacker_create "$1"
        pw=$(password_of alice@example.com)
        printf '%s\n' "@include common-auth" "@include common-account" >/etc/pam.d/cloudauth-login
        e2e_pam_login cloudauth-login alice "$pw"
        id alice >/dev/null 2>&1 || fail "NSS does not know alice after her login"
}
