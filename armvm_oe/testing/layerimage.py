"""An image assembled from meta-armvm's own parts, outside bitbake:

- the layer's wks (meta-armvm/files/wic/armvm-efi.wks.in) through the REAL
  wic of openembedded-core (scripts/wic of a local mirror at a release tag,
  extracted into a scratch directory at test time, never committed) with the
  layer's armvm_efi plugin, in wic's raw mode: a .env file stands in for the
  image recipe's variables, --rootfs-dir/--kernel-dir/--native-sysroot come
  from it;
- GRUB made the way oe-core's grub-efi recipe makes
  grub-efi-bootaa64.efi / grub-efi-bootarm.efi: ``grub-mkimage -c cfg -p
  ${EFIDIR} -O <arm64|arm>-efi ${GRUB_BUILDIN}`` with the module list, the
  embedded early config (the recipe's ``files/cfg``) and EFIDIR read from
  that same oe-core tree, the modules from Debian's grub-efi-*-bin;
- a busybox-static root filesystem (the fixtures' guest, armvm_oe.testing.guest);
- a kernel: Debian's (with the fixtures' module-loading initramfs, passed to
  the stock plugin as ``initrd=``) or the layer's own
  (armvm_oe.testing.layerkernel: every required driver built in, no initrd).

    oecore = layerimage.extract_oecore(scratch)          # None: mirror absent
    disk = layerimage.build(oecore, "aarch64", "layer", scratch / "img")
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from armvm_oe.lib import require_tool, run
from armvm_oe.testing import debian, guest

OECORE_REPO = "openembedded+openembedded-core"
OECORE_TAG = "yocto-5.0.19"
LAYER = Path(__file__).resolve().parents[2] / "meta-armvm"
WKS = LAYER / "files" / "wic" / "armvm-efi.wks.in"
# arch: (KERNEL_IMAGETYPE, EFI_ARCH of image-uefi.conf, grub-efi's GRUB_TARGET, TARGET_SYS)
ARCH = {"aarch64": ("Image", "aa64", "arm64", "aarch64-poky-linux"),
        "arm": ("zImage", "arm", "arm", "arm-poky-linux-gnueabi")}
# What wic runs from the native sysroot (the host's tools, linked).
HOST_TOOLS = ["mkdosfs", "mkfs.vfat", "mcopy", "mdir", "mmd", "mkfs.ext4", "fsck.ext4", "e2fsck",
              "parted", "sgdisk", "du", "dd", "cp", "install", "chmod", "truncate", "debugfs",
              "blkid", "tune2fs", "dumpe2fs", "e2label", "fsck.vfat", "mtype", "mattrib",
              "partprobe", "sfdisk", "fdisk", "wipefs"]


def mirrors() -> Path:
    return Path(os.environ.get("ARMVM_MIRRORS", "/work/.mirror"))


def oecore_git() -> Path | None:
    """The openembedded-core mirror (a bare git dir) if it has OECORE_TAG."""
    git = mirrors() / OECORE_REPO / "repo"
    if not git.is_dir():
        return None
    r = subprocess.run(["git", "--git-dir", str(git), "rev-parse", "-q", "--verify",
                        f"refs/tags/{OECORE_TAG}^{{commit}}"], capture_output=True, text=True)
    return git if r.returncode == 0 else None


def extract_oecore(dest: Path, tag: str = OECORE_TAG) -> Path | None:
    """The parts of openembedded-core at ``tag`` that wic and this builder
    read (scripts/, meta/lib, the grub recipes, image-uefi.conf), extracted
    into ``dest``; None when the mirror is absent."""
    git = oecore_git()
    if git is None:
        return None
    dest = Path(dest)
    if (dest / ".complete").exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "--git-dir", str(git), "archive", tag, "scripts", "meta/lib",
                              "meta/recipes-bsp/grub", "meta/conf/image-uefi.conf"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    (dest / ".complete").write_text(tag + "\n")
    return dest


def _assignments(text: str, name: str) -> list[tuple[str, str]]:
    """(operator, value) of every ``NAME op "value"`` in bitbake syntax,
    line continuations joined."""
    text = text.replace("\\\n", " ")
    return [(m.group(1), " ".join(m.group(2).split()))
            for m in re.finditer(rf'^{re.escape(name)}\s*(\?\?=|\?=|:=|=)\s*"([^"]*)"', text, re.M)]


def grub_recipe(oecore: Path) -> dict:
    """What oe-core's grub-efi recipe passes to grub-mkimage: the GRUB_BUILDIN
    module list (its default; the aarch64 'xen_boot' append applies only with
    'xen' in DISTRO_FEATURES, which meta-armvm does not set), the embedded
    early config (files/cfg) and the prefix (EFIDIR of image-uefi.conf)."""
    recipes = sorted((oecore / "meta/recipes-bsp/grub").glob("grub-efi_*.bb"))
    if not recipes:
        raise FileNotFoundError(f"no grub-efi_*.bb under {oecore}/meta/recipes-bsp/grub")
    buildin = _assignments(recipes[-1].read_text(), "GRUB_BUILDIN")
    efidir = _assignments((oecore / "meta/conf/image-uefi.conf").read_text(), "EFIDIR")
    if not buildin or not efidir:
        raise ValueError(f"GRUB_BUILDIN or EFIDIR not found in {recipes[-1]} / image-uefi.conf")
    return {"recipe": recipes[-1].name, "modules": buildin[0][1].split(),
            "early_cfg": (oecore / "meta/recipes-bsp/grub/files/cfg").read_text(),
            "prefix": efidir[0][1]}


def make_grub(oecore: Path, arch: str, deploy: Path) -> Path:
    """``grub-efi-boot<efiarch>.efi`` in ``deploy``, as grub-efi's do_mkimage
    and do_deploy make it."""
    require_tool("grub-mkimage", "grub-common", "make the GRUB EFI application")
    rec = grub_recipe(oecore)
    early = deploy / ".grub-early.cfg"
    early.write_text(rec["early_cfg"])
    out = deploy / f"grub-efi-boot{ARCH[arch][1]}.efi"
    run(["grub-mkimage", "-c", early, "-p", rec["prefix"], "-d", debian.grub_modules(arch),
         "-O", f"{ARCH[arch][2]}-efi", "-o", out, *rec["modules"]])
    early.unlink()
    return out


def _native_sysroot(dest: Path) -> Path:
    (dest / "usr" / "bin").mkdir(parents=True, exist_ok=True)
    for tool in dict.fromkeys(HOST_TOOLS):
        found = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
        link = dest / "usr" / "bin" / tool
        if found and not link.is_symlink():
            link.symlink_to(found)
    return dest


def _expand(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{([A-Za-z0-9_]+)\}", lambda m: values[m.group(1)], text)


def run_wic(oecore: Path, arch: str, wks_text: str, rootfs: Path, deploy: Path, work: Path,
            **extra_vars: str) -> tuple[subprocess.CompletedProcess, Path]:
    """``wic create`` of ``wks_text`` (the layer's wks syntax, ${VARS}
    expanded here from the values bitbake would give) in raw mode; returns
    the process and the .direct disk (or a path that does not exist)."""
    values = {
        "BBLAYERS": f"{oecore}/meta {LAYER}",
        "IMAGE_ROOTFS": str(rootfs),
        "DEPLOY_DIR_IMAGE": str(deploy),
        "STAGING_DATADIR": str(work / "staging"),
        "KERNEL_IMAGETYPE": ARCH[arch][0],
        "EFI_PROVIDER": "grub-efi",
        "IMAGE_LINK_NAME": "armvm-image",
        "TARGET_SYS": ARCH[arch][3],
        "HOSTTOOLS_DIR": str(work / "native" / "usr" / "bin"),
        "MACHINE_ARCH": arch,
    }
    values.update(extra_vars)
    (work / "staging").mkdir(parents=True, exist_ok=True)
    vars_dir = work / "vars"
    vars_dir.mkdir(exist_ok=True)
    (vars_dir / "armvm-image.env").write_text("".join(f'{k}="{v}"\n' for k, v in values.items()))
    wks = work / "armvm-efi.wks"
    wks.write_text(_expand(wks_text, values))
    native = _native_sysroot(work / "native")
    out = work / "out"
    env = dict(os.environ, BUILDDIR=str(work), LC_ALL="C.UTF-8",
               PATH=os.environ["PATH"] + ":/usr/sbin:/sbin")
    r = subprocess.run([sys.executable, str(oecore / "scripts" / "wic"), "create", str(wks),
                        "-e", "armvm-image", "--vars", str(vars_dir), "-k", str(deploy),
                        "-r", str(rootfs), "-n", str(native), "-o", str(out),
                        "--no-fstab-update"],
                       capture_output=True, text=True, env=env, timeout=600)
    disks = sorted(out.glob("*.direct")) if out.exists() else []
    return r, (disks[0] if disks else out / "missing")


class WicFailed(RuntimeError):
    pass


def build(oecore: Path, arch: str, kernel: str, work: Path, timings: dict | None = None) -> Path:
    """The disk image for ``arch`` with ``kernel`` = "debian" or "layer"
    (the layer's kernel must be built already or is built here)."""
    from armvm_oe.testing import layerkernel
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    deploy = work / "deploy"
    deploy.mkdir(exist_ok=True)
    timings = timings if timings is not None else {}
    t0 = time.monotonic()
    bb = debian.busybox(arch)
    wks_text = WKS.read_text()
    if kernel == "debian":
        kimage, kconfig, release = debian.kernel(arch)
        from armvm_oe.testing.fixtures import _cached_part
        initrd = _cached_part(f"initrd-{arch}", [debian.resolve_kernel_package(arch),
                                                 debian.busybox_package(arch)],
                              lambda out: guest.build_initramfs(debian.kernel_root(arch), release,
                                                                bb, out))
        shutil.copyfile(initrd, deploy / "initrd.img")
        # Debian's kernel loads its disk and filesystem drivers from an initramfs
        wks_text = wks_text.replace('--sourceparams="loader=${EFI_PROVIDER}"',
                                    '--sourceparams="loader=${EFI_PROVIDER},initrd=initrd.img"')
    elif kernel == "layer":
        kimage = layerkernel.build(arch)
        kconfig = kimage.parent / "config"
        release = layerkernel.release(kconfig.read_text())
    else:
        raise ValueError(f"kernel must be 'debian' or 'layer', not {kernel!r}")
    shutil.copyfile(kimage, deploy / ARCH[arch][0])
    timings["inputs_s"] = round(time.monotonic() - t0, 1)
    t1 = time.monotonic()
    make_grub(oecore, arch, deploy)
    timings["grub_s"] = round(time.monotonic() - t1, 1)
    rootfs = guest.build_rootfs(work / "rootfs", bb, kconfig, release)
    t2 = time.monotonic()
    r, disk = run_wic(oecore, arch, wks_text, rootfs, deploy, work)
    timings["wic_s"] = round(time.monotonic() - t2, 1)
    if r.returncode != 0 or not disk.exists():
        raise WicFailed(f"wic create failed (exit {r.returncode}):\n{r.stdout[-3000:]}"
                        f"\n{r.stderr[-3000:]}")
    return disk
