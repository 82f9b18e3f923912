"""Host checks: what oe-core's sanity.bbclass and bitbake refuse, found
before bitbake spends minutes parsing."""

from __future__ import annotations

import ctypes
import fnmatch
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from armvm_oe.doctor import facts
from armvm_oe.doctor.model import GB
from armvm_oe.doctor.model import Context, Problem
from armvm_oe.doctor.registry import check
from armvm_oe.errors import privileged

APPARMOR_SYSCTL = "proc/sys/kernel/apparmor_restrict_unprivileged_userns"
UBUNTU_USERNS_URL = ("https://discourse.ubuntu.com/t/ubuntu-24-04-lts-noble-numbat-release-"
                     "notes/39890#unprivileged-user-namespace-restrictions")


def _apt(ctx: Context, pkgs) -> list[str]:
    pkgs = sorted(set(pkgs))
    if not pkgs:
        return []
    if facts.is_debian_like(ctx):
        return [privileged("apt-get install -y " + " ".join(pkgs))]
    return [f"# install the packages providing: {' '.join(pkgs)}"]


# --------------------------------------------------------------------------
# tools

_VERSION_ARGV = {"host.python-version": ["python3", "--version"],
                 "host.gcc-version": ["gcc", "-dumpfullversion", "-dumpversion"],
                 "host.git-version": ["git", "--version"],
                 "host.tar-version": ["tar", "--version"],
                 "host.make-version": ["make", "--version"]}


def prefetch(ctx: Context, pool, ids: set) -> None:
    """Run the version and locale probes concurrently (see registry._prefetch)."""
    for cid, argv in _VERSION_ARGV.items():
        exe = facts.which(ctx, argv[0]) if cid in ids else None
        if exe:
            ctx.prefetch(pool, "out:" + " ".join(argv), facts.tool_runner(ctx, exe, argv))
    if "host.locale" in ids or "host.lang-utf8" in ids:
        ctx.prefetch(pool, "locale", lambda: _locale_run(ctx))


@check("host.hosttools", "HOSTTOOLS of the release are on PATH", "fatal",
       "The following required tools (as specified by HOSTTOOLS) appear to be unavailable "
       "in PATH, please install them in order to proceed:",
       "Install the missing tools (Debian/Ubuntu package names are given), or use the "
       "armvm-oe build container")
def hosttools(ctx: Context):
    tools, source = facts.hosttools(ctx)
    missing = [t for t in tools if not facts.which(ctx, t)]
    if not missing:
        return None
    pkgs = [facts.DEB_PACKAGE.get(t, t) for t in missing]
    return Problem(f"missing from PATH: {' '.join(missing)} (HOSTTOOLS from {source})",
                   fix=f"Install them (Debian/Ubuntu: apt-get install {' '.join(sorted(set(pkgs)))})",
                   commands=_apt(ctx, pkgs))


def _min_version(ctx: Context, tool: str, argv: list[str], minimum: tuple, what: str,
                 fix_pkg: str):
    out = facts.tool_output(ctx, argv)
    if out is None:
        return None  # absent: host.hosttools reports it
    ver = facts.parse_version(out)
    if ver is None or ver >= minimum:
        return None
    rel = facts.release_of(ctx)
    return Problem(f"{what} {facts.vstr(ver)} found ({facts.which(ctx, tool)}); {rel.name} "
                   f"needs {facts.vstr(minimum)} or later",
                   commands=_apt(ctx, [fix_pkg]) + ["# or: scripts/install-buildtools "
                                                    "(oe-core) and source its environment"])


@check("host.python-version", "python3 is new enough for the release", "fatal",
       "The system requires at least Python 3.8 to run. Please update your Python interpreter.",
       "Install a newer python3, or use oe-core's scripts/install-buildtools")
def python_version(ctx: Context):
    return _min_version(ctx, "python3", ["python3", "--version"],
                        facts.release_of(ctx).python, "python3", "python3")


@check("host.gcc-version", "gcc is new enough for the release", "fatal",
       "Your version of gcc is older than 8.0 and will break builds. Please install a newer "
       "version of gcc (you could use the project's buildtools-extended-tarball or use "
       "scripts/install-buildtools).",
       "Install a newer gcc, or use buildtools-extended (scripts/install-buildtools)")
