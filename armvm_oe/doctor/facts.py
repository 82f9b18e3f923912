"""Facts the checks share: per-release minimums, HOSTTOOLS, bitbake ``.conf``
variables, tool versions, mounts, the distro. Stdlib only.

Release figures are from the Yocto reference manual's system requirements and
oe-core's sanity checks (see shared/reference/doctor-catalogue.md)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from armvm_oe.doctor.model import Context
from armvm_oe.ui import human_size

# --------------------------------------------------------------------------
# releases

# HOSTTOOLS of oe-core master/wrynose (meta/conf/bitbake.conf), as a fallback
# when no oe-core checkout is present. Tool names only.
_HOSTTOOLS_WRYNOSE = """
[ ar as awk basename bash bunzip2 bzip2 cat chgrp chmod chown chrpath cmp comm cp cpio
cpp cut date dd diff diffstat dirname du echo egrep env expand expr false fgrep file
find flock g++ gawk gcc getconf getopt git grep gunzip gzip head hostname iconv id
install ld ldd ln ls make md5sum mkdir mkfifo mknod mktemp mv nm objcopy objdump od
patch perl pr printf pwd python3 pzstd ranlib readelf readlink realpath rm rmdir rpcgen
sed seq sh sha1sum sha224sum sha256sum sha384sum sha512sum sleep sort split stat
strings strip tail tar tee test timeout touch tr true truncate uname uniq unzstd wc
wget which xargs zstd xz
""".split()
# scarthgap still needs lz4c and has neither timeout nor xz in the fatal list
_HOSTTOOLS_SCARTHGAP = sorted((set(_HOSTTOOLS_WRYNOSE) - {"timeout", "xz"}) | {"lz4c"})


@dataclass(frozen=True)
class Release:
    name: str
    version: str
    python: tuple
    gcc: tuple
    git: tuple
    tar: tuple
    make: tuple
    min_disk_gb: int
    rm_work_disk_gb: int
    min_ram_gb: int
    bb_min: str
    layer_conf_version: int
    local_conf_version: int
    hosttools: tuple
    tested_distros: tuple


RELEASES = {
    "scarthgap": Release("scarthgap", "5.0", (3, 8), (8, 0), (1, 8, 3, 1), (1, 28), (4, 0),
                         90, 40, 8, "2.8.1", 7, 2, tuple(sorted(_HOSTTOOLS_SCARTHGAP)),
                         ("poky-4.3", "poky-5.0", "ubuntu-20.04", "ubuntu-22.04",
                          "ubuntu-23.04", "ubuntu-24.04", "fedora-38", "fedora-39",
                          "fedora-40", "centosstream-8", "debian-11", "debian-12",
                          "opensuseleap-15.4", "opensuseleap-15.5", "almalinux-8*",
                          "almalinux-9*")),
    "wrynose": Release("wrynose", "6.0", (3, 9), (10, 1), (2, 22, 0), (1, 28), (4, 0),
                       140, 40, 32, "2.18.0", 7, 2, tuple(sorted(_HOSTTOOLS_WRYNOSE)),
                       ("ubuntu-22.04", "ubuntu-24.04", "fedora-41", "fedora-42",
                        "debian-12", "debian-13", "opensuseleap-15.6", "almalinux-9*",
                        "rocky-9*")),
}
DEFAULT_RELEASE = "scarthgap"   # what kas/armvm-*.yml pins

# Debian/Ubuntu package that provides a HOSTTOOLS command (for the fix).
DEB_PACKAGE = {
    "chrpath": "chrpath", "diffstat": "diffstat", "lz4c": "lz4", "pzstd": "zstd",
    "zstd": "zstd", "unzstd": "zstd", "rpcgen": "rpcsvc-proto", "file": "file",
    "gawk": "gawk", "cpio": "cpio", "wget": "wget", "g++": "g++", "gcc": "gcc", "cpp": "cpp",
    "make": "make", "git": "git", "python3": "python3", "patch": "patch", "perl": "perl",
    "xz": "xz-utils", "bzip2": "bzip2", "bunzip2": "bzip2", "gzip": "gzip", "gunzip": "gzip",
    "ar": "binutils", "as": "binutils", "ld": "binutils", "nm": "binutils",
    "objcopy": "binutils", "objdump": "binutils", "ranlib": "binutils",
    "readelf": "binutils", "strings": "binutils", "strip": "binutils", "diff": "diffutils",
    "cmp": "diffutils", "flock": "util-linux", "getopt": "util-linux", "hostname": "hostname",
    "iconv": "libc-bin", "ldd": "libc-bin", "getconf": "libc-bin", "which": "debianutils",
    "tar": "tar", "sed": "sed", "grep": "grep", "find": "findutils", "xargs": "findutils",
    "bash": "bash", "awk": "gawk",
}


# --------------------------------------------------------------------------
# bitbake .conf files (just enough: assignments of literal strings)

_ASSIGN = re.compile(r'^\s*(?:export\s+)?([A-Za-z0-9_\-.:${}/]+)\s*'
                     r'(\?\?=|\?=|:=|\+=|=\+|\.=|=\.|=)\s*"(.*)"\s*$')


def conf_assignments(text: str) -> list[tuple[str, str, str]]:
    """(name, operator, value) for each literal assignment, continuation lines joined."""
    out = []
    joined = re.sub(r"\\\n", " ", text)
    for line in joined.splitlines():
        if line.lstrip().startswith("#"):
            continue
        m = _ASSIGN.match(line)
        if m:
            out.append((m.group(1), m.group(2), m.group(3)))
    return out


def conf_vars(path: Path, expand: Optional[dict] = None) -> dict[str, str]:
    """Variables of one .conf file with ``=``/``?=``/``+=`` applied in order and
    ``${VAR}`` expanded from ``expand`` and earlier assignments."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return {}
    vals: dict[str, str] = {}
    env = dict(expand or {})

    def _x(s: str) -> str:
        return re.sub(r"\$\{([A-Za-z0-9_]+)\}",
                      lambda m: vals.get(m.group(1), env.get(m.group(1), m.group(0))), s)

    for name, op, value in conf_assignments(text):
        value = _x(value)
        if op in ("=", ":="):
            vals[name] = value
        elif op in ("?=", "??="):
            vals.setdefault(name, value)
        elif op == "+=":
            vals[name] = (vals.get(name, "") + " " + value).strip()
        elif op == "=+":
            vals[name] = (value + " " + vals.get(name, "")).strip()
        elif op == ".=":
            vals[name] = vals.get(name, "") + value
        elif op == "=.":
            vals[name] = value + vals.get(name, "")
    return vals


def hosttools_from_bitbake_conf(path: Path) -> Optional[list[str]]:
    """The unconditional HOSTTOOLS of an oe-core ``meta/conf/bitbake.conf``
    (inline-python additions such as testimage's are conditional and skipped)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return None
    tools: list[str] = []
    for name, _op, value in conf_assignments(text):
        if name == "HOSTTOOLS" and "${@" not in value:
            tools.extend(value.split())
    return sorted(set(tools)) or None


# --------------------------------------------------------------------------
# the core layer and the release

def core_layer_series(core_dir: Path) -> Optional[str]:
    v = conf_vars(Path(core_dir) / "meta" / "conf" / "layer.conf")
    names = v.get("LAYERSERIES_CORENAMES", "").split()
    return names[0] if names else None


def release_of(ctx: Context) -> Release:
    def _find():
        core = core_dir(ctx)
        series = core_layer_series(core) if core else None
        for name in (series, ctx.release):
            if name in RELEASES:
                return RELEASES[name]
        if series:  # an unknown (newer/older) series: closest we know
            return RELEASES["wrynose"]
        return RELEASES[ctx.release if ctx.release in RELEASES else DEFAULT_RELEASE]
    return ctx.memo("release", _find)


def core_dir(ctx: Context) -> Optional[Path]:
    """The oe-core (or poky) checkout: explicit, else the kas repo holding ``meta/``."""
    def _find():
        if ctx.core_dir:
            return Path(ctx.core_dir)
        proj = project(ctx)
        if proj is None:
            return None
        for repo in proj.repos:
            if "meta" in repo.layers or repo.id in ("poky", "openembedded-core", "oe-core"):
                return Path(repo.path)
        return None
    return ctx.memo("core_dir", _find)


def project(ctx: Context):
    """The loaded kas project, or None (no config, or it does not load:
    the kas group reports why)."""
    def _load():
        if not ctx.kas_config:
            return None
        try:
            from armvm_oe.kasconfig import load_config
        except ImportError:
            return None
        try:
            return load_config(ctx.kas_config, work_dir=ctx.work_dir)
        except Exception as exc:  # InputError: reported by kas.schema
            ctx.cache["project_error"] = exc
            return None
    return ctx.memo("project", _load)


def build_dir(ctx: Context) -> Optional[Path]:
    if ctx.build_dir:
        return Path(ctx.build_dir)
    proj = project(ctx)
    if proj is not None:
        return Path(proj.build_dir)
    if ctx.work_dir:
        return Path(ctx.work_dir) / "build"
    return None


def hosttools(ctx: Context) -> tuple[list[str], str]:
    """(tools, where the list came from)."""
    core = core_dir(ctx)
    if core:
        conf = core / "meta" / "conf" / "bitbake.conf"
        tools = hosttools_from_bitbake_conf(conf)
        if tools:
            return tools, str(conf)
    rel = release_of(ctx)
    return list(rel.hosttools), f"armvm-oe's built-in copy for {rel.name}"


# --------------------------------------------------------------------------
# host programs

def which(ctx: Context, tool: str) -> Optional[str]:
    return shutil.which(tool, path=ctx.env.get("PATH", ""))


def tool_output(ctx: Context, argv: list[str], timeout: float = 10) -> Optional[str]:
    exe = which(ctx, argv[0])
    if not exe:
        return None
    return ctx.memo("out:" + " ".join(argv), tool_runner(ctx, exe, argv, timeout))


def tool_runner(ctx: Context, exe: str, argv: list[str], timeout: float = 10):
    def _run():
        try:
            p = subprocess.run([exe, *argv[1:]], capture_output=True, text=True,
                               env=ctx.env, timeout=timeout, errors="replace")
        except (OSError, subprocess.TimeoutExpired):
            return None
        return (p.stdout or "") + (p.stderr or "")
    return _run


def parse_version(text: Optional[str]) -> Optional[tuple]:
    if not text:
        return None
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    if not m:
        return None
    return tuple(int(g) for g in m.groups() if g is not None)


def vstr(v: tuple) -> str:
    return ".".join(str(x) for x in v)


# --------------------------------------------------------------------------
# host facts through the injectable root

def read_root(ctx: Context, rel: str) -> Optional[str]:
    try:
        return ctx.root(rel).read_text(errors="replace")
    except OSError:
        return None


def os_release(ctx: Context) -> dict[str, str]:
    text = read_root(ctx, "etc/os-release") or read_root(ctx, "usr/lib/os-release") or ""
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip().strip('"').strip("'")
    return out


def distro_identifier(ctx: Context) -> Optional[str]:
    """oe.lsb's form: ``<id>-<version_id>`` lowercased, e.g. ``debian-12``."""
    osr = os_release(ctx)
    if not osr.get("ID"):
        return None
    ident = osr["ID"].lower().replace(" ", "")
    if osr.get("VERSION_ID"):
        ident += "-" + osr["VERSION_ID"].lower()
    return ident


def is_debian_like(ctx: Context) -> bool:
    osr = os_release(ctx)
    ids = (osr.get("ID", "") + " " + osr.get("ID_LIKE", "")).lower()
    return "debian" in ids or "ubuntu" in ids


def meminfo(ctx: Context) -> dict[str, int]:
    out = {}
    for line in (read_root(ctx, "proc/meminfo") or "").splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1]) * 1024
    return out


def mount_of(ctx: Context, path: Path) -> Optional[tuple[str, str, str]]:
    """(mount point, fs type, options) of the mount holding ``path``, from
    ``<root>/proc/self/mountinfo``."""
    text = read_root(ctx, "proc/self/mountinfo")
    if not text:
        return None
    real = os.path.realpath(existing_ancestor(path))
    best = None
    for line in text.splitlines():
        pre, _, post = line.partition(" - ")
        f = pre.split()
        g = post.split()
        if len(f) < 6 or not g:
            continue
        mnt = f[4].replace("\\040", " ")
        if real == mnt or real.startswith(mnt.rstrip("/") + "/") or mnt == "/":
            if best is None or len(mnt) >= len(best[0]):
                best = (mnt, g[0], f[5] + ("," + g[2] if len(g) > 2 else ""))
    return best


def existing_ancestor(path) -> Path:
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def jobs(ctx: Context) -> int:
    if ctx.jobs:
        return int(ctx.jobs)
    try:
        return int(ctx.env.get("BB_NUMBER_THREADS", ""))
    except ValueError:
        return os.cpu_count() or 1


human = human_size
