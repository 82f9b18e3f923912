"""Image format, the boot application: the removable-media path
(IMG-REMOVABLE-PATH) and the PE/COFF image the firmware loads from it
(IMG-EFI-APP)."""

from __future__ import annotations

from armvm_oe.image import FatError, TruncatedImage
from armvm_oe.image.fat import DirEntry
from armvm_oe.verify import pecoff
from armvm_oe.verify.checks.context import MAX_EFI, Context, no_esp
from armvm_oe.verify.model import Finding

REMOVABLE = {"aarch64": "BOOTAA64.EFI", "arm": "BOOTARM.EFI"}
PE_MACHINE = {"aarch64": 0xAA64, "arm": 0x01C2}
PE_MAGIC = {"aarch64": 0x20B, "arm": 0x10B}
MACHINE_NAMES = {0xAA64: "arm64", 0x01C2: "ARM Thumb-2 (armv7)", 0x01C0: "ARM", 0x8664: "x86-64",
                 0x014C: "i386", 0x5064: "RISC-V 64", 0x6264: "LoongArch64"}
SUBSYSTEMS = {10: "EFI application", 11: "EFI boot service driver",
              12: "EFI runtime driver", 13: "EFI ROM", 2: "Windows GUI", 3: "Windows console"}


def removable_path(ctx: Context) -> list[Finding]:
    miss = no_esp(ctx, "IMG-REMOVABLE-PATH", "removable-path")
    if ctx.arch_option != "auto":
        ctx.arch, ctx.arch_source = ctx.arch_option, "option"
    if miss:
        return [miss]
    fs = ctx.esp_fs
    assert fs is not None
    found: dict[str, DirEntry] = {}
    listing: list[DirEntry] = []
    try:
        boot = fs.lookup("EFI/BOOT")
        if boot is not None and boot.is_dir:
            listing = fs.listdir("EFI/BOOT")
    except (FatError, TruncatedImage) as err:
        return [Finding("IMG-REMOVABLE-PATH", "removable-path", "fail",
                        f"the ESP's \\EFI\\BOOT directory cannot be read: {err}",
                        "Re-create the ESP (mkfs.vfat -F 32) and copy the files again")]
    for arch, name in REMOVABLE.items():
        e = next((x for x in listing if x.matches(name) and not x.is_dir), None)
        if e is not None:
            e.path = f"/EFI/BOOT/{e.name}"
            found[arch] = e
    if ctx.arch is None:
        if len(found) == 1:
            ctx.arch = next(iter(found))
            ctx.arch_source = "efi-binary"
        elif len(found) == 2:
            ctx.arch, ctx.arch_source = "aarch64", "efi-binary"
    if ctx.arch is not None and ctx.arch in found:
        e = found[ctx.arch]
        ctx.removable, ctx.removable_name = e, REMOVABLE[ctx.arch]
        names = e.name if e.name == e.short_name else f"{e.name} (8.3: {e.short_name})"
        return [Finding("IMG-REMOVABLE-PATH", "removable-path", "pass",
                        f"\\EFI\\BOOT\\{names} ({e.size} bytes), the {ctx.arch} removable-media "
                        "path", "", {"path": e.path, "short_name": e.short_name})]
    want = REMOVABLE[ctx.arch] if ctx.arch else " or ".join(REMOVABLE.values())
    others = [x.name for x in listing if x.name.upper().startswith("BOOT") and
              x.name.upper().endswith(".EFI")]
    why = f"no \\EFI\\BOOT\\{want} on the ESP"
    if others:
        why += f" (\\EFI\\BOOT holds {', '.join(others)})"
    elif not listing:
        why += " (there is no \\EFI\\BOOT directory)"
    if ctx.arch is None:
        ctx.arch_source = None
    return [Finding("IMG-REMOVABLE-PATH", "removable-path", "fail", why,
                    "Install the boot application at \\EFI\\BOOT\\BOOTAA64.EFI (aarch64) or "
                    "\\EFI\\BOOT\\BOOTARM.EFI (aarch32); Yocto: EFI_PROVIDER=grub-efi with "
                    "meta-armvm's armvm_efi class", {"listing": [x.name for x in listing][:64]})]


