"""Copies of the Debian arm64 test image (armvm_oe.testing.distro) with one
defect each, for ``armvm-oe test``'s health checks to find: an image whose
NIC has no driver, one with a service that fails, one whose kernel log has
a warning at boot, one whose PCIe host bridge has no driver. Each must fail
its cell with its own reason (tests/boot/test_variants.py).

Made without a loop device: a sparse copy of the cached image (which is
only read); its root partition is taken out into a file, ``e2fsck -fy``
replays the journal the image's last (build) boot left (debugfs cannot, and
edits made under a pending journal are undone by the kernel's replay at
mount), ``debugfs -w`` edits it, and it goes back into the copy:

* ``no-net-driver``: GRUB's kernel lines get ``module_blacklist=virtio_net``
  (the module is never loaded, as when a kernel lacks the driver);
* ``no-pci-host-driver``: ``initcall_blacklist=gen_pci_driver_init`` (the
  built-in pci-host-generic driver never registers: the FDT's
  ``pci-host-ecam-generic`` node stays unbound; booted on virtio-mmio);
* ``failing-unit``: an enabled ``armvm-broken.service`` whose command
  exits 1 (systemd ends ``degraded``);
* ``boot-warning``: an enabled service that writes a kernel-style
  ``WARNING: CPU: 0 PID: 1 at ...`` line into the kernel log through
  /dev/kmsg (the line a WARN_ON prints; the kernel itself has no switch
  to warn on purpose).

Cached in ``cache_dir()/distro/variants`` keyed by the source image's key
and the variant's recipe.

    python3 -m armvm_oe.testing.healthvariant no-net-driver   # prints the path
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from armvm_oe.testing import distro

RECIPE = 2                  # 2: the journal is replayed before the edits
GRUB_CFG = "/boot/grub/grub.cfg"
UNITS = "/etc/systemd/system"
WARN_LINE = "WARNING: CPU: 0 PID: 1 at drivers/armvm/variant.c:1 armvm_variant_warn+0x0/0x4"
VARIANTS = {
    "no-net-driver": {"cmdline": "module_blacklist=virtio_net"},
    "no-pci-host-driver": {"cmdline": "initcall_blacklist=gen_pci_driver_init"},
    "failing-unit": {"unit": ("armvm-broken.service",
                              "[Unit]\nDescription=armvm-oe test: a service that fails\n"
                              "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'exit 1'\n"
                              "[Install]\nWantedBy=multi-user.target\n")},
    "boot-warning": {"unit": ("armvm-warn.service",
                              "[Unit]\nDescription=armvm-oe test: a kernel warning at boot\n"
                              "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo \"<4>"
                              + WARN_LINE + "\" > /dev/kmsg'\n"
                              "[Install]\nWantedBy=multi-user.target\n")},
}


# one error class for the image variants (rootvariant and these)
from armvm_oe.testing.rootvariant import VariantError  # noqa: E402


def _key(name: str) -> str:
    return hashlib.sha256(json.dumps([RECIPE, distro._key("aarch64"), name, VARIANTS[name]],
                                     sort_keys=True).encode()).hexdigest()[:16]


def variant_dir(name: str) -> Path:
    return distro.cache_dir() / "distro" / "variants" / f"debian-arm64-{name}-{_key(name)}"


def cached(name: str) -> Path | None:
    d = variant_dir(name)
    return d / "disk.img" if (d / "meta.json").exists() and (d / "disk.img").exists() else None


def add_cmdline(cfg: str, extra: str) -> tuple[str, int]:
    """GRUB's ``linux`` lines with ``extra`` appended."""
    out, n = [], 0
    for line in cfg.split("\n"):
        if re.match(r"\s*linux\s", line) and extra not in line:
            line, n = f"{line} {extra}", n + 1
        out.append(line)
    return "\n".join(out), n


def _debugfs(fs: str, script: str) -> str:
    p = subprocess.run(["debugfs", "-w", "-f", "-", fs], input=script, capture_output=True,
                       text=True)
    if p.returncode:
        raise VariantError(f"debugfs failed: {p.stderr.strip()[-300:]}")
    return p.stdout + p.stderr


def _cat(fs: str, path: str) -> str:
    return subprocess.run(["debugfs", "-R", f"cat {path}", fs], capture_output=True,
                          text=True).stdout


def _dd(src, dst, *args: str) -> None:
    subprocess.run(["dd", f"if={src}", f"of={dst}", "bs=1M", "status=none", *args]
                   + ([] if any(a.startswith("conv=") for a in args) else ["conv=sparse"]),
                   check=True)


