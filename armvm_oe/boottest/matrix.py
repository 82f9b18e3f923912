"""The boot matrix: boot one image in every platform variation the spec
allows (GIC 2/3 x virtio mmio/pci x console pl011/virtio) and check what the
guest itself says: its kernel log on the console and, after a login, the
answers of a few shell commands (armvm_oe.qemu.probe, judged in
armvm_oe.boottest.judge). Nothing has to be installed in the image; the
fixture images' ARMVM-READY marker only tells that the guest is up.

Every cell is a fresh instance whose UEFI variable store is a fresh copy of
the firmware template, checked to hold no boot entry before the firmware
starts (FW-NO-PRECONFIG). One PCI cell hot-plugs a
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
from dataclasses import dataclass, field, replace
from pathlib import Path

from armvm_oe.boottest import guestchecks, userchecks
from armvm_oe.boottest.judge import Evidence, judge
from armvm_oe.boottest.result import CellResult
from armvm_oe.qemu import (QMP, Boot, Console, ConsoleError, Firmware, InstanceStore, Login,
                           LoginError, QMPError, VMConfig, build_argv, interrupt_all)
from armvm_oe.qemu.probe import (SHELL_PROBE, firmware_boot, log_is_quiet, parse_shell,
                                 passive_facts, removable_boot)

EFIVAR_GUID = "5a1c0b7e-4d2f-4e8a-9c3b-61f0a7d2e9c4"
EFIVAR_NAME = f"ArmvmOeTest-{EFIVAR_GUID}"
EFIVARS = "/sys/firmware/efi/efivars"


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
    login: Login | None = field(default_factory=Login)   # None: never log in (log only)
    cancel: threading.Event = field(default_factory=threading.Event)   # set by Ctrl-C
    user_checks: list = field(default_factory=list)   # userchecks.UserCheck (--run/--run-dir)
    log_ignores: list | None = None   # kernlog.Ignore entries; None: the machine's shipped list
    run_timeout: float = 600.0                        # seconds per user check


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


_BOOTVAR_RE = re.compile(rb"B\0o\0o\0t\0(?:O\0r\0d\0e\0r\0|(?:[0-9A-F]\0){4})\0\0")


def boot_variables(vars_file: Path) -> list[str]:
    """Names of the boot entries (Boot####, BootOrder) recorded in a UEFI
    variable store file, as the firmware will read it (EDK II stores names
    in UTF-16LE; deleted records count too: such a store was used). A
    pristine template has none; a store the firmware booted once has."""
    data = Path(vars_file).read_bytes()
    found = {m.group(0)[:-2].decode("utf-16-le") for m in _BOOTVAR_RE.finditer(data)}
    return sorted(found)


def _image_stamp(p: Path) -> tuple:
    st = p.stat()
    return (st.st_size, st.st_mtime_ns)


class _Boot:
    """One boot of an instance: QEMU + console + log files."""

    def __init__(self, cell: Cell, st: Settings, inst, log_path: Path, hotplug_ports: int):
        self.aux = log_path.with_suffix(".pl011.log") if cell.console == "virtio" else None
        self.token, self.ssh_port = secrets.token_hex(6), guestchecks.free_port()
        cfg = VMConfig(arch=cell.arch, disk=inst.overlay, firmware=st.firmware,
                       vars_file=inst.vars_file, gic=cell.gic, virtio=cell.virtio,
                       console=cell.console, smp=cell.smp, mem_mib=cell.mem_mib, kvm=st.kvm,
                       qmp_socket=_short_socket(inst.path), hotplug_ports=hotplug_ports,
                       aux_log=self.aux,
                       net_forwards=guestchecks.net_forwards(self.token, self.ssh_port))
        self.cfg = cfg
        self.argv = build_argv(cfg)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a") as f:
            f.write("# " + " ".join(self.argv) + "\n")
        self.con = Console.spawn(self.argv, log_path)
        self.log_path = log_path

    def close(self):
        if self.con.child.isalive() and not getattr(self.con, "shell", False):
            self.con.quit_qemu(self.cfg.qmp_socket)      # no shell: QMP quit
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


def _aux_text(boot: "_Boot") -> str:
    """What the other console (pl011, in a virtio-console cell) has printed
    so far: the kernel log goes there when hvc0 is not on the command line."""
    if boot.aux and boot.aux.exists():
        return boot.aux.read_text(errors="replace")
    return ""


def _probe(r: CellResult, cell: Cell, st: Settings, boot: "_Boot", b: Boot) -> None:
    """Learn the facts (kernel log, then a login and the shell probe) and
    judge the columns from them; the fixture protocol's facts are unused."""
    con = boot.con
    text = b.text + "\n" + _aux_text(boot)
    logf = passive_facts(text)
    quiet = log_is_quiet(text)
    r.params["reached"] = b.how
    if quiet:
        r.notes.append("the kernel log was not on the console (quiet kernel): facts come "
                       "from the shell after a login only")
    t_login = time.monotonic()
    if b.how == "login" and st.login is not None:
        r.params["login"] = f"{st.login.user} ({con.login(st.login)})"
        r.params["login_s"] = round(time.monotonic() - t_login, 2)
    elif b.how == "login":
        r.notes.append("not logged in (--login none): the columns rest on the kernel log")
    elif b.how == "systemd":
        r.notes.append("systemd reached its targets but no login prompt came on "
                       f"{cell.tty}")
    shf, echo_ok = None, False
    if con.shell:
        # one round trip: the probe, then an answer computed by the guest
        t_probe = time.monotonic()
        rc, out = con.run(SHELL_PROBE + "; echo console-ok-$((6*7))", timeout=60)
        r.params["shell_probe_s"] = round(time.monotonic() - t_probe, 2)
        shf = parse_shell(out)
        echo_ok = rc == 0 and "console-ok-42" in out
    r.facts = {**logf, **(shf or {})}
    r.facts["learned_from"] = "+".join(x for x, y in (("log", not quiet), ("shell", shf)) if y)
    ev = Evidence(log=logf, shell=shf, boot_how=b.how, boot_tty=cell.tty, quiet=quiet,
                  echo_ok=echo_ok)
    for v in judge(cell, ev):
        r.add_check(v.req, v.ok, v.message, v.source)


def _no_preconfig(r: CellResult, inst, ev: dict, st: Settings) -> None:
    """FW-NO-PRECONFIG from what the firmware is given: the variable store
    it boots with holds no boot entries (Boot####/BootOrder), so the image
    must be found through the removable-media path. The store is the
    instance's own file, checked just before QEMU starts."""
    names = boot_variables(inst.vars_file)
    r.add_check("FW-NO-PRECONFIG", not names,
                f"the variable store the firmware boots with ({ev.get('vars')}) holds no boot "
                "entries: the image had to be found by the removable-media path"
                if not names else
                f"the variable store already holds boot entries ({', '.join(names[:6])}) "
                "before the first boot: the image was not booted from an empty store "
                "(--vars-template is not a pristine template?)", "host")


def _firmware_boot(r: CellResult, text: str) -> None:
    """FW-NO-PRECONFIG in the firmware's own words: the entry it started
    (EDK II prints it) is one it made itself for the disk, without a file
    path, i.e. it booted the removable-media path."""
    fb = firmware_boot(text)
    if not fb:
        r.notes.append("the firmware did not name the boot entry it started (no BdsDxe line): "
                       "FW-NO-PRECONFIG rests on the variable store alone")
        return
    entry, desc, path = fb
    ok = removable_boot(path)
    r.params["boot_entry"] = f"{entry} \"{desc}\" from {path}"
    r.add_check("FW-NO-PRECONFIG", ok,
                f"the firmware started {entry} \"{desc}\" from {path}: an entry for the whole "
                "disk, so it loaded the removable-media path" if ok else
                f"the firmware started {entry} \"{desc}\" from {path}, a boot entry naming a "
                "file: the image was booted through a preconfigured entry", "log")


def _efivar_present(con: Console) -> tuple[bool, str, bool]:
    """(present, content, efivarfs usable), in one shell round trip."""
    rc, out = con.run(f"grep -q efivarfs /proc/mounts || mount -t efivarfs efivarfs {EFIVARS} "
                      f"2>/dev/null; echo efivars=$(ls {EFIVARS} | wc -l); "
                      f"test -e {EFIVARS}/{EFIVAR_NAME} && echo efivar=$(cat "
                      f"{EFIVARS}/{EFIVAR_NAME} | tr -cd 'a-zA-Z0-9-')", timeout=30)
    m = re.search(r"efivars=\s*(\d+)", out)
    usable = bool(m) and int(m.group(1)) > 0
    v = re.search(r"efivar=(\S*)", out)
    return bool(v), (v.group(1) if v else ""), usable


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
        r.add_check("GUEST-HOTPLUG", False, f"QEMU monitor refused the hot-plug: {e}", "shell")
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
                    f"guest found /dev/{new[0]}", "shell")
    elif nslots == 0 and not st.hotplug_required:
        r.notes.append("GUEST-HOTPLUG not proven: the guest kernel has no PCIe hot-plug "
                       "driver (no slot under /sys/bus/pci/slots; CONFIG_HOTPLUG_PCI_PCIE); "
                       "the hot-plugged disk did not appear. 'armvm-oe verify' reports the "
                       "kernel configuration")
    else:
        r.add_check("GUEST-HOTPLUG", False,
                    "hot-plugged virtio-blk-pci disk did not appear in the guest within "
                    f"{tries // 2} s "
                    f"({nslots} hot-plug slots in the guest)", "shell")


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
        _no_preconfig(r, inst, ev, st)
        stamp = _image_stamp(st.image)
        log = log_dir / f"{cell.name}.log"
        if log.exists():
            log.unlink()
        r.log_path = log
        boot = _Boot(cell, st, inst, log, hotplug_ports=1 if cell.hotplug else 0)
        wrote = False
        try:
            b = boot.con.wait_boot(timeout=st.timeout)
            r.params["ready_s"] = round(boot.con.ready_s or 0, 2)   # QEMU start -> login prompt
            r.params["ready_at"] = boot.con.ready_at   # CLOCK_MONOTONIC (for the benchmark)
            _firmware_boot(r, b.text + "\n" + _aux_text(boot))
            _probe(r, cell, st, boot, b)
            if boot.con.shell:
                present, content, usable = _efivar_present(boot.con)
                r.add_check("FW-VARSTORE", usable and not present,
                            "efivarfs lists the firmware's variables and the test variable is "
                            "absent in a fresh instance" if usable and not present else
                            ("efivarfs is not usable in the guest" if not usable else
                             "the test variable already exists in a fresh instance"), "shell")
                if cell.hotplug:
                    _hotplug(r, cell, boot.con, boot, st)
                if cell.efivar == "write":
                    ok, out = _efivar_write(boot.con, token)
                    wrote = ok
                    if not ok:
                        r.add_check("FW-VARSTORE", False,
                                    f"writing {EFIVAR_NAME} failed: {out[-120:]}", "shell")
                h = guestchecks.after_login(r, cell, st, boot.con,
                                            b.text + "\n" + _aux_text(boot), boot.token,
                                            boot.ssh_port)
                # one cell per arch ends the way a user would: an orderly power-off
                if cell.efivar == "write" and boot.con.shell and h and \
                        h.sd_state not in (None, "none"):
                    guestchecks.orderly_end(r, boot.con, "poweroff")
            else:
                guestchecks.kernel_log(r, cell, st, b.text + "\n" + _aux_text(boot), None)
                r.notes.append("FW-VARSTORE" + (" and GUEST-HOTPLUG" if cell.hotplug else "")
                               + (" and the --run checks" if st.user_checks else "")
                               + " not checked: they need a shell in the guest (a login)")
                for uc in st.user_checks:
                    r.runs.append(userchecks.result(uc, None, "", "", 0.0,
                                                    "not run: no shell in the guest (a login)"))
            r.params["probe_done_at"] = time.monotonic()
        finally:
            boot.close()
        if cell.efivar == "write" and wrote:
            changed = not same_content(inst.vars_file, st.firmware.vars_template)
            r.add_check("FW-VARSTORE", changed and _image_stamp(st.image) == stamp,
                        "the guest's variable write landed in the instance's own store "
                        f"({inst.vars_file.name}); the image is unchanged" if changed else
                        "the instance's variable store did not change after the write", "host")
    except LoginError as e:       # our credentials, not the guest: a per-cell error
        r.status, r.message = "error", str(e)
    except ConsoleError as e:
        r.status, r.message = "fail", str(e)
    except Exception as e:        # the tool itself failed: an error, not a guest failure
        r.status, r.message = "error", f"{type(e).__name__}: {e}"
    if st.cancel.is_set():
        r.status, r.message = "error", "interrupted (Ctrl-C)"
    r.duration_s = time.monotonic() - t0
    r.finish()
    results.append(r)
    if cell.efivar == "write" and r.status == "pass" and any(
            c.req == "FW-VARSTORE" and "landed" in c.message for c in r.checks) \
            and not st.cancel.is_set():
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
            b = boot.con.wait_boot(timeout=st.timeout)
            r.params["ready_s"] = round(boot.con.ready_s or 0, 2)
            r.params["reached"] = b.how
            if b.how == "login" and st.login is not None:
                boot.con.login(st.login)
            if not boot.con.shell:
                raise ConsoleError("the second boot reached no shell to read the variable")
            present, content, usable = _efivar_present(boot.con)
            ok = present and token in content
            r.add_check("FW-VARSTORE", ok and ev.get("vars") == "reused",
                        f"second boot of the same instance (store {ev.get('vars')}) reads back "
                        f"{EFIVAR_NAME} = {token}" if ok else
                        f"the variable written in the first boot is missing or different "
                        f"(present={present}, content={content[:60]!r})", "shell")
            if guestchecks.has_systemd(boot.con):
                guestchecks.orderly_end(r, boot.con, "reboot")
        finally:
            boot.close()
    except LoginError as e:
        r.status, r.message = "error", str(e)
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


