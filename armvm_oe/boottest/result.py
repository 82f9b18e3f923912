"""Boot-test results shared by every hypervisor back end.

This module is a stable interface: ``armvm-oe test`` (QEMU/KVM matrix, this
package) and ``armvm-oe test --hypervisor xen`` (``armvm_oe.xen``) both
produce :class:`CellResult` objects and hand a list of them to
:func:`write_junit` and :func:`summary_table`.

    from armvm_oe.boottest.result import CellResult, Check, write_junit, summary_table
    r = CellResult("xen-aarch64", "pass", 41.2, facts={"gic": "3"})
    r.add_check("GUEST-CONSOLE", True, "hvc0 is the console")
    write_junit([r], Path("report.xml"))
    print(summary_table([r]))
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple

STATUSES = ("pass", "fail", "skip", "error")


class Check(NamedTuple):
    """One requirement check inside a cell: (requirement id, ok, message)."""

    req: str
    ok: bool
    message: str


@dataclass
class CellResult:
    """The outcome of booting one matrix cell.

    status: ``pass`` (booted, every check ok), ``fail`` (booted or tried to,
    a check failed), ``skip`` (not applicable on this host/arch, with the
    reason in ``message``), ``error`` (the tool could not run the cell).
    ``requirements`` lists the requirement ids the cell checked (ids from
    :mod:`armvm_oe.requirements`); ``checks`` the per-check details;
    ``facts`` the guest's ARMVM-FACT lines (key -> value; ``virtio`` is a
    list); ``log_path`` the kept serial log (always kept for failing cells)."""

    name: str
    status: str = "pass"
    duration_s: float = 0.0
    requirements: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    log_path: Path | None = None
    message: str = ""
    params: dict = field(default_factory=dict)   # e.g. arch/gic/virtio/console of the cell
    notes: list[str] = field(default_factory=list)  # things not proven (neither pass nor fail)
    # how each checked requirement was learned: log (kernel log on the
    # console), shell (commands after a login), log+shell, host, protocol
    sources: dict = field(default_factory=dict)
    # the user's own checks (--run/--run-dir), in the order they ran: name,
    # origin, exit_code, ok, stdout, stderr, duration_s, error
    runs: list[dict] = field(default_factory=list)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")

    def add_check(self, req: str, ok: bool, message: str, source: str | None = None) -> Check:
        c = Check(req, bool(ok), message)
        self.checks.append(c)
        if req not in self.requirements:
            self.requirements.append(req)
        if source:
            old = self.sources.get(req)
            self.sources[req] = source if not old or old == source else "+".join(
                dict.fromkeys(old.split("+") + source.split("+")))
        return c

    def finish(self) -> "CellResult":
        """Set status from the checks: fail if any check failed (unless the
        cell is already error/skip)."""
        if self.status == "pass" and (any(not c.ok for c in self.checks)
                                      or any(not x.get("ok") for x in self.runs)):
            self.status = "fail"
        if self.status == "fail" and not self.message:
            bad = [c for c in self.checks if not c.ok]
            self.message = "; ".join([f"{c.req}: {c.message}" for c in bad]
                                     + [f"--run {x['name']}: " + (x.get("error") or
                                        f"exit {x.get('exit_code')}")
                                        for x in self.runs if not x.get("ok")])
        return self

    @property
    def ok(self) -> bool:
        return self.status in ("pass", "skip")

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["checks"] = [{"requirement": c.req, "ok": c.ok, "message": c.message}
                       for c in self.checks]
        d["log_path"] = str(self.log_path) if self.log_path else None
        d["duration_s"] = round(self.duration_s, 2)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "CellResult":
        """The inverse of :meth:`as_dict` (e.g. to print a saved ``--json`` report)."""
        r = cls(d["name"], d.get("status", "pass"), float(d.get("duration_s", 0.0)),
                list(d.get("requirements", [])), facts=dict(d.get("facts") or {}),
                log_path=Path(d["log_path"]) if d.get("log_path") else None,
                message=d.get("message", ""), params=dict(d.get("params") or {}),
                notes=list(d.get("notes", [])), sources=dict(d.get("sources") or {}),
                runs=[dict(x) for x in d.get("runs") or []])
        r.checks = [Check(c["requirement"], bool(c["ok"]), c.get("message", ""))
                    for c in d.get("checks", [])]
        return r

    @property
    def hypervisor(self) -> str:
        """Where the cell booted: ``qemu-tcg`` (emulated), ``kvm`` or ``xen``."""
        return str(self.params.get("hypervisor") or "qemu")


def write_junit(results: Iterable[CellResult], path: Path,
                suite: str = "armvm-oe boot matrix") -> Path:
    """A JUnit XML report (one testcase per cell) that CI systems read."""
    results = list(results)
    ts = ET.Element("testsuite", name=suite,
                    tests=str(len(results) + sum(len(r.runs) for r in results)),
                    failures=str(sum(r.status == "fail" for r in results)
                                 + sum(not x.get("ok") for r in results for x in r.runs)),
                    errors=str(sum(r.status == "error" for r in results)),
                    skipped=str(sum(r.status == "skip" for r in results)),
                    time=f"{sum(r.duration_s for r in results):.2f}")
    for r in results:
        tc = ET.SubElement(ts, "testcase", classname=suite.replace(" ", "."), name=r.name,
                           time=f"{r.duration_s:.2f}")
        details = "\n".join(f"[{'ok' if c.ok else 'FAIL'}] {c.req}: {c.message}"
                            for c in r.checks)
        props = ET.SubElement(tc, "properties")      # JUnit schema: properties first
        ET.SubElement(props, "property", name="requirements", value=" ".join(r.requirements))
        if r.log_path:
            ET.SubElement(props, "property", name="serial_log", value=str(r.log_path))
        if r.status == "fail":
            el = ET.SubElement(tc, "failure", message=r.message or "check failed")
            el.text = details
        elif r.status == "error":
            el = ET.SubElement(tc, "error", message=r.message or "error")
            el.text = details
        elif r.status == "skip":
            ET.SubElement(tc, "skipped", message=r.message or "skipped")
        out = ET.SubElement(tc, "system-out")
        out.text = "\n".join([details] + [f"[note] {n}" for n in r.notes])
        for x in r.runs:               # the user's checks: one test case each
            _run_case(ts, suite, r, x)
    root = ET.Element("testsuites")
    root.append(ts)
    if hasattr(ET, "indent"):
        ET.indent(root)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from armvm_oe.lib import atomic_output
    # replaced on every run by design (a report), but by rename: a CI reading
    # the previous report never sees half a file (`test` checked before the
    # boots that it is no input and no directory: lib.check_output)
    with atomic_output(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    return path


def _run_case(ts, suite: str, r: CellResult, x: dict) -> None:
    """One JUnit test case for one of the user's checks in cell ``r``:
    ``<cell>: <check>``, its stdout/stderr, a failure on a non-zero exit."""
    tc = ET.SubElement(ts, "testcase", classname=suite.replace(" ", ".") + ".run",
                       name=f"{r.name}: {x['name']}", time=f"{x.get('duration_s', 0):.2f}")
    props = ET.SubElement(tc, "properties")
    ET.SubElement(props, "property", name="cell", value=r.name)
    ET.SubElement(props, "property", name="origin", value=str(x.get("origin", "")))
    ET.SubElement(props, "property", name="exit_code", value=str(x.get("exit_code")))
    if not x.get("ok"):
        why = x.get("error") or f"exit status {x.get('exit_code')}"
        ET.SubElement(tc, "failure", message=f"{x['name']}: {why}").text = \
            _xml_text((x.get("stderr") or "")[-4000:])
    ET.SubElement(tc, "system-out").text = _xml_text(x.get("stdout") or "")
    ET.SubElement(tc, "system-err").text = _xml_text(x.get("stderr") or "")


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(s: str) -> str:
    """Guest output without the characters XML 1.0 cannot carry."""
    return _XML_BAD.sub("\ufffd", s)


def _fact_summary(r: CellResult) -> str:
    """gic/virtio/tty as the guest reported them, each with how it was
    learned when known, e.g. ``gic=3(log) virtio=pci(log+shell)``."""
    f = r.facts or {}
    src = r.sources or {}
    parts = []

    def tag(req):
        s = src.get(req)
        return f"({s})" if s else ""

    if f.get("gic"):
        parts.append(f"gic={f['gic']}{tag('GUEST-GIC')}")
    v = f.get("virtio")
    if v:
        buses = sorted({x.rsplit(":", 1)[-1] for x in (v if isinstance(v, list) else [v])})
        parts.append("virtio=" + "+".join(buses) + tag("GUEST-VIRTIO"))
    if f.get("tty"):
        parts.append(f"tty={f['tty']}{tag('GUEST-CONSOLE')}")
    if f.get("domU_disk"):          # the Xen domU row: its disk, and its / when logged in
        parts.append(f"disk={f['domU_disk']}" + (f" /={f['root']}" if f.get("root") else ""))
    return " ".join(parts)


def _net_summary(r: CellResult) -> str:
    """The network column: the guest's lease, then 'host' when the host
    side answered and 'ssh' when a command ran over ssh (``-`` for a part
    that failed; empty when the cell did not check the network)."""
    n = (r.facts or {}).get("net")
    if not isinstance(n, dict):
        return ""
    parts = [n.get("dhcp") or "no-lease", "host" if n.get("host") else "-host"]
    if "ssh" in n:
        parts.append("ssh" if n["ssh"] else "-ssh")
    return " ".join(parts)


def summary_table(results: Iterable[CellResult], stream=None) -> str:
    """The human summary: one row per cell plus a totals line."""
    from armvm_oe.ui import badge, table

    results = list(results)
    rows = []
    for r in results:
        reqs = " ".join(r.requirements)
        rows.append([r.name, r.hypervisor, badge(r.status, stream), f"{r.duration_s:5.1f}s",
                     _fact_summary(r), _net_summary(r), reqs,
                     (r.message[:70] if r.status != "pass" else
                      ("note: " + r.notes[0][:64] if r.notes else ""))])
    text = table(rows, ["cell", "hypervisor", "result", "time", "guest saw", "network",
                        "checked", "note"])
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    total = " ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
    return text + f"\n{len(results)} cells: {total}"
