"""Drive a VM's console with pexpect, using the fixture guest protocol:
``ARMVM-FACT key=value`` lines, ``ARMVM-READY``, then a root shell with the
prompt ``armvm# `` on every console.

    from armvm_oe.qemu import Console, build_argv
    with Console.spawn(build_argv(cfg), log_path=Path("serial.log")) as con:
        facts = con.expect_ready(timeout=300)     # {'gic': '3', 'virtio': [...], ...}
        rc, out = con.run("ls /sys/block")
        con.poweroff()
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pexpect

FACT_RE = re.compile(r"ARMVM-FACT (\w+)=([^\r\n]*)")
ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
PROMPT = "armvm# "
MULTI = ("virtio",)           # facts that appear once per device


class ConsoleError(RuntimeError):
    """The guest did not answer as the protocol says (message says what)."""


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
        return con

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
        """``poweroff -f`` in the guest and wait for QEMU to exit."""
        if self.child.isalive():
            try:
                self.child.sendline("poweroff -f")
                self.child.expect(pexpect.EOF, timeout=timeout)
            except (pexpect.TIMEOUT, OSError):
                pass
        return self.close()

    def close(self, force: bool = True) -> int | None:
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


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").replace("\r", "").splitlines() if ln.strip()]
    return lines[-1][:160] if lines else ""
