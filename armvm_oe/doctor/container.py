"""Container-engine checks. The ids are shared with armvm_oe.container, which
raises ArmvmError(check_id=...) with the same id when a build hits the same
thing: container.engine-unreachable, container.socket-permission,
container.rootless-mapping, container.bind-mount-owner."""

from __future__ import annotations

import errno
import grp
import json
import os
import pwd
import socket
import stat
from pathlib import Path
from urllib.parse import urlparse

from armvm_oe.doctor import facts
from armvm_oe.doctor.model import Context, Problem
from armvm_oe.doctor.registry import check
from armvm_oe.errors import privileged

DEFAULT_SOCK = "/var/run/docker.sock"


def docker_endpoint(ctx: Context) -> tuple[str, str]:
    """("unix", path) or ("tcp", "host:port") from DOCKER_HOST."""
    host = ctx.env.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCK}"
    u = urlparse(host)
    if u.scheme == "unix":
        return "unix", u.path or DEFAULT_SOCK
    if u.scheme in ("tcp", "http"):
        return "tcp", f"{u.hostname}:{u.port or 2375}"
    return u.scheme or "?", host


def _request(ctx: Context, path: str):
    """GET ``path`` from the engine: (status, body) or raises OSError."""
    kind, addr = docker_endpoint(ctx)
    t = ctx.thresholds.docker_timeout
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(t)
        s.connect(addr)
    elif kind == "tcp":
        h, p = addr.rsplit(":", 1)
        s = socket.create_connection((h, int(p)), timeout=t)
    else:
        raise OSError(errno.EPROTONOSUPPORT, f"unsupported DOCKER_HOST {addr}")
    with s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if len(head.split()) > 1 else 0
    return status, body


def probe(ctx: Context) -> dict:
    """{"state": ok|unreachable|permission, "error": str, "info": dict}."""
    return ctx.memo("docker", lambda: probe_now(ctx))


def probe_now(ctx: Context) -> dict:
    kind, addr = docker_endpoint(ctx)
    try:
        status, body = _request(ctx, "/_ping")
    except PermissionError as exc:
        return {"state": "permission", "error": exc.strerror, "addr": addr}
    except OSError as exc:
        return {"state": "unreachable", "error": exc.strerror or str(exc), "addr": addr}
    if status != 200:
        return {"state": "unreachable", "error": f"HTTP {status} from /_ping", "addr": addr}
    info = {}
    try:
        st, body = _request(ctx, "/info")
        info = json.loads(body or b"{}") if st == 200 else {}
    except (OSError, ValueError):
        pass
    return {"state": "ok", "error": "", "addr": addr, "info": info}


@check("container.engine-unreachable", "the container engine answers", "fatal",
       "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker "
       "daemon running?",
       "Start the engine (sudo systemctl start docker, or dockerd), or set DOCKER_HOST to "
       "the engine's socket")
def engine_unreachable(ctx: Context):
    p = probe(ctx)
    if p["state"] != "unreachable":
        return None
    kind, addr = docker_endpoint(ctx)
    where = f"unix://{addr}" if kind == "unix" else addr
    hint = ""
    if kind == "unix" and not Path(addr).exists():
        hint = " (the socket does not exist: the daemon is not running, or DOCKER_HOST is wrong)"
    return Problem(f"no engine at {where}: {p['error']}{hint}",
                   commands=[privileged("systemctl start docker")])


@check("container.socket-permission", "this user may use the engine's socket", "fatal",
       "permission denied while trying to connect to the Docker daemon socket at "
       "unix:///var/run/docker.sock",
       "Add the user to the socket's group and log in again (not chmod 666)")
def socket_permission(ctx: Context):
    p = probe(ctx)
    if p["state"] != "permission":
        return None
    kind, addr = docker_endpoint(ctx)
    user = pwd.getpwuid(os.geteuid()).pw_name
    try:
        st = os.stat(addr)
        group = grp.getgrgid(st.st_gid).gr_name
        mode = stat.filemode(st.st_mode)
        owner = f"{mode} {pwd.getpwuid(st.st_uid).pw_name}:{group}"
    except (OSError, KeyError):
        group, owner = "docker", "?"
    return Problem(f"{addr} ({owner}) refuses user {user} (groups: "
                   f"{', '.join(grp.getgrgid(g).gr_name for g in os.getgroups()) or '-'})",
                   commands=[f"sudo usermod -aG {group} {user}", "newgrp " + group])


