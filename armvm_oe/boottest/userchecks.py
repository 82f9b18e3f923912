"""The user's own checks in every cell: ``armvm-oe test --run CMD``
(repeatable) and ``--run-dir DIR`` (the executables in DIR, in name order).

Each check becomes one file in the guest's ``/tmp/armvm-run/`` and is run
there after the login, like tuxrun/LAVA run a test definition: its stdout,
stderr and exit status come back and become one JUnit test case of the
cell (``CellResult.runs``); a non-zero exit fails the cell.

How the files get into the guest: **over the console we are already logged
in on**, as ``printf`` lines of octal escapes. It needs nothing in the
image (no base64, no 9p or vfat driver, no second disk), works the same on
ttyAMA0 and hvc0 and on busybox and coreutils, and keeps the checks out of
the image (the instance overlay is the only thing written). The limits are
bytes: :data:`MAX_FILE` per check, :data:`MAX_TOTAL` for all of them (a
bigger test suite belongs in the image or on a disk of its own).

Pure functions here (collect, encode, parse); matrix.py drives the console.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from armvm_oe.errors import UsageError

GUEST_DIR = "/tmp/armvm-run"
MAX_FILE = 256 << 10          # bytes per check file
MAX_TOTAL = 1 << 20           # bytes for every check of a run
MAX_OUTPUT = 64 << 10         # bytes of stdout (and of stderr) kept per check
LINE_BYTES = 400              # file bytes per printf line (<= 1600 chars, far below the
                              # 4095-byte canonical line of a tty)
# characters that stand for themselves in a printf format inside '...'
_SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ._,:/=+-@#()[]{}*?;&|<>~")


@dataclass(frozen=True)
class UserCheck:
    """One check: ``name`` (the JUnit test case name), ``file`` (its name in
    the guest), ``data`` (the file's bytes), ``run`` (how it is started
    from GUEST_DIR), ``origin`` (the --run command or the --run-dir path)."""

    name: str
    file: str
    data: bytes
    run: str
    origin: str


def collect(commands: list[str] | None, run_dir: Path | None) -> list[UserCheck]:
    """The checks in the order they run: every --run command as given, then
    the executables of --run-dir by name (like run-parts; other files are
    not run). UsageError (exit 2) for an empty/unreadable directory or a
    check over the byte limits."""
    out: list[UserCheck] = []
    for i, cmd in enumerate(commands or [], 1):
        if not cmd.strip():
            raise UsageError("--run was given an empty command", None,
                             "Give the shell command to run in the guest, e.g. --run 'uname -a'")
        data = f"#!/bin/sh\n{cmd}\n".encode()
        out.append(UserCheck(_case_name(cmd), f"{i:02d}-run.sh", data, f"sh ./{i:02d}-run.sh",
                             cmd))
    if run_dir is not None:
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise UsageError(f"--run-dir {run_dir} is not a directory", None,
                             "Give a directory of executable check scripts")
        try:
            names = sorted(p.name for p in run_dir.iterdir())
        except OSError as e:
            raise UsageError(f"--run-dir {run_dir} cannot be read", e.strerror or str(e),
                             "Check its permissions")
        exe = [n for n in names if (run_dir / n).is_file() and os.access(run_dir / n, os.X_OK)]
        if not exe:
            raise UsageError(f"--run-dir {run_dir} holds no executable file",
                             "only executable files are run (like run-parts), in name order",
                             f"chmod +x the checks in {run_dir}, or give --run CMD")
        for j, n in enumerate(exe, len(out) + 1):
            p = run_dir / n
            size = p.stat().st_size
            if size > MAX_FILE:
                raise UsageError(f"the check {p} has {size} bytes",
                                 f"a check is copied over the guest's console; the limit is "
                                 f"{MAX_FILE} bytes per file",
                                 "Put large test suites into the image and --run them")
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", n)[:60]
            out.append(UserCheck(n, f"{j:02d}-{safe}", p.read_bytes(), f"./{j:02d}-{safe}",
                                 str(p)))
    total = sum(len(c.data) for c in out)
    if total > MAX_TOTAL:
        raise UsageError(f"the checks have {total} bytes together",
                         f"they are copied over the guest's console; the limit is {MAX_TOTAL} "
                         "bytes", "Put large test suites into the image and --run them")
    return out


def _case_name(cmd: str) -> str:
    one = " ".join(cmd.split())
    return one if len(one) <= 60 else one[:57] + "..."


def encode(data: bytes) -> str:
    """``data`` as a printf format: safe bytes as they are, others as \\ooo."""
    return "".join(chr(b) if b in _SAFE else f"\\{b:03o}" for b in data)


def upload_commands(check: UserCheck) -> list[str]:
    """Shell command lines that write ``check`` into GUEST_DIR (the first
    one makes the directory and truncates the file)."""
    path = f"{GUEST_DIR}/{check.file}"
    cmds = [f"mkdir -p {GUEST_DIR} && : > {path} && chmod 755 {path}"]
    for i in range(0, len(check.data), LINE_BYTES):
        cmds.append(f"printf '{encode(check.data[i:i + LINE_BYTES])}' >> {path}")
    return cmds


def verify_command(check: UserCheck) -> str:
    return f"wc -c < {GUEST_DIR}/{check.file}"


# the output markers are typed split so an echoing console never shows them whole
_M = "ARMVM-RUN" "-"


def run_command(check: UserCheck) -> str:
    """Run the check with stdin from /dev/null, stdout and stderr to files,
    then print both (bounded) between markers and the exit status."""
    d = GUEST_DIR
    return (f"cd {d} && ( {check.run} ) >{d}/.out 2>{d}/.err </dev/null; "
            f"rc=$?; cd /; M='{_M[:-1]}''-'; echo \"${{M}}OUT\"; head -c {MAX_OUTPUT} {d}/.out; "
            f"echo; echo \"${{M}}ERR\"; head -c {MAX_OUTPUT} {d}/.err; echo; "
            f"echo \"${{M}}RC=$rc\"")


_PARSE_RE = re.compile(re.escape(_M) + r"OUT\n(.*?)\n?" + re.escape(_M) + r"ERR\n(.*?)\n?"
                       + re.escape(_M) + r"RC=(\d+)", re.S)


def parse_output(text: str) -> tuple[int, str, str] | None:
    """(exit status, stdout, stderr) from :func:`run_command`'s output, or None."""
    m = _PARSE_RE.search(text.replace("\r", ""))
    if not m:
        return None
    return int(m.group(3)), m.group(1).rstrip("\n"), m.group(2).rstrip("\n")


def result(check: UserCheck, rc: int | None, stdout: str, stderr: str, seconds: float,
           error: str = "") -> dict:
    """The ``runs`` entry of a cell (JSON and JUnit)."""
    return {"name": check.name, "origin": check.origin, "exit_code": rc,
            "ok": rc == 0 and not error, "stdout": stdout, "stderr": stderr,
            "duration_s": round(seconds, 2), "error": error}
