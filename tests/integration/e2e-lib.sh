# End-to-end harness, sourced after lib.sh and called after ns_enter: the
# real sshd and sudo with our PAM and NSS modules installed where the system
# finds them. /etc, /var and the multiarch library directory are overlays
# whose upper layers live in $T, and /run is a tmpfs, all inside the test's
# private mount namespace: nothing written here reaches the machine.
# shellcheck shell=bash

E2E_SSHD=/usr/sbin/sshd
E2E_SUDO=/usr/bin/sudo
E2E_CONF=/etc/cloudauth/cloudauth.conf
E2E_STATE=/var/lib/cloudauth
E2E_LIBDIR=""
E2E_PYTHON=python3
E2E_MOUNTS=()
SSHD_PID=""
SSHD_PORT=""
SSHD_LOG=""
SSH_OUT=""
SSH_ERR=""
SSH_RC=""
SSH_TRANSCRIPT=""

# lib.sh's fail() prints _diagnostics; keep it under another name and add the
# end-to-end logs to it, so every failure shows sshd's side too.
eval "$(declare -f _diagnostics | sed '1s/^_diagnostics/_lib_diagnostics/')"
_diagnostics() {
        _lib_diagnostics
        [[ -n "$T" && -d "$T" ]] || return 0
        local f
        for f in "$T/sshd.log" "$T/ssh.err" "$T/ssh.transcript" "$T/sudo.err"; do
                [[ -s "$f" ]] || continue
                echo "----- ${f#"$T"/} (last 40 lines)"
                tail -n 40 "$f"
        done
}

# Skips unless everything the end-to-end tests drive is present.
e2e_require() { # [sshd] [sudo] [client]
        local what
        require_module
        [[ -n "${CLOUDAUTH_NSS_MODULE:-}" ]] || skip "CLOUDAUTH_NSS_MODULE is not set"
        [[ -f "$CLOUDAUTH_NSS_MODULE" ]] || skip "$CLOUDAUTH_NSS_MODULE is not built"
        [[ -n "${CLOUDAUTH_CTL:-}" && -x "$CLOUDAUTH_CTL" ]] || skip "cloudauthctl is not built"
        require_cmd ldconfig setpriv timeout
        for what; do
                case $what in
                sshd)
                        [[ -x $E2E_SSHD ]] || skip "$E2E_SSHD is not installed (openssh-server)"
                        require_cmd ssh-keygen
                        ;;
                sudo)
                        [[ -x $E2E_SUDO && -u $E2E_SUDO ]] || skip "$E2E_SUDO is not installed setuid (sudo)"
                        ;;
                client)
                        # Debian's paramiko is for Debian's python, which need not be first in PATH.
                        for E2E_PYTHON in /usr/bin/python3 python3; do
                                "$E2E_PYTHON" -c 'import paramiko' 2>/dev/null && break
                                E2E_PYTHON=""
                        done
                        [[ -n $E2E_PYTHON ]] || skip "python3-paramiko is not installed"
                        ;;
                esac
        done
}

