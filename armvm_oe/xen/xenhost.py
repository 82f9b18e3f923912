"""The harness "Xen host" for the domU row: a Debian bookworm arm64 dom0
with Debian's Xen toolstack (xen-utils-4.17: xl, xenstored, xenconsoled,
started by xen-utils-common's init script /etc/init.d/xen, which systemd
runs as xen.service: Debian 12 ships no native xenstored unit) and its kernel's xen-blkback, like the
dom0 of a Xen cloud host.

Derived from the cached Debian arm64 test image (armvm_oe.testing.distro),
which is only read: its root filesystem is copied out with ``debugfs
rdump`` (no loop device), the packages are installed into the copy with
apt in a chroot (qemu-user-static runs the arm64 maintainer scripts), and a
new ext4 filesystem with its *own* UUID is made from it with ``mkfs.ext4
-d`` (the image under test has the test image's UUID; two disks with one
UUID would make dom0's ``root=UUID=`` ambiguous). The result is a bare ext4
filesystem (no partition table) plus dom0's kernel and initrd, cached in
``cache_dir()/xenhost`` keyed by its inputs.

    python3 -m armvm_oe.xen.xenhost            # build (root) or print the cached path
    python3 -m armvm_oe.xen.xenhost --check    # exit 1 when the cache is cold
"""

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
from dataclasses import dataclass
from pathlib import Path

from armvm_oe.lib import cache_dir

RECIPE = 2                      # bump when what is built below changes
PACKAGES = ("xen-utils-4.17",)  # xl, xenstored, xenconsoled (+ xen-utils-common units)
HOSTNAME = "xenhost"            # not the test image's name: the two login prompts differ
ROOT_MIB = 1700
# loaded at boot: the block backend the domU's xvda comes from, and what xl needs
MODULES_LOAD = ("xen-blkback", "xen-evtchn", "xen-gntdev", "xen-gntalloc", "xen-privcmd",
                "xenfs", "vfat")


@dataclass
class XenHost:
    root: Path          # bare ext4 filesystem, dom0's root
    kernel: Path
    initrd: Path
    root_uuid: str
    meta: dict


class HostBuildError(RuntimeError):
    pass


def _source():
    from armvm_oe.testing import distro
    return distro


def _key() -> str:
    d = _source()
    h = hashlib.sha256()
    h.update(json.dumps([RECIPE, d._key("aarch64"), PACKAGES, HOSTNAME, ROOT_MIB,
                         MODULES_LOAD, d.MIRROR]).encode())
    return h.hexdigest()[:16]


def host_dir() -> Path:
    return cache_dir() / "xenhost" / f"debian-arm64-xen-{_key()}"


