"""The checks a cell runs in the logged-in guest after the spec columns
(matrix.py drives the boot): the user's own checks (--run/--run-dir), the
kernel log's health, systemd's state, the network and the FDT devices'
drivers, ssh through a forwarded port, and an orderly power-off or reboot
from inside the guest. The parsing and judging is pure (userchecks,
kernlog, health); this module talks to the console and the host."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pexpect

from armvm_oe.boottest import health, kernlog, userchecks
from armvm_oe.boottest.result import CellResult
from armvm_oe.qemu import Console, ConsoleError
from armvm_oe.qemu.probe import log_is_quiet


def free_port() -> int:
    """A TCP port on the host's loopback that is free now (for hostfwd)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def net_forwards(token: str, ssh_port: int) -> list[str]:
    """QEMU user-network rules of a cell: 10.0.2.100:7 answers with the
    cell's token (a program QEMU starts per connection), and the guest's
    port 22 is reachable on the host's loopback only."""
    return [f"guestfwd=tcp:{health.FWD_ADDR}:{health.FWD_PORT}-cmd:echo armvm-net-{token}",
            f"hostfwd=tcp:127.0.0.1:{ssh_port}-:22"]


def kernel_log(r: CellResult, cell, st, console: str,
                dmesg: str | None) -> None:
    """KERNEL-LOG: no WARNING/Oops/BUG/KASAN/KFENCE/panic/probe failure in
    the kernel log on the consoles (up to the prompt) nor in the guest's
    dmesg at the end of the cell, but what the ignore list explains (a note
    each, with its reason)."""
    ignores = st.log_ignores if st.log_ignores is not None else \
        kernlog.load(kernlog.machine_for(cell.arch))
    bad, noted = kernlog.judge(console + "\n" + (dmesg or ""), ignores)
    src = "+".join(x for x, y in (("log", not log_is_quiet(console)), ("shell", dmesg is not None))
                   if y) or "none"
    for inc in noted:
        r.notes.append(f"kernel log: {inc.line[:160]} (ignored: {inc.ignored_by.reason}; "
                       f"{inc.ignored_by.source})")
    r.facts["kernel_log"] = {"incidents": [i.line for i in bad],
                             "ignored": [i.line for i in noted]}
    if src == "none":
        r.notes.append("KERNEL-LOG not checked: the kernel log was not on the console (quiet) "
                       "and no shell was reached to read dmesg")
        return
    r.add_check("KERNEL-LOG", not bad,
                f"no kernel warning, oops, BUG or probe failure ({len(noted)} known line(s) "
                "ignored)" if not bad else
                f"{len(bad)} kernel log incident(s): " + " | ".join(
                    f"{i.line[:200]}" for i in bad[:3]) + (" | ..." if len(bad) > 3 else ""),
                src)


def user_checks(r: CellResult, con: Console, st) -> None:
    """The user's --run/--run-dir checks, each copied over the console and
    run; one ``runs`` entry (a JUnit test case) each. A check that does not
    finish in time leaves the shell busy: the rest are reported not run."""
    t_all = time.monotonic()
    for i, uc in enumerate(st.user_checks):
        t0 = time.monotonic()
        for cmd in userchecks.upload_commands(uc):
            con.run(cmd, timeout=60)
        rc, size = con.run(userchecks.verify_command(uc), timeout=30)
        if size.strip().splitlines()[-1:] != [str(len(uc.data))]:
            r.runs.append(userchecks.result(uc, None, "", "", time.monotonic() - t0,
                                            f"copying it into the guest failed ({size[-80:]!r} "
                                            f"bytes arrived of {len(uc.data)})"))
            continue
        try:
            _, out = con.run(userchecks.run_command(uc), timeout=st.run_timeout)
        except ConsoleError:
            r.runs.append(userchecks.result(uc, None, "", "", time.monotonic() - t0,
                                            f"did not finish within {st.run_timeout:.0f} s "
                                            "(--run-timeout)"))
            for rest in st.user_checks[i + 1:]:
                r.runs.append(userchecks.result(rest, None, "", "", 0.0,
                                                "not run: an earlier check did not finish"))
            con.shell = False          # the shell is still busy: power off through QMP
            break
        got = userchecks.parse_output(out)
        if got is None:
            r.runs.append(userchecks.result(uc, None, out[-2000:], "", time.monotonic() - t0,
                                            "its output could not be read back"))
            continue
        rc, so, se = got
        r.runs.append(userchecks.result(uc, rc, so, se, time.monotonic() - t0))
    if st.user_checks:
        r.params["user_checks_s"] = round(time.monotonic() - t_all, 2)


