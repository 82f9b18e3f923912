"""``armvm-oe test IMAGE --hypervisor xen``: one boot-matrix cell that
starts Xen under QEMU (TCG, EL2 emulated) with the image's own kernel as
dom0 and the image's root filesystem as dom0's root."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from armvm_oe import kconfig
from armvm_oe.boottest.result import CellResult
from armvm_oe.errors import ArmvmError
from armvm_oe.qemu import PROMPT, Login, VMConfig, build_argv, create_overlay, find_firmware
from armvm_oe.qemu.console import ANSI_RE, LOGIN_RE, PASSWORD_RE, SHELL_RE
from armvm_oe.qemu.firmware import Firmware
from armvm_oe.xen import bootcfg, bootdisk, checks, host, source

# Short commands, typed slowly: characters typed into Xen's serial console
# reach dom0 through a small input ring and are dropped when sent in bulk.
# $((6*7)) makes the answer differ from the echoed command line. Only
# busybox/coreutils commands; xl and /proc/xen when the image has them.
PROBES = (("type", "cat /sys/hypervisor/type"),
          ("tty", "readlink /proc/self/fd/0"),
          ("balloon", "ls -d /sys/devices/system/xen_memory"),
          ("root", "grep -v rootfs /proc/mounts|while read d m r;do [ $m = / ]&&echo $d;done"),
          ("drivers", "ls /sys/bus/xen/drivers|tr '\\n' ' '"),
          ("modules", "cd /lib/modules/$(uname -r)/kernel/drivers&&ls block net|"
                      "grep -o 'xen-[a-z]*front'|tr '\\n' ' '"),
          ("procxen", "ls /proc/xen|tr '\\n' ' '"),
          ("xl", "xl info|grep -E '^xen_(major|minor|extra)'|tr -s ' \\n' ' '"))
PROBE_RE = re.compile(rb"XQ42 (\w+)=([^\r\n]*)\r*\n")
FAILURE_MARKERS = ("ARMVM-ROOT-NOT-FOUND", "ARMVM-ROOT-MOUNT-FAILED", "Kernel panic",
                   "(XEN) Panic on CPU", "(XEN) Hardware Dom0 crashed")
LOGIN_PATTERNS = (LOGIN_RE.encode(), SHELL_RE.encode())


@dataclass
class XenBootOptions:
    memory_mib: int = 1024
    cpus: int = 2
    xen_args: list[str] = field(default_factory=lambda: list(bootdisk.DEFAULT_XEN_ARGS))
    dom0_extra: list[str] = field(default_factory=lambda: list(bootdisk.DOM0_CONSOLE))
    keep_workdir: bool = False


def vm_config(firmware: Firmware, vars_file: Path, disk: Path, disk_format: str, *,
              memory_mib: int, cpus: int, extra: list[str] | None = None) -> VMConfig:
    """The QEMU machine Xen runs on: EL2 emulated (virtualization=on, so
    TCG), GICv3, FDT only, virtio-mmio, the pl011 (Xen's console) on stdio,
    no network or balloon device. ``disk`` is the image's overlay; the Xen
    boot disk comes in ``extra`` (:func:`bootdisk_args`)."""
    return VMConfig(arch="aarch64", disk=disk, disk_format=disk_format, firmware=firmware,
                    vars_file=vars_file, gic=3, virtio="mmio", console="pl011", smp=cpus,
                    mem_mib=memory_mib, kvm=False, virtualization=True, net=False,
                    balloon=False, extra_args=list(extra or []))


def bootdisk_args(path: Path) -> list[str]:
    """The throwaway boot disk, read-only, first in the firmware's boot order."""
    return ["-drive", f"if=none,id=xenboot,file={path},format=raw,readonly=on",
            "-device", "virtio-blk-device,drive=xenboot,bootindex=0"]


def guest_disk(image: Path, work: Path) -> Path:
    """A qcow2 overlay in ``work`` backed by the image (or by its
    decompressed copy in ``work``): the guest writes go there and the image
    is never modified."""
    backing, _ = source.attachable(image, work)
    return create_overlay(backing, work / "image-overlay.qcow2")


def firmware_and_vars(firmware: Firmware | None, work: Path) -> tuple[Firmware, Path]:
    """The UEFI firmware (``armvm_oe.qemu.find_firmware`` unless given) and
    this boot's own copy of its variable store, in ``work``."""
    fw = firmware if firmware is not None else find_firmware("aarch64")
    vars_ = work / "AAVMF_VARS.fd"
    shutil.copyfile(fw.vars_template, vars_)
    return fw, vars_


def concat_initrds(boot: source.ImageBoot, work: Path) -> Path | None:
    """One initrd for Xen's single ramdisk module (Linux takes concatenated archives)."""
    if not boot.initrds:
        return None
    initrd = work / "initrd.img"
    with open(initrd, "wb") as out:
        for part in boot.initrds:
            out.write(part.read_bytes())
    return initrd


def run_cell(name: str, arch: str, log_dir: Path, params: dict,
             body: Callable[[CellResult, Path], None], keep_workdir: bool = False,
             prefix: str = "armvm-xen-") -> CellResult:
    """What every Xen cell shares: the aarch64-only skip, a work dir under
    ``log_dir`` (removed afterwards), user/host problems turned into an
    ``error`` cell with what/why/fix, and the duration."""
    t0 = time.monotonic()
    cell = CellResult(name, "pass", params={"arch": arch, "hypervisor": "xen", **params})
    if arch != "aarch64":
        cell.status = "skip"
        cell.message = (f"Xen boot is aarch64 only: Debian ships Xen for arm64, and the Xen "
                        f"PV guest support of an {arch} kernel cannot be started as dom0 here")
        return cell
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=log_dir))
    try:
        body(cell, work)
    except ArmvmError as e:
        cell.status = "error"
        cell.message = e.paragraph()
    except subprocess.CalledProcessError as e:
        cell.status = "error"
        cell.message = (f"{Path(str(e.cmd[0])).name} failed while preparing the Xen boot disk: "
                        f"{(e.stderr or '').strip()[-300:]}")
    finally:
        if not keep_workdir:
            shutil.rmtree(work, ignore_errors=True)
    cell.duration_s = time.monotonic() - t0
    return cell


