# armvm-kconfig-audit: fail the kernel build when the final .config lacks an
# option the ARM VM System Specification requires.
#
# linux-yocto's own audit (do_kernel_configcheck) only warns about a dropped
# option by default.  This task runs after it, reads ${B}/.config (the result
# of the fragment merge and olddefconfig) and calls bb.fatal() with the list
# of required options that are not =y.  The list is
# recipes-kernel/linux/files/armvm-required-<arch>.list, generated from
# armvm_oe/requirements.py; the checking logic is lib/armvm_kconfig.py.
#
# ARMVM_KCONFIG_AUDIT = "fatal" (default) or "warn" (for kernel debugging only).

ARMVM_KCONFIG_AUDIT ??= "fatal"
ARMVM_KCONFIG_LIST ??= "armvm-required-${ARMVM_KARCH}.list"

python do_armvm_kconfig_audit() {
    import os
    import armvm_kconfig

    config_path = os.path.join(d.getVar("B"), ".config")
    src_dir = d.getVar("UNPACKDIR") or d.getVar("WORKDIR")
    list_path = os.path.join(src_dir, d.getVar("ARMVM_KCONFIG_LIST"))
    if not os.path.exists(config_path):
        bb.fatal("armvm-kconfig-audit: %s does not exist; do_configure did not produce a .config" % config_path)
    if not os.path.exists(list_path):
        bb.fatal("armvm-kconfig-audit: %s is missing; is it in SRC_URI?" % list_path)
    with open(config_path) as f:
        config_text = f.read()
    with open(list_path) as f:
        required_text = f.read()
    report = armvm_kconfig.audit(config_text, required_text, d.getVar("ARMVM_KARCH"))
    if not report:
        bb.note("armvm-kconfig-audit: every required option is =y")
        return
    if d.getVar("ARMVM_KCONFIG_AUDIT") == "warn":
        bb.warn(report)
    else:
        bb.fatal(report)
}
do_armvm_kconfig_audit[vardeps] += "ARMVM_KCONFIG_AUDIT ARMVM_KCONFIG_LIST"
addtask armvm_kconfig_audit after do_configure do_kernel_configcheck before do_compile
