# Boot area (issue 5: armvm-oe run/test/instances): QEMU for both Arm guest
# arches, Debian's UEFI firmware (AAVMF/AAVMF32), qemu-img for the instance
# overlays, and setpriv (util-linux) for the unreadable-image test as root.
APT_PACKAGES="$APT_PACKAGES qemu-system-arm qemu-efi-aarch64 qemu-efi-arm qemu-utils util-linux"
# Issue 12: the Debian-built test images (.ci/setup.d/30-boot-distro.sh) are made
# with Debian's mmdebstrap, qemu-user-static (+ binfmt-support) for the arm64/armhf
# maintainer scripts, and mkfs.ext4/mkfs.vfat/sgdisk/debugfs for the disk.
APT_PACKAGES="$APT_PACKAGES mmdebstrap arch-test qemu-user-static binfmt-support e2fsprogs dosfstools gdisk"
# Issue 24: `armvm-oe test` runs a command over ssh through a hostfwd port when
# the guest runs sshd (the Debian test images do): the host's ssh client and
# ssh-keygen (a fresh key per cell).
APT_PACKAGES="$APT_PACKAGES openssh-client"
