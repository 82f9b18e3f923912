# armvm_kernel: linux-yocto additions for the armvm machines, inherited by
# recipes-kernel/linux/linux-yocto_%.bbappend only when ARMVM_KARCH is set
# (an armvm machine), so other machines' task signatures do not change.
#
# 1. do_armvm_kconfig_audit: fail the kernel build when the final .config
#    lacks an option the ARM VM System Specification requires.
#    linux-yocto's own audit (do_kernel_configcheck) only warns about a
#    dropped option by default.  This task runs after it, reads ${B}/.config
#    (the result of the fragment merge and olddefconfig) and calls bb.fatal()
#    with the list of required options that are not =y.  The list is
#    recipes-kernel/linux/files/armvm-required-<arch>.list, generated from
#    armvm_oe/requirements.py; the checking logic is lib/armvm_kconfig.py.
#    ARMVM_KCONFIG_AUDIT = "fatal" (default) or "warn" (kernel debugging only).
#
# 2. meta-armvm's fragment last: armvm-guest-<arch>.scc becomes the last
#    KERNEL_FEATURES entry (an anonymous function, run after every
#    configuration file, recipe, bbappend and :append/:remove is parsed), the
#    last fragment do_kernel_metadata queues (order: BSP, SRC_URI fragments,
#    KERNEL_FEATURES), so its values win over everything before it.
#
# 3. DTB convention (README): when a machine builds board DTBs, also install
#    them the way the kernel's dtbs_install lays them out, under
#    /boot/dtbs/<kernel-release>/[<vendor>/]<board>.dtb, with the stable link
#    /boot/dtb -> dtbs/<kernel-release>.  armvm machines build none (HW-FDT).

ARMVM_KERNEL_FEATURE ?= "armvm-guest-${ARMVM_KARCH}.scc"

# nooelint: oelint.task.noanonpython - must run after all parsing to be the last entry (README)
python __anonymous() {
    feature = d.getVar("ARMVM_KERNEL_FEATURE")
    others = [f for f in (d.getVar("KERNEL_FEATURES") or "").split() if f != feature]
    d.setVar("KERNEL_FEATURES", " ".join(others + [feature]))
}

ARMVM_KCONFIG_AUDIT ??= "fatal"
ARMVM_KCONFIG_LIST ??= "armvm-required-${ARMVM_KARCH}.list"

python do_armvm_kconfig_audit() {
    import os
    import armvm_kconfig

    config_path = os.path.join(d.getVar("B"), ".config")
    src_dir = d.getVar("UNPACKDIR") or d.getVar("WORKDIR")
    list_path = os.path.join(src_dir, d.getVar("ARMVM_KCONFIG_LIST"))
    if not os.path.exists(config_path):
        bb.fatal("armvm_kernel: %s does not exist; do_configure did not produce a .config" % config_path)
    if not os.path.exists(list_path):
        bb.fatal("armvm_kernel: %s is missing; is it in SRC_URI?" % list_path)
    with open(config_path) as f:
        config_text = f.read()
    with open(list_path) as f:
        required_text = f.read()
    report = armvm_kconfig.audit(config_text, required_text, d.getVar("ARMVM_KARCH"))
    if not report:
        bb.note("armvm_kernel: every required kernel option is =y")
        return
    if d.getVar("ARMVM_KCONFIG_AUDIT") == "warn":
        bb.warn(report)
    else:
        bb.fatal(report)
}
do_armvm_kconfig_audit[doc] = "Fail the build when a kernel option the ARM VM System Specification requires is not =y in .config"
do_armvm_kconfig_audit[vardeps] += "ARMVM_KCONFIG_AUDIT ARMVM_KCONFIG_LIST"
addtask armvm_kconfig_audit after do_configure do_kernel_configcheck before do_compile

do_install:append() {
    if [ -n "${KERNEL_DEVICETREE}" ]; then
        for dtbf in ${KERNEL_DEVICETREE}; do
            dtb=$(normalize_dtb "$dtbf")
            install -D -m 0644 "${B}/arch/${ARCH}/boot/dts/$dtb" \
                "${D}/boot/dtbs/${KERNEL_VERSION}/$dtb"
        done
        ln -sfn "dtbs/${KERNEL_VERSION}" "${D}/boot/dtb"
    fi
}
# nooelint: oelint.vars.pkgspecific.FILES,oelint.vars.specific - kernel.bbclass names its packages ${KERNEL_PACKAGE_NAME}-*
FILES:${KERNEL_PACKAGE_NAME}-devicetree += "/boot/dtbs /boot/dtb"
