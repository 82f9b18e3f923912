"""The boot matrix: boot one image in every platform variation the spec
allows (GIC 2/3 x virtio mmio/pci x console pl011/virtio) and check what the
guest itself reports (ARMVM-FACT lines, see armvm_oe.testing.guest).

Every cell is a fresh instance whose UEFI variable store is a fresh copy of
the firmware template (FW-NO-PRECONFIG). One PCI cell hot-plugs a
virtio-blk-pci disk through QMP (GUEST-HOTPLUG); one cell writes a UEFI
variable from the guest and is booted a second time to read it back, while
every other cell checks the variable is absent (FW-VARSTORE)."""

from __future__ import annotations

import itertools
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

from armvm_oe.boottest.result import CellResult
from armvm_oe.qemu import (QMP, Console, ConsoleError, Firmware, InstanceStore, QMPError,
                           VMConfig, build_argv)

EFIVAR_GUID = "5a1c0b7e-4d2f-4e8a-9c3b-61f0a7d2e9c4"
EFIVAR_NAME = f"ArmvmOeTest-{EFIVAR_GUID}"
EFIVARS = "/sys/firmware/efi/efivars"
ARCH_FACT = {"aarch64": ("aarch64",), "arm": ("armv7l", "armv8l", "armv7b")}
VIRTIO_BLOCK, VIRTIO_NET, VIRTIO_CONSOLE, VIRTIO_BALLOON = 2, 1, 3, 5


@dataclass(frozen=True)
class Cell:
    arch: str
    gic: int
    virtio: str
    console: str
    hotplug: bool = False
    efivar: str = "absent"      # "write" (then a second boot reads it) | "absent"
    smp: int = 2
    mem_mib: int = 512

    @property
    def name(self) -> str:
        return f"{self.arch}-gic{self.gic}-{self.virtio}-{self.console}"

    @property
    def tty(self) -> str:
        return "ttyAMA0" if self.console == "pl011" else "hvc0"

    def params(self, kvm: bool = False) -> dict:
        return {"arch": self.arch, "hypervisor": "kvm" if kvm else "qemu-tcg", "gic": self.gic, "virtio": self.virtio,
                "console": self.console, "smp": self.smp, "mem_mib": self.mem_mib}


def matrix(arch: str, gics=(3, 2), virtios=("pci", "mmio"), consoles=("pl011", "virtio"),
           hotplug: bool = True, varstore: bool = True, smp: int = 2,
           mem_mib: int = 512) -> list[Cell]:
    """The cells, first one does the variable-store write (and its reboot),
    the first PCI cell does the hot-plug."""
    cells = [Cell(arch, g, v, c, smp=smp, mem_mib=mem_mib)
             for g, v, c in itertools.product(gics, virtios, consoles)]
    if varstore and cells:
        cells[0] = replace(cells[0], efivar="write")
    if hotplug:
        for i, c in enumerate(cells):
            if c.virtio == "pci":
                cells[i] = replace(c, hotplug=True)
                break
    return cells


def reduced_matrix(arch: str, **kw) -> list[Cell]:
    """Two cells covering every value once: gic3/pci/pl011 (+hot-plug,
    +variable write and reboot) and gic2/mmio/virtio."""
    cells = [Cell(arch, 3, "pci", "pl011", hotplug=True, efivar="write"),
             Cell(arch, 2, "mmio", "virtio")]
    return [replace(c, **kw) for c in cells]


@dataclass
class Settings:
    image: Path
    firmware: Firmware
    timeout: float = 300.0
    log_dir: Path | None = None
    keep_logs: bool = False
    kvm: bool = False
    hotplug_required: bool = False   # a guest without a hot-plug driver fails (else: note)


def same_content(a: Path, b: Path, chunk: int = 1 << 20) -> bool:
    """Byte-for-byte equality that stops at the first difference (a UEFI
    variable write lands in the first blocks of a 64 MiB store), instead of
    hashing both files in full."""
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x = fa.read(chunk)
            if x != fb.read(chunk):
                return False
            if not x:
                return True


def _image_stamp(p: Path) -> tuple:
    st = p.stat()
    return (st.st_size, st.st_mtime_ns)


