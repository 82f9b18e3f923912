"""The QEMU command line of a spec VM: ``virt`` machine, host UEFI firmware
in two pflash banks (code read-only, the instance's own variable store
writable), FDT only (``acpi=off``, HW-FDT), virtio devices on the chosen
transport, the chosen console.

Reusable by other back ends (e.g. the Xen runner)::

    from armvm_oe.qemu import VMConfig, build_argv
    argv = build_argv(VMConfig(arch="aarch64", disk=overlay, firmware=fw,
                               vars_file=vars_fd, gic=3, virtio="pci",
                               extra_args=["-device", "..."]))
"""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from armvm_oe.errors import ToolMissing, UsageError
from armvm_oe.qemu.firmware import Firmware

QEMU_BINARY = {"aarch64": "qemu-system-aarch64", "arm": "qemu-system-arm"}
QEMU_PACKAGE = "qemu-system-arm"          # Debian ships both binaries in it
TCG_CPU = {"aarch64": "cortex-a57", "arm": "cortex-a15"}
GICV2_MAX_CPUS = 8

# virtio device ids (virtio spec 5.x) -> name, as the guest reports them
VIRTIO_IDS = {1: "net", 2: "block", 3: "console", 4: "rng", 5: "balloon"}


def host_is_arm64() -> bool:
    return platform.machine().lower() in ("aarch64", "arm64")


def kvm_usable() -> bool:
    """/dev/kvm exists and this user may open it read-write, on an arm64 host."""
    if not host_is_arm64():
        return False
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def resolve_kvm(mode: str) -> bool:
    """``auto``: KVM when it works; ``on``: required (clear error otherwise)."""
    if mode == "off":
        return False
    ok = kvm_usable()
    if mode == "on" and not ok:
        why = ("this host is not arm64 (KVM runs Arm guests only on Arm hosts)"
               if not host_is_arm64() else "/dev/kvm is missing or not read-write for this user")
        raise UsageError("--kvm on was asked for but KVM is not usable", why,
                         "Use --kvm auto (emulation when KVM is unusable) or, on an arm64 host, "
                         "add yourself to the 'kvm' group")
    return ok


def qemu_binary(arch: str) -> str:
    name = QEMU_BINARY[arch]
    found = shutil.which(name)
    if not found:
        raise ToolMissing(name, QEMU_PACKAGE, f"boot {arch} VM images")
    return found


@dataclass
class VMConfig:
    """Everything that decides a spec VM's QEMU command line.

    ``disk``: the disk QEMU writes to (the instance's qcow2 overlay; format
    from its suffix unless ``disk_format`` is set). ``vars_file``: the
    instance's writable copy of the firmware's variable-store template.
    ``console``: which console is on ``console_chardev`` (stdio for pexpect
    or a terminal); the other console's output goes to ``aux_log`` if set.
    ``hotplug_ports``: empty pcie-root-ports for device_add (PCI only).
    ``qmp_socket``: QMP on a unix socket (server, nowait).
    ``extra_args``: appended verbatim."""

    arch: str
    disk: Path
    firmware: Firmware
    vars_file: Path
    gic: int = 3
    virtio: str = "pci"              # "pci" | "mmio"
    console: str = "pl011"           # "pl011" | "virtio"
    smp: int = 1
    mem_mib: int = 1024
    kvm: bool = False
    virtualization: bool = False     # emulate EL2 (virtualization=on), e.g. to run Xen under TCG
    disk_format: str | None = None
    snapshot: bool = False           # QEMU -snapshot: disk writes discarded at exit
    qmp_socket: Path | None = None
    hotplug_ports: int = 0
    net: bool = True                 # a virtio-net device (user networking, restricted)
    balloon: bool = True
    net_forwards: list[str] = field(default_factory=list)   # user-net guestfwd=/hostfwd= rules
    interactive: bool = False        # stdio muxed with the HMP monitor (Ctrl-A c / Ctrl-A x)
    aux_log: Path | None = None
    extra_args: list[str] = field(default_factory=list)

    def validate(self) -> None:
        if self.arch not in QEMU_BINARY:
            raise UsageError(f"unknown guest architecture {self.arch!r}", None,
                             "Use --arch aarch64 or --arch arm")
        if self.gic not in (2, 3):
            raise UsageError(f"GIC version {self.gic} is not one the virt machine offers",
                             None, "Use --gic 2 or --gic 3")
        if self.virtio not in ("pci", "mmio"):
            raise UsageError(f"unknown virtio transport {self.virtio!r}", None,
                             "Use --virtio pci or --virtio mmio")
        if self.console not in ("pl011", "virtio"):
            raise UsageError(f"unknown console {self.console!r}", None,
                             "Use --console pl011 or --console virtio")
        if self.smp < 1:
            raise UsageError(f"--smp {self.smp} is not a CPU count", None, "Use --smp 1 or more")
        if self.gic == 2 and self.smp > GICV2_MAX_CPUS:
            raise UsageError(
                f"GICv2 with {self.smp} vCPUs is not possible",
                f"a GICv2 interrupt controller addresses at most {GICV2_MAX_CPUS} CPUs",
                f"Use --smp {GICV2_MAX_CPUS} or fewer, or --gic 3")
        if self.mem_mib < 128:
            raise UsageError(f"--mem {self.mem_mib} MiB is too small to boot", None,
                             "Use --mem 256 or more (MiB)")
        if self.arch == "arm" and self.mem_mib > 3 * 1024 and not self.kvm:
            raise UsageError(f"--mem {self.mem_mib} MiB is too much for an aarch32 virt guest "
                             "without highmem", "the tool runs aarch32 guests with highmem=off",
                             "Use --mem 3072 or less")
        if self.hotplug_ports and self.virtio != "pci":
            raise UsageError("hot-plug ports need the PCI transport", None, "Use --virtio pci")


