# meta-armvm tests (tests/layer): the kernel tree and Kconfig tools for the
# 'kconfig' tests (Debian's linux-source-6.1 + flex bison bc make gcc), and
# the disk tools wic uses in the ARMVM_POKY_DIR-only wic plugin test
# (harmless without poky).  oelint-adv comes from pyproject's test extras.
# The layer's own kernel (tests/layer/test_layer_image.py, nightly) is
# compiled with Debian's cross compilers (armvm_oe/testing/layerkernel.py);
# libssl-dev and libelf-dev for the kernel's host tools.
APT_PACKAGES="$APT_PACKAGES linux-source-6.1 flex bison bc make gcc libc6-dev xz-utils \
dosfstools mtools gdisk parted fdisk e2fsprogs \
gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libssl-dev libelf-dev"
