"""Drive a VM's console with pexpect.

Any Linux guest: :meth:`Console.wait_boot` waits for what an installed
system shows on its console (a ``<host> login:`` prompt, a shell prompt,
systemd's ``Reached target`` lines) and :meth:`Console.login` logs in
(password prompts are answered from the given credentials only), then sets
the shell prompt to ``armvm# `` so :meth:`Console.run` can read command
output. The fixture images' private protocol (``ARMVM-FACT key=value``
lines, ``ARMVM-READY``, a root shell) is still recognised as one more
"boot reached" marker, but callers judge nothing from its facts.

    with Console.spawn(argv, log_path=Path("serial.log")) as con:
        boot = con.wait_boot(timeout=300)      # Boot(how='login', ...)
        con.login(Login.parse("root:secret"))
        rc, out = con.run("uname -m")
        con.poweroff()

The fixture-protocol way (still used by the fast fixture tests):

    from armvm_oe.qemu import Console, build_argv
    with Console.spawn(build_argv(cfg), log_path=Path("serial.log")) as con:
        facts = con.expect_ready(timeout=300)     # {'gic': '3', 'virtio': [...], ...}
        rc, out = con.run("ls /sys/block")
        con.poweroff()
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pexpect

from armvm_oe.ui import ANSI_CSI, ANSI_RE  # the one definition of an escape sequence

FACT_RE = re.compile(r"ARMVM-FACT (\w+)=([^\r\n]*)")
PROMPT = "armvm# "
MULTI = ("virtio",)           # facts that appear once per device


class ConsoleError(RuntimeError):
    """The guest did not answer as the protocol says (message says what)."""


class LoginError(ConsoleError):
    """The guest's login did not accept us (message says what to give)."""


# What an installed system shows when it is up. The login prompt is any
# "<name> login: " at the start of a line.
# login's own "Last login: <date> on ttyAMA0" (second boot of an instance) is
# not a prompt.
LOGIN_RE = r"(?:^|[\r\n])(?!Last login)([A-Za-z0-9][\w.-]*) login: ?"
# a prompt ends the output; busybox's line editor then asks for the cursor
# position (ESC [6n), which may follow it
SHELL_RE = r"(?:^|[\r\n])[^\r\n]{0,80}?[#$] (?:" + ANSI_CSI + r")*$"
PASSWORD_RE = r"[Pp]assword: ?"
SYSTEMD_RE = r"Reached target"
# How boots go wrong, with the message a user reads
FAILURES = (
    (r"Kernel panic[^\r\n]*", "the guest kernel panicked"),
    (r"ARMVM-ROOT-NOT-FOUND[^\r\n]*", "the guest initramfs did not find the root partition"),
    (r"ARMVM-ROOT-MOUNT-FAILED[^\r\n]*", "the guest initramfs could not mount the root partition"),
    (r"ALERT! [^\r\n]* does not exist", "the initramfs did not find the root device "
                                         "(root= on the kernel command line)"),
    (r"\(initramfs\) ", "the boot stopped in the initramfs shell"),
    (r"grub rescue> ", "GRUB could not load its configuration or modules (grub rescue)"),
    (r"You are in emergency mode|Give root password for maintenance|"
     r"Press Enter for maintenance", "systemd stopped in emergency mode"),
)
_LIVE: set = set()             # every spawned console (interrupt_all stops them)
_LIVE_LOCK = threading.Lock()


