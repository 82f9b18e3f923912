"""The fixture image builder: real GPT disk images from Debian's Arm GRUB,
kernels and busybox, compliant or with exactly one spec violation.

    from armvm_oe.testing.fixtures import build_image
    wic = build_image("aarch64")                      # compliant
    bad = build_image("aarch64", "fat16")             # one violation
    own = build_image(ImageSpec("arm", esp_fat_bits=16, root_arg="/dev/vda2"))

Images are cached under ``cache_dir()/images`` keyed by the spec, the Debian
package versions and this builder's own source, so a rebuild happens only
when an input changes. Treat returned images as read-only (copy first, or
boot them through a qcow2 overlay)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from armvm_oe import diskimage
from armvm_oe.lib import cache_dir
from armvm_oe.testing import cpio, debian, guest

KERNEL_NAME = {"aarch64": "Image", "arm": "zImage"}
AAVMF_CODE = {"aarch64": "/usr/share/AAVMF/AAVMF_CODE.fd", "arm": "/usr/share/AAVMF/AAVMF32_CODE.fd"}


@dataclass(frozen=True)
class ImageSpec:
    arch: str = "aarch64"
    esp_fat_bits: int | None = 32          # None: let mkfs.vfat pick by size (stock wic)
    esp_size_mib: int = 64
    esp_type: str = diskimage.ESP_TYPE
    removable_name: str | None = "default"  # None: no file at \EFI\BOOT\BOOT<arch>.EFI
    efi_binary: str = "grub"               # "grub" | "x86" (an x86-64 GRUB under the Arm name)
    extra_esp_files: tuple[tuple[str, str, int], ...] = ()  # (dest on ESP, host file, max bytes)
    devicetree_line: bool = False
    root_arg: str = "PARTUUID"             # or a literal such as "/dev/vda2"
    console_arg: str | None = None         # e.g. "ttyAMA0"
    drop_options: tuple[str, ...] = ()     # CONFIG_ options unset in /boot/config-*
    include_kernel_config: bool = True
    root_size_mib: int = 24
    guest_init: str = "protocol"           # "login": getty + login, no ARMVM-* lines

    def removable(self) -> str | None:
        if self.removable_name == "default":
            return diskimage.REMOVABLE_NAME[self.arch]
        return self.removable_name


def _variants(arch: str) -> dict[str, dict]:
    return {
        "compliant": {},
        "fat16": {"esp_fat_bits": None, "esp_size_mib": 64},
        "basic-data-guid": {"esp_type": diskimage.BASIC_DATA_TYPE},
        "no-removable-path": {"removable_name": None},
        "x86-efi": {"efi_binary": "x86"},
        "firmware-in-esp": {"extra_esp_files": (("EFI/firmware/QEMU_EFI.fd", AAVMF_CODE[arch],
                                                  4 << 20),)},
        "devicetree-line": {"devicetree_line": True},
        "dev-vda-root": {"root_arg": "/dev/vda2"},
        "console-arg": {"console_arg": "ttyAMA0" if arch else None},
        "no-xen-console": {"drop_options": ("HVC_XEN", "HVC_XEN_FRONTEND")},
        "no-xen": {"drop_options": ("XEN", "HVC_XEN", "HVC_XEN_FRONTEND", "XEN_BALLOON",
                                    "XEN_BLKDEV_FRONTEND", "XEN_NETDEV_FRONTEND")},
        "no-kernel-config": {"include_kernel_config": False},
    }


VARIANTS = tuple(_variants("aarch64"))


def spec_for(arch: str, variant: str = "compliant") -> ImageSpec:
    try:
        return ImageSpec(arch=arch, **_variants(arch)[variant])
    except KeyError:
        raise ValueError(f"unknown fixture variant {variant!r}; known: {', '.join(VARIANTS)}")


def _builder_digest() -> str:
    h = hashlib.sha256()
    for mod in (diskimage, cpio, debian, guest):
        h.update(Path(mod.__file__).read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()


def _versions(pkgs: list[str]) -> dict[str, str]:
    return {p: debian.candidate_version(p) for p in pkgs}


def _inputs(spec: ImageSpec) -> dict:
    pkgs = [debian.resolve_kernel_package(spec.arch), debian.busybox_package(spec.arch),
            debian.GRUB_PKG[spec.arch]]
    if spec.efi_binary == "x86":
        pkgs.append(debian.GRUB_PKG["x86_64"])
    return {"spec": dataclasses.asdict(spec), "packages": _versions(pkgs),
            "builder": _builder_digest()}


def image_key(spec: ImageSpec) -> str:
    blob = json.dumps(_inputs(spec), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _uuid(key: str, what: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"armvm-oe-fixture/{key}/{what}")).upper()


def grub_cfg(spec: ImageSpec, root_partuuid: str) -> str:
    root = f"PARTUUID={root_partuuid}" if spec.root_arg == "PARTUUID" else spec.root_arg
    args = f"root={root} rootwait"
    if spec.console_arg:
        args += f" console={spec.console_arg}"
    lines = ["set timeout=0", "set default=0", 'menuentry "armvm fixture" {',
             f"    linux /{KERNEL_NAME[spec.arch]} {args}",
             "    initrd /initrd.img"]
    if spec.devicetree_line:
        lines.append("    devicetree /virt.dtb")
    lines.append("}")
    return "\n".join(lines) + "\n"


def build_image(spec: ImageSpec | str = "aarch64", variant: str = "compliant",
                out_dir: Path | None = None) -> Path:
    """Path of a (cached) raw disk image for ``spec`` or (arch, variant)."""
    if isinstance(spec, str):
        spec = spec_for(spec, variant)
        name = f"{spec.arch}-{variant}"
    else:
        name = f"{spec.arch}-custom"
    key = image_key(spec)
    out_dir = Path(out_dir) if out_dir else cache_dir() / "images"
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"{name}-{key}.wic"
    if final.exists():
        return final
    with debian._locked(f"image-{key}"):
        if final.exists():
            return final
        with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
            img = _build(spec, key, Path(tmp))
            os.replace(img, final)
    return final


def login_image(arch: str = "aarch64") -> Path:
    """A compliant image whose guest shows only the kernel log and
    ``armvm login:`` (busybox getty, root without password): no fixture
    protocol. Not in VARIANTS, which lists spec violations."""
    return build_image(ImageSpec(arch=arch, guest_init="login"))


def _cached_part(name: str, packages: list[str], make) -> Path:
    """Parts shared by every variant (initramfs, GRUB binary), keyed by the
    versions of the packages they are made from and this builder's source."""
    key = hashlib.sha256(json.dumps(
        [name, _versions(packages), _builder_digest()], sort_keys=True).encode()
    ).hexdigest()[:16]
    parts = cache_dir() / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    final = parts / f"{name}-{key}"
    if final.exists():
        return final
    with debian._locked(f"part-{name}-{key}"):
        if not final.exists():
            tmp = parts / f".{final.name}.tmp-{os.getpid()}"
            make(tmp)
            os.replace(tmp, final)
    return final