def _dev(cfg: VMConfig, kind: str) -> str:
    return f"{kind}-{'pci' if cfg.virtio == 'pci' else 'device'}"


def build_argv(cfg: VMConfig, binary: str | None = None) -> list[str]:
    """The full QEMU argv (``binary`` defaults to the one found on PATH)."""
    cfg.validate()
    exe = binary or qemu_binary(cfg.arch)
    machine = f"virt,gic-version={cfg.gic},acpi=off"
    if cfg.virtualization:
        machine += ",virtualization=on"
    if cfg.arch == "arm" and not cfg.kvm:
        machine += ",highmem=off"
    argv = [exe, "-M", machine]
    if cfg.kvm:
        argv += ["-accel", "kvm", "-cpu", "host" if cfg.arch == "aarch64" else "host,aarch64=off"]
    else:
        argv += ["-accel", "tcg", "-cpu", TCG_CPU[cfg.arch]]
    argv += ["-smp", str(cfg.smp), "-m", str(cfg.mem_mib),
             "-nodefaults", "-display", "none", "-no-reboot",
             "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={cfg.firmware.code}",
             "-drive", f"if=pflash,format=raw,unit=1,file={cfg.vars_file}"]
    fmt = cfg.disk_format or ("qcow2" if str(cfg.disk).endswith(".qcow2") else "raw")
    argv += ["-drive", f"if=none,id=hd0,format={fmt},file={cfg.disk},discard=unmap",
             "-device", f"{_dev(cfg, 'virtio-blk')},drive=hd0"]
    if cfg.snapshot:
        argv += ["-snapshot"]
    if cfg.net:
        for f in cfg.net_forwards:
            if "," in f:
                raise UsageError(f"the user-network rule {f!r} contains a comma", None,
                                 "Give one guestfwd=/hostfwd= rule per entry")
        argv += ["-netdev", ",".join(["user,id=net0,restrict=on", *cfg.net_forwards]),
                 "-device", f"{_dev(cfg, 'virtio-net')},netdev=net0"
                 + (",romfile=" if cfg.virtio == "pci" else "")]   # no iPXE ROM needed
    else:
        argv += ["-nic", "none"]
    if cfg.balloon:
        argv += ["-device", _dev(cfg, "virtio-balloon")]
    # consoles: the driven one on stdio, the other one (if any) logged
    stdio = "stdio,id=con0,signal=off" + (",mux=on" if cfg.interactive else "")
    argv += ["-chardev", stdio]
    if cfg.interactive:
        argv += ["-mon", "chardev=con0,mode=readline"]
    if cfg.console == "pl011":
        argv += ["-serial", "chardev:con0"]
    else:
        if cfg.aux_log:
            argv += ["-chardev", f"file,id=aux0,path={cfg.aux_log}", "-serial", "chardev:aux0"]
        else:
            argv += ["-serial", "null"]
        argv += ["-device", _dev(cfg, "virtio-serial"),
                 "-device", "virtconsole,chardev=con0,name=console.0"]
    for i in range(cfg.hotplug_ports):
        argv += ["-device", f"pcie-root-port,id=hp{i},bus=pcie.0,chassis={i + 1},slot={i + 1}"]
    if cfg.qmp_socket:
        argv += ["-qmp", f"unix:{cfg.qmp_socket},server=on,wait=off"]
    argv += list(cfg.extra_args)
    return argv


def plain_argv(arch: str, firmware: Firmware, vars_file: Path, disk: Path, gic: int = 3) -> list[str]:
    """The fixture brief's hand-written QEMU line (the benchmark's reference)."""
    exe = QEMU_BINARY[arch]
    m = f"virt,gic-version={gic},acpi=off" + (",highmem=off" if arch == "arm" else "")
    return [exe, "-M", m, "-cpu", TCG_CPU[arch], "-m", "1024", "-nographic", "-no-reboot",
            "-nic", "none",
            "-drive", f"if=pflash,format=raw,readonly=on,file={firmware.code}",
            "-drive", f"if=pflash,format=raw,file={vars_file}",
            "-drive", f"if=none,id=hd,file={disk},format=qcow2",
            "-device", "virtio-blk-device,drive=hd"]
