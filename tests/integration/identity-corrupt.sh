#!/bin/bash
# A damaged nss.db (bytes overwritten, truncated, emptied, garbage, unsafe
# mode) is never trusted and never crashes a caller: getent finds nothing
# from it (exit 2), the local entries still resolve, the module logs one
# line per process, and the next login or cloudauthctl cache rebuild
# repairs it from the user records.
source "$(dirname "$0")/lib.sh"
ns_enter "$@"
require_module
require_nss_module
[[ -x "${CLOUDAUTH_CTL:-}" ]] || skip "cloudauthctl is not built"
idp_start
write_config
pam_service login
db=$T/state/nss.db

for u in alice bob; do
        pam_run login "$u@example.com" "authenticate acct_mgmt" "$(password_of "$u@example.com")"
        expect_pam_ok
done
uid=$(uid_of alice@example.com)
bob=$(uid_of bob@example.com)
alice_line="alice:*:$uid:$uid:Alice Example:/home/alice:/bin/bash"
bob_line="bob:*:$bob:$bob:Bob Example:/home/bob:/bin/bash"
expect_getent "$alice_line" passwd alice
cp "$db" "$T/nss.db.good"
size=$(stat -c %s "$db")

flip() { # OFFSET: xor one byte in place, as a disk or a stray write would
        python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0x5a]))' "$db" "$1"
}

# Unusable: nothing from cloudauth (exit 2, not a signal), files still answer.
expect_unusable() { # what was done
        local rc
        for key in alice "$uid" alice@example.com bob; do
                getent_run passwd "$key"
                [[ "$GETENT_RC" -eq 2 && -z "$GETENT_OUT" ]] ||
                        fail "$1: getent passwd $key: exit $GETENT_RC, '$GETENT_OUT'"
        done
        getent_run group linux-users@example.com
        [[ "$GETENT_RC" -eq 2 ]] || fail "$1: getent group linux-users@example.com: exit $GETENT_RC, '$GETENT_OUT'"
        getent_run passwd
        [[ "$GETENT_RC" -eq 0 && "$GETENT_OUT" == "root:x:0:0:root:/root:/bin/bash" ]] ||
                fail "$1: enumeration: exit $GETENT_RC, '$GETENT_OUT'"
        set +e
        nss_run id alice >/dev/null 2>&1
        rc=$?
        set -e
        [[ $rc -eq 1 ]] || fail "$1: id alice exited $rc"
}

# One process, several lookups: one log line, naming the file.
syslog_mark
flip 300
expect_unusable "a byte overwritten at 300"
syslog_mark
nss_run getent passwd alice bob "$uid" >/dev/null 2>&1 || true
syslog_wait_for "cannot use $db: " 5 || fail "the module logged nothing about the corrupt nss.db"
syslog_sync
[[ $(syslog_grep -c "cannot use $db: ") -eq 1 ]] ||
        fail "not one line for one process: $(syslog_grep "cannot use $db")"
expect_syslog "cannot use $db: Bad message" "the reason"

# A byte flipped anywhere, header or body, is caught by the checksums.
for off in 0 16 20 24 40 100 $((size / 2)) $((size - 1)) $((RANDOM % size)) $((RANDOM % size)); do
        cp "$T/nss.db.good" "$db"
        flip "$off"
        for key in alice "$uid" bob; do
                getent_run passwd "$key"
                [[ "$GETENT_RC" -eq 2 ]] || fail "a byte flipped at $off of $size: getent passwd $key: exit $GETENT_RC, '$GETENT_OUT'"
        done
done

# The next login repairs it, with every record, not only the one logging in.
syslog_mark
pam_run login alice@example.com "authenticate acct_mgmt" "$(password_of alice@example.com)"
expect_pam_ok
expect_syslog "$db: not usable .*rebuilding it from the user records" "the writer says it rebuilt"
expect_getent "$alice_line" passwd alice
expect_getent "$bob_line" passwd bob

# Truncated, emptied, garbage of the same size, a bare header: rebuild repairs each.
for damage in truncate-half truncate-header empty garbage; do
        case $damage in
        truncate-half) truncate -s $((size / 2)) "$db" ;;
        truncate-header) truncate -s 100 "$db" ;;
        empty) : >"$db" ;;
        garbage) head -c "$size" /dev/urandom >"$db" ;;
        esac
        expect_unusable "$damage"
        out=$(ctl cache rebuild 2>&1) || fail "$damage: cache rebuild failed: $out"
        expect_getent "$alice_line" passwd alice
        expect_getent "$bob_line" passwd "$bob"
        expect_getent "linux-users@example.com:*:$(gid_of linux-users):alice,bob" group linux-users@example.com
done

# Writable by others: never trusted, logged; the next write sets it right.
chmod 0666 "$db"
syslog_mark
expect_unusable "mode 0666"
expect_syslog "cannot use $db: Operation not permitted" "an unsafe mode is named"
out=$(ctl cache rebuild 2>&1) || fail "rebuild after chmod failed: $out"
[[ $(stat -c %a "$db") == 644 ]] || fail "the rebuilt nss.db has mode $(stat -c %a "$db")"
expect_getent "$alice_line" passwd alice

# A missing nss.db: nothing, silently (a host nobody logged in to yet).
rm -f "$db"
syslog_mark
expect_unusable "nss.db removed"
expect_no_syslog "cannot use $db" "a missing file is not an error"
pass