class _Boot:
    """One boot of an instance: QEMU + console + log files."""

    def __init__(self, cell: Cell, st: Settings, inst, log_path: Path, hotplug_ports: int):
        self.aux = log_path.with_suffix(".pl011.log") if cell.console == "virtio" else None
        cfg = VMConfig(arch=cell.arch, disk=inst.overlay, firmware=st.firmware,
                       vars_file=inst.vars_file, gic=cell.gic, virtio=cell.virtio,
                       console=cell.console, smp=cell.smp, mem_mib=cell.mem_mib, kvm=st.kvm,
                       qmp_socket=_short_socket(inst.path), hotplug_ports=hotplug_ports,
                       aux_log=self.aux)
        self.cfg = cfg
        self.argv = build_argv(cfg)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a") as f:
            f.write("# " + " ".join(self.argv) + "\n")
        self.con = Console.spawn(self.argv, log_path)
        self.log_path = log_path

    def close(self):
        self.con.poweroff(timeout=30)
        if self.aux and self.aux.exists():
            with open(self.log_path, "a") as f:
                f.write("\n# ---- pl011 (ttyAMA0) output of this boot ----\n")
                f.write(self.aux.read_text(errors="replace").replace("\r", ""))
            self.aux.unlink()
        if self.cfg.qmp_socket:
            try:
                os.unlink(self.cfg.qmp_socket)
            except OSError:
                pass


def _short_socket(path: Path) -> Path:
    """unix socket paths are limited to ~107 bytes: use /tmp when needed."""
    p = path / "qmp.sock"
    if len(str(p)) < 100:
        return p
    return Path(tempfile.gettempdir()) / f"armvm-qmp-{os.getpid()}-{secrets.token_hex(4)}.sock"


def _basic_checks(r: CellResult, cell: Cell, facts: dict, con: Console) -> None:
    arch = facts.get("arch", "?")
    r.add_check("PLAT-EXEC", arch in ARCH_FACT[cell.arch],
                f"guest runs {arch} (expected {'/'.join(ARCH_FACT[cell.arch])})")
    cmdline = facts.get("cmdline", "")
    r.add_check("IMG-GRUB", "BOOT_IMAGE=" in cmdline,
                "GRUB loaded the kernel (BOOT_IMAGE= on its command line) from an empty "
                "variable store" if "BOOT_IMAGE=" in cmdline
                else f"no BOOT_IMAGE= on the kernel command line ({cmdline[:80]!r})")
    ok = facts.get("efi") == "yes" and facts.get("fdt") == "yes" and facts.get("acpi") == "no"
    r.add_check("HW-FDT", ok, f"efi={facts.get('efi')} fdt={facts.get('fdt')} "
                              f"acpi={facts.get('acpi')} (UEFI boot, firmware FDT, no ACPI)")
    r.add_check("GUEST-GIC", facts.get("gic") == str(cell.gic),
                f"guest reports GICv{facts.get('gic')} (machine has GICv{cell.gic})")
    devs = []
    for v in facts.get("virtio", []):
        try:
            name, did, bus = v.split(":")
            devs.append((name, int(did, 0), bus))
        except ValueError:
            devs.append((v, -1, "?"))
    want = {VIRTIO_BLOCK, VIRTIO_NET, VIRTIO_BALLOON} | (
        {VIRTIO_CONSOLE} if cell.console == "virtio" else set())
    got = {d for _, d, _ in devs}
    wrong_bus = [n for n, _, b in devs if b != cell.virtio]
    ok = want <= got and not wrong_bus
    r.add_check("GUEST-VIRTIO", ok,
                f"virtio devices {sorted(got)} on {sorted({b for *_, b in devs})} "
                f"(expected ids {sorted(want)} on {cell.virtio})"
                + (f"; on the wrong transport: {wrong_bus}" if wrong_bus else ""))
    rc, out = con.run("echo console-ok-$((6*7))", timeout=30)
    ok = facts.get("tty") == cell.tty and rc == 0 and "console-ok-42" in out
    r.add_check("GUEST-CONSOLE", ok,
                f"facts and a working shell on {facts.get('tty')} "
                f"(expected {cell.tty}, {cell.console})")
    cpus, mem = facts.get("cpus", "0"), int(facts.get("mem_kb", "0") or 0)
    mem_ok = cell.mem_mib * 1024 * 0.75 <= mem <= cell.mem_mib * 1024
    r.add_check("HW-ENUM", cpus == str(cell.smp) and mem_ok and len(devs) == len(want),
                f"guest found {cpus} CPUs (machine {cell.smp}), {mem // 1024} MiB "
                f"(machine {cell.mem_mib}), {len(devs)} virtio devices (machine {len(want)})")


