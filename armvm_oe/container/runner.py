"""Run a command (``kas build ...``) inside the build container.

The container gets the project read-only at /repo, the kas work dir at
/work (KAS_WORK_DIR), DL_DIR at /downloads and SSTATE_DIR at /sstate (shared
caches on the host that outlive containers), opt-in, the SSH agent socket and
any extra read-only host directories (e.g. a file:// sstate mirror that lives
outside the work dir, at /sstate-mirror).
The entrypoint remaps the image's 'builder' user to the build uid/gid, so files
the build writes on the host belong to the calling user. Output is streamed
line by line to a callback; Ctrl-C (KeyboardInterrupt, and SIGTERM while it
runs) stops and removes the container, then re-raises; the return value is
the container's exit code.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from armvm_oe.container import engine, seccomp
from armvm_oe.container.errors import CHECK_BIND_MOUNT_OWNER, BindMountOwner, ContainerError
from armvm_oe.errors import ROOT_BUILD_UID, UsageError
from armvm_oe.container.image import ImageSpec, ensure_image

# Where things are inside the container (kas-container uses the same layout).
PROJECT_MOUNT = "/repo"
WORK_MOUNT = "/work"
DL_MOUNT = "/downloads"
SSTATE_MOUNT = "/sstate"
SSH_AGENT_MOUNT = "/run/armvm-oe/ssh-agent.sock"
SSTATE_MIRROR_MOUNT = "/sstate-mirror"     # a file:// sstate mirror outside the work dir
# Extra mounts may not hide the runner's own mounts or the image's system.
RESERVED_TARGETS = (PROJECT_MOUNT, WORK_MOUNT, DL_MOUNT, SSTATE_MOUNT, "/run/armvm-oe")
SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64",
               "/libx32", "/opt", "/proc", "/root", "/run", "/sbin", "/sys", "/tmp", "/usr",
               "/var")

LABEL = "armvm-oe.runner"

# Environment passed through from the caller when set.
PASSTHROUGH = ("http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy",
               "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY",
               "GIT_PROXY_COMMAND", "PARALLEL_MAKE", "SSTATE_MIRRORS", "TERM")
PASSTHROUGH_PREFIXES = ("BB_", "KAS_")
# Host paths make no sense inside; the runner sets its own.
NEVER_PASS = {"KAS_WORK_DIR", "KAS_BUILD_DIR", "KAS_REPO_REF_DIR", "DL_DIR", "SSTATE_DIR",
              "SSH_AUTH_SOCK", "KAS_CONTAINER_IMAGE"}


@dataclass
class Mounts:
    """Host directories for the container. ``work_dir`` is required."""

    work_dir: Path
    project: Path | None = None
    dl_dir: Path | None = None
    sstate_dir: Path | None = None
    ssh_agent: bool = False          # mount $SSH_AUTH_SOCK (opt-in)
    # extra read-only mounts: (host path, absolute path in the container, role)
    extra_ro: Sequence[tuple[Path, str, str]] = ()
    # False: the caller (root) made and handed over everything the command
    # writes inside the work dir, which itself stays its owner's (a root
    # caller's clone must not change hands); it only has to be readable
    work_dir_writable: bool = True

    def writable(self) -> list[tuple[str, Path]]:
        out = [("work dir", Path(self.work_dir))] if self.work_dir_writable else []
        if self.dl_dir:
            out.append(("DL_DIR", Path(self.dl_dir)))
        if self.sstate_dir:
            out.append(("SSTATE_DIR", Path(self.sstate_dir)))
        return out


def passthrough_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The caller's variables that go into the container: proxies, BB_*/KAS_*
    scale-out and fetch settings (pure)."""
    out = {}
    for k, v in environ.items():
        if k in NEVER_PASS:
            continue
        if k in PASSTHROUGH or k.startswith(PASSTHROUGH_PREFIXES):
            out[k] = v
    return out


