"""What a guest says about itself without anything of ours inside it.

Two sources, both pure text parsing here (no I/O), so each rule is tested on
logs of real boots:

* the **kernel log** as it scrolls past on the console (``passive_facts``):
  only there when the kernel is not booted with ``quiet`` (or a low
  ``loglevel=``); :func:`log_is_quiet` says when it was not shown;
* the answers of **shell commands** run after a login (``SHELL_PROBE`` and
  ``parse_shell``): busybox or coreutils only, reading /proc and /sys.

Facts use the same keys in both, so a column is judged the same way from
either: ``gic`` ("2"/"3"), ``virtio`` (list of ``name:0xID:bus``), ``tty``,
``consoles``, ``efi``/``fdt``/``acpi`` ("yes"/"no"), ``arch``, ``cpus``,
``mem_kb``, ``cmdline``.

    from armvm_oe.qemu.probe import passive_facts, parse_shell, SHELL_PROBE
    facts = passive_facts(serial_log)       # {'gic': '3', 'efi': 'yes', ...}
"""

from __future__ import annotations

import re

from armvm_oe.ui import ANSI_RE  # the one definition of an escape sequence

# dmesg-style timestamp prefix (absent with printk.time=0)
_TS = r"(?:\[\s*\d+\.\d+\]\s*)?"
LINUX_RE = re.compile(_TS + r"Linux version (\S+)")
GICV3_RE = re.compile(_TS + r"GICv3: (?:\d+ SPIs implemented|CPU\d+: found redistributor)")
# irq-gic.c (GICv2) prints no "GICv2:" line of its own; QEMU's virt machine
# gives a GICv2 its v2m MSI frame, which the kernel announces, and the
# arm64 kernel says it uses the memory-mapped CPU interface
GICV2_RE = re.compile(_TS + r"(?:GICv2m: range|GIC: Using split EOI|GIC physical location)")
EFI_RE = re.compile(_TS + r"efi: EFI v(\d+)\.(\d+)")
FDT_RE = re.compile(_TS + r"(?:OF: fdt: )?Machine model: (.+)")
# lines that exist only when the kernel took the firmware's ACPI tables
ACPI_USED_RE = re.compile(_TS + r"ACPI: (?:RSDP|XSDT|FACP|DSDT|MADT|APIC|GTDT|SPCR|Early table)")
ACPI_OFF_RE = re.compile(_TS + r"ACPI: (?:Interpreter disabled|disabled)")
CONSOLE_RE = re.compile(_TS + r"printk: console \[(\w+)\] enabled")
CMDLINE_RE = re.compile(_TS + r"Kernel command line: (.*)")
SMP_RE = re.compile(_TS + r"smp: Brought up \d+ nodes?, (\d+) CPUs?")
MEM_RE = re.compile(_TS + r"Memory: \d+K/(\d+)K available")
# PCI functions of Red Hat/Qumranet's virtio vendor id: transitional device
# ids 0x1000 + (legacy id) and modern 0x1040 + (virtio device id)
PCI_VIRTIO_RE = re.compile(_TS + r"pci (\S+): \[1af4:(1[0-9a-f]{3})\]")
LEGACY_PCI_ID = {0x1000: 1, 0x1001: 2, 0x1002: 5, 0x1003: 3, 0x1004: 8, 0x1005: 4, 0x1009: 9}
VIRTIO_PCI_ENABLE_RE = re.compile(_TS + r"virtio-pci (\S+): enabling device")
VIRTIO_DRIVER_RE = re.compile(_TS + r"(virtio_blk|virtio_net|virtio_console|virtio_balloon) "
                              r"(virtio\d+)")
DRIVER_ID = {"virtio_net": 1, "virtio_blk": 2, "virtio_console": 3, "virtio_balloon": 5}
ARCH64_RE = re.compile(_TS + r"CPU: All CPU\(s\) started at EL\d")
ARCH32_RE = re.compile(_TS + r"CPU: ARMv[78] Processor")