def _efivar_present(con: Console) -> tuple[bool, str, bool]:
    """(present, content, efivarfs usable)."""
    rc, out = con.run(f"ls {EFIVARS} | wc -l", timeout=30)
    try:
        usable = rc == 0 and int(out.strip().splitlines()[-1]) > 0
    except (ValueError, IndexError):
        usable = False
    rc, out = con.run(f"test -e {EFIVARS}/{EFIVAR_NAME} && "
                      f"cat {EFIVARS}/{EFIVAR_NAME} | tr -cd 'a-zA-Z0-9-'", timeout=30)
    return rc == 0, out.strip(), usable


def _efivar_write(con: Console, token: str) -> tuple[bool, str]:
    # attributes NV|BS|RT (7, little endian u32) then the data, in one write()
    cmd = (f"printf '\\007\\000\\000\\000{token}' > /tmp/efivar && "
           f"dd if=/tmp/efivar of={EFIVARS}/{EFIVAR_NAME} bs=4096 2>&1")
    rc, out = con.run(cmd, timeout=60)
    return rc == 0, out


def _hotplug(r: CellResult, cell: Cell, con: Console, boot: _Boot, st: Settings) -> None:
    rc, slots = con.run("ls /sys/bus/pci/slots 2>/dev/null | wc -l", timeout=30)
    nslots = int(slots.strip().splitlines()[-1]) if slots.strip() else 0
    _, before = con.run("ls /sys/block", timeout=30)
    before_set = set(_disks(before))
    try:
        with QMP(boot.cfg.qmp_socket, timeout=15) as q:
            q.command("blockdev-add", driver="null-co", **{"node-name": "hpdisk0",
                                                            "size": 64 << 20,
                                                            "read-zeroes": True})
            q.command("device_add", driver="virtio-blk-pci", drive="hpdisk0", bus="hp0",
                      id="hpblk0")
    except (QMPError, OSError) as e:
        r.add_check("GUEST-HOTPLUG", False, f"QEMU monitor refused the hot-plug: {e}")
        return
    # without a hot-plug slot in the guest only a short wait (the disk can't show up)
    tries = 60 if nslots or st.hotplug_required else 10
    cmd = (f"for i in $(seq 1 {tries}); do n=$(ls /sys/block | wc -l); "
           f"[ $n -gt {len(before_set)} ] && break; sleep 0.5; done; ls /sys/block")
    _, after = con.run(cmd, timeout=90)
    new = sorted(set(_disks(after)) - before_set)
    if new:
        rc, path = con.run(f"readlink -f /sys/block/{new[0]}", timeout=30)
        r.add_check("GUEST-HOTPLUG", "pci" in path,
                    f"virtio-blk-pci disk hot-plugged into a pcie-root-port through QMP; "
                    f"guest found /dev/{new[0]}")
    elif nslots == 0 and not st.hotplug_required:
        r.notes.append("GUEST-HOTPLUG not proven: the guest kernel has no PCIe hot-plug "
                       "driver (no slot under /sys/bus/pci/slots; CONFIG_HOTPLUG_PCI_PCIE); "
                       "the hot-plugged disk did not appear. 'armvm-oe verify' reports the "
                       "kernel configuration")
    else:
        r.add_check("GUEST-HOTPLUG", False,
                    f"hot-plugged virtio-blk-pci disk did not appear in the guest within {tries // 2} s "
                    f"({nslots} hot-plug slots in the guest)")


def _disks(ls_output: str) -> list[str]:
    return [w for w in ls_output.split() if re.fullmatch(r"[a-z]+[a-z0-9]*", w)]


