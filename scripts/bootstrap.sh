#!/usr/bin/env bash
# Installs the system packages Steward builds against, when they are missing.
# Runs apt-get as root, or through sudo when that works without a password prompt;
# otherwise prints exactly what to install and fails.
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
have_pc() { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$1"; }
have_pc libcrypto || missing+=(libssl-dev)
have_pc libudev || missing+=(libudev-dev)

if ((${#missing[@]})); then
    echo "bootstrap: installing missing system packages: ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then
        apt=(apt-get)
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        apt=(sudo apt-get)
    else
        echo "bootstrap: cannot install packages (not root, no passwordless sudo). Run:" >&2
        echo "    sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${apt[@]}" update -qq
    "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "bootstrap: no 'swift' on PATH. Install Swift 6.1 or later (https://swift.org/install) or add it to PATH (for example /opt/swift/usr/bin)." >&2
    exit 1
fi
echo "bootstrap: system packages present (pkg-config, libssl-dev, libudev-dev); $(swift --version 2>/dev/null | head -n 1)"
