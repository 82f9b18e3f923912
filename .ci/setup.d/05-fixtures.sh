# The shared fixture builder (armvm_oe/testing) and QEMU boots: Debian's Arm
# firmware, QEMU, and the disk tools; foreign-arch packages are downloaded
# (not installed) by the builder itself with apt-get download.
APT_PACKAGES="$APT_PACKAGES qemu-system-arm qemu-efi-aarch64 qemu-efi-arm qemu-utils \
 mtools dosfstools gdisk grub-common e2fsprogs kmod zstd bzip2 xz-utils"
