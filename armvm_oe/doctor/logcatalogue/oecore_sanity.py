"""TODO"""

from __future__ import annotations

import re
from typing import Optional

from armvm_oe.doctor.logcatalogue._base import P, S, scheme_advice


def _tools(tools: Optional[str], ctx) -> str:
    t = (tools or "").strip()
    if not t and ctx is not None:
        t = ctx.next_text() or ""
    # kas prefixes each line with a timestamp; the model already stripped
    # them, but a list wrapped onto several lines may still carry one
    t = re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} - \w+\s*- ", "", t)
    return " ".join(t.split()) or "(the list is on the next line of the log)"


PATTERNS = (
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
    P("log.connectivity", "bitbake's network check failed", "error", 3,
      r"Fetcher failure for URL: '(?P<url>[^']+)'\. URL doesn't work|Please ensure your "
      r"host's network is configured correctly",
      "the sanity checker could not fetch {url} (CONNECTIVITY_CHECK_URIS) over "
      "{transport}: no network, a proxy not passed to bitbake, or the URL is blocked",
      "{net_fix}; or set BB_NO_NETWORK = \"1\" with a pre-filled DL_DIR",
      "Fetcher failure for URL: 'https://yoctoproject.org/connectivity.html'. URL doesn't "
      "work.", ("URL doesn't work", "network is configured correctly"),
      defaults={"url": "the connectivity URL"}, phase="parse",
      fields=lambda g, c: scheme_advice(g.get("url") or "https://")),
    P("log.sanity-misc", "oe-core's sanity checker refused the host", "error", 2,
      r"(?P<msg>PATH contains '\.', '\./' or '' \(empty element\)|Please use a umask which "
      r"allows|/tmp shouldn't be mounted with noexec|/bin/sh links to \S+, must be dash or "
      r"bash|OpenEmbedded doesn't work under WSLv1|can't be located on nfs|can't be on a "
      r"case-insensitive file system|Please install the following missing utilities.*)",
      "oe-core's sanity check: {msg}", "Run 'armvm-oe doctor' for the exact cause and its fix",
      "    /tmp shouldn't be mounted with noexec.",
      ("PATH contains", "umask", "noexec", "/bin/sh links", "WSLv1", "on nfs",
       "case-insensitive", "missing utilities"), phase="parse"),
)
