"""Shared helpers: directories, host tools, subprocesses."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from armvm_oe.errors import ToolMissing

APP = "armvm-oe"


def cache_dir() -> Path:
    """Downloads and built fixtures, keyed by their inputs (safe to delete)."""
    base = os.environ.get("ARMVM_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    path = Path(base) / (APP if not os.environ.get("ARMVM_CACHE_DIR") else "") if base \
        else Path.home() / ".cache" / APP
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Per-user state that must survive (VM instances and their UEFI variable
    stores): never deleted by armvm-oe."""
    from armvm_oe.errors import UsageError

    base = os.environ.get("ARMVM_DATA_DIR")
    if base:
        path, what = Path(base), "ARMVM_DATA_DIR"
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        path = (Path(xdg) if xdg else Path.home() / ".local" / "share") / APP
        what = "the data directory"
    if "," in str(path):
        # QEMU's -drive file=... splits options at commas: the variable store
        # and overlay paths would be cut in two
        raise UsageError(f"{what} {path} contains a comma",
                         "QEMU's -drive option uses commas as separators, so the VM's disk "
                         "and variable store paths would break",
                         "Set ARMVM_DATA_DIR to a path without commas")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"{what} {path} is a file, not a directory", None,
                         "Point ARMVM_DATA_DIR at a directory (or unset it)") from None
    except OSError as err:
        raise UsageError(f"{what} {path} cannot be created", err.strerror or str(err),
                         "Point ARMVM_DATA_DIR at a writable directory") from None
    if not path.is_dir():
        raise UsageError(f"{what} {path} is not a directory", None,
                         "Point ARMVM_DATA_DIR at a directory (or unset it)")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path} is not readable and writable by you", None,
                         "Fix its permissions or point ARMVM_DATA_DIR elsewhere")
    return path


