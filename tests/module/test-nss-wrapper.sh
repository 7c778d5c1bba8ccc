#!/bin/bash
# getent and id resolve cloudauth users through the built module, loaded by
# nss_wrapper the way glibc would load it from nsswitch.conf.
# usage: test-nss-wrapper.sh LIBNSS_CLOUDAUTH NSSDB_WRITE_FIXTURE
set -euo pipefail
module="$1" fixture="$2"

wrapper=
for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/lib/"$(uname -m)"-linux-gnu; do
        [ -e "$d/libnss_wrapper.so" ] && { wrapper="$d/libnss_wrapper.so"; break; }
done
[ -n "$wrapper" ] || { echo "libnss_wrapper.so not found"; exit 77; }

# A sanitizer build of the module needs its runtime loaded before anything
# else in the uninstrumented getent and id; their own leaks are not ours.
sanitizers="$(ldd "$module" | awk '/libasan|libubsan/ { printf "%s ", $3 }')"
if [ -z "$sanitizers" ] && nm -D --undefined-only "$module" 2>/dev/null | grep -q ' __asan_init'; then
        echo "module built by clang with a static sanitizer runtime: only instrumented programs can load it"
        exit 77
fi
if [ -n "$sanitizers" ]; then
        export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/passwd" <<PW
root:x:0:0:root:/root:/bin/bash
PW
cat >"$tmp/group" <<GR
root:x:0:
sudo:x:27:
GR

"$fixture" "$tmp/nss.db" <<DB
scope=https://idp.example.com/realms/test
default_domain=example.com
domain=partner.org
synth=dave
home=/home/%u
shell=/bin/bash
user:alice:200001:Alice Liddell:27,300001
user:bob:200002::300001,300002
user:carol@partner.org:200003:Carol:
group:engineering:300001
group:everyone:300002
DB

run() {
        env LD_PRELOAD="$sanitizers$wrapper" NSS_WRAPPER_PASSWD="$tmp/passwd" NSS_WRAPPER_GROUP="$tmp/group" \
                NSS_WRAPPER_MODULE_SO_PATH="$module" NSS_WRAPPER_MODULE_FN_PREFIX=cloudauth \
                CLOUDAUTH_NSS_DB="$tmp/nss.db" "$@"
}

failed=0

# Loaded into every process that resolves a user: libc only (plus a sanitizer runtime in such builds).
needed="$(readelf -d "$module" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -vE '^lib(asan|ubsan)\.so' | tr '\n' ' ')"
if [ "$needed" != "libc.so.6 " ]; then
        echo "FAIL: $module needs: $needed"
        failed=$((failed + 1))
else
        echo "ok   needs only libc.so.6"
fi

expect() {
        local want="$1"; shift
        local got
        got="$(run "$@" 2>&1)" || true
        if [ "$got" != "$want" ]; then
                echo "FAIL: $*"
                echo "  expected: $want"
                echo "  got:      $got"
                failed=$((failed + 1))
        else
                echo "ok   $*"
        fi
}

expect "alice:*:200001:200001:Alice Liddell:/home/alice:/bin/bash" getent passwd alice
expect "alice:*:200001:200001:Alice Liddell:/home/alice:/bin/bash" getent passwd 200001
expect "carol@partner.org:*:200003:200003:Carol:/home/carol@partner.org:/bin/bash" getent passwd carol@partner.org
expect "engineering:*:300001:alice,bob" getent group engineering
expect "everyone:*:300002:bob" getent group 300002
expect "bob:*:200002:bob" getent group bob
expect "root:x:0:0:root:/root:/bin/bash" getent passwd root
# nss_wrapper answers getgrouplist() by scanning group members, not through
# initgroups_dyn, so local groups granted only by the user's gid list (sudo
# here) do not show; the real glibc run below checks those.
expect "200001 300001" id -G alice
expect "200002 300001 300002" id -G bob
expect "uid=200001(alice) gid=200001(alice) groups=200001(alice),300001(engineering)" id alice

# A never-seen user exists only for sshd's lookup before authentication (a
# process of that name with real UID 0), only when the policy could admit
# him (dave is listed), and is never enumerated. Anywhere else the name is free.
dave_uid="$(printf 'cloudauth-uid-v1\n%s\n%s' https://idp.example.com/realms/test dave@example.com | sha256sum |
        python3 -c 'import sys; print(200000 + int(sys.stdin.read()[:16], 16) % (2000199999 - 200000 + 1))')"
expect "" getent passwd dave
expect "" getent passwd dave@example.com
cp "$(command -v getent)" "$tmp/sshd"
if [ "$(id -u)" = 0 ]; then
        expect "dave:*:$dave_uid:$dave_uid::/home/dave:/bin/bash" "$tmp/sshd" passwd dave
        if command -v setpriv >/dev/null; then
                # Readable to nobody, so only the real UID tells the two runs apart.
                chmod 755 "$tmp"
                expect "alice:*:200001:200001:Alice Liddell:/home/alice:/bin/bash" setpriv --reuid=65534 "$tmp/sshd" passwd alice
                expect "" setpriv --reuid=65534 "$tmp/sshd" passwd dave
        fi
else
        expect "" "$tmp/sshd" passwd dave
fi
expect "" "$tmp/sshd" passwd erin
expect "" getent passwd "$dave_uid"
expect "" getent passwd mallory@evil.org

got="$(run getent passwd | cut -d: -f1 | tr '\n' ' ')"
if [ "$got" != "root alice bob carol@partner.org " ]; then
        echo "FAIL: getent passwd enumerates: $got"
        failed=$((failed + 1))
fi
got="$(run getent group | cut -d: -f1 | tr '\n' ' ')"
if [ "$got" != "root sudo alice bob carol@partner.org engineering everyone " ]; then
        echo "FAIL: getent group enumerates: $got"
        failed=$((failed + 1))
fi

# Real glibc: a private mount namespace with an nsswitch.conf naming the
# module, found through LD_LIBRARY_PATH, so initgroups_dyn is what id uses.
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
        printf 'passwd: files cloudauth\ngroup: files cloudauth\nshadow: files\n' >"$tmp/nsswitch.conf"
        got="$(unshare -m --propagation private sh -c '
                mount --bind "$1/nsswitch.conf" /etc/nsswitch.conf &&
                export LD_LIBRARY_PATH="$2" CLOUDAUTH_NSS_DB="$1/nss.db"
                [ -n "$3" ] && export LD_PRELOAD="$3"
                id -G alice && getent passwd alice' sh "$tmp" "$(dirname "$module")" "$sanitizers" 2>&1)" || true
        want="200001 27 300001
alice:*:200001:200001:Alice Liddell:/home/alice:/bin/bash"
        if [ "$got" != "$want" ]; then
                echo "FAIL: glibc with nsswitch.conf: got: $got"
                failed=$((failed + 1))
        else
                echo "ok   glibc initgroups through nsswitch.conf"
        fi
else
        echo "skip glibc nsswitch.conf check (needs root and unshare)"
fi

[ "$failed" -eq 0 ] || { echo "$failed failed"; exit 1; }
echo "all passed"