def gcc_version(ctx: Context):
    out = facts.tool_output(ctx, ["gcc", "-dumpfullversion", "-dumpversion"])
    if out is None:
        return None
    ver = facts.parse_version(out) or (tuple(int(x) for x in out.split()[:1] if x.isdigit()) or None)
    minimum = facts.release_of(ctx).gcc
    if ver and ver < minimum:
        return Problem(f"gcc {facts.vstr(ver)} found; {facts.release_of(ctx).name} needs "
                       f"{facts.vstr(minimum)} or later", commands=_apt(ctx, ["gcc", "g++"]))
    return None


@check("host.git-version", "git is new enough for the release", "fatal",
       "Your version of git is older than 1.8.3.1 and has bugs which will break builds. "
       "Please install a newer version of git.",
       "Install a newer git")
def git_version(ctx: Context):
    return _min_version(ctx, "git", ["git", "--version"], facts.release_of(ctx).git,
                        "git", "git")


@check("host.tar-version", "GNU tar is new enough and supports --xattrs", "fatal",
       "Your version of tar is older than 1.28 and does not have the support for absolute "
       "paths. Please install a newer version of tar.",
       "Install GNU tar 1.28 or later")
def tar_version(ctx: Context):
    out = facts.tool_output(ctx, ["tar", "--version"])
    if out is None:
        return None
    if "GNU tar" not in out:
        return Problem(f"{facts.which(ctx, 'tar')} is not GNU tar ({out.splitlines()[0] if out else '?'}); "
                       "oe-core needs GNU tar with --xattrs", commands=_apt(ctx, ["tar"]))
    return _min_version(ctx, "tar", ["tar", "--version"], facts.release_of(ctx).tar,
                        "GNU tar", "tar")


@check("host.make-version", "make is 4.0 or later", "fatal",
       "Please install a make version of 4.0 or later.",
       "Install GNU make 4.0 or later")
def make_version(ctx: Context):
    return _min_version(ctx, "make", ["make", "--version"], facts.release_of(ctx).make,
                        "make", "make")


# --------------------------------------------------------------------------
# locale, user, environment

_LOCALE_PROBE = ("import locale,sys\n"
                 "try:\n locale.setlocale(locale.LC_CTYPE, ('en_US', 'UTF-8')); ok = 1\n"
                 "except locale.Error:\n ok = 0\n"
                 "print(ok, sys.getfilesystemencoding())\n")


def locale_probe(ctx: Context) -> tuple:
    """What bitbake's check_system_locale sees when started from this
    environment: (en_US.UTF-8 usable, filesystem encoding) or None. Runs the
    python3 on PATH (bitbake's interpreter), else this one."""
    return ctx.memo("locale", lambda: _locale_run(ctx))


def _locale_run(ctx: Context):
    exe = facts.which(ctx, "python3") or sys.executable
    try:
        p = subprocess.run([exe, "-S", "-c", _LOCALE_PROBE], env=ctx.env,
                           capture_output=True, text=True, timeout=20)
        ok, enc = p.stdout.split()
        return ok == "1", enc.lower()
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


@check("host.locale", "the en_US.UTF-8 locale is installed", "fatal",
       "Please make sure locale 'en_US.UTF-8' is available on your system / Your system needs "
       "to support the en_US.UTF-8 locale.",
       "Generate the locale: enable en_US.UTF-8 in /etc/locale.gen and run locale-gen")
def locale_available(ctx: Context):
    probe = locale_probe(ctx)
    if probe is None or probe[0]:
        return None
    cmds = [privileged(c) for c in (
        ["apt-get install -y locales",
         "sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen",
         "locale-gen"] if facts.is_debian_like(ctx)
        else ["localedef -i en_US -f UTF-8 en_US.UTF-8"])]
    where = f" (LOCPATH={ctx.env['LOCPATH']})" if ctx.env.get("LOCPATH") else ""
    return Problem(f"setlocale(LC_CTYPE, en_US.UTF-8) fails on this host{where}",
                   commands=cmds)


