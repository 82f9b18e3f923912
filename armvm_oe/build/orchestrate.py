"""``armvm-oe build``: preflight doctor -> checkout at the lock -> ``kas build``
(in the build container, or on the host) -> post-build (artifacts, verify,
``build-report.json``, optional AVH package).

:func:`run_build` returns a :class:`BuildOutcome` (the report, the exit code
and the error to show, if any); the CLI plugin only prints it. KeyboardInterrupt
stops kas (SIGINT to its process group, or the container runner's own
cleanup), writes an ``interrupted`` report and is re-raised (exit 130).
"""

from __future__ import annotations

import collections
import datetime as _dt
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from armvm_oe import __version__, ui
from armvm_oe.build import report as rpt
from armvm_oe.build.progress import BuildProgress, short_task
from armvm_oe.build.scaleout import ScaleOut, container_mirror_mount, overlay_path, validate
from armvm_oe.errors import ArmvmError, ProblemFound, UsageError

ARCHES = ("aarch64", "arm")
LOG_DIR = "armvm-oe-logs"
# host checks that still matter when the build runs in the container: they
# are about the filesystem holding the build directory
HOST_FS_CHECKS = {"host.disk-space", "host.disk-inodes", "host.disk-recommended",
                  "host.fs-nfs", "host.fs-case-insensitive", "host.fs-short-names"}
# checks about the host's kas/bitbake toolchain: the container brings its own
CONTAINER_SKIPS = {"kas.installed"}


@dataclass
class BuildOptions:
    config: Optional[str] = None        # kas config(s), ':'-separated
    arch: Optional[str] = None
    work_dir: Optional[Path] = None
    mode: str = "auto"                  # auto | container | host
    dl_dir: Optional[Path] = None
    sstate_dir: Optional[Path] = None
    scaleout: ScaleOut = field(default_factory=ScaleOut)
    mirror_dirs: list = field(default_factory=list)
    force_checkout: bool = False
    skip_checks: set = field(default_factory=set)
    verify: bool = True
    ssh_agent: bool = False
    avh_device: Optional[str] = None
    avh_dtb: Optional[str] = None
    avh_device_defs: list = field(default_factory=list)
    avh_version: Optional[str] = None
    verbose: int = 0
    log_tail: int = 40
    stop_grace: float = 30.0
    say: Callable[[str], None] = field(default=lambda m: print(m, file=sys.stderr))


@dataclass
class BuildOutcome:
    report: dict
    exit_code: int
    error: Optional[ArmvmError] = None
    report_path: Optional[Path] = None


class PreflightFailed(ProblemFound):
    pass


class BuildFailed(ProblemFound):
    pass


# --------------------------------------------------------------------------
# resolving what to build

def project_root(start: Path | None = None) -> Path:
    """The repository holding kas/armvm-*.yml: the current directory when it
    has them, else the armvm-oe source tree."""
    cwd = Path(start or os.getcwd()).absolute()
    for cand in (cwd, *cwd.parents):
        if (cand / "kas" / "armvm-aarch64.yml").is_file():
            return cand
    from armvm_oe.container.image import source_root
    try:
        return source_root()
    except ArmvmError:
        return cwd


def arch_of_machine(machine: str | None) -> str | None:
    if not machine:
        return None
    if machine.endswith(("aarch64", "arm64")):
        return "aarch64"
    if machine.endswith(("-arm", "arm")):
        return "arm"
    return None


def resolve_config(opts: BuildOptions) -> tuple[str, Optional[str]]:
    """(config chain for kas, arch)."""
    if opts.arch and opts.arch not in ARCHES:
        raise UsageError(f"--arch {opts.arch} is not one of {', '.join(ARCHES)}", None, None)
    if opts.config:
        chain = opts.config
    else:
        root = project_root()
        chain = str(root / "kas" / f"armvm-{opts.arch or 'aarch64'}.yml")
    return chain, opts.arch


