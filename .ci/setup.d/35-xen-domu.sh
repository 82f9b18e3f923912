# Xen domU row (issue 16 item 7; armvm_oe/xen/domu.py): the Debian Xen host
# (dom0: the arm64 test image's root filesystem plus xen-utils-4.17, installed
# with apt in a chroot under qemu-user; armvm_oe/xen/xenhost.py) and the
# root=/dev/vda2 copy of the test image (armvm_oe/testing/rootvariant.py) that
# tests/boot/test_xen_domu.py boots. Both derive from the arm64 image built by
# 30-boot-distro.sh, which is only read. Cached in $ARMVM_CACHE_DIR keyed by
# their inputs: cold about 1 minute (apt-get under emulation), warm nothing.
# A build that fails stops .ci/run (exit 1) with the tool's own error and the
# last lines of its log. ARMVM_BUILD_DEBIAN_IMAGES=0 skips it (allowed only
# with CI=false, see 30-boot-distro.sh).
if [ "${ARMVM_BUILD_DEBIAN_IMAGES:-1}" != 0 ]; then
    _py() { $SUDO env ARMVM_CACHE_DIR="$ARMVM_CACHE_DIR" PYTHONPATH="$PWD" python3 "$@"; }
    if ! python3 -m armvm_oe.testing.distro --check --arch aarch64 >/dev/null 2>&1; then
        echo ".ci/run: the arm64 Debian test image is missing, so the Xen host cannot be made" >&2
        return 1 2>/dev/null || exit 1
    fi
    if ! _py -m armvm_oe.xen.xenhost --check >/dev/null 2>&1 && ! _py -m armvm_oe.xen.xenhost; then
        echo ".ci/run: the Xen host for the domU row did not build" >&2
        _armvm_tail_log "$ARMVM_CACHE_DIR/xenhost/failed-xenhost.log"
        return 1 2>/dev/null || exit 1
    fi
    if ! _py -m armvm_oe.testing.rootvariant --check >/dev/null 2>&1 && \
            ! _py -m armvm_oe.testing.rootvariant; then
        echo ".ci/run: the root=/dev/vda2 variant of the arm64 test image did not build" >&2
        return 1 2>/dev/null || exit 1
    fi
fi
