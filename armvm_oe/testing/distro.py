"""Disk images made by a real distribution's own tools, not by this project.

``armvm-oe test`` must judge images nobody here wrote an init for. This
builder makes a Debian 12 system the way Debian would: ``mmdebstrap``
(qemu-user-static runs the arm64/armhf maintainer scripts), ``systemd``,
Debian's kernel with its ``initramfs-tools`` initrd, GRUB installed by
``grub-install --removable`` and configured by ``update-grub`` (so the
kernel command line carries ``root=UUID=``), a root password and serial
gettys on ttyAMA0 and hvc0. No loop device is needed: the root filesystem is
made with ``mkfs.ext4 -d``, the ESP with mtools, and GRUB is installed from
inside the guest itself during one direct-kernel boot (``grub-install``
must see the real ESP and root devices to embed the right UUID).

Nothing of the fixture protocol (armvm_oe.testing.guest) is in these images:
the console shows ``debian-arm64 login:`` like any installed system.

    python3 -m armvm_oe.testing.distro --arch aarch64   # prints the image path
    from armvm_oe.testing.distro import build, cached
    img = build("arm")              # cached by inputs in cache_dir()/distro
    img = cached("aarch64")         # None when the cache is cold

The arm64 package stage runs under emulation: it takes several minutes
(see docs/design/boot-testing.md for measured figures), so CI builds the images
in .ci/setup.d and the default test run skips when the cache is cold."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from armvm_oe.lib import cache_dir

RECIPE = 3                  # bump when the hooks below change what is built
# 3: the network as an installed Debian has it (systemd-networkd, DHCP on every
#    Ethernet NIC) and openssh-server: `test` checks the lease, the host and ssh
SUITE = "bookworm"
MIRROR = os.environ.get("ARMVM_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PASSWORD = "armvm"          # root's password in these images (tests log in with it)
DEB_ARCH = {"aarch64": "arm64", "arm": "armhf"}
KERNEL = {"aarch64": "linux-image-arm64", "arm": "linux-image-armmp-lpae"}
GRUB = {"aarch64": "grub-efi-arm64", "arm": "grub-efi-arm"}
GRUB_TARGET = {"aarch64": "arm64-efi", "arm": "arm-efi"}
REMOVABLE = {"aarch64": "BOOTAA64.EFI", "arm": "BOOTARM.EFI"}
# Debian's default command line is "quiet": the armhf image keeps it (the
# matrix must then learn every fact by logging in), the arm64 image drops it
# (every column can then be judged from the kernel log alone).
CMDLINE_DEFAULT = {"aarch64": "", "arm": "quiet"}
PACKAGES = ("systemd-sysv", "udev", "kmod", "passwd", "login", "e2fsprogs", "initramfs-tools",
            "openssh-server")
# DHCP on every Ethernet NIC (virtio-net, Xen netfront), by systemd-networkd
NETWORK_FILE = "[Match]\\nType=ether\\n\\n[Network]\\nDHCP=ipv4\\n"
ROOT_MIB = {"aarch64": 1400, "arm": 1200}
ESP_MIB = 64
QEMU = {"aarch64": ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57"],
        "arm": ["qemu-system-arm", "-M", "virt,highmem=off", "-cpu", "cortex-a15"]}

# Debian's initramfs-tools with MODULES=list and the VM's drivers: the
# default MODULES=most copies ~3000 modules, and every one of them costs
# several emulated processes (measured: over 35 minutes per mkinitramfs run
# under qemu-user at load ~10, and dpkg runs it twice). The initrd is still
# made by Debian's mkinitramfs, with Debian's own init and udev.
INITRAMFS_MODULES = ("virtio_pci", "virtio_mmio", "virtio_blk", "virtio_net", "virtio_console",
                     "virtio_balloon", "ext4", "crc32c_generic", "efivarfs", "xen-blkfront",
                     "xen-netfront")
INITRAMFS_HOOK = """#!/bin/sh
# armvm-oe test image: the drivers a spec VM needs to find its root disk
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
for m in @MODULES@; do manual_add_modules "$m"; done
""".replace("@MODULES@", " ".join(INITRAMFS_MODULES))

FIRSTBOOT = r"""#!/bin/sh
# One-shot init for the image build: install GRUB the way a Debian installer
# does, from the running system with its real disk, then power off.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sys /sys
mountpoint -q /dev || mount -t devtmpfs dev /dev
mount -o remount,rw /
mkdir -p /run && mount -t tmpfs tmpfs /run
/lib/systemd/systemd-udevd --daemon && udevadm trigger && udevadm settle --timeout=60
mount /boot/efi
grub-install --target=@TARGET@ --removable --no-nvram --efi-directory=/boot/efi \
  && update-grub && echo ARMVM-DISTRO-GRUB-OK