def pick_mode(mode: str, say) -> tuple[str, object]:
    """('container', client) or ('host', None)."""
    if mode == "host":
        return "host", None
    from armvm_oe.container import connect
    from armvm_oe.container.engine import precheck_socket
    if mode == "container":
        return "container", connect()
    pre = precheck_socket()
    if pre is None:
        try:
            return "container", connect(timeout=10)
        except ArmvmError as err:
            pre = err
    say(f"build: no container engine is usable ({pre.what}); building on the host "
        "(pass --container to insist, see 'armvm-oe doctor --only container')")
    return "host", None


# --------------------------------------------------------------------------
# preflight

def _doctor(ctx_kwargs: dict, say) -> list:
    from armvm_oe.doctor import Context, run_checks
    results = run_checks(Context(**ctx_kwargs))
    for r in results:
        if not r.fatal:
            say(f"doctor: {ui.badge(r.severity, sys.stderr)} {r.id}: {r.message}")
    return results


def _stop_on_fatal(results: list, stage: str, say) -> None:
    fatal = [r for r in results if r.fatal]
    if not fatal:
        return
    for r in fatal:
        say(f"doctor: {ui.badge('fail', sys.stderr)} {r.id}: {r.message}")
        say(f"        fix: {r.fix}")
        for c in r.commands:
            say(f"          $ {c}")
    ids = ", ".join(r.id for r in fatal)
    raise PreflightFailed(
        f"The {stage} found {len(fatal)} fatal problem(s) ({ids}); the build was not started",
        fatal[0].message, fatal[0].fix + ". Run 'armvm-oe doctor' for the full report, or "
        "--skip-check ID to override one check", check_id=fatal[0].id)


def preflight(opts: BuildOptions, chain: str, project, mode: str) -> list:
    from armvm_oe.doctor.registry import catalogue
    env = dict(os.environ)
    if opts.dl_dir:
        env["DL_DIR"] = str(opts.dl_dir)
    if opts.sstate_dir:
        env["SSTATE_DIR"] = str(opts.sstate_dir)
    if mode == "container":
        groups = ("host", "build", "kas", "container")
        only = {c.id for c in catalogue() if c.group in ("build", "kas", "container")} \
            | HOST_FS_CHECKS
        only -= CONTAINER_SKIPS
    else:
        groups, only = ("host", "build", "kas"), None
    results = _doctor(dict(groups=groups, kas_config=chain, work_dir=project.work_dir,
                           build_dir=project.build_dir, env=env, only=only,
                           skip=set(opts.skip_checks)), opts.say)
    _stop_on_fatal(results, "preflight", opts.say)
    return results


# --------------------------------------------------------------------------
# versions

def bitbake_version_from_tree(project) -> Optional[str]:
    for repo in project.repos:
        for rel in ("bitbake/lib/bb/__init__.py", "lib/bb/__init__.py"):
            p = Path(repo.path) / rel
            try:
                m = re.search(r'^__version__\s*=\s*"([^"]+)"', p.read_text(), re.M)
            except OSError:
                continue
            if m:
                return m.group(1)
    return None


def host_kas_version() -> Optional[str]:
    exe = shutil.which("kas")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"kas (\S+)", out.stdout + out.stderr)
    return m.group(1) if m else None


# --------------------------------------------------------------------------
# the running build: log, progress, bar

