"""The armvm_efi wic source plugin and armvm-efi.wks.in, run through poky's
real wic (raw mode: no bitbake build, a .env file stands in for the image's
variables) with the host's real mkfs.fat, mkfs.ext4, parted and sgdisk.
Proves IMG-GPT, IMG-ESP-TYPE, IMG-ESP-FAT32, IMG-REMOVABLE-PATH, HW-FDT and
GUEST-NO-CONSOLE-ARG for the disk the layer produces."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from layerpaths import LAYER, PLUGIN, WKS, yocto_tree

pytestmark = pytest.mark.poky

ESP_GUID = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
HOST_TOOLS = ["mkdosfs", "mkfs.vfat", "mcopy", "mdir", "mmd", "mkfs.ext4", "fsck.ext4", "e2fsck",
              "parted", "sgdisk", "du", "dd", "cp", "install", "chmod", "truncate", "debugfs",
              "blkid", "bmaptool", "tune2fs", "dumpe2fs", "e2label", "fsck.vfat", "mtype", "mattrib", "partprobe", "sfdisk", "fdisk", "wipefs"]
ARCH = {"aarch64": ("Image", "bootaa64.efi", "aa64"), "arm": ("zImage", "bootarm.efi", "arm")}


def _expand(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{([A-Za-z0-9_]+)\}", lambda m: values[m.group(1)], text)


def _native_sysroot(tmp: Path) -> Path:
    """Host tools in the layout wic expects of a native sysroot."""
    sysroot = tmp / "native"
    (sysroot / "usr" / "bin").mkdir(parents=True)
    for tool in dict.fromkeys(HOST_TOOLS):
        found = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
        if found:
            (sysroot / "usr" / "bin" / tool).symlink_to(found)
    return sysroot


def _make_disk(tmp: Path, arch: str, wks_text: str, oecore: Path | None = None,
               env_extra: dict[str, str] | None = None, fstab_update: bool = False,
               **extra_vars) -> tuple[subprocess.CompletedProcess, Path]:
    """wic create in raw mode; ``oecore``: a tree with meta/ and scripts/wic
    (default: the pinned openembedded-core tree, tests/_yocto.py)."""
    poky = oecore or yocto_tree().core
    kernel_name, efi_name, _efi_arch = ARCH[arch]
    deploy = tmp / "deploy"
    deploy.mkdir()
    (deploy / kernel_name).write_bytes(b"MZ fake kernel for the layout test\n" * 64)
    (deploy / f"grub-efi-{efi_name}").write_bytes(b"MZ fake grub\n" * 64)
    rootfs = tmp / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "fstab").write_text("proc /proc proc defaults 0 0\n")
    (rootfs / "boot").mkdir()
    if env_extra and "SOURCE_DATE_EPOCH" in env_extra:  # as the image's rootfs has it
        epoch = int(env_extra["SOURCE_DATE_EPOCH"])
        for p in [deploy, rootfs, *deploy.rglob("*"), *rootfs.rglob("*")]:
            os.utime(p, (epoch, epoch))
    staging = tmp / "staging"
    staging.mkdir()
    values = {
        "BBLAYERS": f"{poky}/meta {LAYER}",
        "IMAGE_ROOTFS": str(rootfs),
        "DEPLOY_DIR_IMAGE": str(deploy),
        "STAGING_DATADIR": str(staging),
        "KERNEL_IMAGETYPE": kernel_name,
        "EFI_PROVIDER": "grub-efi",
        "IMAGE_LINK_NAME": "armvm-image",
        "TARGET_SYS": f"{arch}-poky-linux",
        "HOSTTOOLS_DIR": str(tmp / "native" / "usr" / "bin"),
        "MACHINE_ARCH": arch,
    }
    values.update(extra_vars)
    vars_dir = tmp / "vars"
    vars_dir.mkdir()
    (vars_dir / "armvm-image.env").write_text("".join(f'{k}="{v}"\n' for k, v in values.items()))
    wks = tmp / "armvm-efi.wks"
    wks.write_text(_expand(wks_text, values))
    native = _native_sysroot(tmp)
    out = tmp / "out"
    env = dict(os.environ, BUILDDIR=str(tmp), LC_ALL="C.UTF-8", PATH=os.environ["PATH"] + ":/usr/sbin:/sbin")
    env.pop("SOURCE_DATE_EPOCH", None)
    env.update(env_extra or {})
    r = subprocess.run([sys.executable, str(poky / "scripts" / "wic"), "create", str(wks),
                        "-e", "armvm-image", "--vars", str(vars_dir), "-k", str(deploy),
                        "-n", str(native), "-o", str(out),
                        *([] if fstab_update else ["--no-fstab-update"])],
                       capture_output=True, text=True, env=env, timeout=300)
    disks = sorted(out.glob("*.direct")) if out.exists() else []
    return r, (disks[0] if disks else out / "missing")


def _esp(tmp: Path, disk: Path) -> Path:
    info = subprocess.run(["sgdisk", "-i", "1", str(disk)], capture_output=True, text=True, check=True).stdout
    first = int(re.search(r"First sector: (\d+)", info).group(1))
    last = int(re.search(r"Last sector: (\d+)", info).group(1))
    esp = tmp / "esp.img"
    with open(disk, "rb") as src, open(esp, "wb") as dst:
        src.seek(first * 512)
        dst.write(src.read((last - first + 1) * 512))
    return esp


@pytest.mark.parametrize("arch", ["aarch64", "arm"])
def test_wks_makes_a_spec_disk(tmp_path, arch):
    sys.path[0:0] = [str(yocto_tree().core / "scripts" / "lib"), str(PLUGIN.parent)]
    r, disk = _make_disk(tmp_path, arch, WKS.read_text())
    assert r.returncode == 0, r.stdout + r.stderr
    assert disk.exists()
    # IMG-GPT + IMG-ESP-TYPE: sgdisk verifies the GPT and reads the type GUID.
    verify = subprocess.run(["sgdisk", "-v", str(disk)], capture_output=True, text=True)
    assert "No problems found" in verify.stdout, verify.stdout
    info = subprocess.run(["sgdisk", "-i", "1", str(disk)], capture_output=True, text=True, check=True).stdout
    assert f"Partition GUID code: {ESP_GUID}" in info, info
    info2 = subprocess.run(["sgdisk", "-i", "2", str(disk)], capture_output=True, text=True, check=True).stdout
    partuuid = re.search(r"Partition unique GUID: ([0-9A-F-]+)", info2).group(1)
    # IMG-ESP-FAT32 by cluster count, with the plugin's own reader and mkfs.fat's view.
    esp = _esp(tmp_path, disk)
    import armvm_efi  # the plugin module; needs poky's wic on sys.path
    kind, clusters = armvm_efi.fat_type(esp)
    assert (kind, clusters >= 65525) == ("FAT32", True)
    fsck = subprocess.run(["fsck.fat", "-n", str(esp)], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    # IMG-REMOVABLE-PATH: exact upper-case name in the directory entry.
    listing = subprocess.run(["mdir", "-i", str(esp), "-b", "::/EFI/BOOT"], capture_output=True,
                             text=True, check=True).stdout
    efi_name = ARCH[arch][1].upper()
    assert f"::/EFI/BOOT/{efi_name}" in listing.split(), listing
    kernel = subprocess.run(["mdir", "-i", str(esp), "-b", "::/"], capture_output=True, text=True,
                            check=True).stdout
    assert f"::/{ARCH[arch][0]}" in kernel.split(), kernel
    cfg = subprocess.run(["mtype", "-i", str(esp), "::/EFI/BOOT/grub.cfg"], capture_output=True,
                         text=True, check=True).stdout
    # root by PARTUUID of partition 2; no console=, no devicetree (HW-FDT).
    assert re.search(rf"^\s*linux /{ARCH[arch][0]} root=PARTUUID={partuuid.lower()}\b", cfg,
                     re.MULTILINE | re.IGNORECASE), cfg
    assert "console=" not in cfg and "devicetree" not in cfg, cfg


def test_plugin_refuses_a_devicetree(tmp_path):
    wks = WKS.read_text().replace('--sourceparams="loader=${EFI_PROVIDER}"',
                                  '--sourceparams="loader=${EFI_PROVIDER},dtb=board.dtb"')
    r, _disk = _make_disk(tmp_path, "aarch64", wks)
    assert r.returncode != 0
    assert "HW-FDT" in r.stdout + r.stderr


def test_plugin_refuses_console_argument(tmp_path):
    wks = WKS.read_text().replace('--append="rw"', '--append="rw console=ttyAMA0"')
    r, _disk = _make_disk(tmp_path, "aarch64", wks)
    assert r.returncode != 0
    assert "GUEST-NO-CONSOLE-ARG" in r.stdout + r.stderr


def test_plugin_fails_without_the_boot_application(tmp_path):
    # an aarch64 target whose deploy dir only has the arm GRUB
    r, _disk = _make_disk(tmp_path, "arm", WKS.read_text(), TARGET_SYS="aarch64-poky-linux")
    assert r.returncode != 0
    assert "EFI/BOOT/BOOTAA64.EFI is missing" in r.stdout + r.stderr
