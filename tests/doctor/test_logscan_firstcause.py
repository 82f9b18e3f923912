"""The first cause behind wrappers, never 'ok' on a pasted failure, and no
false alarm on a successful build (tests/doctor/data/success/: bitbake's
and kas's own output formats of builds that succeeded with warnings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from armvm_oe.doctor import firstcause
from armvm_oe.doctor.logscan import UNRECOGNISED, scan

SUCCESS = sorted((Path(__file__).parent / "data" / "success").iterdir())

DNF_CONFLICT = """\
NOTE: Executing Tasks
ERROR: core-image-minimal-1.0-r0 do_rootfs: Could not invoke dnf. Command '/w/build/tmp/work/qemuarm64-poky-linux/core-image-minimal/1.0/recipe-sysroot-native/usr/bin/dnf -v --rpmverbosity=info -y -c /w/build/tmp/work/qemuarm64-poky-linux/core-image-minimal/1.0/rootfs/etc/dnf/dnf.conf install foo bar' returned 1:
DNF version: 4.19.0
Running transaction check
Transaction check succeeded.
Running transaction test
Transaction check error:
  file /usr/bin/foo from install of foo-1.0-r0.cortexa57 conflicts with file from package bar-2.0-r0.cortexa57

Error: Transaction check error:
  file /usr/bin/foo from install of foo-1.0-r0.cortexa57 conflicts with file from package bar-2.0-r0.cortexa57

ERROR: Logfile of failure stored in: /w/build/tmp/work/qemuarm64-poky-linux/core-image-minimal/1.0/temp/log.do_rootfs.4242
ERROR: Task (/w/poky/meta/recipes-core/images/core-image-minimal.bb:do_rootfs) failed with exit code '1'
"""

OPKG_CONFLICT = """\
ERROR: img-1.0-r0 do_rootfs: Unable to install packages. Command '/w/build/tmp/work/x/img/1.0/recipe-sysroot-native/usr/bin/opkg --volatile-cache -f /w/build/tmp/work/x/img/1.0/opkg.conf -o /w/build/tmp/work/x/img/1.0/rootfs install packagegroup-core-boot busybox-syslog sysklogd' returned 255:
Collected errors:
 * check_data_file_clashes: Package busybox-syslog wants to install file /w/build/tmp/work/x/img/1.0/rootfs/etc/syslog.conf
\tBut that file is already provided by package  * sysklogd
 * opkg_install_cmd: Cannot install package packagegroup-core-boot.
ERROR: Logfile of failure stored in: /w/build/tmp/work/x/img/1.0/temp/log.do_rootfs.1
"""

MKFS_FULL = """\
ERROR: img-1.0-r0 do_image_ext4: Execution of '/w/build/tmp/work/x/img/1.0/temp/run.do_image_ext4.99' failed with exit code 1
Log data follows:
| DEBUG: Executing shell function do_image_ext4
| mke2fs 1.47.0 (5-Feb-2023)
| Discarding device blocks: done
| mkfs.ext4: Could not allocate block in ext2 filesystem while populating file system
| WARNING: exit code 1 from a shell command.
ERROR: Task (/w/meta-x/recipes-core/images/img.bb:do_image_ext4) failed with exit code '1'
"""

NEW_GCC = """\
ERROR: m4-native-1.4.18-r0 do_compile: oe_runmake failed
ERROR: m4-native-1.4.18-r0 do_compile: Execution of '/w/build/tmp/work/x86_64-linux/m4-native/1.4.18-r0/temp/run.do_compile.7' failed with exit code 1
Log data follows:
| make[3]: Entering directory '/w/build/tmp/work/x86_64-linux/m4-native/1.4.18-r0/build/lib'
| ../../m4-1.4.18/lib/c-stack.c:55:26: error: missing binary operator before token "("
|    55 | #elif HAVE_LIBSIGSEGV && SIGSTKSZ < 16384
| make[3]: *** [Makefile:1915: c-stack.o] Error 1
ERROR: Logfile of failure stored in: /w/build/tmp/work/x86_64-linux/m4-native/1.4.18-r0/temp/log.do_compile.7
ERROR: Task (virtual:native:/w/poky/meta/recipes-devtools/m4/m4-native_1.4.18.bb:do_compile) failed with exit code '1'
NOTE: Tasks Summary: Attempted 412 tasks of which 400 didn't need to be rerun and 1 failed.

Summary: 1 task failed:
  virtual:native:/w/poky/meta/recipes-devtools/m4/m4-native_1.4.18.bb:do_compile
