#!/bin/bash
# Install what building and testing cloudauth needs, only what is missing.
# Sourced by run-demo and run-tests; safe to run again.
set -euo pipefail

CLOUDAUTH_DEBS=(
        gcc clang meson ninja-build pkg-config
        libpam0g-dev libssl-dev libcurl4-openssl-dev libjansson-dev libargon2-dev libqrencode-dev
        libsystemd-dev systemd
        libpam-runtime pamtester libpam-wrapper libnss-wrapper
        openssl curl ca-certificates python3 bsdutils util-linux procps
        valgrind libclang-rt-14-dev
        openssh-server openssh-client sudo python3-paramiko passwd
        chromium zbar-tools iproute2 coreutils libnss-systemd binutils
        git debhelper dh-nss dpkg-dev fakeroot
)

deps_install_debs() {
        local missing=() p
        for p in "${CLOUDAUTH_DEBS[@]}"; do
                dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
        done
        if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
                missing+=(nodejs npm)
        fi
        [ ${#missing[@]} -eq 0 ] && return 0
        if [ "$(id -u)" -ne 0 ]; then
                echo "cloudauth: missing packages: ${missing[*]}; run as root or install them" >&2
                return 1
        fi
        echo "cloudauth: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

deps_install_idp() {
        local dir="$1/tests/idp"
        if [ ! -d "$dir/node_modules/oidc-provider" ]; then
                echo "cloudauth: installing the test identity provider (npm ci)" >&2
                (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
        fi
}

# playwright-core drives Debian's chromium in tests/integration/device-chromium.sh.
deps_install_browser_tests() {
        local dir="$1/tests/integration"
        if [ ! -d "$dir/node_modules/playwright-core" ]; then
                echo "cloudauth: installing playwright-core for the browser tests (npm ci)" >&2
                (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
        fi
}

# Chained, not relying on set -e: a caller's "deps_install || exit" turns
# set -e off inside the function, and a failed step must still stop it.
deps_install() {
        deps_install_debs && deps_install_idp "$1" && deps_install_browser_tests "$1"
}
