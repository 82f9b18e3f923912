# SPDX-License-Identifier: MIT
#
# meta-armvm: the 'armvm_efi' wic source plugin.
#
# The stock EFI plugin ('bootimg-efi' up to walnascar, 'bootimg_efi' from
# whinlatter on) runs mkdosfs without -F 32 and ignores --mkfs-extraopts, so
# the FAT type depends on the partition size (FAT16 below ~520 MiB).  The
# ARM VM System Specification wants a FAT32 ESP (IMG-ESP-FAT32).  This plugin
# delegates everything to whichever stock plugin the running wic has (found
# by name through wic's own plugin manager), then:
#   - refuses a 'dtb=' source parameter and checks the generated grub.cfg has
#     no devicetree line (HW-FDT), no console= (GUEST-NO-CONSOLE-ARG) and a
#     root=PARTUUID= root (IMG-GRUB);
#   - names the boot application EFI/BOOT/BOOTAA64.EFI / BOOTARM.EFI in upper
#     case (IMG-REMOVABLE-PATH) and fails if it is missing;
#   - re-creates the ESP image with 'mkdosfs -F 32 -S 512 -s 1' and checks
#     the result is FAT32 by cluster count, as the FAT specification decides;
#   - makes the same bytes twice from the same inputs when SOURCE_DATE_EPOCH
#     is set (bitbake exports it to do_image_wic): every partition UUID and
#     filesystem UUID / FAT volume serial the wks does not give is derived
#     from it (wic draws them from uuid4() otherwise), the ESP's files get it
#     as their time, and mkdosfs runs with --invariant (its volume label
#     entry would carry the wall-clock time).  wic itself already derives
#     the GPT disk GUID, the MBR identifier and the ext4 times and hash seed
#     from SOURCE_DATE_EPOCH.
# The file and plugin name use an underscore so every wic plugin loader
# accepts it.

import glob
import logging
import os
import re
import struct
import sys
import uuid

from wic import WicError
from wic.ksparser import KickStart, KickStartError
from wic.pluginbase import PluginMgr, SourcePlugin
from wic.misc import exec_cmd, exec_native_cmd, get_bitbake_var

logger = logging.getLogger('wic')

STOCK_NAMES = ('bootimg_efi', 'bootimg-efi')
SECTOR = 512
# FAT32 needs at least 65525 clusters; at 1 sector per cluster plus the
# reserved sectors and two FATs that is a little over 33 MiB.
MIN_FAT32_KIB = 36 * 1024


def stock_plugin():
    plugins = PluginMgr.get_plugins('source') or {}
    for name in STOCK_NAMES:
        if name in plugins:
            return plugins[name]
    raise WicError("armvm_efi: neither of the stock EFI plugins %s is available in "
                   "this wic (found: %s)" % (", ".join(STOCK_NAMES), ", ".join(sorted(plugins))))


def fat_type(image_path):
    """Return ('FAT12'|'FAT16'|'FAT32', clusters) from the boot sector.

    The type is decided by the count of data clusters (Microsoft FAT spec),
    never by the BS_FilSysType label."""
    with open(image_path, 'rb') as f:
        bs = f.read(512)
    if len(bs) < 512 or bs[510:512] != b'\x55\xaa':
        raise WicError("armvm_efi: %s has no FAT boot sector signature" % image_path)
    byts, = struct.unpack_from('<H', bs, 11)
    spc = bs[13]
    rsvd, = struct.unpack_from('<H', bs, 14)
    nfats = bs[16]
    root_ents, = struct.unpack_from('<H', bs, 17)
    tot16, = struct.unpack_from('<H', bs, 19)
    fatsz16, = struct.unpack_from('<H', bs, 22)
    tot32, = struct.unpack_from('<I', bs, 32)
    fatsz32, = struct.unpack_from('<I', bs, 36)
    if not byts or not spc:
        raise WicError("armvm_efi: %s has an invalid BPB" % image_path)
    root_secs = ((root_ents * 32) + (byts - 1)) // byts
    fatsz = fatsz16 or fatsz32
    total = tot16 or tot32
    data = total - (rsvd + nfats * fatsz + root_secs)
    clusters = data // spc
    if clusters < 4085:
        return 'FAT12', clusters
    if clusters < 65525:
        return 'FAT16', clusters
    return 'FAT32', clusters


