"""The build container image: its inputs, their content hash (the tag), and
building it with the Docker SDK with progress.

The build context is made here, not by the engine: a tar of exactly the
inputs (containers/Dockerfile, the entrypoint, the pinned Python
requirements and the armvm-oe package source), with sorted names, one fixed
mtime (SOURCE_DATE_EPOCH) and root ownership. The tag is a hash of those
bytes plus the build arguments, so a changed input always gives a new tag and
a stale image is never used.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from armvm_oe.container.errors import (BaseImageMissing, ImageBuildFailed,
                                       SourceTreeMissing)

REPOSITORY = "armvm-oe/builder"
DOCKERFILE = "containers/Dockerfile"
SOURCE_DATE_EPOCH = 1790467200   # keep equal to the Dockerfile's default
# Inputs of the image besides the package source, relative to the source root.
FIXED_INPUTS = ("containers/Dockerfile", "containers/entrypoint.sh",
                "containers/requirements.txt", "pyproject.toml", "README.md")
FIXED_MODES = {rel: 0o755 if rel.endswith(".sh") else 0o644 for rel in FIXED_INPUTS}
PACKAGE_DIR = "armvm_oe"
_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".swp", "~")

ENV_BASE = "ARMVM_CONTAINER_BASE_IMAGE"
ENV_MIRROR = "ARMVM_CONTAINER_MIRROR"
ENV_SECURITY_MIRROR = "ARMVM_CONTAINER_SECURITY_MIRROR"
ENV_CA_CERTS = "ARMVM_CONTAINER_CA_CERTS"     # os.pathsep-separated PEM files


# The image inputs shipped inside the package (symlinks in the checkout, real
# files in a wheel), so a non-editable install (scripts/install.sh) builds the
# same image, with the same tag, as the checkout it was installed from.
PACKAGED_SOURCE = "_source"


def source_root() -> Path:
    """The directory holding containers/Dockerfile and the other fixed inputs:
    ARMVM_SOURCE_DIR, else the checkout this package runs from, else the copy
    shipped as package data (non-editable installs)."""
    pkg = Path(__file__).resolve().parent.parent
    here = pkg.parent
    for cand in (Path(os.environ["ARMVM_SOURCE_DIR"]) if os.environ.get("ARMVM_SOURCE_DIR") else None,
                 here, pkg / PACKAGED_SOURCE):
        try:
            if cand and (cand / DOCKERFILE).is_file():
                return cand
        except OSError:         # ARMVM_SOURCE_DIR this user may not enter
            continue
    raise SourceTreeMissing(f"{here} and {pkg / PACKAGED_SOURCE}")


def package_dir(root: Path) -> Path:
    """The armvm_oe package that goes into the image: the one next to the
    fixed inputs (a checkout, ARMVM_SOURCE_DIR), else the running one."""
    cand = Path(root) / PACKAGE_DIR
    return cand if cand.is_dir() else Path(__file__).resolve().parent.parent


def default_security_mirror(mirror: str) -> str:
    """deb.debian.org/debian -> deb.debian.org/debian-security; else none."""
    m = mirror.rstrip("/")
    return m + "-security" if m.endswith("/debian") else ""


@dataclass
class ImageSpec:
    """What the image is built from. None means the Dockerfile's pinned default."""

    base_image: str | None = None
    mirror: str | None = None
    security_mirror: str | None = None
    root: Path | None = None
    ca_certs: tuple[str, ...] = ()      # paths of extra CA certificates (PEM) for pip
    _files: list[tuple[str, Path, int, bytes]] | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, base_image: str | None = None, mirror: str | None = None,
                 security_mirror: str | None = None, root: Path | None = None,
                 ca_certs: Iterable[str] | None = None) -> "ImageSpec":
        mirror = mirror or os.environ.get(ENV_MIRROR) or None
        if mirror == "host":
            found = host_debian_mirror()
            if not found:
                from armvm_oe.errors import UsageError
                raise UsageError("'--mirror host' found no Debian bookworm mirror in /etc/apt",
                                 "no 'deb' source for bookworm ending in /debian is configured",
                                 "Pass the mirror URL itself, e.g. --mirror http://deb.debian.org/debian")
            mirror = found
        return cls(base_image or os.environ.get(ENV_BASE) or None,
                   mirror,
                   security_mirror if security_mirror is not None
                   else (os.environ.get(ENV_SECURITY_MIRROR) or None),
                   root, tuple(ca_certs) if ca_certs else
                   tuple(p for p in os.environ.get(ENV_CA_CERTS, "").split(os.pathsep) if p))

    @property
    def source(self) -> Path:
        if self.root is None:
            self.root = source_root()
        return Path(self.root)

    def buildargs(self) -> dict[str, str]:
        args = {}
        if self.base_image:
            args["BASE_IMAGE"] = self.base_image
        if self.mirror:
            args["DEBIAN_MIRROR"] = self.mirror
            sec = self.security_mirror if self.security_mirror is not None \
                else default_security_mirror(self.mirror)
            args["DEBIAN_SECURITY_MIRROR"] = sec
        elif self.security_mirror is not None:
            args["DEBIAN_SECURITY_MIRROR"] = self.security_mirror
        if self.ca_certs:
            pems = []
            for p in self.ca_certs:
                try:
                    text = Path(p).read_text().strip()
                except OSError as err:
                    from armvm_oe.errors import InputError
                    raise InputError(f"Cannot read the CA certificate {p}", str(err),
                                     "Pass a PEM file, e.g. from /usr/local/share/ca-certificates")
                if "BEGIN CERTIFICATE" not in text:
                    from armvm_oe.errors import InputError
                    raise InputError(f"{p} is not a PEM certificate",
                                     "it has no BEGIN CERTIFICATE line", "Pass a PEM file")
                pems.append(text)
            args["EXTRA_CA_CERTS"] = "\n".join(pems)
        return args

    def files(self) -> list[tuple[str, Path]]:
        """(name in the context, path on disk), sorted by name."""
        return [(name, path) for name, path, _mode, _data in self._snapshot()]

    def _snapshot(self) -> list[tuple[str, Path, int, bytes]]:
        """The inputs read once: the tag and the context describe the same
        bytes even if the checkout changes while the image builds."""
        if self._files is None:
            root = self.source
            out = []
            for rel in FIXED_INPUTS:
                p = root / rel
                if not p.is_file():
                    raise SourceTreeMissing(str(p))
                out.append((rel, p))
            pkg = package_dir(root)
            for dirpath, dirnames, filenames in os.walk(pkg):
                # the packaged copy of the fixed inputs is already counted above
                dirnames[:] = sorted(d for d in dirnames
                                     if d not in _SKIP_DIRS and not d.startswith(".")
                                     and not d.endswith(".egg-info")
                                     and not (Path(dirpath) == pkg and d == PACKAGED_SOURCE))
                for fn in filenames:
                    if fn.startswith(".") or fn.endswith(_SKIP_SUFFIXES):
                        continue
                    p = Path(dirpath) / fn
                    out.append((f"{PACKAGE_DIR}/{p.relative_to(pkg).as_posix()}", p))
            # fixed inputs get fixed modes: a wheel does not keep the entrypoint's x bit
            self._files = [(name, p, FIXED_MODES.get(name) or _mode(p), p.read_bytes())
                           for name, p in sorted(out)]
        return self._files

    def input_hash(self) -> str:
        h = hashlib.sha256()
        h.update(b"armvm-oe container inputs v1\0")
        for name, _path, mode, data in self._snapshot():
            h.update(f"{name}\0{mode:o}\0{len(data)}\0".encode())
            h.update(data)
        h.update(json.dumps(self.buildargs(), sort_keys=True).encode())
        return h.hexdigest()

    @property
    def tag(self) -> str:
        return f"{REPOSITORY}:{self.input_hash()[:16]}"

    def image_paths(self) -> dict[str, list[tuple[str, int, bytes]]]:
        """Which inputs go where in the image: {tar name: [(path in the image, mode, bytes)]}."""
        deps, src = [], []
        for name, _path, mode, data in self._snapshot():
            if name == "containers/Dockerfile":
                continue
            if name == "containers/requirements.txt":
                deps.append(("usr/local/share/armvm-oe/requirements.txt", mode, data))
            elif name == "containers/entrypoint.sh":
                src.append(("usr/local/bin/armvm-entrypoint", 0o755, data))
            else:
                src.append((f"usr/local/src/armvm-oe/{name}", mode, data))
        return {"deps.tar": sorted(deps), "src.tar": sorted(src)}

    def context_tar(self) -> bytes:
        """The build context: the Dockerfile and two normalised tars of the
        other inputs (ADDed to / by the Dockerfile), all with sorted names,
        root ownership and mtime SOURCE_DATE_EPOCH, directories included, so
        the layers they make do not depend on when or where they are built."""
        dockerfile = next(data for name, _p, _m, data in self._snapshot() if name == DOCKERFILE)
        members = [(DOCKERFILE, 0o644, dockerfile)]
        for tar_name, entries in self.image_paths().items():
            members.append((tar_name, 0o644, _tar_bytes(entries)))
        return _tar_bytes(sorted(members))


