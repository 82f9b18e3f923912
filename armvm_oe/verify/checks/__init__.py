"""The checks of ``armvm-oe verify``: each a small function of the shared
:class:`Context` returning findings that name a requirement id.

One module per part of the specification, as the report's headings are:

* :mod:`.image_disk`: Image format, the disk (IMG-GPT, IMG-ESP-TYPE, IMG-ESP-FAT32)
* :mod:`.image_boot`: Image format, the boot application (IMG-REMOVABLE-PATH, IMG-EFI-APP)
* :mod:`.image_grub`: Image format, GRUB (IMG-GRUB)
* :mod:`.firmware`: Virtual firmware (FW-NOT-IN-IMAGE)
* :mod:`.hardware`: Hardware description (HW-FDT)
* :mod:`.platform`: VM platform (GUEST-*)

Every check is independent: a corrupt structure in one (a FAT loop, a bad PE
header) becomes that check's finding, never an exception out of verify.
:data:`CHECKS` is their order (later checks read what earlier ones found in
the context: the ESP, the boot application, the GRUB config, the kernel).
"""

from __future__ import annotations

from typing import Callable

from armvm_oe.verify.checks.context import Context, TooLarge
from armvm_oe.verify.checks.firmware import firmware
from armvm_oe.verify.checks.image_boot import efi_app, removable_path
from armvm_oe.verify.checks.image_disk import esp_fat, esp_type, gpt_table
from armvm_oe.verify.checks.image_grub import grub_config
from armvm_oe.verify.checks.platform import kernel_config
from armvm_oe.verify.model import Finding

CHECKS: list[Callable[[Context], list[Finding]]] = [
    gpt_table, esp_type, esp_fat, removable_path, efi_app, firmware, grub_config, kernel_config]

__all__ = ["CHECKS", "Context", "TooLarge"]
