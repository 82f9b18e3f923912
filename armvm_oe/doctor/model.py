"""The doctor's data model: checks, their results, and the context they run in.

Everything here is plain data (stdlib only) so the host group can run under
any Python 3.9+ as any user, e.g. ``runuser -u builder -- python3 -m
armvm_oe.doctor --only host``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

# Worst first. ``fatal``: bitbake/kas would refuse to start or the build cannot
# succeed (the build preflight stops on these). ``error``: the build will fail
# later or build the wrong thing. ``warn``: likely trouble. ``info``: a fact.
SEVERITIES = ("fatal", "error", "warn", "info")
RANK = {s: i for i, s in enumerate(SEVERITIES)}
GROUPS = ("host", "checkout", "build", "kas", "container")

GB = 1 << 30
MB = 1 << 20


@dataclass
class Thresholds:
    """Limits the checks compare against. Defaults follow bitbake's
    ``BB_DISKMON_DIRS`` sample (STOPTASKS 1G/100K, HALT 100M/1K; /tmp 100M/100K
    and 10M/1K) and the Yocto system requirements of the release."""

    disk_stop_bytes: int = 1 * GB
    disk_halt_bytes: int = 100 * MB
    inodes_stop: int = 100_000
    inodes_halt: int = 1_000
    tmp_stop_bytes: int = 100 * MB
    tmp_halt_bytes: int = 10 * MB
    recommended_free_gb: Optional[float] = None   # None: the release's rm_work figure
    min_ram_gb: Optional[float] = None            # None: the release's MIN_RAM
    ram_per_job_gb: float = 1.0                   # RAM per parallel job below which OOM is likely
    long_name_len: int = 200                      # sanity.bbclass's long-filename probe
    network_timeout: float = 3.0                  # seconds per remote probe (--network)
    docker_timeout: float = 2.0


@dataclass
class Context:
    """What to check and where. Every field has a default so
    ``run_checks(Context())`` checks the host and the container engine.

    ``host_root`` is the one injectable path through which host facts that
    cannot be changed on a test machine are read: ``proc/version`` (WSL),
    ``proc/sys/kernel/apparmor_restrict_unprivileged_userns``,
    ``proc/meminfo``, ``proc/self/mountinfo``, ``etc/os-release``,
    ``etc/subuid``/``etc/subgid``, ``bin/sh``, ``tmp`` (noexec) and
    ``dev/shm``."""

    groups: tuple = GROUPS
    kas_config: Any = None            # path (or "a.yml:b.yml") of the kas configuration
    work_dir: Optional[Path] = None   # KAS_WORK_DIR: where repos are checked out
    build_dir: Optional[Path] = None  # KAS_BUILD_DIR / TOPDIR (default <work_dir>/build)
    core_dir: Optional[Path] = None   # oe-core/poky checkout (default: from the kas config)
    release: Optional[str] = None     # scarthgap / wrynose (default: from oe-core, else scarthgap)
    host_root: Path = Path("/")
    env: dict = field(default_factory=lambda: dict(os.environ))
    thresholds: Thresholds = field(default_factory=Thresholds)
    network: bool = False             # probe remotes (git ls-remote) with short timeouts
    jobs: Optional[int] = None        # parallelism; default BB_NUMBER_THREADS or nproc
    only: Optional[set] = None        # run only these check ids
    skip: set = field(default_factory=set)
    # container path -> host path ({"/work": work dir, "/repo": project}): the
    # build dir's files written inside the build container name these paths
    path_map: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict, repr=False)

    def host_path(self, path: str) -> str:
        """``path`` as seen from here: a path under a ``path_map`` prefix
        (after normalising '..', as in kas's '/work/build/../../repo/x') is
        translated to the host directory mounted there."""
        if not self.path_map or not path.startswith("/"):
            return path
        norm = os.path.normpath(path)
        for prefix, host in sorted(self.path_map.items(), key=lambda kv: -len(kv[0])):
            prefix = prefix.rstrip("/")
            if norm == prefix or norm.startswith(prefix + "/"):
                return str(Path(host)) + norm[len(prefix):]
        return path

    def container_path(self, path: str) -> str:
        """The reverse of :meth:`host_path`: where a host directory is seen
        by the build (TOPDIR of a container build is /work/build)."""
        for prefix, host in sorted(self.path_map.items(), key=lambda kv: -len(str(kv[1]))):
            host = str(Path(host))
            if path == host or path.startswith(host.rstrip("/") + "/"):
                return prefix.rstrip("/") + path[len(host):]
        return path

    def root(self, rel: str) -> Path:
        """A host path read through the injectable root."""
        return Path(self.host_root) / rel.lstrip("/")

    def memo(self, key: str, fn: Callable[[], Any]) -> Any:
        if key not in self.cache:
            pending = self.cache.pop("pending:" + key, None)
            self.cache[key] = pending.result() if pending is not None else fn()
        return self.cache[key]

    def prefetch(self, pool, key: str, fn: Callable[[], Any]) -> None:
        """Start computing ``memo(key, fn)`` in ``pool`` (slow subprocesses)."""
        if key not in self.cache and "pending:" + key not in self.cache:
            self.cache["pending:" + key] = pool.submit(fn)


@dataclass
class Problem:
    """What a check's detection returns when it fires."""

    message: str
    fix: Optional[str] = None             # overrides the check's generic fix
    commands: list = field(default_factory=list)  # shell lines for --fix-script
    path: Optional[str] = None
    severity: Optional[str] = None        # overrides the check's severity


@dataclass(frozen=True)
class Check:
    id: str
    group: str
    title: str
    severity: str
    error_text: str          # what bitbake/kas/git/docker would print (searchable)
    fix: str
    detect: Callable[[Context], Any] = field(compare=False, repr=False)
    network: bool = False    # needs --network

    def as_dict(self) -> dict:
        return {"id": self.id, "group": self.group, "title": self.title,
                "severity": self.severity, "error_text": self.error_text, "fix": self.fix,
                "network": self.network}


@dataclass
class Result:
    id: str
    group: str
    title: str
    severity: str
    message: str
    fix: str
    error_text: str
    commands: list = field(default_factory=list)
    path: Optional[str] = None

    @property
    def fatal(self) -> bool:
        return self.severity == "fatal"

    def as_dict(self) -> dict:
        return asdict(self)


def as_problems(value: Any) -> Iterable[Problem]:
    if value is None or value is False:
        return []
    if isinstance(value, (Problem, str)):
        value = [value]
    return [Problem(v) if isinstance(v, str) else v for v in value]
