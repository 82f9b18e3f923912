"""oe-core at do_rootfs / do_image and in the shared sysroots: the package
managers (meta/lib/oe/package_manager/: rpm+dnf, ipk+opkg, deb+apt) and the
errors they relay, postinstall scripts, the image size check
(classes-recipe/image.bbclass), mkfs/wic, sysroot and sstate conflicts
(staging.bbclass, sstate.bbclass), uninative (uninative.bbclass).

oe-core wraps the package manager's own error ("Could not invoke dnf.
Command ... returned 1:", "Unable to install packages. Command ...") and
the real cause follows in the tool's output: these families match the
tool's lines, the wrapper is only the failing step."""

from __future__ import annotations

import re

from armvm_oe.doctor.logcatalogue._base import P, S, attach

_PM = "meta/lib/oe/package_manager/"


# wic's own errors (scripts/lib/wic of scarthgap; wrynose moved wic out of oe-core),
# by a literal part of each WicError message (see test_catalogue_sources.py)
WIC: tuple = (
    "' specified in wic arguments already exists!",
    '.  If using the -e option, do you have the right MACHINE set',
    '. Please build grub-efi first', '.do_create is not implemented',
    ': Must point inside the rootfs:', ': next free sector is',
    'BUILDDIR not found, exiting. (Did you forget to source oe-in', "Can't find executable '",
    "Can't find executable parted", "Can't get size of unpartitioned space",
    "Cannot update filesystem label: Unknown fstype: '",
    "Conflicting source parameters 'fill' and 'size' specified, e",
    "Couldn't find --rootfs-dir, exiting", "Couldn't find DEPLOY_DIR_IMAGE, exiting",
    "Couldn't find IMAGE_BASENAME, exiting.", "Couldn't find IMAGE_ROOTFS, exiting.",
    "Couldn't find INITRAMFS_FSTYPES, exiting.", "Couldn't find STAGING_DATADIR, exiting.",
    "Couldn't find correct bootimg_dir, exiting", "Couldn't find or build initrd, exiting.",
    'Empty KERNEL_IMAGETYPE', 'Error getting partition information from',
    'Extended MBR partitions are not supported in hybrid MBR', 'File system image of partition',
    "It's not possible to create empty", "It's not possible to update a",
    'Malformed boot file entry:', 'No boot files defined,', 'No kernel file found',
    'No valid artifact IMAGE_ROOTFS from image named',
    'Not supported compressor filename extension:', 'Only one DTB supported, exiting',
    'Partition may only be included in MBR with a gpt-hybrid part',
    'Sorry, debugfs 1.46.5 or later is required for this script.',
    "Source parameter 'fill' only works with the '--fixed-size' o",
    'UEFI stub kernel is incompatible with target',
    'Unified Kernel Image EFI stub not found, exiting', 'Unsupported partition table:',
    'bootimg-efi requires a loader, none specified',
    'configfile is specified but failed to get it from',
    'connection or it is not a valid path, exiting',
    "found, exiting. (Use 'wic list images' to list available ima",
    'grub-efi is incompatible with target',
    'initrd= must be specified when create-unified-kernel-image=t',
    'internal size is not an integer. This a bug in source plugin', 'is not valid plugin type',
    'kB) is larger than allowed size',
    'partition has a size of zero. Please specify a non-zero --si',
    'setting custom partition name is not implemented for msdos p',
    'setting custom partition type is not implemented for msdos p',
    'unrecognized bootimg-efi loader:', '_exec_cmd:', '--source specified for',
    'Grub loader',
)


def _conflict(g: dict, c) -> dict:
    f = g.get("file") or g.get("file2") or g.get("file3") or g.get("file4")
    b = g.get("b") or g.get("b2") or g.get("b3") or g.get("b4")
    if g.get("a3") and c is not None:
        # opkg prints "Package %s wants to install file %s\n\tBut that file is
        # already provided by package  * %s": a posted copy splits it over
        # (blank) lines, the file and the other package come below
        f = f or c.forward(r"^\s*(/\S+)\s*$", 4)
        b = b or c.forward(r"already provided by package\s+\*?\s*(\S+)", 6)
    f = f or "a file"
    b = b or "another"
    a = g.get("a") or g.get("a2") or g.get("a3") or g.get("a4") or "one package"
    return {"file": f, "a": a, "b": b}


