#!/usr/bin/env bash
# Installs the system packages Steward builds against, when they are missing.
# Runs apt-get as root, or through sudo when that works without a password prompt;
# otherwise prints exactly what to install and fails.
set -euo pipefail

# A library counts as present when pkg-config finds it, or (without pkg-config) when dpkg
# says its -dev package is installed.
have_lib() {  # pkg-config name, Debian package
    if command -v pkg-config >/dev/null 2>&1; then
        pkg-config --exists "$1"
    else
        dpkg-query -W -f='${Status}' "$2" 2>/dev/null | grep -q "install ok installed"
    fi
}

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
have_lib libcrypto libssl-dev || missing+=(libssl-dev)
have_lib libudev libudev-dev || missing+=(libudev-dev)
# libcurl must be the OpenSSL flavour (key pinning and the CA options depend on the TLS
# backend); the GnuTLS -dev package also provides libcurl.pc, so on Debian ask dpkg by name.
if command -v dpkg-query >/dev/null 2>&1; then
    dpkg-query -W -f='${Status}' libcurl4-openssl-dev 2>/dev/null | grep -q "install ok installed" || missing+=(libcurl4-openssl-dev)
else
    have_lib libcurl libcurl4-openssl-dev || missing+=(libcurl4-openssl-dev)
fi
have_lib zlib zlib1g-dev || missing+=(zlib1g-dev)
# The tests make a self-signed certificate and serve HTTPS on loopback with the openssl tool.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# The offline-pause test makes a network namespace and a veth pair with ip (iproute2), as root.
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing+=(iproute2)
# The keyring tests run a real GNOME Keyring on a private D-Bus bus (dbus-daemon, dbus-send),
# and SecretServiceKeyProvider loads libsecret at run time (dlopen: no headers needed to build).
command -v dbus-daemon >/dev/null 2>&1 && command -v dbus-send >/dev/null 2>&1 || missing+=(dbus)
command -v gnome-keyring-daemon >/dev/null 2>&1 || missing+=(gnome-keyring)
if command -v ldconfig >/dev/null 2>&1 || [ -x /sbin/ldconfig ]; then
    { ldconfig -p 2>/dev/null || /sbin/ldconfig -p; } | grep -q 'libsecret-1\.so\.0' || missing+=(libsecret-1-0)
    # Source lines at the next launch come from DWARF through elfutils' libdw, also loaded at
    # run time (dlopen: no headers needed to build); the symbolication tests read lines with it.
    # libdw-dev rather than the runtime package, whose name changed (libdw1, libdw1t64).
    { ldconfig -p 2>/dev/null || /sbin/ldconfig -p; } | grep -q 'libdw\.so\.1' || missing+=(libdw-dev)
fi

if ((${#missing[@]})); then
    echo "bootstrap: missing system packages: ${missing[*]}"
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: no apt-get here. Install the equivalents of these Debian packages with your package manager: ${missing[*]} (OpenSSL 3 libcrypto headers, libudev headers, libcurl with OpenSSL headers, zlib headers, the openssl tool, pkg-config, iproute2, dbus, gnome-keyring, libsecret, elfutils' libdw)" >&2
        exit 1
    fi
    if [ "$(id -u)" -eq 0 ]; then
        apt=(apt-get)
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        apt=(sudo apt-get)
    else
        echo "bootstrap: cannot install packages (not root, and sudo needs a password or is absent). Run:" >&2
        echo "    sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "bootstrap: installing with ${apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${apt[@]}" update -qq
    "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "bootstrap: no 'swift' on PATH. Install Swift 6.1 or later (https://swift.org/install) or add it to PATH (for example /opt/swift/usr/bin)." >&2
    exit 1
fi
echo "bootstrap: system packages present (pkg-config, libssl-dev, libudev-dev, libcurl4-openssl-dev, zlib1g-dev, openssl, iproute2, dbus, gnome-keyring, libsecret-1-0); $(swift --version 2>/dev/null | head -n 1)"