def after_login(r: CellResult, cell, st, con: Console, console_text: str, token: str,
                ssh_port: int) -> health.Health | None:
    """The user's checks, then one round trip for dmesg + the health probe,
    judged into KERNEL-LOG, SYSTEMD, NETWORK, DT-DRIVERS (and the spec id of
    a required device without a driver), then ssh when sshd listens."""
    user_checks(r, con, st)
    if not con.shell:            # a hung --run check keeps the shell
        kernel_log(r, cell, st, console_text, None)
        return None
    t0 = time.monotonic()
    _, out = con.run("; ".join([f"P='{health.TAG}'", health.mark("kernel_log"),
                                kernlog.DMESG_PROBE, health.PROBE]),
                     timeout=health.SYSTEMD_WAIT_S + 120)
    r.params["health_probe_s"] = round(time.monotonic() - t0, 2)
    kernel_log(r, cell, st, console_text, kernlog.dmesg_lines(out))
    h = health.parse(out)
    # what each check costs in this cell (guest clock for the probe's parts)
    costs = r.params.setdefault("check_costs_s", {})
    costs["user_checks"] = r.params.get("user_checks_s", 0.0)
    costs.update(h.costs())
    costs["round_trip"] = round(r.params["health_probe_s"] - sum(h.costs().values()), 2)
    if not h.complete:
        r.add_check("HEALTH", False, "the guest did not finish the health probe: "
                    + out[-200:].replace("\n", " | "), "shell")
        return h
    systemd(r, h)
    net_ok = network(r, h, token, "qemu")
    devices(r, h)
    if h.sshd and net_ok:
        ssh(r, con, st, ssh_port)
    elif h.sshd:
        r.notes.append("the guest runs sshd; ssh was not tried: its network is not up")
    return h


def systemd(r: CellResult, h: health.Health) -> None:
    ok, msg = health.judge_systemd(h)
    r.facts["systemd"] = {"state": h.sd_state, "failed": h.sd_failed, "waited_s": h.sd_waited}
    if ok is None:
        r.notes.append("SYSTEMD not checked: " + msg)
    else:
        r.add_check("SYSTEMD", ok, msg, "shell")


def network(r: CellResult, h: health.Health, token: str, hypervisor: str) -> bool:
    """The NETWORK checks; True when the NIC, the lease and the host side are all fine."""
    j = health.judge_network(h, token, hypervisor)
    r.facts["net"] = {**j["facts"], "host": j["host"][0]}
    for key, what in (("nic", "NIC"), ("dhcp", "DHCP lease"), ("host", "host side")):
        ok, msg = j[key]
        r.add_check("NETWORK", ok, f"{what}: {msg}", "shell")
    return all(j[k][0] for k in ("nic", "dhcp", "host"))


def devices(r: CellResult, h: health.Health) -> None:
    if not h.compat:
        r.notes.append("DT-DRIVERS not checked: no devicetree under /sys/firmware")
        return
    fails, noted, expected = health.judge_devices(h, health.dt_rules())
    bound = len(h.compat) - 1 - len(fails) - len(noted) - len(expected)
    r.facts["devices"] = {"bound": bound, "unbound": noted + [m for _, m in fails],
                          "expected_unbound": len(expected)}
    for req, msg in fails:
        r.add_check(req, False, msg, "shell")
    if noted:
        r.notes.append(f"{len(noted)} FDT device(s) without a driver (not required by the "
                       "spec): " + "; ".join(noted[:6]) + ("; ..." if len(noted) > 6 else ""))
    r.add_check("DT-DRIVERS", not fails,
                f"{bound} FDT nodes with a bound driver, {len(expected)} without one by design "
                f"(dt-drivers.yaml), {len(noted)} listed in a note"
                + (f"; required but unbound: {'; '.join(m for _, m in fails)}" if fails else ""),
                "shell")