def interrupt_all() -> int:
    """Kill every QEMU a Console spawned (Ctrl-C); returns how many."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    n = 0
    for con in live:
        try:
            if con.child.isalive():
                con.child.kill(9)
                n += 1
        except Exception:
            pass
    return n


@dataclass
class Login:
    """``--login USER[:PASSWORD]``: no password part means an empty
    password is expected (Yocto's empty-root-password); a password prompt
    then is a clear error."""

    user: str = "root"
    password: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> "Login | None":
        if text is None or text == "":
            return cls()
        if text == "none":
            return None
        user, sep, pw = text.partition(":")
        if not re.fullmatch(r"[A-Za-z_][\w.-]{0,31}", user):
            raise ValueError(f"{user!r} is not a user name")
        return cls(user, pw if sep else None)


@dataclass
class Boot:
    """How the guest showed it was up: ``how`` is login | shell | protocol |
    systemd (Reached target lines, but no prompt came); ``text`` is the
    console output up to then (the kernel log, for passive facts)."""

    how: str
    text: str
    seconds: float
    hostname: str | None = None
    marks: list = field(default_factory=list)   # other markers seen on the way


def parse_facts(text: str) -> dict:
    facts: dict = {}
    for key, value in FACT_RE.findall(text):
        value = value.strip()
        if key in MULTI:
            facts.setdefault(key, []).append(value)
        else:
            facts[key] = value
    return facts


class Console:
    """A pexpect-driven console on a spawned process (QEMU with the console on
    stdio). Everything the guest prints is appended to ``log_path``."""

    def __init__(self, child: pexpect.spawn, log_path: Path | None = None):
        self.child = child
        self.log_path = log_path
        self.facts: dict = {}
        self.started = time.monotonic()     # CLOCK_MONOTONIC is system-wide on Linux:
        self.ready_s: float | None = None   # a benchmark compares it across processes
        self.ready_at: float | None = None
        self._n = 0

    @classmethod
    def spawn(cls, argv: list[str], log_path: Path | None = None, env=None) -> "Console":
        logf = open(log_path, "a", encoding="utf-8", errors="replace") if log_path else None
        t0 = time.monotonic()
        child = pexpect.spawn(argv[0], list(argv[1:]), encoding="utf-8",
                              codec_errors="replace", timeout=60, env=env,
                              dimensions=(50, 200), echo=False)
        child.logfile_read = logf
        con = cls(child, log_path)
        con.started = t0                    # just before fork/exec of QEMU
        with _LIVE_LOCK:
            _LIVE.add(con)
        return con

    # -- any guest ----------------------------------------------------------
    def wait_boot(self, timeout: float = 300, nudge_after: float = 20.0) -> Boot:
        """Wait until the guest is up: a login prompt, a shell prompt, the
        fixture protocol's ARMVM-READY, or systemd's "Reached target" lines
        followed by silence (then Enter is pressed a few times to make a
        getty print its prompt again). Raises ConsoleError with the reason
        (panic, initramfs shell, emergency mode, timeout, QEMU exit)."""
        deadline = time.monotonic() + timeout
        pats = ["ARMVM-READY", LOGIN_RE, SHELL_RE, SYSTEMD_RE] + [p for p, _ in FAILURES]
        seen, marks, nudges, last_target = [], [], 0, None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                text = "".join(seen)
                if last_target is not None:
                    return self._booted("systemd", text, marks)
                raise ConsoleError(f"the guest showed no login prompt, shell prompt or "
                                   f"systemd target within {timeout:.0f}s"
                                   + _tail(text))
            step = min(left, nudge_after)
            try:
                idx = self.child.expect(pats, timeout=step)
            except pexpect.TIMEOUT:
                seen.append(self.child.before or "")
                self.child.buffer = ""     # keep: already in `seen`
                if last_target is not None and nudges < 3:
                    nudges += 1            # a getty reprints its prompt on Enter
                    self.child.send("\r")
                elif last_target is not None:
                    return self._booted("systemd", "".join(seen), marks)
                continue
            except pexpect.EOF:
                text = "".join(seen) + (self.child.before or "")
                raise ConsoleError("QEMU exited before the guest was up" + _tail(text))
            seen.append((self.child.before or "") + (self.child.after or ""))
            text = "".join(seen)
            if idx == 0:
                marks.append("protocol")
                self.facts = parse_facts(text)
                try:                       # the fixture shell prints its prompt next
                    self.child.expect_exact(PROMPT, timeout=60)
                except pexpect.TIMEOUT:
                    raise ConsoleError("the guest printed ARMVM-READY but no shell prompt "
                                       "followed")
                return self._booted("protocol", text, marks, shell=True)
            if idx == 1:
                b = self._booted("login", text, marks)
                b.hostname = self.child.match.group(1)
                return b
            if idx == 2:
                return self._booted("shell", text, marks, shell=True)
            if idx == 3:
                last_target = time.monotonic()
                if "systemd" not in marks:
                    marks.append("systemd")
                continue
            what = FAILURES[idx - 4][1]
            raise ConsoleError(what + _tail(str(self.child.after)))

    def _booted(self, how: str, text: str, marks: list, shell: bool = False) -> Boot:
        self.ready_at = time.monotonic()
        self.ready_s = self.ready_at - self.started
        self.boot_text = text
        self.shell = False
        b = Boot(how, text, self.ready_s, marks=marks)
        if shell:
            self._setup_shell()
        return b

    def _setup_shell(self) -> None:
        """Our prompt, no echo, kernel messages off this console. The prompt
        is typed split ('armvm''# ') so its echo never matches."""
        self.child.sendline("stty -echo 2>/dev/null; PS1='armvm''# '; export PS1; "
                            "unset PROMPT_COMMAND; dmesg -n 1 2>/dev/null")
        try:
            self.child.expect_exact(PROMPT, timeout=60)
        except pexpect.TIMEOUT:
            raise ConsoleError("the guest's shell did not take the prompt setting "
                               "(no 'armvm# ' prompt after PS1=...)")
        except pexpect.EOF:
            raise ConsoleError("QEMU exited while the shell was being set up")
        self.shell = True

    def login(self, cred: Login, timeout: float = 120) -> str:
        """Log in at the login prompt wait_boot found; returns how
        ('password' or 'no password'). LoginError when a password is asked
        and none was given, or the login is refused."""
        self.child.sendline(cred.user)
        how = "no password"
        idx = self._expect([PASSWORD_RE, SHELL_RE, r"Login incorrect", LOGIN_RE], timeout,
                           "a password prompt or a shell after the user name")
        if idx == 0:
            if cred.password is None:
                raise LoginError(
                    f"the guest asks for {cred.user}'s password and none was given: "
                    f"use --login {cred.user}:PASSWORD (the default expects an empty "
                    "password, as Yocto's empty-root-password image feature gives)")
            self.child.sendline(cred.password)
            how = "password"
            idx = self._expect([SHELL_RE, r"Login incorrect", LOGIN_RE], timeout,
                               "a shell prompt after the password")
            idx = {0: 1, 1: 2, 2: 3}[idx]
        if idx in (2, 3):
            raise LoginError(f"the guest refused the login as {cred.user} "
                             f"({'Login incorrect' if idx == 2 else 'login prompt again'}): "
                             "give the right --login USER:PASSWORD")
        self._setup_shell()
        return how

    def _expect(self, pats, timeout, what) -> int:
        try:
            return self.child.expect(pats, timeout=timeout)
        except pexpect.TIMEOUT:
            raise ConsoleError(f"no {what} within {timeout:.0f}s"
                               + _tail(self.child.before or ""))
        except pexpect.EOF:
            raise ConsoleError(f"QEMU exited while waiting for {what}")

    def quit_qemu(self, qmp_socket: Path | None) -> None:
        """Power off through QEMU's monitor (for a guest without a shell)."""
        if qmp_socket and self.child.isalive():
            from armvm_oe.qemu.qmp import QMP, QMPError
            try:
                with QMP(qmp_socket, timeout=5) as q:
                    q.command("quit")
            except (QMPError, OSError):
                pass

    # -- protocol ---------------------------------------------------------
    def expect_ready(self, timeout: float = 300) -> dict:
        """Wait for ``ARMVM-READY`` and the first prompt; return the facts."""
        idx = self.child.expect(["ARMVM-READY", "ARMVM-ROOT-NOT-FOUND[^\r\n]*",
                                 "ARMVM-ROOT-MOUNT-FAILED[^\r\n]*", "Kernel panic[^\r\n]*",
                                 pexpect.EOF, pexpect.TIMEOUT], timeout=timeout)
        seen = ANSI_RE.sub("", self.child.before or "")
        self.facts = parse_facts(seen)
        if idx == 0:
            self.ready_at = time.monotonic()
            self.ready_s = self.ready_at - self.started
            try:
                self.child.expect_exact(PROMPT, timeout=60)
                # no echo: busybox then reads plain lines (no line editing,
                # no cursor queries), so output is exactly what the command printed
                # and kernel messages off this console (they would interleave with output)
                self.child.sendline("stty -echo; dmesg -n 1")
                self.child.expect_exact(PROMPT, timeout=30)
            except pexpect.TIMEOUT:
                raise ConsoleError("the guest printed ARMVM-READY but no shell prompt followed")
            return self.facts
        what = {1: "the guest initramfs did not find the root partition",
                2: "the guest initramfs could not mount the root partition",
                3: "the guest kernel panicked",
                4: "QEMU exited before the guest was ready",
                5: f"the guest was not ready within {timeout:.0f}s"}[idx]
        tail = _last_line(seen if idx >= 4 else str(self.child.after))
        raise ConsoleError(f"{what}" + (f" (last output: {tail})" if tail else ""))

    def run(self, cmd: str, timeout: float = 60) -> tuple[int, str]:
        """Run ``cmd`` in the guest shell; return (exit status, output)."""
        self._n += 1
        tag = f"ARMVM-END-{self._n}-"
        self.child.sendline(f"{cmd}; echo {tag}$?")
        try:
            self.child.expect(re.escape(tag) + r"(\d+)", timeout=timeout)
        except pexpect.TIMEOUT:
            raise ConsoleError(f"the guest did not finish '{cmd}' within {timeout:.0f}s")
        except pexpect.EOF:
            raise ConsoleError(f"QEMU exited while the guest ran '{cmd}'")
        rc = int(self.child.match.group(1))
        out = ANSI_RE.sub("", self.child.before).replace("\r", "")
        # drop an echoed command line (a guest shell that still echoes)
        first, _, rest = out.partition("\n")
        if tag in first:
            out = rest
        self.child.expect_exact(PROMPT, timeout=10)
        return rc, out.strip()

    def poweroff(self, timeout: float = 60) -> int | None:
        """``poweroff -f`` in the guest's shell and wait for QEMU to exit."""
        if self.child.isalive() and getattr(self, "shell", True):
            try:
                self.child.sendline("sync; poweroff -f")
                self.child.expect(pexpect.EOF, timeout=timeout)
            except (pexpect.TIMEOUT, OSError):
                pass
        return self.close()

    def close(self, force: bool = True) -> int | None:
        with _LIVE_LOCK:
            _LIVE.discard(self)
        try:
            self.child.close(force=force)
        except Exception:       # already gone
            pass
        if self.child.logfile_read:
            try:
                self.child.logfile_read.close()
            except Exception:
                pass
        return self.child.exitstatus

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _tail(text: str) -> str:
    t = _last_line(ANSI_RE.sub("", text or ""))
    return f" (last output: {t})" if t else ""


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").replace("\r", "").splitlines() if ln.strip()]
    return lines[-1][:160] if lines else ""