PATTERNS = (
    P("log.rootfs-file-conflict", "two packages of the image install the same file", "error",
      3,
      r"file (?P<file>\S+) (?:from install of (?P<a>\S+) )?conflicts (?:between attempted "
      r"installs of (?P<a2>\S+) and (?P<b2>\S+)|with file from package (?P<b>\S+))|"
      r"Package (?P<a3>\S+) wants to install file\b(?:\s+(?P<file3>\S+))?|"
      r"trying to overwrite '(?P<file4>[^']+)', which is also in package (?P<b4>\S+)",
      "{a} and {b} both install {file}, so the package manager refused the image "
      "(rpm/dnf: file conflict, opkg: check_data_file_clashes, dpkg: trying to overwrite)",
      "Keep the file in one package: remove it from the other recipe's do_install or FILES, "
      "use update-alternatives (ALTERNATIVE:${{PN}}) for commands both provide, or add "
      "RCONFLICTS/RREPLACES if only one of them belongs in the image",
      "Error: Transaction test error:\n  file /usr/bin/foo conflicts between attempted installs "
      "of foo-1.0-r0.cortexa57 and bar-2.0-r0.cortexa57",
      ("conflicts between attempted", "conflicts with file from", "wants to install file",
       "trying to overwrite"), phase="build", fields=_conflict),
    P("log.rootfs-unresolvable", "the image needs a package nothing provides", "error", 3,
      r"nothing provides (?P<dep>\S+)(?: needed by (?P<by>\S+))?|"
      r"No match for argument: (?P<dep2>\S+)|Unable to find a match: (?P<dep3>.+)|"
      r"[Cc]annot satisfy the following dependencies for (?P<by2>\S+?):?\s*$|"
      r"Unable to locate package (?P<dep4>\S+)|"
      r"Depends: (?P<dep5>\S+)(?: \([^)]*\))? but it is not (?:going to be installed|"
      r"installable)|dnf could not find package (?P<dep6>\S+)|"
      r"(?P<dep7>[^\s|]+(?: [<>=]+ \S+)?) is needed by (?P<by3>\S+)|"
      r"package (?P<by4>\S+) requires (?P<dep8>.+?), but none of the providers can be "
      r"installed",
      "the package manager cannot find {dep}{by} at do_rootfs: no recipe in the build "
      "RPROVIDES it (a package name that differs in this release, a recipe skipped for this "
      "MACHINE/DISTRO_FEATURES, or a PACKAGECONFIG/ -dev/-ptest package that is not built)",
      "Find the recipe that should provide it (oe-pkgdata-util find-path / list-pkgs, bitbake-"
      "layers show-recipes) and fix IMAGE_INSTALL or the RDEPENDS that names {dep}",
      "Problem: package foo-1.0-r0.cortexa57 requires libbar.so.1()(64bit), but none of the "
      "providers can be installed\n - nothing provides libbar.so.1()(64bit) needed by "
      "foo-1.0-r0.cortexa57", ("nothing provides", "No match for argument",
                               "Unable to find a match", "satisfy the following dependencies",
                               "Unable to locate package", "but it is not",
                               "dnf could not find package", "is needed by",
                               "but none of the providers"),
      phase="build",
      fields=lambda g, c: {"dep": next((g[k] for k in ("dep", "dep2", "dep3", "dep4", "dep5",
                                                        "dep6", "dep7", "dep8") if g.get(k)),
                                       None) or (c.forward(r"^\*?\s*\*?\s*(\S+)\s*$", 2)
                                                 if c else None) or "a package",
                           "by": next((f" (needed by {g[k]})" for k in ("by", "by2", "by3",
                                                                        "by4")
                                       if g.get(k)), "")}),
    P("log.rootfs-postinst", "a package's postinstall script failed", "error", 3,
      r"Postinstall scriptlets of (?P<pkgs>.+?) have failed|The following packages could not "
      r"be configured offline and rootfs is read-only: (?P<pkgs2>.+)|The postinstall "
      r"intercept hook '(?P<hook>[^']+)' failed",
      "the pkg_postinst script of {what} failed while building the image (it runs on the "
      "build host, under qemu for target binaries)",
      "Read the script's output above (log.do_rootfs); fix pkg_postinst, or defer it to "
      "first boot (pkg_postinst_ontarget) if it needs the running target",
      "ERROR: img-1.0-r0 do_rootfs: Postinstall scriptlets of ['foo'] have failed. If the "
      "intention is to defer them to first boot,", ("Postinstall scriptlets of",
                                                     "could not be configured offline",
                                                     "postinstall intercept hook"),
      phase="build",
      fields=lambda g, c: {"what": g.get("pkgs") or g.get("pkgs2") or
                           f"the intercept hook {g.get('hook')}"}),
    P("log.rootfs-error", "oe-core's rootfs code stopped", "error", 2,
      r"(?P<msg>(?:locale_arch_options not found|unknown arch:\S* for locale_arch_options|"
      r"Couldn't find ourself in BB_TASKDEPDATA|No manifest generated from|Unable to extract "
      r"package for|Unable to get information for package|Failed to identify data tarball|"
      r"Kernel modules dependency generation failed|No kernel-abiversion file found).*)",
      "do_rootfs stopped: {msg}", "Read log.do_rootfs just above this line (the package or "
      "file it names); a kernel/depmod error needs the kernel built for this MACHINE "
      "(virtual/kernel) and its modules packaged",
      "ERROR: img-1.0-r0 do_rootfs: No kernel-abiversion file found (/x/kernel-abiversion), "
      "cannot run depmod, aborting", ("locale_arch_options", "BB_TASKDEPDATA",
                                      "No manifest generated", "Unable to extract package",
                                      "Unable to get information for package",
                                      "identify data tarball", "dependency generation failed",
                                      "kernel-abiversion"), phase="build"),
    P("log.image-too-big", "the image size exceeds its configured maximum", "error", 3,
      r"The (?P<what>rootfs|initramfs) size (?P<size>\d+)\(K\) (?:exceeds|overrides) "
      r"(?P<var>IMAGE_ROOTFS_MAXSIZE|INITRAMFS_MAXSIZE): (?P<max>\d+)\(K\)",
      "the {what} is {size} KiB, more than {var} ({max} KiB)",
      "Remove packages from the image (IMAGE_INSTALL, IMAGE_FEATURES), or raise {var}",
      "ERROR: core-image-x-1.0-r0 do_image: The rootfs size 912345(K) exceeds "
      "IMAGE_ROOTFS_MAXSIZE: 524288(K)", ("exceeds IMAGE_ROOTFS_MAXSIZE",
                                          "exceeds INITRAMFS_MAXSIZE",
                                          "overrides INITRAMFS_MAXSIZE"), phase="build"),
    # wic's fixed-size partitions (scripts/lib/wic/partition.py): the same
    # class, the limit is the .wks partition's size instead of a variable
    P("log.image-too-big.wic", "the image size exceeds its configured maximum", "error", 3,
      r"Actual rootfs size \((?P<size>\d+) kB\) is larger than allowed size (?P<max>\d+) kB|"
      r"File system image of partition (?P<part>\S+) is larger \((?P<size2>\d+) kB\) than "
      r"its allowed size (?P<max2>\d+) kB",
      "the {what} is {size} KiB, more than its partition allows ({max} KiB: the .wks "
      "partition's --fixed-size/--size, or the image class's partition size)",
      "Make the partition bigger (the .wks --size/--fixed-size, or the variable the image "
      "class sizes it from, e.g. a storage/partition size setting), or make the image smaller",
      "ERROR: Actual rootfs size (17273 kB) is larger than allowed size 16384 kB",
      ("is larger than allowed size", "than its allowed size"), family="log.image-too-big",
      phase="build",
      fields=lambda g, c: {"what": f"partition {g['part']}" if g.get("part") else "rootfs",
                           "size": g.get("size") or g.get("size2"),
                           "max": g.get("max") or g.get("max2")}),
    # a kernel or an image that outgrew its flash/partition size, said in words
    # (kernel.bbclass's KERNEL_IMAGE_MAXSIZE check; layers' image classes such as
    # openbmc's static flash layout: "Image '%s' is too large!")
    P("log.image-too-big.device", "the image size exceeds its configured maximum", "error", 3,
      r"(?P<msg>All kernel images are too big for your device|This kernel (?P<kt>\S+) \(size="
      r"\S+ > \S+\) is too big for your device|Image '(?P<img>[^']+)' is too large!?"
      r"(?:.*?maxsize=(?P<max>\d+),imgsize=(?P<size>\d+))?)",
      "{what} is bigger than the space its flash/partition layout gives it ({msg})",
      "Make it smaller (a kernel: more drivers as modules, fewer built-in features; an image: "
      "fewer packages, a smaller initramfs) or raise the size limit (KERNEL_IMAGE_MAXSIZE, the "
      "machine's flash/partition layout)",
      "ERROR: img-1.0-r0 do_generate_static: Image '/d/fitImage-img' is too large! "
      "start_kb=512,finish_kb=4864,maxsize=4456448,imgsize=4584800",
      ("too big for your device", "is too large!"), family="log.image-too-big", phase="build",
      fields=lambda g, c: {"what": (f"the image {g['img']}" if g.get("img") else
                                    f"the kernel {g['kt']}" if g.get("kt") else "the kernel"),
                           "msg": g["msg"][:160]}),
    # a layer's copy of a wic source plugin that lags the wic calling it: the
    # plugin's do_* method (wic/pluginbase.py SourcePlugin) rejects an argument
    P("log.wic.plugin", "wic could not assemble the disk image", "error", 3,
      r"(?:File \"(?P<file>[^\"]*/wic/plugins/source/[^\"]+\.py)\"[\s\S]*?)?"
      r"(?P<exc>\w+Error): (?P<cls>\w+Plugin)\.(?P<meth>do_\w+)\(\) (?P<msg>.+)",
      "the wic source plugin {cls} ({file}) does not fit the wic that calls it: its {meth}() "
      "{msg}, so the plugin was written for another release of wic (a layer's own copy of an "
      "oe-core plugin that was not updated)",
      "Update the layer's plugin to the signature of the same plugin in this oe-core "
      "(scripts/lib/wic/plugins/source/), or use a layer release made for this Yocto release",
      "TypeError: BootimgPartitionPlugin.do_prepare_partition() got an unexpected keyword "
      "argument 'sector_size'", ("Plugin.do_",), family="log.wic", phase="build",
      fields=lambda g, c: {"file": g.get("file") or "a layer's scripts/lib/wic/plugins/source/"
                           "*.py"}),
    P("log.image-fs-full", "the image's filesystem is too small for its files", "error", 3,
      r"Could not allocate block in ext\d filesystem|(?P<tool>mkfs\.\w+|mke2fs|e2fsdroid|"
      r"mkdosfs|mcopy|mksquashfs|populate_fs)\S*:? .*(?:No space left on device|[Nn]o free "
      r"space|Could not allocate|Disk full)",
      "the filesystem made for the image is smaller than the files put in it (the rootfs "
      "grew, or a fixed size: IMAGE_ROOTFS_SIZE, a wic partition --size / --fixed-size, or "
      "an extra-space setting too low)",
      "Raise IMAGE_ROOTFS_EXTRA_SPACE / IMAGE_ROOTFS_SIZE (KiB) or the wks partition's "
      "--size/--extra-space, or make the image smaller",
      "| mkfs.ext4: Could not allocate block in ext2 filesystem while populating file system",
      ("Could not allocate", "No space left on device", "o free space", "Disk full"),
      phase="build"),
    P("log.wic", "wic could not assemble the disk image", "error", 2,
      r"_exec_cmd: (?P<cmd>.+?) returned '(?P<rc>\d+)' instead of 0|"
      r"(?P<msg>(?:" + "|".join(re.escape(k) for k in WIC if k != "_exec_cmd:") + r").*)",
      "wic failed{what} (the .wks file, a missing boot file in DEPLOY_DIR_IMAGE, or a tool "
      "it runs)", "Fix what wic names: the .wks (WKS_FILE), the files its source plugins "
      "need (IMAGE_BOOT_FILES, do_image_wic[depends]), or the partition sizes",
      "ERROR: _exec_cmd: install -m 0644 -D /x/Image /y/hdddir/Image returned '1' instead of 0",
      WIC, phase="build", gate=("ERROR: ", "_exec_cmd:", "WicError"),
      fields=lambda g, c: {"what": (f": {g['cmd']} exited with {g['rc']}" if g.get("cmd") else
                                    f": {g['msg'].strip()}" if g.get("msg") else "")},
      sources=tuple(S("oe-core", "scripts/lib/wic", k, "_exec_cmd: ls returned '1' instead of 0"
                      if k == "_exec_cmd:" else "") for k in WIC)),
    P("log.sysroot-conflict", "two recipes install the same file in a shared area", "error", 3,
      r"The file (?P<file>\S+) is installed by both (?P<a>\S+) and (?P<b>\S+), aborting|"
      r"(?:The )?[Rr]ecipe (?P<r>\S+) is trying to install files into a shared area when "
      r"those files already exist|"
      r"The build has stopped,? as continuing in this scenario WILL break things",
      "{what}", "{how}",
      "ERROR: foo-1.0-r0 do_prepare_recipe_sysroot: The file /usr/include/x.h is installed by "
      "both bar and baz, aborting", ("is installed by both", "into a shared area",
                                      "continuing in this scenario WILL"),
      phase="build",
      fields=lambda g, c: (
          {"what": f"{g['a']} and {g['b']} both put {g['file']} in the recipe sysroot",
           "how": f"Keep {g['file']} in one of the recipes (or PROVIDES/PREFERRED_PROVIDER so "
                  "only one is used)"} if g.get("file") else
          {"what": f"{g.get('r') or 'a recipe'} installs files that another recipe already put in the shared "
                   "area (deploy dir or sysroot): two recipes provide them, or a renamed "
                   "recipe left stale files",
           "how": "Remove the file from one recipe; for stale files, bitbake -c cleansstate "
                  "the other recipe (the manifests are listed below the error)"})),
    P("log.sstate-manifest-missing", "a dependency's sstate manifest is missing", "error", 3,
      r"The sstate manifest for task '(?P<recipe>[^':]+):(?P<task>[\w-]+)' \(multilib variant "
      r"'[^']*'\) could not be found",
      "this task needs what {recipe}'s {task} put in the sysroot, but tmp/sstate-control has "
      "no manifest of it for any of the package architectures considered: {recipe} was not "
      "built for this MACHINE's architectures (its PACKAGE_ARCH changed, it was renamed or "
      "skipped), or tmp was partly deleted or shared with another build",
      "bitbake -c cleansstate {recipe} and rebuild; if its PACKAGE_ARCH is not among the "
      "pkgarchs listed, fix the recipe (or the MACHINE); if that does not help, delete tmp "
      "(keep sstate-cache and downloads) and rebuild",
      "ERROR: img-1.0-r0 do_prepare_recipe_sysroot: The sstate manifest for task 'foo:"
      "populate_sysroot' (multilib variant '') could not be found.",
      ("The sstate manifest for task",), phase="build"),
    P("log.uninative", "uninative is not usable", "error", 3,
      r"Uninative selected but not configured(?: correctly)?, please set (?P<var>\S+)|"
      r"Disabling uninative as unable to (?P<what>fetch|install) uninative tarball",
      "uninative (the prebuilt glibc that makes -native sstate reusable across hosts) "
      "{why}", "{how}",
      "ERROR: Uninative selected but not configured correctly, please set "
      "UNINATIVE_CHECKSUM[aarch64]", ("Uninative selected", "Disabling uninative"),
      phase="parse",
      fields=lambda g, c: (
          {"why": f"is inherited but {g['var']} is not set for this build host's architecture",
           "how": "Use a distro that configures uninative for your host architecture (poky's "
                  "uninative.inc has x86_64, i686, aarch64), or remove INHERIT += "
                  "\"uninative\""} if g.get("var") else
          {"why": f"could not be {g.get('what')}ed (a network/proxy problem or a checksum "
                  "mismatch), so -native builds use the host's libc",
           "how": "Check the fetch error above it; pre-fill DL_DIR/uninative, or fix the "
                  "network"})),
)

