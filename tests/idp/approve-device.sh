#!/bin/bash
# Approve (or deny) a device code through the provider's own pages, the way a
# person does in a browser: enter the code, sign in, allow.
#   approve-device.sh CA_FILE VERIFICATION_URI USER_CODE EMAIL PASSWORD [deny]
set -euo pipefail

ca=$1 uri=$2 code=$3 email=$4 password=$5 mode=${6:-allow}
jar=$(mktemp)
body=$(mktemp)
trap 'rm -f "$jar" "$body"' EXIT

c() {
        curl -sS --fail-with-body --max-time 10 --cacert "$ca" -c "$jar" -b "$jar" "$@"
}
origin=${uri%%/device*}

xsrf=$(c "$uri" | sed -n 's/.*name="xsrf" value="\([^"]*\)".*/\1/p' | head -n1)
[[ -n "$xsrf" ]] || {
        echo "approve-device.sh: no xsrf field on $uri" >&2
        exit 1
}
next=$(c -o /dev/null -w '%{redirect_url}' "$uri" --data-urlencode "xsrf=$xsrf" \
        --data-urlencode "user_code=$code" -d confirm=yes)
[[ "$next" == */interaction/* ]] || {
        echo "approve-device.sh: the code was not accepted (next: '$next')" >&2
        exit 1
}
# The interaction uid changes between login and consent: follow each Location.
for _ in 1 2 3 4 5 6; do
        page=$(c "$next")
        if [[ "$page" == *"/login\""* ]]; then
                next=$(c -o /dev/null -w '%{redirect_url}' "$next/login" \
                        --data-urlencode "login=$email" --data-urlencode "password=$password")
        elif [[ "$page" == *"/confirm\""* ]]; then
                if [[ "$mode" == deny ]]; then
                        next=$(c -o /dev/null -w '%{redirect_url}' -X POST "$next/abort")
                else
                        next=$(c -o /dev/null -w '%{redirect_url}' -X POST "$next/confirm")
                fi
        else
                break
        fi
        [[ -n "$next" ]] || {
                echo "approve-device.sh: sign-in failed" >&2
                exit 1
        }
        while [[ "$next" != *"/interaction/"* ]]; do
                [[ "$next" == /* ]] && next="$origin$next"
                loc=$(c -o "$body" -w '%{redirect_url}' "$next")
                [[ -n "$loc" ]] || break
                next=$loc
        done
        [[ "$next" == /* ]] && next="$origin$next"
        [[ "$next" == *"/interaction/"* ]] || break
done
final=$(<"$body")
if [[ "$mode" == deny ]]; then
        [[ "$final" != *"<title>Signed in</title>"* ]] || {
                echo "approve-device.sh: deny ended signed in" >&2
                exit 1
        }
else
        [[ "$final" == *"<title>Signed in</title>"* ]] || {
                echo "approve-device.sh: approval did not reach the success page" >&2
                exit 1
        }
fi