@check("host.lang-utf8", "the environment's locale gives Python a UTF-8 filesystem encoding",
       "fatal",
       "Please use a locale setting which supports UTF-8 (such as LANG=en_US.UTF-8). Python "
       "can't change the filesystem locale after loading so we need a UTF-8 when Python "
       "starts or things won't work.",
       "Export a UTF-8 locale before running bitbake: export LANG=en_US.UTF-8")
def lang_utf8(ctx: Context):
    # LANG=C/POSIX are fine on Python >= 3.7: it coerces them to UTF-8 (PEP 538/540).
    # What breaks bitbake is a real non-UTF-8 locale, e.g. LANG=en_US.ISO-8859-1.
    probe = locale_probe(ctx)
    if probe is None or probe[1].replace("-", "") == "utf8":
        return None
    env = ctx.env
    shown = ", ".join(f"{v}={env[v]}" for v in ("LC_ALL", "LC_CTYPE", "LANG") if env.get(v)) \
        or "no locale variables"
    return Problem(f"{shown}: python3 starts with filesystem encoding {probe[1]}, bitbake "
                   "stops at once", commands=["export LANG=en_US.UTF-8"] + (
                       ["unset LC_ALL"] if env.get("LC_ALL") else []))


@check("host.root", "not running as root", "fatal",
       "Do not use Bitbake as root.",
       "Build as an ordinary user, or in the armvm-oe container (armvm-oe build --allow-root "
       "runs bitbake there as an unprivileged user)")
def root_user(ctx: Context):
    if os.geteuid() != 0:
        return None
    import pwd
    try:
        pwd.getpwnam("builder")
        make = []                       # useradd would fail: the user exists
    except KeyError:
        make = ["useradd -m builder"]
    return Problem("running as uid 0: bitbake refuses to start, kas-container refuses "
                   "without KAS_ALLOW_ROOT",
                   commands=make + ["runuser -u builder -- armvm-oe build --host  "
                                    "# in a work dir builder owns; or, in the container: "
                                    "armvm-oe build --allow-root"])


@check("host.umask", "umask allows a+rx and u+rwx", "error",
       "Please use a umask which allows a+rx and u+rwx",
       "Set umask 022 (or 002) in the shell that runs the build")
def umask(ctx: Context):
    cur = os.umask(0)
    os.umask(cur)
    if cur & 0o755 == 0:
        return None
    return Problem(f"umask is {cur:04o}; files the build creates would not be readable",
                   commands=["umask 022"])


@check("host.path-entries", "PATH has no '.' or empty entries", "fatal",
       "PATH contains '.', './' or '' (empty element), which will break the build, please "
       "remove this.",
       "Remove the '.' or empty element from PATH")
def path_entries(ctx: Context):
    path = ctx.env.get("PATH", "")
    parts = path.split(":")
    bad = [p for p in parts if p in ("", ".", "./")]
    if not bad:
        return None
    clean = ":".join(p for p in parts if p not in ("", ".", "./"))
    shown = ", ".join(repr(b) for b in sorted(set(bad)))
    return Problem(f"PATH has {shown}: {path!r}",
                   commands=[f"export PATH={shlex.quote(clean)}"])


# --------------------------------------------------------------------------
# system

@check("host.tmp-noexec", "/tmp is not mounted noexec", "fatal",
       "/tmp shouldn't be mounted with noexec.",
       "Remount /tmp with exec, or point TMPDIR of the container elsewhere")
def tmp_noexec(ctx: Context):
    tmp = ctx.root("tmp")
    try:
        st = os.statvfs(tmp)
    except OSError:
        return None
    if not st.f_flag & os.ST_NOEXEC:
        return None
    return Problem(f"{tmp} is mounted noexec", commands=[privileged("mount -o remount,exec /tmp")])


@check("host.bin-sh", "/bin/sh is dash or bash", "fatal",
       "Error, /bin/sh links to %s, must be dash or bash",
       "Point /bin/sh at dash or bash (Debian: sudo dpkg-reconfigure dash)")
