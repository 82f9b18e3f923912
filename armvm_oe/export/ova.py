"""The OVF descriptor and the OVA archive (DMTF DSP0243, VMware's OVF use).

An OVA is a tar (POSIX ustar) archive whose first member is the OVF
descriptor; the manifest (``.mf``, one ``SHA256(file)= hex`` line per other
file) follows it, then the disk. VMware's importers (ovftool, vSphere,
Workstation/Fusion) insist on that order and on a streamOptimized VMDK,
because they read the archive as a stream. The descriptor asks for UEFI
(``vmw:Config firmware=efi``): a spec image has no BIOS boot path."""

from __future__ import annotations

import hashlib
import io
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

NS = {
    "": "http://schemas.dmtf.org/ovf/envelope/1",
    "ovf": "http://schemas.dmtf.org/ovf/envelope/1",
    "cim": "http://schemas.dmtf.org/wbem/wscim/1/common",
    "rasd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData",
    "vssd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData",
    "vmw": "http://www.vmware.com/schema/ovf",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
VMDK_STREAM = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"

# per guest arch: CIM operating system id (CIM_OperatingSystem.OsType: 36
# LINUX, 101 Linux 64-Bit), VMware guest id, and the virtual hardware family
# (VMware's machine type; hardware version 20 is the first of VMware's Arm
# hypervisors; VMware runs no 32-bit Arm guests, so the armv7 descriptor is
# for other OVF importers and names the generic family)
ARCH = {
    "aarch64": {"cim_os": "101", "os_type": "other6xLinux64Guest", "family": "vmx-20",
                "os_desc": "Linux 6.x (64-bit Arm, aarch64)"},
    "arm": {"cim_os": "36", "os_type": "other6xLinuxGuest", "family": "vmx-20",
            "os_desc": "Linux 6.x (32-bit Arm, armv7)"},
}


def _q(prefix: str, tag: str) -> str:
    return f"{{{NS[prefix]}}}{tag}"


def _sub(parent: ET.Element, prefix: str, tag: str, text: str | None = None,
         **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, _q(prefix, tag))
    for k, v in attrs.items():
        p, _, name = k.partition("_")
        el.set(_q(p, name), v)
    if text is not None:
        el.text = text
    return el


def _item(hw: ET.Element, instance: int, rtype: int, name: str, desc: str,
          **fields: str) -> ET.Element:
    item = _sub(hw, "", "Item")
    # rasd elements are ordered alphabetically in the CIM schema
    values = {"Description": desc, "ElementName": name, "InstanceID": str(instance),
              "ResourceType": str(rtype), **fields}
    for key in sorted(values):
        _sub(item, "rasd", key, values[key])
    return item


def ovf_descriptor(name: str, arch: str, disk_file: str, disk_file_size: int,
                   capacity: int, populated: int | None = None, cpus: int = 2,
                   memory_mib: int = 1024) -> bytes:
    """The OVF 1.0 envelope for one VM with one streamOptimized VMDK."""
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)
    a = ARCH[arch]
    env = ET.Element(_q("", "Envelope"))
    refs = _sub(env, "", "References")
    _sub(refs, "", "File", ovf_href=disk_file, ovf_id="file1", ovf_size=str(disk_file_size))
    ds = _sub(env, "", "DiskSection")
    _sub(ds, "", "Info", "Virtual disk information")
    disk_attrs = dict(ovf_capacity=str(capacity), ovf_capacityAllocationUnits="byte",
                      ovf_diskId="vmdisk1", ovf_fileRef="file1", ovf_format=VMDK_STREAM)
    if populated is not None:
        disk_attrs["ovf_populatedSize"] = str(populated)
    _sub(ds, "", "Disk", **disk_attrs)
    ns = _sub(env, "", "NetworkSection")
    _sub(ns, "", "Info", "The list of logical networks")
    net = _sub(ns, "", "Network", ovf_name="VM Network")
    _sub(net, "", "Description", "The VM Network network")
    vs = _sub(env, "", "VirtualSystem", ovf_id=name)
    _sub(vs, "", "Info", "A portable Arm VM (ARM VM System Specification image, UEFI boot)")
    _sub(vs, "", "Name", name)
    os_sec = _sub(vs, "", "OperatingSystemSection", ovf_id=a["cim_os"], vmw_osType=a["os_type"])
    _sub(os_sec, "", "Info", "The kind of installed guest operating system")
    _sub(os_sec, "", "Description", a["os_desc"])
    hw = _sub(vs, "", "VirtualHardwareSection")
    _sub(hw, "", "Info", "Virtual hardware requirements")
    system = _sub(hw, "", "System")
    _sub(system, "vssd", "ElementName", "Virtual Hardware Family")
    _sub(system, "vssd", "InstanceID", "0")
    _sub(system, "vssd", "VirtualSystemIdentifier", name)
    _sub(system, "vssd", "VirtualSystemType", a["family"])
    _item(hw, 1, 3, f"{cpus} virtual CPU(s)", "Number of Virtual CPUs",
          AllocationUnits="hertz * 10^6", VirtualQuantity=str(cpus))
    _item(hw, 2, 4, f"{memory_mib}MB of memory", "Memory Size",
          AllocationUnits="byte * 2^20", VirtualQuantity=str(memory_mib))
    # NVMe: the disk controller VMware's Arm hypervisors boot from (no LSI/IDE on Arm)
    _item(hw, 3, 20, "NVME Controller 0", "NVMe Controller", Address="0",
          ResourceSubType="vmware.nvme.controller")
    _item(hw, 4, 17, "Hard Disk 1", "Hard disk", AddressOnParent="0",
          HostResource="ovf:/disk/vmdisk1", Parent="3")
    _item(hw, 5, 10, "Network adapter 1", "VmxNet3 ethernet adapter on \"VM Network\"",
          AddressOnParent="1", AutomaticAllocation="true", Connection="VM Network",
          ResourceSubType="VmxNet3")
    _sub(hw, "vmw", "Config", ovf_required="false", vmw_key="firmware", vmw_value="efi")
    _sub(hw, "vmw", "Config", ovf_required="false", vmw_key="bootOptions.efiSecureBootEnabled",
         vmw_value="false")
    ET.indent(env, "  ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(env, encoding="utf-8") \
        + b"\n"


def manifest(files: dict[str, bytes | Path]) -> bytes:
    """``SHA256(name)= hex`` lines (ovftool's manifest format)."""
    lines = []
    for name, content in files.items():
        h = hashlib.sha256()
        if isinstance(content, Path):
            with open(content, "rb") as f:
                while block := f.read(4 << 20):
                    h.update(block)
        else:
            h.update(content)
        lines.append(f"SHA256({name})= {h.hexdigest()}\n")
    return "".join(lines).encode()


def pack(out_tmp: Path, name: str, ovf: bytes, disk: Path, disk_name: str) -> None:
    """Write the OVA: descriptor, manifest, disk, in that order (ustar; pax
    only when the disk is too large for ustar's 8 GiB size field)."""
    mf = manifest({f"{name}.ovf": ovf, disk_name: disk})
    big = disk.stat().st_size >= 8 << 30
    fmt = tarfile.PAX_FORMAT if big else tarfile.USTAR_FORMAT
    with tarfile.open(out_tmp, "w", format=fmt) as tar:
        for member, data in ((f"{name}.ovf", ovf), (f"{name}.mf", mf)):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = int(disk.stat().st_mtime)
            tar.addfile(info, io.BytesIO(data))
        info = tar.gettarinfo(str(disk), arcname=disk_name)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o644
        with open(disk, "rb") as f:
            tar.addfile(info, f)
