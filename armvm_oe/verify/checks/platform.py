"""VM platform: the guest kernel's configuration against the kernel
requirements (GUEST-*), and where that kernel and its configuration come
from (grub.cfg's default entry, IKCONFIG, /boot/config-*)."""

from __future__ import annotations

import struct

from armvm_oe import kconfig, requirements
from armvm_oe.image import Ext4Error, FatError
from armvm_oe.verify.checks.context import MAX_KERNEL, Context, cmdline_value
from armvm_oe.verify.model import Finding


def _kernel_arch(blob: bytes) -> str | None:
    if len(blob) >= 0x40 and blob[0x38:0x3C] == b"ARM\x64":
        return "aarch64"
    if len(blob) >= 0x28 and struct.unpack_from("<I", blob, 0x24)[0] == 0x016F2818:
        return "arm"
    return None



def _config_from_root(ctx: Context, release: str | None) -> tuple[str | None, str | None]:
    root = ctx.root()
    if root is None:
        return None, None
    try:
        names = [e.name for e in root.listdir("/boot") if e.name.startswith("config-")]
    except (FileNotFoundError, Ext4Error):
        return None, None
    if not names:
        return None, None
    if release and f"config-{release}" in names:
        pick = f"config-{release}"
    elif len(names) == 1:
        pick = names[0]
    else:
        pick = None          # several configs and no release to choose by
    if pick is None:
        return None, None
    try:
        return root.read(f"/boot/{pick}", 8 << 20).decode("utf-8", "replace"), f"root:/boot/{pick}"
    except (FileNotFoundError, Ext4Error):
        return None, None


KERNEL_NAMES = ("Image", "zImage", "vmlinuz", "Image.gz")


def _fallback_kernel(ctx: Context) -> None:
    """No kernel from grub.cfg: take a lone well-known kernel file from the
    ESP's root directory (arch detection and IKCONFIG only)."""
    if ctx.esp_fs is None or getattr(ctx, "_kernel_blob", None) is not None:
        return
    try:
        names = [e for e in ctx.esp_fs.listdir("/") if not e.is_dir and
                 (e.name in KERNEL_NAMES or e.name.startswith("vmlinuz-"))]
        if len(names) == 1 and names[0].size <= MAX_KERNEL:
            ctx._kernel_blob = ctx.esp_fs.read(names[0])  # type: ignore[attr-defined]
            ctx.kernel["path"] = f"esp:/{names[0].name}"
    except FatError:
        return


def _arch_from_config(cfg: kconfig.KConfig) -> str | None:
    if cfg.value("ARM64") == "y":
        return "aarch64"
    if cfg.value("ARM") == "y":
        return "arm"
    return None


def load_kernel_config(ctx: Context) -> tuple[kconfig.KConfig | None, str]:
    """The kernel configuration and where it came from, or (None, why not)."""
    cfg, source = _load_kernel_config(ctx)
    if cfg is not None and ctx.arch is None:
        a = _arch_from_config(cfg)
        if a:
            ctx.arch, ctx.arch_source = a, "kernel"
    return cfg, source


def _load_kernel_config(ctx: Context) -> tuple[kconfig.KConfig | None, str]:
    if ctx.grub_cfg is None:
        _fallback_kernel(ctx)
    blob = getattr(ctx, "_kernel_blob", None)
    release = None
    if blob is not None:
        info = kconfig.inspect_kernel(blob)
        release = info.release
        ctx.kernel.update(release=info.release, compression=info.compression)
        if ctx.arch is None:
            a = _kernel_arch(blob)
            if a:
                ctx.arch, ctx.arch_source = a, "kernel"
    if ctx.kernel_config is not None:
        data = ctx.kernel_config.read_bytes()
        if kconfig.looks_like_config(data):
            ctx.kernel["config_source"] = f"--kernel-config {ctx.kernel_config}"
            return kconfig.parse_config(data.decode("utf-8", "replace")), \
                f"--kernel-config {ctx.kernel_config}"
        text = kconfig.inspect_kernel(data).config_text
        if text:
            ctx.kernel["config_source"] = f"IKCONFIG of {ctx.kernel_config}"
            return kconfig.parse_config(text), f"IKCONFIG of {ctx.kernel_config}"
        return None, f"{ctx.kernel_config} is neither a .config nor a kernel with IKCONFIG"
    if blob is not None:
        if info.config_text:
            ctx.kernel["config_source"] = "IKCONFIG"
            return kconfig.parse_config(info.config_text), f"IKCONFIG of {ctx.kernel['path']}"
    text, where = _config_from_root(ctx, release)
    if text:
        ctx.kernel["config_source"] = where
        return kconfig.parse_config(text), where
    why = []
    if blob is None:
        why.append("the kernel named by grub.cfg was not found" if ctx.grub_cfg
                   else "no kernel was located (no GRUB config)")
    else:
        why.append(f"the kernel {ctx.kernel['path']} has no embedded IKCONFIG"
                   + (f" ({info.note})" if info.note else ""))
    if ctx._root_error:
        why.append(f"no /boot/config-* could be read ({ctx._root_error})")
    else:
        why.append("the root filesystem has no matching /boot/config-*"
                   + (f" (kernel release {release})" if release else ""))
    return None, "; ".join(why)