Summary: There were 2 ERROR messages, returning a non-zero exit code.
"""

UNKNOWN_IN_TASK = """\
ERROR: foo-1.0-r0 do_install: ExecutionError('/w/build/tmp/work/cortexa57-poky-linux/foo/1.0/temp/run.do_install.5', 1, None, None)
ERROR: Logfile of failure stored in: /w/build/tmp/work/cortexa57-poky-linux/foo/1.0/temp/log.do_install.5
Log data follows:
| DEBUG: Executing shell function do_install
| install: cannot stat '/w/build/tmp/work/cortexa57-poky-linux/foo/1.0/foo.conf': No such file or directory
| WARNING: exit code 1 from a shell command.
ERROR: Task (/w/meta-x/recipes/foo/foo_1.0.bb:do_install) failed with exit code '1'
"""


@pytest.mark.parametrize("log,family,needle", [
    (DNF_CONFLICT, "log.rootfs-file-conflict", "/usr/bin/foo"),
    (OPKG_CONFLICT, "log.rootfs-file-conflict", "syslog.conf"),
    (MKFS_FULL, "log.image-fs-full", "IMAGE_ROOTFS_EXTRA_SPACE"),
    (NEW_GCC, "log.compile-error", "c-stack.c"),
], ids=["dnf-conflict", "opkg-conflict", "mkfs-full", "new-host-gcc"])
def test_real_cause_below_the_wrappers(log, family, needle):
    d = scan(log)
    assert d.first.id == family, [(f.id, f.line) for f in d.findings]
    assert needle in d.first.cause + d.first.fix
    assert not firstcause.WRAPPER.search(d.first.line), d.first.line


def test_structural_first_cause_names_recipe_task_and_own_error():
    d = scan(UNKNOWN_IN_TASK)
    f = d.first
    assert f.id == UNRECOGNISED and "cannot stat" in f.line
    assert "recipe foo" in f.cause and "task do_install" in f.cause
    assert "a missing file or command" in f.cause and f.line in f.cause


def test_only_wrappers_still_fail_and_say_so():
    d = scan("ERROR: foo-1.0-r0 do_compile: oe_runmake failed\n"
             "ERROR: Task (/w/foo_1.0.bb:do_compile) failed with exit code '1'\n")
    assert d.failed and d.first.id == UNRECOGNISED
    assert "only the report of the failure" in d.first.cause and "do_compile" in d.first.cause


@pytest.mark.parametrize("excerpt,family", [
    ("../src/main.c:3:10: fatal error: openssl/ssl.h: No such file or directory",
     "log.missing-header"),
    ("Could not include required file conf/distro/poky.conf", "log.parse-error"),
    ("pseudo: couldn't bind listening socket: Operation not permitted", "log.pseudo-socket"),
    ("pseudo: PSEUDO_PREFIX unset, aborting.", "log.pseudo-socket"),
    ("/usr/bin/ld: cannot find -lfoo: No such file or directory", "log.link-error"),
    ("Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
     "ValueError: bad", UNRECOGNISED),
    ("Task (/w/foo.bb:do_compile) failed with exit code '2'", UNRECOGNISED),
    ("gcc: fatal error: no input files", UNRECOGNISED),
    ("Could not invoke dnf. Command 'dnf install x' returned 1:", UNRECOGNISED),
], ids=["header", "include", "pseudo-bind", "pseudo-abort", "ld", "traceback", "task-exit",
        "gcc-fatal", "dnf-wrapper"])
def test_pasted_excerpt_without_prefix_is_never_ok(excerpt, family, armvm, tmp_path):
    d = scan(excerpt)
    assert d.failed and d.first.id == family, [(f.id, f.line) for f in d.findings]
    log = tmp_path / "excerpt.log"
    log.write_text(excerpt + "\n")
    r = armvm("doctor", "--log", log, "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["ok"] is False


@pytest.mark.parametrize("path", SUCCESS, ids=[p.name for p in SUCCESS])
def test_successful_build_is_ok(path):
    d = scan(path.read_text())
    assert not d.failed, [(f.id, f.severity, f.line) for f in d.findings]
    assert all(f.severity == "warn" for f in d.findings)


def test_successful_build_exits_0_with_warnings_listed(armvm):
    log = next(p for p in SUCCESS if p.name.startswith("bitbake-"))
    r = armvm("doctor", "--log", log, "--json")
    data = json.loads(r.stdout)
    assert r.returncode == 0 and data["ok"] is True
    assert {f["id"] for f in data["findings"]} >= {"log.qa-issue"}      # listed, as warnings
    r = armvm("doctor", "--log", log)
    assert r.returncode == 0 and "no failure found" in r.stdout


def test_the_same_build_failing_is_not_ok():
    """The successful log with one task failure added is a failure."""
    log = next(p for p in SUCCESS if p.name.startswith("bitbake-")).read_text()
    log = log.replace("NOTE: Tasks Summary: Attempted 2752 tasks of which 2677 didn't need "
                      "to be rerun and all succeeded.", NEW_GCC)
    d = scan(log)
    assert d.failed and d.first.id == "log.compile-error"


def test_warning_lines_with_error_words_are_not_errors():
    log = ("WARNING: foo-1.0-r0 do_install: /w/image/etc/foo.conf: No such file or directory\n"
           "NOTE: bar-1.0-r0 do_compile: aborting the optional docs build\n"
           "WARNING: baz-1.0-r0 do_configure: fatal error: was reported by a test, ignored\n")
    d = scan(log)
    assert not d.failed, [(f.id, f.severity, f.line) for f in d.findings]


def test_header_excerpt_without_file_position():
    f = scan("fatal error: zlib.h: No such file or directory").first
    assert f.id == "log.missing-header" and "zlib.h" in f.cause and "DEPENDS" in f.fix
