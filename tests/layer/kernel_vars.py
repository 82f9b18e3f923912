"""Print, as JSON, the variables linux-yocto's configuration flow reads,
from bitbake's own datastore (tinfoil): the configuration parsed as
``bitbake -e`` parses it, then the linux-yocto recipe with the given
bbappends.  Run as a separate process (bitbake's lib is not importable by
the tests) by kernel_flow.recipe_vars():

    python3 kernel_vars.py BITBAKE_DIR RECIPE [BBAPPEND ...]

with BUILDDIR pointing at a build directory that has conf/bblayers.conf and
conf/local.conf, and MACHINE in the environment."""

import json
import sys

VARS = ("KMACHINE", "LINUX_KERNEL_TYPE", "KERNEL_FEATURES", "SRCREV_meta", "KBRANCH",
        "SRC_URI", "ARCH", "ARMVM_KARCH", "LINUX_VERSION", "LINUX_VERSION_EXTENSION",
        "KCONF_AUDIT_LEVEL", "KCONF_BSP_AUDIT_LEVEL", "KMETA", "KCONFIG_MODE",
        "KBUILD_DEFCONFIG", "DISTRO", "MACHINE", "FILESPATH")


def main(argv):
    sys.path.insert(0, argv[1] + "/lib")
    import bb.tinfoil
    with bb.tinfoil.Tinfoil(output=sys.stderr) as tf:
        tf.prepare(config_only=True, quiet=2)
        d = tf.parse_recipe_file(argv[2], appendlist=argv[3:])
        json.dump({v: d.getVar(v) for v in VARS}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
