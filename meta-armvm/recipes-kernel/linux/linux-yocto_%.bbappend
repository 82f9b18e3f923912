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

# The fragment generated from armvm_oe/requirements.py (scripts/
# gen-kernel-fragments), as a kernel-cache style feature: files/armvm-kmeta/
# armvm-guest-<arch>.scc (kconf armvm-guest-<arch>.cfg), fetched as a "kmeta"
# directory so that kernel-yocto.bbclass searches it for KERNEL_FEATURES
# entries without queueing it as a SRC_URI fragment.  do_kernel_metadata
# queues the fragments in this order: the BSP (KMACHINE/LINUX_KERNEL_TYPE),
# then SRC_URI .scc/.cfg files, then KERNEL_FEATURES in order; the last value
# of an option wins.  armvm_kernel.bbclass therefore moves
# armvm-guest-<arch>.scc to the end of KERNEL_FEATURES once parsing is done,
# so the layer's options win over the BSP, over SRC_URI fragments and over any
# feature (e.g. kernel-cache's features/pci/pci.cfg, which sets
# CONFIG_HOTPLUG_PCI_PCIE=n).  The .list is the build-time audit list.
# ARMVM_KARCH (aarch64 or arm) is set by the armvm machine configurations.
SRC_URI:append:armvm = " file://armvm-kmeta;type=kmeta;destsuffix=armvm-kmeta file://armvm-required-${ARMVM_KARCH}.list"

# A dropped required option fails the build (do_armvm_kconfig_audit), and the
# DTB convention; see classes/armvm_kernel.bbclass.
inherit_defer ${@'armvm_kernel' if d.getVar('ARMVM_KARCH') else ''}
