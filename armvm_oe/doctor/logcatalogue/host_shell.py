"""What the shell and the Python runtime print when a setup script or a
tool goes wrong around the build: commands not on PATH, the cascade of a
script that went on after a failed checkout, and Python's own errors that
old tools let through (kas 2.x's asyncio error on an include naming an
undefined repo)."""

from __future__ import annotations

from armvm_oe.doctor.logcatalogue._base import P, S, attach

PATTERNS = (
    P("log.command-not-found", "a command is not installed", "error", 3,
      r"(?:^|: )(?P<cmd>repo|git|kas|wget|curl|python3?|docker|podman): (?:command )?not "
      r"found|\[Errno 2\] No such file or directory: '(?P<cmd2>git|hg|bitbake|repo|wget)'",
      "'{cmd}' is not on PATH (for 'repo': installed by a sudo'd script into root's ~/bin)",
      "Install {cmd} or add its directory to PATH",
      "jenkins-setup/init-and-build.sh: line 37: repo: command not found",
      ("not found", "No such file or directory: '"), check="host.hosttools", phase="setup",
      fields=lambda g, c: {"cmd": g.get("cmd") or g.get("cmd2")}),
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
    # kas 2.x fetched the repos an include needs with asyncio.wait(); when the
    # include names a repo no repos: entry defines, the list was empty and
    # Python's asyncio raised this (later kas: "Could not fetch all repos ...")
    P("log.kas-include.asyncio", "a kas include is missing", "error", 3,
      r"Set of coroutines/Futures is empty",
      "an includes: entry names a repo that no repos: entry defines; this kas (2.x) then "
      "fails inside asyncio instead of naming the repo",
      "Check every includes: entry's repo: against the repos: names (or upgrade kas, which "
      "names the missing repo)", "ERROR    - Set of coroutines/Futures is empty.",
      ("Set of coroutines/Futures is empty",), family="log.kas-include", phase="setup"),
)

SOURCES = {
    "log.kas-include.asyncio": (S("host", "python asyncio/tasks.py wait() (from kas 2.x "
                                  "repos_fetch)", "Set of coroutines/Futures is empty."),),
    "log.command-not-found": (S("host", "bash", "%s: command not found",
                                "init.sh: line 3: repo: command not found"),),
    "log.missing-checkout-cascade": (S("host", "bash", "cd: %s: No such file or directory",
                                       "x.sh: line 5: cd: poky: No such file or directory"),),
    "log.init-env-missing": (S("host", "bash", "oe-init-build-env: No such file or directory"),),
    "log.conf-missing": (S("host", "bash", "conf/bblayers.conf: No such file or directory"),),
    "log.bitbake-not-found": (S("host", "bash", "bitbake: command not found"),),
}

PATTERNS = attach(PATTERNS, SOURCES)
