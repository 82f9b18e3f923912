# armvm-oe test --hypervisor xen (armvm_oe/xen): QEMU with AAVMF, qemu-img for the
# overlay that keeps the image untouched, mtools to write the boot disk,
# debugfs (e2fsprogs) to read the image's root filesystem, dtc for the
# dom0less device tree. Xen itself
# (xen-hypervisor-4.17-arm64:arm64) and GRUB's xen_boot module are downloaded,
# not installed, with apt-get download (arm64 is added by 10-install.sh).
APT_PACKAGES="$APT_PACKAGES qemu-system-arm qemu-efi-aarch64 qemu-utils mtools dosfstools \
 gdisk grub-common e2fsprogs device-tree-compiler"
