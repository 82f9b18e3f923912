"""Run a command on a real pseudo-terminal (or on pipes) to test what the
CLI prints for a person and for a machine: colour only on a TTY and never
with NO_COLOR, progress bars only on a TTY."""

from __future__ import annotations

import os
import subprocess

ANSI = "\x1b["


def clean_env(no_color: bool, **extra: str) -> dict:
    """os.environ without NO_COLOR (unless asked for) and with a colour-capable TERM."""
    e = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    e["TERM"] = "xterm-256color"
    if no_color:
        e["NO_COLOR"] = "1"
    e.update(extra)
    return e


def on_tty(argv: list[str], env: dict, cwd, timeout: int = 120) -> tuple[int, str]:
    """Run ``argv`` with stdin, stdout and stderr on one pty; (exit code, output)."""
    import pexpect

    out, rc = pexpect.run(argv[0], args=list(argv[1:]), env=env, cwd=str(cwd),
                          timeout=timeout, withexitstatus=True, encoding="utf-8",
                          codec_errors="replace", dimensions=(50, 200))
    return rc, out


def on_pipes(argv: list[str], env: dict, cwd, timeout: int = 120) -> tuple[int, str, str]:
    """Run ``argv`` with stdout and stderr on pipes; (exit code, stdout, stderr)."""
    p = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr
