"""bitbake at run time: the runqueue (task failures, exit codes), the
server and its lock (lib/bb/main.py, server/process.py), hash equivalence
(siggen.py, cooker.py), the disk monitor (monitordisk.py)."""

from __future__ import annotations

from armvm_oe.doctor.logcatalogue._base import P, S, attach

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
      r"retry|Processes holding bitbake\.lock",
      "another bitbake server holds bitbake.lock in this build directory (a parallel build, an "
      "IDE plugin, or a stale server)",
      "Wait for it or stop it (bitbake -m); remove bitbake.lock only if its pid is gone; check "
      "bitbake-cookerdaemon.log",
      "NOTE: Reconnecting to bitbake server...\nNOTE: Previous bitbake instance shutting "
      "down?, waiting to retry... (2)", ("bitbake server", "bitbake instance", "bitbake.lock"),
      check="build.lock-held", phase="parse"),
    P("log.lock-held.no-server", "bitbake could not reach or start its server", "error", 2,
      r"Unable to connect to bitbake server, or start one|Unable to start bitbake server",
      "bitbake could neither connect to a server nor start one: another bitbake may hold "
      "bitbake.lock, or the server failed at start-up (its reason, e.g. a socket that cannot "
      "be created, is in bitbake-cookerdaemon.log of the build directory)",
      "Read bitbake-cookerdaemon.log; if another bitbake runs, wait or stop it (bitbake -m); "
      "remove bitbake.lock only if its pid is gone",
      "ERROR: Unable to connect to bitbake server, or start one (server startup failures "
      "would be in bitbake-cookerdaemon.log).", ("bitbake server",), family="log.lock-held",
      check="build.lock-held", phase="parse", wrapper=True),
    P("log.server-socket", "bitbake's server socket cannot be created", "error", 3,
      r"sock\w*\.bind\([\s\S]*?(?P<exc>(?:\w+\.)?(?:PermissionError|OSError|"
      r"FileNotFoundError)\b.*)|(?P<exc2>AF_UNIX path too long)",
      "bitbake could not create its unix socket bitbake.sock in the build directory ({why}): "
      "the build directory is on a filesystem without unix sockets (a Docker-for-Windows/"
      "macOS bind mount, 9p/virtiofs, NFS, SMB) or its path is too long (108 bytes); no "
      "other bitbake holds the lock",
      "Put the build directory on a native Linux filesystem (a docker named volume, or the "
      "WSL2 ext4 home instead of /mnt/c), with a shorter path",
      "Traceback (most recent call last):\n  File \"/p/bitbake/lib/bb/server/process.py\", "
      "line 413, in _startServer\n    sock.bind(os.path.basename(sockname))\n"
      "PermissionError: [Errno 1] Operation not permitted", (".bind(", "AF_UNIX path too long"),
      check="build.lock-held", phase="parse",
      fields=lambda g, c: {"why": (g.get("exc") or g.get("exc2") or "").strip()}),
    P("log.nondeterministic", "the metadata is not deterministic", "error", 3,
      r"The metadata is not deterministic and this needs to be fixed|"
      r"(?P<kind>Taskhash|Basehash) mismatch (?P<a>\S+) versus (?P<b>\S+) for (?P<tid>\S+)",
      "a recipe's task signature changed between two parses of the same metadata (a "
      "variable whose value depends on time, the host or a random value, e.g. ${{DATE}} or an "
      "anonymous python function that reads the host)",
      "Run bitbake-diffsigs on the two signatures (bitbake -S printdiff <target>) to find the "
      "variable, then exclude it with vardepsexclude or make it deterministic",
      "ERROR: When reparsing /x/foo.bb:do_compile, the basehash value changed from 1 to 2. The "
      "metadata is not deterministic and this needs to be fixed.",
      ("not deterministic", "hash mismatch"), phase="parse"),
    P("log.hashserv", "the hash-equivalence server failed", "error", 3,
      r"Error contacting Hash Equivalence Server (?P<server>\S+?):? |Hash equivalency "
      r"database location \(set via BB_HASHSERVE_DB_DIR to (?P<dbdir>[^)]+)\)|"
      r"(?:[Hh]ash ?[Ee]quiv\w*|hashserv)\S* .*(?:timed out|refused|Connection closed)|"
      r"Hash Equivalence Server returned invalid unihash|Unable to use hash equivalence "
      r"server at '(?P<server2>[^']+)'",
      "bitbake's hash-equivalence server {what}",
      "Point BB_HASHSERVE_UPSTREAM/SSTATE_MIRRORS only at servers reachable from here (or "
      "drop them: BB_HASHSERVE = \"auto\"); keep BB_HASHSERVE_DB_DIR on a local disk, not "
      "NFS", "WARNING: Error contacting Hash Equivalence Server unix:///home/u/build/"
      "hashserve.sock: Connection closed", ("Hash Equivalence Server", "Hash equivalency", "hash equivalence server",
                                             "hashserv", "HashEquiv", "hashequiv"),
      phase="build",
      fields=lambda g, c: {"what": (f"database cannot be on NFS ({g['dbdir'].strip()})"
                                    if g.get("dbdir") else
                                    f"at {g['server2']} cannot be used: bitbake lacks a "
                                    "python module for it (python3-websockets)"
                                    if g.get("server2") else
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
    # bitbake makes a FIFO per shell task (build.py exec_func_shell), hard
    # links and flock()ed lock files in TMPDIR/DL_DIR/SSTATE_DIR: a network
    # share, a Windows/macOS folder shared into a container or a FUSE mount
    # may refuse them (EIO, EOPNOTSUPP, EPERM, ENOLCK, ENOSYS)
    P("log.fs-unsupported", "the build directory's filesystem refuses a FIFO, link or lock",
      "error", 3,
      r"(?P<op>os\.(?:mkfifo|link|symlink|mknod)|fcntl\.(?:flock|lockf))\([^\n]*\s+"
      r"(?:OSError|PermissionError|BlockingIOError): \[Errno (?P<errno>(?!2\]|17\])\d+)\] "
      r"(?P<msg>[^\n]+)",
      "{op}() failed with {msg} (errno {errno}): the filesystem under the build directory "
      "does not support it (a network share, a Windows/macOS folder shared into a container, "
      "a FUSE mount)",
      "Put TMPDIR (and SSTATE_DIR/DL_DIR) on a local Linux filesystem (ext4/xfs; in a "
      "container a named volume or the container's own disk, not a host share)",
      "Traceback (most recent call last):\n  File \"/x/bitbake/lib/bb/build.py\", line 365, "
      "in exec_func_shell\n    os.mkfifo(fifopath)\nOSError: [Errno 5] Input/output error",
      ("os.mkfifo(", "os.link(", "os.symlink(", "os.mknod(", "fcntl.flock(", "fcntl.lockf("),
      phase="build"),
    P("log.dev-shm", "/dev/shm is missing", "error", 3,
      r"/dev/shm does not exist or is not writable",
      "the container or chroot has no writable /dev/shm",
      "Mount a tmpfs on /dev/shm (docker run --shm-size=1g)",
      "FATAL: /dev/shm does not exist or is not writable", ("/dev/shm",), check="host.dev-shm",
      phase="parse"),
)

SOURCES = {
    "log.fs-unsupported": (
        S("bitbake", "lib/bb/build.py", "os.mkfifo(fifopath)", "Traceback (most recent call "
          "last):\n  File \"/x/bitbake/lib/bb/build.py\", line 365, in exec_func_shell\n"
          "    os.mkfifo(fifopath)\nOSError: [Errno 5] Input/output error"),
        S("bitbake", "lib/bb/utils.py", "fcntl.flock(fileno, op)",
          "Traceback (most recent call last):\n  File \"/x/bitbake/lib/bb/utils.py\", line "
          "1, in _lock\n    fcntl.flock(fileno, op)\nOSError: [Errno 37] "
          "No locks available")),
    "log.task-failed": (S("bitbake", "lib/bb/runqueue.py", "Task %s failed with exit code '%s'",
                          "Task (/x/foo.bb:do_compile) failed with exit code '1'"),),
    "log.lock-held": (
        S("bitbake", "lib/bb/main.py", "Reconnecting to bitbake server..."),
        S("bitbake", "lib/bb/main.py", "Previous bitbake instance shutting down?, waiting to "
          "retry... (%s)"),
        S("bitbake", "lib/bb/main.py", "Processes holding bitbake.lock (missing socket %s):\n%s")),
    "log.lock-held.no-server": (
        S("bitbake", "lib/bb/main.py", "Unable to connect to bitbake server, or start one "
          "(server startup failures would be in bitbake-cookerdaemon.log)."),
        S("bitbake", "lib/bb/server/process.py", "Unable to start bitbake server (%s)")),
    "log.server-socket": (S("bitbake", "lib/bb/server/process.py",
                            "sock.bind(os.path.basename(sockname))",
                            "Traceback (most recent call last):\n  File \"process.py\", line 1,"
                            " in x\n    sock.bind(os.path.basename(sockname))\nOSError: [Errno "
                            "95] Operation not supported"),),
    "log.nondeterministic": (S("bitbake", "lib/bb/siggen.py",
                               "When reparsing %s, the basehash value changed from %s to %s. "
                               "The metadata is not deterministic and this needs to be fixed."),
                             S("bitbake", "lib/bb/siggen.py", "Taskhash mismatch %s versus %s "
                               "for %s")),
    "log.hashserv": (S("bitbake", "lib/bb/siggen.py", "Error contacting Hash Equivalence "
                       "Server %s: %s"),
                     S("bitbake", "lib/bb/cooker.py", "Hash equivalency database location "
                       "(set via BB_HASHSERVE_DB_DIR to {})\ncannot be on a NFS mount due to "
                       "potential NFS locking issue")),
    "log.disk-monitor": (
        S("bitbake", "lib/bb/monitordisk.py", "No new tasks can be executed since the disk space "
          "monitor action is \"STOPTASKS\"!"),
        S("bitbake", "lib/bb/monitordisk.py", "Immediately halt since the disk space monitor "
          "action is \"HALT\"!")),
    "log.disk-low": (S("bitbake", "lib/bb/monitordisk.py",
                       "The free space of %s (%s) is running low (%.3fGB left)"),),
    "log.dev-shm": (S("bitbake", "lib/bb/main.py",
                      "FATAL: /dev/shm does not exist or is not writable"),),
    "log.oom-killed.exit-137": (S("bitbake", "lib/bb/runqueue.py", "Task %s failed with exit "
                                  "code '%s'", "Task (/x/foo.bb:do_compile) failed with exit "
                                  "code '137'"),),
}

PATTERNS = attach(PATTERNS, SOURCES)