def replace_grub_cfg(tmp: Path, fs: str, text: str) -> None:
    """/boot/grub/grub.cfg of the root filesystem ``fs`` becomes ``text``
    (read-only, as Debian writes it), read back to be sure."""
    (tmp / "grub.cfg").write_text(text)
    _debugfs(fs, f"rm {GRUB_CFG}\nwrite {tmp / 'grub.cfg'} {GRUB_CFG}\n"
                 f"set_inode_field {GRUB_CFG} mode 0100444\n")
    if _cat(fs, GRUB_CFG) != text:
        raise VariantError(f"debugfs could not rewrite {GRUB_CFG}")
    (tmp / "grub.cfg").unlink()

def edit_root(src: Path, dest: Path, edit) -> Path:
    """A copy of the Debian arm64 image ``src`` at ``dest``/disk.img whose
    root filesystem ``edit(tmp, fs)`` changed (``fs``: the partition taken
    out into a file; returns the meta.json fields). The image leaves its
    build with an unreplayed ext4 journal: the partition is e2fsck'ed first,
    because the kernel replays that journal at mount, over blocks debugfs
    changed (a root=/dev/vda2 copy edited in place came up read-only, with
    systemd units failing). Checked clean after the edit, written back and
    read back; ``src`` is only read."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    skip, count = 1 + distro.ESP_MIB, distro.ROOT_MIB["aarch64"]
    with tempfile.TemporaryDirectory(prefix=".variant-", dir=dest.parent) as t:
        tmp = Path(t)
        disk = tmp / "disk.img"
        subprocess.run(["cp", "--sparse=always", str(src), str(disk)], check=True)
        fs = str(tmp / "root.ext4")
        _dd(disk, fs, f"skip={skip}", f"count={count}")
        p = subprocess.run(["e2fsck", "-fy", fs], capture_output=True, text=True)
        if p.returncode not in (0, 1):            # 1: errors corrected (the replay)
            raise VariantError(f"e2fsck could not make the root filesystem of {src} "
                               f"consistent: {p.stdout[-300:]}")
        meta = edit(tmp, fs)
        p = subprocess.run(["e2fsck", "-fn", fs], capture_output=True, text=True)
        if p.returncode:
            raise VariantError(f"the edited root filesystem is not clean: {p.stdout[-300:]}")
        # back into the copy; zero MiB blocks are skipped (sparse), which is
        # safe because they are zero in the source too, or were made zero by
        # nothing here: checked by reading the partition back
        _dd(fs, disk, f"seek={skip}", "conv=notrunc,sparse")
        back = tmp / "back.ext4"
        _dd(disk, back, f"skip={skip}", f"count={count}")
        if subprocess.run(["cmp", "-s", fs, str(back)]).returncode:
            raise VariantError("the edited root filesystem did not go back into the copy")
        back.unlink()
        os.unlink(fs)
        meta = dict(meta, **{"from": str(src), "from_key": distro._key("aarch64")})
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
        os.mkdir(tmp)
    return dest / "disk.img"


def build(name: str) -> Path:
    if name not in VARIANTS:
        raise VariantError(f"unknown variant {name!r} (one of {', '.join(VARIANTS)})")
    hit = cached(name)
    if hit:
        return hit
    src = distro.cached("aarch64")
    if src is None:
        raise VariantError("the Debian arm64 test image is not built: run "
                           "'python3 -m armvm_oe.testing.distro --arch aarch64' (as root)")
    if not shutil.which("debugfs"):
        raise VariantError("debugfs is missing (apt-get install e2fsprogs)")
    spec = VARIANTS[name]
    dest = variant_dir(name)

    def edit(tmp: Path, fs: str) -> dict:
        if "cmdline" in spec:
            new, n = add_cmdline(_cat(fs, GRUB_CFG), spec["cmdline"])
            if n == 0:
                raise VariantError(f"{GRUB_CFG} of {src} has no linux line")
            replace_grub_cfg(tmp, fs, new)
        if "unit" in spec:
            unit, text = spec["unit"]
            (tmp / unit).write_text(text)
            wants = f"{UNITS}/multi-user.target.wants"
            _debugfs(fs, f"write {tmp / unit} {UNITS}/{unit}\n"
                         f"set_inode_field {UNITS}/{unit} mode 0100644\n"
                         f"symlink {wants}/{unit} {UNITS}/{unit}\n")
            if _cat(fs, f"{UNITS}/{unit}") != text:
                raise VariantError(f"debugfs could not write {UNITS}/{unit}")
            (tmp / unit).unlink()
        return {"variant": name, "spec": spec, "key": _key(name)}

    return edit_root(src, dest, edit)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Debian arm64 test image variants with one "
                                             "defect each (for armvm-oe test's health checks).")
    ap.add_argument("variant", choices=sorted(VARIANTS))
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args(argv)
    if a.check:
        hit = cached(a.variant)
        print(hit or "not built")
        return 0 if hit else 1
    try:
        print(build(a.variant))
    except (VariantError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
