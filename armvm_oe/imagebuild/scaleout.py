"""Scale-out settings: a shared sstate mirror, a hash-equivalence server and
a PR server, passed to bitbake through the kas overlay ``kas/scaleout.yml``.

The overlay declares four variables in its ``env:`` section (kas adds them to
``BB_ENV_PASSTHROUGH_ADDITIONS``, so bitbake reads them from the environment)
and turns them into bitbake settings in ``local.conf``:

==========================  =====================================================
``ARMVM_SSTATE_MIRROR``     ``SSTATE_MIRRORS += "file://.* <url>/PATH;downloadfilename=PATH"``
``ARMVM_HASHSERV``          ``BB_HASHSERVE = "<host:port>"`` (read-write, CI writers)
``ARMVM_HASHSERV_UPSTREAM`` ``BB_HASHSERVE = "auto"`` + ``BB_HASHSERVE_UPSTREAM``
                            (a local server that pulls from the shared one)
``ARMVM_PRSERV``            ``PRSERV_HOST = "<host:port>"``
==========================  =====================================================

See docs/scaleout.md for the topology.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

from armvm_oe.errors import UsageError

OVERLAY = "kas/scaleout.yml"
ENV_SSTATE_MIRROR = "ARMVM_SSTATE_MIRROR"
ENV_HASHSERV = "ARMVM_HASHSERV"
ENV_HASHSERV_UPSTREAM = "ARMVM_HASHSERV_UPSTREAM"
ENV_PRSERV = "ARMVM_PRSERV"
ENV_VARS = (ENV_SSTATE_MIRROR, ENV_HASHSERV, ENV_HASHSERV_UPSTREAM, ENV_PRSERV)

_HOSTPORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


@dataclass
class ScaleOut:
    sstate_mirror: Optional[str] = None
    hashserv: Optional[str] = None
    hashserv_upstream: Optional[str] = None
    prserv: Optional[str] = None

    @classmethod
    def from_env(cls, environ) -> "ScaleOut":
        return cls(environ.get(ENV_SSTATE_MIRROR) or None, environ.get(ENV_HASHSERV) or None,
                   environ.get(ENV_HASHSERV_UPSTREAM) or None, environ.get(ENV_PRSERV) or None)

    def merged(self, other: "ScaleOut") -> "ScaleOut":
        """Options (``other``) win over the environment (``self``)."""
        return ScaleOut(*(o or s for s, o in zip(self.values(), other.values())))

    def values(self) -> tuple:
        return (self.sstate_mirror, self.hashserv, self.hashserv_upstream, self.prserv)

    @property
    def active(self) -> bool:
        return any(self.values())

    def env(self) -> dict[str, str]:
        return {k: v for k, v in zip(ENV_VARS, self.values()) if v}

    def as_dict(self) -> dict:
        return {"sstate_mirror": self.sstate_mirror, "hashserv": self.hashserv,
                "hashserv_upstream": self.hashserv_upstream, "prserv": self.prserv}


def check_hostport(value: str, option: str, allow_ws: bool = False) -> str:
    if allow_ws and value.startswith(("ws://", "wss://")):
        return value
    if value.startswith("unix://"):
        return value
    m = _HOSTPORT.match(value)
    if not m or not 0 < int(m.group(2)) < 65536:
        raise UsageError(f"{option} '{value}' is not HOST:PORT",
                         "bitbake connects to its servers by host and port"
                         + (" (or a ws:// / wss:// URL)" if allow_ws else ""),
                         f"For example {option} hashserv.example.org:8686")
    return value


def check_mirror(url: str, container: bool, work_dir: Path | None = None) -> str:
    """Validate an sstate mirror URL; return the URL bitbake should see."""
    u = urlparse(url)
    if u.scheme in ("http", "https"):
        if not u.netloc:
            raise UsageError(f"--sstate-mirror '{url}' has no host", None,
                             "For example --sstate-mirror https://sstate.example.org/armvm")
        return url.rstrip("/")
    if u.scheme == "file":
        path = Path(u.path)
        if not path.is_absolute() or u.netloc:
            raise UsageError(f"--sstate-mirror '{url}' is not file:///absolute/path", None,
                             "Use three slashes: file:///srv/sstate-mirror")
        if not path.is_dir():
            raise UsageError(f"The sstate mirror directory {path} does not exist", None,
                             "Mount the shared mirror there or use its http(s) URL")
        if container:
            mount = container_mirror_mount(url, work_dir)
            if mount is None:   # inside the work dir: seen under /work
                from armvm_oe.container import WORK_MOUNT
                wd = Path(work_dir).absolute()
                return "file://" + str(Path(WORK_MOUNT) / path.relative_to(wd))
            from armvm_oe.container import SSTATE_MIRROR_MOUNT
            return "file://" + SSTATE_MIRROR_MOUNT
        return "file://" + str(path).rstrip("/")
    raise UsageError(f"--sstate-mirror '{url}' must be an http(s):// or file:// URL",
                     "bitbake fetches sstate objects from it", None)


def container_mirror_mount(url: Optional[str], work_dir: Path | None) -> Optional[Path]:
    """The host directory to mount read-only into the build container for a
    file:// sstate mirror that lives outside the work dir (the work dir is
    mounted anyway); None for http(s) mirrors and mirrors inside the work dir."""
    if not url:
        return None
    u = urlparse(url)
    if u.scheme != "file":
        return None
    path = Path(u.path)
    wd = Path(work_dir).absolute() if work_dir else None
    if wd and (path == wd or wd in path.parents):
        return None
    return path


def validate(so: ScaleOut, container: bool, work_dir: Path | None = None) -> ScaleOut:
    if so.hashserv and so.hashserv_upstream:
        raise UsageError("--hashserv and --hashserv-upstream exclude each other",
                         "--hashserv makes bitbake use the shared server directly (CI, "
                         "read-write); --hashserv-upstream keeps a local server that pulls "
                         "from the shared one (developers)", "Pass one of them")
    return ScaleOut(
        check_mirror(so.sstate_mirror, container, work_dir) if so.sstate_mirror else None,
        check_hostport(so.hashserv, "--hashserv", allow_ws=True) if so.hashserv else None,
        check_hostport(so.hashserv_upstream, "--hashserv-upstream", allow_ws=True)
        if so.hashserv_upstream else None,
        check_hostport(so.prserv, "--prserv") if so.prserv else None)


def overlay_path(top_repo: Path) -> Path:
    path = Path(top_repo) / OVERLAY
    if not path.is_file():
        raise UsageError(f"The scale-out overlay {path} is missing",
                         "the scale-out options are applied through kas/scaleout.yml, which "
                         "must live in the same repository as the kas configuration",
                         "Copy kas/scaleout.yml from armvm-oe next to your configuration")
    return path