def removable_name(target_sys):
    """The UEFI removable-media file name for an Arm TARGET_SYS (IMG-REMOVABLE-PATH).

    TARGET_SYS is one of the variables wic receives (WICVARS); EFI_BOOT_IMAGE
    is not defined for image recipes."""
    if target_sys.startswith('aarch64'):
        return 'BOOTAA64.EFI'
    if target_sys.startswith('arm'):
        return 'BOOTARM.EFI'
    return ''


def check_grub_cfg(text):
    """Problems with a grub.cfg for a portable VM image ([] when fine)."""
    problems = []
    for line in text.splitlines():
        words = line.split('#', 1)[0].split()
        if not words:
            continue
        if words[0] == 'devicetree':
            problems.append("HW-FDT: 'devicetree' line replaces the firmware's FDT: %s" % line.strip())
        if words[0] == 'linux':
            if any(w.startswith('console=') for w in words[2:]):
                problems.append("GUEST-NO-CONSOLE-ARG: console= on the kernel line: %s" % line.strip())
            if not any(w.startswith('root=PARTUUID=') for w in words[2:]):
                problems.append("IMG-GRUB: the root is not found by root=PARTUUID= "
                                "(add --use-uuid to the / partition): %s" % line.strip())
    return problems


def source_date_epoch():
    value = os.getenv('SOURCE_DATE_EPOCH')
    return int(value) if value and value.isdigit() else None


def _wks_given(partitions):
    """[(uuid given, fsuuid given)] per partition, from the wks file on wic's
    command line ('wic create WKS ...'): wic fills in the ones it was not
    given before any plugin runs.  None when the file cannot be read again."""
    args = sys.argv[1:]
    if 'create' not in args or args.index('create') + 1 >= len(args):
        return None
    path = args[args.index('create') + 1]
    if not os.path.isfile(path):
        return None
    try:
        parts = KickStart(path).partitions
    except KickStartError:
        return None
    if len(parts) != len(partitions):
        return None
    return [(bool(p.uuid), bool(p.fsuuid)) for p in parts]


def derived_id(epoch, kind, num, fstype=None):
    """A UUID (or for FAT a 0xXXXXXXXX volume serial) from SOURCE_DATE_EPOCH,
    the partition number and what it identifies: the same inputs give the
    same disk, different partitions different ids."""
    value = uuid.uuid5(uuid.UUID(int=epoch), "armvm-%s-%d" % (kind, num))
    if kind == 'fsuuid' and fstype in ('vfat', 'msdos'):
        return '0x' + value.hex[:8].upper()
    return str(value)


def reproducible_ids(partitions, epoch, given=None):
    """Replace the partition and filesystem UUIDs wic drew at random with
    ones derived from ``epoch``; ``given`` (see _wks_given) keeps the wks's
    own values (None: the wks could not be read, every id is derived)."""
    for i, part in enumerate(partitions):
        uuid_given, fsuuid_given = given[i] if given else (False, False)
        num = part.realnum if part.realnum is not None else i + 1
        if part.uuid and part.use_uuid and not uuid_given:
            part.uuid = derived_id(epoch, 'partuuid', num)
        if part.fsuuid and not fsuuid_given:
            part.fsuuid = derived_id(epoch, 'fsuuid', num, part.fstype)


def set_times(top, epoch):
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            os.utime(os.path.join(root, name), (epoch, epoch), follow_symlinks=False)
    os.utime(top, (epoch, epoch))


