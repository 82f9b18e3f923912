"""VM instances: the per-instance UEFI variable store and disk overlay.

Layout under ``lib.data_dir()/instances/<name>/`` (XDG data dir)::

    instance.json     arch, image path/size/mtime, firmware, created/last run
    vars.fd           this instance's copy of the firmware's vars template
    disk.qcow2        qcow2 overlay backed by the image (the image is never written)

FW-VARSTORE: the variable store belongs to the instance. It is created on
the first run, reused by every later run, never written into the image, and
never deleted except by an explicit ``--reset-vars`` (which renews it from
the template)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from armvm_oe import lib
from armvm_oe.errors import InputError, ProblemFound, ToolMissing, UsageError
from armvm_oe.qemu.firmware import Firmware

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def default_root() -> Path:
    return lib.data_dir() / "instances"


def default_name(image: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(image).name)
    for suffix in (".rootfs.wic", ".wic", ".img", ".raw", ".qcow2"):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            break
    return stem.lstrip("-._")[:64] or "default"


def check_image(image: Path) -> Path:
    """A readable disk image, or a clear InputError."""
    image = Path(image)
    if not image.exists():
        raise InputError(f"the image {image} does not exist", None,
                         "Give the path of a built image (.wic)")
    if not image.is_file():
        raise InputError(f"the image {image} is not a regular file", None,
                         "Give the path of a built image (.wic)")
    try:
        with open(image, "rb") as f:
            head = f.read(1024)
    except OSError as e:
        raise InputError(f"the image {image} cannot be read", e.strerror or str(e),
                         "Check its permissions (the image is only ever read)")
    if len(head) < 1024:
        raise InputError(f"the image {image} is too small to be a disk image",
                         f"it has {image.stat().st_size} bytes", "Give a built GPT disk image")
    if head[:4] != b"QFI\xfb" and head[512:520] != b"EFI PART" and head[510:512] != b"\x55\xaa" \
            and not _container(image):
        raise InputError(f"{image} is not a disk image",
                         "it has neither a partition table nor a qcow2 header",
                         "Give a built GPT disk image (.wic)")
    if head[:4] == b"QFI\xfb":
        # QEMU follows a qcow2's backing chain itself: never over a network
        # (an nbd:// backing hangs the boot), never to a file the caller
        # could not read (issue 16); local readable backings are fine here
        from armvm_oe.image.source import check_backing_chain
        check_backing_chain(image, allow_backing=True)
    return image


def _container(image: Path) -> bool:
    """A VMDK/VHD/VHDX (armvm-oe export's formats), which QEMU reads natively."""
    from armvm_oe.image.containers import detect
    return detect(image) in ("vmdk", "vhdx", "vpc", "vpc-fixed")


def image_format(image: Path) -> str:
    """The format QEMU is told (raw, qcow2, vmdk, vhdx or vpc), by content."""
    from armvm_oe.image.containers import qemu_format
    return qemu_format(image)


def create_overlay(image: Path, overlay: Path) -> Path:
    exe = shutil.which("qemu-img")
    if not exe:
        raise ToolMissing("qemu-img", "qemu-utils", "create the copy-on-write disk of a VM instance")
    overlay.parent.mkdir(parents=True, exist_ok=True)
    with lib.atomic_output(overlay, mode=0o600) as tmp:
        p = subprocess.run([exe, "create", "-q", "-f", "qcow2", "-F", image_format(image),
                            "-b", str(Path(image).resolve()), str(tmp)],
                           capture_output=True, text=True)
        if p.returncode:
            raise ProblemFound(f"qemu-img could not create the overlay {overlay}",
                               p.stderr.strip() or f"exit {p.returncode}",
                               "Check free space and permissions in the instance directory")
    return overlay


_CHUNK = 1 << 20
_ZEROS = bytes(_CHUNK)


def copy_vars(template: Path, dest: Path) -> Path:
    """A private copy of the variable-store template, written sparsely: the
    firmware templates are 64 MiB and mostly (Debian's AAVMF: entirely)
    zeros, so only non-zero 1 MiB chunks are written. This keeps creating an
    instance from costing a 64 MiB disk write before QEMU can start."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    # the store is private to its instance (0600) and appears whole (rename)
    with lib.atomic_output(dest, mode=0o600) as tmp, \
            open(template, "rb") as src, open(tmp, "wb") as dst:
        while True:
            chunk = src.read(_CHUNK)
            if not chunk:
                break
            if chunk == _ZEROS[:len(chunk)]:
                dst.seek(len(chunk), os.SEEK_CUR)
            else:
                dst.write(chunk)
        dst.truncate()              # the size, when the file ends in a hole
        dst.flush()
        os.fsync(dst.fileno())
    return dest


@dataclass
class Instance:
    name: str
    path: Path

    @property
    def meta_file(self) -> Path:
        return self.path / "instance.json"

    @property
    def vars_file(self) -> Path:
        return self.path / "vars.fd"

    @property
    def overlay(self) -> Path:
        return self.path / "disk.qcow2"

    @property
    def qmp_socket(self) -> Path:
        return self.path / "qmp.sock"

    def meta(self) -> dict:
        try:
            return json.loads(self.meta_file.read_text())
        except (OSError, ValueError):
            return {}

    def save_meta(self, meta: dict) -> None:
        lib.atomic_write(self.meta_file, json.dumps(meta, indent=2, sort_keys=True) + "\n")

    def summary(self) -> dict:
        m = self.meta()
        return {"name": self.name, "path": str(self.path), "arch": m.get("arch"),
                "image": m.get("image"), "created": m.get("created"),
                "last_run": m.get("last_run"), "runs": m.get("runs", 0),
                "vars_file": str(self.vars_file) if self.vars_file.exists() else None,
                "vars_created": m.get("vars_created"),
                "overlay": str(self.overlay) if self.overlay.exists() else None,
                "overlay_bytes": _allocated(self.overlay),
                "firmware": m.get("firmware")}


def _allocated(p: Path) -> int | None:
    try:
        return p.stat().st_blocks * 512
    except OSError:
        return None


class InstanceStore:
    """Instances under ``root`` (default: the user's XDG data dir)."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else default_root()

    def get(self, name: str) -> Instance:
        if not NAME_RE.match(name):
            raise UsageError(f"{name!r} is not a valid instance name",
                             "names are 1-64 letters, digits, '.', '_' or '-'",
                             "Choose another --instance name")
        return Instance(name, self.root / name)

    def list(self) -> list[Instance]:
        if not self.root.is_dir():
            return []
        return [Instance(p.name, p) for p in sorted(self.root.iterdir())
                if p.is_dir() and (p / "instance.json").exists()]

    def prepare(self, name: str, image: Path, arch: str, firmware: Firmware, *,
                reset_vars: bool = False, overlay: bool = True, force: bool = False,
                log=None) -> tuple[Instance, dict]:
        """Create or reuse ``name`` for ``image``: its vars store (copied from
        the template on first use or on ``reset_vars``) and its overlay.
        Returns the instance and what happened (``vars``: created|reused|reset,
        ``overlay``: created|reused|recreated|none).

        Nothing the guest wrote is discarded unless asked: the variable store
        is replaced only with ``reset_vars``, and an overlay whose image
        changed since (its blocks no longer match the backing file) is
        recreated only with ``force``; without it, UsageError (exit 2)."""
        inst = self.get(name)
        image = Path(image).resolve()
        meta = inst.meta()
        events = {}
        if not meta and inst.meta_file.exists() and (inst.vars_file.exists()
                                                     or inst.overlay.exists()):
            # read as "new", the overlay (backed by the image it was made for)
            # and the variables would be adopted for this image silently
            raise UsageError(
                f"instance '{name}' cannot be used: {inst.meta_file} cannot be read",
                "it records which image the instance's disk overlay and UEFI variable store "
                "belong to",
                f"Repair it, use another --instance name, or remove {inst.path} to start "
                "over (that discards the instance's disk and variables)")
        if meta and meta.get("image") and meta["image"] != str(image):
            raise UsageError(
                f"instance '{name}' belongs to another image ({meta['image']})",
                "an instance's disk overlay is backed by the image it was created for",
                f"Use another --instance name, or remove {inst.path} to start over")
        if meta and meta.get("arch") and meta["arch"] != arch:
            raise UsageError(f"instance '{name}' is an {meta['arch']} instance, not {arch}",
                             None, "Use another --instance name")
        inst.path.mkdir(parents=True, exist_ok=True)
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        if not meta:
            meta = {"name": name, "image": str(image), "arch": arch, "created": now, "runs": 0}
        fw_meta = firmware.as_dict()
        if reset_vars or not inst.vars_file.exists():
            events["vars"] = "reset" if inst.vars_file.exists() else "created"
            copy_vars(firmware.vars_template, inst.vars_file)
            meta["vars_created"] = now
        else:
            events["vars"] = "reused"
            old = (meta.get("firmware") or {}).get("vars_template")
            if old and old != str(firmware.vars_template) and log:
                log(f"note: instance '{name}' keeps its variable store made from {old}; "
                    f"use --reset-vars to renew it from {firmware.vars_template}")
        meta["firmware"] = fw_meta
        if overlay:
            st = image.stat()
            stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
            if not inst.overlay.exists():
                create_overlay(image, inst.overlay)
                events["overlay"] = "created"
            elif meta.get("image_stamp") and meta["image_stamp"] != stamp:
                # the image was rebuilt under the overlay: the old overlay's
                # blocks no longer match it. It holds what the guest wrote,
                # so it is replaced (by rename; vars are kept) only on --force
                if not force:
                    raise UsageError(
                        f"{image} changed since instance '{name}' made its disk overlay "
                        f"{inst.overlay}",
                        "the overlay holds the guest's disk writes on top of the old image; "
                        "on the changed image its blocks no longer match, and replacing it "
                        "discards those writes",
                        "Pass --force to discard the overlay and start a fresh one (the UEFI "
                        "variables are kept), or use another --instance name")
                create_overlay(image, inst.overlay)
                events["overlay"] = "recreated"
                if log:
                    log(f"note: {image} changed since instance '{name}' was created; "
                        "its disk overlay was recreated (the UEFI variables were kept)")
            else:
                events["overlay"] = "reused"
            meta["image_stamp"] = stamp
        else:
            events["overlay"] = "none"
        meta["last_run"] = now
        meta["runs"] = int(meta.get("runs", 0)) + 1
        inst.save_meta(meta)
        return inst, events