def kernel_config(ctx: Context) -> list[Finding]:
    cfg, source = load_kernel_config(ctx)
    kreqs = [r for r in requirements.REQUIREMENTS if r.kconfig]
    if ctx.arch is None:
        return [Finding(r.id, "kconfig", "unknown",
                        "the architecture is unknown (no boot application or kernel header "
                        "says), so the kernel requirements cannot be chosen",
                        "Pass --arch aarch64 or --arch arm") for r in kreqs]
    kreqs = [r for r in kreqs if r.options(ctx.arch)]
    if cfg is None:
        return [Finding(r.id, "kconfig", "unknown",
                        f"no kernel configuration: {source}",
                        "Enable CONFIG_IKCONFIG in the kernel, ship /boot/config-<release>, or "
                        "pass --kernel-config FILE") for r in kreqs]
    out = []
    found = kconfig.audit(cfg, ctx.arch)
    for r in kreqs:
        fs = [f for f in found if f.req_id == r.id]
        bad = [f for f in fs if f.result != "pass"]
        mods = [f.option for f in fs if f.result == "pass" and f.value == "m"]
        details = {"source": source,
                   "options": {f.option: f.value for f in fs},
                   "modules": mods}
        if bad:
            result = "fail" if any(f.result == "fail" for f in bad) else "warn"
            unset = [f.option for f in bad if f.value != "m"]
            asmod = [f.option for f in bad if f.value == "m"]
            parts = []
            if unset:
                parts.append("not set: " + ", ".join(unset))
            if asmod:
                parts.append("=m but needed built in: " + ", ".join(asmod))
            reason = f"{r.title}: " + "; ".join(parts)
            fix = ("Set " + ", ".join(f"{o}=y" for o in unset + asmod) +
                   " in the kernel configuration (a config fragment; meta-armvm's kernel "
                   "fragments do this)")
            if r.id == "GUEST-HOTPLUG" and ctx.arch == "arm" and "CONFIG_HOTPLUG_PCI" in unset:
                reason += " (this kernel cannot hot-plug PCIe devices)"
            out.append(Finding(r.id, "kconfig", result, f"{reason} [{source}]", fix, details))
        else:
            note = f" ({len(mods)} as modules: {', '.join(mods)}; the initramfs must load " \
                   "them)" if mods else ""
            out.append(Finding(r.id, "kconfig", "pass",
                               f"{len(fs)} options set{note} [{source}]", "", details))
    return out


def console_finding(entries: list, found: bool) -> Finding:
    """GUEST-NO-CONSOLE-ARG from the menu entries' ``linux`` lines: the FDT's
    stdout-path picks the console, a hard-coded console= is a warning."""
    consoles = []
    for e in entries:
        for c in cmdline_value(e.linux[1:] if e.linux else [], "console"):
            consoles.append(f"console={c} (menuentry {e.title!r})")
    if not found:
        return Finding("GUEST-NO-CONSOLE-ARG", "console-arg", "unknown",
                       "GRUB's config was not found")
    if consoles:
        return Finding("GUEST-NO-CONSOLE-ARG", "console-arg", "warn",
                       "the kernel command line hard-codes " + "; ".join(consoles[:4]) +
                       ": on a hypervisor with another console (hvc0 under Xen) the boot "
                       "log goes nowhere",
                       "Drop console=: the FDT's stdout-path (chosen node) picks the console")
    return Finding("GUEST-NO-CONSOLE-ARG", "console-arg", "pass",
                   "no console= on the kernel command line")
