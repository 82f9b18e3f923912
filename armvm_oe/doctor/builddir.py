"""Build-directory checks: conf/ files that point at nothing or come from
another release, bitbake.lock left by a dead server, a TMPDIR that moved."""

from __future__ import annotations

import errno
import fcntl
import os
import re
from pathlib import Path

from armvm_oe.doctor import facts
from armvm_oe.doctor.model import Context, Problem
from armvm_oe.doctor.registry import check
from armvm_oe.errors import privileged


def _bdir(ctx: Context):
    b = facts.build_dir(ctx)
    return b if b and b.is_dir() else None


def _local_conf(ctx: Context, b: Path) -> dict:
    return ctx.memo("local.conf", lambda: facts.conf_vars(b / "conf" / "local.conf",
                                                          {"TOPDIR": str(b)}))


def _tmpdir(ctx: Context, b: Path) -> Path:
    t = _local_conf(ctx, b).get("TMPDIR")
    if t and "${" not in t and not t.startswith("~"):
        return Path(ctx.host_path(t))
    return b / "tmp"


@check("build.bblayers-missing", "every BBLAYERS entry exists", "fatal",
       "The following layer directories do not exist: ... Please check BBLAYERS in "
       "conf/bblayers.conf",
       "Regenerate conf/bblayers.conf (kas rewrites it on every run) or fix the paths")
def bblayers_missing(ctx: Context):
    b = _bdir(ctx)
    if not b:
        return None
    conf = b / "conf" / "bblayers.conf"
    if not conf.is_file():
        return None
    # TOPDIR as bitbake saw it (/work/build in the container)
    v = facts.conf_vars(conf, {"TOPDIR": ctx.container_path(str(b))})
    layers = v.get("BBLAYERS", "").split()
    missing = [p for p in layers if "${" not in p and not Path(ctx.host_path(p)).is_dir()]
    if not missing:
        return None
    return Problem(f"{conf} names {len(missing)} layer(s) that do not exist: "
                   f"{', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''} (moved "
                   "checkout, or a clone that failed)", path=str(conf),
                   commands=[f"rm {conf}  # kas/armvm-oe regenerate it on the next build"])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock_state(lock: Path):
    """(pid or None, held by someone?)."""
    try:
        text = lock.read_text(errors="replace")
    except OSError:
        return None, False
    m = re.match(r"\s*(\d+)", text)
    pid = int(m.group(1)) if m else None
    held = False
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return pid, False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError as exc:
        held = exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
    finally:
        os.close(fd)
    return pid, held


def _bitbake_lock(ctx: Context):
    """(build dir, bitbake.lock, the pid it names, whether a process holds it),
    or None without a build dir or lock."""
    b = _bdir(ctx)
    if not b:
        return None
    lock = b / "bitbake.lock"
    if not lock.exists():
        return None
    return (b, lock, *_lock_state(lock))


@check("build.stale-lock", "no bitbake.lock left by a dead bitbake", "warn",
       "Previous bitbake instance shutting down?, waiting to retry... / Unable to connect to "
       "bitbake server, or start one",
       "Remove the stale bitbake.lock and bitbake.sock (only because their process is gone)")
def stale_lock(ctx: Context):
    found = _bitbake_lock(ctx)
    if not found:
        return None
    b, lock, pid, held = found
    if held or (pid and _pid_alive(pid)):
        return None
    who = f"pid {pid}, which no longer exists" if pid else "no pid"
    return Problem(f"{lock} names {who} and nobody holds the lock: a bitbake server crashed "
                   "or was killed", path=str(lock),
                   commands=[f"rm -f {lock} {b / 'bitbake.sock'}"])


@check("build.lock-held", "no other bitbake is running in the build directory", "error",
       "Reconnecting to bitbake server... / Previous bitbake instance shutting down?, waiting "
       "to retry... / Processes holding bitbake.lock",
       "Wait for the other build, or stop its server (bitbake -m / kill the pid)")
def lock_held(ctx: Context):
    found = _bitbake_lock(ctx)
    if not found:
        return None
    b, lock, pid, held = found
    if not held:
        return None
    cmd = ""
    if pid:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace").strip()
        except OSError:
            cmd = "not visible from here (another container or pid namespace?)"
    return Problem(f"{lock} is held by pid {pid or '?'} ({cmd or '?'}): a second build in the "
                   "same directory waits for it", path=str(lock),
                   commands=[f"kill {pid}  # only if that build is yours and stuck"] if pid else [])