class LineSink:
    """Every output line goes to the log file, the progress parser, the bar
    (TTY) or a plain progress line per 10 % (non-TTY), and, with -v, stderr."""

    def __init__(self, log_path: Path, verbose: int, tail: int, say):
        self.log = open(log_path, "w", encoding="utf-8", errors="replace",
                        buffering=1)    # line-buffered: 'tail -f' and Ctrl-C see every line
        self.progress = BuildProgress()
        self.tail = collections.deque(maxlen=max(tail, 1))
        self.verbose = verbose
        self.say = say
        self.bar = ui.progress(total=0, unit="task", desc="bitbake")
        self.tty = not self.bar.disable
        self._label = None
        self._last_refresh = 0.0
        self._last_pct = -1

    def __call__(self, line: str) -> None:
        self.log.write(line + "\n")
        self.tail.append(line)
        ev = self.progress.feed(line)
        if self.verbose:
            (self.bar.write if self.tty else self.say)(line)
        if ev is None:
            return
        label, n, total = self.progress.bar_position()
        if self.tty:
            if label != self._label:
                self.bar.reset(total=total or None)
                self.bar.set_description(label)
                self._label = label
            if total:
                self.bar.total = total
            self.bar.n = n
            now = time.monotonic()
            if now - self._last_refresh > 0.2 or ev.kind == "summary":
                self.bar.set_postfix_str(short_task(self.progress.last_task), refresh=False)
                self.bar.refresh()
                self._last_refresh = now
        elif total and not self.verbose:
            pct = 100 * n // total
            if label != self._label or pct // 10 > self._last_pct // 10:
                self.say(f"build: {self.progress.describe()} {short_task(self.progress.last_task)}")
                self._label, self._last_pct = label, pct
        if ev.kind in ("error", "task-failed") and not self.verbose:
            msg = "ERROR: " + ev.text if ev.kind == "error" else ev.text
            (self.bar.write if self.tty else self.say)(msg)

    def close(self) -> None:
        self.bar.close()
        self.log.close()


def run_host(argv: list[str], env: dict, cwd: Path, sink: LineSink, grace: float) -> int:
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            sink(raw.decode("utf-8", "replace").rstrip("\n").rstrip("\r"))
        return proc.wait()
    except KeyboardInterrupt:
        _stop_group(proc, grace)
        raise
    finally:
        if proc.poll() is None:
            _stop_group(proc, 0)