def bin_sh(ctx: Context):
    sh = ctx.root("bin/sh")
    if not sh.is_symlink():
        return None
    target = os.readlink(sh)
    if not os.path.isabs(target):
        target = os.path.realpath(sh)
    name = os.path.basename(target)
    if name in ("dash", "bash"):
        return None
    return Problem(f"/bin/sh links to {target}", commands=[privileged("ln -sf dash /bin/sh")])


def _try_userns() -> tuple[str, str]:
    """Do what bitbake does before every task (bb.utils.disable_network): in a
    forked child, unshare(CLONE_NEWUSER|CLONE_NEWNET) and write the uid map.
    Returns ("ok"|"unshare"|"uidmap", detail)."""
    CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
    libc = ctypes.CDLL(None, use_errno=True)  # dlopen in the parent, not after fork
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns
        code, detail = 0, ""
        try:
            os.close(r)
            uid, gid = os.getuid(), os.getgid()
            if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
                code, detail = 2, os.strerror(ctypes.get_errno())
            else:
                try:
                    with open("/proc/self/uid_map", "w") as f:
                        f.write(f"{uid} {uid} 1")
                    if os.getuid() != uid:
                        code, detail = 3, f"uid became {os.getuid()}"
                except OSError as exc:
                    code, detail = 3, f"writing /proc/self/uid_map: {exc.strerror}"
            del gid
            os.write(w, detail.encode()[:500])
        except BaseException:  # noqa: BLE001 - the child must always exit
            code = 4
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        detail = f.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") \
        else (status >> 8)
    return {0: "ok", 2: "unshare", 3: "uidmap"}.get(code, "error"), detail


def userns(ctx: Context) -> tuple[str, str]:
    return ctx.memo("userns", _try_userns)


def _apparmor_restricts(ctx: Context) -> bool:
    return (facts.read_root(ctx, APPARMOR_SYSCTL) or "").strip() == "1"


_USERNS_FIX_CMDS = [
    "sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0",
    "echo kernel.apparmor_restrict_unprivileged_userns=0 | "
    "sudo tee /etc/sysctl.d/60-bitbake-userns.conf",
]


@check("host.userns", "user namespaces work for bitbake (tried for real)", "fatal",
       "User namespaces are not usable by BitBake, possibly due to AppArmor.",
       "Allow unprivileged user namespaces (Ubuntu 24.04: sysctl "
       "kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile for bitbake), "
       "or build in the armvm-oe container")
def userns_mapping(ctx: Context):
    state, detail = userns(ctx)
    if state != "uidmap":
        return None
    why = (" AppArmor restricts unprivileged user namespaces on this host "
           "(kernel.apparmor_restrict_unprivileged_userns=1), see " + UBUNTU_USERNS_URL + "."
           if _apparmor_restricts(ctx) else "")
    return Problem(f"unshare(CLONE_NEWUSER|CLONE_NEWNET) succeeded but mapping the uid "
                   f"failed ({detail}); every bitbake task does this.{why}",
                   commands=_USERNS_FIX_CMDS if _apparmor_restricts(ctx) else [])


@check("host.userns-unavailable", "user namespaces can be created", "warn",
       "(no error: bitbake silently runs tasks without network isolation)",
       "Allow user namespaces (sysctl user.max_user_namespaces > 0; in a container, "
       "a seccomp profile that permits unshare)")
def userns_unavailable(ctx: Context):
    state, detail = userns(ctx)
    if state != "unshare":
        return None
    return Problem(f"unshare(CLONE_NEWUSER|CLONE_NEWNET) fails ({detail}): bitbake then runs "
                   "tasks with network access, so BB_NO_NETWORK leaks go unnoticed",
                   commands=[privileged("sysctl user.max_user_namespaces=65536")])


@check("host.apparmor-userns", "AppArmor does not restrict unprivileged user namespaces", "warn",
       "User namespaces are not usable by BitBake, possibly due to AppArmor.",
       "sysctl kernel.apparmor_restrict_unprivileged_userns=0 (persist it in /etc/sysctl.d), "
       "or give bitbake an AppArmor profile with 'userns,'")
