"""Judge one boot-matrix cell from the guest's own words (pure, no I/O).

Each column is decided from the **kernel log** on the console and/or the
**shell** answers after a login (armvm_oe.qemu.probe); the fixture
protocol's ARMVM-FACT lines are never used here. When both sources speak,
they must agree; a column passes on either alone. Each verdict says which
source it rests on ("log", "shell" or "log+shell"), so the report shows how
every fact was learned."""

from __future__ import annotations

from dataclasses import dataclass

ARCH_NAMES = {"aarch64": ("aarch64",), "arm": ("armv7l", "armv8l", "armv7b")}
VIRTIO_BLOCK, VIRTIO_NET, VIRTIO_CONSOLE, VIRTIO_BALLOON = 2, 1, 3, 5
QUIET_HINT = ("the kernel log was not on the console (quiet kernel) and no shell was "
              "reached: log in (--login USER[:PASSWORD]) or boot without 'quiet'")


@dataclass(frozen=True)
class Verdict:
    req: str
    ok: bool
    message: str
    source: str          # log | shell | log+shell | boot | none


@dataclass
class Evidence:
    """What one boot showed. ``log``: facts from the kernel log (both
    consoles); ``shell``: facts from the shell probe (None: no shell);
    ``boot_how``: login | shell | protocol | systemd; ``boot_tty``: the
    console the boot marker was seen on; ``echo_ok``: a command's output
    came back on that console."""

    log: dict
    shell: dict | None
    boot_how: str
    boot_tty: str
    quiet: bool = False
    echo_ok: bool = False


def _src(*names) -> str:
    names = [n for n in names if n]
    return "+".join(names) if names else "none"


def _virtio_ids(devs) -> list[tuple[str, int, str]]:
    out = []
    for v in devs or []:
        try:
            name, did, bus = v.rsplit(":", 2)
            out.append((name, int(did, 0), bus))
        except ValueError:
            out.append((v, -1, "?"))
    return out