def _stop_group(proc: subprocess.Popen, grace: float) -> None:
    """SIGINT to kas and bitbake (a clean bitbake shutdown), SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # the group may outlive kas (bitbake server): make sure nothing is left
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------
# the whole chain

def run_build(opts: BuildOptions) -> BuildOutcome:
    from armvm_oe.kasconfig import load_config

    say = opts.say
    t0 = time.time()
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    chain, arch = resolve_config(opts)
    work_dir = Path(opts.work_dir or os.environ.get("KAS_WORK_DIR") or os.getcwd()).absolute()
    so = ScaleOut.from_env(os.environ).merged(opts.scaleout)
    mode, client = pick_mode(opts.mode, say)
    # a file:// sstate mirror outside the work dir is mounted read-only
    mirror_mount = container_mirror_mount(so.sstate_mirror, work_dir) \
        if mode == "container" else None
    so = validate(so, mode == "container", work_dir)
    project = load_config(chain, work_dir=work_dir)
    if so.active:
        chain = chain + ":" + str(overlay_path(project.top_repo_path))
        project = load_config(chain, work_dir=work_dir)
    m_arch = arch_of_machine(project.machine)
    if arch and m_arch and arch != m_arch:
        raise UsageError(f"--arch {arch} does not match the configuration's machine "
                         f"{project.machine}", None,
                         f"Drop --arch or pass the {arch} configuration (kas/armvm-{arch}.yml)")
    arch = arch or m_arch
    if opts.avh_device and arch == "arm":
        raise UsageError("--avh needs an arm64 kernel Image, and this is an aarch32 build",
                         "Arm Virtual Hardware boots arm64 Linux firmware packages",
                         "Build with --arch aarch64 for an AVH package")
    if mode == "container":
        project.build_dir = work_dir / "build"   # /work/build inside
    build_dir = project.build_dir
    say(f"build: {project.machine} from {', '.join(str(p) for p in project.config_files)} "
        f"({mode}), work dir {work_dir}")

    # 1. preflight (everything that does not need the checkout)
    preflight(opts, chain, project, mode)
    # 2. checkout at the lock, then the checks that need the trees
    checkout_results = _checkout(opts, project, mode)
    skip = set(opts.skip_checks)
    if mode == "container" and os.getuid() == 0:
        # the checkouts are the build user's, not root's: git in the container
        # accepts them, git here would not (the doctor check asks the host uid)
        check_container_ownership(project, skip)
        skip.add(CHECK_DUBIOUS)
    results = _doctor(dict(groups=("checkout",), kas_config=chain, work_dir=work_dir,
                           build_dir=build_dir, skip=skip), say)
    _stop_on_fatal(results, "checkout check", say)

    # 3. kas build
    owner = container_owner(mode, work_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    log_dir = build_dir / LOG_DIR
    log_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = log_dir / f"build-{stamp}.log"
    latest = log_dir / "build-latest.log"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(log_path.name)
    sink = LineSink(log_path, opts.verbose, opts.log_tail, say)
    hand_over(owner, build_dir, log_dir, log_path, latest)
    base = {"schema": rpt.SCHEMA_VERSION, "started": started, "arch": arch,
            "machine": project.machine, "mode": mode,
            "config": {"files": [str(p) for p in project.config_files],
                       "target": project.target, "distro": project.distro},
            "lock": {"files": [str(p) for p in project.lock_files],
                     "repos": [{"id": r.id, "url": r.url, "commit": r.commit,
                                "head": next((c.commit for c in checkout_results
                                              if c.id == r.id), None),
                                "locked": r.locked} for r in project.repos]},
            "container": None, "scaleout": so.as_dict(), "build_dir": str(build_dir),
            "log": str(log_path), "deploy_dir": None, "artifacts": [], "wic": None,
            "verify": None, "avh": None, "failure": None}
    versions = {"armvm_oe": __version__, "kas": None,
                "bitbake": bitbake_version_from_tree(project)}
    say(f"build: kas build, full log {log_path}")
    rc = None
    status = "failed"
    try:
        if mode == "container":
            rc = _run_container(client, project, chain, work_dir, opts, so, sink, base,
                                mirror_mount)
        else:
            versions["kas"] = host_kas_version()
            argv = [shutil.which("kas") or "kas", "build", chain]
            env = dict(os.environ, KAS_WORK_DIR=str(work_dir), KAS_BUILD_DIR=str(build_dir))
            for k, v in (("DL_DIR", opts.dl_dir), ("SSTATE_DIR", opts.sstate_dir)):
                if v:
                    env[k] = str(Path(v).absolute())
                    Path(v).mkdir(parents=True, exist_ok=True)
            env.update(so.env())
            rc = run_host(argv, env, work_dir, sink, opts.stop_grace)
        status = "succeeded" if rc == 0 else "failed"
    except KeyboardInterrupt:
        status = "interrupted"
        sink.close()
        _finish(base, versions, sink, status, 130, t0, None)
        write_report(base, build_dir, owner)
        raise
    finally:
        sink.close()
    versions["kas"] = sink.progress.kas_version or versions["kas"]
    versions["bitbake"] = sink.progress.bitbake_version or versions["bitbake"]

    if rc != 0:
        err = _diagnose(log_path, sink, rc, base, say)
        _finish(base, versions, sink, "failed", 1, t0, None)
        path = write_report(base, build_dir, owner)
        return BuildOutcome(base, 1, err, path)

    # 4. post-build
    try:
        return _post_build(opts, project, build_dir, base, versions, sink, arch, t0, owner)
    except KeyboardInterrupt:
        _finish(base, versions, sink, "interrupted", 130, t0, None)
        write_report(base, build_dir, owner)
        raise


def _post_build(opts: BuildOptions, project, build_dir: Path, base: dict, versions: dict,
                sink: LineSink, arch: Optional[str], t0: float,
                owner: Optional[tuple[int, int]] = None) -> BuildOutcome:
    say = opts.say
    exit_code, error = 0, None
    deploy = rpt.find_deploy_dir(build_dir, project.machine)
    base["deploy_dir"] = str(deploy) if deploy else None
    artifacts = rpt.collect(deploy) if deploy else []
    base["artifacts"] = [a.as_dict() for a in artifacts]
    target = project.target[0] if project.target else None
    wic = rpt.pick_wic(artifacts, target, project.machine)
    base["wic"] = wic
    if not wic:
        error = BuildFailed("The build succeeded but left no .wic image in "
                            f"{deploy or build_dir}",
                            "the target should deploy <image>-<machine>.rootfs.wic",
                            "Check IMAGE_FSTYPES (meta-armvm sets wic) and the target")
        exit_code = 1
    elif opts.verify:
        say(f"build: verifying {wic}")
        from armvm_oe.build.verifyhook import run_verify
        base["verify"] = run_verify(Path(wic), arch)
        if base["verify"]["status"] == "failed":
            exit_code = 1
            error = ProblemFound(f"The built image {wic} does not pass 'armvm-oe verify'",
                                 "failed requirement(s): "
                                 + ", ".join(base["verify"]["failed"] or ["?"]),
                                 f"Run 'armvm-oe verify {wic}' for the details")
    else:
        base["verify"] = {"status": "skipped"}
    if opts.avh_device and wic and error is None:
        base["avh"] = make_avh(opts, artifacts, wic, build_dir, project, target)
        hand_over(owner, Path(base["avh"]["path"]))
    _finish(base, versions, sink, "succeeded", exit_code, t0, None)
    path = write_report(base, build_dir, owner)
    return BuildOutcome(base, exit_code, error, path)


def container_owner(mode: str, work_dir: Path) -> Optional[tuple[int, int]]:
    """(uid, gid) the host side must hand what it writes in the work dir to:
    a root caller's container build runs as the work dir's owner, and kas must
    be able to write the build dir armvm-oe made (its logs, the report). None
    when the caller is the build user."""
    if mode != "container" or os.getuid() != 0:
        return None
    from armvm_oe.container.runner import resolve_user
    return resolve_user(work_dir)


def hand_over(owner: Optional[tuple[int, int]], *paths: Path) -> None:
    if owner:
        for p in paths:
            os.lchown(p, *owner)


def write_report(base: dict, build_dir: Path, owner: Optional[tuple[int, int]]) -> Path:
    path = rpt.Report(base).write(build_dir)
    hand_over(owner, path)
    return path


def _finish(base: dict, versions: dict, sink: LineSink, status: str, code: int, t0: float,
            _unused) -> None:
    base["status"] = status
    base["exit_code"] = code
    base["versions"] = versions
    base["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    base["seconds"] = round(time.time() - t0, 1)
    base["progress"] = sink.progress.as_dict()


def _checkout(opts: BuildOptions, project, mode: str) -> list:
    from armvm_oe.gitcheckout import Checkout
    results = Checkout(project, mirror_dirs=opts.mirror_dirs, force=opts.force_checkout).run()
    dirty = [r for r in results if r.action == "dirty"]
    if dirty:
        r = dirty[0]
        raise ProblemFound(f"Repo '{r.id}' has local changes and was not moved to its pinned "
                           f"commit {(r.pinned or '?')[:12]}",
                           f"{r.path}: {', '.join(r.dirty_files[:10])}; kas would warn "
                           "'Repo is dirty - no checkout' and build the wrong revision",
                           "Commit or stash them, or pass --force-checkout (named stash)",
                           check_id="checkout.dirty")
    if mode == "container" and os.getuid() == 0:
        _chown_for_container(project, results)
    return results


def _chown_for_container(project, results: list) -> None:
    """A root caller's container build runs as the work dir's owner: hand it
    the trees the checkout just made (git refuses repositories of another
    owner, and kas must update them)."""
    from armvm_oe.container.runner import resolve_user
    from armvm_oe.gitcheckout import LOCKSUFFIX
    uid, gid = resolve_user(project.work_dir)
    for r in results:
        if r.action in ("cloned", "updated"):
            for root, dirs, files in os.walk(r.path):
                for n in dirs + files:
                    os.lchown(os.path.join(root, n), uid, gid)
            os.lchown(r.path, uid, gid)
        # the checkout's flock file next to the repo (kas never takes it)
        lock = Path(r.path).parent / f".{Path(r.path).name}{LOCKSUFFIX}"
        if lock.parent.absolute() == Path(project.work_dir).absolute() and lock.exists() \
                and lock.stat().st_uid == 0:
            os.lchown(lock, uid, gid)


def kas_argv_trusting_project(argv: list[str]) -> list[str]:
    """``argv`` wrapped so git in the container trusts the project mount.

    The build runs as the caller (or, for a root caller, the work dir's
    owner), but the project checkout may belong to someone else (a CI job's
    root-owned clone): git then refuses it ("detected dubious ownership") and
    kas silently takes the kas file's directory as the top repository, so the
    layer paths are wrong. kas runs git with its own HOME and copies only the
    file named by GITCONFIG_FILE into it, hence both steps (pure)."""
    from armvm_oe.container import PROJECT_MOUNT
    script = ('git config --global --add safe.directory "$1" && '
              'GITCONFIG_FILE="$HOME/.gitconfig" && export GITCONFIG_FILE && shift && '
              'exec "$@"')
    return ["sh", "-c", script, "armvm-oe-build", PROJECT_MOUNT, *argv]


CHECK_DUBIOUS = "checkout.dubious-ownership"


def check_container_ownership(project, skip: set) -> None:
    """A root caller's container build runs as the work dir's owner: every
    checked-out repository must belong to that user, or git in the container
    refuses it ("dubious ownership"). The same check id as the doctor's."""
    if CHECK_DUBIOUS in skip:
        return
    from armvm_oe.container.runner import resolve_user
    uid, gid = resolve_user(project.work_dir)
    for r in project.repos:
        p = Path(r.path)
        if r.is_local or not p.exists():
            continue
        owner = p.stat().st_uid
        if owner != uid:
            raise ProblemFound(
                f"Repo '{r.id}' at {p} is owned by uid {owner}, not by the build user (uid "
                f"{uid}, the owner of the work dir {project.work_dir})",
                "the container build runs as the work dir's owner, and git (kas, bitbake's "
                "fetcher) refuses repositories of another owner",
                f"Hand it over: sudo chown -R {uid}:{gid} {p}", check_id=CHECK_DUBIOUS)


