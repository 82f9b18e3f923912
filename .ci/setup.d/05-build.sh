# Build and AVH areas (issue 8): the orchestration tests run the real kas
# (pyproject dependency) against a stand-in bitbake and deploy the fixture
# builder's image, a grub-mkimage GRUB and a QEMU-dumped DTB; the AVH tests
# use Debian's arm64 kernel (downloaded by the fixture builder) and the DTB.
APT_PACKAGES="$APT_PACKAGES git qemu-system-arm grub-common"
