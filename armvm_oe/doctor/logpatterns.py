"""The failure patterns ``doctor --log`` knows, as data.

Each :class:`Pattern` names a *family* (the finding id users see, e.g.
``log.checksum-mismatch``); a family may have several variants (one pattern
each, ``<family>.<variant>``) when the same failure prints differently or
needs different advice (git:// vs https).

**Tie rule.** When several patterns match the same line (or block), the one
with the highest ``tier`` wins; within a tier the one whose match covers
more characters wins. Tiers say how much a pattern knows:

* 3 - names the root cause (a checksum mismatch, the OOM killer, AppArmor);
* 2 - names the failing step but not why (a fetch failed, a parse error);
* 1 - a symptom that follows from an earlier cause (a task failed).

So ``Fetcher failure for URL: '...'. Checksum mismatch!`` is a checksum
mismatch (tier 3), not a network problem (tier 2). ``tests/doctor`` checks
that no two patterns tie (same tier, same match length) on any example or
real log.

Templates (``cause``/``fix``) use named groups and the fields a pattern's
``fields`` function adds; every name a template uses has a value (groups
that did not take part fall back to the pattern's ``defaults``), so a
report never shows ``{1}`` or ``?``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Optional


@dataclass(frozen=True)
class Pattern:
    id: str
    title: str
    severity: str           # error / warn
    tier: int               # 3 cause, 2 failing step, 1 symptom (see the tie rule)
    regex: str
    cause: str              # template: {group} / {field}
    fix: str                # template
    example: str            # a real error text this pattern matches
    keys: tuple             # literal substrings one of which every match contains
    family: str = ""        # the finding id (default: the id)
    cascade: bool = False   # a consequence of an earlier failure
    check: Optional[str] = None    # the doctor check that finds it before a build
    phase: Optional[str] = None    # where it happens when the log has no markers
    defaults: dict = field(default_factory=dict, compare=False, hash=False)
    fields: Optional[Callable] = field(default=None, compare=False, hash=False, repr=False)

    @property
    def fid(self) -> str:
        return self.family or self.id

    def as_dict(self) -> dict:
        return {"id": self.id, "family": self.fid, "title": self.title,
                "severity": self.severity, "tier": self.tier, "regex": self.regex,
                "cause": self.cause, "fix": self.fix, "example": self.example,
                "cascade": self.cascade, "check": self.check, "phase": self.phase}


# ---- helpers that turn match groups into template fields

def _scheme_advice(url: str) -> dict:
    """Advice that fits the URL's transport: git:// uses port 9418 and ignores
    http(s)_proxy; https goes through the proxy and fails on TLS/timeouts."""
    u = url or ""
    if u.startswith("git://") and "protocol=https" not in u and "protocol=http" not in u:
        host = u[6:].split("/", 1)[0]
        return {"transport": f"git:// (port 9418, which ignores http(s)_proxy) to {host}",
                "net_fix": "use https: in a recipe add ;protocol=https to the SRC_URI, or "
                           "git config --global url.\"https://\".insteadOf git:// "
                           "(git.yoctoproject.org needs the /git/ path); GitHub and "
                           "git.yoctoproject.org no longer serve git://"}
    if u.startswith(("ssh://", "git@")):
        return {"transport": "ssh", "net_fix": "check the SSH key/agent (kas-container "
                "--ssh-dir / SSH_AUTH_SOCK) and that the host is reachable on port 22"}
    if u.startswith(("http://", "https://")) or "protocol=https" in u:
        host = re.sub(r"^\w+://", "", u).split("/", 1)[0]
        return {"transport": f"https to {host}",
                "net_fix": "check the proxy (https_proxy/no_proxy must reach bitbake: kas "
                           "passes them, plain docker run needs -e) and retry; timeouts and "
                           "TLS errors are the network or the proxy, not the URL"}
    return {"transport": "the network", "net_fix": "check the URL, the network and the "
            "proxy (http(s)_proxy)"}


def _f_fetch(g: dict, ctx) -> dict:
    out = _scheme_advice(g.get("url") or "")
    reason = ctx.nearby_error() if ctx else None
    out["reason"] = f"; the fetcher said: {reason}" if reason else ""
    return out


def _f_ref(g: dict, ctx) -> dict:
    br = g.get("branch")
    ref = g.get("rev") or g.get("ref") or g.get("kref") or g.get("ktag") or "the ref"
    if br is not None and br.strip() == "":
        hint = ("the recipe says nobranch=1 and the commit is gone from every branch "
                "(upstream rewrote history)")
    elif br in ("master", "main"):
        other = "main" if br == "master" else "master"
        hint = (f"the branch '{br}' no longer contains it: upstream renamed '{br}' to "
                f"'{other}' or rewrote history; set branch={other} in SRC_URI if so")
    elif br:
        hint = f"the branch '{br}' no longer contains it (renamed, rebased or deleted)"
    else:
        hint = "a branch renamed (master -> main), a typo, or a release branch that " \
               "does not exist yet"
    return {"what": ref if not br else f"revision {ref} in branch '{br}'", "hint": hint}


def _f_qa(g: dict, ctx) -> dict:
    check = g.get("check") or (ctx.forward(r"\[([a-z0-9-]+)\]\s*$", 8) if ctx else None)
    recipe = g.get("pkg") or g.get("from")
    if not recipe and ctx is not None:
        m = re.search(r" from (\S+) was ", ctx.model.lines[ctx.idx].text)
        recipe = m.group(1) if m else None
    if not recipe and g.get("recipe"):
        # PF (pn-pv-pr) -> pn
        recipe = re.sub(r"-\d[\w.+~]*(?:-[\w.+~]+)*?-r\d+(?:\.\d+)?$", "", g["recipe"])
    return {"check_label": f"[{check}]" if check else "that the log does not name",
            "recipe_label": f"recipe {recipe}" if recipe else "the recipe",
            "skip": (f'INSANE_SKIP:${{PN}} += "{check}"' if check else
                     "INSANE_SKIP for that check")}


def _f_parse(g: dict, ctx) -> dict:
    msg = g.get("msg") or ""
    where = g.get("file") or g.get("where") or "the metadata"
    m = re.search(r"Could not inherit file classes/(\S+)\.bbclass", msg)
    if m:
        cls = m.group(1)
        what = (f"{where} inherits class '{cls}', which no configured layer provides: "
                "the layer that has it is missing from bblayers.conf, or the class was "
                "removed/renamed in this release (a layer of another release)")
        fix = (f"Add the layer providing classes/{cls}.bbclass (bitbake-layers "
               "show-layers; layers.openembedded.org), or check out the layer branch that "
               "matches the core's release")
        return {"what": what, "parse_fix": fix}
    m = re.search(r"Could not include required file (\S+)", msg)
    if m:
        return {"what": f"{where} requires {m.group(1)}, which no layer provides (a "
                        "missing layer, or one of another release)",
                "parse_fix": f"Add the layer that provides {m.group(1)}, or match the "
                             "layer branches to the core's release"}
    return {"what": f"bitbake cannot parse {where}: {msg.strip() or 'syntax error'}",
            "parse_fix": f"Fix the line in {where} (or use the layer branch that matches "
                         "this bitbake)"}


P = Pattern
PATTERNS: tuple = (
    # ---------------------------------------------------------------- fetch / checkout
    P("log.git-protocol-disabled", "GitHub refused the git:// protocol", "error", 3,
      r"The unauthenticated git protocol on port 9418 is no longer supported",
      "GitHub turned off unauthenticated git:// (port 9418) in 2022; a SRC_URI or repo URL "
      "still uses it", "Change the URL to https:// (in a recipe: ;protocol=https)",
      "fatal: remote error:\n  The unauthenticated git protocol on port 9418 is no longer "
      "supported.", ("port 9418",), check="checkout.git-protocol", phase="setup"),
    P("log.git-unreachable.git", "a git server could not be reached over git://", "error", 3,
      r"fatal: unable to connect to (?P<host>[^\s:]+)",
      "git could not connect to {host} over the git:// protocol (port 9418): a firewall "
      "blocks it, or the server no longer serves git:// (GitHub since 2022, "
      "git.yoctoproject.org since 2026); git:// ignores http(s)_proxy",
      "Use https: git config --global url.\"https://\".insteadOf git:// (git.yoctoproject."
      "org needs the /git/ path); in recipes add ;protocol=https",
      "fatal: unable to connect to git.yoctoproject.org:\ngit.yoctoproject.org[0: "
      "185.8.30.5]: errno=Connection timed out", ("unable to connect to",),
      family="log.git-unreachable", check="checkout.git-protocol", phase="setup"),
    P("log.git-unreachable.https", "a git server could not be reached over https", "error", 3,
      r"(?:unable to access|无法访问) '(?P<url>[^']+)'\s*[:：]\s*(?P<reason>.+)",
      "git could not reach {url} over https: {reason} (DNS, proxy, TLS interception or a "
      "timeout; port 9418 is not involved)",
      "Check the proxy (https_proxy/no_proxy, exported to the build: kas passes them, plain "
      "docker run needs -e) and DNS, then retry; behind TLS interception set "
      "GIT_SSL_CAINFO to the proxy's CA",
      "fatal: unable to access 'https://git.yoctoproject.org/poky/': Could not resolve host: "
      "git.yoctoproject.org", ("unable to access", "无法访问"),
      family="log.git-unreachable", check="checkout.proxy-passthrough", phase="setup"),
    P("log.git-unreachable.rpc", "an https git transfer broke", "error", 3,
      r"error: RPC failed; (?P<reason>.+)",
      "the https transfer from the git server failed: {reason} (a server or proxy error, or "
      "a connection dropped mid-transfer)",
      "Retry; if it repeats, check the proxy (https_proxy) and the server's status; a big "
      "clone through a proxy may need git config http.postBuffer / a mirror",
      "error: RPC failed; HTTP 502 curl 22 The requested URL returned error: 502",
      ("RPC failed",), family="log.git-unreachable", phase="setup"),
    P("log.remote-ref-missing", "a branch, tag or revision is missing upstream", "error", 3,
      r"Unable to find revision (?P<rev>\S+) in branch (?P<branch>\S*) even from upstream|"
      r"fatal: [Cc]ouldn't find remote ref (?P<ref>\S+)|Branch \"(?P<kref>[^\"]+)\" cannot "
      r"be found in repository|Tag \"(?P<ktag>[^\"]+)\" cannot be found",
      "the remote has no {what}: {hint}",
      "Fix the branch/tag/SRCREV in the configuration or recipe (SRC_URI branch=..., SRCREV), "
      "or use the layer revision that matches the upstream",
      "ERROR: glog-0.3.5-r0 do_fetch: Fetcher failure: Unable to find revision a6a166db06 in "
      "branch master even from upstream",
      ("Unable to find revision", "ouldn't find remote ref", "cannot be found in"),
      fields=_f_ref, phase="build"),
    P("log.checksum-mismatch", "a download's checksum does not match", "error", 3,
      r"Fetcher failure for URL: '(?P<url>[^']+)'\. Checksum mismatch!|Checksum mismatch!|"
      r"Checksum failure (?:fetching|encountered with download of) (?P<url2>\S+)|"
      r"ChecksumError\(|Checksum mismatch for local file (?P<file>\S+)|"
      r"was expected to have checksum",
      "the downloaded {what} differs from the recipe's SRC_URI checksum: upstream "
      "re-released the file, a proxy or captive portal returned another page, or a partial "
      "download is in DL_DIR",
      "Delete the file from DL_DIR and fetch again (bitbake -c cleanall <recipe> && bitbake "
      "<recipe> -c fetch); if upstream changed it on purpose, update SRC_URI[sha256sum]",
      "ERROR: foo-1.0-r0 do_fetch: Fetcher failure for URL: 'https://example.org/foo-1.0.tar"
      ".gz'. Checksum mismatch!", ("Checksum mismatch", "Checksum failure", "ChecksumError",
                                    "expected to have checksum"),
      defaults={"what": "file"}, phase="build",
      fields=lambda g, c: {"what": g.get("url") or g.get("url2") or g.get("file") or
                           "file"}),
    P("log.connectivity", "bitbake's network check failed", "error", 3,
      r"Fetcher failure for URL: '(?P<url>[^']+)'\. URL doesn't work|Please ensure your "
      r"host's network is configured correctly",
      "the sanity checker could not fetch {url} (CONNECTIVITY_CHECK_URIS) over "
      "{transport}: no network, a proxy not passed to bitbake, or the URL is blocked",
      "{net_fix}; or set BB_NO_NETWORK = \"1\" with a pre-filled DL_DIR",
      "Fetcher failure for URL: 'https://yoctoproject.org/connectivity.html'. URL doesn't "
      "work.", ("URL doesn't work", "network is configured correctly"),
      defaults={"url": "the connectivity URL"}, phase="parse",
      fields=lambda g, c: _scheme_advice(g.get("url") or "https://")),
    P("log.fetcher-failure", "bitbake could not fetch a source", "error", 2,
      r"Fetcher failure for URL: '(?P<url>[^']+)'|Fetcher failure: (?P<detail>.+)|"
      r"Unable to fetch URL from any source|Bitbake Fetcher Error: (?P<detail2>.+)",
      "bitbake's fetcher failed for {url} over {transport}{reason}",
      "{net_fix}", "ERROR: linux-yocto-6.6.111+git-r0 do_fetch: Fetcher failure for URL: "
      "'git://git.yoctoproject.org/linux-yocto.git;name=machine;branch=v6.6/standard/base'. "
      "Unable to fetch URL from any source.",
      ("Fetcher failure", "Unable to fetch URL", "Fetcher Error"),
      defaults={"url": "a source"}, fields=_f_fetch, phase="build"),
    P("log.no-network", "the build was not allowed to use the network", "error", 3,
      r"Network access disabled through BB_NO_NETWORK",
      "a task needed the network but BB_NO_NETWORK (or BB_FETCH_PREMIRRORONLY) forbids it",
      "Pre-fill DL_DIR (bitbake --runall=fetch with network), or allow network for the build",
      "Network access disabled through BB_NO_NETWORK (or set indirectly due to use of "
      "BB_FETCH_PREMIRRORONLY) but access requested with command git ls-remote",
      ("BB_NO_NETWORK",), phase="build"),
    P("log.command-not-found", "a command is not installed", "error", 3,
      r"(?:^|: )(?P<cmd>repo|git|kas|wget|curl|python3?|docker|podman): (?:command )?not "
      r"found|\[Errno 2\] No such file or directory: '(?P<cmd2>git|hg|bitbake|repo|wget)'",
      "'{cmd}' is not on PATH (for 'repo': installed by a sudo'd script into root's ~/bin)",
      "Install {cmd} or add its directory to PATH",
      "jenkins-setup/init-and-build.sh: line 37: repo: command not found",
      ("not found", "No such file or directory: '"), check="host.hosttools", phase="setup",
      fields=lambda g, c: {"cmd": g.get("cmd") or g.get("cmd2")}),
    # ---------------------------------------------------------------- the cascade
    P("log.missing-checkout-cascade", "a setup script went on after a failed checkout",
      "error", 1, r"cd: (?P<dir>poky|openembedded-core|oe-core|[\w.-]+): No such file or "
      r"directory",
      "the directory '{dir}' was never created: the clone/repo sync before this line failed "
      "(git:// blocked by a firewall or proxy, 'repo' not on PATH, a branch that does not "
      "exist) and the script has no 'set -e', so it went on. Every later 'No such file or "
      "directory' (oe-init-build-env, conf/bblayers.conf, conf/local.conf) and "
      "'bitbake: command not found' is a consequence",
      "Find the first error of the checkout step above this line (or run "
      "'armvm-oe doctor --network' to probe the remotes), fix it, and make the script stop "
      "on errors (set -euo pipefail)",
      "jenkins-setup/init-and-build.sh: line 50: cd: poky: No such file or directory",
      ("cd: ",), cascade=True, check="checkout.missing-poky-cascade", phase="setup"),
    P("log.init-env-missing", "oe-init-build-env is missing", "error", 1,
      r"oe-init-build-env: (?:No such file or directory|file not found)",
      "oe-init-build-env comes from the poky/oe-core checkout, which is missing",
      "Fix the checkout first (see the first error above)",
      "jenkins-setup/init-and-build.sh: line 53: oe-init-build-env: No such file or directory",
      ("oe-init-build-env:",), cascade=True, check="checkout.missing-poky-cascade",
      phase="setup"),
    P("log.conf-missing", "the build directory's conf/ is missing", "error", 1,
      r"(?P<conf>conf/(?:bblayers|local)\.conf): No such file or directory|sed: can't read "
      r"(?P<conf2>conf/\S+): No such file",
      "{conf} was never created because sourcing oe-init-build-env failed",
      "Fix the checkout first (see the first error above)",
      "jenkins-setup/functions.sh: line 70: conf/bblayers.conf: No such file or directory",
      ("conf/",), cascade=True, phase="setup",
      fields=lambda g, c: {"conf": g.get("conf") or g.get("conf2")}),
    P("log.bitbake-not-found", "bitbake is not on PATH", "error", 1,
      r"bitbake: (?:command )?not found",
      "bitbake is put on PATH by sourcing oe-init-build-env, which did not happen",
      "Source oe-init-build-env from the poky/oe-core checkout (or let kas do it)",
      "init-and-build.sh: line 60: bitbake: command not found", ("bitbake: ",),
      cascade=True, phase="setup"),
    P("log.task-failed", "a bitbake task failed", "error", 1,
      r"Task \((?P<task>[^)]+)\) failed with exit code '(?P<code>\d+)'|Task \d+ \((?P<task2>"
      r"[^)]+)\) failed with exit code '(?P<code2>\d+)'|Summary: \d+ tasks? failed",
      "the task {task} failed (exit code {code}); its own error is above this line or in "
      "its log", "Read the task's log (the 'Logfile of failure' path) for its first error",
      "ERROR: Task (/work/poky/meta/recipes-core/foo/foo_1.0.bb:do_compile) failed with exit "
      "code '1'", ("Task (", "task failed", "tasks failed", ") failed with exit code"),
      cascade=True, phase="build", defaults={"task": "named in the summary", "code": "1"},
      fields=lambda g, c: {"task": g.get("task") or g.get("task2") or "named in the summary",
                           "code": g.get("code") or g.get("code2") or "1"}),
    P("log.no-buildable-provider", "a build target cannot be built", "error", 1,
      r"Required build target '(?P<target>[^']+)' has no buildable providers",
      "'{target}' cannot be built because one of its dependencies has no provider (named "
      "above this line)", "Fix the missing provider reported above",
      "ERROR: Required build target 'obmc-phosphor-image' has no buildable providers.",
      ("has no buildable providers",), cascade=True, phase="parse"),
    # ---------------------------------------------------------------- host / sanity
    P("log.hosttools", "host tools are missing", "error", 3,
      r"The following required tools \(as specified by HOSTTOOLS\) appear to be unavailable "
      r"in PATH, please install them in order to proceed:\s*(?P<tools>.*)",
      "these HOSTTOOLS are not installed on the build host: {tools}",
      "Install them (Debian/Ubuntu: chrpath diffstat lz4 (lz4c) zstd (pzstd) file "
      "rpcsvc-proto (rpcgen) texinfo (makeinfo)), or build in the armvm-oe container",
      "ERROR:  OE-core's config sanity checker detected a potential misconfiguration.\n"
      "The following required tools (as specified by HOSTTOOLS) appear to be unavailable in "
      "PATH, please install them in order to proceed:\n  chrpath", ("as specified by HOSTTOOLS",),
      check="host.hosttools", phase="parse",
      fields=lambda g, c: {"tools": _tools(g.get("tools"), c)}),
    P("log.root", "bitbake was run as root", "error", 3,
      r"Do not use Bitbake as root",
      "bitbake refuses to run as uid 0 (a container started without --user, or sudo)",
      "Build as an ordinary user: in a container pass --user $(id -u):$(id -g) (or use "
      "kas-container / armvm-oe build); on the host, don't use sudo",
      "ERROR:  OE-core's config sanity checker detected a potential misconfiguration.\n"
      "    Do not use Bitbake as root.", ("as root",), check="host.root", phase="parse"),
    P("log.kas-container-root", "kas-container was run as root", "error", 3,
      r"Running as root - may break certain recipes",
      "kas-container refuses to start its build as root (you ran it with sudo, usually "
      "because your user may not use the Docker socket)",
      "Give your user Docker access instead of using sudo: sudo usermod -aG docker $USER, "
      "then log out and in (or newgrp docker), and run kas-container as yourself; "
      "KAS_ALLOW_ROOT=yes only hides the problem",
      "Error: Running as root - may break certain recipes.\nBetter give a regular user docker "
      "access. Set KAS_ALLOW_ROOT=yes to override.", ("Running as root",),
      check="host.root", phase="setup"),
    P("log.locale", "the locale is not UTF-8 / en_US.UTF-8 is missing", "error", 3,
      r"Please use a locale setting which supports [Uu][Tt][Ff]-8|Your system needs to support "
      r"the en_US\.UTF-8 locale|Please make sure locale 'en_US\.UTF-8' is available",
      "bitbake needs a UTF-8 locale in the environment and the en_US.UTF-8 locale installed",
      "locale-gen en_US.UTF-8 (Debian: enable it in /etc/locale.gen) and export "
      "LANG=en_US.UTF-8",
      "Please use a locale setting which supports UTF-8 (such as LANG=en_US.UTF-8).\n"
      "Python can't change the filesystem locale after loading so we need a UTF-8 when Python "
      "starts or things won't work.", ("UTF-8", "utf-8"), check="host.lang-utf8", phase="parse"),
    P("log.userns", "user namespaces are blocked", "error", 3,
      r"User namespaces are not usable by BitBake|open\(\"/proc/self/uid_map\"|"
      r"Operation not permitted: '/proc/self/uid_map'|/proc/self/uid_map",
      "bitbake-worker could not write /proc/self/uid_map after unshare() (bb.utils."
      "disable_network): unprivileged user namespaces are restricted (Ubuntu 23.10+/24.04 "
      "AppArmor: kernel.apparmor_restrict_unprivileged_userns=1, or a container's seccomp "
      "profile); every task fails with this PermissionError",
      "sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0 (persist it in "
      "/etc/sysctl.d), or an AppArmor profile for bitbake ('profile bitbake /**/bitbake/bin/"
      "bitbake flags=(unconfined) {{ userns, }}'), or build in the armvm-oe container",
      "ERROR:  OE-core's config sanity checker detected a potential misconfiguration.\n"
      "    User namespaces are not usable by BitBake, possibly due to AppArmor.",
      ("User namespaces are not usable", "uid_map"), check="host.userns", phase="build"),
    P("log.dev-shm", "/dev/shm is missing", "error", 3,
      r"/dev/shm does not exist or is not writable",
      "the container or chroot has no writable /dev/shm",
      "Mount a tmpfs on /dev/shm (docker run --shm-size=1g)",
      "FATAL: /dev/shm does not exist or is not writable", ("/dev/shm",), check="host.dev-shm",
      phase="parse"),
    P("log.invalid-machine", "MACHINE is not defined by any layer", "error", 3,
      r"MACHINE=(?P<machine>\S+) is invalid",
      "no layer in bblayers.conf has conf/machine/{machine}.conf: the BSP layer that defines "
      "it is not added, its name changed, or it is set nowhere",
      "Add the BSP layer that provides {machine} to bblayers.conf (bitbake-layers add-layer "
      "..., or the kas config's repos/layers), or set a MACHINE that exists (ls "
      "*/conf/machine/)",
      "MACHINE=freedom-u540 is invalid. Please set a valid MACHINE in your local.conf, "
      "environment or other configuration file.", ("is invalid",), phase="parse"),
    P("log.invalid-machine.unset", "MACHINE is not set", "error", 3,
      r"Please set a (?:valid )?MACHINE in your local\.conf or environment|Please set a MACHINE "
      r"in your local\.conf",
      "MACHINE is set nowhere that bitbake reads (local.conf, the environment, or the kas "
      "config's machine:); an exported MACHINE is dropped unless BB_ENV_PASSTHROUGH_ADDITIONS "
      "lets it through",
      "Set MACHINE = \"<machine>\" in conf/local.conf (or machine: in the kas config); a "
      "MACHINE from the environment needs BB_ENV_PASSTHROUGH_ADDITIONS += \"MACHINE\"",
      "Please set a valid MACHINE in your local.conf or environment", ("a valid MACHINE in",
                                                                       "a MACHINE in"),
      family="log.invalid-machine", phase="parse"),
    P("log.invalid-distro", "DISTRO is not defined by any layer", "error", 3,
      r"DISTRO '(?P<distro>[^']+)' not found",
      "no layer in bblayers.conf has conf/distro/{distro}.conf (the distro layer, e.g. "
      "meta-poky for 'poky', is not added)",
      "Add the layer that defines DISTRO '{distro}' to bblayers.conf, or set DISTRO to one "
      "that exists (ls */conf/distro/)",
      "DISTRO 'poky' not found. Please set a valid DISTRO in your local.conf",
      ("not found. Please set a valid DISTRO",), phase="parse"),
    P("log.broken-symlink", "a cache directory is a broken symlink", "error", 3,
      r"(?P<path>\S+) is a broken symlink",
      "{path} is a symlink whose target does not exist here: a shared downloads/sstate "
      "directory that is not mounted (inside a container only the work dir is visible)",
      "Mount the shared directory into the container at the same path, or point "
      "DL_DIR/SSTATE_DIR at it directly (kas: env DL_DIR/SSTATE_DIR, kas-container "
      "passes them) instead of a symlink",
      "/work/build/sstate-cache is a broken symlink.", ("is a broken symlink",),
      check="build.dl-dir", phase="parse"),
    P("log.sanity-misc", "oe-core's sanity checker refused the host", "error", 2,
      r"(?P<msg>PATH contains '\.', '\./' or '' \(empty element\)|Please use a umask which "
      r"allows|/tmp shouldn't be mounted with noexec|/bin/sh links to \S+, must be dash or "
      r"bash|OpenEmbedded doesn't work under WSLv1|can't be located on nfs|can't be on a "
      r"case-insensitive file system|Please install the following missing utilities.*)",
      "oe-core's sanity check: {msg}", "Run 'armvm-oe doctor' for the exact cause and its fix",
      "    /tmp shouldn't be mounted with noexec.",
      ("PATH contains", "umask", "noexec", "/bin/sh links", "WSLv1", "on nfs",
       "case-insensitive", "missing utilities"), phase="parse"),
    # ---------------------------------------------------------------- disk and memory
    P("log.disk-monitor", "bitbake's disk monitor stopped the build", "error", 3,
      r"No new tasks can be executed since the disk space monitor action is \"?(?P<act>\w+)|"
      r"Immediately (?:halt|abort) since the disk space monitor action is \"?(?P<act2>\w+)",
      "free space (or inodes) of TMPDIR, DL_DIR, SSTATE_DIR or /tmp fell below "
      "BB_DISKMON_DIRS, so bitbake {what}",
      "Free space (delete tmp/ but keep downloads and sstate-cache), add INHERIT += "
      "\"rm_work\", or move the build to a bigger disk; the limits are in BB_DISKMON_DIRS",
      "ERROR: No new tasks can be executed since the disk space monitor action is "
      "\"STOPTASKS\"!", ("disk space monitor",), check="host.disk-space", phase="build",
      fields=lambda g, c: {"what": "halted the running tasks" if (g.get("act2") or "")
                           in ("HALT", "ABORT") else "stopped starting new tasks"}),
    P("log.no-space", "the disk filled up", "error", 3, r"No space left on device",
      "a filesystem of the build (TMPDIR, DL_DIR, SSTATE_DIR or /tmp) ran out of space or "
      "inodes", "Free space, add INHERIT += \"rm_work\", or move the build to a bigger disk",
      "| cc1: fatal error: error writing to /tmp/ccXyZ.s: No space left on device",
      ("No space left",), check="host.disk-space", phase="build"),
    P("log.disk-low", "disk space is running low", "warn", 3,
      r"The free (?:space|inode) of (?P<dir>\S+) \((?P<dev>[^)]+)\) is running low",
      "{dir} ({dev}) is below bitbake's BB_DISKMON_DIRS warning limit",
      "Free space before bitbake stops scheduling tasks",
      "WARNING: The free space of /home/u/build/tmp (/dev/sda1) is running low (0.987GB left)",
      ("is running low",), check="host.disk-space", phase="build"),
    P("log.oom-killed", "the compiler or linker was killed (out of memory)", "error", 3,
      r"internal compiler error: Killed \(program (?P<prog>[\w+-]+)\)|fatal error: Killed "
      r"signal terminated program (?P<prog2>\S+)|(?P<prog3>ld|collect2|rustc|lld|\S*ld) "
      r"terminated with signal 9 \[Killed\]|clang\S*: error: unable to execute command: Killed|"
      r"signal 9 \[Killed\]",
      "the kernel's OOM killer stopped {prog}: too many parallel jobs for the RAM "
      "(BB_NUMBER_THREADS x PARALLEL_MAKE; C++/rust/nodejs links need 2+ GB each)",
      "Lower BB_NUMBER_THREADS and PARALLEL_MAKE (or set BB_PRESSURE_MAX_MEMORY), add swap, "
      "or limit the recipe (PARALLEL_MAKE:pn-<recipe> = \"-j 2\")",
      "| x86_64-poky-linux-g++: internal compiler error: Killed (program cc1plus)",
      ("Killed",), check="host.ram-per-job", phase="build",
      fields=lambda g, c: {"prog": g.get("prog") or g.get("prog2") or g.get("prog3") or
                           "the compiler"}),
    P("log.oom-killed.exit-137", "a task was killed (exit code 137)", "error", 2,
      r"failed with exit code '137'",
      "the task was killed with SIGKILL (exit code 137 = 128 + 9), most likely by the OOM "
      "killer", "Lower BB_NUMBER_THREADS and PARALLEL_MAKE, add swap",
      "ERROR: Task (/w/foo.bb:do_compile) failed with exit code '137'",
      ("exit code '137'",), family="log.oom-killed", check="host.ram-per-job", phase="build"),
    P("log.compiler-crash", "the compiler crashed", "error", 3,
      r"internal compiler error: (?!Killed)(?P<what>[^(\n]+)|clang\S*: error: unable to "
      r"execute command: (?P<what2>Segmentation fault|Aborted|Bus error)|clang frontend "
      r"command failed due to signal",
      "the compiler itself crashed ({what}): a compiler bug triggered by this source, or "
      "unstable hardware/memory when it happens at random places",
      "Rebuild once (bitbake -c cleansstate <recipe>); if it recurs at the same file, it is "
      "a compiler bug (try another optimisation level or compiler version); at random "
      "places, test the RAM (memtest) and lower parallelism",
      "insn-opinit.c:764:1: internal compiler error: Segmentation fault",
      ("internal compiler error", "unable to execute command", "frontend command failed"),
      phase="build",
      fields=lambda g, c: {"what": (g.get("what") or g.get("what2") or "signal").strip()}),
    # ---------------------------------------------------------------- recipes and QA
    P("log.qa-issue", "a QA check failed", "error", 3,
      r"(?:(?P<recipe>\S+) do_\w+: )?QA Issue: (?:(?P<pkg>[\w.+-]+): )?(?P<msg>.*?)"
      r"(?:\[(?P<check>[a-z0-9-]+)\])?\s*$|QA Issue: File '[^']+' from (?P<from>\S+)",
      "the QA check {check_label} failed for {recipe_label}: it installs or builds "
      "something the packaging rules reject (the QA message on this line says what)",
      "Fix {recipe_label} for the QA check {check_label} (see the 'QA Error and Warning "
      "Messages' reference); only if the result is intended, add {skip} to the recipe",
      "ERROR: glibc-2.23-r0 do_package: QA Issue: glibc: Files/directories were installed "
      "but not shipped in any package: [installed-vs-shipped]", ("QA Issue",),
      fields=_f_qa, phase="build"),
    P("log.layer-incompatible", "a layer is for another release", "error", 3,
      r"Layer (?P<layer>\S+) is not compatible with the core layer which only supports these "
      r"series: (?P<core>[^(]+?) \(layer is compatible with (?P<theirs>[^)]*)\)",
      "layer {layer} is for '{theirs}' but the core layer is '{core}' (branches of "
      "different releases mixed)", "Check out the {core} branch of layer {layer} (or the "
      "core release the layer supports)",
      "ERROR: Layer armvm is not compatible with the core layer which only supports these "
      "series: scarthgap (layer is compatible with kirkstone)",
      ("is not compatible with the core layer",), check="checkout.layerseries", phase="parse"),
    P("log.layer-dirs-missing", "bblayers.conf names missing layers", "error", 3,
      r"The following layer directories do not exist:|Unable to parse (?P<path>\S+/conf/"
      r"layer\.conf): \[Errno 2\]|file (?P<path2>\S+/conf/layer\.conf) not found",
      "a layer in bblayers.conf is not there ({path}): a moved checkout, a failed clone or a "
      "typo in BBLAYERS", "Fix BBLAYERS (bitbake-layers show-layers) or clone the layer; kas "
      "regenerates bblayers.conf from its config",
      "ERROR: The following layer directories do not exist:\nERROR:    /work/meta-foo\n"
      "ERROR: Please check BBLAYERS in /work/build/conf/bblayers.conf",
      ("layer directories do not exist", "/conf/layer.conf"), check="build.bblayers-missing",
      phase="parse", defaults={"path": "listed below it"},
      fields=lambda g, c: {"path": g.get("path") or g.get("path2") or "listed below it"}),
    P("log.bbpath", "bitbake cannot find its configuration (BBPATH)", "error", 3,
      r"Unable to find conf/bblayers\.conf or conf/bitbake\.conf|The BBPATH variable is not "
      r"set|Could not (?:include|find) (?:required )?file conf/bitbake\.conf|"
      r"conf/bitbake\.conf not found",
      "bitbake was started outside a build directory (or BBPATH lost the core layer), so "
      "conf/bitbake.conf is not found",
      "cd to the build directory after sourcing oe-init-build-env (or let kas do it); check "
      "that bblayers.conf lists the core layer (meta)",
      "ERROR: Unable to find conf/bblayers.conf or conf/bitbake.conf. BBPATH is unset and/or "
      "not in a build directory?", ("conf/bitbake.conf", "BBPATH variable is not set"),
      phase="parse"),
    P("log.nothing-rprovides", "a runtime dependency has no provider", "error", 3,
      r"Nothing RPROVIDES '(?P<name>[^']+)'(?: \(but (?P<by>[^,)\s]+))?",
      "no package in the configured layers provides '{name}' at runtime (required by "
      "{by}): the layer with that recipe is missing, the package is named differently in "
      "this release, or its recipe was skipped for this MACHINE/DISTRO_FEATURES",
      "Find the recipe (bitbake-layers show-recipes; layers.openembedded.org) and add its "
      "layer, or drop/rename '{name}' in {by}",
      "ERROR: Nothing RPROVIDES 'luaposix33' (but /x/obmc-phosphor-image.bb RDEPENDS on or "
      "otherwise requires it)", ("RPROVIDES '",), phase="parse",
      defaults={"by": "an image or package"},
      fields=lambda g, c: {"by": g.get("by") or "an image or package"}),
    P("log.nothing-provides", "a build dependency has no provider", "error", 3,
      r"Nothing PROVIDES '(?P<name>[^']+)'(?: \(but (?P<by>[^,)\s]+))?",
      "no recipe in the configured layers provides '{name}' (needed by {by}): a layer is "
      "missing from bblayers.conf, the recipe was renamed in this release, or it was skipped "
      "for this MACHINE/DISTRO_FEATURES (bitbake prints the skip reason)",
      "Add the layer that provides '{name}' (bitbake-layers show-recipes; "
      "layers.openembedded.org) or fix the skip reason",
      "ERROR: Nothing PROVIDES 'python3-foo' (but /work/meta-armvm/recipes-core/images/"
      "armvm-image.bb DEPENDS on or otherwise requires it). Close matches:",
      (" PROVIDES '",), phase="parse", defaults={"by": "the target"},
      fields=lambda g, c: {"by": g.get("by") or "the target"}),
    P("log.old-override-syntax", "a layer uses the pre-3.4 override syntax", "error", 3,
      r"Variable (?P<var>\S+)(?: file: (?P<file>\S+) line: \d+)? contains an operation using "
      r"the old override syntax",
      "{var} uses the '_' override syntax of Yocto 3.3 and older; this bitbake (honister "
      "and later) needs ':' (e.g. SRC_URI:append): a layer of an older release is mixed in",
      "Use the layer's branch for this release, or convert it with "
      "scripts/contrib/convert-overrides.py",
      "ERROR: Variable SRC_URI_append contains an operation using the old override syntax. "
      "Please convert this layer/metadata before attempting to use with a newer bitbake.",
      ("old override syntax",), phase="parse"),
    P("log.new-override-syntax", "a layer uses ':' overrides on an older bitbake", "error", 3,
      r"ParseError at (?P<file>[^:\s]+):(?P<lineno>\d+): unparsed line: '(?P<line>\s*"
      r"(?:export\s+)?[\w${}/.+-]+:[\w${}:+-]+\s*(?:\?\?=|\?=|:=|\+=|=\+|\.=|=\.|=)[^']*)",
      "{file} line {lineno} uses the ':' override syntax ('{short}'), which this bitbake "
      "does not parse: the layer is for honister (3.4) or later, the core is older (or an "
      "un-updated dunfell/hardknott, whose last releases accept ':')",
      "Use the layer branch that matches the core's release (e.g. its dunfell branch), or "
      "update poky/bitbake to the latest point release of its branch",
      "ERROR: ParseError at /src/meta-aws/recipes-sdk/aws-c-io/aws-c-io_0.10.7.bb:24: "
      "unparsed line: 'RDEPENDS:${PN} = \"s2n aws-c-common aws-c-cal\"'",
      ("unparsed line",), phase="parse",
      fields=lambda g, c: {"short": (g.get("line") or "").strip()[:60]}),
    P("log.parse-error", "bitbake could not parse the metadata", "error", 2,
      r"ParseError (?:at (?P<file>[^:\s]+):(?P<lineno>\d+)|in (?P<where>configuration "
      r"INHERITs))?:? (?P<msg>.+)",
      "{what}", "{parse_fix}",
      "ERROR: ParseError at /x/meta-webkit/recipes-qt/qt-wpe-simple-browser/"
      "qt-wpe-simple-browser_0.1.bb:16: Could not inherit file classes/cmake_qt5.bbclass",
      ("ParseError",), fields=_f_parse, phase="parse"),
    P("log.conf-version", "the build directory is from another release", "error", 3,
      r"has the wrong LCONF_VERSION|local\.conf was generated from an (?:older|newer)(?:/newer)? "
      r"version|"
      r"TMPDIR has changed (?:location|its layout version number)",
      "conf/ or tmp/ of this build directory was made by another release or at another path",
      "Regenerate conf/ (kas does) and delete tmp/ (keep downloads and sstate-cache)",
      "Your version of local.conf was generated from an older/newer version of\n"
      "local.conf.sample and there have been updates made to this file.", ("LCONF_VERSION",
                                                                          "local.conf was generated",
                                   "TMPDIR has changed"),
      check="build.tmpdir-moved", phase="parse"),
    P("log.pseudo-abort", "pseudo aborted (files changed outside pseudo)", "error", 3,
      r"abort\(\)ing pseudo client by server request|Pseudo_Abort|(?P<kind>path|inode|ino) "
      r"mismatch(?: \[\d+ links?\])?: ino \d+(?: db '(?P<db>[^']+)' req '(?P<req>[^']+)')?|"
      r"pseudo: (?P<kind2>path|inode) mismatch|(?P<kind3>inode) mismatch: '|"
      r"Check logfile: (?P<plog>\S+/pseudo/+pseudo\.log)",
      "pseudo's database and the files under WORKDIR disagree ({detail}): a file pseudo "
      "tracked was deleted or replaced outside pseudo (a task or host tool running without "
      "it, rm -rf by hand, or a TMPDIR reused after a pseudo update), so pseudo aborted",
      "bitbake -c clean <recipe> and rebuild (or delete TMPDIR, keeping sstate-cache); never "
      "edit WORKDIR by hand; if it recurs, find the task that touches those files without "
      "pseudo (see https://wiki.yoctoproject.org/wiki/Pseudo_Abort)",
      "abort()ing pseudo client by server request. See "
      "https://wiki.yoctoproject.org/wiki/Pseudo_Abort for more details on this.",
      ("abort()ing", "Pseudo_Abort", "mismatch", "pseudo.log"), phase="build",
      fields=lambda g, c: {"detail": (f"{g.get('kind') or 'path'} mismatch: database has "
                                      f"'{g['db']}', the request was for '{g['req']}'")
                           if g.get("db") else (f"{g.get('kind') or g.get('kind2') or g.get('kind3')}"
                                                " mismatch"
                                                if (g.get('kind') or g.get('kind2') or g.get('kind3'))
                                                else f"see {g.get('plog') or 'the recipe' + chr(39) + 's pseudo/pseudo.log'}")}),
    P("log.pseudo-abort.sigabrt", "a task died of SIGABRT (pseudo abort)", "error", 2,
      r"failed with exit code '134'|died with <Signals\.SIGABRT: 6>",
      "the task died of SIGABRT (exit code 134 = 128 + 6); in do_install/do_package/"
      "do_rootfs that is pseudo aborting because its database and WORKDIR disagree (the "
      "recipe's pseudo/pseudo.log says 'path mismatch')",
      "Read WORKDIR/pseudo/pseudo.log; bitbake -c clean <recipe> and rebuild (see "
      "https://wiki.yoctoproject.org/wiki/Pseudo_Abort)",
      "ERROR: Task (/w/kernel-devsrc.bb:do_package) failed with exit code '134'",
      ("exit code '134'", "SIGABRT"), family="log.pseudo-abort", phase="build"),
    # ---------------------------------------------------------------- servers and locks
    P("log.hashserv", "the hash-equivalence server failed", "error", 3,
      r"Error contacting Hash Equivalence Server (?P<server>\S+?):? |Hash equivalency "
      r"database location \(set via BB_HASHSERVE_DB_DIR to (?P<dbdir>[^)]+)\)|"
      r"(?:[Hh]ash ?[Ee]quiv\w*|hashserv)\S* .*(?:timed out|refused|Connection closed)",
      "bitbake's hash-equivalence server {what}",
      "Point BB_HASHSERVE_UPSTREAM/SSTATE_MIRRORS only at servers reachable from here (or "
      "drop them: BB_HASHSERVE = \"auto\"); keep BB_HASHSERVE_DB_DIR on a local disk, not "
      "NFS", "WARNING: Error contacting Hash Equivalence Server unix:///home/u/build/"
      "hashserve.sock: Connection closed", ("Hash Equivalence Server", "Hash equivalency",
                                             "hashserv", "HashEquiv", "hashequiv"),
      phase="build",
      fields=lambda g, c: {"what": (f"database cannot be on NFS ({g['dbdir'].strip()})"
                                    if g.get("dbdir") else
                                    f"{g.get('server') or ''} did not answer: the local "
                                    "server lost its upstream (BB_HASHSERVE_UPSTREAM) or "
                                    "the upstream is unreachable from here").replace("  ", " ")}),
    P("log.hashserv.server-timeout", "the bitbake server stopped answering", "error", 2,
      r"No reply from server in (?P<secs>\d+)s|Timeout while waiting for a reply from the "
      r"bitbake server",
      "the bitbake server did not answer in time; when this happens at start-up it is most "
      "often waiting on an unreachable upstream hash-equivalence server "
      "(BB_HASHSERVE_UPSTREAM) or sstate mirror, else another bitbake holds the build "
      "directory", "Remove or fix BB_HASHSERVE_UPSTREAM / SSTATE_MIRRORS if the build host "
      "cannot reach them; read bitbake-cookerdaemon.log in the build directory",
      "NOTE: No reply from server in 30s (for command updateConfig at 10:54:17.809867)",
      ("No reply from server", "reply from the bitbake server"), family="log.hashserv",
      phase="parse"),
    P("log.lock-held", "another bitbake holds the build directory", "error", 3,
      r"Reconnecting to bitbake server|Previous bitbake instance shutting down\?, waiting to "
      r"retry|Processes holding bitbake\.lock|Unable to connect to bitbake server, or start one",
      "another bitbake server holds bitbake.lock in this build directory (a parallel build, an "
      "IDE plugin, or a stale server)",
      "Wait for it or stop it (bitbake -m); remove bitbake.lock only if its pid is gone; check "
      "bitbake-cookerdaemon.log",
      "NOTE: Reconnecting to bitbake server...\nNOTE: Previous bitbake instance shutting "
      "down?, waiting to retry... (2)", ("bitbake server", "bitbake instance", "bitbake.lock"),
      check="build.lock-held", phase="parse"),
    # ---------------------------------------------------------------- kas
    P("log.kas-dirty", "kas skipped a dirty repo", "warn", 3,
      r"Repo (?P<repo>\S+) is dirty - no (?P<what>checkout|patching)",
      "repo {repo} has local changes, so kas did no {what}: the build goes on with whatever "
      "is checked out, not the pinned revision",
      "Commit or stash the changes in {repo}, or kas checkout --force-checkout (discards "
      "them)", "WARNING - Repo poky is dirty - no checkout", ("is dirty - no",),
      check="checkout.dirty", phase="setup"),
    P("log.kas-version", "the kas config needs a newer kas", "error", 3,
      r"This version of kas is compatible with version (?P<lo>\d+) to (?P<hi>\d+), file has "
      r"version (?P<v>\d+)",
      "the configuration uses format version {v}, the installed kas reads {lo} to {hi}",
      "Install the kas pinned by armvm-oe (pip install -e .)",
      "kas.includehandler.IncludeException: This version of kas is compatible with version 1 "
      "to 19, file has version 23", ("This version of kas is compatible",),
      check="kas.header-version", phase="setup"),
    P("log.kas-invalid", "the kas config is invalid", "error", 3,
      r"Config file validation Error:?\s*(?P<detail>.*)|Configuration file is not valid YAML|"
      r"Error\(s\) occured while validating the config file",
      "the kas configuration does not match kas's schema or is not YAML{detail}",
      "Fix the key kas names (or an empty/wrong file); 'armvm-oe doctor CONFIG' shows the "
      "key and line", "ERROR - Config file validation Error:\n'repo' is a required property",
      ("Config file validation Error", "not valid YAML", "while validating the config"),
      check="kas.schema", phase="setup",
      fields=lambda g, c: {"detail": f": {g['detail'].strip()}" if (g.get("detail") or
                                                                    "").strip() else ""}),
    P("log.kas-unknown-repo", "a kas patch or layer names a repo that is not defined", "error",
      3, r"Could not find referenced repo\. \(missing repo: (?P<repo>[^,]+), repo: "
      r"(?P<in>[^,]+)",
      "the kas config refers to repo '{repo}' (in repo '{in}'), but no repos: entry has that "
      "name (a typo, or the include that defines it is missing)",
      "Define repos: {repo}: in the config (or fix the name)",
      "ERROR - Could not find referenced repo. (missing repo: my-patches, repo: poky, patch "
      "entry: fix)", ("Could not find referenced repo",), phase="setup"),
    P("log.kas-no-init-env", "no repo of the kas config has oe-init-build-env", "error", 3,
      r"Did not find any init-build-env script|Multiple init scripts found",
      "kas found no oe-init-build-env in the checked-out repos: poky/openembedded-core is "
      "missing from repos:, its clone failed, or its path: is wrong (or two repos have one)",
      "Add the core repo (poky, or openembedded-core with bitbake) to repos: in the kas "
      "config, and check the first error of its clone above",
      "ERROR - Did not find any init-build-env script", ("init-build-env script",
                                                          "Multiple init scripts"),
      check="checkout.repo-missing", phase="setup"),
    P("log.kas-patch", "kas could not apply a patch", "error", 3,
      r"Could not apply patch\.?|Could not find patch\. \(patch path: (?P<path>[^,]+)|"
      r"patch does not apply|error: patch failed: (?P<file>\S+)|apply_patches_async|"
      r"PatchApplyError|PatchFileNotFound",
      "a patch from the kas config does not apply to the checked-out revision{where} (the "
      "patch is for another revision, was already applied, or its file/series is wrong)",
      "Rebase the patch onto the pinned revision (git -C <repo> apply --check <patch>), or "
      "pin the revision it was made for; a repo left half-patched needs git checkout . first",
      "ERROR - Could not apply patch. Please fix repos and patches:",
      ("Could not apply patch", "Could not find patch", "patch does not apply",
       "patch failed:", "apply_patches", "PatchApplyError", "PatchFileNotFound"),
      phase="setup",
      fields=lambda g, c: {"where": f" ({g.get('path') or g.get('file')})"
                           if (g.get("path") or g.get("file")) else ""}),
    # ---------------------------------------------------------------- containers
    P("log.docker-permission", "no permission on the Docker socket", "error", 3,
      r"permission denied while trying to connect to the Docker daemon socket at "
      r"(?P<sock>[^\s:]+:?/*[^\s:]*)",
      "your user may not use the Docker socket {sock} (it is owned by root:docker and you "
      "are not in the docker group, or the group change needs a new login)",
      "sudo usermod -aG docker $USER, then log out and in (or newgrp docker); do not chmod "
      "666 the socket and do not run the build with sudo",
      "Got permission denied while trying to connect to the Docker daemon socket at "
      "unix:///var/run/docker.sock: Post ...: dial unix /var/run/docker.sock: connect: "
      "permission denied", ("permission denied while trying to connect to the Docker",),
      check="container.socket-permission", phase="setup"),
    P("log.docker-unreachable", "the Docker daemon is not running", "error", 3,
      r"Cannot connect to the Docker daemon at|Is the docker daemon running\?|no container "
      r"engine found, need docker or podman",
      "no container engine answers at DOCKER_HOST / /var/run/docker.sock",
      "Start it (sudo systemctl start docker) or set DOCKER_HOST",
      "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker "
      "daemon running?", ("Cannot connect to the Docker daemon", "docker daemon running",
                          "no container engine found"),
      check="container.engine-unreachable", phase="setup"),
    P("log.bind-mount-owner", "the container cannot write a bind-mounted directory", "error", 3,
      r"The uid:gid for \"(?P<dir>[^\"]+)\" is \"0:0\"|\[Errno 13\] Permission denied: "
      r"'(?P<dir2>/(?:work|build|workdir|repo)[^']*)'",
      "{dir} belongs to another user than the container's build user (often created by the "
      "docker daemon as root before the first run), so the build cannot write it",
      "Create the directory as yourself before the first run, or chown it to your user "
      "(sudo chown -R $(id -u):$(id -g) <dir on the host>); don't run with sudo",
      "PermissionError: [Errno 13] Permission denied: '/work/build'",
      ("The uid:gid for", "[Errno 13] Permission denied"),
      check="container.bind-mount-owner", phase="setup",
      fields=lambda g, c: {"dir": g.get("dir") or g.get("dir2")}),
)


def _tools(tools: Optional[str], ctx) -> str:
    t = (tools or "").strip()
    if not t and ctx is not None:
        t = ctx.next_text() or ""
    # kas prefixes each line with a timestamp; the model already stripped
    # them, but a list wrapped onto several lines may still carry one
    t = re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} - \w+\s*- ", "", t)
    return " ".join(t.split()) or "(the list is on the next line of the log)"


# Lines that look like errors but are not: kas logs git's progress (written
# to stderr) at ERROR level ("From https://...", "abc..def  main -> origin/main").
BENIGN = re.compile(r"^(?:From (?:https?|git|ssh)://\S+$|[+ ]?\s*[0-9a-f]{7,}\.\.\.?[0-9a-f]{7,}"
                    r"\s+\S+\s+->\s+\S+|\* \[new (?:branch|tag)\]\s+\S+\s+->|"
                    r"\* branch\s+\S+\s+->\s+FETCH_HEAD)")

# The first error line when no pattern recognises anything (never 'ok' on a
# failed build): bitbake/kas levels, git/shell conventions, a non-zero exit.
GENERIC_ERROR = re.compile(
    r"^(?:fatal|error|Error|FATAL|ERROR|E)\s*[:;]|\bfailed with (?:exit code '?[1-9]|error)|"
    r"Summary: There (?:was|were) \d+ ERROR|^make(?:\[\d+\])?: \*\*\* .*Error \d+|"
    r"\bcommand failed\b|Traceback \(most recent call last\)|^\S*Error: ")