def cached() -> XenHost | None:
    d = host_dir()
    try:
        meta = json.loads((d / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    parts = [d / "root.ext4", d / "vmlinuz", d / "initrd.img"]
    if not all(p.exists() for p in parts):
        return None
    return XenHost(*parts, meta["root_uuid"], meta)


def _run(cmd, log, **kw):
    log.write(f"$ {' '.join(map(str, cmd))}\n")
    log.flush()
    p = subprocess.run([str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT, **kw)
    if p.returncode:
        raise HostBuildError(f"{Path(str(cmd[0])).name} failed (exit {p.returncode}); "
                             f"see {log.name}")
    return p


CHROOT_SCRIPT = r"""set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
apt-get -o Acquire::Languages=none update
apt-get -y --no-install-recommends -o Dpkg::Options::=--force-unsafe-io install @PACKAGES@
rm -f /usr/sbin/policy-rc.d
apt-get clean; rm -rf /var/lib/apt/lists/*
echo @HOSTNAME@ > /etc/hostname
printf '127.0.0.1 localhost\n127.0.1.1 @HOSTNAME@\n' > /etc/hosts
printf 'UUID=@UUID@ / ext4 errors=remount-ro 0 1\n' > /etc/fstab
printf '%s\n' @MODULES@ > /etc/modules-load.d/armvm-xenhost.conf
# Debian 12 starts xenstored and xenconsoled from xen-utils-common's SysV
# script /etc/init.d/xen (systemd runs it as xen.service); dpkg enabled it
ls /etc/rc2.d/S*xen
command -v xl
"""


def _mounted_under(path: Path) -> list[str]:
    p = str(Path(path).resolve())
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(p + "/")]


def _no_mounts_under(path: Path) -> None:
    """Refuse to go on (and so to delete ``path``) while anything is still
    mounted below it: removing the copy must never reach the host's /dev."""
    p = str(Path(path).resolve())
    left = _mounted_under(path)
    if left:
        raise HostBuildError(f"still mounted after the chroot: {', '.join(left)}; unmount "
                             f"them, then remove {p} by hand")


def _build_in(tmp: Path, src: Path, dest: Path, root_uuid: str, offset: int, say,
              t0: float) -> None:
    d = _source()
    with open(tmp / "build.log", "w") as log:
        _steps(tmp, src, dest, root_uuid, offset, say, t0, d, log)


def _steps(tmp, src, dest, root_uuid, offset, say, t0, d, log) -> None:
    rootdir = tmp / "root"
    rootdir.mkdir()
    mounted: list[Path] = []
    try:
        say(f"xen host: copying the test image's root filesystem out of {src} (read only)")
        _run(["debugfs", "-R", f"rdump / {rootdir}", f"{src}?offset={offset}"], log)
        if not (rootdir / "bin").exists() and not (rootdir / "usr/bin").exists():
            raise HostBuildError(f"debugfs rdump gave no root filesystem; see {log.name}")
        # apt/dpkg need /proc and /dev/null, /dev/urandom: a fresh proc and a
        # non-recursive, non-propagating bind of /dev (no /sys, no /dev/pts)
        for sub in ("proc", "dev"):
            (rootdir / sub).mkdir(exist_ok=True)
        _run(["mount", "-t", "proc", "proc", rootdir / "proc"], log)
        mounted.append(rootdir / "proc")
        _run(["mount", "--bind", "/dev", rootdir / "dev"], log)
        mounted.append(rootdir / "dev")
        _run(["mount", "--make-private", rootdir / "dev"], log)
        resolv = rootdir / "etc/resolv.conf"
        if resolv.is_symlink() or resolv.exists():
            resolv.unlink()
        shutil.copyfile("/etc/resolv.conf", resolv)
        script = (CHROOT_SCRIPT.replace("@PACKAGES@", " ".join(PACKAGES))
                  .replace("@HOSTNAME@", HOSTNAME).replace("@UUID@", root_uuid)
                  .replace("@MODULES@", " ".join(MODULES_LOAD)))
        say(f"xen host: apt-get install {' '.join(PACKAGES)} in a chroot (under emulation)")
        _run(["chroot", rootdir, "/bin/sh", "-c", script], log)
        t_apt = time.monotonic() - t0
    finally:
        for m in reversed(mounted):
            subprocess.run(["umount", str(m)], stdout=log, stderr=log)
        _no_mounts_under(rootdir)
    resolv.unlink()
    boot = rootdir / "boot"
    kernels = sorted(boot.glob("vmlinuz-*"))
    initrds = sorted(boot.glob("initrd.img-*"))
    if not kernels or not initrds:
        raise HostBuildError("the copied root filesystem has no /boot/vmlinuz-* and "
                             "/boot/initrd.img-*")
    shutil.copyfile(kernels[-1], tmp / "vmlinuz")
    shutil.copyfile(initrds[-1], tmp / "initrd.img")
    say(f"xen host: mkfs.ext4 -d ({t_apt:.0f}s so far)")
    _run(["truncate", "-s", f"{ROOT_MIB}M", tmp / "root.ext4"], log)
    _run(["mkfs.ext4", "-q", "-F", "-L", "xenhost", "-U", root_uuid, "-d", rootdir,
          tmp / "root.ext4"], log)
    shutil.rmtree(rootdir)
    meta = {"root_uuid": root_uuid, "hostname": HOSTNAME, "packages": list(PACKAGES),
            "from": str(src), "from_key": d._key("aarch64"), "key": _key(),
            "kernel": kernels[-1].name, "apt_s": round(t_apt, 1),
            "build_s": round(time.monotonic() - t0, 1),
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)


def build(progress=None) -> XenHost:
    """Build (or return the cached) Xen host. Needs root and the cached
    Debian arm64 test image (``python3 -m armvm_oe.testing.distro --arch
    aarch64`` builds it)."""
    hit = cached()
    if hit:
        return hit
    d = _source()
    src = d.cached("aarch64")
    if src is None:
        raise HostBuildError("the Debian arm64 test image is not built: run "
                             "'python3 -m armvm_oe.testing.distro --arch aarch64' (as root)")
    if os.geteuid() != 0:
        raise HostBuildError("building the Xen host needs root (chroot, mkfs.ext4 -d keeps "
                             "file owners); run .ci/setup.d or this module as root")
    for t in ("debugfs", "mkfs.ext4", "chroot"):
        if not shutil.which(t):
            raise HostBuildError(f"missing host tool {t} (apt-get install e2fsprogs)")
    if not d._binfmt_ok("aarch64"):
        raise HostBuildError("binfmt_misc has no enabled qemu-aarch64 handler: apt-get install "
                             "qemu-user-static binfmt-support; update-binfmts --enable")
    say = progress or (lambda m: print(m, file=sys.stderr, flush=True))
    dest = host_dir()
    dest.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    root_uuid = str(uuid.UUID(hashlib.sha256(("xenhost" + _key()).encode()).hexdigest()[:32]))
    offset = (1 + d.ESP_MIB) << 20           # the test image's root partition (distro.build)
    tmp = Path(tempfile.mkdtemp(prefix=".build-xenhost-", dir=dest.parent))
    try:
        _build_in(tmp, src, dest, root_uuid, offset, say, t0)
    except BaseException:
        try:
            shutil.copyfile(tmp / "build.log", dest.parent / "failed-xenhost.log")
        except OSError:
            pass
        raise
    finally:
        # never delete while something is still mounted in the copy (its /dev
        # is the host's): then the directory stays for a human to look at
        if not _mounted_under(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    say(f"xen host: done in {time.monotonic() - t0:.0f}s -> {dest}")
    hit = cached()
    assert hit is not None
    return hit


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Build the Debian Xen host (dom0) for the "
                                 "Xen domU row of 'armvm-oe test'.",
                                 epilog="example: sudo python3 -m armvm_oe.xen.xenhost")
    ap.add_argument("--check", action="store_true", help="only say whether the cache is warm")
    a = ap.parse_args(argv)
    if a.check:
        hit = cached()
        print(hit.root.parent if hit else "not built")
        return 0 if hit else 1
    try:
        print(build().root.parent)
    except HostBuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