def run_cell(cell: Cell, st: Settings, store: InstanceStore) -> list[CellResult]:
    """Boot one cell (and its second boot for the variable-store check)."""
    results = []
    log_dir = st.log_dir or Path(tempfile.mkdtemp(prefix="armvm-test-"))
    token = "armvm-" + secrets.token_hex(6)
    r = CellResult(cell.name, params=cell.params(st.kvm))
    t0 = time.monotonic()
    inst = None
    try:
        inst, ev = store.prepare(cell.name, st.image, cell.arch, st.firmware)
        fresh = (ev.get("vars") in ("created", "reset")
                 and same_content(inst.vars_file, st.firmware.vars_template))
        r.add_check("FW-NO-PRECONFIG", fresh,
                    "booted with a fresh copy of the firmware's variable-store template"
                    if fresh else "the instance's variable store is not a fresh copy of the "
                                  f"pristine template (store {ev.get('vars')})")
        stamp = _image_stamp(st.image)
        log = log_dir / f"{cell.name}.log"
        if log.exists():
            log.unlink()
        r.log_path = log
        boot = _Boot(cell, st, inst, log, hotplug_ports=1 if cell.hotplug else 0)
        try:
            r.facts = boot.con.expect_ready(timeout=st.timeout)
            r.params["ready_s"] = round(boot.con.ready_s or 0, 2)   # QEMU start -> ARMVM-READY
            r.params["ready_at"] = boot.con.ready_at   # CLOCK_MONOTONIC (for the benchmark)
            _basic_checks(r, cell, r.facts, boot.con)
            present, content, usable = _efivar_present(boot.con)
            r.add_check("FW-VARSTORE", usable and not present,
                        "efivarfs lists the firmware's variables and the test variable is "
                        "absent in a fresh instance" if usable and not present else
                        ("efivarfs is not usable in the guest" if not usable else
                         "the test variable already exists in a fresh instance"))
            if cell.hotplug:
                _hotplug(r, cell, boot.con, boot, st)
            if cell.efivar == "write":
                ok, out = _efivar_write(boot.con, token)
                if not ok:
                    r.add_check("FW-VARSTORE", False, f"writing {EFIVAR_NAME} failed: {out[-120:]}")
        finally:
            boot.close()
        if cell.efivar == "write":
            changed = not same_content(inst.vars_file, st.firmware.vars_template)
            r.add_check("FW-VARSTORE", changed and _image_stamp(st.image) == stamp,
                        "the guest's variable write landed in the instance's own store "
                        f"({inst.vars_file.name}); the image is unchanged" if changed else
                        "the instance's variable store did not change after the write")
    except ConsoleError as e:
        r.status, r.message = "fail", str(e)
    except Exception as e:        # the tool itself failed: an error, not a guest failure
        r.status, r.message = "error", f"{type(e).__name__}: {e}"
    r.duration_s = time.monotonic() - t0
    r.finish()
    results.append(r)
    if cell.efivar == "write" and r.status == "pass":
        results.append(_reboot_cell(cell, st, store, inst, token, log_dir))
    for res in results:
        _tidy_log(res, st)
    return results


def _reboot_cell(cell: Cell, st: Settings, store: InstanceStore, inst, token: str,
                 log_dir: Path) -> CellResult:
    r = CellResult(cell.name + "-reboot", params={**cell.params(st.kvm), "boot": 2})
    t0 = time.monotonic()
    try:
        inst, ev = store.prepare(cell.name, st.image, cell.arch, st.firmware)
        log = log_dir / f"{r.name}.log"
        if log.exists():
            log.unlink()
        r.log_path = log
        boot = _Boot(replace(cell, hotplug=False), st, inst, log, hotplug_ports=0)
        try:
            r.facts = boot.con.expect_ready(timeout=st.timeout)
            r.params["ready_s"] = round(boot.con.ready_s or 0, 2)
            present, content, usable = _efivar_present(boot.con)
            ok = present and token in content
            r.add_check("FW-VARSTORE", ok and ev.get("vars") == "reused",
                        f"second boot of the same instance (store {ev.get('vars')}) reads back "
                        f"{EFIVAR_NAME} = {token}" if ok else
                        f"the variable written in the first boot is missing or different "
                        f"(present={present}, content={content[:60]!r})")
        finally:
            boot.close()
    except ConsoleError as e:
        r.status, r.message = "fail", str(e)
    except Exception as e:
        r.status, r.message = "error", f"{type(e).__name__}: {e}"
    r.duration_s = time.monotonic() - t0
    return r.finish()


def _tidy_log(r: CellResult, st: Settings) -> None:
    """Failing cells keep their serial log; passing ones only with keep_logs."""
    if r.status == "pass" and not st.keep_logs and r.log_path:
        try:
            r.log_path.unlink()
        except OSError:
            pass
        r.log_path = None


def run_matrix(cells: list[Cell], st: Settings, jobs: int | None = None,
               on_result=None, instance_root: Path | None = None) -> list[CellResult]:
    """Run cells in parallel (up to ``jobs``, default the core count); each
    in a fresh instance under a temporary root (removed afterwards)."""
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(cells) or 1))
    tmp_root = Path(tempfile.mkdtemp(prefix="armvm-instances-", dir=instance_root))
    store = InstanceStore(tmp_root)
    if st.log_dir is None:
        st = replace(st, log_dir=Path(tempfile.mkdtemp(prefix="armvm-test-logs-")))
    order = {c.name: i for i, c in enumerate(cells)}
    results: list[CellResult] = []
    lock = threading.Lock()
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futs = [pool.submit(run_cell, c, st, store) for c in cells]
            for f in as_completed(futs):
                for res in f.result():
                    with lock:
                        results.append(res)
                    if on_result:
                        on_result(res)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    results.sort(key=lambda r: (order.get(r.name.removesuffix("-reboot"), 99), r.name))
    return results
