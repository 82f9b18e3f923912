"""TODO"""

from __future__ import annotations

from armvm_oe.doctor.logcatalogue._base import P, S

PATTERNS = (
    P("log.no-space", "the disk filled up", "error", 3, r"No space left on device",
      "a filesystem of the build (TMPDIR, DL_DIR, SSTATE_DIR or /tmp) ran out of space or "
      "inodes", "Free space, add INHERIT += \"rm_work\", or move the build to a bigger disk",
      "| cc1: fatal error: error writing to /tmp/ccXyZ.s: No space left on device",
      ("No space left",), check="host.disk-space", phase="build"),
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
)
