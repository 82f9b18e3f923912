"""Read a bitbake / kas / shell log and name the first real cause.

``diagnose(text)`` returns :class:`Finding` objects, the first real cause
first. Lines that are only consequences of an earlier failure (the
"cd: poky: No such file or directory" cascade, "bitbake: command not found",
"Summary: 1 task failed") are marked ``cascade`` and come after the causes;
when a log holds nothing but cascade lines, the first of them is explained
(the cause happened before the log, or was not printed).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Optional

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True)
class Pattern:
    id: str
    title: str
    severity: str          # error / warn
    regex: str
    cause: str             # may use {0}, {1} ... (regex groups) and {line}
    fix: str
    example: str           # a real error text this pattern matches (docs, --list, tests)
    cascade: bool = False
    check: Optional[str] = None   # the doctor check that finds it before a build

    def as_dict(self) -> dict:
        d = asdict(self)
        return d


@dataclass
class Finding:
    id: str
    title: str
    severity: str
    line_no: int           # 1-based
    line: str
    cause: str
    fix: str
    cascade: bool = False
    check: Optional[str] = None

    def as_dict(self) -> dict:
        return asdict(self)


P = Pattern
PATTERNS: tuple[Pattern, ...] = (
    # ---- fetch / checkout
    P("log.git-unreachable", "a git server could not be reached", "error",
      r"fatal: unable to connect to ([^\s:]+)|unable to connect to ([^\s:]+).*errno=Connection "
      r"timed out|fatal: unable to access '([^']+)': (?:Could not resolve host|Failed to connect)",
      "git could not reach {0}: git:// (port 9418) is blocked by a firewall or disabled by the "
      "server (GitHub 2022, git.yoctoproject.org 2026), or the host/proxy is wrong",
      "Use https:// URLs (git config --global url.\"https://\".insteadOf git://; "
      "git.yoctoproject.org needs the /git/ path) and check http(s)_proxy",
      "fatal: unable to connect to git.yoctoproject.org:\ngit.yoctoproject.org[0: "
      "185.8.30.5]: errno=Connection timed out", check="checkout.git-protocol"),
    P("log.git-protocol-disabled", "GitHub refused the git:// protocol", "error",
      r"The unauthenticated git protocol on port 9418 is no longer supported",
      "GitHub turned off unauthenticated git:// in 2022; a SRC_URI or repo URL still uses it",
      "Change the URL to https:// (in a recipe: ;protocol=https)",
      "fatal: remote error:\n  The unauthenticated git protocol on port 9418 is no longer "
      "supported.", check="checkout.git-protocol"),
    P("log.remote-ref-missing", "a branch or tag is missing upstream", "error",
      r"fatal: [Cc]ouldn't find remote ref (\S+)|Branch \"([^\"]+)\" cannot be found in "
      r"repository|Tag \"([^\"]+)\" cannot be found|Unable to find revision (\S+) in branch (\S+)",
      "the ref {0} does not exist in the remote (renamed branch such as master -> main, a typo, "
      "or a release branch that does not exist yet)",
      "Fix the branch/tag in the configuration or SRC_URI (branch=...)",
      "fatal: Couldn't find remote ref refs/heads/release-14.09"),
    P("log.fetcher-failure", "bitbake could not fetch a source", "error",
      r"Fetcher failure for URL: '([^']+)'|Fetcher failure: |Unable to fetch URL from any source",
      "bitbake's fetcher failed for {0}: the server, the network/proxy or the URL is wrong "
      "(the lines above it in the log of do_fetch name the reason)",
      "Check the URL and the network/proxy; with BB_NO_NETWORK, pre-fill DL_DIR or use "
      "PREMIRRORS; for git:// URLs use protocol=https",
      "ERROR: linux-yocto-6.6.111+git-r0 do_fetch: Fetcher failure for URL: "
      "'git://git.yoctoproject.org/linux-yocto.git;name=machine;branch=v6.6/standard/base'. "
      "Unable to fetch URL from any source."),
    P("log.checksum-mismatch", "a download's checksum does not match", "error",
      r"Checksum mismatch!|was expected to have checksum|File: '([^']+)' has md5 checksum",
      "the downloaded file differs from the recipe's SRC_URI checksum (upstream re-released "
      "it, a proxy returned an error page, or a partial download is in DL_DIR)",
      "Delete the file from DL_DIR and fetch again; if upstream changed it, update the "
      "recipe's checksum",
      "ERROR: foo-1.0-r0 do_fetch: Checksum mismatch!"),
    P("log.no-network", "the build was not allowed to use the network", "error",
      r"Network access disabled through BB_NO_NETWORK",
      "a task needed the network but BB_NO_NETWORK (or BB_FETCH_PREMIRRORONLY) forbids it",
      "Pre-fill DL_DIR (bitbake --runall=fetch with network), or allow network for the build",
      "Network access disabled through BB_NO_NETWORK (or set indirectly due to use of "
      "BB_FETCH_PREMIRRORONLY) but access requested with command git ls-remote"),
    P("log.command-not-found", "a setup command is not installed", "error",
      r"(?:^|: )(repo|git|kas|wget|curl|python3?|docker|podman): (?:command )?not found",
      "'{0}' is not on PATH (for 'repo': installed by a sudo'd script into root's ~/bin)",
      "Install it or add its directory to PATH",
      "jenkins-setup/init-and-build.sh: line 37: repo: command not found",
      check="host.hosttools"),
    # ---- the cascade (consequences of an earlier failure)
    P("log.missing-checkout-cascade", "a setup script went on after a failed checkout",
      "error",
      r"cd: (poky|openembedded-core|oe-core|[\w.-]+): No such file or directory",
      "the directory '{0}' was never created: the clone/repo sync before this line failed "
      "(git:// blocked by a firewall or proxy, 'repo' not on PATH, a branch that does not "
      "exist) and the script has no 'set -e', so it went on. Every later 'No such file or "
      "directory' (oe-init-build-env, conf/bblayers.conf, conf/local.conf) and "
      "'bitbake: command not found' is a consequence",
      "Find the first error of the checkout step above this line (or run "
      "'armvm-oe doctor --network' to probe the remotes), fix it, and make the script stop "
      "on errors (set -euo pipefail)",
      "jenkins-setup/init-and-build.sh: line 50: cd: poky: No such file or directory",
      cascade=True, check="checkout.missing-poky-cascade"),
    P("log.init-env-missing", "oe-init-build-env is missing", "error",
      r"oe-init-build-env: (?:No such file or directory|file not found)",
      "oe-init-build-env comes from the poky/oe-core checkout, which is missing",
      "Fix the checkout first (see the first error above)",
      "jenkins-setup/init-and-build.sh: line 53: oe-init-build-env: No such file or directory",
      cascade=True, check="checkout.missing-poky-cascade"),
    P("log.conf-missing", "the build directory's conf/ is missing", "error",
      r"(conf/(?:bblayers|local)\.conf): No such file or directory|sed: can't read "
      r"(conf/\S+): No such file",
      "{0} was never created because sourcing oe-init-build-env failed",
      "Fix the checkout first (see the first error above)",
      "jenkins-setup/functions.sh: line 70: conf/bblayers.conf: No such file or directory",
      cascade=True),
    P("log.bitbake-not-found", "bitbake is not on PATH", "error",
      r"bitbake: (?:command )?not found",
      "bitbake is put on PATH by sourcing oe-init-build-env, which did not happen",
      "Source oe-init-build-env from the poky/oe-core checkout (or let kas do it)",
      "init-and-build.sh: line 60: bitbake: command not found", cascade=True),
    P("log.task-failed", "a bitbake task failed", "error",
      r"ERROR: Task \(([^)]+)\) failed with exit code|Summary: \d+ tasks? failed",
      "the task {0} failed; its own error is earlier in the log",
      "Read the task's log (the path is printed above) for its first error",
      "ERROR: Task (/work/poky/meta/recipes-core/foo/foo_1.0.bb:do_compile) failed with exit "
      "code '1'", cascade=True),
    # ---- host / sanity
    P("log.hosttools", "host tools are missing", "error",
      r"The following required tools \(as specified by HOSTTOOLS\) appear to be unavailable "
      r"in PATH, please install them in order to proceed:\s*(.*)",
      "these HOSTTOOLS are not installed on the build host: {0}",
      "Install them (chrpath, diffstat, lz4 (lz4c), zstd (pzstd), rpcsvc-proto (rpcgen), "
      "file ...), or build in the armvm-oe container",
      "ERROR:  OE-core's config sanity checker detected a potential misconfiguration.\n"
      "The following required tools (as specified by HOSTTOOLS) appear to be unavailable in "
      "PATH, please install them in order to proceed:\n  chrpath", check="host.hosttools"),
    P("log.root", "bitbake was run as root", "error",
      r"Do not use Bitbake as root|Running as root - may break certain recipes",
      "bitbake (and kas-container) refuse to run as uid 0",
      "Build as an ordinary user (useradd -m builder; sudo -iu builder)",
      "ERROR:  OE-core's config sanity checker detected a potential misconfiguration.\n"
      "    Do not use Bitbake as root.", check="host.root"),
    P("log.locale", "the locale is not UTF-8 / en_US.UTF-8 is missing", "error",
      r"Please use a locale setting which supports [Uu][Tt][Ff]-8|Your system needs to support "
      r"the en_US\.UTF-8 locale|Please make sure locale 'en_US\.UTF-8' is available",
      "bitbake needs a UTF-8 locale in the environment and the en_US.UTF-8 locale installed",
      "locale-gen en_US.UTF-8 (Debian: enable it in /etc/locale.gen) and export "
      "LANG=en_US.UTF-8",
      "Please use a locale setting which supports UTF-8 (such as LANG=en_US.UTF-8).\n"
      "Python can't change the filesystem locale after loading so we need a UTF-8 when Python "
      "starts or things won't work.", check="host.lang-utf8"),
    P("log.userns", "user namespaces are blocked", "error",
      r"User namespaces are not usable by BitBake|PermissionError: \[Errno 1\] Operation not "
      r"permitted: '/proc/self/uid_map'",
      "bitbake cannot map its uid in a new user namespace (Ubuntu 24.04 AppArmor: "
      "kernel.apparmor_restrict_unprivileged_userns=1, or a container's seccomp profile)",
      "sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0 (persist it in "
      "/etc/sysctl.d), or an AppArmor profile for bitbake, or build in the armvm-oe container",
      "ERROR:  OE-core's config sanity checker detected a potential misconfiguration.\n"
      "    User namespaces are not usable by BitBake, possibly due to AppArmor.",
      check="host.userns"),
    P("log.dev-shm", "/dev/shm is missing", "error",
      r"/dev/shm does not exist or is not writable",
      "the container or chroot has no writable /dev/shm",
      "Mount a tmpfs on /dev/shm (docker run --shm-size=1g)",
      "FATAL: /dev/shm does not exist or is not writable", check="host.dev-shm"),
    P("log.sanity-misc", "oe-core's sanity checker refused the host", "error",
      r"(PATH contains '\.', '\./' or '' \(empty element\)|Please use a umask which allows|"
      r"/tmp shouldn't be mounted with noexec|/bin/sh links to \S+, must be dash or bash|"
      r"OpenEmbedded doesn't work under WSLv1|can't be located on nfs|can't be on a "
      r"case-insensitive file system|Please install the following missing utilities)",
      "oe-core's sanity check: {0}",
      "Run 'armvm-oe doctor' for the exact cause and its fix",
      "    /tmp shouldn't be mounted with noexec."),
    # ---- disk and memory
    P("log.no-space", "the disk filled up", "error",
      r"No space left on device|Immediately halt since the disk space monitor action is|No new "
      r"tasks can be executed since the disk space monitor action is",
      "a filesystem of the build (TMPDIR, DL_DIR, SSTATE_DIR or /tmp) ran out of space or "
      "inodes",
      "Free space, add INHERIT += \"rm_work\", or move the build to a bigger disk",
      "| cc1: fatal error: error writing to /tmp/ccXyZ.s: No space left on device",
      check="host.disk-space"),
    P("log.disk-low", "disk space is running low", "warn",
      r"The free (?:space|inode) of (\S+) \(([^)]+)\) is running low",
      "{0} ({1}) is below bitbake's BB_DISKMON_DIRS warning limit",
      "Free space before bitbake stops scheduling tasks",
      "WARNING: The free space of /home/u/build/tmp (/dev/sda1) is running low (0.987GB left)",
      check="host.disk-space"),
    P("log.oom-killed", "the compiler was killed (out of memory)", "error",
      r"internal compiler error: Killed \(program (\w+)\)|(?:^|\s)Killed\s+(?:signal|\S*cc1|\S*rustc|"
      r"\S*ld)|exit code 137|signal 9 \[Killed\]|g\+\+: fatal error: Killed signal terminated",
      "the kernel's OOM killer stopped the compiler: too many parallel jobs for the RAM",
      "Lower BB_NUMBER_THREADS and PARALLEL_MAKE (or set BB_PRESSURE_MAX_MEMORY), add swap",
      "| x86_64-poky-linux-g++: internal compiler error: Killed (program cc1plus)",
      check="host.ram-per-job"),
    # ---- layers and recipes
    P("log.layer-incompatible", "a layer is for another release", "error",
      r"Layer (\S+) is not compatible with the core layer which only supports these series: "
      r"([^(]+?) \(layer is compatible with ([^)]*)\)",
      "layer {0} is for '{2}' but the core layer is '{1}' (branches of different releases "
      "mixed)", "Check out the layer's {1} branch",
      "ERROR: Layer armvm is not compatible with the core layer which only supports these "
      "series: scarthgap (layer is compatible with kirkstone)", check="checkout.layerseries"),
    P("log.layer-dirs-missing", "bblayers.conf names missing layers", "error",
      r"The following layer directories do not exist:|Unable to find conf/bblayers\.conf or "
      r"conf/bitbake\.conf|The BBPATH variable is not set",
      "a layer directory (or the build directory itself) is not where the configuration says: "
      "moved checkout, failed clone, or bitbake run outside the build directory",
      "Regenerate conf/bblayers.conf (kas does on every run) and run from the build directory",
      "ERROR: The following layer directories do not exist:\nERROR:    /work/meta-foo\n"
      "ERROR: Please check BBLAYERS in /work/build/conf/bblayers.conf",
      check="build.bblayers-missing"),
    P("log.nothing-provides", "a dependency has no provider", "error",
      r"Nothing R?PROVIDES '([^']+)'",
      "no recipe in the configured layers provides '{0}' (a layer is missing from "
      "bblayers.conf, a layer branch mismatch, or the recipe was skipped for this "
      "MACHINE/DISTRO_FEATURES; the rest of the message says which)",
      "Add the layer that provides it (bitbake-layers show-recipes / layers.openembedded.org) "
      "or fix the skip reason",
      "ERROR: Nothing PROVIDES 'python3-foo' (but /work/meta-armvm/recipes-core/images/"
      "armvm-image.bb DEPENDS on or otherwise requires it). Close matches:"),
    P("log.old-override-syntax", "a layer uses the pre-3.4 override syntax", "error",
      r"contains an operation using the old override syntax",
      "a layer written for Yocto 3.3 or older uses _append/_prepend overrides",
      "Use the layer's branch for this release, or convert it with "
      "scripts/contrib/convert-overrides.py",
      "ERROR: Variable SRC_URI_append contains an operation using the old override syntax. "
      "Please convert this layer/metadata before attempting to use with a newer bitbake."),
    P("log.conf-version", "the build directory is from another release", "error",
      r"has the wrong LCONF_VERSION|local\.conf was generated from an (?:older|newer) version|"
      r"TMPDIR has changed (?:location|its layout version number)",
      "conf/ or tmp/ of this build directory was made by another release or at another path",
      "Regenerate conf/ (kas does) and delete tmp/ (keep downloads and sstate-cache)",
      "Error, TMPDIR has changed location. You need to either move it back to /old/build/tmp "
      "or delete it and rebuild", check="build.tmpdir-moved"),
    P("log.pseudo-abort", "pseudo aborted (files changed outside pseudo)", "error",
      r"abort\(\)ing pseudo client by server request|Pseudo_Abort|pseudo: path mismatch",
      "files under a recipe's WORKDIR were changed outside pseudo (rm -rf or a host tool as "
      "your user, a reused TMPDIR)",
      "bitbake -c clean <recipe> (or delete TMPDIR) and never edit WORKDIR by hand",
      "abort()ing pseudo client by server request. See "
      "https://wiki.yoctoproject.org/wiki/Pseudo_Abort for more details on this."),
    # ---- lock, server
    P("log.lock-held", "another bitbake holds the build directory", "error",
      r"Reconnecting to bitbake server|Previous bitbake instance shutting down\?, waiting to "
      r"retry|Processes holding bitbake\.lock|Unable to connect to bitbake server, or start one",
      "another bitbake server holds bitbake.lock in this build directory (a parallel build, an "
      "IDE plugin, or a stale server)",
      "Wait for it or stop it (bitbake -m); remove bitbake.lock only if its pid is gone; check "
      "bitbake-cookerdaemon.log",
      "NOTE: Reconnecting to bitbake server...\nNOTE: Previous bitbake instance shutting "
      "down?, waiting to retry... (2)", check="build.lock-held"),
    # ---- kas
    P("log.kas-dirty", "kas skipped a dirty repo", "warn",
      r"Repo (\S+) is dirty - no checkout",
      "repo {0} has local changes, so kas did not check out the pinned revision and the build "
      "goes on with whatever is there",
      "Commit/stash the changes, or kas checkout --force-checkout",
      "WARNING - Repo poky is dirty - no checkout", check="checkout.dirty"),
    P("log.kas-version", "the kas config needs a newer kas", "error",
      r"This version of kas is compatible with version (\d+) to (\d+), file has version (\d+)",
      "the configuration uses format version {2}, the installed kas reads {0} to {1}",
      "Install the kas pinned by armvm-oe (pip install -e .)",
      "kas.includehandler.IncludeException: This version of kas is compatible with version 1 "
      "to 19, file has version 23", check="kas.header-version"),
    P("log.kas-invalid", "the kas config is invalid", "error",
      r"Config file validation Error|Configuration file is not valid YAML|Error\(s\) occured "
      r"while validating the config file",
      "the kas configuration does not match kas's schema or is not YAML",
      "Run 'armvm-oe doctor' on the config for the exact key and line",
      "ERROR - Config file validation Error:\n'repo' is a required property",
      check="kas.schema"),
    # ---- containers
    P("log.docker-permission", "no permission on the Docker socket", "error",
      r"permission denied while trying to connect to the Docker daemon socket",
      "the user is not in the group that owns the Docker socket",
      "sudo usermod -aG docker $USER, then log in again (not chmod 666)",
      "Got permission denied while trying to connect to the Docker daemon socket at "
      "unix:///var/run/docker.sock: Post ...: dial unix /var/run/docker.sock: connect: "
      "permission denied", check="container.socket-permission"),
    P("log.docker-unreachable", "the Docker daemon is not running", "error",
      r"Cannot connect to the Docker daemon at|Is the docker daemon running\?|no container "
      r"engine found, need docker or podman",
      "no container engine answers at DOCKER_HOST / /var/run/docker.sock",
      "Start it (sudo systemctl start docker) or set DOCKER_HOST",
      "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker "
      "daemon running?", check="container.engine-unreachable"),
    P("log.bind-mount-owner", "the container cannot write a bind-mounted directory", "error",
      r"The uid:gid for \"([^\"]+)\" is \"0:0\"|\[Errno 13\] Permission denied: '/(?:work|build|"
      r"workdir)[^']*'",
      "a directory bind-mounted into the container is owned by root (often created by the "
      "docker daemon), so the container's build user cannot write it",
      "Create the directories as yourself before the first run, or chown them",
      "PermissionError: [Errno 13] Permission denied: '/work/build'",
      check="container.bind-mount-owner"),
)

# Literal substrings one of which every match of the pattern contains: lines
# without any are never handed to the (slower) regular expressions.
KEYS: dict[str, tuple[str, ...]] = {
    "log.git-unreachable": ("unable to connect to", "unable to access"),
    "log.git-protocol-disabled": ("port 9418",),
    "log.remote-ref-missing": ("ouldn't find remote ref", "cannot be found in",
                               "Unable to find revision"),
    "log.fetcher-failure": ("Fetcher failure", "Unable to fetch URL"),
    "log.checksum-mismatch": ("Checksum mismatch", "expected to have checksum", "md5 checksum"),
    "log.no-network": ("BB_NO_NETWORK",),
    "log.command-not-found": ("not found",),
    "log.missing-checkout-cascade": ("cd: ",),
    "log.init-env-missing": ("oe-init-build-env:",),
    "log.conf-missing": ("conf/",),
    "log.bitbake-not-found": ("bitbake: ",),
    "log.task-failed": ("ERROR: Task (", "task failed", "tasks failed"),
    "log.hosttools": ("as specified by HOSTTOOLS",),
    "log.root": ("as root",),
    "log.locale": ("UTF-8", "utf-8", "en_US.UTF-8"),
    "log.userns": ("User namespaces are not usable", "uid_map"),
    "log.dev-shm": ("/dev/shm",),
    "log.sanity-misc": ("PATH contains", "umask", "noexec", "/bin/sh links", "WSLv1", "on nfs",
                        "case-insensitive", "missing utilities"),
    "log.no-space": ("No space left", "disk space monitor"),
    "log.disk-low": ("is running low",),
    "log.oom-killed": ("Killed", "exit code 137"),
    "log.layer-incompatible": ("is not compatible with the core layer",),
    "log.layer-dirs-missing": ("layer directories do not exist", "Unable to find conf/bblayers",
                               "BBPATH variable is not set"),
    "log.nothing-provides": ("PROVIDES '",),
    "log.old-override-syntax": ("old override syntax",),
    "log.conf-version": ("LCONF_VERSION", "local.conf was generated", "TMPDIR has changed"),
    "log.pseudo-abort": ("pseudo", "Pseudo_Abort"),
    "log.lock-held": ("bitbake server", "bitbake instance", "bitbake.lock"),
    "log.kas-dirty": ("is dirty - no checkout",),
    "log.kas-version": ("This version of kas is compatible",),
    "log.kas-invalid": ("Config file validation Error", "not valid YAML",
                        "while validating the config"),
    "log.docker-permission": ("permission denied while trying to connect to the Docker",),
    "log.docker-unreachable": ("Cannot connect to the Docker daemon", "docker daemon running",
                               "no container engine found"),
    "log.bind-mount-owner": ("The uid:gid for", "[Errno 13] Permission denied"),
}
_COMPILED = [(p, re.compile(p.regex), KEYS[p.id]) for p in PATTERNS]
_GENERIC = re.compile(r"^[ \t*]*(?:ERROR|FATAL|fatal|error|Error)\s*:|^E: ")


def _format(p: Pattern, m: re.Match, line: str) -> str:
    groups = [g for g in m.groups() if g is not None] if m.groups() else []
    args = groups + ["?"] * 5
    try:
        return p.cause.format(*args, line=line.strip())
    except (IndexError, KeyError):
        return p.cause


def _candidates(text: str, starts: list[int], keys: tuple[str, ...]) -> list[int]:
    """0-based numbers of the lines holding one of ``keys`` (and of the line
    before each, for messages wrapped over a line break)."""
    import bisect
    out = set()
    for key in keys:
        pos = text.find(key)
        while pos >= 0:
            n = bisect.bisect_right(starts, pos) - 1
            out.add(n)
            if n:
                out.add(n - 1)
            nxt = text.find("\n", pos)
            if nxt < 0:
                break
            pos = text.find(key, nxt)
    return sorted(out)


def diagnose(text: str) -> list[Finding]:
    """Known failures in ``text``, the first real cause first.

    One finding per pattern (its first occurrence). Real causes come in log
    order, then the cascade symptoms. A message wrapped over two lines (mail,
    CI consoles) is also recognised. When no pattern matches, the first
    ``ERROR:``/``fatal:`` line is returned as ``log.first-error``.

    Only lines holding a pattern's literal key are matched against it, so a
    200,000-line bitbake log takes well under a second."""
    text = _ANSI.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = text.split("\n")
    starts = [0]
    for ln in lines[:-1]:
        starts.append(starts[-1] + len(ln) + 1)
    found: list[Finding] = []
    for p, rx, keys in _COMPILED:
        for n in _candidates(text, starts, keys):
            line = lines[n]
            m = rx.search(line)
            if m is None and n + 1 < len(lines) and lines[n + 1].strip():
                joined = line.rstrip() + " " + lines[n + 1].strip()
                m = rx.search(joined)
                if m is not None and m.start() >= len(line.rstrip()):
                    m = None  # all on the next line: found there
            if m is None:
                continue
            cause = _format(p, m, line)
            if p.id == "log.hosttools" and not (m.group(1) or "").strip():
                cause = p.cause.format(lines[n + 1].strip() if n + 1 < len(lines) else "?")
            found.append(Finding(p.id, p.title, p.severity, n + 1, line.strip(), cause, p.fix,
                                 p.cascade, p.check))
            break
    causes = sorted((f for f in found if not f.cascade), key=lambda f: f.line_no)
    cascade = sorted((f for f in found if f.cascade), key=lambda f: f.line_no)
    if not causes:
        for n, line in enumerate(lines, 1):
            if _GENERIC.search(line):
                if not cascade or n < cascade[0].line_no:
                    causes.append(Finding(
                        "log.first-error", "the first error in the log", "error", n,
                        line.strip(), "no known failure text matched; this is the first error "
                        "line, the ones after it are likely consequences",
                        "Read the lines just above it", False, None))
                break
    return causes + cascade


def diagnose_file(path) -> list[Finding]:
    with open(path, "rb") as f:
        return diagnose(f.read().decode("utf-8", errors="replace"))