def can_write(st: os.stat_result, uid: int, gid: int) -> bool:
    """Would uid/gid be allowed to create files in a directory with this stat (pure)."""
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IWUSR) and bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IWGRP) and bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IWOTH) and bool(st.st_mode & stat.S_IXOTH)


def can_read(st: os.stat_result, uid: int, gid: int) -> bool:
    """Would uid/gid be allowed to read this file, or list and enter this
    directory (pure)."""
    if uid == 0:
        return True
    need = (stat.S_IRUSR | stat.S_IXUSR) if stat.S_ISDIR(st.st_mode) else stat.S_IRUSR
    shift = 0 if st.st_uid == uid else 3 if st.st_gid == gid else 6
    return (st.st_mode & (need >> shift)) == need >> shift


def check_extra_target(target: str, role: str) -> str:
    """The normalised container path of an extra mount; refuses relative paths
    and paths that would hide the runner's mounts or the image's system (pure)."""
    import posixpath

    norm = posixpath.normpath(target) if target else ""
    if not norm.startswith("/") or norm.startswith("//"):
        raise UsageError(f"The container path '{target}' of the {role} is not absolute", None,
                         f"Mount it at an absolute path such as {SSTATE_MIRROR_MOUNT}")
    def inside(a: str, b: str) -> bool:
        return a == b or a.startswith(b.rstrip("/") + "/")
    clash = next((r for r in RESERVED_TARGETS if inside(norm, r) or inside(r, norm)), None) \
        or (norm if norm == "/" or any(inside(norm, d) for d in SYSTEM_DIRS) else None)
    if clash:
        raise UsageError(f"The {role} cannot be mounted at {norm} in the build container",
                         f"it would hide {clash} (the runner's mounts and the image's system "
                         "directories are reserved)",
                         f"Mount it at a path of its own, e.g. {SSTATE_MIRROR_MOUNT}")
    return norm


def resolve_user(work_dir: Path, uid: int | None = None, gid: int | None = None) -> tuple[int, int]:
    """The uid/gid the build runs as: given, else the caller's. A root caller
    builds as the owner of the work dir, or as :data:`ROOT_BUILD_UID` when
    root owns it (never as root)."""
    if uid is None:
        uid = os.getuid()
        gid = os.getgid() if gid is None else gid
    if gid is None:
        gid = uid
    if uid == 0:
        try:
            st = os.stat(work_dir)
        except FileNotFoundError:
            st = None
        if st is None or st.st_uid == 0:
            # never root: the image's own unprivileged user (kas-container with
            # KAS_ALLOW_ROOT would run the build as root, which bitbake refuses)
            return ROOT_BUILD_UID, ROOT_BUILD_UID
        uid, gid = st.st_uid, st.st_gid
    return uid, gid