def judge(cell, ev: Evidence) -> list[Verdict]:
    """Verdicts for PLAT-EXEC, IMG-GRUB, HW-FDT, GUEST-GIC, GUEST-VIRTIO,
    GUEST-CONSOLE, HW-ENUM (in that order)."""
    log, sh = ev.log, ev.shell or {}
    out: list[Verdict] = []

    def agree(req, key, want_ok, describe, why_missing=QUIET_HINT):
        """A one-value column: each source that has ``key`` must satisfy
        ``want_ok``."""
        vals = {s: f[key] for s, f in (("log", log), ("shell", sh)) if f.get(key)}
        if not vals:
            out.append(Verdict(req, False, f"{describe(None)}: not seen; {why_missing}", "none"))
            return
        bad = {s: v for s, v in vals.items() if not want_ok(v)}
        shown = ", ".join(f"{v} ({s})" for s, v in vals.items())
        out.append(Verdict(req, not bad, f"{describe(shown)}", _src(*vals)))

    agree("PLAT-EXEC", "arch", lambda v: v in ARCH_NAMES[cell.arch],
          lambda s: f"guest runs {s or 'an unknown architecture'} "
                    f"(expected {'/'.join(ARCH_NAMES[cell.arch])})")
    agree("IMG-GRUB", "cmdline", lambda v: "BOOT_IMAGE=" in v,
          lambda s: "kernel command line " + (f"{s[:90]!r}" if s else "")
          + " (GRUB puts BOOT_IMAGE= on it)")

    # HW-FDT: UEFI boot, the firmware's device tree, no ACPI tables
    parts, srcs, bad = [], set(), []
    for key, want in (("efi", "yes"), ("fdt", "yes"), ("acpi", "no")):
        vals = {s: f[key] for s, f in (("log", log), ("shell", sh)) if f.get(key)}
        if not vals:
            bad.append(f"{key} not seen")
            continue
        srcs.update(vals)
        wrong = [f"{key}={v} ({s})" for s, v in vals.items() if v != want]
        bad += wrong
        parts.append(f"{key}={'/'.join(sorted(set(vals.values())))}")
    extra = f" [{log['machine_model']}]" if log.get("machine_model") else ""
    out.append(Verdict("HW-FDT", not bad,
                       " ".join(parts) + extra + " (UEFI boot, firmware FDT, no ACPI)"
                       + (f"; {', '.join(bad)}" if bad else "")
                       + (f"; {QUIET_HINT}" if bad and ev.quiet and not ev.shell else ""),
                       _src(*[s for s in ("log", "shell") if s in srcs])))

    agree("GUEST-GIC", "gic", lambda v: v == str(cell.gic),
          lambda s: f"guest GIC {('v' + s) if s else ''} (machine has GICv{cell.gic})"
          + (f"; interrupt controller node {sh['gic_node']}" if sh.get("gic_node") else ""))

    # GUEST-VIRTIO: the devices and the transport they sit on
    want = {VIRTIO_BLOCK, VIRTIO_NET, VIRTIO_BALLOON} | (
        {VIRTIO_CONSOLE} if cell.console == "virtio" else set())
    msgs, ok_any, wrong, srcs = [], False, [], []
    for name, f in (("log", log), ("shell", sh)):
        devs = _virtio_ids(f.get("virtio"))
        if not devs:
            continue
        srcs.append(name)
        got = {d for _, d, _ in devs}
        wrong_bus = sorted({f"{n}:{b}" for n, _, b in devs if b != cell.virtio})
        # the log names only the devices whose driver prints (virtio-mmio:
        # the block device); the shell lists every device
        need = want if (name == "shell" or cell.virtio == "pci") else {VIRTIO_BLOCK}
        missing = sorted(need - got)
        ok = not wrong_bus and not missing
        ok_any |= ok
        if not ok:
            wrong.append(name)
        msgs.append(f"{name}: ids {sorted(got)} on {'+'.join(sorted({b for *_, b in devs}))}"
                    + (f", missing {missing}" if missing else "")
                    + (f", wrong transport {wrong_bus}" if wrong_bus else ""))
    if not srcs:
        out.append(Verdict("GUEST-VIRTIO", False, f"no virtio device seen; {QUIET_HINT}",
                           "none"))
    else:
        out.append(Verdict("GUEST-VIRTIO", ok_any and not wrong,
                           f"virtio devices ({'; '.join(msgs)}); expected ids {sorted(want)} "
                           f"on {cell.virtio}", _src(*srcs)))

    # GUEST-CONSOLE: the boot was seen on this cell's console (it works),
    # and the kernel/shell say it is that console
    tty = cell.tty
    seen = []
    if ev.boot_tty == tty:
        seen.append(f"{ev.boot_how} prompt on {tty}" if ev.boot_how in ("login", "shell")
                    else f"boot ({ev.boot_how}) seen on {tty}")
    # the kernel's own console list is reported, not required: a guest may
    # keep its kernel log on the pl011 and still run a getty on hvc0
    srcs, bad = [], []
    for name, f in (("log", log), ("shell", sh)):
        cons = (f.get("consoles") or "").split()
        if cons:
            srcs.append(name)
            seen.append(f"kernel console{'s' if len(cons) > 1 else ''} {' '.join(cons)} "
                        f"({'printk' if name == 'log' else '/proc/consoles'})")
    if sh:
        if "shell" not in srcs:
            srcs.append("shell")
        if sh.get("tty"):
            (seen if sh["tty"] == tty else bad).append(f"shell on {sh['tty']}")
        if ev.echo_ok:
            seen.append("command output came back")
        else:
            bad.append("a command's output did not come back")
    ok = ev.boot_tty == tty and not bad
    out.append(Verdict("GUEST-CONSOLE", ok, f"{'; '.join(seen + bad)} (expected {tty}, "
                                            f"{cell.console})", _src("boot", *srcs)))

    # HW-ENUM: CPUs, memory, devices the machine has
    parts, bad, srcs = [], [], []
    for name, f in (("log", log), ("shell", sh)):
        if f.get("cpus"):
            srcs.append(name)
            parts.append(f"{f['cpus']} CPUs ({name})")
            if f["cpus"] != str(cell.smp):
                bad.append(f"{f['cpus']} CPUs, machine {cell.smp} ({name})")
        if f.get("mem_kb"):
            kb = int(f["mem_kb"])
            # log: RAM the kernel was given (firmware reservations included
            # on arm64); shell: MemTotal (less the kernel's own)
            hi = 1.2 if name == "log" else 1.0
            parts.append(f"{kb // 1024} MiB ({name})")
            if not (cell.mem_mib * 1024 * 0.75 <= kb <= cell.mem_mib * 1024 * hi):
                bad.append(f"{kb // 1024} MiB, machine {cell.mem_mib} ({name})")
    devs = _virtio_ids(sh.get("virtio"))
    if devs:
        parts.append(f"{len(devs)} virtio devices (shell)")
        if len(devs) != len(want):
            bad.append(f"{len(devs)} virtio devices, machine {len(want)}")
    if not parts:
        out.append(Verdict("HW-ENUM", False, f"no CPU/memory count seen; {QUIET_HINT}", "none"))
    else:
        out.append(Verdict("HW-ENUM", not bad, "guest found " + ", ".join(parts)
                           + f" (machine {cell.smp} CPUs, {cell.mem_mib} MiB)"
                           + (f"; {', '.join(bad)}" if bad else ""),
                           _src(*dict.fromkeys(srcs + (["shell"] if devs else [])))))
    return out