def _run_container(client, project, chain: str, work_dir: Path, opts: BuildOptions,
                   so: ScaleOut, sink: LineSink, base: dict,
                   mirror_mount: Optional[Path] = None) -> int:
    from armvm_oe.container import (PROJECT_MOUNT, SSTATE_MIRROR_MOUNT, ImageSpec, Mounts,
                                    ensure_image, run_in_container)
    top = Path(project.top_repo_path)
    rel = []
    for part in chain.split(":"):
        p = Path(part).absolute()
        try:
            rel.append(str(Path(PROJECT_MOUNT) / p.relative_to(top)))
        except ValueError:
            raise UsageError(f"{p} is outside the project {top}", "only the project is "
                             "mounted into the container (at /repo)",
                             "Keep every kas file of the build in one repository") from None
    spec = ImageSpec.from_env()
    opts.say(f"build: container image {spec.tag} (built once per input hash)")
    img = ensure_image(client, spec)
    base["container"] = {"image": img.tag, "image_id": img.image_id}
    dl = Path(opts.dl_dir).absolute() if opts.dl_dir else None
    ss = Path(opts.sstate_dir).absolute() if opts.sstate_dir else None
    extra = [(mirror_mount, SSTATE_MIRROR_MOUNT, "sstate mirror")] if mirror_mount else []
    return run_in_container(kas_argv_trusting_project(["kas", "build", ":".join(rel)]),
                            Mounts(work_dir=work_dir, project=top, dl_dir=dl, sstate_dir=ss,
                                   ssh_agent=opts.ssh_agent, extra_ro=extra),
                            image=img.tag, client=client, env=so.env(), on_line=sink,
                            stop_grace=opts.stop_grace)