@check("build.tmpdir-moved", "TMPDIR has not moved since it was created", "fatal",
       "Error, TMPDIR has changed location. You need to either move it back to %s or delete "
       "it and rebuild",
       "Delete TMPDIR (keep downloads and sstate-cache), or build at the old path")
def tmpdir_moved(ctx: Context):
    b = _bdir(ctx)
    if not b:
        return None
    tmp = _tmpdir(ctx, b)
    saved = tmp / "saved_tmpdir"
    try:
        old = saved.read_text().strip()
    except OSError:
        return None
    if not old or os.path.realpath(ctx.host_path(old)) == os.path.realpath(tmp) or old == str(tmp):
        return None
    return Problem(f"{tmp} was created as {old}", path=str(tmp),
                   commands=[f"rm -rf {tmp}"])


@check("build.abi-version", "TMPDIR layout matches the release", "fatal",
       "Error, TMPDIR has changed its layout version number (%s to %s) and you need to either "
       "rebuild, revert or adjust it at your own risk.",
       "Delete TMPDIR (keep downloads and sstate-cache) and build again")
def abi_version(ctx: Context):
    b = _bdir(ctx)
    core = facts.core_dir(ctx)
    if not b or not core:
        return None
    want = facts.conf_vars(core / "meta" / "conf" / "abi_version.conf").get("OELAYOUT_ABI")
    tmp = _tmpdir(ctx, b)
    try:
        have = (tmp / "abi_version").read_text().strip()
    except OSError:
        return None
    if not want or have == want:
        return None
    return Problem(f"{tmp} has layout {have}, this oe-core uses {want} (TMPDIR from another "
                   "release)", path=str(tmp), commands=[f"rm -rf {tmp}"])


def _sanity_conf(ctx: Context) -> dict:
    core = facts.core_dir(ctx)
    return facts.conf_vars(core / "meta" / "conf" / "sanity.conf") if core else {}


@check("build.lconf-version", "bblayers.conf LCONF_VERSION matches oe-core", "fatal",
       "Your version of bblayers.conf has the wrong LCONF_VERSION (has %s, expecting %s).",
       "Regenerate conf/bblayers.conf from the release's template (or let kas write it)")
def lconf_version(ctx: Context):
    b = _bdir(ctx)
    if not b:
        return None
    conf = b / "conf" / "bblayers.conf"
    have = facts.conf_vars(conf, {"TOPDIR": str(b)}).get("LCONF_VERSION")
    want = _sanity_conf(ctx).get("LAYER_CONF_VERSION") or str(facts.release_of(ctx).layer_conf_version)
    if not have or have == want:
        return None
    return Problem(f"{conf} has LCONF_VERSION {have}, {facts.release_of(ctx).name} expects "
                   f"{want} (a build dir from another release)", path=str(conf),
                   commands=[f"mv {conf} {conf}.old"])


@check("build.conf-version", "local.conf CONF_VERSION matches oe-core", "fatal",
       "Your version of local.conf was generated from an older/newer version of "
       "local.conf.sample and there have been updates made to this file.",
       "Merge the release's local.conf.sample changes and update CONF_VERSION (or let kas "
       "write local.conf)")
def conf_version(ctx: Context):
    b = _bdir(ctx)
    if not b:
        return None
    have = _local_conf(ctx, b).get("CONF_VERSION")
    want = _sanity_conf(ctx).get("LOCALCONF_VERSION") or str(facts.release_of(ctx).local_conf_version)
    if not have or have == want:
        return None
    conf = b / "conf" / "local.conf"
    return Problem(f"{conf} has CONF_VERSION {have}, {facts.release_of(ctx).name} expects {want}",
                   path=str(conf), commands=[f"mv {conf} {conf}.old"])


@check("build.path-chars", "build path has no characters autotools/bitbake reject", "fatal",
       "Error, you have a space in your TMPDIR directory path. / Error, you have an invalid "
       "character (+) in your TMPDIR directory path.",
       "Move the build directory to a path without spaces, '+', '@' or '%'")
