"""Pure checks for the Xen cell: the image's kernel configuration and what
the serial console showed. No I/O here, so each rule is testable on text.

Requirement ids come from :mod:`armvm_oe.requirements` (the one table):
GUEST-XEN (the Xen PV drivers: kernel options, and the frontends the guest
registered) and GUEST-CONSOLE (its Xen PV console part: HVC_XEN options and
the console on ``hvc0``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from armvm_oe import requirements

XEN_REQ = "GUEST-XEN"
CONSOLE_REQ = "GUEST-CONSOLE"
XEN_CONSOLE_OPTIONS = ("HVC_XEN", "HVC_XEN_FRONTEND")   # the Xen part of GUEST-CONSOLE
# Without CONFIG_XEN the kernel cannot run as a Xen domain at all, so the
# cell fails without booting (the boot could only hang).
ESSENTIAL = ("XEN",)
# /sys/bus/xen/drivers names of the frontends GUEST-XEN asks for
FRONTEND_DRIVERS = {"vbd": "XEN_BLKDEV_FRONTEND", "vif": "XEN_NETDEV_FRONTEND"}

FACT_RE = re.compile(r"ARMVM-FACT ([A-Za-z0-9_]+)=(.*?)\r?$", re.M)


def parse_kconfig(text: str) -> dict[str, str]:
    """``CONFIG_FOO=y`` -> {"FOO": "y"}; ``# CONFIG_FOO is not set`` -> "n"."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"CONFIG_([A-Za-z0-9_]+)=(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip('"')
            continue
        m = re.match(r"# CONFIG_([A-Za-z0-9_]+) is not set$", line)
        if m:
            out[m.group(1)] = "n"
    return out


@dataclass
class OptionFinding:
    req: str
    option: str
    value: str          # y / m / n (absent counts as n)
    ok: bool
    note: str = ""


def audit_xen_options(config: dict[str, str], arch: str) -> list[OptionFinding]:
    """Every kernel option GUEST-XEN names, plus the Xen console options of
    GUEST-CONSOLE, judged the way the table says (``module_ok`` -> =m is
    enough)."""
    findings = []
    for o in requirements.get(XEN_REQ).options(arch):
        findings.append(_judge(XEN_REQ, o.name, o.module_ok, config))
    for o in requirements.get(CONSOLE_REQ).options(arch):
        if o.name in XEN_CONSOLE_OPTIONS:
            findings.append(_judge(CONSOLE_REQ, o.name, o.module_ok, config))
    return findings


def _judge(req: str, name: str, module_ok: bool, config: dict[str, str]) -> OptionFinding:
    v = config.get(name, "n")
    if v == "y":
        return OptionFinding(req, name, v, True)
    if v == "m":
        if module_ok:
            return OptionFinding(req, name, v, True, "module (allowed: in the initramfs)")
        return OptionFinding(req, name, v, False, "is a module; must be built in")
    return OptionFinding(req, name, "n", False, "is not set")


def missing_essential(findings: list[OptionFinding]) -> list[str]:
    return [f.option for f in findings if f.option in ESSENTIAL and not f.ok]


def option_messages(findings: list[OptionFinding], config_name: str) -> list[tuple[str, bool, str]]:
    """One (req, ok, message) per requirement: the missing options named."""
    out = []
    for req in (XEN_REQ, CONSOLE_REQ):
        mine = [f for f in findings if f.req == req]
        if not mine:
            continue
        bad = [f for f in mine if not f.ok]
        if bad:
            names = ", ".join(f"CONFIG_{f.option} ({f.note})" for f in bad)
            out.append((req, False, f"kernel config {config_name}: {names}"))
        else:
            mods = [f"CONFIG_{f.option}=m" for f in mine if f.value == "m"]
            out.append((req, True, f"kernel config {config_name}: "
                        + " ".join(f"CONFIG_{f.option}={f.value}" for f in mine)
                        + (f" ({', '.join(mods)} loaded from the initramfs)" if mods else "")))
    return out


def parse_facts(log: str) -> dict:
    """ARMVM-FACT lines -> dict (``virtio`` is a list); first value wins
    for the others (each console prints the same facts)."""
    facts: dict = {}
    for k, v in FACT_RE.findall(log):
        v = v.strip()
        if k == "virtio":
            facts.setdefault("virtio", [])
            if v not in facts["virtio"]:
                facts["virtio"].append(v)
        else:
            facts.setdefault(k, v)
    return facts


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
