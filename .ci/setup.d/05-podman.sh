# Podman (issue 15): tests/container/test_podman.py runs the container runner
# on Debian's podman through its Docker-compatible socket (the test starts
# its own 'podman system service'); catatonit is podman's --init binary (the
# runner starts containers with init=True), runc the runtime the test selects.
APT_PACKAGES="$APT_PACKAGES podman catatonit runc"
