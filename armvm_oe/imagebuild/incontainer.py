"""Step 3 in the build container: the kas argv the container runs, the
mounts (project at /repo, work dir at /work, DL_DIR and SSTATE_DIR), and what
a root caller must hand to the work dir's owner (the container build runs as
that user)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from armvm_oe.errors import ProblemFound, UsageError, privileged
from armvm_oe.imagebuild.hostrun import LineSink
from armvm_oe.imagebuild.options import BuildOptions
from armvm_oe.imagebuild.scaleout import ScaleOut

CHECK_DUBIOUS = "checkout.dubious-ownership"
# DL_DIR and SSTATE_DIR of a container build without --dl-dir/--sstate-dir:
# host directories in the work dir (bitbake's own defaults are under TOPDIR;
# these survive 'rm -rf build'), made by the caller so the build user can write
DEFAULT_DL = "downloads"
DEFAULT_SSTATE = "sstate-cache"


def container_path_map(work_dir: Path, project) -> dict:
    """The container paths the build dir's files name (kas writes bblayers.conf
    as /work/build/../../repo/meta-armvm, bitbake saves TMPDIR as
    /work/build/tmp) -> the host directories mounted there, for the doctor."""
    from armvm_oe.container import PROJECT_MOUNT, WORK_MOUNT
    return {WORK_MOUNT: str(work_dir), PROJECT_MOUNT: str(project.top_repo_path)}


def default_cache_dirs(dl_dir: Optional[Path], sstate_dir: Optional[Path], work_dir: Path,
                       owner: Optional[tuple[int, int]]) -> tuple[Path, Path]:
    """(DL_DIR, SSTATE_DIR) on the host, both existing and owned by the build
    user. Never left to the image: its /downloads and /sstate belong to the
    image's own user, not to the caller's uid the build runs as."""
    out = []
    for given, default in ((dl_dir, DEFAULT_DL), (sstate_dir, DEFAULT_SSTATE)):
        p = Path(given).absolute() if given else work_dir / default
        if not p.exists():
            p.mkdir(parents=True)
            hand_over(owner, p)
        out.append(p)
    return out[0], out[1]


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



def chown_for_container(project, results: list) -> None:
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
                f"Hand it over: {privileged(f'chown -R {uid}:{gid} {p}')}",
                check_id=CHECK_DUBIOUS)


def run_container(client, project, chain: str, work_dir: Path, opts: BuildOptions,
                   so: ScaleOut, sink: LineSink, base: dict,
                   mirror_mount: Optional[Path] = None,
                   kas_args: tuple = ("build",)) -> int:
    """``kas <kas_args[0]> <chain> <kas_args[1:]>`` in the container, paths
    rewritten to the mounts; returns kas's exit code."""
    from armvm_oe.container import (PROJECT_MOUNT, SSTATE_MIRROR_MOUNT, ImageSpec, Mounts,
                                    ensure_image, run_in_container)
    top = Path(os.path.normpath(Path(project.top_repo_path).absolute()))
    rel = []
    for part in chain.split(":"):
        p = Path(os.path.normpath(Path(part).absolute()))    # ../my-project/kas/x.yml
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
    argv = ["kas", kas_args[0], ":".join(rel), *kas_args[1:]]
    return run_in_container(kas_argv_trusting_project(argv),
                            Mounts(work_dir=work_dir, project=top, dl_dir=dl, sstate_dir=ss,
                                   ssh_agent=opts.ssh_agent, extra_ro=extra,
                                   # a root caller made and handed over what the build
                                   # writes in it; the work dir keeps its owner
                                   work_dir_writable=os.getuid() != 0),
                            image=img.tag, client=client, env=so.env(), on_line=sink,
                            stop_grace=opts.stop_grace)

