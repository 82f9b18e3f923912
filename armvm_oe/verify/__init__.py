"""``armvm-oe verify``: static ARM VM System Specification compliance of a
disk image and its kernel.

    from armvm_oe.verify import verify
    report = verify("image.wic", arch="auto")      # -> model.Report
    report.compliant, report.exit_code             # no "fail" finding -> 0
    report.as_dict()                               # the documented JSON (model.SCHEMA)

The checks live in :mod:`armvm_oe.verify.checks`; rendering in
:mod:`armvm_oe.verify.render`. Unreadable input, and a file that is not a disk image at all (no MBR
signature, no GPT header), raises :class:`armvm_oe.errors.InputError`
(exit 2); everything found inside a disk image (including corruption) is a
finding.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from armvm_oe.image import DiskImage, Limits, Source, open_source
from armvm_oe.image import Ext4Error, FatError, TruncatedImage
from armvm_oe.verify.checks import CHECKS, Context
from armvm_oe.verify.model import SCHEMA, Finding, Report, bad_result

__all__ = ["verify", "verify_source", "Report", "Finding", "SCHEMA"]

# which requirement a check reports under when it breaks unexpectedly
_CHECK_REQ = {"gpt_table": "IMG-GPT", "esp_type": "IMG-ESP-TYPE", "esp_fat": "IMG-ESP-FAT32",
              "removable_path": "IMG-REMOVABLE-PATH", "efi_app": "IMG-EFI-APP",
              "firmware": "FW-NOT-IN-IMAGE", "grub_config": "IMG-GRUB",
              "kernel_config": "GUEST-EFI"}


def verify_source(source: Source, arch: str = "auto", kernel_config: str | os.PathLike | None = None,
                  use_debugfs: bool = True, limits: Limits | None = None,
                  strict: bool = False) -> Report:
    """Run every check on an already opened source (the fuzz tests use
    :class:`armvm_oe.image.BytesSource`)."""
    if arch not in ("auto", "aarch64", "arm"):
        raise ValueError(f"arch must be auto, aarch64 or arm, not {arch!r}")
    t0 = time.perf_counter()
    img = DiskImage(source, limits)
    ctx = Context(img, arch_option=arch,
                  kernel_config=Path(kernel_config) if kernel_config else None,
                  use_debugfs=use_debugfs)
    findings: list[Finding] = []
    try:
        for fn in CHECKS:
            try:
                findings.extend(fn(ctx))
            except (FatError, Ext4Error, TruncatedImage) as err:
                req = _CHECK_REQ[fn.__name__]
                findings.append(Finding(req, fn.__name__.replace("_", "-"), bad_result(req),
                                        f"the image is corrupt: {err}",
                                        "Rebuild the image"))
            except (MemoryError, RecursionError) as err:
                req = _CHECK_REQ[fn.__name__]
                findings.append(Finding(req, fn.__name__.replace("_", "-"), "unknown",
                                        f"gave up: {type(err).__name__}",
                                        details={"internal_error": type(err).__name__}))
            except Exception as err:  # noqa: BLE001 - one broken check must not hide the rest
                req = _CHECK_REQ[fn.__name__]
                findings.append(Finding(req, fn.__name__.replace("_", "-"), "unknown",
                                        f"internal error in check {fn.__name__}: "
                                        f"{type(err).__name__}: {err}",
                                        "Please report this with the image (or --debug output)",
                                        {"internal_error": f"{type(err).__name__}: {err}"}))
                if os.environ.get("ARMVM_DEBUG"):
                    raise
    finally:
        ctx.close()
    g = img.gpt
    root_bytes = ctx._root.bytes_out if ctx._root is not None else 0
    elapsed = time.perf_counter() - t0
    stats = {"seconds": round(elapsed, 4), "bytes_read": source.bytes_read,
             "image_size": source.size,
             "read_fraction": round(source.bytes_read / source.size, 6) if source.size else 0,
             "debugfs_output_bytes": root_bytes}
    image = {"path": source.name, "format": source.format, "size": source.size,
             "esp": ctx.esp.number if ctx.esp else None,
             "partitions": [p.as_dict() for p in g.partitions[:128]]}
    return Report(image, ctx.arch, ctx.arch_source, ctx.kernel, findings, stats, strict)


def verify(path: str | os.PathLike, arch: str = "auto",
           kernel_config: str | os.PathLike | None = None, use_debugfs: bool = True,
           limits: Limits | None = None, allow_backing: bool = False,
           strict: bool = False, max_expansion: float | None = None) -> Report:
    """Verify the image at ``path`` (raw, .gz, .bz2, .zst, .xz or .qcow2; a
    qcow2 with a backing file only with ``allow_backing``). ``max_expansion``
    raises the decompression limits (armvm_oe.image.source.expansion_limits)."""
    with open_source(path, allow_backing=allow_backing, max_expansion=max_expansion) as src:
        _require_disk_image(src)
        return verify_source(src, arch, kernel_config, use_debugfs, limits, strict)


def _require_disk_image(src: Source) -> None:
    """The exit-code contract (docs/exit-codes.md): a file that is not a
    disk image at all (no MBR signature, no GPT header at LBA 1 or at the end)
    is bad input, exit 2, as in ``test`` and ``run``; a disk image with a
    broken table is a finding (exit 1)."""
    from armvm_oe.errors import InputError

    head = src.read(0, 1024)
    tail = src.read(max(0, src.size - 512), 512) if src.size >= 1024 else b""
    if head[510:512] == b"\x55\xaa" or head[512:520] == b"EFI PART" or \
            tail[:8] == b"EFI PART":
        return
    raise InputError(f"{src.name} is not a disk image",
                     "it has neither an MBR signature nor a GPT header (at LBA 1 or at the end)",
                     "Give a built GPT disk image (.wic, optionally compressed, or .qcow2)")
