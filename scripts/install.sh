#!/usr/bin/env bash
# Install armvm-oe and what it needs on Debian 12 / Ubuntu 22.04+:
# the container engine (builds run in the reproducible container), QEMU and
# AAVMF for `armvm-oe run/test`, disk tools for `verify`, and the Python
# package in its own virtual environment (PEP 668 distros refuse system pip).
# Usage: bash scripts/install.sh     (then: armvm-oe build)
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    git python3 python3-venv python3-pip ca-certificates docker.io \
    qemu-system-arm qemu-efi-aarch64 qemu-efi-arm qemu-utils \
    mtools dosfstools gdisk e2fsprogs zstd
venv="${ARMVM_VENV:-$HOME/.local/share/armvm-oe/venv}"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q .
mkdir -p "$HOME/.local/bin"
ln -sf "$venv/bin/armvm-oe" "$HOME/.local/bin/armvm-oe"
if [ "$(id -u)" != 0 ] && ! id -nG | tr ' ' '\n' | grep -qx docker; then
    echo "note: add yourself to the docker group to build in the container:"
    echo "      sudo usermod -aG docker $USER   (then log in again)"
fi
echo "installed: $HOME/.local/bin/armvm-oe ($("$venv/bin/armvm-oe" --version))"
case ":$PATH:" in *":$HOME/.local/bin:"*) ;; *) echo "note: add ~/.local/bin to PATH";; esac