def _type(child, text: str, chunk: int = 8, pause: float = 0.05) -> None:
    for i in range(0, len(text), chunk):
        child.send(text[i:i + chunk])
        time.sleep(pause)


def boot_and_watch(argv: list[str], log_path: Path, timeout: float,
                   login: Login | None = None) -> tuple[str, dict, float, str]:
    """Run QEMU, follow the serial console until dom0's userspace shows
    itself on hvc0 (a login prompt, a shell prompt, or the fixture's
    ARMVM-READY), log in when asked, probe the shell, power off. Returns
    (log, probe answers, seconds to the prompt or -1, outcome: login |
    shell | protocol | a failure marker | timeout | qemu exited |
    password needed | login refused)."""
    import pexpect

    login = login if login is not None else Login()
    t0 = time.monotonic()
    deadline = t0 + timeout
    log_path.parent.mkdir(parents=True, exist_ok=True)
    logf = open(log_path, "wb")
    child = pexpect.spawn(argv[0], argv[1:], timeout=None, logfile=logf, echo=False)
    probe: dict = {}
    ready_s = -1.0
    outcome = "timeout"
    try:
        def left() -> float:
            return max(1.0, deadline - time.monotonic())

        pats = [b"ARMVM-READY", *LOGIN_PATTERNS, *(re.escape(m).encode() for m in
                                                   FAILURE_MARKERS), pexpect.EOF,
                pexpect.TIMEOUT]
        i = child.expect(pats, timeout=left())
        nfail = len(FAILURE_MARKERS)
        if i <= 2:
            ready_s = time.monotonic() - t0
            outcome = ("protocol", "login", "shell")[i]
            shell = i != 1
            if i == 0:
                shell = child.expect([re.escape(PROMPT), pexpect.EOF, pexpect.TIMEOUT],
                                     timeout=min(30, left())) == 0
            if i == 1:
                shell, outcome = _xen_login(child, login, left)
            if shell:
                _type(child, "stty -echo; PS1='armvm''# '\r")
                child.expect([re.escape(PROMPT), pexpect.EOF, pexpect.TIMEOUT],
                             timeout=min(30, left()))
                for key, cmd in PROBES:
                    _type(child, f"echo XQ$((6*7)) {key}=$({cmd} 2>/dev/null)\r")
                    if child.expect([PROBE_RE, pexpect.EOF, pexpect.TIMEOUT],
                                    timeout=min(30, left())) != 0:
                        break
                    val = ANSI_RE.sub("", child.match.group(2).decode(errors="replace")).strip()
                    if val:
                        probe[child.match.group(1).decode()] = val
                    child.expect([re.escape(PROMPT), pexpect.TIMEOUT], timeout=min(10, left()))
                # Xen halts (does not power off) the machine when dom0 powers
                # off: stop QEMU once Xen says so
                _type(child, "sync; poweroff -f\r")
                child.expect([pexpect.EOF, "Hardware Dom0 (halted|shutdown)", pexpect.TIMEOUT],
                             timeout=min(60, left()))
        elif i < 3 + nfail:
            outcome = FAILURE_MARKERS[i - 3]
            child.expect([pexpect.EOF, pexpect.TIMEOUT], timeout=min(5, left()))
        elif i == 3 + nfail:
            outcome = "qemu exited"
    finally:
        if child.isalive():
            child.terminate(force=True)
        child.close()
        logf.close()
    log = log_path.read_bytes().decode(errors="replace")
    return log, probe, ready_s, outcome


def _xen_login(child, login: Login, left) -> tuple[bool, str]:
    """Log in at dom0's login prompt on hvc0 (typed slowly). Returns
    (shell reached, outcome)."""
    import pexpect

    _type(child, login.user + "\r")
    i = child.expect([PASSWORD_RE.encode(), SHELL_RE.encode(), b"Login incorrect",
                      pexpect.EOF, pexpect.TIMEOUT], timeout=min(90, left()))
    if i == 0:
        if login.password is None:
            return False, "password needed"
        _type(child, login.password + "\r")
        i = child.expect([SHELL_RE.encode(), b"Login incorrect", pexpect.EOF, pexpect.TIMEOUT],
                         timeout=min(120, left()))
        i = {0: 1, 1: 2}.get(i, 3)
    if i == 1:
        return True, "login"
    return False, "login refused" if i == 2 else "login"


