# Install APT_PACKAGES (with arm64/armhf foreign architectures for Debian's
# Arm kernels and GRUB modules) and the Python package with its test extras.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then $SUDO dpkg --add-architecture arm64; fi
if ! dpkg --print-foreign-architectures | grep -qx armhf; then $SUDO dpkg --add-architecture armhf; fi
missing=""
for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
# apt lists are needed for 'apt-get download' of foreign packages even when nothing is missing
if [ -n "$missing" ] || [ ! -e /var/lib/apt/lists/lock ] || \
   ! ls /var/lib/apt/lists/*_binary-arm64_Packages* >/dev/null 2>&1; then
    $SUDO apt-get update -q
fi
if [ -n "$missing" ]; then
    echo "installing:$missing"
    $SUDO apt-get install -y -q --no-install-recommends $missing
fi
# PEP 668 system Pythons refuse a plain pip install; CI machines are throwaway
python3 -m pip install -q --disable-pip-version-check -e ".[test]" 2>/dev/null || \
    python3 -m pip install -q --disable-pip-version-check --break-system-packages -e ".[test]"