# EDK II's boot manager names the entry it starts (on the console, before GRUB)
BDS_RE = re.compile(r'BdsDxe: starting (Boot[0-9A-Fa-f]{4}) "([^"]*)" from (\S+)')


def firmware_boot(text: str) -> tuple[str, str, str] | None:
    """(entry, description, device path) of the boot option the firmware
    started, when it said so (EDK II/AAVMF does)."""
    m = BDS_RE.search(clean(text))
    return (m.group(1), m.group(2), m.group(3)) if m else None


def removable_boot(device_path: str) -> bool:
    """A device path without a file node: the firmware booted the medium's
    default \\EFI\\BOOT\\BOOT<arch>.EFI (the removable-media path)."""
    return "\\" not in device_path and ".efi" not in device_path.lower()


def clean(text: str) -> str:
    return ANSI_RE.sub("", text or "").replace("\r", "")


def log_is_quiet(text: str) -> bool:
    """True when the console carried no kernel log (``quiet``/``loglevel``):
    the banner and the early boot lines are missing."""
    t = clean(text)
    return not LINUX_RE.search(t) and not GICV3_RE.search(t) and not CMDLINE_RE.search(t)


def pci_virtio_id(pci_device_id: int) -> int | None:
    if pci_device_id >= 0x1040:
        return pci_device_id - 0x1040
    return LEGACY_PCI_ID.get(pci_device_id)


def passive_facts(text: str) -> dict:
    """Facts the kernel printed on the console. Keys are only present when
    the log shows them (absence of a key means "not seen", except ``acpi``
    which is "no" when the log is complete and shows no ACPI table)."""
    t = clean(text)
    f: dict = {}
    m = LINUX_RE.search(t)
    if m:
        f["kernel"] = m.group(1)
    if GICV3_RE.search(t):
        f["gic"] = "3"
    elif GICV2_RE.search(t):
        f["gic"] = "2"
    m = EFI_RE.search(t)
    if m:
        f["efi"] = "yes"
        f["efi_version"] = f"{m.group(1)}.{m.group(2)}"
    m = FDT_RE.search(t)
    if m:
        f["fdt"] = "yes"
        f["machine_model"] = m.group(1).strip()
    if ACPI_USED_RE.search(t):
        f["acpi"] = "yes"
    elif not log_is_quiet(t):
        f["acpi"] = "no"
        if ACPI_OFF_RE.search(t):
            f["acpi_line"] = ACPI_OFF_RE.search(t).group(0).strip()
    consoles = [c for c in CONSOLE_RE.findall(t) if c != "tty0"]
    if consoles:
        f["consoles"] = " ".join(dict.fromkeys(consoles))
    m = CMDLINE_RE.search(t)
    if m:
        f["cmdline"] = m.group(1).strip()
    m = SMP_RE.search(t)
    if m:
        f["cpus"] = m.group(1)
    m = MEM_RE.search(t)
    if m:
        f["mem_kb"] = m.group(1)       # total RAM the kernel was given (not MemTotal)
    if ARCH64_RE.search(t):
        f["arch"] = "aarch64"
    elif ARCH32_RE.search(t):
        f["arch"] = "armv7l"
    virtio = _log_virtio(t)
    if virtio:
        f["virtio"] = virtio
    return f


def _log_virtio(t: str) -> list[str]:
    """``name:0xID:bus`` per virtio device the log shows. PCI: one per
    virtio PCI function ([1af4:xxxx] in the bus scan, "virtio-pci ...
    enabling device" when the driver binds). MMIO: a device driver bound to
    a virtioN device while no virtio PCI function exists."""
    pci = {}
    for addr, dev in PCI_VIRTIO_RE.findall(t):
        vid = pci_virtio_id(int(dev, 16))
        if vid is not None:
            pci[addr] = vid
    enabled = set(VIRTIO_PCI_ENABLE_RE.findall(t))
    drivers = dict((name, DRIVER_ID[drv]) for drv, name in VIRTIO_DRIVER_RE.findall(t))
    if pci:
        return [f"{addr}:0x{vid:04x}:pci" for addr, vid in pci.items()
                if addr in enabled or vid in drivers.values()]
    return [f"{name}:0x{vid:04x}:mmio" for name, vid in drivers.items()]


