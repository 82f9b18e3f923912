"""Run this checkout's CLI as another user (uid 65534, 1234, 'builder').

The test's own interpreter may live where that user cannot read it (pyenv
under /root, a venv in a home directory): ``import pexpect`` then fails, or
the exec does. So a test that switches users asks :class:`OtherUser` for a
command line: it uses the test's interpreter when that user can really run
it with every dependency of pyproject.toml installed, and otherwise a venv
made from the system python3 with those dependencies, cached in a root-owned,
world-readable directory (``/var/cache/armvm-oe/other-user-python/<key>``,
key = the system python's version + the dependency list). The package itself
is a world-readable copy of armvm_oe/ made once per session and put on
PYTHONPATH, so the other user runs exactly this checkout's code.

Registered as the session fixture ``other_user`` in tests/conftest.py."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Exit 0 when every distribution named in argv is installed for this
# interpreter (by metadata name: no import-name table to keep in sync).
PROBE = """\
import sys
from importlib import metadata
missing = []
for dist in sys.argv[1:]:
    try:
        metadata.version(dist)
    except Exception:
        missing.append(dist)
print(" ".join(missing))
sys.exit(1 if missing else 0)
"""


def requirements() -> list[str]:
    """``[project].dependencies`` of pyproject.toml, as written there."""
    text = (ROOT / "pyproject.toml").read_text()
    try:
        import tomllib
        return list(tomllib.loads(text)["project"]["dependencies"])
    except ImportError:                   # Python < 3.11: the list is plain strings
        block = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.S | re.M).group(1)
        return re.findall(r'"([^"]+)"', block)


def dist_names(reqs: list[str]) -> list[str]:
    return [re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", r).group(0) for r in reqs]


def setpriv(cmd: list[str], uid: int, gid: int, groups=()) -> list[str]:
    g = ["--groups=" + ",".join(map(str, groups))] if groups else ["--clear-groups"]
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", *g, "--", *map(str, cmd)]


def shared_dir() -> Path:
    """A directory only root writes and everyone reads (not ARMVM_CACHE_DIR:
    that is under root's home, which the other user cannot enter)."""
    d = Path(os.environ.get("ARMVM_SHARED_CACHE_DIR", "/var/cache/armvm-oe"))
    d.mkdir(parents=True, exist_ok=True)
    st = d.stat()
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise RuntimeError(f"{d} must be owned by uid {os.geteuid()} and not group/world "
                           "writable: another user could change the interpreter it holds")
    d.chmod(0o755)
    return d


class OtherUser:
    """Command lines that run ``python -m armvm_oe ...`` as another uid."""

    def __init__(self, scratch: Path):
        self._scratch = scratch
        self._pkg: Path | None = None
        self._python: dict[tuple[int, int], str] = {}

    # -- the package -----------------------------------------------------
    @property
    def pythonpath(self) -> str:
        """A world-readable copy of this checkout's armvm_oe package."""
        if self._pkg is None:
            d = Path(tempfile.mkdtemp(prefix="armvm-oe-pkg-", dir=self._scratch))
            shutil.copytree(ROOT / "armvm_oe", d / "armvm_oe",
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            for p in [d, *d.rglob("*")]:
                p.chmod(0o755 if p.is_dir() else 0o644)
            self._pkg = d
        return str(self._pkg)

    # -- the interpreter -------------------------------------------------
    def _runs_for(self, python: str, uid: int, gid: int) -> bool:
        cmd = setpriv(["env", "-i", f"PATH={SAFE_PATH}", "PYTHONNOUSERSITE=1",
                       python, "-c", PROBE, *dist_names(requirements())], uid, gid)
        p = subprocess.run(cmd, capture_output=True, text=True, cwd="/", timeout=120)
        return p.returncode == 0

    def python(self, uid: int, gid: int) -> str:
        """An interpreter ``uid`` can run with every dependency importable."""
        if (uid, gid) not in self._python:
            if self._runs_for(sys.executable, uid, gid):
                self._python[uid, gid] = sys.executable
            else:
                py = str(self._venv() / "bin" / "python3")
                if not self._runs_for(py, uid, gid):
                    raise RuntimeError(f"uid {uid} cannot run {py} with the dependencies")
                self._python[uid, gid] = py
        return self._python[uid, gid]

    def _venv(self) -> Path:
        system = next((p for p in SYSTEM_PYTHONS if os.access(p, os.X_OK)), None)
        if system is None:
            raise RuntimeError("no system python3 (/usr/bin/python3) to make a venv from")
        version = subprocess.run([system, "-c", "import sys; print(sys.version)"],
                                 capture_output=True, text=True, check=True).stdout
        reqs = sorted(requirements())
        key = hashlib.sha256("\n".join([system, version, *reqs]).encode()).hexdigest()[:16]
        base = shared_dir() / "other-user-python"
        base.mkdir(exist_ok=True)
        base.chmod(0o755)
        venv = base / key
        done = venv / ".complete"
        with open(base / ".lock", "w") as lock:       # another pytest session may build it too
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.exists():
                shutil.rmtree(venv, ignore_errors=True)
                old = os.umask(0o022)
                try:
                    subprocess.run([system, "-m", "venv", str(venv)], check=True,
                                   capture_output=True, text=True)
                    p = subprocess.run([str(venv / "bin" / "python3"), "-m", "pip", "install",
                                        "-q", "--disable-pip-version-check", *reqs],
                                       capture_output=True, text=True, timeout=900)
                    if p.returncode != 0:
                        raise RuntimeError(f"pip install into {venv} failed:\n{p.stderr[-3000:]}")
                finally:
                    os.umask(old)
                subprocess.run(["chmod", "-R", "a+rX,go-w", str(venv)], check=True)
                done.write_text(f"{system}\n{version}" + "\n".join(reqs) + "\n")
        return venv

    # -- the command line --------------------------------------------------
    def cmd(self, args, uid: int, gid: int, groups=()) -> list[str]:
        """``setpriv ... PYTHON -m armvm_oe ARGS`` (use with :meth:`env`)."""
        return setpriv([self.python(uid, gid), "-m", "armvm_oe", *map(str, args)],
                       uid, gid, groups)

    def env(self, base: dict | None = None, **extra: str) -> dict:
        """``base`` (default: os.environ) with PYTHONPATH = the package copy."""
        e = dict(os.environ if base is None else base)
        e.update(extra)
        e["PYTHONPATH"] = self.pythonpath
        e["PYTHONNOUSERSITE"] = "1"
        return e
