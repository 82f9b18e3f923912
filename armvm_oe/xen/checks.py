"""Pure checks for the Xen cell: the image's kernel configuration and what
the serial console showed. No I/O here, so each rule is testable on text.

Requirement ids come from :mod:`armvm_oe.requirements` (the one table):
GUEST-XEN (the Xen PV drivers: kernel options, and the frontends the guest
registered) and GUEST-CONSOLE (its Xen PV console part: HVC_XEN options and
the console on ``hvc0``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from armvm_oe import kconfig
from armvm_oe.qemu import parse_facts  # noqa: F401  (re-exported for callers)

XEN_REQ = "GUEST-XEN"
CONSOLE_REQ = "GUEST-CONSOLE"
XEN_CONSOLE_OPTIONS = ("HVC_XEN", "HVC_XEN_FRONTEND")   # the Xen part of GUEST-CONSOLE
# Without CONFIG_XEN the kernel cannot run as a Xen domain at all, so the
# cell fails without booting (the boot could only hang).
ESSENTIAL = ("XEN",)
# /sys/bus/xen/drivers names of the frontends GUEST-XEN asks for
FRONTEND_DRIVERS = {"vbd": "XEN_BLKDEV_FRONTEND", "vif": "XEN_NETDEV_FRONTEND"}


def xen_findings(config: Mapping[str, str], arch: str) -> list[kconfig.OptionFinding]:
    """The findings of :func:`armvm_oe.kconfig.audit` that belong to this
    cell: every option GUEST-XEN names, plus the Xen console options of
    GUEST-CONSOLE."""
    return [f for f in kconfig.audit(config, arch)
            if f.req_id == XEN_REQ
            or (f.req_id == CONSOLE_REQ and f.option.removeprefix("CONFIG_") in XEN_CONSOLE_OPTIONS)]


def missing_essential(config: Mapping[str, str], arch: str) -> list[str]:
    """CONFIG_ names without which the kernel cannot run as a Xen domain."""
    return kconfig.missing(config, arch, *ESSENTIAL)


def option_messages(findings: list[kconfig.OptionFinding], config_name: str
                    ) -> list[tuple[str, bool, str]]:
    """One (req, ok, message) per requirement; a failing one names each
    option that is missing (or a module where it must be built in)."""
    out = []
    for req in (XEN_REQ, CONSOLE_REQ):
        mine = [f for f in findings if f.req_id == req]
        if not mine:
            continue
        bad = [f for f in mine if f.result != "pass"]
        if bad:
            out.append((req, False, f"kernel config {config_name}: "
                        + "; ".join(f.reason for f in bad)))
        else:
            mods = [f"{f.option}=m" for f in mine if f.value == "m"]
            out.append((req, True, f"kernel config {config_name}: "
                        + " ".join(f"{f.option}={f.value}" for f in mine)
                        + (f" ({', '.join(mods)} loaded from the initramfs)" if mods else "")))
    return out


@dataclass
class ConsoleEvidence:
    """What the serial log showed (filled by the runner, judged here).
    ``probe``: answers of the shell commands on hvc0 after the login
    (keys of :data:`armvm_oe.xen.cell.PROBES`); ``reached``: how dom0's
    userspace showed itself on hvc0 (login | shell | protocol | None)."""

    log: str
    probe: dict = field(default_factory=dict)   # answers to the shell probe on hvc0
    root_partition: int | None = None           # the image's root partition number
    reached: str | None = None


def xen_banner(log: str) -> str | None:
    m = re.search(r"\(XEN\) Xen version (\S+)", log)
    return m.group(1) if m else None


PV_KERNEL = "Booting paravirtualized kernel on Xen"     # x86 PV wording
ARM_XEN_RE = re.compile(r"\] (Xen \d+\.\d+ support found)")  # arm/arm64 wording
ROOT_MOUNT_RE = re.compile(r"EXT4-fs \((\w+?)\): mounted filesystem")
HVC0_RE = re.compile(r"printk: console \[hvc0\] enabled")
FRONTEND_LOG = {"vbd": re.compile(r"blkfront|xen-blkfront|xen_blkfront"),
                "vif": re.compile(r"xen_netfront: Initialising|xen-netfront")}
FRONTEND_MODULE = {"vbd": "xen-blkfront", "vif": "xen-netfront"}


def _partno(dev: str) -> int | None:
    m = re.search(r"(\d+)$", dev or "")
    return int(m.group(1)) if m else None


def judge_console(ev: ConsoleEvidence) -> list[tuple[str, bool, str]]:
    """The runtime checks, in the order a boot reaches them. Every verdict
    rests on the Xen/kernel log or on the shell answers after a login; the
    fixture protocol's ARMVM-FACT lines are not read."""
    log, probe = ev.log, ev.probe
    reached = ev.reached or ("protocol" if "ARMVM-READY" in log else None)
    out: list[tuple[str, bool, str]] = []
    ver = xen_banner(log)
    out.append((XEN_REQ, bool(ver), f"Xen {ver} started (banner on the serial console)"
                if ver else "no Xen banner ('(XEN) Xen version') on the serial console"))
    m = ARM_XEN_RE.search(log)
    said = PV_KERNEL if PV_KERNEL in log else (m.group(1) if m else None)
    hyp = probe.get("type")
    domain_ok = bool(said) or hyp == "xen"
    seen = [s for s, ok in ((f"the kernel said '{said}'", said),
                            (f"/sys/hypervisor/type={hyp}", hyp == "xen")) if ok]
    out.append((XEN_REQ, domain_ok, "the image's kernel runs as Xen dom0: " + " and ".join(seen)
                if domain_ok else
                f"the kernel did not report running on Xen (no '{PV_KERNEL}', "
                f"hypervisor={hyp or 'not reported'})"))
    # dom0's userspace on the image's own root filesystem
    root = probe.get("root") or ""
    how_root = "/proc/mounts"
    if root in ("", "/dev/root"):
        # /dev/root: the kernel mounted root= itself (no initramfs), and
        # /proc/mounts names no device; its own log line does
        mm = ROOT_MOUNT_RE.search(log)
        if mm:
            root, how_root = f"/dev/{mm.group(1)}", "kernel log"
    root_ok = bool(reached) and bool(root)
    msg = f"dom0 reached userspace ({reached}) on the image's root filesystem ({root}, " \
          f"{how_root})"
    if reached and root and ev.root_partition is not None and _partno(root) != ev.root_partition:
        root_ok = False
        msg = (f"dom0 reached userspace but its root is {root}, not partition "
               f"{ev.root_partition} of the image")
    elif reached and not root:
        msg = "dom0 reached userspace but its root device was not seen (quiet kernel, no shell)"
    if not reached:
        why = ("the initramfs could not find root=" if re.search(
            r"ARMVM-ROOT-NOT-FOUND|ALERT! .* does not exist", log) else
               "kernel panic" if "Kernel panic" in log else
               "Xen panic" if "(XEN) Panic" in log else
               "no login prompt or shell on hvc0 before the timeout")
        msg = f"dom0 did not reach userspace: {why}"
    out.append((XEN_REQ, root_ok, msg))
    if reached:
        drivers = probe.get("drivers", "").split()
        modules = probe.get("modules", "").split()
        have, how = [], []
        for d, mod in FRONTEND_MODULE.items():
            if d in drivers:
                have.append(d)
                how.append(f"{d} registered")
            elif mod in modules:
                have.append(d)
                how.append(f"{mod} available as a module")
            elif FRONTEND_LOG[d].search(log):
                have.append(d)
                how.append(f"{mod} in the kernel log")
        missing = [f"{d} ({FRONTEND_DRIVERS[d]})" for d in FRONTEND_DRIVERS if d not in have]
        out.append((XEN_REQ, not missing,
                    f"Xen frontends in the guest: {', '.join(how)}" if not missing
                    else f"Xen frontend drivers missing in the guest: {', '.join(missing)} "
                         f"(registered: {' '.join(drivers) or 'none'})"))
        if "balloon" in probe:
            ok = probe["balloon"].endswith("xen_memory")
            out.append((XEN_REQ, ok, "Xen balloon driver active (/sys/devices/system/xen_memory)"
                        if ok else "no Xen balloon driver (/sys/devices/system/xen_memory "
                                   "absent; CONFIG_XEN_BALLOON)"))
        if probe.get("xl"):
            out.append((XEN_REQ, True, f"xl info in dom0: {probe['xl']}"))
        if probe.get("procxen"):
            out.append((XEN_REQ, True, f"/proc/xen in dom0: {probe['procxen']}"))
    tty = probe.get("tty", "")
    hvc_log = bool(HVC0_RE.search(log))
    con_ok = bool(reached) and (tty.endswith("hvc0") if tty else hvc_log)
    if con_ok:
        msg = "the console is the Xen PV console hvc0: " + "; ".join(
            x for x, y in ((f"{reached} prompt came through Xen's console", True),
                           ("printk: console [hvc0] enabled", hvc_log),
                           (f"the shell answered on {tty}", tty)) if y)
    elif not reached:
        msg = "no userspace, so the hvc0 console was not reached"
    else:
        msg = (f"the Xen PV console did not work: shell on {tty or 'no answer'}, "
               f"hvc0 {'enabled' if hvc_log else 'not seen'} in the kernel log "
               "(CONFIG_HVC_XEN, CONFIG_HVC_XEN_FRONTEND)")
    out.append((CONSOLE_REQ, con_ok, msg))
    return out