_e2e_cleanup() {
        local rc=$? i
        set +e
        sshd_stop
        for ((i = ${#E2E_MOUNTS[@]} - 1; i >= 0; i--)); do
                umount -l "${E2E_MOUNTS[i]}" 2>/dev/null
        done
        (exit "$rc")
        _cleanup
}

_e2e_overlay() { # DIR NAME
        local dir=$1 up=$T/overlay/$2
        mkdir -p "$up/upper" "$up/work"
        mount -t overlay "cloudauth-$2" -o "lowerdir=$dir,upperdir=$up/upper,workdir=$up/work" "$dir" ||
                fail "cannot mount an overlay on $dir"
        E2E_MOUNTS+=("$dir")
}

# Where glibc's own NSS modules are: the dynamic loader searches there for
# libnss_cloudauth.so.2, also for setuid programs.
_e2e_libdir() {
        local f
        f=$(ldconfig -p | awk '$1 == "libnss_files.so.2" { print $NF; exit }')
        [[ -n "$f" ]] || fail "ldconfig does not know libnss_files.so.2"
        dirname "$(readlink -f "$f")"
}

e2e_setup() {
        trap _e2e_cleanup EXIT
        E2E_LIBDIR=$(_e2e_libdir)
        _e2e_overlay /etc etc
        _e2e_overlay /var var
        _e2e_overlay "$E2E_LIBDIR" lib
        mount -t tmpfs -o mode=0755,size=16m cloudauth-run /run || fail "cannot mount a tmpfs on /run"
        E2E_MOUNTS+=(/run)
        mkdir -m 0755 /run/sshd

        # A state directory of our own, whatever the machine has there.
        rm -rf "$E2E_STATE"
        mkdir -m 0755 "$E2E_STATE"
        install -m 0644 -o root -g root "$CLOUDAUTH_NSS_MODULE" "$E2E_LIBDIR/libnss_cloudauth.so.2"
        sed -i -E -e 's/^(passwd|group):.*/\1: files cloudauth/' /etc/nsswitch.conf
        grep -q '^passwd: files cloudauth$' /etc/nsswitch.conf || echo 'passwd: files cloudauth' >>/etc/nsswitch.conf
        grep -q '^group: files cloudauth$' /etc/nsswitch.conf || echo 'group: files cloudauth' >>/etc/nsswitch.conf
        rm -f /etc/sudoers.d/cloudauth
        # The PAM module where a bare "pam_cloudauth.so" in /etc/pam.d finds it.
        mkdir -p "$E2E_LIBDIR/security"
        install -m 0644 -o root -g root "$CLOUDAUTH_PAM_MODULE" "$E2E_LIBDIR/security/pam_cloudauth.so"
        _e2e_install_helper
        # setuid programs ignore it anyway; the others must read the same file.
        unset CLOUDAUTH_NSS_DB
}

# The login helper the module executes: the built one (CLOUDAUTH_HELPER, else
# beside the module in the build tree), installed where the module runs it
# (CLOUDAUTH_HELPER_INSTALL_PATH, else the path compiled into the module).
# A tree without a helper installs nothing.
e2e_helper_paths() {
        if [[ -z "${CLOUDAUTH_HELPER:-}" ]]; then
                local built
                built=$(dirname "$CLOUDAUTH_PAM_MODULE")/../helper/cloudauth-auth
                [[ -x "$built" ]] && CLOUDAUTH_HELPER=$(readlink -f "$built")
        fi
        if [[ -z "${CLOUDAUTH_HELPER_INSTALL_PATH:-}" ]]; then
                CLOUDAUTH_HELPER_INSTALL_PATH=$(strings "$CLOUDAUTH_PAM_MODULE" 2>/dev/null |
                        grep -m1 -E '^/[[:alnum:]/._-]*/cloudauth-auth$' || true)
                : "${CLOUDAUTH_HELPER_INSTALL_PATH:=/usr/libexec/cloudauth/cloudauth-auth}"
        fi
        export CLOUDAUTH_HELPER="${CLOUDAUTH_HELPER:-}" CLOUDAUTH_HELPER_INSTALL_PATH
}

# An overlay on the nearest existing ancestor of the helper's directory
# (/usr/libexec, /usr/local...), never on / or /usr, which hold the library
# directory's own overlay.
_e2e_install_helper() {
        e2e_helper_paths
        [[ -n "$CLOUDAUTH_HELPER" && -x "$CLOUDAUTH_HELPER" ]] || return 0
        local dir top
        dir=$(dirname "$CLOUDAUTH_HELPER_INSTALL_PATH")
        top=$dir
        while [[ ! -d "$top" ]]; do top=$(dirname "$top"); done
        case $top in
        / | /usr) fail "no directory to overlay for $CLOUDAUTH_HELPER_INSTALL_PATH (its nearest existing ancestor is $top)" ;;
        "$E2E_LIBDIR" | "$E2E_LIBDIR"/* | /etc | /etc/* | /var | /var/* | /run | /run/*) ;;
        *) _e2e_overlay "$top" "helper-$(tr / - <<<"${top#/}")" ;;
        esac
        mkdir -p "$dir"
        chmod 0755 "$dir"
        install -m 0755 -o root -g root "$CLOUDAUTH_HELPER" "$CLOUDAUTH_HELPER_INSTALL_PATH"
}

# The stack the package gives: the pam-auth-update profile of this tree
# enabled among the system's own profiles, so /etc/pam.d/common-auth and
# common-account are what an administrator gets, with pam_unix after
# cloudauth. /usr/share/pam-configs is a copy bound over the real one.
e2e_packaged_stack() {
        local profiles=$T/pam-configs
        mkdir -p "$profiles"
        cp -a /usr/share/pam-configs/. "$profiles/"
        install -m 0644 "$SOURCE_ROOT/conf/pam-configs/cloudauth" "$profiles/cloudauth"
        mount --bind "$profiles" /usr/share/pam-configs || fail "cannot bind $profiles over /usr/share/pam-configs"
        E2E_MOUNTS+=(/usr/share/pam-configs)
        DEBIAN_FRONTEND=noninteractive pam-auth-update --package --enable cloudauth >"$T/pam-auth-update.out" 2>&1 ||
                fail "pam-auth-update --enable cloudauth failed: $(cat "$T/pam-auth-update.out")"
        grep -q 'pam_cloudauth\.so' /etc/pam.d/common-auth || fail "common-auth lacks pam_cloudauth: $(cat /etc/pam.d/common-auth)"
        grep -q 'pam_unix\.so' /etc/pam.d/common-auth || fail "common-auth lacks pam_unix: $(cat /etc/pam.d/common-auth)"
        grep -q 'pam_cloudauth\.so' /etc/pam.d/common-account || fail "common-account lacks pam_cloudauth"
}

# write_config's file with the state where the setuid NSS reader looks,
# installed as the system's configuration.
e2e_config() { # [write_config args...]
        write_config "$@"
        sed -i "s|^state_dir = .*|state_dir = $E2E_STATE|" "$T/cloudauth.conf"
        [[ -d /etc/cloudauth ]] || mkdir -m 0755 /etc/cloudauth
        install -m 0644 -o root -g root "$T/cloudauth.conf" "$E2E_CONF"
}

# An empty nss.db carrying the NSS settings, as on a host where the package
# is installed but nobody logged in yet.
e2e_cache_init() {
        "$CLOUDAUTH_CTL" --config "$E2E_CONF" cache rebuild >"$T/ctl.out" 2>&1 ||
                fail "cloudauthctl cache rebuild failed: $(cat "$T/ctl.out")"
}

# /etc/pam.d/SERVICE: cloudauth first, local accounts through pam_unix, as
# pam_cloudauth(8) recommends.
e2e_pam_service() { # SERVICE [module args]
        local service=$1
        shift
        cat >"/etc/pam.d/$service" <<EOF
auth     [success=done authinfo_unavail=ignore user_unknown=ignore default=die] $CLOUDAUTH_PAM_MODULE config=$E2E_CONF $*
auth     required pam_unix.so try_first_pass
account  [success=done user_unknown=ignore default=die] $CLOUDAUTH_PAM_MODULE config=$E2E_CONF $*
account  required pam_unix.so
password required pam_deny.so
session  required pam_permit.so
EOF
}

# A local account with a password, in the overlay's /etc only. useradd asks
# NSS whether the name is taken, and cloudauth synthesises every bare name of
# default_domain, so it runs while nsswitch.conf names files alone.
e2e_local_user() { # NAME PASSWORD
        cp /etc/nsswitch.conf "$T/nsswitch.conf.e2e"
        sed -i -E 's/^(passwd|group):.*/\1: files/' /etc/nsswitch.conf
        useradd -M -d / -s /bin/bash "$1" >"$T/useradd.out" 2>&1 || {
                cp "$T/nsswitch.conf.e2e" /etc/nsswitch.conf
                fail "useradd $1 failed: $(cat "$T/useradd.out")"
        }
        cp "$T/nsswitch.conf.e2e" /etc/nsswitch.conf
        printf '%s:%s\n' "$1" "$2" | chpasswd || fail "chpasswd for $1 failed"
}

e2e_free_port() {
        python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# ---- sshd --------------------------------------------------------------------

_sshd_config() {
        cat >"$T/sshd_config" <<EOF
HostKey $T/ssh/host_ed25519
PidFile $T/sshd.pid
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
PubkeyAuthentication no
PermitEmptyPasswords no
PermitRootLogin no
AuthenticationMethods keyboard-interactive
MaxAuthTries 3
LoginGraceTime 60
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
LogLevel VERBOSE
SyslogFacility AUTH
EOF
}

_sshd_listening() {
        grep -q "Server listening on 127.0.0.1 port $SSHD_PORT" "$SSHD_LOG" && return 0
        kill -0 "$SSHD_PID" 2>/dev/null || return 2
        return 1
}

# Starts sshd on a free port; a port taken between choosing and binding is
# retried with another.
sshd_start() {
        local deadline r
        [[ -d "$T/ssh" ]] || mkdir -m 0700 "$T/ssh"
        [[ -f "$T/ssh/host_ed25519" ]] ||
                ssh-keygen -q -t ed25519 -N '' -C cloudauth-test -f "$T/ssh/host_ed25519" || fail "ssh-keygen failed"
        _sshd_config
        "$E2E_SSHD" -t -f "$T/sshd_config" >"$T/sshd.check" 2>&1 ||
                fail "sshd rejects the test configuration: $(cat "$T/sshd.check")"
        SSHD_LOG=$T/sshd.log
        for _ in 1 2 3; do
                SSHD_PORT=$(e2e_free_port)
                : >"$SSHD_LOG"
                "$E2E_SSHD" -D -f "$T/sshd_config" -p "$SSHD_PORT" -o ListenAddress=127.0.0.1 -E "$SSHD_LOG" \
                        </dev/null >>"$T/sshd.stderr" 2>&1 &
                SSHD_PID=$!
                deadline=$(($(now_ms) + 10000))
                while :; do
                        r=0
                        _sshd_listening || r=$?
                        [[ $r -eq 0 ]] && return 0
                        [[ $r -eq 2 ]] && break
                        (($(now_ms) < deadline)) || fail "sshd did not listen on port $SSHD_PORT within 10 s"
                        sleep 0.05
                done
                wait "$SSHD_PID" 2>/dev/null || true
                SSHD_PID=""
                grep -q "Address already in use" "$SSHD_LOG" || fail "sshd exited at start-up"
        done
        fail "sshd found no free port in 3 attempts"
}

sshd_stop() {
        [[ -n "$SSHD_PID" ]] || return 0
        kill "$SSHD_PID" 2>/dev/null
        timeout 5 tail --pid="$SSHD_PID" -f /dev/null 2>/dev/null || kill -9 "$SSHD_PID" 2>/dev/null
        wait "$SSHD_PID" 2>/dev/null
        SSHD_PID=""
}

sshd_log_mark() {
        SSHD_LOG_MARK=$(wc -l <"$SSHD_LOG")
}

sshd_log_new() {
        tail -n "+$((${SSHD_LOG_MARK:-0} + 1))" "$SSHD_LOG"
}

# ---- the ssh client ------------------------------------------------------------

# Logs in through keyboard-interactive and runs COMMAND; sets SSH_RC (0 on
# success, 5 when authentication was refused), SSH_OUT and SSH_ERR (files)
# and SSH_TRANSCRIPT (every round of prompts, one JSON line each). Extra
# arguments go to ssh-client.py, e.g. --respond REGEX PROGRAM for prompts
# other than the password's.
ssh_run() { # USER PASSWORD COMMAND [ssh-client.py args...]
        local user=$1 password=$2 command=$3
        shift 3
        SSH_OUT=$T/ssh.out
        SSH_ERR=$T/ssh.err
        SSH_TRANSCRIPT=$T/ssh.transcript
        set +e
        SSH_CLIENT_PASSWORD=$password timeout 90 "$E2E_PYTHON" "$INTEGRATION_DIR/ssh-client.py" \
                --port "$SSHD_PORT" --host-key "$T/ssh/host_ed25519.pub" --user "$user" \
                --transcript "$SSH_TRANSCRIPT" --timeout 60 "$@" -- "$command" >"$SSH_OUT" 2>"$SSH_ERR"
        SSH_RC=$?
        set -e
        [[ $SSH_RC -ne 124 ]] || fail "the ssh client hung for 90 s"
        helpers_settle
}

expect_ssh_ok() { # DESCRIPTION
        [[ $SSH_RC -eq 0 ]] || fail "$1: the ssh client exited $SSH_RC: $(tail -n 3 "$SSH_ERR" | tr '\n' ' ')"
}

expect_ssh_refused() { # DESCRIPTION
        [[ $SSH_RC -eq 5 ]] || fail "$1: expected the login to be refused, the ssh client exited $SSH_RC"
}

# ---- sudo ------------------------------------------------------------------------

# Runs SCRIPT with bash as USER, with the groups NSS gives that user, and no
# terminal: sudo keys its timestamp by the parent process then, so all sudo
# calls of one script share it. Sets SUDO_RC, SUDO_OUT, SUDO_ERR.
as_user() { # USER SCRIPT [STDIN]
        local user=$1 script=$2 input=${3-}
        id -u "$user" >/dev/null || fail "NSS does not know $user"
        SUDO_OUT=$T/sudo.out
        SUDO_ERR=$T/sudo.err
        set +e
        # Names, not numbers: setpriv looks an argument up as a name first,
        # and NSS synthesises an account for an all-digit name too.
        printf '%s\n' "$input" | timeout 60 setsid -w setpriv --reuid="$user" --regid="$user" --init-groups \
                env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/ USER="$user" LOGNAME="$user" \
                bash -c "$script" >"$SUDO_OUT" 2>"$SUDO_ERR"
        SUDO_RC=$?
        set -e
        [[ $SUDO_RC -ne 124 ]] || fail "the commands run as $user hung for 60 s"
}

# One login through the system's own PAM service (no pam_wrapper), so the
# identity store under /var/lib/cloudauth has the user; sets PAM_RC.
e2e_pam_login() { # SERVICE USER PASSWORD
        set +e
        printf '%s\n' "$3" | timeout 60 pamtester -v "$1" "$2" authenticate acct_mgmt >"$T/pam.out" 2>&1
        PAM_RC=$?
        set -e
        [[ $PAM_RC -ne 124 ]] || fail "pamtester hung for 60 s"
        [[ $PAM_RC -eq 0 ]] || fail "logging $2 in through /etc/pam.d/$1 failed: $(tail -n 2 "$T/pam.out" | tr '\n' ' ')"
}
