"""What the compiler, linker, configure and the kernel print inside a task
log (bitbake relays them on '| ' lines): the OOM killer, compiler crashes,
a full disk, and the ordinary compile/link/configure errors (tier 2: they
say what failed and where; a missing header says why)."""

from __future__ import annotations

from armvm_oe.doctor.logcatalogue._base import P, S, attach

PATTERNS = (
    P("log.missing-header", "a header of a dependency is missing", "error", 3,
      r"(?:(?P<src>\S+?):\d+(?::\d+)?: )?fatal error: (?P<hdr>[\w./+-]+\.h(?:pp|h)?): No such "
      r"file or directory",
      "{src} includes {hdr}, which is not in the recipe sysroot: the recipe does not DEPENDS "
      "on the recipe that installs it (or that recipe's PACKAGECONFIG leaves it out)",
      "Add the recipe that provides {hdr} to DEPENDS (oe-pkgdata-util find-path '*/{hdr}'; "
      "or bitbake-layers show-recipes), or enable the option that installs it",
      "| ../src/main.c:3:10: fatal error: openssl/ssl.h: No such file or directory",
      ("fatal error: ",), phase="build", defaults={"src": "the source"}),
    P("log.compile-error", "the compiler rejected the source", "error", 2,
      r"(?P<src>[^\s:]+\.(?:c|cc|cpp|cxx|h|hpp|hh|S|s|rs|go|f90)):(?P<line>\d+)(?::\d+)?: "
      r"(?:fatal )?error: (?P<msg>.+)|^error(?:\[E\d+\])?: (?P<msg2>.+)",
      "the compiler rejected {src}: {msg}; when the recipe is -native or the layer is older "
      "than the host's compiler, a newer host gcc/clang rejects old code (gcc 14: "
      "implicit-function-declaration, incompatible-pointer-types are errors)",
      "Fix or patch the source; for a -native recipe on a new host, build in a supported "
      "distro (the armvm-oe container) or backport the upstream fix",
      "| ../git/src/foo.c:42:5: error: implicit declaration of function 'bar' "
      "[-Wimplicit-function-declaration]", (": error: ", ": fatal error: ", "error["),
      phase="build",
      fields=lambda g, c: {"src": g.get("src") or "the source",
                           "msg": (g.get("msg") or g.get("msg2") or "").strip()}),
    P("log.link-error", "the linker failed", "error", 2,
      r"undefined reference to [`'](?P<sym>[^'`]+)'|\bld(?:\.\w+)?: cannot find (?P<lib>-l\S+|"
      r"\S+)|ld returned (?P<rc>\d+) exit status|multiple definition of [`'](?P<dup>[^'`]+)'",
      "the link failed ({what}): a library the recipe links is missing from DEPENDS, built "
      "without that symbol, or listed in the wrong order",
      "Add the providing recipe to DEPENDS, or fix the link flags (LDFLAGS/LIBS order)",
      "| foo.c:(.text+0x1c): undefined reference to `bar_init'",
      ("undefined reference to", "cannot find", "ld returned", "multiple definition of"),
      phase="build",
      fields=lambda g, c: {"what": (f"undefined reference to {g['sym']}" if g.get("sym") else
                                    f"multiple definition of {g['dup']}: a global defined in "
                                    "two objects, which gcc >= 10 (-fno-common) no longer "
                                    "merges; old code needs -fcommon or the upstream fix"
                                    if g.get("dup") else
                                    f"cannot find {g['lib']}" if g.get("lib") else
                                    "ld returned an error; the undefined symbol or missing "
                                    "library is on the lines above")}),
    P("log.configure-error", "configure stopped", "error", 2,
      r"configure: error: (?!in [`'][^']*':\s*$)(?P<msg>.+)|CMake Error at (?P<where>\S+)|meson\.build:\d+:\d+: "
      r"ERROR: (?P<msg2>.+)",
      "the configure step failed: {msg}; usually a dependency missing from DEPENDS (or a "
      "PACKAGECONFIG option that needs one)",
      "Add what configure looks for to DEPENDS (its .pc file or header), or disable the "
      "option in PACKAGECONFIG / EXTRA_OECONF / EXTRA_OECMAKE",
      "| configure: error: Package requirements (glib-2.0 >= 2.56) were not met:",
      ("configure: error:", "CMake Error at", "meson.build:"), phase="build",
      fields=lambda g, c: {"msg": (g.get("msg") or g.get("msg2") or
                                   f"CMake Error at {g.get('where')}").strip()}),
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
    # glibc's dynamic loader (elf/dl-version.c, elf/dl-load.c via rtld's
    # "%s: error while loading shared libraries: %s"): a binary cannot start
    P("log.shared-library.version",
      "a program needs a newer shared library (glibc) than it runs with", "error", 3,
      r"(?P<lib>[^\s:]+): version [`'](?P<ver>[\w.@]+)' not found \(required by "
      r"(?P<by>[^)\s]+)\)",
      "{by} was linked against {ver} of {lib}, newer than the one it runs with here: a "
      "binary built on a newer host (sstate or a -native tool shared between hosts without "
      "uninative, a prebuilt tool or container binary) run on an older host",
      "Run it where that library version exists (a newer build host or the armvm-oe "
      "container), or rebuild it here (bitbake -c cleansstate the recipe that provides "
      "{by}); keep uninative enabled so -native sstate stays portable",
      "| balenad: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.33' not found "
      "(required by balenad)", ("' not found (required by",), phase="build",
      family="log.shared-library"),
    P("log.shared-library.missing", "a program needs a shared library that is not installed",
      "error", 3, r"(?P<prog>\S+): error while loading shared libraries: (?P<lib>[^:\s]+): (?P<why>"
      r"cannot open shared object file[^\n]*)",
      "{prog} cannot start: its shared library {lib} is not found ({why}); a host tool "
      "without its library, or a binary built for another system",
      "Install the host package that provides {lib} (or the -native recipe's DEPENDS when "
      "the program is built by the build), or run it on the system it was built for",
      "foo: error while loading shared libraries: libbar.so.1: cannot open shared object "
      "file: No such file or directory", ("error while loading shared libraries",),
      phase="build", family="log.shared-library"),
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

SOURCES = {
    "log.missing-header": (S("host", "gcc", "%s: No such file or directory",
                             "../x.c:1:10: fatal error: foo.h: No such file or directory"),),
    "log.compile-error": (S("host", "gcc", "error: %s", "x.c:1:2: error: bad"),),
    "log.link-error": (S("host", "binutils ld", "undefined reference to `%s'"),
                       S("host", "binutils ld", "multiple definition of `%s'",
                         "x.o:(.bss+0x50): multiple definition of `yylloc'; y.o:(.bss+0x0): "
                         "first defined here")),
    "log.configure-error": (S("host", "autoconf", "configure: error: %s"),
                            # AC_MSG_FAILURE: a preamble naming the directory, then the message
                            S("host", "autoconf lib/autoconf/general.m4",
                              "configure: error: in `%s':\nconfigure: error: %s",
                              "configure: error: in `/b/x':\nconfigure: error: cannot run C "
                              "compiled programs.")),
    "log.no-space": (S("host", "libc", "No space left on "
                                                        "device"),),
    "log.oom-killed": (S("host", "gcc", "internal compiler error: Killed (program %s)",
                         "internal compiler error: Killed (program cc1plus)"),
                       S("host", "gcc", "fatal error: Killed signal terminated program %s")),
    "log.shared-library.version": (S("host", "glibc elf/dl-version.c", "version `%s' not found "
                             "(required by %s)", "balenad: /lib/x86_64-linux-gnu/libc.so.6: "
                             "version `GLIBC_2.33' not found (required by balenad)"),),
    "log.shared-library.missing": (S("host", "glibc elf/rtld.c, elf/dl-load.c", "%s: error while "
                             "loading shared libraries: %s: cannot open shared object file",
                             "foo: error while loading shared libraries: libbar.so.1: cannot "
                             "open shared object file: No such file or directory"),),
    "log.compiler-crash": (S("host", "gcc", "internal compiler error: %s",
                             "x.c:1:1: internal compiler error: Segmentation fault"),),
}

PATTERNS = attach(PATTERNS, SOURCES)
