"""Step 3 on the host (``--host``): run ``kas build`` as a child process group,
feed every output line to the :class:`LineSink` (log file, progress parser,
bar), and stop the whole group cleanly on Ctrl-C."""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional

from armvm_oe import ui
from armvm_oe.imagebuild.progress import BuildProgress, short_task


def host_kas_version() -> Optional[str]:
    exe = shutil.which("kas")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"kas (\S+)", out.stdout + out.stderr)
    return m.group(1) if m else None



class LineSink:
    """Every output line goes to the log file, the progress parser, the bar
    (TTY) or a plain progress line per 10 % (non-TTY), and, with -v, stderr."""

    def __init__(self, log_path: Path, verbose: int, tail: int, say):
        self.log = open(log_path, "w", encoding="utf-8", errors="replace",
                        buffering=1)    # line-buffered: 'tail -f' and Ctrl-C see every line
        self.progress = BuildProgress()
        self.tail = collections.deque(maxlen=max(tail, 1))
        self.verbose = verbose
        self.say = say
        self.bar = ui.progress(total=0, unit="task", desc="bitbake")
        self.tty = not self.bar.disable
        self._label = None
        self._last_refresh = 0.0
        self._last_pct = -1

    def __call__(self, line: str) -> None:
        self.log.write(line + "\n")
        self.tail.append(line)
        ev = self.progress.feed(line)
        if self.verbose:
            (self.bar.write if self.tty else self.say)(ui.term_safe(line))
        if ev is None:
            return
        label, n, total = self.progress.bar_position()
        if self.tty:
            if label != self._label:
                self.bar.reset(total=total or None)
                self.bar.set_description(ui.term_safe(label))
                self._label = label
            if total:
                self.bar.total = total
            self.bar.n = n
            now = time.monotonic()
            if now - self._last_refresh > 0.2 or ev.kind == "summary":
                self.bar.set_postfix_str(ui.term_safe(short_task(self.progress.last_task)),
                                         refresh=False)
                self.bar.refresh()
                self._last_refresh = now
        elif total and not self.verbose:
            pct = 100 * n // total
            if label != self._label or pct // 10 > self._last_pct // 10:
                self.say(f"build: {self.progress.describe()} {short_task(self.progress.last_task)}")
                self._label, self._last_pct = label, pct
        if ev.kind in ("error", "task-failed") and not self.verbose:
            msg = "ERROR: " + ev.text if ev.kind == "error" else ev.text
            (self.bar.write if self.tty else self.say)(ui.term_safe(msg))

    def close(self) -> None:
        self.bar.close()
        self.log.close()


def run_host(argv: list[str], env: dict, cwd: Path, sink: LineSink, grace: float) -> int:
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            sink(raw.decode("utf-8", "replace").rstrip("\n").rstrip("\r"))
        return proc.wait()
    except KeyboardInterrupt:
        _stop_group(proc, grace)
        raise
    finally:
        if proc.poll() is None:
            _stop_group(proc, 0)


def _stop_group(proc: subprocess.Popen, grace: float) -> None:
    """SIGINT to kas and bitbake (a clean bitbake shutdown), SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # the group may outlive kas (bitbake server): make sure nothing is left
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass

