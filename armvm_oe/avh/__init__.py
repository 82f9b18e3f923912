"""Arm Virtual Hardware (AVH) Linux firmware packages: make them
(:func:`pack.pack`) and validate any of them (:func:`check.check_package`).
See docs/avh.md."""

from armvm_oe.avh.check import CheckReport, Limits, check_package, unsafe_name
from armvm_oe.avh.devices import DEVICES, Device, device_table, parse_device_spec
from armvm_oe.avh.formats import FormatError, check_arm64_image, check_dtb, check_info
from armvm_oe.avh.pack import PackResult, assign_storage, pack

__all__ = ["CheckReport", "Limits", "check_package", "unsafe_name", "DEVICES", "Device",
           "device_table", "parse_device_spec", "FormatError", "check_arm64_image",
           "check_dtb", "check_info", "PackResult", "assign_storage", "pack"]
