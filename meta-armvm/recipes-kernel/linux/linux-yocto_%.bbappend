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
# nooelint: oelint.vars.mispell.unknown - linux-yocto's per-branch SRCREV name
SRCREV_machine:armvm-aarch64 = "${SRCREV_machine:qemuarm64}"
KMACHINE:armvm-arm = "qemuarma15"
KBRANCH:armvm-arm = "${KBRANCH:qemuarm}"
# nooelint: oelint.vars.mispell.unknown - linux-yocto's per-branch SRCREV name
SRCREV_machine:armvm-arm = "${SRCREV_machine:qemuarm}"

# yocto-kernel-cache features for the virtual platform.  efi-ext also turns
# EFI_PARTITION back on (ktypes/base sets it n).
KERNEL_FEATURES:append:armvm = " cfg/virtio.scc cfg/efi-ext.scc features/xen/xen.scc"

# The fragments generated from armvm_oe/requirements.py (scripts/
# gen-kernel-fragments).  They come after the BSP and KERNEL_FEATURES in the
# merge, so they win over kernel-cache's features/pci/pci.cfg, which sets
# CONFIG_HOTPLUG_PCI_PCIE=n.  The .list is the build-time audit list.
# ARMVM_KARCH (aarch64 or arm) is set by the armvm machine configurations.
SRC_URI:append:armvm = " file://armvm-guest-${ARMVM_KARCH}.cfg file://armvm-required-${ARMVM_KARCH}.list"

# A dropped required option fails the build (do_armvm_kconfig_audit), and the
# DTB convention; see classes/armvm_kernel.bbclass.
inherit_defer ${@'armvm_kernel' if d.getVar('ARMVM_KARCH') else ''}
