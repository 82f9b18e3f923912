# meta-armvm: linux-yocto for the ARM VM System Specification machines.
# Everything here is limited to the "armvm" machine override, so adding the
# layer changes nothing for other machines (yocto-check-layer signatures).

FILESEXTRAPATHS:prepend:armvm := "${THISDIR}/files:"

COMPATIBLE_MACHINE:armvm-aarch64 = "armvm-aarch64"
COMPATIBLE_MACHINE:armvm-arm = "armvm-arm"

# Reuse linux-yocto's BSP descriptions for QEMU's virt machine (the
# hardware a VM guest sees), and their branches and revisions.
KMACHINE:armvm-aarch64 = "qemuarm64"
KBRANCH:armvm-aarch64 = "${KBRANCH:qemuarm64}"
SRCREV_machine:armvm-aarch64 = "${SRCREV_machine:qemuarm64}"
KMACHINE:armvm-arm = "qemuarma15"
KBRANCH:armvm-arm = "${KBRANCH:qemuarm}"
SRCREV_machine:armvm-arm = "${SRCREV_machine:qemuarm}"

# yocto-kernel-cache features for the virtual platform.  efi-ext also turns
# EFI_PARTITION back on (ktypes/base sets it n).
KERNEL_FEATURES:append:armvm = " cfg/virtio.scc cfg/efi-ext.scc features/xen/xen.scc"

# The fragments generated from armvm_oe/requirements.py (scripts/
# gen-kernel-fragments).  They come after the BSP and KERNEL_FEATURES in the
# merge, so they win over kernel-cache's features/pci/pci.cfg, which sets
# CONFIG_HOTPLUG_PCI_PCIE=n.  The .list is the build-time audit list.
ARMVM_KARCH = ""
ARMVM_KARCH:armvm-aarch64 = "aarch64"
ARMVM_KARCH:armvm-arm = "arm"
SRC_URI:append:armvm = " file://armvm-guest-${ARMVM_KARCH}.cfg file://armvm-required-${ARMVM_KARCH}.list"

# A dropped required option fails the build (do_armvm_kconfig_audit).
inherit ${@'armvm-kconfig-audit' if d.getVar('ARMVM_KARCH') else ''}

# DTB convention (README): when a machine builds board DTBs, also install
# them the way the kernel's dtbs_install lays them out, under
# /boot/dtbs/<kernel-release>/[<vendor>/]<board>.dtb, with the stable link
# /boot/dtb -> dtbs/<kernel-release>.  armvm machines build none (HW-FDT).
do_install:append:armvm() {
	if [ -n "${KERNEL_DEVICETREE}" ]; then
		for dtbf in ${KERNEL_DEVICETREE}; do
			dtb=$(normalize_dtb "$dtbf")
			install -D -m 0644 "${B}/arch/${ARCH}/boot/dts/$dtb" \
				"${D}/boot/dtbs/${KERNEL_VERSION}/$dtb"
		done
		ln -sfn "dtbs/${KERNEL_VERSION}" "${D}/boot/dtb"
	fi
}
FILES:${KERNEL_PACKAGE_NAME}-devicetree:append:armvm = " /boot/dtbs /boot/dtb"