# -- after a login ---------------------------------------------------------
# One line per fact, "armvm-oe-probe key=value"; every command exists in
# busybox and in coreutils/util-linux. The tag is split in the source so an
# echoing console never shows the literal tag before the answer.
SHELL_PROBE = "; ".join([
    "P='armvm-oe''-probe'",
    'echo "$P arch=$(uname -m)"',
    'echo "$P tty=$(readlink /proc/self/fd/0)"',
    "echo \"$P consoles=$(cut -d' ' -f1 /proc/consoles 2>/dev/null | tr '\\n' ' ')\"",
    'DT=/sys/firmware/devicetree/base; [ -d $DT ] || DT=/proc/device-tree',
    'echo "$P fdt=$([ -d $DT ] && echo yes || echo no)"',
    # one process for every top-level node: the interrupt controller's
    # "compatible" (NUL-separated strings; the first is the most specific)
    "grep -a -H -o 'arm,[a-z0-9-]*gic[a-z0-9-]*' $DT/*/compatible 2>/dev/null |"
    " sed \"s|^|$P dtcompat=|; s|/compatible:|:|\"",
    'echo "$P efi=$([ -d /sys/firmware/efi ] && echo yes || echo no)"',
    'echo "$P acpi=$([ -d /sys/firmware/acpi/tables ] && echo yes || echo no)"',
    'for d in /sys/bus/virtio/devices/*; do [ -e $d/device ] &&'
    ' echo "$P virtio=${d##*/}:$(cat $d/device):$(readlink -f $d/..)"; done',
    'echo "$P cpus=$(grep -c ^processor /proc/cpuinfo)"',
    "echo \"$P mem_kb=$(grep MemTotal /proc/meminfo | tr -s ' ' | cut -d' ' -f2)\"",
    'echo "$P cmdline=$(cat /proc/cmdline)"',
    "echo \"$P root=$(grep -v rootfs /proc/mounts | while read d m r; do"
    " [ $m = / ] && echo $d; done | tail -n 1)\"",
    'echo "$P hypervisor=$(cat /sys/hypervisor/type 2>/dev/null)"',
    "echo \"$P xen_drivers=$(ls /sys/bus/xen/drivers 2>/dev/null | tr '\\n' ' ')\"",
])
SHELL_RE = re.compile(r"armvm-oe-probe (\w+)=([^\n]*)")
GIC_COMPAT = {"arm,gic-v3": "3", "arm,cortex-a15-gic": "2", "arm,gic-400": "2",
              "arm,cortex-a9-gic": "2", "arm,cortex-a7-gic": "2"}


def parse_shell(text: str) -> dict:
    """The answers to :data:`SHELL_PROBE` as facts."""
    f: dict = {}
    virtio, compat = [], []
    for key, value in SHELL_RE.findall(clean(text)):
        value = value.strip()
        if key == "virtio":
            name, _, rest = value.partition(":")
            did, _, parent = rest.partition(":")
            bus = "pci" if "/pci" in parent else "mmio" if "virtio_mmio" in parent or \
                "virtio-mmio" in parent else parent.rsplit("/", 1)[-1] or "?"
            virtio.append(f"{name}:{did}:{bus}")
        elif key == "dtcompat":
            compat.append(value)
        elif value:
            f[key] = value.removeprefix("/dev/") if key == "tty" else value
    if virtio:
        f["virtio"] = virtio
    for c in compat:
        node, _, names = c.partition(":")
        for name in names.split():
            if name in GIC_COMPAT:
                f["gic"] = GIC_COMPAT[name]
                f["gic_node"] = f"{node.rsplit('/', 1)[-1]} ({name})"
                break
        if "gic" in f:
            break
    if "consoles" in f:
        f["consoles"] = " ".join(f["consoles"].split())
    return f
