"""Image format, GRUB (IMG-GRUB): every script GRUB runs from its embedded
prefix and early config, fixed disk names, and the files the default entry
loads. What the scripts say about the FDT and the console is judged in
:mod:`.hardware` and :mod:`.platform`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from armvm_oe.image import Ext4Error, FatError, TruncatedImage
from armvm_oe.image.ext4 import Ext4TooLarge
from armvm_oe.verify import grub
from armvm_oe.verify.checks.context import MAX_KERNEL, Context, TooLarge, cmdline_value
from armvm_oe.verify.checks.hardware import devicetree_finding
from armvm_oe.verify.checks.platform import console_finding
from armvm_oe.verify.model import Finding, bad_result

ROOT_DEVICE = re.compile(r"^/dev/((?:sd|vd|xvd|hd)[a-z]+\d*|mmcblk\d+(?:p\d+)?|nvme\d+n\d+(?:p\d+)?)$")


def grub_config(ctx: Context) -> list[Finding]:
    if ctx.removable is None or ctx.efi_data is None:
        why = "no readable boot application, so GRUB's configuration cannot be located"
        return [Finding("IMG-GRUB", "grub-config", "unknown", why),
                Finding("HW-FDT", "devicetree", "unknown", why),
                Finding("GUEST-NO-CONSOLE-ARG", "console-arg", "unknown", why)]
    gi = grub.parse_grub_efi(ctx.efi_data, ctx.pe)
    ctx.grub_image = gi
    if gi is None:
        damaged = grub.mods_section(ctx.pe) is not None
        if damaged:
            why = (f"{ctx.removable.path} has GRUB's 'mods' section but no readable module "
                   "info in it: the module area (modules, early config, prefix) is damaged, "
                   "so GRUB cannot start")
            return [Finding("IMG-GRUB", "grub-modules", "fail", why,
                            "Install a freshly built GRUB EFI binary (grub-mkimage)"),
                    Finding("HW-FDT", "devicetree", "unknown", why),
                    Finding("GUEST-NO-CONSOLE-ARG", "console-arg", "unknown", why)]
        why = (f"{ctx.removable.path} is not GRUB (no embedded module info), so its "
               "configuration is not checked")
        return [Finding("IMG-GRUB", "grub-config", "unknown", why),
                Finding("HW-FDT", "devicetree", "unknown", why),
                Finding("GUEST-NO-CONSOLE-ARG", "console-arg", "unknown", why)]
    walk = _read_grub_configs(ctx, gi)
    cfg = walk.cfg
    ctx.grub_cfg = cfg if walk.main else None
    out: list[Finding] = []
    detail = {"prefix": gi.prefix, "early_config": gi.early_config,
              "locations": walk.locations, "files": cfg.files, "missing": walk.missing,
              "unresolved": cfg.unresolved[:20]}
    if walk.limit:
        why = (f"GRUB's configuration is too large to check: {walk.limit}; a devicetree or "
               "root= line beyond the limit would go unseen")
        return [Finding("IMG-GRUB", "grub-config", "fail", why,
                        "Keep grub.cfg small (a generated grub.cfg is a few KiB)", detail),
                Finding("HW-FDT", "devicetree", "fail", why,
                        "Keep grub.cfg small so it can be checked", detail),
                Finding("GUEST-NO-CONSOLE-ARG", "console-arg", "unknown", why)]
    if walk.errors:
        out.append(Finding("IMG-GRUB", "grub-config-read", "fail",
                           "GRUB config files cannot be read: " + "; ".join(walk.errors[:4]),
                           "Re-create the ESP (mkfs.vfat -F 32) and copy the files again",
                           detail))
    # HW-FDT first: it must not depend on anything below (kernel reads etc.)
    out.append(devicetree_finding(cfg, walk.errors, walk.main is not None))
    entries = cfg.kernel_lines()
    out.append(console_finding(entries, walk.main is not None))
    if not walk.main:
        why = (f"GRUB (prefix {gi.prefix!r}) looks for {', '.join(walk.locations)}, which is "
               "neither on the ESP nor on the root filesystem")
        out.insert(0, Finding("IMG-GRUB", "grub-config", bad_result("IMG-GRUB"), why,
                              "Install grub.cfg where the embedded prefix/early config points "
                              "(\\EFI\\BOOT\\grub.cfg for a removable-media GRUB)", detail))
        return out
    where, path = walk.main
    ctx.grub_cfg_path = path
    detail["config"] = f"{where}:{path}"
    fixed = [loc for loc in walk.locations if grub.fixed_device(grub.split_device(loc)[0])]
    if fixed:
        out.insert(0, Finding("IMG-GRUB", "grub-config", bad_result("IMG-GRUB"),
                              f"GRUB's config location {', '.join(fixed)} names a fixed disk, "
                              "which changes with the hypervisor's disk order",
                              "Let the early config search for the file (search --file) "
                              "instead of naming (hdN,gptM)", detail))
    else:
        out.insert(0, Finding("IMG-GRUB", "grub-config", "pass",
                              f"GRUB's embedded prefix {gi.prefix!r} leads to "
                              f"{path} on the {'ESP' if where == 'esp' else 'root fs'}",
                              "", detail))
    # root= and fixed device names: a FAIL, the disk is named differently on
    # every hypervisor (vda on KVM virtio, xvda on Xen, sda on SCSI)
    bad_roots = []
    for e in entries:
        for r in cmdline_value(e.linux[1:] if e.linux else [], "root"):
            if ROOT_DEVICE.match(r):
                bad_roots.append(f"root={r} (menuentry {e.title!r})")
    for n, v in cfg.root_sets:
        dev, _ = grub.split_device(v if v.startswith("(") else f"({v})")
        if grub.fixed_device(dev):
            bad_roots.append(f"set root={v} (line {n})")
    if bad_roots:
        out.append(Finding("IMG-GRUB", "grub-root-device", "fail",
                           "fixed disk names: " + "; ".join(bad_roots[:6]) + ". The disk is "
                           "vda under virtio-mmio/pci, xvda under Xen, sda under SCSI, so the "
                           "image cannot find its root on another hypervisor (shown by "
                           "'armvm-oe test IMAGE --hypervisor xen --xen-guest domu': as a Xen "
                           "domU such an image stops at 'ALERT! /dev/vda2 does not exist')",
                           "Use root=PARTUUID=<uuid> (wic: --use-uuid) or UUID=/LABEL=, and "
                           "'search --fs-uuid/--file --set=root' in GRUB"))
    elif entries:
        out.append(Finding("IMG-GRUB", "grub-root-device", "pass",
                           "no fixed disk names (root= uses PARTUUID/UUID/LABEL or is absent)"))
    out.extend(_boot_files(ctx, cfg, path))
    return out


@dataclass
class _GrubWalk:
    cfg: grub.GrubConfig
    locations: list[str]
    main: tuple[str, str] | None = None      # (where, path) of the first config read
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    limit: str | None = None


def _read_grub_configs(ctx: Context, gi: grub.GrubImage) -> _GrubWalk:
    """Every script GRUB runs, in order: the early config, then each file a
    configfile/source command names (bounded in files, depth and bytes)."""
    cfg = grub.GrubConfig()
    if gi.prefix is not None:
        cfg.variables["prefix"] = gi.prefix
    walk = _GrubWalk(cfg, [])
    try:
        cfg.add_script(gi.early_config or "", "(early config)")
        if not cfg.loads:      # no configfile: normal mode reads $prefix/grub.cfg
            prefix = cfg.variables.get("prefix", gi.prefix or "")
            cfg.loads.append(("(early config)", 0, prefix.rstrip("/") + "/grub.cfg", 1))
        walk.locations = [p for _, _, p, _ in cfg.loads]
        seen: set[str] = set()
        i = 0
        while i < len(cfg.loads):
            src, line, loc, depth = cfg.loads[i]
            i += 1
            dev, path = grub.split_device(loc)
            if "$" in path:
                cfg.unresolved.append(f"{src} line {line}: loads {loc}")
                continue
            if path in seen:
                continue
            seen.add(path)
            if depth > grub.MAX_DEPTH or len(cfg.files) > grub.MAX_FILES:
                raise grub.GrubLimit(f"configfile/source nest deeper than {grub.MAX_DEPTH} "
                                     f"levels or load more than {grub.MAX_FILES} files")
            try:
                data, where = ctx.find_file(path, grub.MAX_CONFIG_BYTES)
            except (FatError, Ext4Error, TruncatedImage) as err:
                if isinstance(err, (TooLarge, Ext4TooLarge)):
                    raise grub.GrubLimit(str(err)) from None
                walk.errors.append(f"{path}: {err}")
                continue
            if data is None:
                walk.missing.append(path)
                continue
            if walk.main is None:
                walk.main = (where or "esp", path)
            cfg.add_script(data.decode("utf-8", "replace"), path, depth)
    except grub.GrubLimit as err:
        walk.limit = str(err)
    return walk


def _boot_files(ctx: Context, cfg: grub.GrubConfig, cfg_path: str) -> list[Finding]:
    default = cfg.default_entry()
    if default is None:
        return [Finding("IMG-GRUB", "grub-boot-files", bad_result("IMG-GRUB"),
                        f"{cfg_path} has no linux line, so GRUB boots no kernel",
                        "Add a menuentry with 'linux' and 'initrd' lines")]
    missing, unreadable = [], []
    checked = 0
    files = [default.linux[0]] + default.initrd if default.linux else default.initrd
    for i, f in enumerate(files):
        dev, path = grub.split_device(f)
        if "$" in path:
            continue
        try:
            if i == 0:
                data, where_k = ctx.find_file(path, MAX_KERNEL)
                if data is not None:
                    ctx.kernel_path, ctx.kernel_where = path, where_k
                    ctx.kernel["path"] = f"{where_k}:{path}"
                    ctx._kernel_blob = data      # type: ignore[attr-defined]
                exists = data is not None
            else:
                exists = _exists(ctx, path)
        except (FatError, Ext4Error, TruncatedImage) as err:
            unreadable.append(f"{f}: {err}")
            continue
        checked += 1
        if not exists:
            missing.append(f)
    out = []
    if unreadable:
        out.append(Finding("IMG-GRUB", "grub-boot-files", "fail",
                           f"the default entry {default.title!r} names files that cannot be "
                           "read, so GRUB cannot load them: " + "; ".join(unreadable[:4]),
                           "Re-create the ESP (mkfs.vfat -F 32) and copy the files again"))
    if missing:
        out.append(Finding("IMG-GRUB", "grub-boot-files", bad_result("IMG-GRUB"),
                           f"the default entry {default.title!r} names files that are in "
                           f"neither the ESP nor the root fs: {', '.join(missing)}",
                           "Install the kernel/initramfs where grub.cfg says, or fix the "
                           "paths"))
    elif not unreadable:
        out.append(Finding("IMG-GRUB", "grub-boot-files", "pass",
                           f"default entry {default.title!r}: kernel and initrd present "
                           f"({checked} files)"))
    return out


def _exists(ctx: Context, path: str) -> bool:
    if ctx.esp_fs is not None:
        try:
            e = ctx.esp_fs.lookup(path)
            if e is not None and not e.is_dir:
                return True
        except FatError:
            pass
    root = ctx.root()
    return root is not None and root.exists(path)