def apparmor_userns(ctx: Context):
    if not _apparmor_restricts(ctx):
        return None
    if userns(ctx)[0] == "uidmap":
        return None  # host.userns already reports it, with this cause
    return Problem("kernel.apparmor_restrict_unprivileged_userns=1: bitbake run by an "
                   "unconfined non-root user will fail its user-namespace check "
                   "(Ubuntu 23.10+)", commands=_USERNS_FIX_CMDS)


@check("host.wsl1", "not WSL 1", "fatal",
       "OpenEmbedded doesn't work under WSLv1, please upgrade to WSLv2 if you want to run "
       "builds on Windows",
       "Convert the distribution to WSL 2 (wsl --set-version <distro> 2) and build on its "
       "ext4 filesystem, not /mnt/c")
def wsl1(ctx: Context):
    ver = facts.read_root(ctx, "proc/version") or ""
    if "Microsoft" not in ver:  # WSL 1 says "Microsoft", WSL 2 "microsoft-standard-WSL2"
        return None
    return Problem(f"this kernel is WSL 1 ({ver.strip()[:80]})",
                   commands=["# in Windows: wsl --set-version <distro> 2"])


@check("host.dev-shm", "/dev/shm exists and is writable", "fatal",
       "FATAL: /dev/shm does not exist or is not writable",
       "Mount a tmpfs on /dev/shm (containers: docker run --shm-size=1g)")
