# Boot area (issue 12): build the Debian test images that tests/boot/test_distro.py
# boots (images no file of this repository made; armvm_oe/testing/distro.py).
# Cached in $ARMVM_CACHE_DIR/distro keyed by the recipe, so only the first run
# pays: cold, about 14 minutes on 2 cores at load ~10 (dpkg under qemu-user; both
# arches at once). ARMVM_BUILD_DEBIAN_IMAGES=0 skips the build (the tests then
# skip with the command to run). Needs root (mmdebstrap --mode=root) and the
# qemu-user binfmt handlers (mounted and enabled here when missing).
if [ "${ARMVM_BUILD_DEBIAN_IMAGES:-1}" != 0 ]; then
    if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
        $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
    fi
    for _h in qemu-aarch64 qemu-arm; do
        grep -q enabled "/proc/sys/fs/binfmt_misc/$_h" 2>/dev/null || \
            $SUDO update-binfmts --enable "$_h" || true
    done
    _distro() { $SUDO env ARMVM_CACHE_DIR="$ARMVM_CACHE_DIR" PYTHONPATH="$PWD" \
        python3 -m armvm_oe.testing.distro --arch "$1"; }
    if ! python3 -m armvm_oe.testing.distro --check >/dev/null 2>&1; then
        echo "building the Debian test images (cached; cold: ~14 min)"
        _distro aarch64 & _pid=$!
        _distro arm || echo "warning: the armhf Debian test image did not build"
        wait "$_pid" || echo "warning: the arm64 Debian test image did not build"
    fi
fi
