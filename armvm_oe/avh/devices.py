"""AVH device models and the storage files their firmware packages carry.

From the AVH documentation ("Storage": "virtual Raspberry Pi 4 uses storage
file nand for the content of its microSD flash memory") and Linaro LAVA's AVH
deploy action (rpi4b -> ``nand``); ``virtio_0`` for the RD-Kronos automotive
model. Other models (i.MX 8M Plus EVK, i.MX 93...) are not confirmed in the
sources we could read: add them with ``--device-def NAME=STORAGE[,STORAGE...]``
after checking the model's storage page.
"""

from __future__ import annotations

from dataclasses import dataclass

from armvm_oe.errors import UsageError


@dataclass(frozen=True)
class Device:
    name: str
    storage: tuple[str, ...]
    description: str = ""


DEVICES: dict[str, Device] = {
    "rpi4b": Device("rpi4b", ("nand",), "Raspberry Pi 4: 'nand' is the whole SD card image "
                                        "(partition table included)"),
    "kronos": Device("kronos", ("virtio_0",), "Arm RD-Kronos automotive reference design: "
                                              "'virtio_0' is the virtio block disk image"),
}

_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def parse_device_spec(spec: str) -> Device:
    """``NAME=STORAGE[,STORAGE...]`` (the ``--device-def`` option) -> Device."""
    name, sep, files = spec.partition("=")
    name = name.strip()
    storage = tuple(s.strip() for s in files.split(",") if s.strip())
    if not sep or not name or not storage:
        raise UsageError(f"--device-def '{spec}' is not NAME=STORAGE[,STORAGE...]",
                         "each device names the storage files its firmware package carries",
                         "For example --device-def imx93=mmc")
    for part in (name,) + storage:
        if not set(part) <= _NAME_OK or part in (".", ".."):
            raise UsageError(f"--device-def '{spec}': '{part}' is not a plain file name",
                             "storage files are top-level members of the zip",
                             "Use letters, digits, '.', '_' and '-' only")
    return Device(name, storage, "added with --device-def")


def device_table(extra: list[str] | None = None) -> dict[str, Device]:
    """The built-in table plus ``--device-def`` additions (which may override)."""
    table = dict(DEVICES)
    for spec in extra or []:
        dev = parse_device_spec(spec)
        table[dev.name] = dev
    return table
