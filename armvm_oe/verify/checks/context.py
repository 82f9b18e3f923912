"""The shared state of one verify run (:class:`Context`), the helpers every
check uses (the lazily opened ESP and root filesystem) and the size limits
on what a check reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from armvm_oe.image import DiskImage, Ext4, Ext4Error, FatError, FatFs, TruncatedImage
from armvm_oe.image.fat import DirEntry
from armvm_oe.image.gpt import Partition
from armvm_oe.verify import grub
from armvm_oe.verify.model import Finding, bad_result

MAX_KERNEL = 256 << 20
MAX_EFI = 64 << 20


class TooLarge(FatError):
    """A file on the ESP is larger than the caller's read limit."""


@dataclass
class Context:
    img: DiskImage
    arch_option: str = "auto"
    kernel_config: Path | None = None
    use_debugfs: bool = True
    # filled in as checks run
    esp: Partition | None = None
    esp_fs: FatFs | None = None
    esp_error: str | None = None
    removable: DirEntry | None = None
    removable_name: str | None = None
    efi_data: bytes | None = None
    pe: object | None = None
    pe_error: str | None = None
    arch: str | None = None
    arch_source: str | None = None
    grub_image: grub.GrubImage | None = None
    grub_cfg_path: str | None = None
    grub_cfg: grub.GrubConfig | None = None
    kernel_path: str | None = None
    kernel_where: str | None = None      # "esp" | "root"
    kernel: dict = field(default_factory=lambda: {"path": None, "release": None,
                                                  "compression": None, "config_source": None})
    _root: Ext4 | None = None
    _root_error: str | None = None
    _root_tried: bool = False

    # -- lazily opened filesystems ----------------------------------------
    def root(self) -> Ext4 | None:
        if not self._root_tried:
            self._root_tried = True
            if not self.use_debugfs:
                self._root_error = "reading the root filesystem is disabled"
                return None
            part = self.img.root_partition()
            if part is None:
                self._root_error = "no ext2/3/4 partition in the image"
                return None
            try:
                self._root = self.img.ext4(part)
            except Ext4Error as err:
                self._root_error = str(err)
        return self._root

    def close(self) -> None:
        if self._root is not None:
            self._root.close()

    def esp_read(self, path: str, limit: int) -> bytes | None:
        if self.esp_fs is None:
            return None
        e = self.esp_fs.lookup(path)
        if e is None or e.is_dir:
            return None
        if e.size > limit:
            raise TooLarge(f"{e.path} is {e.size} bytes, over the {limit} byte limit")
        return self.esp_fs.read(e)

    def find_file(self, path: str, limit: int) -> tuple[bytes | None, str | None]:
        """A file named by the boot config: on the ESP, else on the root fs."""
        data = self.esp_read(path, limit)
        if data is not None:
            return data, "esp"
        root = self.root()
        if root is not None:
            try:
                return root.read(path, limit), "root"
            except FileNotFoundError:
                pass
        return None, None


def open_esp(ctx: Context) -> None:
    if ctx.esp is None or ctx.esp_fs is not None or ctx.esp_error:
        return
    try:
        ctx.esp_fs = ctx.img.fat(ctx.esp)
    except (FatError, TruncatedImage) as err:
        ctx.esp_error = str(err)


def no_esp(ctx: Context, req_id: str, check_name: str) -> Finding | None:
    if ctx.esp is None:
        return Finding(req_id, check_name, "unknown",
                       "no EFI System Partition was found (see IMG-ESP-TYPE), so this could "
                       "not be examined")
    if ctx.esp_fs is None:
        return Finding(req_id, check_name, bad_result(req_id),
                       f"the ESP (partition {ctx.esp.number}) is not a readable FAT "
                       f"filesystem: {ctx.esp_error}",
                       "Re-create the ESP with mkfs.vfat -F 32 -S 512")
    return None



def cmdline_value(args: list[str], key: str) -> list[str]:
    """The values of ``key=`` arguments on a kernel command line."""
    return [a.split("=", 1)[1] for a in args if a.startswith(key + "=")]
