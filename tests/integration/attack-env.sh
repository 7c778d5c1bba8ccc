#!/bin/bash
# A local user's environment must not steer the login su runs for him as
# root: with umask 000, SSLKEYLOGFILE=/etc/ld.so.preload would have the TLS
# library create a world-writable preload file (root for everyone), a proxy
# variable would send the password and the client's request through the
# attacker's proxy, and the OpenSSL variables would choose the trust store
# and the library's configuration. A proxy comes only from the
# administrator's [provider] proxy.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/e2e-lib.sh"
source "$(dirname "$0")/attack-lib.sh"
ns_enter "$@"
attack_su_stage mallory

# alice's own login through su works from mallory's terminal: the attacks
# below change nothing but the environment.
syslog_mark
attacker_su alice "$pw" 'id -un'
[[ $SU_RC -eq 0 && "$(tr -d '\r' <"$SU_OUT" | tail -n1)" == alice ]] ||
        fail "su alice with her password failed as mallory (exit $SU_RC): $(tr -d '\r' <"$SU_OUT" | tail -n 3)"
expect_syslog 'pam_cloudauth\(su:auth\): user=alice flow=password result=success' "alice's login through su"

# The key log: a root-owned file the attacker names, created with his umask.
rm -f /etc/ld.so.preload
attacker_su alice "wrong-$pw" true SSLKEYLOGFILE=/etc/ld.so.preload
if [[ -e /etc/ld.so.preload ]]; then
        what=$(stat -c '%U:%G %a, %s bytes' /etc/ld.so.preload)
        rm -f /etc/ld.so.preload
        fail "su, run by mallory with SSLKEYLOGFILE=/etc/ld.so.preload and umask 000, created /etc/ld.so.preload ($what): the caller's environment reached the TLS library running as root"
fi
keys=$T/mallory/keys.log
attacker_su alice "$pw" true SSLKEYLOGFILE="$keys"
[[ ! -e "$keys" ]] || fail "su wrote the TLS session keys of alice's login to mallory's SSLKEYLOGFILE $keys ($(stat -c '%U %a, %s bytes' "$keys"))"
tmpkeys=/tmp/cloudauth-keys-$RANDOM$RANDOM
attacker_su alice "$pw" true SSLKEYLOGFILE="$tmpkeys"
if [[ -e "$tmpkeys" ]]; then
        what=$(stat -c '%U %a, %s bytes' "$tmpkeys")
        rm -f "$tmpkeys"
        fail "su created mallory's SSLKEYLOGFILE $tmpkeys ($what)"
fi

# The caller's proxy variables: nothing reaches the proxy, the login goes
# straight to the provider and works.
proxy_start caller
for var in HTTPS_PROXY https_proxy ALL_PROXY all_proxy; do
        syslog_mark
        requests_mark
        attacker_su alice "$pw" 'id -un' "$var=http://127.0.0.1:$PROXY_PORT"
        [[ ! -s "$PROXY_LOG" ]] ||
                fail "with $var=http://127.0.0.1:$PROXY_PORT in mallory's environment, su's login went through his proxy: $(head -n 3 "$PROXY_LOG" | tr '\n' ';')"
        [[ $SU_RC -eq 0 && "$(tr -d '\r' <"$SU_OUT" | tail -n1)" == alice ]] ||
                fail "with $var set by mallory, alice's su login failed (exit $SU_RC): $(tr -d '\r' <"$SU_OUT" | tail -n 3)"
        requests_new | grep -q '^POST /token 200$' ||
                fail "with $var set, the provider saw no token request: $(requests_new | tr '\n' ';')"
done

# The OpenSSL and curl trust and configuration variables, pointing at
# mallory's files: the login is what it was.
cat >"$T/mallory/openssl.cnf" <<'CNF'
openssl_conf = mallory_init
[mallory_init]
ssl_conf = mallory_ssl
[mallory_ssl]
system_default = mallory_tls
[mallory_tls]
MaxProtocol = TLSv1
CipherString = NULL
CNF
mkdir -p "$T/mallory/certs"
cp "$OTHER_CA_FILE" "$T/mallory/certs/ca.pem"
chown -R mallory: "$T/mallory"
for var in OPENSSL_CONF="$T/mallory/openssl.cnf" SSL_CERT_FILE="$OTHER_CA_FILE" SSL_CERT_DIR="$T/mallory/certs" \
        CURL_CA_BUNDLE="$OTHER_CA_FILE" OPENSSL_MODULES="$T/mallory" OPENSSL_ENGINES="$T/mallory"; do
        syslog_mark
        attacker_su alice "$pw" 'id -un' "$var"
        [[ $SU_RC -eq 0 && "$(tr -d '\r' <"$SU_OUT" | tail -n1)" == alice ]] ||
                fail "with ${var%%=*} set by mallory, alice's su login failed (exit $SU_RC): $(tr -d '\r' <"$SU_OUT" | tail -n 3)"
        expect_syslog 'pam_cloudauth\(su:auth\): user=alice flow=password result=success' \
                "alice's login with ${var%%=*} in the caller's environment"
done

# The administrator's proxy is used: one CONNECT to the provider, and the
# login works through it.
proxy_start admin
CFG_ACCESS="allow_users = *" CFG_PROVIDER_EXTRA="proxy = http://127.0.0.1:$PROXY_PORT" e2e_config
syslog_mark
requests_mark
attacker_su alice "$pw" 'id -un'
[[ $SU_RC -eq 0 && "$(tr -d '\r' <"$SU_OUT" | tail -n1)" == alice ]] ||
        fail "with [provider] proxy = http://127.0.0.1:$PROXY_PORT configured, alice's su login failed (exit $SU_RC): $(tr -d '\r' <"$SU_OUT" | tail -n 3)"
grep -q "^CONNECT 127\.0\.0\.1:$PORT " "$PROXY_LOG" ||
        fail "the configured proxy saw no CONNECT 127.0.0.1:$PORT: '$(tr '\n' ';' <"$PROXY_LOG")'"
requests_new | grep -q '^POST /token 200$' || fail "no token request reached the provider through the proxy"

SYSLOG_MARK=0
expect_no_syslog "$pw" "the password must never be logged"
pass