def _subid_range(ctx: Context, file: str, user: str, uid: int) -> int:
    total = 0
    for line in (facts.read_root(ctx, file) or "").splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in (user, str(uid)) and parts[2].isdigit():
            total += int(parts[2])
    return total


@check("container.rootless-mapping", "rootless engine has a usable uid mapping", "error",
       "Rootless docker used, only limited functionality available. / Docker rootless "
       "requires read-only repo.",
       "Give the user subordinate uid/gid ranges (usermod --add-subuids/--add-subgids) or use "
       "the rootful engine; podman needs --userns=keep-id")
def rootless_mapping(ctx: Context):
    p = probe(ctx)
    if p["state"] != "ok":
        return None
    secopts = " ".join(p.get("info", {}).get("SecurityOptions") or [])
    if "rootless" not in secopts:
        return None
    uid = os.geteuid()
    user = pwd.getpwuid(uid).pw_name
    sub_u = _subid_range(ctx, "etc/subuid", user, uid)
    sub_g = _subid_range(ctx, "etc/subgid", user, uid)
    if sub_u >= 65536 and sub_g >= 65536:
        return Problem("the engine is rootless: the build container's user 'builder' maps to a "
                       "subordinate uid, so files it writes into bind mounts are not yours and "
                       "kas mounts the repo read-only", severity="warn")
    return Problem(f"the engine is rootless but {user} has {sub_u} subordinate uids and {sub_g} "
                   "gids (/etc/subuid, /etc/subgid; 65536 needed): the container cannot map "
                   "the build user",
                   commands=[f"sudo usermod --add-subuids 100000-165535 --add-subgids "
                             f"100000-165535 {user}"])


def _mount_dirs(ctx: Context) -> list[tuple[str, Path]]:
    out = []
    if ctx.work_dir:
        out.append(("KAS_WORK_DIR", Path(ctx.work_dir)))
    b = facts.build_dir(ctx)
    if b:
        out.append(("KAS_BUILD_DIR", b))
    for var in ("DL_DIR", "SSTATE_DIR"):
        if ctx.env.get(var):
            out.append((var, Path(ctx.env[var])))
    return out


@check("container.bind-mount-owner", "directories bind-mounted into the container belong "
       "to the user", "error",
       "The uid:gid for \"/workdir\" is \"0:0\". The uid and gid must be non-zero. / "
       "[Errno 13] Permission denied: '/work/build'",
       "Create the directories as yourself before the first container run, or chown them back")
def bind_mount_owner(ctx: Context):
    uid = os.geteuid()
    out = []
    for var, d in _mount_dirs(ctx):
        if not d.exists():
            continue
        st = d.stat()
        if uid == 0:
            # a root caller (armvm-oe build --allow-root) builds as the work dir's
            # owner, or as ROOT_BUILD_UID when root owns it; the work dir itself
            # keeps its owner, and armvm-oe hands it the build dir itself
            if var in ("KAS_WORK_DIR", "KAS_BUILD_DIR") or not ctx.work_dir:
                continue
            from armvm_oe.container.runner import can_write, resolve_user
            b_uid, b_gid = resolve_user(Path(ctx.work_dir))
            if not can_write(st, b_uid, b_gid):
                out.append(Problem(f"{var} {d} is owned by uid {st.st_uid} (mode "
                                   f"{st.st_mode & 0o7777:o}): a root caller's container build "
                                   f"runs as uid {b_uid}, which cannot write there",
                                   path=str(d), commands=[f"chown -R {b_uid}:{b_gid} {d}"]))
        elif uid != 0 and (st.st_uid != uid or not os.access(d, os.W_OK | os.X_OK)):
            try:
                owner = pwd.getpwuid(st.st_uid).pw_name
            except KeyError:
                owner = str(st.st_uid)
            out.append(Problem(f"{var} {d} is owned by {owner}, not by you (uid {uid}) (often "
                               "created by the docker daemon as root): the container's build "
                               "user cannot write there", path=str(d),
                               commands=[f"chmod u+rwx {d}" if st.st_uid == uid else
                                         f"sudo chown -R {uid}:{os.getegid()} {d}"]))
    return out
