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
from armvm_oe.qemu import parse_facts

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
    """What the serial log showed (filled by the runner, judged here)."""

    log: str
    probe: dict = field(default_factory=dict)   # answers to the shell probe on hvc0
    root_partition: int | None = None           # the image's root partition number


def xen_banner(log: str) -> str | None:
    m = re.search(r"\(XEN\) Xen version (\S+)", log)
    return m.group(1) if m else None


PV_KERNEL = "Booting paravirtualized kernel on Xen"     # x86 PV wording
ARM_XEN_RE = re.compile(r"\] (Xen \d+\.\d+ support found)")  # arm/arm64 wording


def judge_console(ev: ConsoleEvidence) -> list[tuple[str, bool, str]]:
    """The runtime checks, in the order a boot reaches them."""
    log, facts, probe = ev.log, parse_facts(ev.log), ev.probe
    out: list[tuple[str, bool, str]] = []
    ver = xen_banner(log)
    out.append((XEN_REQ, bool(ver), f"Xen {ver} started (banner on the serial console)"
                if ver else "no Xen banner ('(XEN) Xen version') on the serial console"))
    m = ARM_XEN_RE.search(log)
    said = PV_KERNEL if PV_KERNEL in log else (m.group(1) if m else None)
    hyp = facts.get("hypervisor") or probe.get("type")
    domain_ok = bool(said) or hyp == "xen"
    seen = [s for s, ok in ((f"the kernel said '{said}'", said),
                            (f"/sys/hypervisor/type={hyp}", hyp == "xen")) if ok]
    out.append((XEN_REQ, domain_ok, "the image's kernel runs as Xen dom0: " + " and ".join(seen)
                if domain_ok else
                f"the kernel did not report running on Xen (no '{PV_KERNEL}', "
                f"hypervisor={hyp or 'not reported'})"))
    ready = "ARMVM-READY" in log
    root = facts.get("root", "")
    root_ok = ready and bool(root)
    msg = f"dom0 reached userspace on the image's root filesystem ({root})"
    if ready and ev.root_partition is not None:
        m = re.search(r"(\d+)$", root)
        if not m or int(m.group(1)) != ev.root_partition:
            root_ok = False
            msg = (f"dom0 reached userspace but its root is {root or 'unknown'}, not partition "
                   f"{ev.root_partition} of the image")
    if not ready:
        why = ("the initramfs could not find root=" if "ARMVM-ROOT-NOT-FOUND" in log else
               "kernel panic" if "Kernel panic" in log else
               "Xen panic" if "(XEN) Panic" in log else "no ARMVM-READY before the timeout")
        msg = f"dom0 did not reach userspace: {why}"
    out.append((XEN_REQ, root_ok, msg))
    drivers = facts.get("xen_drivers", "").split()
    if ready:
        missing = [f"{d} ({FRONTEND_DRIVERS[d]})" for d in FRONTEND_DRIVERS if d not in drivers]
        out.append((XEN_REQ, not missing,
                    f"Xen frontends registered in the guest: {' '.join(drivers)}" if not missing
                    else f"Xen frontend drivers missing in the guest: {', '.join(missing)} "
                         f"(registered: {' '.join(drivers) or 'none'})"))
        if "balloon" in probe:
            ok = probe["balloon"].endswith("xen_memory")
            out.append((XEN_REQ, ok, "Xen balloon driver active (/sys/devices/system/xen_memory)"
                        if ok else "no Xen balloon driver (/sys/devices/system/xen_memory "
                                   "absent; CONFIG_XEN_BALLOON)"))
    console = facts.get("console", "")
    tty = probe.get("tty", "")
    con_ok = ready and "hvc0" in console.split() and tty.endswith("hvc0")
    if con_ok:
        msg = (f"the console is the Xen PV console hvc0 (/sys/class/tty/console/active={console}) "
               f"and the shell answered on {tty}")
    elif not ready:
        msg = "no userspace, so the hvc0 console was not reached"
    else:
        msg = (f"the Xen PV console did not work: console={console or 'none'}, "
               f"shell on {tty or 'no answer'} (CONFIG_HVC_XEN, CONFIG_HVC_XEN_FRONTEND)")
    out.append((CONSOLE_REQ, con_ok, msg))
    return out
