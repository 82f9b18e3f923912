"""TODO"""

from __future__ import annotations

from armvm_oe.doctor.logcatalogue._base import P, S

PATTERNS = (
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
    P("log.oom-killed.exit-137", "a task was killed (exit code 137)", "error", 2,
      r"failed with exit code '137'",
      "the task was killed with SIGKILL (exit code 137 = 128 + 9), most likely by the OOM "
      "killer", "Lower BB_NUMBER_THREADS and PARALLEL_MAKE, add swap",
      "ERROR: Task (/w/foo.bb:do_compile) failed with exit code '137'",
      ("exit code '137'",), family="log.oom-killed", check="host.ram-per-job", phase="build"),
    P("log.pseudo-abort.sigabrt", "a task died of SIGABRT (pseudo abort)", "error", 2,
      r"failed with exit code '134'|died with <Signals\.SIGABRT: 6>",
      "the task died of SIGABRT (exit code 134 = 128 + 6); in do_install/do_package/"
      "do_rootfs that is pseudo aborting because its database and WORKDIR disagree (the "
      "recipe's pseudo/pseudo.log says 'path mismatch')",
      "Read WORKDIR/pseudo/pseudo.log; bitbake -c clean <recipe> and rebuild (see "
      "https://wiki.yoctoproject.org/wiki/Pseudo_Abort)",
      "ERROR: Task (/w/kernel-devsrc.bb:do_package) failed with exit code '134'",
      ("exit code '134'", "SIGABRT"), family="log.pseudo-abort", phase="build"),
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
    P("log.disk-low", "disk space is running low", "warn", 3,
      r"The free (?:space|inode) of (?P<dir>\S+) \((?P<dev>[^)]+)\) is running low",
      "{dir} ({dev}) is below bitbake's BB_DISKMON_DIRS warning limit",
      "Free space before bitbake stops scheduling tasks",
      "WARNING: The free space of /home/u/build/tmp (/dev/sda1) is running low (0.987GB left)",
      ("is running low",), check="host.disk-space", phase="build"),
    P("log.dev-shm", "/dev/shm is missing", "error", 3,
      r"/dev/shm does not exist or is not writable",
      "the container or chroot has no writable /dev/shm",
      "Mount a tmpfs on /dev/shm (docker run --shm-size=1g)",
      "FATAL: /dev/shm does not exist or is not writable", ("/dev/shm",), check="host.dev-shm",
      phase="parse"),
)
