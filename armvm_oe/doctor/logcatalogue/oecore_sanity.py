"""oe-core's sanity checker: meta/classes-global/sanity.bbclass (its
list of problems after "OE-core's config sanity checker detected a
potential misconfiguration"), base.bbclass's HOSTTOOLS check and bitbake's
locale check. Specific families first; every other sanity message is
``log.sanity-misc`` with its own fix from :data:`SANITY`."""

from __future__ import annotations

import re
from typing import Optional

from armvm_oe.doctor.logcatalogue._base import P, S, attach, scheme_advice


def _tools(tools: Optional[str], ctx) -> str:
    t = (tools or "").strip()
    if not t and ctx is not None:
        t = ctx.next_text() or ""
    # kas prefixes each line with a timestamp; the model already stripped
    # them, but a list wrapped onto several lines may still carry one
    t = re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} - \w+\s*- ", "", t)
    return " ".join(t.split()) or "(the list is on the next line of the log)"


_DOCTOR = "run 'armvm-oe doctor' for the exact cause and its fix"
_TMP = "delete TMPDIR (tmp/; keep downloads and sstate-cache) and rebuild"
_MOVE = "move the build directory to a path without it (kas: KAS_WORK_DIR/KAS_BUILD_DIR)"
_BT = "install a newer one from the distro, or use buildtools (scripts/install-buildtools)"
_TUNE = "fix the MACHINE's tune include (DEFAULTTUNE / TUNE_FEATURES) or pick a valid MACHINE"
_LOCAL = "fix the line in conf/local.conf (or the kas config's local_conf_header)"

# Messages of meta/classes-global/sanity.bbclass not claimed by a specific
# family above, by a literal part of the message, with the usual fix.
# tests/doctor/test_catalogue_sources.py fails when sanity.bbclass (scarthgap
# or wrynose) prints a message no family here matches.
SANITY: tuple = (
    ("PATH contains '.', './' or ''", "remove '.' and empty entries (a stray ':') from PATH"),
    ("Please use a umask which allows", "umask 022 in the shell/CI step that starts the build"),
    ("/tmp shouldn't be mounted with noexec", "remount /tmp without noexec, or point TMPDIR "
     "(the environment's) at an exec filesystem"),
    ("must be dash or bash", "make /bin/sh dash or bash (Debian: dpkg-reconfigure dash)"),
    ("OpenEmbedded doesn't work under WSLv1", "wsl --set-version <distro> 2 and build on ext4 "
     "inside WSL, not /mnt/c"),
    ("You are running bitbake under WSLv2", "nothing needed; compact the VHDX from time to time"),
    ("can't be located on nfs", "put TMPDIR on a local disk (ext4/xfs)"),
    ("can't be on a case-insensitive file system", "build on a case-sensitive filesystem "
     "(Docker on macOS/Windows: a named volume, not the host bind mount)"),
    ("Please install the following missing utilities", "install them with the distro's "
     "package manager (see the Yocto 'Required Packages for the Build Host')"),
    ("Your version of gcc is older than", _BT), ("Your version of git is older than", _BT),
    ("Your version of patch is older than", _BT), ("Your version of tar is", _BT),
    ("Your tar doesn't support --xattrs", _BT), ("Please install a make version of", _BT),
    ("make version 4.2.1 is known to have issues", _BT),
    ("The system requires at least Python", _BT),
    ("Your Python 3 is not a full install", "install the distro's full python3 package "
     "(python3-distutils/python3-pip...)"),
    ("Required perl module(s) not found", "install the perl modules it names (Debian: perl, "
     "libthread-queue-any-perl; Fedora: perl-FindBin perl-File-Compare...)"),
    ("Bitbake version ", "use the bitbake of the same release as oe-core"),
    ("Unable to execute ", "install the tool it names and make sure it runs"),
    ("libgcc-14-dev is installed and not libstdc++-14-dev", "install libstdc++-14-dev (or "
     "remove libgcc-14-dev)"),
    ("Please use ASSUME_PROVIDED +=", _LOCAL),
    ("Please don't use inherit directive in your local.conf", "use INHERIT += \"...\" in "
     "local.conf"),
    ("Failed to create a file with a long name in", "build outside an eCryptFS home (ecryptfs "
     "limits names to 143 bytes)"),
    ("Failed to create ", "make TMPDIR writable by the build user"),
    ("is setgid, please don't build in a setgid directory", "chmod g-s the build directory"),
    ("is setuid, please don't build in a setuid directory", "chmod u-s the build directory"),
    ("PSEUDO_IGNORE_PATHS", "move the build (or the path) out of PSEUDO_IGNORE_PATHS"),
    ("has the setuid bit set. This interferes with pseudo", "use a chown/chmod/mknod without "
     "the setuid bit (a hardened host tool)"),
    ("You have a 32-bit libc, but no 32-bit headers", "install the 32-bit libc headers "
     "(gcc-multilib / glibc-devel.i686)"),
    ("BBPATH references the current directory", "remove '.' and empty entries from BBPATH "
     "(layer.conf: BBPATH .= \":${LAYERDIR}\")"),
    ("not using the OpenEmbedded version of conf/bitbake.conf", "put oe-core's meta first in "
     "BBLAYERS/BBPATH"),
    ("The length of ", _MOVE + " (a shorter path)"),
    ("Non-ASCII character(s) in", _MOVE),
    ("Error, you have ", _MOVE), ("contains redundant slashes", "set TMPDIR to a clean path"),
    ("TMPDIR changed to include path filtering", _TMP),
    ("The layout of TMPDIR changed", _TMP),
    ("uses ~ but Bitbake will not expand this", "use an absolute path or ${TOPDIR}"),
    ("DL_DIR is not set", "set DL_DIR (kas sets it; conf/local.conf)"),
    ("exists but you do not appear to have write access", "chown the directory to the build "
     "user, or point DL_DIR elsewhere"),
    ("Please set TARGET_OS directly", _TUNE), ("TUNE_ARCH is unset", _TUNE),
    ("PACKAGE_ARCHS variable", _TUNE), ("No tuning found for", _TUNE),
    ("Tuning '", _TUNE), ("Toolchain tunings invalid", _TUNE),
    ("Specified SDKMACHINE value is not valid", "set SDKMACHINE to one of conf/machine-sdk/"),
    ("SDKMACHINE is set, but SDK_ARCH has not been changed", "set SDKMACHINE in local.conf, "
     "not the distro"),
    ("SDK_VENDOR should be of the form", "SDK_VENDOR = \"-foosdk\""),
    ("mmap_min_addr is not <= 65536", "sysctl vm.mmap_min_addr=65536 (persist in "
     "/etc/sysctl.conf)"),
    ("BB_NO_NETWORK should be", "set BB_NO_NETWORK to \"0\" or \"1\""),
    ("Invalid mirror variable value", "fix (PRE)MIRRORS / SSTATE_MIRRORS: pairs of regex and URL"),
    ("Invalid protocol", "fix the mirror's URL scheme"), ("Invalid scheme regex", "fix the "
                                                          "mirror's regex"),
    ("in sstate manifest", _TMP),
    ("Can't get filesystem id of", "check that TMPDIR exists and is readable"),
    ("Unable to chmod TMPDIR", "make TMPDIR owned by the build user"),
    ("Host distribution ", "build in a tested distribution (the armvm-oe container, "
     "crops/poky) or accept the risk"),
    ("Sstate directory is ", "use a shared hash equivalence server (BB_HASHSERVE) with a "
     "shared SSTATE_DIR"),
    ("You are using a local hash equivalence server but have configured an sstate mirror",
     "set BB_HASHSERVE_UPSTREAM to the mirror's server"),
    ("wic/wks files at ", "move the layer's wic/ files to files/wic"),
    ("bitbake binary is not found in PATH", "source oe-init-build-env (kas does it)"),
)


