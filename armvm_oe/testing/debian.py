"""Download and unpack Debian packages (any architecture) into the cache.

``apt-get download`` needs no root and installs nothing; each package is
unpacked once with ``dpkg-deb -x`` into a directory keyed by its exact
version, so a Debian point release (new kernel ABI) gives a new key."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from armvm_oe.errors import ArmvmError
from armvm_oe.lib import cache_dir, require_tool, run

KERNEL_META = {"aarch64": "linux-image-arm64:arm64", "arm": "linux-image-armmp-lpae:armhf"}
DEB_ARCH = {"aarch64": "arm64", "arm": "armhf"}


class DebianUnavailable(ArmvmError):
    pass


@contextlib.contextmanager
def _locked(name: str):
    lockdir = cache_dir() / "locks"
    lockdir.mkdir(exist_ok=True)
    with open(lockdir / f"{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _lists_fingerprint() -> str:
    """Changes whenever 'apt-get update' brings new package lists."""
    h = []
    for p in sorted(Path("/var/lib/apt/lists").glob("*_Packages*")):
        st = p.stat()
        h.append(f"{p.name}:{st.st_size}:{int(st.st_mtime)}")
    return hashlib.sha256("\n".join(h).encode()).hexdigest()[:16]


def _memo(kind: str, arg: str, compute) -> str:
    """apt-cache takes seconds per call with three architectures' lists, so
    answers are kept on disk until the lists change."""
    path = cache_dir() / "debian" / "apt-answers.json"
    fp = _lists_fingerprint()
    try:
        memo = json.loads(path.read_text())
    except (OSError, ValueError):
        memo = {}
    if memo.get("_fingerprint") != fp:
        memo = {"_fingerprint": fp}
    key = f"{kind}:{arg}"
    if key not in memo:
        memo[key] = compute()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".apt-answers.{os.getpid()}")
        tmp.write_text(json.dumps(memo, indent=1))
        os.replace(tmp, path)
    return memo[key]


@functools.lru_cache(maxsize=None)
def candidate_version(pkg: str) -> str:
    def compute():
        out = run(["apt-cache", "policy", pkg], check=False).stdout
        m = re.search(r"Candidate:\s*(\S+)", out)
        if not m or m.group(1) == "(none)":
            raise DebianUnavailable(
                f"Debian package {pkg} is not known to apt on this machine",
                "the test fixtures are made from Debian's arm64/armhf packages",
                "Run: dpkg --add-architecture arm64; dpkg --add-architecture armhf; apt-get update")
        return m.group(1)
    return _memo("policy", pkg, compute)


@functools.lru_cache(maxsize=None)
def resolve_kernel_package(arch: str) -> str:
    """The versioned kernel package behind the meta package (the ABI number
    moves with Debian point releases, so it is never hard-coded)."""
    meta = KERNEL_META[arch]

    def compute():
        out = run(["apt-cache", "depends", meta], check=False).stdout
        m = re.search(r"Depends:\s*(linux-image-[0-9][^\s:]*)", out)
        if not m:
            raise DebianUnavailable(f"cannot resolve the kernel behind {meta}",
                                    "apt-cache depends found no linux-image-<abi> dependency",
                                    "Run apt-get update with the arm64/armhf architectures added")
        return f"{m.group(1)}:{DEB_ARCH[arch]}"
    return _memo("depends", meta, compute)


def unpacked(pkg: str) -> Path:
    """Directory holding ``pkg`` (name[:arch]) unpacked; downloads on first use."""
    require_tool("apt-get", "apt", "download Debian packages")
    version = candidate_version(pkg)
    key = re.sub(r"[^A-Za-z0-9.+_-]", "_", f"{pkg}_{version}")
    root = cache_dir() / "debian"
    dest = root / "x" / key
    if (dest / ".complete").exists():
        return dest
    with _locked("debian-" + key):
        if (dest / ".complete").exists():
            return dest
        (root / "x").mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            r = run(["apt-get", "download", "-q", f"{pkg}={version}"], cwd=tmp, check=False)
            debs = list(Path(tmp).glob("*.deb"))
            if r.returncode != 0 or not debs:
                raise DebianUnavailable(f"apt-get download {pkg} failed",
                                        (r.stderr or r.stdout).strip().splitlines()[-1:]
                                        and (r.stderr or r.stdout).strip().splitlines()[-1],
                                        "Check the Debian archive is reachable and run apt-get update")
            work = Path(tmp) / "root"
            run(["dpkg-deb", "-x", debs[0], work])
            (work / ".complete").write_text(f"{pkg} {version}\n")
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(work, dest)
    return dest


def kernel(arch: str) -> tuple[Path, Path, str]:
    """(kernel image, its config file, kernel release) for ``arch``."""
    root = unpacked(resolve_kernel_package(arch))
    images = sorted((root / "boot").glob("vmlinuz-*"))
    if not images:
        raise DebianUnavailable(f"no kernel image in {root}", None, "Delete the cache entry")
    release = images[0].name[len("vmlinuz-"):]
    return images[0], root / "boot" / f"config-{release}", release


def kernel_root(arch: str) -> Path:
    return unpacked(resolve_kernel_package(arch))


GRUB_PKG = {"aarch64": "grub-efi-arm64-bin:arm64", "arm": "grub-efi-arm-bin:armhf",
            "x86_64": "grub-efi-amd64-bin:amd64"}


def grub_modules(arch: str) -> Path:
    target = {"aarch64": "arm64-efi", "arm": "arm-efi", "x86_64": "x86_64-efi"}[arch]
    return unpacked(GRUB_PKG[arch]) / "usr" / "lib" / "grub" / target


def busybox_package(arch: str) -> str:
    return f"busybox-static:{DEB_ARCH[arch]}"


def busybox(arch: str) -> Path:
    return unpacked(busybox_package(arch)) / "bin" / "busybox"