def path_chars(ctx: Context):
    b = facts.build_dir(ctx)
    if not b:
        return None
    p = os.path.realpath(facts.existing_ancestor(b)) + str(b)[len(str(facts.existing_ancestor(b))):]
    bad = [c for c in (" ", "+", "@", "%") if c in p]
    try:
        p.encode("ascii")
    except UnicodeEncodeError:
        bad.append("non-ASCII")
    if not bad:
        return None
    return Problem(f"{p} contains {', '.join(repr(c) for c in bad)}", path=p)


@check("build.path-length", "TMPDIR path is not too long", "fatal",
       "The length of TMPDIR is longer than 400 (%s), this would cause the build to fail.",
       "Use a shorter build directory path")
def path_length(ctx: Context):
    b = facts.build_dir(ctx)
    if not b:
        return None
    tmp = str((b / "tmp").absolute())
    if len(tmp) <= 400:
        return None
    return Problem(f"TMPDIR would be {len(tmp)} characters long: {tmp[:60]}...", path=tmp)


@check("build.tilde-path", "local.conf paths do not start with ~", "fatal",
       "%s uses ~ but Bitbake will not expand this, please use an absolute path",
       "Write the absolute path (or ${TOPDIR}/...) in conf/local.conf")
def tilde_path(ctx: Context):
    b = _bdir(ctx)
    if not b:
        return None
    v = _local_conf(ctx, b)
    bad = [k for k in ("TMPDIR", "DL_DIR", "SSTATE_DIR") if v.get(k, "").startswith("~")]
    if not bad:
        return None
    return Problem(f"{b / 'conf' / 'local.conf'}: {', '.join(f'{k} = {v[k]}' for k in bad)}",
                   path=str(b / "conf" / "local.conf"))


@check("build.dl-dir", "DL_DIR and SSTATE_DIR are usable directories", "fatal",
       "DL_DIR: %s exists but you do not appear to have write access to it. / %s is a broken "
       "symlink.",
       "Mount or create the shared download/sstate directory, or fix its permissions")
def dl_dir(ctx: Context):
    b = _bdir(ctx)
    lc = _local_conf(ctx, b) if b else {}
    out = []
    for var in ("DL_DIR", "SSTATE_DIR"):
        val = ctx.env.get(var) or lc.get(var)
        if not val or "${" in val or val.startswith("~"):
            continue
        p = Path(val)
        if p.is_symlink() and not p.exists():
            out.append(Problem(f"{var} {p} is a broken symlink (to {os.readlink(p)}): a shared "
                               "cache that is not mounted here?", path=str(p)))
        elif p.exists() and not os.access(p, os.W_OK | os.X_OK):
            out.append(Problem(f"{var} {p} exists but is not writable by uid {os.geteuid()}",
                               path=str(p), commands=[privileged(f"chown -R {os.geteuid()}:{os.getegid()} {p}")]))
        elif p.exists() and not p.is_dir():
            out.append(Problem(f"{var} {p} is not a directory", path=str(p)))
    return out


@check("build.last-failure", "the last build in this directory did not fail", "error",
       "The errors for this build are stored in .../tmp/log/error-report/error_report_*.txt",
       "Fix the first cause named (armvm-oe doctor --log <build dir> shows the evidence)")
def last_failure(ctx: Context):
    """bitbake's error report (report-error.bbclass) of the newest build,
    diagnosed like ``doctor --log``: the first cause of the last failure
    usually fails the next build too. Only a report at least as new as the
    newest console log counts (a later successful build supersedes it)."""
    b = _bdir(ctx)
    if not b:
        return None
    reps = list(b.glob("tmp*/log/error-report/error_report_*.txt"))
    if not reps:
        return None
    newest = max(reps, key=lambda p: p.stat().st_mtime)
    consoles = list(b.glob("tmp*/log/cooker/*/console-latest.log"))
    if consoles and max(p.stat().st_mtime for p in consoles) > newest.stat().st_mtime + 60:
        return None
    from armvm_oe.doctor.logscan import scan_file
    diag = scan_file(b)
    first = diag.first
    if first is None:
        return Problem(f"the last build failed ({newest}) but its report names no task log "
                       "that says why", path=str(newest))
    return Problem(f"the last build failed ({newest.name}): {first.id}: {first.cause}",
                   fix=first.fix, path=str(newest))
