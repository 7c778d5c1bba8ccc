#!/bin/sh
# The libraries a module makes its host load: the PAM module runs inside su,
# sshd and sudo, so it needs libpam and libc and nothing else (no libcurl,
# OpenSSL or jansson: those run in the helper); the NSS module libc alone.
# usage: test-needed.sh MODULE ALLOWED...
set -eu
module=$1
shift
command -v readelf >/dev/null || { echo "SKIP: readelf is not installed"; exit 77; }
needed=$(readelf -d "$module" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
[ -n "$needed" ] || { echo "FAIL: no NEEDED entries read from $module"; exit 1; }
status=0
for lib in $needed; do
        # A sanitizer build links its runtime into everything; that is the build's, not the module's.
        case $lib in
        libasan.so.* | libubsan.so.* | libtsan.so.* | liblsan.so.*) continue ;;
        esac
        ok=no
        for allowed; do
                [ "$lib" = "$allowed" ] && ok=yes
        done
        if [ $ok = no ]; then
                echo "FAIL: $module needs $lib"
                status=1
        fi
done
[ $status -eq 0 ] && echo "PASS: $(basename "$module") needs only:" $needed
exit $status