def require_tool(tool: str, package: str, purpose: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise ToolMissing(tool, package, purpose)
    return found


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run with text output captured and check=True by default."""
    kwargs.setdefault("check", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("capture_output", True)
    return subprocess.run([str(c) for c in cmd], **kwargs)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: str | os.PathLike, data: bytes | str, *, force: bool = True,
                 mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` through a unique temp file in the same
    directory (fsync'ed, then renamed), so a reader never sees half a file
    and a crash leaves the old file intact. ``force=False``: never replace a
    file that exists (or appeared meanwhile), see :func:`place`. ``mode``:
    the new file's permissions (default 0o666 minus the umask, like open())."""
    path = Path(path)
    with atomic_output(path, force=force, mode=mode) as tmp:
        with open(tmp, "w" if isinstance(data, str) else "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return path


class atomic_output:
    """``with atomic_output(out, force) as tmp:`` write ``tmp`` (a new empty
    file next to ``out``); on success it becomes ``out`` (:func:`place`), on
    an exception it is removed and ``out`` is untouched. The one temp+rename
    used by every writer (lib.atomic_write, avh pack, export, the JUnit
    report, build reports, lock files)."""

    def __init__(self, out: str | os.PathLike, force: bool = True, mode: int | None = None):
        self.out, self.force, self.mode = Path(out), force, mode
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        import tempfile
        fd, name = tempfile.mkstemp(prefix=f".{self.out.name}.", suffix=".tmp",
                                    dir=self.out.parent)
        os.close(fd)
        self.tmp = Path(name)
        if self.mode is not None:
            os.chmod(self.tmp, self.mode)
        else:                              # mkstemp makes 0600; a report is 0666 - umask
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.tmp, 0o666 & ~umask)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                place(self.tmp, self.out, self.force)
        finally:
            if self.tmp is not None and (self.tmp.exists() or self.tmp.is_symlink()):
                try:
                    self.tmp.unlink()
                except OSError:
                    pass


def place(tmp: Path, out: Path, force: bool) -> None:
    """Move the finished ``tmp`` to ``out`` atomically (same directory). With
    ``force`` an existing ``out`` is replaced (rename(2)); without, a file at
    ``out`` is never replaced, even one that appeared after the checks
    (link(2) fails on an existing name): UsageError (exit 2)."""
    from armvm_oe.errors import UsageError

    if force:
        os.replace(tmp, out)
        return
    try:
        os.link(tmp, out)
    except FileExistsError:
        raise UsageError(f"{out} already exists", "it is never replaced unless asked",
                         "Pass --force to replace it, or choose another path") from None
    except OSError:                     # a file system without hard links
        if out.exists() or out.is_symlink():
            raise UsageError(f"{out} already exists", "it is never replaced unless asked",
                             "Pass --force to replace it, or choose another path") from None
        os.replace(tmp, out)
        return
    tmp.unlink()


def regular_file(path: str | os.PathLike, what: str, fix: str = "Check the path",
                 allow_empty: bool = True) -> Path:
    """``path`` if it is a readable regular file, else InputError (exit 2).

    Checked with stat before anything opens it: a FIFO would block the open
    forever and /dev/zero would be read forever; a directory or a missing
    file gets a clear message instead of a traceback."""
    import stat as _stat

    from armvm_oe.errors import InputError

    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(f"{what} {p} does not exist", None, fix) from None
    except OSError as err:
        raise InputError(f"{what} {p} cannot be read", err.strerror or str(err), fix) from None
    if _stat.S_ISDIR(st.st_mode):
        raise InputError(f"{what} {p} is a directory", "a file is needed", fix)
    if not _stat.S_ISREG(st.st_mode):
        kind = ("a FIFO (named pipe)" if _stat.S_ISFIFO(st.st_mode) else
                "a device" if _stat.S_ISCHR(st.st_mode) or _stat.S_ISBLK(st.st_mode) else
                "a socket" if _stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise InputError(f"{what} {p} is {kind}",
                         "only regular files are read (a pipe or device could block or never "
                         "end)", fix)
    if not os.access(p, os.R_OK):
        raise InputError(f"{what} {p} cannot be read", "permission denied",
                         "Check its permissions")
    if not allow_empty and st.st_size == 0:
        raise InputError(f"{what} {p} is empty (0 bytes)", None, fix)
    return p


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(out: str | os.PathLike, inputs: list, force: bool = False,
                 what: str = "output") -> Path:
    """Validate where a command will write: never one of its ``inputs`` (not
    even with --force), never an existing file without --force, never a
    directory, and a parent that is (or can be made) a writable directory.
    Raises UsageError (exit 2); returns the path."""
    from armvm_oe.errors import UsageError

    out = Path(out)
    for src in inputs:
        if src is not None and _same_file(out, Path(src)):
            raise UsageError(f"The {what} {out} is also an input ({src})",
                             "writing it would destroy the input before it is read",
                             "Choose another output path")
    if out.is_dir():
        raise UsageError(f"The {what} {out} is a directory", None,
                         "Give the path of a file (it may be inside that directory)")
    if (out.exists() or out.is_symlink()) and not force:
        raise UsageError(f"The {what} {out} already exists", None,
                         "Pass --force to replace it, or choose another path")
    make_dir(out.parent, f"The {what} {out} cannot be created", "Choose another path")
    return out


def make_dir(path: str | os.PathLike, subject: str, fix: str) -> Path:
    """``path`` as a writable directory, made if missing: the first existing
    ancestor must be a directory you can write. Else UsageError (exit 2):
    ``subject`` (e.g. "The log directory X cannot be used"), why, ``fix``.
    The output directory of :func:`check_output` and ``test --log-dir``."""
    from armvm_oe.errors import UsageError

    path = Path(path)
    for anc in [path, *path.parents]:
        if anc.exists() or anc.is_symlink():
            if not anc.is_dir():
                raise UsageError(subject, f"{anc} is a file, not a directory", fix)
            if not os.access(anc, os.W_OK | os.X_OK):
                raise UsageError(subject, f"the directory {anc} is not writable", fix)
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(subject, f"{path} cannot be made: {err.strerror or err}", fix) from None
    return path


YAML_MAX_BYTES = 4 << 20
YAML_MAX_NODES = 200_000


def yaml_expanded_nodes(node, limit: int = YAML_MAX_NODES) -> int:
    """How many nodes a composed YAML tree has once aliases are expanded
    (what every later walk of the loaded data pays), counted with a memo per
    node so a 300-byte "billion laughs" costs microseconds. Stops counting
    just past ``limit``."""
    import yaml

    memo: dict[int, int] = {}
    on_path: set[int] = set()

    def size(n) -> int:
        key = id(n)
        if key in memo:
            return memo[key]
        if key in on_path:                 # a recursive alias: infinite when expanded
            return limit + 1
        on_path.add(key)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            kids = n.value
        elif isinstance(n, yaml.MappingNode):
            kids = [x for kv in n.value for x in kv]
        else:
            kids = []
        for k in kids:
            total += size(k)
            if total > limit:
                break
        on_path.discard(key)
        memo[key] = min(total, limit + 1)
        return memo[key]

    return size(node) if node is not None else 0


def yaml_compose_bounded(text: str, where: str):
    """``yaml.compose`` (SafeLoader) with limits: InputError when the text is
    over YAML_MAX_BYTES or expands through anchors and aliases beyond
    YAML_MAX_NODES nodes (a 300-byte alias bomb). Returns the node tree;
    yaml.YAMLError passes through for the caller's message."""
    import yaml

    from armvm_oe.errors import InputError

    if len(text) > YAML_MAX_BYTES:
        raise InputError(f"{where} is {len(text)} bytes, more than the {YAML_MAX_BYTES} byte "
                         "limit for a YAML configuration", None, "Check that it is a config file")
    tree = yaml.compose(text, Loader=yaml.SafeLoader)
    n = yaml_expanded_nodes(tree)
    if n > YAML_MAX_NODES:
        raise InputError(f"{where} expands to more than {YAML_MAX_NODES} YAML nodes through "
                         "anchors and aliases", "that is an alias bomb, not a configuration",
                         "Write the configuration out without nested aliases")
    return tree
