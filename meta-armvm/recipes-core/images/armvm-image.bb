# nooelint: oelint.var.suggestedvar.BUGTRACKER,oelint.var.suggestedvar.CVE_PRODUCT - an image has no upstream tracker or CVE product
SUMMARY = "Minimal ARM VM System Specification image"
DESCRIPTION = "A small image that boots through UEFI and GRUB from a GPT disk with \
               a FAT32 EFI System Partition to a login on the console (pl011 or hvc0), \
               with DHCP networking on virtio-net and Xen netfront."
SECTION = "images"
LICENSE = "MIT"

inherit core-image

IMAGE_INSTALL = "packagegroup-core-boot ${CORE_IMAGE_EXTRA_INSTALL}"
IMAGE_LINGUAS = ""

# IMG-*: the disk layout is meta-armvm's wks; .wic.bmap for fast flashing.
IMAGE_FSTYPES = "wic wic.bmap"
WKS_FILE = "armvm-efi.wks.in"
# The wks lives in <layer>/files/wic, where wrynose and later search (and
# whose sanity checker refuses a <layer>/wic directory); scarthgap searches
# <layer>/wic only, so the layer's directory is named here for every release.
WKS_SEARCH_PATH:prepend = "${ARMVM_LAYERDIR}/files/wic:"
# The ESP gets the kernel and the EFI boot application from the deploy dir.
# nooelint: oelint.vars.mispell.unknown - do_image_wic is image_types_wic.bbclass's task, unknown to oelint
do_image_wic[depends] += "${EFI_PROVIDER}:do_deploy virtual/kernel:do_deploy"

# Networking on virtio-net and Xen netfront: both appear as eth0; bring it up
# with DHCP at boot (ifupdown + busybox udhcpc from packagegroup-core-boot).
armvm_network_dhcp() {
    interfaces=${IMAGE_ROOTFS}${sysconfdir}/network/interfaces
    if [ -f "$interfaces" ] && ! grep -q '^auto eth0' "$interfaces"; then
        printf '\n# meta-armvm: virtio-net or Xen netfront\nauto eth0\niface eth0 inet dhcp\n' >> "$interfaces"
    fi
}
armvm_network_dhcp[doc] = "Bring eth0 (virtio-net or Xen netfront) up with DHCP at boot"
ROOTFS_POSTPROCESS_COMMAND:append = " armvm_network_dhcp"