def ssh(r: CellResult, con: Console, st, port: int) -> None:
    """sshd listens in the guest: a fresh key is authorised through the
    console and a command runs over ssh through hostfwd on 127.0.0.1."""
    exe, keygen = shutil.which("ssh"), shutil.which("ssh-keygen")
    if not exe or not keygen:
        r.notes.append("the guest runs sshd, but this host has no ssh client "
                       "(apt-get install openssh-client): ssh not checked")
        return
    user = st.login.user if st.login else "root"
    with tempfile.TemporaryDirectory(prefix="armvm-ssh-") as tmp:
        key = Path(tmp) / "key"
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "armvm-oe-test", "-f",
                        str(key)], check=True, capture_output=True)
        pub = key.with_suffix(".pub").read_text().strip()
        con.run("umask 077; mkdir -p ~/.ssh && printf '%s\\n' '" + pub
                + "' >> ~/.ssh/authorized_keys", timeout=30)
        t0 = time.monotonic()
        try:
            p = subprocess.run([exe, "-i", str(key), "-p", str(port), "-o", "BatchMode=yes",
                                "-o", "StrictHostKeyChecking=no", "-o",
                                "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=60",
                                "-o", "LogLevel=ERROR", f"{user}@127.0.0.1",
                                "echo ssh-ok-$((6*7))"],
                               capture_output=True, text=True, timeout=180,
                               stdin=subprocess.DEVNULL)
            out, err, rc = p.stdout, p.stderr, p.returncode
        except subprocess.TimeoutExpired:
            out, err, rc = "", "no answer within 180 s", None
    r.params["ssh_s"] = round(time.monotonic() - t0, 2)
    r.params.setdefault("check_costs_s", {})["ssh"] = r.params["ssh_s"]
    ok = rc == 0 and "ssh-ok-42" in out
    r.facts.setdefault("net", {})["ssh"] = ok
    r.add_check("NETWORK", ok, f"ssh {user}@127.0.0.1 -p {port} (hostfwd to the guest's port "
                f"22) ran a command" if ok else
                f"sshd listens in the guest but ssh through hostfwd failed (exit {rc}): "
                f"{err.strip()[-200:]}", "host")


def has_systemd(con: Console) -> bool:
    rc, out = con.run("[ -d /run/systemd/system ] && echo sd-yes", timeout=30)
    return "sd-yes" in out


def orderly_end(r: CellResult, con: Console, how: str, timeout: float = 180) -> None:
    """``systemctl poweroff`` or ``systemctl reboot`` in the guest: systemd
    stops every unit, then the kernel says it powers off / restarts (printed
    at emergency level, so it shows after dmesg -n 1) and QEMU exits (it
    runs with -no-reboot, so a reboot ends it too)."""
    want = {"poweroff": "reboot: Power down", "reboot": "reboot: Restarting system"}[how]
    t0 = time.monotonic()
    con.child.sendline(f"systemctl {how}")
    try:
        con.child.expect_exact(want, timeout=timeout)
        con.child.expect(pexpect.EOF, timeout=60)
        ok, msg = True, (f"'systemctl {how}' in the guest: systemd stopped the system, the "
                         f"kernel printed '{want}' and the VM ended")
    except pexpect.TIMEOUT:
        ok, msg = False, (f"'systemctl {how}' in the guest did not end the VM within "
                          f"{timeout:.0f} s (no '{want}' from the kernel)")
    except pexpect.EOF:
        ok, msg = False, (f"the VM ended after 'systemctl {how}' without the kernel's "
                          f"'{want}' (it crashed or was killed)")
    r.params[f"{how}_s"] = round(time.monotonic() - t0, 2)
    r.params.setdefault("check_costs_s", {})[how] = r.params[f"{how}_s"]
    con.shell = False
    r.add_check("SYSTEMD", ok, msg, "shell")