def run_xen_cell(image: Path, *, arch: str, xen_path: Path | None, timeout: float,
                 log_dir: Path, firmware: Firmware | None = None,
                 options: XenBootOptions | None = None,
                 login: Login | None = None) -> CellResult:
    """Boot ``image``'s kernel as Xen dom0 and judge GUEST-XEN and the Xen
    part of GUEST-CONSOLE. ``image``: raw, .gz/.bz2/.zst/.xz or .qcow2.
    Never raises for user/host problems: they come back as an ``error``
    cell whose message says what, why and the fix."""
    opts = options or XenBootOptions()
    name = f"xen-{arch}"
    log_dir = Path(log_dir)

    def body(cell: CellResult, work: Path) -> None:
        t0 = time.monotonic()
        xen = host.find_xen(xen_path)
        fw, vars_ = firmware_and_vars(firmware, work)
        base = vm_config(fw, vars_, work / "probe.qcow2", "qcow2", memory_mib=opts.memory_mib,
                         cpus=opts.cpus)
        qemu_version = host.probe_qemu(base)
        cell.params.update({"xen": xen.version, "xen_from": xen.origin, "qemu": qemu_version})

        boot = source.read_image(Path(image), work)
        cell.params["kernel"] = f"{boot.kernel_from} ({boot.release or 'release unknown'})"
        # the kernel configuration decides first: without CONFIG_XEN it cannot
        # run on Xen at all, so there is nothing to boot
        if boot.config_text is not None:
            cfg = kconfig.parse_config(boot.config_text, boot.config_name)
            for req, ok, msg in checks.option_messages(checks.xen_findings(cfg, arch),
                                                       boot.config_name):
                cell.add_check(req, ok, msg)
            essential = checks.missing_essential(cfg, arch)
            if essential:
                cell.status = "fail"
                cell.message = (
                    f"the image's kernel is built without {', '.join(essential)} "
                    f"({boot.config_name}), so it cannot run as a Xen domain; not booted. "
                    + "; ".join(c.message for c in cell.checks if not c.ok))
                return
        else:
            cell.add_check(checks.XEN_REQ, True,
                           "kernel config: the image has neither /boot/config-* nor IKCONFIG; "
                           "the Xen options are judged from the running guest only")

        initrd = concat_initrds(boot, work)
        args, dropped = bootcfg.dom0_args(boot.entry, opts.dom0_extra)
        grub_cfg = bootdisk.grub_cfg(opts.xen_args, args, initrd is not None)
        from armvm_oe.testing import debian
        disk = bootdisk.build(work / "xenboot.img", grub=bootdisk.grub_efi(
            debian.grub_modules("aarch64")), xen=xen.path, kernel=boot.kernel,
            initrd=initrd, cfg=grub_cfg)
        cell.params["dom0_cmdline"] = " ".join(args)
        if dropped:
            cell.params["dropped_args"] = " ".join(dropped)
        overlay = guest_disk(Path(image), work)
        argv = build_argv(vm_config(fw, vars_, overlay, "qcow2", memory_mib=opts.memory_mib,
                                    cpus=opts.cpus, extra=bootdisk_args(disk)))
        (log_dir / f"{name}.qemu-cmdline").write_text(" ".join(map(str, argv)) + "\n")
        (log_dir / f"{name}.grub.cfg").write_text(grub_cfg)
        log_path = log_dir / f"{name}.serial.log"
        cell.log_path = log_path
        build_s = time.monotonic() - t0
        log, probe, ready_s, outcome = boot_and_watch(argv, log_path,
                                                      max(30.0, timeout - build_s), login)
        cell.facts = {"xen": checks.xen_banner(log), **probe}
        cell.params.update({"prepare_s": round(build_s, 1), "ready_s": round(ready_s, 1),
                            "outcome": outcome})
        if outcome == "password needed":
            cell.status = "error"
            user = (login or Login()).user
            cell.message = (f"dom0 reached its login prompt on hvc0 and asks for {user}'s "
                            f"password, and none was given: use --login {user}:PASSWORD")
            return
        reached = outcome if outcome in ("login", "shell", "protocol") else None
        if outcome == "login refused":
            reached = "login"
            cell.notes.append("the login was refused: facts from the kernel log only")
        ev = checks.ConsoleEvidence(log, probe,
                                    boot.root_partition.number if boot.root_partition else None,
                                    reached)
        for req, ok, msg in checks.judge_console(ev):
            cell.add_check(req, ok, msg, "shell" if probe else "log")
        cell.finish()
        if cell.status == "fail" and outcome not in ("login", "shell", "protocol"):
            cell.message = f"boot outcome: {outcome}; " + cell.message

    return run_cell(name, arch, log_dir, {"gic": "3", "console": "hvc0"}, body,
                    keep_workdir=opts.keep_workdir)
