"""Connecting to the container engine (Docker, or podman through its
Docker-compatible socket) and turning connection failures into the errors of
:mod:`armvm_oe.container.errors`.

The endpoint is the Docker SDK's: ``DOCKER_HOST`` if set (``unix://...``,
``tcp://...``), else ``unix:///var/run/docker.sock``.
"""

from __future__ import annotations

import grp
import os
import stat
from dataclasses import dataclass
from urllib.parse import urlparse

from armvm_oe.container.errors import (EngineUnreachable, RootlessMapping,
                                       SocketPermission)

DEFAULT_SOCKET = "/var/run/docker.sock"


def endpoint() -> str:
    """The engine address the SDK will use (DOCKER_HOST or the default socket)."""
    return os.environ.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"


def socket_path(ep: str | None = None) -> str | None:
    """The unix socket path of an endpoint, or None for tcp/ssh endpoints."""
    ep = ep or endpoint()
    if ep.startswith("unix://"):
        return ep[len("unix://"):] or DEFAULT_SOCKET
    if ep.startswith("/"):
        return ep
    return None


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        for arg in getattr(exc, "args", ()):
            if isinstance(arg, BaseException):
                yield from _chain(arg)
        exc = exc.__cause__ or exc.__context__


def classify_connect_error(exc: BaseException, ep: str | None = None) -> Exception:
    """Map an exception from connecting to the engine to one of our errors.

    Pure: decides from the exception (and the socket's mode for the message)."""
    ep = ep or endpoint()
    text = " ".join(str(e) for e in _chain(exc))
    sock = socket_path(ep)
    if any(isinstance(e, PermissionError) for e in _chain(exc)) or "Permission denied" in text:
        group = None
        if sock:
            try:
                group = grp.getgrgid(os.stat(sock).st_gid).gr_name
            except (OSError, KeyError):
                group = None
        return SocketPermission(ep, sock, group)
    if any(isinstance(e, (FileNotFoundError, ConnectionRefusedError)) for e in _chain(exc)) \
            or "No such file" in text or "Connection refused" in text:
        reason = "the socket does not exist" if "No such file" in text or \
            any(isinstance(e, FileNotFoundError) for e in _chain(exc)) else "connection refused"
        return EngineUnreachable(ep, reason)
    return EngineUnreachable(ep, text.strip()[:200] or type(exc).__name__)


def precheck_socket(ep: str | None = None) -> Exception | None:
    """Diagnose a unix socket without connecting: missing, or not openable by us."""
    ep = ep or endpoint()
    sock = socket_path(ep)
    if not sock:
        return None
    try:
        st = os.stat(sock)
    except FileNotFoundError:
        return EngineUnreachable(ep, "the socket does not exist")
    except PermissionError:
        return SocketPermission(ep, sock, None)
    if not stat.S_ISSOCK(st.st_mode):
        return EngineUnreachable(ep, f"{sock} is not a socket")
    if not os.access(sock, os.R_OK | os.W_OK):
        try:
            group = grp.getgrgid(st.st_gid).gr_name
        except KeyError:
            group = None
        return SocketPermission(ep, sock, group)
    return None


def connect(timeout: int = 60):
    """A connected ``docker.DockerClient``; raises our errors when it cannot be."""
    ep = endpoint()
    pre = precheck_socket(ep)
    if pre is not None:
        raise pre
    import docker

    try:
        client = docker.DockerClient(base_url=ep, timeout=timeout) \
            if not os.environ.get("DOCKER_TLS_VERIFY") else docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # the SDK wraps socket errors in several layers
        raise classify_connect_error(exc, ep) from exc
    return client


@dataclass
class EngineInfo:
    name: str            # "docker" or "podman"
    version: str
    rootless: bool
    endpoint: str

    @property
    def is_podman(self) -> bool:
        return self.name == "podman"


def describe(version: dict, info: dict, ep: str | None = None) -> EngineInfo:
    """Engine kind and rootlessness from the engine's /version and /info answers (pure)."""
    comps = [c.get("Name", "") for c in version.get("Components") or []]
    podman = any("podman" in c.lower() for c in comps) or \
        "podman" in str(version.get("Platform", {}).get("Name", "")).lower()
    secopts = [str(s) for s in info.get("SecurityOptions") or []]
    rootless = any("rootless" in s for s in secopts)
    return EngineInfo("podman" if podman else "docker", str(version.get("Version", "?")),
                      rootless, ep or endpoint())


def engine_info(client) -> EngineInfo:
    return describe(client.version(), client.info())


def user_mapping(info: EngineInfo, uid: int, gid: int) -> dict:
    """How to start a container so the build user is ``uid``:``gid`` on the host.

    Returns extra ``containers.create`` keyword arguments. Rootful Docker and
    podman: start as root and let the entrypoint remap 'builder'. Rootless
    podman: keep-id maps our uid through, start directly as that user.
    Rootless Docker cannot map it: raise the rootless-mapping error."""
    if not info.rootless:
        return {}
    if info.is_podman:
        return {"userns_mode": "keep-id", "user": f"{uid}:{gid}"}
    raise RootlessMapping(f"{info.name} {info.version} at {info.endpoint}")


def parse_host(ep: str) -> str:
    """Short form of an endpoint for messages."""
    u = urlparse(ep)
    return u.path if u.scheme == "unix" else ep
