"""``armvm-oe test IMAGE --hypervisor xen --xen-guest domu``: the image
under test as a Xen **domU** with a Xen PV disk, the way a guest runs on a
Xen cloud host.

The machine (QEMU TCG, EL2 emulated, like the dom0 row):

* dom0 is the harness's "Xen host" (:mod:`armvm_oe.xen.xenhost`: Debian
  bookworm arm64 with Debian's xl/xenstored/xenconsoled and its kernel's
  xen-blkback), started by GRUB's ``xen_boot`` from the throwaway boot disk
  (:mod:`armvm_oe.xen.bootdisk`);
* the image under test is one more virtio disk (through a qcow2 overlay, so
  it is never modified) with the serial ``armvmguest``: dom0 finds it as
  ``/dev/disk/by-id/virtio-armvmguest``;
* the boot disk also carries the image's own kernel and initrd (read with
  :func:`armvm_oe.xen.source.read_image`), the xl config
  (:func:`domu_config`: ``extra`` = the image's own kernel arguments, root=
  exactly as the image says, console=hvc0; ``disk`` = that device as
  ``vdev=xvda``) and a short script that runs ``xl create -c``.

After dom0's login (typed slowly: Xen's console input ring drops bulk
input) one short line mounts the boot disk and runs the script; the domU's
console then follows on the same serial session. :func:`judge` names the
outcome: the domU's login prompt or shell = pass; the initramfs's ``ALERT!
... does not exist`` / "Gave up waiting for root" = fail: the image's
root= does not name a disk that exists on Xen.

Debian's initramfs waits ``rootdelay`` (default 180 s) before that ALERT;
this row waits for it (the image's root semantics are not changed: no
rootdelay= is added) and records when the initramfs said "Waiting for root
file system", so the report shows both the wait and its end."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from armvm_oe.boottest.result import CellResult
from armvm_oe.errors import InputError
from armvm_oe.qemu import Login, build_argv, create_overlay
from armvm_oe.qemu.console import ANSI_RE, FAILURES, PASSWORD_RE, SHELL_RE
from armvm_oe.qemu.firmware import Firmware
from armvm_oe.xen import bootcfg, bootdisk, host, source
from armvm_oe.xen.cell import (_type, bootdisk_args, concat_initrds, firmware_and_vars,
                               guest_disk, run_cell, vm_config)
from armvm_oe.xen.xenhost import HOSTNAME as XENHOST_NAME

GUEST_SERIAL = "armvmguest"
GUEST_DEV = f"/dev/disk/by-id/virtio-{GUEST_SERIAL}"
DOMU_NAME = "armvm-guest"
DOMU_DIR = "armvm-domu"             # on the boot disk's ESP
DOMU_MEM_MIB = 320
QEMU_MEM_MIB = 1536
DOM0_MEM = "dom0_mem=512M,max:512M"
XEN_ARGS = ["console=dtuart", DOM0_MEM, "loglvl=all", "guest_loglvl=all"]
START_MARK = "ARMVM-DOMU-START"
EXIT_MARK = "ARMVM-DOMU-EXIT"

# dom0's own line: mount the boot disk and run the script (short, typed slowly)
DOM0_COMMAND = f"mount -r LABEL=XENBOOT /mnt&&sh /mnt/{DOMU_DIR}/run.sh\r"
RUN_SCRIPT = f"""#!/bin/sh
# armvm-oe: start the image under test as a Xen domU with its disk as xvda
d=/mnt/{DOMU_DIR}
for i in $(seq 60); do [ -e {GUEST_DEV} ] && [ -e /proc/xen/capabilities ] && \\
  xl list >/dev/null 2>&1 && break; sleep 1; done