def prepare_mounts(mounts: Mounts, uid: int, gid: int) -> list:
    """Create missing host directories (as the caller, so the engine does not
    create them as root), check the build user can write them, and return
    ``docker.types.Mount`` objects."""
    from docker.types import Mount

    result = []
    if not mounts.work_dir_writable:
        wd = Path(mounts.work_dir).absolute()
        st = os.stat(wd)
        if not can_read(st, uid, gid):
            raise UsageError(f"The work dir {wd} is not readable by the build user (uid {uid})",
                             f"it is owned by uid {st.st_uid} with mode "
                             f"{stat.S_IMODE(st.st_mode):o}, and the build in the container "
                             f"runs as uid {uid}",
                             f"Make it readable and searchable: chmod a+rx {wd}",
                             check_id=CHECK_BIND_MOUNT_OWNER)
    for role, path in mounts.writable():
        path = path.absolute()
        if not path.exists():
            path.mkdir(parents=True, exist_ok=True)
            if os.getuid() == 0 and uid != 0:
                os.chown(path, uid, gid)
        st = os.stat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(f"The {role} {path} is not a directory",
                             "it is bind-mounted into the build container",
                             "Pass a directory")
        if not can_write(st, uid, gid):
            raise BindMountOwner(str(path), st.st_uid, uid, role, gid)
    result.append(Mount(WORK_MOUNT, str(Path(mounts.work_dir).absolute()), type="bind"))
    if mounts.project:
        proj = Path(mounts.project).absolute()
        if not proj.is_dir():
            raise UsageError(f"The project directory {proj} does not exist",
                             "it is mounted read-only at /repo in the build container",
                             "Pass the directory that holds the kas configuration")
        result.append(Mount(PROJECT_MOUNT, str(proj), type="bind", read_only=True))
    if mounts.dl_dir:
        result.append(Mount(DL_MOUNT, str(Path(mounts.dl_dir).absolute()), type="bind"))
    if mounts.sstate_dir:
        result.append(Mount(SSTATE_MOUNT, str(Path(mounts.sstate_dir).absolute()), type="bind"))
    if mounts.ssh_agent:
        sock = os.environ.get("SSH_AUTH_SOCK")
        if not sock or not os.path.exists(sock):
            raise UsageError("No SSH agent is running",
                             "the SSH agent socket was requested for the container but "
                             "SSH_AUTH_SOCK is unset or points nowhere",
                             "Start one (eval $(ssh-agent); ssh-add) or drop the SSH agent option")
        result.append(Mount(SSH_AGENT_MOUNT, sock, type="bind"))
    seen: dict[str, str] = {}
    for src, target, role in mounts.extra_ro:
        target = check_extra_target(target, role)
        if target in seen:
            raise UsageError(f"Two mounts want {target} in the build container",
                             f"the {seen[target]} and the {role}", "Give each its own path")
        seen[target] = role
        src = Path(src).absolute()
        try:
            st = os.stat(src)
        except OSError as err:
            raise UsageError(f"The {role} {src} cannot be mounted into the build container",
                             err.strerror or str(err), "Pass an existing directory") from None
        if not can_read(st, uid, gid):
            raise UsageError(f"The {role} {src} is not readable by the build user (uid {uid})",
                             f"it is owned by uid {st.st_uid} with mode "
                             f"{stat.S_IMODE(st.st_mode):o}, and the build runs as uid {uid}",
                             f"Make it readable: chmod -R a+rX {src}")
        result.append(Mount(target, str(src), type="bind", read_only=True))
    return result


def container_env(mounts: Mounts, uid: int, gid: int, env: Mapping[str, str] | None,
                  environ: Mapping[str, str] | None = None) -> dict[str, str]:
    out = passthrough_env(os.environ if environ is None else environ)
    out.update({"ARMVM_UID": str(uid), "ARMVM_GID": str(gid), "KAS_WORK_DIR": WORK_MOUNT,
                "ARMVM_IN_CONTAINER": "1"})
    if mounts.dl_dir:
        out["DL_DIR"] = DL_MOUNT
    if mounts.sstate_dir:
        out["SSTATE_DIR"] = SSTATE_MOUNT
    if mounts.ssh_agent:
        out["SSH_AUTH_SOCK"] = SSH_AGENT_MOUNT
    out.update(env or {})
    return out


def _default_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class _SigtermAsInterrupt:
    """While active, SIGTERM and SIGHUP (terminal closed) raise
    KeyboardInterrupt, so the container cleanup runs."""

    SIGNALS = (signal.SIGTERM, signal.SIGHUP)

    def __enter__(self):
        self.old = {}
        if threading.current_thread() is threading.main_thread():
            def handler(signum, frame):
                raise KeyboardInterrupt
            for sig in self.SIGNALS:
                self.old[sig] = signal.signal(sig, handler)
        return self

    def __exit__(self, *exc):
        for sig, old in self.old.items():
            signal.signal(sig, old)
        return False