class Interrupted(Exception):
    """Ctrl-C during a matrix: ``results`` holds the cells that finished
    (and the interrupted ones as errors)."""

    def __init__(self, results: list[CellResult]):
        super().__init__("interrupted")
        self.results = results


def run_matrix(cells: list[Cell], st: Settings, jobs: int | None = None,
               on_result=None, instance_root: Path | None = None) -> list[CellResult]:
    """Run cells in parallel (up to ``jobs``, default the core count); each
    in a fresh instance under a temporary root (removed afterwards).
    Ctrl-C (KeyboardInterrupt) kills every QEMU at once and raises
    :class:`Interrupted` with the partial results."""
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(cells) or 1))
    tmp_root = Path(tempfile.mkdtemp(prefix="armvm-instances-", dir=instance_root))
    store = InstanceStore(tmp_root)
    if st.log_dir is None:
        st = replace(st, log_dir=Path(tempfile.mkdtemp(prefix="armvm-test-logs-")))
    order = {c.name: i for i, c in enumerate(cells)}
    results: list[CellResult] = []
    lock = threading.Lock()
    pool = ThreadPoolExecutor(max_workers=jobs)
    futs = {pool.submit(run_cell, c, st, store): c for c in cells}
    interrupted = False
    try:
        for f in as_completed(futs):
            for res in f.result():
                with lock:
                    results.append(res)
                if on_result:
                    on_result(res)
    except KeyboardInterrupt:
        interrupted = True
        st.cancel.set()
        for f in futs:
            f.cancel()                     # cells not started yet never start
        interrupt_all()                    # running QEMUs die now; their cells end fast
        done = {r.name.removesuffix("-reboot") for r in results}
        deadline = time.monotonic() + 15
        for f, c in futs.items():
            if c.name in done:
                continue
            res = None
            if not f.cancelled():
                try:
                    res = f.result(timeout=max(0.1, deadline - time.monotonic()))
                except Exception:
                    res = None
                interrupt_all()            # a reboot boot that started meanwhile
            results += res or [CellResult(c.name, "error", params=c.params(st.kvm),
                                          message="interrupted (Ctrl-C) before it finished")]
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)
        shutil.rmtree(tmp_root, ignore_errors=True)
    results.sort(key=lambda r: (order.get(r.name.removesuffix("-reboot"), 99), r.name))
    if interrupted:
        raise Interrupted(results)
    return results