def _f_sanity(g: dict, ctx) -> dict:
    msg = g.get("msg") or ""
    for k, fix in SANITY:
        if k in msg:
            return {"sanity_fix": f"{fix[0].upper()}{fix[1:]} ({_DOCTOR})"}
    return {"sanity_fix": _DOCTOR[0].upper() + _DOCTOR[1:]}


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
      r"(?P<msg>(?:" + "|".join(re.escape(k) for k, _ in SANITY) + r").*)",
      "oe-core's sanity check: {msg}", "{sanity_fix}",
      "    /tmp shouldn't be mounted with noexec.", tuple(k for k, _ in SANITY),
      phase="parse", fields=_f_sanity,
      gate=("ERROR:", "WARNING:", "PATH contains", "umask", "noexec", "/bin/sh links", "WSLv1",
            "on nfs", "case-insensitive", "missing utilities"),
      sources=tuple(S("oe-core", "meta/classes-global/sanity.bbclass", k, k.strip() + " foo")
                    for k, _ in SANITY)),
)

SOURCES = {
    "log.hosttools": (S("oe-core", "meta/classes-global/base.bbclass", "The following required "
                        "tools (as specified by HOSTTOOLS) appear to be unavailable in PATH, "
                        "please install them in order to proceed:\n  %s",
                        "The following required tools (as specified by HOSTTOOLS) appear to be "
                        "unavailable in PATH, please install them in order to proceed:  "
                        "chrpath"),),
    "log.root": (S("oe-core", "meta/classes-global/sanity.bbclass", "Do not use Bitbake as root."),),
    "log.locale": (S("oe-core", "meta/classes-global/sanity.bbclass", "Your system needs to support the en_US.UTF-8 "
                     "locale."),),
    "log.userns": (S("oe-core", "meta/classes-global/sanity.bbclass", "User namespaces are not usable by BitBake, possibly due "
                     "to AppArmor."),),
    "log.invalid-machine": (S("oe-core", "meta/classes-global/sanity.bbclass", "MACHINE=%s is invalid. Please set a valid "
                              "MACHINE in your local.conf, environment or other configuration "
                              "file."),),
    "log.invalid-machine.unset": (S("oe-core", "meta/classes-global/sanity.bbclass", "Please set a MACHINE in your local.conf "
                                    "or environment"),),
    "log.invalid-distro": (S("oe-core", "meta/classes-global/sanity.bbclass", "DISTRO '%s' not found. Please set a valid DISTRO "
                             "in your local.conf"),),
    "log.broken-symlink": (S("oe-core", "meta/classes-global/sanity.bbclass", "%s is a broken symlink.",
                             "/w/build/downloads is a broken symlink."),),
    "log.conf-version": (S("oe-core", "meta/classes-global/sanity.bbclass", "Your version of bblayers.conf has the wrong "
                           "LCONF_VERSION"),
                         S("oe-core", "meta/classes-global/sanity.bbclass", "Error, TMPDIR has changed location. You need to "
                           "either move it back to %s or delete it and rebuild")),
    "log.connectivity": (S("oe-core", "meta/classes-global/sanity.bbclass", "Please ensure your host's network is configured "
                           "correctly."),),
}

PATTERNS = attach(PATTERNS, SOURCES)