def _tar_bytes(entries: list[tuple[str, int, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs_done: set[str] = set()
        for name, mode, data in entries:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs_done:
                    dirs_done.add(d)
                    tar.addfile(_info(d, tarfile.DIRTYPE, 0o755, 0))
            tar.addfile(_info(name, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
    return buf.getvalue()


def _mode(path: Path) -> int:
    return 0o755 if os.stat(path).st_mode & 0o100 else 0o644


def _info(name: str, kind: bytes, mode: int, size: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.size = size
    ti.mtime = SOURCE_DATE_EPOCH
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


@dataclass
class BuildResult:
    tag: str
    image_id: str
    built: bool          # False: the tag existed already
    seconds: float
    steps: int = 0


_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)")
_PULL_FAIL = ("pull access denied", "manifest unknown", "repository does not exist",
              "no such host", "dial tcp", "i/o timeout", "not found: manifest",
              "failed to resolve", "toomanyrequests", "connection refused")


def image_exists(client, tag: str) -> str | None:
    import docker

    try:
        return client.images.get(tag).id
    except docker.errors.ImageNotFound:
        return None


def build_image(client, spec: ImageSpec, *, nocache: bool = False, tag: str | None = None,
                on_line: Callable[[str], None] | None = None,
                on_step: Callable[[int, int, str], None] | None = None) -> BuildResult:
    """Build the image from ``spec`` (always; see :func:`ensure_image`).

    ``on_line`` gets every output line, ``on_step`` (n, total, instruction)
    at each Dockerfile step. Raises ImageBuildFailed / BaseImageMissing."""
    tag = tag or spec.tag
    t0 = time.monotonic()
    ctx = spec.context_tar()
    step_text, steps, last_lines, in_from = "", 0, [], False
    stream = client.api.build(
        fileobj=io.BytesIO(ctx), custom_context=True, dockerfile=DOCKERFILE, tag=tag,
        buildargs=spec.buildargs(), network_mode="host", rm=True, forcerm=True,
        nocache=nocache, pull=False, decode=True,
        labels={"org.opencontainers.image.title": "armvm-oe build container",
                "armvm-oe.inputs": spec.input_hash()})
    image_id = None
    for chunk in stream:
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("error") or (chunk.get("errorDetail") or {}).get("message", "")
            if in_from and any(k in detail.lower() for k in _PULL_FAIL):
                raise BaseImageMissing(spec.base_image or "the pinned debian:bookworm-slim", detail)
            raise ImageBuildFailed(step_text, "\n".join(last_lines[-8:] + [detail]))
        if "aux" in chunk and isinstance(chunk["aux"], dict) and chunk["aux"].get("ID"):
            image_id = chunk["aux"]["ID"]
        text = chunk.get("stream") or chunk.get("status") or ""
        for line in text.splitlines():
            line = line.rstrip()
            if not line:
                continue
            m = _STEP.match(line)
            if m:
                steps = int(m.group(1))
                in_from = m.group(3).upper().startswith("FROM ")
                step_text = f"step {m.group(1)}/{m.group(2)} ({m.group(3)[:60]})"
                if on_step:
                    on_step(int(m.group(1)), int(m.group(2)), m.group(3))
            last_lines = (last_lines + [line])[-20:]
            if on_line:
                on_line(line)
    if not image_id:
        image_id = image_exists(client, tag) or ""
    if not image_id:
        raise ImageBuildFailed(step_text, "\n".join(last_lines[-8:]))
    return BuildResult(tag, image_id, True, time.monotonic() - t0, steps)


def ensure_image(client, spec: ImageSpec | None = None, **kwargs) -> BuildResult:
    """The image for ``spec``: the existing one if its tag exists, else build it."""
    spec = spec or ImageSpec.from_env()
    tag = spec.tag
    existing = image_exists(client, tag)
    if existing:
        return BuildResult(tag, existing, False, 0.0)
    return build_image(client, spec, **kwargs)


def builder_images(client) -> Iterable:
    """All armvm-oe builder images in the engine (for listing / pruning)."""
    return client.images.list(name=REPOSITORY)


def parse_apt_sources(text: str, deb822: bool) -> list[tuple[str, list[str]]]:
    """(URI, suites) of the 'deb' entries of an apt sources file (pure)."""
    out = []
    if deb822:
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.strip()
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                for uri in fields.get("uris", "").split():
                    out.append((uri, fields.get("suites", "").split()))
    else:
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            m = re.match(r"^deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m:
                out.append((m.group(2), [m.group(3)]))
    return out


def host_debian_mirror(etc: Path = Path("/etc/apt")) -> str | None:
    """The Debian archive mirror this machine's apt uses for bookworm, if any
    (what an air-gapped or snapshot-less site can reach)."""
    files = [(etc / "sources.list", False)]
    d = etc / "sources.list.d"
    if d.is_dir():
        files += [(p, p.suffix == ".sources") for p in sorted(d.iterdir())
                  if p.suffix in (".list", ".sources")]
    for path, deb822 in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        for uri, suites in parse_apt_sources(text, deb822):
            if "bookworm" in suites and uri.rstrip("/").endswith("/debian"):
                return uri.rstrip("/")
    return None