def remove_container(client, name_or_id: str, *, grace: float = 0) -> None:
    """Stop (SIGINT first, so kas/bitbake shut down cleanly, then SIGKILL
    after ``grace`` seconds) and remove a container; quiet if it is gone."""
    import docker

    try:
        c = client.containers.get(name_or_id)
    except docker.errors.NotFound:
        return
    if grace > 0:
        try:
            c.kill(signal="SIGINT")
            c.wait(timeout=grace)
        except KeyboardInterrupt:
            pass    # a second Ctrl-C: no more waiting
        except Exception:   # noqa: BLE001 - timeout or already stopped
            pass
    try:
        c.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as err:
        if "already in progress" not in str(err):
            raise


_TAIL_KEEP = 1 << 16
_TAIL_ENTRIES = 20


def missing_tail(seen: bytes, tail: bytes) -> bytes:
    """What of ``tail`` (the end of the full log) comes after ``seen`` (the end of
    what was streamed): the largest overlap of the end of ``seen`` with the
    start of ``tail`` is taken as already received (pure)."""
    for overlap in range(min(len(tail), len(seen)), -1, -1):
        if seen.endswith(tail[:overlap]):
            return tail[overlap:]
    return tail


def _prepare(client, mounts: Mounts, uid: int | None, gid: int | None):
    """What every container start needs: the engine, the build user (the
    work dir's owner unless given), the engine-specific user mapping and the
    checked bind mounts, and the seccomp option in the engine's form."""
    client = client or engine.connect()
    info = engine.engine_info(client)
    if uid is None:
        uid, gid = resolve_user(Path(mounts.work_dir).absolute(), None, gid)
    elif gid is None:
        gid = uid
    extra = engine.user_mapping(info, uid, gid)
    return client, uid, gid, extra, prepare_mounts(mounts, uid, gid), seccomp.security_opt(info)


@contextlib.contextmanager
def _refusal(image: str):
    """An engine refusing to create or start the container (an option it does
    not support, a missing network, a runtime failure) is a one-paragraph
    error, not the SDK's traceback."""
    import docker.errors

    try:
        yield
    except docker.errors.APIError as exc:
        answer = getattr(exc, "explanation", None) or str(exc)
        raise ContainerError(
            f"The container engine refused to create or start the build container from {image}",
            f"it answered: {answer}",
            "Check the engine's own log (journalctl -u docker, or the output of "
            "'podman system service'); 'armvm-oe doctor --only container' checks the engine "
            "setup") from exc


def run_in_container(argv: Sequence[str], mounts: Mounts, *, image: str | None = None,
                     client=None, env: Mapping[str, str] | None = None,
                     on_line: Callable[[str], None] | None = None,
                     uid: int | None = None, gid: int | None = None,
                     workdir: str = WORK_MOUNT, shm_size: str = "2g", network: str = "host",
                     stop_grace: float = 10.0, spec: ImageSpec | None = None,
                     on_start: Callable[[object], None] | None = None,
                     userns_seccomp: bool = True) -> int:
    """Run ``argv`` in the build container and return its exit code.

    ``image``: a tag; default: :func:`ensure_image` for ``spec`` (or the spec
    from the environment), built first if missing. ``on_line`` gets each
    output line (stdout and stderr interleaved, without the newline).
    On KeyboardInterrupt the container is stopped and removed and the
    interrupt re-raised; the container is removed in every case.
    ``userns_seccomp``: use armvm-oe's seccomp profile, which lets bitbake
    create the user namespace it isolates tasks from the network with
    (:mod:`armvm_oe.container.seccomp`); False keeps the engine's default."""
    client, uid, gid, extra, docker_mounts, secopt = _prepare(client, mounts, uid, gid)
    if image is None:
        image = ensure_image(client, spec or ImageSpec.from_env(), on_line=None).tag
    on_line = on_line or _default_line
    name = f"armvm-oe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    started = False
    with _SigtermAsInterrupt():
        try:
            with _refusal(image):
                container = client.containers.create(
                    image, command=list(argv), name=name, detach=True,
                    environment=container_env(mounts, uid, gid, env), mounts=docker_mounts,
                    working_dir=workdir, network_mode=network, shm_size=shm_size, init=True,
                    labels={LABEL: "1", "armvm-oe.pid": str(os.getpid())},
                    security_opt=[secopt] if userns_seccomp else None, **extra)
            if on_start:
                on_start(container)
            with _refusal(image):
                container.start()
            started = True
            buf, seen = b"", b""
            for chunk in container.logs(stream=True, follow=True):
                buf += chunk
                seen = (seen + chunk)[-_TAIL_KEEP:]
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    on_line(line.decode("utf-8", "replace").rstrip("\r"))
            result = container.wait()
            # The engine's follow stream can end before the log driver flushes
            # a last line without newline (seen with init=True): take what is
            # missing from the end of the stored log.
            buf += missing_tail(seen, container.logs(tail=_TAIL_ENTRIES))
            for line in buf.split(b"\n") if buf else []:
                on_line(line.decode("utf-8", "replace").rstrip("\r"))
            return int(result.get("StatusCode", 1))
        except KeyboardInterrupt:
            remove_container(client, name, grace=stop_grace if started else 0)
            raise
        finally:
            remove_container(client, name)


