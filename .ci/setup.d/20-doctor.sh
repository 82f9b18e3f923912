# Doctor area (issue 6), after the packages are installed (idempotent):
# - the unprivileged user 'builder' that runs the host checks the way bitbake
#   would (bitbake refuses root, and the CI runs as root);
# - the en_US.UTF-8 locale that oe-core's sanity check requires.
if ! id builder >/dev/null 2>&1; then
    $SUDO useradd -m -s /bin/bash builder
fi
if ! locale -a 2>/dev/null | grep -qiE '^en_US\.utf-?8$'; then
    $SUDO sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen
    grep -q '^en_US.UTF-8 UTF-8' /etc/locale.gen || echo 'en_US.UTF-8 UTF-8' | $SUDO tee -a /etc/locale.gen >/dev/null
    $SUDO locale-gen
fi