rm -f /usr/local/sbin/armvm-firstboot
umount /boot/efi; sync; mount -o remount,ro /; sync
echo o > /proc/sysrq-trigger
sleep 30
"""


class BuildError(RuntimeError):
    pass


def _key(arch: str) -> str:
    # every input of the recipe (not this file's bytes: an edit to a comment
    # or to the build driver must not throw away a 10-minute build)
    h = hashlib.sha256()
    h.update(json.dumps([RECIPE, arch, SUITE, MIRROR, PASSWORD, KERNEL[arch], GRUB[arch],
                         CMDLINE_DEFAULT[arch], PACKAGES, ROOT_MIB[arch], ESP_MIB,
                         FIRSTBOOT, INITRAMFS_HOOK]).encode())
    return h.hexdigest()[:16]


def image_dir(arch: str) -> Path:
    return cache_dir() / "distro" / f"debian-{DEB_ARCH[arch]}-{_key(arch)}"


def cached(arch: str) -> Path | None:
    d = image_dir(arch)
    img = d / "disk.img"
    return img if (d / "meta.json").exists() and img.exists() else None


def meta(arch: str) -> dict:
    try:
        return json.loads((image_dir(arch) / "meta.json").read_text())
    except (OSError, ValueError):
        return {}


def _run(cmd, log, **kw):
    log.write(f"$ {' '.join(map(str, cmd))}\n")
    log.flush()
    p = subprocess.run([str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT, **kw)
    if p.returncode:
        raise BuildError(f"{cmd[0]} failed (exit {p.returncode}); see {log.name}")
    return p


def _need(*tools):
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        raise BuildError("missing host tools: " + " ".join(missing) +
                         " (apt-get install mmdebstrap qemu-user-static binfmt-support "
                         "e2fsprogs dosfstools mtools gdisk qemu-system-arm)")


def _binfmt_ok(arch: str) -> bool:
    name = {"aarch64": "qemu-aarch64", "arm": "qemu-arm"}[arch]
    try:
        return Path(f"/proc/sys/fs/binfmt_misc/{name}").read_text().startswith("enabled")
    except OSError:
        return False


def _setup_hooks(tmp: Path) -> list[str]:
    """mmdebstrap --setup-hook commands: before any package is installed."""
    hook = tmp / "initramfs-hook"
    hook.write_text(INITRAMFS_HOOK)
    return ['mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/etc/initramfs-tools/hooks"',
            'echo MODULES=list > "$1/etc/initramfs-tools/conf.d/armvm-test.conf"',
            f'install -m 755 {hook} "$1/etc/initramfs-tools/hooks/armvm-test"']


def _hooks(arch: str, tmp: Path, root_uuid: str, esp_serial: str) -> list[str]:
    """mmdebstrap --customize-hook commands ("$1" is the new system's root)."""
    fb = tmp / "firstboot"
    fb.write_text(FIRSTBOOT.replace("@TARGET@", GRUB_TARGET[arch]))
    host = f"debian-{DEB_ARCH[arch]}"
    esp_uuid = f"{esp_serial[:4]}-{esp_serial[4:]}".upper()
    fstab = (f"UUID={root_uuid} / ext4 errors=remount-ro 0 1\n"
             f"UUID={esp_uuid} /boot/efi vfat umask=0077 0 0\n")
    default = (f'GRUB_TIMEOUT=1\nGRUB_CMDLINE_LINUX_DEFAULT="{CMDLINE_DEFAULT[arch]}"\n'
               'GRUB_CMDLINE_LINUX="console=ttyAMA0 console=hvc0"\n')
    return [
        f'echo {host} > "$1/etc/hostname"',
        f'printf "127.0.0.1 localhost\\n127.0.1.1 {host}\\n" > "$1/etc/hosts"',
        f"printf '{fstab}' > \"$1/etc/fstab\"",
        'mkdir -p "$1/boot/efi" "$1/etc/default/grub.d"',
        f"printf '{default}' > \"$1/etc/default/grub.d/armvm-test.cfg\"",
        f'echo root:{PASSWORD} | chroot "$1" chpasswd',
        'chroot "$1" systemctl enable serial-getty@ttyAMA0.service serial-getty@hvc0.service',
        'mkdir -p "$1/etc/systemd/network"',
        f"printf '{NETWORK_FILE}' > \"$1/etc/systemd/network/80-dhcp.network\"",
        # networkd, not its wait-online service: nothing in the image waits for the network
        'chroot "$1" systemctl enable systemd-networkd.service',
        'chroot "$1" systemctl disable systemd-networkd-wait-online.service || true',
        f'install -m 755 {fb} "$1/usr/local/sbin/armvm-firstboot"',
        f'cp "$(ls "$1"/boot/vmlinuz-* | head -n1)" {tmp}/vmlinuz',
        f'cp "$(ls "$1"/boot/initrd.img-* | head -n1)" {tmp}/initrd.img',
    ]


def build(arch: str, progress=None) -> Path:
    """Build (or return the cached) Debian image for ``arch``."""
    if arch not in DEB_ARCH:
        raise BuildError(f"unknown arch {arch!r} (aarch64 or arm)")
    hit = cached(arch)
    if hit:
        return hit
    if os.geteuid() != 0:
        raise BuildError("building a Debian image needs root (mmdebstrap --mode=root and "
                         "mkfs.ext4 -d keep file owners); run .ci/setup.d or this as root")
    _need("mmdebstrap", "mkfs.ext4", "mkfs.vfat", "mmd", "mcopy", "sgdisk", QEMU[arch][0],
          "debugfs")
    if not _binfmt_ok(arch):
        raise BuildError(f"binfmt_misc has no enabled qemu handler for {arch}: "
                         "apt-get install qemu-user-static binfmt-support, "
                         "update-binfmts --enable")
    say = progress or (lambda m: print(m, file=sys.stderr, flush=True))
    dest = image_dir(arch)
    dest.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f".build-{DEB_ARCH[arch]}-", dir=dest.parent) as t:
        tmp = Path(t)
        log = open(tmp / "build.log", "w")
        seed = hashlib.sha256(_key(arch).encode()).hexdigest()
        root_uuid = str(uuid.UUID(seed[:32]))
        esp_serial = seed[32:40]
        rootdir = tmp / "root"
        say(f"distro image {arch}: mmdebstrap {SUITE} ({DEB_ARCH[arch]}, under emulation)")
        cmd = ["mmdebstrap", "--mode=root", f"--arch={DEB_ARCH[arch]}", "--variant=apt",
               "--include=" + ",".join(PACKAGES + (KERNEL[arch], GRUB[arch]))]
        for h in _setup_hooks(tmp):
            cmd.append(f"--setup-hook={h}")
        for h in _hooks(arch, tmp, root_uuid, esp_serial):
            cmd.append(f"--customize-hook={h}")
        cmd += ["--dpkgopt=force-unsafe-io", "--aptopt=Acquire::Languages \"none\""]
        cmd += [SUITE, rootdir, MIRROR]
        try:
            _run(cmd, log)
            t_strap = time.monotonic() - t0
            say(f"distro image {arch}: filesystems ({t_strap:.0f}s so far)")
            root_img, esp_img, disk = tmp / "root.img", tmp / "esp.img", tmp / "disk.img"
            _run(["truncate", "-s", f"{ROOT_MIB[arch]}M", root_img], log)
            _run(["mkfs.ext4", "-q", "-F", "-L", "root", "-U", root_uuid, "-d", rootdir,
                  root_img], log)
            shutil.rmtree(rootdir)
            _run(["truncate", "-s", f"{ESP_MIB}M", esp_img], log)
            _run(["mkfs.vfat", "-F", "32", "-n", "ESP", "-i", esp_serial, esp_img], log)
            total = 1 + ESP_MIB + ROOT_MIB[arch] + 1
            _run(["truncate", "-s", f"{total}M", disk], log)
            _run(["sgdisk", "-o", "-n", f"1:2048:+{ESP_MIB}M", "-t", "1:EF00", "-c", "1:ESP",
                  "-n", "2:0:0", "-t", "2:8300", "-c", "2:root", disk], log)
            _run(["dd", f"if={esp_img}", f"of={disk}", "bs=1M", "seek=1", "conv=notrunc,sparse"],
                 log)
            _run(["dd", f"if={root_img}", f"of={disk}", "bs=1M", f"seek={1 + ESP_MIB}",
                  "conv=notrunc,sparse"], log)
            esp_img.unlink()
            root_img.unlink()
            say(f"distro image {arch}: grub-install inside the guest (one direct-kernel boot)")
            qemu = QEMU[arch] + [
                "-m", "1024", "-smp", "2", "-nographic", "-no-reboot",
                "-kernel", tmp / "vmlinuz", "-initrd", tmp / "initrd.img",
                "-append", f"root=UUID={root_uuid} rw console=ttyAMA0 "
                           "init=/usr/local/sbin/armvm-firstboot",
                "-drive", f"if=none,id=hd,file={disk},format=raw",
                "-device", "virtio-blk-device,drive=hd", "-nic", "none"]
            p = subprocess.run([str(c) for c in qemu], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, errors="replace", timeout=1800)
            (tmp / "firstboot.log").write_text(p.stdout + p.stderr)
            if "ARMVM-DISTRO-GRUB-OK" not in p.stdout:
                raise BuildError(f"grub-install in the guest did not finish; see "
                                 f"{tmp / 'firstboot.log'}")
            grub_cfg = subprocess.run(["debugfs", "-R", "cat /boot/grub/grub.cfg",
                                       f"{disk}?offset={(1 + ESP_MIB) << 20}"],
                                      capture_output=True, text=True).stdout
            if f"root=UUID={root_uuid}" not in grub_cfg:
                raise BuildError("update-grub wrote no root=UUID= line")
            info = {"arch": arch, "suite": SUITE, "mirror": MIRROR, "root_uuid": root_uuid,
                    "hostname": f"debian-{DEB_ARCH[arch]}", "password": PASSWORD,
                    "quiet": CMDLINE_DEFAULT[arch] == "quiet",
                    "build_s": round(time.monotonic() - t0, 1),
                    "mmdebstrap_s": round(t_strap, 1), "key": _key(arch),
                    "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            (tmp / "meta.json").write_text(json.dumps(info, indent=1) + "\n")
            for f in ("vmlinuz", "initrd.img"):
                (tmp / f).unlink()
            log.close()
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(tmp, dest)
            os.mkdir(tmp)           # TemporaryDirectory cleans up a path that must exist
        except BaseException:
            keep = dest.parent / f"failed-{DEB_ARCH[arch]}.log"
            log.close()
            try:
                text = (tmp / "build.log").read_text(errors="replace")
                if (tmp / "firstboot.log").exists():
                    text += "\n---- firstboot ----\n" + (tmp / "firstboot.log").read_text()
                keep.write_text(text)
            except OSError:
                pass
            raise
    say(f"distro image {arch}: done in {time.monotonic() - t0:.0f}s -> {dest / 'disk.img'}")
    return dest / "disk.img"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Build Debian test images with Debian's tools.",
                                 epilog="example: python3 -m armvm_oe.testing.distro "
                                        "--arch aarch64 --arch arm")
    ap.add_argument("--arch", action="append", choices=sorted(DEB_ARCH))
    ap.add_argument("--check", action="store_true", help="only say whether the cache is warm")
    a = ap.parse_args(argv)
    rc = 0
    for arch in a.arch or ["aarch64", "arm"]:
        if a.check:
            hit = cached(arch)
            print(f"{arch}: {hit or 'not built'}")
            rc |= hit is None
            continue
        try:
            print(build(arch))
        except BuildError as e:
            kept = image_dir(arch).parent / f"failed-{DEB_ARCH[arch]}.log"
            print(f"error: {e}" + (f" (the build's log is kept as {kept})"
                                   if kept.exists() else ""), file=sys.stderr)
            rc = 2
    return rc


if __name__ == "__main__":
    sys.exit(main())