def _diagnose(log_path: Path, sink: LineSink, rc: int, base: dict, say) -> ArmvmError:
    from armvm_oe.doctor.logscan import diagnose
    say(f"build: kas exited with {rc}; last {len(sink.tail)} lines of {log_path}:")
    for line in sink.tail:
        say("  | " + line)
    text = log_path.read_text(errors="replace")
    findings = diagnose(text)
    causes = [f for f in findings if not f.cascade] or findings
    if findings:
        say("build: diagnosis (armvm-oe doctor --log):")
        for f in findings[:4]:
            kind = "consequence" if f.cascade else "cause"
            say(f"  {ui.badge(f.severity, sys.stderr)} {f.id} (line {f.line_no}, {kind}): "
                f"{f.cause}")
            say(f"      > {f.line}")
            say(f"      fix: {f.fix}")
    first = causes[0] if causes else None
    base["failure"] = {"kas_exit_code": rc, "last_lines": list(sink.tail),
                       "diagnosis": [f.as_dict() for f in findings[:10]],
                       "first_cause": first.as_dict() if first else None,
                       "failed_tasks": sink.progress.failed_tasks}
    if first:
        return BuildFailed(f"The build failed (kas exit {rc}): {first.title}", first.cause,
                           first.fix + f". Full log: {log_path}", check_id=first.check)
    return BuildFailed(f"The build failed (kas exit {rc})", "no known cause was found in the log",
                       f"Read the full log: {log_path} (or run 'armvm-oe doctor --log "
                       f"{log_path}')")