class ArmvmEfiPlugin(SourcePlugin):
    """EFI System Partition for ARM VM System Specification images: the
    stock EFI plugin's content, FAT32 by explicit choice, checked."""

    name = 'armvm_efi'

    @classmethod
    def do_configure_partition(cls, part, source_params, creator, cr_workdir, *args, **kwargs):
        source_params.setdefault('loader', 'grub-efi')
        if source_params.get('dtb'):
            raise WicError("armvm_efi: 'dtb=%s' would put a devicetree line in grub.cfg; the VM's "
                           "firmware provides the FDT (HW-FDT)" % source_params['dtb'])
        epoch = source_date_epoch()
        parts = getattr(creator, 'parts', None)
        if epoch is not None and parts:
            # before the stock plugin writes root=PARTUUID= into grub.cfg and
            # before any partition is formatted
            reproducible_ids(parts, epoch, _wks_given(parts))
            if not getattr(creator, 'no_fstab_update', True) and hasattr(creator, 'update_fstab'):
                # wic wrote its fstab (UUID=/PARTUUID=) from the drawn ids
                # already; it re-reads the rootfs's own fstab each time
                creator.update_fstab(creator.rootfs_dir.get("ROOTFS_DIR"))
        stock_plugin().do_configure_partition(part, source_params, creator, cr_workdir,
                                              *args, **kwargs)
        cfg = os.path.join(cr_workdir, 'hdd', 'boot', 'EFI', 'BOOT', 'grub.cfg')
        if source_params['loader'] == 'grub-efi' and os.path.exists(cfg):
            with open(cfg) as f:
                problems = check_grub_cfg(f.read())
            if problems:
                raise WicError("armvm_efi: grub.cfg is not portable:\n  " + "\n  ".join(problems))

    @classmethod
    def do_prepare_partition(cls, part, source_params, creator, cr_workdir, oe_builddir,
                             bootimg_dir, kernel_dir, rootfs_dir, native_sysroot):
        stock_plugin().do_prepare_partition(part, source_params, creator, cr_workdir, oe_builddir,
                                            bootimg_dir, kernel_dir, rootfs_dir, native_sysroot)
        hdddir = os.path.join(cr_workdir, 'hdd', 'boot')
        bootdir = os.path.join(hdddir, 'EFI', 'BOOT')
        if not os.path.isdir(bootdir):
            raise WicError("armvm_efi: the stock plugin left no %s" % bootdir)

        # IMG-REMOVABLE-PATH: upper-case removable-media names.
        for path in glob.glob(os.path.join(bootdir, '*')):
            base = os.path.basename(path)
            if re.fullmatch(r'boot[a-z0-9]+\.efi', base, re.IGNORECASE) and base != base.upper():
                os.rename(path, os.path.join(bootdir, base.upper()))
        expected = removable_name(get_bitbake_var('TARGET_SYS') or '')
        if not expected:
            raise WicError("armvm_efi: TARGET_SYS %r is not an Arm target"
                           % get_bitbake_var('TARGET_SYS'))
        if not os.path.exists(os.path.join(bootdir, expected)):
            raise WicError("armvm_efi: EFI/BOOT/%s is missing (is %s deployed in %s?)"
                           % (expected, get_bitbake_var('EFI_PROVIDER') or 'the EFI provider',
                              kernel_dir))

        # IMG-ESP-FAT32: rebuild the ESP as FAT32.
        kib = int(exec_cmd("du -bks %s" % hdddir).split()[0])
        kib = max(kib + kib // 10 + 1024, part.size or 0, part.fixed_size or 0, MIN_FAT32_KIB)
        if part.fixed_size and kib > part.fixed_size:
            raise WicError("armvm_efi: the ESP content needs %d KiB, more than --fixed-size" % kib)
        bootimg = os.path.join(cr_workdir, 'boot.img')
        if os.path.exists(bootimg):
            os.remove(bootimg)
        label = part.label if part.label else 'ESP'
        fsuuid = ("-i %s " % part.fsuuid) if part.fsuuid else ""
        epoch = source_date_epoch()
        invariant, keep_times = "", ""
        if epoch is not None:
            set_times(hdddir, epoch)
            invariant, keep_times = "--invariant ", "-m "
        exec_native_cmd("mkdosfs %s-F 32 -S %d -s 1 -n %s %s-C %s %d"
                        % (invariant, SECTOR, label, fsuuid, bootimg, kib), native_sysroot)
        exec_native_cmd("mcopy %s-i %s -s %s/* ::/" % (keep_times, bootimg, hdddir), native_sysroot)
        kind, clusters = fat_type(bootimg)
        if kind != 'FAT32':
            raise WicError("armvm_efi: the ESP came out %s (%d clusters), not FAT32" % (kind, clusters))
        logger.info("armvm_efi: ESP is FAT32 (%d clusters, %d KiB)", clusters, kib)
        os.chmod(bootimg, 0o644)
        part.size = kib
        part.source_file = bootimg
