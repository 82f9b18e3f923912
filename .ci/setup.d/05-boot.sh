# Boot area (issue 5: armvm-oe run/test/instances): QEMU for both Arm guest
# arches, Debian's UEFI firmware (AAVMF/AAVMF32), qemu-img for the instance
# overlays, and setpriv (util-linux) for the unreadable-image test as root.
APT_PACKAGES="$APT_PACKAGES qemu-system-arm qemu-efi-aarch64 qemu-efi-arm qemu-utils util-linux"
