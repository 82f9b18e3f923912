# verify area (issue 4): debugfs reads the ext4 root partition (e2fsprogs),
# qemu-img reads .qcow2 (qemu-utils), the tests build and corrupt images with
# sgdisk/mkfs.vfat/mtools and compress them with zstd/bzip2/xz; the benchmark
# compares with sgdisk -v, mdir and fsck.vfat.
APT_PACKAGES="$APT_PACKAGES e2fsprogs qemu-utils gdisk dosfstools mtools zstd bzip2 xz-utils gzip"