def _build(spec: ImageSpec, key: str, tmp: Path) -> Path:
    arch = spec.arch
    kimage, kconfig, release = debian.kernel(arch)
    kroot = debian.kernel_root(arch)
    bb = debian.busybox(arch)
    root_uuid = _uuid(key, "root")
    esp_uuid = _uuid(key, "esp")

    plain = spec.guest_init == "login"
    initrd = _cached_part(
        f"initrd-{arch}" + ("-plain" if plain else ""),
        [debian.resolve_kernel_package(arch), debian.busybox_package(arch)],
        lambda out: guest.build_initramfs(kroot, release, bb, out, plain=plain))
    esp_files: dict[str, Path | bytes] = {
        KERNEL_NAME[arch]: kimage,
        "initrd.img": initrd,
        "EFI/BOOT/grub.cfg": grub_cfg(spec, root_uuid).encode(),
    }
    if spec.removable():
        target = "x86_64" if spec.efi_binary == "x86" else arch
        efi = _cached_part(f"grub-{target}", [debian.GRUB_PKG[target]],
                           lambda out: diskimage.make_grub_efi(
                               target, debian.grub_modules(target), out))
        esp_files[f"EFI/BOOT/{spec.removable()}"] = efi
    for dest, src, limit in spec.extra_esp_files:
        with open(src, "rb") as f:     # the head of a firmware file holds its volume header
            esp_files[dest] = f.read(limit)
    esp = diskimage.make_fat(tmp / "esp.img", spec.esp_size_mib, esp_files,
                             fat_bits=spec.esp_fat_bits)

    rootdir = guest.build_rootfs(tmp / "rootfs", bb,
                                 kconfig if spec.include_kernel_config else None,
                                 release, spec.drop_options, init=spec.guest_init)
    rootimg = diskimage.make_ext4(tmp / "root.img", spec.root_size_mib, rootdir,
                                  uuid=_uuid(key, "rootfs-fs").lower())
    disk = diskimage.assemble_gpt(tmp / "disk.wic", [
        diskimage.Partition("ESP", spec.esp_type, esp, uuid=esp_uuid),
        diskimage.Partition("root", diskimage.LINUX_FS_TYPE, rootimg, uuid=root_uuid),
    ], disk_guid=_uuid(key, "disk"))
    return disk


def virt_dtb(path: Path) -> Path:
    """QEMU's own device tree of the aarch64 virt machine, written to ``path``
    (a real DTB for avh pack and its tests)."""
    import subprocess
    subprocess.run(["qemu-system-aarch64", "-M", f"virt,dumpdtb={path}", "-cpu", "cortex-a57",
                    "-nographic", "-nic", "none"], check=True, capture_output=True, timeout=60)
    return Path(path)