def dev_shm(ctx: Context):
    shm = ctx.root("dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        try:
            fd, name = tempfile.mkstemp(dir=shm)
            os.close(fd)
            os.unlink(name)
            return None
        except OSError as exc:
            return Problem(f"{shm} cannot be written: {exc.strerror}",
                           commands=[privileged("mount -t tmpfs -o mode=1777 tmpfs /dev/shm")])
    return Problem(f"{shm} is missing or not writable",
                   commands=[privileged("mount -t tmpfs -o mode=1777 tmpfs /dev/shm")])


@check("host.tested-distro", "the host distribution is tested with the release", "warn",
       'Host distribution "%s" has not been validated with this version of the build system; '
       "you may possibly experience unexpected failures. It is recommended that you use a "
       "tested distribution.",
       "Build in the armvm-oe container (a tested distribution), or accept the risk")
def tested_distro(ctx: Context):
    ident = facts.distro_identifier(ctx)
    if not ident:
        return None
    rel = facts.release_of(ctx)
    tested = list(rel.tested_distros)
    core = facts.core_dir(ctx)
    proj = facts.project(ctx)
    # meta-poky: in poky next to meta/, or in meta-yocto (the split layout)
    homes = ([core] if core else []) + [Path(r.path) for r in (proj.repos if proj else [])]
    poky = next((h / "meta-poky" / "conf" / "distro" / "poky.conf" for h in homes
                 if (h / "meta-poky" / "conf" / "distro" / "poky.conf").is_file()), None)
    if poky:
        v = facts.conf_vars(poky)
        if v.get("SANITY_TESTED_DISTROS"):
            tested = [t for t in v["SANITY_TESTED_DISTROS"].replace("\\n", " ").split()]
    if any(fnmatch.fnmatch(ident, pat) for pat in tested):
        return None
    return Problem(f"'{ident}' is not in {rel.name}'s SANITY_TESTED_DISTROS "
                   f"({', '.join(t for t in tested if not t.startswith('poky'))})")


# --------------------------------------------------------------------------
# disk, memory, filesystems

def _diskmon_dirs(ctx: Context) -> list[tuple[str, Path, bool]]:
    """(label, path, is_tmp) in BB_DISKMON_DIRS order: TMPDIR, DL_DIR, SSTATE_DIR, /tmp."""
    out = []
    bdir = facts.build_dir(ctx)
    if bdir:
        out.append(("TMPDIR", bdir / "tmp", False))
    for var in ("DL_DIR", "SSTATE_DIR"):
        val = ctx.env.get(var)
        if val:
            out.append((var, Path(val), False))
        elif bdir:
            out.append((var, bdir / ("downloads" if var == "DL_DIR" else "sstate-cache"), False))
    out.append(("/tmp", Path(ctx.env.get("TMPDIR") or "/tmp"), True))
    seen, uniq = set(), []
    for label, path, is_tmp in out:
        anc = facts.existing_ancestor(path)
        try:
            dev = os.stat(anc).st_dev
        except OSError:
            continue
        if (dev, is_tmp) in seen:
            continue
        seen.add((dev, is_tmp))
        uniq.append((label, anc, is_tmp))
    return uniq


@check("host.disk-space", "free space above bitbake's disk monitor limits", "error",
       'The free space of %s (%s) is running low (%.3fGB left) / No new tasks can be executed '
       'since the disk space monitor action is "STOPTASKS"!',
       "Free space, add INHERIT += \"rm_work\", or move TMPDIR/DL_DIR/SSTATE_DIR to a "
       "bigger filesystem")
def disk_space(ctx: Context):
    t = ctx.thresholds
    problems = []
    for label, path, is_tmp in _diskmon_dirs(ctx):
        st = os.statvfs(path)
        free = st.f_bavail * st.f_frsize
        stop, halt = ((t.tmp_stop_bytes, t.tmp_halt_bytes) if is_tmp
                      else (t.disk_stop_bytes, t.disk_halt_bytes))
        if free < halt:
            problems.append(Problem(
                f"{label} ({path}) has {facts.human(free)} free, below the HALT limit "
                f"{facts.human(halt)}: bitbake would stop immediately "
                f"(\"Immediately halt since the disk space monitor action is \\\"HALT\\\"!\")",
                severity="fatal", path=str(path)))
        elif free < stop:
            problems.append(Problem(
                f"{label} ({path}) has {facts.human(free)} free, below the STOPTASKS "
                f"limit {facts.human(stop)}", path=str(path)))
    return problems


@check("host.disk-inodes", "free inodes above bitbake's disk monitor limits", "error",
       "The free inode of %s (%s) is running low (%.3fK left)",
       "Delete files (old TMPDIRs, sstate) or use a filesystem with more inodes")
def disk_inodes(ctx: Context):
    t = ctx.thresholds
    problems = []
    for label, path, _is_tmp in _diskmon_dirs(ctx):
        st = os.statvfs(path)
        if st.f_files == 0:  # filesystems without an inode limit (btrfs) report 0
            continue
        free = st.f_favail
        if free < t.inodes_halt:
            problems.append(Problem(f"{label} ({path}) has {free} free inodes, below the HALT "
                                    f"limit {t.inodes_halt}", severity="fatal", path=str(path)))
        elif free < t.inodes_stop:
            problems.append(Problem(f"{label} ({path}) has {free} free inodes, below the "
                                    f"STOPTASKS limit {t.inodes_stop}", path=str(path)))
    return problems


@check("host.disk-recommended", "enough free space for a whole build", "warn",
       "No space left on device",
       "A build needs tens of GB: free space or build on a bigger disk (the figure is the "
       "Yocto requirement with rm_work; --min-free-gb changes it)")
def disk_recommended(ctx: Context):
    bdir = facts.build_dir(ctx)
    if not bdir:
        return None
    rel = facts.release_of(ctx)
    need = ctx.thresholds.recommended_free_gb
    if need is None:
        need = rel.rm_work_disk_gb
    anc = facts.existing_ancestor(bdir)
    free = os.statvfs(anc).f_bavail * os.statvfs(anc).f_frsize
    if free >= need * GB:
        return None
    return Problem(f"{anc} has {facts.human(free)} free; a {rel.name} build with rm_work "
                   f"needs about {need:g} GB ({rel.min_disk_gb} GB without rm_work)",
                   path=str(anc))


@check("host.ram-total", "RAM meets the release's minimum", "warn",
       "internal compiler error: Killed (program cc1plus)",
       "Add RAM or swap, or build with fewer parallel jobs")
def ram_total(ctx: Context):
    total = facts.meminfo(ctx).get("MemTotal")
    if not total:
        return None
    rel = facts.release_of(ctx)
    need = ctx.thresholds.min_ram_gb if ctx.thresholds.min_ram_gb is not None else rel.min_ram_gb
    if total >= need * GB * 0.95:  # MemTotal is a little under the installed size
        return None
    return Problem(f"{facts.human(total)} RAM; the Yocto {rel.name} requirement is {need:g} GB")


@check("host.ram-per-job", "RAM per parallel job", "warn",
       "internal compiler error: Killed (program cc1plus)",
       "Lower BB_NUMBER_THREADS / PARALLEL_MAKE (or set BB_PRESSURE_MAX_MEMORY), or add RAM/swap")
def ram_per_job(ctx: Context):
    mem = facts.meminfo(ctx)
    total = mem.get("MemTotal")
    if not total:
        return None
    n = facts.jobs(ctx)
    per = total / max(n, 1)
    if per >= ctx.thresholds.ram_per_job_gb * GB:
        return None
    ok = max(1, int(total // (ctx.thresholds.ram_per_job_gb * GB)))
    return Problem(f"{facts.human(total)} RAM for {n} parallel jobs ({facts.human(per)} each): "
                   "C++ compilers get OOM-killed", commands=[
                       f"export BB_NUMBER_THREADS={ok} PARALLEL_MAKE='-j {ok}'"])


_NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse.sshfs", "virtiofs"}
_CASELESS_FS = {"vfat", "msdos", "exfat", "ntfs", "ntfs3", "fuseblk", "hfs", "hfsplus",
                "fuse.ciopfs", "drvfs", "9p"}


def _build_fs_path(ctx: Context):
    bdir = facts.build_dir(ctx)
    return facts.existing_ancestor(bdir) if bdir else None


@check("host.fs-nfs", "build directory is not on NFS or another network filesystem", "fatal",
       "The TMPDIR: %s can't be located on nfs.",
       "Put the build directory (TMPDIR) on a local filesystem (ext4, xfs, btrfs)")
def fs_nfs(ctx: Context):
    path = _build_fs_path(ctx)
    if not path:
        return None
    m = facts.mount_of(ctx, path)
    if not m or m[1] not in _NETWORK_FS:
        return None
    sev = "fatal" if m[1].startswith("nfs") else "error"
    return Problem(f"{path} is on {m[1]} (mounted at {m[0]}); bitbake's sockets and pseudo's "
                   "database do not work there", severity=sev, path=str(path))


@check("host.fs-case-insensitive", "build directory is on a case-sensitive filesystem", "fatal",
       "The TMPDIR (%s) can't be on a case-insensitive file system.",
       "Use a case-sensitive filesystem (Docker Desktop: a named volume, not a macOS/Windows "
       "bind mount)")
def fs_case(ctx: Context):
    path = _build_fs_path(ctx)
    if not path:
        return None
    m = facts.mount_of(ctx, path)
    if m and m[1] in _CASELESS_FS:
        return Problem(f"{path} is on {m[1]} (mounted at {m[0]}), which ignores case",
                       path=str(path))
    if not os.access(path, os.W_OK):
        return None
    try:
        with tempfile.TemporaryDirectory(prefix=".armvm-doctor-", dir=path) as d:
            Path(d, "caseTEST").touch()
            if Path(d, "CASEtest").exists():
                return Problem(f"{path}: a file created as caseTEST is also found as "
                               "CASEtest", path=str(path))
    except OSError:
        return None
    return None


@check("host.fs-short-names", "build filesystem allows long file names", "fatal",
       "Failed to create a file with a long name in TMPDIR. Please use a filesystem that "
       "does not unreasonably limit filename length.",
       "Build outside eCryptFS-encrypted homes and other filesystems with short name limits")
def fs_short_names(ctx: Context):
    path = _build_fs_path(ctx)
    if not path or not os.access(path, os.W_OK):
        return None
    n = ctx.thresholds.long_name_len
    try:
        with tempfile.TemporaryDirectory(prefix=".armvm-doctor-", dir=path) as d:
            try:
                Path(d, "x" * n).touch()
            except OSError as exc:
                return Problem(f"cannot create a {n}-character file name in {path}: "
                               f"{exc.strerror} (name limit {os.statvfs(path).f_namemax})",
                               path=str(path))
    except OSError:
        return None
    return None
