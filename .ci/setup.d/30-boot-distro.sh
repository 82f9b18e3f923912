# Boot area (issue 12): build the Debian test images that tests/boot/test_distro.py
# boots (images no file of this repository made; armvm_oe/testing/distro.py).
# Cached in $ARMVM_CACHE_DIR/distro keyed by the recipe, so only the first run
# pays: cold, about 14 minutes on 2 cores at load ~10 (dpkg under qemu-user; both
# arches at once). Needs root (mmdebstrap --mode=root) and the qemu-user binfmt
# handlers (mounted and enabled here when missing).
# A build that fails stops .ci/run (exit 1) with the last lines of the build's
# own log (mmdebstrap's output; _armvm_tail_log in .ci/run): the default
# suite needs these images.
# ARMVM_BUILD_DEBIAN_IMAGES=0 skips the build for a developer's run, which then
# needs CI=false (the tests skip with the command that builds the images);
# with CI=true it is refused, since a CI run never skips those tests.
if [ "${ARMVM_BUILD_DEBIAN_IMAGES:-1}" = 0 ]; then
    if [ "${CI:-}" = true ]; then
        echo ".ci/run: ARMVM_BUILD_DEBIAN_IMAGES=0 with CI=true: the Debian test images" \
             "would be missing and CI never skips the tests that boot them; unset" \
             "ARMVM_BUILD_DEBIAN_IMAGES, or run with CI=false for a developer's run" \
             "that skips them" >&2
        return 1 2>/dev/null || exit 1
    fi
    echo "ARMVM_BUILD_DEBIAN_IMAGES=0 (CI=${CI:-}): not building the Debian test images;" \
         "the tests that boot them skip"
else
    if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
        $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
    fi
    for _h in qemu-aarch64 qemu-arm; do
        grep -q enabled "/proc/sys/fs/binfmt_misc/$_h" 2>/dev/null || \
            $SUDO update-binfmts --enable "$_h" || true   # the build checks binfmt itself
    done
    _distro() { $SUDO env ARMVM_CACHE_DIR="$ARMVM_CACHE_DIR" PYTHONPATH="$PWD" \
        python3 -m armvm_oe.testing.distro --arch "$1"; }
    if ! python3 -m armvm_oe.testing.distro --check >/dev/null 2>&1; then
        echo "building the Debian test images (cached; cold: ~14 min)"
        _distro aarch64 & _pid=$!
        _rc_arm=0; _distro arm || _rc_arm=$?
        _rc_a64=0; wait "$_pid" || _rc_a64=$?
        if [ "$_rc_arm" != 0 ] || [ "$_rc_a64" != 0 ]; then
            [ "$_rc_a64" = 0 ] || { echo ".ci/run: the arm64 Debian test image did not build (exit $_rc_a64)" >&2
                                    _armvm_tail_log "$ARMVM_CACHE_DIR/distro/failed-arm64.log"; }
            [ "$_rc_arm" = 0 ] || { echo ".ci/run: the armhf Debian test image did not build (exit $_rc_arm)" >&2
                                    _armvm_tail_log "$ARMVM_CACHE_DIR/distro/failed-armhf.log"; }
            return 1 2>/dev/null || exit 1
        fi
    fi
fi