# -- IMG-EFI-APP --------------------------------------------------------------
def efi_app(ctx: Context) -> list[Finding]:
    if ctx.removable is None:
        why = ("no boot application at the removable-media path (see IMG-REMOVABLE-PATH)"
               if ctx.esp_fs is not None else "no readable ESP")
        return [Finding("IMG-EFI-APP", "efi-app", "unknown", why)]
    import pefile

    e = ctx.removable
    try:
        data = ctx.esp_fs.read(e) if e.size <= MAX_EFI else None  # type: ignore[union-attr]
    except (FatError, TruncatedImage) as err:
        return [Finding("IMG-EFI-APP", "efi-app", "fail", f"{e.path} cannot be read: {err}",
                        "Copy the boot application to the ESP again")]
    if data is None:
        return [Finding("IMG-EFI-APP", "efi-app", "fail",
                        f"{e.path} is {e.size} bytes, too large for a boot application",
                        "Install a real GRUB EFI binary")]
    ctx.efi_data = data
    try:
        pe = pefile.PE(data=data, fast_load=True)
    except Exception as err:  # noqa: BLE001 - pefile raises many kinds on garbage
        ctx.pe_error = str(err)
        return [Finding("IMG-EFI-APP", "efi-app", "fail",
                        f"{e.path} is not a PE/COFF image ({str(err)[:120]})",
                        "Install a UEFI application built for the target (grub-mkimage -O "
                        "arm64-efi / arm-efi)")]
    ctx.pe = pe
    machine = pe.FILE_HEADER.Machine
    magic = pe.OPTIONAL_HEADER.Magic
    subsystem = pe.OPTIONAL_HEADER.Subsystem
    arch = ctx.arch or ("aarch64" if e.matches(REMOVABLE["aarch64"]) else "arm")
    detail = {"machine": f"0x{machine:04X}", "optional_header_magic": f"0x{magic:03X}",
              "subsystem": subsystem}
    problems = []
    if machine != PE_MACHINE[arch]:
        problems.append(f"machine 0x{machine:04X} ({MACHINE_NAMES.get(machine, 'unknown')}), "
                        f"not 0x{PE_MACHINE[arch]:04X} ({MACHINE_NAMES[PE_MACHINE[arch]]})")
    if magic != PE_MAGIC[arch]:
        problems.append(f"{'PE32+' if magic == 0x20B else 'PE32' if magic == 0x10B else hex(magic)}"
                        f", not {'PE32+' if arch == 'aarch64' else 'PE32'}")
    if subsystem != 10:
        problems.append(f"subsystem {subsystem} ({SUBSYSTEMS.get(subsystem, 'unknown')}), "
                        "not 10 (EFI application)")
    detail.update(number_of_sections=pe.FILE_HEADER.NumberOfSections,
                  size_of_image=pe.OPTIONAL_HEADER.SizeOfImage,
                  size_of_headers=pe.OPTIONAL_HEADER.SizeOfHeaders,
                  section_alignment=pe.OPTIONAL_HEADER.SectionAlignment)
    if problems:
        return [Finding("IMG-EFI-APP", "efi-app", "fail",
                        f"{e.path} is not a {arch} UEFI application: " + "; ".join(problems),
                        f"Build it for {arch}: grub-mkimage -O "
                        f"{'arm64-efi' if arch == 'aarch64' else 'arm-efi'} (Yocto: grub-efi "
                        "for the image's MACHINE)", detail)]
    refused = pecoff.load_problems(pe, len(data))
    if refused:
        return [Finding("IMG-EFI-APP", "efi-app", "fail",
                        f"UEFI firmware's PE/COFF loader (edk2 BasePeCoffLib) refuses "
                        f"{e.path}: " + "; ".join(refused[:6]),
                        "Install a freshly built boot application (grub-mkimage -O "
                        f"{'arm64-efi' if arch == 'aarch64' else 'arm-efi'}); a binary edited "
                        "after linking (objcopy, a signing tool) can break its headers",
                        dict(detail, refused=refused))]
    out = [Finding("IMG-EFI-APP", "efi-app", "pass",
                   f"{e.name}: {'PE32+' if magic == 0x20B else 'PE32'}, machine "
                   f"0x{machine:04X}, subsystem 10 (EFI application), loadable by edk2's "
                   f"PE/COFF loader ({pe.FILE_HEADER.NumberOfSections} sections)", "", detail)]
    for w in pecoff.layout_warnings(pe):
        out.append(Finding("IMG-EFI-APP", "efi-app-layout", "warn", f"{e.path}: {w}",
                           "Relink the boot application (grub-mkimage writes a conforming "
                           "SizeOfImage)", detail))
    return out
