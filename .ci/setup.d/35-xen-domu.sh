# Xen domU row (issue 16 item 7; armvm_oe/xen/domu.py): the Debian Xen host
# (dom0: the arm64 test image's root filesystem plus xen-utils-4.17, installed
# with apt in a chroot under qemu-user; armvm_oe/xen/xenhost.py) and the
# root=/dev/vda2 copy of the test image (armvm_oe/testing/rootvariant.py) that
# tests/boot/test_xen_domu.py boots. Both derive from the arm64 image built by
# 30-boot-distro.sh, which is only read. Cached in $ARMVM_CACHE_DIR keyed by
# their inputs: cold about 1 minute (apt-get under emulation), warm nothing.
# ARMVM_BUILD_DEBIAN_IMAGES=0 skips it (the tests then skip with the command).
if [ "${ARMVM_BUILD_DEBIAN_IMAGES:-1}" != 0 ]; then
    _py() { $SUDO env ARMVM_CACHE_DIR="$ARMVM_CACHE_DIR" PYTHONPATH="$PWD" python3 "$@"; }
    if python3 -m armvm_oe.testing.distro --check --arch aarch64 >/dev/null 2>&1; then
        _py -m armvm_oe.xen.xenhost --check >/dev/null 2>&1 || \
            _py -m armvm_oe.xen.xenhost || echo "warning: the Xen host for the domU row did not build"
        _py -m armvm_oe.testing.rootvariant --check >/dev/null 2>&1 || \
            _py -m armvm_oe.testing.rootvariant || echo "warning: the root=/dev/vda2 variant did not build"
    fi
fi