def make_avh(opts: BuildOptions, artifacts: list, wic: str, build_dir: Path, project,
             target: Optional[str]) -> dict:
    """The AVH package from the deploy dir's kernel Image, one of its DTBs and
    the .wic as the device's storage; checked after writing."""
    from armvm_oe.avh.check import check_package
    from armvm_oe.avh.devices import device_table
    from armvm_oe.avh.pack import pack
    table = device_table(opts.avh_device_defs)
    dev = table.get(opts.avh_device)
    if not dev:
        raise UsageError(f"Unknown AVH device '{opts.avh_device}'",
                         f"known: {', '.join(sorted(table))}", "Add it with --avh-device-def")
    dtbs = [a for a in artifacts if a.kind == "dtb"]
    if opts.avh_dtb:
        pick = [a for a in dtbs if a.name == opts.avh_dtb or Path(a.name).name == opts.avh_dtb]
        dtb = Path(pick[0].path) if pick else Path(opts.avh_dtb)
        if not dtb.is_file():
            raise UsageError(f"--avh-dtb {opts.avh_dtb} is neither a DTB of the deploy dir nor "
                             "a file", f"deployed DTBs: {', '.join(a.name for a in dtbs) or 'none'}",
                             "Pass one of them or a path to a .dtb")
    elif len(dtbs) == 1:
        dtb = Path(dtbs[0].path)
    else:
        names = sorted({Path(a.name).name for a in dtbs})
        raise UsageError(
            "--avh needs one devicetree: " + (f"the build deployed {len(names)} DTBs "
                                              f"({', '.join(names)})" if names else
                                              "the build deployed no DTB"),
            "armvm machines build none by default (the VM firmware provides the FDT); a "
            "derived machine sets KERNEL_DEVICETREE (DTB convention: meta-armvm/README.md)",
            "Pass --avh-dtb NAME (or a path to the board's .dtb)")
    kernels = [a for a in artifacts if a.kind == "kernel"]
    kern = next((a for a in kernels if a.name == "Image"), None) or \
        next((a for a in kernels if a.link_to), None) or (kernels[0] if kernels else None)
    if not kern:
        raise UsageError("--avh found no kernel Image in the deploy dir", None,
                         "Check KERNEL_IMAGETYPE (Image for aarch64)")
    if len(dev.storage) != 1:
        raise UsageError(f"AVH device '{dev.name}' needs several storage files "
                         f"({', '.join(dev.storage)}); the build makes one disk image", None,
                         "Use 'armvm-oe avh pack' with --storage NAME=FILE for each")
    out = build_dir / f"{target or 'image'}-{project.machine}.avh-{dev.name}.zip"
    version = opts.avh_version or time.strftime("%Y.%m.%d")
    res = pack(out, Path(kern.path), dtb, dev, {dev.storage[0]: Path(wic)}, version=version,
               build=f"armvm-oe {target or ''} {project.machine}".replace("  ", " "))
    chk = check_package(out, table)
    opts.say(f"build: AVH package {out} ({dev.name}, {'valid' if chk.ok else 'INVALID'})")
    return {"path": str(out), "device": dev.name, "sha256": res.sha256, "size": res.size,
            "dtb": str(dtb), "kernel": kern.path, "info": res.info, "check_ok": chk.ok,
            "problems": [p.as_dict() for p in chk.problems]}