modprobe xen-blkback 2>/dev/null
echo ARMVM-DOMU-DISK=$(readlink -f {GUEST_DEV})
echo {START_MARK}
xl create -c $d/domu.cfg
echo {EXIT_MARK} rc=$?
"""

# the domU's login prompt: the image's hostname, never the Xen host's
DOMU_LOGIN_RE = re.compile(r"(?:^|[\r\n])(?!Last login)(?!%s )([A-Za-z0-9][\w.-]*) login: ?"
                           % re.escape(XENHOST_NAME))
DOM0_LOGIN = f"{XENHOST_NAME} login:"
READY_MARK = "ARMVM-READY"
WAITING_ROOT = "Begin: Waiting for root file system"
# how the image's boot ends when root= names no disk (Debian initramfs-tools,
# this project's fixture init, the kernel's own mount_root), each naming an
# outcome; the other ways a boot stops come from armvm_oe.qemu.console.FAILURES
# (the same text patterns, read here only for what they do not cover)
ROOT_FAILURES = (
    (r"ALERT! +(\S+) does not exist", "root-not-found"),
    (r"ARMVM-ROOT-NOT-FOUND[^\r\n]*", "root-not-found"),      # this project's fixture init
    (r"Gave up waiting for root (?:file system )?device", "root-not-found"),
    (r"VFS: Unable to mount root fs on (\S+)", "root-not-found"),
    (r"Kernel panic[^\r\n]*", "kernel-panic"),
)
XL_FAILURE_RE = re.compile(r"libxl: error: [^\r\n]*|Parsing config from [^\r\n]*\r?\n"
                           r"[^\r\n]*(?:error|failed)[^\r\n]*", re.I)


def domu_config(*, kernel: str, ramdisk: str | None, extra: list[str], disk: str,
                memory_mib: int = DOMU_MEM_MIB, vcpus: int = 1, name: str = DOMU_NAME) -> str:
    """The xl domain config: a PV (Arm) guest with the image's kernel and
    initrd, its own command line and one Xen PV disk named xvda."""
    def q(s: str) -> str:
        if '"' in s or "\n" in s:
            raise InputError(f"the kernel argument {s!r} cannot go into an xl config",
                             "xl's config strings are double-quoted and have no escape for "
                             "a double quote or a newline",
                             "Remove the quote from the image's kernel command line")
        return f'"{s}"'
    lines = [f"name = {q(name)}", 'type = "pvh"', f"kernel = {q(kernel)}"]
    if ramdisk:
        lines.append(f"ramdisk = {q(ramdisk)}")
    lines += [f"extra = {q(' '.join(extra))}", f"memory = {int(memory_mib)}",
              f"vcpus = {int(vcpus)}",
              f"disk = [ {q(f'format=raw, vdev=xvda, access=rw, target={disk}')} ]",
              'on_crash = "preserve"', 'on_poweroff = "destroy"', 'on_reboot = "destroy"']
    return "\n".join(lines) + "\n"


def guest_args(entry: bootcfg.BootEntry) -> tuple[list[str], list[str]]:
    """The image's own kernel arguments for the domU: all of them (root=
    exactly as written), console selection replaced by the PV console."""
    return bootcfg.dom0_args(entry, ["console=hvc0"])


@dataclass
class Verdict:
    outcome: str            # domu-login | domu-shell | root-not-found | kernel-panic | xl-error
    #                         | domu-exited | timeout | dom0-... (the host did not come up)
    ok: bool
    message: str
    root: str | None = None
    waited_s: float | None = None


def _clean(text: str) -> str:
    return ANSI_RE.sub("", text or "").replace("\r", "")


def domu_part(log: str) -> str:
    """The console text after the domU was started (the run script's
    marker line), or '' when it never was."""
    t = _clean(log)
    i = t.find(START_MARK + "\n")
    return t[i + len(START_MARK) + 1:] if i >= 0 else ""


def judge(log: str, root: str | None, *, reached: str | None = None,
          waited_s: float | None = None) -> Verdict:
    """Name the domU's outcome from the console text (``log``: the whole
    serial log; only the part after the domU start is read). ``root``: the
    image's root= argument; ``reached``: what the watcher saw end the boot
    (``timeout`` when nothing did)."""
    t = domu_part(log)
    rootdesc = f"root={root}" if root else "no root= argument"
    if not t:
        return Verdict("dom0-no-start", False, "the Xen host never started the domU "
                       "(no start marker after dom0's login)", root)
    if READY_MARK in t:                 # the fixture images' init: a root shell, no getty
        return Verdict("domu-shell", True, f"the image booted as a Xen domU with its disk as "
                       f"xvda ({rootdesc}) and reached its shell ({READY_MARK})", root, waited_s)
    m = DOMU_LOGIN_RE.search(t)
    if m:
        return Verdict("domu-login", True,
                       f"the image booted as a Xen domU with its disk as xvda ({rootdesc}) "
                       f"and reached its login prompt ('{m.group(1)} login:')", root, waited_s)
    for pat, outcome in ROOT_FAILURES:
        m = re.search(pat, t)
        if not m:
            continue
        if outcome == "root-not-found":
            dev = root or (m.group(1) if m.groups() else "the root device")
            msg = (f"the domU's {rootdesc} does not exist on Xen: its disk is xvda "
                   f"(the initramfs said '{m.group(0).strip()}'"
                   + (f" after waiting {waited_s:.0f}s" if waited_s else "") + ")")
            if root and re.match(r"/dev/(?:[svh]d|xvd)[a-z]", root):
                msg += (f"; {dev} is one hypervisor's disk name (vda on KVM's virtio-blk, "
                        "xvda on Xen's PV disk, sda on SCSI): name the root by UUID=, "
                        "PARTUUID= or LABEL= in the image's boot config")
            return Verdict(outcome, False, msg, root, waited_s)
        return Verdict(outcome, False, f"the domU's kernel panicked: '{m.group(0).strip()}' "
                       f"({rootdesc})", root, waited_s)
    for pat, why in FAILURES:
        m = re.search(pat, t)
        if m:
            return Verdict("initramfs-or-emergency", False, f"the domU did not reach a login: "
                           f"{why} ('{m.group(0).strip()}')", root, waited_s)
    m = XL_FAILURE_RE.search(t)
    if m and "Linux version" not in t:
        return Verdict("xl-error", False, "xl could not create the domU: "
                       f"'{m.group(0).strip()}'", root)
    if EXIT_MARK in t:
        return Verdict("domu-exited", False, "the domU ended before a login prompt "
                       f"({rootdesc})", root, waited_s)
    waiting = WAITING_ROOT in t
    return Verdict("timeout", False, "no login prompt from the domU before the timeout"
                   + (f" (its initramfs was still '{WAITING_ROOT}' for {rootdesc})"
                      if waiting else ""), root, waited_s)


PROBE_RE = re.compile(rb"XQ42 (\w+)=([^\r\n]*)\r*\n")
DOMU_PROBES = (("root", "grep -v rootfs /proc/mounts|while read d m r;do [ $m = / ]&&echo $d;done"),
               ("hypervisor", "cat /sys/hypervisor/type"),
               ("xen_drivers", "ls /sys/bus/xen/drivers|tr '\\n' ' '"))


def watch(argv: list[str], log_path: Path, timeout: float, login: Login,
          domu_login: Login | None) -> tuple[str, dict, dict]:
    """Run QEMU: wait for dom0's login, log in, start the domU, follow its
    console to a login prompt or a failure; log into the domU when it
    answers (``domu_login``) and read its root device. Returns (log,
    times, domU probe answers); times: dom0_s, domu_start_s, waiting_s,
    end_s, reached."""
    import pexpect

    t0 = time.monotonic()
    deadline = t0 + timeout
    times: dict = {"reached": "timeout"}
    probe: dict = {}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as logf:
        child = pexpect.spawn(argv[0], argv[1:], timeout=None, logfile=logf, echo=False)

        def left() -> float:
            return max(1.0, deadline - time.monotonic())

        def since() -> float:
            return round(time.monotonic() - t0, 1)
        try:
            i = child.expect([DOM0_LOGIN, r"\(XEN\) Panic", "Kernel panic", pexpect.EOF,
                              pexpect.TIMEOUT], timeout=left())
            if i != 0:
                times["reached"] = ("dom0-no-login", "dom0-xen-panic", "dom0-kernel-panic",
                                    "dom0-qemu-exited", "dom0-timeout")[i]
                return log_path.read_bytes().decode(errors="replace"), times, probe
            times["dom0_s"] = since()
            time.sleep(2)
            _type(child, login.user + "\r")
            i = child.expect([PASSWORD_RE, SHELL_RE, pexpect.TIMEOUT], timeout=min(120, left()))
            if i == 0:
                _type(child, (login.password or "") + "\r")
                i = child.expect([SHELL_RE, "Login incorrect", pexpect.TIMEOUT],
                                 timeout=min(120, left()))
                i = 1 if i == 0 else 2
            if i != 1:
                times["reached"] = "dom0-login-refused"
                return log_path.read_bytes().decode(errors="replace"), times, probe
            _type(child, DOM0_COMMAND)
            if child.expect([START_MARK + r"\r*\n", pexpect.EOF, pexpect.TIMEOUT],
                            timeout=min(180, left())) != 0:
                times["reached"] = "dom0-no-start"
                return log_path.read_bytes().decode(errors="replace"), times, probe
            times["domu_start_s"] = since()
            pats = [DOMU_LOGIN_RE.pattern, WAITING_ROOT, *(p for p, _ in ROOT_FAILURES),
                    EXIT_MARK, pexpect.EOF, pexpect.TIMEOUT, READY_MARK]
            nroot = len(ROOT_FAILURES)
            while True:
                i = child.expect(pats, timeout=left())
                if i == 1:
                    times["waiting_s"] = since()
                    continue
                break
            times["end_s"] = since()
            if i == 0:
                times["reached"] = "domu-login"
                if domu_login is not None:
                    _domu_probe(child, domu_login, left, probe)
            elif i < 2 + nroot:
                times["reached"] = ROOT_FAILURES[i - 2][1]
                child.expect([pexpect.EOF, pexpect.TIMEOUT], timeout=min(5, left()))
            else:
                times["reached"] = ("domu-exited", "qemu-exited", "timeout",
                                    "domu-shell")[i - 2 - nroot]
        finally:
            if child.isalive():
                child.terminate(force=True)
            child.close()
    return log_path.read_bytes().decode(errors="replace"), times, probe


def _domu_probe(child, login: Login, left, probe: dict) -> None:
    import pexpect

    time.sleep(2)
    _type(child, login.user + "\r")
    i = child.expect([PASSWORD_RE, SHELL_RE, pexpect.TIMEOUT], timeout=min(120, left()))
    if i == 0:
        _type(child, (login.password or "") + "\r")
        if child.expect([SHELL_RE, "Login incorrect", pexpect.TIMEOUT],
                        timeout=min(120, left())) != 0:
            return
    elif i != 1:
        return
    for key, cmd in DOMU_PROBES:
        _type(child, f"echo XQ$((6*7)) {key}=$({cmd} 2>/dev/null)\r")
        if child.expect([PROBE_RE, pexpect.EOF, pexpect.TIMEOUT], timeout=min(60, left())) != 0:
            break
        val = ANSI_RE.sub("", child.match.group(2).decode(errors="replace")).strip()
        if val:
            probe[child.match.group(1).decode()] = val


def run_domu_cell(image: Path, *, arch: str = "aarch64", xen_path: Path | None = None,
                  timeout: float = 900, log_dir: Path, firmware: Firmware | None = None,
                  login: Login | None = Login(), keep_workdir: bool = False,
                  memory_mib: int = DOMU_MEM_MIB) -> CellResult:
    """Boot ``image`` as a Xen domU (disk xvda) on the harness's Xen host
    and judge whether it finds its root. Never raises for user/host
    problems: they come back as an ``error`` cell (what/why/fix).
    ``login``: how to log into the domU at its login prompt to read its
    root device from /proc/mounts (None: judge from the console only)."""
    from armvm_oe.testing import debian
    from armvm_oe.xen import xenhost

    name = f"xen-domu-{arch}"
    log_dir = Path(log_dir)

    def body(cell: CellResult, work: Path) -> None:
        t0 = time.monotonic()
        xh = xenhost.cached()
        if xh is None:
            raise host.XenUnavailable(
                "the Xen host (dom0) for the domU row is not built",
                "the domU row runs the image on a Debian Xen host derived from the Debian "
                "arm64 test image; it is cached in ~/.cache/armvm-oe/xenhost and built once "
                "(about a minute, as root)",
                "Run 'sudo python3 -m armvm_oe.xen.xenhost' (after 'sudo python3 -m "
                "armvm_oe.testing.distro --arch aarch64'), or use --xen-guest dom0")
        xen = host.find_xen(xen_path)
        fw, vars_ = firmware_and_vars(firmware, work)
        boot = source.read_image(Path(image), work)
        root = boot.entry.root
        args, dropped = guest_args(boot.entry)
        initrd = concat_initrds(boot, work)
        d = f"/mnt/{DOMU_DIR}"
        cfg = domu_config(kernel=f"{d}/Image", ramdisk=f"{d}/initrd.img" if initrd else None,
                          extra=args, disk=GUEST_DEV, memory_mib=memory_mib)
        dom0 = [f"root=UUID={xh.root_uuid}", "ro", "console=hvc0"]
        grub_cfg = bootdisk.grub_cfg(XEN_ARGS, dom0, True,
                                     title="armvm-oe: Xen host (dom0) for the domU row")
        extra = {f"{DOMU_DIR}/Image": boot.kernel, f"{DOMU_DIR}/domu.cfg": cfg.encode(),
                 f"{DOMU_DIR}/run.sh": RUN_SCRIPT.encode()}
        if initrd:
            extra[f"{DOMU_DIR}/initrd.img"] = initrd
        disk = bootdisk.build(work / "xenboot.img", grub=bootdisk.grub_efi(
            debian.grub_modules("aarch64")), xen=xen.path, kernel=xh.kernel, initrd=xh.initrd,
            cfg=grub_cfg, extra_files=extra)
        host_overlay = create_overlay(xh.root, work / "xenhost-overlay.qcow2")
        overlay = guest_disk(Path(image), work)
        guest = ["-drive", f"if=none,id=guest,file={overlay},format=qcow2",
                 "-device", f"virtio-blk-device,drive=guest,serial={GUEST_SERIAL}"]
        argv = build_argv(vm_config(fw, vars_, host_overlay, "qcow2", memory_mib=QEMU_MEM_MIB,
                                    cpus=2, extra=bootdisk_args(disk) + guest))
        (log_dir / f"{name}.qemu-cmdline").write_text(" ".join(map(str, argv)) + "\n")
        (log_dir / f"{name}.grub.cfg").write_text(grub_cfg)
        (log_dir / f"{name}.xl.cfg").write_text(cfg)
        cell.params.update({"xen": xen.version, "xen_from": xen.origin,
                            "kernel": f"{boot.kernel_from} ({boot.release or 'release unknown'})",
                            "domu_cmdline": " ".join(args), "domu_disk": "xvda (Xen PV, blkback)",
                            "root": root or "", "xen_host": xh.meta.get("key", "")})
        if dropped:
            cell.params["dropped_args"] = " ".join(dropped)
        log_path = log_dir / f"{name}.serial.log"
        cell.log_path = log_path
        prep = time.monotonic() - t0
        from armvm_oe.testing.distro import PASSWORD
        log, times, probe = watch(argv, log_path, max(60.0, timeout - prep),
                                  Login("root", PASSWORD), login)
        waited = (times["end_s"] - times["waiting_s"]) if "waiting_s" in times and \
            "end_s" in times else None
        cell.params.update({"prepare_s": round(prep, 1), "outcome": times["reached"],
                            **{k: v for k, v in times.items() if k.endswith("_s")}})
        cell.facts = {"domU_disk": "xvda", **probe}
        if times["reached"].startswith("dom0-"):
            cell.status = "error"
            cell.message = (f"the Xen host did not get as far as starting the domU "
                            f"({times['reached']}); see {log_path}")
            return
        v = judge(log, root, reached=times["reached"], waited_s=waited)
        cell.params["outcome"] = v.outcome
        cell.add_check("GUEST-XEN", "Linux version" in domu_part(log),
                       "the image's kernel started as a Xen domU (xl create, PV console hvc0)"
                       if "Linux version" in domu_part(log) else
                       "the image's kernel printed nothing as a Xen domU", "log")
        msg = v.message
        if v.ok and probe.get("root"):
            msg += f"; the domU's / is {probe['root']} (/proc/mounts)"
        cell.add_check("IMG-GRUB", v.ok, msg, "shell" if probe else "log")
        cell.finish()
        cell.message = msg if not v.ok else ""

    return run_cell(name, arch, log_dir, {"mode": "domU", "console": "hvc0"}, body,
                    keep_workdir=keep_workdir, prefix="armvm-domu-")