def leftover_containers(client, pid: int | None = None) -> list:
    """Containers started by the runner (of one process, if ``pid``) that still exist."""
    flt = {"label": [LABEL] + ([f"armvm-oe.pid={pid}"] if pid else [])}
    return client.containers.list(all=True, filters=flt)


def interactive_shell(mounts: Mounts, *, image: str, client=None, argv: Sequence[str] = ("bash", "-l"),
                      uid: int | None = None, gid: int | None = None,
                      env: Mapping[str, str] | None = None, shm_size: str = "2g",
                      network: str = "host") -> int:
    """An interactive shell in the container on this terminal (raw TTY
    forwarded over the engine's attach socket). Returns the shell's exit code."""
    import select
    import shutil
    import termios
    import tty

    client, uid, gid, extra, docker_mounts, secopt = _prepare(client, mounts, uid, gid)
    name = f"armvm-oe-shell-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    environment = container_env(mounts, uid, gid, env)
    environment.setdefault("TERM", os.environ.get("TERM", "xterm"))
    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    guard = _SigtermAsInterrupt().__enter__()
    try:
        with _refusal(image):
            container = client.containers.create(
                image, command=list(argv), name=name, detach=True, tty=True, stdin_open=True,
                environment=environment, mounts=docker_mounts, working_dir=WORK_MOUNT,
                network_mode=network, shm_size=shm_size, init=True,
                labels={LABEL: "1", "armvm-oe.pid": str(os.getpid())},
                security_opt=[secopt], **extra)
        sock = client.api.attach_socket(container.id, params={
            "stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        raw = getattr(sock, "_sock", sock)
        container.start()
        cols, rows = shutil.get_terminal_size()
        try:
            container.resize(height=rows, width=cols)
        except Exception:  # noqa: BLE001 - cosmetic
            pass
        tty.setraw(fd)
        inputs = [raw, fd]
        while True:
            ready, _, _ = select.select(inputs, [], [], 0.5)
            if raw in ready:
                data = raw.recv(65536)
                if not data:
                    break           # the shell exited
                os.write(sys.stdout.fileno(), data)
            if fd in ready:
                data = os.read(fd, 65536)
                if data:
                    raw.sendall(data)
                else:
                    inputs = [raw]  # our stdin ended: keep showing output until the shell exits
        termios.tcsetattr(fd, termios.TCSADRAIN, old)
        return int(container.wait().get("StatusCode", 1))
    finally:
        try:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)
        except termios.error:
            pass    # the terminal is gone (SIGHUP)
        remove_container(client, name)
        guard.__exit__(None, None, None)