SOURCES = {
    "log.rootfs-file-conflict": (
        S("host", "rpm/dnf", "file %s from install of %s conflicts with file from package %s",
          "file /usr/bin/foo from install of foo-1.0-r0.armv8a conflicts with file from "
          "package bar-1.0-r0.armv8a"),
        S("host", "opkg", "Package %s wants to install file %s",
          " * check_data_file_clashes: Package foo wants to install file /usr/bin/foo"),
        S("host", "opkg libopkg/opkg_install.c", "Package %s wants to install file %s\n\tBut "
          "that file is already provided by package  * %s",
          "check_data_file_clashes: Package foo wants to install file\n\n/r/usr/bin/foo\n\n"
          "But that file is already provided by package  * bar")),
    "log.rootfs-unresolvable": (
        S("oe-core", _PM + "rpm/__init__.py", "dnf could not find package %s in repository: %s"),
        S("host", "dnf", "nothing provides %s needed by %s"),
        S("host", "libsolv src/problems.c", "package %s requires %s, but none of the providers "
          "can be installed", "Error: \n Problem: package foo-1.0-r0.armv8a requires libbar.so.1"
          ", but none of the providers can be installed"),
        S("host", "rpm lib/rpmprob.c", "%s is needed by %s",
          "error: Failed dependencies:\n\teglibc >= 2.12 is needed by libgcc1-4.5.1-r0.armv5te"),
        S("host", "opkg", "Cannot satisfy the following dependencies for %s:",
          " * satisfy_dependencies_for: Cannot satisfy the following dependencies for foo:")),
    "log.rootfs-postinst": (
        S("oe-core", _PM + "__init__.py", "Postinstall scriptlets of %s have failed.",
          "Postinstall scriptlets of ['foo'] have failed."),
        S("oe-core", "meta/lib/oe/rootfs.py", "The following packages could not be configured "
          "offline and rootfs is read-only: %s"),
        S("oe-core", _PM + "__init__.py", "The postinstall intercept hook '%s' failed, details "
          "in %s/log.do_%s")),
    "log.image-too-big": (
        S("oe-core", "meta/classes-recipe/image.bbclass",
          "The rootfs size %d(K) exceeds IMAGE_ROOTFS_MAXSIZE: %d(K)"),
        S("oe-core", "meta/classes-recipe/image.bbclass",
          "The initramfs size %d(K) exceeds INITRAMFS_MAXSIZE: %d(K)"),
        S("oe-core", "meta/classes/image.bbclass",
          "The initramfs size %d(K) overrides INITRAMFS_MAXSIZE: %d(K)", ref="yocto-2.5")),
    "log.image-too-big.device": (
        S("oe-core", "meta/classes-recipe/kernel.bbclass",
          "All kernel images are too big for your device."),
        S("host", "openbmc meta-phosphor/classes/image_types_phosphor.bbclass",
          "Image '%s' is too large!", "Image '/d/fitImage-img' is too large! start_kb=512,"
          "finish_kb=4864,maxsize=4456448,imgsize=4584800")),
    "log.wic.plugin": (
        S("oe-core", "scripts/lib/wic/pluginbase.py",
          "def do_prepare_partition(cls, part, source_params, creator, cr_workdir,",
          "TypeError: BootimgPartitionPlugin.do_prepare_partition() got an unexpected keyword "
          "argument 'sector_size'"),),
    "log.image-too-big.wic": (
        S("oe-core", "scripts/lib/wic/partition.py",
          "Actual rootfs size (%d kB) is larger than allowed size %d kB"),
        S("oe-core", "scripts/lib/wic/partition.py",
          "File system image of partition %s is larger (%d kB) than its allowed size %d kB")),
    "log.sstate-manifest-missing": (
        S("oe-core", "meta/lib/oe/sstatesig.py", "The sstate manifest for task '%s:%s' "
          "(multilib variant '%s') could not be found.", "The sstate manifest for task "
          "'foo:populate_sysroot' (multilib variant '') could not be found."),),
    "log.image-fs-full": (S("host", "mkfs.ext4/e2fsprogs", "Could not allocate block in ext2 "
                            "filesystem while populating file system"),),
    "log.sysroot-conflict": (
        S("oe-core", "meta/classes-global/staging.bbclass",
          "The file %s is installed by both %s and %s, aborting"),
        S("oe-core", "meta/classes-global/sstate.bbclass", "Recipe %s is trying to install files "
          "into a shared area when those files already exist.", "Recipe foo is trying to "
          "install files into a shared area when those files already exist."),
        S("oe-core", "meta/classes/sstate.bbclass", "The build has stopped, as continuing in "
          "this scenario WILL break things", ref="yocto-2.5")),
    "log.uninative": (
        S("oe-core", "meta/classes-global/uninative.bbclass", "Uninative selected but not "
          "configured correctly, please set UNINATIVE_CHECKSUM[%s]"),
        S("oe-core", "meta/classes-global/uninative.bbclass", "Disabling uninative as unable "
          "to fetch uninative tarball: %s")),
    "log.rootfs-error": (S("oe-core", "meta/lib/oe/rootfs.py", "No kernel-abiversion file found "
                           "(%s), cannot run depmod, aborting"),
                         S("oe-core", "meta/lib/oe/rootfs.py",
                           "Kernel modules dependency generation failed")),
}

PATTERNS = attach(PATTERNS, SOURCES)
