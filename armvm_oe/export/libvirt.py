"""A libvirt domain for an exported image, ready for ``virsh define``.

What each element is for (libvirt's domain XML documentation,
https://libvirt.org/formatdomain.html):

* ``<type arch='aarch64'|'armv7l' machine='virt'>``: QEMU's ``virt``
  board, the platform the ARM VM System Specification describes.
* ``<os firmware='efi'>``: libvirt picks the host's UEFI build from the
  firmware descriptors in /usr/share/qemu/firmware (Debian's qemu-efi-*),
  and gives the domain its *own* variable store copied from that
  firmware's template on first start (``/var/lib/libvirt/qemu/nvram/`` or
  ``~/.config/libvirt/qemu/nvram/``): FW-VARSTORE. The image is never the
  variable store; nothing is written into it (FW-NOT-IN-IMAGE). With
  ``--firmware CODE --vars-template VARS`` the loader and the template are
  named explicitly instead (hosts without firmware descriptors).
* no ``<acpi/>`` feature: libvirt then starts the virt machine with
  ``acpi=off``, so the guest gets the FDT only (HW-FDT).
* ``<gic version='3'/>`` (aarch64; armv7 guests get GICv2, which is all a
  32-bit guest can use on virt).
* virtio disk and network, both consoles: the PL011 UART (``ttyAMA0``) as
  the primary serial console and a virtio console (``hvc0``) as a second
  one, so ``virsh console NAME`` and ``virsh console NAME console1`` both
  reach the guest (GUEST-CONSOLE).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from armvm_oe.qemu.argv import TCG_CPU

LIBVIRT_ARCH = {"aarch64": "aarch64", "arm": "armv7l"}
DISK_TYPE = {"qcow2": "qcow2", "raw": "raw", "vhd": "vpc"}   # libvirt's names (no vhdx in libvirt)


def domain_xml(name: str, arch: str, disk: Path, disk_format: str, *, domain_type: str = "qemu",
               memory_mib: int = 1024, vcpus: int = 2, loader: Path | None = None,
               vars_template: Path | None = None, network: str = "user") -> str:
    """The domain document. ``domain_type``: ``kvm`` on an Arm host with
    KVM, ``qemu`` (TCG emulation) anywhere else. ``loader``/``vars_template``:
    explicit firmware instead of libvirt's automatic selection."""
    dom = ET.Element("domain", type=domain_type)
    ET.SubElement(dom, "name").text = name
    ET.SubElement(dom, "description").text = (
        "ARM VM System Specification image exported by armvm-oe: UEFI from the host, a "
        "per-domain variable store, FDT (no ACPI), virtio devices, PL011 + virtio consoles")
    ET.SubElement(dom, "memory", unit="MiB").text = str(memory_mib)
    ET.SubElement(dom, "vcpu").text = str(vcpus)
    os_el = ET.SubElement(dom, "os")
    if loader is None:
        os_el.set("firmware", "efi")
        # without this libvirt prefers the Secure Boot build with Microsoft's
        # keys enrolled (Debian's 40-edk2-aarch64-secure-enrolled.json), which
        # refuses an unsigned GRUB and starts with a pre-filled variable store
        fw = ET.SubElement(os_el, "firmware")
        ET.SubElement(fw, "feature", enabled="no", name="secure-boot")
        ET.SubElement(fw, "feature", enabled="no", name="enrolled-keys")
    ET.SubElement(os_el, "type", arch=LIBVIRT_ARCH[arch], machine="virt").text = "hvm"
    if loader is not None:
        ET.SubElement(os_el, "loader", readonly="yes", type="pflash").text = str(loader)
        nv = ET.SubElement(os_el, "nvram")
        if vars_template is not None:
            nv.set("template", str(vars_template))
    ET.SubElement(os_el, "boot", dev="hd")
    feats = ET.SubElement(dom, "features")
    ET.SubElement(feats, "gic", version="3" if arch == "aarch64" else "2")
    if domain_type == "kvm":
        ET.SubElement(dom, "cpu", mode="host-passthrough")
    else:
        cpu = ET.SubElement(dom, "cpu", mode="custom", match="exact")
        ET.SubElement(cpu, "model", fallback="forbid").text = TCG_CPU[arch]
    ET.SubElement(dom, "clock", offset="utc")
    ET.SubElement(dom, "on_poweroff").text = "destroy"
    ET.SubElement(dom, "on_reboot").text = "restart"
    ET.SubElement(dom, "on_crash").text = "destroy"
    dev = ET.SubElement(dom, "devices")
    d = ET.SubElement(dev, "disk", type="file", device="disk")
    ET.SubElement(d, "driver", name="qemu", type=DISK_TYPE[disk_format], discard="unmap")
    ET.SubElement(d, "source", file=str(Path(disk).resolve()))
    ET.SubElement(d, "target", dev="vda", bus="virtio")
    if network == "user":
        nic = ET.SubElement(dev, "interface", type="user")
    else:
        nic = ET.SubElement(dev, "interface", type="network")
        ET.SubElement(nic, "source", network=network)
    ET.SubElement(nic, "model", type="virtio")
    ET.SubElement(nic, "rom", enabled="no")     # UEFI has its own virtio-net driver; no iPXE ROM
    ser = ET.SubElement(dev, "serial", type="pty")
    tgt = ET.SubElement(ser, "target", type="system-serial", port="0")
    ET.SubElement(tgt, "model", name="pl011")
    con = ET.SubElement(dev, "console", type="pty")
    ET.SubElement(con, "target", type="serial", port="0")
    con2 = ET.SubElement(dev, "console", type="pty")
    ET.SubElement(con2, "target", type="virtio", port="1")
    rng = ET.SubElement(dev, "rng", model="virtio")
    ET.SubElement(rng, "backend", model="random").text = "/dev/urandom"
    ET.SubElement(dev, "memballoon", model="virtio")
    ET.indent(dom, "  ")
    return ET.tostring(dom, encoding="unicode") + "\n"
